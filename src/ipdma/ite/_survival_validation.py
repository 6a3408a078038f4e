"""Leave-one-trial-out scores of two-stage ITE methods for time-to-event outcomes.

Counterfactual-free scores on observed, censored data:

* :func:`survival_c_for_benefit` -- C-for-benefit with censoring: treated and
  control patients are matched within each trial by predicted benefit (the rule of
  :func:`~ipdma.ite.c_for_benefit`); a pair's observed benefit is +1 if the treated
  patient is known to survive longer than the control (the control's event comes
  first), -1 if the control is known to survive longer, 0 for two events at the same
  time; a pair whose order is hidden by censoring (the earlier time is censored) has
  no observed benefit and is left out (Harrell's usable-pair rule applied to the two
  members of a pair).  C = (concordant + tied / 2) / usable over the pairs of pairs
  with different observed benefit.
* :func:`survival_calibration_for_benefit` -- patients grouped by quantiles of
  predicted benefit; a group's observed benefit is the trial-stratified difference of
  Kaplan-Meier S(horizon) (``survdiff``) or KM RMST up to tau (``rmstdiff``) between
  the arms (per trial within the group, weighted by the group's patients in each
  trial; a trial whose arm in the group is not followed up to the time point is left
  out of that group); intercept and slope of the weighted line of observed on
  predicted, and its weighted RMSE.

Both leave out information: pairs (patients) whose order is censored; neither uses
inverse-probability-of-censoring weights, so heavy censoring that depends on the
covariates can bias them.  On simulated data with known truth
(:func:`ipdma.datasets.make_survival_trials`) the RMSE and median absolute error of
the ITEs against the true ones are the reference scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, ModelSpecificationError
from ._validation import CForBenefit, _concordance, _match_pairs, _wls_line

__all__ = ["survival_c_for_benefit", "survival_calibration_for_benefit"]


def _pair_benefit(tt, et, tc, ec) -> np.ndarray:
    """Observed benefit of matched pairs (treated time/event, control time/event):
    +1, -1, 0 or NaN (order hidden by censoring)."""
    out = np.full(len(tt), np.nan)
    out[(tc < tt) & (ec == 1)] = 1.0                    # control died first
    out[(tt < tc) & (et == 1)] = -1.0                   # treated died first
    same = tt == tc
    out[same & (et == 1) & (ec == 1)] = 0.0
    out[same & (et == 1) & (ec == 0)] = -1.0            # the censored one outlived the death
    out[same & (et == 0) & (ec == 1)] = 1.0
    return out


def survival_c_for_benefit(time: Any, event: Any, t: Any, benefit: Any, *,
                           trial: Any = None, ids: Any = None) -> CForBenefit:
    """C-for-benefit for a time-to-event outcome (censoring-aware pairs).

    ``benefit``: predicted benefit, larger = more benefit (a survival-probability or
    RMST difference treated - control as it is; a log hazard ratio with its sign
    flipped).  Pairs are matched as in :func:`~ipdma.ite.c_for_benefit`; a pair's
    observed benefit is the sign of (treated survival - control survival) where the
    follow-up reveals it (see the module notes); pairs without it are dropped
    (``pairs["obs_benefit"]`` NaN).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 800; x = rng.normal(size=n); t = rng.integers(0, 2, n)
    >>> T = rng.exponential(np.exp(-(0.5 * x - t * x)))        # benefit grows with x
    >>> C = rng.uniform(0.5, 3, n)
    >>> res = survival_c_for_benefit(np.minimum(T, C), (T <= C).astype(float), t, x)
    >>> res.n_pairs, round(res.c, 3)
    (348, 0.766)
    >>> round(survival_c_for_benefit(np.minimum(T, C), (T <= C).astype(float), t, -x).c, 3)
    0.234
    """
    time, event, t, b = (np.asarray(a, dtype=float).ravel() for a in (time, event, t, benefit))
    if not (len(time) == len(event) == len(t) == len(b)):
        raise DataError(f"time, event, t and benefit have different lengths ({len(time)}, "
                        f"{len(event)}, {len(t)}, {len(b)})")
    trial = np.zeros(len(time)) if trial is None else np.asarray(trial)
    ids = np.arange(len(time)) if ids is None else np.asarray(ids)
    rows = []
    for tr in pd.unique(trial):                          # loop over trials
        m = trial == tr
        it, ic = np.flatnonzero(m & (t == 1)), np.flatnonzero(m & (t == 0))
        if len(it) == 0 or len(ic) == 0:
            continue
        kt, kc = _match_pairs(b[it], b[ic], ids[it], ids[ic])
        a, c = it[kt], ic[kc]
        rows.append(pd.DataFrame({
            "trial": trial[a], "id_treated": ids[a], "id_control": ids[c],
            "pb_treated": b[a], "pb_control": b[c], "time_treated": time[a],
            "event_treated": event[a], "time_control": time[c], "event_control": event[c],
            "pred_benefit": (b[a] + b[c]) / 2,
            "obs_benefit": _pair_benefit(time[a], event[a], time[c], event[c])}))
    if not rows:
        raise DataError("c-for-benefit needs treated and control patients")
    pairs = pd.concat(rows, ignore_index=True)
    pairs.insert(0, "pair", np.arange(1, len(pairs) + 1))
    known = pairs["obs_benefit"].notna().to_numpy()
    conc, disc, tied, usable = _concordance(pairs["pred_benefit"].to_numpy()[known],
                                            pairs["obs_benefit"].to_numpy()[known])
    c = (conc + tied / 2) / usable if usable else float("nan")
    return CForBenefit(c=float(c), n_pairs=int(known.sum()), usable=usable, concordant=conc,
                       discordant=disc, tied=tied, pairs=pairs)


def _km_value(time, event, scale: str, tp: float) -> float:
    """Kaplan-Meier S(tp) or RMST up to tp; NaN when follow-up ends before tp."""
    from ..survival import kaplan_meier

    if len(time) == 0 or time.max() < tp:
        return float("nan")
    km = kaplan_meier(time, event)
    if scale == "survdiff":
        return float(np.r_[1.0, km.surv][np.searchsorted(km.time, tp, side="right")])
    k = np.searchsorted(km.time, tp, side="right")
    knots = np.r_[0.0, km.time[:k], tp]
    s = np.r_[1.0, km.surv[:k]]
    return float(np.sum(s * np.diff(knots)))


def survival_calibration_for_benefit(time: Any, event: Any, t: Any, ite: Any, trial: Any, *,
                                     scale: str = "survdiff", horizon: float | None = None,
                                     tau: float | None = None,
                                     n_groups: int = 5) -> dict[str, Any]:
    """Observed (Kaplan-Meier) vs predicted benefit by groups of predicted benefit.

    ``scale="survdiff"`` compares with KM S(horizon) treated - control, ``"rmstdiff"``
    with the KM RMST difference up to ``tau`` (per trial within each group, then
    averaged with the group's patients per trial as weights).  Returns ``table``
    (``group``, ``n``, ``predicted``, ``observed``), ``intercept``, ``slope`` (weighted
    by group size; ideal 0 and 1) and ``rmse``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> n = 2000; x = rng.normal(size=n); t = rng.integers(0, 2, n)
    >>> T = rng.exponential(np.exp(-(0.5 * x - t * x)))
    >>> C = rng.uniform(1.5, 3, n)
    >>> S = lambda eta: np.exp(-np.exp(eta))                      # S(1 | eta)
    >>> ite = S(0.5 * x - x) - S(0.5 * x)                        # true S(1) differences
    >>> cal = survival_calibration_for_benefit(np.minimum(T, C), (T <= C) * 1.0, t, ite,
    ...                                        np.zeros(n), horizon=1.0, n_groups=4)
    >>> round(cal["slope"], 1), cal["table"]["n"].tolist()
    (1.0, [500, 500, 500, 500])
    """
    time, event, t, ite = (np.asarray(a, dtype=float).ravel() for a in (time, event, t, ite))
    trial = np.asarray(trial)
    if scale not in ("survdiff", "rmstdiff"):
        raise ModelSpecificationError(
            f"calibration for benefit of a time-to-event ITE needs scale 'survdiff' or "
            f"'rmstdiff', not {scale!r}")
    tp = horizon if scale == "survdiff" else tau
    if tp is None:
        raise ModelSpecificationError(f"scale {scale!r} needs "
                                      f"{'horizon' if scale == 'survdiff' else 'tau'}=")
    edges = np.quantile(ite, np.linspace(0, 1, n_groups + 1))
    g = np.clip(np.searchsorted(edges, ite, side="right") - 1, 0, n_groups - 1)
    rows = []
    for k in range(n_groups):                            # loop over groups and trials
        m = g == k
        diffs, wts = [], []
        for tr in np.unique(trial[m]):
            mm = m & (trial == tr)
            v1 = _km_value(time[mm & (t == 1)], event[mm & (t == 1)], scale, tp)
            v0 = _km_value(time[mm & (t == 0)], event[mm & (t == 0)], scale, tp)
            if np.isfinite(v1) and np.isfinite(v0):
                diffs.append(v1 - v0)
                wts.append(mm.sum())
        if wts:
            rows.append({"group": k + 1, "n": int(m.sum()), "predicted": float(ite[m].mean()),
                         "observed": float(np.average(diffs, weights=wts))})
    table = pd.DataFrame(rows, columns=["group", "n", "predicted", "observed"])
    if len(table) < 2:
        nan = float("nan")
        return {"intercept": nan, "slope": nan, "rmse": nan, "table": table}
    a0, a1 = _wls_line(table["predicted"].to_numpy(), table["observed"].to_numpy(),
                       table["n"].to_numpy(float))
    rmse = float(np.sqrt(np.average((table["observed"] - table["predicted"]) ** 2,
                                    weights=table["n"])))
    return {"intercept": a0, "slope": a1, "rmse": rmse, "table": table}


def compare_survival_rows(d, name: str, oof: pd.DataFrame, scale: str, *, n_groups: int,
                          truth: np.ndarray | None) -> tuple[dict, dict]:
    """One row of :func:`~ipdma.ite.compare_methods` for a time-to-event outcome."""
    fam = d.family
    ite = oof["ite"].to_numpy()
    time, event = d.y[:, 0], d.y[:, 1]
    benefit = -ite if scale == "loghr" else ite
    row = {"method": name,
           "c_for_benefit": survival_c_for_benefit(time, event, d.t, benefit,
                                                   trial=d.trial).c}
    if scale == "loghr":
        nan = float("nan")
        cal = {"intercept": nan, "slope": nan, "rmse": nan,
               "table": pd.DataFrame(columns=["group", "n", "predicted", "observed"])}
    else:
        cal = survival_calibration_for_benefit(time, event, d.t, ite, d.trial, scale=scale,
                                               horizon=fam.horizon, tau=fam.tau,
                                               n_groups=n_groups)
    row.update({"calib_intercept": cal["intercept"], "calib_slope": cal["slope"],
                "calib_rmse": cal["rmse"]})
    if truth is not None:
        row["mae"] = float(np.median(np.abs(ite - truth)))
        row["rmse"] = float(np.sqrt(np.mean((ite - truth) ** 2)))
    return row, cal

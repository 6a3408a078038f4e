"""Internal validation of two-stage ITE methods: leave-one-trial-out CV and
calibration for benefit; :func:`compare_methods` ranks learner+pooler pairs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from ..errors import DataError, ModelSpecificationError
from ._twostage import ITEData, TwoStageITE, fit_methods, prepare_ite_data

__all__ = ["CForBenefit", "MethodComparison", "c_for_benefit", "calibration_for_benefit",
           "compare_methods", "loto_predictions", "tau_risk"]


def _subset(d: ITEData, mask: np.ndarray) -> ITEData:
    trials = [tr for tr in d.trials if np.any(d.trial[mask] == tr)]
    return ITEData(X=d.X[mask], t=d.t[mask], y=d.y[mask], trial=d.trial[mask], trials=trials,
                   feature_names=d.feature_names, outcome_type=d.outcome_type,
                   covariate_cols=d.covariate_cols,
                   family_options=getattr(d, "family_options", None))


def _parse_method(m: Any) -> tuple[str, TwoStageITE | tuple]:
    if isinstance(m, TwoStageITE):
        return m.name, m
    if isinstance(m, str):
        if "+" not in m:
            raise ModelSpecificationError(
                f"method {m!r}: write it as 'learner+pooler', e.g. 'ols+mvma'")
        lrn, pool = m.split("+", 1)
        return m, (lrn, pool)
    if isinstance(m, (tuple, list)) and len(m) == 2:
        return f"{m[0]}+{m[1]}", tuple(m)
    raise ModelSpecificationError(f"cannot read method {m!r}: use 'learner+pooler', a "
                                  "(learner, pooler) tuple or a TwoStageITE")


def _template(spec, n_boot, random_state) -> TwoStageITE:
    if isinstance(spec, TwoStageITE):
        return TwoStageITE(spec.learner, spec.pooler, n_boot=spec.n_boot,
                           random_state=spec.random_state, n_jobs=spec.n_jobs,
                           learner_options=spec.learner_options,
                           pooler_options=spec.pooler_options,
                           scale=getattr(spec, "scale", None))
    return TwoStageITE(spec[0], spec[1], n_boot=n_boot, random_state=random_state)


def _loto_from_fitted(model: TwoStageITE, d: ITEData) -> pd.DataFrame:
    """Leave-one-trial-out predictions of a model fitted on all trials.

    Stage 1 of trial j never sees another trial's data, so the fold without
    trial i pools the same per-trial fits as a fresh fit on the other trials
    would: every trial is fitted once, and each fold only re-runs stage 2.
    """
    if d.y.ndim == 2:                                    # time to event: (time, event)
        out = pd.DataFrame({"trial": d.trial, "t": d.t, "time": d.y[:, 0],
                            "event": d.y[:, 1], "ite": np.nan})
    else:
        out = pd.DataFrame({"trial": d.trial, "t": d.t, "y": d.y, "ite": np.nan})
    for tr in d.trials:
        held = d.trial == tr
        fold = TwoStageITE(model.learner, model.pooler, n_boot=model.n_boot,
                           random_state=model.random_state, n_jobs=model.n_jobs,
                           learner_options=model.learner_options,
                           pooler_options=model.pooler_options,
                           scale=getattr(model, "scale", None),
                           **{k: getattr(model, k) for k in ("horizon", "tau")
                              if getattr(model, k, None) is not None})
        fold._set_fits([f for f in model.fits_ if f.label != tr], _subset(d, ~held))
        pred = fold.predict(d.X[held])
        for c in ("ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
            if c in pred:
                out.loc[held, c] = pred[c].to_numpy()
    return out


def _fitted_on(model: TwoStageITE, d: ITEData) -> bool:
    """Whether ``model`` is fitted on exactly the data ``d`` (same trials, same rows)."""
    fd = getattr(model, "data_", None)
    if getattr(model, "fits_", None) is None or fd is None:
        return False
    from ._bootstrap_store import PredictedBootstrap

    if any(isinstance(getattr(f, "boot", None), PredictedBootstrap) for f in model.fits_):
        return False   # refits kept only at other query points: refit
    return (list(fd.trials) == list(d.trials) and list(fd.feature_names) == list(d.feature_names)
            and all(np.array_equal(getattr(fd, a), getattr(d, a))
                    for a in ("X", "t", "y", "trial"))
            and (fd.foldid is None) == (d.foldid is None)
            and (d.foldid is None or np.array_equal(fd.foldid, d.foldid)))


def _check_loto(d: ITEData) -> None:
    if len(d.trials) < 3:
        raise DataError(f"leave-one-trial-out validation needs at least 3 trials, got "
                        f"{len(d.trials)}")


def loto_predictions(data: Any, method: Any = "ols+mvma", *, n_boot: int = 100,
                     random_state: Any = None, n_jobs: int = 1, **columns: Any) -> pd.DataFrame:
    """Leave-one-trial-out predicted ITEs: each trial predicted from the other trials.

    Every trial's stage 1 is fitted once (it does not depend on the other
    trials); fold i pools the fits of all trials but i.  Returns one row per
    patient (data order) with ``trial``, ``t``, ``y`` and ``ite`` (plus
    ``se``/intervals where the pooler gives them).

    With more than two treatments (a treatment network; ``reference=`` and
    ``higher_is_better=`` may be passed) each row has ``trial``, ``treatment``, ``y``
    and ``ite_<j>_vs_<k>``/``se_<j>_vs_<k>`` for every pair of treatments; see
    :func:`network_calibration_for_benefit` for calibration per contrast.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_trials=0)
    >>> oof = loto_predictions(sim.ipd(), "ols+mvma", random_state=0)
    >>> oof.columns.tolist()[:5], len(oof) == sim.ipd().n_patients
    (['trial', 't', 'y', 'ite', 'se'], True)
    >>> bool(oof["ite"].notna().all())
    True
    """
    from ._network_validate import as_network_data, network_loto_predictions

    hib = columns.pop("higher_is_better", True)
    nd = as_network_data(data, **columns)
    if nd is not None:      # more than two treatments: every pair, per fold
        return network_loto_predictions(nd, method, n_boot=n_boot, random_state=random_state,
                                        n_jobs=n_jobs, higher_is_better=hib)
    from ._network_ite import treated_from_reference

    ref = columns.pop("reference", None)
    columns["treated"] = treated_from_reference(data, columns.get("treatment"), ref,
                                                columns.get("treated"))
    d = prepare_ite_data(data, **columns)
    _check_loto(d)
    _, spec = _parse_method(method)
    model = _template(spec, n_boot, random_state)
    if not isinstance(spec, TwoStageITE):
        model.n_jobs = int(n_jobs)
    return _loto_from_fitted(model.fit(d), d)


def tau_risk(y: np.ndarray, t: np.ndarray, ite: np.ndarray, trial: np.ndarray) -> float:
    """Transformed-outcome risk ``mean((Y* - ite)^2)``, ``Y* = (y - ybar)(t - pi)/(pi(1 - pi))``.

    In a randomised trial ``E[Y* | x] = ITE(x)``, so this equals the mean squared
    error against the true ITE plus a constant that does not depend on the method:
    smaller is better and differences between methods are unbiased.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> trial = np.repeat(["a", "b"], 200)
    >>> x = rng.normal(size=400); t = rng.integers(0, 2, 400)
    >>> true_ite = 1 + x
    >>> y = x + t * true_ite + rng.normal(size=400)
    >>> round(tau_risk(y, t, true_ite, trial), 2)
    12.37
    >>> tau_risk(y, t, true_ite, trial) < tau_risk(y, t, np.ones(400), trial)
    True
    """
    ystar = np.empty_like(y, dtype=float)
    for tr in np.unique(trial):
        m = trial == tr
        pi = t[m].mean()
        ystar[m] = (y[m] - y[m].mean()) * (t[m] - pi) / (pi * (1 - pi))
    return float(np.mean((ystar - ite) ** 2))


def _wls_line(x, y, w):
    X = np.column_stack([np.ones_like(x), x])
    W = w / w.sum()
    coef = np.linalg.lstsq(X * np.sqrt(W)[:, None], y * np.sqrt(W), rcond=None)[0]
    return float(coef[0]), float(coef[1])


def calibration_for_benefit(y, t, ite, trial, *, method: str = "groups",
                            n_groups: int = 5) -> dict[str, Any]:
    """Observed vs predicted benefit, its intercept and slope.

    ``method="groups"``: patients are grouped by quantiles of predicted benefit;
    a group's observed benefit is the trial-stratified difference in mean
    outcome between arms (weighted by the group's patients in each trial).
    ``method="matching"``: within each trial, treated and control patients are
    matched 1:1 by the rank of their predicted benefit; a pair's observed
    benefit is ``y_treated - y_control`` and its predicted benefit the pair mean.
    The calibration line regresses observed on predicted benefit (weighted by
    group size for groups).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> trial = np.repeat(["a", "b"], 200)
    >>> x = rng.normal(size=400); t = rng.integers(0, 2, 400)
    >>> y = x + t * (1 + x) + rng.normal(size=400)
    >>> cal = calibration_for_benefit(y, t, 1 + x, trial, n_groups=4)
    >>> sorted(cal), round(cal["slope"], 1)
    (['intercept', 'rmse', 'slope', 'table'], 1.2)
    >>> cal["table"][["group", "n"]].to_numpy().tolist()
    [[1, 100], [2, 100], [3, 100], [4, 100]]
    """
    y, t, ite, trial = (np.asarray(a) for a in (y, t, ite, trial))
    if method == "groups":
        edges = np.quantile(ite, np.linspace(0, 1, n_groups + 1))
        g = np.clip(np.searchsorted(edges, ite, side="right") - 1, 0, n_groups - 1)
        rows = []
        for k in range(n_groups):
            m = g == k
            diffs, wts = [], []
            for tr in np.unique(trial[m]):
                mm = m & (trial == tr)
                if 0 < t[mm].sum() < mm.sum():
                    diffs.append(y[mm & (t == 1)].mean() - y[mm & (t == 0)].mean())
                    wts.append(mm.sum())
            if wts:
                rows.append({"group": k + 1, "n": int(m.sum()),
                             "predicted": float(ite[m].mean()),
                             "observed": float(np.average(diffs, weights=wts))})
        table = pd.DataFrame(rows)
        a0, a1 = _wls_line(table["predicted"].to_numpy(), table["observed"].to_numpy(),
                           table["n"].to_numpy(float))
    elif method == "matching":
        pred, obs = [], []
        for tr in np.unique(trial):
            m = trial == tr
            it, ic = np.flatnonzero(m & (t == 1)), np.flatnonzero(m & (t == 0))
            it, ic = it[np.argsort(ite[it], kind="stable")], ic[np.argsort(ite[ic], kind="stable")]
            small, big = (it, ic) if len(it) <= len(ic) else (ic, it)
            j = np.round((np.arange(len(small)) + 0.5) * len(big) / len(small) - 0.5)
            big = big[j.astype(int)]
            tr_idx, co_idx = (small, big) if len(it) <= len(ic) else (big, small)
            pred.append((ite[tr_idx] + ite[co_idx]) / 2)
            obs.append(y[tr_idx] - y[co_idx])
        p, o = np.concatenate(pred), np.concatenate(obs)
        a0, a1 = _wls_line(p, o, np.ones_like(p))
        q = np.quantile(p, np.linspace(0, 1, n_groups + 1))
        g = np.clip(np.searchsorted(q, p, side="right") - 1, 0, n_groups - 1)
        table = pd.DataFrame({"group": g + 1, "predicted": p, "observed": o}).groupby(
            "group").agg(n=("observed", "size"), predicted=("predicted", "mean"),
                         observed=("observed", "mean")).reset_index()
    else:
        raise ModelSpecificationError(f"method={method!r}: choose 'groups' or 'matching'")
    rmse = float(np.sqrt(np.average((table["observed"] - table["predicted"]) ** 2,
                                    weights=table["n"])))
    return {"intercept": a0, "slope": a1, "rmse": rmse, "table": table}


@dataclass
class CForBenefit:
    """Result of :func:`c_for_benefit`: the statistic, its counts and the matched pairs."""

    c: float
    n_pairs: int
    usable: int
    concordant: int
    discordant: int
    tied: int
    pairs: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.pairs.copy()


def _match_pairs(pb_t: np.ndarray, pb_c: np.ndarray, id_t: np.ndarray,
                 id_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the matched treated and control patients (see :func:`c_for_benefit`)."""
    ot = np.lexsort((id_t, pb_t))
    oc = np.lexsort((id_c, pb_c))
    n = min(len(ot), len(oc))

    def keep(order):
        m = len(order)
        if m == n:
            return order
        j = np.arange(1, n + 1)
        return order[((2 * j - 1) * m) // (2 * n)]

    return keep(ot), keep(oc)


def _concordance(pred: np.ndarray, obs: np.ndarray) -> tuple[int, int, int, int]:
    """Counts over pairs (i, j) with obs_i > obs_j: concordant (pred_i > pred_j),
    tied (pred_i == pred_j), discordant; O(P log P)."""
    levels = np.unique(obs)
    conc = tied = usable = 0
    for a in levels:
        pa = pred[obs == a]
        for b in levels[levels < a]:
            pbs = np.sort(pred[obs == b])
            lo = np.searchsorted(pbs, pa, side="left")
            hi = np.searchsorted(pbs, pa, side="right")
            conc += int(lo.sum())
            tied += int((hi - lo).sum())
            usable += len(pa) * len(pbs)
    return conc, usable - conc - tied, tied, usable


def c_for_benefit(y: Any, t: Any, benefit: Any, *, trial: Any = None,
                  ids: Any = None) -> CForBenefit:
    """C-for-benefit (van Klaveren et al., J Clin Epidemiol 2018;94:59-68), binary outcome.

    ``benefit`` is the predicted benefit of each patient, larger = more benefit;
    with ``y = 1`` an event (harm) and ITE = risk difference ``p1 - p0`` pass
    ``benefit = p0 - p1 = -ITE``.  The matching rule (within each ``trial``):

    1. sort each arm by predicted benefit ascending (ties by ``ids``, default
       the row order);
    2. with ``n = min(n_treated, n_control)``, keep the whole smaller arm and,
       from the larger arm of size ``m``, the patients at sorted positions
       ``k_j = floor((2j - 1) m / (2n)) + 1``, ``j = 1..n`` (integer arithmetic);
    3. pair j is the j-th kept treated with the j-th kept control patient; its
       predicted benefit is the mean of the two, its observed benefit
       ``y_control - y_treated`` in {-1, 0, 1}.

    Over all pairs of pairs (across trials) with different observed benefit, a
    pair of pairs is concordant if the pair with the larger predicted benefit
    has the larger observed benefit and counts 1/2 if the predicted benefits
    are equal: ``C = (concordant + tied / 2) / usable``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=600); t = rng.integers(0, 2, 600)
    >>> p = 1 / (1 + np.exp(-(-0.5 + x * (1 - t))))      # benefit grows with x
    >>> y = (rng.random(600) < p).astype(float)
    >>> p0, p1 = 1 / (1 + np.exp(0.5 - x)), np.full(600, 1 / (1 + np.exp(0.5)))
    >>> res = c_for_benefit(y, t, p0 - p1)
    >>> res.n_pairs, round(res.c, 3)
    (297, 0.664)
    """
    y, t, b = (np.asarray(a, dtype=float).ravel() for a in (y, t, benefit))
    if not (len(y) == len(t) == len(b)):
        raise DataError(f"y, t and benefit have different lengths ({len(y)}, {len(t)}, "
                        f"{len(b)})")
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataError("c-for-benefit needs a binary outcome coded 0/1 (1 = event)")
    trial = np.zeros(len(y)) if trial is None else np.asarray(trial)
    ids = np.arange(len(y)) if ids is None else np.asarray(ids)
    rows = []
    for tr in pd.unique(trial):
        m = trial == tr
        it, ic = np.flatnonzero(m & (t == 1)), np.flatnonzero(m & (t == 0))
        if len(it) == 0 or len(ic) == 0:
            continue
        kt, kc = _match_pairs(b[it], b[ic], ids[it], ids[ic])
        a, c = it[kt], ic[kc]
        rows.append(pd.DataFrame({"trial": trial[a], "id_treated": ids[a], "id_control": ids[c],
                                  "pb_treated": b[a], "pb_control": b[c],
                                  "y_treated": y[a], "y_control": y[c],
                                  "pred_benefit": (b[a] + b[c]) / 2,
                                  "obs_benefit": y[c] - y[a]}))
    if not rows:
        raise DataError("c-for-benefit needs treated and control patients")
    pairs = pd.concat(rows, ignore_index=True)
    pairs.insert(0, "pair", np.arange(1, len(pairs) + 1))
    conc, disc, tied, usable = _concordance(pairs["pred_benefit"].to_numpy(),
                                            pairs["obs_benefit"].to_numpy())
    c = (conc + 0.5 * tied) / usable if usable else float("nan")
    return CForBenefit(c=float(c), n_pairs=len(pairs), usable=usable, concordant=conc,
                       discordant=disc, tied=tied, pairs=pairs)


class MethodComparison(ResultsMixin):
    """Result of :func:`compare_methods`: ranked ``table``, per-method calibration
    tables and out-of-trial predictions.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_trials=0)
    >>> cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols"], random_state=0)
    >>> type(cmp).__name__, cmp.rank_by
    ('MethodComparison', 'tau_risk')
    >>> cmp.to_frame().columns.tolist()
    ['rank', 'tau_risk', 'tau_risk_diff', 'calib_intercept', 'calib_slope', 'calib_rmse']
    >>> sorted(cmp.calibration), cmp.predictions["ols+mvma"].columns.tolist()[:4]
    (['ols+mvma', 'ols+weighted-aux-ols'], ['trial', 't', 'y', 'ite'])
    >>> cmp.calibration["ols+mvma"]["table"].columns.tolist()
    ['group', 'n', 'predicted', 'observed']
    """

    def __init__(self, table, calibration, predictions, rank_by, calib_method, *,
                 per_contrast=None, contrast_calibration=None):
        self.table = table
        self.calibration = calibration
        self.predictions = predictions
        self.rank_by = rank_by
        self.calib_method = calib_method
        #: treatment networks: metrics per (method, contrast) and the calibration of
        #: every contrast (``{method: {"<j>_vs_<k>": ..., "overall": ...}}``); None for
        #: two treatments
        self.per_contrast = per_contrast
        self.contrast_calibration = contrast_calibration

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def summary(self) -> Summary:
        tables = {"": self.table}
        notes = []
        if self.per_contrast is not None:
            tables = {"Overall (all contrasts stacked)": self.table,
                      "Per contrast": self.per_contrast}
            notes.append("treatment network: a contrast is scored on the trials that "
                         "randomise both its arms; 'overall' stacks the contrasts with one "
                         "stratum per (trial, contrast).")
        return Summary(
            title="Two-stage ITE methods: leave-one-trial-out validation",
            info={"ranked by": self.rank_by, "calibration": self.calib_method,
                  "methods": len(self.table)},
            tables=tables,
            notes=[*notes, "c_for_benefit (time to event): matched treated/control pairs whose "
                   "order the follow-up reveals; calibration: Kaplan-Meier differences by "
                   "group of predicted benefit (ideal slope 1, intercept 0)."]
            if "tau_risk" not in self.table else
            [*notes, "tau_risk: transformed-outcome risk (MSE vs the true ITE + a constant "
                   "common to all methods, so only differences matter: tau_risk_diff is the "
                   "excess over the smallest); calib_slope/intercept: observed vs predicted "
                   "benefit (ideal 1 and 0)."])

    def plot(self, ax=None, kind: str = "calibration"):
        """``kind="calibration"``: observed vs predicted benefit per method;
        ``"ranking"``: the ranking metric per method."""
        from ..plots import color_for, get_ax

        ax = get_ax(ax)
        if kind == "calibration":
            lo, hi = np.inf, -np.inf
            for i, (name, cal) in enumerate(self.calibration.items()):
                tab = cal["table"]
                ax.plot(tab["predicted"], tab["observed"], "o-", color=color_for(i),
                        label=f"{name} (slope {cal['slope']:.2f})")
                lo = min(lo, tab["predicted"].min(), tab["observed"].min())
                hi = max(hi, tab["predicted"].max(), tab["observed"].max())
            ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1, label="ideal")
            ax.set_xlabel("predicted benefit")
            ax.set_ylabel("observed benefit")
            ax.set_title("Calibration for benefit (leave-one-trial-out)")
            ax.legend(frameon=False, fontsize="small")
        elif kind == "ranking":
            tab = self.table
            ax.barh(tab.index[::-1], tab[self.rank_by].to_numpy()[::-1], color=color_for(0))
            ax.set_xlabel(self.rank_by)
            ax.set_title("Leave-one-trial-out ranking (best at top)")
        else:
            raise ModelSpecificationError(f"kind={kind!r}: choose 'calibration' or 'ranking'")
        return ax


def compare_methods(data: Any, methods: Sequence[Any] | None = None, *,
                    trial: str | None = None, treatment: str | None = None,
                    outcome: str | None = None, covariates: Sequence[str] | None = None,
                    treated: Any = None, calibration: str = "groups", n_groups: int = 5,
                    rank_by: str | None = None, true_ite: Any = None, n_boot: int = 100,
                    random_state: Any = None, n_jobs: int = 1,
                    learner_options: dict[str, dict] | None = None,
                    pooler_options: dict[str, dict] | None = None,
                    progress: bool | None = False,
                    foldid: str | None = None, client: Any = None,
                    reference: str | None = None,
                    higher_is_better: bool = True,
                    scale: str | None = None, horizon: float | None = None,
                    tau: float | None = None,
                    network_stage1: str = "native") -> MethodComparison:
    """Rank learner+pooler pairs by leave-one-trial-out cross-validation.

    Every trial in turn is predicted from the other trials.  Scores on the
    observed outcomes: ``tau_risk`` (transformed-outcome risk, smaller is
    better; ``tau_risk_diff`` is its excess over the best method's) and
    calibration for benefit (``calib_intercept``, ``calib_slope``,
    ``calib_rmse``).  With ``true_ite`` (array aligned with the data, e.g. from
    a simulation) also ``mae`` (median absolute error, the paper's metric) and
    ``rmse``.

    Parameters
    ----------
    methods : list of "learner+pooler" strings, (learner, pooler) tuples or
        :class:`TwoStageITE` objects.  Default: ``ols+mvma``,
        ``ols+weighted-aux-ols``, ``lasso+weighted-aux-ols``,
        ``ridge+weighted-aux-ols``.  A :class:`TwoStageITE` already fitted on
        exactly these data is used as it is (its stage 1 is not refitted);
        otherwise it is refitted with its own settings.
    rank_by : {"tau_risk", "calib_rmse", "c_for_benefit", "mae", "rmse"}, optional
        Default ``"tau_risk"``; for a binary outcome ``"c_for_benefit"``
        (larger is better; treated and control patients matched within each
        trial, see :func:`c_for_benefit`).  For a binary outcome the ITE is on
        the risk-difference scale and calibration for benefit compares the
        predicted with the observed risk differences.
    n_jobs : int, default 1
        Parallel stage-1 jobs (see :func:`fit_methods`).
    learner_options, pooler_options : dict of dict, optional
        Options per learner / pooler name for the methods named by strings or
        tuples (as in :func:`fit_methods`), e.g. ``{"xgboost": REDUCED_XGBOOST_GRID}``.
    progress : bool or None, default False
        Progress bar over the stage-1 fits (stderr; ``None``: when it is a terminal).
    foldid : str, optional
        Column of cross-validation fold ids for the learners that cross-validate
        (as in :func:`fit_methods`); each trial keeps its folds in every
        leave-one-trial-out fold.
    client : dask.distributed.Client, optional
        Run the stage-1 jobs on this Dask cluster (as in :func:`fit_methods`);
        same numbers as a local run.
    reference, higher_is_better : optional
        Treatment networks (more than two treatments): the network reference and
        which outcome values are desirable (as in :meth:`TwoStageITE.fit`).  With
        two treatments ``reference`` names the control arm.
    network_stage1 : {"native", "per-contrast"}, default "native"
        Treatment networks: how the machine-learning learners fit a trial (as in
        :func:`fit_methods`).
    scale, horizon, tau : optional
        Time-to-event outcomes (``IPD(time=, event=)``): the ITE scale
        (``"survdiff"`` with ``horizon``, default; ``"rmstdiff"`` with ``tau``;
        ``"loghr"``).  The scores are then censoring-aware and need no
        counterfactuals: ``c_for_benefit`` (default ranking; matched pairs whose
        order the follow-up reveals, :func:`survival_c_for_benefit`) and calibration
        for benefit against trial-stratified Kaplan-Meier differences by group of
        predicted benefit (:func:`survival_calibration_for_benefit`; not on the
        ``loghr`` scale); ``tau_risk`` is not defined.  With ``true_ite`` (e.g.
        ``make_survival_trials``' ``truth["ite_survdiff"]``) also ``mae`` and
        ``rmse``.  Default methods: ``cox+mvma``, ``cox+weighted-aux-ols``,
        ``cox-lasso+weighted-aux-ols``, ``weibull+mvma``.

    Notes
    -----
    Each trial's stage 1 is fitted once per learner and shared by that
    learner's poolers and by every fold that includes the trial: a fold
    re-runs only stage 2, which is what a fresh fit on the other trials would
    do, at 1/K of the cost.

    With more than two treatments (a treatment network) every contrast ``j`` vs
    ``k`` that some trial randomises is scored on those trials' patients of arms
    ``j`` and ``k`` with its leave-one-trial-out prediction (``per_contrast``:
    one row per method and contrast, with ``n`` comparisons and ``trials``); the
    ranked ``table`` holds the overall scores, computed on all contrasts stacked
    with one stratum per (trial, contrast) (so ``tau_risk`` overall is the
    comparison-weighted mean of the per-contrast values).  ``true_ite`` is then
    an (n, T-1) array or a DataFrame with ``true_ite_<T>_vs_<REF>`` columns (as
    :func:`ipdma.datasets.make_ite_network` gives); ``mae``/``rmse`` overall pool
    the contrasts vs the network reference and ``best_correct`` is the share of
    patients whose predicted best treatment is the true one.  For a binary
    outcome the methods must predict risk differences (weighted poolers).
    See :mod:`ipdma.ite._network_validate`.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_trials=0)
    >>> cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols"], random_state=0)
    >>> list(cmp.table.columns[:2])
    ['rank', 'tau_risk']

    A treatment network (four treatments, multi-arm trials):

    >>> from ipdma.datasets import make_ite_network
    >>> net = make_ite_network(random_state=1, n_test=10)
    >>> cmp = compare_methods(net.ipd(), ["ols+mvma", "ols+weighted-aux-ols"],
    ...                       true_ite=net.truth, random_state=0)
    >>> cmp.per_contrast.index.get_level_values("contrast").unique().tolist()
    ['B_vs_A', 'C_vs_A', 'C_vs_B', 'D_vs_A', 'D_vs_B', 'D_vs_C']
    >>> bool(cmp.table["best_correct"].between(0, 1).all())
    True
    """
    from ._network_validate import as_network_data, network_compare_methods

    nd = as_network_data(data, trial=trial, treatment=treatment, outcome=outcome,
                         covariates=covariates, reference=reference, treated=treated,
                         foldid=foldid)
    if nd is not None:      # more than two treatments: metrics per contrast and overall
        return network_compare_methods(
            nd, methods, calibration=calibration, n_groups=n_groups, rank_by=rank_by,
            true_ite=true_ite, n_boot=n_boot, random_state=random_state, n_jobs=n_jobs,
            learner_options=learner_options, pooler_options=pooler_options,
            progress=progress, client=client, higher_is_better=higher_is_better,
            network_stage1=network_stage1,
            **({"scale": scale, "horizon": horizon, "tau": tau}
               if nd.outcome_type == "survival" else {}))
    from ._network_ite import treated_from_reference

    treated = treated_from_reference(data, treatment, reference, treated)
    d = prepare_ite_data(data, trial=trial, treatment=treatment, outcome=outcome,
                         covariates=covariates, treated=treated, foldid=foldid)
    survival = d.outcome_type == "survival"
    if survival:
        from ._twostage import _with_time_points

        d = _with_time_points(d, horizon, tau)
        scale = d.family.check_scale(scale)
        if scale != "loghr":
            d.family.scale_params(scale)                 # raises without its time point
        if methods is None:
            methods = ["cox+mvma", "cox+weighted-aux-ols", "cox-lasso+weighted-aux-ols",
                       "weibull+mvma"]
        if rank_by is None:
            rank_by = "c_for_benefit"
    elif scale is not None or horizon is not None or tau is not None:
        raise ModelSpecificationError("scale/horizon/tau of compare_methods apply to "
                                      "time-to-event outcomes (IPD(time=, event=))")
    binary = d.outcome_type == "binary"
    if methods is None:
        methods = ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols",
                   "ridge+weighted-aux-ols"] if not binary else \
            ["logistic+mvma", "logistic+weighted-aux-ols", "logistic-lasso+weighted-aux-ols",
             "logistic-ridge+weighted-aux-ols"]
    if rank_by is None:
        rank_by = "c_for_benefit" if binary else "tau_risk"
    truth = None if true_ite is None else np.asarray(true_ite, dtype=float)
    if truth is not None and len(truth) != len(d.y):
        raise DataError(f"true_ite has {len(truth)} values for {len(d.y)} patients")
    valid = {"tau_risk", "calib_rmse", "mae", "rmse"} | ({"c_for_benefit"} if binary else set())
    if survival:
        valid = {"c_for_benefit", "calib_rmse", "mae", "rmse"}
    if rank_by not in valid or (rank_by in ("mae", "rmse") and truth is None):
        raise ModelSpecificationError(f"rank_by={rank_by!r}: choose one of {sorted(valid)} "
                                      "(mae/rmse need true_ite; c_for_benefit a binary "
                                      "or time-to-event outcome)")
    _check_loto(d)
    parsed = [_parse_method(m) for m in methods]
    from ._poolers import check_pair

    for _, spec in parsed:
        if isinstance(spec, tuple):
            probe = TwoStageITE(spec[0], spec[1])  # raise early for infeasible pairs
            check_pair(probe.learner_, probe.pooler_, family=d.outcome_type)
    # pairs named by strings share their learners' stage-1 fits (fit_methods)
    pairs = [spec for _, spec in parsed if isinstance(spec, tuple)]
    shared = fit_methods(d, pairs, n_boot=n_boot, random_state=random_state,
                         n_jobs=n_jobs, learner_options=learner_options,
                         pooler_options=pooler_options, progress=progress,
                         X_query=d.X, client=client,
                         **({"scale": scale, "horizon": horizon, "tau": tau}
                            if survival else {})) if pairs else {}
    rows, cals, preds = [], {}, {}
    for name, spec in parsed:
        if isinstance(spec, tuple):
            model = shared[f"{spec[0]}+{spec[1]}"]
        elif _fitted_on(spec, d):
            model = spec
        else:
            model = _template(spec, n_boot, random_state)
            model.progress = progress
            model.fit(d, X_query=d.X, client=client)
        oof = _loto_from_fitted(model, d)
        ite = oof["ite"].to_numpy()
        if survival:
            from ._survival_validation import compare_survival_rows

            row, cals[name] = compare_survival_rows(
                d, name, oof, getattr(model, "scale", None) or scale, n_groups=n_groups,
                truth=truth)
            rows.append(row)
            preds[name] = oof
            continue
        cal = calibration_for_benefit(d.y, d.t, ite, d.trial, method=calibration,
                                      n_groups=n_groups)
        row = {"method": name, "tau_risk": tau_risk(d.y, d.t, ite, d.trial),
               "calib_intercept": cal["intercept"], "calib_slope": cal["slope"],
               "calib_rmse": cal["rmse"]}
        if binary:
            row["c_for_benefit"] = c_for_benefit(d.y, d.t, -ite, trial=d.trial).c
        if truth is not None:
            row["mae"] = float(np.median(np.abs(ite - truth)))
            row["rmse"] = float(np.sqrt(np.mean((ite - truth) ** 2)))
        rows.append(row)
        cals[name] = cal
        preds[name] = oof
    table = pd.DataFrame(rows).set_index("method").sort_values(
        rank_by, kind="stable", ascending=rank_by != "c_for_benefit")
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    if survival:
        return MethodComparison(table, cals, preds, rank_by, calibration)
    # tau_risk carries a constant common to all methods, often large: only differences
    # are informative, and a 4-digit display of tau_risk alone can show ties
    table.insert(2, "tau_risk_diff", table["tau_risk"] - table["tau_risk"].min())
    return MethodComparison(table, cals, preds, rank_by, calibration)

"""Calibration of predicted survival at a horizon: observed Kaplan-Meier vs
mean predicted survival within risk groups, and the calibration slope of the
linear predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ._km import kaplan_meier

__all__ = ["calibration_at", "calibration_slope"]


def risk_groups(risk: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group 1..G of each value by quantiles (``cut(risk, quantile(risk, 0:G/G,
    type = 7), include.lowest = TRUE)``) and the breaks."""
    if n_groups < 1:
        raise ModelSpecificationError(f"n_groups must be >= 1 (got {n_groups})")
    brk = np.quantile(risk, np.linspace(0, 1, n_groups + 1))
    if np.any(np.diff(brk) <= 0):
        raise ModelSpecificationError(
            f"the {n_groups} quantile groups of predicted risk are not distinct (tied "
            "predictions); use fewer groups (n_groups=)")
    g = np.clip(np.searchsorted(brk, risk, side="left"), 1, n_groups)
    return g, brk


def calibration_at(time, event, pred_surv, horizon: float, n_groups: int = 10) -> pd.DataFrame:
    """Observed vs predicted survival at ``horizon`` by groups of predicted risk.

    Parameters
    ----------
    time, event : arrays (n,)
    pred_surv : array (n,)
        Predicted S(horizon | x) of each patient.
    horizon : float
    n_groups : int, default 10
        Quantile groups of the predicted risk ``1 - pred_surv`` (group 1 = lowest).

    Returns
    -------
    DataFrame with ``group``, ``n``, ``events``, ``mean_pred`` (mean predicted
    S), ``km`` (Kaplan-Meier S(horizon) in the group), ``km_std_err``
    (Greenwood), ``n_risk`` (at the horizon), ``km_lower``/``km_upper`` (95 %,
    log scale) and ``risk_lower``/``risk_upper`` (the group's breaks).
    The groups' breaks are in ``.attrs["breaks"]``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(size=500)
    >>> t = rng.exponential(np.exp(-lp))
    >>> tab = calibration_at(t, np.ones(500), np.exp(-1.0 * np.exp(lp)), 1.0, n_groups=5)
    >>> tab["group"].tolist(), bool(np.all(np.abs(tab["km"] - tab["mean_pred"]) < 0.12))
    ([1, 2, 3, 4, 5], True)
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    s = np.asarray(pred_surv, float)
    g, brk = risk_groups(1 - s, n_groups)
    rows = []
    for k in range(1, n_groups + 1):     # loop over the (few) risk groups
        m = g == k
        km = kaplan_meier(t[m], e[m]).at(horizon).iloc[0]
        rows.append({"group": k, "n": int(m.sum()), "events": int(e[m].sum()),
                     "mean_pred": float(s[m].mean()), "km": float(km["surv"]),
                     "km_std_err": float(km["std_err"]), "n_risk": float(km["n_risk"]),
                     "risk_lower": brk[k - 1], "risk_upper": brk[k]})
    out = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        sl = out["km_std_err"] / out["km"]
    out["km_lower"] = out["km"] * np.exp(-1.959963984540054 * sl)
    out["km_upper"] = np.minimum(out["km"] * np.exp(1.959963984540054 * sl), 1.0)
    out.attrs["breaks"] = brk
    out.attrs["horizon"] = horizon
    return out


def calibration_slope(time, event, lp, strata=None, ties: str = "efron") -> tuple[float, float]:
    """Calibration slope: the coefficient (and SE) of ``lp`` in
    ``coxph(Surv(time, event) ~ lp)`` (1 = well calibrated; < 1 = predictions
    too extreme).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> lp = rng.normal(size=800)
    >>> slope, se = calibration_slope(rng.exponential(np.exp(-lp)), np.ones(800), lp)
    >>> bool(abs(slope - 1) < 3 * se)
    True
    """
    from ._cox import fit_cox

    fit = fit_cox(np.asarray(lp, float)[:, None], time, event, strata=strata, ties=ties)
    return float(fit.coef[0]), float(fit.se[0])

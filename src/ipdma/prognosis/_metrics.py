"""Performance measures of a risk model on the logit scale (vectorised)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ._solvers import fit_logistic_ridge

__all__ = [
    "METRICS",
    "brier",
    "c_statistic",
    "c_statistic_se",
    "calibration",
    "calibration_by_trial",
    "calibration_stats",
    "calibration_summary",
    "performance",
    "performance_se",
]

#: names of the measures, in the order used in every table
METRICS = ("c_statistic", "calibration_slope", "calibration_intercept", "citl", "brier")


def c_statistic(lp: np.ndarray, y: np.ndarray) -> float:
    """Mann-Whitney AUC of ``lp`` against binary ``y`` (ties count 1/2).

    NaN when ``y`` has only one class.

    Examples
    --------
    >>> import numpy as np
    >>> c_statistic(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    """
    y = np.asarray(y)
    n1 = int(np.sum(y == 1))
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = stats.rankdata(lp)
    return float((np.sum(r[y == 1]) - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration(lp: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(calibration slope, calibration-in-the-large).

    Slope: the coefficient of ``lp`` in ``glm(y ~ lp, binomial)``.  CITL: the
    intercept of ``glm(y ~ 1, offset = lp, binomial)`` (0 = calibrated on
    average).  NaN when ``y`` has a single class.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(size=2000)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    >>> slope, citl = calibration(lp, y)
    >>> bool(abs(slope - 1) < 0.2 and abs(citl) < 0.2)
    True
    """
    y = np.asarray(y, float)
    if y.min() == y.max():
        return float("nan"), float("nan")
    n = len(y)
    A = np.column_stack([np.ones(n), lp])
    slope = fit_logistic_ridge(A, y, tol=1e-10).coef[1]
    citl = fit_logistic_ridge(np.ones((n, 1)), y, offset=np.asarray(lp, float), tol=1e-10).coef[0]
    return float(slope), float(citl)


CALIBRATION_COLUMNS = ("n", "events", "intercept", "intercept_se", "slope", "slope_se",
                       "citl", "citl_se", "oe", "log_oe_se", "mean_predicted", "observed")


def calibration_stats(lp: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Calibration of predictions ``lp`` (logit scale) against 0/1 outcomes ``y``.

    ``intercept``/``slope`` and their SEs: ``glm(y ~ lp, binomial)``;
    ``citl`` (calibration-in-the-large) and SE: ``glm(y ~ 1, offset = lp,
    binomial)``; ``oe`` = observed / expected events ``sum(y) / sum(expit(lp))``
    with ``log_oe_se = sqrt((1 - o) / (n o))`` (``o`` the observed rate; Debray et
    al. 2017), ``mean_predicted`` and ``observed`` rates.  NaN where undefined
    (a single outcome class).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(size=2000)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    >>> st = calibration_stats(lp, y)
    >>> bool(abs(st["slope"] - 1) < 2 * st["slope_se"] + 0.05), round(st["oe"], 2)
    (True, 1.02)
    """
    lp = np.asarray(lp, float)
    y = np.asarray(y, float)
    n = len(y)
    ev = float(y.sum())
    p = special.expit(lp)
    o = ev / n if n else float("nan")
    out = dict.fromkeys(CALIBRATION_COLUMNS, float("nan"))
    out.update(n=n, events=int(ev), oe=ev / float(p.sum()) if n else float("nan"),
               mean_predicted=float(p.mean()) if n else float("nan"), observed=o)
    if n and 0 < ev < n:
        out["log_oe_se"] = float(np.sqrt((1 - o) / (n * o)))
        f1 = fit_logistic_ridge(np.column_stack([np.ones(n), lp]), y, tol=1e-12)
        f0 = fit_logistic_ridge(np.ones((n, 1)), y, offset=lp, tol=1e-12)
        se1 = np.sqrt(np.diag(f1.vcov)) if f1.vcov is not None else [np.nan, np.nan]
        out.update(intercept=float(f1.coef[0]), intercept_se=float(se1[0]),
                   slope=float(f1.coef[1]), slope_se=float(se1[1]), citl=float(f0.coef[0]),
                   citl_se=float(np.sqrt(f0.vcov[0, 0])) if f0.vcov is not None else np.nan)
    return out


def calibration_by_trial(lp: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None,
                      overall: str = "overall") -> pd.DataFrame:
    """:func:`calibration_stats` per group (one row each, index = group label, in
    sorted order) and over all rows (last row, labelled ``overall``)."""
    rows = {}
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        for g in sorted(set(groups), key=str):
            m = groups == g
            rows[str(g)] = calibration_stats(lp[m], y[m])
    rows[overall] = calibration_stats(lp, y)
    out = pd.DataFrame.from_dict(rows, orient="index")[list(CALIBRATION_COLUMNS)]
    out[["n", "events"]] = out[["n", "events"]].astype(int)
    return out.rename_axis("trial")


def calibration_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Random-effects (REML) meta-analysis across trials of the calibration
    intercept, CITL, slope and log O/E (rows) of a :func:`calibration_by_trial` without
    its overall row: ``estimate``, ``se``, ``tau2``, ``ci_lower``, ``ci_upper``,
    ``pi_lower``, ``pi_upper`` (``metafor::rma(est, sei = se)``; prediction interval
    with t_{k-2}, Riley et al. 2011, as :meth:`ipdma.meta.UnivariateMetaResult.predict`)."""
    from ..meta import meta_analysis

    rows = {}
    for name, est, se in (("intercept", table["intercept"], table["intercept_se"]),
                          ("citl", table["citl"], table["citl_se"]),
                          ("slope", table["slope"], table["slope_se"]),
                          ("log_oe", np.log(table["oe"]), table["log_oe_se"])):
        ok = np.isfinite(est.to_numpy(float)) & np.isfinite(se.to_numpy(float))
        if ok.sum() < 2:
            rows[name] = dict.fromkeys(("estimate", "se", "tau2", "ci_lower", "ci_upper",
                                        "pi_lower", "pi_upper"), np.nan)
            continue
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = meta_analysis(est.to_numpy(float)[ok], se.to_numpy(float)[ok] ** 2,
                              method="REML")
        pr = r.predict(interval="prediction").iloc[0]
        rows[name] = {"estimate": float(r.coef.iloc[0]), "se": float(r.se.iloc[0]),
                      "tau2": r.tau2, "ci_lower": pr["ci_lb"], "ci_upper": pr["ci_ub"],
                      "pi_lower": pr["pi_lb"], "pi_upper": pr["pi_ub"]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("measure")


def brier(lp: np.ndarray, y: np.ndarray) -> float:
    """Mean squared difference between predicted risk and outcome.

    ``lp`` is on the logit scale; the predicted risk is ``expit(lp)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import brier
    >>> brier(np.zeros(2), np.array([0, 1]))  # risk 0.5 for everyone
    0.25
    >>> round(brier(np.array([-1.0, 0.0, 2.0]), np.array([0, 1, 1])), 3)
    0.112
    """
    return float(np.mean((special.expit(lp) - np.asarray(y, float)) ** 2))


def performance(lp: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """All five measures of :data:`METRICS` as a dict: the c-statistic, the
    calibration slope and intercept (``glm(y ~ lp, binomial)``), calibration-in-the-large
    (``glm(y ~ 1, offset = lp, binomial)``) and the Brier score.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import performance
    >>> perf = performance(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> list(perf)
    ['c_statistic', 'calibration_slope', 'calibration_intercept', 'citl', 'brier']
    >>> round(perf["c_statistic"], 3), round(perf["brier"], 3)
    (0.75, 0.225)
    """
    lp = np.asarray(lp, float)
    y = np.asarray(y, float)
    out = {"c_statistic": c_statistic(lp, y), "calibration_slope": float("nan"),
           "calibration_intercept": float("nan"), "citl": float("nan"),
           "brier": brier(lp, y)}
    if y.min() != y.max():
        n = len(y)
        f1 = fit_logistic_ridge(np.column_stack([np.ones(n), lp]), y, tol=1e-10)
        f0 = fit_logistic_ridge(np.ones((n, 1)), y, offset=lp, tol=1e-10)
        out.update(calibration_slope=float(f1.coef[1]), calibration_intercept=float(f1.coef[0]),
                   citl=float(f0.coef[0]))
    return out


def c_statistic_se(lp: np.ndarray, y: np.ndarray) -> float:
    """DeLong et al. (1988) standard error of the c-statistic (AUC), ties as 1/2.

    With placements ``V10_i`` (share of non-events below event ``i``) and
    ``V01_j`` (share of events above non-event ``j``), the variance is
    ``var(V10) / n1 + var(V01) / n0`` (sample variances).  NaN with fewer than 2
    events or non-events.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import c_statistic_se
    >>> round(c_statistic_se(np.array([0.1, 0.4, 0.35, 0.8, 0.2]), np.array([0, 0, 1, 1, 1])), 4)
    0.3727
    """
    lp = np.asarray(lp, float)
    y = np.asarray(y)
    pos, neg = y == 1, y != 1
    n1, n0 = int(pos.sum()), int(neg.sum())
    if n1 < 2 or n0 < 2:
        return float("nan")
    r_all = stats.rankdata(lp)
    v10 = (r_all[pos] - stats.rankdata(lp[pos])) / n0
    v01 = 1.0 - (r_all[neg] - stats.rankdata(lp[neg])) / n1
    return float(np.sqrt(v10.var(ddof=1) / n1 + v01.var(ddof=1) / n0))


def performance_se(lp: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Standard errors of the measures of :func:`performance` on one data set:
    DeLong for the c-statistic (:func:`c_statistic_se`), the model-based (inverse
    information) SEs of ``glm(y ~ lp)`` for the calibration slope and intercept and of
    ``glm(y ~ 1, offset = lp)`` for calibration-in-the-large, and
    ``sd((p - y)^2) / sqrt(n)`` for the Brier score.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import performance_se
    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(size=500)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    >>> sorted(performance_se(lp, y))
    ['brier', 'c_statistic', 'calibration_intercept', 'calibration_slope', 'citl']
    """
    lp = np.asarray(lp, float)
    y = np.asarray(y, float)
    st = calibration_stats(lp, y)
    sq = (special.expit(lp) - y) ** 2
    return {"c_statistic": c_statistic_se(lp, y), "calibration_slope": st["slope_se"],
            "calibration_intercept": st["intercept_se"], "citl": st["citl_se"],
            "brier": float(sq.std(ddof=1) / np.sqrt(len(y))) if len(y) > 1 else float("nan")}

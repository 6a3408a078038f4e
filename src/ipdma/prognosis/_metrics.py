"""Performance measures of a risk model on the logit scale (vectorised)."""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ._solvers import fit_logistic_ridge

__all__ = ["METRICS", "brier", "c_statistic", "calibration", "performance"]

#: names of the measures, in the order used in every table
METRICS = ("c_statistic", "calibration_slope", "citl", "brier")


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
    """All four measures of :data:`METRICS` as a dict.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import performance
    >>> perf = performance(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> list(perf)
    ['c_statistic', 'calibration_slope', 'citl', 'brier']
    >>> round(perf["c_statistic"], 3), round(perf["brier"], 3)
    (0.75, 0.225)
    """
    slope, citl = calibration(lp, y)
    return {"c_statistic": c_statistic(lp, y), "calibration_slope": slope, "citl": citl,
            "brier": brier(lp, y)}

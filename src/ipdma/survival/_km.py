"""Kaplan-Meier estimator with Greenwood standard errors, and the reverse
Kaplan-Meier median follow-up (= ``survival::survfit(Surv ~ 1)``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from ._riskset import RiskSets

__all__ = ["KaplanMeier", "kaplan_meier", "median_followup"]


@dataclass
class KaplanMeier(ResultsMixin):
    """A Kaplan-Meier curve at its distinct times.

    Attributes
    ----------
    time, n_risk, n_event, n_censor, surv : numpy.ndarray
    std_err : numpy.ndarray
        Greenwood standard error of S (``summary(survfit)$std.err``).
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    _all_time: np.ndarray | None = None
    _all_w: np.ndarray | None = None

    def at(self, times) -> pd.DataFrame:
        """S(t), its Greenwood SE and the number at risk at ``times``
        (= ``summary(fit, times = )``)."""
        at = np.atleast_1d(np.asarray(times, float))
        idx = np.searchsorted(self.time, at, side="right")
        surv = np.r_[1.0, self.surv][idx]
        se = np.r_[0.0, self.std_err][idx]
        srt = np.sort(self._all_time)
        cw = np.r_[np.cumsum(self._all_w[np.argsort(self._all_time)][::-1])[::-1], 0.0]
        n_risk = cw[np.searchsorted(srt, at, side="left")]
        return pd.DataFrame({"time": at, "surv": surv, "std_err": se, "n_risk": n_risk})

    def median(self) -> float:
        """Median survival time (R's convention: midpoint when S is exactly 0.5
        on a flat stretch; NaN when S never reaches 0.5)."""
        return _quantile_time(self.time, self.surv, 0.5)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"time": self.time, "n_risk": self.n_risk, "n_event": self.n_event,
                             "n_censor": self.n_censor, "surv": self.surv,
                             "std_err": self.std_err})

    def summary(self) -> Summary:
        return Summary("Kaplan-Meier", tables={"": self.to_frame()},
                       info={"n": float(self.n_risk[0]) if len(self.n_risk) else 0,
                             "events": float(self.n_event.sum()), "median": self.median()})

    def plot(self, ax=None, label: str | None = None, ci: bool = True):
        """Step plot of S(t) with a pointwise 95 % log-scale band."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        tt = np.r_[0.0, self.time]
        line, = ax.step(tt, np.r_[1.0, self.surv], where="post", label=label)
        if ci:
            with np.errstate(divide="ignore", invalid="ignore"):
                sl = np.where(self.surv > 0, self.std_err / self.surv, np.nan)
            lo = np.r_[1.0, self.surv * np.exp(-1.959963984540054 * sl)]
            hi = np.r_[1.0, np.minimum(self.surv * np.exp(1.959963984540054 * sl), 1)]
            ax.fill_between(tt, lo, hi, step="post", alpha=0.2, color=line.get_color())
        ax.set_xlabel("time")
        ax.set_ylabel("survival")
        ax.set_ylim(0, 1.02)
        return ax


def _quantile_time(time, surv, p):
    target = 1 - p
    below = np.flatnonzero(surv <= target + 1e-12)
    if len(below) == 0:
        return float("nan")
    k = below[0]
    if abs(surv[k] - target) <= 1e-12:
        nxt = np.flatnonzero(surv[k + 1:] < surv[k] - 1e-12)
        if len(nxt):
            return float((time[k] + time[k + 1 + nxt[0]]) / 2)
    return float(time[k])


def kaplan_meier(time, event, weights=None) -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood standard errors.

    Examples
    --------
    >>> km = kaplan_meier([1, 2, 2, 3, 4], [1, 1, 0, 1, 0])
    >>> km.surv.round(4).tolist()
    [0.8, 0.6, 0.3, 0.3]
    >>> float(km.at(2.5)["n_risk"].iloc[0])
    2.0
    """
    t = np.asarray(time, float)
    e = np.asarray(event, float)
    w = np.ones(len(t)) if weights is None else np.asarray(weights, float)
    rs = RiskSets(t, e, None, w)
    n_risk = rs.rev_cumsum(rs.weights)[rs.g_start]
    d = np.bincount(rs.group, weights=rs.weights * rs.event, minlength=rs.n_groups)
    c = np.bincount(rs.group, weights=rs.weights * (1 - rs.event), minlength=rs.n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1 - d / n_risk)
        gw = np.cumsum(np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0))
        se = surv * np.sqrt(gw)          # NaN once S = 0 (as survfit)
    return KaplanMeier(rs.g_time, n_risk, d, c, surv, se, t, w)


def median_followup(time, event) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (censoring as the
    event; ``survfit(Surv(time, 1 - status) ~ 1)`` median).

    Examples
    --------
    >>> median_followup([1, 2, 3, 4, 5], [1, 0, 0, 1, 0])
    4.0
    """
    e = np.asarray(event, float)
    return kaplan_meier(time, 1 - e).median()

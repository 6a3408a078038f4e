"""Calibration and risk-distribution plots for the baseline-risk model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from ..plots import color_for, get_ax
from ._metrics import c_statistic, calibration

__all__ = ["calibration_table", "plot_calibration", "plot_risk_distribution"]


def calibration_table(lp: np.ndarray, y: np.ndarray, n_groups: int = 10) -> pd.DataFrame:
    """Grouped calibration: groups of equal size by predicted risk (quantiles),
    mean predicted risk, observed proportion and its 95 % Wilson interval.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.prognosis import calibration_table
    >>> rng = np.random.default_rng(0)
    >>> lp = np.linspace(-2, 2, 200)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    >>> tab = calibration_table(lp, y, n_groups=5)
    >>> tab.columns.tolist()
    ['n', 'predicted', 'observed', 'ci_lower', 'ci_upper']
    >>> tab["n"].tolist()
    [40, 40, 40, 40, 40]
    >>> tab["predicted"].round(2).tolist()
    [0.17, 0.31, 0.5, 0.69, 0.83]
    >>> bool((tab["ci_lower"] <= tab["observed"]).all())
    True
    """
    p = special.expit(np.asarray(lp, float))
    y = np.asarray(y, float)
    g = pd.qcut(pd.Series(p).rank(method="first"), min(n_groups, len(p)), labels=False)
    df = pd.DataFrame({"g": g.to_numpy(), "p": p, "y": y}).groupby("g")
    out = df.agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    z = 1.959963984540054
    n, ph = out["n"], out["observed"]
    centre = (ph + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    out["ci_lower"], out["ci_upper"] = centre - half, centre + half
    return out.reset_index(drop=True)


def _lowess(p, y):
    from statsmodels.nonparametric.smoothers_lowess import lowess

    return lowess(y, p, frac=2 / 3, it=0, return_sorted=True)


def plot_calibration(lp, y, ax=None, n_groups: int = 10, groups=None, title: str = "",
                     annotate: dict | None = None):
    """Observed vs predicted risk: grouped quantiles with 95 % CI and a lowess
    curve (per group when ``groups`` is given, e.g. held-out trials).

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from ipdma.prognosis import plot_calibration
    >>> rng = np.random.default_rng(0)
    >>> lp = rng.normal(-1, 1, 300)
    >>> y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    >>> ax = plot_calibration(lp, y, n_groups=5, title="Apparent calibration")
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Predicted risk', 'Observed proportion')
    >>> sorted(t.get_text() for t in ax.get_legend().get_texts())
    ['5 risk groups', 'ideal', 'lowess']
    >>> plt.close(ax.figure)
    """
    ax = get_ax(ax, figsize=(5.5, 5.5))
    lp = np.asarray(lp, float)
    y = np.asarray(y, float)
    p = special.expit(lp)
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="ideal")
    tab = calibration_table(lp, y, n_groups)
    ax.errorbar(tab["predicted"], tab["observed"],
                yerr=[tab["observed"] - tab["ci_lower"], tab["ci_upper"] - tab["observed"]],
                fmt="o", color=color_for(0), ms=5, capsize=2, label=f"{len(tab)} risk groups")
    if groups is None:
        sm = _lowess(p, y)
        ax.plot(sm[:, 0], sm[:, 1], color=color_for(3), lw=2, label="lowess")
    else:
        groups = np.asarray(groups)
        for i, gl in enumerate(pd.unique(groups)):
            m = groups == gl
            if m.sum() > 10:
                sm = _lowess(p[m], y[m])
                ax.plot(sm[:, 0], sm[:, 1], color=color_for(i + 1), lw=1.5, label=str(gl))
    slope, citl = calibration(lp, y)
    text = annotate or {"c": c_statistic(lp, y), "slope": slope, "CITL": citl}
    ax.text(0.03, 0.97, "\n".join(f"{k} = {v:.3f}" for k, v in text.items()),
            transform=ax.transAxes, va="top", fontsize=9)
    lim = max(0.05, float(np.nanmax([p.max(), tab["ci_upper"].max()])) * 1.05)
    ax.set_xlim(0, min(1, lim))
    ax.set_ylim(0, min(1, lim))
    ax.set_xlabel("Predicted risk")
    ax.set_ylabel("Observed proportion")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return ax


def plot_risk_distribution(risk, groups=None, ax=None, label: str | None = None):
    """Kernel density of predicted baseline risk, one curve per group (trial or
    arm), with each group's median marked.

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib.pyplot as plt
    >>> from ipdma.prognosis import plot_risk_distribution
    >>> rng = np.random.default_rng(0)
    >>> risk = rng.beta(2, 5, 300)
    >>> trial = np.repeat(["T1", "T2", "T3"], 100)
    >>> ax = plot_risk_distribution(risk, trial, label="trial")
    >>> ax.get_title()
    'Baseline-risk distribution by trial'
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['T1 (n=100)', 'T2 (n=100)', 'T3 (n=100)']
    >>> plt.close(ax.figure)
    """
    ax = get_ax(ax)
    risk = np.asarray(risk, float)
    ok = np.isfinite(risk)
    grid = np.linspace(0, 1, 401)
    if groups is None:
        parts = [("all", ok)]
    else:
        g = np.asarray(groups).astype(str)
        parts = [(lv, ok & (g == lv)) for lv in sorted(pd.unique(g[ok]))]
    for i, (name, m) in enumerate(parts):
        r = risk[m]
        if len(r) < 2:
            continue
        col = color_for(i)
        if np.ptp(r) > 0:
            dens = stats.gaussian_kde(r)(grid)
            ax.plot(grid, dens, color=col, lw=1.8, label=f"{name} (n={len(r)})")
            ax.fill_between(grid, dens, color=col, alpha=0.12)
        ax.axvline(np.median(r), color=col, ls=":", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Predicted baseline risk")
    ax.set_ylabel("Density")
    ax.set_title("Baseline-risk distribution" + (f" by {label}" if label else ""))
    ax.legend(fontsize=8, frameon=False)
    return ax

"""Plots of a fitted :class:`~ipdma.nmr.RiskNMRResult`."""

from __future__ import annotations

import numpy as np

from ..errors import ModelSpecificationError
from ..plots import color_for, get_ax

_KINDS = ("risk", "or", "benefit", "which")


def plot_result(res, kind: str = "risk", ax=None, *, baseline=None, data=None,
                grid=None, show_range: bool = True):
    if kind not in _KINDS:
        raise ModelSpecificationError(f"kind must be one of {_KINDS}, not {kind!r}")
    ax = get_ax(ax)
    treatments = res.treatments
    if kind == "which":
        return _plot_which(res, ax, baseline=baseline, data=data)
    if grid is None:
        grid = np.round(np.arange(1, 100) / 100.0, 2)
    pr = res.predict(risk=grid, baseline=baseline)
    key = {"risk": "prob", "or": "or", "benefit": "ard"}[kind]
    for k, t in enumerate(treatments):
        if kind in ("or", "benefit") and t == res.reference:
            continue
        sub = pr[pr["treatment"] == t]
        c = color_for(k)
        ax.plot(sub["baseline_risk"], sub[key], color=c, label=t, lw=1.8)
        ax.fill_between(sub["baseline_risk"], sub[key + "_lower"], sub[key + "_upper"],
                        color=c, alpha=0.15, lw=0)
    if kind == "or":
        ax.set_yscale("log")
        ax.axhline(1.0, color="0.4", lw=0.8, ls=":")
        ax.set_ylabel(f"Odds ratio vs {res.reference}")
    elif kind == "benefit":
        ax.axhline(0.0, color="0.4", lw=0.8, ls=":")
        ax.set_ylabel(f"Absolute risk reduction vs {res.reference}\n(P {res.reference} - P "
                      "treatment)")
    else:
        ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
        ax.set_ylabel("Predicted outcome probability")
        ax.set_ylim(0, 1)
    if show_range and res.design.has_risk:
        lo, hi = res.observed_risk_range()
        for v in (lo, hi):
            ax.axvline(v, color="0.5", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Baseline risk")
    band = "credible" if res.engine == "bayes" else "confidence"
    ax.set_title(f"{round(res.level * 100)}% {band} bands; dashed: observed risk range",
                 fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return ax


def _plot_which(res, ax, *, baseline=None, data=None):
    if not res.design.has_risk:
        raise ModelSpecificationError("the 'which' plot needs a model with a risk term")
    df = res.fitted_risk_frame() if data is None else data
    pr = res.predict(risk=df, baseline=baseline)
    T = len(res.treatments)
    rows = pr["row"].to_numpy()[::T]
    base = pr["baseline_risk"].to_numpy()[::T]
    pb = pr["p_best"].to_numpy().reshape(-1, T)
    rec = pr["recommended"].to_numpy().reshape(-1, T).argmax(1)
    order = np.argsort(base, kind="stable")
    x = np.arange(order.size)
    bottom = np.zeros(order.size)
    for k, t in enumerate(res.treatments):
        ax.fill_between(x, bottom, bottom + pb[order, k], step="mid", color=color_for(k),
                        alpha=0.8, lw=0, label=t)
        bottom = bottom + pb[order, k]
    ax.scatter(x, np.full(x.size, -0.05), c=[color_for(k) for k in rec[order]], marker="|",
               s=30, clip_on=False)
    ax.set_ylim(-0.08, 1)
    ax.set_xlim(-0.5, x.size - 0.5)
    # label the x axis with baseline risk at a few positions
    ticks = np.linspace(0, x.size - 1, min(6, x.size)).astype(int)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{base[order][i]:.2f}" for i in ticks])
    ax.set_xlabel(f"Patients ordered by baseline risk (n = {rows.size})")
    ax.set_ylabel("Probability of being best")
    ax.set_title("Which treatment? (bar below: recommended)", fontsize=9)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return ax

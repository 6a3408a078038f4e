"""Forest plots shared by the univariate and multivariate results."""

from __future__ import annotations

import numpy as np

from ..plots import color_for, get_ax


def forest(ax, *, labels, est, lb, ub, weights=None, pooled=(), xlabel="effect", title="",
           ref_line: float | None = 0.0):
    """Draw a forest plot.

    ``pooled`` is a list of dicts with ``label, est, lb, ub`` and optional ``pi``
    (prediction-interval bounds), drawn as diamonds (and a dashed PI bar) below the
    study rows. Returns the Axes.
    """
    n = len(labels)
    ax = get_ax(ax, figsize=(7.0, 0.35 * (n + 2 * len(pooled)) + 1.5))
    est, lb, ub = (np.asarray(a, dtype=float) for a in (est, lb, ub))
    ys = np.arange(n, 0, -1) + 2 * len(pooled)
    col = color_for(0)
    ax.hlines(ys, lb, ub, color="black", lw=1)
    if weights is None:
        sizes = np.full(n, 30.0)
    else:
        w = np.asarray(weights, dtype=float)
        sizes = 20 + 180 * w / w.max()
    ax.scatter(est, ys, s=sizes, marker="s", color=col, zorder=3)
    ylabels = list(labels)
    yticks = list(ys)
    for j, pool in enumerate(pooled):
        yp = 2 * (len(pooled) - j) - 0.5
        e, lo, hi = pool["est"], pool["lb"], pool["ub"]
        diamond = np.array([[lo, yp], [e, yp + 0.35], [hi, yp], [e, yp - 0.35]])
        ax.fill(diamond[:, 0], diamond[:, 1], color=color_for(1), zorder=3)
        if pool.get("pi") is not None and np.all(np.isfinite(pool["pi"])):
            ax.hlines(yp - 0.7, pool["pi"][0], pool["pi"][1], color=color_for(1), lw=1.5,
                      linestyles="--", label="prediction interval" if j == 0 else None)
        yticks.append(yp)
        ylabels.append(pool["label"])
    ax.set_yticks(yticks)
    ax.set_yticklabels(ylabels)
    ax.axhline(2 * len(pooled) + 0.5, color="grey", lw=0.5)
    if ref_line is not None:
        ax.axvline(ref_line, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, n + 2 * len(pooled) + 1)
    if title:
        ax.set_title(title)
    if any(p.get("pi") is not None for p in pooled):
        ax.legend(loc="best", frameon=False, fontsize="small")
    return ax

"""Tree diagram for fitted :class:`~ipdma.trees.MOB` trees.

Inner nodes show the splitting variable and its adjusted p-value, edges the split, terminal
nodes their size; a panel under the leaves shows, per terminal node, the treatment effect
with its confidence interval (``terminal="effect"``) or the mean outcome by treatment arm
with confidence intervals (``terminal="outcome"``), on a common scale.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import ModelSpecificationError
from ..plots import color_for, get_ax


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p = NA"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _layout(root):
    pos = {}
    leaves = [nd for nd in root.walk() if nd.terminal]
    for i, nd in enumerate(leaves):
        pos[nd.id] = (float(i), -(nd.depth - 1.0))

    def place(nd):
        if nd.terminal:
            return pos[nd.id][0]
        xs = [place(c) for c in nd.children]
        pos[nd.id] = (float(np.mean(xs)), -(nd.depth - 1.0))
        return pos[nd.id][0]

    place(root)
    return pos, leaves


def _short_label(lab: str, variable: str) -> str:
    s = lab[len(variable):].strip() if lab.startswith(variable) else lab
    return s if len(s) <= 22 else s[:20] + "…"


def plot_tree(tree, ax=None, terminal: str = "effect", coef: str | None = None,
              level: float = 0.95, panel_height: float = 0.34, fontsize: float = 9):
    """Draw ``tree`` (a fitted MOB); see :meth:`ipdma.trees.MOB.plot`."""
    if terminal not in ("effect", "outcome", "none"):
        raise ModelSpecificationError(
            f"terminal must be 'effect', 'outcome' or 'none', not {terminal!r}")
    root = tree.tree_
    pos, leaves = _layout(root)
    n_leaf = len(leaves)
    max_depth = max(nd.depth for nd in root.walk())
    ax = get_ax(ax, figsize=(max(6.4, 1.5 * n_leaf + 1.5), 4.0 + 0.9 * max_depth))
    ax.set_axis_off()
    xlim = (-0.6, n_leaf - 0.4)
    ax.set_xlim(*xlim)
    frac = panel_height if terminal != "none" else 0.0
    leaf_bottom = -(max_depth - 1.0) - 0.45
    top = 0.5
    H = (top - leaf_bottom) / (1.0 - frac - 0.02) if frac else (top - leaf_bottom)
    ax.set_ylim(top - H, top)

    box_inner = dict(boxstyle="round,pad=0.35", fc="#EAF2FA", ec="#0072B2", lw=1.0)
    box_leaf = dict(boxstyle="square,pad=0.3", fc="#F5F5F5", ec="#555555", lw=0.8)
    for nd in root.walk():
        x, y = pos[nd.id]
        for i, c in enumerate(nd.children):
            cx, cy = pos[c.id]
            ax.plot([x, cx], [y, cy], color="#777777", lw=0.9, zorder=1)
            lab = _short_label(nd.split.labels()[i], nd.split.variable)
            ax.text(x + 0.62 * (cx - x), y + 0.62 * (cy - y), lab, ha="center", va="center",
                    fontsize=fontsize - 1, zorder=3,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
        if nd.terminal:
            ax.text(x, y, f"Node {nd.id}\nn = {nd.nobs:g}", ha="center", va="center",
                    fontsize=fontsize, bbox=box_leaf, zorder=4)
        else:
            ax.text(x, y, f"[{nd.id}] {nd.split.variable}\n{_fmt_p(nd.p_value)}",
                    ha="center", va="center", fontsize=fontsize, bbox=box_inner, zorder=4,
                    fontweight="bold")
    if terminal == "none":
        return ax

    pan = ax.inset_axes([0.0, 0.0, 1.0, frac])
    pan.set_xlim(*xlim)
    pan.set_xticks(range(n_leaf))
    pan.set_xticklabels([f"Node {nd.id}" for nd in leaves], fontsize=fontsize - 1)
    pan.tick_params(axis="y", labelsize=fontsize - 1)
    for s in ("top", "right"):
        pan.spines[s].set_visible(False)
    if terminal == "effect":
        eff = tree.effects(coef=coef, level=level)
        xs = np.arange(n_leaf)
        est = eff["estimate"].to_numpy()
        lo, hi = eff["ci_lower"].to_numpy(), eff["ci_upper"].to_numpy()
        pan.errorbar(xs, est, yerr=[est - lo, hi - est], fmt="o", color=color_for(0),
                     ecolor=color_for(0), capsize=4, ms=6)
        pan.axhline(0.0, color="#999999", lw=0.8, ls="--", zorder=0)
        pan.set_ylabel(f"{eff['coef'].iloc[0]} ({level:.0%} CI)", fontsize=fontsize)
        return ax

    if getattr(tree, "_time", None) is not None:
        return _km_panels(tree, ax, pan, leaves, coef, fontsize)
    # outcome by arm
    name = tree._effect_coef(coef)
    j = tree.coef_names_.index(name)
    d = tree._data
    arm = d["X"][:, j]
    arms = np.unique(arm)
    if len(arms) > 6:
        raise ModelSpecificationError(
            f"terminal='outcome' needs a treatment regressor with few values; {name!r} has "
            f"{len(arms)} distinct values. Use terminal='effect'.")
    width = 0.5 / max(len(arms), 1)
    for a_i, a in enumerate(arms):
        xs, means, los, his = [], [], [], []
        for li, nd in enumerate(leaves):
            rows = nd.rows[arm[nd.rows] == a]
            if len(rows) == 0:
                continue
            yy, ww = d["y"][rows], d["w"][rows]
            m = np.average(yy, weights=ww)
            nn = ww.sum()
            sd = np.sqrt(np.average((yy - m) ** 2, weights=ww) * nn / max(nn - 1, 1))
            q = stats.t.ppf(0.5 + level / 2, max(nn - 1, 1))
            se = sd / np.sqrt(nn)
            xs.append(li + (a_i - (len(arms) - 1) / 2) * width)
            means.append(m)
            los.append(m - q * se)
            his.append(m + q * se)
        means = np.array(means)
        pan.errorbar(xs, means, yerr=[means - np.array(los), np.array(his) - means], fmt="o",
                     color=color_for(a_i), capsize=3, ms=5, label=f"{name} = {a:g}")
    pan.set_ylabel(f"mean {tree._outcome} ({level:.0%} CI)", fontsize=fontsize)
    pan.legend(fontsize=fontsize - 1, frameon=False, loc="best")
    return ax


def _km_panels(tree, ax, pan, leaves, coef, fontsize):
    """Kaplan-Meier curves by treatment arm, one small panel under every terminal node
    (time-to-event trees), on common axes."""
    from ..survival import kaplan_meier

    name = tree._effect_coef(coef)
    j = tree.coef_names_.index(name)
    d = tree._data
    arm = d["X"][:, j]
    arms = np.unique(arm)
    if len(arms) > 6:
        raise ModelSpecificationError(
            f"terminal='outcome' needs a treatment regressor with few values; {name!r} has "
            f"{len(arms)} distinct values. Use terminal='effect'.")
    tmax = float(d["y"][:, 0].max())
    n_leaf = len(leaves)
    pan.set_axis_off()
    panels = []
    for li, nd in enumerate(leaves):
        sub = pan.inset_axes([li / n_leaf + 0.12 / n_leaf, 0.18, 0.8 / n_leaf, 0.78])
        for a_i, a in enumerate(arms):
            rows = nd.rows[arm[nd.rows] == a]
            if len(rows) == 0:
                continue
            km = kaplan_meier(d["y"][rows, 0], d["y"][rows, 1], d["w"][rows])
            sub.step(np.r_[0.0, km.time], np.r_[1.0, km.surv], where="post",
                     color=color_for(a_i), lw=1.2, label=f"{name} = {a:g}")
        sub.set_ylim(-0.02, 1.02)
        sub.set_xlim(0, tmax)
        sub.tick_params(labelsize=fontsize - 2)
        if li:
            sub.set_yticklabels([])
        else:
            sub.set_ylabel("survival", fontsize=fontsize - 1)
        sub.set_title(f"Node {nd.id}", fontsize=fontsize - 1)
        for sp in ("top", "right"):
            sub.spines[sp].set_visible(False)
        panels.append(sub)
    if panels:
        panels[-1].legend(fontsize=fontsize - 2, frameon=False, loc="upper right")
    return ax

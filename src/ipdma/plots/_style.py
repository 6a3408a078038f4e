"""Common plotting helpers shared by every ipdma plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

# A colour-blind-safe palette (Okabe & Ito) used for treatments and trials.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]


def get_ax(ax: Axes | None = None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    """Return ``ax`` or a new Axes on a new figure."""
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def color_for(i: int) -> str:
    """The i-th colour of the ipdma palette (cycling)."""
    return PALETTE[i % len(PALETTE)]

"""Common plotting helpers shared by every ipdma plot."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

# A colour-blind-safe palette (Okabe & Ito) used for treatments and trials.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]


def get_ax(ax: Axes | None = None, figsize: tuple[float, float] = (6.4, 4.8)) -> Axes:
    """Return ``ax`` or a new Axes on a new figure.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from matplotlib.axes import Axes
    >>> from ipdma.plots import get_ax
    >>> ax = get_ax(figsize=(4, 3))  # no Axes given: a new figure
    >>> isinstance(ax, Axes), ax.figure.get_size_inches().tolist()
    (True, [4.0, 3.0])
    >>> get_ax(ax) is ax  # an Axes given: drawn on as it is
    True
    >>> plt.close(ax.figure)
    """
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def color_for(i: int) -> str:
    """The i-th colour of the ipdma palette (cycling).

    Examples
    --------
    >>> from ipdma.plots import PALETTE, color_for
    >>> color_for(0), color_for(1)
    ('#0072B2', '#E69F00')
    >>> color_for(len(PALETTE)) == color_for(0)  # the palette repeats
    True
    """
    return PALETTE[i % len(PALETTE)]

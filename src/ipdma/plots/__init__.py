"""Plotting helpers shared across ipdma (palette, Axes handling).

Each method's plots live with its results objects (``result.plot(ax=None)``);
this sub-package holds what they share.
"""

from ._style import PALETTE, color_for, get_ax

__all__ = ["PALETTE", "color_for", "get_ax"]

"""Self-contained HTML reports (``ipdma demo``, ``--out DIR`` of the CLI)."""

from ._report import Report, Section

__all__ = ["Report", "Section"]

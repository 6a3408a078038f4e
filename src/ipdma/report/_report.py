"""A small builder for self-contained HTML reports (figures embedded as PNG)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Report", "Section"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #0072B2;padding-bottom:.3em}
h2{margin-top:2.2em;border-bottom:1px solid #ccc;padding-bottom:.2em}
nav ul{columns:2}
table{border-collapse:collapse;margin:.8em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f6fa}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}
figure img{max-width:100%;border:1px solid #eee}
figcaption,.caption{color:#555;font-size:.9em}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em;border-radius:4px}
.meta{color:#666;font-size:.85em}
.conclusions{background:#eef6ee;border-left:4px solid #009E73;padding:.5em 1em;margin:1em 0}
.conclusions ul{margin:.3em 0}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _wrap_panels(fig, max_cols: int = 2) -> None:
    """Lay a single row of three or more panels out on a grid of ``max_cols`` columns,
    so that each panel stays readable in a report column at 100 % zoom."""
    import matplotlib.gridspec as gridspec

    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    if len(axes) < 3 or len(axes) != len(fig.axes):
        return  # colour bars, insets or twin axes: keep the author's layout
    specs = [ax.get_subplotspec() for ax in axes]
    nrows, ncols = specs[0].get_gridspec().get_geometry()
    if nrows != 1 or ncols < 3 or len({sp.colspan.start for sp in specs}) != len(axes):
        return
    rows = -(-len(axes) // max_cols)
    width, height = fig.get_size_inches()
    gs = gridspec.GridSpec(rows, max_cols, figure=fig)
    order = sorted(range(len(axes)), key=lambda i: specs[i].colspan.start)
    for k, i in enumerate(order):
        axes[i].set_subplotspec(gs[k // max_cols, k % max_cols])
    fig.set_size_inches(width * max_cols / ncols * 1.15, height * rows)
    try:
        fig.tight_layout()
    except (ValueError, RuntimeError):  # pragma: no cover - layout is best effort
        pass


@dataclass
class Section:
    """One section of a :class:`Report`; add content in display order.

    Usually made by :meth:`Report.section`. The methods that add content
    (:meth:`text`, :meth:`html`, :meth:`table`, :meth:`figure`, :meth:`code`)
    return the section, so calls can be chained.

    Examples
    --------
    >>> import pandas as pd
    >>> from ipdma.report import Report, Section
    >>> rep = Report("Example")
    >>> sec = rep.section("Pooled results", intro="Random-effects estimates.")
    >>> isinstance(sec, Section)
    True
    >>> _ = sec.text("First paragraph.").text("Second paragraph.").table(
    ...     pd.DataFrame({"estimate": [0.12, -0.3]}), caption="Estimates")
    >>> page = sec.render()
    >>> page.startswith('<section id="pooled-results"><h2>Pooled results</h2>')
    True
    >>> page.count("<p>"), page.count("<table")
    (3, 1)
    """

    title: str
    intro: str = ""
    _parts: list[str] = field(default_factory=list)

    def text(self, text: str) -> Section:
        """Add a paragraph (plain text; blank lines separate paragraphs)."""
        for para in str(text).strip().split("\n\n"):
            self._parts.append(f"<p>{html.escape(para)}</p>")
        return self

    def html(self, fragment: str) -> Section:
        """Add a trusted HTML fragment (e.g. ``Summary.as_html()``)."""
        self._parts.append(fragment)
        return self

    def table(self, df: pd.DataFrame, caption: str = "", float_format: str = "{:.4g}",
              index: bool | None = None) -> Section:
        """Add a DataFrame as an HTML table, rounded for reading (4 significant digits;
        full precision stays in the CSV/JSON outputs), trial rows in natural order and
        no default 0..n-1 index column (``index=None``; True/False force it)."""
        from .._base import html_table

        cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
        body = html_table(df, float_format, index=index)
        self._parts.append(cap + body)
        return self

    def figure(self, fig, caption: str = "", dpi: int = 110) -> Section:
        """Embed a matplotlib Figure (or an Axes: its figure) as a base64 PNG and close it."""
        import matplotlib.pyplot as plt

        fig = getattr(fig, "figure", fig)
        _wrap_panels(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._parts.append(f'<figure><img alt="{html.escape(caption)}" '
                           f'src="data:image/png;base64,{data}">{cap}</figure>')
        return self

    def conclusions(self, points: str | list[str], title: str = "Conclusions") -> Section:
        """Add a short conclusions box (a sentence or a list of points)."""
        items = [points] if isinstance(points, str) else list(points)
        body = "".join(f"<li>{html.escape(str(p))}</li>" for p in items)
        self._parts.append(f'<div class="conclusions"><strong>{html.escape(title)}</strong>'
                           f"<ul>{body}</ul></div>")
        return self

    def code(self, code: str, caption: str = "The calls that produced this section") -> Section:
        """Add a code block (the exact calls that produced the section)."""
        cap = f'<p class="caption">{html.escape(caption)}</p>' if caption else ""
        self._parts.append(f"{cap}<pre><code>{html.escape(code.strip())}</code></pre>")
        return self

    def render(self) -> str:
        intro = f"<p>{html.escape(self.intro)}</p>" if self.intro else ""
        return (f'<section id="{_slug(self.title)}"><h2>{html.escape(self.title)}</h2>'
                f"{intro}{''.join(self._parts)}</section>")


class Report:
    """A self-contained HTML report.

    Examples
    --------
    >>> import pandas as pd, tempfile
    >>> rep = Report("Example")
    >>> sec = rep.section("Data", intro="A tiny table.")
    >>> _ = sec.table(pd.DataFrame({"a": [1, 2]}))
    >>> path = rep.write(tempfile.mkdtemp())
    >>> path.name
    'index.html'
    """

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self.sections: list[Section] = []

    def section(self, title: str, intro: str = "") -> Section:
        """Start a new section and return it."""
        sec = Section(title, intro)
        self.sections.append(sec)
        return sec

    def render(self) -> str:
        from .. import __version__

        toc = "".join(f'<li><a href="#{_slug(s.title)}">{html.escape(s.title)}</a></li>'
                      for s in self.sections)
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        sub = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>{sub}"
            f"<p class='meta'>ipdma {__version__} &middot; generated {stamp}</p>"
            f"<nav><ul>{toc}</ul></nav>"
            + "".join(s.render() for s in self.sections)
            + "</body></html>"
        )

    def write(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/index.html`` (creating the folder) and return its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / "index.html"
        path.write_text(self.render(), encoding="utf-8")
        return path

"""The HTML reports are for reading: no unrounded floats in tables, no raw index column,
trial rows in natural order (issue 13)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd

from ipdma._base import Summary
from ipdma.cli import main
from ipdma.report import Report


class _Cells(HTMLParser):
    """Text of every <td>/<th> cell, and the header row of every table."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.cells: list[str] = []
        self._cur: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "th"):
            self.depth += 1
            self._cur = []

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.depth -= 1
            self.cells.append("".join(self._cur).strip())

    def handle_data(self, data):
        if self.depth:
            self._cur.append(data)


def unrounded_cells(page: str, max_digits: int = 4) -> list[str]:
    """Table cells holding a decimal number with more than ``max_digits`` significant
    digits."""
    parser = _Cells()
    parser.feed(page)
    bad = []
    for cell in parser.cells:
        for tok in re.findall(r"\d+\.\d+", cell):
            digits = tok.replace(".", "").lstrip("0")
            if len(digits) > max_digits:
                bad.append(cell)
    return bad


def test_tables_and_summaries_are_rounded(tmp_path):
    rep = Report("t")
    sec = rep.section("s")
    df = pd.DataFrame({"trial": ["T10", "T2", "T1"], "estimate": [0.123456789, 12.3456, 1e5 / 3],
                       "mixed": pd.Series([1.23456789, "a", None], dtype=object)})
    sec.table(df)
    sec.html(Summary("x", tables={"t": df.set_index("trial")},
                     info={"tau": 0.2265731786173615, "k": 7}).as_html())
    sec.conclusions(["First point.", "Second point."])
    page = rep.write(tmp_path).read_text()
    assert unrounded_cells(page) == []
    assert "0.1235" in page and "33333" in page and "0.2266" in page
    # natural order of trials, no 0..n-1 index column
    assert page.index(">T1<") < page.index(">T2<") < page.index(">T10<")
    assert "<th>0</th>" not in page and 'class="conclusions"' in page


def test_demo_report_has_no_unrounded_floats(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--only", "data,meta,subgroups", "--out", str(out)]) == 0
    capsys.readouterr()
    page = (out / "index.html").read_text()
    assert unrounded_cells(page) == []
    assert "<table" in page


def test_a_row_of_panels_is_wrapped_to_two_columns(tmp_path):
    import base64
    import struct

    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(20, 4.5))
    for ax in axs:
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x")
    rep = Report("t")
    rep.section("s").figure(fig)
    png = base64.b64decode(re.search(r"base64,([^\"]+)", rep.render()).group(1))
    width, height = struct.unpack(">II", png[16:24])
    assert width / height < 2  # 2 x 2 panels, not 4 in a row

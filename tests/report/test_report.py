from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ipdma._base import Summary
from ipdma.report import Report


def test_report_is_self_contained(tmp_path):
    rep = Report("Title <x>", subtitle="sub")
    sec = rep.section("First section", intro="intro & more")
    sec.text("para one\n\npara two")
    sec.table(pd.DataFrame({"a": [1.23456, 2.0], "b": ["x", "y"]}), caption="tab")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    sec.figure(fig, caption="a line")
    sec.code("ipdma.do(x)")
    sec.html(Summary("S", tables={"t": pd.DataFrame({"v": [1.0]})}).as_html())
    path = rep.write(tmp_path / "out")
    html = path.read_text()
    assert path.name == "index.html"
    assert "data:image/png;base64," in html
    assert "Title &lt;x&gt;" in html and "intro &amp; more" in html
    assert html.count("<p>para") == 2
    assert 'href="#first-section"' in html and 'id="first-section"' in html
    assert "ipdma.do(x)" in html and "1.235" in html
    assert "src=\"http" not in html  # nothing fetched from outside


def test_summary_text_and_html():
    s = Summary("Title", tables={"coefs": pd.DataFrame({"est": [0.5, float("nan")]},
                                                        index=["a", "b"])},
                info={"n": 3, "tau2": 0.123456}, notes=["a note"])
    text = str(s)
    assert "Title" in text and "0.1235" in text and "NA" in text and "a note" in text
    assert "<h4>Title</h4>" in s.as_html()

"""``ipdma demo`` writes the example NMR's calculator and links it from the report."""

from __future__ import annotations

import pytest

from ipdma.cli import main

from .conftest import open_page


@pytest.mark.slow
def test_demo_writes_and_links_the_nmr_calculator(tmp_path, browser):
    out = tmp_path / "demo"
    assert main(["demo", "--only", "nmr", "--out", str(out)]) == 0
    page = out / "calculator_nmr.html"
    assert page.is_file() and page.stat().st_size < 300_000
    assert 'href="calculator_nmr.html"' in (out / "index.html").read_text()
    open_page(browser, page, screenshot=tmp_path / "demo_nmr.png")
    res = browser.execute_script("return JSON.parse(document.getElementById("
                                 "'ipdma-result').textContent);")
    assert res["ok"] and res["recommended"] in res["rows"]

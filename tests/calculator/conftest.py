"""Headless Chromium for the calculator pages (Debian ``chromium`` + ``chromium-driver``,
driven by Selenium; no driver download).  Absent browser: skipped with the reason,
except under ``CI=true`` where it is a failure (as the reference-data skip)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("IPDMA_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("IPDMA_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1200,1500"]


def _missing_browser() -> str | None:
    for p in (CHROMIUM, CHROMEDRIVER):
        if not Path(p).exists():
            return (f"{p} not found: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver) to run the browser tests")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install selenium; in ipdma[test])"
    return None


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test session, with networking switched off."""
    why = _missing_browser()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the browser tests cannot run: {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="ipdma-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    # no network at all: every request other than the page itself fails
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Network.emulateNetworkConditions",
                        {"offline": True, "latency": 0, "downloadThroughput": 0,
                         "uploadThroughput": 0})
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(drv, path: Path, screenshot: Path | None = None) -> dict:
    """Load a calculator page from file:// and check it made no request; returns timing
    (ms from navigation start to interactive) and the console messages."""
    import time

    drv.get(path.resolve().as_uri())
    # start-up inflates the packed arrays asynchronously, then sets data-ready
    t0 = time.monotonic()
    while True:
        ready = drv.execute_script("return document.body.getAttribute('data-ready');")
        if ready == "1" or time.monotonic() - t0 > 20:
            break
        time.sleep(0.02)
    assert ready == "1", "the page did not finish its start-up script"
    res = drv.execute_script(
        "var n = performance.getEntriesByType('navigation')[0];"
        "return {resources: performance.getEntriesByType('resource').map(function(e){"
        "return e.name;}), interactive: n.domInteractive, complete: n.domContentLoadedEventEnd};")
    assert res["resources"] == [], f"the page requested {res['resources']}"
    logs = [m for m in drv.get_log("browser") if m["level"] in ("SEVERE", "WARNING")]
    assert logs == [], f"console messages: {logs}"
    if screenshot is not None:
        drv.save_screenshot(str(screenshot))
    return res


def fill_and_read(drv, patients: list[dict]) -> list[dict]:
    """Fill the form with each patient in turn (one JS call for the batch) and read the
    machine-readable output the page shows."""
    return drv.execute_script(
        "return arguments[0].map(function (p) {"
        " return window.ipdmaCalculator.fillAndRead(p); });", patients)


def shown_cells(drv) -> dict:
    """The data-value attributes of the results table: {(row, key): value}."""
    cells = drv.execute_script(
        "return Array.from(document.querySelectorAll('#results td[data-key]')).map("
        "function (td) { return [td.parentNode.getAttribute('data-row'), "
        "td.getAttribute('data-key'), td.getAttribute('data-value')]; });")
    return {(r, k): float(v) for r, k, v in cells if v not in ("null", "undefined")}


def as_text(v) -> str:
    """A value as the page's input receives it (floats round-trip exactly; whole numbers
    as integers, as the options of a 0/1 input)."""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(float(v))
    return str(v)

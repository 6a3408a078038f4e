"""Size and time to interactive of the calculator pages of the example models.

Run: ``python benchmarks/bench_calculator.py [PAGE.html ...]`` (the pages given, e.g.
the demo's risk-NMR calculator written by ``ipdma demo --out DIR --only nmr``, plus
pages built here for the example ITE models of the demo -- scenario 5, ols+mvma, and
xgboost+weighted-aux-ols with the reduced tuning grid -- and the metaMOB of the demo).  Each page is opened from file:// in
headless Chromium (networking off) 5 times; reported: bytes, median ms from navigation
start to ``domInteractive``, to the end of ``DOMContentLoaded`` (the first prediction is
on the page then), and the median ms of one full prediction (fill the form, compute,
render) over 50 patients.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import warnings
from pathlib import Path


def _pages(tmp: Path) -> list[Path]:
    from ipdma.datasets import make_ite_continuous, make_lbp_trials
    from ipdma.ite import REDUCED_XGBOOST_GRID, TwoStageITE
    from ipdma.trees import MetaMOB

    warnings.simplefilter("ignore")
    sim = make_ite_continuous(scenario=5, random_state=2026, n_test_per_trial=300)
    ite = TwoStageITE("ols", "mvma", random_state=2026).fit(sim.ipd())
    xgb = TwoStageITE("xgboost", "weighted-aux-ols", random_state=2026,
                      learner_options=dict(REDUCED_XGBOOST_GRID)).fit(sim.ipd())
    lbp = make_lbp_trials(random_state=2026)
    meta = MetaMOB(random="treatment", fixed_trial_intercepts=True, parm="treatment").fit(
        lbp.data, outcome="rmdq", treatment="treatment",
        partition=lbp.columns["covariates"], trial="trial")
    return [ite.export_calculator(tmp / "calculator_ite.html"),
            xgb.export_calculator(tmp / "calculator_ite_xgboost.html"),
            meta.export_calculator(tmp / "calculator_metamob.html", data=lbp.data)]


def main(argv: list[str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = Path(tempfile.mkdtemp())
    pages = [Path(a) for a in argv] or []
    pages += _pages(tmp)
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for f in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={tmp / 'profile'}"]:
        opts.add_argument(f)
    drv = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                           options=opts)
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Network.emulateNetworkConditions",
                        {"offline": True, "latency": 0, "downloadThroughput": 0,
                         "uploadThroughput": 0})
    print(f"{'page':28s} {'kB':>6s} {'interactive ms':>15s} {'DOMContentLoaded ms':>20s} "
          f"{'per prediction ms':>18s}")
    try:
        for p in pages:
            inter, dcl = [], []
            for _ in range(5):
                drv.get(p.resolve().as_uri())
                t = drv.execute_script("var n = performance.getEntriesByType('navigation')[0];"
                                       "return [n.domInteractive, n.domContentLoadedEventEnd];")
                inter.append(t[0])
                dcl.append(t[1])
            per = drv.execute_script(
                "var c = window.ipdmaCalculator, s = c.spec, raw = {};"
                "s.inputs.forEach(function (i) { raw[i.name] = i.default === null ? '' : "
                "String(i.default); });"
                "var t0 = performance.now();"
                "for (var k = 0; k < 50; k++) c.fillAndRead(raw);"
                "return (performance.now() - t0) / 50;")
            print(f"{p.name:28s} {p.stat().st_size / 1000:6.0f} {statistics.median(inter):15.0f} "
                  f"{statistics.median(dcl):20.0f} {per:18.1f}")
    finally:
        drv.quit()


if __name__ == "__main__":
    main(sys.argv[1:])

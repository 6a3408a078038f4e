"""Size and time to interactive of the calculator pages of the example models.

Run: ``python benchmarks/bench_calculator.py [--survival-engines] [PAGE.html ...]``
(``--survival-engines``: only the Weibull-ML and Bayesian time-to-event NMR pages of
``_survival_engine_pages``; otherwise the pages given, e.g.
the demo's risk-NMR calculator written by ``ipdma demo --out DIR --only nmr``, plus
pages built here for one example model of every page type: the README quick-start
risk NMR with the ML engine (4 treatments, default 4,000 simulation draws), ITE
scenario 5 ols+mvma and xgboost+weighted-aux-ols with the reduced tuning grid, the
metaMOB of the demo, the time-to-event risk NMR of the README (ML Cox, 4 treatments,
4,000 draws, stage-1 Cox model), a time-to-event TwoStageITE (cox+mvma, survival
difference), a treatment-network TwoStageITE (ols+mvma, 4 treatments, P(best) from
2,000 draws) and a time-to-event MOB (Weibull nodes)).  Each page is opened from
file:// in headless Chromium (networking off) 5 times; reported: bytes, median ms
from navigation start to ``domInteractive``, to the page being ready (packed arrays
inflated and the first prediction shown: ``data-ready``), and the median ms of one full
prediction (fill the form, compute, render) over 50 patients.

Treatment-network TwoStageITE with the weighted poolers (``--network-weighted``: only
these pages): the example network (10 trials, 4 treatments, 4 covariates) with
ols + weighted-aux-ols (DL), ridge + weighted-bootstrap (DL, 100 resamples) and a
binary outcome with logistic + weighted-aux-ols (risk difference), and a larger network
(40 trials, 4 treatments, 10 covariates; lasso + weighted-aux-ols, DL): the page holds
every trial's fit, so its size grows with trials x (arms x covariates)^2.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
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
    pages = [ite.export_calculator(tmp / "calculator_ite.html"),
             xgb.export_calculator(tmp / "calculator_ite_xgboost.html"),
             meta.export_calculator(tmp / "calculator_metamob.html", data=lbp.data)]
    return pages + _more_pages(tmp)


def _more_pages(tmp: Path) -> list[Path]:
    """Risk NMR (ML), time-to-event NMR / ITE / MOB and the network ITE pages."""
    from ipdma.datasets import (
        make_ite_network,
        make_ms_network,
        make_survival_network,
        make_survival_trials,
    )
    from ipdma.ite import TwoStageITE
    from ipdma.nmr import RiskNMR
    from ipdma.prognosis import RiskModel, SurvivalRiskModel
    from ipdma.trees import MOB, WeibullModel

    ms = make_ms_network(random_state=1)
    ipd = ms.ipd()
    risk = RiskModel("pmle", penalty="aic").fit(ipd)
    data = ipd.data.assign(logit_risk=risk.score(ipd.data)["logit_risk"])
    nmr = RiskNMR(engine="ml", random_state=1).fit(
        data, trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year",
        risk="logit_risk", external_control=ms.external)
    sim = make_survival_network(1600, random_state=1)
    stage1 = SurvivalRiskModel("cox", trial_effect="strata").fit(sim.ipd())
    sdata = sim.data.assign(risk_lp=stage1.predict_lp(sim.data))
    snmr = RiskNMR(engine="ml", random_state=1).fit(
        sdata, trial="trial", treatment="treatment", time="time", event="event",
        risk="risk_lp")
    st = make_survival_trials(random_state=1)
    site = TwoStageITE("cox", "mvma", random_state=1, scale="survdiff", horizon=1.0).fit(
        st.ipd())
    tree = MOB(WeibullModel(), parm="treatment").fit(
        st.data, regressors=["treatment"], partition=list(st.covariate_cols), time="time",
        event="event")
    net = make_ite_network(random_state=5)
    covs = list(net.covariate_cols)
    nite = TwoStageITE("ols", "mvma", random_state=7).fit(
        net.data, trial="trial", treatment="treatment", outcome="y", covariates=covs)
    return [nmr.export_calculator(tmp / "calculator_nmr_ml.html", risk_model=risk,
                                  data=ipd.data),
            snmr.export_calculator(tmp / "calculator_nmr_survival.html", risk_model=stage1,
                                   data=sim.data, horizon=2.0, tau=3.0),
            site.export_calculator(tmp / "calculator_ite_survival.html", data=st.data),
            nite.export_calculator(tmp / "calculator_ite_network.html", data=net.data),
            tree.export_calculator(tmp / "calculator_mob_survival.html", data=st.data)]


def _weighted_network_pages(tmp: Path) -> list[Path]:
    """Network TwoStageITE pages with the weighted poolers (issue 19 (b))."""
    import numpy as np

    from ipdma.datasets import make_ite_network
    from ipdma.ite import TwoStageITE

    net = make_ite_network(random_state=5)
    covs = list(net.covariate_cols)
    kw = {"trial": "trial", "treatment": "treatment", "outcome": "y", "covariates": covs}
    dl = {"heterogeneity": "DL"}
    aux = TwoStageITE("ols", "weighted-aux-ols", random_state=7, pooler_options=dl).fit(
        net.data, **kw)
    boot = TwoStageITE("ridge", "weighted-bootstrap", random_state=7, pooler_options=dl,
                       n_boot=100).fit(net.data, **kw)
    rng = np.random.default_rng(2)
    bdata = net.data.assign(y=(net.data["y"] + rng.normal(0, 0.5, len(net.data))
                               > net.data["y"].median()).astype(int))
    binary = TwoStageITE("logistic", "weighted-aux-ols", random_state=7, scale="rd",
                         pooler_options=dl).fit(bdata, **kw)
    designs = [["A", "B", "C"], ["A", "B", "C"], ["A", "C", "D"], ["A", "B"], ["A", "B"],
               ["A", "C"], ["A", "C"], ["B", "C"], ["A", "D"], ["B", "D"]] * 4
    big = make_ite_network(designs=designs, n_covariates=10, random_state=5)
    bcovs = list(big.covariate_cols)
    large = TwoStageITE("lasso", "weighted-aux-ols", random_state=7, pooler_options=dl).fit(
        big.data, **{**kw, "covariates": bcovs})
    return [aux.export_calculator(tmp / "calculator_ite_network_aux_dl.html", data=net.data),
            boot.export_calculator(tmp / "calculator_ite_network_boot_dl.html",
                                   data=net.data),
            binary.export_calculator(tmp / "calculator_ite_network_binary_rd.html",
                                     data=bdata),
            large.export_calculator(tmp / "calculator_ite_network_40x10.html",
                                    data=big.data)]


def _survival_engine_pages(tmp: Path) -> list[Path]:
    """The time-to-event risk NMR of the README (1,600 patients, 4 treatments, stage-1
    Cox) with survival_model weibull (ML: RMST by the incomplete gamma function) and with
    engine bayes (default 2 chains x 1,000 draws), Weibull and Cox stage 2."""
    from ipdma.datasets import make_survival_network
    from ipdma.nmr import RiskNMR
    from ipdma.prognosis import SurvivalRiskModel

    sim = make_survival_network(1600, random_state=1)
    stage1 = SurvivalRiskModel("cox", trial_effect="strata").fit(sim.ipd())
    sdata = sim.data.assign(risk_lp=stage1.predict_lp(sim.data))
    pages = []
    for name, kw in [("calculator_nmr_survival_weibull_ml.html",
                      {"engine": "ml", "survival_model": "weibull"}),
                     ("calculator_nmr_survival_weibull_bayes.html",
                      {"engine": "bayes", "survival_model": "weibull"}),
                     ("calculator_nmr_survival_cox_bayes.html",
                      {"engine": "bayes", "survival_model": "cox"})]:
        res = RiskNMR(random_state=1, **kw).fit(
            sdata, trial="trial", treatment="treatment", time="time", event="event",
            risk="risk_lp")
        pages.append(res.export_calculator(tmp / name, risk_model=stage1, data=sim.data,
                                           horizon=2.0, tau=3.0))
    return pages


def main(argv: list[str]) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = Path(tempfile.mkdtemp())
    only_weighted = "--network-weighted" in argv
    survival_only = "--survival-engines" in argv      # only the pages of that function
    pages = [Path(a) for a in argv if a not in ("--network-weighted", "--survival-engines")]
    warnings.simplefilter("ignore")
    if only_weighted:
        pages += _weighted_network_pages(tmp)
    elif survival_only:
        pages += _survival_engine_pages(tmp)
    else:
        pages += _pages(tmp) + _survival_engine_pages(tmp) + _weighted_network_pages(tmp)
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
    print(f"{'page':38s} {'kB':>6s} {'interactive ms':>15s} {'ready ms':>9s} "
          f"{'per prediction ms':>18s}")
    try:
        for p in pages:
            inter, dcl = [], []
            for _ in range(5):
                drv.get(p.resolve().as_uri())
                t0 = time.monotonic()
                while drv.execute_script("return document.body.getAttribute('data-ready');") \
                        != "1" and time.monotonic() - t0 < 20:
                    time.sleep(0.01)
                t = drv.execute_script("var n = performance.getEntriesByType('navigation')[0];"
                                       "return [n.domInteractive, window.ipdmaReadyAt];")
                inter.append(t[0])
                dcl.append(t[1])
            per = drv.execute_script(
                "var c = window.ipdmaCalculator, s = c.spec, raw = {};"
                "s.inputs.forEach(function (i) { raw[i.name] = i.default === null ? '' : "
                "String(i.default); });"
                "var t0 = performance.now();"
                "for (var k = 0; k < 50; k++) c.fillAndRead(raw);"
                "return (performance.now() - t0) / 50;")
            print(f"{p.name:38s} {p.stat().st_size / 1000:6.0f} "
                  f"{statistics.median(inter):15.0f} {statistics.median(dcl):9.0f} "
                  f"{per:18.1f}")
    finally:
        drv.quit()


if __name__ == "__main__":
    main(sys.argv[1:])

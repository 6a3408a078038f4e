"""Time-to-event risk-based NMR: RiskNMR.fit(time=, event=) against R's coxph/survfit
(tests/nmr/data/survival_cox_nmr: make.R + expected.json), order invariance, the
Bayesian engine against the ML fit, and the named input errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import DataError, MissingDataError, ModelSpecificationError, OutcomeError
from ipdma.nmr import RiskNMR

DATA = Path(__file__).parent / "data" / "survival_cox_nmr"
COLS = dict(trial="trial", treatment="treatment", time="time", event="event", risk="R")


@pytest.fixture(scope="module")
def case():
    return pd.read_csv(DATA / "surv_nmr.csv"), json.loads((DATA / "expected.json").read_text())


@pytest.fixture(scope="module")
def ml_fit(case):
    df, _ = case
    return RiskNMR(engine="ml", random_state=0).fit(df, **COLS)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_nmr_matches_coxph(case, ties):
    df, exp = case
    res = RiskNMR(engine="ml", ties=ties).fit(df, **COLS)
    e = exp[ties]
    assert res.params.index.tolist() == ["d[A]", "d[B]", "d[C]", "g0", "gamma[A]",
                                         "gamma[B]", "gamma[C]"]
    np.testing.assert_allclose(res.params["estimate"], e["coef"], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(res.params["se"], e["se"], rtol=1e-7)
    np.testing.assert_allclose(res.cov.to_numpy(), np.array(e["vcov"]), rtol=1e-7, atol=1e-12)
    assert res.loglik == pytest.approx(e["loglik"], rel=1e-10)
    assert res.loglik_null == pytest.approx(e["loglik_null"], rel=1e-10)


def _pick(pred, r, trt):
    return pred.set_index(["risk_score", "treatment"]).loc[list(zip(r, trt))]


def test_trial_baseline_matches_survfit(case, ml_fit):
    _, exp = case
    e = exp["trial_T2"]
    assert ml_fit.centre_trial["T2"] == pytest.approx(e["centre"], rel=1e-12)
    r = sorted(set(e["r"]))
    pred = ml_fit.predict(r, horizon=2.0, tau=3.0, baseline="T2")
    got = _pick(pred, e["r"], e["treatment"])
    np.testing.assert_allclose(got["surv"], e["surv"], rtol=1e-8)
    # survfit's std.err of the cumulative hazard (Tsiatis: baseline + coefficient parts)
    np.testing.assert_allclose(got["surv_se"] / got["surv"], e["std_err_cumhaz"], rtol=1e-6)
    np.testing.assert_allclose(got["rmst"], e["rmst3"], rtol=1e-8)


def test_pooled_baseline_matches_r(case, ml_fit):
    _, exp = case
    e = exp["pooled"]
    assert ml_fit.risk_centre == pytest.approx(e["centre"], rel=1e-12)
    pred = ml_fit.predict(sorted(set(e["r"])), horizon=2.0, tau=3.0)
    got = _pick(pred, e["r"], e["treatment"])
    np.testing.assert_allclose(got["surv"], e["surv"], rtol=1e-8)
    np.testing.assert_allclose(got["rmst"], e["rmst3"], rtol=1e-8)


def test_delta_method_against_finite_differences(ml_fit):
    """The delta-method variances use analytic gradients of S(t*) and RMST in theta;
    check them against central differences of the plug-in predictions (baseline
    re-estimated at each perturbed theta)."""
    res = ml_fit
    theta0 = res._ml.coef.copy()
    rows, centre = res._baseline_rows("pooled")
    M = res._maps(np.array([0.4 - centre]))

    def pred(theta):
        u, dd, S0, _ = res._breslow(rows, centre, theta, 3.0)
        H = np.cumsum(dd / S0)
        lp = M @ theta
        h = np.searchsorted(u, 2.0, side="right") - 1
        keep = u <= 3.0
        p = np.r_[0.0, u[keep]]
        w = np.diff(np.r_[p, 3.0])
        Hp = np.r_[0.0, H[keep]]
        S = np.exp(-H[h] * np.exp(lp))
        rm = (w * np.exp(-Hp[None, None, :] * np.exp(lp)[..., None])).sum(-1)
        return np.r_[S.ravel(), rm.ravel()]

    eps = 1e-6
    J = np.column_stack([(pred(theta0 + eps * e) - pred(theta0 - eps * e)) / (2 * eps)
                         for e in np.eye(theta0.size)])
    var_fd = np.einsum("ip,pq,iq->i", J, res._ml.cov, J)
    # the analytic part: total variance minus the baseline part (theta fixed)
    out_full = res.predict([0.4], horizon=2.0, tau=3.0)
    cov0 = res._ml.cov
    res._ml.cov = np.zeros_like(cov0)
    try:
        out_base = res.predict([0.4], horizon=2.0, tau=3.0)
    finally:
        res._ml.cov = cov0
    var_an = np.r_[out_full["surv_se"] ** 2 - out_base["surv_se"] ** 2,
                   out_full["rmst_se"] ** 2 - out_base["rmst_se"] ** 2]
    np.testing.assert_allclose(var_an, var_fd, rtol=1e-5)


def test_order_invariance(case, ml_fit):
    df, _ = case
    rng = np.random.default_rng(4)
    shuffled = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    res = RiskNMR(engine="ml", random_state=0).fit(shuffled, **COLS)
    np.testing.assert_allclose(res.params["estimate"], ml_fit.params["estimate"], rtol=1e-9,
                               atol=1e-12)
    p1 = ml_fit.predict([0.0, 0.5], horizon=2.0, tau=3.0)
    p2 = res.predict([0.0, 0.5], horizon=2.0, tau=3.0)
    num = p1.select_dtypes("number").columns
    np.testing.assert_allclose(p2[num], p1[num], rtol=1e-9, atol=1e-12)
    # relabelling the treatments so that another label sorts first does not matter either
    lab = {"PBO": "zPBO", "A": "yA", "B": "xB", "C": "wC"}
    res2 = RiskNMR(engine="ml", reference="zPBO").fit(
        df.assign(treatment=df["treatment"].map(lab)), **COLS)
    est = res2.params["estimate"].rename(lambda s: s.replace("yA", "A").replace("xB", "B")
                                         .replace("wC", "C"))
    np.testing.assert_allclose(est.loc[ml_fit.params.index], ml_fit.params["estimate"],
                               rtol=1e-8, atol=1e-10)


def test_ipd_input_and_patient_predictions(case, ml_fit):
    from ipdma.data import IPD

    df, _ = case
    ipd = IPD(df, trial="trial", treatment="treatment", time="time", event="event",
              covariates=["R"])
    res = RiskNMR(engine="ml").fit(ipd, risk="R")
    np.testing.assert_allclose(res.params["estimate"], ml_fit.params["estimate"], rtol=1e-9)
    pat = res.predict(df.iloc[:5], horizon=2.0)
    assert pat["row"].tolist()[:4] == [0] * 4
    assert pat.shape[0] == 20
    rec = res.recommend(df.iloc[:5], horizon=2.0)
    assert len(rec) == 5 and set(rec.columns) == {"row", "treatment", "surv", "p_best"}
    pb = pat["p_best"].to_numpy().reshape(-1, 4)
    np.testing.assert_allclose(pb.sum(1), 1.0)


def test_plots_and_summary(ml_fit):
    import matplotlib.pyplot as plt

    for kind in ("survival", "benefit", "rmst", "hr", "which", "curves"):
        ax = ml_fit.plot(kind)
        assert ax.get_ylabel()
    plt.close("all")
    s = str(ml_fit.summary())
    assert "time to event" in s and "g0" in s
    with pytest.raises(ModelSpecificationError, match="kind must be"):
        ml_fit.plot("or")


def test_input_errors(case):
    df, _ = case
    with pytest.raises(OutcomeError, match="zero or negative"):
        RiskNMR(engine="ml").fit(df.assign(time=df["time"].where(df.index != 3, 0.0)), **COLS)
    with pytest.raises(MissingDataError, match="missing"):
        RiskNMR(engine="ml").fit(df.assign(time=df["time"].where(df.index != 3)), **COLS)
    with pytest.raises(OutcomeError, match="0 \\(censored\\) / 1"):
        RiskNMR(engine="ml").fit(df.assign(event=df["event"] * 2), **COLS)
    lab = df.assign(event=np.where(df["event"] == 1, "dead", "alive"))
    res = RiskNMR(engine="ml").fit(lab, **COLS)
    assert res.design.y.sum() == df["event"].sum()
    noev = df.assign(event=np.where((df.trial == "T4") & (df.treatment == "B"), 0, df.event))
    with pytest.raises(OutcomeError, match="no events in trial 'T4' arm 'B'"):
        RiskNMR(engine="ml").fit(noev, **COLS)
    res = RiskNMR(engine="ml").fit(df, **COLS)
    # (ipdma.survival.check_horizon words it as "censored before the horizon" when the
    # trial's last follow-up is a censoring)
    with pytest.raises(DataError, match=r"beyond the last follow-up|censored before the hor"):
        res.predict([0.0], horizon=50.0)
    with pytest.raises(DataError, match="trial 'T1'"):
        res.predict([0.0], horizon=2.0, tau=50.0, baseline="T1")
    # a trial whose patients are all censored before the horizon
    t1 = (df.trial == "T1")
    early = df.assign(time=np.where(t1, np.minimum(df.time, 1.0), df.time),
                      event=np.where(t1 & (df.time > 1.0), 0, df.event))
    early.loc[t1 & (early.time == 1.0), "event"] = 0
    r2 = RiskNMR(engine="ml").fit(early, **COLS)
    with pytest.raises(DataError, match="censored before the horizon"):
        r2.predict([0.0], horizon=2.0)
    with pytest.raises(ModelSpecificationError, match="baseline must be"):
        res.predict([0.0], baseline="T9")
    with pytest.raises(ModelSpecificationError, match="not both"):
        RiskNMR(engine="ml").fit(df, outcome="event", **COLS)
    with pytest.raises(ModelSpecificationError, match="effects='random'"):
        RiskNMR(engine="ml", effects="random").fit(df, **COLS)


def test_binary_results_unchanged_by_new_options():
    rng = np.random.default_rng(1)
    n = 300
    df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
                       "treat": rng.choice(["placebo", "A"], n),
                       "logit_risk": rng.normal(-0.5, 0.8, n)})
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(df.logit_risk - 0.7 * (df.treat == "A")))))
    a = RiskNMR(engine="ml").fit(df, trial="trial", treatment="treat", outcome="y")
    b = RiskNMR(engine="ml", ties="breslow", n_pieces=3).fit(df, trial="trial",
                                                               treatment="treat", outcome="y")
    assert type(a).__name__ == "RiskNMRResult"
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())


def test_bayes_agrees_with_ml():
    """Piecewise-constant-baseline NUTS vs the stratified Cox ML fit on a seeded case:
    posterior means within 0.25 ML standard errors (model difference + MCMC error),
    posterior sds within 15 %, predictions and their spreads likewise."""
    pytest.importorskip("numpyro")
    from ipdma.datasets import make_survival_network

    sim = make_survival_network(1000, random_state=11)
    df = sim.data.assign(R=sim.truth["true_lp"])
    ml = RiskNMR(engine="ml").fit(df, **COLS)
    by = RiskNMR(engine="bayes", draws=600, warmup=400, random_state=2).fit(df, **COLS)
    assert by.diagnostics["max_rhat"] < 1.02
    assert by.diagnostics["divergences"] == 0
    z = (by.params["estimate"] - ml.params["estimate"]) / ml.params["se"]
    assert np.all(np.abs(z) < 0.25), z
    np.testing.assert_allclose(by.params["se"], ml.params["se"], rtol=0.15)
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(by.params.columns)
    assert by.inference_data is not None and "log_hazard" in by.inference_data.posterior
    assert (by.baseline_pieces["events"] > 0).all()
    pm, pb = ml.predict([0.0, 0.6], horizon=1.5, tau=2.5), by.predict([0.0, 0.6], horizon=1.5,
                                                                       tau=2.5)
    for k in ("surv", "rmst", "surv_diff"):
        np.testing.assert_allclose(pb[k], pm[k], atol=0.25 * pm[k + "_se"].max() + 1e-9)
        nz = pm[k + "_se"] > 0
        np.testing.assert_allclose(pb.loc[nz, k + "_se"], pm.loc[nz, k + "_se"], rtol=0.2)
    # same seed, same numbers
    by2 = RiskNMR(engine="bayes", draws=600, warmup=400, random_state=2).fit(df, **COLS)
    np.testing.assert_array_equal(by2.params["estimate"], by.params["estimate"])


def test_demo_survival_section(tmp_path):
    import warnings

    from ipdma.nmr._demo import survival_section
    from ipdma.report import Report
    from ipdma.report._demo import DEMO_SECTIONS

    assert DEMO_SECTIONS["nmr-survival"][1] == "ipdma.nmr._demo:survival_section"
    report = Report("survival nmr demo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        survival_section(report, tmp_path, 3)
    text = report.write(tmp_path).read_text()
    assert "Time to event" in text and "RMST" in text and "Kaplan-Meier" in text


def test_readme_time_to_event_example_runs():
    import re

    import matplotlib.pyplot as plt

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"### Time to event: risk-based NMR.*?```python\n(.*?)```", text, re.S)
    assert block, "README lost its time-to-event example"
    ns: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), ns)
    pred = ns["res"].predict(risk=[0.0], horizon=2, tau=3)
    assert {"surv", "surv_diff", "rmst", "rmst_diff", "hr", "p_best"} <= set(pred.columns)
    plt.close("all")


def test_weibull_variant_matches_survreg(case):
    df, exp = case
    e = exp["weibull"]
    res = RiskNMR(engine="ml", survival_model="weibull", random_state=0).fit(df, **COLS)
    wp = res.weibull_params
    np.testing.assert_allclose(wp["estimate"].iloc[:-1], e["coef"], rtol=1e-7, atol=1e-9)
    assert np.exp(wp["estimate"].iloc[-1]) == pytest.approx(e["scale"], rel=1e-7)
    np.testing.assert_allclose(wp["se"] ** 2, np.diag(np.array(e["vcov"])), rtol=1e-6)
    assert res.loglik == pytest.approx(e["loglik"], rel=1e-10)
    np.testing.assert_allclose(res.params["estimate"], e["ph_loghr"], rtol=1e-7, atol=1e-9)
    r = sorted(set(e["T2"]["r"]))
    got = _pick(res.predict(r, horizon=2.0, tau=3.0, baseline="T2"), e["T2"]["r"],
                e["T2"]["treatment"])
    np.testing.assert_allclose(got["surv"], e["T2"]["surv"], rtol=1e-8)
    np.testing.assert_allclose(got["rmst"], e["T2"]["rmst3"], rtol=1e-8)
    # parametric: a horizon beyond follow-up needs the explicit flag
    with pytest.raises(DataError):
        res.predict([0.0], horizon=20.0)
    far = res.predict([0.0], horizon=20.0, tau=20.0, extrapolate=True)
    assert (far["surv"] < 0.2).all()
    cox = RiskNMR(engine="ml").fit(df, **COLS)
    with pytest.raises(ModelSpecificationError, match="extrapolate"):
        cox.predict([0.0], horizon=20.0, extrapolate=True)
    assert "Weibull" in str(res.summary())
    # the Bayesian Weibull engine: tests/nmr/test_survival_nmr_random.py

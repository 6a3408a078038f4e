"""Bayesian engine (NumPyro NUTS) against the JAGS reference posterior of nmr_ms_synthetic.

The JAGS run used 2 x 10,000 iterations; ours uses 2 x 2,000 draws after 500 warm-up
iterations (bulk ESS > 5,000 for every parameter).  With the default 2 x 1,000 draws the
Monte Carlo error of posterior sds is about 3 % (seen up to 6.5 % across seeds), too close
to the 10 % tolerance of the issue; 2,000 draws halve it for ~2 s more sampling.
Tolerances: means within 0.03, sds within 10 % (issue); README: predicted probabilities
within 0.01.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.nmr import RiskNMR

MS_KW = dict(trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year", risk="logitRisk")
# JAGS names (treatment codes 1 = DMF, 2 = GA, 3 = NAT; study codes 1..3 = S1..S3)
JAGS = {"delta[1]": "d[DMF]", "delta[2]": "d[GA]", "delta[3]": "d[NAT]", "gamma": "g0",
        "gamma.w[1]": "gamma[DMF]", "gamma.w[2]": "gamma[GA]", "gamma.w[3]": "gamma[NAT]",
        "u[1]": "u[S1]", "u[2]": "u[S2]", "u[3]": "u[S3]", "logitpplacebo": "alpha[external]"}

_CACHE: dict = {}


def fit_reference(case):
    if "res" not in _CACHE:
        df = case.csv("stage1_risk_scores.csv")
        ext = case.csv("synthetic_ms_placebo_external.csv")
        _CACHE["res"] = RiskNMR(engine="bayes", draws=2000, random_state=2024).fit(
            df, external_control=ext, **MS_KW)
    return _CACHE["res"]


@pytest.fixture
def ms_bayes(ref_case):
    case = ref_case("nmr_ms_synthetic")
    return case, fit_reference(case)


def test_posterior_matches_jags(ms_bayes):
    case, res = ms_bayes
    summ = {s["parameter"]: s for s in case.expected["stage2_jags"]["summary"]}
    assert set(JAGS) <= set(summ)
    for jname, ours in JAGS.items():
        row = res.params.loc[ours]
        assert row["estimate"] == pytest.approx(summ[jname]["mean"], abs=0.03), jname
        assert row["se"] == pytest.approx(summ[jname]["sd"], rel=0.10), jname
        assert row["lower"] == pytest.approx(summ[jname]["q2.5"], abs=0.05), jname
        assert row["upper"] == pytest.approx(summ[jname]["q97.5"], abs=0.05), jname
    d = res.diagnostics
    assert d["max_rhat"] < 1.01
    assert d["min_ess_bulk"] > 2000
    assert d["divergences"] == 0


def test_predicted_curve_matches_jags(ms_bayes):
    case, res = ms_bayes
    ref = case.csv("stage2_predcurve_jags.csv")
    pred = res.predict(risk=ref["Risknew"].to_numpy(), baseline="external")
    prob = pred.pivot(index="baseline_risk", columns="treatment", values="prob")
    ard = pred.pivot(index="baseline_risk", columns="treatment", values="ard")
    for t in ["DMF", "GA", "NAT", "PBO"]:
        np.testing.assert_allclose(prob[t].to_numpy(), ref[f"p_{t}"].to_numpy(), atol=0.01)
    for t in ["DMF", "GA", "NAT"]:
        np.testing.assert_allclose(ard[t].to_numpy(), ref[f"ARD_{t}"].to_numpy(), atol=0.01)
    # the point curve is expit of the posterior-mean log-odds (as the original code)
    assert (pred["prob_lower"] <= pred["prob"]).all() and (pred["prob"] <= pred["prob_upper"]).all()


def test_inference_data_and_summary(ms_bayes):
    _, res = ms_bayes
    idata = res.inference_data
    assert {"u", "d", "g0", "gamma"} <= set(idata.posterior.data_vars)
    assert list(idata.posterior["d"].coords["treatment"].values) == ["DMF", "GA", "NAT"]
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 2000
    assert "diverging" in idata.sample_stats
    text = str(res.summary())
    assert "gamma[NAT]" in text and "R-hat" in text
    frame = res.to_frame()
    assert {"parameter", "estimate", "se", "lower", "upper", "r_hat", "ess_bulk"} <= set(frame)


def test_p_best_and_recommendation(ms_bayes):
    _, res = ms_bayes
    pred = res.predict(risk=[0.1, 0.7])
    pb = pred.groupby("baseline_risk")["p_best"].sum()
    np.testing.assert_allclose(pb.to_numpy(), 1.0)
    rec = res.recommend(risk=[0.1, 0.7])
    assert list(rec["treatment"]) == ["DMF", "NAT"]
    # patients: one row per patient x treatment, keyed by the input index
    pts = pd.DataFrame({"logitRisk": [-2.0, 0.5]}, index=["a", "b"])
    pp = res.predict(pts)
    assert list(pp["row"].unique()) == ["a", "b"] and len(pp) == 8


def test_point_prediction_options(ms_bayes):
    _, res = ms_bayes
    a = res.predict(risk=[0.3, 0.6], point="logit_mean")
    b = res.predict(risk=[0.3, 0.6], point="mean")
    # expit(E logit p) and E p differ by a small Jensen term; intervals are the same
    np.testing.assert_allclose(a["prob"], b["prob"], atol=0.01)
    np.testing.assert_allclose(a["prob_lower"], b["prob_lower"])
    assert not np.allclose(a["prob"], b["prob"], atol=1e-6)


# a few divergences near tau = 0 are expected with 6 trials and a U(0, 3) prior
@pytest.mark.filterwarnings("ignore::ipdma.errors.SamplerWarning")
def test_random_effects_nma_matches_published_crossnma(ref_case):
    """crossnma vignette mod1: naive random-effects NMA of IPD + AD, tau ~ U(0, 3), JAGS.
    Our model with risk=None, effects='random', tau_prior='uniform' on the IPD plus the AD
    trials passed as arm counts (``aggregate=``: expanded exactly to 0/1 rows, crossnma's
    IPD + AD likelihood) is the same model (vague priors differ slightly); README
    tolerance for an independent re-implementation: means 0.05, tau 0.1."""
    case = ref_case("nmr_crossnma_ms")
    ipd = case.csv("crossnma_ipddata.csv")
    std = case.csv("crossnma_stddata.csv").assign(id=lambda d: "AD" + d["id"].astype(str))
    res = RiskNMR(engine="bayes", effects="random", tau_prior="uniform", tau_prior_scale=3.0,
                  reference="A", draws=2000, target_accept=0.95, random_state=11).fit(
        ipd, trial="id", treatment="treat", outcome="relapse", risk=None, aggregate=std,
        aggregate_events="relapse", aggregate_n="n")
    assert res.design.n == len(ipd) + std["n"].sum()
    pub = case.expected["published"]["mod1_naive_NMA_random"]["estimates"]
    print(res.params.loc[["d[B]", "d[C]", "d[D]", "tau"], ["estimate", "se"]])
    for t in "BCD":
        assert res.params.loc[f"d[{t}]", "estimate"] == pytest.approx(pub[f"d.{t}"]["mean"],
                                                                      abs=0.05), t
        assert res.params.loc[f"d[{t}]", "se"] == pytest.approx(pub[f"d.{t}"]["sd"], abs=0.05)
    assert res.params.loc["tau", "estimate"] == pytest.approx(pub["tau"]["mean"], abs=0.1)


def test_external_control_given_again_at_predict(ms_bayes):
    case, res = ms_bayes
    before = res.predict(risk=[0.5])
    ext = case.csv("synthetic_ms_placebo_external.csv")
    again = res.predict(risk=[0.5], external_control=ext)
    pd.testing.assert_frame_equal(before, again)        # same cohort, same seed: same draws
    assert list(res.params.index).count("alpha[external]") == 1

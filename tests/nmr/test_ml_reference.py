"""Maximum-likelihood engine against R (stats::glm, lme4::glmer) reference fits."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import BoundaryWarning
from ipdma.nmr import RiskNMR

MS_KW = dict(trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year", risk="logitRisk")
# R coefficient order of stage2_glm: factor(study)1..3, DMF, GA, NAT, Rc, DMF:Rc, GA:Rc, NAT:Rc
MS_ORDER = ["u[S1]", "u[S2]", "u[S3]", "d[DMF]", "d[GA]", "d[NAT]", "g0", "gamma[DMF]",
            "gamma[GA]", "gamma[NAT]"]


_CACHE: dict = {}


@pytest.fixture
def ms_ml(ref_case):
    case = ref_case("nmr_ms_synthetic")
    if "res" not in _CACHE:
        df = case.csv("stage1_risk_scores.csv")
        ext = case.csv("synthetic_ms_placebo_external.csv")
        _CACHE["res"] = RiskNMR(engine="ml", random_state=0).fit(df, external_control=ext,
                                                                 **MS_KW)
    return case, _CACHE["res"]


def test_stage2_glm_matches_r(ms_ml):
    case, res = ms_ml
    exp = case.expected["stage2_glm"]
    assert exp["coef"]["names"][3:] == ["DMF", "GA", "NAT", "Rc", "DMF:Rc", "GA:Rc", "NAT:Rc"]
    est = res.params.loc[MS_ORDER, "estimate"].to_numpy()
    np.testing.assert_allclose(est, exp["coef"]["values"], rtol=1e-8, atol=1e-8)
    # R's glm stops at a deviance change of 1e-8 and reports the information matrix of
    # its last-but-one iterate, so its standard errors carry ~1e-6 of optimisation error
    np.testing.assert_allclose(res.params.loc[MS_ORDER, "se"], exp["se"], rtol=5e-5)
    np.testing.assert_allclose(res.cov.loc[MS_ORDER, MS_ORDER].to_numpy(),
                               np.array(exp["vcov"]), atol=1e-6)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-7)
    ext = res.params.loc["alpha[external]"]
    assert ext["estimate"] == pytest.approx(exp["external_placebo_intercept"], abs=1e-10)
    assert ext["se"] == pytest.approx(exp["external_placebo_se"], rel=5e-5)  # as above
    np.testing.assert_allclose(res.design.centre_trial, case.expected["stage2_meanRisk_per_study"],
                               rtol=1e-12)
    assert res.risk_centre == pytest.approx(case.expected["stage2_Rbar_overall"], rel=1e-12)


def test_stage2_glm_curve_matches_r(ms_ml):
    case, res = ms_ml
    ref = case.csv("stage2_predcurve_glm.csv")
    pred = res.predict(risk=ref["Risknew"].to_numpy(), baseline="external")
    wide = pred.pivot(index="baseline_risk", columns="treatment", values="prob")
    for t in ["DMF", "GA", "NAT", "PBO"]:
        np.testing.assert_allclose(wide[t].to_numpy(), ref[t].to_numpy(), rtol=1e-7)
    ard = pred.pivot(index="baseline_risk", columns="treatment", values="ard")
    for t in ["DMF", "GA", "NAT"]:
        np.testing.assert_allclose(ard[t].to_numpy(), (ref["PBO"] - ref[t]).to_numpy(),
                                   atol=1e-9)
    orr = pred.pivot(index="baseline_risk", columns="treatment", values="or")
    b = res.coef
    x = np.log(ref["Risknew"] / (1 - ref["Risknew"])) - res.risk_centre
    np.testing.assert_allclose(orr["NAT"], np.exp(b["d[NAT]"] + b["gamma[NAT]"] * x), rtol=1e-12)


def _crossnma(ref_case):
    case = ref_case("nmr_crossnma_ms")
    return case, case.csv("crossnma_ipddata.csv")


CN_KW = dict(trial="id", treatment="treat", outcome="relapse")


@pytest.mark.parametrize("key, subset", [("glm_FE_all", None), ("glm_FE_rct", "rct")])
def test_crossnma_common_effect_nma(ref_case, key, subset):
    case, ipd = _crossnma(ref_case)
    if subset:
        ipd = ipd[ipd["design"] == subset]
    exp = case.expected[key]
    res = RiskNMR(engine="ml", reference="A").fit(ipd, risk=None, **CN_KW)
    J = len(res.trials)
    assert exp["coef_names"][J:] == ["treatB", "treatC", "treatD"]
    np.testing.assert_allclose(res.params["estimate"], exp["coef"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.params["se"], exp["se"], rtol=5e-5)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-7)


def test_crossnma_nmr_with_fixed_centre(ref_case):
    """glm(relapse ~ 0 + study + treat * I(age - 38)) is the model with the covariate
    'age' in place of the risk score and a fixed centre of 38."""
    case, ipd = _crossnma(ref_case)
    exp = case.expected["glm_FE_all_trtXage38"]
    res = RiskNMR(engine="ml", reference="A", centring=38.0).fit(ipd, risk="age", **CN_KW)
    assert exp["coef_names"][7:] == ["I(age - 38)", "treatB:I(age - 38)", "treatC:I(age - 38)",
                                     "treatD:I(age - 38)"]
    np.testing.assert_allclose(res.params["estimate"], exp["coef"], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(res.params["se"], exp["se"], rtol=5e-5)


@pytest.mark.parametrize("key, n_agq", [("glmer_RE_laplace", 1), ("glmer_RE_agq15", 3)])
def test_crossnma_random_effects_boundary(ref_case, key, n_agq):
    """lme4 finds tau = 0 (singular fit); so must we, with fixed effects equal to the GLM.
    lme4's random part has no multi-arm correlation, ours has the Lu-Ades structure: both
    models coincide at tau = 0, which is where the two likelihoods are maximised.  (The
    reference used nAGQ = 15; at tau = 0 the number of nodes is immaterial, so the test
    uses 3 per dimension for speed.)"""
    case, ipd = _crossnma(ref_case)
    exp = case.expected[key]
    with pytest.warns(BoundaryWarning):
        res = RiskNMR(engine="ml", effects="random", reference="A", n_agq=n_agq).fit(
            ipd, risk=None, **CN_KW)
    assert res.tau < 1e-4
    assert exp["tau"] < 1e-4
    np.testing.assert_allclose(res.params.loc[res.design.param_names(), "estimate"],
                               exp["fixef"], atol=1e-5)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-6)


def test_random_effects_interior_laplace_vs_agq():
    """With real heterogeneity the GLMM finds tau > 0; Laplace and adaptive quadrature
    agree closely (binary IPD with large arms) and the common-effect fit has a lower
    likelihood."""
    rng = np.random.default_rng(11)
    rows = []
    designs = [("A", "B"), ("A", "B"), ("A", "C"), ("A", "C"), ("A", "B", "C"), ("B", "C"),
               ("A", "B"), ("A", "C")]
    d = {"A": 0.0, "B": -0.6, "C": -0.3}
    for j, arms in enumerate(designs):
        base = rng.normal(-0.4, 0.3)
        dev = {a: (rng.normal(0, 0.4) if a != arms[0] else 0.0) for a in arms}
        for a in arms:
            n = 150
            r = rng.normal(-0.5, 0.7, n)
            eta = base + d[a] - d[arms[0]] + dev[a] + d[arms[0]] + r + 0.3 * (a == "B") * r
            rows.append(pd.DataFrame({"trial": f"T{j}", "treat": a, "risk": r,
                                      "y": rng.binomial(1, 1 / (1 + np.exp(-eta)))}))
    df = pd.concat(rows, ignore_index=True)
    kw = dict(trial="trial", treatment="treat", outcome="y", risk="risk")
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        lap = RiskNMR(engine="ml", effects="random").fit(df, **kw)
        agq = RiskNMR(engine="ml", effects="random", n_agq=5).fit(df, **kw)
    com = RiskNMR(engine="ml").fit(df, **kw)
    assert lap.tau > 0.05
    assert agq.tau == pytest.approx(lap.tau, rel=0.05)
    np.testing.assert_allclose(agq.coef, lap.coef, atol=0.01)
    assert lap.loglik > com.loglik
    assert np.isfinite(lap.params.loc["tau", "se"])

"""Two-stage ITE against the R oracle ``ite_twostage_continuous`` (lm + metafor rma.mv).

Tolerances from the case README: stage 1, fixed pooling and the IVW average rtol 1e-9;
REML coefficients/predictions atol 1e-5, Psi atol 1e-4, logLik atol 1e-5, MAE atol 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.ite import OLSLearner, TwoStageITE

XS = [f"x{i}" for i in range(1, 9)]
pytestmark = pytest.mark.reference


@pytest.fixture
def case(ref_case):
    return ref_case("ite_twostage_continuous")


@pytest.fixture
def data(case):
    return case.csv("train.csv"), case.csv("test.csv"), case.csv("test_predictions.csv")



def _fit(train, learner, pooler, **popt):
    return TwoStageITE(learner, pooler, pooler_options=popt).fit(
        train, trial="trial", treatment="treatment", outcome="y", covariates=XS, treated=1)


def test_stage1_ols_matches_lm(case, data):
    train = data[0]
    for s in case.expected["stage1"]:
        g = train[train["trial"] == s["trial"]]
        m = OLSLearner().fit(g[XS], g["treatment"], g["y"])
        assert s["coef_names"][0] == "treatment"
        np.testing.assert_allclose(m.theta_, s["coef"], rtol=1e-9)
        np.testing.assert_allclose(m.theta_cov_, np.array(s["vcov"]), rtol=1e-9)
        np.testing.assert_allclose(m.coef_, s["all_coef"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m.sigma_, s["sigma"], rtol=1e-9)
        assert m.df_resid_ == s["df_residual"]


def test_fixed_pooling_matches_rma_mv(case, data):
    train, test, pred = data
    e = case.expected["stage2_fixed"]
    m = _fit(train, "ols", "mvma", method="fixed")
    np.testing.assert_allclose(m.pooler_.coef_, e["coef"], rtol=1e-9)
    np.testing.assert_allclose(m.pooler_.vcov_, np.array(e["vcov"]), rtol=1e-9)
    # metafor reports the REML log-likelihood for a model without random effects
    np.testing.assert_allclose(m.pooler_.fit_.loglik_reml, e["logLik"], rtol=1e-9)
    p = m.predict(test)
    np.testing.assert_allclose(p["ite"], pred["pred_fixed"], rtol=1e-9, atol=1e-12)
    mae = np.median(np.abs(p["ite"] - test["true_ite"]))
    assert mae == pytest.approx(case.expected["mae"]["fixed"], abs=1e-5)


def test_reml_pooling_matches_rma_mv(case, data):
    train, test, pred = data
    e = case.expected["stage2_REML_UN"]
    m = _fit(train, "ols", "mvma", method="reml")
    np.testing.assert_allclose(m.pooler_.coef_, e["coef"], atol=1e-5)
    np.testing.assert_allclose(m.pooler_.Psi_, np.array(e["Psi"]), atol=1e-4)
    np.testing.assert_allclose(m.pooler_.vcov_, np.array(e["vcov"]), atol=1e-5)
    assert m.pooler_.fit_.loglik == pytest.approx(e["logLik"], abs=1e-5)
    p = m.predict(test)
    np.testing.assert_allclose(p["ite"], pred["pred_reml"], atol=1e-5)
    mae = np.median(np.abs(p["ite"] - test["true_ite"]))
    assert mae == pytest.approx(case.expected["mae"]["reml"], abs=1e-5)
    # a prediction interval for a new trial is wider than the CI
    assert np.all(p["pi_high"] - p["pi_low"] > p["ci_high"] - p["ci_low"])


def test_ivw_average_of_ols_ites(case, data):
    train, test, pred = data
    m = _fit(train, "ols", "weighted-aux-ols")
    p = m.predict(test)
    np.testing.assert_allclose(p["ite"], pred["pred_ivw_ols"], rtol=1e-9)
    first = case.expected["ivw_first_patient"]
    trials = [str(s["trial"]) for s in case.expected["stage1"]]
    np.testing.assert_allclose(p.loc[0, [f"ite_{t}" for t in trials]], first["per_trial_ite"],
                               rtol=1e-9)
    np.testing.assert_allclose(m.prediction_.per_trial_var[0, [m.trials_.index(t)
                                                               for t in trials]],
                               first["per_trial_var"], rtol=1e-9)
    mae = np.median(np.abs(p["ite"] - test["true_ite"]))
    assert mae == pytest.approx(case.expected["mae"]["ivw_ols"], abs=1e-5)
    # unweighted mean of the per-trial ITEs (defined in the reference for comparison)
    unw = p[[f"ite_{t}" for t in trials]].mean(axis=1)
    np.testing.assert_allclose(unw, pred["pred_unweighted_mean"], rtol=1e-9)

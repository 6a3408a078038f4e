"""Binary two-stage ITE against the R oracle ``ite_twostage_binary`` (glm, cv.glmnet, rma.mv).

Tolerances from the case README: glm coefficients/vcov/logLik and everything computed
from them (per-trial RDs and SEs, IVW, fixed/GLS pooling and its predictions, MAEs)
rtol 1e-8; LASSO lambda rtol 1e-7, cvm/cvsd rtol 1e-6, lambda.min index exact,
coefficients at lambda.min and the path atol 1e-6, LASSO-based predictions atol 1e-5;
REML (DIAG) pooled coefficients and RD predictions/SEs atol 1e-5, tau2 atol 1e-5, MAE
atol 1e-5; c-for-benefit exact (rtol 1e-12).
"""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.ite import (
    LassoLogisticLearner,
    LogisticLearner,
    TwoStageITE,
    c_for_benefit,
    fit_site,
    pool_sites,
)

XS = [f"x{i}" for i in range(1, 6)]
COLS = dict(trial="trial", treatment="t", outcome="y", covariates=XS, treated=1)
pytestmark = pytest.mark.reference


@pytest.fixture
def case(ref_case):
    return ref_case("ite_twostage_binary")


@pytest.fixture
def data(case):
    return case.csv("train.csv"), case.csv("test.csv"), case.csv("test_predictions.csv")


def _mae(pred, truth):
    return float(np.median(np.abs(np.asarray(pred) - np.asarray(truth))))


def test_stage1_glm(case, data):
    train = data[0]
    for s in case.expected["stage1_glm"]:
        g = train[train["trial"] == s["trial"]]
        m = LogisticLearner().fit(g[XS], g["t"], g["y"], family="binary")
        assert m.coef_names_ == s["coef_names"]
        np.testing.assert_allclose(m.coef_, s["coef"], rtol=1e-8)
        np.testing.assert_allclose(np.sqrt(np.diag(m.vcov_)), s["se"], rtol=1e-8)
        np.testing.assert_allclose(m.vcov_, s["vcov"], rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(m.loglik_, s["logLik"], rtol=1e-10)
        np.testing.assert_allclose(m.deviance_, s["deviance"], rtol=1e-10)
        assert m.converged_


def test_stage1_cv_glmnet_with_stored_folds(case, data):
    train = data[0]
    for s in case.expected["stage1_lasso"]:
        g = train[train["trial"] == s["trial"]]
        m = LassoLogisticLearner(foldid=g["foldid"].to_numpy()).fit(
            g[XS], g["t"], g["y"], family="binary")
        np.testing.assert_allclose(m.lambda_, s["lambda"], rtol=1e-7)
        np.testing.assert_allclose(m.cvm_, s["cvm"], rtol=1e-6)
        np.testing.assert_allclose(m.cvsd_, s["cvsd"], rtol=1e-6)
        assert m.lambda_min_index_ + 1 == s["lambda_min_index_1based"]
        np.testing.assert_allclose(m.lambda_min_, s["lambda_min"], rtol=1e-7)
        np.testing.assert_allclose(m.lambda_1se_, s["lambda_1se"], rtol=1e-7)
        np.testing.assert_allclose(m.coef_, s["coef_at_lambda_min"], atol=1e-6)
        np.testing.assert_allclose(m.path_coef_.T, s["path_coef"], atol=1e-6)
        np.testing.assert_allclose(m.dev_ratio_, s["path_dev_ratio"], atol=1e-7)


@pytest.mark.parametrize("method", ["fixed", "reml"])
def test_mvma_full_coefficient_vector(case, data, method):
    train, test, ref = data
    model = TwoStageITE("logistic", "mvma", pooler_options={"method": method}).fit(
        train, **COLS)
    pool = model.pooler_
    assert model.data_.outcome_type == "binary"
    pred = model.predict(test)
    if method == "fixed":
        e = case.expected["stage2_fixed"]
        np.testing.assert_allclose(pool.coef_, e["coef"], rtol=1e-8)
        np.testing.assert_allclose(pool.vcov_, e["vcov"], rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(pred["ite"], ref["rd_fixed"], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(pred["se"], ref["se_fixed"], rtol=1e-8)
        assert "pi_low" not in pred
        np.testing.assert_allclose(_mae(pred["ite"], ref["true_ite"]),
                                   case.expected["mae"]["fixed"], rtol=1e-8)
    else:
        e = case.expected["stage2_REML_DIAG"]
        assert pool.fit_.Psi.shape == (12, 12)
        np.testing.assert_allclose(pool.coef_, e["coef"], atol=1e-5)
        np.testing.assert_allclose(np.sqrt(np.diag(pool.vcov_)), e["se"], atol=1e-5)
        np.testing.assert_allclose(np.diag(pool.Psi_), e["tau2"], atol=1e-5)
        np.testing.assert_allclose(pred["ite"], ref["rd_reml"], atol=1e-5)
        np.testing.assert_allclose(pred["se"], ref["se_reml"], atol=1e-5)
        np.testing.assert_allclose(pred["p0"], ref["p0_reml"], atol=1e-5)
        np.testing.assert_allclose(pred["p1"], ref["p1_reml"], atol=1e-5)
        assert np.all(pred["pi_low"] < pred["ci_low"]) and np.all(pred["pi_high"] > pred["ci_high"])
        np.testing.assert_allclose(_mae(pred["ite"], ref["true_ite"]),
                                   case.expected["mae"]["reml"], atol=1e-5)
    np.testing.assert_allclose(pred["p1"] - pred["p0"], pred["ite"], atol=1e-14)


def test_ivw_of_per_trial_risk_differences(case, data):
    train, test, ref = data
    model = TwoStageITE("logistic", "weighted-aux-ols").fit(train, **COLS)
    pred = model.predict(test)
    np.testing.assert_allclose(pred["ite"], ref["rd_ivw"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(pred["se"], ref["se_ivw"], rtol=1e-8)
    np.testing.assert_allclose(_mae(pred["ite"], ref["true_ite"]), case.expected["mae"]["ivw"],
                               rtol=1e-8)
    # per-trial RDs and delta-method SEs
    per = case.csv("test_pertrial_predictions.csv")
    p = model.prediction_
    for j, tr in enumerate(p.trials):
        r = per[per["train_trial"] == int(tr)]
        np.testing.assert_allclose(p.per_trial[:, j], r["rd"], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(np.sqrt(p.per_trial_var[:, j]), r["se_rd"], rtol=1e-8)
    np.testing.assert_allclose(pred["p1"] - pred["p0"], pred["ite"], atol=1e-14)


def test_lasso_risk_differences_with_glm_weights_via_site_summaries(case, data, tmp_path):
    """Federated: one cv.glmnet per site with the stored folds, glm delta-method weights."""
    train, test, ref = data
    files = []
    for tr, g in train.groupby("trial"):
        s = fit_site(g[XS].to_numpy(), g["t"], g["y"], trial=str(tr),
                     learner=LassoLogisticLearner(foldid=g["foldid"].to_numpy()),
                     pooler="weighted-aux-ols", X_query=test[XS].to_numpy(), family="binary",
                     feature_names=XS)
        files.append(s.save(tmp_path / f"site_{tr}.json"))
    pred = pool_sites(files, "weighted-aux-ols")
    np.testing.assert_allclose(pred["ite"], ref["rd_lasso_ivw_glmweights"], atol=1e-5)
    np.testing.assert_allclose(_mae(pred["ite"], ref["true_ite"]),
                               case.expected["mae"]["lasso_ivw_glmweights"], atol=1e-5)


def test_c_for_benefit_trial1(case, data):
    train = data[0]
    e = case.expected["c_for_benefit_trial1"]
    pairs_ref = case.csv("cforbenefit_pairs_trial1.csv")
    g = train[train["trial"] == e["trial"]]
    m = LogisticLearner().fit(g[XS], g["t"], g["y"], family="binary")
    p0, p1 = m.predict_arms(g[XS])
    res = c_for_benefit(g["y"], g["t"], p0 - p1, ids=g["id"])
    assert res.n_pairs == e["n_pairs"]
    np.testing.assert_array_equal(res.pairs["id_treated"], pairs_ref["id_treated"])
    np.testing.assert_array_equal(res.pairs["id_control"], pairs_ref["id_control"])
    np.testing.assert_array_equal(res.pairs["obs_benefit"], pairs_ref["obs_benefit"])
    np.testing.assert_allclose(res.pairs["pred_benefit"], pairs_ref["pred_benefit"],
                               rtol=1e-8)
    assert (res.concordant, res.discordant, res.tied, res.usable) == (
        e["concordant"], e["discordant"], e["tied_predicted"], e["pairs_of_pairs_used"])
    np.testing.assert_allclose(res.c, e["c_for_benefit"], rtol=1e-12)

"""Time-to-event two-stage ITE against the R oracle ``ite_twostage_survival``
(coxph, survfit, survreg, rma.mv), through the public API.

Tolerances from the case README: stage-1 Cox and Weibull coefficients/vcov rtol 1e-7;
Cox survival and RMST predictions rtol 1e-8; Weibull closed forms rtol 1e-8; fixed
pooling rtol 1e-7; REML UN pooled coefficients, their vcov and log-HR predictions atol
1e-5, Psi/tau2 atol 1e-4, rho atol 1e-3, logLik atol 1e-6; REML DIAG coefficients atol
1e-5, tau2 atol 1e-6; MAE atol 1e-6 (Cox/Weibull), 1e-5 (REML-based log HR).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ipdma.data import IPD
from ipdma.ite import CoxLearner, TwoStageITE, WeibullLearner

XS = ["x1", "x2", "x3", "x4"]
pytestmark = pytest.mark.reference


@pytest.fixture
def ref(ref_case):
    return ref_case("ite_twostage_survival")


@pytest.fixture
def ipd(ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return IPD(ref.csv("train.csv"), trial="trial", treatment="trt", time="time",
                   event="status", covariates=XS)


def _med(a, b):
    return float(np.median(np.abs(np.asarray(a) - np.asarray(b))))


def _mean(a, b):
    return float(np.mean(np.abs(np.asarray(a) - np.asarray(b))))


def test_stage1_cox_per_trial(ref, ipd):
    model = TwoStageITE("cox", "mvma", scale="loghr").fit(ipd)
    for fit, s in zip(model.fits_, ref.expected["stage1_cox"]):
        lr = fit.learner
        assert fit.label == str(s["trial"])
        np.testing.assert_allclose(lr.coef_, s["all_coef"], rtol=1e-7)
        np.testing.assert_allclose(lr.vcov_, s["all_vcov"], rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose([lr.loglik_null_, lr.loglik_], [s["loglik_null"],
                                                                   s["loglik"]], rtol=1e-10)
        b, V = lr.coef_cov()
        np.testing.assert_allclose(b, s["coef"], rtol=1e-7)
        np.testing.assert_allclose(V, s["vcov"], rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose(lr.baseline_.H(2.0), s["H0_breslow_at_tstar"], rtol=1e-8)


def test_stage1_cox_learner_on_arrays(ref):
    train = ref.csv("train.csv")
    s = ref.expected["stage1_cox"][2]
    g = train[train["trial"] == s["trial"]]
    m = CoxLearner().fit(g[XS], g["trt"], g[["time", "status"]], family="survival")
    np.testing.assert_allclose(m.coef_, s["all_coef"], rtol=1e-7)


@pytest.mark.parametrize("struct,key", [("unstructured", "stage2_REML_UN"),
                                        ("diagonal", "stage2_REML_DIAG")])
def test_stage2_reml(ref, ipd, struct, key):
    e = ref.expected[key]
    model = TwoStageITE("cox", "mvma", scale="loghr",
                        pooler_options={"structure": struct}).fit(ipd)
    pool = model.pooler_
    np.testing.assert_allclose(pool.coef_, e["coef"], atol=1e-5)
    np.testing.assert_allclose(pool.vcov_, e["vcov"], atol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(pool.vcov_)), e["se"], atol=1e-5)
    np.testing.assert_allclose(pool.fit_.loglik_reml, e["logLik"], atol=1e-6)
    if struct == "unstructured":
        np.testing.assert_allclose(pool.Psi_, e["Psi"], atol=1e-4)
        np.testing.assert_allclose(np.diag(pool.Psi_), e["tau2"], atol=1e-4)
        sd = np.sqrt(np.diag(pool.Psi_))
        R = pool.Psi_ / np.outer(sd, sd)
        rho = [R[i, j] for j in range(5) for i in range(j + 1, 5)]
        np.testing.assert_allclose(rho, e["rho_lower_tri_colwise"], atol=1e-3)
    else:
        np.testing.assert_allclose(np.diag(pool.Psi_), e["tau2"], atol=1e-6)
    test = ref.csv("test.csv")
    pred = model.predict(test[XS])
    col = "loghr_reml_un" if struct == "unstructured" else "loghr_reml_diag"
    refp = ref.csv("test_predictions.csv")
    np.testing.assert_allclose(pred["ite"], refp[col], atol=1e-5)
    name = "reml_un" if struct == "unstructured" else "reml_diag"
    np.testing.assert_allclose([_med(pred["ite"], test["true_loghr"]),
                                _mean(pred["ite"], test["true_loghr"])],
                               ref.expected["loghr_ite"]["error_vs_true_loghr"][name],
                               atol=1e-5)


def test_stage2_fixed_and_ivw(ref, ipd):
    e = ref.expected["stage2_fixed"]
    test = ref.csv("test.csv")
    refp = ref.csv("test_predictions.csv")
    errs = ref.expected["loghr_ite"]["error_vs_true_loghr"]
    model = TwoStageITE("cox", "mvma", scale="loghr",
                        pooler_options={"method": "fixed"}).fit(ipd)
    np.testing.assert_allclose(model.pooler_.coef_, e["coef"], rtol=1e-7)
    np.testing.assert_allclose(np.sqrt(np.diag(model.pooler_.vcov_)), e["se"], rtol=1e-7)
    pred = model.predict(test[XS])
    np.testing.assert_allclose(pred["ite"], refp["loghr_fixed"], rtol=1e-7)
    np.testing.assert_allclose([_med(pred["ite"], test["true_loghr"]),
                                _mean(pred["ite"], test["true_loghr"])], errs["fixed"],
                               atol=1e-6)
    # IVW of the per-trial log-HR ITEs, w = 1 / (c'V_l c)
    ivw = TwoStageITE("cox", "weighted-aux-ols", scale="loghr").fit(ipd)
    p = ivw.predict(test[XS])
    np.testing.assert_allclose(p["ite"], refp["loghr_ivw"], rtol=1e-7)
    first = ref.expected["loghr_ite"]["first5"]
    np.testing.assert_allclose(ivw.prediction_.per_trial[0], first["per_trial_first_patient"],
                               rtol=1e-7)
    np.testing.assert_allclose(ivw.prediction_.per_trial_var[0],
                               first["per_trial_var_first_patient"], rtol=1e-7)
    np.testing.assert_allclose([_med(p["ite"], test["true_loghr"]),
                                _mean(p["ite"], test["true_loghr"])], errs["ivw"], atol=1e-6)
    un = TwoStageITE("cox", "unweighted", scale="loghr").fit(ipd).predict(test[XS])
    np.testing.assert_allclose(un["ite"], refp["loghr_unweighted_mean"], rtol=1e-7)


@pytest.mark.parametrize("learner,prefix,key", [("cox", "cox", "cox_predictions"),
                                                ("weibull", "weibull", "weibull_predictions")])
def test_absolute_predictions_unweighted_mean(ref, ipd, learner, prefix, key):
    test = ref.csv("test.csv")
    refp = ref.csv("test_predictions.csv")
    X = test[XS]
    s2 = TwoStageITE(learner, "unweighted", scale="survdiff", horizon=2.0).fit(ipd).predict(X)
    rm = TwoStageITE(learner, "unweighted", scale="rmstdiff", tau=3.0).fit(ipd).predict(X)
    got = {"S2_t0": s2["p0"], "S2_t1": s2["p1"], "ite_S2": s2["ite"],
           "RMST3_t0": rm["p0"], "RMST3_t1": rm["p1"], "ite_RMST3": rm["ite"]}
    truth = {"S2_t0": test["true_S2_t0"], "S2_t1": test["true_S2_t1"],
             "ite_S2": test["true_ite_S2"], "RMST3_t0": test["true_RMST3_t0"],
             "RMST3_t1": test["true_RMST3_t1"], "ite_RMST3": test["true_ite_RMST3"]}
    errs = ref.expected[key]["errors"]
    for j, q in enumerate(errs["quantities"]):
        np.testing.assert_allclose(got[q], refp[f"{prefix}_mean_{q}"], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(_med(got[q], truth[q]),
                                   errs["unweighted_mean_median_abs_error"][j], atol=1e-6)
        np.testing.assert_allclose(_mean(got[q], truth[q]),
                                   errs["unweighted_mean_mean_abs_error"][j], atol=1e-6)


def test_cox_per_trial_predictions(ref, ipd):
    test = ref.csv("test.csv")
    per = ref.csv("test_predictions_cox_per_trial.csv")
    X = test[XS]
    m2 = TwoStageITE("cox", "weighted-aux-ols", scale="survdiff", horizon=2.0).fit(ipd)
    m3 = TwoStageITE("cox", "weighted-aux-ols", scale="rmstdiff", tau=3.0).fit(ipd)
    for s2, s3 in zip(m2.site_summaries(X), m3.site_summaries(X)):
        r = per[per["model_trial"].astype(str) == s2.trial]
        np.testing.assert_allclose(s2.mu0, r["S2_t0"], rtol=1e-8)
        np.testing.assert_allclose(s2.mu1, r["S2_t1"], rtol=1e-8)
        np.testing.assert_allclose(s3.mu0, r["RMST3_t0"], rtol=1e-8)
        np.testing.assert_allclose(s3.mu1, r["RMST3_t1"], rtol=1e-8)
        np.testing.assert_allclose(s2.ite, r["S2_t1"] - r["S2_t0"], rtol=1e-7, atol=1e-12)


def test_stage1_weibull_per_trial(ref, ipd):
    test = ref.csv("test.csv")
    model = TwoStageITE("weibull", "mvma", scale="loghr").fit(ipd)
    X5 = test[XS].iloc[:5].to_numpy()
    for fit, s in zip(model.fits_, ref.expected["stage1_weibull"]):
        lr = fit.learner
        np.testing.assert_allclose(lr.coef_, s["coef"], rtol=1e-7)
        np.testing.assert_allclose(lr.scale_, s["scale"], rtol=1e-7)
        np.testing.assert_allclose(lr.vcov_, s["vcov"], rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose(lr.loglik_, s["loglik"], rtol=1e-10)
        np.testing.assert_allclose(lr.coef_cov()[0], s["treatment_block_loghr"], rtol=1e-7)
        f5 = s["first5_test"]
        s0, s1 = lr.predict_arms(X5, scale="survdiff", horizon=2.0)
        r0, r1 = lr.predict_arms(X5, scale="rmstdiff", tau=3.0)
        np.testing.assert_allclose(s0, f5["S2_t0"], rtol=1e-8)
        np.testing.assert_allclose(s1, f5["S2_t1"], rtol=1e-8)
        np.testing.assert_allclose(r0, f5["RMST3_t0"], rtol=1e-8)
        np.testing.assert_allclose(r1, f5["RMST3_t1"], rtol=1e-8)


def test_weibull_learner_direct(ref):
    train = ref.csv("train.csv")
    s = ref.expected["stage1_weibull"][0]
    g = train[train["trial"] == s["trial"]]
    m = WeibullLearner().fit(g[XS], g["trt"], g[["time", "status"]], family="survival")
    np.testing.assert_allclose(m.coef_, s["coef"], rtol=1e-7)

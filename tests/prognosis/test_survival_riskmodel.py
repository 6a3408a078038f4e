"""SurvivalRiskModel (time-to-event stage 1) against the R oracle
``survival_prognostic`` through the public API (Cox rtol 1e-7, S(t*) rtol 1e-8,
C exact counts / rtol 1e-8, glmnet atol 1e-6), plus behaviour tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import (
    DataError,
    InfeasibleMethodError,
    ModelSpecificationError,
    OutcomeError,
)
from ipdma.prognosis import SurvivalRiskModel

XS = ["x1", "x2", "x3", "x4", "x5"]


@pytest.fixture
def case(ref_case):
    return ref_case("survival_prognostic")


@pytest.fixture
def data(case):
    return case.csv("surv_ipd.csv")


@pytest.fixture
def control_model(data):
    return SurvivalRiskModel(development_rows="control", control="0", horizon=2.0).fit(
        data, time="time", event="status", covariates=XS, trial="trial", treatment="trt")


def test_control_arm_cox(case, data, control_model):
    r = case.expected["cox_control"]
    m = control_model
    np.testing.assert_allclose(m.coef_, r["coef"], rtol=1e-7)
    np.testing.assert_allclose(m.vcov_.to_numpy(), r["vcov"], rtol=1e-7)
    np.testing.assert_allclose(m.loglik_, r["loglik"], rtol=1e-10)
    assert (m.n_, m.events_) == (r["n"], r["nevent"])
    s1 = case.csv("stage1_predictions.csv")
    np.testing.assert_allclose(m.training_scores_["lp"], s1["R"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(m.training_scores_["risk"], 1 - s1["S2_breslow"], rtol=1e-8)
    S = m.predict_survival(data, [1, 2, 3])
    np.testing.assert_allclose(S.to_numpy(), s1[["S1_breslow", "S2_breslow", "S3_breslow"]],
                               rtol=1e-8)
    me = SurvivalRiskModel(development_rows="control", control="0", baseline="efron").fit(
        data, time="time", event="status", covariates=XS, treatment="trt")
    np.testing.assert_allclose(me.predict_survival(data, [1, 2, 3]).to_numpy(),
                               s1[["S1_efron", "S2_efron", "S3_efron"]], rtol=1e-8)
    perf = m.performance()
    np.testing.assert_allclose(perf["c_index"], r["concordance"]["C"], rtol=1e-12)
    np.testing.assert_allclose(perf["calibration_slope"], 1.0, rtol=1e-7)


def test_calibration_at_horizon(case, control_model):
    r = case.expected["cox_control"]["calibration_t2"]
    tab = control_model.calibration()
    assert tab["n"].tolist() == r["n"]
    assert tab["events"].tolist() == r["events"]
    np.testing.assert_allclose(tab["mean_pred"], r["mean_pred_S2"], rtol=1e-8)
    np.testing.assert_allclose(tab["km"], r["km_S2"], rtol=1e-10)
    np.testing.assert_allclose(tab["km_std_err"], r["km_std_err"], rtol=1e-10)
    control_model.plot()


def test_iecv_by_trial(case, control_model):
    v = control_model.validate(method="iecv")
    ref = case.expected["iecv_control"]["per_trial"]
    tab = v.table
    assert tab["trial"].tolist() == [str(r["held_out_trial"]) for r in ref]
    assert tab["n"].tolist() == [r["n"] for r in ref]
    np.testing.assert_allclose(tab["c_index"], [r["C"] for r in ref], rtol=1e-8)
    np.testing.assert_allclose(tab["c_index_se"], [r["C_se"] for r in ref], rtol=1e-8)
    np.testing.assert_allclose(tab["calibration_slope"], [r["cal_slope"] for r in ref],
                               rtol=1e-7)
    np.testing.assert_allclose(tab["mean_pred_surv"], [r["mean_pred_S2"] for r in ref],
                               rtol=1e-8)
    np.testing.assert_allclose(tab["km_surv"], [r["km_S2"] for r in ref], rtol=1e-10)
    np.testing.assert_allclose(tab["oe_ratio"], (1 - tab["km_surv"]) / (1 - tab["mean_pred_surv"]),
                               rtol=1e-12)
    assert "held-out" in str(v.summary())
    v.plot()


def test_all_arms_stratified_by_trial(case, data):
    r = case.expected["cox_all_strata"]
    m = SurvivalRiskModel(trial_effect="strata").fit(
        data, time="time", event="status", covariates=["trt", *XS], trial="trial")
    np.testing.assert_allclose(m.coef_, r["coef"], rtol=1e-7)
    p = r["pred_20"]
    rows = [int(np.flatnonzero((data.trial == t) & (data.id == i))[0])
            for t, i in zip(p["trial"], p["id"], strict=True)]
    S = m.predict_survival(data.iloc[rows], p["tstar"], baseline="trial")
    np.testing.assert_allclose(S.to_numpy(), p["S_breslow"], rtol=1e-8)
    np.testing.assert_allclose(m.performance()["c_index"], r["concordance"]["C"], rtol=1e-12)
    # average baseline: geometric mean of the trial baselines
    H = -np.log(m.predict_survival(data.iloc[:1].assign(trt=0, x1=0, x2=0, x3=0, x4=0, x5=0),
                                   [2.0]).to_numpy()[0, 0])
    Hk = np.array(r["baseline"]["H0_breslow"])[:, r["baseline"]["grid"].index(2)]
    np.testing.assert_allclose(H, np.exp(np.mean(np.log(Hk))), rtol=1e-8)


def test_lasso_fixed_lambda(case, data):
    g = case.expected["glmnet_cox"]
    for k, lam in enumerate(g["lambda"]):
        m = SurvivalRiskModel("lasso", penalty=lam, development_rows="control", control="0").fit(
            data, time="time", event="status", covariates=XS, treatment="trt")
        np.testing.assert_allclose(m.coef_, np.array(g["coef"])[:, k], atol=1e-6)
        np.testing.assert_allclose(m.coef_, g["exact_minimiser"][k]["coef"], atol=1e-10)
        assert m.vcov_ is None


def test_fixed_trial_effects_equal_dummies(data):
    m = SurvivalRiskModel(trial_effect="fixed", horizon=2.0).fit(
        data, time="time", event="status", covariates=XS, trial="trial")
    d = data.copy()
    for k in range(2, 6):
        d[f"t{k}"] = (d.trial == k).astype(float)
    from ipdma.survival import CoxPH

    ref = CoxPH().fit(d, "time", "status", [*XS, "t2", "t3", "t4", "t5"])
    np.testing.assert_allclose(m.coef_, ref.coef_[XS], rtol=1e-10)
    np.testing.assert_allclose(m.trial_effects_.to_numpy()[1:], ref.coef_[["t2", "t3", "t4",
                                                                           "t5"]], rtol=1e-10)
    own = m.predict_survival(d.head(5), [2.0], baseline="trial").to_numpy()[:, 0]
    np.testing.assert_allclose(own, ref.predict_survival(d.head(5), [2.0], "breslow")
                               .to_numpy()[:, 0], rtol=1e-10)


def test_bootstrap_reproducible_and_optimism(data):
    m = SurvivalRiskModel(horizon=2.0, random_state=1).fit(
        data, time="time", event="status", covariates=XS, trial="trial")
    v1 = m.validate(B=15, random_state=3)
    v2 = m.validate(B=15, random_state=3)
    pd.testing.assert_frame_equal(v1.table, v2.table)
    assert list(v1.table.index) == ["c_index", "calibration_slope", "oe_ratio"]
    assert v1.table.loc["c_index", "optimism"] > 0
    assert v1.info["successful_replicates"] == 15
    assert "optimism" in str(v1.summary())


def test_cv_lasso_and_json_roundtrip(data, tmp_path):
    m = SurvivalRiskModel("lasso", penalty="cv", n_folds=5, n_lambda=20, random_state=0,
                          trial_effect="strata", horizon=2.0).fit(
        data, time="time", event="status", covariates=XS, trial="trial")
    assert m.penalty_ > 0
    path = m.to_json(tmp_path / "m.json")
    m2 = SurvivalRiskModel.from_json(path)
    np.testing.assert_allclose(m2.predict_risk(data), m.predict_risk(data), rtol=1e-12)
    np.testing.assert_allclose(m2.predict_survival(data.head(3), [1.0], baseline="trial"),
                               m.predict_survival(data.head(3), [1.0], baseline="trial"))


def test_errors(data):
    with pytest.raises(InfeasibleMethodError, match="strata"):
        SurvivalRiskModel("lasso", trial_effect="fixed")
    with pytest.raises(ModelSpecificationError, match="needs trial="):
        SurvivalRiskModel(trial_effect="strata").fit(data, time="time", event="status",
                                                      covariates=XS)
    with pytest.raises(DataError, match="censored before the horizon 50"):
        SurvivalRiskModel(horizon=50.0).fit(data, time="time", event="status", covariates=XS,
                                            trial="trial")
    bad = data.assign(status=np.where(data.trial == 3, 0, data.status))
    with pytest.raises(OutcomeError, match="no events in trial '3'"):
        SurvivalRiskModel(trial_effect="strata").fit(bad, time="time", event="status",
                                                      covariates=XS, trial="trial")
    ms = SurvivalRiskModel(trial_effect="strata").fit(data, time="time", event="status",
                                                       covariates=XS, trial="trial")
    last = data.groupby("trial")["time"].max()
    with pytest.raises(DataError, match=f"last follow-up of trial '{last.idxmin()}'"):
        ms.predict_survival(data.head(3), [float(last.min()) + 0.05])
    m = SurvivalRiskModel().fit(data, time="time", event="status", covariates=XS)
    with pytest.raises(ModelSpecificationError, match="no time given"):
        m.predict_risk(data)
    with pytest.raises(ModelSpecificationError, match="baseline='trial'"):
        m.predict_survival(data, [1.0], baseline="trial")


def test_fit_from_survival_ipd(data):
    from ipdma.data import IPD
    from ipdma.prognosis import RiskModel

    ipd = IPD(data, trial="trial", treatment="trt", time="time", event="status", covariates=XS)
    m = SurvivalRiskModel(development_rows="control").fit(ipd)
    ref = SurvivalRiskModel(development_rows="control", control="0").fit(
        data, time="time", event="status", covariates=XS, treatment="trt")
    np.testing.assert_allclose(m.coef_, ref.coef_, rtol=1e-12)
    with pytest.raises(DataError, match="use SurvivalRiskModel"):
        RiskModel().fit(ipd)

"""ipdma.survival against the R oracle ``survival_prognostic`` (R 4.2.2, survival
3.5-3, glmnet 4.1-6).  Tolerances from the case README: Cox rtol 1e-7 (loglik
1e-10), H0/S(t*) rtol 1e-8, C pair counts exact, glmnet atol 1e-6.  (The survreg
part is covered by the Weibull helper's tests.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.survival import (
    CoxNet,
    CoxPH,
    calibration_at,
    calibration_slope,
    concordance,
    coxnet_path,
)

XS = ["x1", "x2", "x3", "x4", "x5"]
COX_RTOL = 1e-7


@pytest.fixture
def case(ref_case):
    return ref_case("survival_prognostic")


@pytest.fixture
def data(case):
    return case.csv("surv_ipd.csv")


@pytest.fixture
def ctrl(data):
    return data[data.trt == 0].reset_index(drop=True)


def check_cox(m: CoxPH, r: dict):
    assert list(m.coef_.index) == r["coef_names"]
    np.testing.assert_allclose(m.coef_, r["coef"], rtol=COX_RTOL)
    np.testing.assert_allclose(m.se_, r["se"], rtol=COX_RTOL)
    np.testing.assert_allclose(m.vcov_.to_numpy(), r["vcov"], rtol=COX_RTOL, atol=1e-14)
    np.testing.assert_allclose(m.loglik_, r["loglik"], rtol=1e-10)
    np.testing.assert_allclose(m.loglik_null_, r["loglik_null"], rtol=1e-10)
    np.testing.assert_allclose(m.tests_["statistic"], [r["lrt"], r["score_test"],
                                                       r["wald_test"]], rtol=COX_RTOL)
    np.testing.assert_allclose(m.means_, r["means"], atol=1e-14)
    assert (m.n_, m.n_events_) == (r["n"], r["nevent"])


@pytest.mark.parametrize(("key", "ties", "strata"), [("cox_control", "efron", None),
                                                     ("cox_control_breslow", "breslow", None),
                                                     ("cox_control_strata", "efron", "trial")])
def test_cox_control(case, ctrl, key, ties, strata):
    m = CoxPH(ties=ties).fit(ctrl, time="time", event="status", covariates=XS, strata=strata)
    check_cox(m, case.expected[key])


def test_cox_all_arms_stratified(case, data):
    r = case.expected["cox_all_strata"]
    m = CoxPH().fit(data, time="time", event="status", covariates=["trt", *XS], strata="trial")
    check_cox(m, r)
    grid = r["baseline"]["grid"]
    for kind in ("breslow", "efron"):
        np.testing.assert_allclose(m.cumulative_hazard_at(grid, kind),
                                   r["baseline"][f"H0_{kind}"], rtol=1e-8)
    p = r["pred_20"]
    rows = [int(np.flatnonzero((data.trial == t) & (data.id == i))[0])
            for t, i in zip(p["trial"], p["id"], strict=True)]
    nd = data.iloc[rows]
    np.testing.assert_allclose(m.predict_lp(nd), p["lp"], rtol=1e-8)
    for kind in ("breslow", "efron"):
        np.testing.assert_allclose(m.predict_survival(nd, p["tstar"], kind).to_numpy(),
                                   p[f"S_{kind}"], rtol=1e-8)
    c = m.concordance()
    rc = r["concordance"]
    assert [c.concordant, c.discordant, c.tied_x, c.tied_y, c.tied_xy] == rc["count"]
    np.testing.assert_allclose(c.count_per_stratum[["concordant", "discordant", "tied_x"]],
                               np.array(rc["count_per_stratum"])[:, :3])
    np.testing.assert_allclose([c.c_index, c.se], [rc["C"], rc["se"]], rtol=1e-10)


def test_baseline_hazard_and_prediction(case, ctrl):
    r = case.expected["cox_control"]
    m = CoxPH().fit(ctrl, time="time", event="status", covariates=XS)
    grid = r["baseline"]["grid"]
    np.testing.assert_allclose(m.cumulative_hazard_at(grid, "breslow")[0],
                               r["baseline"]["H0_breslow"], rtol=1e-8)
    np.testing.assert_allclose(m.cumulative_hazard_at(grid, "efron")[0],
                               r["baseline"]["H0_efron"], rtol=1e-8)
    full = case.csv("baseline_hazard_control.csv")
    for kind in ("breslow", "efron"):
        bh = m.baseline_hazard(kind)
        np.testing.assert_allclose(bh["time"], full["time"])
        np.testing.assert_array_equal(bh[["n_risk", "n_event", "n_censor"]],
                                      full[["n_risk", "n_event", "n_censor"]])
        np.testing.assert_allclose(bh["cumhaz"], full[f"H0_{kind}"], rtol=1e-8)
    # the default follows the ties rule (survfit / basehaz after an Efron fit)
    np.testing.assert_allclose(m.baseline_hazard()["cumhaz"], full["H0_efron"], rtol=1e-8)
    # centred baseline = basehaz(fit) at the covariate means
    cen = m.baseline_hazard(centered=True)["cumhaz"]
    np.testing.assert_allclose(cen, full["H0_efron"] * np.exp(np.dot(r["means"], r["coef"])),
                               rtol=1e-8)
    p = r["pred_first20"]
    nd = ctrl.iloc[:20]
    assert nd["id"].tolist() == p["id"]
    np.testing.assert_allclose(m.predict_lp(nd), p["lp"], rtol=1e-8)
    for kind in ("breslow", "efron"):
        np.testing.assert_allclose(m.predict_survival(nd, p["tstar"], kind).to_numpy(),
                                   p[f"S_{kind}"], rtol=1e-8)
    s1 = case.csv("stage1_predictions.csv")
    pred = m.predict_survival(pd.DataFrame(s1.merge(case.csv("surv_ipd.csv"))),
                              [1, 2, 3], "breslow")
    np.testing.assert_allclose(pred.to_numpy(), s1[["S1_breslow", "S2_breslow",
                                                    "S3_breslow"]].to_numpy(), rtol=1e-8)


def test_concordance(case, ctrl):
    for key, strata in (("cox_control", None), ("cox_control_strata", "trial")):
        r = case.expected[key]["concordance"]
        m = CoxPH().fit(ctrl, time="time", event="status", covariates=XS, strata=strata)
        c = m.concordance()
        assert [c.concordant, c.discordant, c.tied_x, c.tied_y, c.tied_xy] == r["count"]
        np.testing.assert_allclose(c.c_index, r["C"], rtol=1e-12)
        np.testing.assert_allclose(c.se, r["se"], rtol=1e-8)


def test_calibration_t2(case, ctrl):
    r = case.expected["cox_control"]["calibration_t2"]
    m = CoxPH().fit(ctrl, time="time", event="status", covariates=XS)
    s2 = m.predict_survival(ctrl, [2.0], "breslow").to_numpy()[:, 0]
    tab = calibration_at(ctrl["time"], ctrl["status"], s2, 2.0, n_groups=10)
    np.testing.assert_allclose(tab.attrs["breaks"], r["breaks"], rtol=1e-10)
    assert tab["n"].tolist() == r["n"]
    assert tab["events"].tolist() == r["events"]
    assert tab["n_risk"].tolist() == r["n_risk_at_2"]
    np.testing.assert_allclose(tab["mean_pred"], r["mean_pred_S2"], rtol=1e-8)
    np.testing.assert_allclose(tab["km"], r["km_S2"], rtol=1e-10)
    np.testing.assert_allclose(tab["km_std_err"], r["km_std_err"], rtol=1e-10)
    grp = case.csv("stage1_predictions.csv").query("trt == 0")["cal_group_t2"]
    slope, se = calibration_slope(ctrl["time"], ctrl["status"], m.predict_lp(ctrl))
    np.testing.assert_allclose([slope, se], [r["slope_apparent"], r["slope_apparent_se"]],
                               rtol=COX_RTOL)
    assert len(grp) == len(ctrl)


def test_leave_one_trial_out(case, ctrl):
    for r in case.expected["iecv_control"]["per_trial"]:
        k = r["held_out_trial"]
        dev, val = ctrl[ctrl.trial != k], ctrl[ctrl.trial == k]
        m = CoxPH().fit(dev, time="time", event="status", covariates=XS)
        np.testing.assert_allclose(m.coef_, r["dev_coef"], rtol=COX_RTOL)
        lp = m.predict_lp(val)
        c = concordance(val["time"], val["status"], lp)
        np.testing.assert_allclose([c.c_index, c.se], [r["C"], r["C_se"]], rtol=1e-8)
        slope, se = calibration_slope(val["time"], val["status"], lp)
        np.testing.assert_allclose([slope, se], [r["cal_slope"], r["cal_slope_se"]],
                                   rtol=COX_RTOL)
        s2 = m.predict_survival(val, [2.0], "breslow").to_numpy()[:, 0]
        np.testing.assert_allclose(s2.mean(), r["mean_pred_S2"], rtol=1e-8)
        from ipdma.survival import kaplan_meier

        km = kaplan_meier(val["time"], val["status"]).at(2.0)
        np.testing.assert_allclose(km["surv"].iloc[0], r["km_S2"], rtol=1e-10)
        assert (len(val), int(val.status.sum())) == (r["n"], r["events"])


def test_stage2_risk_cox(case, data, ctrl):
    r = case.expected["stage2_risk_cox"]
    m0 = CoxPH().fit(ctrl, time="time", event="status", covariates=XS)
    d = data.copy()
    d["R"] = m0.predict_lp(d)
    d["Rc"] = d["R"] - d.groupby("trial")["R"].transform("mean")
    np.testing.assert_allclose(d.groupby("trial")["R"].mean(), r["trial_mean_R"], rtol=1e-8)
    d["trt:Rc"] = d["trt"] * d["Rc"]
    m = CoxPH().fit(d, time="time", event="status", covariates=["trt", "Rc", "trt:Rc"],
                    strata="trial")
    np.testing.assert_allclose(m.coef_, r["coef"], rtol=COX_RTOL)
    np.testing.assert_allclose(m.vcov_.to_numpy(), r["vcov"], rtol=COX_RTOL)
    np.testing.assert_allclose([m.loglik_, m.loglik_null_], [r["loglik"], r["loglik_null"]],
                               rtol=1e-10)
    np.testing.assert_allclose(m.tests_["statistic"], [r["lrt"], r["score_test"],
                                                       r["wald_test"]], rtol=COX_RTOL)


def test_glmnet_cox_fixed_lambda(case, ctrl):
    g = case.expected["glmnet_cox"]
    B, lam, conv = coxnet_path(ctrl[XS].to_numpy(), ctrl["time"], ctrl["status"], g["lambda"])
    assert conv.all()
    np.testing.assert_allclose(B.T, g["coef"], atol=1e-6)
    np.testing.assert_array_equal(B.T == 0, g["zero_pattern"])
    for k, ex in enumerate(g["exact_minimiser"]):
        np.testing.assert_allclose(B[k], ex["coef"], atol=1e-10)
    for k, lam in enumerate(g["lambda"]):
        m = CoxNet(lambda_=lam).fit(ctrl, time="time", event="status", covariates=XS)
        np.testing.assert_allclose(m.coef_, g["exact_minimiser"][k]["coef"], atol=1e-10)
        np.testing.assert_allclose(m.loglik_, g["exact_minimiser"][k]["loglik_breslow"],
                                   rtol=1e-10)

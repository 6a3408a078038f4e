"""make_ms_network: structure, truth consistency and recovery of the true parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from scipy.special import expit, logit

from ipdma.datasets import MS_COVARIATES, make_ms_network
from ipdma.errors import ModelSpecificationError

SEED = 20261121


@pytest.fixture(scope="module")
def sim():
    return make_ms_network(random_state=SEED)


def features(x: pd.DataFrame) -> pd.DataFrame:
    """The prognostic model's terms, written out from the docstring (not the library)."""
    return pd.DataFrame({
        "AGE - 37.5": x["AGE"] - 37.5,
        "SEX": x["SEX"],
        "EDSSBL - 2.5": x["EDSSBL"] - 2.5,
        "log(RLPS1YR + 1)": np.log(x["RLPS1YR"] + 1),
        "TRELMOS - 7": x["TRELMOS"] - 7,
        "PRMSGR": x["PRMSGR"],
        "log(GDLESBL + 1)": np.log(x["GDLESBL"] + 1),
        "log(T2VOLBL / 8)": np.log(x["T2VOLBL"] / 8),
        "SFPCSBL - 46": x["SFPCSBL"] - 46,
    }).astype(float)


def wald_ok(est: np.ndarray, cov: np.ndarray, truth: np.ndarray, n_se: float = 3.0) -> None:
    """Each estimate within n_se standard errors, and the joint Wald test not rejecting."""
    se = np.sqrt(np.diag(cov))
    z = (est - truth) / se
    assert np.all(np.abs(z) < n_se), z
    diff = est - truth
    chi2 = float(diff @ np.linalg.solve(cov, diff))
    assert stats.chi2.sf(chi2, len(diff)) > 0.001, chi2


def test_structure_labels_and_arm_sizes(sim):
    d = sim.data
    assert list(d.columns) == ["STUDYID", "USUBJID", "TRT01A", *MS_COVARIATES, "RELAPSE2year"]
    sizes = d.groupby(["STUDYID", "TRT01A"]).size().to_dict()
    assert sizes == {("S1", "DMF"): 826, ("S1", "PBO"): 408, ("S2", "DMF"): 704,
                     ("S2", "GA"): 350, ("S2", "PBO"): 363, ("S3", "NAT"): 627,
                     ("S3", "PBO"): 315}
    assert sim.params["arm_sizes"]["S2:GA"] == 350
    assert set(d["RELAPSE2year"]) == {0, 1}
    assert d["USUBJID"].str.match(r"^S[123]-\d{5}$").all()
    # event rates like the real network: about 30-45 % overall, higher on placebo
    assert 0.28 < d["RELAPSE2year"].mean() < 0.45
    rates = d.groupby("TRT01A")["RELAPSE2year"].mean()
    assert 0.35 < rates["PBO"] < 0.55
    assert (rates[["DMF", "GA", "NAT"]] < rates["PBO"]).all()
    # covariate ranges
    assert d["AGE"].between(18, 55).all() and d["EDSSBL"].between(0, 5.5).all()
    assert set(np.unique(d["EDSSBL"] * 2) % 1) == {0}
    assert set(d["SEX"]) == {0, 1} and set(d["PRMSGR"]) == {0, 1}
    assert (d["RLPS1YR"] >= 0).all() and (d["TRELMOS"] >= 1).all()
    assert (d["T2VOLBL"] > 0).all() and (d["GDLESBL"].dropna() >= 0).all()


def test_missing_values_mcar_at_documented_rates(sim):
    d = sim.data
    rates = d[list(MS_COVARIATES)].isna().mean()
    expected = sim.params["missing_rates"]
    assert expected == {"SFPCSBL": 0.05, "T25FWABL": 0.03, "GDLESBL": 0.02}
    for col, rate in rates.items():
        assert rate == pytest.approx(expected.get(col, 0.0), abs=0.5 / len(d))
    assert d[["STUDYID", "TRT01A", "RELAPSE2year"]].notna().all().all()
    assert make_ms_network(500, random_state=1, missing=False).data.notna().all().all()


def test_external_placebo_cohort(sim):
    ext = sim.external
    assert len(ext) == 1000
    assert (ext["STUDYID"] == "EXT").all() and (ext["TRT01A"] == "PBO").all()
    assert ext[list(MS_COVARIATES)].notna().all().all()
    # older population (mean age 41 vs 37.5, before clipping)
    assert ext["AGE"].mean() > sim.data["AGE"].mean() + 2
    lp = sim.params["lp_intercept"] + features(ext) @ pd.Series(sim.params["lp_coef"])
    np.testing.assert_allclose(ext["true_lp"], lp, rtol=1e-12)
    np.testing.assert_allclose(ext["p_true"],
                               expit(sim.params["study_offsets"]["EXT"] + ext["true_lp"]))
    assert ext["USUBJID"].is_unique
    assert len(make_ms_network(500, random_state=1, n_external=0).external) == 0


def test_truth_follows_documented_model(sim):
    d, t, p = sim.data, sim.truth, sim.params
    assert list(t.columns) == ["USUBJID", "STUDYID", "TRT01A", "true_lp", "p_PBO", "p_DMF",
                               "p_GA", "p_NAT", "p_true"]
    complete = d[list(MS_COVARIATES)].notna().all(axis=1)
    lp = p["lp_intercept"] + features(d[complete]) @ pd.Series(p["lp_coef"])
    np.testing.assert_allclose(t.loc[complete, "true_lp"], lp, rtol=1e-12)
    assert p["lp_intercept"] == -1.44
    assert t["true_lp"].mean() == pytest.approx(-0.3, abs=0.1)
    offset = d["STUDYID"].map(p["study_offsets"])
    np.testing.assert_allclose(logit(t["p_PBO"]), offset + t["true_lp"], atol=1e-9)
    for trt in ("DMF", "GA", "NAT"):
        log_or = logit(t[f"p_{trt}"]) - logit(t["p_PBO"])
        expected = (p["treatment_effects"][trt]
                    + p["risk_interactions"][trt] * (t["true_lp"] - p["centre"]))
        np.testing.assert_allclose(log_or, expected, atol=1e-9)
    assigned = np.choose(pd.Categorical(d["TRT01A"], ["PBO", "DMF", "GA", "NAT"]).codes,
                         [t["p_PBO"], t["p_DMF"], t["p_GA"], t["p_NAT"]])
    np.testing.assert_allclose(t["p_true"], assigned)
    # outcomes agree with their probabilities (calibration in ten risk groups)
    groups = pd.qcut(t["p_true"], 10, labels=False)
    obs = d["RELAPSE2year"].groupby(groups).agg(["sum", "size"])
    expct = t["p_true"].groupby(groups).sum()
    var = (t["p_true"] * (1 - t["p_true"])).groupby(groups).sum()
    chi2 = float((((obs["sum"] - expct) ** 2) / var).sum())
    assert stats.chi2.sf(chi2, 10) > 0.001


def test_logistic_regression_recovers_prognostic_coefficients(sim):
    """Placebo arms + external cohort: logit p = a_study + lp(x); study intercepts free."""
    p = sim.params
    frame = pd.concat([sim.data[sim.data["TRT01A"] == "PBO"], sim.external], ignore_index=True)
    frame = frame.dropna(subset=list(MS_COVARIATES))
    study = pd.get_dummies(frame["STUDYID"], dtype=float)
    x = pd.concat([study, features(frame)], axis=1)
    fit = sm.Logit(frame["RELAPSE2year"].to_numpy(), x).fit(disp=0)
    names = list(p["lp_coef"])
    truth = np.array([p["lp_coef"][k] for k in names])
    wald_ok(fit.params[names].to_numpy(), fit.cov_params().loc[names, names].to_numpy(), truth)
    # study intercepts = a_study + lp intercept
    for s in ("S1", "S2", "S3", "EXT"):
        expected = p["study_offsets"][s] + p["lp_intercept"]
        assert abs(fit.params[s] - expected) < 3 * fit.bse[s]


def test_logistic_regression_recovers_treatment_effects_and_interactions(sim):
    """All arms, true lp as covariate: logit p = a_j + lp + d_t + g_t (lp - c)."""
    d, t, p = sim.data, sim.truth, sim.params
    c = p["centre"]
    study = pd.get_dummies(d["STUDYID"], dtype=float)
    trt = pd.get_dummies(d["TRT01A"], dtype=float)[["DMF", "GA", "NAT"]]
    inter = trt.mul(t["true_lp"] - c, axis=0).add_suffix(":lpc")
    x = pd.concat([study, trt, t["true_lp"].rename("lp"), inter], axis=1)
    fit = sm.Logit(d["RELAPSE2year"].to_numpy(), x).fit(disp=0)
    names = ["DMF", "GA", "NAT", "lp", "DMF:lpc", "GA:lpc", "NAT:lpc"]
    truth = np.array([p["treatment_effects"][k] for k in ("DMF", "GA", "NAT")] + [1.0]
                     + [p["risk_interactions"][k] for k in ("DMF", "GA", "NAT")])
    wald_ok(fit.params[names].to_numpy(), fit.cov_params().loc[names, names].to_numpy(), truth)
    # the interactions are identifiable: NAT's is negative, DMF's positive, both clearly
    assert fit.params["NAT:lpc"] < 0 < fit.params["DMF:lpc"]


def test_overrides_and_scaling():
    sim = make_ms_network(1000, random_state=3, treatment_effects={"GA": 0.0},
                          risk_interactions={"GA": 0.0}, study_offsets={"S2": 0.4}, centre=0.0)
    t = sim.truth
    np.testing.assert_allclose(t["p_GA"], t["p_PBO"])
    assert sim.params["treatment_effects"] == {"DMF": -0.85, "GA": 0.0, "NAT": -1.20}
    assert sim.params["study_offsets"]["S2"] == 0.4
    assert len(sim.data) == 1000
    sizes = sim.data.groupby(["STUDYID", "TRT01A"]).size()
    assert sizes[("S1", "DMF")] == round(1000 * 826 / 3593)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_patients": 30}, "n_patients must be an integer >= 70"),
    ({"n_patients": 1000.5}, "n_patients"),
    ({"n_external": -1}, "n_external must be a non-negative integer"),
    ({"treatment_effects": {"FTY": -1.0}}, r"treatment_effects has unknown key\(s\) \['FTY'\]"),
    ({"study_offsets": {"S4": 0.0}}, "allowed keys are"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ModelSpecificationError, match=match):
        make_ms_network(**{"random_state": 0, **kwargs})

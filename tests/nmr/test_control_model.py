"""RiskNMRResult.predict(baseline="control-model") against R: reference
``tests/nmr/data/control_model`` (make.R: glm of the placebo arms on the centred risk +
the stage-2 glm of nmr_ms_synthetic, Wald intervals with the two fits independent).
Tolerances: control-model coefficients/SEs rtol 1e-8; predicted probabilities and
interval bounds rtol 1e-7 (observed ~1e-10).  Also: a risk score developed on the
control arms reproduces their risk exactly (glm score equations), and the per-trial
centring values are exposed as ``centre_trial``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ModelSpecificationError
from ipdma.nmr import RiskNMR

EXP = json.loads((Path(__file__).parent / "data" / "control_model" / "expected.json")
                 .read_text())
MS_KW = dict(trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year", risk="logitRisk")


def test_control_model_matches_r(ref_case):
    df = ref_case("nmr_ms_synthetic").csv("stage1_risk_scores.csv")
    res = RiskNMR(engine="ml", random_state=0).fit(df, **MS_KW)
    assert res.risk_centre == pytest.approx(EXP["Rbar"], rel=1e-12)
    assert list(res.centre_trial.index) == res.trials
    np.testing.assert_allclose(res.centre_trial.to_numpy(),
                               df.groupby("STUDYID")["logitRisk"].mean()[res.trials],
                               rtol=1e-12)
    pred = res.predict(risk=EXP["grid"], baseline="control-model")
    cm = res.control_model
    np.testing.assert_allclose(cm["estimate"], EXP["control_coef"], rtol=1e-8)
    np.testing.assert_allclose(cm["se"], EXP["control_se"], rtol=1e-8)
    for trt, ref in EXP["predictions"].items():
        p = pred[pred["treatment"] == trt]
        np.testing.assert_allclose(p["prob"], ref["prob"], rtol=1e-7)
        np.testing.assert_allclose(p["prob_lower"], ref["lower"], rtol=1e-7)
        np.testing.assert_allclose(p["prob_upper"], ref["upper"], rtol=1e-7)


EXP_BAYES = json.loads((Path(__file__).parent / "data" / "control_model_bayes" /
                        "expected.json").read_text())


def test_control_model_bayes_matches_jags(ref_case):
    """Bayesian engine with ``baseline="control-model"`` against R: reference
    ``tests/nmr/data/control_model_bayes`` (make.R: the shared case's JAGS model, 2 x 5,000
    draws, with normal draws of the placebo-arm glm's (a, b) independent of the
    posterior).  Tolerances are the shared case README's for another sampler:
    predicted probabilities within 0.01 (point, 2.5 % and 97.5 % quantiles) and so the
    ARD (point and quantiles); P(best) within 0.03 (Monte Carlo error of a proportion
    from ~4,000 draws is <= 0.008); the control model's (a, b) rtol 1e-8."""
    df = ref_case("nmr_ms_synthetic").csv("stage1_risk_scores.csv")
    res = RiskNMR(engine="bayes", draws=2000, random_state=2024).fit(df, **MS_KW)
    assert res.risk_centre == pytest.approx(EXP_BAYES["Rbar"], rel=1e-12)
    pred = res.predict(risk=EXP_BAYES["grid"], baseline="control-model")
    np.testing.assert_allclose(res.control_model["estimate"], EXP_BAYES["control_coef"],
                               rtol=1e-8)
    np.testing.assert_allclose(res.control_model["se"], EXP_BAYES["control_se"], rtol=1e-8)
    for trt, ref in EXP_BAYES["predictions"].items():
        p = pred[pred["treatment"] == trt]
        for ours, theirs in (("prob", "prob"), ("prob_lower", "lower"),
                             ("prob_upper", "upper"), ("ard", "ard"),
                             ("ard_lower", "ard_lower"), ("ard_upper", "ard_upper")):
            if trt == "PBO" and ours.startswith("ard"):
                continue   # identically 0 for the reference
            np.testing.assert_allclose(p[ours], ref[theirs], atol=0.01, err_msg=f"{trt} {ours}")
        np.testing.assert_allclose(p["p_best"], ref["p_best"], atol=0.03, err_msg=trt)


def test_control_arm_score_reproduces_control_risk():
    from ipdma.prognosis import RiskModel

    rng = np.random.default_rng(4)
    n = 1500
    df = pd.DataFrame({"trial": rng.choice(["T1", "T2", "T3"], n),
                       "arm": rng.choice(["ctl", "A"], n), "x": rng.normal(size=n)})
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-0.5 + df.x - 0.6 * (df.arm == "A")))))
    rm = RiskModel("glm", development_rows="control", control="ctl").fit(
        df, outcome="y", covariates=["x"], treatment="arm")
    df["lr"] = rm.training_scores_["logit_risk"]
    res = RiskNMR(engine="ml", reference="ctl").fit(df, trial="trial", treatment="arm",
                                                    outcome="y", risk="lr")
    grid = [0.1, 0.3, 0.6]
    p = res.predict(risk=grid, baseline="control-model")
    np.testing.assert_allclose(p.loc[p.treatment == "ctl", "prob"], grid, rtol=1e-8)
    np.testing.assert_allclose(res.control_model["estimate"],
                               [res.risk_centre, 1.0], rtol=1e-8, atol=1e-10)


def test_control_model_needs_risk():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"trial": np.repeat(["T1", "T2"], 100),
                       "treat": rng.choice(["placebo", "A"], 200)})
    df["y"] = rng.binomial(1, 0.3, 200)
    res = RiskNMR(engine="ml").fit(df, trial="trial", treatment="treat", outcome="y",
                                   risk=None)
    with pytest.raises(ModelSpecificationError, match="risk term"):
        res.predict(risk=[0.2], baseline="control-model")

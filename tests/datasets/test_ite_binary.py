"""make_ite_binary: the logistic analogue of the 16 scenarios (truth, shared draws, recovery)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit

from ipdma.datasets import ITE_BETA, ITE_GAMMA, make_ite_binary, make_ite_continuous, simulate
from ipdma.datasets._ite import BINARY_INTERCEPT, BINARY_SCALE

X = [f"x{j}" for j in range(1, 9)]


def g_nonlinear(x: pd.DataFrame) -> np.ndarray:
    return (1.5 * np.log(1 + np.abs(x["x1"])) + 1.5 * x["x2"] * np.sqrt(x["x3"] ** 2 + 1)
            - 1.4 * (np.abs(x["x5"]) + 2) - 1.8 * np.abs(x["x3"] * x["x5"]) ** (2 / 3)).to_numpy()


@pytest.mark.parametrize("scenario", [1, 4, 6, 9, 16])
def test_truth_follows_the_declared_logistic_model(scenario):
    sim = make_ite_binary(scenario, random_state=7, n_test_per_trial=300)
    d, truth, test, p = sim.data, sim.truth, sim.test, sim.params
    assert p["outcome"] == "binary" and p["scale"] == BINARY_SCALE
    assert p["intercept"] == BINARY_INTERCEPT
    assert set(d["y"]) == {0, 1} and set(test["y"]) <= {0, 1}
    s = BINARY_SCALE
    for frame, effects, u, h in ((d, truth, p["u"], p["h"]), (test, test, p["u_new"], p["h_new"])):
        x = frame[X].to_numpy()
        g = g_nonlinear(frame) if p["nonlinear"] else 0.0
        gamma = np.array(ITE_GAMMA[p["effect_modification"]])
        u_l = frame["trial"].map(u).to_numpy()
        h_l = frame["trial"].map(h).to_numpy()
        lp0 = BINARY_INTERCEPT + s * (u_l + x @ np.array(ITE_BETA))
        lor = s * (2 + h_l + g + x @ gamma)
        np.testing.assert_allclose(effects["p0"], expit(lp0), rtol=1e-12)
        np.testing.assert_allclose(effects["p1"], expit(lp0 + lor), rtol=1e-12)
        np.testing.assert_allclose(effects["logor_true"], lor, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(effects["ite_true"], effects["p1"] - effects["p0"], atol=1e-15)
    np.testing.assert_allclose(logit(truth["p1"]) - logit(truth["p0"]), truth["logor_true"],
                               atol=1e-9)


def test_same_seed_same_training_trials_covariates_and_arms_as_the_continuous_design():
    b = make_ite_binary(5, random_state=3)
    c = make_ite_continuous(5, random_state=3)
    cols = ["trial", "id", "treatment", *X]
    pd.testing.assert_frame_equal(b.data[cols], c.data[cols])
    assert b.params["h"] == c.params["h"] and b.params["u"] == c.params["u"]
    assert b.params["cuts"] == c.params["cuts"]
    # reproducible
    pd.testing.assert_frame_equal(b.data, make_ite_binary(5, random_state=3).data)


def test_outcome_frequencies_agree_with_the_true_risks():
    sim = make_ite_binary(8, random_state=11)
    d, truth = sim.data, sim.truth
    for arm, col in ((0, "p0"), (1, "p1")):
        sel = d["treatment"] == arm
        p = truth.loc[sel, col].to_numpy()
        # observed events vs expected: z-statistic of a sum of Bernoullis
        z = (d.loc[sel, "y"].sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
        assert abs(z) < 4


def test_glm_with_trial_specific_intercepts_and_effects_recovers_beta_and_gamma():
    # in a linear scenario the model is a GLM: trial intercepts and trial treatment effects
    # (absorbing u_l and h_l), common slopes s*beta and interactions s*gamma
    sim = make_ite_binary(7, random_state=5, n_trials=30)
    d = sim.data
    trial = pd.get_dummies(d["trial"], prefix="a", dtype=float)
    trt = trial.mul(d["treatment"], axis=0).add_prefix("d_")
    inter = d[X].mul(d["treatment"], axis=0).add_prefix("t:")
    design = pd.concat([trial, trt, d[X], inter], axis=1)
    fit = sm.GLM(d["y"], design, family=sm.families.Binomial()).fit()
    est = fit.params[X + [f"t:{x}" for x in X]].to_numpy()
    se = fit.bse[X + [f"t:{x}" for x in X]].to_numpy()
    true = BINARY_SCALE * np.r_[ITE_BETA, ITE_GAMMA["large"]]
    z = (est - true) / se
    assert np.all(np.abs(z) < 4.5), z.round(2)


def test_registry_and_ipd_infer_a_binary_outcome():
    sim = simulate("ite-binary", seed=1, scenario=2)
    assert sim.name == "ite-binary" and sim.params["scenario"] == 2
    ipd = sim.ipd()
    assert ipd.outcome_type == "binary"
    assert sorted(ipd.trials, key=int) == [str(i) for i in range(1, 11)]

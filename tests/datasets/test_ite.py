"""make_ite_continuous: the 16 scenarios, truth consistency and parameter recovery."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipdma.datasets import ITE_BETA, ITE_GAMMA, ITE_SCENARIOS, make_ite_continuous
from ipdma.errors import ModelSpecificationError

X = [f"x{j}" for j in range(1, 9)]


def g_nonlinear(x: pd.DataFrame) -> np.ndarray:
    """g(x) of the design, written out from the docstring."""
    return (1.5 * np.log(1 + np.abs(x["x1"])) + 1.5 * x["x2"] * np.sqrt(x["x3"] ** 2 + 1)
            - 1.4 * (np.abs(x["x5"]) + 2) - 1.8 * np.abs(x["x3"] * x["x5"]) ** (2 / 3)).to_numpy()


def test_scenario_table_is_the_full_factorial_in_expand_grid_order():
    t = ITE_SCENARIOS
    assert t.index.tolist() == list(range(1, 17)) and t.index.name == "scenario"
    combos = list(zip(t["tau2"], t["effect_modification"], t["trial_size"], t["nonlinear"]))
    expected = [(tau2, em, n, nl) for nl, n, em, tau2 in itertools.product(
        (False, True), ("small", "large"), ("small", "large"), (0.2, 0.5))]
    assert combos == expected
    assert t.loc[1, "gamma_range"] == "U(-1.5, 1.5)" and t.loc[4, "gamma_range"] == "U(-3, 3)"
    assert (t.loc[t["trial_size"] == "small", ["n_min", "n_max"]] == [50, 200]).all().all()
    assert (t.loc[t["trial_size"] == "large", ["n_min", "n_max"]] == [300, 600]).all().all()


@pytest.mark.parametrize("scenario", range(1, 17))
def test_every_scenario_matches_its_declared_parameters(scenario):
    row = ITE_SCENARIOS.loc[scenario]
    sim = make_ite_continuous(scenario, random_state=100 + scenario, n_test_per_trial=200)
    d, t, p, test = sim.data, sim.truth, sim.params, sim.test
    assert p["scenario"] == scenario and p["tau2"] == row["tau2"]
    assert p["nonlinear"] == row["nonlinear"] and p["effect_modification"] == row[
        "effect_modification"]
    assert tuple(p["gamma"].values()) == ITE_GAMMA[row["effect_modification"]]
    assert tuple(p["beta"].values()) == ITE_BETA
    # 10 trials of the declared size range, 3 test trials of 200
    sizes = d.groupby("trial").size()
    assert sizes.index.tolist() == list(range(1, 11))
    assert sizes.between(row["n_min"], row["n_max"]).all()
    assert sizes.to_dict() == p["n_per_trial"]
    assert test.groupby("trial").size().to_dict() == {11: 200, 12: 200, 13: 200}
    assert list(d.columns) == ["trial", "id", "treatment", *X, "y"]
    assert list(test.columns) == ["trial", "id", "treatment", *X, "y", "ite_true"]
    assert np.array_equal(d["id"], np.arange(1, len(d) + 1))
    assert test["id"].min() == len(d) + 1
    for frame in (d, test):
        assert set(frame["treatment"]) == {0, 1}
        for col in ("x2", "x4", "x6", "x8"):
            assert set(frame[col]) <= {0.0, 1.0}
    # the true ITE follows the declared mechanism, for training and test patients
    gamma = np.array(list(p["gamma"].values()))
    g = g_nonlinear(d) if row["nonlinear"] else 0.0
    h = d["trial"].map(p["h"]).to_numpy()
    np.testing.assert_allclose(t["ite_true"], 2 + h + g + d[X].to_numpy() @ gamma, atol=1e-12)
    np.testing.assert_allclose(t["mu1"] - t["mu0"], t["ite_true"], atol=1e-12)
    u = d["trial"].map(p["u"]).to_numpy()
    np.testing.assert_allclose(t["mu0"], 2 + u + d[X].to_numpy() @ ITE_BETA, atol=1e-12)
    g_test = g_nonlinear(test) if row["nonlinear"] else 0.0
    h_new = test["trial"].map(p["h_new"]).to_numpy()
    np.testing.assert_allclose(test["ite_true"],
                               2 + h_new + g_test + test[X].to_numpy() @ gamma, atol=1e-12)
    # residuals have variance 0.5
    resid = d["y"] - np.where(d["treatment"] == 1, t["mu1"], t["mu0"])
    n = len(resid)
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], n) / n * 0.5
    assert lo < np.mean(resid**2) < hi


def test_covariate_distribution_and_cut_points():
    sim = make_ite_continuous(6, random_state=7, n_trials=10, n_test_per_trial=2000)
    x = pd.concat([sim.data[X], sim.test[X]], ignore_index=True)
    n = len(x)
    cuts = sim.params["cuts"]
    assert cuts["c2"] == 0 and -1 < cuts["c4"] < 1 and 0 < cuts["c6"] < 1 and -1 < cuts["c8"] < 0
    # continuous entries: N(0, 1 + 1.5); corr(x_j, x_k) = 0.35^|j-k| / 2.5
    for col in ("x1", "x3", "x5", "x7"):
        assert abs(x[col].mean()) < 4 * np.sqrt(2.5 / n)
        assert x[col].var() == pytest.approx(2.5, rel=4 * np.sqrt(2 / n))
    r13 = np.corrcoef(x["x1"], x["x3"])[0, 1]
    assert r13 == pytest.approx(0.35**2 / 2.5, abs=4 / np.sqrt(n))
    # binary entries: P(N(0, 2.5) < c)
    for col, c in (("x2", 0.0), ("x4", cuts["c4"]), ("x6", cuts["c6"]), ("x8", cuts["c8"])):
        prob = stats.norm.cdf(c / np.sqrt(2.5))
        assert x[col].mean() == pytest.approx(prob, abs=4 * np.sqrt(prob * (1 - prob) / n))
    # x1 and x2 are correlated through the latent MVN (x2 = 1[latent < 0])
    assert np.corrcoef(x["x1"], x["x2"])[0, 1] < -0.05


def test_ols_with_interactions_recovers_effect_modifiers():
    """Large linear scenario: y ~ trial + x + trial:t + t:x recovers beta and gamma."""
    sim = make_ite_continuous(5, random_state=2026, n_trials=10, n_test_trials=0)
    d, p = sim.data, sim.params
    trial = pd.get_dummies(d["trial"], dtype=float)
    t = d["treatment"].to_numpy(dtype=float)
    xm = d[X].to_numpy()
    design = np.column_stack([trial.to_numpy(), xm, trial.to_numpy() * t[:, None],
                              xm * t[:, None]])
    coef, *_ = np.linalg.lstsq(design, d["y"].to_numpy(), rcond=None)
    resid = d["y"].to_numpy() - design @ coef
    dof = len(d) - design.shape[1]
    sigma2 = resid @ resid / dof
    cov = sigma2 * np.linalg.inv(design.T @ design)
    k = trial.shape[1]
    truth = np.concatenate([
        2 + np.array(list(p["u"].values())), ITE_BETA,
        2 + np.array(list(p["h"].values())), list(p["gamma"].values()),
    ])
    z = (coef - truth) / np.sqrt(np.diag(cov))
    assert np.all(np.abs(z) < 3.5), z
    gam = slice(2 * k + 8, 2 * k + 16)
    diff = (coef - truth)[gam]
    chi2 = diff @ np.linalg.solve(cov[gam, gam], diff)
    assert stats.chi2.sf(chi2, 8) > 0.001
    assert sigma2 == pytest.approx(0.5, rel=0.1)


def test_trial_effects_have_declared_variance():
    """Across many trials the drawn h_l and u_l have variances tau2 = 0.2 and 0.5."""
    sim = make_ite_continuous(1, random_state=9, n_trials=400, n_test_trials=0)
    h = np.array(list(sim.params["h"].values()))
    u = np.array(list(sim.params["u"].values()))
    for draws, var in ((h, 0.2), (u, 0.5)):
        lo, hi = stats.chi2.ppf([0.0005, 0.9995], len(draws) - 1) / (len(draws) - 1) * var
        assert lo < draws.var(ddof=1) < hi


def test_draw_gamma_uses_the_scenario_range():
    small = make_ite_continuous(1, random_state=3, draw_gamma=True, n_test_trials=0)
    large = make_ite_continuous(4, random_state=3, draw_gamma=True, n_test_trials=0)
    gs, gl = np.array(list(small.params["gamma"].values())), np.array(
        list(large.params["gamma"].values()))
    assert np.all(np.abs(gs) <= 1.5) and np.all(np.abs(gl) <= 3)
    assert not np.allclose(gs, ITE_GAMMA["small"])
    np.testing.assert_array_equal(gs, np.round(gs, 2))


def test_sizes_of_test_set_and_number_of_trials():
    sim = make_ite_continuous(1, random_state=0, n_trials=4, n_test_trials=2,
                              n_test_per_trial=50)
    assert sim.data["trial"].nunique() == 4
    assert sim.test["trial"].unique().tolist() == [5, 6]
    assert list(sim.params["h_new"]) == [5, 6]
    empty = make_ite_continuous(1, random_state=0, n_test_trials=0).test
    assert len(empty) == 0 and "ite_true" in empty.columns
    assert make_ite_continuous(3.0, random_state=0).params["scenario"] == 3


@pytest.mark.parametrize("bad", [0, 17, -1, 2.5, "1", None, True])
def test_invalid_scenario_is_a_clear_error(bad):
    with pytest.raises(ModelSpecificationError, match=r"scenario.*1 (to|and) 16|1 to 16"):
        make_ite_continuous(bad, random_state=0)


@pytest.mark.parametrize("kwargs", [{"n_trials": 0}, {"n_test_trials": -1},
                                    {"n_test_per_trial": 0}, {"n_trials": 2.5}])
def test_invalid_sizes(kwargs):
    with pytest.raises(ModelSpecificationError, match=next(iter(kwargs))):
        make_ite_continuous(1, random_state=0, **kwargs)

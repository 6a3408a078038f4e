"""make_lbp_trials: structure, subgroup truth, trial heterogeneity and the trial-confounding trap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ipdma.datasets import LBP_COVARIATES, make_lbp_trials
from ipdma.errors import ModelSpecificationError


@pytest.fixture(scope="module")
def sim():
    return make_lbp_trials(random_state=2025)


def ols(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    sigma2 = resid @ resid / (len(y) - design.shape[1])
    return coef, sigma2 * np.linalg.inv(design.T @ design)


def test_structure_and_covariates(sim):
    d = sim.data
    assert list(d.columns) == ["trial", "id", "treatment", *LBP_COVARIATES, "rmdq"]
    assert sorted(d["trial"].unique()) == [f"T{j}" for j in range(1, 8)]
    sizes = d.groupby("trial").size()
    assert sizes.between(120, 250).all() and sizes.to_dict() == sim.params["n_per_trial"]
    assert set(d["treatment"]) == {0, 1} and set(d["sex"]) == {"female", "male"}
    assert d["rmdq0"].between(0, 24).all() and d["pain"].between(0, 10).all()
    assert d["depression"].between(0, 27).all() and (d["duration"] >= 3).all()
    assert set(d["employed"]) == {0, 1}
    assert d.notna().all().all()
    assert 0.2 < sim.truth["subgroup"].mean() < 0.5


def test_truth_follows_documented_model(sim):
    d, t, p = sim.data, sim.truth, sim.params
    assert p["subgroup_rule"] == "rmdq0 > 13"
    np.testing.assert_array_equal(t["subgroup"], d["rmdq0"] > 13)
    b = d["trial"].map(p["b"]).to_numpy()
    np.testing.assert_allclose(t["effect_mean"], -1.0 - 2.5 * t["subgroup"])
    np.testing.assert_allclose(t["effect_true"], t["effect_mean"] + b)
    np.testing.assert_allclose(t["mu0"], d["trial"].map(p["alpha"]))
    np.testing.assert_allclose(t["mu1"] - t["mu0"], t["effect_true"])
    resid = d["rmdq"] - np.where(d["treatment"] == 1, t["mu1"], t["mu0"])
    n = len(resid)
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], n) / n * 16.0
    assert lo < np.mean(resid**2) < hi
    # the trial intercepts follow the trials' mean age: 10 + 2 (m_j - 50) / 10 + N(0, 0.5^2)
    m = pd.Series(p["age_mean"])
    np.testing.assert_allclose(sorted(m), np.linspace(38, 62, 7))
    dev = pd.Series(p["alpha"]) - (10 + 2 * (m - 50) / 10)
    assert np.all(np.abs(dev) < 4 * 0.5)


def test_age_is_noise_within_trials_but_separates_trials(sim):
    """The trap: age predicts the outcome across trials only."""
    d = sim.data
    trial_age = d.groupby("trial")["age"].mean()
    trial_y0 = d[d["treatment"] == 0].groupby("trial")["rmdq"].mean()
    assert np.corrcoef(trial_age, trial_y0)[0, 1] > 0.7
    # pooled regression of y on age (ignoring trials) finds a clear slope ...
    x = np.column_stack([np.ones(len(d)), d["treatment"], d["age"]])
    coef, cov = ols(x, d["rmdq"].to_numpy())
    assert coef[2] / np.sqrt(cov[2, 2]) > 3
    # ... which vanishes once trial intercepts are in the model
    trial = pd.get_dummies(d["trial"], dtype=float).to_numpy()
    x = np.column_stack([trial, trial * d["treatment"].to_numpy()[:, None], d["age"]])
    coef, cov = ols(x, d["rmdq"].to_numpy())
    assert abs(coef[-1]) < 3 * np.sqrt(cov[-1, -1])


def test_pooled_model_recovers_subgroup_effect(sim):
    """y ~ trial + trial:t + t:S recovers b_j - 1 per trial and Delta = -2.5."""
    d, p = sim.data, sim.params
    trial = pd.get_dummies(d["trial"], dtype=float)
    t = d["treatment"].to_numpy(dtype=float)
    s = (d["rmdq0"] > 13).to_numpy(dtype=float)
    x = np.column_stack([trial.to_numpy(), trial.to_numpy() * t[:, None], s, t * s])
    coef, cov = ols(x, d["rmdq"].to_numpy())
    k = trial.shape[1]
    truth = np.concatenate([trial.columns.map(p["alpha"]).to_numpy(dtype=float),
                            -1.0 + trial.columns.map(p["b"]).to_numpy(dtype=float), [0.0, -2.5]])
    z = (coef - truth) / np.sqrt(np.diag(cov))
    assert np.all(np.abs(z) < 3.5), z
    sel = slice(k, 2 * k + 2)
    diff = (coef - truth)[sel]
    assert stats.chi2.sf(diff @ np.linalg.solve(cov[sel, sel], diff), k + 2) > 0.001


def test_trial_level_treatment_effect_variance():
    """With many trials, a DerSimonian-Laird tau^2 of the per-trial effects brackets tau^2 = 0.64,
    and the drawn b_j have variance tau^2."""
    sim = make_lbp_trials(random_state=11, n_trials=60, n_per_trial=200)
    d, p = sim.data, sim.params
    s = (d["rmdq0"] > 13).to_numpy(dtype=float)
    est, var = [], []
    for label, idx in d.groupby("trial").indices.items():  # loop over trials, not patients
        t = d["treatment"].to_numpy(dtype=float)[idx]
        x = np.column_stack([np.ones(len(idx)), t, s[idx], t * s[idx]])
        coef, cov = ols(x, d["rmdq"].to_numpy()[idx])
        est.append(coef[1])
        var.append(cov[1, 1])
        assert abs(coef[1] - (-1.0 + p["b"][label])) < 4 * np.sqrt(cov[1, 1])
    est, var = np.array(est), np.array(var)
    w = 1 / var
    mu = np.sum(w * est) / w.sum()
    q = np.sum(w * (est - mu) ** 2)
    k = len(est)
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum()))
    se_tau2 = np.sqrt(2 / (k - 1)) * (0.64 + var.mean())
    assert abs(tau2 - 0.64) < 3 * se_tau2
    assert mu == pytest.approx(-1.0, abs=3 * np.sqrt(1 / w.sum() + 0.64 / k))
    b = np.array(list(p["b"].values()))
    lo, hi = stats.chi2.ppf([0.0005, 0.9995], k - 1) / (k - 1) * 0.64
    assert lo < b.var(ddof=1) < hi


def test_options_prognostic_and_discretize():
    base = make_lbp_trials(random_state=8)
    prog = make_lbp_trials(random_state=8, prognostic=True)
    d, t = prog.data, prog.truth
    extra = 0.5 * (d["rmdq0"] - 12) + 0.3 * (d["pain"] - 6) + 0.15 * (d["depression"] - 7)
    np.testing.assert_allclose(t["mu0"] - base.truth["mu0"], extra, atol=1e-12)
    pd.testing.assert_frame_equal(base.data.drop(columns="rmdq"), d.drop(columns="rmdq"))
    disc = make_lbp_trials(random_state=8, discretize=True)
    y = disc.data["rmdq"]
    assert y.between(0, 24).all() and (y == np.round(y)).all()
    raw = np.round(base.data["rmdq"])
    assert disc.params["fraction_clipped"] == pytest.approx(np.mean((raw < 0) | (raw > 24)))
    np.testing.assert_array_equal(y, np.clip(raw, 0, 24))
    assert base.params["fraction_clipped"] == 0.0
    fixed = make_lbp_trials(random_state=1, n_trials=3, n_per_trial=[30, 40, 50])
    assert fixed.data.groupby("trial").size().tolist() == [30, 40, 50]


@pytest.mark.parametrize("kwargs, match", [
    ({"n_trials": 1}, "n_trials must be an integer >= 2"),
    ({"n_per_trial": [100, 100]}, "one per trial"),
    ({"n_per_trial": 5}, "n_per_trial must be integers >= 10"),
    ({"sigma": -1.0}, "sigma is a standard deviation"),
    ({"tau": float("nan")}, "tau is a standard deviation"),
])
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ModelSpecificationError, match=match):
        make_lbp_trials(random_state=0, **kwargs)

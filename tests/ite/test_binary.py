"""Binary two-stage ITE: invariances, every feasible pair end to end, federation, families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special

from ipdma.errors import InfeasibleMethodError, ModelSpecificationError
from ipdma.families import BinaryFamily, ContinuousFamily, check_family, get_family
from ipdma.ite import (
    LogisticLearner,
    TwoStageITE,
    compare_methods,
    feasible_pairs,
    fit_methods,
    get_learner,
    learner_available,
    pool_sites,
)

XS = ["x1", "x2", "x3"]
COLS = dict(trial="trial", treatment="t", outcome="y", covariates=XS, treated=1)
FAST = {
    "xgboost": {"max_depth": (2,), "eta": (0.1,), "nrounds": (50,), "nfold": 3},
    "causal-forest": {"n_estimators": 100},
    "bayes-logistic": {"num_samples": 500, "num_warmup": 200},
    "bayes-mvma": {"num_samples": 300, "num_warmup": 200, "num_chains": 1},
}


def simulate(K=5, n=(250, 400), seed=1, n_test=400):
    """Logistic analogue of the Mainetti design: trial intercepts and treatment effects,
    linear effect modification; true risk differences on test patients of a new trial."""
    rng = np.random.default_rng(seed)
    beta = np.array([0.6, -0.4, 0.3])
    gamma = np.array([0.8, -0.6, 0.0])
    rows = []
    for k in range(K):
        m = int(rng.integers(*n))
        X = rng.normal(size=(m, 3))
        t = rng.integers(0, 2, m)
        u, h = rng.normal(0, 0.3), rng.normal(0, 0.2)
        eta = -0.5 + u + X @ beta + t * (-0.5 + h + X @ gamma)
        y = (rng.random(m) < special.expit(eta)).astype(int)
        rows.append(pd.DataFrame({"trial": k + 1, "t": t, "y": y, **{f"x{j + 1}": X[:, j]
                                                                   for j in range(3)}}))
    Xt = rng.normal(size=(n_test, 3))
    eta0 = -0.5 + Xt @ beta
    eta1 = eta0 - 0.5 + Xt @ gamma
    test = pd.DataFrame(Xt, columns=XS)
    test["true_ite"] = special.expit(eta1) - special.expit(eta0)
    return pd.concat(rows, ignore_index=True), test


@pytest.fixture(scope="module")
def sim():
    return simulate()


# ---------------------------------------------------------------------------- families
def test_family_protocol():
    b, c = get_family("binary"), get_family("continuous")
    assert isinstance(b, BinaryFamily) and isinstance(c, ContinuousFamily)
    assert b.n_outcome_columns == 1 and b.scales == ("rd", "logor")
    assert c.default_scale == "difference"
    eta = np.array([-1.0, 0.3])
    y = np.array([0.0, 1.0])
    # score = d loglik / d eta (numerical check) and estfun = score * X
    h = 1e-6
    num = (b.loglik_obs(y, eta + h) - b.loglik_obs(y, eta - h)) / (2 * h)
    np.testing.assert_allclose(b.score_obs(y, eta), num, rtol=1e-6)
    X = np.array([[1.0, 2.0], [1.0, -1.0]])
    np.testing.assert_allclose(b.estfun(y, eta, X), b.score_obs(y, eta)[:, None] * X)
    # ITE gradient (numerical)
    e0, e1 = np.array([0.2]), np.array([-0.4])
    for fam, sc in ((b, "rd"), (b, "logor"), (c, None)):
        g0, g1 = fam.ite_grad(e0, e1, sc)
        np.testing.assert_allclose(g0, (fam.ite(e0 + h, e1, sc) - fam.ite(e0 - h, e1, sc)) / (2 * h),
                                   rtol=1e-6)
        np.testing.assert_allclose(g1, (fam.ite(e0, e1 + h, sc) - fam.ite(e0, e1 - h, sc)) / (2 * h),
                                   rtol=1e-6)
    with pytest.raises(ModelSpecificationError, match="rd"):
        b.check_scale("rr")
    with pytest.raises(ModelSpecificationError, match="continuous"):
        check_family(get_learner("ols"), "binary")


def test_every_component_declares_families():
    from ipdma.families import FAMILIES
    from ipdma.ite import LEARNERS, POOLERS

    assert set(FAMILIES) == {"continuous", "binary", "survival"}
    for cls in [*LEARNERS.values(), *POOLERS.values()]:
        assert cls.families <= set(FAMILIES) and cls.families
    assert get_learner("ols").outcome_types == frozenset({"continuous"})


def test_ipd_exposes_family(sim):
    from ipdma.data import IPD

    ipd = IPD(sim[0], trial="trial", treatment="t", outcome="y", covariates=XS)
    assert ipd.outcome_type == "binary" and ipd.family == BinaryFamily()


def test_unsupported_combination_lists_supported(sim):
    with pytest.raises(ModelSpecificationError, match="logistic\\+mvma"):
        TwoStageITE("ols", "mvma").fit(sim[0], **COLS)
    with pytest.raises(ModelSpecificationError, match="coefficients"):
        TwoStageITE("xgboost", "weighted-aux-ols", scale="logor",
                    learner_options=FAST["xgboost"]).fit(sim[0], **COLS)
    with pytest.raises(InfeasibleMethodError):
        TwoStageITE("logistic-lasso", "mvma")


# ---------------------------------------------------------------------------- invariances
def _all_binary_poolers():
    return [p for lrn, p in feasible_pairs("binary") if lrn == "logistic"]


@pytest.mark.parametrize("pooler", ["mvma", "weighted-aux-ols", "weighted-bootstrap",
                                    "bayes-mvma", "posterior-mix"])
def test_identical_trials_return_the_single_trial_rd(sim, pooler):
    train, test = sim
    one = train[train["trial"] == 1]
    rep = pd.concat([one.assign(trial=k) for k in (1, 2, 3)], ignore_index=True)
    lrn = "bayes-logistic" if pooler in ("bayes-mvma", "posterior-mix") else "logistic"
    if (lrn, pooler) not in feasible_pairs("binary"):
        pytest.skip(f"{lrn}+{pooler} not available")
    opts = {"pooler_options": {"random_state": 0, **FAST["bayes-mvma"]}} \
        if pooler == "bayes-mvma" else {}
    model = TwoStageITE(lrn, pooler, n_boot=20, random_state=3,
                        learner_options=FAST.get(lrn), **opts).fit(rep, **COLS)
    pred = model.predict(test[XS])
    single = pred["ite_1"].to_numpy()
    if lrn == "logistic":
        for k in (2, 3):
            np.testing.assert_allclose(pred[f"ite_{k}"], single, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(pred["ite"], single, atol=1e-8)
    else:
        # MCMC: every trial's posterior is the same up to Monte Carlo error (its own
        # seed), and the pooled RD is that posterior's RD up to Monte Carlo error
        per = pred[["ite_1", "ite_2", "ite_3"]].to_numpy()
        assert np.max(np.abs(per - per.mean(axis=1, keepdims=True))) < 0.02
        assert np.max(np.abs(pred["ite"] - per.mean(axis=1))) < 0.02


@pytest.mark.parametrize("pair", [("logistic", "mvma"), ("logistic", "weighted-aux-ols"),
                                  ("logistic-lasso", "weighted-aux-ols")])
def test_rd_invariant_to_label_swap_and_row_order(sim, pair):
    train, test = sim
    kw = {"random_state": 0}
    base = TwoStageITE(*pair, **kw).fit(train, **COLS).predict(test[XS])
    # swapped outcome labels: risk difference of the complementary event = -RD
    flipped = train.assign(y=1 - train["y"])
    swap = TwoStageITE(*pair, **kw).fit(flipped, **COLS).predict(test[XS])
    tol = 1e-6 if pair[0] == "logistic" else 1e-4
    np.testing.assert_allclose(swap["ite"], -base["ite"], atol=tol)
    np.testing.assert_allclose(swap["se"], base["se"], atol=tol)
    np.testing.assert_allclose(swap["p0"], 1 - base["p0"], atol=tol)
    # arm order in the file (treated patients first) does not matter for glm-based pairs
    if pair[0] == "logistic":
        shuffled = train.sort_values(["trial", "t"], ascending=[True, False], kind="stable")
        again = TwoStageITE(*pair, **kw).fit(shuffled, **COLS).predict(test[XS])
        np.testing.assert_allclose(again["ite"], base["ite"], atol=1e-9)


def test_logor_scale(sim):
    train, test = sim
    m = TwoStageITE("logistic", "mvma", scale="logor").fit(train, **COLS)
    pred = m.predict(test[XS])
    b = m.pooler_.coef_
    np.testing.assert_allclose(pred["ite"], b[1] + test[XS].to_numpy() @ b[5:8], rtol=1e-10)
    assert m.site_summaries()[0].scale == "logor"


# ---------------------------------------------------------------------------- end to end
_SLOW_PAIRS = {("logistic-lasso", "weighted-bootstrap"), ("logistic-ridge", "weighted-bootstrap"),
               ("logistic-elasticnet", "weighted-bootstrap")}


@pytest.fixture(scope="module")
def design():
    """make_ite_binary scenario 7 (large trials, large effect modification), 6 trials and
    two new trials of 500 patients with their true risk differences."""
    from ipdma.datasets import make_ite_binary

    return make_ite_binary(7, random_state=3, n_trials=6, n_test_trials=2,
                           n_test_per_trial=500)


def _run_pairs(sim, pairs, n_boot):
    fits = fit_methods(sim.ipd(), [f"{a}+{b}" for a, b in pairs], n_boot=n_boot,
                       random_state=1,
                       learner_options={k: v for k, v in FAST.items()
                                        if k in {a for a, _ in pairs}},
                       pooler_options={k: v for k, v in FAST.items()
                                       if k in {b for _, b in pairs}})
    truth = sim.test["ite_true"].to_numpy()
    const = np.median(np.abs(truth - truth.mean()))      # the oracle constant prediction
    X = sim.test[sim.columns["covariates"]]
    for name, model in fits.items():
        pred = model.predict(X)
        assert np.isfinite(pred["ite"]).all(), name
        assert np.all(np.abs(pred["ite"]) <= 1), name
        assert pred["se"].gt(0).all(), name
        mae = np.median(np.abs(pred["ite"] - truth))
        assert mae < const, (name, mae, const)
        if "p0" in pred:
            np.testing.assert_allclose(pred["p1"] - pred["p0"], pred["ite"], atol=1e-10)


def test_every_feasible_binary_pair_beats_a_constant(design):
    pairs = [p for p in feasible_pairs("binary") if learner_available(p[0])
             and p not in _SLOW_PAIRS]
    assert ("logistic", "mvma") in pairs and ("xgboost", "weighted-bootstrap") in pairs
    assert ("bayes-logistic", "posterior-mix") in pairs
    assert ("bayes-logistic", "bayes-mvma") in pairs
    _run_pairs(design, pairs, n_boot=20)


@pytest.mark.slow
def test_penalised_bootstrap_pairs_beat_a_constant(design):
    _run_pairs(design, sorted(_SLOW_PAIRS), n_boot=10)


def test_federated_binary_equals_in_memory(sim, tmp_path):
    train, test = sim
    for pair in [("logistic", "mvma"), ("logistic-lasso", "weighted-aux-ols")]:
        model = TwoStageITE(*pair, random_state=5).fit(train, **COLS)
        mem = model.predict(test[XS])
        files = model.export_sites(tmp_path / pair[0], X_new=test[XS], fmt="npz")
        fed = pool_sites(files, pair[1], X_new=test[XS] if pair[1] == "mvma" else None)
        pd.testing.assert_frame_equal(fed, mem.reset_index(drop=True), check_exact=True)
        js = model.export_sites(tmp_path / (pair[0] + "j"), X_new=test[XS], fmt="json")
        fed = pool_sites(js, pair[1], X_new=test[XS] if pair[1] == "mvma" else None)
        pd.testing.assert_frame_equal(fed, mem.reset_index(drop=True), check_exact=True)


def test_compare_methods_binary_ranks_by_c_for_benefit(sim):
    train, _ = sim
    cmp = compare_methods(train, ["logistic+mvma", "logistic+weighted-aux-ols"],
                          random_state=0, **COLS)
    assert cmp.rank_by == "c_for_benefit"
    tab = cmp.to_frame()
    assert {"c_for_benefit", "calib_slope", "calib_intercept"} <= set(tab.columns)
    assert tab["c_for_benefit"].is_monotonic_decreasing
    assert tab["c_for_benefit"].between(0, 1).all()


def test_logistic_learner_bootstrap_and_var():
    train, test = simulate(K=1, n=(400, 401))
    lrn = LogisticLearner().fit(train[XS], train["t"], train["y"], family="binary")
    boot = lrn.bootstrap(train[XS], train["t"], train["y"], n_boot=200, random_state=0)
    bvar = np.var(boot.predict_ite(test[XS].to_numpy()[:5], scale="rd"), axis=0, ddof=1)
    # bootstrap and delta-method variances agree roughly
    ratio = bvar / lrn.ite_var(test[XS].to_numpy()[:5])
    assert np.all((ratio > 0.5) & (ratio < 2.0))

"""The gradient-boosted Cox learner (``xgboost-cox``) for time-to-event ITEs."""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.datasets import make_survival_trials
from ipdma.errors import ModelSpecificationError
from ipdma.families import SurvivalFamily
from ipdma.ite import TwoStageITE, XGBoostCoxLearner, default_pooler, feasible_pairs
from ipdma.survival import cox_partial_likelihood

pytest.importorskip("xgboost")

XS = ["x1", "x2", "x3", "x4"]


@pytest.fixture(scope="module")
def sim():
    return make_survival_trials(random_state=11, n_test_per_trial=200)


def _trial(seed=0, n=300):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    t = rng.integers(0, 2, n)
    T = rng.exponential(np.exp(-(0.8 * X[:, 0] + t * (-0.7 + 0.5 * X[:, 1]))))
    y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    return X, t, y


def test_breslow_baseline_on_margin_and_arm_values():
    X, t, y = _trial()
    fam = SurvivalFamily(horizon=1.0, tau=2.0)
    m = XGBoostCoxLearner(max_depth=(2,), nfold=3).fit(X, t, y, family=fam, random_state=0)
    f0, f1 = m.predict_margin(X)
    f = np.where(t == 1, f1, f0)
    # H0 is Breslow's estimator with the margin as offset: sum_k d_k / sum_{risk set} e^f
    times, d = y[:, 0], y[:, 1]
    ev = np.unique(times[d == 1])
    risk = np.exp(f)
    inc = np.array([d[times == s].sum() / risk[times >= s].sum() for s in ev])
    np.testing.assert_allclose(m.baseline_.cumhaz, np.cumsum(inc), rtol=1e-10)
    S0, S1 = m.predict_arms(X[:5])
    H = np.cumsum(inc)[np.searchsorted(ev, 1.0, side="right") - 1]
    np.testing.assert_allclose(S0, np.exp(-H * np.exp(f0[:5])), rtol=1e-10)
    np.testing.assert_allclose(m.predict_ite(X[:5]), S1 - S0, atol=1e-15)
    np.testing.assert_allclose(m.predict_ite(X[:5], scale="loghr"), f1[:5] - f0[:5])
    # the boosted margin improves the partial likelihood over the null model
    ll = cox_partial_likelihood(np.ones(1), f[:, None], times, d, ties="breslow")[0]
    ll0 = cox_partial_likelihood(np.zeros(1), f[:, None], times, d, ties="breslow")[0]
    assert ll > ll0


def test_t_learner_per_arm_baselines_and_no_hazard_ratio():
    X, t, y = _trial(1)
    fam = SurvivalFamily(horizon=1.0, tau=2.0)
    m = XGBoostCoxLearner(meta="t", max_depth=(1, 2), nfold=3).fit(X, t, y, family=fam,
                                                                   random_state=0)
    assert set(m.baseline_) == {0, 1} and set(m.tuned_) == {0, 1}
    assert m.baseline_[1].max_time == y[t == 1, 0].max()
    r0, r1 = m.predict_arms(X[:4], scale="rmstdiff")
    assert np.all((r0 > 0) & (r0 <= 2.0)) and np.all((r1 > 0) & (r1 <= 2.0))
    with pytest.raises(ModelSpecificationError, match="no hazard ratio"):
        m.predict_ite(X[:4], scale="loghr")
    with pytest.raises(ModelSpecificationError, match="meta="):
        XGBoostCoxLearner(meta="x")


def test_seeded_and_bootstrap_reuses_tuning():
    X, t, y = _trial(2, n=200)
    fam = SurvivalFamily(horizon=1.0)
    a = XGBoostCoxLearner(max_depth=(1, 2), nfold=3).fit(X, t, y, family=fam, random_state=5)
    b = XGBoostCoxLearner(max_depth=(1, 2), nfold=3).fit(X, t, y, family=fam, random_state=5)
    np.testing.assert_array_equal(a.predict_ite(X), b.predict_ite(X))
    boot = a.bootstrap(X, t, y, n_boot=3, random_state=0)
    assert all(mb.tuned_ == a.tuned_ for mb in boot.models)
    assert boot.predict_ite(X[:7], scale="survdiff").shape == (3, 7)


def test_pairs_and_default_pooler():
    assert default_pooler("xgboost-cox", "survival") == "weighted-aux-ols"
    pairs = feasible_pairs("survival")
    assert {("xgboost-cox", "weighted-aux-ols"), ("xgboost-cox", "weighted-bootstrap"),
            ("xgboost-cox", "unweighted")} <= set(pairs)
    assert ("xgboost-cox", "mvma") not in pairs


@pytest.mark.parametrize(("meta", "scale", "kw", "factor"), [
    ("s", "survdiff", {"horizon": 2.0}, 1.0),
    ("t", "survdiff", {"horizon": 2.0}, 0.8),
    ("t", "rmstdiff", {"tau": 3.0}, 0.8),
])
def test_recovers_true_ites_better_than_constant(sim, meta, scale, kw, factor):
    """Seeded end to end on make_survival_trials: the pooled ITEs beat the best constant
    (the true mean ITE) in median absolute error; the T-learner by 20 %.  (The
    S-learner's trees shrink the treatment effect towards zero, as S-learners do.)"""
    model = TwoStageITE("xgboost-cox", "weighted-aux-ols", scale=scale, random_state=1,
                        learner_options={"meta": meta}, **kw)
    pred = model.fit(sim.ipd()).predict(sim.test[XS])
    truth = sim.test[f"ite_{scale}"].to_numpy()
    mae = np.median(np.abs(pred["ite"] - truth))
    const = np.median(np.abs(truth.mean() - truth))
    assert mae < factor * const
    assert np.corrcoef(pred["ite"], truth)[0, 1] > 0.6
    np.testing.assert_allclose(pred["p1"] - pred["p0"], pred["ite"], atol=1e-12)
    assert np.all(pred["ci_low"] < pred["ite"]) and np.all(pred["ite"] < pred["ci_high"])


def test_weighted_bootstrap_pooler(sim):
    import dataclasses

    sub = sim.data["trial"].isin(sorted(sim.data["trial"].unique())[:3])
    ipd = dataclasses.replace(sim, data=sim.data[sub]).ipd()
    model = TwoStageITE("xgboost-cox", "weighted-bootstrap", horizon=2.0, n_boot=5,
                        random_state=0, learner_options={"meta": "t", "max_depth": (2,)})
    p = model.fit(ipd).predict(sim.test[XS].iloc[:20])
    assert np.all(p["se"] > 0) and p["ite"].between(-1, 1).all()

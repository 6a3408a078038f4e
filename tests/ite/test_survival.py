"""Time-to-event two-stage ITE: family, learners, poolers, federation, invariances."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.data import IPD
from ipdma.datasets import make_survival_trials
from ipdma.errors import InfeasibleMethodError, ModelSpecificationError, OutcomeError
from ipdma.families import StepBaseline, SurvivalFamily, WeibullBaseline, get_family
from ipdma.ite import (
    CoxLassoLearner,
    CoxLearner,
    TwoStageITE,
    WeibullLearner,
    feasible_pairs,
    fit_site,
    pool_sites,
)
from ipdma.survival import cox_partial_likelihood

XS = ["x1", "x2", "x3", "x4"]
DATA = Path(__file__).parent / "data" / "survfit_se"


@pytest.fixture(scope="module")
def sim():
    return make_survival_trials(random_state=11, n_test_per_trial=200)


@pytest.fixture(scope="module")
def ipd(sim):
    return sim.ipd()


def _tied_sample(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    t = np.round(rng.exponential(np.exp(-X[:, 0])), 1) + 0.1      # heavy ties
    d = (rng.random(n) < 0.7).astype(float)
    return X, t, d


# ------------------------------------------------------------------ family
def test_family_validation_and_scales():
    fam = get_family("survival", horizon=2.0)
    assert fam == SurvivalFamily() and fam.horizon == 2.0
    with pytest.raises(OutcomeError, match="must be > 0"):
        fam.validate([[0.0, 1], [1.0, 0]])
    with pytest.raises(OutcomeError, match="event of row 1"):
        fam.validate([[1.0, 1], [1.0, 2]])
    with pytest.raises(OutcomeError, match=r"\(n, 2\)"):
        fam.validate([1.0, 2.0])
    with pytest.raises(ModelSpecificationError, match="needs tau"):
        SurvivalFamily().ite(0.0, 1.0, "rmstdiff", baseline=WeibullBaseline(1.0))
    with pytest.raises(ModelSpecificationError, match="not an ITE scale"):
        fam.check_scale("rd")
    assert fam.check_scale("rmst_diff") == "rmstdiff"


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_partial_likelihood_gradient_by_finite_differences(ties):
    X, t, d = _tied_sample()
    beta = np.array([0.4, -0.3])
    ll, u, info = cox_partial_likelihood(beta, X, t, d, ties=ties)
    h = 1e-6
    num = np.array([(cox_partial_likelihood(beta + h * e, X, t, d, ties=ties)[0]
                     - cox_partial_likelihood(beta - h * e, X, t, d, ties=ties)[0]) / (2 * h)
                    for e in np.eye(2)])
    np.testing.assert_allclose(u, num, rtol=1e-6, atol=1e-8)
    hess = np.array([(cox_partial_likelihood(beta + h * e, X, t, d, ties=ties)[1]
                      - cox_partial_likelihood(beta - h * e, X, t, d, ties=ties)[1]) / (2 * h)
                     for e in np.eye(2)])
    np.testing.assert_allclose(-info, hess, rtol=1e-5, atol=1e-7)
    # the family's partial likelihood and its score with respect to each eta_i
    fam = SurvivalFamily()
    y = np.column_stack([t, d])
    eta = X @ beta
    assert fam.loglik(y, eta, ties=ties) == pytest.approx(ll, rel=1e-12)
    score = fam.score_obs(y, eta, ties=ties)
    num_eta = np.array([(fam.loglik(y, eta + h * e, ties=ties)
                         - fam.loglik(y, eta - h * e, ties=ties)) / (2 * h)
                        for e in np.eye(len(eta))])
    np.testing.assert_allclose(score, num_eta, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(score @ X, u, rtol=1e-10)


def test_weibull_loglik_and_score():
    X, t, d = _tied_sample(1)
    fam = SurvivalFamily()
    y = np.column_stack([t, d])
    m = WeibullLearner().fit(X, (X[:, 1] > 0).astype(float), y, family=fam)
    e0, e1 = m.predict_eta(X)
    eta = np.where(X[:, 1] > 0, e1, e0)
    assert fam.loglik(y, eta, shape=1 / m.scale_) == pytest.approx(m.loglik_, rel=1e-10)
    h = 1e-6
    sc = fam.score_obs(y, eta, shape=1.3)
    num = (fam.loglik_obs(y, eta + h, shape=1.3) - fam.loglik_obs(y, eta - h, shape=1.3)) / (2 * h)
    np.testing.assert_allclose(sc, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("base", [StepBaseline([0.5, 1.0, 2.5], [0.1, 0.3, 0.8]),
                                  WeibullBaseline(1.3)])
def test_baseline_derivatives(base):
    eta = np.array([-1.0, 0.0, 0.7])
    h = 1e-6
    np.testing.assert_allclose(base.dsurvival(2.0, eta),
                               (base.survival(2.0, eta + h) - base.survival(2.0, eta - h)) / (2 * h),
                               rtol=1e-6)
    np.testing.assert_allclose(base.drmst(3.0, eta),
                               (base.rmst(3.0, eta + h) - base.rmst(3.0, eta - h)) / (2 * h),
                               rtol=1e-6)


def test_weibull_rmst_matches_quadrature():
    from scipy import integrate

    base = WeibullBaseline(1.4)
    val = integrate.quad(lambda s: float(base.survival(s, np.array([0.3]))[0]), 0, 3.0,
                         epsabs=1e-13)[0]
    assert base.rmst(3.0, np.array([0.3]))[0] == pytest.approx(val, rel=1e-9)


# ------------------------------------------------------------------ learners
def test_cox_arm_variance_equals_survfit():
    """Delta-method variance of S(2 | x) including the Breslow baseline = survfit's
    (R oracle in data/survfit_se; rtol 1e-7)."""
    exp = json.loads((DATA / "expected.json").read_text())
    g = pd.read_csv(DATA / "train_trial1.csv")
    X = pd.read_csv(DATA / "test5.csv")[XS].to_numpy()
    m = CoxLearner().fit(g[XS], g["trt"], g[["time", "status"]],
                         family=SurvivalFamily(horizon=2.0))
    for a in (0, 1):
        S = m.predict_arms(X)[a]
        np.testing.assert_allclose(S, exp[f"arm{a}"]["S2"], rtol=1e-8)
        np.testing.assert_allclose(np.sqrt(m.arm_var(X, a)) / S,
                                   exp[f"arm{a}"]["std_err_cumhaz"], rtol=1e-7)


def test_horizon_beyond_follow_up(ipd, sim):
    X = sim.test[XS]
    with pytest.raises(OutcomeError, match="beyond the last follow-up"):
        TwoStageITE("cox", "weighted-aux-ols", horizon=6.0).fit(ipd).predict(X)
    with pytest.raises(OutcomeError, match="extrapolate=True"):
        TwoStageITE("weibull", "weighted-aux-ols", horizon=6.0).fit(ipd).predict(X)
    p = TwoStageITE("weibull", "weighted-aux-ols", horizon=6.0,
                    learner_options={"extrapolate": True}).fit(ipd).predict(X)
    assert np.isfinite(p["ite"]).all()


def test_scale_needs_time_point_and_coefficients(ipd, sim):
    with pytest.raises(ModelSpecificationError, match="needs a horizon"):
        TwoStageITE("cox", "mvma").fit(ipd).predict(sim.test[XS])
    with pytest.raises(ModelSpecificationError, match="time-to-event outcomes only"):
        from ipdma.datasets import make_ite_binary

        TwoStageITE("logistic", "mvma", horizon=2.0).fit(
            make_ite_binary(random_state=0, n_test_per_trial=5).ipd())
    with pytest.raises(InfeasibleMethodError):
        TwoStageITE("cox-lasso", "mvma")
    from ipdma.ite import compare_methods

    with pytest.raises(ModelSpecificationError, match="needs a horizon"):
        compare_methods(ipd, ["cox+mvma"])        # survdiff without its time point
    assert ("cox", "mvma") in feasible_pairs("survival")
    assert ("ols", "mvma") not in feasible_pairs("survival")


# ------------------------------------------------------------------ invariances
@pytest.mark.parametrize("method", ["cox+mvma", "cox+weighted-aux-ols", "weibull+mvma"])
@pytest.mark.parametrize("scale,kw", [("survdiff", {"horizon": 2.0}),
                                      ("rmstdiff", {"tau": 3.0}), ("loghr", {})])
def test_invariance_to_row_and_arm_order(sim, method, scale, kw):
    lrn, pool = method.split("+")
    df = sim.data.copy()
    cols = dict(trial="trial", treatment="arm", time="time", event="event", covariates=XS)
    X = sim.test[XS].iloc[:50]

    def fit(frame, control, treated, flip=False):
        frame = frame.copy()
        frame["arm"] = np.where(frame["treatment"] == 1, treated, control)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ip = IPD(frame, **cols)
        return TwoStageITE(lrn, pool, scale=scale, **kw).fit(
            ip, treated=control if flip else treated).predict(X)

    base = fit(df, "A", "B")                                     # control sorts first
    shuffled = fit(df.sample(frac=1.0, random_state=3).reset_index(drop=True), "A", "B")
    relabelled = fit(df, "Z", "B")                               # treated sorts first
    for other in (shuffled, relabelled):
        np.testing.assert_allclose(other["ite"], base["ite"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(other["se"], base["se"], rtol=1e-6, atol=1e-9)
    # the other arm as "treated": the ITE changes sign, the SE stays -- except for the
    # absolute scales of mvma, which apply the pooled log HR to each trial's *control*
    # arm (the anchor changes with the roles)
    if pool != "mvma" or scale == "loghr":
        flipped = fit(df, "A", "B", flip=True)
        np.testing.assert_allclose(flipped["ite"], -base["ite"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(flipped["se"], base["se"], rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize("method", ["cox+mvma", "cox+weighted-aux-ols", "weibull+mvma",
                                    "cox-lasso+weighted-aux-ols"])
def test_recovers_true_survival_ites_better_than_constant(ipd, sim, method):
    lrn, pool = method.split("+")
    model = TwoStageITE(lrn, pool, horizon=2.0, random_state=1,
                        learner_options={"nfolds": 5, "nlambda": 20} if lrn == "cox-lasso"
                        else None)
    pred = model.fit(ipd).predict(sim.test[XS])
    truth = sim.test["ite_survdiff"].to_numpy()
    mae = np.median(np.abs(pred["ite"] - truth))
    const = np.median(np.abs(truth.mean() - truth))       # the best constant in hindsight
    assert mae < 0.8 * const
    assert {"p0", "p1", "se", "ci_low", "ci_high"} <= set(pred.columns)
    np.testing.assert_allclose(pred["p1"] - pred["p0"], pred["ite"], atol=1e-12)


def test_rmst_and_loghr_end_to_end(ipd, sim):
    p = TwoStageITE("cox", "mvma", scale="rmstdiff", tau=3.0).fit(ipd).predict(sim.test[XS])
    truth = sim.test["ite_rmstdiff"].to_numpy()
    assert np.median(np.abs(p["ite"] - truth)) < 0.8 * np.median(np.abs(truth.mean() - truth))
    assert {"pi_low", "pi_high"} <= set(p.columns)
    q = TwoStageITE("cox", "mvma", scale="loghr").fit(ipd).predict(sim.test[XS])
    tl = sim.test["loghr_true"].to_numpy()
    assert np.median(np.abs(q["ite"] - tl)) < np.median(np.abs(tl.mean() - tl))


def test_cox_lasso_folds_and_bootstrap(ipd, sim):
    df = sim.data[sim.data["trial"] <= 3].copy()           # 3 trials keep it quick
    df["fold"] = df.groupby("trial").cumcount() % 5 + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ip = IPD(df, trial="trial", treatment="treatment", time="time", event="event",
                 covariates=XS)
    opts = {"nlambda": 15}
    m = TwoStageITE("cox-lasso", "weighted-bootstrap", horizon=2.0, n_boot=3,
                    random_state=2, learner_options=opts).fit(ip, foldid="fold")
    lr = m.fits_[0].learner
    assert lr.lambda_min_ > 0 and np.isfinite(lr.cvm_).all()
    assert lr.coef_[: 5].any()
    p = m.predict(sim.test[XS].iloc[:20])
    assert np.isfinite(p["se"]).all() and (p["se"] > 0).all()
    # same folds, same fit (no randomness left in the CV)
    again = TwoStageITE("cox-lasso", "weighted-aux-ols", horizon=2.0, random_state=99,
                        learner_options=opts).fit(ip, foldid="fold")
    np.testing.assert_array_equal(again.fits_[0].learner.coef_, lr.coef_)


def test_penalised_cox_learner_direct():
    rng = np.random.default_rng(4)
    n = 300
    X = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    T = rng.exponential(np.exp(-(X[:, 0] + t * (-0.5 + 0.8 * X[:, 1]))))
    y = np.column_stack([np.minimum(T, 3.0), (T < 3.0).astype(float)])
    m = CoxLassoLearner(nfolds=5, nlambda=20).fit(X, t, y, random_state=0, family="survival")
    inter = m.coef_[4:]
    assert abs(inter[1]) > max(abs(inter[0]), abs(inter[2]))     # t:x2 is the modifier


# ------------------------------------------------------------------ federation
@pytest.mark.parametrize("pooler", ["mvma", "weighted-aux-ols"])
def test_site_summaries_reproduce_in_memory(ipd, sim, pooler, tmp_path):
    X = sim.test[XS].iloc[:30]
    model = TwoStageITE("cox", pooler, horizon=2.0).fit(ipd)
    mem = model.predict(X)
    files = model.export_sites(tmp_path, X_new=X if pooler != "mvma" else None)
    pooled = pool_sites(files, pooler, X_new=X)
    np.testing.assert_allclose(pooled["ite"], mem["ite"], rtol=1e-12)
    np.testing.assert_allclose(pooled["se"], mem["se"], rtol=1e-12)
    # one site fitted alone from arrays
    d = sim.data[sim.data["trial"] == 1]
    s = fit_site(d[XS], d["treatment"], d[["time", "event"]].to_numpy(), trial="1",
                 learner="cox", pooler="mvma", family="survival", horizon=2.0)
    assert s.family == "survival" and s.baseline["kind"] == "step" and s.horizon == 2.0


def test_cox_lasso_cv_equals_cv_glmnet_with_stored_folds():
    """cv.glmnet(family = "cox", foldid, lambda = glmnet's path), only t:x penalised
    (R oracle in data/coxnet_cv): cvm rtol 1e-7, cvsd rtol 1e-6, lambda.min index exact,
    coefficients at lambda.min atol 1e-6."""
    exp = json.loads((DATA.parent / "coxnet_cv" / "expected.json").read_text())
    g = pd.read_csv(DATA.parent / "coxnet_cv" / "trial2.csv")
    m = CoxLassoLearner(lambdas=exp["lambda"]).fit(
        g[XS], g["trt"], g[["time", "status"]], foldid=g["fold"].to_numpy(),
        family="survival")
    np.testing.assert_allclose(m.lambda_, exp["lambda"], rtol=1e-12)
    np.testing.assert_allclose(m.cvm_, exp["cvm"], rtol=1e-7)
    np.testing.assert_allclose(m.cvsd_, exp["cvsd"], rtol=1e-6)
    assert m.lambda_min_index_ + 1 == exp["lambda_min_index_1based"]
    np.testing.assert_allclose(m.lambda_min_, exp["lambda_min"], rtol=1e-12)
    np.testing.assert_allclose(m.coef_, exp["coef_at_lambda_min"], atol=1e-6)


def test_cox_penalised_default_lambda_sequence_equals_glmnet():
    """Without ``lambdas=``, the cox-lasso / elastic-net / cox-ridge path is glmnet's
    default for family = "cox" (lambda_max from the score at the unpenalised fit,
    lambda.min.ratio 1e-4, nlambda 100, cut by glmnet's dev.ratio stopping rule): R oracle
    data/coxnet_lambda (3 trials x alpha 1, 0.5, 0): same length, rtol 1e-6 (observed
    ~5e-8, glmnet's fit of the unpenalised columns at its first lambda is iterative)."""
    from ipdma.ite import CoxRidgeLearner

    folder = DATA.parent / "coxnet_lambda"
    exp = json.loads((folder / "expected.json").read_text())
    d = pd.read_csv(folder / "trials.csv")
    for case in exp["cases"]:
        g = d[d["trial"] == case["trial"]]
        a = case["alpha"]
        lrn = (CoxRidgeLearner(nfolds=3) if a == 0 else CoxLassoLearner(nfolds=3, alpha=a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = lrn.fit(g[XS], g["trt"], g[["time", "status"]], family="survival",
                        random_state=0)
        assert len(m.lambda_) == len(case["lambda"]), case["trial"]
        np.testing.assert_allclose(m.lambda_, case["lambda"], rtol=1e-6)
        np.testing.assert_allclose(m.path_coef_.shape[0], len(case["lambda"]))


def test_cox_lasso_default_path_and_cv_equal_cv_glmnet():
    """The stored-folds oracle (data/coxnet_cv) *without* passing lambdas=: the default
    sequence is glmnet's (rtol 1e-6), so cvm (rtol 1e-6), the lambda.min index and the
    coefficients (atol 1e-5) follow."""
    exp = json.loads((DATA.parent / "coxnet_cv" / "expected.json").read_text())
    g = pd.read_csv(DATA.parent / "coxnet_cv" / "trial2.csv")
    m = CoxLassoLearner().fit(g[XS], g["trt"], g[["time", "status"]],
                              foldid=g["fold"].to_numpy(), family="survival")
    np.testing.assert_allclose(m.lambda_, exp["lambda"], rtol=1e-6)
    np.testing.assert_allclose(m.cvm_, exp["cvm"], rtol=1e-6)
    assert m.lambda_min_index_ + 1 == exp["lambda_min_index_1based"]
    np.testing.assert_allclose(m.coef_, exp["coef_at_lambda_min"], atol=1e-5)

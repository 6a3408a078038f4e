"""Stage-1 learners: OLS, glmnet-style penalised models, XGBoost tuning, meta-learners,
Bayesian learners."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ipdma.errors import DataError, ModelSpecificationError
from ipdma.ite import (
    BayesLMLearner,
    CausalForestLearner,
    ElasticNetLearner,
    LassoLearner,
    OLSLearner,
    RidgeLearner,
    SklearnSLearner,
    SklearnTLearner,
    XGBoostSLearner,
    get_learner,
    interaction_design,
)


def _trial(n=300, p=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, -1] = rng.integers(0, 2, n)
    t = rng.integers(0, 2, n)
    y = 1 + X @ np.linspace(1, -1, p) + t * (2 + X[:, 0] - 0.5 * X[:, 1]) + rng.normal(size=n)
    return X, t, y


def test_ols_equals_least_squares_and_ite_variance():
    X, t, y = _trial()
    m = OLSLearner().fit(X, t, y)
    Z = interaction_design(X, t)
    coef = np.linalg.lstsq(Z, y, rcond=None)[0]
    np.testing.assert_allclose(m.coef_, coef, rtol=1e-10)
    resid = y - Z @ coef
    V = resid @ resid / (len(y) - Z.shape[1]) * np.linalg.inv(Z.T @ Z)
    c = np.r_[0, 1, 0, 0, 0, X[0]]
    assert m.ite_var(X[:1])[0] == pytest.approx(c @ V @ c, rel=1e-10)
    assert m.predict_ite(X[:1])[0] == pytest.approx(c @ coef, rel=1e-12)


def test_ols_errors_name_the_problem():
    X, t, y = _trial(n=6)
    with pytest.raises(DataError, match="more than 8 patients"):
        OLSLearner().fit(X, t, y)
    X, t, y = _trial()
    with pytest.raises(DataError, match="both arms"):
        OLSLearner().fit(X, np.ones_like(t), y)
    with pytest.raises(ModelSpecificationError, match="unknown learner"):
        get_learner("bart")


def _objective(learner, X, t, y, lam, coef):
    """glmnet's gaussian objective with the interactions-only penalty on standardised x."""
    Z = interaction_design(X, t)
    p = X.shape[1]
    pen = np.arange(p + 2, 2 * p + 2)
    sd = Z.std(axis=0)
    ys = y.std()
    pf = (2 * p + 1) / p
    b = coef[pen] * sd[pen]
    a = learner.alpha
    rss = np.sum((y - Z @ coef) ** 2) / (2 * len(y))
    return rss + lam * pf * (a * np.abs(b).sum() + (1 - a) / (2 * ys) * (b**2).sum())


@pytest.mark.parametrize("cls", [LassoLearner, RidgeLearner, ElasticNetLearner])
def test_penalised_solution_minimises_glmnet_objective(cls):
    from scipy.optimize import minimize

    X, t, y = _trial(n=200)
    m = cls(lambdas=[0.05])
    m.fit(X, t, y, random_state=0)
    assert m.lambda_min_ == 0.05
    f0 = _objective(m, X, t, y, 0.05, m.coef_)
    res = minimize(lambda c: _objective(m, X, t, y, 0.05, c), m.coef_, method="Powell",
                   options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 20000})
    assert f0 <= res.fun + 1e-9


def test_penalised_limits_and_bootstrap():
    X, t, y = _trial()
    big = LassoLearner(lambdas=[1e3]).fit(X, t, y, random_state=0)
    np.testing.assert_allclose(big.theta_[1:], 0.0, atol=1e-12)   # interactions shrunk to 0
    tiny = RidgeLearner(lambdas=[1e-12]).fit(X, t, y, random_state=0)
    np.testing.assert_allclose(tiny.coef_, OLSLearner().fit(X, t, y).coef_, rtol=1e-6)
    m = LassoLearner().fit(X, t, y, random_state=0)
    assert np.isclose(m.lambda_min_, 10.0 ** np.arange(2, -3, -0.3)).any()
    assert len(m.cv_mse_) == 17
    bs = m.bootstrap(X, t, y, 7, random_state=1)
    assert bs.predict_ite(X[:5]).shape == (7, 5)
    again = m.bootstrap(X, t, y, 7, random_state=1)
    np.testing.assert_array_equal(bs.thetas, again.thetas)


def test_xgboost_cv_curve_equals_xgb_cv():
    import xgboost as xgb

    from ipdma.ite._learners import _xgb_cv_curve

    X, t, y = _trial(n=150)
    F = np.column_stack([t, X])
    fid = np.random.default_rng(0).permutation(np.arange(len(y)) % 4)
    par = {"objective": "reg:squarederror", "max_depth": 2, "eta": 0.3, "nthread": 1,
           "tree_method": "hist", "verbosity": 0, "seed": 1}
    curve = _xgb_cv_curve(F, y, fid, 4, par, 200, 5, chunk=30)
    folds = [(np.flatnonzero(fid != k), np.flatnonzero(fid == k)) for k in range(4)]
    ref = xgb.cv(par, xgb.DMatrix(F, label=y), 200, folds=folds, early_stopping_rounds=5,
                 metrics="rmse")["test-rmse-mean"].to_numpy()
    np.testing.assert_allclose(curve[: len(ref)], ref, rtol=1e-5)
    assert np.argmin(curve) == np.argmin(ref)


def test_xgboost_final_fit_equals_xgb_train():
    import xgboost as xgb

    X, t, y = _trial(n=150)
    m = XGBoostSLearner(max_depth=(2, 3), eta=(0.3,), nrounds=(10, 30), nfold=3)
    m.fit(X, t, y, random_state=4)
    refit = m.bootstrap_clone().fit(X, t, y, random_state=7)  # tuned: the seed is draw one
    par = {**m._base_params(), "max_depth": m.tuned_["max_depth"], "eta": m.tuned_["eta"],
           "seed": int(np.random.default_rng(7).integers(2**31 - 1))}
    ref = xgb.train(par, xgb.DMatrix(np.column_stack([t, X]), label=y, nthread=1),
                    num_boost_round=m.tuned_["nrounds"])
    assert refit.booster_.save_raw("json") == ref.save_raw("json")
    np.testing.assert_array_equal(refit.predict_ite(X),
                                  ref.inplace_predict(np.column_stack([np.ones(150), X]))
                                  - ref.inplace_predict(np.column_stack([np.zeros(150), X])))


def test_xgboost_bootstrap_reuses_each_trials_own_tuning():
    grid = dict(max_depth=(1, 3), eta=(0.3,), nrounds=(5, 40), nfold=3)
    fits = []
    for seed, noise in ((0, 0.1), (1, 5.0)):
        X, t, y = _trial(n=120, seed=seed)
        y = y + np.random.default_rng(seed).normal(scale=noise, size=len(y))
        fits.append(XGBoostSLearner(**grid).fit(X, t, y, random_state=seed))
    for m in fits:
        clone = m.bootstrap_clone()
        assert clone.tuned == m.tuned_
        assert len(m.tuning_) == 4
    X, t, y = _trial(n=120, seed=0)
    bs = fits[0].bootstrap(X, t, y, 3, random_state=0)
    assert all(b.tuned_ == fits[0].tuned_ for b in bs.models)


def test_t_learner_with_linear_regression_equals_full_interaction_ols():
    from sklearn.linear_model import LinearRegression

    X, t, y = _trial()
    t_ite = SklearnTLearner(LinearRegression()).fit(X, t, y).predict_ite(X)
    np.testing.assert_allclose(t_ite, OLSLearner().fit(X, t, y).predict_ite(X), rtol=1e-8)
    s_ite = SklearnSLearner(LinearRegression()).fit(X, t, y).predict_ite(X)
    assert np.ptp(s_ite) < 1e-10          # additive S-learner: constant effect


def test_bayes_lm_conjugate_prior_is_exact_and_close_to_ols():
    X, t, y = _trial()
    b = BayesLMLearner(prior="conjugate", n_draws=20000).fit(X, t, y, random_state=0)
    o = OLSLearner().fit(X, t, y)
    np.testing.assert_allclose(b.theta_, o.theta_, atol=1e-3)
    np.testing.assert_allclose(b.theta_draws_.mean(0), b.theta_, atol=0.02)
    np.testing.assert_allclose(np.cov(b.theta_draws_, rowvar=False), b.theta_cov_,
                               atol=0.05 * np.max(np.diag(b.theta_cov_)))
    # the exact posterior covariance is the OLS covariance up to (n - q) / (n - 2)-type factors
    np.testing.assert_allclose(np.diag(b.theta_cov_), np.diag(o.theta_cov_), rtol=0.05)


def _ols_se(X, t, y):
    from ipdma.ite._learners import interaction_design, theta_index

    Z = interaction_design(X, t)
    n, q = Z.shape
    coef, rss = np.linalg.lstsq(Z, y, rcond=None)[:2]
    se = np.sqrt(rss[0] / (n - q) * np.diag(np.linalg.inv(Z.T @ Z)))
    idx = theta_index(X.shape[1])
    return coef[idx], se[idx], n, q


def test_bayes_lm_method_prior_sd_matches_closed_form_at_n50():
    """Flat prior on beta, sigma ~ U(0, 10): beta is t with n - q - 1 df, so the posterior
    SD is the OLS SE x sqrt((n - q) / (n - q - 3)); the N(0, 1000) prior changes it by
    < 1e-4 here.  Tolerance 1% (Monte Carlo error of the Rao-Blackwellised SD ~0.2%);
    the conjugate prior's SD (x sqrt((n - q) / (n - 2))) is 10% narrower and fails it."""
    rng = np.random.default_rng(50)
    n = 50
    X = np.column_stack([rng.normal(size=n), rng.normal(2, 1, size=n)])
    t = rng.integers(0, 2, n)
    y = 1 + X[:, 0] + t * (0.5 - 0.4 * X[:, 1]) + rng.normal(scale=0.8, size=n)
    coef, se, n, q = _ols_se(X, t, y)
    m = BayesLMLearner().fit(X, t, y, random_state=3)
    expect = se * np.sqrt((n - q) / (n - q - 3))
    np.testing.assert_allclose(np.sqrt(np.diag(m.theta_cov_)), expect, rtol=0.01)
    np.testing.assert_allclose(m.theta_draws_.std(0), expect, rtol=0.04)   # raw draws
    np.testing.assert_array_less(np.abs(m.theta_ - coef), 0.02 * se)
    c = BayesLMLearner(prior="conjugate").fit(X, t, y, random_state=3)
    np.testing.assert_allclose(np.sqrt(np.diag(c.theta_cov_)),
                               se * np.sqrt((n - q) / (n - 2)), rtol=0.01)
    assert np.all(np.sqrt(np.diag(c.theta_cov_)) < 0.93 * expect)


def test_bayes_lm_matches_jags_reference():
    """The paper's Bayesian linear model in JAGS (tests/ite/data/bayes_lm_jags/make.R;
    4 chains x 50000) on a 50-patient trial.  BayesLMLearner() with its defaults:
    posterior means within 0.05 posterior SD, SDs within 3% (Monte Carlo error of the
    JAGS means ~0.003 SD, of its SDs ~0.3%)."""
    import json
    from pathlib import Path

    import pandas as pd

    here = Path(__file__).parent / "data" / "bayes_lm_jags"
    ref = json.loads((here / "expected.json").read_text())
    d = pd.read_csv(here / "trial.csv")
    X, t, y = d.filter(regex="^x").to_numpy(), d["t"].to_numpy(), d["y"].to_numpy()
    sd = np.asarray(ref["theta_sd"])
    m = BayesLMLearner().fit(X, t, y, random_state=0)
    np.testing.assert_array_less(np.abs(m.theta_ - ref["theta_mean"]), 0.05 * sd)
    np.testing.assert_allclose(np.sqrt(np.diag(m.theta_cov_)), sd, rtol=0.03)
    assert m.sigma_chains_.mean() == pytest.approx(ref["sigma_mean"], rel=0.01)
    assert m.rhat_max_ < 1.01 and m.ess_min_ > 400
    idata = m.inference_data()
    assert idata.posterior["gamma"].shape == (2, 2000, 3)
    # the raw draws (not Rao-Blackwellised), long enough for a ~0.2% Monte Carlo error
    long = BayesLMLearner(num_samples=25000, num_chains=4).fit(X, t, y, random_state=1)
    np.testing.assert_array_less(np.abs(long.theta_draws_.mean(0) - ref["theta_mean"]),
                                 0.05 * sd)
    np.testing.assert_allclose(long.theta_draws_.std(0), sd, rtol=0.03)
    assert long.sigma_chains_.std() == pytest.approx(ref["sigma_sd"], rel=0.03)
    # the conjugate prior is ~10% too narrow here: sqrt((n - q - 3) / (n - 2)) = 0.90
    c = BayesLMLearner(prior="conjugate").fit(X, t, y, random_state=0)
    assert np.all(np.sqrt(np.diag(c.theta_cov_)) < 0.93 * sd)


def test_bayes_lm_options_and_warnings():
    from ipdma.errors import SamplerWarning

    X, t, y = _trial()
    with pytest.raises(ModelSpecificationError, match="prior='flat'"):
        BayesLMLearner(prior="flat")
    with pytest.raises(ModelSpecificationError, match="num_samples"):
        BayesLMLearner(num_samples=2)
    assert BayesLMLearner(n_draws=301, num_chains=2).num_samples == 151
    with pytest.warns(SamplerWarning, match="bulk ESS"):
        BayesLMLearner(num_samples=50).fit(X, t, y, random_state=0)
    with pytest.warns(SamplerWarning, match="sigma_max"):
        BayesLMLearner(sigma_max=0.1).fit(X, t, 100 * y, random_state=0)
    a = BayesLMLearner().fit(X, t, y, random_state=4)
    b = BayesLMLearner().fit(X, t, y, random_state=4)
    np.testing.assert_array_equal(a.theta_draws_, b.theta_draws_)


def test_causal_forest_needs_econml():
    try:
        import econml  # noqa: F401
    except ImportError:
        X, t, y = _trial()
        with pytest.raises(ImportError, match=r"pip install .ipdma\[causal-forest\]."):
            CausalForestLearner(n_estimators=8).fit(X, t, y)
        return
    X, t, y = _trial()
    m = CausalForestLearner(n_estimators=100).fit(X, t, y, random_state=0)
    assert m.predict_ite(X[:5]).shape == (5,)


GLMNET_CASE = Path(__file__).parent / "data" / "glmnet_cv"


@pytest.mark.parametrize("cls,alpha", [(LassoLearner, "1"), (RidgeLearner, "0"),
                                       (ElasticNetLearner, "0.5")])
def test_penalised_learners_match_glmnet_and_cv_glmnet(cls, alpha):
    """Stored R oracle (tests/ite/data/glmnet_cv: make.R, glmnet 4.1-6, thresh 1e-22).

    Full-data path on the paper's 17-lambda grid: coefficients to atol 1e-8 (observed
    max 1.5e-10); cv.glmnet with the stored fold ids (10 folds, and 5 as in the
    bootstrap refits): cvm to rtol 1e-8, the same lambda.min, coefficients at
    lambda.min to atol 1e-8.
    """
    import json

    import pandas as pd

    exp = json.loads((GLMNET_CASE / "expected.json").read_text())
    d = pd.read_csv(GLMNET_CASE / "trial.csv")
    X = d[["x1", "x2", "x3", "x4"]].to_numpy()
    t, y = d["t"].to_numpy(), d["y"].to_numpy()
    ref = exp[f"alpha_{alpha}"]
    lam = np.array(exp["lambda"])
    m = cls()
    np.testing.assert_allclose(m._grid, lam, rtol=1e-12)
    # the full-data path, one lambda at a time through the public fit
    for k, lk in enumerate(lam):
        one = cls(lambdas=[lk]).fit(X, t, y, random_state=0)
        # R's column order (1, t, x, t:x) is ours
        np.testing.assert_allclose(one.coef_, ref["path"][k], rtol=0, atol=1e-8)
    rows = np.arange(len(y))[None, :]
    for nfolds in (10, 5):
        cv = ref[f"cv{nfolds}"]
        folds = (d[f"foldid{nfolds}"].to_numpy() - 1)[None, :]
        coef, lam_min = m._fit_path_cv(X, t, y, rows, nfolds, None, folds=folds)
        np.testing.assert_allclose(m._last_cvm[0], cv["cvm"], rtol=1e-8)
        assert lam_min[0] == pytest.approx(cv["lambda_min"], rel=1e-12)
        np.testing.assert_allclose(coef[0], cv["coef_min"], rtol=0, atol=1e-8)
    # the public fit draws its own glmnet-style folds and picks a lambda of the grid
    fitted = cls().fit(X, t, y, random_state=3)
    assert np.isclose(lam, fitted.lambda_min_, rtol=1e-12).sum() == 1


@pytest.mark.parametrize("learner", [LassoLearner, ElasticNetLearner])
def test_penalised_column_without_variance_gets_zero(learner):
    # a binary covariate that is 0 for every patient of this trial (or of a bootstrap
    # resample): its interaction is not identified; glmnet sets its coefficient to 0
    X, t, y = _trial()
    X[:, -1] = 0.0
    with np.errstate(all="raise"):
        m = learner().fit(X, t, y, random_state=0)
    assert np.all(np.isfinite(m.coef_))
    assert m.theta_[-1] == 0.0
    ite = m.predict_ite(X[:20])
    assert np.all(np.isfinite(ite))
    bs = m.bootstrap(X, t, y, 5, random_state=2)
    assert np.all(np.isfinite(bs.predict_ite(X[:20])))


# ------------------------------------------------------------------ Bayesian LASSO (Gibbs)
def _nuts_bayes_lasso(Zs, y, n_main, prior_var, seed, num_samples):
    """The same Park-Casella model written for NumPyro's NUTS (independent check)."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    p = Zs.shape[1] - n_main

    def model(Z, y):
        main = numpyro.sample("main", dist.Normal(0.0, np.sqrt(prior_var)).expand([n_main]))
        sigma = numpyro.sample("sigma", dist.Uniform(0.0, 10.0))
        lam2 = numpyro.sample("lambda2", dist.Gamma(0.01, 0.01))
        tau2 = numpyro.sample("tau2", dist.Exponential(lam2 / 2).expand([p]))
        z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([p]))
        gamma = numpyro.deterministic("gamma", z * sigma * jnp.sqrt(tau2))
        numpyro.sample("y", dist.Normal(Z[:, :n_main] @ main + Z[:, n_main:] @ gamma, sigma),
                       obs=y)

    mcmc = MCMC(NUTS(model, target_accept_prob=0.95), num_warmup=1000,
                num_samples=num_samples, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(Zs), jnp.asarray(y))
    s = mcmc.get_samples()
    return np.column_stack([np.asarray(s["main"]), np.asarray(s["gamma"])])


def test_bayes_lasso_gibbs_agrees_with_nuts_on_the_same_model():
    from ipdma.ite import BayesLassoLearner
    from ipdma.ite._learners import _gibbs_bayes_lasso

    X, t, y = _trial(n=120, p=2, seed=4)
    Zs = interaction_design((X - X.mean(0)) / X.std(0, ddof=1), t)
    gibbs = _gibbs_bayes_lasso(Zs, y, 4, prior_var=1000.0, sigma_max=10.0, a_lambda=0.01,
                               b_lambda=0.01, num_warmup=500, num_samples=4000, num_chains=2,
                               rng=np.random.default_rng(1))["beta"].reshape(-1, 6)
    nuts = _nuts_bayes_lasso(Zs, y, 4, 1000.0, seed=2, num_samples=4000)
    sd = nuts.std(0)
    # Monte-Carlo error of both means is below 0.05 posterior sd; allow 0.15 sd
    np.testing.assert_array_less(np.abs(gibbs.mean(0) - nuts.mean(0)), 0.15 * sd)
    np.testing.assert_allclose(gibbs.std(0), sd, rtol=0.1)
    assert BayesLassoLearner  # the learner wraps this sampler (tested below)


def test_bayes_lasso_learner_draws_diagnostics_and_seed():
    import arviz as az

    from ipdma.ite import BayesLassoLearner

    X, t, y = _trial(n=400, p=3, seed=1)
    a = BayesLassoLearner(num_warmup=300, num_samples=500).fit(X, t, y, random_state=3)
    b = BayesLassoLearner(num_warmup=300, num_samples=500).fit(X, t, y, random_state=3)
    np.testing.assert_array_equal(a.theta_draws_, b.theta_draws_)
    post = a.posterior()
    assert post["draws"].shape == (1000, 4) and post["cov"].shape == (4, 4)
    assert a.rhat_max_ < 1.02 and a.ess_min_ > 200
    idata = a.inference_data()
    assert isinstance(idata, az.InferenceData)
    assert idata.posterior["gamma"].shape == (2, 500, 3)
    # a strong signal: the posterior mean is close to least squares on the original scale
    ols = OLSLearner().fit(X, t, y)
    np.testing.assert_allclose(a.theta_, ols.theta_, atol=0.12)
    np.testing.assert_allclose(a.predict_ite(X[:5]), ols.predict_ite(X[:5]), atol=0.25)


def test_bayes_lasso_warns_when_sigma_hits_its_prior_bound():
    from ipdma.errors import SamplerWarning
    from ipdma.ite import BayesLassoLearner

    X, t, y = _trial(n=200, p=2, seed=2)
    with pytest.warns(SamplerWarning, match="sigma_max"):
        BayesLassoLearner(num_warmup=50, num_samples=100, sigma_max=0.2).fit(
            X, t, 10 * y, random_state=0)
    with pytest.raises(ModelSpecificationError, match="num_samples"):
        BayesLassoLearner(num_samples=1)


def test_bayes_lasso_matches_jags_reference():
    """The paper's Bayesian LASSO in JAGS (tests/ite/data/bayes_lasso_jags/make.R) on a
    small trial (63 patients, 8 covariates): posterior means within 0.1 posterior sd
    (Monte Carlo error of both samplers is below 0.03 sd), sds within 5%."""
    import json
    from pathlib import Path

    import pandas as pd

    from ipdma.ite import BayesLassoLearner

    here = Path(__file__).parent / "data" / "bayes_lasso_jags"
    ref = json.loads((here / "expected.json").read_text())
    d = pd.read_csv(here / "trial.csv")
    X = d.filter(regex="^x").to_numpy()
    lrn = BayesLassoLearner(num_warmup=1000, num_samples=5000, num_chains=4).fit(
        X, d["t"].to_numpy(), d["y"].to_numpy(), random_state=11)
    sd = np.asarray(ref["theta_sd"])
    np.testing.assert_array_less(np.abs(lrn.theta_ - ref["theta_mean"]), 0.1 * sd)
    np.testing.assert_allclose(lrn.theta_draws_.std(0), sd, rtol=0.05)
    assert lrn.samples_["sigma"].mean() == pytest.approx(ref["sigma_mean"], rel=0.02)
    assert lrn.rhat_max_ < 1.01


def test_ols_bootstrap_redraws_rank_deficient_resamples():
    """A rare binary covariate (2 treated patients have it) makes many resamples
    rank deficient; they are drawn again instead of failing the whole fit."""
    rng = np.random.default_rng(5)
    n = 60
    X = np.column_stack([rng.normal(size=n), np.zeros(n)])
    t = np.tile([0, 1], n // 2)
    X[[1, 3, 0, 2], 1] = 1.0           # two treated and two control patients
    y = X[:, 0] + t + rng.normal(size=n)
    m = OLSLearner().fit(X, t, y)
    boot = m.bootstrap(X, t, y, 200, random_state=1)
    assert np.isfinite(boot.thetas).all() and boot.thetas.shape == (200, 3)
    again = m.bootstrap(X, t, y, 200, random_state=1)
    np.testing.assert_array_equal(boot.thetas, again.thetas)


def _glmnet_two_trials():
    """The glmnet_cv trial twice: trial A with the stored 10-fold ids, trial B with the
    stored 5-fold ids (one column 'fold', per trial as cv.glmnet's foldid)."""
    import pandas as pd

    d = pd.read_csv(GLMNET_CASE / "trial.csv")
    a = d.assign(trial="A", fold=d["foldid10"])
    b = d.assign(trial="B", fold=d["foldid5"])
    return pd.concat([a, b], ignore_index=True).drop(columns=["foldid10", "foldid5"])


@pytest.mark.parametrize("learner,alpha", [("lasso", "1"), ("ridge", "0"),
                                           ("elasticnet", "0.5")])
def test_foldid_column_reproduces_cv_glmnet_through_twostage(learner, alpha):
    """With the stored fold ids as a data column, TwoStageITE's per-trial lambda.min equals
    cv.glmnet's exactly (same grid point) and the coefficients agree to atol 1e-8 (the
    reference's own accuracy, see the test above); also through fit_methods."""
    import json

    from ipdma.ite import TwoStageITE, fit_methods

    exp = json.loads((GLMNET_CASE / "expected.json").read_text())[f"alpha_{alpha}"]
    df = _glmnet_two_trials()
    cols = dict(trial="trial", treatment="t", outcome="y", covariates=["x1", "x2", "x3", "x4"],
                treated=1)
    model = TwoStageITE(learner, "weighted-aux-ols", random_state=0).fit(df, foldid="fold",
                                                                         **cols)
    fits = {f.label: f.learner for f in model.fits_}
    assert model.feature_names_ == ["x1", "x2", "x3", "x4"]     # the fold column is no covariate
    for tr, k in (("A", 10), ("B", 5)):
        ref = exp[f"cv{k}"]
        assert fits[tr].lambda_min_ == pytest.approx(ref["lambda_min"], rel=1e-12)
        np.testing.assert_allclose(fits[tr].coef_, ref["coef_min"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(fits[tr].cv_mse_, ref["cvm"], rtol=1e-8)
    trials = model.trial_frame()
    assert trials.loc["A", "lambda_min"] == pytest.approx(exp["cv10"]["lambda_min"])
    many = fit_methods(df, [(learner, "weighted-aux-ols"), ("ols", "mvma")], random_state=0,
                       foldid="fold", **cols)
    got = many[f"{learner}+weighted-aux-ols"].fits_[1].learner
    np.testing.assert_allclose(got.coef_, exp["cv5"]["coef_min"], rtol=0, atol=1e-8)


def test_foldid_errors_name_the_trial_and_column():
    from ipdma.errors import ColumnNotFoundError
    from ipdma.ite import TwoStageITE, compare_methods

    df = _glmnet_two_trials()
    cols = dict(trial="trial", treatment="t", outcome="y", covariates=["x1", "x2", "x3", "x4"],
                treated=1)
    lasso = TwoStageITE("lasso", "weighted-aux-ols")
    with pytest.raises(ColumnNotFoundError, match=r"'folds'.*did you mean 'fold'"):
        lasso.fit(df, foldid="folds", **cols)
    bad = df.copy()
    bad.loc[(bad["trial"] == "B") & (bad["fold"] == 3), "fold"] = 4
    with pytest.raises(DataError, match=r"trial 'B'.*'fold'.*fold 3 has no patient"):
        lasso.fit(bad, foldid="fold", **cols)
    bad = df.assign(fold=df["fold"] + 0.5)
    with pytest.raises(DataError, match=r"trial 'A'.*integer"):
        lasso.fit(bad, foldid="fold", **cols)
    bad = df.assign(fold=df["fold"].astype(float))
    bad.loc[3, "fold"] = np.nan
    with pytest.raises(DataError, match=r"trial 'A'.*missing"):
        lasso.fit(bad, foldid="fold", **cols)
    bad = df.assign(fold=(df["fold"] % 2) + 1)
    with pytest.raises(DataError, match=r"trial 'A'.*2 distinct fold"):
        lasso.fit(bad, foldid="fold", **cols)
    with pytest.raises(ModelSpecificationError, match="both as a covariate"):
        lasso.fit(df, foldid="fold", **{**cols, "covariates": ["x1", "fold"]})
    with pytest.raises(ModelSpecificationError, match="none of the learners"):
        TwoStageITE("ols", "mvma").fit(df, foldid="fold", **cols)
    with pytest.raises(ModelSpecificationError, match="--foldid COLUMN"):
        TwoStageITE("lasso", "weighted-aux-ols", learner_options={"foldid_column": "fold"})
    # learner level: non-CV learners refuse fold ids; CV learners check them
    X, t, y = _trial()
    with pytest.raises(ModelSpecificationError, match="does not cross-validate"):
        OLSLearner().fit(X, t, y, foldid=np.arange(len(y)) % 5)
    with pytest.raises(DataError, match="values for"):
        LassoLearner().fit(X, t, y, foldid=[1, 2, 3])
    assert LassoLearner().cross_validates and not BayesLMLearner().cross_validates
    # compare_methods takes the column too (three trials needed for leave-one-trial-out)
    three = pd_concat3(df)
    cmp = compare_methods(three, ["ols+mvma", "lasso+weighted-aux-ols"], random_state=0,
                          foldid="fold", **cols)
    assert set(cmp.table.index) == {"ols+mvma", "lasso+weighted-aux-ols"}


def pd_concat3(df):
    import pandas as pd

    c = df[df["trial"] == "A"].assign(trial="C")
    return pd.concat([df, c], ignore_index=True)


def test_foldid_reaches_the_learners_through_the_cli(tmp_path):
    """ipdma ite --foldid fold: the per-trial lambda.min (trials.csv) equals cv.glmnet's and
    the per-trial ITEs (predictions.csv, ite_<trial>) equal those of its coefficients."""
    import json

    import pandas as pd

    from ipdma.cli import main

    exp = json.loads((GLMNET_CASE / "expected.json").read_text())["alpha_1"]
    df = _glmnet_two_trials()
    data = tmp_path / "data.csv"
    df.to_csv(data, index=False)
    new = tmp_path / "new.csv"
    df[["x1", "x2", "x3", "x4"]].iloc[:20].to_csv(new, index=False)
    out = tmp_path / "out"
    assert main(["ite", str(data), "--trial", "trial", "--treatment", "t", "--outcome", "y",
                 "--covariates", "x1,x2,x3,x4", "--treated", "1", "--learner", "lasso",
                 "--pooler", "weighted-aux-ols", "--foldid", "fold", "--predict", str(new),
                 "--out", str(out)]) == 0
    trials = pd.read_csv(out / "trials.csv", index_col="trial")
    pred = pd.read_csv(out / "predictions.csv")
    Xn = df[["x1", "x2", "x3", "x4"]].iloc[:20].to_numpy()
    C = np.column_stack([np.ones(len(Xn)), Xn])
    for tr, k in (("A", 10), ("B", 5)):
        ref = exp[f"cv{k}"]
        assert trials.loc[tr, "lambda_min"] == pytest.approx(ref["lambda_min"], rel=1e-12)
        theta = np.asarray(ref["coef_min"])[[1, 6, 7, 8, 9]]        # t, t:x1..t:x4
        np.testing.assert_allclose(pred[f"ite_{tr}"], C @ theta, rtol=0, atol=1e-7)
    assert main(["ite", str(data), "--trial", "trial", "--treatment", "t", "--outcome", "y",
                 "--covariates", "x1,x2,x3,x4", "--foldid", "nofold",
                 "--out", str(tmp_path / "bad")]) == 2

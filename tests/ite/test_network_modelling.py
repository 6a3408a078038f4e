"""Treatment networks in two-stage ITE: native S/T stage 1 of the machine-learning
learners, X_query / Dask on the network path, t_{K-2} prediction intervals, and the
Bayesian poolers (c) bayes-mvma and (d) posterior-mix (against the frequentist network
poolers and the ite_network_multiarm reference)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from scipy import stats

from ipdma.errors import ModelSpecificationError
from ipdma.ite import TwoStageITE, fit_methods

COV = ["x1", "x2", "x3"]
COLS = dict(trial="trial", treatment="trt", outcome="y", covariates=COV)
XGB_FAST = {"max_depth": (2,), "eta": (0.1,), "nrounds": (50,), "nfold": 3}
BAYES_FAST = {"num_samples": 1000, "num_warmup": 200}


@pytest.fixture
def ref(ref_case):
    case = ref_case("ite_network_multiarm")
    return case.csv("train.csv"), case.csv("test.csv").head(300), case


@pytest.fixture(scope="module")
def net():
    from ipdma.datasets import make_ite_network

    return make_ite_network(random_state=3, n_per_trial=(150, 250), sigma=0.5, n_test=100)


# ------------------------------------------------------------------ native stage 1
def test_native_t_learner_with_linear_regression_equals_the_ols_block(ref):
    """A T-learner with one linear regression per arm is the full-interaction OLS of all
    arms: its contrasts equal the joint OLS block's (multi-arm trials included)."""
    from sklearn.linear_model import LinearRegression

    train, test, _ = ref
    X = test[COV].to_numpy()
    t = TwoStageITE("sklearn-t", "weighted-aux-ols", random_state=1,
                    learner_options={"estimator": LinearRegression()}).fit(train, **COLS)
    o = TwoStageITE("ols", "weighted-aux-ols", random_state=1).fit(train, **COLS)
    assert t.network_stage1_ == "native"
    for st, so in zip(t.network_.stage1, o.network_.stage1):
        assert st.native and st.model.kind == "T" and len(st.model.models_) == len(st.arms)
        np.testing.assert_allclose(st.contrasts(X, "difference"),
                                   so.contrasts(X, "difference"), atol=1e-9)
    assert_frame_equal(t.predict(test), o.predict(test), atol=1e-8)


@pytest.mark.parametrize("learner,opts", [("xgboost", XGB_FAST), ("sklearn-s", None)])
def test_native_s_learner_two_arm_trial_is_the_two_arm_fit(ref, learner, opts):
    """With two arms the categorical treatment is the two-arm learner's t column: native
    and per-contrast fits of a two-arm trial are identical; a multi-arm trial is one
    model (one XGBoost grid search) in the native fit."""
    train, test, _ = ref
    X = test[COV].to_numpy()
    fits = {mode: TwoStageITE(learner, "weighted-aux-ols", random_state=2,
                              learner_options=opts).fit(train, **COLS, network_stage1=mode)
            for mode in ("native", "per-contrast")}
    nat, per = (fits[m].network_.stage1 for m in ("native", "per-contrast"))
    for sn, sp in zip(nat, per):
        assert sn.native and not sp.native
        if len(sn.arms) == 2:
            np.testing.assert_array_equal(sn.contrasts(X, "difference"),
                                          sp.contrasts(X, "difference"))
        else:
            assert sn.model.kind == "S" and len(sp.model.models) == len(sp.arms) - 1
            if learner == "xgboost":
                assert set(sn.model.tuned_) == {"max_depth", "eta", "nrounds"}
    with pytest.raises(ModelSpecificationError, match="network_stage1='pairs'"):
        TwoStageITE(learner, "weighted-aux-ols").fit(train, **COLS, network_stage1="pairs")


def test_native_binary_learner_gives_risk_differences():
    from ipdma.datasets import make_ms_network

    ipd = make_ms_network(random_state=1).ipd()
    new = ipd.data.head(40)
    m = TwoStageITE("sklearn-t", "weighted-aux-ols", random_state=1).fit(
        ipd, higher_is_better=False)
    pred = m.predict(new)
    ite = pred.filter(like="ite_")
    assert ite.shape[1] == 3 and ite.abs().max().max() < 1
    assert all(s.native for s in m.network_.stage1)


# ------------------------------------------------------------------ X_query and Dask
@pytest.mark.parametrize("mode", ["native", "per-contrast"])
def test_x_query_gives_identical_numbers(ref, mode):
    """Bootstrap refits predicted in the stage-1 job at X_query and dropped: the same
    predictions as keeping the refits, for any subset / order of the query rows."""
    train, test, _ = ref
    pairs = ["xgboost+weighted-bootstrap", "xgboost+weighted-aux-ols", "ols+mvma"]
    xgb = {**XGB_FAST, "max_depth": (3,), "nrounds": (100,)}
    kw = dict(n_boot=5, random_state=3, learner_options={"xgboost": xgb},
              network_stage1=mode)
    full = fit_methods(train, pairs, **COLS, **kw)
    lean = fit_methods(train, pairs, **COLS, X_query=test, **kw)
    from ipdma.ite._bootstrap_store import PredictedBootstrap

    assert isinstance(lean["xgboost+weighted-bootstrap"].network_.stage1[0].boot,
                      PredictedBootstrap)
    for name in pairs:
        assert_frame_equal(lean[name].predict(test), full[name].predict(test))
    sub = test.iloc[[7, 2, 5]]
    assert_frame_equal(lean[pairs[0]].predict(sub), full[pairs[0]].predict(sub))
    with pytest.raises(ModelSpecificationError, match="X_query"):
        lean[pairs[0]].predict(test[COV] + 10.0)


def test_dask_client_gives_identical_numbers(ref):
    pytest.importorskip("distributed")
    from dask.distributed import Client

    train, test, _ = ref
    from sklearn.tree import DecisionTreeRegressor

    pairs = ["sklearn-t+weighted-bootstrap", "ols+mvma"]
    kw = dict(n_boot=4, random_state=5, X_query=test,
              learner_options={"sklearn-t": {"estimator": DecisionTreeRegressor(max_depth=3)}})
    local = fit_methods(train, pairs, **COLS, **kw)
    with Client(processes=False, n_workers=1, threads_per_worker=1,
                dashboard_address=None) as client:
        remote = fit_methods(train, pairs, **COLS, client=client, **kw)
        one = TwoStageITE("ols", "mvma", random_state=5).fit(train, **COLS, client=client)
    for name in pairs:
        assert_frame_equal(remote[name].predict(test), local[name].predict(test))
    assert_frame_equal(one.predict(test), local["ols+mvma"].predict(test))


# ------------------------------------------------------------------ prediction intervals
@pytest.mark.parametrize("pooler,opts", [("mvma", {"method": "reml"}),
                                         ("weighted-aux-ols", {"heterogeneity": "DL"})])
def test_prediction_intervals_use_t_k_minus_2(ref, pooler, opts):
    """As the two-arm poolers (Riley et al. 2011): t quantile with K - 2 df (K = 7
    trials) on sqrt(se^2 + tau^2); pi_df='normal' gives the normal quantile."""
    train, test, _ = ref
    pred = TwoStageITE("ols", pooler, pooler_options=opts).fit(train, **COLS).predict_pairs(
        test)
    for key in ("B_vs_A", "C_vs_B"):
        half = (pred[f"pi_high_{key}"] - pred[f"pi_low_{key}"]) / 2
        sd = np.sqrt(pred[f"se_{key}"] ** 2 + pred["tau2"])
        np.testing.assert_allclose(half / sd, stats.t.ppf(0.975, 7 - 2), rtol=1e-10)
        ci_half = (pred[f"ci_high_{key}"] - pred[f"ci_low_{key}"]) / 2
        np.testing.assert_allclose(ci_half / pred[f"se_{key}"], stats.norm.ppf(0.975),
                                   rtol=1e-10)
    if pooler == "mvma":
        pn = TwoStageITE("ols", "mvma", pooler_options={"pi_df": "normal"}).fit(
            train, **COLS).predict(test)
        half = (pn["pi_high_B_vs_A"] - pn["pi_low_B_vs_A"]) / 2
        np.testing.assert_allclose(half / np.sqrt(pn["se_B_vs_A"] ** 2 + pn["tau2"]),
                                   stats.norm.ppf(0.975), rtol=1e-10)


# ------------------------------------------------------------------ Bayesian poolers
@pytest.mark.reference
def test_bayes_mvma_agrees_with_fixed_network_pooling_and_reference(ref):
    """Vague priors, 166-446 patients per trial and tau ~ half-N(0, 1e-3) (effectively a
    common-effect model): bayes-lm + bayes-mvma equals the fixed (GLS) network pooling of
    the reference (metafor rma.mv, fixed) up to the posterior's Monte-Carlo error and the
    bayes-lm posterior SD being sqrt((n-q)/(n-q-3)) times the OLS SE: |ITE difference|
    < 0.1 SE, SEs within 8 %, best treatment identical for > 98 % of patients."""
    train, test, case = ref
    exp = case.csv("test_predictions.csv").head(len(test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE("bayes-lm", "bayes-mvma", random_state=1,
                        learner_options=BAYES_FAST,
                        pooler_options={"tau_scale": 1e-3}).fit(train, **COLS)
    pred = m.predict_pairs(test)
    for key, col in (("B_vs_A", "BA"), ("C_vs_A", "CA"), ("C_vs_B", "CB")):
        se = exp[f"fixed_se_{col}"].to_numpy()
        assert np.max(np.abs(pred[f"ite_{key}"] - exp[f"fixed_ite_{col}"]) / se) < 0.1
        assert np.max(np.abs(pred[f"se_{key}"] / se - 1)) < 0.08
    best = exp["fixed_best"].to_numpy()
    assert np.mean(pred["best_treatment"].to_numpy() == best) > 0.98
    # P(best) from the posterior draws: rows sum to one; intervals are draw quantiles
    pb = pred.filter(like="p_best_").to_numpy()
    np.testing.assert_allclose(pb.sum(1), 1.0)
    # tau ~ 0: the predictive interval is the credible one up to Monte-Carlo error
    gap = (pred["pi_low_B_vs_A"] - pred["ci_low_B_vs_A"]) / pred["se_B_vs_A"]
    assert np.max(np.abs(gap)) < 0.05
    idata = m.network_.inference_data()
    assert idata.posterior["beta"].shape[-2:] == (2, 4)
    assert m.network_.pooled.diagnostics["method"] == "exact (grid over tau)"


@pytest.mark.slow
def test_bayes_mvma_consistency_structure_nuts_close_to_reml(ref):
    """random='diagonal' (one tau per parameter type, consistency structure) by NUTS:
    R-hat / ESS fine, posterior means within 0.25 REML SE of the network REML pooling
    (rma.mv in the reference; the posterior also carries the uncertainty of tau, so its
    SDs are wider: between 1 and 1.6 times the REML SEs)."""
    train, test, case = ref
    exp = case.csv("test_predictions.csv").head(len(test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE("bayes-lm", "bayes-mvma", random_state=1, learner_options=BAYES_FAST,
                        pooler_options={"random": "diagonal", "num_warmup": 500,
                                        "num_samples": 1000}).fit(train, **COLS)
    d = m.network_.pooled.diagnostics
    assert d["method"] == "NUTS" and d["rhat_max"] < 1.01 and d["ess_bulk_min"] > 400
    pred = m.predict(test)
    for key, col in (("B_vs_A", "BA"), ("C_vs_A", "CA")):
        se = exp[f"reml_se_{col}"].to_numpy()
        assert np.max(np.abs(pred[f"ite_{key}"] - exp[f"reml_ite_{col}"]) / se) < 0.25
        ratio = pred[f"se_{key}"] / se
        assert ratio.min() > 1.0 and ratio.max() < 1.6
    assert m.network_.inference_data().posterior["tau"].shape[-1] == 4


def test_bayes_mvma_nuts_runs_and_warns_on_short_chains(ref):
    train, _, _ = ref
    from ipdma.errors import SamplerWarning

    with pytest.warns(SamplerWarning, match="bayes-mvma \\(network\\)"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="bayes-lm")
            m = TwoStageITE("bayes-lm", "bayes-mvma", random_state=1,
                            learner_options={"num_samples": 300, "num_warmup": 100},
                            pooler_options={"random": "diagonal", "num_warmup": 20,
                                            "num_samples": 20}).fit(train, **COLS)
    assert m.network_.pooled.tau_draws.shape == (40, 4)
    with pytest.raises(ModelSpecificationError, match="unstructured Psi"):
        TwoStageITE("bayes-lm", "bayes-mvma", pooler_options={"random": "full"}).fit(
            train, **COLS)


def test_posterior_mix_point_is_the_network_ivw_of_posterior_means(ref):
    """(d): the point estimate is the network GLS of the trials' posterior contrasts
    (the generalised inverse-variance average): with vague priors and many patients it
    matches the reference's per-patient network IVW of the OLS contrasts."""
    train, test, case = ref
    exp = case.csv("test_predictions.csv").head(len(test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE("bayes-lm", "posterior-mix", random_state=1,
                        learner_options=BAYES_FAST).fit(train, **COLS)
    pred = m.predict(test)
    for key, col in (("B_vs_A", "BA"), ("C_vs_A", "CA")):
        se = exp[f"ivw_se_{col}"].to_numpy()
        assert np.max(np.abs(pred[f"ite_{key}"] - exp[f"ivw_ite_{col}"]) / se) < 0.05
        # the mixture's spread: within-trial part alone is K x the GLS variance
        assert (pred[f"se_{key}"] > se).all()
    probs = m.network_.predict(test[COV].to_numpy()).info["trial_probabilities"]
    np.testing.assert_allclose(probs.sum(1), 1.0)


def test_posterior_mix_two_treatments_is_the_paper_and_reparametrisation_free():
    """network_posterior_mix with two treatments is the two-arm (d) (weights 1/v, mixture
    variance); with three it does not depend on the basic-parameter parametrisation."""
    from ipdma.ite._network_bayes import network_posterior_mix

    rng = np.random.default_rng(0)
    N, K = 5, 4
    m = [rng.normal(size=(N, 1)) for _ in range(K)]
    v = [rng.uniform(0.2, 2, size=(N, 1, 1)) for _ in range(K)]
    mu, cov, p = network_posterior_mix(m, v, [np.eye(1)] * K)
    M, V = np.hstack(m), np.hstack([x[:, :, 0] for x in v])
    P = (1 / V) / (1 / V).sum(1, keepdims=True)
    ite = (P * M).sum(1)
    np.testing.assert_allclose(mu[:, 0], ite, rtol=1e-12)
    np.testing.assert_allclose(cov[:, 0, 0], (P * (V + M ** 2)).sum(1) - ite ** 2,
                               rtol=1e-10)
    np.testing.assert_allclose(p, P, rtol=1e-12)
    # three treatments A, B, C: trials A-B-C, A-B, B-C, A-C; basic (B-A, C-A) vs (A-B, C-B)
    arms = [["A", "B", "C"], ["A", "B"], ["B", "C"], ["A", "C"]]
    from ipdma.ite._network_ite import _design_rows

    ests, covs = [], []
    for a in arms:
        k = len(a) - 1
        ests.append(rng.normal(size=(N, k)))
        L = rng.normal(size=(N, k, k))
        covs.append(L @ L.swapaxes(1, 2) + np.eye(k))
    r1 = network_posterior_mix(ests, covs, [_design_rows(a, ["A", "B", "C"]) for a in arms])
    r2 = network_posterior_mix(ests, covs, [_design_rows(a, ["B", "A", "C"]) for a in arms])
    T = np.array([[-1.0, 0.0], [-1.0, 1.0]])        # (A-B, C-B) = T (B-A, C-A)
    np.testing.assert_allclose(r2[0], r1[0] @ T.T, atol=1e-10)
    np.testing.assert_allclose(r2[1], T @ r1[1] @ T.T, atol=1e-10)
    np.testing.assert_allclose(r2[2], r1[2], atol=1e-12)


def test_bayesian_poolers_need_the_posterior_learner(ref):
    train, _, _ = ref
    from ipdma.errors import InfeasibleMethodError

    # a learner instance that declares posterior draws but has no joint network fit
    from ipdma.ite._learners import LassoLearner

    class PosteriorLasso(LassoLearner):
        name = "posterior-lasso"
        provides = frozenset({"posterior", "linear"})

    with pytest.raises(InfeasibleMethodError, match="joint posterior"):
        TwoStageITE(PosteriorLasso(), "bayes-mvma").fit(train, **COLS)


def test_network_fast_pairs_include_the_bayesian_poolers(net):
    """The Bayesian pairs run on make_ite_network and beat the oracle constant (the
    every-pair test in test_network_ite covers the rest)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_methods(net.ipd(), ["bayes-lm+bayes-mvma", "bayes-lm+posterior-mix"],
                           random_state=1, learner_options={"bayes-lm": BAYES_FAST})
    X = net.test[net.columns["covariates"]]
    for name, model in fits.items():
        pred = model.predict(X)
        for t in "BCD":
            truth = net.test[f"true_ite_{t}_vs_A"].to_numpy()
            const = np.median(np.abs(truth - truth.mean()))
            assert np.median(np.abs(pred[f"ite_{t}_vs_A"] - truth)) < const, (name, t)
    assert isinstance(pred, pd.DataFrame)


# ------------------------------------------------------------------ causal forest native
@pytest.fixture(scope="module")
def small_net():
    from ipdma.datasets import make_ite_network

    return make_ite_network(designs=[("A", "B", "C"), ("B", "C")],
                            random_state=4, n_per_trial=(150, 200), sigma=0.5, n_test=60)


def test_native_causal_forest_is_one_forest_per_trial(small_net):
    """network_stage1='native' (default) fits one EconML CausalForestDML per trial with a
    multi-valued treatment; a two-arm trial's fit is the two-arm (per-contrast) fit (same
    seed draw, same binary treatment: contrasts equal to 1e-10); the same seed gives the
    same numbers."""
    pytest.importorskip("econml")
    ipd = small_net.ipd()
    X = small_net.test[small_net.columns["covariates"]]
    opts = {"n_estimators": 40}
    fits = {mode: TwoStageITE("causal-forest", "weighted-aux-ols", random_state=2,
                              learner_options=opts).fit(ipd, network_stage1=mode)
            for mode in ("native", "per-contrast")}
    nat, per = (fits[m].network_.stage1 for m in ("native", "per-contrast"))
    Xa = X.to_numpy(float)
    for sn, sp in zip(nat, per):
        assert sn.native and sn.model.kind == "F" and not sp.native
        a = sn.contrasts(Xa, "rd")
        assert a.shape == (len(Xa), len(sn.arms) - 1)
        if len(sn.arms) == 2:
            np.testing.assert_allclose(a, sp.contrasts(Xa, "rd"), rtol=0, atol=1e-10)
    pred = fits["native"].predict(X)
    assert (pred.filter(like="se_") > 0).all().all()
    assert fits["native"].network_stage1_ == "native"
    # same seed, same forest (the three-arm trial refitted with its trial seed; EconML's
    # threaded averaging leaves differences of order 1e-15)
    from ipdma.ite._network_learners import fit_native
    from ipdma.ite._twostage import trial_seeds

    d = fits["native"].data_
    _, Xt, arm, y, arms = next(d.by_trial())
    again = fit_native(fits["native"].learner_, Xt, arm, y, arms,
                       np.random.default_rng(trial_seeds(2, len(d.trials))[0]), d.family)
    np.testing.assert_allclose(again.contrasts(Xa, "rd", False),
                               nat[0].contrasts(Xa, "rd"), rtol=0, atol=1e-12)
    with pytest.raises(ModelSpecificationError, match="contrasts directly"):
        nat[0].model.predict_arms(Xa)


@pytest.mark.slow
def test_native_causal_forest_bootstrap_refits_the_whole_trial(small_net):
    """weighted-bootstrap with the native forest: arm-stratified resamples of the whole
    trial refit one forest each (joint covariance of a multi-arm trial's contrasts);
    X_query gives the same numbers as keeping the refits."""
    pytest.importorskip("econml")
    ipd = small_net.ipd()
    X = small_net.test[small_net.columns["covariates"]]
    kw = dict(n_boot=3, random_state=3, learner_options={"n_estimators": 20})
    full = TwoStageITE("causal-forest", "weighted-bootstrap", **kw).fit(ipd)
    lean = TwoStageITE("causal-forest", "weighted-bootstrap", **kw).fit(ipd, X_query=X)
    assert all(b.kind == "F" for b in full.network_.stage1[0].boot)
    assert_frame_equal(lean.predict(X), full.predict(X))
    cov = full.network_.stage1[0].contrast_cov(X.to_numpy(float), "difference", "bootstrap")
    assert cov.shape == (len(X), 2, 2) and np.all(np.linalg.eigvalsh(cov)[:, 0] >= 0)

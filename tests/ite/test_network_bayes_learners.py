"""Bayesian network poolers (c) bayes-mvma and (d) posterior-mix with the Bayesian learners
beyond bayes-lm: bayes-lasso (continuous) and bayes-logistic (binary; log odds ratios for
(c), risk differences or log odds ratios for (d)).

Tolerances: with vague priors (c) is the fixed-effect network pooling up to the
posterior's Monte-Carlo error and the difference between a posterior mean and a maximum
likelihood estimate (for the logistic model of order 1/sqrt(n) SE with ~12 coefficients
per trial); (d) with two treatments is the two-arm posterior-mix to 1e-10 (same seeds,
same draws)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ipdma.errors import ModelSpecificationError, SamplerWarning
from ipdma.ite import TwoStageITE

COV = ["x1", "x2", "x3"]
COLS = dict(trial="trial", treatment="trt", outcome="y", covariates=COV)
BCOLS = dict(trial="trial", treatment="treatment", outcome="yb", covariates=COV)
#: a vague Bayesian lasso: lambda^2 ~ Gamma(1, 1e4) keeps lambda^2 ~ 1e-3, so the
#: interactions' prior scales are huge (no shrinkage)
VAGUE_LASSO = {"num_samples": 800, "num_warmup": 200, "num_chains": 1,
               "lambda_prior": (1.0, 1e4)}


@pytest.fixture
def ref(ref_case):
    case = ref_case("ite_network_multiarm")
    return case.csv("train.csv"), case.csv("test.csv").head(200), case


def _binarise(sim):
    df = sim.data.copy()
    rng = np.random.default_rng(0)
    df["yb"] = (rng.random(len(df)) < 1 / (1 + np.exp(-(df["y"] - 1)))).astype(float)
    return df


@pytest.fixture(scope="module")
def binary_net():
    """A binary network: three-arm A/B/C (x2), A/B, A/C, B/C (no A)."""
    from ipdma.datasets import make_ite_network

    sim = make_ite_network(designs=[("A", "B", "C"), ("A", "B"), ("A", "C"), ("B", "C"),
                                    ("A", "B", "C")], n_per_trial=(300, 400),
                           random_state=3, n_test=100)
    return _binarise(sim), sim.test[COV]


# ------------------------------------------------------------------------- (c) bayes-mvma
@pytest.mark.reference
def test_bayes_lasso_vague_bayes_mvma_agrees_with_fixed_network_pooling(ref):
    """Vague Bayesian lasso + bayes-mvma with tau ~ half-N(0, 1e-3) (a common-effect
    model) equals the reference's fixed (GLS) network pooling of the OLS blocks (metafor
    rma.mv): |ITE difference| < 0.25 SE (measured 0.18), SEs within 10 % (the posterior SD
    is sqrt((n-q)/(n-q-3)) times the OLS SE, plus Monte-Carlo error), best treatment
    identical for > 98 % of patients."""
    train, test, case = ref
    exp = case.csv("test_predictions.csv").head(len(test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE("bayes-lasso", "bayes-mvma", random_state=1,
                        learner_options=VAGUE_LASSO,
                        pooler_options={"tau_scale": 1e-3, "num_chains": 1,
                                        "num_samples": 1000, "grid_size": 1000}).fit(
            train, **COLS)
    pred = m.predict_pairs(test)
    for key, col in (("B_vs_A", "BA"), ("C_vs_A", "CA"), ("C_vs_B", "CB")):
        se = exp[f"fixed_se_{col}"].to_numpy()
        assert np.max(np.abs(pred[f"ite_{key}"] - exp[f"fixed_ite_{col}"]) / se) < 0.25
        assert np.max(np.abs(pred[f"se_{key}"] / se - 1)) < 0.10
    assert np.mean(pred["best_treatment"].to_numpy() == exp["fixed_best"].to_numpy()) > 0.98
    np.testing.assert_allclose(pred.filter(like="p_best_").sum(axis=1), 1.0)
    idata = m.network_.inference_data()
    assert idata.posterior["beta"].shape == (1, 1000, 2, 4)
    # the stage-1 posteriors: one InferenceData per trial, contrasts vs its reference arm
    s1 = m.network_.stage1_inference_data()
    assert list(s1) == [str(t) for t in m.trials_]
    assert list(s1["7"].posterior["delta"].coords["contrast"].values) == ["C_vs_B"]
    assert s1["1"].posterior["gamma"].shape == (1, 800, 2, 3)


@pytest.mark.slow
def test_bayes_lasso_default_prior_shrinks_the_interactions(ref):
    """With the method's (data-driven) lasso prior the pooled interactions are pulled
    towards 0 relative to the vague prior: the posterior's point is not the OLS one."""
    train, _, _ = ref
    coefs = {}
    for name, opts in (("vague", VAGUE_LASSO),
                       ("default", {"num_samples": 800, "num_warmup": 200, "num_chains": 1})):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = TwoStageITE("bayes-lasso", "bayes-mvma", random_state=1, learner_options=opts,
                            pooler_options={"num_chains": 1, "num_samples": 500}).fit(
                train, **COLS)
        coefs[name] = m.network_.pooled.coef[:, 1:]
    assert np.sum(np.abs(coefs["default"])) < np.sum(np.abs(coefs["vague"]))


@pytest.mark.slow
def test_bayes_logistic_bayes_mvma_agrees_with_fixed_logor_network_pooling(binary_net):
    """bayes-logistic + bayes-mvma (scale logor, tau ~ half-N(0, 1e-3), vague N(0, 1000)
    coefficients) against logistic + mvma (fixed, logor): posterior means of the log odds
    ratios within 0.6 SE of the MLE-based pooling (mean over patients < 0.25 SE; measured
    0.46 / 0.20 with 1000 draws: posterior mean vs MLE in 300-400-patient logistic
    regressions plus Monte-Carlo error), SDs within 12 % of the SEs."""
    df, X = binary_net
    fr = TwoStageITE("logistic", "mvma", scale="logor",
                     pooler_options={"method": "fixed"}).fit(df, **BCOLS)
    pf = fr.predict_pairs(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE("bayes-logistic", "bayes-mvma", scale="logor", random_state=1,
                        learner_options={"num_samples": 1000, "num_warmup": 100,
                                         "num_chains": 1},
                        pooler_options={"tau_scale": 1e-3, "num_samples": 1000,
                                        "num_chains": 1}).fit(df, **BCOLS)
    p = m.predict_pairs(X)
    for k in ("B_vs_A", "C_vs_A", "C_vs_B"):
        d = np.abs(p[f"ite_{k}"] - pf[f"ite_{k}"]) / pf[f"se_{k}"]
        assert d.max() < 0.6 and d.mean() < 0.25, (k, d.max(), d.mean())
        assert np.max(np.abs(p[f"se_{k}"] / pf[f"se_{k}"] - 1)) < 0.12
    assert np.mean(p["best_treatment"] == pf["best_treatment"]) > 0.9


def test_bayes_logistic_network_poolers_run_and_check_the_scale(binary_net):
    """Binary networks: bayes-mvma on log odds ratios (scale='rd' is refused with the
    fix named), posterior-mix on risk differences close to logistic + weighted-aux-ols
    (a per-patient IVW of the same trials); InferenceData of the pooled posterior."""
    df, X = binary_net
    opts = {"num_samples": 200, "num_warmup": 50, "num_chains": 1}
    with pytest.raises(ModelSpecificationError, match="scale='logor'"):
        TwoStageITE("bayes-logistic", "bayes-mvma", learner_options=opts).fit(df, **BCOLS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = TwoStageITE("bayes-logistic", "bayes-mvma", scale="logor", random_state=1,
                        learner_options=opts,
                        pooler_options={"num_samples": 200, "num_chains": 1}).fit(df, **BCOLS)
        d = TwoStageITE("bayes-logistic", "posterior-mix", random_state=1,
                        learner_options=opts).fit(df, **BCOLS)
    pc, pd_ = c.predict(X), d.predict(X)
    assert c.network_.scale == "logor" and d.network_.scale == "rd"
    assert c.network_.inference_data().posterior["beta"].shape == (1, 200, 2, 4)
    assert pd_.filter(like="ite_").abs().max().max() < 1          # risk differences
    w = TwoStageITE("logistic", "weighted-aux-ols").fit(df, **BCOLS).predict(X)
    for k in ("B_vs_A", "C_vs_A"):
        assert np.corrcoef(pd_[f"ite_{k}"], w[f"ite_{k}"])[0, 1] > 0.95
        assert np.mean(np.abs(pd_[f"ite_{k}"] - w[f"ite_{k}"]) / w[f"se_{k}"]) < 0.3
        assert (pd_[f"se_{k}"] > 0).all() and (pc[f"se_{k}"] > 0).all()
    s1 = d.network_.stage1_inference_data()
    assert s1["1"].posterior["gamma"].shape == (1, 200, 2, 3)
    with pytest.raises(ModelSpecificationError, match="stage1_inference_data"):
        d.network_.inference_data()


# ------------------------------------------------------------------ (d) two treatments
@pytest.mark.parametrize("learner,outcome,family,scale", [
    ("bayes-lasso", "y", "continuous", None),
    ("bayes-logistic", "yb", "binary", None),
    ("bayes-logistic", "yb", "binary", "logor"),
])
def test_posterior_mix_two_treatments_equals_the_two_arm_pooler(learner, outcome, family,
                                                                scale):
    """The network stage 1 of a two-arm trial uses the two-arm learner's design and
    sampler, so the network posterior-mix of two treatments (GLS point, mixture
    variance) is the two-arm posterior-mix to 1e-10: same seeds, same draws."""
    from ipdma.datasets import make_ite_network
    from ipdma.ite._network_ite import NetworkITEData, fit_network_groups
    from ipdma.ite._twostage import trial_seeds

    sim = make_ite_network(designs=[("A", "B")] * 3, random_state=3, n_per_trial=(120, 160),
                           n_test=50)
    df = _binarise(sim)
    X = sim.test[COV]
    opts = {"num_samples": 200, "num_warmup": 20, "num_chains": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = TwoStageITE(learner, "posterior-mix", random_state=1, learner_options=opts,
                          scale=scale).fit(df, trial="trial", treatment="treatment",
                                           outcome=outcome, covariates=COV,
                                           treated="B").predict(X)
        trials = sorted(df["trial"].astype(str).unique())
        d = NetworkITEData(X=df[COV].to_numpy(float), arm=df["treatment"].to_numpy(str),
                           y=df[outcome].to_numpy(float), trial=df["trial"].to_numpy(str),
                           trials=trials, treatments=["A", "B"], feature_names=COV,
                           outcome_type=family)
        m = TwoStageITE(learner, "posterior-mix", random_state=1, learner_options=opts,
                        scale=scale)
        fit_network_groups(d, {learner: [m]}, trial_seeds(1, len(trials)), 1)
    net = m.network_.predict(X.to_numpy(float))
    np.testing.assert_allclose(net.mean[:, 0], two["ite"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.sqrt(net.cov[:, 0, 0]), two["se"], rtol=0, atol=1e-10)


# ------------------------------------------------------------------------ diagnostics
@pytest.mark.parametrize("learner,data", [("bayes-lasso", "ref"), ("bayes-logistic", "bin")])
def test_short_chains_warn_with_the_trial(learner, data, ref, binary_net):
    if data == "ref":
        df, cols = ref[0], COLS
        pooler = "bayes-mvma"
    else:
        df, cols = binary_net[0], BCOLS
        pooler = "posterior-mix"
    with pytest.warns(SamplerWarning, match=rf"{learner} \(trial '?1'?\): R-hat max"):
        m = TwoStageITE(learner, pooler, random_state=1,
                        learner_options={"num_samples": 20, "num_warmup": 10,
                                         "num_chains": 2}).fit(df, **cols)
    blk = m.network_.stage1[0].block
    assert blk.extra["ess_min"] < 400 and np.isfinite(blk.extra["rhat_max"])
    assert blk.extra["draws"].shape[0] == 40


def test_network_pairs_include_the_new_bayesian_pairs():
    from ipdma.families import get_family
    from ipdma.ite._network_ite import network_pairs
    from ipdma.ite._twostage import parse_methods

    cont = network_pairs("all", parse_methods("all"), get_family("continuous"), None)
    assert {("bayes-lasso", "bayes-mvma"), ("bayes-lasso", "posterior-mix")} <= set(cont)
    binary = get_family("binary")
    rd = network_pairs("all", parse_methods("all", family="binary"), binary, None)
    lor = network_pairs("all", parse_methods("all", family="binary"), binary, "logor")
    assert ("bayes-logistic", "posterior-mix") in rd
    assert ("bayes-logistic", "bayes-mvma") not in rd
    assert ("bayes-logistic", "bayes-mvma") in lor


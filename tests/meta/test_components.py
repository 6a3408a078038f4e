"""fit_variance_components against metafor rma.mv on the network case (consistency model)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from ipdma.meta import (
    consistency_components,
    fit_mvma,
    fit_variance_components,
    meta_analysis,
)


def _network_case(case):
    e = case.expected
    sd = e["stage2_data"]
    trials = np.asarray(sd["trial"])
    blocks = []
    for tr in dict.fromkeys(trials.tolist()):
        st = e["stage1"][int(tr) - 1] if isinstance(e["stage1"], list) else e["stage1"][str(tr)]
        blocks.append(np.atleast_2d(np.asarray(st["vcov"], dtype=float)))
    V = linalg.block_diag(*blocks)
    X = np.asarray(sd["X"], dtype=float)
    y = np.asarray(sd["yi"], dtype=float)
    return e, trials, np.asarray(sd["par"]), y, V, X


@pytest.mark.reference
def test_network_reml_consistency_matches_rma_mv(ref_case):
    e, trials, par, y, V, X = _network_case(ref_case("ite_network_multiarm"))
    ref = e["stage2_REML_consistency"]
    _, M = consistency_components(trials, par, parameters=["delta", "gamma_1", "gamma_2",
                                                            "gamma_3"])
    fit = fit_variance_components(y, V, X, M, method="reml")
    assert fit.converged
    # README: logLik atol 1e-5, tau2 atol 1e-4, coef/vcov atol 1e-5
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-5)
    assert fit.loglik >= ref["logLik"] - 1e-7          # at least as high as metafor's optimum
    np.testing.assert_allclose(fit.tau2, ref["tau2"], atol=1e-4)
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-5)
    np.testing.assert_allclose(fit.vcov, np.asarray(ref["vcov"]), atol=1e-5)
    np.testing.assert_allclose(fit.se, ref["se"], atol=1e-5)
    assert fit.QE == pytest.approx(ref["QE"], rel=1e-9) and fit.QE_df == ref["QE_df"]


@pytest.mark.reference
def test_network_delta_only_and_fixed_match_rma_mv(ref_case):
    e, trials, par, y, V, X = _network_case(ref_case("ite_network_multiarm"))
    _, M = consistency_components(trials, par, parameters=["delta"])
    ref = e["stage2_REML_delta_only"]
    fit = fit_variance_components(y, V, X, M, method="reml")
    exact = ref.get("tau2_delta_profile_optimize", ref["tau2"])
    np.testing.assert_allclose(fit.tau2, np.atleast_1d(exact), atol=1e-6)
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-5)
    fx = fit_variance_components(y, V, X, M, method="fixed")
    reff = e["stage2_fixed"]
    np.testing.assert_allclose(fx.coef, reff["coef"], rtol=1e-9)
    np.testing.assert_allclose(fx.vcov, np.asarray(reff["vcov"]), rtol=1e-9, atol=1e-15)
    # rma.mv without random effects keeps its default method = "REML" likelihood
    assert fx.loglik_reml == pytest.approx(reff["logLik"], rel=1e-9)
    assert fx.QE == pytest.approx(reff["QE"], rel=1e-9)


def test_one_estimate_per_study_equals_univariate_reml_and_ml():
    rng = np.random.default_rng(3)
    k = 12
    vi = rng.uniform(0.02, 0.2, k)
    yi = 0.4 + rng.normal(0, np.sqrt(vi + 0.05))
    for method in ("REML", "ML"):
        uni = meta_analysis(yi, vi, method=method)
        fit = fit_variance_components(yi, np.diag(vi), np.ones((k, 1)), [np.eye(k)],
                                      method=method.lower())
        assert fit.tau2[0] == pytest.approx(float(uni.tau2), abs=1e-7)
        assert fit.coef[0] == pytest.approx(float(uni.coef.iloc[0]), abs=1e-7)


def test_compound_symmetry_equals_multivariate_reml_with_identity_psi():
    # one variance per outcome, no correlation: M_q = I on outcome q's rows equals
    # rma.mv's diagonal Psi, fitted by ipdma.meta.fit_mvma
    rng = np.random.default_rng(8)
    k, p = 9, 2
    S = np.stack([np.diag(rng.uniform(0.05, 0.2, p)) for _ in range(k)])
    y = rng.normal([0.3, -0.2], 0.4, size=(k, p))
    mv = fit_mvma(y, S, method="reml", structure="diagonal")
    Y = y.ravel()
    V = linalg.block_diag(*S)
    X = np.tile(np.eye(p), (k, 1))
    M = [np.diag((np.arange(k * p) % p == q).astype(float)) for q in range(p)]
    fit = fit_variance_components(Y, V, X, M, method="reml")
    np.testing.assert_allclose(fit.tau2, np.diag(mv.Psi), atol=1e-6)
    np.testing.assert_allclose(fit.coef, np.ravel(mv.beta), atol=1e-6)


def test_given_tau2_and_errors():
    y = np.array([0.1, 0.3, 0.2])
    V = np.diag([0.1, 0.1, 0.1])
    X = np.ones((3, 1))
    fit = fit_variance_components(y, V, X, [np.eye(3)], tau2=[0.05])
    assert fit.method == "given" and fit.tau2.tolist() == [0.05]
    with pytest.raises(ValueError, match="non-negative"):
        fit_variance_components(y, V, X, [np.eye(3)], tau2=[-1])
    with pytest.raises(ValueError, match="rank deficient"):
        fit_variance_components(y, V, np.zeros((3, 1)), [np.eye(3)])

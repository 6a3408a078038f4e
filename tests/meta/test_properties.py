"""Property-based tests of the meta-analysis engines (hypothesis, modest budgets)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from ipdma.meta import (
    fit_mvma,
    fit_univariate,
    meta_analysis,
    mv_meta_analysis,
    pool_univariate,
    tau2_estimate,
)

# derandomize: the same examples on every run (CI stays deterministic)
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _mv_data(seed, k, p, missing=False, q=1):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(p, p)) * 0.5
    Psi = A @ A.T + 0.3 * np.eye(p)
    S = np.empty((k, p, p))
    for i in range(k):
        B = rng.normal(size=(p, p)) * 0.3
        S[i] = B @ B.T + rng.uniform(0.05, 0.3) * np.eye(p)
    X = np.column_stack([np.ones(k), rng.normal(size=(k, q - 1))])
    beta = rng.normal(size=(q, p))
    y = X @ beta + np.array([rng.multivariate_normal(np.zeros(p), Psi + S[i]) for i in range(k)])
    if missing and p > 1:
        for i in range(0, k, 3):
            y[i, rng.integers(p)] = np.nan
    return y, S, X


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(6, 12), p=st.integers(1, 3),
       method=st.sampled_from(["reml", "ml", "mm", "fixed"]), missing=st.booleans())
def test_invariant_to_study_order(seed, k, p, method, missing):
    y, S, X = _mv_data(seed, k, p, missing, q=2)
    perm = np.random.default_rng(seed + 1).permutation(k)
    a = fit_mvma(y, S, X, method=method)
    b = fit_mvma(y[perm], S[perm], X[perm], method=method)
    assert_allclose(b.loglik_reml, a.loglik_reml, rtol=1e-7, atol=1e-7)
    scale = np.sqrt(np.abs(np.diag(a.vcov))).max()
    assert_allclose(b.beta, a.beta, atol=1e-4 * scale)
    assert_allclose(b.Psi, a.Psi, atol=1e-4 * max(np.abs(a.Psi).max(), np.median(S.diagonal(0, 1, 2))))
    assert_allclose(b.Q, a.Q, rtol=1e-10)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(3, 10), p=st.integers(1, 4),
       missing=st.booleans())
def test_psi_zero_is_closed_form_gls(seed, k, p, missing):
    y, S, _ = _mv_data(seed, k, p, missing)
    fit = fit_mvma(y, S, method="fixed")
    # closed form over the observed sub-vectors: (sum D_i' S_i^-1 D_i)^-1 sum D_i' S_i^-1 y_i
    A = np.zeros((p, p))
    b = np.zeros(p)
    Q = 0.0
    for i in range(k):
        o = np.isfinite(y[i])
        Wi = np.linalg.inv(S[i][np.ix_(o, o)])
        A[np.ix_(o, o)] += Wi
        b[o] += Wi @ y[i, o]
    theta = np.linalg.solve(A, b)
    for i in range(k):
        o = np.isfinite(y[i])
        r = y[i, o] - theta[o]
        Q += r @ np.linalg.solve(S[i][np.ix_(o, o)], r)
    assert_allclose(fit.beta.ravel(), theta, rtol=1e-9, atol=1e-12)
    assert_allclose(fit.vcov, np.linalg.inv(A), rtol=1e-9, atol=1e-14)
    assert_allclose(fit.Q, Q, rtol=1e-9)
    assert np.all(fit.Psi == 0)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(4, 15), q=st.integers(1, 2),
       method=st.sampled_from(["REML", "ML", "FE", "DL"]))
def test_one_outcome_reduces_to_univariate(seed, k, q, method):
    y, S, X = _mv_data(seed, k, 1, q=q)
    mv_method = {"REML": "reml", "ML": "ml", "FE": "fixed", "DL": "mm"}[method]
    mv = fit_mvma(y, S, X, method=mv_method)
    uni = fit_univariate(y[:, 0], S[:, 0, 0], X, method)
    # up to the optimiser tolerance, which is relative to the scale of the data
    assert_allclose(mv.Psi[0, 0], uni.tau2, rtol=1e-5, atol=1e-6 * np.median(S[:, 0, 0]))
    assert_allclose(mv.beta.ravel(), uni.beta, rtol=1e-5, atol=1e-7)
    assert_allclose(mv.vcov, uni.vb, rtol=1e-5, atol=1e-9)
    assert_allclose(mv.Q, uni.QE, rtol=1e-10)
    if method != "DL":
        # metafor: rma(method = "FE") reports the ML log-likelihood, rma.mv without
        # random effects the REML one (its default method); both are stored
        mv_ll = mv.loglik_ml if method == "FE" else mv.loglik
        assert_allclose(mv_ll, uni.loglik, rtol=1e-7, atol=1e-7)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(5, 10), p=st.integers(1, 3),
       c=st.sampled_from([1e-3, 0.5, 7.0, 1e3]),
       method=st.sampled_from(["reml", "ml", "mm", "fixed"]))
def test_rescaling_outcome_scales_estimates(seed, k, p, c, method):
    y, S, _ = _mv_data(seed, k, p)
    a = fit_mvma(y, S, method=method)
    b = fit_mvma(c * y, c**2 * S, method=method)
    assert_allclose(b.beta, c * a.beta, rtol=1e-4, atol=1e-6 * c)
    # Psi may sit on the boundary (~0): absolute tolerance on the scale of S
    assert_allclose(b.Psi, c**2 * a.Psi, rtol=1e-4, atol=1e-6 * c**2 * np.median(S.diagonal(0, 1, 2)))
    assert_allclose(b.vcov, c**2 * a.vcov, rtol=1e-4)
    assert_allclose(b.Q, a.Q, rtol=1e-9)
    N = k * p
    if method in ("ml", "fixed"):
        assert_allclose(b.loglik_ml, a.loglik_ml - N * np.log(abs(c)), rtol=1e-7, atol=1e-6)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(3, 12), c=st.sampled_from([0.01, 3.0]),
       method=st.sampled_from(["REML", "DL", "PM", "HE", "SJ", "ML"]))
def test_univariate_scaling_and_order(seed, k, c, method):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0, np.sqrt(v + 0.2))
    a = meta_analysis(y, v, method=method)
    b = meta_analysis(c * y, c**2 * v, method=method)
    perm = rng.permutation(k)
    p = meta_analysis(y[perm], v[perm], method=method)
    assert_allclose(b.coef.values, c * a.coef.values, rtol=1e-6, atol=1e-9 * c)
    assert_allclose(b.tau2, c**2 * a.tau2, rtol=1e-6, atol=1e-9 * c**2)
    assert_allclose(p.tau2, a.tau2, rtol=1e-8, atol=1e-12)
    assert_allclose(p.coef.values, a.coef.values, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "ML", "HE", "PM"])
def test_pool_univariate_matches_scalar_engine(method):
    rng = np.random.default_rng(3)
    n, k = 40, 7
    V = rng.uniform(0.02, 0.4, (n, k))
    Y = rng.normal(0, np.sqrt(V + 0.1))
    Y[::5, 2] = np.nan  # some studies absent for some rows
    out = pool_univariate(Y, V, method)
    for i in range(n):
        o = np.isfinite(Y[i])
        t2, _ = tau2_estimate(Y[i, o], V[i, o], None, method)
        f = fit_univariate(Y[i, o], V[i, o], None, method, tau2=t2)
        assert_allclose(out["tau2"][i], t2, rtol=1e-6, atol=1e-9)
        assert_allclose(out["mu"][i], f.beta[0], rtol=1e-6, atol=1e-9)
        assert_allclose(out["se"][i], np.sqrt(f.vb[0, 0]), rtol=1e-6)
        assert_allclose(out["Q"][i], f.QE, rtol=1e-9)
        assert_allclose(out["I2"][i], f.I2, rtol=1e-6, atol=1e-9)
        pr = meta_analysis(Y[i, o], V[i, o], method=method).predict()
        if method != "FE":
            assert_allclose(out["pi_lb"][i], pr["pi_lb"].iloc[0], rtol=1e-6, atol=1e-9)


def test_mm_diagonal_S_equals_univariate_dl():
    y, S, _ = _mv_data(7, 9, 3)
    Sd = S * np.eye(3)
    fit = fit_mvma(y, Sd, method="mm")
    from ipdma.meta._multivariate import _mm_estimate, _prepare

    # before the truncation to a PSD matrix, the diagonal is the untruncated DL estimate
    raw, _ = _mm_estimate(_prepare(y, Sd, None), truncate=False)
    for j in range(3):
        t2, _ = tau2_estimate(y[:, j], Sd[:, j, j], None, "DL")
        assert_allclose(max(np.diag(raw)[j], 0.0), t2, rtol=1e-9, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(fit.Psi) >= -1e-12)


@pytest.mark.parametrize("structure", ["diagonal", "identity"])
def test_restricted_structures(structure):
    y, S, _ = _mv_data(11, 12, 3)
    res = mv_meta_analysis(y, S, structure=structure)
    Psi = res.Psi.to_numpy()
    assert np.allclose(Psi, np.diag(np.diag(Psi)))
    if structure == "identity":
        assert np.allclose(np.diag(Psi), Psi[0, 0])
    # restricted model cannot beat the unstructured REML likelihood
    un = mv_meta_analysis(y, S)
    assert res.loglik <= un.loglik + 1e-8
    # at the optimum, scaling the fitted Psi up or down lowers the likelihood
    from ipdma.meta._multivariate import _evaluate, _prepare

    d = _prepare(y, S, None)
    base = _evaluate(Psi, d, reml=True, grad=False).ll
    for f in (1.01, 0.99):
        assert _evaluate(Psi * f, d, True, False).ll <= base + 1e-9


def test_missing_outcomes_blups_and_prediction():
    y, S, _ = _mv_data(5, 10, 3, missing=True)
    res = mv_meta_analysis(y, S, outcome_names=["a", "b", "c"])
    b = res.blup()
    assert b.shape == (30, 7)
    assert (~b["observed"]).sum() == np.isnan(y).sum()
    assert np.all(np.isfinite(b["blup"])) and np.all(b["se"] > 0)
    pr = res.predict(interval="prediction")
    assert np.all(pr["pi_lb"] < pr["ci_lb"]) and np.all(pr["pi_ub"] > pr["ci_ub"])
    riley = res.predict(interval="prediction", pi_df="riley")
    assert np.all(riley["pi_lb"] < pr["pi_lb"])


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_global_maximum_with_very_unequal_variances(method):
    """Within-study variances spanning orders of magnitude can make the (restricted)
    likelihood multimodal, or make Fisher scoring cycle; both engines must still return
    the global maximum (checked against a dense grid)."""
    rng = np.random.default_rng(5)
    n, k = 60, 10
    V = np.array([rng.uniform(0.001, 1, k) ** rng.uniform(0.5, 3) for _ in range(n)])
    Y = rng.normal(0, np.sqrt(V + rng.choice([0, 0.1, 1], size=(n, 1))
                              * np.median(V, axis=1, keepdims=True)))
    pooled = pool_univariate(Y, V, method)
    for i in range(n):
        fit = fit_univariate(Y[i], V[i], None, method)

        def ll(t, i=i):
            return fit_univariate(Y[i], V[i], None, method, tau2=t).loglik

        hi = 10 * (np.var(Y[i]) + np.median(V[i]))
        best = max(ll(t) for t in np.concatenate([[0.0], hi * np.logspace(-12, 0, 300)]))
        assert fit.loglik >= best - 1e-9
        assert ll(pooled["tau2"][i]) >= best - 1e-9

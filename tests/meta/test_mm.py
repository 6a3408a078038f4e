"""The multivariate method of moments (Jackson, White & Riley 2013) against a brute-force
evaluation of its defining equations on the full stacked matrices.

Definition: with W = blockdiag(S_i^-1) over the observed outcomes, H = X (X'WX)^-1 X'W and
Q = sum_i [W (I - H) y y' (I - H)']_ii (p x p blocks, zero rows/columns for missing
outcomes), Psi solves Q = E[Q] = sum_i [W (I - H) V(Psi) (I - H)']_ii with
V(Psi) = blockdiag(S_i + Psi_obs), then is symmetrised and truncated to be PSD.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ipdma.meta import fit_mvma
from ipdma.meta._multivariate import _mm_estimate, _prepare


def _brute_force_mm(y, S, X):
    k, p = y.shape
    q = X.shape[1]
    rows = [(i, j) for i in range(k) for j in range(p) if np.isfinite(y[i, j])]
    N = len(rows)
    Y = np.array([y[i, j] for i, j in rows])
    Xs = np.zeros((N, q * p))
    W = np.zeros((N, N))
    for a, (i, j) in enumerate(rows):
        Xs[a, np.arange(q) * p + j] = X[i]
    for i in range(k):
        idx = [a for a, (ii, _) in enumerate(rows) if ii == i]
        outs = [j for (ii, j) in rows if ii == i]
        W[np.ix_(idx, idx)] = np.linalg.inv(S[i][np.ix_(outs, outs)])
    H = Xs @ np.linalg.solve(Xs.T @ W @ Xs, Xs.T @ W)
    ImH = np.eye(N) - H

    def block_trace(Mfull):
        out = np.zeros((p, p))
        for i in range(k):
            idx = [a for a, (ii, _) in enumerate(rows) if ii == i]
            outs = [j for (ii, j) in rows if ii == i]
            out[np.ix_(outs, outs)] += Mfull[np.ix_(idx, idx)]
        return out

    def V_of(Psi, with_S):
        V = np.zeros((N, N))
        for i in range(k):
            idx = [a for a, (ii, _) in enumerate(rows) if ii == i]
            outs = [j for (ii, j) in rows if ii == i]
            V[np.ix_(idx, idx)] = Psi[np.ix_(outs, outs)] + (S[i][np.ix_(outs, outs)]
                                                             if with_S else 0)
        return V

    Q = block_trace(W @ ImH @ np.outer(Y, Y) @ ImH.T)
    const = block_trace(W @ ImH @ V_of(np.zeros((p, p)), True) @ ImH.T)
    K = np.zeros((p * p, p * p))
    for b in range(p * p):
        E = np.zeros(p * p)
        E[b] = 1.0
        K[:, b] = block_trace(W @ ImH @ V_of(E.reshape(p, p), False) @ ImH.T).ravel()
    Psi = np.linalg.lstsq(K, (Q - const).ravel(), rcond=None)[0].reshape(p, p)
    return 0.5 * (Psi + Psi.T)


@pytest.mark.parametrize("seed,q,missing", [(1, 1, False), (2, 2, False), (3, 1, True),
                                            (4, 2, True)])
def test_mm_matches_brute_force(seed, q, missing):
    rng = np.random.default_rng(seed)
    k, p = 9, 3
    S = np.array([(B := rng.normal(size=(p, p)) * 0.4) @ B.T + 0.1 * np.eye(p)
                  for _ in range(k)])
    X = np.column_stack([np.ones(k), rng.normal(size=(k, q - 1))])
    A = rng.normal(size=(p, p))
    y = rng.normal(size=(k, p)) @ A + X @ rng.normal(size=(q, p))
    if missing:
        y[0, 1] = y[3, 0] = y[3, 2] = y[7, 2] = np.nan
    raw, _ = _mm_estimate(_prepare(y, S, X), truncate=False)
    assert_allclose(raw, _brute_force_mm(y, S, X), rtol=1e-9, atol=1e-12)
    fit = fit_mvma(y, S, X, method="mm")
    w = np.linalg.eigvalsh(fit.Psi)
    assert w.min() >= -1e-12
    w_raw, V = np.linalg.eigh(raw)
    assert_allclose(fit.Psi, (V * np.maximum(w_raw, 0)) @ V.T, atol=1e-12)
    assert fit.neg_eigen_mm == int((w_raw < 0).sum())

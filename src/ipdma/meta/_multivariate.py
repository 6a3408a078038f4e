"""Multivariate random-effects meta-analysis and meta-regression.

Model: y_i ~ N(X_i beta, S_i + Psi) for studies i = 1..k, with y_i the p outcomes of
study i (some may be missing), S_i the known within-study covariance and Psi the
between-study covariance. Estimators: fixed (Psi = 0, GLS), REML, ML and the
multivariate method of moments of Jackson, White & Riley (2013).

REML/ML maximise the (restricted) likelihood over the Cholesky factor of Psi with an
analytic gradient (L-BFGS-B), starting from the method-of-moments estimate. Studies
are processed as a batch of p x p blocks (missing outcomes are masked, so every
study has the same block size) with numpy's stacked linear algebra.

The likelihoods use metafor's definitions (``rma.mv``), including the constant
+1/2 log|X'X| of the full REML likelihood, so log-likelihoods are comparable.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace
from typing import Literal

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from .._lazy import lazy_module
from ..errors import (
    BoundaryWarning,
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    ModelSpecificationError,
)
from ._formula import moderator_matrix

__all__ = [
    "MVFit",
    "MultivariateMetaResult",
    "fit_mvma",
    "mv_meta_analysis",
]

MV_METHODS = ("fixed", "reml", "ml", "mm")
STRUCTURES = ("unstructured", "diagonal", "identity")
_LOG2PI = np.log(2.0 * np.pi)

stats = lazy_module("scipy.stats")   # imported when first used
optimize = lazy_module("scipy.optimize")


# ---------------------------------------------------------------------------
# data preparation and validation
# ---------------------------------------------------------------------------

@dataclass
class _MVData:
    y0: np.ndarray        # (k, p), 0 where missing
    obs: np.ndarray       # (k, p) bool
    S_fill: np.ndarray    # (k, p, p), identity rows/cols where missing
    mo: np.ndarray        # (k, p, p) outer mask obs_j & obs_l
    X: np.ndarray         # (k, q)
    N: int                # number of observed outcomes
    k: int
    p: int
    q: int
    logdet_xx: float      # log|X'X| of the stacked design (REML constant)
    complete: bool        # no missing outcomes


def _prepare(y: np.ndarray, S: np.ndarray, X: np.ndarray | None,
             study_names=None, outcome_names=None) -> _MVData:
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise DataError(f"y must be a (k, p) array (studies x outcomes), got shape {y.shape}")
    k, p = y.shape
    S = np.asarray(S, dtype=float)
    if p == 1 and S.ndim == 1:
        S = S[:, None, None]
    if S.shape != (k, p, p):
        raise DataError(f"S must have shape (k, p, p) = ({k}, {p}, {p}) to match y, got "
                        f"{S.shape}: give one p x p within-study covariance matrix per study")
    sn = (lambda i: repr(study_names[i])) if study_names is not None else (
        lambda i: f"at position {i}")
    on = (lambda j: repr(outcome_names[j])) if outcome_names is not None else (
        lambda j: f"{j + 1}")
    obs = np.isfinite(y)
    n_obs = obs.sum(axis=1)
    if np.any(n_obs == 0):
        i = int(np.flatnonzero(n_obs == 0)[0])
        raise DataError(f"study {sn(i)} has all outcomes missing; drop it before the "
                        "meta-analysis")
    per_outcome = obs.sum(axis=0)
    if np.any(per_outcome == 0):
        j = int(np.flatnonzero(per_outcome == 0)[0])
        raise DataError(f"outcome {on(j)} is missing in every study; drop that outcome")
    mo = obs[:, :, None] & obs[:, None, :]
    Sobs = np.where(mo, S, 0.0)
    if not np.all(np.isfinite(Sobs)):
        i, j, _ = np.argwhere(~np.isfinite(Sobs))[0]
        raise DataError(f"within-study covariance S of study {sn(i)} is missing or not finite "
                        f"for observed outcome {on(j)}")
    asym = np.abs(Sobs - np.swapaxes(Sobs, 1, 2)).max(axis=(1, 2))
    scale = np.abs(Sobs).max(axis=(1, 2))
    bad = asym > 1e-8 * np.maximum(scale, 1e-300)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"within-study covariance S of study {sn(i)} is not symmetric "
                        f"(max |S - S'| = {asym[i]:.3g})")
    S_fill = Sobs + np.where(~obs, 1.0, 0.0)[:, :, None] * np.eye(p)[None]
    S_fill = 0.5 * (S_fill + np.swapaxes(S_fill, 1, 2))
    eig = np.linalg.eigvalsh(S_fill)
    # masked entries contribute eigenvalue 1, so the minimum is over the observed block
    badpd = eig[:, 0] <= 1e-12 * np.maximum(eig[:, -1], 1e-300)
    if np.any(badpd):
        i = int(np.flatnonzero(badpd)[0])
        raise DataError(f"within-study covariance S of study {sn(i)} is not positive definite "
                        f"(smallest eigenvalue {eig[i, 0]:.3g}); check its variances and "
                        "correlations (|r| must be < 1)")
    if X is None:
        X = np.ones((k, 1))
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != k:
        raise DataError(f"mods must have one row per study ({k}), got shape {X.shape}")
    q = X.shape[1]
    y0 = np.where(obs, y, 0.0)
    N = int(obs.sum())
    # stacked X'X = sum_i (x_i x_i') kron D_i
    XtX4 = np.zeros((q, p, q, p))
    idx = np.arange(p)
    XtX4[:, idx, :, idx] = np.einsum("im,in,ij->jmn", X, X, obs.astype(float))
    sign, logdet_xx = np.linalg.slogdet(XtX4.reshape(q * p, q * p))
    if sign <= 0:
        small = [on(j) for j in range(p) if np.linalg.matrix_rank(X[obs[:, j]]) < q]
        raise ModelSpecificationError(
            "the coefficients are not identifiable: "
            + (f"outcome(s) {', '.join(small)} are observed in too few studies (or with "
               f"collinear moderators) for {q} coefficient(s) per outcome"
               if small else "the moderator matrix is rank deficient"))
    return _MVData(y0=y0, obs=obs, S_fill=S_fill, mo=mo, X=X, N=N, k=k, p=p, q=q,
                   logdet_xx=float(logdet_xx), complete=bool(obs.all()))


# ---------------------------------------------------------------------------
# likelihood, gradient and GLS at a given Psi
# ---------------------------------------------------------------------------

@dataclass
class _Eval:
    ll: float
    grad: np.ndarray | None   # d ll / d Psi (p x p, symmetric)
    beta: np.ndarray          # (q, p)
    A: np.ndarray             # (qp, qp) information X' W X
    Ainv: np.ndarray
    Wt: np.ndarray            # (k, p, p) masked inverse marginal covariances
    r: np.ndarray             # (k, p) residuals (0 where missing)
    Wr: np.ndarray


def _linalg_kernels():
    """Batched ``slogdet`` and ``inv`` on float64 stacks.

    numpy's ``np.linalg`` functions wrap gufuncs in argument checks, type dispatch and
    an ``errstate`` context, which costs more than the arithmetic for a stack of ten
    9 x 9 matrices evaluated a hundred times per fit. Call the gufuncs directly where
    numpy exposes them (checked once at import, with a fallback to the public API).
    Callers check the signs of the determinants before inverting.
    """
    try:
        from numpy.linalg import _umath_linalg as um

        a = np.array([[[2.0, 1.0], [1.0, 2.0]]])
        sg, ld = um.slogdet(a, signature="d->dd")
        inv = um.inv(a, signature="d->d")
        if not (np.allclose(sg, 1.0) and np.allclose(ld, np.log(3.0))
                and np.allclose(inv @ a, np.eye(2))):
            raise ValueError
        return (lambda m: um.slogdet(m, signature="d->dd")), (
            lambda m: um.inv(m, signature="d->d"))
    except Exception:  # pragma: no cover - numpy internals changed
        return np.linalg.slogdet, np.linalg.inv


_SLOGDET, _INV = _linalg_kernels()


def _evaluate(Psi: np.ndarray, d: _MVData, reml: bool, grad: bool = True) -> _Eval:
    M = d.S_fill + (Psi if d.complete else d.mo * Psi)
    sign, logdets = _SLOGDET(M)
    if not (sign > 0).all():
        raise np.linalg.LinAlgError("marginal covariance not positive definite")
    W = _INV(M)
    Wt = W if d.complete else W * d.mo
    q, p, k = d.q, d.p, d.k
    X = d.X
    Wsum = Wt.sum(0)
    Wy = (Wt @ d.y0[:, :, None])[:, :, 0]                   # W_i y_i, (k, p)
    if q == 1:
        A = Wsum
        b = Wy.sum(0)
    else:
        A = np.einsum("im,in,ijl->mjnl", X, X, Wt).reshape(q * p, q * p)
        b = (X.T @ Wy).reshape(q * p)
    signA, logdetA = _SLOGDET(A)
    if not signA > 0:
        raise np.linalg.LinAlgError("X'WX is not positive definite")
    Ainv = _INV(A)
    beta = (Ainv @ b).reshape(q, p)
    if q == 1:
        r = d.y0 - beta
        Wr = Wy - Wt @ beta[0]                              # W_i (y_i - beta)
    else:
        fit = X @ beta
        r = d.y0 - fit
        Wr = Wy - (Wt @ fit[:, :, None])[:, :, 0]
    if not d.complete:
        r *= d.obs
    quad = float(np.vdot(r, Wr))
    logdetM = float(logdets.sum())
    if reml:
        ll = -0.5 * ((d.N - q * p) * _LOG2PI - d.logdet_xx + logdetM + logdetA + quad)
    else:
        ll = -0.5 * (d.N * _LOG2PI + logdetM + quad)
    G = None
    if grad:
        G = Wr.T @ Wr - Wsum
        if reml:
            if q == 1:
                WC = Wt @ Ainv
            else:
                Ci = np.einsum("im,in,mjnl->ijl", X, X, Ainv.reshape(q, p, q, p))
                WC = Wt @ Ci
            G = G + WC.transpose(1, 0, 2).reshape(p, k * p) @ Wt.reshape(k * p, p)
        G = 0.25 * (G + G.T)
    return _Eval(ll=float(ll), grad=G, beta=beta, A=A, Ainv=Ainv, Wt=Wt, r=r, Wr=Wr)


def _objective_fn(d: _MVData, reml: bool):
    """``Psi -> (loglik, d loglik / d Psi)`` for the optimiser's inner loop: what
    :func:`_evaluate` computes, without the pieces the optimiser does not use, in fewer
    array operations (no moderators, no missing outcomes; otherwise
    :func:`_evaluate` itself).  Raises ``LinAlgError`` as :func:`_evaluate` does."""
    if not (d.complete and d.q == 1):
        def obj(Psi):
            ev = _evaluate(Psi, d, reml=reml, grad=True)
            return ev.ll, ev.grad
        return obj
    k, p = d.k, d.p
    S, y0, y3 = d.S_fill, d.y0, d.y0[:, :, None]
    if reml:
        const = -0.5 * ((d.N - p) * _LOG2PI - d.logdet_xx)
    else:
        const = -0.5 * d.N * _LOG2PI

    def obj(Psi):
        M = S + Psi
        sign, logdets = _SLOGDET(M)
        if not (sign > 0).all():
            raise np.linalg.LinAlgError("marginal covariance not positive definite")
        W = _INV(M)
        Wsum = W.sum(0)
        Wy = (W @ y3)[:, :, 0]
        signA, logdetA = _SLOGDET(Wsum)
        if not signA > 0:
            raise np.linalg.LinAlgError("X'WX is not positive definite")
        Ainv = _INV(Wsum)
        beta = Ainv @ Wy.sum(0)
        Wr = Wy - W @ beta
        quad = float(np.vdot(y0 - beta, Wr))
        if reml:
            ll = const - 0.5 * (float(logdets.sum()) + float(logdetA) + quad)
            G = Wr.T @ Wr - Wsum + (W @ Ainv).transpose(1, 0, 2).reshape(p, k * p) @ \
                W.reshape(k * p, p)
        else:
            ll = const - 0.5 * (float(logdets.sum()) + quad)
            G = Wr.T @ Wr - Wsum
        return ll, 0.25 * (G + G.T)
    return obj


# ---------------------------------------------------------------------------
# parametrisations of Psi
# ---------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _tril(p: int) -> tuple[np.ndarray, np.ndarray]:
    return np.tril_indices(p)


def _n_par(structure: str, p: int) -> int:
    return {"unstructured": p * (p + 1) // 2, "diagonal": p, "identity": 1}[structure]


def _theta_to_psi(theta: np.ndarray, structure: str, p: int):
    if structure == "unstructured":
        L = np.zeros((p, p))
        L[_tril(p)] = theta
        return L @ L.T, L
    if structure == "diagonal":
        return np.diag(theta**2), theta
    return theta[0] ** 2 * np.eye(p), theta


def _grad_theta(G: np.ndarray, aux, structure: str, p: int) -> np.ndarray:
    if structure == "unstructured":
        return (2.0 * G @ aux)[_tril(p)]
    if structure == "diagonal":
        return 2.0 * np.diag(G) * aux
    return np.array([2.0 * np.trace(G) * aux[0]])


def _jacobian(aux, structure: str, p: int) -> np.ndarray:
    """d Psi / d theta as an (n_par, p*p) matrix."""
    if structure == "unstructured":
        r, c = _tril(p)
        n = len(r)
        J = np.zeros((n, p, p))
        J[np.arange(n), r, :] += aux[:, c].T
        J[np.arange(n), :, r] += aux[:, c].T
    elif structure == "diagonal":
        J = np.zeros((p, p, p))
        J[np.arange(p), np.arange(p), np.arange(p)] = 2.0 * aux
    else:
        J = (2.0 * aux[0] * np.eye(p))[None]
    return J.reshape(len(J), p * p)


def _fisher_theta(ev: _Eval, aux, d: _MVData, reml: bool, structure: str) -> np.ndarray:
    """Expected information of theta: 1/2 J' F J with F_{(st),(uv)} from tr(P dPsi P dPsi),
    P the (restricted) projection for REML and blockdiag(W) for ML."""
    p, q, k = d.p, d.q, d.k
    Wt = ev.Wt
    if reml:
        if q == 1:
            P = -((Wt @ ev.Ainv)[:, None] @ Wt[None, :])
        else:
            XA = np.tensordot(d.X, ev.Ainv.reshape(q, p, q, p), axes=(1, 0))  # (k, p, q, p)
            Cij = np.tensordot(XA, d.X, axes=(2, 1)).transpose(0, 3, 1, 2)  # (k, k, p, p)
            P = -(Wt[:, None] @ Cij @ Wt[None, :])
        P[np.arange(k), np.arange(k)] += Wt
        Pr = P.reshape(k * k, p * p)
    else:
        Pr = Wt.reshape(k, p * p)
    F = (Pr.T @ Pr).reshape(p, p, p, p).transpose(1, 3, 2, 0).reshape(p * p, p * p)
    J = _jacobian(aux, structure, p)
    return 0.5 * J @ F @ J.T


def _bfgs(fun, x0: np.ndarray, H0: np.ndarray | None, gtol: float, maxiter: int):
    """Compact BFGS (inverse-Hessian form) with backtracking Armijo line search.

    Lighter than scipy's implementation for these small, cheap-gradient problems.
    Returns ``(x, f, g, n_iter, n_feval, converged, message)``.
    """
    x = np.array(x0, dtype=float)
    f, g = fun(x)
    nfev = 1
    n = x.size
    H = np.eye(n) if H0 is None else H0.copy()
    if not np.isfinite(f):
        return x, f, g, 0, nfev, False, "objective not finite at the start"
    stall = 0
    t_next = 1.0
    for it in range(1, maxiter + 1):
        if np.max(np.abs(g)) < gtol:
            return x, f, g, it - 1, nfev, True, "gradient below tolerance"
        dvec = -(H @ g)
        slope = float(g @ dvec)
        if not slope < 0:  # not a descent direction: restart from steepest descent
            H = np.eye(n)
            dvec = -g
            slope = float(g @ dvec)
        t = t_next
        while True:
            xn = x + t * dvec
            fn, gn = fun(xn)
            nfev += 1
            if np.isfinite(fn) and fn <= f + 1e-4 * t * slope:
                break
            if t < 1e-14:
                return x, f, g, it, nfev, bool(np.max(np.abs(g)) < max(1e2 * gtol, 1e-5)), (
                    "line search could not reduce the objective (precision loss)")
            if np.isfinite(fn):
                tq = -slope * t * t / (2.0 * (fn - f - slope * t))
                t = min(max(tq, 0.1 * t), 0.5 * t)
            else:
                t *= 0.1
        t_next = min(1.0, 3.0 * t)  # start the next search near the last accepted step
        sv = xn - x
        yv = gn - g
        sy = float(sv @ yv)
        yy = float(yv @ yv)
        if sy > 1e-12 * math.sqrt(float(sv @ sv) * yy):
            if it == 1 and H0 is None:
                H *= sy / yy
            rho = 1.0 / sy
            Hy = H @ yv
            H += (rho * rho * float(yv @ Hy) + rho) * np.outer(sv, sv) - rho * (
                np.outer(Hy, sv) + np.outer(sv, Hy))
        stall = stall + 1 if f - fn <= 1e-15 * max(1.0, abs(f)) else 0
        x, f, g = xn, fn, gn
        if stall >= 5:  # no further progress possible in floating point
            return x, f, g, it, nfev, bool(np.max(np.abs(g)) < max(1e2 * gtol, 1e-5)), (
                "objective stopped decreasing (precision limit)")
    return x, f, g, maxiter, nfev, bool(np.max(np.abs(g)) < gtol), "maximum iterations reached"


def _fit_full_rank(fun, theta0, d, reml, structure, scale, gtol, maxiter):
    """BFGS over the Cholesky factor of Psi (every parameter free) from ``theta0``,
    polished by L-BFGS-B when it stops early.  Returns ``_bfgs``'s tuple."""
    p = d.p
    # initial inverse Hessian: inverse expected information at the start
    Psi_s, aux_s = _theta_to_psi(theta0 * scale, structure, p)
    info0 = _fisher_theta(_evaluate(Psi_s, d, reml=reml, grad=False), aux_s, d, reml,
                          structure) * scale**2
    info0 = 0.5 * (info0 + info0.T)
    try:
        H0 = np.linalg.inv(info0)
        H0 = 0.5 * (H0 + H0.T)
        np.linalg.cholesky(H0)
    except np.linalg.LinAlgError:
        H0 = None
    x, fval, g, n_iter, n_feval, ok, message = _bfgs(fun, theta0, H0, gtol, maxiter)
    if not ok:
        # polish with L-BFGS-B from where BFGS stopped
        res2 = optimize.minimize(fun, x, jac=True, method="L-BFGS-B",
                                 options={"maxiter": maxiter, "ftol": 1e-15,
                                          "gtol": gtol * 1e-2})
        if res2.fun <= fval:
            x, fval, g = res2.x, res2.fun, res2.jac
            message = f"BFGS: {message}; L-BFGS-B: {res2.message}"
        n_iter += int(res2.nit)
        n_feval += int(res2.nfev)
        ok = bool(res2.success)
    return x, fval, g, n_iter, n_feval, ok, message


def _fit_low_rank(fun, low_rank, d, reml, scale, gtol, maxiter):
    """REML/ML over Psi = L L' with L lower trapezoidal of the rank r < p of the
    (truncated) moment estimate, i.e. the Cholesky parametrisation with its last p - r
    columns fixed at 0.

    Between-study covariance matrices of many coefficients estimated from few trials
    are often singular at the optimum (the 10 x 9 two-stage ITE case: rank 3).  The
    full Cholesky BFGS then spends most of its iterations driving p - r diagonal
    elements to 0; here they are 0 from the start.  The result is accepted only if it
    is also the optimum over every positive semi-definite Psi: the gradient
    ``G = d loglik / d Psi`` must be negative semi-definite on the null space of Psi
    (no new direction of between-study variation increases the likelihood; on the
    range of Psi the gradient vanishes at the restricted optimum).  Otherwise None:
    the caller runs the full-rank fit.
    """
    p = d.p
    w, V, r = low_rank
    B = V[:, -r:] * np.sqrt(w[-r:])
    Q, _ = np.linalg.qr(B[:r].T)
    L = np.zeros((p, p))
    L[:, :r] = B @ Q                                   # lower trapezoidal
    L[:, :r] *= np.where(np.diag(L)[:r] < 0, -1.0, 1.0)
    rows, cols = _tril(p)
    mask = cols < r
    t0 = np.zeros(len(rows))
    x0 = L[rows, cols][mask] / scale

    objective = getattr(fun, "objective", None)
    if objective is not None:                 # the same function, fewer array operations
        rm, cm = rows[mask], cols[mask]

        def fun_r(x):
            Lx = np.zeros((p, p))
            Lx[rm, cm] = x * scale
            try:
                ll, G = objective(Lx @ Lx.T)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(x)
            return -ll, (-2.0 * scale) * (G @ Lx)[rm, cm]
    else:
        def fun_r(x):
            t = t0.copy()
            t[mask] = x
            f, g = fun(t)
            return f, g[mask]

    Psi_s = L @ L.T
    H0 = None
    try:
        info = _fisher_theta(_evaluate(Psi_s, d, reml=reml, grad=False), L, d, reml,
                             "unstructured")[np.ix_(mask, mask)] * scale**2
        H0 = np.linalg.inv(0.5 * (info + info.T))
        H0 = 0.5 * (H0 + H0.T)
        np.linalg.cholesky(H0)
    except np.linalg.LinAlgError:
        H0 = None
    x, fval, g, n_iter, n_feval, ok, message = _bfgs(fun_r, x0, H0, gtol, maxiter)
    if not ok:
        return None
    t = t0.copy()
    t[mask] = x
    Lh = np.zeros((p, p))
    Lh[rows, cols] = t * scale
    try:
        G = _evaluate(Lh @ Lh.T, d, reml=reml, grad=True).grad
    except np.linalg.LinAlgError:
        return None
    Qc = np.linalg.qr(Lh[:, :r], mode="complete")[0]
    N = Qc[:, r:]
    top = float(np.linalg.eigvalsh(N.T @ G @ N)[-1]) * scale**2
    if top > 1e-8:
        return None
    return t, fval, g, n_iter, n_feval, ok, message + " (rank " + str(r) + ")"


def _psi_to_theta(Psi: np.ndarray, structure: str, p: int) -> np.ndarray:
    if structure == "unstructured":
        return np.linalg.cholesky(Psi)[_tril(p)]
    if structure == "diagonal":
        return np.sqrt(np.diag(Psi))
    return np.array([np.sqrt(np.trace(Psi) / p)])


# ---------------------------------------------------------------------------
# method of moments (Jackson, White & Riley 2013)
# ---------------------------------------------------------------------------

def _mm_estimate(d: _MVData, truncate: bool = True) -> tuple[np.ndarray, int]:
    """Matrix method-of-moments estimate of Psi, truncated to be PSD.

    With W = blockdiag(S_i^-1) (masked), H = X (X'WX)^-1 X'W and the fixed-effect
    residuals r = (I - H) y, the p x p statistic Q = sum_i W_i r_i r_i' has expectation
    sum_ij P_ij S_j (I-H)_ij' + sum_ij P_ij D_j Psi D_j (I-H)_ij' with P = W (I - H);
    solve the resulting p^2 linear equations for Psi, symmetrise, and set negative
    eigenvalues to 0 (their number is returned).
    """
    k, p, q = d.k, d.p, d.q
    ev = _evaluate(np.zeros((p, p)), d, reml=False, grad=False)
    Wt = ev.Wt
    Qmat = np.einsum("ij,il->jl", ev.Wr, ev.r)
    # (I - H)_ij = delta_ij I - X_i A^-1 X_j' W_j ; P_ij = W_i (I - H)_ij
    if q == 1:
        XAX = np.broadcast_to(ev.Ainv, (k, k, p, p))
    else:
        XA = np.tensordot(d.X, ev.Ainv.reshape(q, p, q, p), axes=(1, 0))  # (k, p, q, p)
        XAX = np.tensordot(XA, d.X, axes=(2, 1)).transpose(0, 3, 1, 2)     # X_i A^-1 X_h'
    ImH = -(XAX @ Wt[None, :, :, :])                          # -X_i A^-1 X_j' W_j
    ImH[np.arange(k), np.arange(k)] += np.eye(p)
    ImH = ImH * d.obs[:, None, :, None] * d.obs[None, :, None, :]  # D_i (I - H)_ij D_j
    P = Wt[:, None] @ ImH                                    # W_i (I - H)_ij
    Sm = d.S_fill * d.mo
    # constant: sum_ij P_ij S_j (I - H)_ij'
    const = ((P @ Sm[None]) @ np.swapaxes(ImH, 2, 3)).sum(axis=(0, 1))
    # coefficients: E[Q]_{ad} += sum_ij P_ij[a,b] Psi[b,c] (I-H)_ij[d,c]
    n = k * k
    K = (P.reshape(n, p, p).transpose(1, 2, 0).reshape(p * p, n) @ ImH.reshape(n, p * p))
    K = K.reshape(p, p, p, p).transpose(0, 2, 1, 3).reshape(p * p, p * p)
    rhs = (Qmat - const).reshape(p * p)
    sol, *_ = np.linalg.lstsq(K, rhs, rcond=None)
    Psi = sol.reshape(p, p)
    Psi = 0.5 * (Psi + Psi.T)
    if not truncate:
        return Psi, 0
    w, V = np.linalg.eigh(Psi)
    neg = int((w < 0).sum())
    Psi = (V * np.maximum(w, 0.0)) @ V.T
    return 0.5 * (Psi + Psi.T), neg


def _restrict(Psi: np.ndarray, structure: str) -> np.ndarray:
    if structure == "diagonal":
        return np.diag(np.diag(Psi))
    if structure == "identity":
        return np.eye(Psi.shape[0]) * np.trace(Psi) / Psi.shape[0]
    return Psi


# ---------------------------------------------------------------------------
# the numpy-level fit
# ---------------------------------------------------------------------------

@dataclass
class MVFit:
    """Plain-numpy result of :func:`fit_mvma` (no pandas).

    ``beta`` is (q, p): row m holds moderator m's coefficients for the p outcomes;
    ``vcov`` is (q*p, q*p) in the order of ``beta.ravel()`` (moderator-major: all
    outcomes' intercepts, then all outcomes' slopes of the first moderator, ...).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.meta import fit_mvma
    >>> y = np.array([[0.5, -0.2], [0.9, 0.3], [0.2, -0.6], [0.7, -0.5],
    ...               [1.1, 0.1], [0.1, 0.2], [0.6, np.nan], [0.8, -0.9]])
    >>> S = np.tile(np.array([[0.04, 0.01], [0.01, 0.05]]), (8, 1, 1))
    >>> fit = fit_mvma(y, S)
    >>> fit.method, fit.structure, fit.converged
    ('reml', 'unstructured', True)
    >>> fit.beta.round(2)
    array([[ 0.61, -0.23]])
    >>> fit.Psi.shape, fit.boundary
    ((2, 2), [])

    With a moderator (``X`` includes the intercept column) ``beta`` has one row per
    column of ``X``:

    >>> X = np.column_stack([np.ones(8), np.arange(8.0)])
    >>> fit2 = fit_mvma(y, S, X)
    >>> fit2.beta.shape, fit2.vcov.shape
    ((2, 2), (4, 4))
    """

    beta: np.ndarray
    vcov: np.ndarray
    Psi: np.ndarray
    loglik: float
    loglik_ml: float
    loglik_reml: float
    Q: float
    Q_df: int
    method: str
    structure: str
    converged: bool
    n_iter: int
    n_feval: int
    message: str
    boundary: list[str] = field(default_factory=list)
    neg_eigen_mm: int = 0
    grad_norm: float = 0.0
    Psi_fixed: bool = False
    typical_v: float = float("nan")


def fit_mvma(y: np.ndarray, S: np.ndarray, X: np.ndarray | None = None, *,
             method: str = "reml", structure: str = "unstructured",
             Psi_start: np.ndarray | None = None, maxiter: int = 10000, gtol: float = 1e-7,
             on_failure: Literal["raise", "warn"] = "raise", study_names=None,
             outcome_names=None, _data: _MVData | None = None,
             Psi_fixed: np.ndarray | None = None) -> MVFit:
    """Fit a multivariate meta-analysis on numpy arrays (no pandas overhead).

    Parameters
    ----------
    y : ndarray, shape (k, p)
        Study estimates; NaN marks a missing outcome.
    S : ndarray, shape (k, p, p)
        Within-study covariance matrices (rows/columns of missing outcomes ignored).
    X : ndarray, shape (k, q), optional
        Study-level design *including* the intercept column (default: intercept only).
    method : {"reml", "ml", "fixed", "mm"}
    structure : {"unstructured", "diagonal", "identity"}
        Between-study covariance: unstructured, diagonal, or tau^2 * I.
    Psi_start : ndarray, optional
        Starting value (default: method-of-moments estimate, eigenvalues floored).
    maxiter, gtol : int, float
        BFGS limits: convergence when the largest element of the gradient of the
        log-likelihood with respect to the (scale-free) Cholesky parameters is below
        ``gtol``; an L-BFGS-B polish follows if BFGS stops early.
    on_failure : {"raise", "warn"}
        What to do when the optimiser does not converge.
    Psi_fixed : ndarray, optional
        Fix the between-study covariance at this (p, p) matrix instead of
        estimating it (``method`` "reml"/"ml" then only selects the reported
        log-likelihood, as metafor's ``rma.mv(..., tau2 = , rho = )``).

    Returns
    -------
    MVFit

    Notes
    -----
    BLAS is limited to one thread during the fit (the matrices are tiny; threads only
    add synchronisation overhead).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.normal(size=(8, 2))
    >>> S = np.tile(np.array([[0.5, 0.1], [0.1, 0.4]]), (8, 1, 1))
    >>> fit = fit_mvma(y, S, method="reml")
    >>> fit.beta.shape, fit.Psi.shape, fit.converged
    ((1, 2), (2, 2), True)
    """
    with _blas_single_thread():
        return _fit_mvma(y, S, X, method=method, structure=structure, Psi_start=Psi_start,
                         maxiter=maxiter, gtol=gtol, on_failure=on_failure,
                         study_names=study_names, outcome_names=outcome_names, _data=_data,
                         Psi_fixed=Psi_fixed)


def _fit_mvma(y: np.ndarray, S: np.ndarray, X: np.ndarray | None = None, *,
              method: str = "reml", structure: str = "unstructured",
              Psi_start: np.ndarray | None = None, maxiter: int = 10000, gtol: float = 1e-7,
              on_failure: Literal["raise", "warn"] = "raise", study_names=None,
              outcome_names=None, _data: _MVData | None = None,
              Psi_fixed: np.ndarray | None = None) -> MVFit:
    """Implementation of :func:`fit_mvma` (BLAS threads not limited here)."""
    method = method.lower()
    if method not in MV_METHODS:
        raise ModelSpecificationError(f"method={method!r}; choose one of {', '.join(MV_METHODS)}")
    structure = {"un": "unstructured", "diag": "diagonal", "id": "identity"}.get(
        structure.lower(), structure.lower())
    if structure not in STRUCTURES:
        raise ModelSpecificationError(
            f"structure={structure!r}; choose one of {', '.join(STRUCTURES)}")
    d = _data if _data is not None else _prepare(y, S, X, study_names, outcome_names)
    p, q, k = d.p, d.q, d.k
    if d.N <= q * p:
        raise ModelSpecificationError(
            f"{d.N} observed estimates for {q * p} coefficients: need more observed outcomes "
            "than coefficients")
    if method != "fixed" and k <= q:
        raise ModelSpecificationError(
            f"{k} studies for {q} coefficient(s) per outcome: a random-effects model needs "
            "more studies than moderators (use method='fixed' or fewer moderators)")
    zero = np.zeros((p, p))
    ev0 = _evaluate(zero, d, reml=False, grad=False)
    Qstat = float((ev0.r * ev0.Wr).sum())
    Q_df = d.N - q * p
    neg = 0
    n_iter = n_feval = 0
    message = ""
    converged = True
    gnorm = 0.0
    if Psi_fixed is not None:
        if method not in ("reml", "ml"):
            raise ModelSpecificationError(
                f"a fixed Psi needs method='reml' or 'ml' (it selects the reported "
                f"log-likelihood), not {method!r}")
        Psi = np.asarray(Psi_fixed, dtype=float)
        if Psi.shape != (p, p):
            raise ModelSpecificationError(f"Psi must be a {p} x {p} matrix (got shape "
                                          f"{Psi.shape})")
        if not np.allclose(Psi, Psi.T) or np.linalg.eigvalsh(0.5 * (Psi + Psi.T))[0] < -1e-12:
            raise ModelSpecificationError("Psi must be a symmetric positive semi-definite "
                                          "matrix (variances >= 0, |correlations| <= 1)")
    elif method == "fixed":
        Psi = zero
    elif method == "mm":
        Psi, neg = _mm_estimate(d)
        Psi = _restrict(Psi, structure)
    else:
        reml = method == "reml"
        low_rank = None
        if Psi_start is None:
            Psi0, _ = _mm_estimate(d)
            Psi0 = _restrict(Psi0, structure)
            # move off the boundary so that every Cholesky direction is free
            svar = np.median(np.diagonal(d.S_fill, axis1=1, axis2=2)[d.obs])
            w, V = np.linalg.eigh(Psi0)
            if structure == "unstructured" and w.max(initial=0.0) > 0:
                r_mm = int(np.sum(w > 1e-8 * w.max()))
                if 0 < r_mm < p:
                    low_rank = (w, V, r_mm)
            floor = max(1e-3 * svar, 1e-3 * w.max(initial=0.0), 1e-300)
            Psi0 = (V * np.maximum(w, floor)) @ V.T
            Psi0 = _restrict(0.5 * (Psi0 + Psi0.T), structure)
        else:
            Psi0 = np.asarray(Psi_start, dtype=float)
            if Psi0.shape != (p, p):
                raise ModelSpecificationError(f"Psi_start must be {p} x {p}")
        # work on theta / scale so that the gradient tolerance is scale-free
        scale = max(float(np.sqrt(np.median(np.diagonal(d.S_fill, axis1=1, axis2=2)[d.obs]))),
                    1e-300)
        theta0 = _psi_to_theta(Psi0, structure, p) / scale

        objective = _objective_fn(d, reml)

        def fun(t):
            Psi_t, aux = _theta_to_psi(t * scale, structure, p)
            try:
                ll, G = objective(Psi_t)
            except np.linalg.LinAlgError:
                return np.inf, np.zeros_like(t)
            g = _grad_theta(G, aux, structure, p) * scale
            return -ll, -g

        if structure == "unstructured":
            fun.objective = objective

        lr = None
        if low_rank is not None:
            lr = _fit_low_rank(fun, low_rank, d, reml, scale, gtol, maxiter)
        if lr is not None:
            x, fval, g, n_iter, n_feval, ok, message = lr
        else:
            x, fval, g, n_iter, n_feval, ok, message = _fit_full_rank(
                fun, theta0, d, reml, structure, scale, gtol, maxiter)
        res = SimpleNamespace(x=x, fun=fval, success=ok)   # no scipy.optimize import
        theta = res.x * scale
        Psi, _ = _theta_to_psi(theta, structure, p)
        _, g = fun(res.x)
        gnorm = float(np.max(np.abs(g))) if g.size else 0.0
        converged = bool(res.success) or gnorm < max(1e2 * gtol, 1e-5)
        if not converged:
            msg = (f"{method.upper()} optimisation of Psi did not converge after {n_iter} "
                   f"iterations ({message}; max |gradient| = {gnorm:.3g}). Try "
                   "structure='diagonal', method='mm', or a larger maxiter")
            if on_failure == "raise":
                raise ConvergenceError(msg)
            warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    Psi = 0.5 * (Psi + Psi.T)
    ev_ml = _evaluate(Psi, d, reml=False, grad=False)
    ev_reml = _evaluate(Psi, d, reml=True, grad=False)
    boundary = []
    if method in ("reml", "ml", "mm") and Psi_fixed is None:
        dg = np.diag(Psi)
        svar = np.median(np.diagonal(d.S_fill, axis1=1, axis2=2)[d.obs])
        tiny = dg < 1e-8 * max(svar, 1e-300)
        names = outcome_names if outcome_names is not None else [f"y{j + 1}" for j in range(p)]
        for j in np.flatnonzero(tiny):
            boundary.append(f"between-study variance of {names[j]!r} is 0")
        if structure == "unstructured" and p > 1 and not tiny.any():
            sd = np.sqrt(dg)
            R = Psi / np.outer(sd, sd)
            w = np.linalg.eigvalsh(R)
            if w[0] < 1e-6:
                iu = np.triu_indices(p, 1)
                top = np.argmax(np.abs(R[iu]))
                a, b = iu[0][top], iu[1][top]
                boundary.append(
                    f"Psi is (nearly) singular: its correlation matrix has smallest eigenvalue "
                    f"{w[0]:.2g} (e.g. correlation of {names[a]!r} and {names[b]!r} = "
                    f"{R[a, b]:.4f})")
    # as metafor: rma.mv without random effects keeps its default method = "REML", so the
    # GLS fit reports the restricted log-likelihood at Psi = 0
    ll = {"reml": ev_reml.ll, "ml": ev_ml.ll, "fixed": ev_reml.ll, "mm": np.nan}[method]
    return MVFit(beta=ev_reml.beta, vcov=ev_reml.Ainv, Psi=Psi, loglik=float(ll),
                 loglik_ml=ev_ml.ll, loglik_reml=ev_reml.ll, Q=Qstat, Q_df=Q_df, method=method,
                 structure=structure, converged=converged, n_iter=n_iter, n_feval=n_feval,
                 message=message, boundary=boundary, neg_eigen_mm=neg, grad_norm=gnorm,
                 Psi_fixed=Psi_fixed is not None, typical_v=_typical_variance(d, ev0))


def _typical_variance(d: _MVData, ev0: _Eval) -> float:
    """metafor's "typical" within-study variance ``(N - qp) / tr(P)`` of the stacked
    model, ``P = W - W X (X'WX)^-1 X'W`` with ``W`` the inverse within-study
    covariance (the denominator of I^2 in Viechtbauer's formula for multilevel and
    multivariate models)."""
    q, p = d.q, d.p
    if d.N <= q * p:
        return float("nan")
    WW = ev0.Wt @ ev0.Wt
    if q == 1:
        B = WW.sum(0)
    else:
        B = np.einsum("im,in,ijl->mjnl", d.X, d.X, WW).reshape(q * p, q * p)
    trP = float(np.trace(ev0.Wt.sum(0)) - np.sum(ev0.Ainv * B.T))
    return (d.N - q * p) / trP


# ---------------------------------------------------------------------------
# BLAS threading: the matrices here are tiny, and multi-threaded BLAS only adds
# synchronisation overhead (severe on a loaded machine), so fits run single-threaded.
# ---------------------------------------------------------------------------

_CONTROLLER = None


def _blas_single_thread():
    global _CONTROLLER
    try:
        if _CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _CONTROLLER = ThreadpoolController()
        return _CONTROLLER.limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or failing
        import contextlib

        return contextlib.nullcontext()


# ---------------------------------------------------------------------------
# user-facing API
# ---------------------------------------------------------------------------

def _names(obj, n, default):
    return [str(x) for x in obj] if obj is not None else [f"{default}{i + 1}" for i in range(n)]


def mv_meta_analysis(y, S, mods=None, *, method: str = "reml", structure: str = "unstructured",
                     outcome_names=None, study_names=None, level: float = 0.95,
                     data: pd.DataFrame | None = None, on_failure: Literal["raise", "warn"] = "raise",
                     maxiter: int = 10000, gtol: float = 1e-7, Psi=None, tau2=None,
                     rho=None) -> MultivariateMetaResult:
    """Multivariate random-effects meta-analysis / meta-regression (mvmeta, metafor ``rma.mv``).

    Parameters
    ----------
    y : array-like or DataFrame, shape (k, p)
        One row per study, one column per outcome; NaN marks a missing outcome. A
        DataFrame's columns name the outcomes and its index the studies.
    S : array-like, shape (k, p, p), or list of k (p, p) matrices
        Within-study covariance matrices; entries of missing outcomes are ignored.
    mods : None, str, array-like or DataFrame
        Study-level moderators (k, q) -- an intercept is added -- or a formula
        ``"~ x1 + x2"`` evaluated on ``data``. Each outcome gets its own intercept and
        slopes (as ``~ outcome:(1 + x) - 1`` in metafor).
    method : {"reml", "ml", "fixed", "mm"}
        REML (default), ML, fixed effect (Psi = 0, GLS), or the multivariate method
        of moments of Jackson, White & Riley (2013).
    structure : {"unstructured", "diagonal", "identity"}
        Between-study covariance Psi: unstructured (default), diagonal, or tau^2 * I.
    outcome_names, study_names : sequence of str, optional
    level : float
        Confidence level.
    data : DataFrame, optional
        Study-level data for a formula in ``mods``.
    on_failure : {"raise", "warn"}
        Non-convergence of the optimiser raises :class:`~ipdma.errors.ConvergenceError`
        (default) or issues a :class:`~ipdma.errors.ConvergenceWarning`.
    maxiter, gtol : int, float
        Optimiser limits (see :func:`fit_mvma`).
    Psi : array-like or DataFrame, shape (p, p), optional
        Fix the between-study covariance at this matrix instead of estimating it.
    tau2, rho : float or array-like, optional
        Alternatively fix Psi from between-study variances ``tau2`` (one per outcome,
        or one value for all) and correlation(s) ``rho`` (a scalar common
        correlation or a (p, p) matrix; default 0), as metafor's
        ``rma.mv(..., struct = "UN", tau2 = , rho = )``.  With a fixed Psi,
        ``method`` ("reml" or "ml") only selects the reported log-likelihood.

    Returns
    -------
    MultivariateMetaResult

    Notes
    -----
    A :class:`~ipdma.errors.BoundaryWarning` names the outcome(s) whose between-study
    variance is estimated as 0, or the pair of outcomes whose between-study correlation
    makes Psi singular. Coefficients are ordered moderator by moderator: all outcomes'
    intercepts, then all outcomes' slopes on the first moderator, etc., and named
    ``"<outcome>"`` (intercept) and ``"<outcome>:<moderator>"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(10, 2)) + [0.5, -0.2]
    >>> S = np.tile(np.array([[0.2, 0.05], [0.05, 0.3]]), (10, 1, 1))
    >>> res = mv_meta_analysis(y, S, outcome_names=["PD", "AL"])
    >>> list(res.coef.index)
    ['PD', 'AL']
    >>> res.predict(interval="prediction").shape
    (2, 6)
    """
    if not 0 < level < 1:
        raise ModelSpecificationError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
    if isinstance(y, pd.DataFrame):
        onames = [str(c) for c in y.columns] if outcome_names is None else list(outcome_names)
        snames = [str(i) for i in y.index] if study_names is None else list(study_names)
        yv = y.to_numpy(dtype=float)
    else:
        yv = np.asarray(y, dtype=float)
        if yv.ndim == 1:
            yv = yv[:, None]
        onames = _names(outcome_names, yv.shape[1], "y")
        snames = _names(study_names, yv.shape[0], "study ")
    if isinstance(S, (list, tuple)):
        try:
            S = np.stack([np.asarray(s, dtype=float) for s in S])
        except ValueError as exc:
            raise DataError(f"S: the within-study covariance matrices differ in shape ({exc}); "
                            f"give each study a {yv.shape[1]} x {yv.shape[1]} matrix") from None
    Sv = np.asarray(S, dtype=float)
    k, p = yv.shape
    if len(onames) != p:
        raise DataError(f"outcome_names has {len(onames)} entries for {p} outcomes")
    if len(snames) != k:
        raise DataError(f"study_names has {len(snames)} entries for {k} studies")
    if Sv.ndim == 3 and Sv.shape[0] == k and Sv.shape[1:] != (p, p):
        raise DataError(f"S has {Sv.shape[1]} x {Sv.shape[2]} matrices but y has {p} outcomes; "
                        "each study needs a p x p within-study covariance")
    Xdf = moderator_matrix(mods, k, data, study_names=snames)
    X = Xdf.to_numpy()
    d = _prepare(yv, Sv, X, snames, onames)
    Psi_fixed = _fixed_psi(Psi, tau2, rho, onames)
    fit = fit_mvma(None, None, None, method=method, structure=structure, maxiter=maxiter,
                   gtol=gtol, on_failure=on_failure, outcome_names=onames, _data=d,
                   Psi_fixed=Psi_fixed)
    for b in fit.boundary:
        warnings.warn(f"{fit.method.upper()} estimate on the boundary of the parameter space: {b}",
                      BoundaryWarning, stacklevel=2)
    return MultivariateMetaResult(y=yv, S=Sv, X=X, data=d, fit=fit, outcome_names=onames,
                                  study_names=snames, mod_names=list(Xdf.columns), level=level)


def _fixed_psi(Psi, tau2, rho, onames) -> np.ndarray | None:
    """The user-fixed between-study covariance (or None)."""
    p = len(onames)
    if Psi is not None:
        if tau2 is not None or rho is not None:
            raise ModelSpecificationError("give either Psi= or tau2= (with rho=), not both")
        if isinstance(Psi, pd.DataFrame):
            Psi = Psi.loc[onames, onames] if set(Psi.index) >= set(onames) else Psi
        return np.asarray(Psi, dtype=float)
    if tau2 is None:
        if rho is not None:
            raise ModelSpecificationError("rho= fixes correlations only together with tau2=")
        return None
    t2 = np.broadcast_to(np.asarray(tau2, dtype=float), (p,)).astype(float)
    if np.any(~np.isfinite(t2)) or np.any(t2 < 0):
        raise ModelSpecificationError(f"tau2={tau2!r}: between-study variances must be >= 0")
    R = np.eye(p)
    if rho is not None:
        r = np.asarray(rho, dtype=float)
        R = r if r.ndim == 2 else np.full((p, p), float(r))
        R = np.array(R, dtype=float)
        np.fill_diagonal(R, 1.0)
        if R.shape != (p, p) or np.any(np.abs(R) > 1):
            raise ModelSpecificationError(f"rho={rho!r}: give a correlation in [-1, 1] or a "
                                          f"{p} x {p} correlation matrix")
    sd = np.sqrt(t2)
    return R * np.outer(sd, sd)


class MultivariateMetaResult(ResultsMixin):
    """Fitted multivariate meta-analysis (see :func:`mv_meta_analysis`).

    Attributes
    ----------
    coef, se : Series
        Pooled coefficients (names ``"<outcome>"`` / ``"<outcome>:<moderator>"``).
    vcov : DataFrame
    Psi : DataFrame
        Between-study covariance (p x p).
    tau2 : Series
        diag(Psi); ``rho`` (DataFrame) the between-study correlations.
    loglik : float
        REML log-likelihood (metafor's full REML constant) for "reml" and
        "fixed" (the restricted log-likelihood at Psi = 0, as ``logLik()`` of
        ``rma.mv(yi, V, mods)``, whose default method stays REML), ML for "ml"
        (both stored as ``loglik_reml`` / ``loglik_ml``); NaN for "mm".
        Same name and definition as ``logLik(rma.mv)``.
    I2, H2 : Series
        Per outcome, as metafor's FAQ defines them for multivariate models:
        ``I2_j = 100 tau2_j / (tau2_j + v)`` and ``H2_j = tau2_j / v + 1`` with the
        typical within-study variance ``v = (N - qp) / tr(P)``, ``P = W - W X
        (X'WX)^-1 X'W`` of the stacked fixed-effect model (``typical_v``).
    Psi_fixed : bool
        True when Psi was fixed by the user (``Psi=`` / ``tau2=``).
    Q, Q_df, Q_pval : float
        Residual heterogeneity statistic of the fixed-effect GLS fit (metafor's QE).
    converged : bool
    n_iter : int

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.meta import mv_meta_analysis
    >>> y = np.array([[0.5, -0.2], [0.9, 0.3], [0.2, -0.6], [0.7, -0.5],
    ...               [1.1, 0.1], [0.1, 0.2], [0.6, np.nan], [0.8, -0.9]])
    >>> S = np.tile(np.array([[0.04, 0.01], [0.01, 0.05]]), (8, 1, 1))
    >>> res = mv_meta_analysis(y, S, outcome_names=["PD", "AL"])
    >>> res.k, res.p, res.n_obs, res.converged
    (8, 2, 15, True)
    >>> res.coef.round(2).to_dict()
    {'PD': 0.61, 'AL': -0.23}
    >>> res.Psi.shape, res.tau2.index.tolist()
    ((2, 2), ['PD', 'AL'])
    >>> res.to_frame().columns.tolist()
    ['term', 'outcome', 'moderator', 'estimate', 'se', 'z', 'pval', 'ci_lb', 'ci_ub']
    >>> res.blup().shape  # one row per study and outcome, missing ones predicted too
    (16, 7)
    """

    def __init__(self, *, y, S, X, data, fit: MVFit, outcome_names, study_names, mod_names,
                 level):
        self.y, self.S, self.X = y, S, X
        self._d = data
        self.fit_ = fit
        self.outcome_names = outcome_names
        self.study_names = study_names
        self.mod_names = mod_names
        self.level = level
        self.method = fit.method
        self.structure = fit.structure
        names = []
        for m in mod_names:
            for o in outcome_names:
                names.append(o if m == "intercept" else f"{o}:{m}")
        self.coef_names = names
        cidx = pd.Index(names, dtype=object)
        oidx = pd.Index(outcome_names, dtype=object)
        self.coef = pd.Series(fit.beta.ravel(), index=cidx, name="coef")
        self.vcov = pd.DataFrame(fit.vcov, index=cidx, columns=cidx)
        self.se = pd.Series(np.sqrt(np.diag(fit.vcov)), index=cidx, name="se")
        self.Psi = pd.DataFrame(fit.Psi, index=oidx, columns=oidx)
        self.tau2 = pd.Series(np.diag(fit.Psi), index=oidx, name="tau2")
        sd = np.sqrt(np.diag(fit.Psi))
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = fit.Psi / np.outer(sd, sd)
        self.rho = pd.DataFrame(rho, index=oidx, columns=oidx)
        self.loglik = fit.loglik
        self.loglik_ml, self.loglik_reml = fit.loglik_ml, fit.loglik_reml
        self.Psi_fixed = fit.Psi_fixed
        self.typical_v = fit.typical_v
        t2 = np.diag(fit.Psi)
        self.I2 = pd.Series(100 * t2 / (t2 + fit.typical_v), index=oidx, name="I2")
        self.H2 = pd.Series(t2 / fit.typical_v + 1, index=oidx, name="H2")
        self.Q, self.Q_df = fit.Q, fit.Q_df
        self.Q_pval = float(stats.chi2.sf(fit.Q, fit.Q_df)) if fit.Q_df > 0 else np.nan
        self.converged = fit.converged
        self.n_iter = fit.n_iter
        self.k, self.p, self.q = data.k, data.p, data.q
        self.n_obs = data.N

    # -- inference ---------------------------------------------------------
    @property
    def zval(self) -> pd.Series:
        return (self.coef / self.se).rename("z")

    @property
    def pval(self) -> pd.Series:
        return pd.Series(2 * stats.norm.sf(np.abs(self.zval.to_numpy())), index=self.coef.index,
                         name="pval")

    def ci(self, level: float | None = None) -> pd.DataFrame:
        """Wald confidence intervals of the coefficients."""
        z = stats.norm.isf((1 - (self.level if level is None else level)) / 2)
        return pd.DataFrame({"ci_lb": self.coef - z * self.se, "ci_ub": self.coef + z * self.se})

    def wald_test(self, terms=None) -> tuple[float, int, float]:
        """Omnibus Wald chi^2 test that the given coefficients (names or positions;
        default all, as metafor's QM for models without a common intercept) are 0."""
        if terms is None:
            idx = list(range(len(self.coef)))
        else:
            idx = [self.coef_names.index(t) if isinstance(t, str) else int(t) for t in terms]
        b = self.fit_.beta.ravel()[idx]
        V = self.fit_.vcov[np.ix_(idx, idx)]
        stat = float(b @ np.linalg.solve(V, b))
        return stat, len(idx), float(stats.chi2.sf(stat, len(idx)))

    @property
    def aic(self) -> float:
        n_par = self.q * self.p + (0 if self.method == "fixed" or self.Psi_fixed
                                   else _n_par(self.structure, self.p))
        return -2 * self.loglik + 2 * n_par

    # -- study-level predictions ----------------------------------------------
    def _pieces(self):
        d = self._d
        ev = _evaluate(self.fit_.Psi, d, reml=False, grad=False)
        return d, ev

    def ranef(self) -> pd.DataFrame:
        """Predicted random effects u_i = Psi W_i (y_i - X_i b) with metafor's ``ranef``
        standard errors, sqrt(diag(Psi - Psi P_ii Psi)) (P the REML projection, so the
        uncertainty of b is accounted for). Missing outcomes are predicted too."""
        _, ev = self._pieces()
        Psi = self.fit_.Psi
        u = np.einsum("jl,il->ij", Psi, ev.Wr)
        C = self._xax(ev)
        Pii = ev.Wt - ev.Wt @ C @ ev.Wt
        V = Psi[None] - Psi[None] @ Pii @ Psi[None]
        se = np.sqrt(np.clip(np.diagonal(V, axis1=1, axis2=2), 0, None))
        return self._long(u, se, "ranef")

    def _xax(self, ev):
        d = self._d
        q, p = d.q, d.p
        if q == 1:
            return np.broadcast_to(ev.Ainv, (d.k, p, p))
        return np.einsum("im,mjnl,in->ijl", d.X, ev.Ainv.reshape(q, p, q, p), d.X)

    def blup(self) -> pd.DataFrame:
        """Best linear unbiased predictions of the study-specific true effects
        theta_i = X_i b + u_i, one row per study and outcome, with the prediction-error
        SE sqrt(diag(Psi - Psi W_i Psi + (I - Psi W_i) X_i V_b X_i' (I - Psi W_i)'))
        (for one outcome this is metafor's ``blup.rma.uni``) and normal-quantile
        intervals."""
        d, ev = self._pieces()
        Psi = self.fit_.Psi
        xb = d.X @ self.fit_.beta
        u = np.einsum("jl,il->ij", Psi, ev.Wr)
        B = Psi[None] @ ev.Wt                       # Psi W_i (masked)
        ImB = np.eye(d.p)[None] - B
        C = self._xax(ev)
        V = Psi[None] - B @ Psi[None] + ImB @ C @ np.swapaxes(ImB, 1, 2)
        se = np.sqrt(np.clip(np.diagonal(V, axis1=1, axis2=2), 0, None))
        return self._long(xb + u, se, "blup")

    def _long(self, est, se, name):
        z = stats.norm.isf((1 - self.level) / 2)
        k, p = est.shape
        df = pd.DataFrame({
            "study": np.repeat(self.study_names, p), "outcome": np.tile(self.outcome_names, k),
            name: est.ravel(), "se": se.ravel(),
            "pi_lb": (est - z * se).ravel(), "pi_ub": (est + z * se).ravel(),
            "observed": self._d.obs.ravel(),
        })
        return df

    def predict(self, newmods=None, interval: Literal["confidence", "prediction"] = "prediction",
                level: float | None = None, pi_df: Literal["normal", "riley"] = "normal"
                ) -> pd.DataFrame:
        """Predicted mean outcomes with confidence and prediction intervals.

        Parameters
        ----------
        newmods : None, array-like (n, q-1) or DataFrame
            Moderator values (no intercept column); ``None`` = intercept-only model's
            pooled means, or the fitted means of every study for a meta-regression.
        interval : {"confidence", "prediction"}
            "prediction" adds ``pi_lb``/``pi_ub`` for the true effects in a new study:
            pred -/+ crit * sqrt(se^2 + diag(Psi)).
        pi_df : {"normal", "riley"}
            Critical value of the prediction interval: normal quantile (metafor) or t
            with k - q - 1 df (Riley et al.; k - 2 for an intercept-only model).

        Returns
        -------
        DataFrame
            One row per (profile, outcome): ``pred, se, ci_lb, ci_ub`` (+ ``pi_lb, pi_ub``),
            indexed by outcome (and profile when there are several).
        """
        q, p = self.q, self.p
        has_int = "intercept" in self.mod_names
        if newmods is None:
            Xn = self.X[:1] if q == 1 else self.X
            rows = None if q == 1 else self.study_names
        else:
            cols = [c for c in self.mod_names if c != "intercept"]
            if isinstance(newmods, pd.DataFrame):
                missing = [c for c in cols if c not in newmods.columns]
                if missing:
                    raise DataError(f"newmods lacks moderator column(s) {missing}")
                Xn = newmods[cols].to_numpy(dtype=float)
                rows = [str(i) for i in newmods.index]
            else:
                Xn = np.asarray(newmods, dtype=float)
                if Xn.ndim == 1:
                    Xn = Xn[:, None] if len(cols) == 1 else Xn[None, :]
                rows = [str(i) for i in range(Xn.shape[0])]
            if has_int:
                Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
            if Xn.shape[1] != q:
                raise ModelSpecificationError(
                    f"newmods has {Xn.shape[1] - has_int} column(s); the model has moderators "
                    f"{cols}")
        beta = self.fit_.beta
        Vb = self.fit_.vcov.reshape(q, p, q, p)
        pred = Xn @ beta                                       # (n, p)
        cov = np.einsum("im,mjnl,in->ijl", Xn, Vb, Xn)        # (n, p, p)
        se = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
        lvl = self.level if level is None else level
        z = stats.norm.isf((1 - lvl) / 2)
        n = pred.shape[0]
        out = pd.DataFrame({"pred": pred.ravel(), "se": se.ravel(),
                            "ci_lb": (pred - z * se).ravel(), "ci_ub": (pred + z * se).ravel()})
        if interval == "prediction":
            if pi_df == "riley":
                dfp = self.k - q - 1
                crit = stats.t.isf((1 - lvl) / 2, dfp) if dfp >= 1 else np.nan
            elif pi_df == "normal":
                crit = z
            else:
                raise ModelSpecificationError(f"pi_df={pi_df!r}: choose 'normal' or 'riley'")
            sp = np.sqrt(se**2 + np.diag(self.fit_.Psi)[None, :])
            out["pi_lb"] = (pred - crit * sp).ravel()
            out["pi_ub"] = (pred + crit * sp).ravel()
        elif interval != "confidence":
            raise ModelSpecificationError(
                f"interval={interval!r}: choose 'confidence' or 'prediction'")
        if rows is None:
            out.index = pd.Index(self.outcome_names, name="outcome")
        else:
            out.index = pd.MultiIndex.from_product([rows, self.outcome_names],
                                                   names=["profile", "outcome"])
            assert len(out) == n * p
        return out

    def predict_cov(self, newmods=None) -> np.ndarray:
        """Covariance matrices (n, p, p) of the predicted means (add ``Psi`` for a new
        study's true effects)."""
        q, p = self.q, self.p
        if newmods is None:
            Xn = self.X[:1]
        else:
            Xn = np.atleast_2d(np.asarray(newmods, dtype=float))
            if "intercept" in self.mod_names:
                Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
        return np.einsum("im,mjnl,in->ijl", Xn, self.fit_.vcov.reshape(q, p, q, p), Xn)

    # -- protocol ----------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy coefficient table: term, outcome, moderator, estimate, se, z, p, CI."""
        ci = self.ci()
        outc = [o for m in self.mod_names for o in self.outcome_names]
        mods = [m for m in self.mod_names for o in self.outcome_names]
        return pd.DataFrame({
            "term": self.coef.index, "outcome": outc, "moderator": mods,
            "estimate": self.coef.values, "se": self.se.values, "z": self.zval.values,
            "pval": self.pval.values, "ci_lb": ci["ci_lb"].values, "ci_ub": ci["ci_ub"].values,
        })

    def summary(self) -> Summary:
        label = {"reml": "REML", "ml": "ML", "fixed": "fixed-effect (GLS)",
                 "mm": "method of moments"}[self.method]
        info: dict[str, object] = {
            "studies (k)": self.k, "outcomes (p)": self.p,
            "observed estimates": self.n_obs, "method": label,
        }
        if self.method != "fixed":
            info["Psi structure"] = self.structure
        if self.Psi_fixed:
            info["Psi"] = "fixed by the user"
        if self.method in ("reml", "ml"):
            info["log-likelihood"] = self.loglik
            info["converged"] = f"{self.converged} ({self.n_iter} iterations)"
        info[f"Q (df = {self.Q_df})"] = self.Q
        info["p(Q)"] = self.Q_pval
        tables = {"Coefficients": self.to_frame().set_index("term").drop(
            columns=["outcome", "moderator"])}
        notes = []
        if self.method != "fixed":
            tables["Between-study covariance Psi"] = self.Psi
            cor = self.rho.copy()
            cor.insert(0, "tau", np.sqrt(self.tau2.to_numpy()))
            cor.insert(1, "I2", self.I2.to_numpy())
            cor.insert(2, "H2", self.H2.to_numpy())
            tables["Between-study SD (tau) and correlations"] = cor
            notes.extend(f"Boundary: {b}" for b in self.fit_.boundary)
        return Summary(title=f"Multivariate meta-analysis ({label})", tables=tables, info=info,
                       notes=notes)

    def plot(self, ax=None, *, outcome: str | None = None, xlabel: str = "effect"):
        """Forest plot.

        With ``outcome=None``: one row per pooled coefficient (CI) with the prediction
        interval of intercept-only outcomes (adding Psi). With ``outcome="name"``: that
        outcome's study estimates (normal CIs from S), the pooled diamond and the
        prediction interval. Returns the Axes.
        """
        from ._plot import forest

        z = stats.norm.isf((1 - self.level) / 2)
        if outcome is None:
            ci = self.ci()
            pooled = []
            pr = self.predict(interval="prediction") if self.q == 1 else None
            for name in self.coef_names:
                entry = {"label": name, "est": self.coef[name], "lb": ci.loc[name, "ci_lb"],
                         "ub": ci.loc[name, "ci_ub"]}
                if pr is not None and self.method != "fixed":
                    entry["pi"] = (pr.loc[name, "pi_lb"], pr.loc[name, "pi_ub"])
                pooled.append(entry)
            return forest(ax, labels=[], est=[], lb=[], ub=[], pooled=pooled, xlabel=xlabel,
                          title=f"Pooled coefficients ({self.method.upper()})", ref_line=0.0)
        if outcome not in self.outcome_names:
            raise DataError(f"outcome {outcome!r} not found; choose one of {self.outcome_names}")
        j = self.outcome_names.index(outcome)
        obs = self._d.obs[:, j]
        yj = self.y[obs, j]
        sd = np.sqrt(self.S[obs, j, j])
        labels = [s for s, o in zip(self.study_names, obs, strict=True) if o]
        pooled = []
        if self.q == 1:
            pr = self.predict(interval="prediction").loc[outcome]
            entry = {"label": f"pooled ({self.method.upper()})", "est": pr["pred"],
                     "lb": pr["ci_lb"], "ub": pr["ci_ub"]}
            if self.method != "fixed":
                entry["pi"] = (pr["pi_lb"], pr["pi_ub"])
            pooled.append(entry)
        w = 1.0 / (self.S[obs, j, j] + self.fit_.Psi[j, j])
        return forest(ax, labels=labels, est=yj, lb=yj - z * sd, ub=yj + z * sd,
                      weights=w / w.sum(), pooled=pooled, xlabel=xlabel, title=outcome)

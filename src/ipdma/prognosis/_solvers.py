"""Numerical solvers for the stage-1 logistic prognostic models.

* :func:`fit_logistic_ridge` -- Newton-Raphson for (penalised) maximum likelihood
  with a quadratic penalty ``0.5 * b' P b`` (``P = 0`` gives the ordinary MLE
  of ``glm(..., binomial)``; ``P = penalty * diag(var(x_j))`` gives
  ``rms::lrm(..., penalty=)``).
* :func:`glmnet_path` -- elastic-net logistic regression with glmnet's objective,
  standardisation and penalty-factor scaling (proximal Newton with covariance
  coordinate descent, polished by a Newton step on the active set).
* :func:`fit_random_intercept` -- logistic GLMM with a normal random intercept
  per trial, fitted by adaptive Gauss-Hermite quadrature (``n_agq = 1`` is the
  Laplace approximation, as ``lme4::glmer(nAGQ = 1)``).
* :func:`random_intercept_vcov` / :func:`joint_hessian_vcov` -- covariance of the
  GLMM fixed effects: ``"joint"`` (lme4's default for ``glmer``: the fixed-effect
  block of the inverse Hessian of the approximate deviance over the fixed
  effects *and* the variance parameter) or ``"conditional"`` (variance
  parameter held at its estimate).  Reusable by any GLMM engine.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .._enet import one_blas_thread, solve_l1_quadratic
from ..errors import ConvergenceError, ConvergenceWarning

__all__ = [
    "LogisticFit",
    "fit_logistic_ridge",
    "fit_random_intercept",
    "glmnet_cv_paths",
    "glmnet_interpolate",
    "glmnet_lambda_max",
    "glmnet_lambda_max_weighted",
    "glmnet_path",
    "glmnet_weighted_paths",
    "joint_hessian_vcov",
    "loglik",
    "random_intercept_vcov",
]


def loglik(y: np.ndarray, eta: np.ndarray) -> float:
    """Bernoulli log-likelihood at linear predictor ``eta`` (numerically stable)."""
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


@dataclass
class LogisticFit:
    coef: np.ndarray          # intercept first
    vcov: np.ndarray | None   # inverse penalised information (rms "simple" variance)
    loglik: float             # unpenalised log-likelihood at the estimate
    n_iter: int
    converged: bool
    info: np.ndarray | None = None       # unpenalised information X'WX
    effective_df: float | None = None    # trace(vcov @ info) - 1 (intercept excluded)


def fit_logistic_ridge(X: np.ndarray, y: np.ndarray, P: np.ndarray | None = None,
                       offset: np.ndarray | None = None, start: np.ndarray | None = None,
                       tol: float = 1e-12, max_iter: int = 100) -> LogisticFit:
    """Newton-Raphson for ``max loglik(b) - 0.5 b' P b``.

    ``X`` must contain the intercept column (unpenalised: its row/column of
    ``P`` is zero).  Convergence: relative change of the deviance below ``tol``
    and max absolute step below ``sqrt(tol)``; step halving guarantees ascent.
    """
    n, p = X.shape
    if P is None:
        P = np.zeros((p, p))
    off = np.zeros(n) if offset is None else offset
    b = np.zeros(p) if start is None else np.asarray(start, float).copy()
    if start is None:
        ybar = np.clip(y.mean(), 1e-8, 1 - 1e-8)
        b[0] = np.log(ybar / (1 - ybar))

    def objective(beta: np.ndarray) -> float:
        return loglik(y, X @ beta + off) - 0.5 * beta @ P @ beta

    obj = objective(b)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        eta = X @ b + off
        mu = special.expit(eta)
        w = mu * (1 - mu)
        grad = X.T @ (y - mu) - P @ b
        H = X.T @ (X * w[:, None]) + P
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, grad, rcond=None)[0]
        t = 1.0
        for _ in range(50):
            b_new = b + t * step
            obj_new = objective(b_new)
            if obj_new >= obj - 1e-12 * abs(obj):
                break
            t /= 2
        small = np.max(np.abs(t * step)) < np.sqrt(tol) * (1 + np.max(np.abs(b)))
        rel = abs(obj_new - obj) / (abs(obj) + 0.1)
        b, obj = b_new, obj_new
        if rel < tol and small:
            converged = True
            break
    eta = X @ b + off
    mu = special.expit(eta)
    w = mu * (1 - mu)
    info = X.T @ (X * w[:, None])
    try:
        vcov = np.linalg.inv(info + P)
    except np.linalg.LinAlgError:
        vcov = None
    edf = float(np.trace(vcov @ info)) - 1.0 if vcov is not None else None
    return LogisticFit(coef=b, vcov=vcov, loglik=loglik(y, eta), n_iter=it,
                       converged=converged, info=info, effective_df=edf)


# --------------------------------------------------------------------------- glmnet


def _standardize(X: np.ndarray, standardize: bool):
    """glmnet's standardisation: weights 1/n, population (divide-by-n) sd."""
    mean = X.mean(axis=0)
    if standardize:
        sd = np.sqrt(np.mean((X - mean) ** 2, axis=0))
    else:
        sd = np.ones(X.shape[1])
    return mean, sd


def _scaled_penalty_factor(penalty_factor: np.ndarray) -> np.ndarray:
    pf = np.maximum(np.asarray(penalty_factor, float), 0.0)
    if pf.sum() <= 0:
        return pf
    return pf * len(pf) / pf.sum()


def glmnet_lambda_max(X: np.ndarray, y: np.ndarray, alpha: float = 1.0,
                      penalty_factor: np.ndarray | None = None, standardize: bool = True,
                      offset: np.ndarray | None = None) -> float:
    """Smallest lambda at which every penalised coefficient is zero (glmnet's
    ``lambda.max``; for ``alpha < 1e-3`` glmnet uses ``alpha = 1e-3`` here)."""
    n, p = X.shape
    pf = _scaled_penalty_factor(np.ones(p) if penalty_factor is None else penalty_factor)
    mean, sd = _standardize(X, standardize)
    sd = np.where(sd > 0, sd, 1.0)
    Z = (X - mean) / sd
    unpen = pf == 0
    # null model: intercept + unpenalised columns
    A = np.column_stack([np.ones(n), Z[:, unpen]])
    fit0 = fit_logistic_ridge(A, y, offset=offset)
    mu0 = special.expit(A @ fit0.coef + (0 if offset is None else offset))
    g = np.abs(Z.T @ (y - mu0)) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pf > 0, g / pf, 0.0)
    return float(np.max(ratio) / max(alpha, 1e-3))


class _LogisticPaths:
    """The smooth parts ``-sum_i w_mi loglik_i / n_m`` of M logistic problems sharing the
    design ``A`` (n, q), outcome ``y`` and offset, with 0/1 observation weights ``w``
    (M, n), for :func:`_logistic_enet_paths`.

    With ``s = (2y - 1) eta`` and ``p = expit(s)`` (the fitted probability of the
    observed outcome), ``y - mu = (2y - 1)(1 - p)``, ``mu (1 - mu) = p (1 - p)`` and
    ``loglik_i = log p``: one exponential per observation gives the gradient, the
    Hessian and (with one logarithm, only when asked for) the value.  ``precise=False``
    evaluates in single precision (three to four times cheaper): used for Newton steps
    far from a solution, never to certify one.  The Hessian is always accumulated in
    single precision: it only sets the Newton step, whose fixed point (the exact
    minimiser) is fixed by the double-precision gradient.
    """

    def __init__(self, A, y, w, offset=None):
        self.A = A
        self.AT = np.ascontiguousarray(A.T)
        self.A32 = A.astype(np.float32)
        self.AT32 = np.ascontiguousarray(self.AT, dtype=np.float32)
        self.off = None if offset is None else np.asarray(offset, float)
        self.sgn = 2.0 * np.asarray(y, float) - 1.0
        self.sgn32 = self.sgn.astype(np.float32)
        self.y = y
        self.nw = w.sum(axis=1)
        self.wn = w / self.nw[:, None]
        self.wn32 = self.wn.astype(np.float32)
        q = A.shape[1]
        self.iu = np.triu_indices(q)
        self.AU32 = np.ascontiguousarray(A[:, self.iu[0]] * A[:, self.iu[1]], dtype=np.float32)

    def _rows(self, arr, idx):
        return arr if idx is None else arr[idx]

    def __call__(self, b, idx, precise, hessian=True):
        """Gradient (k, q), Hessian (k, q, q) (None unless ``hessian``) and ``p`` (k, n)
        (None when not precise)."""
        if precise:
            wn = self._rows(self.wn, idx)
            eta = b @ self.AT
            if self.off is not None:
                eta += self.off
            p = special.expit(eta * self.sgn)
            u = 1.0 - p
            g = -((wn * (u * self.sgn)) @ self.A)
            if not hessian:
                return g, None, p
            v = (wn * np.maximum(p * u, 1e-10)).astype(np.float32)
        else:
            wn = self._rows(self.wn32, idx)
            eta = b.astype(np.float32) @ self.AT32
            if self.off is not None:
                eta += self.off.astype(np.float32)
            eta *= self.sgn32
            np.negative(eta, out=eta)
            np.clip(eta, -80.0, 80.0, out=eta)
            e = np.exp(eta)                                   # exp(-s)
            u = e / (1.0 + e)                                 # 1 - p
            g = -((wn * (u * self.sgn32)) @ self.A32).astype(float)
            v = wn * np.maximum(u * (1.0 - u), 1e-10)
            p = None
        h = v @ self.AU32
        k, q = b.shape
        H = np.empty((k, q, q))
        H[:, self.iu[0], self.iu[1]] = h
        H[:, self.iu[1], self.iu[0]] = h
        return g, H, p

    def value_from_p(self, p, idx):
        """The smooth objective of problems ``idx`` from their ``p`` (precise call)."""
        wn = self._rows(self.wn, idx)
        with np.errstate(divide="ignore"):
            lp = np.log(p)
        if not np.all(np.isfinite(lp)):              # p underflowed: log expit(s) ~ s
            return self.value(None, idx, p=p)
        return -np.sum(wn * lp, axis=1)

    def value(self, b, idx, p=None):
        """The smooth objective of problems ``idx`` at ``b`` (exact, stable)."""
        wn = self._rows(self.wn, idx)
        if p is not None:
            s = special.logit(p)
        else:
            eta = b @ self.AT
            if self.off is not None:
                eta = eta + self.off
            s = eta * self.sgn
        return np.sum(wn * np.logaddexp(0.0, -s), axis=1)


def _logistic_enet_paths(prob: _LogisticPaths, b0, l1, l2, loglam, usable, *,
                         f_null=None, fdev=None, devmax=0.999, step_tol=1e-6,
                         max_iter=100):
    """Batched proximal-Newton paths of M logistic elastic-net problems.

    ``l1``/``l2`` (L, M, q) penalty weights, ``loglam`` (L, M) the log lambdas (for the
    secant predictor; None: warm start only), ``usable`` (M, q).  With ``fdev`` each
    problem's path stops as glmnet's binomial path does: from the 5th lambda on, once
    its deviance ratio ``1 - f / f_null`` gains less than ``fdev`` or exceeds
    ``devmax``; a stopped problem is no longer evaluated (its later entries repeat its
    last solution).  Each lambda: Newton steps on the penalised quadratic model (solved
    exactly by :func:`ipdma._enet.solve_l1_quadratic`), single precision while the steps
    are large, double precision to finish; a problem has converged when a step computed
    from the double-precision gradient is below ``step_tol * (1 + max|b|)`` with an
    unchanged active set (the step is then taken: the error is ~ its square).  Full
    Newton steps are verified by the directional derivative at the new point (exact
    objective values and step halving only when it does not certify descent).

    Returns ``B`` (L', M, q), ``conv`` (L', M) and the path lengths (M,).
    """
    M, q = b0.shape
    L = l1.shape[0]
    b = np.array(b0, float)
    B = np.empty((L, M, q))
    conv = np.zeros((L, M), bool)
    lengths = np.full(M, L)
    stopped = np.zeros(M, bool)
    prev_dr = np.zeros(M)
    fval = np.zeros(M)
    need_f = fdev is not None
    # gradient and Hessian at each problem's last solution (from its last precise
    # evaluation, moved to the solution by the quadratic model): the tangent predictor
    g_sol = np.zeros((M, q))
    H_sol = np.zeros((M, q, q))
    have = np.zeros(M, bool)
    big = 1e-3
    first_rel = np.inf
    for k in range(L):
        live = np.flatnonzero(~stopped)
        l1k, l2k = l1[k], l2[k]
        tp = live[have[live]]
        if len(tp):
            # tangent predictor: the exact minimiser of the previous solution's quadratic
            # model under this lambda's penalty (no evaluation; error ~ (d lambda)^2)
            Hs, bs = H_sol[tp], b[tp]
            b[tp] = solve_l1_quadratic(Hs, np.einsum("mij,mj->mi", Hs, bs) - g_sol[tp],
                                       l1k[tp], l2k[tp], bs, usable[tp])
        a = live
        ba = b[a]
        allrows = len(a) == M
        precise = bool(first_rel < 1e-5)
        g, H, P = prob(ba, None if allrows else a, precise)
        n_prec = 0
        first = True
        hdist = np.zeros(len(a))     # relative distance from H's point (chord steps)
        for it in range(max_iter):
            x = solve_l1_quadratic(H, np.einsum("mij,mj->mi", H, ba) - g, l1k[a], l2k[a],
                                   ba, usable[a])
            step = x - ba
            rel = np.max(np.abs(step), axis=1) / (1 + np.max(np.abs(x), axis=1))
            if first:
                first_rel = float(np.max(rel))
                first = False
            if precise:
                # with a Hessian from a nearby point (relative distance hdist) the error
                # after the step is ~ hdist * step, else ~ step^2
                fin = ((rel < step_tol) & (rel * hdist < 1e-11)
                       & np.all((x != 0) == (ba != 0), axis=1))
                if fin.any():
                    ia = a[fin]
                    s = step[fin]
                    b[ia] = x[fin]
                    conv[k, ia] = True
                    Hf = H[fin]
                    Hs_ = np.einsum("mij,mj->mi", Hf, s)
                    g_sol[ia] = g[fin] + Hs_
                    H_sol[ia] = Hf
                    have[ia] = True
                    if need_f:
                        fval[ia] = (prob.value_from_p(P[fin], ia) + np.sum(g[fin] * s, axis=1)
                                    + 0.5 * np.sum(s * Hs_, axis=1))
                    keep = ~fin
                    a, ba, step, g, x, rel = a[keep], ba[keep], step[keep], g[keep], x[keep], \
                        rel[keep]
                    H, hdist = H[keep], hdist[keep]
                    if not len(a):
                        break
            # next point: the full step, verified by the directional derivative there
            n_prec += precise
            # after a single-precision step that was small, the double-precision
            # gradient is evaluated without a new Hessian (a chord step)
            chord = not precise and bool(np.max(rel) < 1e-4)
            precise = bool(np.max(rel) < big) or n_prec > 0 or it > 8
            t = np.ones(len(a))
            l1a, l2a = l1k[a], l2k[a]
            d0 = np.sum(step * (g + l2a * ba)
                        + l1a * np.where(ba != 0, np.sign(ba) * step, np.abs(step)), axis=1)
            obj0 = None
            for _ls in range(40):
                ts = t[:, None] * step
                cand = ba + ts
                g_c, H_c, P_c = prob(cand, None if len(a) == M else a, precise,
                                     hessian=not chord)
                d1 = np.sum(ts * (g_c + l2a * cand)
                            + l1a * np.where(cand != 0, np.sign(cand) * ts, -np.abs(ts)), axis=1)
                bad = ~((d0 < 0) & (d1 <= 0.5 * np.abs(t * d0))) & ~(d1 <= 0)
                if not bad.any():
                    break
                ib = np.flatnonzero(bad)
                if obj0 is None:
                    obj0 = (prob.value(ba, a) + np.sum(l1a * np.abs(ba), axis=1)
                            + 0.5 * np.sum(l2a * ba * ba, axis=1))
                obj_c = (prob.value(cand[ib], a[ib]) + np.sum(l1a[ib] * np.abs(cand[ib]), axis=1)
                         + 0.5 * np.sum(l2a[ib] * cand[ib] ** 2, axis=1))
                bad[ib] = ~(obj_c <= obj0[ib] + 1e-13 * np.abs(obj0[ib]))
                if not bad.any():
                    break
                t = np.where(bad, t / 2, t)
            ba, g, P = cand, g_c, P_c
            if H_c is None:
                hdist = hdist + t * rel
            else:
                H, hdist = H_c, np.zeros(len(a))
            b[a] = ba
        B[k] = b
        if need_f:
            dr = 1.0 - fval / f_null
            hit = ~stopped & (k >= 4) & ((dr > devmax) | (dr - prev_dr < fdev))
            lengths[hit] = k + 1
            stopped |= hit
            prev_dr = dr
            if stopped.all():
                return B[:k + 1], conv[:k + 1], lengths
    return B, conv, lengths


def _enet_penalties(lambdas, alpha, pf, rho):
    """l1/l2 weights (L, M, 1 + p) on [intercept, standardised columns]; ``rho`` (M, p)
    rescales a column's penalty when a problem standardises it differently."""
    lam = np.asarray(lambdas, float)[:, None, None]
    l1 = np.zeros((len(lambdas), rho.shape[0], rho.shape[1] + 1))
    l2 = np.zeros_like(l1)
    l1[..., 1:] = lam * alpha * pf * rho
    l2[..., 1:] = lam * (1 - alpha) * pf * rho ** 2
    return l1, l2


def glmnet_weighted_paths(X: np.ndarray, y: np.ndarray, weights: np.ndarray,
                          lambdas: np.ndarray, alpha: float = 1.0,
                          penalty_factor: np.ndarray | None = None, standardize: bool = True,
                          offset: np.ndarray | None = None, max_iter: int = 200,
                          fdev: float | None = None, devmax: float = 0.999
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """M elastic-net logistic paths on row subsets of one data set, solved together.

    Problem m is :func:`glmnet_path` on the rows with ``weights[m] == 1`` (0/1 weights
    (M, n)), standardised with those rows' own means and sds as ``glmnet`` does (a
    cross-validation fold, or the full data: all weights 1).  ``lambdas`` is one
    sequence (L,) for every problem or one per problem (M, L), each decreasing.  With
    ``fdev`` each path stops as glmnet's binomial path does (from the 5th lambda, once
    the problem's deviance ratio gains less than ``fdev`` or exceeds ``devmax``); a
    stopped problem costs nothing further.  All problems share one design (the
    full-data standardisation; a problem's own standardisation only rescales its
    penalty), so that every Newton iteration evaluates all of them in a few array
    operations; the path solver is :func:`_logistic_enet_paths` (exact minimisers).

    Returns coefficients (M, L, 1 + p) on the original scale (intercept first),
    convergence flags (M, L) and each path's number of lambdas (M,): entries beyond a
    problem's stop repeat its last solution.
    """
    n, p = X.shape
    pf = _scaled_penalty_factor(np.ones(p) if penalty_factor is None else penalty_factor)
    w = np.asarray(weights, float)
    if w.ndim == 1:
        w = w[None]
    M = w.shape[0]
    nw = w.sum(axis=1)
    mean, sd = _standardize(X, True)
    sd_safe = np.where(sd > 0, sd, 1.0)
    Z = (X - mean) / sd_safe
    Z[:, sd <= 0] = 0.0
    if M == 1 and np.all(w == 1):
        mk, sdk = mean[None], sd[None]
    else:
        mk = (w @ X) / nw[:, None]
        sdk = np.sqrt(np.maximum((w @ X ** 2) / nw[:, None] - mk ** 2, 0.0))
    usable = np.column_stack([np.ones(M, bool), (sdk > 0) & (sd > 0)])
    rho = sdk / sd_safe if standardize else 1.0 / sd_safe * np.ones((M, 1))
    rho_u = np.where(usable[:, 1:], rho, 1.0)
    A = np.column_stack([np.ones(n), Z])
    prob = _LogisticPaths(A, y, w, offset)
    ybar = np.clip((w @ y) / nw, 1e-8, 1 - 1e-8)
    b0 = np.zeros((M, p + 1))
    b0[:, 0] = np.log(ybar / (1 - ybar))
    lam = np.asarray(lambdas, float)
    lam = np.broadcast_to(lam, (M, lam.shape[-1])) if lam.ndim == 1 else lam
    l1, l2 = _enet_penalties(np.ones(lam.shape[1]), alpha, pf, rho_u)
    l1 *= lam.T[:, :, None]
    l2 *= lam.T[:, :, None]
    loglam = np.log(lam.T) if np.all(lam > 0) else None
    f_null = None
    if fdev is not None:
        if offset is None:
            f_null = -(ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))   # per row
        else:
            f_null = np.array([-fit_logistic_ridge(np.ones((int(nw[m]), 1)), y[w[m] > 0],
                                                   offset=offset[w[m] > 0]).loglik / nw[m]
                               for m in range(M)])
    with one_blas_thread():
        B, conv, lengths = _logistic_enet_paths(prob, b0, l1, l2, loglam, usable,
                                                f_null=f_null, fdev=fdev, devmax=devmax,
                                                max_iter=max_iter)
    beta = np.where(usable[None, :, 1:], B[..., 1:] / sd_safe, 0.0)    # (L, M, p)
    out = np.empty_like(B)
    out[..., 1:] = beta
    out[..., 0] = B[..., 0] - beta @ mean
    return out.transpose(1, 0, 2), conv.T, np.minimum(lengths, B.shape[0])


def glmnet_path(X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, alpha: float = 1.0,
                penalty_factor: np.ndarray | None = None, standardize: bool = True,
                offset: np.ndarray | None = None, tol: float = 1e-14,
                max_iter: int = 200, fdev: float | None = None,
                devmax: float = 0.999) -> tuple[np.ndarray, np.ndarray]:
    """Elastic-net logistic regression along ``lambdas`` (fitted in the given
    order with warm starts; pass them decreasing as glmnet does).

    Objective (on standardised columns ``z_j = (x_j - mean_j)/sd_j``, sd with
    divisor n)::

        -loglik/n + lambda * sum_j pf_j [ (1 - alpha)/2 b_j^2 + alpha |b_j| ]

    with penalty factors rescaled to sum to the number of columns.  Returns the
    coefficients on the original scale, shape ``(len(lambdas), 1 + p)``
    (intercept first), and a boolean array of convergence flags.  With ``fdev``
    the path stops early as glmnet's binomial path does: from the 5th lambda on,
    once the deviance ratio gains less than ``fdev`` (absolute) or exceeds
    ``devmax`` (the returned arrays are then shorter).  Solver: the batched
    proximal-Newton path solver of :func:`glmnet_weighted_paths` with one problem
    (exact minimiser; ``tol`` is kept for compatibility).
    """
    n = X.shape[0]
    out, conv, lengths = glmnet_weighted_paths(
        X, y, np.ones((1, n)), np.asarray(lambdas, float), alpha, penalty_factor,
        standardize, offset, max_iter=max_iter, fdev=fdev, devmax=devmax)
    m = int(lengths[0])
    return out[0, :m], conv[0, :m]


def glmnet_cv_paths(X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, folds: np.ndarray,
                    alpha: float = 1.0, penalty_factor: np.ndarray | None = None,
                    standardize: bool = True, max_iter: int = 200,
                    fdev: float | None = None, devmax: float = 0.999
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The K cross-validation paths of :func:`glmnet_path` (fold k trained on the rows
    with ``folds != k``, standardised with its own means and sds as ``cv.glmnet``
    does), solved together by :func:`glmnet_weighted_paths`.

    ``lambdas`` is one sequence (L,) for every fold (``cv.glmnet`` given ``lambda=``)
    or one per fold (K, L) (``cv.glmnet``'s default: each fold fit computes its own
    sequence).  With ``fdev`` each fold's path stops as glmnet's binomial path does
    with its default sequence (from the 5th lambda, once the fold's training deviance
    ratio gains less than ``fdev`` or exceeds ``devmax``).

    Returns coefficients (K, L, 1 + p) on the original scale (intercept first),
    convergence flags (K, L) and the number of lambdas of each fold's path (K,): the
    entries beyond a fold's stop hold solutions glmnet would not have computed.
    """
    K = int(folds.max()) + 1
    w = (folds[None, :] != np.arange(K)[:, None]).astype(float)       # (K, n) training rows
    return glmnet_weighted_paths(X, y, w, lambdas, alpha, penalty_factor, standardize,
                                 max_iter=max_iter, fdev=fdev, devmax=devmax)


def glmnet_lambda_max_weighted(X: np.ndarray, y: np.ndarray, weights: np.ndarray,
                               alpha: float = 1.0, penalty_factor: np.ndarray | None = None,
                               standardize: bool = True) -> np.ndarray:
    """:func:`glmnet_lambda_max` of the row subsets ``weights[m] == 1`` (0/1 weights
    (M, n)), e.g. the training sets of cross-validation folds, at once (closed form
    when every column is penalised: the null model is the intercept alone)."""
    p = X.shape[1]
    w = np.asarray(weights, float)
    pfr = np.ones(p) if penalty_factor is None else np.asarray(penalty_factor, float)
    pf = _scaled_penalty_factor(pfr)
    if np.any(pf <= 0):
        return np.array([glmnet_lambda_max(X[wm > 0], y[wm > 0], alpha, pfr, standardize)
                         for wm in w])
    nw = w.sum(axis=1)
    mk = (w @ X) / nw[:, None]
    if standardize:
        sdk = np.sqrt(np.maximum((w @ X ** 2) / nw[:, None] - mk ** 2, 0.0))
        sdk = np.where(sdk > 0, sdk, 1.0)
    else:
        sdk = np.ones_like(mk)
    ybar = np.clip((w @ y) / nw, 1e-8, 1 - 1e-8)
    R = w * (y[None] - ybar[:, None])
    c = R @ X - R.sum(axis=1)[:, None] * mk
    g = np.abs(c / sdk) / nw[:, None]
    return np.max(g / pf, axis=1) / max(alpha, 1e-3)


def glmnet_interpolate(lambdas: np.ndarray, coefs: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Coefficients at ``s`` from a path fitted at decreasing ``lambdas`` (L,), as
    ``predict.glmnet(s = )`` gives them: linear in lambda between the two neighbouring
    fits, the first (last) fit above (below) the path's range.  ``coefs`` (L, q);
    returns (len(s), q)."""
    lam = np.asarray(lambdas, float)[::-1]                # increasing
    c = np.asarray(coefs, float)[::-1]
    s = np.clip(np.asarray(s, float), lam[0], lam[-1])
    if len(lam) == 1:
        return np.repeat(c, len(s), axis=0)
    j = np.clip(np.searchsorted(lam, s, side="right") - 1, 0, len(lam) - 2)
    frac = (s - lam[j]) / (lam[j + 1] - lam[j])
    return c[j] + frac[:, None] * (c[j + 1] - c[j])


# --------------------------------------------------------------------------- GLMM


@dataclass
class RandomInterceptFit:
    coef: np.ndarray          # fixed effects, intercept first
    sigma: float              # random-intercept SD
    blups: np.ndarray         # conditional modes per group
    vcov: np.ndarray | None   # of coef ("joint" as lme4's vcov(glmer), or "conditional")
    loglik: float             # approximate marginal log-likelihood (penalty excluded)
    converged: bool
    n_agq: int
    vcov_type: str = "joint"
    sigma_se: float | None = None   # SE of sigma from the joint Hessian (None: conditional)
    blup_se: np.ndarray | None = None   # conditional SD of each mode (lme4's condVar)


def joint_hessian_vcov(negloglik, params: np.ndarray, n_fixed: int,
                       step: np.ndarray | float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the fixed effects from the joint Hessian of a negative
    (approximate) marginal log-likelihood.

    ``params`` is ``[fixed effects (n_fixed), variance parameters]``, at the
    optimum.  The Hessian of ``negloglik`` over *all* parameters is computed by
    central differences of the function values (steps ``step``, per parameter,
    on the scale of ``params``), and the fixed-effect block of its inverse is
    returned -- what ``vcov()`` gives for an ``lme4::glmer`` fit by default
    (lme4 differentiates the Laplace/AGQ deviance ``-2 loglik`` over
    ``(theta, beta)`` numerically, ``vcov = 2 * solve(H)[beta, beta]``).  The
    block is invariant to a smooth re-parametrisation of the variance
    parameters (SD, log SD or lme4's ``theta``) at the optimum.

    Returns ``(vcov_fixed, H)`` with ``H`` the full Hessian of ``negloglik``.
    Raises :class:`numpy.linalg.LinAlgError` when ``H`` is not positive definite.
    """
    x0 = np.asarray(params, float)
    k = x0.size
    h = np.broadcast_to(np.asarray(step, float), (k,)).copy()
    f0 = negloglik(x0)
    H = np.empty((k, k))
    fp = np.empty(k)
    fm = np.empty(k)
    for i in range(k):
        e = np.zeros(k)
        e[i] = h[i]
        fp[i], fm[i] = negloglik(x0 + e), negloglik(x0 - e)
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / h[i] ** 2
    for i in range(k):
        for j in range(i + 1, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            fpp = negloglik(x0 + ei + ej)
            fmm = negloglik(x0 - ei - ej)
            # f(x+ei+ej) + f(x-ei-ej) - f(x+ei) - f(x-ei) - f(x+ej) - f(x-ej) + 2 f(x)
            H[i, j] = H[j, i] = ((fpp + fmm - fp[i] - fm[i] - fp[j] - fm[j] + 2 * f0)
                                 / (2 * h[i] * h[j]))
    np.linalg.cholesky(H)
    V = np.linalg.inv(H)
    V = 0.5 * (V + V.T)
    return V[:n_fixed, :n_fixed], H


def _group_modes(eta: np.ndarray, y: np.ndarray, g: np.ndarray, G: int, sigma: float,
                 b0: np.ndarray | None = None):
    """Conditional modes of the random intercepts (Newton, vectorised over groups)."""
    b = np.zeros(G) if b0 is None else b0.copy()
    s2 = sigma ** 2
    for _ in range(50):
        mu = special.expit(eta + b[g])
        grad = np.bincount(g, y - mu, minlength=G) - b / s2
        hess = np.bincount(g, mu * (1 - mu), minlength=G) + 1 / s2
        d = grad / hess
        b = b + d
        if np.max(np.abs(d)) < 1e-12:
            break
    mu = special.expit(eta + b[g])
    hess = np.bincount(g, mu * (1 - mu), minlength=G) + 1 / s2
    return b, hess


def _marginal_loglik(beta, log_sigma, X, y, g, G, nodes, weights, b_start=None):
    sigma = float(np.exp(log_sigma))
    eta = X @ beta
    b, hess = _group_modes(eta, y, g, G, sigma, b_start)
    scale = np.sqrt(1.0 / hess)                    # per group
    # AGQ: integral ~= sqrt(2) * scale * sum_k w_k exp(x_k^2) f(b + sqrt(2) scale x_k)
    bk = b[:, None] + np.sqrt(2.0) * scale[:, None] * nodes[None, :]   # G x K
    # conditional log-likelihood per group and node: vectorised over patients x nodes
    etak = eta[:, None] + bk[g, :]
    ll_i = y[:, None] * etak - np.logaddexp(0.0, etak)
    llg = np.column_stack([np.bincount(g, ll_i[:, k], minlength=G)
                           for k in range(len(nodes))])
    logprior = -0.5 * bk ** 2 / sigma ** 2 - 0.5 * np.log(2 * np.pi * sigma ** 2)
    logterm = llg + logprior + nodes[None, :] ** 2 + np.log(weights)[None, :]
    lg = special.logsumexp(logterm, axis=1) + np.log(np.sqrt(2.0) * scale)
    return float(np.sum(lg)), b


def fit_random_intercept(X: np.ndarray, y: np.ndarray, groups: np.ndarray,
                         P: np.ndarray | None = None, n_agq: int = 1,
                         start: np.ndarray | None = None,
                         vcov: str = "joint") -> RandomInterceptFit:
    """Logistic regression with a normal random intercept per group by adaptive
    Gauss-Hermite quadrature (``n_agq = 1``: Laplace).  ``P`` adds the quadratic
    penalty ``0.5 b' P b`` on the fixed effects (PMLE).  ``vcov`` chooses the
    fixed-effect covariance (see :func:`random_intercept_vcov`; ``"joint"`` is
    lme4's default)."""
    if vcov not in ("joint", "conditional"):
        raise ValueError(f"vcov must be 'joint' or 'conditional' (got {vcov!r})")
    _, g = np.unique(groups, return_inverse=True)
    G = int(g.max()) + 1
    p = X.shape[1]
    if P is None:
        P = np.zeros((p, p))
    nodes, weights = np.polynomial.hermite.hermgauss(n_agq)
    glm0 = fit_logistic_ridge(X, y, P)
    if start is None:
        start = glm0.coef
    # optimise on a scale where the parameters are ~unit (GLM standard errors)
    scale = np.r_[np.sqrt(np.diag(glm0.vcov)) if glm0.vcov is not None else np.ones(p), 1.0]
    state = {"b": None}

    def negobj(theta):
        beta, ls = theta[:p], theta[p]
        ll, b = _marginal_loglik(beta, ls, X, y, g, G, nodes, weights, state["b"])
        state["b"] = b
        return -(ll - 0.5 * beta @ P @ beta)

    theta0 = np.r_[start, np.log(0.5)]

    def f_scaled(u):
        return negobj(theta0 + scale * u)

    res = optimize.minimize(f_scaled, np.zeros(p + 1), method="BFGS",
                            options={"gtol": 1e-6, "maxiter": 2000})
    if not res.success:
        res2 = optimize.minimize(f_scaled, res.x, method="Nelder-Mead",
                                 options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000})
        if res2.fun <= res.fun:
            res = res2
    theta = theta0 + scale * res.x
    converged = bool(res.success)
    if not np.isfinite(res.fun):
        raise ConvergenceError("random-intercept fit failed: the marginal likelihood is not "
                               "finite; check for trials without events or separation")
    if theta[p] < np.log(1e-4):
        from ..errors import BoundaryWarning

        warnings.warn("random-intercept SD estimated at ~0 (boundary); the fit is equivalent "
                      "to trial_effect='none'", BoundaryWarning, stacklevel=3)
    sigma_hat = float(np.exp(theta[p]))
    vc, sigma_se = None, None
    if np.isfinite(scale).all():
        try:
            vc, sigma_se = random_intercept_vcov(X, y, groups, theta[:p], sigma_hat, P=P,
                                                 n_agq=n_agq, vcov=vcov, step_scale=scale[:p],
                                                 _codes=(g, G))
        except np.linalg.LinAlgError:
            vc = None
    ll, b = _marginal_loglik(theta[:p], theta[p], X, y, g, G, nodes, weights)
    if not converged:
        warnings.warn("random-intercept optimisation did not report convergence "
                      f"({res.message})", ConvergenceWarning, stacklevel=3)
    _, hess = _group_modes(X @ theta[:p], y, g, G, sigma_hat, b)
    return RandomInterceptFit(coef=theta[:p], sigma=sigma_hat, blups=b, vcov=vc, loglik=ll,
                              converged=converged, n_agq=n_agq, vcov_type=vcov,
                              sigma_se=sigma_se, blup_se=np.sqrt(1.0 / hess))


def random_intercept_vcov(X: np.ndarray, y: np.ndarray, groups: np.ndarray, coef: np.ndarray,
                          sigma: float, *, P: np.ndarray | None = None, n_agq: int = 1,
                          vcov: str = "joint", step_scale: np.ndarray | None = None,
                          _codes=None) -> tuple[np.ndarray, float | None]:
    """Covariance of the fixed effects of a logistic random-intercept GLMM.

    Parameters
    ----------
    X, y, groups : arrays
        Fixed-effects design (with the intercept column), 0/1 outcome, group labels.
    coef, sigma : estimates
        Fixed effects and random-intercept SD at the (penalised) ML optimum.
    P : array, optional
        Quadratic penalty ``0.5 b' P b`` on the fixed effects (PMLE).
    n_agq : int
        Quadrature points of the approximate likelihood (1 = Laplace).
    vcov : {"joint", "conditional"}
        ``"joint"`` (default, = ``vcov()`` of ``lme4::glmer``): fixed-effect block of
        the inverse Hessian of the negative approximate log-likelihood over the
        fixed effects *and* ``log sigma`` (central differences, see
        :func:`joint_hessian_vcov`).  ``"conditional"``: ``sigma`` held at its
        estimate -- the inverse of the Schur complement of the joint ``(beta, b)``
        penalised information (lme4's ``vcov(m, use.hessian = FALSE)``, i.e.
        ``sigma^2 * m@pp$unsc()``).
    step_scale : array, optional
        Typical scale of each fixed effect (e.g. GLM standard errors); the
        finite-difference steps are ``1e-3`` times these (default 1).

    Returns
    -------
    (vcov, sigma_se) : the fixed-effect covariance and the SE of ``sigma`` (delta
    method from ``log sigma``; None for ``"conditional"``).
    """
    if vcov not in ("joint", "conditional"):
        raise ValueError(f"vcov must be 'joint' or 'conditional' (got {vcov!r})")
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    coef = np.asarray(coef, float)
    p = X.shape[1]
    if P is None:
        P = np.zeros((p, p))
    if _codes is None:
        _, g = np.unique(groups, return_inverse=True)
        G = int(g.max()) + 1
    else:
        g, G = _codes
    if vcov == "conditional":
        b_hat, _ = _group_modes(X @ coef, y, g, G, sigma)
        mu = special.expit(X @ coef + b_hat[g])
        w = mu * (1 - mu)
        h = np.bincount(g, w, minlength=G) + sigma ** -2
        XW = np.column_stack([np.bincount(g, w * X[:, k], minlength=G) for k in range(p)])
        info = X.T @ (X * w[:, None]) - (XW / h[:, None]).T @ XW + P
        return np.linalg.inv(info), None
    nodes, weights = np.polynomial.hermite.hermgauss(n_agq)
    b_start = _group_modes(X @ coef, y, g, G, sigma)[0]

    def negobj(theta):
        beta = theta[:p]
        ll, _ = _marginal_loglik(beta, theta[p], X, y, g, G, nodes, weights, b_start)
        return -(ll - 0.5 * beta @ P @ beta)

    sc = np.ones(p) if step_scale is None else np.asarray(step_scale, float)
    V, H = joint_hessian_vcov(negobj, np.r_[coef, np.log(sigma)], p,
                              step=1e-3 * np.r_[sc, 1.0])
    Vfull = np.linalg.inv(H)
    sigma_se = float(sigma * np.sqrt(Vfull[p, p]))
    return V, sigma_se

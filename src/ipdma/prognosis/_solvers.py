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

from .._enet import one_blas_thread, solve_enet_path
from ..errors import ConvergenceError, ConvergenceWarning

__all__ = [
    "LogisticFit",
    "fit_logistic_ridge",
    "fit_random_intercept",
    "glmnet_cv_paths",
    "glmnet_interpolate",
    "glmnet_lambda_max",
    "glmnet_path",
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


class _LogisticBatch:
    """Smooth part ``-sum_i w_mi loglik_i / n_m`` of M logistic problems sharing the
    design ``A`` (n, q) and outcome ``y``, with 0/1 observation weights ``w`` (M, n)
    (a cross-validation fold = the weights of its training rows): gradient and Hessian
    for all problems in a few array operations (one matrix product each).

    The value is not computed by ``__call__`` (``f`` is None): its ``log(1 + exp(eta))``
    costs more than the gradient and Hessian together, and the path solver needs it
    only when a Newton step is not certified as a descent step by its directional
    derivative; :meth:`value` gives it then.
    """

    def __init__(self, A, y, w, offset=None):
        self.A, self.y = A, y
        self.w = w
        self.nw = w.sum(axis=1)
        self.wn = w / self.nw[:, None]
        self.off = 0.0 if offset is None else offset
        q = A.shape[1]
        # products of the column pairs (upper triangle): every Hessian is one matrix
        # product v @ AU, M weight vectors at once
        self.iu = np.triu_indices(q)
        self.AU = A[:, self.iu[0]] * A[:, self.iu[1]]

    def value(self, b, idx=None):
        """The smooth objective of the problems ``idx`` (all if None) at ``b``."""
        wn = self.wn if idx is None else self.wn[idx]
        eta = b @ self.A.T + self.off
        return -np.sum(wn * (self.y * eta - np.logaddexp(0.0, eta)), axis=1)

    def __call__(self, b, idx=None, hessian=True):
        wn = self.wn if idx is None else self.wn[idx]
        mu = special.expit(b @ self.A.T + self.off)             # (M, n)
        g = -((wn * (self.y - mu)) @ self.A)
        if not hessian:
            return None, g, None
        v = wn * np.maximum(mu * (1 - mu), 1e-10)
        h = v @ self.AU
        M, q = b.shape
        H = np.empty((M, q, q))
        H[:, self.iu[0], self.iu[1]] = h
        H[:, self.iu[1], self.iu[0]] = h
        return None, g, H


def _enet_penalties(lambdas, alpha, pf, rho):
    """l1/l2 weights (L, M, 1 + p) on [intercept, standardised columns]; ``rho`` (M, p)
    rescales a column's penalty when a problem standardises it differently."""
    lam = np.asarray(lambdas, float)[:, None, None]
    l1 = np.zeros((len(lambdas), rho.shape[0], rho.shape[1] + 1))
    l2 = np.zeros_like(l1)
    l1[..., 1:] = lam * alpha * pf * rho
    l2[..., 1:] = lam * (1 - alpha) * pf * rho ** 2
    return l1, l2


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
    ``devmax`` (the returned arrays are then shorter).  Solver: the shared
    proximal-Newton path solver :func:`ipdma._enet.solve_enet_path` (exact
    minimiser; ``tol`` is kept for compatibility).
    """
    n, p = X.shape
    pf = _scaled_penalty_factor(np.ones(p) if penalty_factor is None else penalty_factor)
    mean, sd = _standardize(X, standardize)
    const = sd <= 0
    sd_safe = np.where(const, 1.0, sd)
    Z = (X - mean) / sd_safe
    Z[:, const] = 0.0
    A = np.column_stack([np.ones(n), Z])
    prob = _LogisticBatch(A, y, np.ones((1, n)), offset)
    b0 = np.zeros((1, p + 1))
    ybar = np.clip(y.mean(), 1e-8, 1 - 1e-8)
    b0[0, 0] = np.log(ybar / (1 - ybar))
    lambdas = np.asarray(lambdas, float)
    l1, l2 = _enet_penalties(lambdas, alpha, pf, np.ones((1, p)))
    stop = None
    if fdev is not None:
        ll_null = fit_logistic_ridge(np.ones((n, 1)), y, offset=offset).loglik
        ll_sat = 0.0
        state = {"prev": 0.0}

        def stop(k, b):
            f = prob.value(b)
            dr = 1 - (ll_sat + f[0] * n) / (ll_sat - ll_null)
            if k >= 4 and (dr > devmax or dr - state["prev"] < fdev):
                return True
            state["prev"] = dr
            return False

    with one_blas_thread():
        B, conv = solve_enet_path(prob, b0, l1, l2, lambdas=lambdas,
                                  usable=np.r_[True, ~const][None],
                                  max_iter=max_iter, stop=stop, chord=True)
    b = B[:, 0]
    out = np.empty((len(b), p + 1))
    out[:, 1:] = np.where(const, 0.0, b[:, 1:] / sd_safe)
    out[:, 0] = b[:, 0] - out[:, 1:] @ mean
    return out, conv[:, 0]


def glmnet_cv_paths(X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, folds: np.ndarray,
                    alpha: float = 1.0, penalty_factor: np.ndarray | None = None,
                    standardize: bool = True, max_iter: int = 200,
                    fdev: float | None = None, devmax: float = 0.999
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The K cross-validation paths of :func:`glmnet_path` (fold k trained on the rows
    with ``folds != k``, standardised with its own means and sds as ``cv.glmnet``
    does), solved together: one batched proximal-Newton path over the K problems.

    ``lambdas`` is one sequence (L,) for every fold (``cv.glmnet`` given ``lambda=``)
    or one per fold (K, L) (``cv.glmnet``'s default: each fold fit computes its own
    sequence).  With ``fdev`` each fold's path stops as glmnet's binomial path does
    with its default sequence (from the 5th lambda, once the fold's training deviance
    ratio gains less than ``fdev`` or exceeds ``devmax``).

    Returns coefficients (K, L, 1 + p) on the original scale (intercept first),
    convergence flags (K, L) and the number of lambdas of each fold's path (K,): the
    entries beyond a fold's stop hold solutions glmnet would not have computed.
    """
    n, p = X.shape
    pf = _scaled_penalty_factor(np.ones(p) if penalty_factor is None else penalty_factor)
    K = int(folds.max()) + 1
    w = (folds[None, :] != np.arange(K)[:, None]).astype(float)       # (K, n) training rows
    nw = w.sum(axis=1)
    # one common design (full-data standardisation); each fold's own standardisation
    # only rescales its penalty: b~_j = b_j * sd_kj / sd_j
    mean, sd = _standardize(X, True)
    sd_safe = np.where(sd > 0, sd, 1.0)
    Z = (X - mean) / sd_safe
    mk = (w @ X) / nw[:, None]
    sdk = np.sqrt(np.maximum((w @ X ** 2) / nw[:, None] - mk ** 2, 0.0))
    usable = np.column_stack([np.ones(K, bool), (sdk > 0) & (sd > 0)])
    rho = sdk / sd_safe if standardize else 1.0 / sd_safe * np.ones((K, 1))
    Z[:, sd <= 0] = 0.0
    A = np.column_stack([np.ones(n), Z])
    prob = _LogisticBatch(A, y, w)
    ybar = np.clip((w @ y) / nw, 1e-8, 1 - 1e-8)
    b0 = np.zeros((K, p + 1))
    b0[:, 0] = np.log(ybar / (1 - ybar))
    lam = np.asarray(lambdas, float)
    per_fold = lam.ndim == 2
    rho_u = np.where(usable[:, 1:], rho, 1.0)
    if per_fold:                                   # (K, L): each fold its own sequence
        l1, l2 = _enet_penalties(np.ones(lam.shape[1]), alpha, pf, rho_u)
        l1 *= lam.T[:, :, None]
        l2 *= lam.T[:, :, None]
    else:
        l1, l2 = _enet_penalties(lam, alpha, pf, rho_u)
    L = l1.shape[0]
    lengths = np.full(K, L)
    stop = None
    if fdev is not None:
        f_null = -(ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))  # per-row null
        state = {"prev": np.zeros(K), "stopped": np.zeros(K, bool)}

        def stop(k, b):
            dr = 1 - prob.value(b) / f_null
            st = state["stopped"]
            hit = ~st & (k >= 4) & ((dr > devmax) | (dr - state["prev"] < fdev))
            lengths[hit] = k + 1
            st |= hit
            state["prev"] = dr
            return bool(st.all())

    with one_blas_thread():
        B, conv = solve_enet_path(prob, b0, l1, l2, lambdas=lam[0] if per_fold else lam,
                                  usable=usable, max_iter=max_iter, step_tol=1e-6,
                                  stop=stop)
    lengths = np.minimum(lengths, B.shape[0])
    beta = np.where(usable[None, :, 1:], B[..., 1:] / sd_safe, 0.0)    # (L, K, p)
    out = np.empty_like(B)
    out[..., 1:] = beta
    out[..., 0] = B[..., 0] - beta @ mean
    return out.transpose(1, 0, 2), conv.T, lengths


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

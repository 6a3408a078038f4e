"""Maximum-likelihood engines for the risk-based NMR.

* Common treatment effects: a logistic GLM fitted by Newton / IRLS with step
  halving (the same estimator as R's ``glm(..., binomial)``).
* Random treatment effects: a logistic GLMM.  Each trial has one random
  contrast per non-baseline arm, ``delta_j ~ MVN(d_t - d_b, tau^2 (I + J) / 2)``
  (Lu & Ades multi-arm structure), written in "spherical" form
  ``delta_j = (d_t - d_b) + tau * L z_j`` with ``z_j ~ N(0, I)``.  The marginal
  likelihood of every trial is approximated by adaptive Gauss-Hermite
  quadrature around the conditional mode of ``z_j`` (``n_agq = 1`` is the
  Laplace approximation), exactly as ``lme4::glmer(nAGQ=)`` does for a scalar
  random effect, here with a tensor-product grid in the (at most a few)
  dimensions of a trial.  Fixed effects and ``tau >= 0`` are estimated jointly
  by L-BFGS-B; the gradient comes from JAX automatic differentiation (64-bit),
  with the conditional mode differentiated implicitly (one differentiable Newton
  step from the converged mode).  The fixed-effect covariance is by default
  ``vcov="joint"``, as ``vcov()`` of ``lme4::glmer``: the fixed-effect block of
  the inverse Hessian of the negative approximate log-likelihood over
  ``(beta, tau)`` jointly (central differences of the exact JAX gradient);
  ``vcov="conditional"`` holds tau at its estimate (inverse of the beta block).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from .._optional import import_optional
from ..errors import BoundaryWarning, ConvergenceError, ConvergenceWarning
from ._design import NMRDesign, expit


@dataclass
class MLFit:
    coef: np.ndarray
    cov: np.ndarray
    loglik: float
    tau: float | None = None
    tau_se: float | None = None
    iterations: int = 0
    converged: bool = True
    n_agq: int | None = None


def irls_logistic(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None,
                  tol: float = 1e-12, max_iter: int = 100) -> MLFit:
    """Newton-Raphson for a logistic GLM (canonical link, so Newton = IRLS)."""
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    beta = np.zeros(p)
    # start like R's glm: mustart = (y + 0.5) / 2
    mu0 = (y + 0.5) / 2.0
    z0 = np.log(mu0 / (1 - mu0)) - off
    beta = np.linalg.lstsq(X, z0, rcond=None)[0]

    def loglik(b: np.ndarray) -> float:
        eta = X @ b + off
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    ll = loglik(beta)
    for it in range(1, max_iter + 1):  # noqa: B007 - count reported after the loop
        eta = X @ beta + off
        mu = expit(eta)
        w = mu * (1 - mu)
        grad = X.T @ (y - mu)
        H = (X * w[:, None]).T @ X
        try:
            step = np.linalg.solve(H, grad)
        except np.linalg.LinAlgError as exc:
            raise ConvergenceError(
                "the logistic GLM information matrix is singular: a parameter is not "
                "identified (e.g. a treatment x risk term without variation in risk)."
            ) from exc
        t = 1.0
        while True:
            new = beta + t * step
            ll_new = loglik(new)
            if ll_new >= ll - 1e-12 * abs(ll) or t < 1e-8:
                break
            t *= 0.5
        change = abs(ll_new - ll) / (abs(ll) + 0.1)
        beta, ll = new, ll_new
        if change < tol and np.max(np.abs(t * step)) < 1e-8:
            break
    else:
        warnings.warn(f"logistic GLM did not converge in {max_iter} iterations",
                      ConvergenceWarning, stacklevel=3)
    mu = expit(X @ beta + off)
    w = mu * (1 - mu)
    H = (X * w[:, None]).T @ X
    cov = np.linalg.inv(H)
    if np.any(np.abs(beta) > 15) or np.any(np.sqrt(np.diag(cov)) > 1e3):
        warnings.warn(
            "very large coefficients or standard errors in the logistic GLM: the data may "
            "be (quasi-)separated (an arm with no or all events?).",
            ConvergenceWarning, stacklevel=3,
        )
    return MLFit(coef=beta, cov=cov, loglik=ll, iterations=it)


def fit_common(design: NMRDesign) -> MLFit:
    """Common-effect model: logistic GLM on the fixed-effects design."""
    return irls_logistic(design.design_matrix(), design.y)


# --------------------------------------------------------------------------- GLMM


def _trial_random_layout(design: NMRDesign):
    """Per-row loading vectors ``C`` (n x q) so that the random part of row i is
    ``tau * C[i] @ z[trial_i]``; q = largest number of non-baseline arms."""
    J = design.n_trials
    counts = np.bincount(design.re_arm_trial, minlength=J)
    q = int(counts.max()) if counts.size else 0
    A = design.re_arm_trial.size
    slot = np.zeros(A, dtype=int)
    for j in range(J):
        idx = np.flatnonzero(design.re_arm_trial == j)
        slot[idx] = np.arange(idx.size)
    # per-arm loading rows: chol rows restricted to the trial's block, in slot coordinates
    load = np.zeros((A, q))
    for a in range(A):
        j = design.re_arm_trial[a]
        idx = np.flatnonzero(design.re_arm_trial == j)
        load[a, slot[idx]] = design.re_chol[a, idx]
    C = np.zeros((design.n, q))
    has = design.re_row >= 0
    C[has] = load[design.re_row[has]]
    return C, q


def _gh_grid(n_agq: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Tensor-product probabilists' Gauss-Hermite nodes (K^q x q) and log-weights
    (normalised to sum to one, i.e. a rule for E f(Z), Z ~ N(0, I))."""
    x, w = np.polynomial.hermite_e.hermegauss(n_agq)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * q), indexing="ij")
    G = np.stack([g.ravel() for g in grids], axis=1) if q else np.zeros((1, 0))
    lw = np.log(w)
    lW = np.meshgrid(*([lw] * q), indexing="ij")
    logW = np.sum(np.stack([g.ravel() for g in lW], axis=1), axis=1) if q else np.zeros(1)
    return G, logW


def _fd_hessian(grad, x: np.ndarray) -> np.ndarray:
    """Hessian by central differences of an exact gradient (symmetrised)."""
    p = x.size
    H = np.empty((p, p))
    for k in range(p):
        h = 1e-5 * max(1.0, abs(x[k]))
        e = np.zeros(p)
        e[k] = h
        H[k] = (grad(x + e) - grad(x - e)) / (2 * h)
    return 0.5 * (H + H.T)


def _glmm_cov(Hm: np.ndarray, p: int, vcov: str = "joint") -> tuple[np.ndarray, float]:
    """Covariance of the fixed effects from the Hessian of the negative marginal
    log-likelihood in (beta, tau): the beta block of its inverse when positive definite,
    else the inverse of the beta block (conditional on tau-hat, as with tau on the
    boundary), with a warning."""
    try:
        np.linalg.cholesky(Hm)
        cov_full = np.linalg.inv(Hm)
        tau_se = float(np.sqrt(cov_full[p, p]))
        if vcov == "conditional":
            return np.linalg.inv(Hm[:p, :p]), tau_se
        return cov_full[:p, :p], tau_se
    except np.linalg.LinAlgError:
        pass
    try:
        np.linalg.cholesky(Hm[:p, :p])
    except np.linalg.LinAlgError as exc:
        raise ConvergenceError(
            "the GLMM information matrix of the fixed effects is not positive definite: "
            "the random-effects model is not identified by these data (too few trials?); "
            "use effects='common' or engine='bayes' with an informative tau prior."
        ) from exc
    warnings.warn(
        "the GLMM Hessian in (beta, tau) is not positive definite (tau poorly identified): "
        "standard errors of the fixed effects are conditional on tau-hat and tau has no "
        "standard error.", ConvergenceWarning, stacklevel=4)
    return np.linalg.inv(Hm[:p, :p]), float("nan")


def fit_random(design: NMRDesign, n_agq: int = 1, start: MLFit | None = None,
               max_iter: int = 500, vcov: str = "joint") -> MLFit:
    """Random-treatment-effects model by Laplace (``n_agq=1``) or adaptive
    Gauss-Hermite quadrature with ``n_agq`` nodes per dimension.  ``vcov``:
    ``"joint"`` (lme4's default) or ``"conditional"`` fixed-effect covariance."""
    if vcov not in ("joint", "conditional"):
        raise ValueError(f"vcov must be 'joint' or 'conditional' (got {vcov!r})")
    jax = import_optional("jax")
    jnp = import_optional("jax.numpy")

    if n_agq < 1:
        raise ValueError("n_agq must be >= 1")
    X = design.design_matrix()
    y = design.y
    J = design.n_trials
    C, q = _trial_random_layout(design)
    if start is None:
        start = fit_common(design)
    if q == 0:
        warnings.warn("no trial has a non-baseline arm: random effects are not identified; "
                      "fitting common effects", BoundaryWarning, stacklevel=3)
        return start
    G, logW = _gh_grid(n_agq, q)
    p = X.shape[1]
    n_newton = 40

    with jax.enable_x64(True):
        Xj, yj, Cj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(C)
        tid = jnp.asarray(design.trial_idx)
        Gj, logWj = jnp.asarray(G), jnp.asarray(logW)
        eye = jnp.eye(q)

        def seg(v):
            return jax.ops.segment_sum(v, tid, num_segments=J)

        def grad_hess(z, eta0, tau):
            zi = z[tid]                                   # (n, q)
            eta = eta0 + tau * jnp.sum(Cj * zi, axis=1)
            mu = jax.nn.sigmoid(eta)
            g = tau * seg(Cj * (yj - mu)[:, None]) - z    # (J, q)
            w = mu * (1 - mu)
            H = -(tau ** 2) * seg(w[:, None, None] * Cj[:, :, None] * Cj[:, None, :]) - eye
            return g, H

        def newton(z, eta0, tau):
            g, H = grad_hess(z, eta0, tau)
            return z - jnp.linalg.solve(H, g[..., None])[..., 0]

        def negloglik(theta):
            beta, tau = theta[:p], theta[p]
            eta0 = Xj @ beta
            z0 = jnp.zeros((J, q))
            zs = jax.lax.fori_loop(0, n_newton, lambda _, z: newton(z, eta0, tau),
                                   jax.lax.stop_gradient(z0))
            zs = jax.lax.stop_gradient(zs)
            zhat = newton(zs, eta0, tau)                  # implicit derivative of the mode
            _, H = grad_hess(zhat, eta0, tau)
            S = jnp.linalg.cholesky(jnp.linalg.inv(-H))  # (J, q, q)
            nodes = zhat[:, None, :] + jnp.einsum("jab,kb->jka", S, Gj)   # (J, K, q)
            off = tau * jnp.einsum("nq,nkq->nk", Cj, nodes[tid])        # (n, K)
            eta = eta0[:, None] + off
            ll_rows = yj[:, None] * eta - jnp.logaddexp(0.0, eta)
            ll = seg(ll_rows)                                            # (J, K)
            ll = ll - 0.5 * jnp.sum(nodes ** 2, axis=2) + 0.5 * jnp.sum(Gj ** 2, axis=1)
            ll = ll + logWj
            logdet = jnp.sum(jnp.log(jnp.diagonal(S, axis1=1, axis2=2)), axis=1)
            return -jnp.sum(jax.scipy.special.logsumexp(ll, axis=1) + logdet)

        vg = jax.jit(jax.value_and_grad(negloglik))

        def fun(th):
            v, g = vg(jnp.asarray(th))
            return float(v), np.asarray(g, dtype=float)

        th0 = np.concatenate([start.coef, [0.3]])
        best = optimize.minimize(fun, th0, jac=True, method="L-BFGS-B",
                                 bounds=[(None, None)] * p + [(0.0, None)],
                                 options={"maxiter": max_iter, "ftol": 1e-13, "gtol": 1e-7})
        theta = best.x
        # boundary: the marginal likelihood is even in tau, so compare with tau = 0 exactly
        ll0 = -fun(np.concatenate([start.coef, [0.0]]))[0]
        at_zero = ll0 >= -best.fun - 1e-9
        if at_zero:
            theta = np.concatenate([start.coef, [0.0]])
            ll = ll0
        else:
            ll = -float(best.fun)
        Hm = None if at_zero else _fd_hessian(lambda th: fun(th)[1], theta)
    if at_zero:
        warnings.warn("the ML estimate of tau is 0 (boundary): random treatment effects "
                      "reduce to common effects", BoundaryWarning, stacklevel=3)
        cov = start.cov
        tau_se = np.nan
    else:
        cov, tau_se = _glmm_cov(Hm, p, vcov)
        if not best.success:
            warnings.warn(f"GLMM optimiser: {best.message}", ConvergenceWarning, stacklevel=3)
    return MLFit(coef=theta[:p], cov=cov, loglik=ll, tau=float(theta[p]), tau_se=tau_se,
                 iterations=int(best.nit), converged=bool(best.success or at_zero), n_agq=n_agq)

"""Logistic generalized linear mixed model with one grouping factor (Laplace).

The engine reproduces ``lme4::glmer(y ~ X + (Z | group), family = binomial, nAGQ = 1)``:
``logit P(y_i = 1) = x_i'beta + offset_i + z_i'b_j`` with ``b_j = Lambda u_j``,
``u_j ~ N(0, I)`` and ``Lambda`` the lower-triangular relative covariance factor
parametrised by ``theta`` (its lower triangle in column-major order, as lme4's
``getME(m, "theta")``; the binomial family has no scale, so ``G = Lambda Lambda'``).

For given ``(theta, beta)`` the spherical conditional modes ``u_j`` maximise the penalised
log-likelihood ``l(y | u) - |u|^2 / 2`` (Newton steps, vectorised over groups: the
random-effects block is block-diagonal with one ``q x q`` block per group).  With
``A_j = Lambda' Z_j'W_j Z_j Lambda + I = L_j L_j'`` at the mode (``W`` the binomial
working weights ``w mu (1 - mu)``), the Laplace deviance is

    dev(theta, beta) = -2 l(y | u) + |u|^2 + sum_j log|L_j|^2

(Bates et al. 2015; lme4's ``nAGQ = 1`` criterion), and the estimates minimise it jointly
over ``(theta, beta)`` (lme4's second optimisation phase) with bounds ``theta_diag >= 0``.
The exact gradient is used: by the envelope theorem the modes enter only through
``log|L|^2``, whose derivative ``tr(A^{-1} dA)`` picks up the change of the working
weights along ``d eta = d(X beta) + Z d(Lambda u)`` with ``du`` from the implicit mode
equation ``Lambda' Z'(y - mu) = u``.

As in lme4 (``vcov(glmer)``, ``use.hessian = TRUE``), the covariance of the fixed effects is
the ``beta`` block of ``2 H^{-1}``, ``H`` the Hessian of the Laplace deviance in
``(theta, beta)`` (here: central differences of the exact gradient); conditional variances
of the random effects are ``Lambda A_j^{-1} Lambda'`` (``ranef(condVar = TRUE)``).

One evaluation costs O(n (p + q)) plus O(J q^3); nothing loops over patients.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special

from .._base import Summary
from ..errors import (
    BoundaryWarning,
    ConvergenceError,
    ConvergenceWarning,
    DataWarning,
    ModelSpecificationError,
    OutcomeError,
)
from ._lmm import (
    LMMResults,
    _independent_columns,
    _mixed_model_inputs,
    _single_thread_blas,
    _theta_index,
)

__all__ = ["GLMMResults", "LogisticMixedModel"]


class _LaplaceProblem:
    """Laplace deviance of a logistic GLMM with one grouping factor and its gradient."""

    def __init__(self, y, X, Z, codes, n_groups, w, off, aggregate: bool = False):
        # log-likelihood constant of binomial proportions with prior weights (0 for 0/1 data
        # with unit or integer case weights): log choose(w, w y)
        wy = w * y
        self.const = float(np.sum(special.gammaln(w + 1) - special.gammaln(wy + 1)
                                  - special.gammaln(w - wy + 1)))
        if aggregate:
            # rows with the same group, design and offset share their probability: sum the
            # (weighted) events and trials; the Bernoulli log-likelihood sum is unchanged
            A = np.column_stack([codes, X, Z, off])
            U, inv = np.unique(A, axis=0, return_inverse=True)
            inv = inv.reshape(-1)
            N = np.bincount(inv, w, minlength=U.shape[0])
            S = np.bincount(inv, w * y, minlength=U.shape[0])
            p, q = X.shape[1], Z.shape[1]
            codes = U[:, 0].astype(int)
            X, Z, off = U[:, 1:1 + p], U[:, 1 + p:1 + p + q], U[:, -1]
            y, w = S / N, N
        self.y, self.X, self.Z, self.codes = y, X, Z, codes
        self.w, self.off = w, off
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.J = n_groups
        # group-sum operator: dense one-hot for small problems (aggregated data: a few dozen
        # rows), sparse otherwise
        if n_groups * self.n <= 200_000:
            self.G = np.zeros((n_groups, self.n))
            self.G[codes, np.arange(self.n)] = 1.0
        else:
            self.G = sparse.csr_matrix((np.ones(self.n), (codes, np.arange(self.n))),
                                       shape=(n_groups, self.n))
        self.rows, self.cols = _theta_index(self.q)
        self.nt = len(self.rows)
        self.eye = np.eye(self.q)
        self.u = np.zeros((n_groups, self.q))     # warm start of the modes

    # ---------------------------------------------------------------- pieces
    def lam(self, theta) -> np.ndarray:
        Lam = np.zeros((self.q, self.q))
        Lam[self.rows, self.cols] = theta
        return Lam

    def gsum(self, a: np.ndarray) -> np.ndarray:
        """Per-group sums of the rows of ``a`` (n, ...) -> (J, ...)."""
        shp = a.shape
        out = self.G @ a.reshape(self.n, -1)
        return np.asarray(out).reshape((self.J, *shp[1:]))

    def _loglik(self, eta) -> np.ndarray:
        return self.w * (self.y * eta - np.logaddexp(0.0, eta))

    def modes(self, theta, beta, u0=None, tol=1e-11, maxit=100):
        """Conditional modes ``u`` (J, q) for ``(theta, beta)`` by Newton with step halving."""
        Lam = self.lam(theta)
        ZL = self.Z @ Lam                                 # row i: (Lambda' z_i)'
        base = self.X @ beta + self.off
        u = (self.u if u0 is None else u0).copy()

        def pen(u_):
            eta_ = base + np.sum(ZL * u_[self.codes], axis=1)
            return (np.bincount(self.codes, self._loglik(eta_), minlength=self.J)
                    - 0.5 * np.sum(u_ * u_, axis=1)), eta_

        obj, eta = pen(u)
        for _ in range(maxit):
            mu = special.expit(eta)
            r = self.w * (self.y - mu)
            Wt = self.w * mu * (1.0 - mu)
            grad = self.gsum(ZL * r[:, None]) - u
            A = self.gsum(ZL[:, :, None] * ZL[:, None, :] * Wt[:, None, None]) + self.eye
            step = np.linalg.solve(A, grad[:, :, None])[:, :, 0]
            t = np.ones(self.J)
            for _h in range(30):
                un = u + t[:, None] * step
                objn, etan = pen(un)
                bad = objn < obj - 1e-12 * np.abs(obj)
                if not bad.any():
                    break
                t = np.where(bad, t / 2, t)
            u, obj, eta = un, objn, etan
            if np.max(np.abs(t[:, None] * step)) < tol:
                break
        return u, eta, Lam, ZL

    def deviance(self, phi, grad: bool = False):
        theta, beta = phi[: self.nt], phi[self.nt:]
        u, eta, Lam, ZL = self.modes(theta, beta)
        if not np.all(np.isfinite(u)):
            return (np.inf, np.zeros_like(phi)) if grad else np.inf
        self.u = u
        mu = special.expit(eta)
        Wt = self.w * mu * (1.0 - mu)
        S = self.gsum(self.Z[:, :, None] * self.Z[:, None, :] * Wt[:, None, None])  # Z'WZ
        A = Lam.T @ S @ Lam + self.eye
        L = np.linalg.cholesky(A)
        logdet = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        ll = float(np.sum(self._loglik(eta)))
        dev = -2.0 * ll + float(np.sum(u * u)) + logdet
        if not grad:
            return dev
        # ---- exact gradient
        r = self.w * (self.y - mu)
        W3 = Wt * (1.0 - 2.0 * mu)                      # dW / d eta
        Ainv = np.linalg.inv(A)
        K = Lam @ Ainv @ Lam.T                            # (J, q, q)
        h = np.einsum("ia,iab,ib->i", self.Z, K[self.codes], self.Z)
        c = W3 * h                                        # d logdet / d eta_i (total)
        s = self.gsum(self.Z * r[:, None])                # Z'r per group (J, q)
        # beta: deta = X + Z Lambda du, du = -A^{-1} Lambda' Z'W X
        ZWX = self.gsum(self.Z[:, :, None] * (Wt[:, None] * self.X)[:, None, :])  # (J, q, p)
        du_b = -np.linalg.solve(A, Lam.T @ ZWX)          # (J, q, p)
        deta_b = self.X + np.einsum("ia,iap->ip", ZL, du_b[self.codes])
        g_beta = -2.0 * (self.X.T @ r) + deta_b.T @ c
        g_theta = np.empty(self.nt)
        for k in range(self.nt):
            dL = np.zeros((self.q, self.q))
            dL[self.rows[k], self.cols[k]] = 1.0
            dLu = u @ dL.T                                # (J, q): dLambda u_j
            rhs = (s @ dL) - np.einsum("ab,jbc,jc->ja", Lam.T, S, dLu)
            du = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
            deta = np.sum(self.Z * dLu[self.codes], axis=1) + np.sum(ZL * du[self.codes], axis=1)
            direct = 2.0 * float(np.einsum("jab,bc,jca->", Ainv, Lam.T, S @ dL))
            g_theta[k] = -2.0 * float(np.sum(s * dLu)) + float(c @ deta) + direct
        return dev, np.concatenate([g_theta, g_beta])

    def fun_grad(self, phi):
        try:
            return self.deviance(np.asarray(phi, float), grad=True)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(phi)


def _glm_start(y, X, w, off, maxit=50):
    """Maximum-likelihood logistic regression (start values, as lme4's ``glm`` start)."""
    beta = np.zeros(X.shape[1])
    for _ in range(maxit):
        eta = X @ beta + off
        mu = special.expit(eta)
        Wt = w * mu * (1 - mu)
        H = X.T @ (X * Wt[:, None])
        g = X.T @ (w * (y - mu))
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(H, g, rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta if np.all(np.isfinite(beta)) else np.zeros(X.shape[1])


class LogisticMixedModel:
    """Logistic GLMM with one grouping factor fitted by the Laplace approximation
    (``lme4::glmer(family = binomial, nAGQ = 1)`` equivalent).

    Fits ``logit P(y = 1) = X beta + offset + Z_j b_j`` with ``b_j ~ N(0, G)``
    (unstructured ``q x q`` covariance, e.g. a random intercept and a random
    treatment effect with their correlation).

    Parameters
    ----------
    boundary_tol : float, default 1e-4
        A fit is *singular* when a diagonal element of the relative covariance
        factor is below this value (lme4's ``isSingular``).
    maxiter : int, default 1000
        Iteration limit of the optimiser.
    warn : bool, default True
        Issue boundary and convergence warnings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(8), 80)
    >>> t = rng.integers(0, 2, g.size)
    >>> eta = -0.5 + 0.8 * t + rng.normal(0, 0.7, 8)[g]
    >>> y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> X = np.column_stack([np.ones_like(y), t])
    >>> res = LogisticMixedModel().fit(y, X, np.ones((y.size, 1)), g,
    ...                                fixed_names=["(Intercept)", "trt"],
    ...                                random_names=["(Intercept)"], group_name="trial")
    >>> res.fe_params.index.tolist(), res.converged
    (['(Intercept)', 'trt'], True)
    >>> res.varcorr()[["grp", "var1"]].values.tolist()
    [['trial', '(Intercept)']]
    """

    family = "binary"

    def __init__(self, *, boundary_tol: float = 1e-4, maxiter: int = 1000,
                 warn: bool = True) -> None:
        self.boundary_tol = boundary_tol
        self.maxiter = maxiter
        self.warn = warn

    def fit(self, y, X, Z, groups, *, weights=None, offset=None,
            fixed_names: Sequence[str] | None = None,
            random_names: Sequence[str] | None = None,
            group_name: str = "group", start: dict | None = None) -> GLMMResults:
        """Fit the model.

        Parameters
        ----------
        y : array-like, shape (n,)
            Outcome coded 0/1 (or proportions with ``weights`` = numbers of trials).
        X : array-like or DataFrame, shape (n, p)
            Fixed-effects design (include the intercept column yourself). Later columns
            linearly dependent on earlier ones are dropped (coefficients NaN, as lme4).
        Z : array-like or DataFrame, shape (n, q)
            Random-effects design within a group (e.g. ``[1, trt]``).
        groups : array-like, shape (n,)
            Group label of each observation (levels sorted).
        weights : array-like, optional
            Prior weights (binomial numbers of trials, or case weights).
        offset : array-like, optional
            Known term added to the linear predictor.
        fixed_names, random_names : sequence of str, optional
            Column names (taken from DataFrames when given).
        group_name : str
            Name of the grouping factor in the output.
        start : dict, optional
            ``{"theta": ..., "beta": ...}`` starting values (default: identity factor and
            the logistic-regression fit without random effects, as lme4).

        Returns
        -------
        GLMMResults
        """
        y = np.asarray(y, dtype=float).ravel()
        n = y.size
        if not np.all(np.isfinite(y)) or np.any((y < 0) | (y > 1)):
            raise OutcomeError("The outcome of a logistic mixed model must be coded 0/1 "
                               "(or a proportion in [0, 1] with weights); found values outside "
                               "[0, 1] or missing values.")
        X, Z, fixed_names, random_names, codes, levels, w, off = _mixed_model_inputs(
            n, X, Z, groups, weights, offset, fixed_names, random_names, group_name)
        J = len(levels)
        keep = _independent_columns(X * np.sqrt(w)[:, None])
        dropped = [fixed_names[j] for j in range(X.shape[1]) if j not in set(keep)]
        if dropped and self.warn:
            warnings.warn(f"fixed-effect model matrix is rank deficient: dropping {len(dropped)} "
                          f"column(s) {dropped} (their coefficients are reported as NaN).",
                          DataWarning, stacklevel=2)
        Xk = X[:, keep]

        with _single_thread_blas():
            prob = _LaplaceProblem(y, Xk, Z, codes, J, w, off, aggregate=True)
            rows, cols = prob.rows, prob.cols
            diag = rows == cols
            theta0 = np.where(diag, 1.0, 0.0)
            beta0 = _glm_start(y, Xk, w, off)
            if start is not None:
                theta0 = np.asarray(start.get("theta", theta0), float).ravel()
                beta0 = np.asarray(start.get("beta", beta0), float).ravel()[: Xk.shape[1]]
            phi, converged, message, nfev = self._optimise(prob, theta0, beta0, diag)
            res = GLMMResults._build(self, prob, phi, X, Z, y, off, w, codes, levels, keep,
                                     fixed_names, random_names, group_name, converged, nfev,
                                     message)
        if self.warn and res.singular:
            warnings.warn(
                f"boundary (singular) fit: the random-effects covariance of {group_name!r} is "
                "not of full rank (a variance is ~0 or a correlation is ~+-1). Consider a "
                "simpler random-effects structure.", BoundaryWarning, stacklevel=2)
        if self.warn and not converged:
            warnings.warn(f"The Laplace GLMM optimiser did not converge: {message}",
                          ConvergenceWarning, stacklevel=2)
        return res

    def _optimise(self, prob: _LaplaceProblem, theta0, beta0, diag):
        nt = prob.nt
        bounds = [(0.0, None) if d else (None, None) for d in diag] + [(None, None)] * prob.p
        opts = {"maxiter": self.maxiter, "ftol": 1e-15, "gtol": 1e-9, "maxls": 50}
        phi0 = np.concatenate([theta0, beta0])
        f0 = prob.fun_grad(phi0)[0]
        if not np.isfinite(f0):
            raise ConvergenceError("Laplace GLMM: the deviance is not finite at the start values "
                                   "(separation, or a group without events?).")
        best = phi0, f0
        nfev = 1
        # The Laplace deviance is even in each column of Lambda, so theta_diag = 0 is always a
        # stationary point: a quasi-Newton run can stop there (a saddle, not a minimum).
        # When the first run ends on the boundary, restart from interior points (and keep
        # the best); random-slope deviances can also have genuine boundary minima.
        starts = [phi0]
        for i in range(4):
            if i > 0:
                if not np.any(best[0][:nt][diag] < 10 * self.boundary_tol):
                    break
                scale = (0.25, 1.0, 3.0)[i - 1]
                starts.append(np.concatenate([np.where(diag, scale, 0.0), best[0][nt:]]))
            prob.u = np.zeros_like(prob.u)
            r = optimize.minimize(prob.fun_grad, starts[i], jac=True, method="L-BFGS-B",
                                  bounds=bounds, options=opts)
            nfev += r.nfev
            if r.fun < best[1] or i == 0:
                best = np.asarray(r.x, float), float(r.fun)
        # polish from the best point (fresh quasi-Newton approximation)
        r = optimize.minimize(prob.fun_grad, best[0], jac=True, method="L-BFGS-B",
                              bounds=bounds, options=opts)
        nfev += r.nfev
        phi = np.asarray(r.x, float) if r.fun <= best[1] else best[0]
        phi[:nt] = np.where(diag, np.maximum(phi[:nt], 0.0), phi[:nt])
        f, g = prob.fun_grad(phi)
        at_bound = np.concatenate([diag & (phi[:nt] <= 1e-10), np.zeros(prob.p, bool)])
        pg = np.where(at_bound, np.minimum(g, 0.0), g)
        converged = bool(np.isfinite(f) and np.max(np.abs(pg)) < 1e-3)
        message = str(r.message)
        if not converged:
            message = f"{message}; max |projected gradient| = {np.max(np.abs(pg)):.3g}"
        return phi, converged, message, nfev


class GLMMResults(LMMResults):
    """A fitted :class:`LogisticMixedModel` (``glmer`` with ``family = binomial``).

    Attributes
    ----------
    fe_params, bse : Series
        Fixed effects (log-odds scale; NaN for dropped collinear columns) and SEs.
    vcov : DataFrame
        Covariance of the fixed effects (``vcov(glmer)``: ``beta`` block of twice the
        inverse Hessian of the Laplace deviance in ``(theta, beta)``).
    cov_re : DataFrame
        Random-effects covariance ``G = Lambda Lambda'``.
    theta : ndarray
        Relative covariance factor (lme4's ``getME(m, "theta")``).
    llf : float
        Laplace log-likelihood (``logLik(glmer)``, ``nAGQ = 1``).
    ranef : DataFrame
        Conditional modes, one row per group; ``ranef_condvar`` their conditional
        covariances.
    fitted_fixed, fitted_random : ndarray
        ``X beta + offset`` and ``Z b`` on the linear-predictor scale;
        ``fittedvalues`` are the conditional probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.trees import LogisticMixedModel
    >>> rng = np.random.default_rng(2)
    >>> g = np.repeat(np.arange(6), 100)
    >>> t = rng.integers(0, 2, g.size)
    >>> eta = -0.3 + t * (0.5 + rng.normal(0, 0.5, 6)[g]) + rng.normal(0, 0.8, 6)[g]
    >>> y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> res = LogisticMixedModel(warn=False).fit(
    ...     y, np.column_stack([np.ones_like(y), t]), np.column_stack([np.ones_like(y), t]), g,
    ...     fixed_names=["(Intercept)", "trt"], random_names=["(Intercept)", "trt"])
    >>> res.ranef.shape, list(res.to_frame().columns)[:3]
    ((6, 2), ['estimate', 'se', 'z'])
    """

    @classmethod
    def _build(cls, model, prob, phi, X, Z, y, off, w, codes, levels, keep, fixed_names,
               random_names, group_name, converged, nfev, message) -> GLMMResults:
        self = cls()
        self.reml = False
        nt = prob.nt
        self.nobs, self.n_groups = prob.n, prob.J
        self.group_name = group_name
        self.fixed_names, self.random_names = fixed_names, random_names
        self.levels = [str(v) for v in levels]
        theta, beta_k = phi[:nt], phi[nt:]
        self.theta = theta
        self.converged, self.nfev, self.optimizer_message = converged, nfev, message
        self.sigma, self.scale = 1.0, 1.0
        dev = prob.deviance(phi)
        u, eta, Lam, _ = prob.modes(theta, beta_k, u0=prob.u)
        mu = special.expit(eta)
        Wt = prob.w * mu * (1 - mu)
        S = prob.gsum(prob.Z[:, :, None] * prob.Z[:, None, :] * Wt[:, None, None])
        A = Lam.T @ S @ Lam + prob.eye
        Ainv = np.linalg.inv(A)
        beta = np.full(len(fixed_names), np.nan)
        beta[keep] = beta_k
        self.coef = pd.Series(beta, index=fixed_names, name="estimate")
        # the covariance of the fixed effects needs the deviance Hessian (2 x (#theta + p)
        # gradient evaluations): computed when first used
        self._vcov_args = (prob, phi, Lam, Ainv, Wt, keep)
        self._vcov = None
        self.dropped = [fixed_names[j] for j in range(len(fixed_names)) if j not in set(keep)]
        self.cov_re = pd.DataFrame(Lam @ Lam.T, index=random_names, columns=random_names)
        b = u @ Lam.T
        self.ranef = pd.DataFrame(b, index=pd.Index(self.levels, name=group_name),
                                  columns=random_names)
        self.ranef_condvar = Lam @ Ainv @ Lam.T
        self.loglik = -0.5 * dev + prob.const
        self.deviance = dev
        self.singular = bool(np.any(np.diag(Lam) < model.boundary_tol))
        self.df_model = prob.p + nt
        self._codes = codes
        xb = X[:, keep] @ beta_k
        zb = np.sum(Z * b[codes], axis=1)
        self.fitted_fixed = xb + off
        self.fitted_random = zb
        self.linear_predictor = xb + zb + off
        self.fittedvalues = special.expit(self.linear_predictor)
        self.resid = y - self.fittedvalues
        self.weights = w
        return self

    def _compute_vcov(self) -> None:
        prob, phi, Lam, Ainv, Wt, keep = self._vcov_args
        with _single_thread_blas():
            Vk, self._vcov_method = _fixef_vcov(prob, phi, Lam, Ainv, Wt)
        V = np.full((len(self.fixed_names),) * 2, np.nan)
        V[np.ix_(keep, keep)] = Vk
        self._vcov = pd.DataFrame(V, index=self.fixed_names, columns=self.fixed_names)

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the fixed effects (``vcov(glmer)``)."""
        if self._vcov is None:
            self._compute_vcov()
        return self._vcov

    @property
    def vcov_method(self) -> str:
        """How ``vcov`` was obtained: ``"hessian"`` (as lme4) or ``"conditional"`` (the
        fixed-theta covariance, used when the deviance Hessian is not positive definite)."""
        self.vcov  # noqa: B018 - computes it on first use
        return self._vcov_method

    @property
    def se(self) -> pd.Series:
        """Standard errors of the fixed effects (alias ``bse``)."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixed_names,
                         name="se")

    def varcorr(self) -> pd.DataFrame:
        """Variance components in the layout of ``as.data.frame(VarCorr(glmer))``
        (no residual row: the binomial family has no scale parameter)."""
        out = super().varcorr()
        return out[out["grp"] != "Residual"].reset_index(drop=True)

    def predict(self, X, Z=None, groups=None, offset=None, type: str = "link") -> np.ndarray:
        """Predictions on the link (``type="link"``) or probability (``"response"``)
        scale; groups not in the fit get random effect 0."""
        eta = super().predict(X, Z, groups, offset)
        if type == "response":
            return special.expit(eta)
        if type != "link":
            raise ModelSpecificationError(f"type must be 'link' or 'response', not {type!r}.")
        return eta

    def summary(self) -> Summary:
        info = {"Observations": self.nobs, f"Groups ({self.group_name})": self.n_groups,
                "Laplace log-likelihood": self.loglik, "Converged": self.converged,
                "Singular": self.singular}
        notes = ["Fixed-effect p-values and intervals are Wald (normal) approximations; "
                 "estimates on the log-odds scale."]
        if self.dropped:
            notes.append(f"Dropped collinear columns: {', '.join(self.dropped)}.")
        if self.singular:
            notes.append("Boundary (singular) fit: a variance is ~0 or a correlation ~+-1.")
        return Summary(title="Generalized linear mixed model fit by maximum likelihood "
                             "(Laplace approximation), family binomial (logit)",
                       info=info, tables={"Fixed effects": self.to_frame(),
                                          "Variance components": self.varcorr().fillna("")},
                       notes=notes)


def _fixef_vcov(prob: _LaplaceProblem, phi, Lam, Ainv, Wt):
    """``vcov(glmer)``: beta block of ``2 H^{-1}`` with ``H`` the Hessian of the Laplace
    deviance in (theta, beta) (central differences of the exact gradient); falls back to
    the conditional (fixed-theta) covariance ``(X'WX - X'WZ Lambda A^{-1} Lambda'Z'WX)^{-1}``
    when ``H`` is not positive definite (e.g. a boundary fit)."""
    nt, p = prob.nt, prob.p
    P = nt + p
    H = np.empty((P, P))
    u_save = prob.u.copy()
    for k in range(P):
        hk = 1e-4 * max(1.0, abs(phi[k]))
        e = np.zeros(P)
        e[k] = hk
        prob.u = u_save.copy()
        gp = prob.fun_grad(phi + e)[1]
        prob.u = u_save.copy()
        gm = prob.fun_grad(phi - e)[1]
        H[:, k] = (gp - gm) / (2 * hk)
    prob.u = u_save
    H = 0.5 * (H + H.T)
    at_bound = np.any(np.diag(Lam) < 1e-4)
    if not at_bound:
        try:
            np.linalg.cholesky(H)
            return 2.0 * np.linalg.inv(H)[nt:, nt:], "hessian"
        except np.linalg.LinAlgError:
            pass
    X, Z = prob.X, prob.Z
    ZWX = prob.gsum(Z[:, :, None] * (Wt[:, None] * X)[:, None, :])
    LZWX = Lam.T @ ZWX
    info = X.T @ (X * Wt[:, None]) - np.einsum("jap,jab,jbr->pr", LZWX, Ainv, LZWX)
    return np.linalg.inv(info), "conditional"

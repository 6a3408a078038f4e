"""Linear mixed model with one grouping factor, fitted by REML or ML.

The engine reproduces ``lme4::lmer(y ~ X + (Z | group))``: the random effects of
group ``j`` are ``b_j ~ N(0, sigma^2 Lambda Lambda')`` with ``Lambda`` a lower
triangular ``q x q`` *relative covariance factor* parametrised, as in lme4, by
``theta`` (its lower triangle in column-major order; diagonal elements >= 0).
For a given ``theta`` the fixed effects, the spherical random effects and
``sigma`` are profiled out through the penalised least-squares system

    [Lambda'Z'WZ Lambda + I   Lambda'Z'WX] [u]   [Lambda'Z'Wy]
    [X'WZ Lambda              X'WX       ] [beta] = [X'Wy      ]

and the profiled REML (or ML) deviance is minimised over ``theta`` with a
bounded quasi-Newton optimiser.  Because there is a single grouping factor the
random-effects block is block-diagonal with one ``q x q`` block per group, so
every step works on a ``(J, q, q)`` stack of small matrices built once from
per-group sufficient statistics: one evaluation costs O(J q^3 + J q p^2), not
O(n).

Formulas (Bates et al. 2015, *J Stat Softw* 67(1), section 3):

* ``A_j = Lambda' Z_j'W_j Z_j Lambda + I = L_j L_j'``;
  ``R_ZX,j = L_j^{-1} Lambda' Z_j'W_j X_j``; ``c_u,j = L_j^{-1} Lambda' Z_j'W_j y_j``.
* ``R_X R_X' = X'WX - sum_j R_ZX,j' R_ZX,j``;
  ``beta = (R_X R_X')^{-1} (X'Wy - sum_j R_ZX,j' c_u,j)``.
* penalised RSS ``r^2 = y'Wy - |c_u|^2 - |c_beta|^2``.
* REML deviance ``log|L|^2 + log|R_X|^2 + (n-p) (1 + log(2 pi r^2 / (n-p))) - sum log w``;
  ML deviance ``log|L|^2 + n (1 + log(2 pi r^2 / n)) - sum log w``.
* ``sigma^2 = r^2 / (n-p)`` (REML) or ``r^2 / n`` (ML);
  ``vcov(beta) = sigma^2 (R_X R_X')^{-1}``; BLUP ``b_j = Lambda u_j``,
  conditional variance ``sigma^2 Lambda A_j^{-1} Lambda'`` (lme4's ``condVar``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats

from .._base import ResultsMixin, Summary, check_is_fitted
from ..errors import (
    BoundaryWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelSpecificationError,
)

__all__ = ["LMMResults", "LinearMixedModel"]

_LOG2PI = np.log(2.0 * np.pi)


_BLAS_DEPTH = [0]


@contextlib.contextmanager
def _single_thread_blas():
    """All matrices here are tiny: multi-threaded BLAS only adds synchronisation
    cost (two orders of magnitude on a loaded machine). Re-entrant: nested uses (a mixed
    model fitted inside a MetaMOB loop) do not pay threadpoolctl's library scan again."""
    if _BLAS_DEPTH[0]:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    _BLAS_DEPTH[0] += 1
    try:
        with limits:
            yield
    finally:
        _BLAS_DEPTH[0] -= 1


def _theta_index(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the lower triangle in column-major (lme4) order."""
    cols, rows = np.triu_indices(q)
    return rows, cols


def _as_2d(a, name: str, n: int) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise DataError(f"{name} must have {n} rows (one per observation), got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} contains missing or non-finite values; remove or impute them.")
    return arr


def _independent_columns(X: np.ndarray, tol: float = 1e-7) -> np.ndarray:
    """Indices of the columns kept when later collinear columns are dropped.

    Columns are visited in order (as R's ``qr`` with its limited pivoting does)
    and a column is kept when its residual after projection on the kept columns
    is larger than ``tol`` times its norm.
    """
    keep: list[int] = []
    Q = np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        x = X[:, j]
        nrm = np.linalg.norm(x)
        if nrm == 0:
            continue
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)  # re-orthogonalise
        rn = np.linalg.norm(r)
        if rn > tol * nrm:
            keep.append(j)
            Q = np.column_stack([Q, r / rn])
    return np.asarray(keep, dtype=int)


@dataclass
class _Solution:
    theta: np.ndarray
    Lam: np.ndarray
    L: np.ndarray        # (J, q, q) lower Cholesky factors of A_j
    RZX: np.ndarray      # (J, q, p)
    cu: np.ndarray       # (J, q)
    XtX_adj: np.ndarray  # (p, p) = R_X R_X'
    beta: np.ndarray
    u: np.ndarray        # (J, q) spherical random effects
    pwrss: float
    ldL2: float
    ldRX2: float
    deviance: float


class _Problem:
    """Sufficient statistics of one LMM and its profiled deviance."""

    def __init__(self, y, X, Z, codes, n_groups, w, reml):
        n, p = X.shape
        q = Z.shape[1]
        self.n, self.p, self.q, self.J = n, p, q, n_groups
        self.reml = reml
        G = sparse.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))
        Zw = Z * w[:, None]
        # per-group cross products
        self.ZtZ = np.stack([G @ (Zw[:, [a]] * Z) for a in range(q)], axis=1)  # (J, q, q)
        self.ZtX = np.stack([G @ (Zw[:, [a]] * X) for a in range(q)], axis=1)  # (J, q, p)
        self.Zty = np.asarray(G @ (Zw * y[:, None]))                           # (J, q)
        Xw = X * w[:, None]
        self.XtX = X.T @ Xw
        self.Xty = Xw.T @ y
        self.yty = float(np.sum(w * y * y))
        self.sum_log_w = float(np.sum(np.log(w)))
        self.rows, self.cols = _theta_index(q)
        self.eye = np.eye(q)

    def lam(self, theta: np.ndarray) -> np.ndarray:
        Lam = np.zeros((self.q, self.q))
        Lam[self.rows, self.cols] = theta
        return Lam

    def solve(self, theta: np.ndarray) -> _Solution:
        Lam = self.lam(theta)
        LamT = Lam.T
        A = LamT @ self.ZtZ @ Lam + self.eye                      # (J, q, q)
        L = np.linalg.cholesky(A)
        RZX = np.linalg.solve(L, LamT @ self.ZtX)                  # (J, q, p)
        cu = np.linalg.solve(L, (LamT @ self.Zty[:, :, None]))[:, :, 0]
        XtX_adj = self.XtX - np.einsum("jqa,jqb->ab", RZX, RZX)
        Xty_adj = self.Xty - np.einsum("jqa,jq->a", RZX, cu)
        RX = np.linalg.cholesky(XtX_adj)
        cbeta = np.linalg.solve(RX, Xty_adj)
        beta = np.linalg.solve(RX.T, cbeta)
        rhs = cu - RZX @ beta
        u = np.linalg.solve(np.swapaxes(L, 1, 2), rhs[:, :, None])[:, :, 0]
        pwrss = self.yty - float(np.sum(cu * cu)) - float(cbeta @ cbeta)
        ldL2 = 2.0 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        ldRX2 = 2.0 * float(np.sum(np.log(np.diag(RX))))
        if self.reml:
            nmp = self.n - self.p
            dev = ldL2 + ldRX2 + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
        else:
            dev = ldL2 + self.n * (1.0 + _LOG2PI + np.log(pwrss / self.n))
        dev -= self.sum_log_w
        return _Solution(theta, Lam, L, RZX, cu, XtX_adj, beta, u, pwrss, ldL2, ldRX2, dev)

    def deviance(self, theta: np.ndarray) -> float:
        try:
            return self.solve(np.asarray(theta, dtype=float)).deviance
        except np.linalg.LinAlgError:
            return np.inf

    def deviance_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Profiled deviance and its exact gradient in ``theta``.

        With ``V = W^{-1} + Z D Z'`` (``D = Lambda Lambda'`` per group), ``P`` the
        REML projection and ``r = y - X beta_hat``:
        ``d dev / d theta_k = sum_j tr(M_j dD_k) - c sum_j v_j' dD_k v_j`` where
        ``M_j = Z_j' P Z_j`` (``Z_j' V^{-1} Z_j`` for ML), ``v_j = Z_j' V^{-1} r``,
        ``c = (n - p) / r'V^{-1}r`` (``n / ...`` for ML) and
        ``dD_k = E_k Lambda' + Lambda E_k'``.  Every ``Z_j' V_j^{-1} (.)`` is
        obtained from the sufficient statistics by Woodbury's identity.
        """
        theta = np.asarray(theta, dtype=float)
        try:
            s = self.solve(theta)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        Lam = s.Lam
        # K_j = Lambda A_j^{-1} Lambda'
        LinvLamT = np.linalg.solve(s.L, np.broadcast_to(Lam.T, s.L.shape))
        K = np.swapaxes(LinvLamT, 1, 2) @ LinvLamT                     # (J, q, q)
        S = self.ZtZ
        SK = S @ K
        ZVZ = S - SK @ S                                                # Z'V^{-1}Z
        ZVX = self.ZtX - SK @ self.ZtX                                  # Z'V^{-1}X
        zr = self.Zty - self.ZtX @ s.beta                               # Z'W r
        v = zr - (SK @ zr[:, :, None])[:, :, 0]                         # Z'V^{-1} r
        if self.reml:
            XVXinv = np.linalg.inv(s.XtX_adj)                           # (X'V^{-1}X)^{-1}
            M = ZVZ - ZVX @ XVXinv @ np.swapaxes(ZVX, 1, 2)
            c = (self.n - self.p) / s.pwrss
        else:
            M = ZVZ
            c = self.n / s.pwrss
        B = M.sum(axis=0) - c * np.einsum("ja,jb->ab", v, v)
        B = 0.5 * (B + B.T)
        grad = 2.0 * (B @ Lam)[self.rows, self.cols]
        return s.deviance, grad



def _mixed_model_inputs(n, X, Z, groups, weights, offset, fixed_names, random_names,
                        group_name):
    """Checks shared by the linear and the logistic mixed model: designs with one row per
    observation, names, one grouping label per observation (>= 2 levels, identifiable random
    effects), positive weights and a finite offset. Returns ``(X, Z, fixed_names,
    random_names, codes, levels, w, off)``."""
    if fixed_names is None:
        fixed_names = (list(map(str, X.columns)) if isinstance(X, pd.DataFrame)
                       else [f"x{j}" for j in range(np.shape(X)[1] if np.ndim(X) > 1 else 1)])
    if random_names is None:
        random_names = (list(map(str, Z.columns)) if isinstance(Z, pd.DataFrame)
                        else [f"z{j}" for j in range(np.shape(Z)[1] if np.ndim(Z) > 1 else 1)])
    X = _as_2d(X, "X (fixed-effects design)", n)
    Z = _as_2d(Z, "Z (random-effects design)", n)
    fixed_names, random_names = list(fixed_names), list(random_names)
    if len(fixed_names) != X.shape[1] or len(random_names) != Z.shape[1]:
        raise ModelSpecificationError("fixed_names/random_names do not match the columns of X/Z.")
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise DataError(f"groups must have one label per observation ({n}), got {groups.shape}.")
    if pd.isna(groups).any():
        raise DataError(f"The grouping factor {group_name!r} has missing values.")
    codes, levels = pd.factorize(groups, sort=True)
    J, q = len(levels), Z.shape[1]
    if J < 2:
        raise ModelSpecificationError(
            f"The grouping factor {group_name!r} has a single level ({levels[0]!r}): "
            "a random-effects variance cannot be estimated from one group. Use a fixed-"
            "effects model instead.")
    if J * q >= n:
        raise ModelSpecificationError(
            f"{J} levels of {group_name!r} x {q} random effects >= {n} observations: the "
            "random effects are unidentifiable; simplify the random-effects structure.")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise DataError("weights must be positive and finite, one per observation.")
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float).ravel()
    if off.shape != (n,) or not np.all(np.isfinite(off)):
        raise DataError("offset must be finite, one value per observation.")
    return X, Z, fixed_names, random_names, codes, levels, w, off


class LinearMixedModel:
    """Linear mixed model with one grouping factor (``lme4::lmer`` equivalent).

    Fits ``y = X beta + Z_j b_j + e`` with ``b_j ~ N(0, G)`` (unstructured
    ``q x q`` covariance, q = number of random-effect columns) and
    ``e ~ N(0, sigma^2 / w)``, by REML (default) or ML.

    Parameters
    ----------
    reml : bool, default True
        Restricted maximum likelihood (as ``lmer(REML = TRUE)``); ``False`` for ML.
    boundary_tol : float, default 1e-4
        A fit is *singular* when a diagonal element of the relative covariance
        factor is below this value (lme4's ``isSingular`` rule); a
        :class:`~ipdma.errors.BoundaryWarning` is issued.
    maxiter : int, default 1000
        Iteration limit of the optimiser.
    warn : bool, default True
        Issue boundary and convergence warnings.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(8), 30)
    >>> t = rng.integers(0, 2, g.size)
    >>> y = 10 + t + rng.normal(0, 1, 8)[g] + rng.normal(0, 2, g.size)
    >>> X = np.column_stack([np.ones_like(y), t])
    >>> res = LinearMixedModel().fit(y, X, np.ones((y.size, 1)), g,
    ...                              fixed_names=["(Intercept)", "trt"])
    >>> res.coef.round(2).index.tolist()
    ['(Intercept)', 'trt']
    """

    def __init__(self, reml: bool = True, *, boundary_tol: float = 1e-4, maxiter: int = 1000,
                 warn: bool = True) -> None:
        self.reml = reml
        self.boundary_tol = boundary_tol
        self.maxiter = maxiter
        self.warn = warn

    def fit(self, y, X, Z, groups, *, weights=None, offset=None,
            fixed_names: Sequence[str] | None = None,
            random_names: Sequence[str] | None = None,
            group_name: str = "group", start: np.ndarray | None = None) -> LMMResults:
        """Fit the model.

        Parameters
        ----------
        y : array-like, shape (n,)
            Outcome.
        X : array-like or DataFrame, shape (n, p)
            Fixed-effects design (include the intercept column yourself).
            Later columns that are linearly dependent on earlier ones are
            dropped with a :class:`~ipdma.errors.DataWarning` (as lme4 does);
            their coefficients are reported as NaN.
        Z : array-like or DataFrame, shape (n, q)
            Random-effects design within a group (e.g. ``[1, trt]``).
        groups : array-like, shape (n,)
            Group label of each observation (e.g. the trial).  Levels are sorted.
        weights : array-like, optional
            Prior weights (residual variance ``sigma^2 / w``); must be positive.
        offset : array-like, optional
            Known term added to the linear predictor.
        fixed_names, random_names : sequence of str, optional
            Column names (taken from the DataFrame when X/Z are DataFrames).
        group_name : str
            Name of the grouping factor used in the output.
        start : array-like, optional
            Starting ``theta`` (default: identity factor, as lme4).

        Returns
        -------
        LMMResults
        """
        y = np.asarray(y, dtype=float).ravel()
        n = y.size
        if not np.all(np.isfinite(y)):
            raise DataError("The outcome contains missing or non-finite values; remove them first.")
        X, Z, fixed_names, random_names, codes, levels, w, off = _mixed_model_inputs(
            n, X, Z, groups, weights, offset, fixed_names, random_names, group_name)
        J, q = len(levels), Z.shape[1]

        keep = _independent_columns(X * np.sqrt(w)[:, None])
        dropped = [fixed_names[j] for j in range(X.shape[1]) if j not in set(keep)]
        if dropped:
            if self.warn:
                warnings.warn(
                    f"fixed-effect model matrix is rank deficient: dropping {len(dropped)} "
                    f"column(s) {dropped} (their coefficients are reported as NaN).",
                    DataWarning, stacklevel=2)
        Xk = X[:, keep]
        p = Xk.shape[1]
        if n - p <= 0:
            raise ModelSpecificationError(f"{p} fixed effects for {n} observations: too many.")

        with _single_thread_blas():
            prob = _Problem(y - off, Xk, Z, codes, J, w, self.reml)
        ntheta = q * (q + 1) // 2
        rows, cols = _theta_index(q)
        diag = rows == cols
        lower = np.where(diag, 0.0, -np.inf)
        x0 = (np.where(diag, 1.0, 0.0) if start is None
              else np.asarray(start, dtype=float).ravel())
        if x0.size != ntheta:
            raise ModelSpecificationError(f"start must have {ntheta} elements, got {x0.size}.")
        bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
        with _single_thread_blas():
            theta, nfev, converged, message = self._optimise(prob, x0, bounds, lower)
            sol = prob.solve(theta)

        res = LMMResults._build(self, prob, sol, X, Z, y, off, w, codes, levels, keep,
                                fixed_names, random_names, group_name, converged, nfev, message)
        if self.warn and res.singular:
            warnings.warn(
                f"boundary (singular) fit: the random-effects covariance of {group_name!r} is "
                "not of full rank (a variance is ~0 or a correlation is ~+-1). Consider a "
                "simpler random-effects structure.", BoundaryWarning, stacklevel=2)
        if self.warn and not converged:
            warnings.warn(f"The REML/ML optimiser did not converge: {message}",
                          ConvergenceWarning, stacklevel=2)
        return res

    @staticmethod
    def _starts(x0: np.ndarray, q: int, diag: np.ndarray) -> list[np.ndarray]:
        """lme4's start first, then a small grid: the profiled deviance of a
        random-slope model can have a local minimum on the boundary."""
        starts = [np.asarray(x0, float)]
        grid = [(0.25, 0.0), (3.0, 0.0)]
        if q > 1:
            grid += [(1.0, -0.5), (1.0, 0.5)]
        for s, c in grid:
            starts.append(np.where(diag, s, c * s))
        return starts

    def _optimise(self, prob: _Problem, x0, bounds, lower):
        fg = prob.deviance_grad
        diag = ~np.isinf(lower)
        best_x = np.array(x0, float)
        best_f = fg(best_x)[0]
        nfev, message = 1, ""
        opts = {"maxiter": self.maxiter, "ftol": 1e-14, "gtol": 1e-9, "maxls": 50}
        for start in self._starts(x0, prob.q, diag):
            r = optimize.minimize(fg, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                  options=opts)
            nfev += r.nfev
            if r.fun < best_f:
                best_x, best_f, message = np.asarray(r.x, float), float(r.fun), str(r.message)
        # restart from the best point (refreshes the quasi-Newton approximation)
        r = optimize.minimize(fg, best_x, jac=True, method="L-BFGS-B", bounds=bounds,
                              options=opts)
        nfev += r.nfev
        if r.fun <= best_f:
            best_x, best_f = np.asarray(r.x, float), float(r.fun)
        best_x = np.maximum(best_x, lower)
        best_f, grad = fg(best_x)
        # projected gradient: at a lower bound only a negative slope violates optimality
        at_bound = diag & (best_x <= lower + 1e-10)
        pg = np.where(at_bound, np.minimum(grad, 0.0), grad)
        converged = bool(np.isfinite(best_f) and np.max(np.abs(pg), initial=0.0) < 1e-3)
        if not converged:
            message = f"{message}; max |projected gradient| = {np.max(np.abs(pg)):.3g}"
        return best_x, nfev, converged, message


class LMMResults(ResultsMixin):
    """A fitted :class:`LinearMixedModel`.

    Attributes
    ----------
    coef : Series
        Fixed effects (NaN for dropped collinear columns); alias ``fe_params``
        (statsmodels' name, kept for compatibility).
    vcov : DataFrame
        Their covariance ``sigma^2 (X'V^{-1}X)^{-1}`` up to the scale (as ``vcov(lmer)``).
    se : Series
        Standard errors; alias ``bse``.
    cov_re : DataFrame
        Random-effects covariance matrix ``G``.
    sigma : float
        Residual standard deviation.
    theta : ndarray
        Relative covariance factor parameters (lme4's ``getME(m, "theta")``).
    loglik : float
        REML (or ML) log-likelihood (``logLik(lmer)``); alias ``llf``.
    ranef : DataFrame
        BLUPs, one row per group.
    ranef_condvar : ndarray, shape (J, q, q)
        Conditional covariance of each group's BLUPs.
    fittedvalues, resid : ndarray
        Conditional fitted values ``X beta + Z b + offset`` and residuals.
    converged, singular : bool

    Examples
    --------
    :meth:`LinearMixedModel.fit` returns one; a fitted :class:`~ipdma.trees.MetaMOB` keeps
    the mixed model of its last iteration as ``lmm_`` (fixed effects: the node intercepts
    and treatment effects; random effects: trial intercepts and treatment effects):

    >>> from ipdma.datasets import make_lbp_trials
    >>> from ipdma.trees import MetaMOB
    >>> df = make_lbp_trials(random_state=1).data
    >>> fit = MetaMOB(random="both").fit(df, outcome="rmdq", treatment="treatment",
    ...                                  partition=["age", "rmdq0", "pain"], trial="trial")
    >>> lmm = fit.lmm_
    >>> lmm.nobs, lmm.n_groups, lmm.converged, lmm.singular
    (1319, 7, True, False)
    >>> lmm.coef.round(2).to_dict()
    {'(Intercept)': 9.76, '.tree3': 0.2, '.tree2:treatment': -1.06, '.tree3:treatment': -3.56}
    >>> list(lmm.conf_int().columns), round(lmm.sigma, 2)
    (['lower', 'upper'], 4.04)
    >>> vc = lmm.varcorr()                  # SDs, then the correlation, then the residual SD
    >>> vc["grp"].tolist(), vc["sdcor"].round(2).tolist()
    (['trial', 'trial', 'trial', 'Residual'], [1.54, 0.69, 0.52, 4.04])
    >>> lmm.ranef.shape, list(lmm.random_effects().columns)
    ((7, 2), ['trial', 'term', 'estimate', 'cond_sd', 'ci_lower', 'ci_upper'])
    """

    @classmethod
    def _build(cls, model, prob, sol, X, Z, y, off, w, codes, levels, keep, fixed_names,
               random_names, group_name, converged, nfev, message) -> LMMResults:
        self = cls()
        self.reml = model.reml
        self.nobs, self.n_groups = prob.n, prob.J
        self.group_name = group_name
        self.fixed_names, self.random_names = fixed_names, random_names
        self.levels = [str(v) for v in levels]
        self.theta = sol.theta
        self.converged, self.nfev, self.optimizer_message = converged, nfev, message
        df_resid = prob.n - prob.p if model.reml else prob.n
        sigma2 = sol.pwrss / df_resid
        self.sigma = float(np.sqrt(sigma2))
        self.scale = float(sigma2)
        beta = np.full(len(fixed_names), np.nan)
        beta[keep] = sol.beta
        self.coef = pd.Series(beta, index=fixed_names, name="estimate")
        V = np.full((len(fixed_names),) * 2, np.nan)
        V[np.ix_(keep, keep)] = sigma2 * np.linalg.inv(sol.XtX_adj)
        self.vcov = pd.DataFrame(V, index=fixed_names, columns=fixed_names)
        self.se = pd.Series(np.sqrt(np.diag(V)), index=fixed_names, name="se")
        self.dropped = [fixed_names[j] for j in range(len(fixed_names)) if j not in set(keep)]
        Lam = sol.Lam
        G = sigma2 * Lam @ Lam.T
        self.cov_re = pd.DataFrame(G, index=random_names, columns=random_names)
        b = sol.u @ Lam.T                                           # (J, q)
        self.ranef = pd.DataFrame(b, index=pd.Index(self.levels, name=group_name),
                                  columns=random_names)
        Ainv = np.linalg.inv(sol.L @ np.swapaxes(sol.L, 1, 2))
        self.ranef_condvar = sigma2 * (Lam @ Ainv @ Lam.T)
        self.loglik = -0.5 * sol.deviance
        self.deviance = sol.deviance
        self.singular = bool(np.any(np.diag(Lam) < model.boundary_tol))
        self.df_model = prob.p + len(sol.theta) + 1
        self._codes = codes
        xb = X[:, keep] @ sol.beta
        zb = np.sum(Z * b[codes], axis=1)
        self.fitted_fixed = xb + off
        self.fitted_random = zb
        self.fittedvalues = xb + zb + off
        self.resid = y - self.fittedvalues
        self.weights = w
        return self

    # ----------------------------------------------------------------- aliases
    # statsmodels' names (``MixedLMResults``), kept as aliases of the package vocabulary
    @property
    def fe_params(self) -> pd.Series:
        """Alias of :attr:`coef` (statsmodels' name)."""
        return self.coef

    @property
    def bse(self) -> pd.Series:
        """Alias of :attr:`se` (statsmodels' name)."""
        return self.se

    @property
    def llf(self) -> float:
        """Alias of :attr:`loglik` (statsmodels' name)."""
        return self.loglik

    # ----------------------------------------------------------------- derived
    @property
    def aic(self) -> float:
        """AIC ``-2 loglik + 2 df`` (on the REML scale when fitted by REML, as lme4)."""
        return -2.0 * self.loglik + 2.0 * self.df_model

    @property
    def bic(self) -> float:
        """BIC ``-2 loglik + log(n) df``."""
        return -2.0 * self.loglik + np.log(self.nobs) * self.df_model

    def varcorr(self) -> pd.DataFrame:
        """Variance components in the layout of ``as.data.frame(VarCorr(lmer))``.

        One row per variance (``var2`` empty), then one per covariance/correlation,
        then the residual.  ``vcov`` holds variances/covariances, ``sdcor``
        standard deviations/correlations.
        """
        G = self.cov_re.to_numpy()
        sd = np.sqrt(np.diag(G))
        rows = [(self.group_name, nm, None, G[i, i], sd[i])
                for i, nm in enumerate(self.random_names)]
        q = len(sd)
        for j in range(q):
            for i in range(j + 1, q):
                corr = G[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                rows.append((self.group_name, self.random_names[j], self.random_names[i],
                             G[i, j], corr))
        rows.append(("Residual", None, None, self.sigma ** 2, self.sigma))
        return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals of the fixed effects (``confint(method = "Wald")``)."""
        z = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.coef - z * self.se,
                             "upper": self.coef + z * self.se})

    def random_effects(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy BLUPs: group, term, estimate, conditional SD and interval."""
        z = stats.norm.ppf(1 - alpha / 2)
        sd = np.sqrt(np.maximum(np.diagonal(self.ranef_condvar, axis1=1, axis2=2), 0.0))
        out = self.ranef.stack().rename("estimate").reset_index()
        out.columns = [self.group_name, "term", "estimate"]
        out["cond_sd"] = sd.ravel()
        out["ci_lower"] = out["estimate"] - z * out["cond_sd"]
        out["ci_upper"] = out["estimate"] + z * out["cond_sd"]
        return out

    def predict(self, X, Z=None, groups=None, offset=None) -> np.ndarray:
        """Predictions ``X beta (+ Z b_group) (+ offset)``.

        Without ``Z``/``groups`` the population-level prediction is returned;
        groups not seen in the fit get random effect 0.
        """
        check_is_fitted(self, "coef")
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        beta = np.nan_to_num(self.coef.to_numpy())
        pred = X @ beta
        if offset is not None:
            pred = pred + np.asarray(offset, dtype=float)
        if Z is not None and groups is not None:
            Z = _as_2d(Z, "Z", X.shape[0])
            idx = pd.Index(self.levels).get_indexer(np.asarray(groups).astype(str))
            B = np.vstack([self.ranef.to_numpy(), np.zeros((1, Z.shape[1]))])
            pred = pred + np.sum(Z * B[idx], axis=1)
        return pred

    # ---------------------------------------------------------------- protocol
    def to_frame(self) -> pd.DataFrame:
        """Fixed-effects table: estimate, se, z, p (Wald), 95% CI."""
        z = self.coef / self.se
        ci = self.conf_int()
        return pd.DataFrame({"estimate": self.coef, "se": self.se, "z": z,
                             "p_value": 2 * stats.norm.sf(np.abs(z)),
                             "ci_lower": ci["lower"], "ci_upper": ci["upper"]})

    def summary(self) -> Summary:
        crit = "REML" if self.reml else "ML"
        info = {"Observations": self.nobs, f"Groups ({self.group_name})": self.n_groups,
                f"{crit} log-likelihood": self.loglik, "Converged": self.converged,
                "Singular": self.singular}
        notes = ["Fixed-effect p-values and intervals are Wald (normal) approximations."]
        if self.dropped:
            notes.append(f"Dropped collinear columns: {', '.join(self.dropped)}.")
        if self.singular:
            notes.append("Boundary (singular) fit: a variance is ~0 or a correlation ~+-1.")
        return Summary(title=f"Linear mixed model fit by {crit}", info=info,
                       tables={"Fixed effects": self.to_frame(),
                               "Variance components": self.varcorr().fillna("")},
                       notes=notes)

    def plot(self, ax=None, alpha: float = 0.05):
        """Caterpillar plot of the BLUPs with conditional intervals."""
        from ..plots import color_for, get_ax

        re = self.random_effects(alpha=alpha)
        ax = get_ax(ax)
        terms = list(self.random_names)
        J = self.n_groups
        for k, term in enumerate(terms):
            d = re[re["term"] == term]
            pos = np.arange(J) + (k - (len(terms) - 1) / 2) * 0.25
            ax.errorbar(d["estimate"], pos,
                        xerr=[d["estimate"] - d["ci_lower"], d["ci_upper"] - d["estimate"]],
                        fmt="o", color=color_for(k), label=term, capsize=2)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(np.arange(J), self.levels)
        ax.set_ylabel(self.group_name)
        ax.set_xlabel(f"random effect (BLUP, {100 * (1 - alpha):.0f}% conditional interval)")
        ax.legend(frameon=False)
        return ax

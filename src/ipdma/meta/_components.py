"""Meta-analysis with known variance components: y ~ N(X beta, V + sum_q tau2_q M_q).

The general linear mixed model behind network (consistency) meta-analysis and network
meta-regression of contrast blocks: ``y`` stacks the estimates of all studies (contrasts
vs each study's reference, or several parameters per contrast), ``V`` is their known
within-study covariance (block diagonal by study), ``X`` maps each estimate to the
basic parameters (a B-vs-C estimate has +1 on C-A and -1 on B-A), and the between-study
covariance is a non-negative combination of known structure matrices ``M_q``, one
variance ``tau2_q`` each (metafor: ``rma.mv(yi, V, mods = X, random = list(~ 1 | re_1,
...), R = list(re_q = M_q), Rscale = "none")``).

Estimators: fixed (all tau2 = 0; GLS), REML, ML, or tau2 given. REML/ML use Newton
steps with the observed information where it is positive definite (Fisher scoring
otherwise) on tau2 >= 0, with an active set for the boundary and a likelihood guard,
to a gradient of ~1e-10; the log-likelihoods are metafor's (the
REML one includes +1/2 log|X'X|), so values can be compared with ``logLik(rma.mv)``.

Dense N x N algebra: meant for the sizes of meta-analyses (hundreds of estimates).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._lazy import lazy_function, lazy_module
from ..errors import ConvergenceWarning, DataError, ModelSpecificationError
from ._multivariate import _blas_single_thread

__all__ = ["VCFit", "consistency_components", "fit_variance_components"]

_LOG2PI = float(np.log(2.0 * np.pi))
_potrf = lazy_function("scipy.linalg.lapack", "dpotrf")   # scipy.linalg on first call
_potrs = lazy_function("scipy.linalg.lapack", "dpotrs")

stats = lazy_module("scipy.stats")   # imported when first used
special = lazy_module("scipy.special")


@dataclass
class VCFit:
    """Result of :func:`fit_variance_components` (arrays; names are the caller's).

    Attributes
    ----------
    coef, se, vcov : ndarray
        Estimates of beta, their standard errors and covariance (X' Sigma^-1 X)^-1.
    tau2 : ndarray
        One variance per structure matrix (0 for a fixed-effect fit).
    loglik : float
        Log-likelihood at the estimate: restricted for REML (metafor's definition),
        full for ML, fixed (at tau2 = 0) and given tau2.
    loglik_ml, loglik_reml : float
        Both likelihoods at the estimate (metafor's ``logLik`` of a model without random
        effects fitted with its default ``method = "REML"`` is ``loglik_reml``).
    method : str
        ``"fixed"``, ``"reml"``, ``"ml"`` or ``"given"``.
    QE, QE_df, QE_pval : float
        Test of residual heterogeneity (the fixed-effect weighted residual sum of
        squares, N - p df), as metafor's ``QE``.
    converged : bool
    iterations : int
    tau2_se : ndarray
        Standard errors of tau2 from the inverse observed information (NaN at the
        boundary), for REML/ML.
    """

    coef: np.ndarray
    se: np.ndarray
    vcov: np.ndarray
    tau2: np.ndarray
    loglik: float
    loglik_ml: float
    loglik_reml: float
    method: str
    QE: float
    QE_df: int
    QE_pval: float
    converged: bool = True
    iterations: int = 0
    tau2_se: np.ndarray | None = None


def consistency_components(study: Sequence, parameter: Sequence, *, rho: float = 0.5,
                           parameters: Sequence | None = None) -> tuple[list, list[np.ndarray]]:
    """Structure matrices of the consistency model, one per parameter type.

    ``M_q[i, j]`` is 1 if ``i == j`` and row i is of type q; ``rho`` (½) if rows i != j
    are both of type q and from the same study (two contrasts vs the study's reference
    arm); 0 otherwise. With one type this is the multi-arm covariance of a contrast-based
    network meta-analysis (netmeta); with several, one variance per parameter type.

    Examples
    --------
    >>> from ipdma.meta import consistency_components
    >>> names, M = consistency_components([1, 1, 2], ["d", "d", "d"])
    >>> names, M[0].tolist()
    (['d'], [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
    """
    study = np.asarray(study)
    par = np.asarray(parameter)
    if study.shape != par.shape or study.ndim != 1:
        raise ModelSpecificationError("study and parameter need one entry per estimate")
    names = list(dict.fromkeys(par.tolist())) if parameters is None else list(parameters)
    same = study[:, None] == study[None, :]
    out = []
    for q in names:
        isq = par == q
        M = np.where(same & isq[:, None] & isq[None, :], rho, 0.0)
        M[np.diag_indices_from(M)] = isq.astype(float)
        out.append(M)
    return names, out


def _check(y, V, X, M):
    y = np.asarray(y, dtype=float).ravel()
    N = y.size
    V = np.asarray(V, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if V.shape != (N, N):
        raise DataError(f"V must be {N} x {N} (one row per estimate), got {V.shape}")
    if X.shape[0] != N:
        raise DataError(f"X has {X.shape[0]} rows but there are {N} estimates")
    Ms = [np.asarray(m, dtype=float) for m in M]
    for i, m in enumerate(Ms):
        if m.shape != (N, N):
            raise DataError(f"structure matrix {i} must be {N} x {N}, got {m.shape}")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(V)) and np.all(np.isfinite(X))):
        raise DataError("estimates, V and X must be finite")
    if not np.allclose(V, V.T, rtol=0, atol=1e-12 * max(1.0, np.abs(V).max())):
        raise DataError("V must be symmetric")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecificationError(
            "the design X is rank deficient: some basic parameters are not estimable (is the "
            "network disconnected, or a parameter informed by no study?)")
    if N <= X.shape[1]:
        raise DataError(f"{N} estimates cannot identify {X.shape[1]} parameters and "
                        "between-study variances")
    return y, V, X, Ms


class _State:
    """Quantities at one tau2: Sigma^-1, P, Py, the log-likelihood and its derivatives.

    The structure matrices come stacked, ``Ms`` of shape (Q, N, N), so every
    derivative is a few batched products (tr(A M_q) = <A, M_q> for all q as one
    matrix-vector product, ``A M_q`` for all q at once, the traces tr(A M_q A M_r) as
    one (Q, N^2) x (N^2, Q) product), and Sigma^-1 comes from one LAPACK Cholesky
    factorisation and solve. ``derivs=False`` skips the derivatives (likelihood and
    GLS only).
    """

    def __init__(self, tau2, y, V, X, Ms, reml, logdet_xx, eye, derivs=True):
        self.reml = reml
        N, p = X.shape
        Q = len(Ms)
        S = V + (tau2 @ Ms.reshape(Q, N * N)).reshape(N, N) if Q else V.copy()
        c, info = _potrf(S, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError("Sigma is not positive definite")
        Si, info = _potrs(c, eye, lower=1)
        SiX = Si @ X
        XSiX = X.T @ SiX
        cx, info = _potrf(XSiX, lower=1, clean=0)
        if info != 0:
            raise np.linalg.LinAlgError("X' Sigma^-1 X is not positive definite")
        vcov, _ = _potrs(cx, eye[:p, :p], lower=1)
        beta = vcov @ (SiX.T @ y)
        r = y - X @ beta
        Py = Si @ r
        self.beta, self.vcov = beta, vcov
        self.Si = Si
        self.Py = Py
        quad = float(r @ Py)
        logdet = 2.0 * np.log(c.diagonal()).sum()
        if reml:
            logdet_x = 2.0 * np.log(cx.diagonal()).sum()
            self.loglik = (-0.5 * (N - p) * _LOG2PI + 0.5 * logdet_xx - 0.5 * logdet
                           - 0.5 * logdet_x - 0.5 * quad)
        else:
            self.loglik = -0.5 * N * _LOG2PI - 0.5 * logdet - 0.5 * quad
        if not derivs:
            return
        self.P = Si - SiX @ vcov @ SiX.T
        if Q == 0:
            self.grad = np.zeros(0)
            self.fisher = self.observed = np.zeros((0, 0))
            return
        A = self.P if reml else Si
        AM = A @ Ms                                    # (Q, N, N)
        MPy = Ms @ Py                                  # (Q, N)
        # tr(A M_q) = sum_ab A_ab M_q[a, b] (both symmetric)
        self.grad = -0.5 * (Ms.reshape(Q, N * N) @ A.ravel()) + 0.5 * (MPy @ Py)
        # tr(AM_i AM_j) = sum_ab AM_i[a, b] AM_j[b, a]
        tr = AM.reshape(Q, N * N) @ AM.transpose(0, 2, 1).reshape(Q, N * N).T
        tr = 0.5 * (tr + tr.T)
        quad2 = MPy @ self.P @ MPy.T
        quad2 = 0.5 * (quad2 + quad2.T)
        self.fisher = 0.5 * tr
        # observed information: -d2 loglik (P-derivative of Py' M Py and of tr)
        self.observed = -0.5 * tr + quad2


def fit_variance_components(y: np.ndarray, V: np.ndarray, X: np.ndarray,
                            M: Sequence[np.ndarray], *, method: str = "reml",
                            tau2: Sequence[float] | None = None, tol: float = 1e-10,
                            max_iter: int = 500) -> VCFit:
    """Fit ``y ~ N(X beta, V + sum_q tau2_q M_q)`` by REML, ML, fixed effect or given tau2.

    Parameters
    ----------
    y : array (N,)
        Stacked estimates.
    V : array (N, N)
        Their known within-study covariance.
    X : array (N, p)
        Design onto the basic parameters (full column rank).
    M : sequence of (N, N) arrays
        Structure matrices of the between-study covariance (e.g. from
        :func:`consistency_components`).
    method : {"reml", "ml", "fixed"}
        Ignored when ``tau2`` is given.
    tau2 : sequence of float, optional
        Between-study variances fixed at these values (``method`` becomes ``"given"``).
    tol : float
        Convergence: largest absolute score of a free tau2.

    Returns
    -------
    VCFit

    Examples
    --------
    Two-arm and three-arm studies of A, B, C (contrasts vs each study's first arm):

    >>> import numpy as np
    >>> from ipdma.meta import consistency_components, fit_variance_components
    >>> study = [1, 1, 2, 3, 4, 5]
    >>> y = np.array([0.5, 0.9, 0.4, 0.6, 0.3, 0.2])     # B-A, C-A, B-A, C-A, C-B, B-A
    >>> X = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [-1, 1], [1, 0]], float)
    >>> V = np.diag([0.04, 0.05, 0.03, 0.06, 0.05, 0.04]); V[0, 1] = V[1, 0] = 0.02
    >>> _, M = consistency_components(study, ["d"] * 6)
    >>> fit = fit_variance_components(y, V, X, M, method="reml")
    >>> fit.coef.round(3).tolist(), fit.tau2.round(4).tolist()
    ([0.365, 0.715], [0.0])
    """
    with _blas_single_thread():
        return _fit_variance_components(y, V, X, M, method=method, tau2=tau2, tol=tol,
                                        max_iter=max_iter)


def _fit_variance_components(y, V, X, M, *, method, tau2, tol, max_iter) -> VCFit:
    """Implementation of :func:`fit_variance_components` (BLAS threads not limited here:
    the matrices are small, and multi-threaded BLAS only adds synchronisation)."""
    y, V, X, Ms = _check(y, V, X, M)
    Q = len(Ms)
    N, p = X.shape
    Ms = np.stack(Ms) if Q else np.zeros((0, N, N))
    lxx = float(np.linalg.slogdet(X.T @ X)[1])

    eye = np.eye(N)

    def _state(t2, reml, derivs=True):
        return _State(np.asarray(t2, dtype=float), y, V, X, Ms, reml, lxx, eye, derivs)

    # residual heterogeneity test at tau2 = 0 (metafor's QE)
    fixed = _state(np.zeros(Q), False, derivs=False)
    QE = float((y - X @ fixed.beta) @ fixed.Py)
    QE_df = N - p
    QE_p = float(special.chdtrc(QE_df, QE)) if QE_df > 0 else float("nan")

    def result(st, t2, meth, conv=True, it=0, t2se=None):
        other = _state(t2, not st.reml, derivs=False)
        ll = {st.reml: float(st.loglik), other.reml: float(other.loglik)}
        return VCFit(coef=st.beta, se=np.sqrt(np.diag(st.vcov)), vcov=st.vcov,
                     tau2=np.asarray(t2, dtype=float), loglik=float(st.loglik),
                     loglik_ml=ll[False], loglik_reml=ll[True], method=meth,
                     QE=QE, QE_df=QE_df, QE_pval=QE_p, converged=conv, iterations=it,
                     tau2_se=t2se)

    if tau2 is not None:
        t2 = np.asarray(tau2, dtype=float).ravel()
        if t2.size != Q or np.any(~np.isfinite(t2)) or np.any(t2 < 0):
            raise ModelSpecificationError(
                f"tau2 needs {Q} non-negative values (one per structure matrix), got {tau2!r}")
        return result(_state(t2, False, derivs=False), t2, "given")
    method = str(method).lower()
    if method == "fixed" or Q == 0:
        return result(fixed, np.zeros(Q), "fixed")
    if method not in ("reml", "ml"):
        raise ModelSpecificationError(
            f"method must be 'reml', 'ml' or 'fixed', not {method!r}")
    reml = method == "reml"

    # start: a moment-type value per component, from the fixed-effect residuals
    r0 = y - X @ fixed.beta
    t2 = np.array([max(0.0, (float(r0 @ m @ r0) / max(np.trace(m), 1e-300)
                             - float(np.trace(V @ m)) / max(np.trace(m), 1e-300)))
                   for m in Ms])
    st = _state(t2, reml)
    converged = False
    it = 0
    while it < max_iter:
        it += 1
        g = st.grad
        free = (t2 > 0) | (g > 0)
        if np.all(np.abs(g[free]) < tol):
            converged = True
            break
        # Newton with the observed information where it is positive definite on the
        # free components (quadratic convergence), else Fisher scoring; the likelihood
        # guard below keeps every step an ascent
        Hf = st.observed[np.ix_(free, free)]
        try:
            np.linalg.cholesky(Hf)
            step_f = np.linalg.solve(Hf, g[free])
            if np.any(~np.isfinite(step_f)) or float(step_f @ g[free]) <= 0:
                raise np.linalg.LinAlgError
        except np.linalg.LinAlgError:
            step_f = np.linalg.solve(st.fisher[np.ix_(free, free)]
                                     + 1e-12 * np.eye(int(free.sum())), g[free])
        step = np.zeros(Q)
        step[free] = step_f
        lam = 1.0
        while True:
            cand = np.maximum(t2 + lam * step, 0.0)
            try:
                new = _state(cand, reml)
            except np.linalg.LinAlgError:
                new = None
            if new is not None and new.loglik >= st.loglik - 1e-12 * abs(st.loglik):
                break
            lam /= 2.0
            if lam < 1e-10:
                new = None
                break
        if new is None:  # no ascent possible: at the optimum up to rounding
            converged = bool(np.all(np.abs(g[free]) < 1e-6))
            break
        t2, st = cand, new
    if not converged:
        warnings.warn(f"variance-component {method.upper()} did not converge in {it} "
                      f"iterations (largest score {np.max(np.abs(st.grad)):.2e})",
                      ConvergenceWarning, stacklevel=3)
    # tau2 standard errors from the inverse observed information of the free components
    t2se = np.full(Q, np.nan)
    free = t2 > 0
    if free.any():
        try:
            cov = np.linalg.inv(st.observed[np.ix_(free, free)])
            t2se[free] = np.sqrt(np.clip(np.diag(cov), 0, None))
        except np.linalg.LinAlgError:
            pass
    return result(st, t2, method, converged, it, t2se)

"""Univariate fixed- and random-effects meta-analysis and meta-regression.

Numerically equivalent to ``metafor::rma`` (same estimators, same definitions of
Q, I^2, H^2, log-likelihoods, standard error of tau^2 and Q-profile interval),
but with tighter convergence tolerances.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from .._lazy import lazy_function, lazy_module
from ..errors import (
    BoundaryWarning,
    ColumnNotFoundError,
    ConvergenceError,
    DataError,
    ModelSpecificationError,
)
from ._formula import moderator_matrix

__all__ = [
    "UNIVARIATE_METHODS",
    "UnivariateFit",
    "UnivariateMetaResult",
    "fit_univariate",
    "meta_analysis",
    "pool_univariate",
    "qprofile_tau2_ci",
    "tau2_estimate",
]

UNIVARIATE_METHODS = ("FE", "DL", "REML", "ML", "PM", "SJ", "HE")
_LOG2PI = np.log(2.0 * np.pi)
_GRID = np.logspace(-12, 0, 49)   # relative tau^2 grid scanned for a better REML/ML maximum
_potrf = lazy_function("scipy.linalg.lapack", "dpotrf")   # scipy.linalg on first call
_potrs = lazy_function("scipy.linalg.lapack", "dpotrs")

stats = lazy_module("scipy.stats")   # imported when first used
optimize = lazy_module("scipy.optimize")


# ---------------------------------------------------------------------------
# numpy core
# ---------------------------------------------------------------------------

def _gls(yi: np.ndarray, wi: np.ndarray, X: np.ndarray):
    """Weighted least squares pieces: beta, (X'WX)^-1, P y, tr(P), P."""
    XtW = X.T * wi
    XtWX = XtW @ X
    try:
        c = np.linalg.cholesky(XtWX)
    except np.linalg.LinAlgError:
        raise ModelSpecificationError(
            "the moderator matrix is rank deficient (X'WX is singular): remove collinear or "
            "constant moderators") from None
    cinv = np.linalg.inv(c)
    vb = cinv.T @ cinv
    beta = vb @ (XtW @ yi)
    P = np.diag(wi) - XtW.T @ vb @ XtW
    return beta, vb, P, 2.0 * np.log(np.diag(c)).sum()


def _gls_small(yi: np.ndarray, wi: np.ndarray, X: np.ndarray):
    """GLS pieces with q x q algebra only (no k x k projection): beta, (X'WX)^-1,
    residuals r, P y = W r, log|X'WX|, the weighted design W X and X'W^2 X.

    With P = W - W X (X'WX)^-1 X'W: y'Py = r'W r, tr(P) = sum(w) - tr(vb X'W^2X).
    """
    Xw = X * wi[:, None]
    A = X.T @ Xw
    # LAPACK directly (Cholesky, then its solve against I): np.linalg's wrappers cost
    # more than the q x q arithmetic, and this runs at every step of the tau^2 search
    c, info = _potrf(A, lower=1, clean=0)
    if info != 0:
        raise ModelSpecificationError(
            "the moderator matrix is rank deficient (X'WX is singular): remove collinear or "
            "constant moderators")
    vb, _ = _potrs(c, _eye(X.shape[1]), lower=1)
    beta = vb @ (Xw.T @ yi)
    r = yi - X @ beta
    B = Xw.T @ Xw
    return beta, vb, r, wi * r, 2.0 * np.log(c.diagonal()).sum(), Xw, B


@lru_cache(maxsize=16)
def _eye(q: int) -> np.ndarray:
    e = np.eye(q)
    e.flags.writeable = False
    return e


def _median(x: np.ndarray) -> float:
    """``np.median`` of a 1-d array without its dispatch overhead (same value)."""
    s = np.sort(x)
    n = s.shape[0]
    if n == 0 or s[-1] != s[-1]:                  # empty, or NaN (sorted last)
        return float(np.median(x))
    h = n // 2
    return float(s[h]) if n % 2 else float((s[h - 1] + s[h]) / 2.0)


def _var(x: np.ndarray) -> float:
    """``np.var`` (ddof 0) of a 1-d array without its dispatch overhead (same value)."""
    d = x - x.sum() / x.shape[0]
    return float((d * d).sum() / x.shape[0])


def _qgen(tau2: float, yi, vi, X) -> float:
    """Generalised Q statistic y'P(tau2)y."""
    wi = 1.0 / (vi + tau2)
    _, _, P, _ = _gls(yi, wi, X)
    return float(yi @ P @ yi)


def _grid_loglik(yi, vi, X, grid, reml: bool) -> np.ndarray:
    """(Restricted) log-likelihood, up to a constant, at each tau^2 in ``grid`` (batched)."""
    vt = vi[None, :] + grid[:, None]                           # (G, k)
    w = 1.0 / vt
    XtWX = (X.T[None, :, :] * w[:, None, :]) @ X               # (G, q, q)
    XtWy = (w * yi) @ X                                         # (G, q)
    beta = np.linalg.solve(XtWX, XtWy[..., None])[..., 0]
    r = yi[None, :] - beta @ X.T
    ll = -0.5 * (np.log(vt).sum(1) + (w * r * r).sum(1))
    if reml:
        ll = ll - 0.5 * np.linalg.slogdet(XtWX)[1]
    return ll


def _upper_bracket(f, start: float) -> float:
    hi = max(start, 1.0)
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise ConvergenceError("could not bracket the root for tau^2 (Q stays above its target)")



def _as_arrays(yi, vi, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float arrays of effects and variances, and the design (intercept-only if None)."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    return yi, vi, (np.ones((yi.shape[0], 1)) if X is None else X)

def tau2_estimate(yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None = None,
                  method: str = "REML", *, tol: float | None = None,
                  root_tol: float | None = None, maxiter: int = 1000) -> tuple[float, dict]:
    """Estimate the between-study variance tau^2 (numpy in, float out).

    Parameters
    ----------
    yi, vi : ndarray, shape (k,)
        Effect sizes and their sampling variances.
    X : ndarray, shape (k, q), optional
        Moderator design including the intercept column (default: intercept only).
    method : {"FE", "DL", "REML", "ML", "PM", "SJ", "HE"}
        Estimator, as in ``metafor::rma``. ``FE`` returns 0.
    tol : float, optional
        REML/ML Fisher scoring stops when tau^2 changes by less than ``tol`` (metafor's
        ``threshold``, 1e-5 there). Default: 1e-10 x (tau^2 + median vi), i.e. relative
        to the scale of the data.
    root_tol : float, optional
        Absolute tolerance of the Brent root search of the Paule-Mandel estimator
        (metafor's ``uniroot`` uses ``.Machine$double.eps^0.25``). Default: 1e-12 x
        median vi.
    maxiter : int
        Iteration limit.

    Returns
    -------
    tau2 : float
    info : dict
        ``se_tau2``, ``n_iter``, ``converged`` and, for SJ, ``tau2_0``.

    Examples
    --------
    >>> import numpy as np
    >>> t2, info = tau2_estimate(np.array([0.1, 0.5, -0.2, 0.3]), np.array([.05, .04, .06, .05]))
    >>> round(t2, 4)
    0.0377
    """
    yi, vi, X = _as_arrays(yi, vi, X)
    k = yi.shape[0]
    p = X.shape[1]
    method = method.upper()
    info: dict = {"n_iter": 0, "converged": True}
    vscale = _median(vi) if vi.ndim == 1 else float(np.median(vi))
    if root_tol is None:
        root_tol = 1e-12 * vscale
    if method == "FE":
        info["se_tau2"] = np.nan
        return 0.0, info
    if k - p < 1:
        raise ModelSpecificationError(
            f"cannot estimate tau^2 with {k} studies and {p} coefficient(s): need more studies "
            "than coefficients (or use method='FE')")
    if method == "DL":
        wi = 1.0 / vi
        _, _, P, _ = _gls(yi, wi, X)
        RSS = yi @ P @ yi
        trP = np.trace(P)
        tau2 = max(0.0, (RSS - (k - p)) / trP)
        info["se_tau2"] = float(np.sqrt((2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * np.sum(P * P))
                                        / trP**2))
        return float(tau2), info
    if method in ("HE", "REML", "ML"):
        if method == "HE":
            H = X @ np.linalg.solve(X.T @ X, X.T)
            P = np.eye(k) - H
            RSS = yi @ P @ yi
            PV = P * vi[None, :]
            trPV = np.trace(PV)
            tau2_he = (RSS - trPV) / (k - p)
            tau2 = max(0.0, tau2_he)
            info["se_tau2"] = float(np.sqrt((2 * np.sum(PV * PV.T) + 4 * tau2 * trPV
                                             + 2 * tau2**2 * (k - p)) / (k - p) ** 2))
            return float(tau2), info
        # REML/ML start at Hedges' estimate, with q x q algebra: OLS residuals r and hat
        # values h_i, tau2_HE = (r'r - sum v_i (1 - h_i)) / (k - q)
        c, info_c = _potrf(X.T @ X, lower=1, clean=0)
        if info_c != 0:
            raise ModelSpecificationError(
                "the moderator matrix is rank deficient (X'X is singular): remove collinear "
                "or constant moderators")
        GX, _ = _potrs(c, X.T, lower=1)                  # (X'X)^-1 X', (q, k)
        r0 = yi - X @ (GX @ yi)
        tau2_he = (r0 @ r0 - (vi * (1.0 - (X.T * GX).sum(0))).sum()) / (k - p)
        tau2 = max(0.0, tau2_he)

        newton = tol is None  # metafor's own rule (tol given) is plain Fisher scoring

        def state(t2):
            """(2 x score, step denominator, log-likelihood) at tau^2 = t2: Fisher
            scoring uses 2 x expected information; Newton (our default) 2 x observed
            information y'PPPy - tr(PP)/2 when that is positive."""
            # q x q algebra (P = W - W X vb X'W never formed): with B = X'W^2X and
            # C = X'W^3X, tr(P) = sum w - tr(vb B), tr(PP) = sum w^2 - 2 tr(vb C)
            # + tr(vb B vb B), and (Py)'P(Py) = sum w (Py)^2 - c' vb c, c = X'W Py
            wi = 1.0 / (vi + t2)
            _, vb, _, Py, logdet_xwx, Xw, B = _gls_small(yi, wi, X)
            ll = -0.5 * (np.log(vi + t2).sum() + yi @ Py)
            w2 = wi * wi
            if method == "REML":
                VB = vb @ B
                trP = wi.sum() - VB.trace()
                trPP = (w2.sum() - 2.0 * (vb * (Xw.T @ (Xw * wi[:, None]))).sum()
                        + (VB * VB.T).sum())
                num, den, ll = Py @ Py - trP, trPP, ll - 0.5 * logdet_xwx
            else:
                num, den = Py @ Py - wi.sum(), w2.sum()
            if newton:
                cv = Xw.T @ Py
                obs = 2.0 * ((wi * Py) @ Py - cv @ vb @ cv) - den
                if obs > 0:
                    den = obs
            return num, den, ll

        thr = tol if tol is not None else None

        def ascend(t2, it, maxit):
            """Fisher scoring / Newton from t2 with boundary handling and a likelihood
            guard. Returns (tau2, ll, iterations, converged)."""
            num, den, ll = state(t2)
            while it < maxit:
                it += 1
                adj = num / den
                if t2 + adj < 0:
                    num0, den0, ll0 = state(0.0)
                    if num0 <= 0:  # likelihood decreasing from 0: boundary maximum
                        if t2 == 0.0:
                            return 0.0, ll0, it, True
                        t2, num, den, ll = 0.0, num0, den0, ll0
                        continue
                    while t2 + adj < 0:  # interior maximum: step halving (as metafor)
                        adj /= 2
                # the step need not increase the likelihood: halve until it does
                for _ in range(60):
                    num_n, den_n, ll_n = state(t2 + adj)
                    if ll_n >= ll - 1e-12 * abs(ll):
                        break
                    adj /= 2
                t2 += adj
                num, den, ll = num_n, den_n, ll_n
                if abs(adj) <= (thr if thr is not None else 1e-10 * (t2 + vscale)):
                    return t2, ll, it, True
            return t2, ll, it, False

        tau2, ll, it, converged = ascend(tau2, 0, maxiter)
        if converged and (tol is None or tau2 == 0.0):
            # the (restricted) likelihood need not be unimodal when the vi are very
            # unequal: scan a log grid and restart from any better point
            hi = 10.0 * ((_var(yi) if yi.ndim == 1 else float(np.var(yi))) + vscale + tau2)
            grid = hi * _GRID
            lls = _grid_loglik(yi, vi, X, grid, method == "REML")
            j = int(np.argmax(lls))
            if lls[j] > ll + 1e-9 * max(1.0, abs(ll)):
                t_new, ll_new, it, conv_new = ascend(float(grid[j]), it, maxiter)
                if ll_new > ll:
                    tau2, ll, converged = t_new, ll_new, conv_new
        if not converged:
            # Fisher scoring cycled: maximise the (restricted) likelihood directly
            def negll(t2):
                f = fit_univariate(yi, vi, X, method, tau2=float(t2))
                return -(f.loglik_reml if method == "REML" else f.loglik_ml)

            hi = max(10.0 * max(tau2_he, 0.0), 100.0 * vscale)
            res = optimize.minimize_scalar(negll, bounds=(0.0, hi), method="bounded",
                                           options={"xatol": 1e-12 * vscale, "maxiter": 500})
            tau2 = float(res.x) if negll(res.x) < negll(0.0) else 0.0
            converged = bool(res.success)
            it += int(res.nit)
        info["n_iter"] = it
        info["converged"] = converged
        if not converged:
            raise ConvergenceError(
                f"{method} estimation of tau^2 did not converge in {maxiter} iterations "
                f"(last tau^2 = {tau2:.6g}); increase maxiter or try method='PM'")
        wi = 1.0 / (vi + tau2)
        if method == "REML":
            _, vb, _, _, _, Xw, B = _gls_small(yi, wi, X)
            VB = vb @ B
            trPP = (wi * wi).sum() - 2.0 * np.sum(vb * (Xw.T @ (Xw * wi[:, None]))) + np.sum(
                VB * VB.T)
            info["se_tau2"] = float(np.sqrt(2.0 / trPP))
        else:
            info["se_tau2"] = float(np.sqrt(2.0 / np.sum(wi**2)))
        return float(tau2), info
    if method == "PM":
        target = k - p
        f = lambda t: _qgen(t, yi, vi, X) - target  # noqa: E731
        if f(0.0) < 0:
            tau2 = 0.0
        else:
            hi = _upper_bracket(f, 100.0)
            tau2, res = optimize.brentq(f, 0.0, hi, xtol=root_tol, rtol=4 * np.finfo(float).eps,
                                        maxiter=maxiter, full_output=True)
            info["n_iter"] = res.iterations
        wi = 1.0 / (vi + tau2)
        info["se_tau2"] = float(np.sqrt(2 * k**2 / (k - p) / wi.sum() ** 2))
        return float(tau2), info
    if method == "SJ":
        # metafor's initial value: the (biased) sample variance of the effect sizes
        tau2_0 = float(np.var(yi))
        if tau2_0 <= 0:
            raise DataError("SJ estimator: all effect sizes are identical, so the initial "
                            "value of tau^2 is 0; use another method")
        wi = 1.0 / (vi + tau2_0)
        _, _, P, _ = _gls(yi, wi, X)
        RSS = yi @ P @ yi
        tau2 = tau2_0 * RSS / (k - p)
        PV = P * vi[None, :]
        info["tau2_0"] = tau2_0
        info["se_tau2"] = float(np.sqrt(tau2_0**2 / (k - p) ** 2 * (
            2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P) + 2 * tau2**2 * np.sum(P * P))))
        return float(tau2), info
    raise ModelSpecificationError(
        f"method={method!r} is not a univariate tau^2 estimator; choose one of "
        f"{', '.join(UNIVARIATE_METHODS)}")


@dataclass
class UnivariateFit:
    """Plain-numpy result of :func:`fit_univariate` (no pandas).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.meta import fit_univariate
    >>> yi = np.array([0.1, 0.9, -0.6, 0.3])
    >>> vi = np.array([0.05, 0.04, 0.06, 0.05])
    >>> f = fit_univariate(yi, vi, method="REML")
    >>> f.k, f.p, f.QE_df, f.converged
    (4, 1, 3, True)
    >>> f.beta.round(3), round(f.tau2, 3), round(f.I2, 1)
    (array([0.185]), 0.331, 87.0)
    """

    beta: np.ndarray
    vb: np.ndarray
    tau2: float
    se_tau2: float
    QE: float
    QE_df: int
    I2: float
    H2: float
    vt: float
    loglik_ml: float
    loglik_reml: float
    loglik: float
    s2w: float  # Knapp-Hartung scale factor (1 for Wald tests)
    k: int
    p: int
    n_iter: int
    converged: bool


def fit_univariate(yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None = None,
                   method: str = "REML", test: str = "z", *, tau2: float | None = None,
                   tol: float | None = None, root_tol: float | None = None,
                   maxiter: int = 1000) -> UnivariateFit:
    """Fit a univariate (meta-regression) model on numpy arrays, without pandas.

    The low-level workhorse behind :func:`meta_analysis`; use it inside loops.

    Parameters
    ----------
    yi, vi : ndarray, shape (k,)
    X : ndarray, shape (k, q), optional
        Full design including any intercept column (default: intercept only).
    method : {"FE", "DL", "REML", "ML", "PM", "SJ", "HE"}
    test : {"z", "knha"}
        Wald (normal) or Knapp-Hartung (t with k - q df, variance rescaled; no truncation,
        as metafor).
    tau2 : float, optional
        Fix tau^2 at this value instead of estimating it.
    tol, root_tol, maxiter
        Convergence controls, see :func:`tau2_estimate`.

    Returns
    -------
    UnivariateFit

    Examples
    --------
    >>> import numpy as np
    >>> f = fit_univariate(np.array([0.1, 0.5, -0.2, 0.3]), np.array([.05, .04, .06, .05]))
    >>> round(float(f.beta[0]), 4)
    0.1949
    """
    yi, vi, X = _as_arrays(yi, vi, X)
    k = yi.shape[0]
    p = X.shape[1]
    method = method.upper()
    if tau2 is None:
        tau2, info = tau2_estimate(yi, vi, X, method, tol=tol, root_tol=root_tol,
                                   maxiter=maxiter)
    else:
        info = {"se_tau2": np.nan, "n_iter": 0, "converged": True}
    wi = 1.0 / (vi + tau2)
    beta, vb, _, Py, logdet_xwx, _, _ = _gls_small(yi, wi, X)
    RSS_f = float(yi @ Py)
    # heterogeneity statistics from the fixed-effect weights
    if k > p:
        w0 = 1.0 / vi
        _, vb0, _, Py0, _, _, B0 = _gls_small(yi, w0, X)
        QE = max(0.0, float(yi @ Py0))
        vt = (k - p) / (w0.sum() - np.sum(vb0 * B0))
        if method == "FE":
            I2 = max(0.0, 100.0 * (QE - (k - p)) / QE) if QE > 0 else 0.0
            H2 = QE / (k - p)
        else:
            I2 = 100.0 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1.0
    else:
        QE, vt, I2, H2 = 0.0, 0.0, 0.0, 1.0
    _, logdet_xx = np.linalg.slogdet(X.T @ X)
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * np.sum(np.log(vi + tau2)) - 0.5 * RSS_f
    ll_reml = (-0.5 * (k - p) * _LOG2PI + 0.5 * logdet_xx - 0.5 * np.sum(np.log(vi + tau2))
               - 0.5 * logdet_xwx - 0.5 * RSS_f)
    s2w = 1.0
    if test == "knha":
        if k - p < 1:
            raise ModelSpecificationError("Knapp-Hartung needs more studies than coefficients")
        s2w = RSS_f / (k - p)
        vb = s2w * vb
    elif test != "z":
        raise ModelSpecificationError(f"test={test!r}: choose 'z' (Wald) or 'knha' (Knapp-Hartung)")
    return UnivariateFit(beta=beta, vb=vb, tau2=float(tau2), se_tau2=float(info["se_tau2"]),
                         QE=QE, QE_df=k - p, I2=float(I2), H2=float(H2), vt=float(vt),
                         loglik_ml=float(ll_ml), loglik_reml=float(ll_reml),
                         loglik=float(ll_reml if method == "REML" else ll_ml), s2w=float(s2w),
                         k=k, p=p, n_iter=int(info["n_iter"]), converged=bool(info["converged"]))


def qprofile_tau2_ci(yi: np.ndarray, vi: np.ndarray, X: np.ndarray | None = None,
                     level: float = 0.95, *, tol: float | None = None) -> tuple[float, float]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007), as ``confint(rma)``.

    Bounds solve y'P(tau2)y = chi^2_{k-q} quantiles; a bound is 0 when even tau^2 = 0
    gives a Q below the critical value.

    Examples
    --------
    >>> import numpy as np
    >>> lb, ub = qprofile_tau2_ci(np.array([0.1, 0.9, -0.6, 0.3]), np.array([.05, .04, .06, .05]))
    >>> lb < ub
    True
    """
    yi, vi, X = _as_arrays(yi, vi, X)
    k = yi.shape[0]
    df = k - X.shape[1]
    if df < 1:
        raise ModelSpecificationError("Q-profile interval needs more studies than coefficients")
    if tol is None:
        tol = 1e-12 * float(np.median(vi))
    alpha = 1.0 - level
    crit_u = stats.chi2.isf(alpha / 2, df)  # lower bound of tau2 solves Q = crit_u
    crit_l = stats.chi2.ppf(alpha / 2, df)  # upper bound solves Q = crit_l
    out = []
    for crit in (crit_u, crit_l):
        f = lambda t, c=crit: _qgen(t, yi, vi, X) - c  # noqa: E731
        if f(0.0) <= 0:
            out.append(0.0)
            continue
        hi = _upper_bracket(f, 100.0)
        out.append(float(optimize.brentq(f, 0.0, hi, xtol=tol, rtol=4 * np.finfo(float).eps,
                                         maxiter=1000)))
    return out[0], out[1]


def pool_univariate(Y: np.ndarray, V: np.ndarray, method: str = "REML", *, level: float = 0.95,
                    pi_df: Literal["riley", "normal"] = "riley", tol: float = 1e-10,
                    maxiter: int = 500) -> dict[str, np.ndarray]:
    """Vectorised intercept-only random-effects pooling of many independent problems.

    Row ``i`` of ``Y`` / ``V`` holds the ``k`` study estimates and variances of one
    problem (e.g. the per-trial ITEs of one patient profile). NaN entries are
    studies that do not contribute to that row. All rows are solved at once with
    numpy (Fisher scoring for REML/ML), which makes this the function to call
    inside simulation or per-profile loops.

    Parameters
    ----------
    Y, V : ndarray, shape (n, k)
    method : {"FE", "DL", "REML", "ML", "HE", "PM"}
    level : float
    pi_df : {"riley", "normal"}
        Prediction interval with t_{k-2} (Riley et al. 2011) or normal quantiles.

    Returns
    -------
    dict of ndarray (n,)
        ``mu, se, tau2, ci_lb, ci_ub, pi_lb, pi_ub, Q, I2, k``.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[0.1, 0.5, -0.2, 0.3], [1.0, 1.2, 0.8, 1.1]])
    >>> V = np.full((2, 4), 0.05)
    >>> out = pool_univariate(Y, V, "REML")
    >>> out["mu"].round(3)
    array([0.175, 1.025])
    """
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    V = np.atleast_2d(np.asarray(V, dtype=float))
    if Y.shape != V.shape:
        raise DataError(f"Y and V must have the same shape, got {Y.shape} and {V.shape}")
    obs = np.isfinite(Y) & np.isfinite(V)
    if np.any(V[obs] <= 0):
        raise DataError("pool_univariate: sampling variances must be positive")
    Y0 = np.where(obs, Y, 0.0)
    V0 = np.where(obs, V, 1.0)
    k = obs.sum(axis=1)
    if np.any(k < 1):
        raise DataError(f"pool_univariate: row(s) {np.flatnonzero(k < 1)[:5].tolist()} have no "
                        "observed studies")
    method = method.upper()

    def stats_at(t2):
        w = np.where(obs, 1.0 / (V0 + t2[:, None]), 0.0)
        sw = w.sum(1)
        mu = (w * Y0).sum(1) / sw
        r = np.where(obs, Y0 - mu[:, None], 0.0)
        return w, sw, mu, r

    vscale = np.nanmedian(np.where(obs, V0, np.nan), axis=1)
    zeros = np.zeros(len(Y))
    w0, sw0, _, r0 = stats_at(zeros)
    Q = (w0 * r0**2).sum(1)
    trP0 = sw0 - (w0**2).sum(1) / sw0
    df = k - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "FE":
            tau2 = zeros
        elif method == "DL":
            tau2 = np.maximum(0.0, np.where(df > 0, (Q - df) / trP0, 0.0))
        elif method in ("HE", "REML", "ML"):
            ybar = np.where(obs, Y0, 0).sum(1) / k
            rr = np.where(obs, Y0 - ybar[:, None], 0.0)
            trPV = (V0 * obs).sum(1) - (V0 * obs).sum(1) / k
            tau2 = np.maximum(0.0, np.where(df > 0, ((rr**2).sum(1) - trPV) / df, 0.0))
            if method != "HE":
                tau2 = _pool_ml_reml(Y0, V0, obs, df, vscale, method == "REML", tol, maxiter)
        elif method == "PM":
            lo = zeros.copy()
            f0 = Q - df
            hi = np.full(len(Y), 100.0)
            for _ in range(200):
                w, sw, mu, r = stats_at(hi)
                need = ((w * r**2).sum(1) - df > 0) & (f0 > 0)
                if not need.any():
                    break
                hi = np.where(need, hi * 2, hi)
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                w, sw, mu, r = stats_at(mid)
                above = (w * r**2).sum(1) - df > 0
                lo = np.where(above, mid, lo)
                hi = np.where(above, hi, mid)
                if np.all(hi - lo <= tol * (hi + vscale)):
                    break
            tau2 = np.where(f0 > 0, 0.5 * (lo + hi), 0.0)
        else:
            raise ModelSpecificationError(
                f"pool_univariate: method={method!r}; choose FE, DL, HE, REML, ML or PM")
        w, sw, mu, r = stats_at(tau2)
        se = np.sqrt(1.0 / sw)
        z = stats.norm.isf((1 - level) / 2)
        vt = np.where(df > 0, df / trP0, 0.0)
        I2 = np.where(df > 0, 100 * tau2 / (vt + tau2), 0.0)
        if method == "FE":
            I2 = np.where(Q > 0, np.maximum(0.0, 100 * (Q - df) / Q), 0.0)
        if pi_df == "riley":
            crit_pi = np.where(k > 2, stats.t.isf((1 - level) / 2, np.maximum(k - 2, 1)), np.nan)
        elif pi_df == "normal":
            crit_pi = np.full(len(Y), z)
        else:
            raise ModelSpecificationError(f"pi_df={pi_df!r}: choose 'riley' or 'normal'")
        sp = np.sqrt(se**2 + tau2)
    return {"mu": mu, "se": se, "tau2": tau2, "ci_lb": mu - z * se, "ci_ub": mu + z * se,
            "pi_lb": mu - crit_pi * sp, "pi_ub": mu + crit_pi * sp, "Q": Q, "I2": I2,
            "k": k}


def _pool_ml_reml(Y0, V0, obs, df, vscale, reml: bool, tol: float, maxiter: int) -> np.ndarray:
    """Row-wise (restricted) ML tau^2 for intercept-only problems, vectorised.

    Start at the best point of a log grid (the likelihood need not be unimodal), then
    Newton steps (observed information when positive, else expected) with a likelihood
    guard and the boundary tau^2 = 0 handled exactly.
    """
    n = Y0.shape[0]
    active = df > 0

    def state(t2):
        w = np.where(obs, 1.0 / (V0 + t2[:, None]), 0.0)
        sw = w.sum(1)
        mu = (w * Y0).sum(1) / sw
        r = np.where(obs, Y0 - mu[:, None], 0.0)
        u = w * r                                   # P y
        Pu = w * u - w * ((w * u).sum(1) / sw)[:, None]
        sw2 = (w**2).sum(1)
        ll = -0.5 * (np.where(obs, np.log(V0 + t2[:, None]), 0.0).sum(1) + (u * r).sum(1))
        if reml:
            ll = ll - 0.5 * np.log(sw)
            num = (u * u).sum(1) - (sw - sw2 / sw)
            den = sw2 - 2 * (w**3).sum(1) / sw + sw2**2 / sw**2
        else:
            num = (u * u).sum(1) - sw
            den = sw2
        obs_den = 2.0 * (u * Pu).sum(1) - den
        return num, np.where(obs_den > 0, obs_den, den), ll

    hi = 10.0 * (np.nanvar(np.where(obs, Y0, np.nan), axis=1) + vscale)
    best_t = np.zeros(n)
    best_ll = np.full(n, -np.inf)
    for g in np.logspace(-12, 0, 49):
        t = g * hi
        ll = state(t)[2]
        better = ll > best_ll
        best_t = np.where(better, t, best_t)
        best_ll = np.where(better, ll, best_ll)

    def ascend(t2):
        t2 = np.where(active, t2, 0.0)
        num, den, ll = state(t2)
        done = ~active
        for _ in range(maxiter):
            done |= (t2 == 0.0) & (num <= 0)          # boundary maximum
            adj = np.where(done, 0.0, num / den)
            for _ in range(1100):                      # keep tau^2 >= 0 by halving
                neg = t2 + adj < 0
                if not neg.any():
                    break
                adj = np.where(neg, adj / 2, adj)
            for _ in range(60):                        # likelihood guard
                num_n, den_n, ll_n = state(t2 + adj)
                worse = ll_n < ll - 1e-12 * np.abs(ll)
                if not worse.any():
                    break
                adj = np.where(worse, adj / 2, adj)
            t2 = t2 + adj
            num, den, ll = num_n, den_n, ll_n
            done |= np.abs(adj) <= tol * (t2 + vscale)
            if done.all():
                return np.where(active, t2, 0.0), ll
        raise ConvergenceError(f"pool_univariate: {'REML' if reml else 'ML'} estimation of "
                               f"tau^2 did not converge in {maxiter} iterations")

    # from tau^2 = 0 and from the best interior grid point; keep the higher maximum
    t_a, ll_a = ascend(np.zeros(n))
    t_b, ll_b = ascend(best_t)
    return np.where(ll_b > ll_a, t_b, t_a)


# ---------------------------------------------------------------------------
# user-facing API
# ---------------------------------------------------------------------------

def _resolve(x, data, what):
    if isinstance(x, str):
        if data is None:
            raise ModelSpecificationError(f"{what}={x!r} is a column name, so pass data=")
        if x not in data.columns:
            raise ColumnNotFoundError(
                f"{what} column {x!r} is not in the data (columns: {', '.join(map(str, data.columns))})")
        return data[x].to_numpy(dtype=float)
    return np.asarray(x, dtype=float).ravel()


def meta_analysis(yi, vi, mods=None, *, method: str = "REML", test: str = "z",
                  level: float = 0.95, data: pd.DataFrame | None = None,
                  study_names=None, control: dict | None = None,
                  tau2: float | None = None) -> UnivariateMetaResult:
    """Univariate fixed- or random-effects meta-analysis / meta-regression (metafor ``rma``).

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances, or column names of ``data``.
    mods : None, str, array-like or DataFrame
        Moderators: a formula ``"~ ablat + year"`` evaluated on ``data`` or a (k, q)
        array / DataFrame (an intercept column is added).
    method : {"REML", "FE", "DL", "ML", "PM", "SJ", "HE"}
        tau^2 estimator (FE: fixed effect, tau^2 = 0).
    test : {"z", "knha"}
        Wald-type normal inference or Knapp-Hartung (t with k - q df).
    level : float
        Confidence level of all intervals.
    data : DataFrame, optional
    study_names : sequence or str, optional
        Study labels (or a column name of ``data``).
    control : dict, optional
        Convergence controls: ``tol`` (REML/ML Fisher scoring, absolute change in tau^2;
        default 1e-10 relative to the scale of the data), ``root_tol`` (PM estimator and
        Q-profile bounds; default 1e-12 relative), ``maxiter``.
        ``control={"tol": 1e-5, "root_tol": np.finfo(float).eps ** 0.25}`` reproduces metafor's own (looser) stopping rules digit for digit.
    tau2 : float, optional
        Fix the (residual) between-study variance at this value instead of
        estimating it (metafor ``rma(..., tau2 = )``); ``se_tau2`` is then NaN and
        ``method`` only decides which log-likelihood is reported (REML for
        ``"REML"``, ML otherwise, as metafor).

    Returns
    -------
    UnivariateMetaResult

    Examples
    --------
    >>> import numpy as np
    >>> res = meta_analysis([0.1, 0.5, -0.2, 0.3], [.05, .04, .06, .05], method="DL")
    >>> round(float(res.coef["intercept"]), 4)
    0.1949
    >>> res.predict(interval="prediction").columns.tolist()
    ['pred', 'se', 'ci_lb', 'ci_ub', 'pi_lb', 'pi_ub']
    """
    if not 0 < level < 1:
        raise ModelSpecificationError(f"level={level!r} must be between 0 and 1 (e.g. 0.95)")
    y = _resolve(yi, data, "yi")
    v = _resolve(vi, data, "vi")
    k = y.shape[0]
    if v.shape[0] != k:
        raise DataError(f"yi has {k} values but vi has {v.shape[0]}; give one of each per study")
    if isinstance(study_names, str) and data is not None and study_names in data.columns:
        names = [str(s) for s in data[study_names]]
    elif study_names is not None:
        names = [str(s) for s in study_names]
        if len(names) != k:
            raise DataError(f"study_names has {len(names)} entries for {k} studies")
    elif data is not None:
        names = [str(s) for s in data.index]
    else:
        names = [f"study {i + 1}" for i in range(k)]
    for arr, what in ((y, "yi"), (v, "vi")):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{what} is missing or not finite for study {names[i]!r}; drop the "
                            "study or supply the value")
    if np.any(v <= 0):
        i = int(np.flatnonzero(v <= 0)[0])
        raise DataError(f"sampling variance vi = {v[i]!r} for study {names[i]!r} is not "
                        "positive; variances must be > 0")
    if k < 1:
        raise DataError("no studies given")
    method_u = str(method).upper()
    if method_u not in UNIVARIATE_METHODS:
        raise ModelSpecificationError(
            f"method={method!r}; choose one of {', '.join(UNIVARIATE_METHODS)}")
    Xdf = moderator_matrix(mods, k, data, study_names=names)
    if Xdf.shape[1] > k:
        raise ModelSpecificationError(
            f"{Xdf.shape[1]} coefficients but only {k} studies: use fewer moderators")
    X = Xdf.to_numpy()
    control = dict(control or {})
    unknown = set(control) - {"tol", "root_tol", "maxiter"}
    if unknown:
        raise ModelSpecificationError(
            f"unknown control option(s) {sorted(unknown)}; use tol, root_tol, maxiter")
    if tau2 is not None:
        tau2 = float(tau2)
        if not np.isfinite(tau2) or tau2 < 0:
            raise ModelSpecificationError(f"tau2={tau2!r} must be a finite value >= 0")
        if method_u == "FE" and tau2 != 0:
            raise ModelSpecificationError("method='FE' has tau2 = 0; use method='REML' (or "
                                          "'ML') with tau2= to fix the between-study variance")
    fit = fit_univariate(y, v, X, method_u, test=test, tau2=tau2, **control)
    if tau2 is None and method_u != "FE" and fit.tau2 == 0.0:
        warnings.warn(f"{method_u} estimate of tau^2 is on the boundary (tau^2 = 0): the "
                      "random-effects model reduces to the fixed-effect model",
                      BoundaryWarning, stacklevel=2)
    return UnivariateMetaResult(yi=y, vi=v, X=X, mod_names=list(Xdf.columns), study_names=names,
                                method=method_u, test=test, level=level, fit=fit,
                                control=control, tau2_fixed=tau2 is not None)


class UnivariateMetaResult(ResultsMixin):
    """Fitted univariate meta-analysis (see :func:`meta_analysis`).

    Attributes
    ----------
    coef, se : Series
    vcov : DataFrame
    tau2, se_tau2, I2, H2, Q, Q_pval, loglik : float
        I2 in percent and H2 as a ratio (metafor's units). ``Q`` is Cochran's
        (residual) heterogeneity statistic with k - q df; ``loglik`` is the REML
        log-likelihood for REML fits and the ML one otherwise (as metafor's
        ``logLik``; ``loglik_ml`` and ``loglik_reml`` hold both).
    tau2_fixed : bool
        True when tau^2 was given by the user (``tau2=``); ``aic`` then counts
        only the coefficients, as metafor.
    k : int

    Examples
    --------
    >>> from ipdma.meta import meta_analysis
    >>> res = meta_analysis([0.1, 0.9, -0.6, 0.3], [0.05, 0.04, 0.06, 0.05], method="REML",
    ...                     study_names=["A", "B", "C", "D"])
    >>> res.k, round(res.tau2, 3), round(res.I2, 1)
    (4, 0.331, 87.0)
    >>> tab = res.to_frame()
    >>> tab.columns.tolist()
    ['term', 'estimate', 'se', 'statistic', 'pval', 'ci_lb', 'ci_ub']
    >>> tab[["estimate", "se"]].round(3).values.tolist()
    [[0.185, 0.309]]
    >>> res.ci().round(2).values.tolist()
    [[-0.42, 0.79]]
    >>> res.blup().index.tolist()
    ['A', 'B', 'C', 'D']
    """

    def __init__(self, *, yi, vi, X, mod_names, study_names, method, test, level, fit,
                 control=None, tau2_fixed=False):
        self.control = dict(control or {})
        self.yi, self.vi, self.X = yi, vi, X
        self.mod_names = mod_names
        self.study_names = study_names
        self.method, self.test, self.level = method, test, level
        self.fit_ = fit
        self.coef = pd.Series(fit.beta, index=mod_names, name="coef")
        self.vcov = pd.DataFrame(fit.vb, index=mod_names, columns=mod_names)
        self.se = pd.Series(np.sqrt(np.diag(fit.vb)), index=mod_names, name="se")
        self.tau2 = fit.tau2
        self.se_tau2 = fit.se_tau2
        self.I2, self.H2 = fit.I2, fit.H2
        self.Q = fit.QE
        self.Q_df = fit.QE_df
        self.Q_pval = float(stats.chi2.sf(fit.QE, fit.QE_df)) if fit.QE_df > 0 else np.nan
        self.loglik = fit.loglik
        self.loglik_ml, self.loglik_reml = fit.loglik_ml, fit.loglik_reml
        self.k = fit.k
        self.df_resid = fit.k - fit.p
        self.converged = fit.converged
        self.tau2_fixed = tau2_fixed

    @property
    def aic(self) -> float:
        """AIC as metafor: ``-2 loglik + 2 (q + 1)`` (the 1 only when tau^2 was
        estimated; REML fits use the REML log-likelihood)."""
        n_par = self.X.shape[1] + (0 if self.method == "FE" or self.tau2_fixed else 1)
        return -2 * self.loglik + 2 * n_par

    # -- inference ---------------------------------------------------------
    def _crit(self, level=None) -> float:
        a = 1 - (self.level if level is None else level)
        if self.test == "knha":
            return float(stats.t.isf(a / 2, self.df_resid))
        return float(stats.norm.isf(a / 2))

    @property
    def stat(self) -> pd.Series:
        """z (or t for Knapp-Hartung) statistics of the coefficients."""
        return (self.coef / self.se).rename("stat")

    @property
    def pval(self) -> pd.Series:
        s = self.stat.to_numpy()
        if self.test == "knha":
            p = 2 * stats.t.sf(np.abs(s), self.df_resid)
        else:
            p = 2 * stats.norm.sf(np.abs(s))
        return pd.Series(p, index=self.coef.index, name="pval")

    def ci(self, level: float | None = None) -> pd.DataFrame:
        """Confidence intervals of the coefficients (Wald or Knapp-Hartung)."""
        c = self._crit(level)
        return pd.DataFrame({"ci_lb": self.coef - c * self.se, "ci_ub": self.coef + c * self.se})

    def QM(self) -> tuple[float, int, float]:
        """Omnibus test of the moderators (all coefficients except the intercept).

        Returns ``(statistic, df, p-value)``: a chi^2 test for Wald inference and an
        F test (statistic divided by df) for Knapp-Hartung, as metafor.
        """
        idx = [i for i, n in enumerate(self.mod_names) if n != "intercept"] or [0]
        b = self.fit_.beta[idx]
        Vb = self.fit_.vb[np.ix_(idx, idx)]
        qm = float(b @ np.linalg.solve(Vb, b))
        m = len(idx)
        if self.test == "knha":
            return qm / m, m, float(stats.f.sf(qm / m, m, self.df_resid))
        return qm, m, float(stats.chi2.sf(qm, m))

    def R2(self) -> float:
        """Pseudo-R^2 (%) of a meta-regression: proportional reduction of tau^2 relative
        to the intercept-only model fitted with the same method (metafor's definition)."""
        if "intercept" not in self.mod_names or len(self.mod_names) == 1:
            return np.nan
        t0, _ = tau2_estimate(self.yi, self.vi, None, self.method, **self.control)
        if t0 <= 0:
            return 0.0
        return max(0.0, 100 * (t0 - self.tau2) / t0)

    def tau2_ci(self, level: float | None = None) -> pd.DataFrame:
        """Q-profile confidence interval for tau^2, tau, I^2 (%) and H^2 (``confint``)."""
        lvl = self.level if level is None else level
        lb, ub = qprofile_tau2_ci(self.yi, self.vi, self.X, lvl,
                                  tol=self.control.get("root_tol"))
        vt = self.fit_.vt
        rows = {
            "tau^2": (self.tau2, lb, ub),
            "tau": (np.sqrt(self.tau2), np.sqrt(lb), np.sqrt(ub)),
            "I^2(%)": (self.I2, 100 * lb / (vt + lb), 100 * ub / (vt + ub)),
            "H^2": (self.H2, lb / vt + 1, ub / vt + 1),
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_lb", "ci_ub"])

    def predict(self, newmods=None, interval: Literal["confidence", "prediction"] = "prediction",
                pi_df: Literal["riley", "normal"] = "riley", level: float | None = None
                ) -> pd.DataFrame:
        """Predicted (average) effects with confidence and prediction intervals.

        Parameters
        ----------
        newmods : None, array-like or DataFrame
            Moderator values (without the intercept column); ``None`` gives the pooled
            estimate for an intercept-only model and the fitted values otherwise.
        interval : {"confidence", "prediction"}
            "prediction" also returns ``pi_lb``/``pi_ub`` for the effect in a new study:
            pred -/+ crit * sqrt(se^2 + tau^2).
        pi_df : {"riley", "normal"}
            Critical value of the prediction interval: t with k - q - 1 df (k - 2 for an
            intercept-only model, Riley et al. 2011), or the normal quantile (metafor's
            ``predict.rma`` default). With Knapp-Hartung inference metafor uses t_{k-q}; we
            keep ``pi_df`` as asked.
        """
        q = len(self.mod_names)
        has_int = "intercept" in self.mod_names
        if newmods is None:
            Xn = np.ones((1, 1)) if q == 1 else self.X
            index = ["pooled"] if q == 1 else self.study_names
        else:
            if isinstance(newmods, pd.DataFrame):
                cols = [c for c in self.mod_names if c != "intercept"]
                missing = [c for c in cols if c not in newmods.columns]
                if missing:
                    raise ColumnNotFoundError(f"newmods lacks moderator column(s) {missing}")
                Xn = newmods[cols].to_numpy(dtype=float)
                index = list(newmods.index)
            else:
                Xn = np.asarray(newmods, dtype=float)
                if Xn.ndim == 0:
                    Xn = Xn.reshape(1, 1)
                elif Xn.ndim == 1:
                    Xn = Xn[:, None] if q - has_int == 1 else Xn[None, :]
                index = list(range(Xn.shape[0]))
            if has_int:
                Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
            if Xn.shape[1] != q:
                raise ModelSpecificationError(
                    f"newmods has {Xn.shape[1] - has_int} column(s); the model has "
                    f"{q - has_int} moderator(s) {[c for c in self.mod_names if c != 'intercept']}")
        pred = Xn @ self.fit_.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.fit_.vb, Xn))
        c = self._crit(level)
        out = pd.DataFrame({"pred": pred, "se": se, "ci_lb": pred - c * se,
                            "ci_ub": pred + c * se}, index=index)
        if interval == "prediction":
            a = 1 - (self.level if level is None else level)
            if pi_df == "riley":
                dfp = self.k - q - 1
                if dfp < 1:
                    warnings.warn(f"Riley prediction interval needs k > q + 1 studies (k = "
                                  f"{self.k}); returning NaN bounds", BoundaryWarning, stacklevel=2)
                    cp = np.nan
                else:
                    cp = stats.t.isf(a / 2, dfp)
            elif pi_df == "normal":
                cp = stats.norm.isf(a / 2)
            else:
                raise ModelSpecificationError(f"pi_df={pi_df!r}: choose 'riley' or 'normal'")
            sp = np.sqrt(se**2 + self.tau2)
            out["pi_lb"] = pred - cp * sp
            out["pi_ub"] = pred + cp * sp
        elif interval != "confidence":
            raise ModelSpecificationError(
                f"interval={interval!r}: choose 'confidence' or 'prediction'")
        return out

    def blup(self) -> pd.DataFrame:
        """Best linear unbiased predictions of the study-specific true effects with the
        prediction-error SE (metafor ``blup.rma.uni``)."""
        li = self.tau2 / (self.tau2 + self.vi)
        xb = self.X @ self.fit_.beta
        pred = li * self.yi + (1 - li) * xb
        vxb = np.einsum("ij,jk,ik->i", self.X, self.fit_.vb, self.X)
        se = np.sqrt(li * self.vi + (1 - li) ** 2 * vxb)
        z = stats.norm.isf((1 - self.level) / 2)
        return pd.DataFrame({"pred": pred, "se": se, "pi_lb": pred - z * se,
                             "pi_ub": pred + z * se}, index=self.study_names)

    # -- protocol ----------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy coefficient table: term, estimate, se, statistic, p-value, CI."""
        ci = self.ci()
        return pd.DataFrame({
            "term": self.coef.index, "estimate": self.coef.values, "se": self.se.values,
            "statistic": self.stat.values, "pval": self.pval.values,
            "ci_lb": ci["ci_lb"].values, "ci_ub": ci["ci_ub"].values,
        })

    def summary(self) -> Summary:
        model = "Fixed-effect" if self.method == "FE" else f"Random-effects ({self.method})"
        if len(self.mod_names) > 1:
            model += " meta-regression"
        info: dict[str, object] = {"studies (k)": self.k, "tau^2": self.tau2}
        if self.method != "FE":
            info["SE(tau^2)"] = self.se_tau2
            info["tau"] = np.sqrt(self.tau2)
        info.update({"I^2 (%)": self.I2, "H^2": self.H2,
                     f"Q (df = {self.Q_df})": self.Q, "p(Q)": self.Q_pval,
                     "log-likelihood" + (" (REML)" if self.method == "REML" else ""): self.loglik,
                     "test": "Knapp-Hartung (t)" if self.test == "knha" else "Wald (z)"})
        tables = {"Coefficients": self.to_frame().set_index("term")}
        notes = []
        if len(self.mod_names) == 1 and self.method != "FE":
            pr = self.predict(interval="prediction")
            notes.append(f"{100 * self.level:.0f}% prediction interval (t, k-2 df): "
                         f"[{pr['pi_lb'].iloc[0]:.4g}, {pr['pi_ub'].iloc[0]:.4g}]")
        if len(self.mod_names) > 1:
            qm, m, p = self.QM()
            notes.append(f"Test of moderators: QM = {qm:.4g} (df = {m}), p = {p:.4g}")
        return Summary(title=f"{model} meta-analysis", tables=tables, info=info, notes=notes)

    def plot(self, ax=None, *, pi_df: Literal["riley", "normal"] = "riley", xlabel: str = "effect"):
        """Forest plot: one row per study (estimate and CI, box area proportional to its
        weight), the pooled diamond and, for random-effects models, the prediction
        interval. Returns the matplotlib Axes."""
        from ._plot import forest

        z = stats.norm.isf((1 - self.level) / 2)
        w = 1.0 / (self.vi + self.tau2)
        pooled = None
        if len(self.mod_names) == 1:
            pr = self.predict(interval="prediction", pi_df=pi_df)
            pooled = {"label": "FE model" if self.method == "FE" else f"RE model ({self.method})",
                      "est": pr["pred"].iloc[0], "lb": pr["ci_lb"].iloc[0],
                      "ub": pr["ci_ub"].iloc[0]}
            if self.method != "FE":
                pooled["pi"] = (pr["pi_lb"].iloc[0], pr["pi_ub"].iloc[0])
        sd = np.sqrt(self.vi)
        return forest(ax, labels=self.study_names, est=self.yi, lb=self.yi - z * sd,
                      ub=self.yi + z * sd, weights=w / w.sum(), pooled=[pooled] if pooled else [],
                      xlabel=xlabel, title=f"{self.method} meta-analysis")

"""Weibull accelerated-failure-time regression, as R's ``survreg(dist = "weibull")``.

Model: ``log T = x'beta + offset + sigma * W`` with W standard minimum extreme value, i.e.
``S(t | x) = exp(-(t / exp(eta))^(1 / sigma))``, ``eta = x'beta + offset``. The parameters
are ``(beta, log(sigma))``, fitted by Newton-Raphson (analytic gradient and Hessian, step
halving). The log-likelihood is survreg's, on the time scale (it includes the Jacobian
``-sum(event * log(time))``)::

    z_i = (log t_i - eta_i) / sigma
    l_i = event_i * (z_i - exp(z_i) - log sigma - log t_i) + (1 - event_i) * (-exp(z_i))

The fitting core works on a stack of weight vectors at once (:func:`_fit_batch`), which
the MOB split search uses to fit every candidate child in one vectorised Newton loop.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from .._base import ResultsMixin, Summary, check_is_fitted
from .._lazy import lazy_module
from ..errors import (
    ConvergenceWarning,
    DataError,
    MissingDataError,
    ModelSpecificationError,
    OutcomeError,
    column_not_found,
)
from ._cox import column_values

stats = lazy_module("scipy.stats")   # imported when first used
_lapack = lazy_module("scipy.linalg.lapack")

__all__ = [
    "WeibullFit",
    "WeibullRegression",
    "check_survival_outcome",
    "fit_weibull",
    "weibull_quantile",
    "weibull_rmst",
    "weibull_survival",
]

#: an eigenvalue of the (scaled) information below this fraction of the largest marks an
#: aliased direction (as the rank check of R's model fitting)
_ALIAS_TOL = 1e-10


# --------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------
def weibull_survival(t, lp, scale):
    """Survival probability ``S(t) = exp(-(t / exp(lp))^(1 / scale))`` (broadcasting).

    Parameters
    ----------
    t : array_like
        Times (>= 0).
    lp : array_like
        Linear predictor on the log-time scale (survreg's ``lp``).
    scale : array_like
        survreg's scale sigma (the Weibull shape is ``1 / scale``).

    Examples
    --------
    >>> from ipdma.survival import weibull_survival
    >>> round(float(weibull_survival(1.0, 0.0, 1.0)), 6)   # exponential with rate 1
    0.367879
    """
    t = np.asarray(t, dtype=float)
    u = np.exp((np.log(np.where(t > 0, t, 1.0)) - np.asarray(lp, float)) / np.asarray(scale, float))
    return np.where(t > 0, np.exp(-u), 1.0)


def weibull_quantile(p, lp, scale):
    """Quantile ``t_p`` with ``F(t_p) = p``: ``exp(lp + scale * log(-log(1 - p)))``, as
    ``predict(survreg, type = "quantile", p = p)``. ``p = 0.5`` is the median survival time.

    Examples
    --------
    >>> from ipdma.survival import weibull_quantile
    >>> round(float(weibull_quantile(0.5, 0.0, 1.0)), 6)   # log(2)
    0.693147
    """
    p = np.asarray(p, dtype=float)
    return np.exp(np.asarray(lp, float) + np.asarray(scale, float) * np.log(-np.log1p(-p)))


def weibull_rmst(tau, lp, scale, gradient: bool = False):
    """Restricted mean survival time ``int_0^tau S(t) dt`` in closed form.

    With ``lambda = exp(lp)``, ``k = 1 / scale`` and ``U = (tau / lambda)^k``:
    ``RMST = lambda * Gamma(1 + 1/k) * P(1/k, U)`` (P the regularised lower incomplete gamma
    function). With ``gradient=True`` also returns the derivatives with respect to ``lp``
    (closed form, ``lambda * Gamma(1 + 1/k) * P(1 + 1/k, U)``) and to ``log(scale)``
    (``int_0^tau S(t) u log(u) dt`` with ``u = (t / lambda)^k``, by 64-point Gauss-Legendre
    quadrature on ``t``), for delta-method standard errors.

    Examples
    --------
    >>> from ipdma.survival import weibull_rmst
    >>> round(float(weibull_rmst(2.0, 0.0, 1.0)), 6)        # 1 - exp(-2)
    0.864665
    """
    tau = np.asarray(tau, dtype=float)
    lp = np.asarray(lp, dtype=float)
    scale = np.asarray(scale, dtype=float)
    lam = np.exp(lp)
    a = scale  # 1 / k
    U = np.exp((np.log(tau) - lp) / scale)
    rm = lam * special.gamma(1.0 + a) * special.gammainc(a, U)
    if not gradient:
        return rm
    d_lp = lam * special.gamma(1.0 + a) * special.gammainc(1.0 + a, U)
    x, wq = np.polynomial.legendre.leggauss(64)
    tb = np.broadcast_arrays(tau, lp, scale)
    tt = (x[:, None] + 1.0) / 2.0 * tb[0].ravel()[None, :]           # 64 x m
    logu = (np.log(tt) - tb[1].ravel()[None, :]) / tb[2].ravel()[None, :]
    u = np.exp(logu)
    integrand = np.exp(-u) * u * logu
    d_ls = (wq[:, None] * integrand).sum(axis=0) * tb[0].ravel() / 2.0
    return rm, d_lp, d_ls.reshape(tb[0].shape)


# --------------------------------------------------------------------------------------
# likelihood and the batched Newton fit
# --------------------------------------------------------------------------------------
def _outer_rows(X):
    """Row-wise outer products of X, flattened: (n, p * p) (so that stacks of weighted
    cross-products are one matrix product)."""
    return (X[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)


def _derivs(theta, y, d, X, W, off, hessian: bool = True, Wd=None):
    """Log-likelihood (m,), gradient (m, q) and Hessian (m, q, q) for a stack of parameter
    vectors ``theta`` (m x q, last column log(scale)) and weight vectors ``W`` (m x n).
    ``y`` is log(time), ``d`` the event indicator; ``Wd = W * d`` may be passed in.

    Per observation (z = (y - eta) / sigma, case weight w)::

        l      = d (z - log sigma - y) - e^z
        dl/deta = (e^z - d) / sigma            dl/dlog sigma = z (e^z - d) - d
        d2l/deta2 = -e^z / sigma^2             d2l/deta dlog sigma = -(z e^z + e^z - d) / sigma
        d2l/dlog sigma^2 = -(z e^z (1 + z) - d z)
    """
    p = X.shape[1]
    beta, ls = theta[:, :p], theta[:, p]
    sig = np.exp(ls)[:, None]
    if Wd is None:
        Wd = W * d
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # rows with zero weight (other candidate children) must not overflow: 0 * inf
        z = y[None, :] - off[None, :] - beta @ X.T
        z /= sig
        np.minimum(z, 700.0, out=z)
        Wez = np.exp(z)
        Wez *= W
        Wdz = Wd * z
        sWd = Wd.sum(axis=1)
        ll = Wdz.sum(axis=1) - ls * sWd - Wd @ y - Wez.sum(axis=1)
        if not hessian:
            return ll
        Wzez = Wez * z
        szez, sdz = Wzez.sum(axis=1), Wdz.sum(axis=1)
        m, q = theta.shape[0], p + 1
        grad = np.empty((m, q))
        grad[:, :p] = ((Wez - Wd) @ X) / sig
        grad[:, p] = szez - sdz - sWd
        H = np.empty((m, q, q))
        H[:, :p, :p] = -(Wez @ _outer_rows(X)).reshape(m, p, p) / sig[:, :, None] ** 2
        H[:, :p, p] = H[:, p, :p] = -((Wzez + Wez - Wd) @ X) / sig
        Wzez *= z
        H[:, p, p] = -(Wzez.sum(axis=1) + szez - sdz)
    return ll, grad, H


def _pinv_neg(H):
    """Pseudo-inverse of ``-H`` (stack) over the non-aliased directions, after scaling to
    unit diagonal; negative curvature directions are flipped (so the Newton step is an
    ascent direction)."""
    A = -H
    A = np.where(np.isfinite(A).all(axis=(1, 2))[:, None, None], A, 0.0)
    dg = np.sqrt(np.abs(np.einsum("mii->mi", A)))
    dg = np.where(dg > 0, dg, 1.0)
    As = A / dg[:, :, None] / dg[:, None, :]
    lam, V = np.linalg.eigh(As)
    big = np.max(np.abs(lam), axis=1, keepdims=True)
    good = np.abs(lam) > _ALIAS_TOL * np.maximum(big, 1e-300)
    inv = np.where(good, 1.0 / np.where(good, np.abs(lam), 1.0), 0.0)
    P = np.einsum("mij,mj,mkj->mik", V, inv, V)
    return P / dg[:, :, None] / dg[:, None, :], good.sum(axis=1)


def _start(y, d, X, W, off):
    """Starting values: weighted least squares of log(time) on X, and log(scale) from the
    residual SD (the SD of the minimum extreme-value distribution is pi / sqrt(6))."""
    r = y - off
    p = X.shape[1]
    A = (W @ _outer_rows(X)).reshape(W.shape[0], p, p)
    b = W @ (X * r[:, None])
    Ainv = np.linalg.pinv(A, hermitian=True)
    beta = np.einsum("mij,mj->mi", Ainv, b)
    res = r[None, :] - beta @ X.T
    sw = W.sum(axis=1)
    var = (W * res**2).sum(axis=1) / np.maximum(sw, 1e-300)
    ls = np.log(np.maximum(np.sqrt(var) * np.sqrt(6.0) / np.pi, 1e-3))
    return np.concatenate([beta, ls[:, None]], axis=1)


def _failed(ll_n, g_n, H_n, ll_old):
    """Newton trial points to reject: non-finite derivatives or a lower log-likelihood."""
    ok = np.isfinite(ll_n) & np.isfinite(g_n).all(axis=1) & np.isfinite(H_n).all(axis=(1, 2))
    return ~(ok & (ll_n >= ll_old - 1e-10 * (np.abs(ll_old) + 1.0)))


def _fit_batch(y, d, X, W, off, tol: float = 1e-9, maxiter: int = 100, start=None):
    """Newton-Raphson with step halving for every row of ``W`` at once.

    Returns theta (m x q), loglik (m,), the inverse information (m x q x q, pseudo-inverse
    over aliased directions), the number of iterations and a converged flag (m,).
    Convergence: the largest absolute Newton step (coefficients and log scale) is below
    ``tol``; the step is applied, so the estimates are accurate to about ``tol**2``.
    ``start`` (q or m x q) replaces the least-squares starting values; the maximum is
    unique (the log-likelihood is concave in (beta / sigma, 1 / sigma)), so the start
    changes only the number of iterations.
    """
    m = W.shape[0]
    if start is None:
        theta = _start(y, d, X, W, off)
    else:
        theta = np.array(np.broadcast_to(np.nan_to_num(np.asarray(start, float)),
                                         (m, X.shape[1] + 1)))
    Wd_all = W * d
    ll, g, H = _derivs(theta, y, d, X, W, off, Wd=Wd_all)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    conv = np.zeros(m, dtype=bool)
    done = ~(np.isfinite(ll) & np.isfinite(g).all(axis=1) & np.isfinite(H).all(axis=(1, 2)))
    it = 0
    for it in range(1, maxiter + 1):  # noqa: B007
        act = np.flatnonzero(~done)
        if len(act) == 0:
            break
        full = len(act) == m
        P, _ = _pinv_neg(H[act])
        step = np.einsum("mij,mj->mi", P, g[act])
        th_a, ll_a = theta[act], ll[act]
        W_a = W if full else W[act]
        Wd_a = Wd_all if full else Wd_all[act]
        fac = np.ones(len(act))
        new = th_a + step
        ll_n, g_n, H_n = _derivs(new, y, d, X, W_a, off, Wd=Wd_a)
        for _ in range(30):
            bad = _failed(ll_n, g_n, H_n, ll_a)
            if not bad.any():
                break
            fac[bad] /= 2.0
            new[bad] = th_a[bad] + fac[bad, None] * step[bad]
            ll_n[bad], g_n[bad], H_n[bad] = _derivs(new[bad], y, d, X, W_a[bad], off,
                                                    Wd=Wd_a[bad])
        # no acceptable step (degenerate data, e.g. identical times): stop, not converged
        stuck = _failed(ll_n, g_n, H_n, ll_a) | ~np.isfinite(step).all(axis=1)
        keep = ~stuck
        theta[act[keep]], ll[act[keep]] = new[keep], ll_n[keep]
        g[act[keep]], H[act[keep]] = g_n[keep], H_n[keep]
        small = keep & (np.max(np.abs(fac[:, None] * step), axis=1) < tol)
        conv[act[small]] = True
        done[act[small | stuck]] = True
        if done.all():
            break
    P, rank = _pinv_neg(H)
    return theta, ll, P, it, conv, rank


def _intercept_column(X):
    """Index of a constant, non-zero column of ``X`` (the intercept), else None."""
    if X.shape[0] == 0:
        return None
    c = X[0]
    const = np.flatnonzero((c != 0) & (X == c).all(axis=0))
    return int(const[0]) if len(const) else None


def _profile_shape(u, w, wd, sWd, k0, maxiter: int = 50, rtol: float = 1e-8):
    """Shape ``k = 1 / sigma`` and location ``b0`` maximising the Weibull log-likelihood of
    ``log t = b0 + offset + sigma W`` given residuals ``u = log t - offset`` (``b0`` is
    profiled out: ``exp(-k b0) = D / sum w e^{k u}``). The profile is concave in k; Newton
    with step halving, to a relative change of 1e-8 (used for starting values only).
    Returns None if it fails."""
    c = float(u.max())
    uc = u - c
    Su = float(wd @ uc)
    k = k0 if np.isfinite(k0) and k0 > 0 else 1.0
    unit = bool(np.all(w == 1.0))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(maxiter):
            e = np.exp(k * uc)
            if not unit:
                e *= w
            T0 = float(e.sum())
            eu = e * uc
            T1 = float(eu.sum())
            T2 = float(eu @ uc)
            m1 = T1 / T0
            g = Su + sWd / k - sWd * m1
            h = -sWd / k**2 - sWd * (T2 / T0 - m1 * m1)
            if not (np.isfinite(g) and np.isfinite(h)) or h >= 0:
                return None
            step = -g / h
            while k + step <= 0:
                step /= 2.0
            k += step
            if abs(step) < rtol * k:
                break
        else:
            return None                # e.g. identical times: the shape diverges
        T0 = float(w @ np.exp(k * uc))
        b0 = c - np.log(sWd / T0) / k
    if not (np.isfinite(k) and np.isfinite(b0)):
        return None
    return k, b0


def _fit_one(y, d, X, w, off, tol: float = 1e-9, maxiter: int = 100, start=None):
    """Newton-Raphson with step halving for one weight vector (the single-fit path).

    The same iteration, convergence rule and result as ``_fit_batch`` with one row of
    weights, written for a single fit: the gradient and Hessian take two matrix products
    (``X' [w e^z - w d, w z e^z]`` and ``X' diag(w e^z) X``), the Newton step is a Cholesky
    solve (the eigen-decomposition of ``_pinv_neg`` is used only where the negated Hessian
    is not positive definite, and once at the end for the covariance), and a rejected step
    costs one log-likelihood evaluation. On small data the batched path spends most of its
    time in per-call numpy overhead; this one needs a handful of operations per iteration.
    Returns ``None`` when the start or an iteration gives non-finite values (the caller
    then uses ``_fit_batch``).
    """
    p = X.shape[1]
    q = p + 1
    r = y - off
    wd = w * d
    sWd = float(wd.sum())
    wdy = float(wd @ y)
    XT = np.ascontiguousarray(X.T)
    if start is None:
        # weighted least squares of log(time) on X and log(scale) from the residual SD,
        # as _start (one weight vector)
        Xw = XT * w
        A = Xw @ X
        try:
            beta = np.linalg.solve(A, Xw @ r)
        except np.linalg.LinAlgError:
            beta = np.linalg.pinv(A, hermitian=True) @ (Xw @ r)
        res = r - X @ beta
        var = float(w @ (res * res)) / max(float(w.sum()), 1e-300)
        ls = np.log(max(np.sqrt(var) * np.sqrt(6.0) / np.pi, 1e-3))
        theta = np.r_[beta, ls]
        j0 = _intercept_column(X)
        if j0 is not None and sWd > 0:
            # least squares ignores censoring: keep its slopes, but take the intercept and
            # the scale that maximise the likelihood given them (closed form in the
            # intercept, a concave 1-D Newton in the shape), so that the Newton iteration
            # starts near the maximum instead of halving its first steps
            c0 = X[0, j0]
            u = res + c0 * beta[j0]
            prof = _profile_shape(u, w, wd, sWd, float(np.exp(-ls)))
            if prof is not None:
                k, b0 = prof
                theta[j0] = b0 / c0
                theta[p] = -np.log(k)
    else:
        theta = np.nan_to_num(np.asarray(start, float)).copy()

    unit = bool(np.all(w == 1.0))         # no case weights: skip the products with w

    def loglik(th):
        sig = np.exp(th[p])
        z = r - X @ th[:p]
        z /= sig
        np.minimum(z, 700.0, out=z)
        wez = np.exp(z)
        if not unit:
            wez *= w
        sdz = float(wd @ z)
        return sdz - th[p] * sWd - wdy - float(wez.sum()), z, wez, sdz

    def derivs(th, z, wez, sdz):
        sig = np.exp(th[p])
        zwez = z * wez
        szez = float(zwez.sum())
        M0 = XT @ (wez - wd)
        g = np.empty(q)
        g[:p] = M0 / sig
        g[p] = szez - sdz - sWd
        H = np.empty((q, q))
        H[:p, :p] = (XT * wez) @ X
        H[:p, :p] /= -sig * sig
        H[:p, p] = H[p, :p] = -(XT @ zwez + M0) / sig
        H[p, p] = -(float(zwez @ z) + szez - sdz)
        return g, H

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ll, z, wez, sdz = loglik(theta)
        if not np.isfinite(ll):
            return None
        g, H = derivs(theta, z, wez, sdz)
        if not (np.isfinite(g).all() and np.isfinite(H).all()):
            return None
        conv = False
        it = 0
        prev = None
        for it in range(1, maxiter + 1):  # noqa: B007
            # Newton step on the unit-diagonal scaling of -H (as _pinv_neg); where -H is
            # not positive definite, _pinv_neg's eigen-decomposition decides
            dg = np.sqrt(np.abs(np.diag(H)))
            dg[dg == 0] = 1.0
            As = -H / dg[:, None] / dg[None, :]
            # LAPACK directly (numpy.linalg's wrappers cost more than a small factorisation)
            c, bad = _lapack.dpotrf(As, lower=1)
            if bad == 0:
                x, bad = _lapack.dpotrs(c, g / dg, lower=1)
            if bad == 0:
                step = x / dg
            else:
                P, _ = _pinv_neg(H[None])
                step = P[0] @ g
            if not np.isfinite(step).all():
                break
            fac = 1.0
            for _ in range(31):
                new = theta + fac * step
                ll_n, z, wez, sdz = loglik(new)
                if np.isfinite(ll_n) and ll_n >= ll - 1e-10 * (abs(ll) + 1.0):
                    g_n, H_n = derivs(new, z, wez, sdz)
                    if np.isfinite(g_n).all() and np.isfinite(H_n).all():
                        break
                fac /= 2.0
            else:
                break                      # no acceptable step: stop, not converged
            theta, ll, g, H = new, ll_n, g_n, H_n
            size = float(abs(fac * step).max())
            if size < tol:
                conv = True
                break
            # quadratic convergence: the next full step would be about size^2 / prev
            # (times size / prev again); far below tol, theta is already the maximiser to
            # rounding, so that step is not taken (as fit_cox)
            if fac == 1.0 and prev is not None and size < 1e-4 \
                    and size**3 < 1e-4 * tol * prev**2:
                conv = True
                break
            prev = size if fac == 1.0 else None
    P, rank = _pinv_neg(H[None])
    return theta[None], np.array([ll]), P, it, np.array([conv]), rank


def _saturated_groups(X, offset=None):
    """Group index of every row when the design is saturated in its distinct rows (e.g.
    intercept + a 0/1 treatment: two groups with free group means) and there is no offset;
    else None. Then the Weibull MLE has group-specific ``eta_g`` in closed form given the
    shape, and the maximised log-likelihood is a 1-D problem (:func:`_profile_loglik`)."""
    if offset is not None and np.any(np.asarray(offset) != 0):
        return None
    D, inv = np.unique(X, axis=0, return_inverse=True)
    if D.shape[0] > 16 or np.linalg.matrix_rank(D) < D.shape[0]:
        return None
    return inv.reshape(-1), D.shape[0]


def _profile_loglik(t, d, groups, n_groups, W, k0, tol: float = 1e-11, maxiter: int = 100):
    """Maximised Weibull log-likelihood (time scale) of a saturated design, for every row of
    the weight matrix ``W`` (m x n) at once.

    With ``k = 1 / sigma`` and per group g the weighted sums ``D_g = sum w d``,
    ``L_g = sum w d log t`` and ``T_g(k) = sum w t^k``, the maximising group linear
    predictors are ``exp(-k eta_g) = D_g / T_g(k)`` and the profile log-likelihood is::

        l(k) = sum_g [(k - 1) L_g + D_g log k + D_g log D_g - D_g log T_g(k) - D_g]

    which is concave in k (log T_g is convex); it is maximised by Newton's method on k with
    step halving, started at ``k0`` (e.g. the parent node's shape). A group without events
    contributes its supremum 0 (its ``eta_g`` tends to infinity).
    Returns (loglik (m,), k (m,)).
    """
    lt = np.log(t)
    c = lt.max()
    G = np.zeros((len(t), n_groups))
    G[np.arange(len(t)), groups] = 1.0
    Dg = W @ (G * d[:, None])
    Lg = W @ (G * (d * lt)[:, None])
    Dtot, Ltot = Dg.sum(axis=1), Lg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        DlogD = np.where(Dg > 0, Dg * np.log(np.where(Dg > 0, Dg, 1.0)), 0.0).sum(axis=1)
    B = np.concatenate([G, G * (lt - c)[:, None], G * ((lt - c) ** 2)[:, None]], axis=1)
    m = W.shape[0]
    k = np.broadcast_to(np.asarray(k0, dtype=float), (m,)).copy()

    def stats_(kk, Wk):
        E = np.exp(np.outer(kk, lt - c))
        E *= Wk
        S = E @ B
        T0, T1, T2 = S[:, :n_groups], S[:, n_groups:2 * n_groups], S[:, 2 * n_groups:]
        return T0, T1, T2

    def loglik(kk, T0, rows):
        Dr = Dg[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            lT = np.where(Dr > 0, np.log(np.where(T0 > 0, T0, 1.0)) + kk[:, None] * c, 0.0)
        return ((kk - 1.0) * Ltot[rows] + Dtot[rows] * np.log(kk) + DlogD[rows]
                - (Dr * lT).sum(axis=1) - Dtot[rows])

    act = np.arange(m)
    T0, T1, T2 = stats_(k, W)
    ll = loglik(k, T0, act)
    for _ in range(maxiter):
        Dr = Dg[act]
        with np.errstate(divide="ignore", invalid="ignore"):
            r1 = np.where(T0 > 0, T1 / T0, 0.0)
            r2 = np.where(T0 > 0, T2 / T0, 0.0)
        kk = k[act]
        # derivatives of l in k (the shift c cancels in the ratios up to + c terms)
        g1 = Ltot[act] + Dtot[act] / kk - (Dr * (r1 + c)).sum(axis=1)
        h = -Dtot[act] / kk**2 - (Dr * (r2 - r1**2)).sum(axis=1)
        step = np.where(h < 0, -g1 / np.where(h < 0, h, -1.0), 0.1 * np.sign(g1) * kk)
        new = kk + step
        fac = np.ones(len(act))
        for _h in range(60):
            bad = new <= 0
            if not bad.any():
                break
            fac[bad] /= 2.0
            new[bad] = kk[bad] + fac[bad] * step[bad]
        Wa = W[act]
        T0n, T1n, T2n = stats_(new, Wa)
        lln = loglik(new, T0n, act)
        for _h in range(60):
            bad = ~(np.isfinite(lln) & (lln >= ll[act] - 1e-12 * (np.abs(ll[act]) + 1.0)))
            if not bad.any():
                break
            fac[bad] /= 2.0
            new[bad] = kk[bad] + fac[bad] * step[bad]
            b0, b1, b2 = stats_(new[bad], Wa[bad])
            T0n[bad], T1n[bad], T2n[bad] = b0, b1, b2
            lln[bad] = loglik(new[bad], b0, act[bad])
        k[act], ll[act] = new, lln
        done = np.abs(fac * step) <= tol * new
        keep = ~done
        act, T0, T1, T2 = act[keep], T0n[keep], T1n[keep], T2n[keep]
        if len(act) == 0:
            break
    return ll, k


# --------------------------------------------------------------------------------------
# single fits (arrays)
# --------------------------------------------------------------------------------------
@dataclass
class WeibullFit:
    """A Weibull AFT fit on arrays (see :func:`fit_weibull`).

    Attributes
    ----------
    coef : ndarray (p,)
        Regression coefficients on the log-time scale (NaN where aliased).
    log_scale, scale : float
        log(sigma) and sigma; the Weibull shape is ``1 / scale``.
    vcov : ndarray (p + 1, p + 1)
        Inverse observed information of ``(coef, log(scale))`` (survreg's ``var``).
    loglik : float
        Log-likelihood on the time scale (survreg's ``loglik[2]``).
    estfun : ndarray (n, q + 1)
        Score contributions (case weights included) of the non-aliased coefficients and
        of log(scale) (``sandwich::estfun`` of the survreg fit).
    n_iter : int
    converged : bool
    """

    coef: np.ndarray
    log_scale: float
    vcov: np.ndarray
    loglik: float
    estfun: np.ndarray
    n_iter: int
    converged: bool
    coef_names: list[str] = field(default_factory=list)

    @property
    def scale(self) -> float:
        return float(np.exp(self.log_scale))


def _as_arrays(time, event, X, weights, offset):
    t = np.asarray(time, dtype=float).ravel()
    d = np.asarray(event, dtype=float).ravel()
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n = len(t)
    if d.shape != (n,) or X.shape[0] != n:
        raise ModelSpecificationError(
            f"time ({n}), event ({d.shape[0]}) and X ({X.shape[0]} rows) must have one value "
            "per patient")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float).ravel()
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float).ravel()
    if w.shape != (n,) or off.shape != (n,):
        raise ModelSpecificationError("weights and offset must have one value per patient")
    return t, d, X, w, off


def check_survival_outcome(time, event, name_time: str = "time", name_event: str = "event"
                           ) -> None:
    """Raise :class:`~ipdma.errors.OutcomeError` unless times are finite and positive and
    the event indicator is 0/1.

    Examples
    --------
    >>> from ipdma.survival import check_survival_outcome
    >>> check_survival_outcome([1.0, 2.5], [1, 0])
    >>> check_survival_outcome([1.0, 0.0], [1, 0])
    Traceback (most recent call last):
    ...
    ipdma.errors.OutcomeError: The time column 'time' has 1 time(s) <= 0 (e.g. row 1: 0.0); survival times must be positive (a time of 0 usually means a data-entry problem: set it to a small positive value such as half the smallest unit, or drop the row).
    """
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=float)
    if not np.all(np.isfinite(t)):
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise OutcomeError(f"The time column {name_time!r} has missing or non-finite values "
                           f"(e.g. row {i}); remove or impute them.")
    if np.any(t <= 0):
        bad = np.flatnonzero(t <= 0)
        raise OutcomeError(
            f"The time column {name_time!r} has {len(bad)} time(s) <= 0 (e.g. row {bad[0]}: "
            f"{t[bad[0]]}); survival times must be positive (a time of 0 usually means a "
            "data-entry problem: set it to a small positive value such as half the smallest "
            "unit, or drop the row).")
    ok = (d == 0.0) | (d == 1.0)
    if not ok.all():
        vals = np.unique(d[~ok])[:5].tolist()
        raise OutcomeError(
            f"The event column {name_event!r} must be coded 1 = event, 0 = censored; found "
            f"values such as {vals}. Recode it (e.g. (df.status == 'dead').astype(int)).")


def fit_weibull(time, event, X, weights=None, offset=None, coef_names: Sequence[str] | None = None,
                tol: float = 1e-9, maxiter: int = 100) -> WeibullFit:
    """Fit ``survreg(Surv(time, event) ~ 0 + X, weights, offset, dist = "weibull")``.

    Parameters
    ----------
    time, event : array_like (n,)
        Follow-up time (> 0) and event indicator (1 = event, 0 = right-censored).
    X : array_like (n, p)
        Regressors (add a column of ones for an intercept).
    weights : array_like, optional
        Case weights (the log-likelihood is ``sum(w * l_i)``).
    offset : array_like, optional
        Offset on the log-time scale.
    coef_names : sequence of str, optional
    tol : float
        Convergence: largest absolute Newton step below ``tol`` (the estimates are then
        accurate to about ``tol**2``).
    maxiter : int

    Returns
    -------
    WeibullFit

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.survival import fit_weibull
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> trt = rng.integers(0, 2, n)
    >>> t = np.exp(1.0 + 0.5 * trt + 0.5 * np.log(rng.exponential(size=n)))
    >>> f = fit_weibull(np.minimum(t, 5), (t < 5).astype(int), np.column_stack([np.ones(n), trt]))
    >>> f.coef.round(2).tolist(), round(f.scale, 2)
    ([1.03, 0.48], 0.48)
    """
    t, d, X, w, off = _as_arrays(time, event, X, weights, offset)
    check_survival_outcome(t, d)
    return _fit_weibull_checked(t, d, X, w, off, coef_names, tol, maxiter)


def _fit_weibull_checked(t, d, X, w, off, coef_names=None, tol: float = 1e-9,
                         maxiter: int = 100, stacklevel: int = 3) -> WeibullFit:
    """:func:`fit_weibull` on validated float arrays (``_as_arrays`` + outcome check done)."""
    n, p = X.shape
    names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
    keep = _keep_columns(X, w)
    Xk = X if keep.all() else X[:, keep]
    y = np.log(t)
    out = _fit_one(y, d, Xk, w, off, tol=tol, maxiter=maxiter)
    if out is None or not out[4][0] or out[0][0, -1] < -18.0:
        # not converged, or a scale below 1e-8 (identical times): the batched path decides,
        # so that degenerate data end (and warn) exactly as before
        out = _fit_batch(y, d, Xk, w[None, :], off, tol=tol, maxiter=maxiter)
    theta, ll, P, it, conv, _ = out
    if not conv[0]:
        warnings.warn(f"Weibull regression did not converge in {maxiter} Newton iterations "
                      f"(n = {n}, {int(d.sum())} events); estimates may be unreliable.",
                      ConvergenceWarning, stacklevel=stacklevel)
    th = theta[0]
    q = Xk.shape[1]
    coef = np.full(p, np.nan)
    coef[keep] = th[:q]
    vk = np.r_[keep, True]
    vcov = np.full((p + 1, p + 1), np.nan)
    vcov[np.ix_(vk, vk)] = P[0]
    sig = np.exp(th[q])
    eta = Xk @ th[:q] + off
    z = (y - eta) / sig
    ez = np.exp(z)
    ef = np.column_stack([(w * (ez - d) / sig)[:, None] * Xk, w * (z * (ez - d) - d)])
    return WeibullFit(coef=coef, log_scale=float(th[q]), vcov=vcov, loglik=float(ll[0]),
                      estfun=ef, n_iter=int(it), converged=bool(conv[0]), coef_names=names)


def _null_loglik(t, d, w, off, tol, maxiter) -> float:
    """Maximised log-likelihood of the intercept-only model: the 1-D profile in the shape
    (:func:`_profile_shape`, to a relative change of 1e-12, so the log-likelihood is exact
    to rounding); the Newton fit where that fails (e.g. no events)."""
    y = np.log(t)
    wd = w * d
    sWd = float(wd.sum())
    prof = _profile_shape(y - off, w, wd, sWd, 1.0, rtol=1e-12) if sWd > 0 else None
    if prof is None:
        return _fit_weibull_checked(t, d, np.ones((len(t), 1)), w, off, tol=tol,
                                    maxiter=maxiter, stacklevel=4).loglik
    k, b0 = prof
    z = (y - off - b0) * k
    return float(wd @ z + sWd * np.log(k) - wd @ y - w @ np.exp(z))


def _keep_columns(X, w):
    """Non-aliased columns (R's sequential rank rule: a later column linearly dependent on
    earlier ones is dropped)."""
    from ..trees._nodemodels import _nonaliased_columns

    pos = w > 0
    Xp, swp = (X, np.sqrt(w)) if pos.all() else (X[pos], np.sqrt(w[pos]))
    # fast path: the Cholesky factor of the column-normalised weighted cross-product has
    # diagonal entries |residual of column j on columns < j| / |column j| (the quantity of
    # the sequential rank check); far above its tolerance every column is kept, otherwise
    # the exact (Gram-Schmidt) check decides
    A = (Xp.T * (swp * swp)) @ Xp
    dg = np.sqrt(np.diag(A))
    if np.all(dg > 0) and np.all(np.isfinite(A)):
        try:
            L = np.linalg.cholesky(A / dg[:, None] / dg[None, :])
            if np.min(np.diag(L)) > 1e-3:
                return np.ones(X.shape[1], dtype=bool)
        except np.linalg.LinAlgError:
            pass
    return _nonaliased_columns(Xp, swp)


# --------------------------------------------------------------------------------------
# the estimator (pandas in, tidy out)
# --------------------------------------------------------------------------------------
def _design(df: pd.DataFrame, covariates: list[str], intercept: bool, levels=None,
            arrays=None):
    """Design matrix; ``arrays`` maps numeric columns already read to float arrays."""
    cols, names = [], []
    if intercept:
        cols.append(np.ones(len(df)))
        names.append("(Intercept)")
    lev_out = {} if levels is None else levels
    for c in covariates:
        if arrays is not None and c in arrays:
            cols.append(arrays[c])
            names.append(str(c))
            continue
        s = df[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            if levels is None:
                lev_out[c] = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                              else sorted(pd.unique(s.dropna()).tolist(), key=str))
            lv = lev_out[c]
            unknown = ~s.isin(lv)
            if unknown.any():
                raise DataError(f"Covariate {c!r} has levels {sorted(set(s[unknown].astype(str)))[:5]} "
                                f"not seen when the model was fitted (known levels: {lv}).")
            for lvl in lv[1:]:
                cols.append((s == lvl).to_numpy(dtype=float))
                names.append(f"{c}[{lvl}]")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(str(c))
    X = np.column_stack(cols) if cols else np.zeros((len(df), 0))
    return X, names, lev_out


class WeibullRegression(ResultsMixin):
    """Weibull accelerated-failure-time regression (R's ``survreg(dist = "weibull")``).

    ``log T = x'beta + sigma * W``; coefficients are on the log-time scale (a positive
    coefficient lengthens survival), ``scale`` is sigma. Fitted by Newton-Raphson on
    ``(beta, log sigma)`` with analytic derivatives; ``vcov`` is the inverse observed
    information including ``Log(scale)``, as survreg's ``var``.

    Parameters
    ----------
    intercept : bool
        Add an intercept.
    tol : float
        Convergence tolerance on the Newton step (default 1e-9: estimates to ~1e-15).
    maxiter : int

    Attributes
    ----------
    coef : Series
        Coefficients (log-time scale).
    scale, log_scale : float
    shape : float
        Weibull shape ``1 / scale``.
    vcov : DataFrame
        Covariance of (coef, Log(scale)).
    se : Series
        Standard errors of (coef, Log(scale)).
    loglik, loglik_null : float
        Log-likelihood (time scale, as survreg) and that of the intercept-only model.
    n_iter : int
    nobs, n_events : float

    Notes
    -----
    Proportional-hazards reading: ``h(t | x) = h0(t) exp(-x'beta / sigma)``, so the log
    hazard ratio of a covariate is ``-beta / sigma`` (:meth:`hazard_ratios`, delta-method
    SE); the time ratio is ``exp(beta)`` (:meth:`time_ratios`).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.survival import WeibullRegression
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> df = pd.DataFrame({"trt": rng.integers(0, 2, n), "age": rng.normal(size=n)})
    >>> t = np.exp(1.0 + 0.5 * df.trt - 0.2 * df.age + 0.5 * np.log(rng.exponential(size=n)))
    >>> df["time"], df["status"] = np.minimum(t, 5), (t < 5).astype(int)
    >>> m = WeibullRegression().fit(df, time="time", event="status", covariates=["trt", "age"])
    >>> m.coef.round(2).tolist(), round(m.scale, 2)
    ([0.96, 0.54, -0.22], 0.49)
    >>> m.hazard_ratios().loc["trt", ["estimate", "ci_lower", "ci_upper"]].round(2).tolist()
    [0.33, 0.26, 0.42]
    >>> m.predict_rmst(df.head(2), tau=3).round(3).tolist()
    [2.699, 2.685]
    """

    def __init__(self, intercept: bool = True, tol: float = 1e-9, maxiter: int = 100):
        self.intercept = intercept
        self.tol = tol
        self.maxiter = maxiter
        self.coef = None

    # pandas results built on first access (their construction costs more than the fit on
    # small data); assigning one replaces it
    def _public_attr(name):  # a property factory used in the class body
        def fget(self):
            cache = self.__dict__.setdefault("_public", {})
            if name not in cache:
                f = self.__dict__.get("fit_")
                if f is None:
                    return None
                names = self.coef_names_
                if name == "coef":
                    cache[name] = pd.Series(f.coef, index=names, name="coef")
                else:
                    vn = [*names, "Log(scale)"]
                    cache[name] = (pd.DataFrame(f.vcov, index=vn, columns=vn) if name == "vcov"
                                   else pd.Series(np.sqrt(np.diag(f.vcov)), index=vn, name="se"))
            return cache[name]

        def fset(self, value):
            self.__dict__.setdefault("_public", {})[name] = value

        return property(fget, fset)

    coef = _public_attr("coef")
    vcov = _public_attr("vcov")
    se = _public_attr("se")
    del _public_attr

    def fit(self, data: pd.DataFrame, time: str, event: str,
            covariates: Sequence[str] | None = None, weights: str | None = None,
            offset: str | None = None) -> WeibullRegression:
        """Fit the model.

        Parameters
        ----------
        data : DataFrame
        time, event : str
            Follow-up time (> 0) and event indicator (1 = event, 0 = censored) columns.
        covariates : list of str
            Numeric columns as they are; categorical (string/categorical) columns get
            treatment coding (first level = reference), named ``"col[level]"``.
        weights, offset : str, optional
            Case-weight and offset (log-time scale) columns.
        """
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        covs = [covariates] if isinstance(covariates, str) else list(covariates or [])
        roles = [("Time", time), ("Event", event), *[("Covariate", c) for c in covs]]
        roles += [(r, c) for r, c in (("Weights", weights), ("Offset", offset)) if c is not None]
        for role, c in roles:
            if c not in data.columns:
                raise column_not_found(c, data.columns, role)
        used = list(dict.fromkeys(c for _, c in roles))
        # column by column (a sub-frame ``data[used]`` costs more than the fit on small data)
        arrays, bad = {}, {}
        for c in used:
            col = column_values(data, c)
            if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
                a = col.astype(float, copy=False)
                arrays[c] = a
                k = int(np.isnan(a).sum()) if col.dtype.kind == "f" else 0
            else:
                k = int(data[c].isna().sum())
            if k:
                bad[c] = k
        if bad:
            raise MissingDataError(
                "Missing values in " + ", ".join(f"{k!r} ({v} rows)" for k, v in bad.items())
                + "; drop or impute them before fitting.")

        def arr(c):
            return arrays[c] if c in arrays else data[c].to_numpy(float)

        t, ev = arr(time), arr(event)
        check_survival_outcome(t, ev, time, event)
        X, names, levels = _design(data, covs, self.intercept, arrays=arrays)
        w = arr(weights) if weights else None
        off = arr(offset) if offset else None
        n = len(t)
        w1 = np.ones(n) if w is None else w
        off0 = np.zeros(n) if off is None else off
        f = _fit_weibull_checked(t, ev, X, w1, off0, names, tol=self.tol, maxiter=self.maxiter)
        self.fit_ = f
        self._public = {}
        self.coef_names_ = names
        self._covariates = covs
        self._levels = levels
        self._has_offset = offset is not None
        self._offset = offset
        self.log_scale = f.log_scale
        self.scale = f.scale
        self.shape = 1.0 / f.scale
        self.loglik = f.loglik
        self.n_iter = f.n_iter
        self.converged = f.converged
        self.nobs = float(w1.sum())
        self.n_events = float(w1 @ ev)
        if self.intercept and len(names) > 1:
            self.loglik_null = _null_loglik(t, ev, w1, off0, self.tol, self.maxiter)
        else:
            self.loglik_null = f.loglik
        self.df = int(np.isfinite(f.coef).sum() + 1)
        return self

    # ---------------------------------------------------------------- prediction
    def _check(self):
        check_is_fitted(self, "coef")

    def predict_lp(self, data: pd.DataFrame) -> np.ndarray:
        """Linear predictor ``x'beta`` (+ offset column if the model had one) on the
        log-time scale (survreg's ``predict(type = "lp")``)."""
        self._check()
        for c in self._covariates:
            if c not in data.columns:
                raise column_not_found(c, data.columns, "Covariate")
        X, _, _ = _design(data, self._covariates, self.intercept, levels=self._levels)
        lp = X @ np.nan_to_num(self.coef.to_numpy())
        if self._has_offset:
            lp = lp + data[self._offset].to_numpy(float)
        return lp

    def predict_survival(self, data: pd.DataFrame, times) -> pd.DataFrame:
        """``S(t | x)`` for every row of ``data`` (rows) and every time in ``times``
        (columns)."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        lp = self.predict_lp(data)
        S = weibull_survival(times[None, :], lp[:, None], self.scale)
        return pd.DataFrame(S, index=data.index, columns=times)

    def predict_quantile(self, data: pd.DataFrame, p=0.5) -> pd.DataFrame:
        """Quantiles of T (``p = 0.5``: median survival), as
        ``predict(type = "quantile")``; rows = patients, columns = p."""
        p = np.atleast_1d(np.asarray(p, dtype=float))
        lp = self.predict_lp(data)
        return pd.DataFrame(weibull_quantile(p[None, :], lp[:, None], self.scale),
                            index=data.index, columns=p)

    def predict_rmst(self, data: pd.DataFrame, tau: float) -> pd.Series:
        """Restricted mean survival time up to ``tau`` for every row (closed form)."""
        if not (np.isscalar(tau) and tau > 0):
            raise ModelSpecificationError(f"tau must be a positive number, not {tau!r}")
        lp = self.predict_lp(data)
        return pd.Series(weibull_rmst(float(tau), lp, self.scale), index=data.index,
                         name=f"rmst({tau:g})")

    # ---------------------------------------------------------------- effect scales
    def _terms(self, terms):
        cands = [c for c in self.coef_names_ if c != "(Intercept)"]
        if terms is None:
            return cands
        terms = [terms] if isinstance(terms, str) else list(terms)
        for t in terms:
            if t not in cands:
                close = difflib.get_close_matches(str(t), cands, n=1, cutoff=0.4)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ModelSpecificationError(f"{t!r} is not a coefficient ({cands}).{hint}")
        return terms

    def hazard_ratios(self, terms=None, level: float = 0.95) -> pd.DataFrame:
        """Hazard ratios ``exp(-beta / sigma)`` with delta-method CIs on the log scale
        (columns ``log_hr``, ``se``, ``estimate``, ``ci_lower``, ``ci_upper``)."""
        self._check()
        terms = self._terms(terms)
        V = self.vcov.to_numpy()
        s = self.scale
        q = stats.norm.ppf(0.5 + level / 2)
        rows = []
        for t in terms:
            j = self.coef_names_.index(t)
            b = self.coef.iloc[j]
            g = np.zeros(V.shape[0])
            g[j], g[-1] = -1.0 / s, b / s
            est, se = -b / s, float(np.sqrt(g @ V @ g))
            rows.append({"term": t, "log_hr": est, "se": se, "estimate": np.exp(est),
                         "ci_lower": np.exp(est - q * se), "ci_upper": np.exp(est + q * se)})
        return pd.DataFrame(rows).set_index("term")

    def time_ratios(self, terms=None, level: float = 0.95) -> pd.DataFrame:
        """Time (acceleration) ratios ``exp(beta)`` with Wald CIs."""
        self._check()
        terms = self._terms(terms)
        q = stats.norm.ppf(0.5 + level / 2)
        b = self.coef[terms].to_numpy()
        se = self.se[terms].to_numpy()
        return pd.DataFrame({"log_tr": b, "se": se, "estimate": np.exp(b),
                             "ci_lower": np.exp(b - q * se), "ci_upper": np.exp(b + q * se)},
                            index=pd.Index(terms, name="term"))

    # ---------------------------------------------------------------- results protocol
    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """Coefficients and Log(scale) with SE, z, p and Wald CIs."""
        self._check()
        est = np.r_[self.coef.to_numpy(), self.log_scale]
        se = self.se.to_numpy()
        q = stats.norm.ppf(0.5 + level / 2)
        z = est / se
        return pd.DataFrame({"coef": est, "se": se, "z": z, "p_value": 2 * stats.norm.sf(np.abs(z)),
                             "ci_lower": est - q * se, "ci_upper": est + q * se},
                            index=pd.Index(self.se.index, name="term"))

    def summary(self, level: float = 0.95) -> Summary:
        self._check()
        chi = 2 * (self.loglik - self.loglik_null)
        dfc = self.df - 1 - int(self.intercept)
        info = {"Distribution": "weibull", "Observations": self.nobs, "Events": self.n_events,
                "Scale": self.scale, "Weibull shape": self.shape,
                "logLik (df)": f"{self.loglik:.4f} ({self.df})",
                "logLik intercept-only": self.loglik_null,
                "LR chi2 (df), p": (f"{chi:.3f} ({dfc}), {stats.chi2.sf(chi, dfc):.3g}"
                                    if dfc > 0 else "-"),
                "Newton iterations": self.n_iter}
        tables = {"Coefficients (log-time scale)": self.to_frame(level)}
        if len(self.coef_names_) > int(self.intercept):
            tables["Hazard ratios exp(-coef / scale)"] = self.hazard_ratios(level=level)
        return Summary(title="Weibull AFT regression (survreg)", info=info, tables=tables)

    def plot(self, ax=None, level: float = 0.95):
        """Forest plot of the hazard ratios."""
        from ..plots import get_ax

        hr = self.hazard_ratios(level=level)
        ax = get_ax(ax, figsize=(6, 0.4 * len(hr) + 1.5))
        ys = np.arange(len(hr))[::-1]
        ax.errorbar(hr["estimate"], ys, xerr=[hr["estimate"] - hr["ci_lower"],
                                              hr["ci_upper"] - hr["estimate"]], fmt="o")
        ax.axvline(1.0, color="#999999", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(ys)
        ax.set_yticklabels(hr.index)
        ax.set_xlabel(f"hazard ratio ({level:.0%} CI)")
        return ax

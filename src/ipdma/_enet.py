"""Shared elastic-net path solver: proximal Newton, batched over problems, sequential
over a decreasing lambda path with warm starts.

Used by the penalised Cox path (:mod:`ipdma.survival._penalized`, one problem) and by
the prognostic logistic lasso / elastic net (:mod:`ipdma.prognosis._solvers`: the
full-data path and the K cross-validation folds solved together).

Each problem m minimises ``f_m(b) + sum_j l1_mj |b_j| + 1/2 sum_j l2_mj b_j^2`` where
``f_m`` is smooth and convex (a negative log-likelihood divided by the sample size),
given by a caller's ``evaluate(b, idx, hessian) -> (f, gradient, Hessian)`` for all (or
the still unconverged) problems at once.
Each Newton iteration minimises the penalised quadratic model *exactly*: the active
set and signs of the warm start (plus the coordinates that violate the optimality
conditions there) give a linear system on the active coordinates; when its solution
is not sign- and KKT-consistent, batched coordinate descent (one vectorised update per
coordinate and sweep, over all problems at once) finds the active set and the system
is solved again.  With the exact Hessian the outer iterations converge quadratically
once the active set is found, so the result is the exact minimiser (to ~1e-12), not
a solution within a convergence threshold.  Loops run over coordinates, Newton
iterations and lambdas; never over observations or problems.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["one_blas_thread", "solve_enet_path", "solve_l1_quadratic"]

_CONTROLLER = None


def one_blas_thread():
    """Context manager limiting BLAS to one thread (the matrices here are narrow:
    threading costs more than it gives, and far more on a loaded machine); the
    threadpoolctl controller is built once per process (~0.1 s)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def _kkt_ok(H, c, l1, x, act, slack):
    """Sign- and KKT-consistency of ``x`` (zero outside ``act``) for each problem."""
    r = c - (H @ x[..., None])[..., 0]              # minus the gradient of the smooth part
    out = np.abs(r) <= l1 * (1 + slack) + slack
    out |= act
    return out.all(axis=1), r


def _direct(H, c, l1, l2, act, sgn, free):
    """Solve the stationarity conditions on the active coordinates (signs fixed)."""
    M, q = c.shape
    A = H * (act[:, :, None] & act[:, None, :])
    idx = np.arange(q)
    A[:, idx, idx] += np.where(act, l2, 1.0)
    rhs = np.where(act, c - l1 * sgn, 0.0)
    try:
        x = np.linalg.solve(A, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        x = np.full((M, q), np.nan)
        for m in range(M):                       # rare: singular active-set system
            try:
                x[m] = np.linalg.solve(A[m], rhs[m])
            except np.linalg.LinAlgError:
                pass
    x[~act] = 0.0
    ok = ((np.sign(x) == sgn) | ~act | free).all(axis=1) & np.isfinite(x).all(axis=1)
    return x, ok


def _cd(H, c, l1, l2, x, usable, tol, max_sweeps):
    """Batched cyclic coordinate descent on the quadratic model from ``x``."""
    diag = np.einsum("mjj->mj", H)
    denom = diag + l2
    r = c - np.einsum("mij,mj->mi", H, x)
    q = c.shape[1]
    for _ in range(max_sweeps):
        dmax = 0.0
        for j in range(q):                       # loop over coordinates, not observations
            u = r[:, j] + diag[:, j] * x[:, j]
            new = np.sign(u) * np.maximum(np.abs(u) - l1[:, j], 0.0)
            new = np.divide(new, denom[:, j], out=np.zeros_like(new),
                            where=usable[:, j] & (denom[:, j] > 0))
            d = new - x[:, j]
            if np.any(d != 0.0):
                r -= H[:, :, j] * d[:, None]
                x[:, j] = new
                dmax = max(dmax, float(np.max(diag[:, j] * d * d)))
        if dmax < tol:
            break
    return x


def solve_l1_quadratic(H, c, l1, l2, x0, usable=None, slack: float = 1e-9):
    """Exact minimiser of ``1/2 x'Hx - c'x + sum l1|x| + 1/2 sum l2 x^2`` per problem.

    H (M, q, q) positive semi-definite, c/l1/l2/x0 (M, q); ``usable`` (M, q) marks
    the coordinates that may be non-zero (False for columns without variance).
    ``x0`` is the warm start whose signs seed the active set.
    """
    M, q = c.shape
    usable = np.ones((M, q), bool) if usable is None else usable
    free = l1 <= 0                                           # unpenalised by the L1 part
    x0 = np.where(usable, x0, 0.0)
    r0 = c - (H @ x0[..., None])[..., 0]
    nz = x0 != 0
    act = (nz | free | (np.abs(r0) > l1)) & usable
    sgn = np.where(nz, np.sign(x0), np.sign(r0))
    x, ok = _direct(H, c, l1, l2, act, sgn, free)
    good, r = _kkt_ok(H, c, l1, x, act, slack)
    ok &= good
    if ok.all():
        return x
    # active-set corrections (a few direct solves): drop the coordinates whose sign
    # disagrees with the assumed one, add those violating the optimality conditions
    # with the sign of their residual; coordinate descent only if this does not settle
    bad = np.flatnonzero(~ok)
    for _ in range(4):
        Hb, cb, l1b, l2b, ub, fb = H[bad], c[bad], l1[bad], l2[bad], usable[bad], free[bad]
        xb, sb, ab, rb = x[bad], sgn[bad], act[bad], r[bad]
        flip = ab & ~fb & (np.sign(xb) != sb)
        viol = ~ab & ub & (np.abs(rb) > l1b * (1 + slack) + slack)
        ab = (ab & ~flip) | viol
        sb = np.where(viol, np.sign(rb), sb)
        xs, okb = _direct(Hb, cb, l1b, l2b, ab, sb, fb)
        gb, rs = _kkt_ok(Hb, cb, l1b, xs, ab, slack)
        okb &= gb
        x[bad], act[bad], sgn[bad], r[bad] = xs, ab, sb, rs
        bad = bad[~okb]
        if not len(bad):
            return x
    bad = np.isin(np.arange(M), bad)
    xb = _cd(H[bad], c[bad], l1[bad], l2[bad], x0[bad].copy(), usable[bad], 1e-12, 10_000)
    for tol in (1e-24, None):
        act_b = ((xb != 0) | free[bad]) & usable[bad]
        xs, okb = _direct(H[bad], c[bad], l1[bad], l2[bad], act_b, np.sign(xb), free[bad])
        good, _ = _kkt_ok(H[bad], c[bad], l1[bad], xs, act_b, slack)
        okb &= good
        xb = np.where(okb[:, None], xs, xb)
        if okb.all() or tol is None:
            break
        nb = ~okb
        xb[nb] = _cd(H[bad][nb], c[bad][nb], l1[bad][nb], l2[bad][nb], xb[nb],
                     usable[bad][nb], tol, 100_000)
    x[bad] = xb
    return x


def solve_enet_path(evaluate: Callable, b0: np.ndarray, l1: np.ndarray, l2: np.ndarray, *,
                    lambdas: np.ndarray | None = None, usable: np.ndarray | None = None,
                    step_tol: float = 1e-7, max_iter: int = 100, chord: bool = False,
                    stop: Callable[[int, np.ndarray], bool] | None = None):
    """Elastic-net path by proximal Newton, batched over M problems.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(b, idx, hessian)`` with ``b`` (k, q) the coefficients of the problems
        ``idx`` (k indices into 0..M-1; None = all M) returns ``(f, g, H)``: the smooth
        objective (k,), its gradient (k, q) and, when ``hessian`` is true, its Hessian
        (k, q, q) (else None).  Only the problems that have not converged at a lambda
        are evaluated again.  ``f`` may be None: the value is then computed only when
        the directional derivative does not certify a descent step, by
        ``evaluate.value(b, idx) -> f``.
    b0 : (M, q) start of the first lambda.
    l1, l2 : (L, M, q) penalty weights per lambda (0 for unpenalised coordinates).
    lambdas : (L,) positive, optional
        The path's lambdas: each lambda then starts from the secant extrapolation (in
        log lambda) of the two previous solutions when their active sets agree, which
        saves about one Newton iteration per lambda.
    usable : (M, q) bool, optional -- coordinates allowed to be non-zero.
    step_tol : a problem has converged at a lambda when its Newton step is below
        ``step_tol * (1 + max|b|)`` with an unchanged active set; the step is then taken
        and the result is exact to ~ step_tol^2 (Newton converges quadratically).
    chord : bool
        Keep the Hessian of each lambda's first point for its later iterations (the
        gradient is always exact, so the fixed point is the same exact minimiser; the
        convergence is linear with the relative change of the Hessian, ~1e-4 along a
        path with warm starts).  Then converged means a step below ``step_tol**1.3``.
    stop : callable(k, b) -> bool, optional; called after lambda k with its solution
        (M, q); True ends the path (glmnet's early stop).

    Returns
    -------
    B : (L', M, q) solutions; conv : (L', M) bool.
    """
    b = np.array(b0, float)
    M, q = b.shape
    L = l1.shape[0]
    usable = np.ones((M, q), bool) if usable is None else usable
    B = np.empty((L, M, q))
    conv = np.zeros((L, M), bool)
    tol_it = step_tol ** 1.3 if chord else step_tol
    loglam = None
    if lambdas is not None:
        lam = np.asarray(lambdas, float)
        if np.all(lam > 0):
            loglam = np.log(lam)
    for k in range(L):                               # loop over the path (warm starts)
        l1k, l2k = l1[k], l2[k]
        if k >= 2 and loglam is not None and loglam[k - 1] != loglam[k - 2]:
            # secant predictor on problems whose active set did not change
            prev, last = B[k - 2], B[k - 1]
            same = np.all((prev != 0) == (last != 0), axis=1)
            r = (loglam[k] - loglam[k - 1]) / (loglam[k - 1] - loglam[k - 2])
            pred = last + r * (last - prev)
            pred = np.where(np.sign(pred) == np.sign(last), pred, 0.0)
            b = np.where(same[:, None], pred, last)

        def objective(f_, b_, idx, l1k=l1k, l2k=l2k):
            return (f_ + np.sum(l1k[idx] * np.abs(b_), axis=1)
                    + 0.5 * np.sum(l2k[idx] * b_ * b_, axis=1))

        allidx = np.arange(M)
        f, g, H = evaluate(b, None, True)
        lazy = f is None                 # value only on demand: evaluate.value(b, idx)
        obj = None if lazy else objective(f, b, allidx)
        done = np.zeros(M, bool)
        for _ in range(max_iter):
            a = np.flatnonzero(~done)                  # problems still iterating
            ba, Ha = b[a], H[a]
            x = solve_l1_quadratic(Ha, np.einsum("mij,mj->mi", Ha, ba) - g[a], l1k[a], l2k[a],
                                   ba, usable[a])
            step = x - ba
            small = np.max(np.abs(step), axis=1) < tol_it * (1 + np.max(np.abs(x), axis=1))
            fin = small & np.all((x != 0) == (ba != 0), axis=1)
            b[a[fin]] = x[fin]                         # converged: take the last step as is
            done[a[fin]] = True
            if done.all():
                break
            a, ba, step = a[~fin], ba[~fin], step[~fin]
            t = np.ones(len(a))
            obj0 = None
            for _ in range(40):                      # step halving (rarely needed)
                cand = ba + t[:, None] * step
                f_c, g_c, H_c = evaluate(cand, a, not chord)
                if lazy:
                    # phi(s) = F(ba + s ts), convex: phi(1) - phi(0) <= phi'(1-), and the
                    # trapezoid estimate (phi'(0+) + phi'(1-)) / 2 is below phi'(0+) / 4
                    # when phi'(1-) <= |phi'(0+)| / 2 (phi'(0+) < 0 for a proximal Newton
                    # step): accepted without the value, which is computed (and the
                    # Armijo test made) only for the other problems
                    ts = t[:, None] * step
                    l1a = l1k[a]
                    d1 = np.sum(ts * (g_c + l2k[a] * cand)
                                + l1a * np.where(cand != 0, np.sign(cand) * ts, -np.abs(ts)),
                                axis=1)
                    d0 = np.sum(ts * (g[a] + l2k[a] * ba)
                                + l1a * np.where(ba != 0, np.sign(ba) * ts, np.abs(ts)), axis=1)
                    bad = ~((d0 < 0) & (d1 <= 0.5 * np.abs(d0))) & ~(d1 <= 0)
                    if bad.any():
                        ib = np.flatnonzero(bad)
                        if obj0 is None:
                            obj0 = objective(evaluate.value(ba, a), ba, a)
                        obj_c = objective(evaluate.value(cand[ib], a[ib]), cand[ib], a[ib])
                        bad[ib] = ~(obj_c <= obj0[ib] + 1e-13 * np.abs(obj0[ib]))
                else:
                    obj_c = objective(f_c, cand, a)
                    bad = ~(obj_c <= obj[a] + 1e-13 * np.abs(obj[a]))
                if not bad.any():
                    break
                t = np.where(bad, t / 2, t)
            b[a], g[a] = cand, g_c
            if not lazy:
                f[a], obj[a] = f_c, obj_c
            if H_c is not None:
                H[a] = H_c
        B[k] = b
        conv[k] = done
        if stop is not None and stop(k, b):
            return B[:k + 1], conv[:k + 1]
    return B, conv

"""Fast lasso / elastic-net Cox path solvers (``glmnet(family = "cox")``).

Two solvers share one precomputed, time-sorted standardised design (:class:`CoxPathData`):

* :func:`glmnet_cox_iterations` -- glmnet's own algorithm (its ``coxnet`` routine) step by
  step: outer loop = quadratic approximation of the Breslow partial likelihood with
  *diagonal* weights ``w_i = e_i (b_i - e_i c_i)`` and working gradient
  ``wr_i = d_i - e_i b_i`` (``b``, ``c`` cumulative sums of ``d_k / u_k`` and
  ``d_k / u_k^2`` over the event times at or before ``t_i``, ``u_k`` the risk-set sums);
  inner loop = cyclic coordinate descent (a full sweep over the strong set, then sweeps
  over the active set until the largest ``v_j delta_j^2`` is below ``thresh`` times the
  null deviance, then a full sweep again); strong rules with the KKT check of the
  excluded columns; warm starts along lambda.  The coordinate descent runs in
  "covariance mode": the weighted Gram matrix of the strong set ``Z' W Z`` is formed with
  one BLAS call per outer iteration and each coordinate update is O(p) work on Python
  floats -- the same iterates as glmnet's residual updates (to rounding), so at the same
  ``thresh`` the coefficients are glmnet's, including its convergence error.
* :func:`exact_cox_path` -- the exact minimiser at each lambda: proximal Newton with the
  exact Breslow Hessian (the penalised quadratic model solved exactly on its active set,
  coordinate descent only when the active set changes), a secant predictor along the
  path; converged when the Newton step is below 1e-7 with an unchanged active set (the
  step is then taken: error ~1e-14).

Risk-set sums are cumulative sums on the time-sorted rows; with tied times (the usual
case: times recorded in days) rows are first summed within time groups, so the cumulative
sums run over the distinct times only.  No loop runs over patients.
"""

from __future__ import annotations

import math
from operator import mul

import numpy as np

from ._riskset import RiskSets

__all__ = ["CoxPathData", "exact_cox_path", "glmnet_cox_iterations", "glmnet_default_lambdas",
           "glmnet_lambda_max", "glmnet_ratio_step"]

_BIG = 9.9e35          # glmnet's "infinite" first lambda


class CoxPathData:
    """Time-sorted, standardised design and risk-set structure of one path problem.

    Parameters
    ----------
    X : array (n, p); time, event : arrays (n,)
    weights : case weights or None; strata : integer codes or None
    standardize : bool -- as glmnet: centre by the weighted mean, divide by the weighted
        SD with divisor sum(w) (weights normalised to sum 1).
    """

    def __init__(self, X, time, event, weights=None, strata=None, standardize=True):
        X = np.asarray(X, float)
        n, p = X.shape
        w = None if weights is None else np.asarray(weights, float)
        wn = np.full(n, 1.0 / n) if w is None else w / w.sum()
        mean = wn @ X
        Xc = X - mean
        const = np.ptp(X, axis=0) == 0 if n else np.ones(p, bool)   # glmnet's chkvars
        if standardize:
            sd = np.sqrt(wn @ (Xc * Xc))
            sd = np.where(const | (sd <= 0), 1.0, sd)
        else:
            sd = np.ones(p)
        Z = Xc / sd
        Z[:, const] = 0.0
        self.n, self.p = n, p
        self.mean, self.sd, self.const = mean, sd, const
        self.sumw = float(n if w is None else w.sum())
        time = np.asarray(time, float)
        event = np.asarray(event, float)
        self.single = strata is None
        if self.single:
            rs = None
            order = np.argsort(time, kind="stable")
            ts, ev = time[order], event[order]
            ws = None if w is None else w[order]
            new_g = np.empty(n, bool)
            if n:
                new_g[0] = True
                np.not_equal(ts[1:], ts[:-1], out=new_g[1:])
            g_start = np.flatnonzero(new_g)
            G = len(g_start)
            group = np.cumsum(new_g) - 1
            dead = ev == 1
            d = np.flatnonzero(dead)
            dwt = np.ones(len(d)) if ws is None else ws[d]
            g_dead = np.bincount(group[d], weights=dwt, minlength=G)
            has = np.bincount(group[d], minlength=G) > 0
            eg = np.flatnonzero(has)
            self.dw = g_dead[eg]
            self._g_start = g_start
            self._rev_eg = G - 1 - eg
            self._rev_rows = n - 1 - g_start[eg]
            self.grouped = G < 0.9 * n
            row_eg = np.cumsum(has)[group]            # event times at or before the row
            nE = len(eg)
            self._row_eg2 = np.concatenate([row_eg, row_eg + nE + 1])
            self._nE = nE
            self.w = ws
        else:
            rs = RiskSets(time, event, strata, w)
            order = rs.order
            d = rs.deaths
            ws = rs.weights if w is not None else None
            dwt = rs.weights[d]
            self.dw = rs.g_deadwt_e
            self.grouped = rs._grouped
            self.w = ws
        self.rs = rs
        Zs = np.ascontiguousarray(Z[order])
        self.Zs = Zs
        self.ZT = np.ascontiguousarray(Zs.T)
        self.U0 = (dwt @ Zs[d]) if len(d) else np.zeros(p)
        self.sdw = float(self.dw.sum())               # weighted deaths per event time: dw
        self.dq = np.zeros(n)                         # weighted death indicator (sorted)
        self.dq[d] = dwt
        if self.single and self.grouped:
            self._flat_starts = (g_start[None, :] + n * np.arange(p)[:, None]).ravel()
            self._G = G
        # glmnet's saturated term and null log-likelihood (normalised weights)
        with np.errstate(divide="ignore", invalid="ignore"):
            dk = self.dw / self.sumw
            self.lsat_n = float(-np.sum(np.where(dk > 0, dk * np.log(dk), 0.0)))
        # log-likelihood on glmnet's scale = loglik() + lconst (weights normalised)
        self.lconst = self.sdw * math.log(self.sumw) / self.sumw if self.sumw > 0 else 0.0
        self.ll0 = self.loglik(np.zeros(p)) + self.lconst

    # ----------------------------------------------------------------- risk-set sums
    def _s0(self, r):
        if self.single:
            if self.grouped:
                return np.add.reduceat(r, self._g_start)[::-1].cumsum()[self._rev_eg]
            return r[::-1].cumsum()[self._rev_rows]
        return self.rs.rev_at_events(r)

    def _s1(self, r):
        """Risk-set sums of r * z_j at the event times, shape (p, n_event_times)."""
        if self.single:
            Zr = self.ZT * r
            if self.grouped:
                g1 = np.add.reduceat(Zr.ravel(), self._flat_starts).reshape(self.p, self._G)
                return g1[:, ::-1].cumsum(axis=1)[:, self._rev_eg]
            return Zr[:, ::-1].cumsum(axis=1)[:, self._rev_rows]
        return self.rs.rev_at_events(self.Zs * r[:, None]).T

    def _rows(self, v):
        """Cumulative sums of ``v`` (per event time) at every sorted row."""
        if self.single:
            nE = self._nE
            c = np.empty(nE + 1)
            c[0] = 0.0
            v.cumsum(out=c[1:])
            return c[self._row_eg2[:self.n]]
        return self.rs.fwd_to_rows(v)

    def _rows2(self, v1, v2):
        """:meth:`_rows` of two vectors at once, as one (2n,) array."""
        if self.single:
            nE = self._nE
            c = np.empty(2 * nE + 2)
            c[0] = 0.0
            c[nE + 1] = 0.0
            v1.cumsum(out=c[1:nE + 1])
            v2.cumsum(out=c[nE + 2:])
            return c[self._row_eg2]
        return np.concatenate([self.rs.fwd_to_rows(v1), self.rs.fwd_to_rows(v2)])

    def _risk(self, eta):
        shift = float(eta.max()) if len(eta) else 0.0
        if shift < 300.0:           # no overflow risk: exp(eta) as glmnet (no shift)
            shift = 0.0
            r = np.exp(eta)
        else:
            r = np.exp(eta - shift)
        if self.w is not None:
            r *= self.w
        return r, shift

    def loglik(self, b):
        """Breslow partial log-likelihood divided by sum(w) (standardised scale)."""
        if self.sdw == 0:
            return 0.0
        eta = b @ self.ZT
        r, shift = self._risk(eta)
        S0 = self._s0(r)
        return float(self.U0 @ b - self.dw @ np.log(S0) - shift * self.sdw) / self.sumw

    def derivs(self, b, hessian=True, scaled=True):
        """``(f, g, H)``: minus the log-likelihood / sum(w), its gradient and Hessian
        (not divided by sum(w) when ``scaled`` is false)."""
        p = self.p
        if self.sdw == 0:
            return 0.0, np.zeros(p), (np.zeros((p, p)) if hessian else None)
        eta = b @ self.ZT
        r, shift = self._risk(eta)
        S0 = self._s0(r)
        f = float(self.dw @ np.log(S0) - self.U0 @ b) + shift * self.sdw
        qg = self.dw / S0
        rc = r * self._rows(qg)
        if not hessian:
            g = self.ZT @ rc - self.U0
            H = None
        else:
            S1 = self._s1(r)
            g = S1 @ qg - self.U0
            H = (self.ZT * rc) @ self.Zs - (S1 * (qg / S0)) @ S1.T
        if scaled:
            s = 1.0 / self.sumw
            return f * s, g * s, (None if H is None else H * s)
        return f, g, H

    def glmnet_weights(self, f_eta):
        """glmnet's ``outer`` at the linear predictor ``f_eta`` (sorted rows): diagonal
        weights ``w`` and working gradient ``wr`` per row, *times sum(w)* (multiply the
        sums made from them by ``1 / sum(w)`` for glmnet's scale), and the state from
        which :meth:`glmnet_risk` gives the log-likelihood."""
        r, shift = self._risk(f_eta)
        S0 = self._s0(r)
        q1 = self.dw / S0
        bc = self._rows2(q1, q1 / S0)
        n = self.n
        b = bc[:n]
        w = r * (b - r * bc[n:])
        wr = self.dq - r * b
        return w, wr, (f_eta, S0, shift)

    def glmnet_risk(self, state) -> float:
        """glmnet's log-likelihood (``risk``, weights normalised to sum 1)."""
        f_eta, S0, shift = state
        return float(self.dq @ f_eta - self.dw @ np.log(S0) - shift * self.sdw) / self.sumw \
            + self.lconst


def glmnet_ratio_step(ratio: float, nlam: int) -> float:
    """glmnet's factor between successive default lambdas, ``ratio^(1/(nlam - 1))`` with
    the exponent in single precision as glmnet's Fortran computes it (``1.0/(nlam-1)``);
    the lambdas then differ from a double-precision ``geomspace`` by up to ~4e-9."""
    if nlam <= 1:
        return 1.0
    return float(ratio) ** float(np.float32(1.0) / np.float32(nlam - 1))


def glmnet_default_lambdas(lmax: float, ratio: float, nlam: int) -> np.ndarray:
    """glmnet's default lambda sequence from ``lmax`` (repeated multiplication)."""
    alf = glmnet_ratio_step(max(float(ratio), 1e-6), nlam)
    lam = np.empty(nlam)
    al = lmax
    for k in range(nlam):                               # loop over the path (<= 100)
        lam[k] = al
        al = al * alf
    return lam


def glmnet_lambda_max(data: CoxPathData, alpha: float, pf: np.ndarray, usable: np.ndarray):
    """glmnet's lambda_max: ``max_j |score_j| / pf_j / max(alpha, 1e-3)`` with the score of
    the standardised columns at the fit of the unpenalised columns (at beta = 0 when
    alpha = 0 or every column is penalised), and that starting fit."""
    b = np.zeros(data.p)
    unp = usable & (pf <= 0)
    if alpha > 0 and unp.any():
        b = _fit_unpenalised(data, unp)
    _, g, _ = data.derivs(b, hessian=False)
    pen = usable & (pf > 0)
    lmax = float(np.max(np.abs(g[pen]) / pf[pen])) if pen.any() else 0.0
    return lmax / max(alpha, 1e-3), b


def _fit_unpenalised(data, unp, max_iter=50):
    """Newton on the unpenalised columns only (the exact fit)."""
    b = np.zeros(data.p)
    idx = np.flatnonzero(unp)
    f, g, H = data.derivs(b)
    for _ in range(max_iter):
        step = -np.linalg.solve(H[np.ix_(idx, idx)], g[idx])
        t = 1.0
        for _ in range(30):
            bn = b.copy()
            bn[idx] += t * step
            fn, gn, Hn = data.derivs(bn)
            if fn <= f + 1e-13 * abs(f):
                break
            t /= 2
        b, f, g, H = bn, fn, gn, Hn
        if np.max(np.abs(t * step)) < 1e-10 * (1 + np.max(np.abs(b))):
            break
    return b


# ---------------------------------------------------------------------------------------
# glmnet's algorithm
# ---------------------------------------------------------------------------------------
def _cd_sweep(idx, gS, track, S, a, v, vp, Gm, sa, omal, in_m, m):
    """One coordinate-descent pass of glmnet's coxnet inner loop (covariance mode) over
    the positions ``idx`` of the strong set ``S``: soft-thresholded updates of the
    coefficients ``a`` (in place) with the quadratic model's diagonal ``v``, Gram rows
    ``Gm`` and gradient ``gS``; returns the largest weighted squared change and the
    updated gradient.  ``track``: columns that move enter the active list ``m``."""
    dli = 0.0
    for i in idx:
        j = S[i]
        aj = a[j]
        vi = v[i]
        u = aj * vi + gS[i]
        thr = vp[j] * sa
        if abs(u) <= thr:
            at = 0.0
        else:
            at = math.copysign(abs(u) - thr, u) / (vi + vp[j] * omal)
        if at != aj:
            de = at - aj
            a[j] = at
            dd = vi * de * de
            if dd > dli:
                dli = dd
            gS = [x - de * y for x, y in zip(gS, Gm[i])]
            if track and not in_m[j]:
                in_m[j] = True
                m.append(j)
    return dli, gS


def glmnet_cox_iterations(data: CoxPathData, lambdas, alpha: float, pf: np.ndarray,
                          thresh: float = 1e-7, maxit: int = 100_000, nlambda: int = 100,
                          lambda_min_ratio: float = 1e-4, early_stop: bool = True,
                          mnlam: int = 5, fdev: float = 1e-5, devmax: float = 0.999):
    """glmnet's ``coxnet`` iterations (see the module docstring).

    ``lambdas`` None = glmnet's default sequence (first lambda infinite, reported as
    ``exp(2 log l2 - log l3)`` as ``glmnet``'s ``fix.lam``; then lambda_max times
    ``max(lambda_min_ratio, 1e-6)^(k / (nlambda - 1))``, stopped early as glmnet).
    Returns ``(coefs (L, p) standardised scale, lambdas (L,), dev_ratio (L,),
    converged (L,) bool, n_passes)``.
    """
    Zs, ZT = data.Zs, data.ZT
    p = data.p
    ju = ~data.const
    vp = [float(v) for v in pf]
    user = lambdas is not None
    if user:
        ulam = [float(v) for v in lambdas]
        nlam = len(ulam)
    else:
        nlam = int(nlambda)
        eqs = max(1e-6, float(lambda_min_ratio))
        alf = glmnet_ratio_step(eqs, nlam)
    sml = fdev * 100.0
    devmax = devmax * 0.99 / 0.999
    a = [0.0] * p
    fvec = np.zeros(data.n)
    w, wr, state = data.glmnet_weights(fvec)
    r0 = data.glmnet_risk(state)
    sc = 1.0 / data.sumw
    rr = data.lsat_n - r0                              # -(sum dk log dk + r0)
    dev0 = rr
    cthr = thresh * dev0
    ga = np.abs(ZT @ wr) * sc
    ga = [float(x) if ju[j] else 0.0 for j, x in enumerate(ga)]
    ixx = [False] * p
    m: list[int] = []                                  # active columns in entry order
    in_m = [False] * p
    nlp = 0
    al = 0.0
    oma = 1.0 - alpha
    out_a, out_lam, out_dev, out_ok = [], [], [], []
    ix_cache = rest_cache = None
    mnl = min(mnlam, nlam)
    for ilm in range(nlam):                            # loop over the path
        al0 = al
        if user:
            al = ulam[ilm]
        elif ilm >= 2:
            al = al * alf
        elif ilm == 0:
            al = _BIG
        else:
            al0 = 0.0
            for j in range(p):
                if ju[j] and vp[j] > 0:
                    al0 = max(al0, ga[j] / vp[j])
            al0 = al0 / max(alpha, 1e-3)
            al = alf * al0
        sa = alpha * al
        omal = oma * al
        tlam = alpha * (2.0 * al - al0)
        for k in range(p):
            if not ixx[k] and ju[k] and ga[k] > tlam * vp[k]:
                ixx[k] = True
        ok = True
        while True:                                    # outer (IRLS) iterations
            if nlp > maxit:
                ok = False
                break
            a_start = a[:]
            S = [j for j in range(p) if ixx[j]]
            Gm, gS, v = [], [], []
            if ix_cache is None or ix_cache[0] != S:
                Sa = np.array(S, dtype=np.intp)
                ix_cache = (S, np.ascontiguousarray(ZT[Sa]), np.ascontiguousarray(Zs[:, Sa]))
            _, ZTS, ZsS = ix_cache
            pos = {j: i for i, j in enumerate(S)}
            if S:
                Gm = (((ZTS * w) @ ZsS) * sc).tolist()
                gS = ((ZTS @ wr) * sc).tolist()
                v = [Gm[i][i] for i in range(len(S))]
            # inner coordinate descent on the quadratic model (covariance mode)
            rngS = range(len(S))
            cd = (S, a, v, vp, Gm, sa, omal, in_m, m)
            while True:
                nlp += 1
                dli, gS = _cd_sweep(rngS, gS, True, *cd)
                if dli < cthr or nlp > maxit:
                    break
                mi = [pos[j] for j in m]
                while True:
                    nlp += 1
                    dli, gS = _cd_sweep(mi, gS, False, *cd)
                    if dli < cthr or nlp > maxit:
                        break
            if nlp > maxit:
                ok = False
                break
            fvec = np.asarray(a) @ ZT
            w, wr, state = data.glmnet_weights(fvec)
            moved = False
            for j in m:
                dj = a[j] - a_start[j]
                if v[pos[j]] * dj * dj >= cthr:
                    moved = True
                    break
            if moved:
                continue
            rest = [k for k in range(p) if not ixx[k] and ju[k]]
            if rest:
                if rest_cache is None or rest_cache[0] != rest:
                    rest_cache = (rest, np.ascontiguousarray(ZT[rest]))
                gr = (np.abs(rest_cache[1] @ wr) * sc).tolist()
                for k, gk in zip(rest, gr, strict=True):
                    ga[k] = gk
                    if gk > sa * vp[k]:
                        ixx[k] = True
                        moved = True
            if moved:
                continue
            break
        out_a.append(a[:])
        out_lam.append(al)
        out_ok.append(ok)
        dev = (data.glmnet_risk(state) - r0) / rr if rr > 0 else 0.0
        out_dev.append(dev)
        if not ok:
            break
        if ilm + 1 < mnl or user or not early_stop:
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            if (dev - out_dev[ilm - mnl + 1]) / dev < sml:
                break
        if dev > devmax:
            break
    lam = np.array(out_lam)
    if not user and len(lam) > 2:                      # glmnet's fix.lam
        lam[0] = math.exp(2 * math.log(lam[1]) - math.log(lam[2]))
    return np.array(out_a), lam, np.array(out_dev), np.array(out_ok), nlp


# ---------------------------------------------------------------------------------------
# exact minimiser (proximal Newton)
# ---------------------------------------------------------------------------------------
def _spd_solve(A, rhs):
    """Solve ``A x = rhs`` (lists; A symmetric positive definite): Cholesky on Python
    floats for the small systems of a path step (numpy's call overhead is larger there),
    LAPACK beyond 24 unknowns.  None when A is not numerically positive definite."""
    k = len(rhs)
    if k > 24:
        try:
            x = np.linalg.solve(np.array(A), np.array(rhs))
        except np.linalg.LinAlgError:
            return None
        return x.tolist() if np.all(np.isfinite(x)) else None
    L = [[0.0] * k for _ in range(k)]
    for i in range(k):
        Li, Ai = L[i], A[i]
        for j in range(i + 1):
            Lj = L[j]
            t = Ai[j]
            for m in range(j):
                t -= Li[m] * Lj[m]
            if i == j:
                if not t > 0.0:
                    return None
                Li[i] = math.sqrt(t)
            else:
                Li[j] = t / Lj[j]
    y = [0.0] * k
    for i in range(k):
        Li = L[i]
        t = rhs[i]
        for m in range(i):
            t -= Li[m] * y[m]
        y[i] = t / Li[i]
    x = [0.0] * k
    for i in range(k - 1, -1, -1):
        t = y[i]
        for m in range(i + 1, k):
            t -= L[m][i] * x[m]
        x[i] = t / L[i][i]
    return x


def _cd_quad(H, c, l1, l2, x, usable, tol=1e-14, max_sweeps=100_000):
    """Cyclic coordinate descent (Python floats) on
    ``1/2 x'Hx - c'x + sum l1|x| + 1/2 sum l2 x^2`` from ``x`` (all lists)."""
    q = len(c)
    x = list(x)
    r = [cj - sum(map(mul, Hj, x)) for cj, Hj in zip(c, H, strict=True)]
    idx = [j for j in range(q) if usable[j]]
    diag = [H[j][j] for j in range(q)]
    for _ in range(max_sweeps):
        dmax = 0.0
        for j in idx:
            den = diag[j] + l2[j]
            if den <= 0:
                continue
            u = r[j] + diag[j] * x[j]
            au = abs(u) - l1[j]
            new = math.copysign(au, u) / den if au > 0 else 0.0
            d = new - x[j]
            if d != 0.0:
                x[j] = new
                Hj = H[j]
                for k in range(q):
                    r[k] -= Hj[k] * d
                dd = diag[j] * d * d
                if dd > dmax:
                    dmax = dd
        if dmax < tol:
            break
    return x


def _solve_quad(H, g, b, l1, l2, usable, slack=1e-9):
    """Exact minimiser of the penalised quadratic model
    ``g'(x - b) + 1/2 (x - b)'H(x - b) + sum l1|x| + 1/2 sum l2 x^2`` over the usable
    coordinates (all arguments lists): the active set and signs of ``b`` (plus the
    coordinates violating the optimality conditions at ``b``) give a linear system; when
    its solution is not sign- and KKT-consistent, coordinate descent finds the active set
    and the system is solved again."""
    p = len(b)
    rp = range(p)
    c = [sum(map(mul, Hj, b)) - gj for Hj, gj in zip(H, g, strict=True)]
    act = [j for j in rp if usable[j] and (b[j] != 0.0 or l1[j] <= 0.0 or abs(g[j]) > l1[j])]
    sgn = [(1.0 if b[j] > 0 else -1.0) if b[j] != 0.0 else
           (-1.0 if g[j] > 0 else (1.0 if g[j] < 0 else 0.0)) for j in rp]
    xc = b
    for attempt in range(3):
        x = [0.0] * p
        ok = True
        if act:
            A = [[H[i][j] for j in act] for i in act]
            for m, i in enumerate(act):
                A[m][m] += l2[i]
            sol = _spd_solve(A, [c[i] - l1[i] * sgn[i] for i in act])
            if sol is None:
                ok = False
            else:
                for m, i in enumerate(act):
                    xi = sol[m]
                    x[i] = xi
                    if l1[i] > 0.0 and not (xi * sgn[i] > 0.0):
                        ok = False
        if ok:
            aset = set(act)
            for j in rp:
                if usable[j] and j not in aset:
                    r = c[j] - sum(map(mul, H[j], x))
                    if abs(r) > l1[j] * (1 + slack) + slack:
                        ok = False
                        break
        if ok:
            return x
        if attempt == 2:
            break
        xc = _cd_quad(H, c, l1, l2, xc, usable, tol=1e-12 if attempt == 0 else 1e-24)
        act = [j for j in rp if usable[j] and (xc[j] != 0.0 or l1[j] <= 0.0)]
        sgn = [(1.0 if v > 0 else (-1.0 if v < 0 else 0.0)) for v in xc]
    return xc


def _small(step, x, tol):
    return max(map(abs, step), default=0.0) < tol * (1.0 + max(map(abs, x), default=0.0))


def _slope(H, b, l1, l2, us):
    """d b / d log(lambda) on the active set (from the stationarity conditions)."""
    act = [j for j in range(len(b)) if b[j] != 0.0 and us[j]]
    d = [0.0] * len(b)
    if act:
        A = [[H[i][j] for j in act] for i in act]
        for m, i in enumerate(act):
            A[m][m] += l2[i]
        sol = _spd_solve(A, [-(l1[i] * (1.0 if b[i] > 0 else -1.0) + l2[i] * b[i])
                             for i in act])
        if sol is None:
            return None
        for m, i in enumerate(act):
            d[i] = sol[m]
    return d


def _obj(f, x, l1, l2):
    ax = list(map(abs, x))
    return f + sum(map(mul, l1, ax)) + 0.5 * sum(map(mul, l2, map(mul, x, x)))


def exact_cox_path(data: CoxPathData, lambdas, l1w, l2w, usable, b0=None,
                   step_tol: float = 1e-7, max_iter: int = 100, stop=None):
    """Exact elastic-net Cox minimisers along ``lambdas`` (standardised scale).

    ``l1w``, ``l2w`` (p,): per-column weights so that the penalty at lambda is
    ``lambda * sum(l1w |b|) + lambda / 2 * sum(l2w b^2)`` (``inf`` lambda = only the
    unpenalised columns).  ``stop(k, b, f) -> bool`` (f the smooth objective near b, to
    ~1e-10) ends the path after lambda k.  Each lambda starts from a predictor (the two
    previous solutions and the path slope ``db/dlog(lambda)`` at the last one); one
    Newton step with the exact Hessian, then a second step with the same Hessian and the
    gradient at the new point: when that step is below ``step_tol`` (relative) with an
    unchanged active set, and the product of the two step sizes below 1e-11 (so that the
    error of the reused Hessian is negligible), it is taken; otherwise Newton continues
    with fresh Hessians.  The small p-dimensional algebra runs on Python floats.
    Returns ``(B (L, p), converged (L,))``.
    """
    p = data.p
    lambdas = np.asarray(lambdas, float)
    L = len(lambdas)
    B = np.zeros((L, p))
    conv = np.zeros(L, bool)
    b = [0.0] * p if b0 is None else [float(v) for v in b0]
    S = data.sumw                                       # work on the unscaled objective
    l1w = [float(v) * S for v in l1w]
    l2w = [float(v) * S for v in l2w]
    usable = [bool(v) for v in usable]
    pen = [a + c > 0 for a, c in zip(l1w, l2w, strict=True)]
    with np.errstate(divide="ignore"):
        tau = np.log(lambdas).tolist()
    slope = None
    hist: list[list[float]] = []
    rp = range(p)
    for k in range(L):                                  # loop over the path (warm starts)
        lam = float(lambdas[k])
        if math.isinf(lam):
            us = [usable[j] and not pen[j] for j in rp]
            l1, l2 = [0.0] * p, [0.0] * p
        else:
            us = usable
            l1 = [lam * v for v in l1w]
            l2 = [lam * v for v in l2w]
        b = [v if us[j] else 0.0 for j, v in enumerate(b)]
        if (k >= 1 and slope is not None and math.isfinite(tau[k])
                and math.isfinite(tau[k - 1]) and tau[k] != tau[k - 1]):
            last, h2 = hist[k - 1], tau[k] - tau[k - 1]
            pred = [v + s_ * h2 for v, s_ in zip(last, slope, strict=True)]
            if k >= 2 and math.isfinite(tau[k - 2]) and tau[k - 2] != tau[k - 1] and all(
                    (u != 0.0) == (v != 0.0) for u, v in zip(hist[k - 2], last, strict=True)):
                h0 = tau[k - 2] - tau[k - 1]
                hh = h2 * h2 / (h0 * h0)
                pred = [pv + (u - v - s_ * h0) * hh for pv, u, v, s_
                        in zip(pred, hist[k - 2], last, slope, strict=True)]
            b = [pv if us[j] and pv * v > 0.0 else 0.0
                 for j, (pv, v) in enumerate(zip(pred, last, strict=True))]
        f, g, H = data.derivs(np.array(b), scaled=False)
        g, H = g.tolist(), H.tolist()
        obj = _obj(f, b, l1, l2)
        done = False
        fl = f
        for _ in range(max_iter):
            x = _solve_quad(H, g, b, l1, l2, us)
            s1 = [u - v for u, v in zip(x, b, strict=True)]
            same = all((u != 0.0) == (v != 0.0) for u, v in zip(x, b, strict=True))
            if same and _small(s1, x, step_tol):
                b, fl, done = x, f, True
                break
            fx, gx, _ = data.derivs(np.array(x), hessian=False, scaled=False)
            gx = gx.tolist()
            objx = _obj(fx, x, l1, l2)
            if objx <= obj + 1e-13 * abs(obj):
                y = _solve_quad(H, gx, x, l1, l2, us)      # same Hessian, new gradient
                s2 = [u - v for u, v in zip(y, x, strict=True)]
                if (all((u != 0.0) == (v != 0.0) for u, v in zip(y, x, strict=True))
                        and _small(s2, y, step_tol)
                        and max(map(abs, s1)) * max(map(abs, s2), default=0.0)
                        < 1e-11 * (1.0 + max(map(abs, y), default=0.0))):
                    b, fl, done = y, fx, True
                    break
                b = x
                f, g, H = data.derivs(np.array(b), scaled=False)
                g, H = g.tolist(), H.tolist()
                obj = _obj(f, b, l1, l2)
                continue
            t = 0.5
            for _ in range(40):                          # step halving (rarely needed)
                cand = [v + t * d for v, d in zip(b, s1, strict=True)]
                fc, gc, Hc = data.derivs(np.array(cand), scaled=False)
                objc = _obj(fc, cand, l1, l2)
                if objc <= obj + 1e-13 * abs(obj):
                    break
                t /= 2
            b, f, g, H, obj = cand, fc, gc.tolist(), Hc.tolist(), objc
            fl = f
        hist.append(b)
        B[k] = b
        conv[k] = done
        slope = _slope(H, b, l1, l2, us) if math.isfinite(lam) else None
        if stop is not None and stop(k, B[k], fl / S):
            return B[:k + 1], conv[:k + 1]
    return B, conv

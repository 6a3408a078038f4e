"""Cox proportional hazards by partial likelihood (= ``survival::coxph``).

Efron (default) or Breslow handling of tied event times, strata, case weights
and offsets; Newton-Raphson with step halving.  Every quantity is a vectorised
sum over the sorted rows (:class:`~ipdma.survival._riskset.RiskSets`): risk-set
sums are reverse cumulative sums, Efron's tie correction is evaluated per
*death* (each death of a tied group of size d contributes the term with
fraction r/d, r = 0..d-1), so there is no loop over patients or event times.

The observed information is assembled without an (n x p x p) array:
``sum_deaths mw (S2 - f E2)/den`` equals ``X' diag(w e^eta c) X`` with ``c_j``
the cumulative sum of ``mw/den`` over the death terms whose risk set holds j
(minus ``mw f/den`` for the terms of j's own tied group when j is a death).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from .._base import Summary, check_is_fitted
from .._lazy import lazy_module
from ..errors import (
    ConvergenceWarning,
    DataError,
    ModelSpecificationError,
    column_not_found,
)
from ._outcome import SurvivalOutcome, check_horizon, column_values, survival_outcome
from ._riskset import RiskSets

stats = lazy_module("scipy.stats")   # imported when first used
_lapack = lazy_module("scipy.linalg.lapack")


def _potrf(a, lower=1):
    return _lapack.dpotrf(a, lower=lower)


def _potrs(c, b, lower=1):
    return _lapack.dpotrs(c, b, lower=lower)

__all__ = ["CoxFit", "CoxPH", "baseline_cumhaz", "baseline_hazard", "cox_partial_likelihood",
           "cumhaz_at", "fit_cox", "score_residuals"]

Ties = Literal["efron", "breslow"]


def _check_ties(ties: str) -> None:
    if ties not in ("efron", "breslow"):
        raise ModelSpecificationError(f"ties must be 'efron' or 'breslow' (got {ties!r})")


class _CoxDerivatives:
    """Partial log-likelihood, score and information of one (sorted) sample as a
    function of ``eta``; everything that does not depend on ``eta`` (the death rows of
    ``X``, the fixed part of the score, Efron's fractions) is computed once, so a
    Newton iteration costs a few dozen vectorised operations.

    The arrays are held transposed (covariates x rows): the risk-set sums of ``r = w
    e^eta`` and ``r x`` are one reverse cumulative sum of the (1 + p, n) array ``[1, x]' r``
    and their tied-death counterparts one ``reduceat``; Efron's per-death sums (``q =
    mw/den`` and ``q/den`` times 1, f, f^2) are one ``reduceat`` of a (6, deaths) array."""

    def __init__(self, rs: RiskSets, X: np.ndarray, ties: str):
        self.rs, self.X = rs, X
        d = rs.deaths
        self.d = d
        n, p = X.shape
        self.p = p
        # Efron's correction vanishes without tied deaths (all fractions are 0)
        self.efron = ties == "efron" and bool(np.any(rs.g_ndead > 1))
        self.w = rs.weights if rs.weighted else None
        self.wd = rs.weights[d]
        self.U0 = self.wd @ X[d]
        self.mw = rs.death_meanwt
        self.mw_sum = float(self.mw.sum())
        self.gi = rs.death_gidx
        self.f = rs.death_frac
        self.dg_start = rs.dg_start
        X1T = np.empty((p + 1, n))                     # [1, x]' (contiguous rows)
        X1T[0] = 1.0
        X1T[1:] = X.T
        self.X1T, self.XT = X1T, X1T[1:]
        self.X1dT = np.ascontiguousarray(X1T[:, d])
        if self.efron:
            f = self.f
            self.F = np.stack([np.ones(len(d)), f, f * f])
        self._rev = rs.rev_at_events_t

    def __call__(self, eta: np.ndarray, deriv: int = 2):
        rs, d = self.rs, self.d
        if len(d) == 0:
            p = self.p
            return 0.0, np.zeros(p), np.zeros((p, p))
        shift = eta.max()
        r = np.exp(eta - shift)
        if self.w is not None:
            r *= self.w
        S = self._rev(self.X1T * r)                    # (1 + p, event groups) risk-set sums
        S0 = S[0]
        rd = r[d]
        if self.efron:
            # one term per death: den = S0 - (k/d) (sum of r over the tied deaths)
            gi, mw = self.gi, self.mw
            E = np.add.reduceat(self.X1dT * rd, self.dg_start, axis=1)
            den = S0[gi] - self.f * E[0][gi]
            ll = float(self.wd @ eta[d] - mw @ np.log(den) - shift * self.mw_sum)
            if deriv == 0:
                return ll, None, None
            q = mw / den
            T = np.empty((6, len(d)))
            np.multiply(self.F, q, out=T[:3])
            np.multiply(T[:3], 1.0 / den, out=T[3:])
            # per event group: sums of q, q f, q f^2, q/den, q f/den, q f^2/den
            R = np.add.reduceat(T, self.dg_start, axis=1)
            qg = R[0]
            # c_j: sum of the terms mw/den whose risk set holds j (minus the Efron share
            # f mw/den of j's own tied group when j is a death)
            c = rs.fwd_to_rows(qg)
            c[d] -= R[1][gi]
        else:
            # Breslow (or no tied deaths): every quantity per event group
            dw = rs.g_deadwt_e
            ll = float(self.wd @ eta[d] - dw @ np.log(S0) - shift * self.mw_sum)
            if deriv == 0:
                return ll, None, None
            qg = dw / S0
            c = rs.fwd_to_rows(qg)
        rc = r * c
        XT = self.XT
        U = self.U0 - XT @ rc
        if deriv == 1:
            return ll, U, None
        info = (XT * rc) @ self.X
        S1 = S[1:]
        if self.efron:
            # sum over death terms of mw (S1 - f E1)(S1 - f E1)' / den^2, by group:
            # S1' A S1 - S1' B E1 - E1' B S1 + E1' C E1 with A, B, C the sums of
            # q/den times 1, f, f^2
            E1 = E[1:]
            A, B, C = R[3], R[4], R[5]
            info -= (S1 * A - E1 * B) @ S1.T
            info -= (E1 * C - S1 * B) @ E1.T
        else:
            info -= (S1 * (qg / S0)) @ S1.T
        return ll, U, info


def _derivatives(rs: RiskSets, X: np.ndarray, eta: np.ndarray, ties: str, deriv: int = 2):
    """Partial log-likelihood (and score, information) at sorted ``eta``."""
    return _CoxDerivatives(rs, X, ties)(eta, deriv)


def score_residuals(rs: RiskSets, X: np.ndarray, eta: np.ndarray, ties: str) -> np.ndarray:
    """Score residuals (sorted rows) = ``residuals(coxph, type = "score")``.

    ``L_j = d_j (x_j - abar_g(j)) - e^{eta_j} (c_j x_j - B_j)``: ``abar`` is the mean of the
    Efron terms' weighted covariate means a_r of j's tied group, ``c_j`` / ``B_j`` the
    cumulative sums of ``mw/den`` and ``mw/den * a_r`` over the death terms whose risk set
    holds j (Efron share of j's own group removed).  ``sum_j w_j L_j`` is the score.
    """
    d = rs.deaths
    n, p = X.shape
    if len(d) == 0:
        return np.zeros((n, p))
    shift = float(np.max(eta))
    e = np.exp(eta - shift)
    r = rs.weights * e
    gi = rs.death_gidx
    f = rs.death_frac if ties == "efron" else np.zeros(len(d))
    S0 = rs.group_rev_cumsum_at_events(r)[gi]
    E0 = rs.death_sum(r[d])[gi]
    den = S0 - f * E0
    rX = r[:, None] * X
    S1 = rs.group_rev_cumsum_at_events(rX)[gi]
    E1 = rs.death_sum(rX[d])[gi]
    a = (S1 - f[:, None] * E1) / den[:, None]
    mw = rs.death_meanwt
    q = mw / den
    eg_start = rs.g_start[rs.event_groups]
    cvec = np.zeros(n)
    cvec[eg_start] = rs.death_sum(q)
    c = rs.cumsum(cvec)
    bvec = np.zeros((n, p))
    bvec[eg_start] = rs.death_sum(q[:, None] * a)
    B = rs.cumsum(bvec)
    if ties == "efron":
        c[d] -= rs.death_sum(q * f)[gi]
        B[d] -= rs.death_sum((q * f)[:, None] * a)[gi]
    abar = rs.death_sum(a)[gi] / rs.g_ndead[rs.death_group][:, None]
    L = -e[:, None] * (c[:, None] * X - B)
    L[d] += X[d] - abar
    return L


def cox_partial_likelihood(beta, X, time, event, strata=None, weights=None, offset=None,
                           ties: Ties = "efron"):
    """Cox partial log-likelihood, its gradient (score) and the observed
    information (minus the Hessian) at ``beta``.

    Parameters
    ----------
    beta : array (p,)
    X : array (n, p)
    time, event : arrays (n,)
    strata : array (n,) of labels, optional
    weights, offset : arrays (n,), optional
    ties : {"efron", "breslow"}

    Returns
    -------
    loglik : float
    score : numpy.ndarray (p,)
    information : numpy.ndarray (p, p)

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.5], [1.0], [-0.3], [0.2]])
    >>> ll, u, i = cox_partial_likelihood([0.0], X, [1, 1, 2, 3], [1, 1, 0, 1])
    >>> round(ll, 6)
    -2.484907
    """
    _check_ties(ties)
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    st = None if strata is None else pd.factorize(np.asarray(strata), sort=True)[0]
    rs = RiskSets(time, event, st, weights)
    Xs = X[rs.order]
    off = 0.0 if offset is None else np.asarray(offset, float)[rs.order]
    eta = Xs @ np.asarray(beta, float) + off
    return _derivatives(rs, Xs, eta, ties)


@dataclass
class CoxFit:
    """Array-level result of :func:`fit_cox`."""

    coef: np.ndarray
    vcov: np.ndarray
    loglik: float
    loglik_null: float
    score_test: float
    wald_test: float
    n_iter: int
    converged: bool
    n: int
    n_events: int
    ties: str
    info: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))

    @property
    def lrt(self) -> float:
        return 2.0 * (self.loglik - self.loglik_null)


def _solve(info: np.ndarray, u: np.ndarray) -> np.ndarray:
    # LAPACK's Cholesky factorisation and solve called directly: numpy.linalg's wrappers
    # cost more than the factorisation of a small matrix, and this runs every iteration
    c, bad = _potrf(info, lower=1)
    if bad == 0 and np.isfinite(c).all():
        x, bad = _potrs(c, u, lower=1)
        if bad == 0:
            return x
    try:
        c = np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        raise ModelSpecificationError(
            "the Cox information matrix is singular: covariates are collinear, constant "
            "within strata, or a coefficient diverges (monotone likelihood, e.g. a group "
            "without events); drop or combine the offending covariates") from None
    return np.linalg.solve(c.T, np.linalg.solve(c, u))


def _eta(Xs, b, off):
    eta = Xs @ b
    if off is not None:
        eta += off
    return eta


def _inv_spd(info: np.ndarray) -> np.ndarray:
    """Inverse of the (symmetric) information: LAPACK's Cholesky inverse when it is
    positive definite (numpy.linalg.inv's wrapper costs more on a small matrix), else
    numpy's general inverse; symmetric to the last bit."""
    c, bad = _potrf(info, lower=1)
    if bad == 0:
        v, bad = _lapack.dpotri(c, lower=1)
        if bad == 0 and np.isfinite(v).all():
            v = np.tril(v)
            return v + np.tril(v, -1).T
    v = np.linalg.inv(info)
    return (v + v.T) / 2


def fit_cox(X, time, event, strata=None, weights=None, offset=None, ties: Ties = "efron",
            init=None, tol: float = 1e-10, max_iter: int = 100, risk_sets: RiskSets | None = None
            ) -> CoxFit:
    """Newton-Raphson for the Cox partial likelihood (= ``coxph``).

    Stops when the largest Newton step is below ``tol * (1 + max|beta|)``, or when
    quadratic convergence predicts the next step (``|step|^3 / |previous step|^2``) below
    ``1e-4`` of that; Newton converges quadratically, so the estimate is then accurate to
    about machine precision (``coxph``'s default ``eps = 1e-9`` on the relative change
    of the log-likelihood leaves differences of about 1e-9 in the coefficients).
    Step halving guards against a decrease of the log-likelihood.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 1))
    >>> t = rng.exponential(np.exp(-0.7 * x[:, 0]))
    >>> fit = fit_cox(x, np.round(t, 1) + 0.1, np.ones(300))
    >>> bool(abs(fit.coef[0] - 0.7) < 0.15), fit.converged
    (True, True)
    """
    _check_ties(ties)
    X = np.asarray(X, float)
    if X.ndim == 1:
        X = X[:, None]
    n, p = X.shape
    if risk_sets is None:
        st = None if strata is None else pd.factorize(np.asarray(strata), sort=True)[0]
        risk_sets = RiskSets(time, event, st, weights)
    rs = risk_sets
    Xs = np.take(X, rs.order, axis=0)
    Xs -= Xs.mean(axis=0)             # centring: same likelihood, better conditioning
    off = None if offset is None else np.asarray(offset, float)[rs.order]
    b = np.zeros(p) if init is None else np.asarray(init, float).copy()
    derivs = _CoxDerivatives(rs, Xs, ties)
    ll0, u0, i0 = derivs(np.zeros(n) if off is None else off)
    if p == 0:
        return CoxFit(b, np.zeros((0, 0)), ll0, ll0, 0.0, 0.0, 0, True, n,
                      int(rs.event.sum()), ties, np.zeros((0, 0)))
    first = _solve(i0, u0) if init is None else None      # the first Newton step
    score = float(u0 @ first) if init is None else float("nan")
    ll, u, info = (ll0, u0, i0) if init is None else derivs(_eta(Xs, b, off))
    converged = False
    it = 0
    prev = None
    for it in range(1, max_iter + 1):
        step = first if it == 1 and first is not None else _solve(info, u)
        full = True
        for _ in range(30):
            bn = b + step
            ll_n, u_n, info_n = derivs(_eta(Xs, bn, off))
            if np.isfinite(ll_n) and ll_n >= ll - 1e-10 * abs(ll):
                break
            step = step / 2
            full = False
        b, ll, u, info = bn, ll_n, u_n, info_n
        size, bmax = float(abs(step).max()), float(abs(b).max())
        lim = tol * (1 + bmax)
        if size < lim:
            converged = True
            break
        # quadratic convergence: the next step would be about size^3 / prev^2; far below the
        # tolerance, b is already the maximiser to rounding (saves one evaluation)
        if full and prev is not None and size < 1e-4 * (1 + bmax) \
                and size**3 < 1e-4 * lim * prev**2:
            converged = True
            break
        prev = size if full else None
    if not converged:
        import warnings

        warnings.warn(f"Cox Newton-Raphson did not converge in {max_iter} iterations "
                      "(possible monotone likelihood: a coefficient tends to infinity)",
                      ConvergenceWarning, stacklevel=2)
    vcov = _inv_spd(info)
    wald = float(b @ info @ b)
    if init is not None:
        score = float("nan")
    return CoxFit(b, vcov, ll, ll0, score, wald, it, converged, n, int(rs.event.sum()), ties,
                  info, {"loglik_init": ll0})


def baseline_hazard(rs: RiskSets, eta_sorted: np.ndarray, kind: Ties = "breslow"):
    """Baseline hazard increments at every time group (zero at censoring-only
    times) for linear predictor ``eta`` (uncentred: the baseline is at eta = 0).

    ``"breslow"``: dH = d_w / sum_R w e^eta (``survfit(ctype = 1)``).
    ``"efron"``: dH = sum_{r<d} mw / (sum_R w e^eta - (r/d) sum_D w e^eta)
    (``survfit(ctype = 2)``, the default of ``survfit``/``basehaz`` after an Efron fit).
    """
    _check_ties(kind)
    shift = float(np.max(eta_sorted))
    r = rs.weights * np.exp(eta_sorted - shift)
    S0 = rs.rev_cumsum(r)
    dH = np.zeros(rs.n_groups)
    d = rs.deaths
    if len(d) == 0:
        return dH
    if kind == "breslow":
        eg = rs.event_groups
        dH[eg] = rs.g_deadwt[eg] / S0[rs.g_start[eg]] * np.exp(-shift)
        return dH
    gi = rs.death_gidx
    E0 = rs.death_sum(r[d])[gi]
    den = S0[rs.g_start[rs.death_group]] - rs.death_frac * E0
    dH[rs.event_groups] = rs.death_sum(rs.death_meanwt / den) * np.exp(-shift)
    return dH


def baseline_cumhaz(time, event, lp, strata=None, kind: Ties = "breslow", weights=None
                    ) -> dict:
    """Cumulative baseline hazard (at lp = 0) of a fitted Cox model, per stratum.

    Parameters
    ----------
    time, event : arrays (n,)
    lp : array (n,)
        The fitted linear predictor x'beta (+ offset) of each row.
    strata : array (n,), optional
    kind : {"breslow", "efron"}
        ``survfit(ctype = 1)`` or ``ctype = 2``.

    Returns
    -------
    dict stratum label -> (times, cumhaz) at the distinct times of the stratum
    (one key, None, when unstratified); evaluate with :func:`cumhaz_at`.

    Examples
    --------
    >>> H = baseline_cumhaz([1, 2, 2, 3], [1, 1, 0, 1], [0.0, 0.0, 0.0, 0.0])
    >>> H[None][1].tolist()
    [0.25, 0.5833333333333333, 1.5833333333333333]
    """
    if strata is None:
        codes, labels = None, [None]
    else:
        codes, labels = pd.factorize(np.asarray(strata), sort=True)
    rs = RiskSets(time, event, codes, weights)
    dH = baseline_hazard(rs, np.asarray(lp, float)[rs.order], kind)
    out = {}
    for k, s0 in enumerate(rs.stratum_labels):            # loop over strata
        m = rs.g_stratum == s0
        out[labels[k] if strata is not None else None] = (rs.g_time[m], np.cumsum(dH[m]))
    return out


def cumhaz_at(curve: tuple, times) -> np.ndarray:
    """Right-continuous evaluation of a (times, cumhaz) curve at ``times``."""
    return _step_eval(curve[0], curve[1], np.atleast_1d(np.asarray(times, float)))


def _step_eval(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Right-continuous step function: value at the last time <= t (0 before)."""
    idx = np.searchsorted(times, at, side="right")
    return np.r_[0.0, values][idx]


class CoxPH:
    """Cox proportional hazards model (= ``survival::coxph``).

    Parameters
    ----------
    ties : {"efron", "breslow"}, default "efron"
        Handling of tied event times (``coxph``'s default is Efron; glmnet uses
        Breslow).
    tol : float
        Convergence: largest Newton step below ``tol * (1 + max|beta|)``.
    max_iter : int
    robust : bool, optional
        Robust (infinitesimal-jackknife sandwich) variance ``V (sum_j w_j^2 L_j L_j') V``
        from the score residuals L_j, as ``coxph(robust = TRUE)``.  Default (None):
        coxph's rule -- robust when there are non-integer case weights.

    Attributes
    ----------
    coef_, se_ : pandas.Series
    vcov_ : pandas.DataFrame
        Robust variance when ``robust_``, else the inverse information.
    vcov_model_ : pandas.DataFrame
        Inverse information (``coxph``'s ``naive.var`` when robust).
    robust_ : bool
    loglik_, loglik_null_ : float
        Partial log-likelihood at the estimate and at beta = 0 (``coxph``'s
        ``loglik``).
    tests_ : pandas.DataFrame
        Likelihood-ratio, score (log-rank) and Wald tests with df and p-value.
    n_, n_events_, n_iter_ : int
    strata_ : list or None
        Stratum labels (sorted).
    families : frozenset
        Outcome families supported: ``{"survival"}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=400), "trial": rng.choice(["A", "B"], 400)})
    >>> df["time"] = np.round(rng.exponential(np.exp(-0.5 * df.x)), 1) + 0.1
    >>> df["status"] = (rng.uniform(size=400) < 0.8).astype(int)
    >>> m = CoxPH().fit(df, time="time", event="status", covariates=["x"], strata="trial")
    >>> m.coef_.round(2).to_dict()
    {'x': 0.45}
    >>> m.predict_survival(df.head(2), times=[0.5, 1.0]).shape
    (2, 2)
    """

    families = frozenset({"survival"})

    def __init__(self, ties: Ties = "efron", tol: float = 1e-10, max_iter: int = 100,
                 robust: bool | None = None):
        self.ties = ties
        self.tol = tol
        self.max_iter = max_iter
        self.robust = robust
        self._fit = None

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
            strata: str | None = None, weights: str | None = None, offset: str | None = None,
            event_label: object = None) -> CoxPH:
        """Fit by partial likelihood.

        Parameters
        ----------
        data : pandas.DataFrame
        time, event : str
            Follow-up time (> 0) and event indicator (0/1, bool or two labels).
        covariates : sequence of str
            Numeric (or bool) columns.
        strata : str, optional
            Column whose levels get separate baseline hazards (``strata(trial)``).
        weights, offset : str, optional
            Case-weight and offset columns.
        event_label : optional
            The value of ``event`` meaning "event" when not 0/1.
        """
        _check_ties(self.ties)
        if isinstance(covariates, str):
            covariates = [covariates]
        covariates = list(covariates)
        y = survival_outcome(data, time, event, event_label=event_label)
        X = _numeric_matrix(data, covariates)
        st_codes, self.strata_ = None, None
        if strata is not None:
            if strata not in data.columns:
                raise column_not_found(strata, data.columns, "strata")
            if data[strata].isna().any():
                raise DataError(f"strata column {strata!r} has missing values")
            st_codes, labels = pd.factorize(data[strata], sort=True)
            self.strata_ = list(labels)
        w = None if weights is None else _numeric_matrix(data, [weights])[:, 0]
        if w is not None and np.any(w < 0):
            raise DataError(f"weights column {weights!r} has negative values")
        off = None if offset is None else _numeric_matrix(data, [offset])[:, 0]
        rs = RiskSets(y.time, y.event, st_codes, w)
        fit = fit_cox(X, y.time, y.event, ties=self.ties, offset=off, tol=self.tol,
                      max_iter=self.max_iter, risk_sets=rs)
        self._rs, self._fit = rs, fit
        robust = self.robust
        if robust is None:
            robust = w is not None and not np.all(w == np.round(w))
        self.robust_ = bool(robust)
        self._vcov = fit.vcov
        self._wald = fit.wald_test
        if robust and len(covariates):
            Xs = X[rs.order]
            eta_s = (X @ fit.coef + (0.0 if off is None else off))[rs.order]
            D = (rs.weights[:, None] * score_residuals(rs, Xs - Xs.mean(axis=0), eta_s,
                                                       self.ties)) @ fit.vcov
            self._vcov = D.T @ D
            self._wald = float(fit.coef @ np.linalg.solve(self._vcov, fit.coef))
        self.covariates_, self.time_, self.event_ = covariates, time, event
        self.strata_col_, self.offset_col_ = strata, offset
        self.n_, self.n_events_, self.n_iter_ = fit.n, fit.n_events, fit.n_iter
        self.loglik_, self.loglik_null_ = fit.loglik, fit.loglik_null
        # coxph's centring values: column means, but 0 for 0/1 columns
        zero_one = np.all((X == 0) | (X == 1), axis=0)
        self._means = np.where(zero_one, 0.0, X.mean(axis=0))
        self._public = {}
        eta = X @ fit.coef + (0.0 if off is None else off)
        self._eta_sorted = eta[rs.order]
        self._X, self._y, self._eta = X, y, eta
        self._strata_codes = st_codes
        self._H = {}
        return self

    # ------------------------------------------------------------------ public results
    # built lazily: pandas objects cost more than the fit itself on small data
    def _get(self, name):
        fit = getattr(self, "_fit", None)
        if fit is None:
            return None
        if name not in self._public:
            cov, k = self.covariates_, len(self.covariates_)
            if name == "coef_":
                v = pd.Series(fit.coef, index=cov, name="coef")
            elif name == "se_":
                v = pd.Series(np.sqrt(np.diag(self._vcov)), index=cov, name="se")
            elif name == "vcov_":
                v = pd.DataFrame(self._vcov, index=cov, columns=cov)
            elif name == "vcov_model_":
                v = pd.DataFrame(fit.vcov, index=cov, columns=cov)
            elif name == "means_":
                v = pd.Series(self._means, index=cov, name="mean")
            else:
                stat = [fit.lrt, fit.score_test, self._wald]
                v = pd.DataFrame({"statistic": stat, "df": [k] * 3,
                                  "p_value": stats.chi2.sf(stat, k)},
                                 index=["likelihood_ratio", "score", "wald"])
            self._public[name] = v
        return self._public[name]

    coef_ = property(lambda self: self._get("coef_"))
    se_ = property(lambda self: self._get("se_"))
    vcov_ = property(lambda self: self._get("vcov_"))
    vcov_model_ = property(lambda self: self._get("vcov_model_"))
    means_ = property(lambda self: self._get("means_"))
    tests_ = property(lambda self: self._get("tests_"))

    # ------------------------------------------------------------------ baseline
    def _cumhaz(self, kind: str):
        if kind not in self._H:
            dH = baseline_hazard(self._rs, self._eta_sorted, kind)
            rs = self._rs
            # cumulative within strata
            H = np.empty_like(dH)
            g_s = rs.g_stratum
            for s in np.unique(g_s):                 # loop over strata
                m = g_s == s
                H[m] = np.cumsum(dH[m])
            self._H[kind] = (dH, H)
        return self._H[kind]

    def baseline_hazard(self, kind: Ties | None = None, centered: bool = False) -> pd.DataFrame:
        """Cumulative baseline hazard at every distinct time (per stratum).

        Parameters
        ----------
        kind : {"breslow", "efron"}, optional
            ``"breslow"`` = ``survfit(fit, ctype = 1)``; ``"efron"`` =
            ``ctype = 2``.  Default: the fit's ties rule (as ``survfit``/``basehaz``).
        centered : bool, default False
            False: at covariates = 0 (``basehaz(centered = FALSE)``); True: at
            ``means_`` (``basehaz(fit)``: column means, 0 for 0/1 columns).

        Returns
        -------
        DataFrame with ``stratum`` (when stratified), ``time``, ``n_risk``,
        ``n_event``, ``n_censor``, ``hazard`` (increment), ``cumhaz``, ``surv``.
        """
        check_is_fitted(self, "coef_")
        kind = kind or self.ties
        dH, H = self._cumhaz(kind)
        rs = self._rs
        scale = float(np.exp(self._means @ self._fit.coef)) if centered else 1.0
        out = pd.DataFrame({"time": rs.g_time, "n_risk": rs.n_risk().astype(int),
                            "n_event": rs.g_ndead, "n_censor": rs.g_ncens,
                            "hazard": dH * scale, "cumhaz": H * scale})
        out["surv"] = np.exp(-out["cumhaz"])
        if self.strata_ is not None:
            out.insert(0, "stratum", [self.strata_[s] for s in rs.g_stratum])
        return out

    def cumulative_hazard_at(self, times, kind: Ties | None = None) -> np.ndarray:
        """Baseline cumulative hazard (covariates = 0) at ``times``; shape
        (n_strata, len(times)) (one row when unstratified)."""
        check_is_fitted(self, "coef_")
        kind = kind or self.ties
        _, H = self._cumhaz(kind)
        rs = self._rs
        at = np.atleast_1d(np.asarray(times, float))
        rows = []
        for s in range(len(rs.s_start)):
            m = rs.g_stratum == rs.stratum_labels[s]
            rows.append(_step_eval(rs.g_time[m], H[m], at))
        return np.vstack(rows)

    # ------------------------------------------------------------------ predict
    def predict_lp(self, data: pd.DataFrame) -> np.ndarray:
        """Linear predictor ``x'beta`` (+ offset), uncentred."""
        check_is_fitted(self, "coef_")
        X = _numeric_matrix(data, self.covariates_)
        lp = X @ self.coef_.to_numpy()
        if self.offset_col_ is not None:
            lp = lp + _numeric_matrix(data, [self.offset_col_])[:, 0]
        return lp

    def _stratum_rows(self, data: pd.DataFrame) -> np.ndarray:
        if self.strata_ is None:
            return np.zeros(len(data), int)
        col = self.strata_col_
        if col not in data.columns:
            raise column_not_found(col, data.columns, "strata")
        idx = pd.Index(self.strata_).get_indexer(data[col])
        if np.any(idx < 0):
            bad = pd.unique(data[col][idx < 0])[:5].tolist()
            raise DataError(f"strata {bad} of column {col!r} were not in the fitted data "
                            f"(strata: {self.strata_[:12]}); their baseline hazard is unknown")
        return idx

    def predict_survival(self, data: pd.DataFrame, times, kind: Ties | None = None,
                         check: bool = True) -> pd.DataFrame:
        """Predicted survival ``S(t | x) = exp(-H0_s(t) exp(x'beta))``.

        Parameters
        ----------
        data : pandas.DataFrame
            Covariates (and the strata column when stratified).
        times : sequence of float
        kind : {"breslow", "efron"}, optional
            Baseline hazard (default: the fit's ties rule, as ``survfit``).
        check : bool, default True
            Raise :class:`~ipdma.errors.DataError` when a time is beyond the last
            follow-up of a stratum (the Cox baseline is not defined there).

        Returns
        -------
        DataFrame, rows = ``data`` index, one column per time.
        """
        at = np.atleast_1d(np.asarray(times, float))
        s_idx = self._stratum_rows(data)
        if check:
            check_horizon(self._y, at, None if self.strata_ is None else
                          np.asarray(self.strata_, object)[self._strata_codes],
                          group_name="stratum")
        H0 = self.cumulative_hazard_at(at, kind)[s_idx]
        S = np.exp(-H0 * np.exp(self.predict_lp(data))[:, None])
        return pd.DataFrame(S, index=data.index, columns=list(at))

    def concordance(self):
        """Harrell's C of the linear predictor on the training data (stratified
        when the model is), = ``concordance(fit)``."""
        from ._concordance import concordance

        check_is_fitted(self, "coef_")
        return concordance(self._y.time, self._y.event, self._eta, strata=self._strata_codes)

    # ------------------------------------------------------------------ reporting
    def summary(self) -> Summary:
        check_is_fitted(self, "coef_")
        tab = self.to_frame().set_index("term")
        info = {"ties": self.ties, "variance": "robust" if self.robust_ else "model-based",
                "n": self.n_, "events": self.n_events_,
                "loglik": self.loglik_, "loglik (null)": self.loglik_null_,
                "iterations": self.n_iter_}
        if self.strata_ is not None:
            info["strata"] = f"{self.strata_col_} ({len(self.strata_)})"
        return Summary("Cox proportional hazards", tables={"coefficients": tab,
                                                           "tests": self.tests_}, info=info)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: term, coef, se, z, p_value, ci_lower, ci_upper, hr."""
        check_is_fitted(self, "coef_")
        z = self.coef_ / self.se_
        q = stats.norm.ppf(0.975)
        return pd.DataFrame({"term": self.coef_.index, "coef": self.coef_.to_numpy(),
                             "se": self.se_.to_numpy(), "z": z.to_numpy(),
                             "p_value": 2 * stats.norm.sf(np.abs(z.to_numpy())),
                             "ci_lower": (self.coef_ - q * self.se_).to_numpy(),
                             "ci_upper": (self.coef_ + q * self.se_).to_numpy(),
                             "hr": np.exp(self.coef_.to_numpy())})

    def plot(self, ax=None, kind: Ties | None = None):
        """Baseline survival curves exp(-H0(t)) (covariates at their means), one per stratum."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        bh = self.baseline_hazard(kind, centered=True)
        groups = bh.groupby("stratum") if "stratum" in bh else [("all", bh)]
        for lab, g in groups:
            ax.step(np.r_[0, g["time"]], np.r_[1, g["surv"]], where="post", label=str(lab))
        ax.set_xlabel("time")
        ax.set_ylabel("baseline survival (covariate means)")
        if self.strata_ is not None:
            ax.legend(title=self.strata_col_)
        return ax

    def __repr__(self) -> str:
        return f"CoxPH(ties={self.ties!r})"


def _numeric_matrix(data: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    for c in cols:
        if c not in data.columns:
            raise column_not_found(c, data.columns, "covariate")
    series = [column_values(data, c) for c in cols]
    for c, s in zip(cols, series, strict=True):
        if s.dtype != bool and not pd.api.types.is_numeric_dtype(s.dtype):
            raise DataError(f"column {c!r} is not numeric (dtype {s.dtype}); code categorical "
                            "covariates as 0/1 columns first")
    # column by column: ``data[cols].to_numpy()`` builds a sub-frame first (several times
    # slower than the fit itself on small data)
    out = np.empty((len(data), len(cols)))
    for j, s in enumerate(series):
        out[:, j] = s if isinstance(s, np.ndarray) else s.to_numpy(float)
    if not np.isfinite(out).all():
        for j, c in enumerate(cols):
            v = out[:, j]
            if np.isnan(v).any():
                raise DataError(f"column {c!r} has {int(np.isnan(v).sum())} missing values; "
                                "drop or impute them before fitting")
            if not np.isfinite(v).all():
                raise DataError(f"column {c!r} has infinite values")
    return out


def outcome_from(y: SurvivalOutcome | tuple) -> SurvivalOutcome:
    if isinstance(y, SurvivalOutcome):
        return y
    t, e = y
    return SurvivalOutcome.from_arrays(t, e)

"""Stage-1 learners for time-to-event outcomes (family ``"survival"``).

* ``"cox"``: Cox model with full treatment interactions per trial,
  ``coxph(Surv(time, event) ~ t * (x1 + ... + xp), ties = "efron")``, with
  Breslow's baseline cumulative hazard (``survfit(ctype = 1)``).
* ``"weibull"``: Weibull AFT model with the same formula
  (``survreg(dist = "weibull")``), absolute scales in closed form.
* ``"cox-lasso"`` / ``"cox-ridge"``: penalised Cox (glmnet's objective and
  ties, ``family = "cox"``), only the treatment interactions penalised, lambda
  by K-fold cross-validation of the partial-likelihood deviance (stored folds
  via ``foldid``).

The outcome ``y`` of a trial is an (n, 2) array (time, event).  ITE scales
(:class:`ipdma.families.SurvivalFamily`): ``"survdiff"`` (difference in
S(horizon)), ``"rmstdiff"`` (difference in RMST up to tau) and ``"loghr"``
(conditional log hazard ratio).  The delta-method variance of the Cox
learner's absolute ITEs includes the uncertainty of the Breslow baseline
(Tsiatis' variance, as ``survfit.coxph``'s standard errors), not only that of
the coefficients.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError, ModelSpecificationError
from ..families import StepBaseline, WeibullBaseline
from ._learners import LEARNERS, ITELearner, interaction_design

__all__ = [
    "CoxLassoLearner",
    "CoxLearner",
    "CoxRidgeLearner",
    "WeibullLearner",
    "breslow_loglik_batch",
    "breslow_step",
    "glmnet_path_stop",
]


def _time_event(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != 2:
        raise DataError("a time-to-event learner needs the outcome as (time, event) columns; "
                        "build the IPD with time= and event=")
    return y[:, 0], y[:, 1]


def _check_events(time, event) -> None:
    if event.sum() == 0:
        raise DataError("no events in this trial: a survival model cannot be fitted; drop "
                        "the trial")


def breslow_step(time: np.ndarray, event: np.ndarray, Z: np.ndarray,
                 beta: np.ndarray) -> dict[str, np.ndarray]:
    """Breslow baseline hazard of a Cox fit at its distinct event times.

    Returns ``times`` (event times), ``cumhaz`` (H0 at eta = 0, uncentred,
    ``survfit(ctype = 1)``), ``dcumhaz`` (dH0(t_k)/dbeta, (J, q)) and
    ``var_inc`` (``d_k / S0_k^2``, the increments of Tsiatis' variance).

    Examples
    --------
    >>> import numpy as np
    >>> r = breslow_step(np.array([1.0, 2, 2, 3]), np.array([1.0, 1, 0, 1]),
    ...                  np.zeros((4, 1)), np.zeros(1))
    >>> r["times"].tolist(), r["cumhaz"].round(4).tolist()
    ([1.0, 2.0, 3.0], [0.25, 0.5833, 1.5833])
    """
    order = np.argsort(time, kind="stable")
    t, d, Zs = time[order], event[order], Z[order]
    eta = Zs @ beta
    shift = float(eta.max())
    r = np.exp(eta - shift)
    # risk-set sums at each row: reverse cumulative sums, taken at the first row of each time
    S0 = np.cumsum(r[::-1])[::-1]
    S1 = np.cumsum((r[:, None] * Zs)[::-1], axis=0)[::-1]
    first = np.r_[True, t[1:] != t[:-1]]
    starts = np.flatnonzero(first)
    grp = np.cumsum(first) - 1
    deaths = np.bincount(grp, weights=d, minlength=len(starts))
    ev = deaths > 0
    s0 = S0[starts][ev]
    s1 = S1[starts][ev]
    dk = deaths[ev]
    scale = np.exp(-shift)
    inc = dk / s0 * scale
    dinc = -(dk / s0 ** 2)[:, None] * s1 * scale
    return {"times": t[starts][ev], "cumhaz": np.cumsum(inc),
            "dcumhaz": np.cumsum(dinc, axis=0), "var_inc": dk / s0 ** 2 * scale ** 2}


def breslow_loglik_batch(time: np.ndarray, event: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Cox partial log-likelihood with Breslow ties for many linear predictors at once.

    ``eta`` (n, L) -> (L,) log-likelihoods ``sum_events [eta_i - log S0(t_i)]``.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.survival import cox_partial_likelihood
    >>> t = np.array([1.0, 2, 2, 3]); d = np.array([1.0, 1, 1, 0])
    >>> eta = np.array([[0.1], [0.5], [-0.2], [0.3]])
    >>> ll = cox_partial_likelihood([1.0], eta, t, d, ties="breslow")[0]
    >>> bool(np.isclose(breslow_loglik_batch(t, d, eta)[0], ll))
    True
    """
    order = np.argsort(time, kind="stable")
    t, d, e = time[order], event[order], eta[order]
    shift = e.max(axis=0)
    S0 = np.cumsum(np.exp(e - shift)[::-1], axis=0)[::-1]
    first = np.r_[True, t[1:] != t[:-1]]
    start = np.flatnonzero(first)[np.cumsum(first) - 1]          # first row of each time
    dead = d == 1
    return (e[dead] - np.log(S0[start[dead]]) - shift).sum(axis=0)


def _lsat(time: np.ndarray, event: np.ndarray) -> float:
    """glmnet's saturated Cox log-likelihood ``-sum_k d_k log d_k`` (d_k = deaths at the
    k-th distinct event time)."""
    _, d = np.unique(time[event == 1], return_counts=True)
    return float(-np.sum(d * np.log(d)))


def glmnet_path_stop(time: np.ndarray, event: np.ndarray, eta: np.ndarray, *,
                     mnlam: int = 5, fdev: float = 1e-5, devmax: float = 0.999) -> int:
    """Number of lambdas glmnet keeps on a default Cox path (``coxnet``'s stopping rule).

    ``eta`` (n, L): linear predictors along the path.  With ``dev_l`` the fraction of
    the null deviance explained (glmnet's ``dev.ratio``, Breslow ties), the path stops
    at the first ``l >= mnlam`` (1-based) with ``(dev_l - dev_{l-mnlam+1}) / dev_l <
    100 fdev`` or ``dev_l > devmax * 0.99 / 0.999`` (the Cox family's scalings of
    ``glmnet.control``'s ``fdev`` and ``devmax``); that lambda is kept.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1.0, 9); d = np.ones(8)
    >>> eta = np.outer(-np.log(t), np.r_[0.1, 0.2, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    >>> glmnet_path_stop(t, d, eta)             # flat from the 3rd: stops at the 7th
    7
    """
    ll = breslow_loglik_batch(time, event, eta)
    ll0 = breslow_loglik_batch(time, event, np.zeros((len(time), 1)))[0]
    dev = (ll - ll0) / (_lsat(time, event) - ll0)
    L = len(dev)
    for i in range(mnlam - 1, L):                       # loop over the path (L <= 100)
        with np.errstate(divide="ignore", invalid="ignore"):
            small = (dev[i] - dev[i - mnlam + 1]) / dev[i] < 100 * fdev
        if small or dev[i] > devmax * 0.99 / 0.999:
            return i + 1
    return L


class _SurvivalLearner(ITELearner):
    """Shared parts: ``predict_eta``, ``predict_arms``, ``predict_ite`` on the
    family's scales (``horizon``/``tau`` default to the family's)."""

    families = frozenset({"survival"})
    #: the design has an intercept column (Weibull) or not (Cox)
    _intercept = False

    def _designs(self, X):
        X = self._check_X(X)
        n = len(X)
        Z0 = interaction_design(X, np.zeros(n))
        Z1 = interaction_design(X, np.ones(n))
        if not self._intercept:
            Z0, Z1 = Z0[:, 1:], Z1[:, 1:]
        return Z0, Z1

    def predict_eta(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Log-hazard linear predictors ``(eta0, eta1)`` under control and treatment."""
        Z0, Z1 = self._designs(X)
        b = self._eta_coef()
        return Z0 @ b, Z1 @ b

    def _kw(self, horizon=None, tau=None):
        return {"baseline": self.baseline_, "horizon": horizon, "tau": tau}

    def predict_arms(self, X: Any, scale: str | None = None, horizon: float | None = None,
                     tau: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """S(horizon) (``survdiff``), RMST(tau) (``rmstdiff``) or the hazard ratio to
        baseline (``loghr``) under control and treatment."""
        eta0, eta1 = self.predict_eta(X)
        fam = self.family_
        kw = self._kw(horizon, tau)
        return fam.arm_value(eta0, scale, **kw), fam.arm_value(eta1, scale, **kw)

    def predict_ite(self, X: Any, scale: str | None = None, horizon: float | None = None,
                    tau: float | None = None) -> np.ndarray:
        eta0, eta1 = self.predict_eta(X)
        return self.family_.ite(eta0, eta1, scale, **self._kw(horizon, tau))

    def site_info(self) -> dict[str, Any]:
        """What the ``mvma`` pooler needs for absolute scales: the control-arm linear
        predictor's coefficients on (1, x) and the baseline."""
        p = self.n_features_
        b = self._eta_coef()
        main = np.r_[b[0], b[2:p + 2]] if self._intercept else np.r_[0.0, b[1:p + 1]]
        return {"eta0_coef": main, "baseline": self.baseline_.to_dict()}


# --------------------------------------------------------------------------------------
# Cox
# --------------------------------------------------------------------------------------
class CoxLearner(_SurvivalLearner):
    """Cox model with full treatment interactions, ``coxph(Surv ~ t * (x...))``.

    ``coef_``/``vcov_``: all ``2p + 1`` coefficients in R's order (t, x, t:x)
    (names in ``coef_names_``); ``baseline_`` is Breslow's cumulative baseline
    hazard at the distinct event times (``survfit(fit, ctype = 1)``, uncentred).
    :meth:`coef_cov` returns the treatment block ``(delta, gamma)`` on the
    log-hazard scale, so that ``mvma`` pools it as in ``rma.mv``.  :meth:`ite_var`
    is the delta-method variance of the ITE on any scale, including the
    Breslow baseline's uncertainty (absolute scales).  Horizons beyond the
    trial's last follow-up raise :class:`~ipdma.errors.OutcomeError`.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.families import SurvivalFamily
    >>> rng = np.random.default_rng(0)
    >>> n = 400; X = rng.normal(size=(n, 1)); t = rng.integers(0, 2, n)
    >>> T = rng.exponential(np.exp(-(0.5 * X[:, 0] + t * (-0.5 + 0.3 * X[:, 0]))))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> m = CoxLearner().fit(X, t, y, family=SurvivalFamily(horizon=1.0))
    >>> m.coef_.round(2)                       # truth (-0.5, 0.5, 0.3)
    array([-0.44,  0.51,  0.35])
    >>> m.predict_ite(X[:2]).round(3), m.predict_ite(X[:2], scale="loghr").round(3)
    (array([0.142, 0.169]), array([-0.393, -0.483]))
    >>> np.sqrt(m.ite_var(X[:2])).round(3)
    array([0.041, 0.042])
    """

    name = "cox"
    provides = frozenset({"coef_cov", "linear"})

    def __init__(self, *, ties: str = "efron", tol: float = 1e-10, max_iter: int = 100) -> None:
        if ties not in ("efron", "breslow"):
            raise ModelSpecificationError(f"ties={ties!r}: choose 'efron' or 'breslow'")
        self.ties = ties
        self.tol = float(tol)
        self.max_iter = int(max_iter)

    def _eta_coef(self):
        return self.coef_

    def _fit(self, X, t, y, rng):
        import warnings

        from ..errors import ConvergenceWarning
        from ..survival import fit_cox

        time, event = _time_event(y)
        _check_events(time, event)
        Z = interaction_design(X, t)[:, 1:]
        q = Z.shape[1]
        if event.sum() <= q:
            raise DataError(f"the full-interaction Cox model has {q} coefficients but the "
                            f"trial has only {int(event.sum())} events: use fewer covariates "
                            "or a penalised learner (cox-lasso)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                fit = fit_cox(Z, time, event, ties=self.ties, tol=self.tol,
                              max_iter=self.max_iter)
            except (ConvergenceWarning, ModelSpecificationError) as exc:
                raise DataError(f"the Cox model cannot be fitted ({exc}); a covariate is "
                                "constant within an arm, or the likelihood is monotone: drop "
                                "that covariate or use cox-lasso") from None
        self.coef_ = fit.coef
        self.vcov_ = fit.vcov
        self.loglik_ = fit.loglik
        self.loglik_null_ = fit.loglik_null
        self.iterations_ = fit.n_iter
        p = X.shape[1]
        self.coef_names_ = ["t", *[f"x{j + 1}" for j in range(p)],
                            *[f"t:x{j + 1}" for j in range(p)]]
        self._set_baseline(time, event, Z)

    def _set_baseline(self, time, event, Z):
        br = breslow_step(time, event, Z, self.coef_)
        self.baseline_ = StepBaseline(br["times"], br["cumhaz"], max_time=float(time.max()))
        self.dcumhaz_ = br["dcumhaz"]
        self.var_inc_ = br["var_inc"]

    def coef_cov(self):
        self._check_fitted()
        p = self.n_features_
        idx = np.r_[0, np.arange(p + 1, 2 * p + 1)]
        return self.coef_[idx], self.vcov_[np.ix_(idx, idx)]

    def _arm_parts(self, eta, scale, tp):
        """Arm value, d/deta and d/dH_j (j over the event times) of each patient."""
        b = self.baseline_
        e = np.exp(eta)
        J = len(b.times)
        if scale == "survdiff":
            k = int(np.searchsorted(b.times, tp, side="right"))   # H(tp) = cumhaz[k-1]
            H = b.cumhaz[k - 1] if k > 0 else 0.0
            S = np.exp(-H * e)
            dH = np.zeros((len(eta), J))
            if k > 0:
                dH[:, k - 1] = -e * S
            return S, -H * e * S, dH
        # rmstdiff: S on [0, t1), [t1, t2), ... up to tau
        Hs, width = b._grid(tp)                        # Hs[0] = 0; Hs[j] = cumhaz[j-1]
        eH = np.multiply.outer(e, Hs)
        Sg = np.exp(-eH)
        val = Sg @ width
        deta = -(eH * Sg) @ width
        dH = np.zeros((len(eta), J))
        m = len(Hs) - 1
        dH[:, :m] = -(e[:, None] * Sg[:, 1:]) * width[1:]
        return val, deta, dH

    def _delta_var(self, X, scale, horizon, tau, c0: float, c1: float) -> np.ndarray:
        """Delta-method variance of ``c1 f(eta1) + c0 f(eta0)`` (f the arm value on
        ``scale``), over the coefficients and the Breslow increments."""
        fam = self.family_
        scale = fam.check_scale(scale)
        Z0, Z1 = self._designs(X)
        if scale == "loghr":
            G = c1 * Z1 + c0 * Z0
            return np.einsum("ij,jk,ik->i", G, self.vcov_, G)
        tp = fam.scale_params(scale, horizon, tau)
        self.baseline_.check(tp, "horizon" if scale == "survdiff" else "tau")
        _, d0, h0 = self._arm_parts(Z0 @ self.coef_, scale, tp)
        _, d1, h1 = self._arm_parts(Z1 @ self.coef_, scale, tp)
        a = c1 * h1 + c0 * h0                            # d/dH_j
        G = c1 * d1[:, None] * Z1 + c0 * d0[:, None] * Z0 + a @ self.dcumhaz_
        var_beta = np.einsum("ij,jk,ik->i", G, self.vcov_, G)
        A = np.cumsum(a[:, ::-1], axis=1)[:, ::-1]       # d / d(increment k)
        return var_beta + (A ** 2) @ self.var_inc_

    def ite_var(self, X: Any, scale: str | None = None, horizon: float | None = None,
                tau: float | None = None) -> np.ndarray:
        """Delta-method variance of the ITE (coefficients and Breslow baseline)."""
        return self._delta_var(X, scale, horizon, tau, -1.0, 1.0)

    def arm_var(self, X: Any, arm: int, scale: str | None = None,
                horizon: float | None = None, tau: float | None = None) -> np.ndarray:
        """Delta-method variance of one arm's S(horizon) or RMST(tau) (``arm`` 0 or 1);
        for S this is ``survfit.coxph``'s (``ctype = 1``) ``(S * std.err)^2``."""
        if arm not in (0, 1):
            raise ModelSpecificationError(f"arm must be 0 or 1, got {arm!r}")
        return self._delta_var(X, scale, horizon, tau, float(arm == 0), float(arm == 1))


# --------------------------------------------------------------------------------------
# Weibull AFT
# --------------------------------------------------------------------------------------
class WeibullLearner(_SurvivalLearner):
    """Weibull AFT model with full treatment interactions, ``survreg(Surv ~ t * (x...),
    dist = "weibull")``.

    ``coef_`` (log-time scale, order (1, t, x, t:x)), ``scale_`` and ``vcov_``
    (``(coef, log(scale))``, survreg's ``var``).  In proportional-hazards form
    the log-hazard linear predictor is ``eta = -lp / scale`` and the baseline
    ``H0(t) = t^(1/scale)``; S(horizon) and RMST(tau) are closed forms.
    :meth:`coef_cov` returns the treatment block on the log-hazard scale,
    ``-coef / scale``, with its delta-method covariance.  :meth:`ite_var` is the
    delta-method variance over all coefficients and log(scale) (numerical
    gradient).  Horizons beyond the trial's last follow-up raise unless
    ``extrapolate=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.families import SurvivalFamily
    >>> rng = np.random.default_rng(0)
    >>> n = 400; X = rng.normal(size=(n, 1)); t = rng.integers(0, 2, n)
    >>> T = rng.exponential(np.exp(-(0.5 * X[:, 0] + t * (-0.5 + 0.3 * X[:, 0]))))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> m = WeibullLearner().fit(X, t, y, family=SurvivalFamily(tau=2.0))
    >>> round(m.scale_, 3), m.coef_cov()[0].round(2)     # log-HR block, truth (-0.5, 0.3)
    (0.964, array([-0.42,  0.35]))
    >>> m.predict_ite(X[:2], scale="rmstdiff").round(3)
    array([0.224, 0.274])
    """

    name = "weibull"
    provides = frozenset({"coef_cov", "linear"})
    _intercept = True

    def __init__(self, *, extrapolate: bool = False, tol: float = 1e-9,
                 maxiter: int = 100) -> None:
        self.extrapolate = bool(extrapolate)
        self.tol = float(tol)
        self.maxiter = int(maxiter)

    def _eta_coef(self):
        return -self.coef_ / self.scale_

    def _fit(self, X, t, y, rng):
        import warnings

        from ..errors import ConvergenceWarning
        from ..survival import fit_weibull

        time, event = _time_event(y)
        _check_events(time, event)
        Z = interaction_design(X, t)
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            try:
                fit = fit_weibull(time, event, Z, tol=self.tol, maxiter=self.maxiter)
            except ConvergenceWarning as exc:
                raise DataError(f"the Weibull model did not converge ({exc})") from None
        if not np.all(np.isfinite(fit.coef)):
            raise DataError("the full-interaction Weibull design is rank deficient in this "
                            "trial (a covariate constant within an arm?): drop that covariate")
        self.coef_ = fit.coef
        self.log_scale_ = fit.log_scale
        self.scale_ = fit.scale
        self.vcov_ = fit.vcov
        self.loglik_ = fit.loglik
        p = X.shape[1]
        self.coef_names_ = ["(Intercept)", "t", *[f"x{j + 1}" for j in range(p)],
                            *[f"t:x{j + 1}" for j in range(p)]]
        self.baseline_ = WeibullBaseline(1.0 / self.scale_, max_time=float(time.max()),
                                         extrapolate=self.extrapolate)

    def coef_cov(self):
        self._check_fitted()
        p = self.n_features_
        idx = np.r_[1, np.arange(p + 2, 2 * p + 2)]
        th = -self.coef_[idx] / self.scale_
        J = np.zeros((len(idx), len(self.coef_) + 1))
        J[np.arange(len(idx)), idx] = -1.0 / self.scale_
        J[:, -1] = -th                                   # d(-b/s)/dlog s = b/s
        return th, J @ self.vcov_ @ J.T

    def _ite_at(self, params, Z0, Z1, scale, tp):
        b, ls = params[:-1], params[-1]
        s = np.exp(ls)
        base = WeibullBaseline(1.0 / s, extrapolate=True)
        e0, e1 = -(Z0 @ b) / s, -(Z1 @ b) / s
        if scale == "loghr":
            return e1 - e0
        f = base.survival if scale == "survdiff" else base.rmst
        return f(tp, e1) - f(tp, e0)

    def ite_var(self, X: Any, scale: str | None = None, horizon: float | None = None,
                tau: float | None = None) -> np.ndarray:
        """Delta-method variance over (coef, log(scale)) (central differences)."""
        fam = self.family_
        scale = fam.check_scale(scale)
        tp = None if scale == "loghr" else fam.scale_params(scale, horizon, tau)
        if tp is not None:
            self.baseline_.check(tp, "horizon" if scale == "survdiff" else "tau")
        Z0, Z1 = self._designs(X)
        th = np.r_[self.coef_, self.log_scale_]
        G = np.empty((len(Z0), len(th)))
        for j in range(len(th)):                         # loop over parameters
            h = 1e-6 * max(1.0, abs(th[j]))
            up, dn = th.copy(), th.copy()
            up[j] += h
            dn[j] -= h
            G[:, j] = (self._ite_at(up, Z0, Z1, scale, tp)
                       - self._ite_at(dn, Z0, Z1, scale, tp)) / (2 * h)
        return np.einsum("ij,jk,ik->i", G, self.vcov_, G)


# --------------------------------------------------------------------------------------
# penalised Cox (glmnet family = "cox")
# --------------------------------------------------------------------------------------
class _PenalizedCox(CoxLearner):
    """Penalised Cox with only the treatment interactions penalised (glmnet's objective:
    ``-loglik / n + lambda * sum pf_j (alpha |b~_j| + (1 - alpha)/2 b~_j^2)``, Breslow
    ties, standardised columns, penalty factors 0 for t and x, 1 for t:x, rescaled to
    sum to the number of columns).  Default lambda path = glmnet's for ``family = "cox"``:
    ``nlambda`` (100) log-spaced values from lambda_max, the smallest lambda with every
    interaction zero (``max_j |U_j| / (n sd_j pf_j) / max(alpha, 1e-3)``, U the Breslow
    score at the unpenalised fit of t and x -- at beta = 0 for ridge, alpha = 0, as
    glmnet's coxnet -- sd the population SD), down to
    ``lambda_min_ratio`` times it (1e-4 when n >= number of columns, else 1e-2), cut
    where glmnet stops its path: from the 5th lambda on, once the fraction of null
    deviance explained rises by less than 0.1 % (relative) over the last 4 steps or
    exceeds 0.99 (``fdev``, ``devmax`` of ``glmnet.control``); the folds then use that
    sequence (as ``cv.glmnet``).  ``lambdas`` gives the sequence explicitly (no
    cut); ``lambda.min`` by K-fold cross-validation of
    the partial-likelihood deviance, "grouped" as ``cv.glmnet(family = "cox")`` (fold k
    scores ``dev(b_-k) - dev_-k(b_-k)``, ``dev = 2 (lsat - pl)`` as ``coxnet.deviance``,
    divided by the fold's events; ``cvm`` is their event-weighted mean, ``cvsd`` as
    glmnet 4.1); the largest lambda attaining the minimum.  ``foldid`` fixes the folds.  The baseline is Breslow's at the penalised
    coefficients; ITE variances for the weighted pooler come from the auxiliary Cox
    model (``weighted-aux-ols``) or the bootstrap.
    """

    provides = frozenset({"linear"})
    alpha: float = 1.0

    def __init__(self, *, lambdas: Sequence[float] | None = None, nfolds: int = 10,
                 nfolds_bootstrap: int = 5, nlambda: int = 100,
                 lambda_min_ratio: float | None = None, alpha: float | None = None) -> None:
        super().__init__(ties="breslow")
        self.lambdas = None if lambdas is None else list(map(float, lambdas))
        self.nfolds = int(nfolds)
        self.nfolds_bootstrap = int(nfolds_bootstrap)
        self.nlambda = int(nlambda)
        self.lambda_min_ratio = lambda_min_ratio
        if alpha is not None:
            if not 0.0 <= alpha <= 1.0:
                raise ModelSpecificationError(f"alpha must be in [0, 1], got {alpha}")
            self.alpha = float(alpha)

    def _lambda_seq(self, Z, time, event, pf, p):
        from ..survival import cox_partial_likelihood, fit_cox

        if self.lambdas is not None:
            return np.sort(np.asarray(self.lambdas, float))[::-1]
        n = len(time)
        unp = pf == 0
        b = np.zeros(Z.shape[1])
        if self.alpha > 0:
            # glmnet (coxnet) scores the penalised columns at its first, unpenalised fit;
            # with alpha = 0 its strong rule admits every column at once and the score
            # stays the one at beta = 0
            b[unp] = fit_cox(Z[:, unp], time, event, ties="breslow").coef
        _, g, _ = cox_partial_likelihood(b, Z, time, event, ties="breslow")
        sd = Z.std(axis=0)
        pfs = pf * len(pf) / pf.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            # the score of the standardised column j is U_j / sd_j (glmnet's ga / n)
            r = np.where((pfs > 0) & (sd > 0), np.abs(g / sd / n) / pfs, 0.0)
        lmax = float(r.max()) / max(self.alpha, 1e-3)
        ratio = self.lambda_min_ratio or (1e-2 if n < Z.shape[1] else 1e-4)
        ratio = max(float(ratio), 1e-6)                  # glmnet.control(eps)
        return np.geomspace(lmax, lmax * ratio, self.nlambda)

    def _fit(self, X, t, y, rng, foldid=None):
        import warnings

        from ..errors import ConvergenceWarning
        from ..survival import coxnet_path

        time, event = _time_event(y)
        _check_events(time, event)
        Z = interaction_design(X, t)[:, 1:]
        n = Z.shape[0]
        p = X.shape[1]
        pf = np.r_[np.zeros(p + 1), np.ones(p)]
        lam = self._lambda_seq(Z, time, event, pf, p)
        if foldid is None:
            folds = rng.permutation(np.arange(n) % min(self.nfolds, n))
        else:
            folds = np.asarray(foldid).ravel()
        K = int(folds.max()) + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            path, lam, _ = coxnet_path(Z, time, event, lambdas=lam, alpha=self.alpha,
                                       penalty_factor=pf)
            if self.lambdas is None:                     # glmnet's end of the path
                eta = Z @ path.T
                if self.alpha == 0:
                    # glmnet's first ridge solution is at lambda = infinity (only the
                    # unpenalised columns fitted); its dev.ratio enters the stopping rule
                    from ..survival import fit_cox

                    unp = pf == 0
                    eta[:, 0] = Z[:, unp] @ fit_cox(Z[:, unp], time, event,
                                                    ties="breslow").coef
                stop = glmnet_path_stop(time, event, eta)
                path, lam = path[:stop], lam[:stop]
            cvraw = np.full((K, len(lam)), np.nan)
            wk = np.zeros(K)
            for k in range(K):                           # loop over folds
                tr = folds != k
                if event[tr].sum() == 0:
                    continue
                Bk, _, _ = coxnet_path(Z[tr], time[tr], event[tr], lambdas=lam,
                                       alpha=self.alpha, penalty_factor=pf)
                E = Z @ Bk.T                                              # (n, L)
                # glmnet's coxnet.deviance: 2 (lsat - loglik), lsat the saturated term
                cvraw[k] = (2.0 * (_lsat(time, event) - breslow_loglik_batch(time, event, E))
                            - 2.0 * (_lsat(time[tr], event[tr])
                                     - breslow_loglik_batch(time[tr], event[tr], E[tr])))
                wk[k] = event[~tr].sum()
        ok = wk > 0
        cvraw, wk = cvraw[ok] / wk[ok, None], wk[ok]
        cvm = (wk[:, None] * cvraw).sum(0) / wk.sum()
        cvsd = np.sqrt((wk[:, None] * (cvraw - cvm) ** 2).sum(0) / wk.sum()
                       / max(ok.sum() - 1, 1))
        imin = int(np.flatnonzero(cvm <= cvm.min())[0])
        self.lambda_ = lam
        self.path_coef_ = path
        self.cvm_ = cvm
        self.cvsd_ = cvsd
        self.lambda_min_ = float(lam[imin])
        self.lambda_min_index_ = imin
        self.folds_ = folds
        self.coef_ = path[imin]
        self.vcov_ = None
        self.coef_names_ = ["t", *[f"x{j + 1}" for j in range(p)],
                            *[f"t:x{j + 1}" for j in range(p)]]
        self._set_baseline(time, event, Z)

    def coef_cov(self):
        return ITELearner.coef_cov(self)

    def ite_var(self, *args, **kwargs):
        raise ModelSpecificationError(
            f"learner {self.name!r} has no coefficient covariance: its ITE variances come "
            "from the auxiliary Cox model (weighted-aux-ols) or the bootstrap")

    def bootstrap_clone(self):
        new = super().bootstrap_clone()
        new.nfolds = new.nfolds_bootstrap
        return new


class CoxLassoLearner(_PenalizedCox):
    """Lasso Cox (glmnet ``alpha = 1``) on the treatment interactions.

    Examples
    --------
    >>> CoxLassoLearner(nfolds=5).alpha
    1.0
    """

    name = "cox-lasso"
    alpha = 1.0


class CoxRidgeLearner(_PenalizedCox):
    """Ridge Cox (glmnet ``alpha = 0``) on the treatment interactions.

    Examples
    --------
    >>> CoxRidgeLearner().alpha
    0.0
    """

    name = "cox-ridge"
    alpha = 0.0


def survival_site_fields(summary: Any, learner: ITELearner) -> None:
    """Fill the time-to-event parts of a site summary (control-arm log hazard on
    (1, x), baseline, horizon/tau) from a fitted survival learner."""
    fam = learner.family_
    summary.horizon, summary.tau = fam.horizon, fam.tau
    if hasattr(learner, "site_info"):
        info = learner.site_info()
        summary.eta0_coef = np.asarray(info["eta0_coef"], dtype=float)
        summary.baseline = info["baseline"]


def survival_aux_model(learner: ITELearner, X, t, y) -> ITELearner:
    """The model that gives the ``weighted-aux-ols`` ITE variances for a time-to-event
    outcome: the learner itself when it has a delta-method variance (cox, weibull),
    otherwise an auxiliary full-interaction Cox model."""
    if getattr(learner, "vcov_", None) is not None and hasattr(learner, "ite_var"):
        return learner
    try:
        return CoxLearner().fit(X, t, y, family=learner.family_)
    except DataError as exc:
        raise DataError(f"the auxiliary Cox model that gives the weighted-aux-ols weights "
                        f"failed: {exc}") from None


def _register() -> None:
    for cls in (CoxLearner, WeibullLearner, CoxLassoLearner, CoxRidgeLearner):
        LEARNERS.setdefault(cls.name, cls)


_register()

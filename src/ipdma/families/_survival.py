"""Time-to-event outcome family: (time, event), log link on the hazard, survival ITE scales.

The linear predictor ``eta`` is on the log-hazard scale: ``h(t | x) = h0(t) e^eta``
(Cox; the Weibull model in its proportional-hazards form).  An absolute
quantity of a patient needs a *baseline* as well: a step cumulative hazard
(:class:`StepBaseline`, Breslow's estimator of a Cox fit) or a Weibull
cumulative hazard ``H0(t) = t^shape`` (:class:`WeibullBaseline`).  Both give
``S(t | eta) = exp(-H0(t) e^eta)``, the restricted mean survival time
``RMST(tau | eta) = int_0^tau S(t | eta) dt`` and their derivatives with
respect to ``eta`` (for delta-method standard errors).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._lazy import lazy_module
from ..errors import ModelSpecificationError, OutcomeError
from ._families import OutcomeFamily, _arr

special = lazy_module("scipy.special")   # imported when first used

__all__ = ["StepBaseline", "SurvivalFamily", "WeibullBaseline", "baseline_from_dict"]


class StepBaseline:
    """A right-continuous step cumulative baseline hazard ``H0`` (e.g. Breslow's).

    ``times`` (increasing) and ``cumhaz`` (``H0`` just after each time; 0 before
    the first).  ``S(t | eta) = exp(-H0(t) e^eta)``; the RMST is the exact area
    under this step function (``survfit``'s ``rmean``).  ``max_time`` is the
    last follow-up time of the data (horizons beyond it raise).

    Examples
    --------
    >>> import numpy as np
    >>> b = StepBaseline([1.0, 2.0], [0.1, 0.3], max_time=3.0)
    >>> b.survival(1.5, np.array([0.0, np.log(2)])).round(4)
    array([0.9048, 0.8187])
    >>> float(b.rmst(3.0, np.array([0.0]))[0].round(4))    # 1 + e^-0.1 + e^-0.3
    2.6457
    """

    kind = "step"

    def __init__(self, times: Any, cumhaz: Any, max_time: float | None = None) -> None:
        self.times = _arr(times).ravel()
        self.cumhaz = _arr(cumhaz).ravel()
        if self.times.shape != self.cumhaz.shape:
            raise ModelSpecificationError("baseline times and cumulative hazards differ in "
                                          "length")
        self.max_time = float(self.times[-1] if max_time is None and len(self.times)
                              else (max_time if max_time is not None else 0.0))

    def check(self, t: float, what: str = "horizon") -> None:
        if not t > 0:
            raise ModelSpecificationError(f"{what} must be > 0, got {t}")
        if t > self.max_time:
            raise OutcomeError(
                f"{what} {t:g} is beyond the last follow-up time ({self.max_time:g}) of the "
                "data behind this Cox baseline: the Breslow baseline cannot be extrapolated; "
                f"choose a smaller {what} or a parametric learner (weibull, "
                "extrapolate=True)")

    def H(self, t: float) -> float:
        idx = np.searchsorted(self.times, float(t), side="right")
        return float(np.r_[0.0, self.cumhaz][idx])

    def survival(self, t: float, eta: Any) -> np.ndarray:
        return np.exp(-self.H(t) * np.exp(_arr(eta)))

    def dsurvival(self, t: float, eta: Any) -> np.ndarray:
        e = np.exp(_arr(eta))
        H = self.H(t)
        return -H * e * np.exp(-H * e)

    def _grid(self, tau: float):
        """Left ends and widths of the steps on [0, tau] and H on each step."""
        inner = self.times[self.times < tau]
        left = np.r_[0.0, inner]
        width = np.diff(np.r_[left, tau])
        Hs = np.r_[0.0, self.cumhaz[: len(inner)]]
        return Hs, width

    def rmst(self, tau: float, eta: Any) -> np.ndarray:
        Hs, width = self._grid(tau)
        e = np.exp(_arr(eta))
        return np.exp(-np.multiply.outer(e, Hs)) @ width

    def drmst(self, tau: float, eta: Any) -> np.ndarray:
        Hs, width = self._grid(tau)
        e = np.exp(_arr(eta))
        eH = np.multiply.outer(e, Hs)
        return -(eH * np.exp(-eH)) @ width

    def to_dict(self) -> dict:
        return {"kind": "step", "times": self.times.tolist(), "cumhaz": self.cumhaz.tolist(),
                "max_time": self.max_time}


class WeibullBaseline:
    """Weibull cumulative baseline hazard ``H0(t) = t^shape`` (PH form, ``eta`` on the
    log-hazard scale; survreg's ``shape = 1 / scale``, ``eta = -lp / scale``).

    Closed forms: ``S = exp(-c t^shape)``, ``c = e^eta``;
    ``RMST(tau) = c^(-1/shape) Gamma(1 + 1/shape) P(1/shape, c tau^shape)`` and
    ``dRMST/deta = -(1/shape) c^(-1/shape) Gamma(1 + 1/shape) P(1 + 1/shape,
    c tau^shape)`` (P the regularised lower incomplete gamma function).
    Horizons beyond ``max_time`` raise unless ``extrapolate``.

    Examples
    --------
    >>> import numpy as np
    >>> b = WeibullBaseline(1.0)                         # exponential, rate e^eta
    >>> float(b.rmst(2.0, np.array([0.0]))[0].round(6))  # 1 - exp(-2)
    0.864665
    """

    kind = "weibull"

    def __init__(self, shape: float, max_time: float = np.inf,
                 extrapolate: bool = False) -> None:
        self.shape = float(shape)
        self.max_time = float(max_time)
        self.extrapolate = bool(extrapolate)

    def check(self, t: float, what: str = "horizon") -> None:
        if not t > 0:
            raise ModelSpecificationError(f"{what} must be > 0, got {t}")
        if t > self.max_time and not self.extrapolate:
            raise OutcomeError(
                f"{what} {t:g} is beyond the last follow-up time ({self.max_time:g}) of the "
                "data behind this Weibull model: choose a smaller "
                f"{what}, or allow parametric extrapolation (learner option "
                "extrapolate=True)")

    def survival(self, t: float, eta: Any) -> np.ndarray:
        return np.exp(-np.exp(_arr(eta)) * float(t) ** self.shape)

    def dsurvival(self, t: float, eta: Any) -> np.ndarray:
        u = np.exp(_arr(eta)) * float(t) ** self.shape
        return -u * np.exp(-u)

    def _parts(self, tau, eta):
        c = np.exp(_arr(eta))
        a = 1.0 / self.shape
        return c, a, c ** (-a) * special.gamma(1.0 + a), c * float(tau) ** self.shape

    def rmst(self, tau: float, eta: Any) -> np.ndarray:
        _c, a, pre, U = self._parts(tau, eta)
        return pre * special.gammainc(a, U)

    def drmst(self, tau: float, eta: Any) -> np.ndarray:
        _c, a, pre, U = self._parts(tau, eta)
        return -a * pre * special.gammainc(1.0 + a, U)

    def to_dict(self) -> dict:
        return {"kind": "weibull", "shape": self.shape,
                "max_time": None if not np.isfinite(self.max_time) else self.max_time,
                "extrapolate": self.extrapolate}


def baseline_from_dict(d: dict) -> StepBaseline | WeibullBaseline:
    """Rebuild a baseline written by ``to_dict`` (site summaries).

    Examples
    --------
    >>> baseline_from_dict(WeibullBaseline(1.5).to_dict()).shape
    1.5
    """
    if d.get("kind") == "step":
        return StepBaseline(d["times"], d["cumhaz"], d.get("max_time"))
    if d.get("kind") == "weibull":
        mt = d.get("max_time")
        return WeibullBaseline(d["shape"], np.inf if mt is None else mt,
                               bool(d.get("extrapolate", False)))
    raise ModelSpecificationError(f"unknown baseline kind {d.get('kind')!r}")


class SurvivalFamily(OutcomeFamily):
    """Time-to-event outcome: (time, event), log link on the hazard.

    The outcome is an (n, 2) array of follow-up time (> 0) and event
    indicator (1 = event, 0 = censored), scikit-survival's structured
    outcome as two columns.  ``eta`` is the log-hazard linear predictor.

    ITE scales (treatment minus control; positive = the treatment helps):

    * ``"survdiff"`` (default): ``S(horizon | x, t=1) - S(horizon | x, t=0)``;
    * ``"rmstdiff"``: difference in restricted mean survival time up to ``tau``;
    * ``"loghr"``: the conditional log hazard ratio ``eta1 - eta0`` (learners
      with coefficients; negative = the treatment helps).

    ``horizon`` and ``tau`` are set on the family (``SurvivalFamily(horizon=2,
    tau=3)``) or passed to :meth:`ite`; the absolute scales need a
    ``baseline`` (:class:`StepBaseline` or :class:`WeibullBaseline`).

    Likelihoods: :meth:`loglik` is the Cox partial log-likelihood (Efron or
    Breslow ties) at ``eta``, or, with ``shape=``, the Weibull log-likelihood
    on the time scale (``survreg``'s); :meth:`score_obs` is its derivative with
    respect to each ``eta_i``.

    Examples
    --------
    >>> import numpy as np
    >>> fam = SurvivalFamily(horizon=2.0, tau=3.0)
    >>> fam.validate(np.array([[1.0, 1], [2.5, 0]]))
    array([[1. , 1. ],
           [2.5, 0. ]])
    >>> base = WeibullBaseline(1.0)
    >>> float(fam.ite(0.0, -0.5, baseline=base)[()].round(4))      # e^-2e^-0.5 - e^-2
    0.162
    >>> float(fam.ite(0.0, -0.5, scale="loghr"))
    -0.5
    """

    name = "survival"
    outcome_columns = ("time", "event")
    scales = ("survdiff", "rmstdiff", "loghr")
    default_scale = "survdiff"
    coef_scales = frozenset({"loghr"})
    link_name = "log"
    #: CLI/scale aliases
    _aliases: ClassVar[dict[str, str]] = {"surv_diff": "survdiff", "rmst_diff": "rmstdiff",
                                          "log_hr": "loghr"}

    def __init__(self, horizon: float | None = None, tau: float | None = None) -> None:
        self.horizon = None if horizon is None else float(horizon)
        self.tau = None if tau is None else float(tau)
        for nm, v in (("horizon", self.horizon), ("tau", self.tau)):
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ModelSpecificationError(f"{nm} must be a positive number, got {v}")

    def __repr__(self) -> str:
        args = [f"{k}={v!r}" for k, v in (("horizon", self.horizon), ("tau", self.tau))
                if v is not None]
        return f"SurvivalFamily({', '.join(args)})"

    # ------------------------------------------------------------------ outcome
    def validate(self, y: Any, *, name: str = "outcome") -> np.ndarray:
        y = _arr(y)
        if y.ndim != 2 or y.shape[1] != 2:
            raise OutcomeError(f"{name}: a time-to-event outcome is an (n, 2) array of time "
                               f"and event (1 = event, 0 = censored); got shape {y.shape}")
        t, d = y[:, 0], y[:, 1]
        if not np.isfinite(t).all():
            i = int(np.flatnonzero(~np.isfinite(t))[0])
            raise OutcomeError(f"{name}: time of row {i} is missing or not finite; remove or "
                               "impute it")
        if (t <= 0).any():
            i = int(np.flatnonzero(t <= 0)[0])
            raise OutcomeError(f"{name}: time of row {i} is {t[i]:g}; follow-up times must be "
                               "> 0 (a time of 0: set a small positive value or drop the row)")
        bad = ~np.isin(d, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise OutcomeError(f"{name}: event of row {i} is {d[i]!r}; code the event 1 = "
                               "event, 0 = censored")
        return y

    def check_scale(self, scale: str | None) -> str:
        if isinstance(scale, str):
            scale = self._aliases.get(scale, scale)
        return super().check_scale(scale)

    def scale_params(self, scale: str | None, horizon: float | None = None,
                     tau: float | None = None) -> float | None:
        """The time point of ``scale`` (horizon for survdiff, tau for rmstdiff)."""
        scale = self.check_scale(scale)
        if scale == "survdiff":
            h = self.horizon if horizon is None else float(horizon)
            if h is None:
                raise ModelSpecificationError(
                    "scale 'survdiff' (difference in survival probability) needs a horizon: "
                    "pass horizon= (CLI: --horizon T), or use scale='rmstdiff' with tau= "
                    "or scale='loghr'")
            return h
        if scale == "rmstdiff":
            t = self.tau if tau is None else float(tau)
            if t is None:
                raise ModelSpecificationError(
                    "scale 'rmstdiff' (difference in restricted mean survival time) needs "
                    "tau: pass tau= (CLI: --tau T)")
            return t
        return None

    # ------------------------------------------------------------------ link
    def link(self, mu):
        return np.log(_arr(mu))

    def inverse_link(self, eta):
        return np.exp(_arr(eta))

    def inverse_link_deriv(self, eta):
        return np.exp(_arr(eta))

    def variance(self, mu):
        return _arr(mu)

    # ------------------------------------------------------------------ likelihood
    def loglik_obs(self, y, eta, shape: float | None = None, **kwargs):
        """Weibull per-observation log-likelihood (time scale) with ``shape``.

        The Cox partial likelihood has no per-observation form: use :meth:`loglik`.
        """
        if shape is None:
            raise ModelSpecificationError(
                "the Cox partial log-likelihood has no per-observation form: call "
                "loglik(y, eta), or pass shape= for the Weibull log-likelihood")
        y = self.validate(y)
        t, d, eta = y[:, 0], y[:, 1], _arr(eta)
        H = np.exp(eta) * t ** shape
        return d * (np.log(shape) + (shape - 1) * np.log(t) + eta) - H

    def loglik(self, y, eta, shape: float | None = None, ties: str = "efron",
               **kwargs) -> float:
        """Cox partial log-likelihood at ``eta`` (``ties``), or the Weibull one (``shape``)."""
        if shape is not None:
            return float(np.sum(self.loglik_obs(y, eta, shape=shape)))
        from ..survival import cox_partial_likelihood

        y = self.validate(y)
        eta = _arr(eta)
        ll, _, _ = cox_partial_likelihood([1.0], eta[:, None], y[:, 0], y[:, 1], ties=ties)
        return float(ll)

    def deviance(self, y, eta, **kwargs) -> float:
        return -2.0 * self.loglik(y, eta, **kwargs)

    def deviance_obs(self, y, eta, shape: float | None = None, **kwargs):
        return -2.0 * self.loglik_obs(y, eta, shape=shape)

    def score_obs(self, y, eta, shape: float | None = None, ties: str = "efron", **kwargs):
        """``d loglik / d eta_i``: Weibull ``d_i - H_i`` with ``shape``; otherwise the
        Cox partial-likelihood score (Breslow ties: the martingale residual)."""
        y = self.validate(y)
        eta = _arr(eta)
        if shape is not None:
            return y[:, 1] - np.exp(eta) * y[:, 0] ** shape
        from ..survival import cox_partial_likelihood

        n = len(eta)
        # the score of a Cox model whose covariates are the n unit vectors, at beta = eta
        _, u, _ = cox_partial_likelihood(eta, np.eye(n), y[:, 0], y[:, 1], ties=ties)
        return np.asarray(u, dtype=float)

    # ------------------------------------------------------------------ ITE scales
    def arm_value(self, eta, scale: str | None = None, *, baseline=None,
                  horizon: float | None = None, tau: float | None = None) -> np.ndarray:
        """S(horizon | eta) (survdiff), RMST(tau | eta) (rmstdiff) or the hazard e^eta."""
        scale = self.check_scale(scale)
        if scale == "loghr":
            return np.exp(_arr(eta))
        tp = self.scale_params(scale, horizon, tau)
        base = self._baseline(baseline)
        base.check(tp, "horizon" if scale == "survdiff" else "tau")
        return base.survival(tp, eta) if scale == "survdiff" else base.rmst(tp, eta)

    def arm_value_deriv(self, eta, scale: str | None = None, *, baseline=None,
                        horizon: float | None = None, tau: float | None = None) -> np.ndarray:
        scale = self.check_scale(scale)
        if scale == "loghr":
            return np.exp(_arr(eta))
        tp = self.scale_params(scale, horizon, tau)
        base = self._baseline(baseline)
        return base.dsurvival(tp, eta) if scale == "survdiff" else base.drmst(tp, eta)

    @staticmethod
    def _baseline(baseline):
        if baseline is None:
            raise ModelSpecificationError(
                "an absolute survival scale needs the baseline hazard (baseline=): use "
                "scale='loghr', or a learner that estimates a baseline (cox, weibull)")
        if isinstance(baseline, dict):
            return baseline_from_dict(baseline)
        return baseline

    def ite(self, eta0, eta1, scale=None, *, baseline=None, horizon=None, tau=None,
            **kwargs):
        scale = self.check_scale(scale)
        if scale == "loghr":
            return _arr(eta1) - _arr(eta0)
        kw = {"baseline": baseline, "horizon": horizon, "tau": tau}
        return self.arm_value(eta1, scale, **kw) - self.arm_value(eta0, scale, **kw)

    def ite_grad(self, eta0, eta1, scale=None, *, baseline=None, horizon=None, tau=None,
                 **kwargs):
        scale = self.check_scale(scale)
        e0, e1 = np.broadcast_arrays(_arr(eta0), _arr(eta1))
        if scale == "loghr":
            return np.full(e0.shape, -1.0), np.ones(e1.shape)
        kw = {"baseline": baseline, "horizon": horizon, "tau": tau}
        return (-self.arm_value_deriv(e0, scale, **kw), self.arm_value_deriv(e1, scale, **kw))

    def ite_from_coef(self, b, V, Z0, Z1, scale=None, extra_V=None, *, baseline=None,
                      horizon=None, tau=None):
        """As :meth:`OutcomeFamily.ite_from_coef` (baseline treated as known);
        ``mu0``/``mu1`` are the arm values (survival probability, RMST or hazard)."""
        b = _arr(b).ravel()
        V = _arr(V)
        Z0 = np.atleast_2d(_arr(Z0))
        Z1 = np.atleast_2d(_arr(Z1))
        eta0, eta1 = Z0 @ b, Z1 @ b
        kw = {"baseline": baseline, "horizon": horizon, "tau": tau}
        d0, d1 = self.ite_grad(eta0, eta1, scale, **kw)
        G = d0[:, None] * Z0 + d1[:, None] * Z1
        out = {"ite": self.ite(eta0, eta1, scale, **kw),
               "se": np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0)),
               "mu0": self.arm_value(eta0, scale, **kw),
               "mu1": self.arm_value(eta1, scale, **kw)}
        if extra_V is not None:
            out["se_pred"] = np.sqrt(np.maximum(
                np.einsum("ij,jk,ik->i", G, V + _arr(extra_V), G), 0.0))
        return out

"""Outcome families: one protocol for the outcome's likelihood, link and ITE scales."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._lazy import lazy_module
from ..errors import ModelSpecificationError, OutcomeError

special = lazy_module("scipy.special")   # imported when first used

__all__ = ["FAMILIES", "BinaryFamily", "ContinuousFamily", "OutcomeFamily", "check_family",
           "get_family"]


def _arr(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=float)


class OutcomeFamily:
    """Protocol of an outcome family (likelihood, link, ITE scales).

    A family says what the outcome is and how everything downstream follows
    from a linear predictor ``eta`` (in the spirit of statsmodels' GLM
    families): the outcome columns it needs (``outcome_columns``; one for
    continuous and binary outcomes, two for time-to-event: ``("time",
    "event")``, as scikit-survival's structured outcome), :meth:`validate`
    (code and check the outcome), the link ``g`` with its inverse and the
    derivative ``dmu/deta``, the variance function, the per-observation
    log-likelihood and deviance, the score with respect to ``eta`` (what MOB's
    ``estfun`` needs: ``estfun = score * X``), and the individualised
    treatment effect (ITE) scales: :meth:`ite` and :meth:`ite_grad` give the
    ITE of a patient and its gradient with respect to the linear predictors
    under control (``eta0``) and treatment (``eta1``), which is all a learner
    or pooler needs for a delta-method variance (:meth:`ite_from_coef`).

    A new family is a small subclass: set ``name``, ``scales`` and
    ``default_scale`` and implement the link, :meth:`loglik_obs` and
    :meth:`ite`/:meth:`ite_grad`; fitting and inference (delta method,
    ``estfun``, deviance from the log-likelihood) are inherited.

    *Time-to-event* slots in as ``SurvivalFamily`` with ``outcome_columns =
    ("time", "event")``, :meth:`validate` returning an (n, 2) array (time > 0,
    event in {0, 1}), a log link on the hazard (``eta`` is the Cox/Weibull
    linear predictor), the partial (Cox) or full (Weibull) log-likelihood, and
    scales ``"surv_diff"`` (S(t*|x, t=1) - S(t*|x, t=0), needs the baseline
    survival at ``t*``), ``"rmst_diff"`` (restricted mean survival time up to
    ``tau``) and ``"loghr"`` (``eta1 - eta0``); the baseline quantities are
    extra arguments of :meth:`ite` and :meth:`ite_grad` (``**kwargs``).  A
    *count* family is Poisson with a log link and an optional offset, scales
    ``"rate_diff"`` and ``"log_rr"``.

    Examples
    --------
    >>> from ipdma.families import get_family
    >>> fam = get_family("binary")
    >>> fam.name, fam.outcome_columns, fam.scales, fam.default_scale
    ('binary', ('y',), ('rd', 'logor'), 'rd')
    >>> float(fam.ite(0.0, 1.0).round(4)), float(fam.ite(0.0, 1.0, scale="logor"))
    (0.2311, 1.0)
    """

    name: ClassVar[str] = "base"
    #: roles of the outcome columns (one column for most families; survival: time, event)
    outcome_columns: ClassVar[tuple[str, ...]] = ("y",)
    #: ITE scales this family offers, and the default
    scales: ClassVar[tuple[str, ...]] = ()
    default_scale: ClassVar[str] = ""
    #: scales that need a model with coefficients (a linear predictor in x)
    coef_scales: ClassVar[frozenset[str]] = frozenset()
    #: name of the link function
    link_name: ClassVar[str] = "identity"

    @property
    def n_outcome_columns(self) -> int:
        """Number of outcome columns (1; 2 for time-to-event)."""
        return len(self.outcome_columns)

    # ------------------------------------------------------------------ outcome
    def validate(self, y: Any, *, name: str = "outcome") -> np.ndarray:
        """The outcome as a float array, checked (raises :class:`~ipdma.errors.OutcomeError`)."""
        y = _arr(y)
        if self.n_outcome_columns == 1:
            y = y.ravel()
        if not np.isfinite(y).all():
            raise OutcomeError(f"{name} has missing or non-finite values: remove or impute them")
        return y

    # ------------------------------------------------------------------ link
    def link(self, mu: Any) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def inverse_link(self, eta: Any) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def inverse_link_deriv(self, eta: Any) -> np.ndarray:  # pragma: no cover - interface
        """``dmu / deta`` at ``eta``."""
        raise NotImplementedError

    def variance(self, mu: Any) -> np.ndarray:  # pragma: no cover - interface
        """Variance function ``V(mu)`` (times the dispersion: Var(y) = phi V(mu))."""
        raise NotImplementedError

    # ------------------------------------------------------------------ likelihood
    def loglik_obs(self, y: Any, eta: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover
        """Per-observation log-likelihood at linear predictor ``eta``."""
        raise NotImplementedError

    def loglik(self, y: Any, eta: Any, **kwargs: Any) -> float:
        return float(np.sum(self.loglik_obs(y, eta, **kwargs)))

    def deviance_obs(self, y: Any, eta: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def deviance(self, y: Any, eta: Any, **kwargs: Any) -> float:
        return float(np.sum(self.deviance_obs(y, eta, **kwargs)))

    def score_obs(self, y: Any, eta: Any, **kwargs: Any) -> np.ndarray:  # pragma: no cover
        """``d loglik_i / d eta_i`` (per observation)."""
        raise NotImplementedError

    def estfun(self, y: Any, eta: Any, X: Any, **kwargs: Any) -> np.ndarray:
        """Score contributions w.r.t. the coefficients of ``eta = X b``: ``score_i * x_i``."""
        return self.score_obs(y, eta, **kwargs)[:, None] * _arr(X)

    # ------------------------------------------------------------------ ITE scales
    def check_scale(self, scale: str | None) -> str:
        """The scale name (``None``: the default); unknown scales raise."""
        if scale is None:
            return self.default_scale
        if scale not in self.scales:
            raise ModelSpecificationError(
                f"scale={scale!r} is not an ITE scale of the {self.name} family; choose "
                f"{' or '.join(map(repr, self.scales))}")
        return scale

    def ite(self, eta0: Any, eta1: Any, scale: str | None = None,
            **kwargs: Any) -> np.ndarray:  # pragma: no cover - interface
        """ITE on ``scale`` from the linear predictors under control/treatment."""
        raise NotImplementedError

    def ite_grad(self, eta0: Any, eta1: Any, scale: str | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        """``(d ITE / d eta0, d ITE / d eta1)``."""
        raise NotImplementedError

    def ite_from_mean(self, mu0: Any, mu1: Any, scale: str | None = None) -> np.ndarray:
        """ITE from the expected outcomes under each arm (scales that need no coefficients)."""
        scale = self.check_scale(scale)
        if scale in self.coef_scales:
            raise ModelSpecificationError(
                f"the {scale!r} scale needs a model with coefficients (a linear predictor): "
                f"use scale={self.default_scale!r} for this learner")
        return self.ite(self.link(mu0), self.link(mu1), scale)

    def ite_from_coef(self, b: Any, V: Any, Z0: Any, Z1: Any, scale: str | None = None,
                      extra_V: Any = None) -> dict[str, np.ndarray]:
        """ITE with a delta-method SE from coefficients ``b`` with covariance ``V``.

        ``Z0``/``Z1`` are the design rows of each patient under control/treatment
        (``eta_a = Z_a b``).  The gradient is ``g = dITE/deta0 z0 + dITE/deta1 z1``
        and ``se = sqrt(g'Vg)``; with ``extra_V`` (e.g. the between-trial Psi)
        also ``se_pred = sqrt(g'(V + extra_V)g)``.  Returns ``ite``, ``se``,
        ``mu0``, ``mu1`` (``se_pred`` when asked).

        Examples
        --------
        >>> import numpy as np
        >>> fam = BinaryFamily()
        >>> Z0 = np.array([[1.0, 0.0]]); Z1 = np.array([[1.0, 1.0]])
        >>> r = fam.ite_from_coef(np.array([0.0, 1.0]), np.eye(2) * 0.01, Z0, Z1)
        >>> float(r["ite"][0].round(4)), float(r["se"][0].round(4))
        (0.2311, 0.0204)
        """
        b = _arr(b).ravel()
        V = _arr(V)
        Z0 = np.atleast_2d(_arr(Z0))
        Z1 = np.atleast_2d(_arr(Z1))
        eta0, eta1 = Z0 @ b, Z1 @ b
        d0, d1 = self.ite_grad(eta0, eta1, scale)
        G = d0[:, None] * Z0 + d1[:, None] * Z1
        out = {"ite": self.ite(eta0, eta1, scale),
               "se": np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0)),
               "mu0": self.inverse_link(eta0), "mu1": self.inverse_link(eta1)}
        if extra_V is not None:
            out["se_pred"] = np.sqrt(np.maximum(
                np.einsum("ij,jk,ik->i", G, V + _arr(extra_V), G), 0.0))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutcomeFamily) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class ContinuousFamily(OutcomeFamily):
    """Continuous outcome: normal likelihood, identity link, ITE = mean difference.

    ``loglik_obs`` takes the residual variance ``sigma2`` (default 1: then
    the score is the residual, which is what MOB's linear-model ``estfun``
    uses).

    Examples
    --------
    >>> import numpy as np
    >>> fam = ContinuousFamily()
    >>> fam.ite(np.array([1.0]), np.array([3.0])), fam.ite_grad(0.0, 0.0)
    (array([2.]), (array(-1.), array(1.)))
    >>> fam.score_obs(np.array([2.0]), np.array([1.5]))
    array([0.5])
    """

    name = "continuous"
    scales = ("difference",)
    default_scale = "difference"
    link_name = "identity"

    def link(self, mu):
        return _arr(mu)

    def inverse_link(self, eta):
        return _arr(eta)

    def inverse_link_deriv(self, eta):
        return np.ones_like(_arr(eta))

    def variance(self, mu):
        return np.ones_like(_arr(mu))

    def loglik_obs(self, y, eta, sigma2: float = 1.0):
        r = _arr(y) - _arr(eta)
        return -0.5 * (np.log(2 * np.pi * sigma2) + r ** 2 / sigma2)

    def deviance_obs(self, y, eta, **kwargs):
        return (_arr(y) - _arr(eta)) ** 2

    def score_obs(self, y, eta, sigma2: float = 1.0):
        return (_arr(y) - _arr(eta)) / sigma2

    def ite(self, eta0, eta1, scale=None, **kwargs):
        self.check_scale(scale)
        return _arr(eta1) - _arr(eta0)

    def ite_grad(self, eta0, eta1, scale=None, **kwargs):
        self.check_scale(scale)
        e0, e1 = np.broadcast_arrays(_arr(eta0), _arr(eta1))
        return np.full(e0.shape, -1.0), np.ones(e1.shape)


class BinaryFamily(OutcomeFamily):
    """Binary outcome (1 = event): Bernoulli likelihood, logit link.

    ITE scales: ``"rd"`` (default), the risk difference
    ``P(y=1 | x, t=1) - P(y=1 | x, t=0) = expit(eta1) - expit(eta0)`` with
    gradient ``(-p0(1-p0), p1(1-p1))``; ``"logor"``, the conditional log
    odds ratio ``eta1 - eta0`` (needs a model with coefficients).

    Examples
    --------
    >>> import numpy as np
    >>> fam = BinaryFamily()
    >>> fam.validate([0, 1, 1])
    array([0., 1., 1.])
    >>> fam.inverse_link(np.array([0.0])), fam.deviance(np.array([1.0]), np.array([0.0]))
    (array([0.5]), 1.3862943611198906)
    >>> [g.round(4).tolist() for g in fam.ite_grad(np.array([0.0]), np.array([1.0]))]
    [[-0.25], [0.1966]]
    """

    name = "binary"
    scales = ("rd", "logor")
    default_scale = "rd"
    coef_scales = frozenset({"logor"})
    link_name = "logit"

    def validate(self, y, *, name="outcome"):
        y = super().validate(y, name=name)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            raise OutcomeError(f"{name} must be coded 0/1 (1 = event) for the binary family; "
                               f"found {y[bad][0]!r}: recode it, or use the continuous family")
        return y

    def link(self, mu):
        return special.logit(_arr(mu))

    def inverse_link(self, eta):
        return special.expit(_arr(eta))

    def inverse_link_deriv(self, eta):
        p = special.expit(_arr(eta))
        return p * (1 - p)

    def variance(self, mu):
        mu = _arr(mu)
        return mu * (1 - mu)

    def loglik_obs(self, y, eta, **kwargs):
        y, eta = _arr(y), _arr(eta)
        # y*eta - log(1 + exp(eta)), stable
        return y * eta - np.logaddexp(0.0, eta)

    def deviance_obs(self, y, eta, **kwargs):
        return -2.0 * self.loglik_obs(y, eta)   # saturated log-likelihood is 0 for 0/1 data

    def score_obs(self, y, eta, **kwargs):
        return _arr(y) - special.expit(_arr(eta))

    def ite(self, eta0, eta1, scale=None, **kwargs):
        scale = self.check_scale(scale)
        if scale == "logor":
            return _arr(eta1) - _arr(eta0)
        return special.expit(_arr(eta1)) - special.expit(_arr(eta0))

    def ite_grad(self, eta0, eta1, scale=None, **kwargs):
        scale = self.check_scale(scale)
        e0, e1 = np.broadcast_arrays(_arr(eta0), _arr(eta1))
        if scale == "logor":
            return np.full(e0.shape, -1.0), np.ones(e1.shape)
        p0, p1 = special.expit(e0), special.expit(e1)
        return -p0 * (1 - p0), p1 * (1 - p1)


FAMILIES: dict[str, type[OutcomeFamily]] = {
    ContinuousFamily.name: ContinuousFamily,
    BinaryFamily.name: BinaryFamily,
}


def _register_survival() -> None:
    from ._survival import SurvivalFamily

    FAMILIES.setdefault(SurvivalFamily.name, SurvivalFamily)


def get_family(family: str | OutcomeFamily, **options: Any) -> OutcomeFamily:
    """A family instance from its name (``"continuous"``, ``"binary"``, ``"survival"``)
    or an instance.  ``options`` go to the family's constructor (survival:
    ``horizon=``, ``tau=``).

    Examples
    --------
    >>> get_family("binary")
    BinaryFamily()
    >>> get_family("poisson")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ipdma.errors.ModelSpecificationError: unknown outcome family 'poisson': ...
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(family, OutcomeFamily):
        return family
    if isinstance(family, type) and issubclass(family, OutcomeFamily):
        return family(**options)
    if isinstance(family, str) and family in FAMILIES:
        return FAMILIES[family](**options)
    raise ModelSpecificationError(
        f"unknown outcome family {family!r}: choose {' or '.join(map(repr, FAMILIES))}, or "
        "pass an OutcomeFamily instance")


def check_family(component: Any, family: str | OutcomeFamily) -> OutcomeFamily:
    """Raise unless ``component`` (learner, pooler, node model) supports ``family``.

    ``component.families`` is the set of family names it supports.  Returns the
    family instance.

    Examples
    --------
    >>> class Learner:
    ...     name = "ols"
    ...     families = frozenset({"continuous"})
    >>> check_family(Learner(), "continuous")
    ContinuousFamily()
    >>> check_family(Learner(), "binary")
    Traceback (most recent call last):
        ...
    ipdma.errors.ModelSpecificationError: 'ols' supports continuous outcomes only; the outcome is binary
    """
    fam = get_family(family)
    supported = frozenset(getattr(component, "families", frozenset()))
    if fam.name not in supported:
        what = getattr(component, "name", type(component).__name__)
        raise ModelSpecificationError(
            f"{what!r} supports {', '.join(sorted(supported)) or 'no'} outcomes only; the "
            f"outcome is {fam.name}")
    return fam

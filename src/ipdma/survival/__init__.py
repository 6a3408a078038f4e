"""Time-to-event (survival) models.

* :class:`WeibullRegression` - Weibull accelerated-failure-time regression (R's
  ``survreg(dist = "weibull")``): coefficients and Log(scale) by Newton-Raphson, vcov,
  log-likelihood, predicted survival, quantiles, RMST, hazard and time ratios.
* :func:`fit_weibull` - the same fit on arrays (used by the MOB node model
  :class:`ipdma.trees.WeibullModel`).
* :func:`weibull_survival`, :func:`weibull_quantile`, :func:`weibull_rmst` - closed forms.
"""

from ._weibull import (
    WeibullFit,
    WeibullRegression,
    check_survival_outcome,
    fit_weibull,
    weibull_quantile,
    weibull_rmst,
    weibull_survival,
)

__all__ = [
    "WeibullFit",
    "WeibullRegression",
    "check_survival_outcome",
    "fit_weibull",
    "weibull_quantile",
    "weibull_rmst",
    "weibull_survival",
]

"""ipdma.survival -- time-to-event numerics shared by prognosis, nmr, ite and trees.

* :class:`SurvivalOutcome`, :func:`survival_outcome`, :func:`check_horizon` --
  the validated (time, event) outcome and its named errors.
* :func:`kaplan_meier`, :func:`median_followup` -- Kaplan-Meier with Greenwood
  SE; reverse Kaplan-Meier median follow-up.
* :class:`CoxPH`, :func:`fit_cox`, :func:`cox_partial_likelihood` -- Cox
  proportional hazards (Efron/Breslow ties, strata, weights, offsets) =
  ``survival::coxph``; Breslow/Efron baseline hazards, S(t | x).
* :class:`CoxNet`, :func:`coxnet_path` -- lasso / elastic-net Cox =
  ``glmnet(family = "cox")``.
* :func:`concordance` -- Harrell's C with its infinitesimal-jackknife SE
  (= ``survival::concordance``).
* :func:`calibration_at`, :func:`calibration_slope` -- calibration of predicted
  survival at a horizon.
* :class:`WeibullRegression`, :func:`fit_weibull` -- Weibull accelerated-failure-time
  regression (= ``survreg(dist = "weibull")``): coefficients and Log(scale), vcov,
  log-likelihood, predicted survival, quantiles, RMST, hazard and time ratios (also the
  MOB node model :class:`ipdma.trees.WeibullModel`); :func:`weibull_survival`,
  :func:`weibull_quantile`, :func:`weibull_rmst` -- closed forms.
"""

from ._calibration import calibration_at, calibration_slope
from ._concordance import ConcordanceResult, concordance
from ._cox import (
    CoxFit,
    CoxPH,
    baseline_cumhaz,
    baseline_hazard,
    cox_partial_likelihood,
    cumhaz_at,
    fit_cox,
)
from ._km import KaplanMeier, kaplan_meier, median_followup
from ._outcome import SurvivalOutcome, check_horizon, code_event, survival_outcome
from ._penalized import CoxNet, coxnet_lambda_max, coxnet_path
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
    "ConcordanceResult",
    "CoxFit",
    "CoxNet",
    "CoxPH",
    "KaplanMeier",
    "SurvivalOutcome",
    "WeibullFit",
    "WeibullRegression",
    "baseline_cumhaz",
    "baseline_hazard",
    "calibration_at",
    "calibration_slope",
    "check_horizon",
    "check_survival_outcome",
    "code_event",
    "concordance",
    "cox_partial_likelihood",
    "coxnet_lambda_max",
    "coxnet_path",
    "cumhaz_at",
    "fit_cox",
    "fit_weibull",
    "kaplan_meier",
    "median_followup",
    "survival_outcome",
    "weibull_quantile",
    "weibull_rmst",
    "weibull_survival",
]

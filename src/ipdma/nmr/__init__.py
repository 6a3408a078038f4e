"""Risk-based IPD network meta-regression (stage 2 of the two-stage prediction model).

:class:`RiskNMR` fits ``logit p = u_j + d_t + (g0 + gamma_t) (R - Rbar_j)`` to IPD
from a network of randomised trials, with a Bayesian (NumPyro NUTS) or a
maximum-likelihood engine, common or random treatment effects, and returns a
:class:`RiskNMRResult` with absolute predictions (probability under every
treatment, absolute risk differences, odds ratios, probability of being best)
along baseline risk or for individual patients.

With ``fit(..., time=, event=)`` the outcome is a time to event: stage 2 is a Cox
(or Weibull) network meta-regression with trial-stratified baselines and the result a
:class:`SurvivalRiskNMRResult` (survival at a horizon, RMST, their differences vs the
reference, hazard ratios, P(best)).
"""

from ._crossnma import CrossNMA, CrossNMAResult
from ._model import RiskNMR, RiskNMRResult
from ._survival import SurvivalRiskNMRResult

__all__ = ["CrossNMA", "CrossNMAResult", "RiskNMR", "RiskNMRResult", "SurvivalRiskNMRResult"]

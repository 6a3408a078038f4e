"""ipdma.prognosis -- stage 1 of the risk-based two-stage NMR: the baseline-risk
(prognostic) model, its internal validation and plots.

* :class:`RiskModel` -- logistic prognostic model: ``glm``, penalised ML
  (``rms::lrm`` penalty), LASSO / elastic net (``glmnet``), Bayesian LASSO
  (NumPyro); trial effects none / fixed / random; complete case or MICE.
* :class:`ValidationResult` -- bootstrap optimism correction and IECV.
* :func:`c_statistic`, :func:`calibration`, :func:`brier`, :func:`performance`, :func:`performance_se`;
  :func:`calibration_stats`, :func:`calibration_by_trial`, :func:`calibration_summary`
  (calibration intercept, CITL, slope with SEs, O/E; per trial and pooled).
* :class:`SurvivalRiskModel` -- Cox / penalised Cox baseline-risk model for
  time-to-event outcomes (numerics in :mod:`ipdma.survival`), same API.
"""

from ._metrics import (
    METRICS,
    brier,
    c_statistic,
    c_statistic_se,
    calibration,
    calibration_by_trial,
    calibration_stats,
    calibration_summary,
    performance,
    performance_se,
)
from ._model import RiskModel
from ._plots import calibration_table, plot_calibration, plot_risk_distribution
from ._survival import SURVIVAL_METRICS, SurvivalRiskModel, SurvivalValidationResult
from ._validation import ValidationResult, validate

__all__ = [
    "METRICS",
    "SURVIVAL_METRICS",
    "RiskModel",
    "SurvivalRiskModel",
    "SurvivalValidationResult",
    "ValidationResult",
    "brier",
    "c_statistic",
    "c_statistic_se",
    "calibration",
    "calibration_by_trial",
    "calibration_stats",
    "calibration_summary",
    "calibration_table",
    "performance",
    "performance_se",
    "plot_calibration",
    "plot_risk_distribution",
    "validate",
]

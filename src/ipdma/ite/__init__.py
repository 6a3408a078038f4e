"""Two-stage IPD meta-analysis for individualised treatment effects (Mainetti et al.).

Stage 1 fits a learner in every trial (:mod:`ipdma.ite` learners: ``ols``, ``lasso``,
``ridge``, ``elasticnet``, ``xgboost``, ``causal-forest``, ``bayes-lm``,
``bayes-lasso``, ``sklearn-s``, ``sklearn-t``); stage 2 pools them (``mvma``,
``weighted-bootstrap``, ``weighted-aux-ols``, ``bayes-mvma``, ``posterior-mix``).
Sites can run stage 1 alone and export a :class:`SiteSummary` (JSON/npz, no
patient rows); :func:`pool_sites` pools the files.  :func:`compare_methods` ranks
learner+pooler pairs by leave-one-trial-out validation.
"""

from ._learners import (
    LEARNERS,
    REDUCED_XGBOOST_GRID,
    BayesLassoLearner,
    BayesLMLearner,
    CausalForestLearner,
    ElasticNetLearner,
    ITELearner,
    LassoLearner,
    OLSLearner,
    RidgeLearner,
    SklearnSLearner,
    SklearnTLearner,
    XGBoostSLearner,
    aux_ols_variance,
    get_learner,
    interaction_design,
)
from ._poolers import (
    POOLERS,
    BayesMVMAPooler,
    ITEPooler,
    MVMAPooler,
    PooledITE,
    PosteriorMixPooler,
    WeightedAuxOLSPooler,
    WeightedBootstrapPooler,
    WeightedITEPooler,
    check_pair,
    feasible_pairs,
    get_pooler,
)
from ._site import SiteSummary, read_site_summary
from ._twostage import ITEData, TwoStageITE, fit_site, pool_sites, prepare_ite_data, trial_seeds
from ._validation import (
    MethodComparison,
    calibration_for_benefit,
    compare_methods,
    loto_predictions,
    tau_risk,
)

__all__ = [
    "LEARNERS",
    "POOLERS",
    "REDUCED_XGBOOST_GRID",
    "BayesLMLearner",
    "BayesLassoLearner",
    "BayesMVMAPooler",
    "CausalForestLearner",
    "ElasticNetLearner",
    "ITEData",
    "ITELearner",
    "ITEPooler",
    "LassoLearner",
    "MVMAPooler",
    "MethodComparison",
    "OLSLearner",
    "PooledITE",
    "PosteriorMixPooler",
    "RidgeLearner",
    "SiteSummary",
    "SklearnSLearner",
    "SklearnTLearner",
    "TwoStageITE",
    "WeightedAuxOLSPooler",
    "WeightedBootstrapPooler",
    "WeightedITEPooler",
    "XGBoostSLearner",
    "aux_ols_variance",
    "calibration_for_benefit",
    "check_pair",
    "compare_methods",
    "feasible_pairs",
    "fit_site",
    "get_learner",
    "get_pooler",
    "interaction_design",
    "loto_predictions",
    "pool_sites",
    "prepare_ite_data",
    "read_site_summary",
    "tau_risk",
    "trial_seeds",
]

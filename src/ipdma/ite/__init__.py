"""Two-stage IPD meta-analysis for individualised treatment effects (Mainetti et al.).

Stage 1 fits a learner in every trial (:mod:`ipdma.ite` learners: ``ols``, ``lasso``,
``ridge``, ``elasticnet``, ``xgboost``, ``causal-forest``, ``bayes-lm``,
``bayes-lasso``, ``sklearn-s``, ``sklearn-t``); stage 2 pools them (``mvma``,
``weighted-bootstrap``, ``weighted-aux-ols``, ``bayes-mvma``, ``posterior-mix``).
Binary outcomes (inferred from a 0/1 outcome; :mod:`ipdma.families`): learners
``logistic`` (= R ``glm``), ``logistic-lasso``/``-ridge``/``-elasticnet`` (glmnet
``family = "binomial"``, ``foldid``), ``bayes-logistic`` (Polya-Gamma Gibbs), and
``xgboost``, ``sklearn-s``/``-t``, ``causal-forest`` on the risk scale; ITE = risk
difference (``scale="rd"``) or conditional log odds ratio (``"logor"``); predictions
add ``p0``/``p1``; :func:`c_for_benefit` and calibration for benefit validate them.
Sites can run stage 1 alone and export a :class:`SiteSummary` (JSON/npz, no
patient rows); :func:`pool_sites` pools the files.  :func:`compare_methods` ranks
learner+pooler pairs by leave-one-trial-out validation.
Time-to-event outcomes (``IPD(time=, event=)``): learners ``cox``, ``weibull``,
``cox-lasso``/``cox-ridge``, ``xgboost-cox`` (gradient-boosted Cox, S- or T-learner); ITE = difference in S(horizon) (``scale="survdiff"``,
``horizon=``), in RMST up to ``tau`` (``"rmstdiff"``) or the conditional log hazard
ratio (``"loghr"``); :func:`compare_methods` scores them with
:func:`survival_c_for_benefit` and :func:`survival_calibration_for_benefit`.
"""

from ._bootstrap_store import PredictedBootstrap
from ._dask import dask_client
from ._defaults import default_pooler
from ._glm_learners import (
    BayesLogisticLearner,
    ElasticNetLogisticLearner,
    LassoLogisticLearner,
    LogisticLearner,
    RidgeLogisticLearner,
)
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
    learner_available,
)
from ._network_federation import NetworkSiteSummary, fit_network_site
from ._network_validate import network_calibration_for_benefit
from ._poolers import (
    POOLERS,
    BayesMVMAPooler,
    ITEPooler,
    MVMAPooler,
    PooledITE,
    PosteriorMixPooler,
    WeightedAuxOLSPooler,
    WeightedBootstrapPooler,
    WeightedForestPooler,
    WeightedITEPooler,
    check_pair,
    feasible_pairs,
    get_pooler,
)
from ._site import SiteSummary, read_site_summary
from ._survival_learners import (
    CoxLassoLearner,
    CoxLearner,
    CoxRidgeLearner,
    WeibullLearner,
)
from ._survival_ml import XGBoostCoxLearner
from ._survival_poolers import UnweightedITEPooler
from ._survival_validation import survival_c_for_benefit, survival_calibration_for_benefit
from ._twostage import (
    ITEData,
    TwoStageITE,
    fit_methods,
    fit_site,
    parse_methods,
    pool_sites,
    prepare_ite_data,
    trial_seeds,
)
from ._validation import (
    CForBenefit,
    MethodComparison,
    c_for_benefit,
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
    "BayesLogisticLearner",
    "BayesMVMAPooler",
    "CForBenefit",
    "CausalForestLearner",
    "CoxLassoLearner",
    "CoxLearner",
    "CoxRidgeLearner",
    "ElasticNetLearner",
    "ElasticNetLogisticLearner",
    "ITEData",
    "ITELearner",
    "ITEPooler",
    "LassoLearner",
    "LassoLogisticLearner",
    "LogisticLearner",
    "MVMAPooler",
    "MethodComparison",
    "NetworkSiteSummary",
    "OLSLearner",
    "PooledITE",
    "PosteriorMixPooler",
    "PredictedBootstrap",
    "RidgeLearner",
    "RidgeLogisticLearner",
    "SiteSummary",
    "SklearnSLearner",
    "SklearnTLearner",
    "TwoStageITE",
    "UnweightedITEPooler",
    "WeibullLearner",
    "WeightedAuxOLSPooler",
    "WeightedBootstrapPooler",
    "WeightedForestPooler",
    "WeightedITEPooler",
    "XGBoostCoxLearner",
    "XGBoostSLearner",
    "aux_ols_variance",
    "c_for_benefit",
    "calibration_for_benefit",
    "check_pair",
    "compare_methods",
    "dask_client",
    "default_pooler",
    "feasible_pairs",
    "fit_methods",
    "fit_network_site",
    "fit_site",
    "get_learner",
    "get_pooler",
    "interaction_design",
    "learner_available",
    "loto_predictions",
    "network_calibration_for_benefit",
    "parse_methods",
    "pool_sites",
    "prepare_ite_data",
    "read_site_summary",
    "survival_c_for_benefit",
    "survival_calibration_for_benefit",
    "tau_risk",
    "trial_seeds",
]

"""The pooler used when none is given: ``mvma`` for linear learners, else
``weighted-aux-ols`` (posterior learners: ``bayes-mvma``)."""

from __future__ import annotations

from typing import Any

__all__ = ["default_pooler"]


def default_pooler(learner: Any, family: str | None = None) -> str:
    """The default pooler of a learner (name or instance).

    * learners with coefficients and their covariance (``ols``, ``logistic``):
      ``"mvma"``, the multivariate meta-analysis of the treatment coefficients;
    * Bayesian learners (``bayes-lm``, ``bayes-lasso``, ``bayes-logistic``):
      ``"bayes-mvma"``, which pools their posteriors;
    * every other learner (penalised regressions, XGBoost, causal forest,
      scikit-learn S/T): ``"weighted-aux-ols"``, the inverse-variance weighting
      with the auxiliary full-interaction GLM's variances, which beats the
      bootstrap weights for the ML learners in the paper's and our simulation
      study at a fraction of the cost.

    Examples
    --------
    >>> default_pooler("ols"), default_pooler("xgboost"), default_pooler("lasso")
    ('mvma', 'weighted-aux-ols', 'weighted-aux-ols')
    >>> default_pooler("bayes-lm"), default_pooler("logistic")
    ('bayes-mvma', 'mvma')
    """
    from ._learners import LEARNERS, ITELearner
    from ._poolers import POOLERS, _pair_ok

    cls = type(learner) if isinstance(learner, ITELearner) else LEARNERS.get(learner)
    if cls is None:
        return "mvma"   # an unknown name: get_learner raises its own error
    fams = [family] if family is not None else sorted(cls.families)
    for name in ("mvma", "bayes-mvma", "weighted-aux-ols"):
        if any(_pair_ok(cls, POOLERS[name](), f) for f in fams):
            return name
    return "weighted-aux-ols"

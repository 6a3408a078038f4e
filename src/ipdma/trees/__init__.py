"""Subgroup identification by model-based recursive partitioning.

* :class:`MOB` - model-based recursive partitioning (partykit's ``lmtree``/``glmtree``) with
  pluggable node models (:class:`LinearModel`, :class:`LogisticModel`, or any
  :class:`NodeModel` subclass; :class:`WeibullModel` for time-to-event outcomes,
  ``fit(..., time=, event=)``), score-based instability tests (sup-LM with Hansen's 1997
  p-values, chi-square LM for factors), exhaustive split search and AIC/BIC post-pruning.
* :class:`MetaMOB` - MOB with trial random effects (metaMOB / GLMM trees,
  ``glmertree::lmertree`` and ``glmertree(family = binomial)``), built on :class:`MOB`,
  :class:`LinearMixedModel` and :class:`LogisticMixedModel` (Laplace, ``glmer``).
* :func:`suplm_pvalue`, :func:`suplm_logpvalue`, :func:`suplm_lambda` - the sup-LM p-value
  function.
"""

from ._glmm import GLMMResults, LogisticMixedModel
from ._lmm import LinearMixedModel, LMMResults
from ._metamob import MetaMOB
from ._mob import MOB, MOBNode, MOBSplit, PartitionVariable
from ._nodemodels import LinearModel, LogisticModel, NodeFit, NodeModel, get_node_model
from ._suplm import (
    adjust_pvalues,
    chi2_logsf,
    decorrelated_process,
    suplm_lambda,
    suplm_logpvalue,
    suplm_pvalue,
)
from ._weibullnode import WeibullModel

__all__ = [
    "MOB",
    "GLMMResults",
    "LMMResults",
    "LinearMixedModel",
    "LinearModel",
    "LogisticMixedModel",
    "LogisticModel",
    "MOBNode",
    "MOBSplit",
    "MetaMOB",
    "NodeFit",
    "NodeModel",
    "PartitionVariable",
    "WeibullModel",
    "adjust_pvalues",
    "chi2_logsf",
    "decorrelated_process",
    "get_node_model",
    "suplm_lambda",
    "suplm_logpvalue",
    "suplm_pvalue",
]

"""Calculator part of a network TwoStageITE with a weighted pooler (``weighted-aux-ols``,
``weighted-bootstrap``): each trial's stage-1 fit as data.

At a new patient x (c = (1, x)), trial l gives the contrasts of its arms vs its own
reference arm and their covariance; the page then repeats the per-patient network GLS of
:func:`ipdma.ite._network_ite.network_gls` (common effect, or the generalised
DerSimonian-Laird tau^2 with the consistency structure).  Per trial the spec holds

Matrices are packed as exact little-endian float64 (``{"f64": ..., "shape": [r, c]}``;
symmetric ones as their upper triangle, ``{"sym": ..., "n": n}``) to keep the page small.

* ``D``: the rows mapping the trial's contrasts onto the basic contrasts;
* ``est``: ``{"theta": (m-1, q)}`` -- contrast k is ``c' theta_k`` (continuous outcome,
  or the log odds ratio) -- or ``{"b0": ..., "b1": ...}`` -- the linear predictors of the
  trial's reference arm and of arm k, ``expit(c' b1_k) - expit(c' b0_k)`` (risk
  difference) -- or ``{"trees": ...}``: the native XGBoost S-learner of the trial
  (continuous outcome, ``weighted-aux-ols``), features (arm dummies, x), evaluated in
  float32 as XGBoost does (:func:`ipdma.calculator._spec._xgb_trees`);
* ``cov``: ``{"S": ((m-1) q, (m-1) q)}`` -- covariance ``c' S_kj c`` (the auxiliary
  full-interaction model's, or the covariance of the bootstrap refits' coefficients,
  ddof 1: the bootstrap covariance of the predicted contrasts is that quadratic form) --
  or ``{"coef", "vcov", "p"}``: the auxiliary logistic model on the risk-difference
  scale (delta method, as :func:`ipdma.ite._network_ite._block_contrasts`).

Learners whose per-trial fit is not a linear predictor (scikit-learn models,
the causal forest, ``bayes-logistic``'s posterior-mean risks) are refused with the list
of the exportable set-ups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from ._spec import _f64

__all__ = ["WEIGHTED_NETWORK_LEARNERS", "weighted_network_part"]

#: learners whose per-trial network fit the calculator exports with a weighted pooler
WEIGHTED_NETWORK_LEARNERS = ("ols", "lasso", "ridge", "elasticnet", "bayes-lm", "bayes-lasso",
                             "logistic", "logistic-lasso", "logistic-ridge",
                             "logistic-elasticnet", "xgboost")


def _mat(a) -> dict:
    a = np.atleast_2d(np.asarray(a, dtype=float))
    return {"f64": _f64(a.ravel()), "shape": [int(a.shape[0]), int(a.shape[1])]}


def _sym(a) -> dict:
    a = np.asarray(a, dtype=float)
    if not np.array_equal(a, a.T):      # keep the exact matrix when it is not symmetric
        return _mat(a)
    return {"sym": _f64(a[np.triu_indices(len(a))]), "n": len(a)}


def _refuse(model, why: str):
    from ._spec_network import EXPORTABLE_NETWORK_ITE

    raise ModelSpecificationError(
        f"TwoStageITE({model.name!r}) on a treatment network cannot be exported to a "
        f"calculator: {why}. Exportable for networks: {EXPORTABLE_NETWORK_ITE}")


def _pairwise_linear(lrn, binary: bool, scale: str, model) -> tuple[np.ndarray, ...]:
    """One two-arm learner of a per-contrast fit: theta (q,) or (b0, b1) on the rd scale."""
    from ..ite._glm_learners import _PenalizedLogistic
    from ..ite._learners import BayesLassoLearner, OLSLearner, _PenalizedLinear

    if binary:
        if not isinstance(lrn, _PenalizedLogistic):
            _refuse(model, f"the per-trial fits of learner {lrn.name!r} are not a linear "
                           "predictor the page can evaluate")
        coef = np.asarray(lrn.coef_, dtype=float)
        p = (coef.size - 2) // 2
        b0 = np.r_[coef[0], coef[2:2 + p]]
        b1 = np.r_[coef[0] + coef[1], coef[2:2 + p] + coef[2 + p:]]
        return (b1 - b0,) if scale == "logor" else (b0, b1)
    if not isinstance(lrn, (_PenalizedLinear, BayesLassoLearner, OLSLearner)):
        _refuse(model, f"the per-trial fits of learner {lrn.name!r} are not a linear "
                       "predictor the page can evaluate")
    return (np.asarray(lrn.theta_, dtype=float),)


def _est_part(obj, joint: bool, binary: bool, scale: str, model) -> dict:
    """The contrast predictor of a trial fit (a NetworkBlock when ``joint``, else the
    per-contrast model)."""
    rd = binary and scale == "rd"
    if joint:
        theta = np.asarray(obj.theta, dtype=float)
        if not rd:
            return {"theta": theta}
        coef = np.asarray(obj.extra["coef"], dtype=float)
        q = theta.shape[1]
        b0 = np.tile(coef[:q], (len(theta), 1))
        return {"b0": b0, "b1": coef[:q][None, :] + theta}
    models = getattr(obj, "models", None)
    if models is None:
        if getattr(obj, "kind", None) == "S" and getattr(obj, "booster_", None) is not None \
                and not binary:
            # native XGBoost S-learner: the trees as data, arms as 0/1 dummy features
            from ._spec import _xgb_trees

            return {"trees": _xgb_trees(obj.booster_)}
        _refuse(model, "its per-trial fits are not linear predictors (native machine-learning "
                       f"fit of learner {model.learner_.name!r})")
    parts = [_pairwise_linear(m, binary, scale, model) for m in models]
    if rd:
        return {"b0": np.vstack([p[0] for p in parts]), "b1": np.vstack([p[1] for p in parts])}
    return {"theta": np.vstack([p[0] for p in parts])}


def _boot_cov(s, joint: bool, binary: bool, scale: str, model) -> np.ndarray:
    """Covariance (ddof 1) of the bootstrap refits' contrast coefficients, ((m-1) q)^2."""
    from ..ite._bootstrap_store import PredictedBootstrap

    if binary and scale == "rd":
        _refuse(model, "pooler 'weighted-bootstrap' on the risk-difference scale weights "
                       "by the bootstrap variance of non-linear predictions")
    if model.learner_.name == "xgboost":
        _refuse(model, "pooler 'weighted-bootstrap' with learner 'xgboost' weights by the "
                       "bootstrap variance of every refit's trees")
    if s.boot is None or isinstance(s.boot, PredictedBootstrap):
        _refuse(model, "its bootstrap refits were reduced to their predictions at the "
                       "query points given to fit (X_query=..., or the --predict patients "
                       "of `ipdma ite`); refit without them to export a calculator")
    draws = np.stack([_est_part(b, joint, binary, scale, model)["theta"]
                      .ravel() for b in s.boot])
    return np.atleast_2d(np.cov(draws, rowvar=False, ddof=1))


def weighted_network_part(model) -> dict[str, Any]:
    """The ``model`` part of the page for a network TwoStageITE with a weighted pooler."""
    net = model.network_
    spec = net.spec
    kind = spec["kind"]
    if kind not in ("aux-ols", "bootstrap"):       # pragma: no cover - guarded by the caller
        _refuse(model, f"pooler {spec['name']!r} is not a weighted pooler")
    lrn = model.learner_.name
    if lrn not in WEIGHTED_NETWORK_LEARNERS:
        _refuse(model, f"the per-trial fits of learner {lrn!r} are not linear predictors "
                       "(they would be needed at each new patient)")
    binary = net.family.name == "binary"
    scale = net.scale
    rd = binary and scale == "rd"
    trials = []
    for s, D in zip(net.stage1, net.Ds):
        joint = bool(s.joint)
        est = _est_part(s.block if joint else s.model, joint, binary, scale, model)
        if kind == "aux-ols":
            aux = s.aux
            if rd:
                cov = {"coef": _mat(aux.extra["coef"]), "vcov": _sym(aux.extra["vcov"]),
                       "p": int(aux.theta.shape[1] - 1)}
            else:
                cov = {"S": _sym(aux.cov)}
        else:
            cov = {"S": _sym(_boot_cov(s, joint, binary, scale, model))}
        trials.append({"trial": s.label, "arms": list(s.arms), "D": np.asarray(D).tolist(),
                       "est": {k: (v if k == "trees" else _mat(v)) for k, v in est.items()},
                       "cov": cov})
    return {"pooling": {"source": kind, "heterogeneity": spec["heterogeneity"]},
            "trials": trials}

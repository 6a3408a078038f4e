"""State of a fitted :class:`ipdma.ite.TwoStageITE`.

The estimator is written as it holds itself: its options, the per-trial fits
(``fits_``: each trial's fitted learner with its bootstrap refits or auxiliary model)
and the fitted pooler (``pooler_``), through the restricted codec of
:mod:`ipdma.serialize._codec`.  The patient data (``data_``) are replaced by their
counts per trial; the last prediction is not kept.  A network (multi-treatment)
TwoStageITE holds the same kinds of objects and is written the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from ._codec import NotEncodable, decode, encode

__all__ = ["EXPORTABLE_LEARNERS", "ite_from_state", "ite_state"]

#: learners whose fitted state a model file can hold (tree ensembles as XGBoost's own
#: JSON model)
EXPORTABLE_LEARNERS = ("ols", "lasso", "ridge", "elasticnet", "logistic", "logistic-lasso",
                       "logistic-ridge", "logistic-elasticnet", "bayes-lm", "bayes-lasso",
                       "bayes-logistic", "xgboost", "cox", "weibull", "cox-lasso",
                       "cox-ridge")

_DROP = ("data_", "X_pred_", "prediction_", "model_file_", "_model_inputs")


def _bayes_lasso(state: dict) -> dict:
    """The Bayesian-lasso learner without its Gibbs samples of the full coefficient and
    local-scale vectors (predictions use ``theta_draws_``); ``sigma`` and ``lambda2``
    stay for ``inference_data()``."""
    s = state.get("samples_")
    if isinstance(s, dict):
        state["samples_"] = {k: v for k, v in s.items() if k in ("sigma", "lambda2")}
    return state


def _exclusions() -> dict:
    from ..ite._learners import BayesLassoLearner
    from ..ite._network_ite import NetworkFit
    from ..ite._poolers import WeightedITEPooler

    # a prediction-level pooler is fitted at predict time on the per-trial predictions
    # at the query points: those (the last new patients' covariates) are not the model;
    # a network fit refers back to its estimator and holds the patient rows (both are
    # restored on reading)
    return {BayesLassoLearner: _bayes_lasso,
            WeightedITEPooler: {"summaries_", "trials_", "X_query_"},
            NetworkFit: {"model", "data"}}


def _network_counts(model) -> dict:
    """Per-trial arm counts of a network TwoStageITE (no patient rows)."""
    d = model.data_
    return {"network": True,
            "trials": [[s.label, {a: int(n) for a, n in s.n_arm.items()}]
                       for s in model.network_.stage1],
            "treatments": list(d.treatments), "feature_names": list(d.feature_names),
            "outcome_type": d.outcome_type,
            "covariate_cols": None if d.covariate_cols is None else list(d.covariate_cols)}


def _network_stub(c: dict):
    """A NetworkITEData with the arm counts only (no covariates, outcomes NaN)."""
    from ..ite._network_ite import NetworkITEData

    trial, arm = [], []
    for label, counts in c["trials"]:
        for a, n in counts.items():
            trial += [label] * int(n)
            arm += [a] * int(n)
    n = len(arm)
    return NetworkITEData(X=np.empty((0, len(c["feature_names"]))),
                          arm=np.asarray(arm, dtype=object), y=np.full(n, np.nan),
                          trial=np.asarray(trial, dtype=object),
                          trials=[t for t, _ in c["trials"]],
                          treatments=list(c["treatments"]),
                          feature_names=list(c["feature_names"]),
                          outcome_type=c["outcome_type"], covariate_cols=c["covariate_cols"])


def _data_counts(model) -> dict:
    d = model.data_
    trial = np.asarray(d.trial).astype(str)
    t = np.asarray(d.t, float)
    rows = []
    for tr in model.trials_:
        m = trial == str(tr)
        rows.append([str(tr), int(m.sum()), int(t[m].sum())])
    return {"trials": rows, "feature_names": list(d.feature_names),
            "outcome_type": d.outcome_type,
            "covariate_cols": None if d.covariate_cols is None else list(d.covariate_cols),
            "foldid_col": getattr(d, "foldid_col", None)}


def _data_stub(c: dict):
    """An ITEData with the per-trial counts only (trial labels and treated indicators in
    trial order; no covariates, outcomes set to NaN): what ``summary()`` needs."""
    from ..ite._twostage import ITEData

    n = np.array([r[1] for r in c["trials"]], int)
    trial = np.repeat([r[0] for r in c["trials"]], n).astype(object)
    t = np.concatenate([np.r_[np.ones(r[2]), np.zeros(r[1] - r[2])] for r in c["trials"]]) \
        if len(n) else np.zeros(0)
    p = len(c["feature_names"])
    return ITEData(X=np.empty((0, p)), t=t, y=np.full(int(n.sum()), np.nan), trial=trial,
                   trials=[r[0] for r in c["trials"]], feature_names=list(c["feature_names"]),
                   outcome_type=c["outcome_type"], covariate_cols=c["covariate_cols"],
                   foldid=None, foldid_col=c.get("foldid_col"))


def ite_state(model) -> dict[str, Any]:
    name = model.learner_.name
    if name not in EXPORTABLE_LEARNERS:
        raise ModelSpecificationError(
            f"TwoStageITE with learner {name!r} cannot be written to a model file: its fitted "
            f"trials are not data (a scikit-learn / EconML model). Exportable learners: "
            f"{', '.join(EXPORTABLE_LEARNERS)}")
    state = {k: v for k, v in vars(model).items() if k not in _DROP}
    try:
        enc = encode(state, exclude=_exclusions())
    except NotEncodable as exc:
        raise ModelSpecificationError(
            f"TwoStageITE({model.name!r}) cannot be written to a model file: {exc}. "
            f"Exportable learners: {', '.join(EXPORTABLE_LEARNERS)}") from None
    counts = (_network_counts(model) if getattr(model, "network_", None) is not None
              else _data_counts(model))
    return {"estimator": enc, "data_counts": counts}


def ite_from_state(state: dict):
    from ..ite import TwoStageITE

    model = TwoStageITE.__new__(TwoStageITE)
    model.__dict__.update(decode(state["estimator"]))
    counts = state["data_counts"]
    model.prediction_ = None
    if counts.get("network"):
        model.data_ = _network_stub(counts)
        net = getattr(model, "network_", None)
        if net is None:
            raise ModelSpecificationError("the network TwoStageITE in the model file has no "
                                          "network fit")
        net.model, net.data = model, model.data_
        return model
    model.data_ = _data_stub(counts)
    if model.fits_ is None:
        raise ModelSpecificationError("the TwoStageITE in the model file is not fitted")
    return model

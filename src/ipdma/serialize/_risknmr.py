"""State of a fitted risk-based NMR (:class:`ipdma.nmr.RiskNMRResult`) with its stage-1
:class:`ipdma.prognosis.RiskModel`.

No patient rows are written: the design keeps the labels, the centring values, the
counts (patients, events) and the percentiles 0, 1, ..., 100 of the fitted risk scores
(``design.risk_logit`` of the loaded result); the ML engine keeps
its estimate and covariance (the P(best) draws are regenerated from the result's seed,
as in ``fit``), the Bayesian engine its posterior draws of ``u, d, g0, gamma, tau``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ._codec import decode, encode

__all__ = ["risknmr_from_state", "risknmr_state"]


def _design_state(res) -> dict:
    stored = getattr(res, "_stored_design", None)
    if stored is not None:        # a loaded result: its design as read (no patient rows)
        return stored
    d = res.design
    ipd = ~d.is_ad if d.is_ad.size else np.ones(d.n, bool)
    r = d.risk_logit[ipd] if d.risk_logit is not None else None
    return {
        "trials": list(d.trials), "treatments": list(d.treatments), "reference": d.reference,
        "centre_trial": None if d.centre_trial is None else np.asarray(d.centre_trial, float),
        "centre_pred": None if d.centre_pred is None else float(d.centre_pred),
        "arms": {str(k): list(v) for k, v in d.arms.items()},
        "baseline": [int(b) for b in d.baseline],
        "ad_trials": list(d.ad_trials),
        "has_risk": bool(d.has_risk),
        "n": int(d.n), "n_events": int(np.sum(d.y)),
        # percentiles 0, 1, ..., 100 of the fitted risk scores (min, median, max exact)
        "risk_logit_percentiles": None if r is None else np.percentile(r, np.arange(101)),
    }


def _design_from_state(s: dict):
    from ..nmr._design import NMRDesign

    n, ev = int(s["n"]), int(s["n_events"])
    y = np.r_[np.ones(ev), np.zeros(n - ev)]     # counts only: no patient rows are stored
    rng = s["risk_logit_percentiles"]
    return NMRDesign(
        trials=list(s["trials"]), treatments=list(s["treatments"]), reference=s["reference"],
        trial_idx=np.zeros(0, int), trt_idx=np.zeros(0, int), y=y,
        x=np.zeros(0) if s["has_risk"] else None, x_raw=None,
        risk_logit=None if rng is None else np.asarray(rng, float),
        centre_trial=None if s["centre_trial"] is None else np.asarray(s["centre_trial"], float),
        centre_pred=s["centre_pred"], arms={k: list(v) for k, v in s["arms"].items()},
        baseline=list(s["baseline"]), source_index=np.zeros(0, int),
        is_ad=np.zeros(0 if rng is None else len(rng), bool), ad_trials=list(s["ad_trials"]))


def _control_state(res) -> dict | None:
    """The reference-arm logistic model of ``baseline="control-model"`` (fitted here
    on a copy when the result has not used it yet; None when it cannot be fitted)."""
    fit = res._control_fit
    if fit is None:
        work = copy.copy(res)
        try:
            work._fit_control_model()
        except (ModelSpecificationError, np.linalg.LinAlgError):
            return None
        fit = work._control_fit
    return {"coef": np.asarray(fit[0], float), "cov": np.asarray(fit[1], float)}


def risknmr_state(res, risk_model=None, **times) -> dict[str, Any]:
    """JSON-ready state of a fitted RiskNMRResult (and its stage-1 RiskModel)."""
    if getattr(res, "family", None) == "survival":
        from ._survival_nmr import survival_risknmr_state

        return survival_risknmr_state(res, risk_model, **times)
    state: dict[str, Any] = {
        "estimator": encode(dict(vars(res.model)), "model"),
        "columns": dict(res.columns),
        "seed": int(res.seed),
        "design": encode(_design_state(res), "design"),
        "external": None if res._external is None else [int(v) for v in res._external],
        "control_model": encode(_control_state(res), "control_model"),
    }
    if res.engine == "ml":
        fit = res._ml
        state["ml"] = encode({"coef": fit.coef, "cov": fit.cov, "loglik": fit.loglik,
                              "tau": fit.tau, "tau_se": fit.tau_se,
                              "iterations": fit.iterations, "converged": fit.converged,
                              "n_agq": fit.n_agq}, "ml")
    else:
        fit = res._bayes
        keep = [k for k in ("u", "d", "g0", "gamma", "tau") if k in fit.samples]
        state["bayes"] = encode({"samples": {k: np.asarray(fit.samples[k], float)
                                             for k in keep},
                                 "divergences": int(fit.divergences),
                                 "seconds": float(fit.seconds),
                                 "diagnostics": dict(fit.diagnostics)}, "bayes")
    state["risk_model"] = None if risk_model is None else risk_model.to_dict()
    return state


def risknmr_from_state(state: dict):
    from ..nmr._model import RiskNMR, RiskNMRResult
    from ..prognosis import RiskModel

    if state.get("survival"):
        from ._survival_nmr import survival_risknmr_from_state

        return survival_risknmr_from_state(state)
    est = RiskNMR.__new__(RiskNMR)
    est.__dict__.update(decode(state["estimator"]))
    stored = decode(state["design"])
    design = _design_from_state(stored)
    res = RiskNMRResult(est, design, seed=int(state["seed"]), columns=dict(state["columns"]))
    res._stored_design = stored
    if est.engine == "ml":
        from ..nmr._ml import MLFit

        m = decode(state["ml"])
        res._set_ml(MLFit(coef=np.asarray(m["coef"], float), cov=np.asarray(m["cov"], float),
                          loglik=m["loglik"], tau=m["tau"], tau_se=m["tau_se"],
                          iterations=m["iterations"], converged=m["converged"],
                          n_agq=m["n_agq"]))
    else:
        from ..nmr._bayes import BayesFit

        b = decode(state["bayes"])
        res._set_bayes(BayesFit(samples=b["samples"], inference_data=None,
                                divergences=b["divergences"], seconds=b["seconds"],
                                diagnostics=b["diagnostics"]))
    if state.get("external") is not None:
        res._set_external(*state["external"])
    cm = decode(state.get("control_model"))
    if cm is not None:
        _restore_control(res, np.asarray(cm["coef"], float), np.asarray(cm["cov"], float))
    rm = state.get("risk_model")
    res.risk_model = None if rm is None else RiskModel.from_dict(rm)
    return res


def _restore_control(res, coef: np.ndarray, cov: np.ndarray) -> None:
    """As ``RiskNMRResult._fit_control_model`` after its fit (same seeded draws)."""
    from scipy import stats

    se = np.sqrt(np.diag(cov))
    z = stats.norm.ppf(0.5 + res.level / 2)
    res.control_model = pd.DataFrame(
        {"estimate": coef, "se": se, "lower": coef - z * se, "upper": coef + z * se},
        index=pd.Index(["a", "b"], name="parameter"))
    rng = np.random.default_rng([res.seed, 3])
    S = res._theta_draws.shape[0]
    L = np.linalg.cholesky(cov)
    res._control_fit = (coef, cov, coef + rng.standard_normal((S, 2)) @ L.T)

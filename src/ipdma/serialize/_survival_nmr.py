"""State of a fitted time-to-event risk-based NMR (``RiskNMR(...).fit(time=, event=)``,
ML engine, Cox or Weibull) with its stage-1 :class:`ipdma.prognosis.SurvivalRiskModel`.

No patient rows are written.  The Cox model's absolute predictions need the Breslow
baseline, a sum over the patients at risk; at the fitted coefficients it is kept per
prediction baseline (``"pooled"`` and every trial) as its sufficient statistics at every
distinct event time: the time, the number of events, ``S0 = sum exp(eta)`` and ``S1 =
sum z exp(eta)`` over the risk set.  For the horizon check each trial keeps its last
follow-up time and whether an event happened then.  The Bayesian engine redraws the
baseline from the patients' risk sets for every posterior draw and is not written.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from ._codec import decode, encode

__all__ = ["survival_risknmr_from_state", "survival_risknmr_state"]


def _breslow_stats(res) -> dict:
    d = res.design
    theta = res._ml.coef
    out = {}
    for key in ["pooled", *d.trials]:
        rows, centre = res._baseline_rows(key)
        u, dd, S0, S1 = res._breslow(rows, centre, theta, np.inf)
        out[str(key)] = {"u": u, "d": dd, "S0": S0, "S1": S1}
    return out


def survival_risknmr_state(res, risk_model=None) -> dict[str, Any]:
    """JSON-ready state of a fitted time-to-event RiskNMRResult (ML engine)."""
    from ._risknmr import _design_state

    if res.engine != "ml":
        raise ModelSpecificationError(
            "a time-to-event RiskNMR with engine='bayes' cannot be written to a model file: "
            "its predictions redraw the baseline hazard from the patients' risk sets for "
            "every posterior draw. Model files hold engine='ml' (survival_model 'cox' or "
            "'weibull')")
    d = res.design
    lasts, last_event = [], []
    for j in range(d.n_trials):
        m = d.trial_idx == j
        t = float(d.time[m].max())
        lasts.append(t)
        last_event.append(bool(np.any(d.y[m][d.time[m] == t] == 1)))
    design = _design_state(res)
    design.update(last_time=lasts, last_event=last_event)
    fit = res._ml
    ml = {"coef": fit.coef, "cov": fit.cov, "loglik": fit.loglik, "iterations": fit.iterations,
          "converged": fit.converged, "loglik_null": fit.loglik_null}
    weibull = getattr(res.model, "survival_model", "cox") == "weibull"
    if weibull:
        ml.update(aft=fit.aft, aft_vcov=fit.aft_vcov, aft_names=list(fit.aft_names),
                  scale=fit.scale)
    stored = getattr(res, "_stored_breslow", None)
    return {
        "survival": True,
        "estimator": encode(dict(vars(res.model)), "model"),
        "columns": dict(res.columns), "seed": int(res.seed), "horizon": float(res.horizon),
        "design": encode(design, "design"),
        "ml": encode(ml, "ml"),
        "breslow": None if weibull else encode(stored if stored is not None
                                               else _breslow_stats(res), "breslow"),
        "risk_model": None if risk_model is None else risk_model.to_dict(),
    }


def survival_risknmr_from_state(state: dict):
    from ..nmr._model import RiskNMR
    from ..nmr._survival import CoxNMRFit, WeibullNMRFit
    from ..prognosis import SurvivalRiskModel
    from ._risknmr import _design_from_state

    est = RiskNMR.__new__(RiskNMR)
    est.__dict__.update(decode(state["estimator"]))
    stored = decode(state["design"])
    design = _design_from_state(stored)
    design.family = "survival"
    J = len(design.trials)
    design.trial_idx = np.arange(J)
    design.time = np.asarray(stored["last_time"], float)
    res = _stored_result_class()(est, design, seed=int(state["seed"]),
                                 columns=dict(state["columns"]),
                                 last_event=np.asarray(stored["last_event"], bool),
                                 horizon=float(state["horizon"]))
    res._stored_design = stored
    m = decode(state["ml"])
    if "aft" in m:
        fit = WeibullNMRFit(np.asarray(m["coef"], float), np.asarray(m["cov"], float),
                            m["loglik"], np.asarray(m["aft"], float),
                            np.asarray(m["aft_vcov"], float), list(m["aft_names"]),
                            float(m["scale"]), m["iterations"], m["converged"],
                            m["loglik_null"])
    else:
        fit = CoxNMRFit(np.asarray(m["coef"], float), np.asarray(m["cov"], float),
                        m["loglik"], m["loglik_null"], m["iterations"], m["converged"])
    res._stored_breslow = decode(state.get("breslow"))
    res._set_ml(fit)
    rm = state.get("risk_model")
    res.risk_model = None if rm is None else SurvivalRiskModel.from_dict(rm)
    return res


@functools.cache
def _stored_result_class():
    from ..nmr._model import RiskNMRResult
    from ..nmr._survival import SurvivalRiskNMRResult
    from ..survival import SurvivalOutcome

    class StoredSurvivalRiskNMRResult(SurvivalRiskNMRResult):
        """A time-to-event RiskNMR read from a model file: the design keeps one row per
        trial (its last follow-up) and the Breslow baselines their stored statistics."""

        def __init__(self, model, design, *, seed, columns, last_event, horizon):
            RiskNMRResult.__init__(self, model, design, seed=seed, columns=columns)
            self.family = "survival"
            self.baseline_pieces = None
            self.weibull_params = None
            self.horizon = horizon
            self._y = SurvivalOutcome(design.time, last_event.astype(int))
            self._baseline_key = "pooled"

        def _baseline_rows(self, baseline):
            d = self.design
            if baseline == "pooled":
                return np.ones(d.n_trials, bool), (d.centre_pred if d.has_risk else 0.0)
            if baseline in d.trials:
                j = d.trials.index(baseline)
                return d.trial_idx == j, (float(d.centre_trial[j]) if d.has_risk else 0.0)
            raise ModelSpecificationError(
                f"baseline must be 'pooled' or a trial label {d.trials}, not {baseline!r}")

        def predict(self, risk=None, *, baseline: str = "pooled", **kw):
            self._baseline_key = str(baseline)
            return super().predict(risk, baseline=baseline, **kw)

        def _breslow(self, rows, centre, theta, upto):
            if np.ndim(theta) != 1 or self._stored_breslow is None:
                raise ModelSpecificationError(   # pragma: no cover - ML Cox only
                    "this model file keeps the Breslow baseline at the estimates only")
            b = self._stored_breslow[self._baseline_key]
            keep = np.asarray(b["u"]) <= upto
            return (np.asarray(b["u"])[keep], np.asarray(b["d"])[keep],
                    np.asarray(b["S0"])[keep], np.asarray(b["S1"])[keep])

    return StoredSurvivalRiskNMRResult

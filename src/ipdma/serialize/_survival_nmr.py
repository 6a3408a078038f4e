"""State of a fitted time-to-event risk-based NMR (``RiskNMR(...).fit(time=, event=)``,
ML engine, Cox or Weibull) with its stage-1 :class:`ipdma.prognosis.SurvivalRiskModel`.

No patient rows are written.  The Cox model's absolute predictions need the Breslow
baseline, a sum over the patients at risk; at the fitted coefficients it is kept per
prediction baseline (``"pooled"`` and every trial) as its sufficient statistics at every
distinct event time: the time, the number of events, ``S0 = sum exp(eta)`` and ``S1 =
sum z exp(eta)`` over the risk set.  For the horizon check each trial keeps its last
follow-up time and whether an event happened then.

Bayesian engine: the posterior draws (``d``, ``g0``, ``gamma``, ``tau``; Weibull also
``log_lambda`` and ``shape``, enough for predictions at any horizon).  The Bayesian Cox
model redraws the Breslow baseline from the patients' risk sets for every posterior draw,
so its file keeps, per prediction baseline, exactly what ``predict`` derives from them
at one (horizon, tau) fixed when saving: every draw's baseline cumulative hazard at the
horizon and, when it has at most :data:`MAX_RMST_VALUES` numbers, every draw's baseline
step function on the event times up to tau (the RMST); the loaded model predicts at
those times only (its RMST is NaN, with a warning, when the grid was too large to keep).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError
from ._codec import decode, encode

__all__ = ["MAX_RMST_VALUES", "survival_risknmr_from_state", "survival_risknmr_state"]

#: Bayesian Cox model files keep the per-draw RMST step grid of a baseline up to this size
#: (draws x grid points)
MAX_RMST_VALUES = 60_000
_BAYES_SAMPLES = ("d", "g0", "gamma", "tau", "log_lambda", "shape")


def _breslow_stats(res) -> dict:
    d = res.design
    theta = res._ml.coef
    out = {}
    for key in ["pooled", *d.trials]:
        rows, centre = res._baseline_rows(key)
        u, dd, S0, S1 = res._breslow(rows, centre, theta, np.inf)
        out[str(key)] = {"u": u, "d": dd, "S0": S0, "S1": S1}
    return out


def _bayes_cox_baselines(res, horizon: float | None, tau: float | None) -> dict:
    """Per prediction baseline (pooled, each trial): the per-draw quantities of
    ``_predict_bayes`` at (horizon, tau)."""
    d = res.design
    h = float(res.horizon if horizon is None else horizon)
    t = float(h if tau is None else tau)
    out = {}
    for key in ["pooled", *d.trials]:
        rows, centre = res._baseline_rows(key)
        Hb, w, Hp = res._cox_bayes_baseline(rows, centre, h, t)
        keep = Hp.size <= MAX_RMST_VALUES
        out[str(key)] = {"Hb": np.asarray(Hb, float),
                         "w": np.asarray(w, float) if keep else None,
                         "Hp": np.asarray(Hp, float) if keep else None,
                         "grid": [int(Hp.shape[0]), int(Hp.shape[1])]}
    return {"horizon": h, "tau": t, "baselines": out}


def survival_risknmr_state(res, risk_model=None, *, horizon: float | None = None,
                           tau: float | None = None) -> dict[str, Any]:
    """JSON-ready state of a fitted time-to-event RiskNMRResult (ML or Bayes engine)."""
    from ._risknmr import _design_state

    bayes = res.engine != "ml"
    weibull = getattr(res.model, "survival_model", "cox") == "weibull"
    for name, v in (("horizon", horizon), ("tau", tau)):
        if v is not None and not float(v) > 0:
            raise ModelSpecificationError(f"{name} must be a positive time, not {v!r}")
    if bayes and not weibull:
        # the horizon must be within every baseline's follow-up (the model's own check)
        h = float(res.horizon if horizon is None else horizon)
        res.predict(risk=[0.0] if res.design.has_risk else None, horizon=h,
                    tau=float(h if tau is None else tau))
    d = res.design
    lasts, last_event = [], []
    for j in range(d.n_trials):
        m = d.trial_idx == j
        t = float(d.time[m].max())
        lasts.append(t)
        last_event.append(bool(np.any(d.y[m][d.time[m] == t] == 1)))
    design = _design_state(res)
    design.update(last_time=lasts, last_event=last_event)
    if bayes:
        fit = res._bayes
        return {
            "survival": True,
            "estimator": encode(dict(vars(res.model)), "model"),
            "columns": dict(res.columns), "seed": int(res.seed),
            "horizon": float(res.horizon), "design": encode(design, "design"),
            "bayes": encode({"samples": {k: np.asarray(fit.samples[k], float)
                                         for k in _BAYES_SAMPLES if k in fit.samples},
                             "divergences": int(fit.divergences),
                             "seconds": float(fit.seconds),
                             "diagnostics": dict(fit.diagnostics),
                             "pieces": fit.pieces}, "bayes"),
            "bayes_baseline": None if weibull else encode(
                _bayes_cox_baselines(res, horizon, tau), "bayes_baseline"),
            "risk_model": None if risk_model is None else risk_model.to_dict(),
        }
    fit = res._ml
    ml = {"coef": fit.coef, "cov": fit.cov, "loglik": fit.loglik, "iterations": fit.iterations,
          "converged": fit.converged, "loglik_null": fit.loglik_null}
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
    if "bayes" in state:
        from ..nmr._survival import SurvBayesFit

        b = decode(state["bayes"])
        res._bayes_baseline = decode(state.get("bayes_baseline"))
        if res._bayes_baseline is not None:
            res.horizon = float(res._bayes_baseline["horizon"])
            res._default_tau = float(res._bayes_baseline["tau"])
        res._set_bayes(SurvBayesFit(b["samples"], None, b["divergences"], b["seconds"],
                                    b["diagnostics"], b["pieces"]))
        rm = state.get("risk_model")
        res.risk_model = None if rm is None else SurvivalRiskModel.from_dict(rm)
        return res
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
            self._bayes_baseline = None
            self._default_tau = None

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
            bb = self._bayes_baseline
            if bb is not None and kw.get("tau") is None and \
                    kw.get("horizon", None) in (None, bb["horizon"]):
                kw["tau"] = bb["tau"]            # the stored (horizon, tau) pair
            return super().predict(risk, baseline=baseline, **kw)

        def _cox_bayes_baseline(self, rows, centre, horizon, tau):
            import warnings

            from ..errors import DataWarning

            bb = self._bayes_baseline
            if bb is None:                       # pragma: no cover - written for Bayes Cox
                raise ModelSpecificationError("this model file has no Bayesian Cox baseline")
            if float(horizon) != bb["horizon"] or float(tau) != bb["tau"]:
                raise ModelSpecificationError(
                    f"this model file keeps the Bayesian Cox baseline of every posterior "
                    f"draw at horizon {bb['horizon']:g} and tau {bb['tau']:g} only (it is "
                    f"redrawn from the patients' risk sets, which the file does not hold); "
                    f"got horizon {float(horizon):g}, tau {float(tau):g}. Predict at those "
                    f"times, or save the fitted model again with save_model(..., horizon=, "
                    f"tau=) (CLI: ipdma risk-nmr --horizon T --tau T --save-model FILE)")
            b = bb["baselines"][self._baseline_key]
            Hb = np.asarray(b["Hb"], float)
            if b["Hp"] is None:
                S, m1 = b["grid"]
                warnings.warn(
                    f"RMST is not available from this model file: the Bayesian Cox RMST "
                    f"up to {bb['tau']:g} needs every draw's baseline step function ({S} "
                    f"draws x {m1} event times), more than the file keeps "
                    f"({MAX_RMST_VALUES} numbers); the rmst columns are NaN. Predict with "
                    f"the fitted model, or save it with a smaller tau / fewer draws.",
                    DataWarning, stacklevel=3)
                return Hb, np.array([float(tau)]), np.full((Hb.size, 1), np.nan)
            return Hb, np.asarray(b["w"], float), np.asarray(b["Hp"], float)

        def _breslow(self, rows, centre, theta, upto):
            if np.ndim(theta) != 1 or self._stored_breslow is None:
                raise ModelSpecificationError(   # pragma: no cover - ML Cox only
                    "this model file keeps the Breslow baseline at the estimates only")
            b = self._stored_breslow[self._baseline_key]
            keep = np.asarray(b["u"]) <= upto
            return (np.asarray(b["u"])[keep], np.asarray(b["d"])[keep],
                    np.asarray(b["S0"])[keep], np.asarray(b["S1"])[keep])

    return StoredSurvivalRiskNMRResult

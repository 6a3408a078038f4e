"""Calculator specs for time-to-event models: the survival risk-based NMR (Cox, ML
engine) with its stage-1 Cox risk model.  Same page, same ``risk-nmr`` kind: the spec
adds ``family: "survival"`` and the baseline quantities at the chosen horizon / tau."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError, NotFittedError
from ._inputs import covariate_inputs
from ._spec import (
    FORMAT,
    VERSION,
    _f64,
    _level_constants,
    _pct,
    _stored_inputs,
    provenance,
    risk_features,
)

__all__ = ["EXPORTABLE_SURVIVAL_NMR", "survival_nmr_spec"]

#: survival RiskNMR set-ups the calculator exports exactly
EXPORTABLE_SURVIVAL_NMR = ("engine 'ml' with survival_model 'cox' (Breslow baseline, "
                           "delta-method intervals) or 'weibull' (delta method, RMST by the "
                           "incomplete gamma function); engine 'bayes' with survival_model "
                           "'weibull' (per-draw parameters) or 'cox' (per-draw baseline "
                           "cumulative hazard at the horizon; RMST only when its per-draw "
                           "step grid keeps the page under 300 kB)")

#: largest page (bytes) for which a Bayesian Cox page carries the per-draw RMST grid
MAX_PAGE_BYTES = 300_000


def _stage1_survival(risk_model, data, units, labels) -> tuple[dict, list[dict]]:
    """Features of a :class:`ipdma.prognosis.SurvivalRiskModel` (risk score x'beta)."""
    from ..prognosis import SurvivalRiskModel

    if not isinstance(risk_model, SurvivalRiskModel):
        raise ModelSpecificationError(
            f"risk_model of a time-to-event RiskNMR must be a fitted "
            f"ipdma.prognosis.SurvivalRiskModel, not {type(risk_model).__name__}")
    if getattr(risk_model, "coef_", None) is None:
        raise NotFittedError("risk_model is not fitted: call SurvivalRiskModel(...).fit(...)")
    spec = risk_model._spec
    feats = risk_features(spec)
    coef = np.asarray(risk_model._params.beta, dtype=float)
    if len(feats) != coef.size:  # pragma: no cover - guarded by the model itself
        raise ModelSpecificationError("risk_model coefficients do not match its covariates")
    inputs = covariate_inputs(data, spec.covariates, levels=spec.levels, units=units,
                              labels=labels,
                              summaries=_stored_inputs(risk_model) if data is None else None)
    return {"intercept": 0.0, "coef": coef.tolist(), "features": feats}, inputs


def _cox_baseline(res, baseline: str, horizon: float, tau: float) -> dict:
    """The Breslow quantities of ``_predict_ml`` at (horizon, tau): they depend on the
    fitted coefficients only, not on the patient."""
    d = res.design
    rows, centre = res._baseline_rows(baseline)
    theta = res._ml.coef
    u, dd, S0, S1 = res._breslow(rows, centre, theta, max(horizon, tau))
    P = theta.size
    dH = dd / S0
    v = dd / S0 ** 2
    A = np.cumsum((dd / S0 ** 2)[:, None] * S1, axis=0)
    Hc, Vc = np.cumsum(dH), np.cumsum(v)
    h = np.searchsorted(u, horizon, side="right") - 1
    keep = u <= tau
    p = np.r_[0.0, u[keep]]
    w = np.diff(np.r_[p, tau])
    Hp = np.r_[0.0, Hc[keep]]
    Ap = np.vstack([np.zeros((1, P)), A[keep]])
    return {"centre": float(centre) if d.has_risk else 0.0,
            "Hb": float(Hc[h]) if h >= 0 else 0.0,
            "Ab": (A[h] if h >= 0 else np.zeros(P)).tolist(),
            "Vb": float(Vc[h]) if h >= 0 else 0.0,
            "m": int(w.size), "w": _f64(w), "Hp": _f64(Hp), "Ap": _f64(Ap.ravel()),
            "vk": _f64(v[keep])}


def _bayes_nmr_part(res, baseline: str, horizon: float, tau: float) -> tuple[dict, Any]:
    """Posterior draws a Bayesian survival NMR page needs, exactly as ``predict`` uses
    them: the parameter draws (d, g0, gamma) and per draw the Weibull baseline (log
    lambda of the baseline, shape) or the Cox baseline cumulative hazard at the horizon;
    second item: the Cox RMST grid ``(w, Hp)`` (None for Weibull)."""
    d = res.design
    weibull = getattr(res.model, "survival_model", "cox") == "weibull"
    rows, centre = res._baseline_rows(baseline)
    if weibull and baseline == "pooled" and d.has_risk:
        centre = float(np.mean(d.centre_trial))
    th = np.asarray(res._theta_draws, float)
    cols = [th[:, k] for k in range(th.shape[1])]
    names = list(res._names)
    grid = None
    if weibull:
        smp = res._bayes.samples
        loglam = np.asarray(smp["log_lambda"], float).reshape(-1, d.n_trials)
        base = (loglam.mean(axis=1) if baseline == "pooled"
                else loglam[:, d.trials.index(baseline)])
        cols += [base, np.asarray(smp["shape"], float).reshape(-1)]
        names += ["base", "rho"]
    else:
        Hb, w, Hp = res._cox_bayes_baseline(rows, centre, horizon, tau)
        cols.append(np.asarray(Hb, float))
        names.append("Hb")
        grid = (np.asarray(w, float), np.asarray(Hp, float))
    data = np.stack(cols)                                      # (columns, S)
    return {"engine": "bayes", "centre": float(centre) if d.has_risk else 0.0,
            "n_theta": th.shape[1],
            "draws": {"n": int(th.shape[0]), "columns": names, "data": _f64(data.ravel())}
            }, grid


def survival_nmr_spec(res, *, risk_model=None, data: pd.DataFrame | None = None,
                      baseline: str | None = None, horizon: float | None = None,
                      tau: float | None = None, title: str | None = None,
                      units: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None, outcome_label: str | None = None,
                      data_label: str | None = None, point: str | None = None) -> dict:
    """Spec of a fitted time-to-event :class:`ipdma.nmr.RiskNMRResult` (ML or Bayes)."""
    if res.engine not in ("ml", "bayes"):  # pragma: no cover - RiskNMR checks its engine
        raise ModelSpecificationError(
            f"engine {res.engine!r} cannot be exported. Exportable: {EXPORTABLE_SURVIVAL_NMR}")
    d = res.design
    bayes = res.engine == "bayes"
    weibull = getattr(res.model, "survival_model", "cox") == "weibull"
    baseline = "pooled" if baseline is None else str(baseline)
    horizon = float(res.horizon if horizon is None else horizon)
    stored_tau = getattr(res, "_default_tau", None)     # Bayes Cox model file: its tau
    if tau is None:
        tau = stored_tau if stored_tau is not None and horizon == res.horizon else horizon
    tau = float(tau)
    # the model's own checks (horizon within follow-up, known baseline)
    res.predict(risk=[0.0] if d.has_risk else None, horizon=horizon, tau=tau,
                baseline=baseline)
    T = d.n_treatments
    model: dict[str, Any] = {
        "engine": res.engine, "survival_model": "weibull" if weibull else "cox",
        "baseline": baseline, "has_risk": bool(d.has_risk),
        "horizon": horizon, "tau": tau, "rmst": True}
    grid = None
    if bayes:
        part, grid = _bayes_nmr_part(res, baseline, horizon, tau)
        model.update(part)
    else:
        th = res._theta_draws
        model.update(
            estimate=res._ml.coef.tolist(), vcov=res._ml.cov.tolist(),
            # P(best) only: g0 x is common to every treatment, so only d[k], gamma[k]
            draws={"n": int(th.shape[0]),
                   "columns": [c for c in res._names if c != "g0"],
                   "data": _f64(th[:, [k for k, c in enumerate(res._names)
                                       if c != "g0"]].T.ravel())})
    if weibull and not bayes:
        f = res._ml
        Mu = res._baseline_weights(baseline)
        centre = (float(np.mean(d.centre_trial)) if baseline == "pooled"
                  else res._baseline_rows(baseline)[1]) if d.has_risk else 0.0
        model.update(centre=centre, n_trials=d.n_trials, mu_weights=Mu.tolist(),
                     aft=f.aft.tolist(), aft_vcov=f.aft_vcov.tolist(),
                     log_scale=float(np.log(f.scale)))
    elif not bayes:
        model.update(_cox_baseline(res, baseline, horizon, tau))
    if risk_model is not None:
        model["stage1"], inputs = _stage1_survival(risk_model, data, units, labels)
    else:
        if not d.has_risk:
            raise ModelSpecificationError(
                "a time-to-event RiskNMR without a risk term predicts the same for every "
                "patient; fit it with risk= to export a calculator")
        lo, hi = res.observed_risk_range()
        model["risk_input"] = "risk_score"
        inputs = [{"name": "risk_score", "id": "risk_score",
                   "label": "Baseline risk score (stage-1 linear predictor, log relative "
                            "hazard)", "type": "numeric", "unit": None, "min": lo, "max": hi,
                   "default": round(float(np.median(d.risk_logit)), 4)}]
    out_name = outcome_label or f"event-free survival ({res.columns['event']})"
    level = float(res.level)
    lvl = _pct(level)
    iv = "CrI" if bayes else "CI"
    lo_r, hi_r = res.observed_risk_range() if d.has_risk else (-1.0, 1.0)
    xg = np.linspace(lo_r, hi_r, 60)
    curves = res.predict(risk=xg, horizon=horizon, tau=tau, baseline=baseline)
    series = []
    for k, t in enumerate(d.treatments):
        c = curves[curves["treatment"] == t]
        series.append({"name": t, "color": k, "type": "line",
                       "x": np.round(c["risk_score"].to_numpy(), 5).tolist(),
                       "y": np.round(c["surv_diff"].to_numpy(), 6).tolist()})
    ys = curves["surv_diff"].to_numpy()
    rmst_rows = [
        {"label": f"RMST up to {tau:g} ({lvl} {iv})", "keys": ["rmst", "rmst_lower",
                                                             "rmst_upper"], "fmt": "num"},
        {"label": f"RMST difference vs {d.reference} ({lvl} {iv})",
         "keys": ["rmst_diff", "rmst_diff_lower", "rmst_diff_upper"], "fmt": "num",
         "ref_blank": True}]
    outputs = [
        {"label": f"Survival at t = {horizon:g} ({lvl} {iv})",
         "keys": ["surv", "surv_lower", "surv_upper"], "fmt": "pct"},
        {"label": f"Survival difference vs {d.reference} at t = {horizon:g} ({lvl} {iv}; + = "
                  "better)", "keys": ["surv_diff", "surv_diff_lower", "surv_diff_upper"],
         "fmt": "pp", "ref_blank": True},
        *rmst_rows,
        {"label": f"Hazard ratio vs {d.reference} ({lvl} {iv})",
         "keys": ["hr", "hr_lower", "hr_upper"], "fmt": "num", "ref_blank": True},
        {"label": "P(best)", "keys": ["p_best"], "fmt": "prob"}]
    engine_txt = ("Bayesian (posterior draws)" if bayes else "maximum likelihood")
    notes = [
        f"Survival is the predicted probability of being free of the event at time "
        f"{horizon:g} for a patient with these characteristics under each treatment, from "
        f"a risk-based {'Weibull' if weibull else 'Cox'} network meta-regression of "
        f"{len(d.trials)} trials ({engine_txt}; "
        f"{'Weibull' if weibull else 'Breslow'} baseline: {baseline}).",
        "Differences are the treatment minus the reference (positive = longer "
        "survival); the restricted mean survival time (RMST) is the expected event-free "
        f"time up to {tau:g}. P(best) is the probability of the lowest hazard ("
        + ("posterior draws)." if bayes else
           "draws from the normal approximation of the estimates)."),
        ("Intervals are equal-tailed posterior credible intervals and reflect "
         "uncertainty in the average effects and the baseline hazard, not the variation "
         "between trials or patients." if bayes else
         "Intervals reflect uncertainty in the average effects and the baseline hazard, "
         "not the variation between trials or patients."),
    ]
    spec = {
        "format": FORMAT, "version": VERSION, "kind": "risk-nmr", "family": "survival",
        "title": title or f"Treatment calculator: {out_name} under each treatment",
        "outcome": {"name": out_name, "higher_is_better": bool(res.model.higher_is_better),
                    "horizon": horizon, "tau": tau},
        "higher_is_better": bool(res.model.higher_is_better),
        "treatments": list(d.treatments), "reference": d.reference,
        "inputs": inputs, "model": model, "constants": _level_constants(level),
        "row_label": "Treatment", "outputs": outputs,
        "recommend_text": f"Recommended (highest predicted survival at t = {horizon:g}): "
                          "{treatment}.",
        "plot": {"title": f"Survival benefit at t = {horizon:g} by baseline risk score",
                 "xlabel": "risk score (log relative hazard)",
                 "ylabel": f"survival difference vs {d.reference}", "xfmt": "num",
                 "yfmt": "pp", "xlim": [float(xg[0]), float(xg[-1])],
                 "ylim": [float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))],
                 "series": series, "marker_colors": list(range(T))},
        "notes": notes,
        "provenance": provenance(
            f"RiskNMR(engine={res.engine!r}, survival_model={model['survival_model']!r}), "
            f"baseline={baseline!r}, horizon={horizon:g}, tau={tau:g}"
            + ("; stage 1: SurvivalRiskModel(" + repr(risk_model.method) + ")"
               if risk_model is not None else ""),
            data_label or f"{d.n} patients, {int(d.y.sum())} events, {len(d.trials)} trials, "
                          f"treatments {', '.join(d.treatments)}"),
    }
    if grid is not None:
        _cox_bayes_rmst(spec, grid, tau)
    return spec


def _cox_bayes_rmst(spec: dict, grid, tau: float) -> None:
    """Bayesian Cox: the RMST needs every draw's baseline step function on the event times
    up to tau (draws x event times numbers).  Carried when the page stays under
    :data:`MAX_PAGE_BYTES`; otherwise the RMST rows are dropped and the page says so."""
    from ._html import render_html

    w, Hp = grid
    model = spec["model"]
    if not np.all(np.isfinite(Hp)):
        # a model file that could not keep the per-draw grid (see ipdma.serialize)
        why = (f"RMST is not available on this page: the model file does not keep the "
               f"Bayesian Cox model's per-draw baseline step function up to {tau:g} (too "
               "large); export from the fitted model, or save it with a smaller tau or "
               "fewer draws.")
    else:
        at_least = ""
        if Hp.nbytes > 4 * MAX_PAGE_BYTES:
            # random-looking float64 draws do not deflate 4-fold: no need to pack them
            size, at_least = Hp.nbytes // 4, "at least "
        else:
            model.update(m=int(w.size), w=_f64(w), Hp=_f64(Hp.ravel()))
            size = len(render_html(spec).encode("utf-8"))
            if size < MAX_PAGE_BYTES:
                return
            for k in ("m", "w", "Hp"):
                del model[k]
        S, m1 = Hp.shape
        why = (f"RMST is not available on this page: the Bayesian Cox model's RMST up to "
               f"{tau:g} needs every posterior draw's baseline step function ({S} draws x "
               f"{m1} event times), which would make the page {at_least}"
               f"{size / 1000:.0f} kB (limit "
               f"{MAX_PAGE_BYTES / 1000:.0f} kB). Use predict() in Python, fewer draws, a "
               "smaller tau, or survival_model='weibull' for the RMST.")
    import warnings

    from ..errors import DataWarning

    warnings.warn(why, DataWarning, stacklevel=4)
    model["rmst"] = False
    model["rmst_omitted"] = why
    spec["outputs"] = [o for o in spec["outputs"] if not o["keys"][0].startswith("rmst")]
    spec["notes"].append(why)


# --------------------------------------------------------------------------- two-stage ITE
#: survival TwoStageITE set-ups the calculator exports exactly
EXPORTABLE_SURVIVAL_ITE = ("pooler 'mvma' with learner 'cox' or 'weibull' (scales "
                           "survdiff, rmstdiff, loghr)")


def survival_ite_part(model) -> tuple[dict, dict]:
    """Model part of a survival TwoStageITE with pooler mvma: pooled log-HR block, and per
    trial the control-arm linear predictor and the baseline at the horizon / up to tau."""
    from scipy import stats

    from ..families import baseline_from_dict, get_family

    pooler = model.pooler_
    sums = pooler.summaries_
    s0 = sums[0]
    fam = get_family("survival", horizon=s0.horizon, tau=s0.tau)
    scale = fam.check_scale(s0.scale or None)
    trials = []
    for s in sums:
        part: dict[str, Any] = {"trial": str(s.trial),
                                "coef": np.asarray(s.coef, float).tolist()}
        if scale != "loghr":
            if s.baseline is None or s.eta0_coef is None:
                raise ModelSpecificationError(
                    f"trial {s.trial!r} has no baseline hazard: the {scale!r} scale cannot "
                    f"be exported. Exportable: {EXPORTABLE_SURVIVAL_ITE}")
            base = baseline_from_dict(s.baseline)
            tp = fam.scale_params(scale, s0.horizon, s0.tau)
            base.check(tp, "horizon" if scale == "survdiff" else "tau")
            part["eta0_coef"] = np.asarray(s.eta0_coef, float).tolist()
            if scale == "survdiff":
                part["H"] = float(base.H(tp)) if base.kind == "step" else float(tp) ** base.shape
            elif base.kind == "step":
                Hs, width = base._grid(tp)
                part["Hs"], part["width"] = _f64(Hs), _f64(width)
            else:
                # Weibull RMST: the page evaluates P(a, c tau^shape) (incomplete gamma)
                from scipy import special

                part["shape"] = float(base.shape)
                part["tau_shape"] = float(tp) ** base.shape
                part["g1a"] = float(special.gamma(1.0 + 1.0 / base.shape))
        trials.append(part)
    level = float(pooler.level)
    consts = _level_constants(level)
    consts["z"] = float(pooler._z)
    mdl = {"coef": np.asarray(pooler.coef_, float).tolist(),
           "vcov": np.asarray(pooler.vcov_, float).tolist(),
           "Psi": None if pooler.method == "fixed" else np.asarray(pooler.Psi_, float).tolist(),
           "features": [{"input": f, "kind": "numeric"} for f in model.feature_names_],
           "scale": scale, "horizon": s0.horizon, "tau": s0.tau, "trials": trials}
    K = len(sums)
    if mdl["Psi"] is not None:
        consts["q_pi"] = float(stats.t.ppf(0.5 + level / 2, K - 2)
                               if pooler.pi_df == "riley" and K > 2 else pooler._z)
    return mdl, consts

"""Calculator specs: a fitted model as plain JSON (inputs, parameters, constants,
provenance) that the page's generic evaluator reads.  One builder per model kind."""

from __future__ import annotations

import base64
import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ModelSpecificationError, NotFittedError
from ._inputs import covariate_inputs

__all__ = [
    "EXPORTABLE_ITE",
    "FORMAT",
    "SUPPORTED_KINDS",
    "VERSION",
    "ite_spec",
    "nmr_spec",
    "tree_spec",
]

FORMAT = "ipdma.calculator"
VERSION = 1
#: model kinds the page's evaluator knows (one JS function each)
SUPPORTED_KINDS = ("risk-nmr", "ite-linear", "ite-weighted", "ite-network", "tree")
#: TwoStageITE set-ups the calculator exports exactly (pooler "mvma": pooled coefficients)
EXPORTABLE_ITE = ("pooler 'mvma' with any learner it accepts (ols, logistic); pooler "
                  "'weighted-aux-ols' (heterogeneity 'fixed', continuous outcome) with "
                  "learner 'ols' or 'xgboost'")


#: arrays of at least this many bytes are deflated in the page (smaller: plain base64)
PACK_MIN_BYTES = 2048


def risk_features(spec) -> list[dict]:
    """The page's feature list of a prognostic model's design ``spec`` (a numeric input,
    or one indicator per non-reference level of a factor), in the coefficients' order."""
    feats: list[dict] = []
    for col in spec.covariates:
        if col in spec.levels:
            feats += [{"input": str(col), "kind": "indicator", "level": str(lv)}
                      for lv in spec.levels[col][1:]]
        else:
            feats.append({"input": str(col), "kind": "numeric"})
    return feats


def _pack(a: np.ndarray) -> str | dict:
    """An array's little-endian bytes for the page: base64, or -- from
    ``PACK_MIN_BYTES`` on -- ``{"zlib": base64, "shuffle": itemsize, "n": bytes}``: the
    bytes regrouped by position within the item (all first bytes, then all second
    bytes, ...: the sign/exponent bytes of similar numbers then compress well) and
    deflated (zlib, level 9).  Lossless; the page inflates it with the browser's own
    ``DecompressionStream`` at start-up."""
    import zlib

    a = np.ascontiguousarray(a)
    raw = a.tobytes()
    if len(raw) < PACK_MIN_BYTES:
        return base64.b64encode(raw).decode("ascii")
    k = a.dtype.itemsize
    shuffled = np.frombuffer(raw, np.uint8).reshape(-1, k).T.tobytes() if k > 1 else raw
    return {"zlib": base64.b64encode(zlib.compress(shuffled, 9)).decode("ascii"),
            "shuffle": int(k), "n": len(raw)}


def _f64(a: np.ndarray) -> str | dict:
    """Little-endian float64 values, exact (see :func:`_pack`)."""
    return _pack(np.asarray(a, dtype="<f8"))


def _b64(a: np.ndarray) -> str | dict:
    return _pack(np.asarray(a))


def _version() -> str:
    from .. import __version__

    return str(__version__)


def provenance(method: str, data: str, extra: Mapping[str, Any] | None = None) -> dict:
    out = {"method": method, "data": data,
           "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
           "ipdma_version": _version()}
    out.update(extra or {})
    return out


def _level_constants(level: float) -> dict:
    return {"level": float(level), "z": float(stats.norm.ppf(0.5 + level / 2)),
            "alpha_half": float((1 - level) / 2)}


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


# --------------------------------------------------------------------------- risk NMR
def _display_rows(X: np.ndarray, inputs: list[dict]) -> np.ndarray:
    """Rows for the display-only plot of development patients: up to 300 of them (fixed
    seed), or -- for a model loaded from a file, which keeps no patient rows -- a grid
    over the first input's development range with the other inputs at their defaults."""
    if len(X):
        rng = np.random.default_rng(0)
        return X[rng.choice(len(X), size=min(300, len(X)), replace=False)]
    base = np.array([float(i["default"]) if i.get("default") is not None else 0.0
                     for i in inputs])
    lo, hi = inputs[0].get("min"), inputs[0].get("max")
    lo = base[0] - 1.0 if lo is None else float(lo)
    hi = base[0] + 1.0 if hi is None else float(hi)
    grid = np.tile(base, (50, 1))
    grid[:, 0] = np.linspace(lo, hi, 50)
    return grid


def _stored_inputs(model) -> list[dict] | None:
    """Development-data summaries kept by a model loaded from a model file (it has no
    patient rows); None for a model fitted in this session (its data are used)."""
    stored = getattr(model, "_model_inputs", None)
    if stored is None:
        return None
    return [dict(e) for e in stored]


def _stage1(risk_model, data, units, labels) -> tuple[dict, list[dict]]:
    from ..prognosis import RiskModel

    if not isinstance(risk_model, RiskModel):
        raise ModelSpecificationError(
            f"risk_model must be a fitted ipdma.prognosis.RiskModel, not "
            f"{type(risk_model).__name__}")
    if not hasattr(risk_model, "coef_"):
        raise NotFittedError("risk_model is not fitted: call RiskModel(...).fit(...) first")
    spec = risk_model._spec
    feats = risk_features(spec)
    coef = risk_model.coef_.to_numpy(dtype=float)
    if len(feats) != coef.size - 1:  # pragma: no cover - guarded by RiskModel itself
        raise ModelSpecificationError("risk_model coefficients do not match its covariates")
    inputs = covariate_inputs(data, spec.covariates, levels=spec.levels, units=units,
                              labels=labels,
                              summaries=_stored_inputs(risk_model) if data is None else None)
    return {"intercept": float(coef[0]), "coef": coef[1:].tolist(), "features": feats}, inputs


def nmr_spec(res, *, risk_model=None, data: pd.DataFrame | None = None,
             baseline: str | None = None, point: str = "logit_mean",
             title: str | None = None, units: Mapping[str, str] | None = None,
             labels: Mapping[str, str] | None = None, outcome_label: str | None = None,
             data_label: str | None = None) -> dict:
    """Spec of a fitted :class:`ipdma.nmr.RiskNMRResult` (with its stage-1 RiskModel)."""
    from ..nmr import RiskNMRResult

    if not isinstance(res, RiskNMRResult):
        raise ModelSpecificationError(f"expected a fitted RiskNMR result, not {type(res).__name__}")
    if res._theta_draws is None:
        raise NotFittedError("the RiskNMR result has no estimates")
    d = res.design
    if baseline is None:
        baseline = "external" if res._external is not None else "trials"
    if baseline not in ("external", "trials", "control-model"):
        raise ModelSpecificationError(
            f"baseline must be 'external', 'trials' or 'control-model', not {baseline!r}")
    control = baseline == "control-model"
    if control:
        res._fit_control_model()     # the model's own errors (no risk term, no events)
    if baseline == "external" and res._external is None:
        raise ModelSpecificationError(
            "baseline='external' needs the external control cohort given to fit(); use "
            "baseline='trials'")
    if point not in ("logit_mean", "mean"):
        raise ModelSpecificationError(f"point must be 'logit_mean' or 'mean', not {point!r}")
    if risk_model is not None and not d.has_risk:
        raise ModelSpecificationError("risk_model= needs a RiskNMR fitted with a risk term")
    J, T = d.n_trials, d.n_treatments
    P = len(res._names)
    # reduced parameters phi = (base, g0, d_1..d_{T-1}, gamma_1..gamma_{T-1}): the
    # prediction of every treatment at covariate x is a fixed combination of them
    Q = np.zeros((2 * T, P))
    if baseline == "trials":
        Q[0, :J] = 1.0 / J
    if d.has_risk and not control:
        Q[1, J + T - 1] = 1.0
    for k in range(1, T):
        Q[1 + k, J + k - 1] = 1.0
        if d.has_risk:
            Q[T + k, J + T - 1 + k] = 1.0
    th = res._theta_draws
    D = th @ Q.T
    if baseline == "external":
        D[:, 0] = res._alpha_draws
    if control:
        # logit P_ref = a + b (R - Rbar) from the control-arm regression replaces the
        # intercept and the prognostic slope g0 (independent of the NMR estimates)
        D[:, :2] = res._control_fit[2]
    model: dict[str, Any] = {
        "engine": res.engine, "baseline": baseline, "point": point,
        "has_risk": bool(d.has_risk), "risk_scale": res.model.risk_scale,
        "centre_pred": float(d.centre_pred) if d.has_risk else 0.0,
        "x_shift": (float(d.centre_pred - np.mean(d.centre_trial))
                    if d.has_risk and baseline == "trials" else 0.0),
        "draws": {"n": int(D.shape[0]),
                  "columns": ["base", "g0"] + [f"d[{t}]" for t in d.treatments[1:]]
                  + [f"gamma[{t}]" for t in d.treatments[1:]],
                  "data": _f64(D.T.ravel())},
    }
    if res.engine == "ml":
        # ML intervals come from the estimate and covariance; the draws only give P(best),
        # for which the terms common to every treatment (base, g0) do not matter
        keep = [k for k, c in enumerate(model["draws"]["columns"]) if c not in ("base", "g0")]
        model["draws"]["columns"] = [model["draws"]["columns"][k] for k in keep]
        model["draws"]["data"] = _f64(D[:, keep].T.ravel())
    if res.engine == "ml":
        theta, V = res._ml.coef, res._ml.cov
        est = Q @ theta
        Vp = Q @ V @ Q.T
        if baseline == "external":
            est[0] = res._alpha_ext[0]
            Vp[0, :] = 0.0
            Vp[:, 0] = 0.0
            Vp[0, 0] = res._alpha_ext[1] ** 2
        if control:
            coef_ab, cov_ab = res._control_fit[0], res._control_fit[1]
            est[:2] = coef_ab
            Vp[:2, :] = 0.0
            Vp[:, :2] = 0.0
            Vp[:2, :2] = cov_ab
        model["estimate"] = est.tolist()
        model["vcov"] = Vp.tolist()
    out_name = outcome_label or str(res.columns["outcome"])
    if risk_model is not None:
        model["stage1"], inputs = _stage1(risk_model, data, units, labels)
    else:
        if d.has_risk:
            lo, hi = res.observed_risk_range()
            r = d.risk_logit[~d.is_ad] if d.is_ad.size else d.risk_logit
            default = float(1 / (1 + np.exp(-np.median(r))))
        else:
            lo = hi = None
            default = 0.2
        model["risk_input"] = "baseline_risk"
        inputs = [{"name": "baseline_risk", "id": "baseline_risk",
                   "label": f"Baseline risk of {out_name} (treatment-blind, 0 to 1)",
                   "type": "numeric", "unit": "probability", "min": lo, "max": hi,
                   "default": round(default, 4), "bounds": [0, 1]}]
    level = float(res.level)
    lvl = _pct(level)
    interval = "CrI" if res.engine == "bayes" else "CI"
    # benefit-by-risk curves (display only): the model's own predict on a grid
    lo_r, hi_r = res.observed_risk_range() if d.has_risk else (0.05, 0.95)
    grid = np.linspace(max(lo_r, 0.005), min(hi_r, 0.995), 60)
    curves = res.predict(risk=grid, baseline=baseline, point=point)
    series = []
    for k, t in enumerate(d.treatments):
        c = curves[curves["treatment"] == t]
        series.append({"name": t, "color": k, "type": "line",
                       "x": np.round(c["baseline_risk"].to_numpy(), 5).tolist(),
                       "y": np.round(c["ard"].to_numpy(), 6).tolist()})
    ys = curves["ard"].to_numpy()
    sign = "fewer" if not res.model.higher_is_better else "more"
    return {
        "format": FORMAT, "version": VERSION, "kind": "risk-nmr", "family": "binary",
        "title": title or f"Treatment calculator: {out_name} under each treatment",
        "outcome": {"name": out_name, "higher_is_better": bool(res.model.higher_is_better)},
        "higher_is_better": bool(res.model.higher_is_better),
        "treatments": list(d.treatments), "reference": d.reference,
        "inputs": inputs, "model": model, "constants": _level_constants(level),
        "row_label": "Treatment",
        "outputs": [
            {"label": f"Predicted risk of {out_name} ({lvl} {interval})",
             "keys": ["prob", "prob_lower", "prob_upper"], "fmt": "pct"},
            {"label": f"Risk difference vs {d.reference} ({lvl} {interval}; + = {sign} events)",
             "keys": ["ard", "ard_lower", "ard_upper"], "fmt": "pp", "ref_blank": True},
            {"label": f"Odds ratio vs {d.reference} ({lvl} {interval})",
             "keys": ["or", "or_lower", "or_upper"], "fmt": "num", "ref_blank": True},
            {"label": "P(best)", "keys": ["p_best"], "fmt": "prob"},
        ],
        "recommend_text": "Recommended (best predicted risk): {treatment}.",
        "plot": {"title": "Benefit by baseline risk", "xlabel": "baseline risk",
                 "ylabel": f"risk difference vs {d.reference}", "xfmt": "pct", "yfmt": "pp",
                 "xlim": [float(grid[0]), float(grid[-1])],
                 "ylim": [float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))],
                 "series": series, "marker_colors": list(range(T))},
        "notes": [
            f"Risks are predicted probabilities of {out_name} for a patient with these "
            f"characteristics under each treatment, from a risk-based network "
            f"meta-regression of {len(d.trials)} trials ({res.engine} engine, "
            f"{res.effects} treatment effects).",
            f"The risk difference is the risk under {d.reference} minus the risk under the "
            "treatment; P(best) is the probability that the treatment has the best risk "
            + ("(posterior draws)." if res.engine == "bayes"
               else "(draws from the normal approximation of the estimates)."),
            "Intervals reflect uncertainty in the average effects, not the variation "
            "between trials or patients.",
        ],
        "provenance": provenance(
            f"RiskNMR(engine={res.engine!r}, effects={res.effects!r}), baseline={baseline!r}"
            + ("; stage 1: RiskModel(" + repr(risk_model.method) + ")"
               if risk_model is not None else ""),
            data_label or f"{d.n} patients, {len(d.trials)} trials, treatments "
                          f"{', '.join(d.treatments)}"),
    }


# --------------------------------------------------------------------------- two-stage ITE
def ite_spec(model, *, data: pd.DataFrame | None = None, treatments: Sequence[str] | None = None,
             higher_is_better: bool | None = None, title: str | None = None,
             units: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
             outcome_label: str | None = None, data_label: str | None = None) -> dict:
    """Spec of a fitted :class:`ipdma.ite.TwoStageITE` (pooled coefficients)."""
    from ..ite import TwoStageITE

    if not isinstance(model, TwoStageITE):
        raise ModelSpecificationError(f"expected a TwoStageITE, not {type(model).__name__}")
    model._check_fitted()
    if getattr(model, "network_", None) is not None:
        from ._spec_network import network_ite_spec

        net = model.network_
        if net.family.name == "survival" and net.scale != "loghr":
            raise ModelSpecificationError(
                f"a time-to-event treatment network on scale {net.scale!r} cannot be "
                "exported to a calculator yet (its absolute ITEs need every trial's "
                "baseline hazard); fit with scale='loghr' (pooler 'mvma') to export the "
                "log hazard ratios")

        return network_ite_spec(model, data=data, treatments=treatments,
                                higher_is_better=higher_is_better, title=title, units=units,
                                labels=labels, outcome_label=outcome_label,
                                data_label=data_label)
    pooler = model.pooler_
    if pooler.name == "weighted-aux-ols":
        return weighted_ite_spec(model, data=data, treatments=treatments,
                                 higher_is_better=higher_is_better, title=title, units=units,
                                 labels=labels, outcome_label=outcome_label,
                                 data_label=data_label)
    if pooler.name != "mvma":
        raise ModelSpecificationError(
            f"TwoStageITE({model.name!r}) cannot be exported to a calculator: its prediction "
            f"needs the per-trial fits of learner {model.learner_.name!r} at every new patient. "
            f"Exportable: {EXPORTABLE_ITE}.")
    fam = pooler.family_
    if fam not in ("continuous", "binary", "survival"):
        raise ModelSpecificationError(
            f"the calculator has no part for the {fam!r} family (continuous, binary, "
            "survival)")
    feats = list(model.feature_names_)
    K = len(pooler.summaries_)
    level = float(pooler.level)
    consts = _level_constants(level)
    consts["z"] = float(pooler._z)
    mdl: dict[str, Any] = {"coef": pooler.coef_.tolist(), "vcov": pooler.vcov_.tolist(),
                           "features": [{"input": f, "kind": "numeric"} for f in feats],
                           "Psi": None}
    if pooler.method != "fixed":
        mdl["Psi"] = pooler.Psi_.tolist()
        consts["q_pi"] = float(stats.t.ppf(0.5 + level / 2, K - 2)
                               if pooler.pi_df == "riley" and K > 2 else pooler._z)
    scale = None
    if fam == "survival":
        from ._spec_survival import survival_ite_part

        mdl, consts = survival_ite_part(model)
        scale = mdl["scale"]
    if fam == "binary":
        from ..families import get_family

        scale = get_family(fam).check_scale(pooler.summaries_[0].scale or None)
        mdl["scale"] = scale
    if data is None and len(model.data_.X):
        data = pd.DataFrame(model.data_.X, columns=feats)
    inputs = covariate_inputs(data, feats, units=units, labels=labels,
                              summaries=_stored_inputs(model) if data is None else None)
    if higher_is_better is None:
        # survival: a positive survival / RMST difference is a benefit, a positive log
        # hazard ratio a harm
        higher_is_better = (fam == "continuous" if fam != "survival"
                            else scale != "loghr")
    trts = list(treatments) if treatments is not None else ["control", "treated"]
    if len(trts) != 2:
        raise ModelSpecificationError(
            f"treatments must name the control and the treated arm, got {trts}")
    out_name = outcome_label or "outcome"
    lvl = _pct(level)
    eff = {"rd": "risk difference", "logor": "log odds ratio",
           "survdiff": f"survival difference at t = {mdl.get('horizon')}",
           "rmstdiff": f"RMST difference up to {mdl.get('tau')}",
           "loghr": "log hazard ratio"}.get(scale, "difference in mean outcome")
    outputs = [{"label": f"Effect: {eff} ({lvl} CI)", "keys": ["ite", "ci_low", "ci_high"],
                "fmt": "pp" if scale == "rd" else "num"}]
    if mdl["Psi"] is not None:
        outputs.append({"label": f"{lvl} prediction interval (new trial)",
                        "keys": ["ite", "pi_low", "pi_high"],
                        "fmt": "pp" if scale == "rd" else "num"})
    if fam == "binary":
        outputs += [{"label": f"Risk under {trts[0]}", "keys": ["p0"], "fmt": "pct"},
                    {"label": f"Risk under {trts[1]}", "keys": ["p1"], "fmt": "pct"}]
    if fam == "survival" and scale != "loghr":
        what, f = (("Survival", "pct") if scale == "survdiff" else ("RMST", "num"))
        outputs += [{"label": f"{what} under {trts[0]} (mean over trials)", "keys": ["p0"],
                     "fmt": f},
                    {"label": f"{what} under {trts[1]} (mean over trials)", "keys": ["p1"],
                     "fmt": f}]
        if scale == "survdiff":
            outputs[0]["fmt"] = "pp"
            if len(outputs) > 1 and "pi_low" in outputs[1]["keys"]:
                outputs[1]["fmt"] = "pp"
    # the development patients' effects (display only): benefit by baseline risk for a
    # binary outcome, by the first covariate otherwise
    sub = _display_rows(model.data_.X, inputs)
    pr = pooler.predict(sub)
    if fam == "binary":
        px, xlab, xfmt = pr.p0, f"risk under {trts[0]}", "pct"
    else:
        px, xlab, xfmt = sub[:, 0], feats[0], "num"
    series = [{"name": "development patients", "color": 0, "type": "points",
               "x": np.round(px, 5).tolist(), "y": np.round(pr.ite, 6).tolist()}]
    return {
        "format": FORMAT, "version": VERSION, "kind": "ite-linear", "family": fam,
        "title": title or f"Treatment calculator: effect of {trts[1]} vs {trts[0]}",
        "outcome": {"name": out_name, "higher_is_better": bool(higher_is_better),
                    "scale": scale},
        "higher_is_better": bool(higher_is_better),
        "treatments": trts, "reference": trts[0], "inputs": inputs, "model": mdl,
        "constants": consts, "row_label": "Comparison", "outputs": outputs,
        "recommend_text": "Favoured by the predicted effect: {treatment}.",
        "plot": {"title": "Predicted effect", "xlabel": xlab, "ylabel": eff,
                 "xfmt": xfmt, "yfmt": "pp" if scale == "rd" else "num",
                 "x_input": None if fam == "binary" else feats[0],
                 "xlim": [float(np.min(px)), float(np.max(px))],
                 "ylim": [float(min(np.min(pr.ite), 0)), float(max(np.max(pr.ite), 0))],
                 "series": series, "marker_colors": [1]},
        "notes": [
            f"The effect is the predicted {eff} between {trts[1]} and {trts[0]} for a "
            f"patient with these characteristics, from a two-stage IPD meta-analysis of "
            f"{K} trials ({model.name}).",
            "The confidence interval covers the average effect for such patients; the "
            "prediction interval adds the between-trial heterogeneity (a patient of a new "
            "trial)." if mdl["Psi"] is not None else
            "The confidence interval covers the average effect for such patients.",
            f"'Favoured' only compares the point estimate with 0 ({'higher' if higher_is_better else 'lower'} "
            f"{out_name} is better); it is not a test.",
        ],
        "provenance": provenance(f"TwoStageITE({model.learner_.name!r}, 'mvma', "
                                 f"method={pooler.method!r})",
                                 data_label or f"{len(model.data_.t)} patients, {K} trials"),
    }


# --------------------------------------------------------------------------- trees
def _tree_parts(model):
    """(MOB object, effects table, family) of a MOB or MetaMOB."""
    from ..trees import MOB, MetaMOB

    if isinstance(model, MetaMOB):
        model._check()
        return model.tree_, model.node_effects(), model.family_, float(model.level)
    if isinstance(model, MOB):
        model._check_fitted()
        fam = {"linear model": "continuous", "logistic model": "binary",
               "Weibull regression": "survival"}.get(getattr(model._model, "name", ""),
                                                     "other")
        return model, model.effects(), fam, 0.95
    raise ModelSpecificationError(f"expected a fitted MOB or MetaMOB, not {type(model).__name__}")


def tree_spec(model, *, data: pd.DataFrame | None = None,
              treatments: Sequence[str] | None = None, higher_is_better: bool | None = None,
              title: str | None = None, units: Mapping[str, str] | None = None,
              labels: Mapping[str, str] | None = None, outcome_label: str | None = None,
              data_label: str | None = None, tau: float | None = None) -> dict:
    """Spec of a fitted :class:`ipdma.trees.MOB` or :class:`ipdma.trees.MetaMOB`
    (time-to-event MOB: also the hazard ratio, time ratio and RMST difference up to
    ``tau`` of every subgroup)."""
    mob, eff, fam, level = _tree_parts(model)
    surv_cols: list[str] = []
    if fam == "survival":
        try:
            se_tab = mob.survival_effects(tau=tau, level=level)
        except AttributeError:        # a model loaded from a file keeps no patient rows
            se_tab = getattr(mob, "_survival_effects", None)
        if se_tab is not None and getattr(mob, "_survival_effects", None) is se_tab \
                and tau is not None and float(se_tab["tau"].iloc[0]) != float(tau):
            raise ModelSpecificationError(
                f"this tree was read from a model file, which keeps its subgroup "
                f"effects at tau = {float(se_tab['tau'].iloc[0]):g} only (the other "
                f"horizons need the patient rows); drop tau / --tau")
        if se_tab is not None:
            surv_cols = ["hr", "hr_lower", "hr_upper", "tr", "tr_lower", "tr_upper",
                         "rmst_diff", "rmst_diff_lower", "rmst_diff_upper", "rmst_0",
                         "rmst_1"]
            eff = eff.merge(se_tab[["node", "tau", *surv_cols]], on="node", how="left")
            tau = float(se_tab["tau"].iloc[0])
    nodes: dict[str, dict] = {}
    used: list[str] = []
    for nd in mob.tree_.walk():
        entry: dict[str, Any] = {"id": int(nd.id), "children": [int(c.id) for c in nd.children],
                                 "split": None}
        if nd.split is not None:
            sp = nd.split
            if sp.variable not in used:
                used.append(sp.variable)
            s = {"variable": sp.variable, "kind": sp.kind, "labels": sp.labels(),
                 "default_kid": int(np.argmax([c.nobs for c in nd.children]))}
            if sp.kind == "numeric":
                s["breaks"] = float(sp.breaks)
            else:
                s["levels"] = [str(v) for v in sp.levels]
                if sp.kind == "ordered":
                    s["breaks"] = int(sp.breaks)
                else:
                    s["index"] = [int(i) for i in sp.index]
            entry["split"] = s
        nodes[str(nd.id)] = entry
    specs = {s.name: s for s in mob._specs}
    # the inputs are the splitting variables, in the order of the partitioning variables
    cols = [s.name for s in mob._specs if s.name in used]
    levels = {c: specs[c].levels for c in cols if specs[c].kind != "numeric"}
    inputs = covariate_inputs(data, cols, levels=levels, units=units, labels=labels,
                              summaries=_stored_inputs(model) if data is None else None)
    keep = [c for c in ("estimate", "se", "ci_lower", "ci_upper", "odds_ratio",
                        "or_ci_lower", "or_ci_upper", "p0", "p1", "risk_diff",
                        "rd_ci_lower", "rd_ci_upper", *surv_cols) if c in eff.columns]
    effects = {str(int(r["node"])): {c: (None if not np.isfinite(r[c]) else float(r[c]))
                                     for c in keep} | {"id": int(r["node"]), "n": float(r["n"])}
               for _, r in eff.iterrows()}
    coef = str(eff["coef"].iloc[0])
    if higher_is_better is None:
        # survival: the coefficient is a log time ratio (positive = longer survival)
        higher_is_better = fam in ("continuous", "survival")
    trts = list(treatments) if treatments is not None else [f"{coef} = control",
                                                            f"{coef} = treated"]
    if len(trts) != 2:
        raise ModelSpecificationError(
            f"treatments must name the control and the treated arm, got {trts}")
    lvl = _pct(level)
    scale = {"binary": "log odds ratio", "continuous": "difference in mean outcome",
             "survival": "log time ratio (Weibull)"}.get(fam, "node-model coefficient")
    outputs = [{"label": f"Subgroup effect: {scale} ({lvl} CI)",
                "keys": ["estimate", "ci_lower", "ci_upper"], "fmt": "num"},
               {"label": "SE", "keys": ["se"], "fmt": "num"}]
    if "odds_ratio" in keep:
        outputs.append({"label": f"Odds ratio ({lvl} CI)",
                        "keys": ["odds_ratio", "or_ci_lower", "or_ci_upper"], "fmt": "num"})
    if "risk_diff" in keep:
        outputs.append({"label": f"Risk difference at the subgroup's average baseline ({lvl} CI)",
                        "keys": ["risk_diff", "rd_ci_lower", "rd_ci_upper"], "fmt": "pp"})
    if surv_cols:
        outputs += [
            {"label": f"Hazard ratio ({lvl} CI)", "keys": ["hr", "hr_lower", "hr_upper"],
             "fmt": "num"},
            {"label": f"Time ratio ({lvl} CI)", "keys": ["tr", "tr_lower", "tr_upper"],
             "fmt": "num"},
            {"label": f"RMST difference up to {tau:g} ({lvl} CI; + = longer survival)",
             "keys": ["rmst_diff", "rmst_diff_lower", "rmst_diff_upper"], "fmt": "num"}]
    ids = [int(i) for i in eff["node"]]
    est = eff["estimate"].to_numpy(float)
    lo, hi = eff["ci_lower"].to_numpy(float), eff["ci_upper"].to_numpy(float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    kind = "MetaMOB" if mob is not model else "MOB"
    out_name = outcome_label or "outcome"
    return {
        "format": FORMAT, "version": VERSION, "kind": "tree", "family": fam,
        "title": title or "Subgroup calculator: which subgroup, which effect",
        "outcome": {"name": out_name, "higher_is_better": bool(higher_is_better)},
        "higher_is_better": bool(higher_is_better), "treatments": trts, "reference": trts[0],
        "inputs": inputs,
        "model": {"root": int(mob.tree_.id), "nodes": nodes, "effects": effects,
                  "columns": keep, "coef": coef},
        "constants": {"level": level}, "row_label": "Subgroup", "outputs": outputs,
        "recommend_text": "Favoured in this subgroup (point estimate): {treatment}.",
        "plot": {"title": "Effect per subgroup", "xlabel": "terminal node (subgroup)",
                 "ylabel": scale, "xfmt": "int", "yfmt": "num", "xticks": ids,
                 "xlim": [min(ids) - 0.7, max(ids) + 0.7],
                 "ylim": [float(min(np.min(lo[ok]) if ok.any() else 0, 0)),
                          float(max(np.max(hi[ok]) if ok.any() else 0, 0))],
                 "series": [{"name": "node effects", "color": 0, "type": "bars", "x": ids,
                             "y": np.round(est, 6).tolist(),
                             "lo": np.round(np.where(ok, lo, est), 6).tolist(),
                             "hi": np.round(np.where(ok, hi, est), 6).tolist()}],
                 "marker_colors": [1]},
        "notes": [
            f"The patient's subgroup is the terminal node of the {kind} tree reached by the "
            "split rules; its effect is the subgroup's estimated treatment effect, the same "
            "for every patient in the subgroup.",
            "Subgroups were found in the same data that estimate their effects: intervals "
            "are optimistic, and the tree is a description, not a validated rule.",
        ],
        "provenance": provenance(f"{kind} ({len(ids)} subgroups; split variables "
                                 f"{', '.join(cols) or 'none'})",
                                 data_label or f"{int(sum(e['n'] for e in effects.values()))} "
                                               "patients"),
    }


# --------------------------------------------------------------------------- weighted ITE
def _xgb_trees(booster) -> dict:
    """An XGBoost booster's trees as flat arrays (float32 values stored exactly)."""
    import json

    model = json.loads(booster.save_raw("json"))
    learner = model["learner"]
    obj = learner["objective"]["name"]
    if obj != "reg:squarederror":
        raise ModelSpecificationError(
            f"the calculator evaluates XGBoost trees of continuous outcomes "
            f"(reg:squarederror); this learner uses {obj!r}")
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise ModelSpecificationError(f"XGBoost booster {gb.get('name')!r} is not a tree model")
    base = str(learner["learner_model_param"]["base_score"]).strip("[]").split(",")[0]
    left, right, feat, cond, dleft, roots = [], [], [], [], [], []
    for tree in gb["model"]["trees"]:
        if any(int(s) != 0 for s in tree.get("split_type", [])):
            raise ModelSpecificationError("categorical XGBoost splits are not exported")
        off = len(left)
        roots.append(off)
        lc = np.asarray(tree["left_children"], dtype=np.int64)
        rc = np.asarray(tree["right_children"], dtype=np.int64)
        left += np.where(lc >= 0, lc + off, -1).tolist()
        right += np.where(rc >= 0, rc + off, -1).tolist()
        feat += [int(v) for v in tree["split_indices"]]
        if feat and max(feat) >= 2**16:  # pragma: no cover - 65536 features
            raise ModelSpecificationError("XGBoost model with more than 65535 features")
        # split value of an inner node, leaf value of a leaf: float32, kept exactly
        cond += np.asarray(tree["split_conditions"], dtype=np.float32).astype(float).tolist()
        dleft += [int(v) for v in tree["default_left"]]
    # compact and exact: little-endian typed arrays, base64 (float32 values are XGBoost's
    # own); children as offsets from the node (int16 when every offset fits), the right
    # child only when the children are not stored in pairs, the default direction only
    # when some node sends missing values left
    left_a, right_a = np.asarray(left, np.int64), np.asarray(right, np.int64)
    pos = np.arange(left_a.size)
    inner = left_a >= 0
    step = np.where(inner, left_a - pos, 0)
    wide = step.max(initial=0) >= 2**15 or step.min(initial=0) < -(2**15)
    feat_a = np.asarray(feat)
    out = {"base": float(np.float32(float(base))), "n_nodes": int(left_a.size),
           "roots": _b64(np.asarray(roots, "<i4")),
           "left_step": _b64(step.astype("<i4" if wide else "<i2")),
           "step_bytes": 4 if wide else 2,
           "feature": _b64(feat_a.astype("u1" if feat_a.max(initial=0) < 256 else "<u2")),
           "feature_bytes": 1 if feat_a.max(initial=0) < 256 else 2,
           "value": _b64(np.asarray(cond, "<f4"))}
    if not np.array_equal(right_a[inner], left_a[inner] + 1):   # children not in pairs
        out["right"] = _b64(right_a.astype("<i4"))
    if any(dleft):
        out["default_left"] = _b64(np.asarray(dleft, "u1"))
    return out


def weighted_ite_spec(model, *, data: pd.DataFrame | None = None,
                      treatments: Sequence[str] | None = None,
                      higher_is_better: bool | None = None, title: str | None = None,
                      units: Mapping[str, str] | None = None,
                      labels: Mapping[str, str] | None = None, outcome_label: str | None = None,
                      data_label: str | None = None) -> dict:
    """Spec of a TwoStageITE with pooler ``weighted-aux-ols`` (fixed weights): every
    trial's learner (OLS coefficients or XGBoost trees) and auxiliary-OLS covariance."""
    from ..ite import OLSLearner, XGBoostSLearner

    pooler = model.pooler_
    if pooler.heterogeneity != "fixed":
        raise ModelSpecificationError(
            f"TwoStageITE({model.name!r}) with heterogeneity={pooler.heterogeneity!r} is not "
            f"exported (its weights need a per-patient tau^2 fit). Exportable: "
            f"{EXPORTABLE_ITE}")
    fits = model.fits_
    if any(getattr(f.learner, "family_", None) is not None
           and f.learner.family_.name != "continuous" for f in fits):
        raise ModelSpecificationError(
            f"TwoStageITE({model.name!r}) for a binary outcome is not exported (XGBoost's "
            f"float32 sigmoid cannot be reproduced exactly). Exportable: {EXPORTABLE_ITE}")
    trials = []
    for f in fits:
        lrn = f.learner
        if isinstance(lrn, XGBoostSLearner):
            part = {"learner": "xgboost", "trees": _xgb_trees(lrn.booster_)}
        elif isinstance(lrn, OLSLearner):
            part = {"learner": "linear", "theta": lrn.coef_cov()[0].tolist()}
        else:
            raise ModelSpecificationError(
                f"learner {lrn.name!r} of TwoStageITE({model.name!r}) cannot be exported. "
                f"Exportable: {EXPORTABLE_ITE}")
        part["trial"] = f.label
        part["aux_vcov"] = f.aux.coef_cov()[1].tolist()
        trials.append(part)
    feats = list(model.feature_names_)
    level = float(pooler.level)
    consts = _level_constants(level)
    consts["z"] = float(pooler._z)
    if data is None and len(model.data_.X):
        data = pd.DataFrame(model.data_.X, columns=feats)
    inputs = covariate_inputs(data, feats, units=units, labels=labels,
                              summaries=_stored_inputs(model) if data is None else None)
    if higher_is_better is None:
        higher_is_better = True
    trts = list(treatments) if treatments is not None else ["control", "treated"]
    if len(trts) != 2:
        raise ModelSpecificationError(
            f"treatments must name the control and the treated arm, got {trts}")
    sub = _display_rows(model.data_.X, inputs)
    import copy

    pr = copy.deepcopy(pooler).fit([f.summarize(sub) for f in fits]).predict(sub)
    lvl = _pct(level)
    out_name = outcome_label or "outcome"
    return {
        "format": FORMAT, "version": VERSION, "kind": "ite-weighted", "family": "continuous",
        "title": title or f"Treatment calculator: effect of {trts[1]} vs {trts[0]}",
        "outcome": {"name": out_name, "higher_is_better": bool(higher_is_better)},
        "higher_is_better": bool(higher_is_better), "treatments": trts, "reference": trts[0],
        "inputs": inputs,
        "model": {"features": [{"input": f, "kind": "numeric"} for f in feats],
                  "trials": trials},
        "constants": consts, "row_label": "Comparison",
        "outputs": [{"label": f"Effect: difference in mean outcome ({lvl} CI)",
                     "keys": ["ite", "ci_low", "ci_high"], "fmt": "num"},
                    {"label": "SE", "keys": ["se"], "fmt": "num"}],
        "recommend_text": "Favoured by the predicted effect: {treatment}.",
        "plot": {"title": "Predicted effect", "xlabel": feats[0],
                 "ylabel": "difference in mean outcome", "xfmt": "num", "yfmt": "num",
                 "x_input": feats[0], "xlim": [float(sub[:, 0].min()), float(sub[:, 0].max())],
                 "ylim": [float(min(pr.ite.min(), 0)), float(max(pr.ite.max(), 0))],
                 "series": [{"name": "development patients", "color": 0, "type": "points",
                             "x": np.round(sub[:, 0], 5).tolist(),
                             "y": np.round(pr.ite, 6).tolist()}],
                 "marker_colors": [1]},
        "notes": [
            f"The effect is the inverse-variance weighted average of the {len(trials)} "
            f"trials' predicted effects ({model.name}) for a patient with these "
            "characteristics; the weights come from each trial's auxiliary linear model.",
            "The confidence interval treats the trials as estimating one common effect "
            "(fixed weights); it is not a prediction interval for a new trial.",
            f"'Favoured' only compares the point estimate with 0 ({'higher' if higher_is_better else 'lower'} "
            f"{out_name} is better); it is not a test.",
        ],
        "provenance": provenance(f"TwoStageITE({model.learner_.name!r}, 'weighted-aux-ols', "
                                 "heterogeneity='fixed')",
                                 data_label or f"{len(model.data_.t)} patients, {len(trials)} trials"),
    }

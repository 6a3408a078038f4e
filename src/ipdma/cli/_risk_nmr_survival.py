"""``ipdma risk-nmr --time COL --event COL``: the time-to-event risk-based NMR."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._lazy import lazy_module
from ..errors import DataError, ModelSpecificationError
from ._common import emit, ipd_from_args, patient_frame, split_list, status

pd = lazy_module("pandas")   # not imported by the parser (fast --help)

_KINDS = {"survival": "Predicted survival at the horizon vs the baseline risk score, per "
                      "treatment",
          "benefit": "Survival difference at the horizon vs the reference",
          "rmst": "Difference in restricted mean survival time vs the reference",
          "hr": "Hazard ratio vs the reference against the baseline risk score",
          "which": "Probability that each treatment is best, per patient"}
_SCORE = "risk_lp"


def _load_survival_model(path: str):
    from ..errors import IPDMAError
    from ..prognosis import SurvivalRiskModel

    if not Path(path).is_file():
        raise DataError(f"risk model file {path!r} does not exist: it is written as "
                        "risk_model.json by `ipdma risk-nmr --time ... --covariates ...`")
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(f"{path!r} is not an ipdma risk model: it is not a JSON file") from None
    try:
        return SurvivalRiskModel.from_dict(d)
    except IPDMAError as exc:
        raise DataError(f"{path!r} is not a time-to-event risk model (--time was given): "
                        f"{exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DataError(f"{path!r} is not an ipdma SurvivalRiskModel JSON: "
                        f"{type(exc).__name__} {exc}") from None


def _check_options(args: argparse.Namespace) -> str:
    stage1 = args.stage1 or "cox"
    if stage1 in ("pmle", "glm"):
        raise ModelSpecificationError(
            f"--stage1 {stage1} is a logistic model; with --time use cox (default), lasso or "
            "elasticnet")
    if args.external_control:
        raise ModelSpecificationError("--external-control is available for binary outcomes "
                                      "only (not with --time)")
    if args.effects != "common" and args.engine != "bayes":
        raise ModelSpecificationError("--effects random with --time needs --engine bayes "
                                      "(random log-hazard-ratio treatment effects); the ML "
                                      "engine has common effects only")
    for opt in ("horizon", "tau"):
        v = getattr(args, opt)
        if v is not None and not v > 0:
            raise ModelSpecificationError(f"--{opt} must be a positive time, not {v:g}")
    return stage1


def run_survival(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from ..nmr import RiskNMR
    from ..prognosis import SurvivalRiskModel
    from ..report import Report
    from ._risk_nmr import _argv, _dropped_section, _numeric_score, _with_ids

    stage1_method = _check_options(args)
    if args.risk_score and args.covariates:
        raise ModelSpecificationError("give either --covariates (fit stage 1) or --risk-score "
                                      "(use an existing score), not both")
    out = Path(args.out)
    payload: dict = {"files": {}}
    rep = Report("Risk-based network meta-regression (time to event)", subtitle=str(args.file))
    stage1 = rep.section("Stage 1: baseline-risk model (Cox)")
    model = None
    if args.risk_model:
        model = _load_survival_model(args.risk_model)
        args.covariates = ",".join(model.covariates_)
    elif not args.risk_score and not split_list(args.covariates):
        raise ModelSpecificationError("stage 1 needs --covariates A,B,... (or give "
                                      "--risk-score COL / --risk-model MODEL.json)")
    ipd = ipd_from_args(args, reference=args.reference)
    data = ipd.data.copy()
    out.mkdir(parents=True, exist_ok=True)
    if args.risk_score:
        if args.risk_score not in data:
            from ..errors import column_not_found

            raise column_not_found(args.risk_score, data.columns, "--risk-score",
                                   where=str(args.file))
        data[_SCORE] = _numeric_score(ipd, args.risk_score)
        stage1.text(f"Stage 1 skipped: the risk score {args.risk_score!r} (log relative hazard "
                    "scale) was given.")
        payload["stage1"] = {"source": f"column {args.risk_score}"}
    else:
        if model is None:
            status(f"stage 1: fitting the {stage1_method} Cox risk model on {len(data)} "
                   "patients (trial-stratified baselines)")
            kw = {"penalty": "cv"} if stage1_method != "cox" else {}
            model = SurvivalRiskModel(stage1_method, trial_effect="strata",
                                      horizon=args.horizon, random_state=args.seed,
                                      **kw).fit(ipd)
            model.to_json(out / "risk_model.json")
            payload["files"]["risk_model"] = str(out / "risk_model.json")
        else:
            status(f"stage 1: scoring with the saved model {args.risk_model}")
        data[_SCORE] = model.predict_lp(data)
        coefs = model.to_frame()
        coefs.to_csv(out / "stage1_coefficients.csv", index=False)
        stage1.table(coefs, caption="Stage-1 Cox coefficients (log hazard ratios)", index=False)
        payload["stage1"] = {"method": stage1_method, "coefficients": coefs}
        if args.bootstrap > 0 and not args.risk_model:
            status(f"stage 1: bootstrap optimism correction (B = {args.bootstrap})")
            val = model.validate(B=args.bootstrap, random_state=args.seed, progress=None)
            vt = val.to_frame()
            vt.to_csv(out / "stage1_validation.csv", index=False)
            stage1.html(val.summary().as_html())
            payload["stage1"]["validation"] = vt
            if ipd.data[args.trial].nunique() > 1:
                it = model.validate(method="iecv").to_frame()
                it.to_csv(out / "stage1_iecv.csv", index=False)
                stage1.table(it, caption="Internal-external cross-validation (leave one "
                                         "trial out)", index=False)
                payload["stage1"]["iecv"] = it
    status(f"stage 2: {args.engine} {args.survival_model or 'cox'} network meta-regression "
           f"({args.effects} effects)")
    nmr = RiskNMR(engine=args.engine, reference=ipd.reference, random_state=args.seed,
                  effects=args.effects,
                  survival_model=args.survival_model or "cox").fit(
        data, trial=args.trial, treatment=args.treatment, time=ipd.time_col,
        event=ipd.outcome_col, risk=_SCORE)
    horizon = args.horizon if args.horizon is not None else nmr.horizon
    tau = args.tau if args.tau is not None else horizon
    params = nmr.to_frame()
    params.to_csv(out / "stage2_estimates.csv", index=False)
    grid = nmr.predict(horizon=horizon, tau=tau)
    grid.to_csv(out / "predictions_by_risk.csv", index=False)
    ids = patient_frame(args, ipd)
    patients = nmr.predict(data[[_SCORE]].set_axis(ipd.row_number), horizon=horizon, tau=tau)
    _with_ids(patients, ids).to_csv(out / "predictions_by_patient.csv", index=False)
    keep = [c for c in (args.treatment, ipd.time_col, ipd.outcome_col) if c not in ids.columns]
    pd.concat([ids.reset_index(drop=True), data[[*keep, _SCORE]].reset_index(drop=True)],
              axis=1).to_csv(out / "risk_scores.csv", index=False)
    payload["dropped_rows"] = ipd.drop_report()
    payload["files"]["risk_scores"] = str(out / "risk_scores.csv")
    _dropped_section(rep, ipd)
    stage2 = rep.section("Stage 2: Cox network meta-regression on the baseline risk score")
    stage2.html(nmr.summary().as_html())
    for kind, caption in _KINDS.items():
        ax = nmr.plot(kind, horizon=horizon, tau=tau) if kind != "which" else nmr.plot(kind)
        ax.figure.savefig(out / f"{kind}.png", dpi=130, bbox_inches="tight")
        stage2.figure(ax, caption=caption)
        payload["files"][f"plot_{kind}"] = str(out / f"{kind}.png")
    plt.close("all")
    rec = patients.loc[patients["recommended"].astype(bool), "treatment"]
    share = rec.value_counts(normalize=True)
    stage2.conclusions([
        f"{len(data)} patients ({int(data[ipd.outcome_col].sum())} events) in "
        f"{data[args.trial].nunique()} trials; reference {ipd.reference!r}; {args.engine} "
        f"engine; survival at t* = {horizon:g}, RMST up to {tau:g}.",
        "Treatment with the highest predicted survival, share of patients: "
        + ", ".join(f"{t} {p:.0%}" for t, p in share.items()) + "."])
    argv = [*_argv(args), "--time", str(args.time), "--event", str(args.event)]
    for opt in ("horizon", "tau", "survival_model"):
        if getattr(args, opt) is not None:
            argv += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
    stage2.code(" ".join(["ipdma", "risk-nmr", *argv]), caption="Command")
    index = rep.write(out)
    payload["files"].update({"stage2_estimates": str(out / "stage2_estimates.csv"),
                             "predictions_by_risk": str(out / "predictions_by_risk.csv"),
                             "predictions_by_patient": str(out / "predictions_by_patient.csv"),
                             "report": str(index)})
    payload["stage2"] = {"engine": args.engine, "outcome": "time to event",
                         "model": args.survival_model or "cox",
                         "reference": ipd.reference, "horizon": horizon, "tau": tau,
                         "estimates": params}
    if args.engine == "bayes":
        payload["stage2"]["diagnostics"] = nmr.diagnostics
    from ._common import write_model_file

    nmr.horizon = float(horizon)      # the model file's default horizon: this run's
    # Bayesian Cox: the file keeps every draw's baseline at this horizon / tau
    saved = write_model_file(args, nmr, risk_model=model, horizon=horizon, tau=tau)
    if saved:
        payload["files"]["model"] = saved
    emit(args, text=f"{nmr.summary()}\n\nwritten to {index.parent}", payload=payload)
    return 0

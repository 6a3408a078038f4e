"""``ipdma risk-nmr`` and ``ipdma risk-score``: risk-based two-stage network meta-regression."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_ipd_arguments, emit, ipd_from_args, read_csv, split_list, status

_KINDS = {"risk": "Predicted outcome probability vs baseline risk, per treatment",
          "or": "Odds ratio vs the reference against baseline risk",
          "benefit": "Absolute benefit (risk difference vs the reference) against baseline risk",
          "which": "Probability that each treatment is best, per patient"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "risk-nmr", help="risk-based two-stage IPD network meta-regression (Chalkou et al.)",
        description="Stage 1 develops a penalised logistic model of baseline risk from the "
                    "covariates (internally validated); stage 2 fits an IPD network "
                    "meta-regression of the outcome on the trial-centred logit risk and "
                    "predicts each patient's outcome under every treatment. Give "
                    "--risk-score COL to skip stage 1 and use an existing logit-scale score, "
                    "or --risk-model MODEL.json to score with a saved stage-1 model.")
    add_ipd_arguments(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--risk-score", metavar="COL", default=None,
                     help="existing risk score on the logit scale (skips stage 1)")
    src.add_argument("--risk-model", metavar="MODEL.json", default=None,
                     help="saved stage-1 model (risk_model.json of an earlier run)")
    p.add_argument("--reference", default=None, metavar="TRT",
                   help="reference treatment (default: a placebo/control-like label)")
    p.add_argument("--external-control", metavar="FILE.csv", default=None,
                   help="external control cohort (same outcome column) whose event rate "
                        "sets the reference-treatment baseline of absolute predictions; "
                        "default (no file): the equally weighted average of the "
                        "trial-specific predictions")
    p.add_argument("--engine", choices=["bayes", "ml"], default="bayes",
                   help="stage-2 engine: NUTS (NumPyro; default) or maximum likelihood")
    p.add_argument("--effects", choices=["common", "random"], default="common",
                   help="common or random treatment effects (default common)")
    p.add_argument("--stage1", choices=["pmle", "glm", "lasso", "elasticnet"], default="pmle",
                   help="stage-1 estimation: penalised ML with the penalty chosen by AIC "
                        "(default), plain glm, or LASSO / elastic net with 10-fold CV")
    p.add_argument("--bootstrap", type=int, default=200, metavar="B",
                   help="bootstrap replicates of stage-1 optimism correction (default 200; 0 "
                        "skips)")
    p.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true",
                   help="print stage-1 validation metrics and stage-2 estimates as JSON")
    p.set_defaults(func=run)

    s = subparsers.add_parser(
        "risk-score", help="score a file with a saved stage-1 risk model",
        description="Adds the columns risk and logit_risk to FILE.csv using a stage-1 model "
                    "saved by `ipdma risk-nmr` (DIR/risk_model.json).")
    s.add_argument("model", metavar="MODEL.json")
    s.add_argument("file", metavar="FILE.csv")
    s.add_argument("--out", required=True, metavar="OUT.csv")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=run_score)


def _load_model(path: str):
    from ..errors import DataError
    from ..prognosis import RiskModel

    if not Path(path).is_file():
        raise DataError(f"risk model file {path!r} does not exist: it is written as "
                        "risk_model.json by `ipdma risk-nmr ... --covariates ...`")
    return RiskModel.from_json(path)


def run_score(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    df = read_csv(args.file)
    scores = model.score(df, missing="nan")
    out = df.assign(risk=scores["risk"], logit_risk=scores["logit_risk"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    n_nan = int(scores["risk"].isna().sum())
    text = f"scored {len(df)} rows with {args.model} -> {args.out}"
    if n_nan:
        text += f" ({n_nan} rows with missing covariates have no score)"
    emit(args, text=text, payload={"n_rows": len(df), "n_unscored": n_nan, "out": args.out,
                                   "covariates": list(model.covariates_)})
    return 0


def run(args: argparse.Namespace) -> int:
    import matplotlib.pyplot as plt

    from ..errors import DataError, ModelSpecificationError, column_not_found
    from ..nmr import RiskNMR
    from ..prognosis import RiskModel
    from ..report import Report

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload: dict = {"files": {}}
    rep = Report("Risk-based network meta-regression", subtitle=str(args.file))
    stage1 = rep.section("Stage 1: baseline-risk model")
    model = None
    if args.risk_score:
        if args.covariates:
            raise ModelSpecificationError("give either --covariates (fit stage 1) or "
                                          "--risk-score (use an existing score), not both")
        ipd = ipd_from_args(args, reference=args.reference)
        if args.risk_score not in ipd.data:
            raise column_not_found(args.risk_score, ipd.data.columns, "--risk-score",
                                   where=str(args.file))
        data = ipd.data.copy()
        score = data[args.risk_score]
        if not score.notna().all():
            raise DataError(f"--risk-score column {args.risk_score!r} has "
                            f"{int(score.isna().sum())} missing values: score every patient "
                            "or drop those rows")
        data["logit_risk"] = score.astype(float)
        stage1.text(f"Stage 1 skipped: the logit-scale risk score {args.risk_score!r} was given.")
        payload["stage1"] = {"source": f"column {args.risk_score}"}
    else:
        if args.risk_model:
            model = _load_model(args.risk_model)
            args.covariates = ",".join(model.covariates_)
            ipd = ipd_from_args(args, reference=args.reference)
            status(f"stage 1: scoring with the saved model {args.risk_model}")
        else:
            if not split_list(args.covariates):
                raise ModelSpecificationError(
                    "stage 1 needs --covariates A,B,... (or give --risk-score COL / "
                    "--risk-model MODEL.json)")
            ipd = ipd_from_args(args, reference=args.reference)
            status(f"stage 1: fitting the {args.stage1} risk model on {len(ipd.data)} patients")
            kw = {"penalty": "aic"} if args.stage1 == "pmle" else (
                {"penalty": "cv"} if args.stage1 in ("lasso", "elasticnet") else {})
            model = RiskModel(args.stage1, random_state=args.seed, **kw).fit(ipd)
            model.to_json(out / "risk_model.json")
            payload["files"]["risk_model"] = str(out / "risk_model.json")
        data = ipd.data.copy()
        scores = model.score(data)
        data["risk"], data["logit_risk"] = scores["risk"], scores["logit_risk"]
        coefs = model.to_frame()
        coefs.to_csv(out / "stage1_coefficients.csv", index=False)
        stage1.table(coefs, caption="Stage-1 coefficients", index=False)
        payload["stage1"] = {"method": args.stage1, "coefficients": coefs}
        if args.bootstrap > 0 and not args.risk_model:
            status(f"stage 1: bootstrap optimism correction (B = {args.bootstrap})")
            val = model.validate(B=args.bootstrap, random_state=args.seed, progress=None)
            iecv = model.validate(method="iecv") if ipd.data[args.trial].nunique() > 1 else None
            vt = val.to_frame()
            vt.to_csv(out / "stage1_validation.csv", index=False)
            stage1.html(val.summary().as_html())
            stage1.figure(val.plot_calibration(), caption="Calibration of the stage-1 model")
            payload["stage1"]["validation"] = vt
            if iecv is not None:
                it = iecv.to_frame()
                it.to_csv(out / "stage1_iecv.csv", index=False)
                stage1.table(it, caption="Internal-external cross-validation (leave one trial "
                                         "out)", index=False)
                payload["stage1"]["iecv"] = it
        from ..prognosis import plot_risk_distribution

        groups = data[args.trial].astype(str) + " / " + data[args.treatment].astype(str)
        stage1.figure(plot_risk_distribution(data["risk"], groups),
                      caption="Distribution of predicted baseline risk by trial and arm")
    ext = read_csv(args.external_control) if args.external_control else None
    status(f"stage 2: {args.engine} network meta-regression ({args.effects} effects)")
    nmr = RiskNMR(engine=args.engine, effects=args.effects, reference=ipd.reference,
                  random_state=args.seed).fit(
        data, trial=args.trial, treatment=args.treatment, outcome=args.outcome,
        risk="logit_risk", external_control=ext)
    baseline = "external" if ext is not None else "trials"
    params = nmr.to_frame()
    params.to_csv(out / "stage2_estimates.csv", index=False)
    grid = nmr.predict(baseline=baseline)
    grid.to_csv(out / "predictions_by_risk.csv", index=False)
    keep = [c for c in (args.trial, args.treatment, args.outcome, ipd.patient_id_col)
            if c is not None]
    patients = nmr.predict(data[["logit_risk"]], baseline=baseline)
    patients.to_csv(out / "predictions_by_patient.csv", index=False)
    data[[*keep, "logit_risk"]].to_csv(out / "risk_scores.csv", index=False)
    stage2 = rep.section("Stage 2: network meta-regression on baseline risk")
    stage2.html(nmr.summary().as_html())
    for kind, caption in _KINDS.items():
        ax = nmr.plot(kind)
        ax.figure.savefig(out / f"{kind}.png", dpi=130, bbox_inches="tight")
        stage2.figure(ax, caption=caption)
        payload["files"][f"plot_{kind}"] = str(out / f"{kind}.png")
    plt.close("all")
    stage2.code(" ".join(["ipdma", "risk-nmr", *_argv(args)]), caption="Command")
    index = rep.write(out)
    payload["files"].update({"stage2_estimates": str(out / "stage2_estimates.csv"),
                             "predictions_by_risk": str(out / "predictions_by_risk.csv"),
                             "predictions_by_patient": str(out / "predictions_by_patient.csv"),
                             "report": str(index)})
    payload["stage2"] = {"engine": args.engine, "effects": args.effects,
                         "reference": ipd.reference, "baseline": baseline, "estimates": params}
    if args.engine == "bayes" and getattr(nmr, "diagnostics", None) is not None:
        payload["stage2"]["diagnostics"] = nmr.diagnostics
    emit(args, text=f"{nmr.summary()}\n\nwritten to {index.parent}", payload=payload)
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    parts = [str(args.file)]
    for name in ("trial", "treatment", "outcome", "covariates", "risk_score", "risk_model",
                 "reference", "external_control", "engine", "effects", "stage1", "bootstrap",
                 "seed", "out"):
        val = getattr(args, name, None)
        if val not in (None, ""):
            parts += [f"--{name.replace('_', '-')}", str(val)]
    return parts

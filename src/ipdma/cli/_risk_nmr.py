"""``ipdma risk-nmr`` and ``ipdma risk-score``: risk-based two-stage network meta-regression."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._lazy import lazy_module
from ..errors import DataError
from ._common import (
    add_ipd_arguments,
    add_save_model_argument,
    check_save_model,
    emit,
    ipd_from_args,
    label_outcome,
    nonneg_int,
    patient_frame,
    read_csv,
    split_list,
    status,
    write_model_file,
)

pd = lazy_module("pandas")   # not imported by the parser (fast --help)

_KINDS = {"risk": "Predicted outcome probability vs baseline risk, per treatment",
          "or": "Odds ratio vs the reference against baseline risk",
          "benefit": "Absolute benefit (risk difference vs the reference) against baseline risk",
          "which": "Probability that each treatment is best, per patient"}


def _bootstrap(value: str) -> int:
    """argparse type of --bootstrap: 0 (skip) or 2 or more replicates."""
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if v < 0 or v == 1:
        raise argparse.ArgumentTypeError(
            f"must be 0 (skip the optimism correction) or 2 or more replicates, got {v}")
    return v


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "risk-nmr", help="risk-based two-stage IPD network meta-regression (Chalkou et al.)",
        description="Stage 1 develops a penalised logistic model of baseline risk from the "
                    "covariates (internally validated); stage 2 fits an IPD network "
                    "meta-regression of the outcome on the trial-centred logit risk and "
                    "predicts each patient's outcome under every treatment. Give "
                    "--risk-score COL to skip stage 1 and use an existing logit-scale score, "
                    "or --risk-model MODEL.json to score with a saved stage-1 model. For a time "
                    "to event give --time COL --event COL instead of --outcome: stage 1 is "
                    "then a Cox model (log-hazard risk score) and stage 2 a Cox network "
                    "meta-regression with trial-stratified baselines, predicting survival at "
                    "--horizon and RMST up to --tau under every treatment.")
    add_ipd_arguments(p, time_to_event=True)
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
                   help="common or random treatment effects (default common; with --time "
                        "random log-HR effects need --engine bayes)")
    p.add_argument("--stage1", choices=["pmle", "glm", "lasso", "elasticnet", "cox"],
                   default=None,
                   help="stage-1 estimation: penalised ML with the penalty chosen by AIC "
                        "(default for a binary outcome), plain glm, or LASSO / elastic net "
                        "with 10-fold CV; for a time to event: cox (default), lasso or "
                        "elasticnet (penalised Cox)")
    p.add_argument("--horizon", type=float, default=None, metavar="T",
                   help="time to event: horizon t* of the predicted survival (default: the "
                        "median event time, at most the earliest last follow-up of a trial)")
    p.add_argument("--survival-model", choices=["cox", "weibull"], default=None,
                   help="time to event: stage-2 model, Cox with trial strata (default) or "
                        "Weibull PH with a Weibull scale per trial and a common shape "
                        "(--engine ml = survreg, or --engine bayes)")
    p.add_argument("--tau", type=float, default=None, metavar="T",
                   help="time to event: restricted mean survival time up to T (default: "
                        "the horizon)")
    p.add_argument("--bootstrap", type=_bootstrap, default=200, metavar="B",
                   help="bootstrap replicates of stage-1 optimism correction (default 200; 0 "
                        "skips)")
    p.add_argument("--seed", type=nonneg_int, default=2026, help="random seed (default 2026)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--json", action="store_true",
                   help="print stage-1 validation metrics and stage-2 estimates as JSON")
    add_save_model_argument(p)
    p.set_defaults(func=run)

    s = subparsers.add_parser(
        "risk-score", help="score a file with a saved stage-1 risk model",
        description="Adds the columns risk and logit_risk to FILE.csv using a stage-1 model "
                    "saved by `ipdma risk-nmr` (DIR/risk_model.json).")
    s.add_argument("model", metavar="MODEL.json")
    s.add_argument("file", metavar="FILE.csv")
    s.add_argument("--out", required=True, metavar="OUT.csv")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--na-values", metavar="V1,V2,...", default=None,
                   help="cell values read as missing besides empty cells and NA")
    s.add_argument("--sep", metavar="CHAR", default=None, help="field delimiter (detected)")
    s.set_defaults(func=run_score, out_kind="file")


def _load_model(path: str):
    import json

    from ..errors import DataError, IPDMAError
    from ..prognosis import RiskModel

    if not Path(path).is_file():
        raise DataError(f"risk model file {path!r} does not exist: it is written as "
                        "risk_model.json by `ipdma risk-nmr ... --covariates ...`")
    try:
        json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DataError(f"{path!r} is not an ipdma risk model: it is not a JSON file (give "
                        "the risk_model.json written by `ipdma risk-nmr`)") from None
    try:
        return RiskModel.from_json(path)
    except IPDMAError as exc:
        raise DataError(f"{path!r} is not a usable ipdma risk model: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DataError(f"{path!r} is not an ipdma risk model JSON (written as risk_model.json "
                        f"by `ipdma risk-nmr`): {type(exc).__name__} {exc}") from None


def _check_binary(ipd, args: argparse.Namespace) -> None:
    from ..errors import OutcomeError

    if ipd.outcome_type != "binary":
        vals = sorted(ipd.data[args.outcome].unique().tolist())
        shown = ", ".join(f"{v:g}" for v in vals[:5]) + (", ..." if len(vals) > 5 else "")
        raise OutcomeError(
            f"risk-nmr needs a binary outcome, but --outcome {args.outcome!r} has {len(vals)} "
            f"distinct values ({shown}); recode it to two values (0/1)")


def _numeric_score(ipd, col: str):
    """The --risk-score column as floats; text cells are an error naming their rows."""
    import numpy as np
    import pandas as pd

    from ..data._validation import row_numbers_text

    raw = ipd.data[col]
    num = pd.to_numeric(raw, errors="coerce")
    bad = (num.isna() & raw.notna()).to_numpy()
    if bad.any():
        vals = sorted(set(raw[bad].astype(str)))
        raise DataError(f"--risk-score column {col!r} has non-numeric values "
                        f"{vals[:5]} in {row_numbers_text(ipd.row_number[bad])}: it must be a "
                        "logit-scale number for every patient")
    miss = num.isna().to_numpy()
    if miss.any():
        raise DataError(f"--risk-score column {col!r} is missing in "
                        f"{row_numbers_text(ipd.row_number[miss])}: score every patient or "
                        "drop those rows")
    if not np.isfinite(num.to_numpy(dtype=float)).all():
        raise DataError(f"--risk-score column {col!r} has infinite values")
    return num.astype(float)


def _is_survival_model(path: str) -> bool:
    import json

    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(d, dict) and d.get("format") == "ipdma.prognosis.SurvivalRiskModel"


def run_score(args: argparse.Namespace) -> int:
    if _is_survival_model(args.model):
        return _run_score_survival(args)
    model = _load_model(args.model)
    df = read_csv(args.file, args)
    if len(df) == 0:
        raise DataError(f"{args.file!r} has a header but no rows to score")
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

    from ..errors import ModelSpecificationError, column_not_found
    from ..nmr import RiskNMR
    from ..prognosis import RiskModel
    from ..report import Report

    check_save_model(args)
    if getattr(args, "time", None) is not None:
        from ._risk_nmr_survival import run_survival

        return run_survival(args)
    for opt in ("horizon", "tau", "survival_model"):
        if getattr(args, opt, None) is not None:
            raise ModelSpecificationError(f"--{opt.replace('_', '-')} is for a time-to-event "
                                          "outcome (give --time COL --event COL)")
    if args.stage1 is None:
        args.stage1 = "pmle"
    if args.stage1 == "cox":
        raise ModelSpecificationError("--stage1 cox is for a time-to-event outcome (give "
                                      "--time COL --event COL); for a binary outcome use "
                                      "pmle, glm, lasso or elasticnet")
    out = Path(args.out)
    payload: dict = {"files": {}}
    rep = Report("Risk-based network meta-regression", subtitle=str(args.file))
    stage1 = rep.section("Stage 1: baseline-risk model")
    model = None
    if args.risk_score:
        if args.covariates:
            raise ModelSpecificationError("give either --covariates (fit stage 1) or "
                                          "--risk-score (use an existing score), not both")
        ipd = ipd_from_args(args, reference=args.reference)
        _check_binary(ipd, args)
        if args.risk_score not in ipd.data:
            raise column_not_found(args.risk_score, ipd.data.columns, "--risk-score",
                                   where=str(args.file))
        data = ipd.data.copy()
        data["logit_risk"] = _numeric_score(ipd, args.risk_score)
        out.mkdir(parents=True, exist_ok=True)
        stage1.text(f"Stage 1 skipped: the logit-scale risk score {args.risk_score!r} was given.")
        payload["stage1"] = {"source": f"column {args.risk_score}"}
    else:
        if args.risk_model:
            model = _load_model(args.risk_model)
            args.covariates = ",".join(model.covariates_)
            ipd = ipd_from_args(args, reference=args.reference)
            _check_binary(ipd, args)
            out.mkdir(parents=True, exist_ok=True)
            status(f"stage 1: scoring with the saved model {args.risk_model}")
        else:
            if not split_list(args.covariates):
                raise ModelSpecificationError(
                    "stage 1 needs --covariates A,B,... (or give --risk-score COL / "
                    "--risk-model MODEL.json)")
            ipd = ipd_from_args(args, reference=args.reference)
            _check_binary(ipd, args)
            out.mkdir(parents=True, exist_ok=True)
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
    ext = (read_csv(args.external_control, args, what="--external-control")
           if args.external_control else None)
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
    ids = patient_frame(args, ipd)
    patients = nmr.predict(data[["logit_risk"]].set_axis(ipd.row_number), baseline=baseline)
    _with_ids(patients, ids).to_csv(out / "predictions_by_patient.csv", index=False)
    keep = [c for c in (args.treatment, args.outcome) if c not in ids.columns]
    pd.concat([ids.reset_index(drop=True), data[[*keep, "logit_risk"]].reset_index(drop=True)],
              axis=1).to_csv(out / "risk_scores.csv", index=False)
    payload["dropped_rows"] = ipd.drop_report()
    payload["files"]["risk_scores"] = str(out / "risk_scores.csv")
    _dropped_section(rep, ipd)
    stage2 = rep.section("Stage 2: network meta-regression on baseline risk")
    stage2.html(nmr.summary().as_html())
    for kind, caption in _KINDS.items():
        ax = nmr.plot(kind)
        label_outcome(ax, args.outcome)
        ax.figure.savefig(out / f"{kind}.png", dpi=130, bbox_inches="tight")
        stage2.figure(ax, caption=caption)
        payload["files"][f"plot_{kind}"] = str(out / f"{kind}.png")
    plt.close("all")
    rec = patients.loc[patients["recommended"].astype(bool), "treatment"]
    share = rec.value_counts(normalize=True)
    stage2.conclusions([
        f"{len(data)} patients in {data[args.trial].nunique()} trials; reference "
        f"{ipd.reference!r}; {args.engine} engine, {args.effects} effects.",
        "Treatment with the best predicted outcome, share of patients: "
        + ", ".join(f"{t} {p:.0%}" for t, p in share.items()) + "."])
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
    saved = write_model_file(args, nmr, risk_model=model)
    text = f"{nmr.summary()}\n\nwritten to {index.parent}"
    if saved:
        payload["files"]["model"] = saved
        text += f"\nmodel file: {saved}" + ("" if model is not None else
                                             " (no stage-1 model: predicts from the risk "
                                             "score)")
    emit(args, text=text, payload=payload)
    return 0


def _run_score_survival(args: argparse.Namespace) -> int:
    """Score with a saved time-to-event (Cox) stage-1 model: ``risk_lp`` (log relative
    hazard; and ``risk`` at the model's horizon when it has one)."""
    import numpy as np

    from ._risk_nmr_survival import _SCORE, _load_survival_model

    model = _load_survival_model(args.model)
    df = read_csv(args.file, args)
    if len(df) == 0:
        raise DataError(f"{args.file!r} has a header but no rows to score")
    from ..errors import column_not_found

    for c in model.covariates_:
        if c not in df.columns:
            raise column_not_found(c, df.columns, "covariate of the risk model",
                                   where=str(args.file))
    ok = df[list(model.covariates_)].notna().all(axis=1).to_numpy()
    lp = np.full(len(df), np.nan)
    if ok.any():
        lp[ok] = model.predict_lp(df.loc[ok])
    out = df.assign(**{_SCORE: lp})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    n_nan = int((~ok).sum())
    text = f"scored {len(df)} rows with {args.model} -> {args.out} (column {_SCORE})"
    if n_nan:
        text += f" ({n_nan} rows with missing covariates have no score)"
    emit(args, text=text, payload={"n_rows": len(df), "n_unscored": n_nan, "out": args.out,
                                   "covariates": list(model.covariates_), "column": _SCORE})
    return 0


def _with_ids(pred, ids):
    """Put the id columns (matched on ``row``, the 1-based input row) in front of a
    per-patient prediction table."""
    pred = pred.reset_index(drop=True)
    front = ids.drop(columns=[c for c in ids.columns if c in pred.columns and c != "row"])
    merged = pred[["row"]].merge(front, on="row", how="left")
    return pd.concat([merged, pred.drop(columns="row")], axis=1)


def _dropped_section(rep, ipd) -> None:
    """A report section reconciling the input rows with the patients analysed."""
    info = ipd.drop_report()
    sec = rep.section("Patients analysed")
    sec.text(f"{info['n_input']} rows read; {info['n_dropped']} dropped with missing "
             f"covariate values; {info['n_used']} patients analysed.")
    if info["n_dropped"]:
        sec.table(ipd.dropped[ipd.dropped["n_dropped"] > 0], caption="Rows dropped per trial",
                  index=False)
        sec.table(ipd.dropped_by_column, caption="Rows dropped per trial and covariate",
                  index=False)


def _argv(args: argparse.Namespace) -> list[str]:
    parts = [str(args.file)]
    for name in ("trial", "treatment", "outcome", "covariates", "risk_score", "risk_model",
                 "reference", "external_control", "engine", "effects", "stage1", "bootstrap",
                 "seed", "out"):
        val = getattr(args, name, None)
        if val not in (None, ""):
            parts += [f"--{name.replace('_', '-')}", str(val)]
    return parts

"""``ipdma calculator``: a saved model as a self-contained HTML treatment calculator."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import emit, split_list, status


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calculator", help="write a per-patient treatment calculator (one HTML file)",
        description="Turns a model saved with --save-model (risk-nmr, ite, subgroups) into a "
                    "single HTML page that a clinician opens offline: one input per "
                    "covariate, the prediction under each treatment with intervals, the "
                    "benefit vs the reference, the recommended treatment and the model's "
                    "provenance. No server and no network: everything is inline.")
    p.add_argument("model", metavar="MODEL.json", help="model file written by --save-model")
    p.add_argument("--out", required=True, metavar="FILE.html", help="calculator page to write")
    p.add_argument("--data", metavar="DEV.csv", default=None,
                   help="development data: ranges, allowed values and defaults of the inputs")
    p.add_argument("--risk-model", metavar="RISK.json", default=None,
                   help="risk-nmr: the stage-1 risk model (RiskModel JSON), so that the page "
                        "asks for the patient's characteristics instead of the risk score")
    p.add_argument("--title", default=None, help="page title")
    p.add_argument("--units", metavar="COL=UNIT,...", default=None,
                   help="unit of each input, e.g. age=years,weight=kg")
    p.add_argument("--treatments", metavar="CONTROL,TREATED", default=None,
                   help="ite, subgroups: labels of the two arms")
    better = p.add_mutually_exclusive_group()
    better.add_argument("--higher-is-better", dest="higher_is_better", action="store_true",
                        default=None, help="a higher outcome is better (ite, subgroups)")
    better.add_argument("--lower-is-better", dest="higher_is_better", action="store_false",
                        help="a lower outcome is better (ite, subgroups)")
    p.add_argument("--horizon", type=float, default=None, metavar="T",
                   help="time-to-event risk-nmr: horizon of the survival predictions "
                        "(default: the model's; a Bayesian Cox model file keeps the horizon "
                        "and tau of its --save-model run only)")
    p.add_argument("--tau", type=float, default=None, metavar="T",
                   help="time-to-event: RMST up to T (risk-nmr; subgroups with Weibull node "
                        "models)")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=run, out_kind="file")


def _units(text: str | None) -> dict[str, str] | None:
    from ..errors import ModelSpecificationError

    if not text:
        return None
    out = {}
    for part in split_list(text) or []:
        if "=" not in part:
            raise ModelSpecificationError(
                f"--units {text!r}: give COL=UNIT pairs separated by commas (e.g. age=years)")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _check_file(path: str | None, option: str) -> None:
    from ..errors import DataError

    if path is not None and not Path(path).is_file():
        raise DataError(f"{option} {path!r}: no such file")


def run(args: argparse.Namespace) -> int:
    from ..errors import ModelSpecificationError

    # options first, before anything is loaded or computed
    _check_file(args.model, "MODEL.json")
    _check_file(args.data, "--data")
    _check_file(args.risk_model, "--risk-model")
    if not str(args.out).lower().endswith((".html", ".htm")):
        raise ModelSpecificationError(f"--out {args.out!r}: give an .html file name")
    units = _units(args.units)
    treatments = split_list(args.treatments)
    if treatments is not None and len(treatments) != 2:
        raise ModelSpecificationError(
            f"--treatments {args.treatments!r}: give two labels, CONTROL,TREATED")

    from ..calculator import export_calculator
    from ..serialize import load_model
    from ._common import read_csv

    for opt in ("horizon", "tau"):
        v = getattr(args, opt)
        if v is not None and not v > 0:
            raise ModelSpecificationError(f"--{opt} must be a positive time, not {v:g}")
    model = load_model(args.model)
    options: dict = {"title": args.title, "units": units}
    survival_nmr = getattr(model, "family", None) == "survival"
    if args.horizon is not None and not survival_nmr:
        raise ModelSpecificationError(
            "--horizon is for a time-to-event risk-nmr model (an ite model keeps the "
            "horizon it was fitted with)")
    if survival_nmr:
        options.update(horizon=args.horizon, tau=args.tau)
    elif args.tau is not None:
        from ..trees import MOB

        if not isinstance(model, MOB):
            raise ModelSpecificationError(
                "--tau is for time-to-event risk-nmr and subgroups (Weibull) models")
        options["tau"] = args.tau
    if args.data is not None:
        options["data"] = read_csv(args.data, args, what="--data")
    from ..nmr import RiskNMRResult

    if isinstance(model, RiskNMRResult):
        if treatments is not None or args.higher_is_better is not None:
            raise ModelSpecificationError(
                "--treatments and --higher-is-better/--lower-is-better are for ite and "
                "subgroups models; a risk-nmr model keeps its own treatments and direction")
        if args.risk_model is not None:
            from ..prognosis import RiskModel, SurvivalRiskModel

            cls = SurvivalRiskModel if getattr(model, "family", None) == "survival" \
                else RiskModel
            options["risk_model"] = cls.from_json(args.risk_model)
        elif getattr(model, "risk_model", None) is not None:
            # the model file of `ipdma risk-nmr --save-model` carries its stage-1 model
            options["risk_model"] = model.risk_model
    else:
        if args.risk_model is not None:
            raise ModelSpecificationError("--risk-model is for risk-nmr models only")
        if treatments is not None:
            options["treatments"] = treatments
        options["higher_is_better"] = args.higher_is_better
    status(f"writing the calculator for {type(model).__name__} ...")
    out = export_calculator(model, args.out, **options)
    size = out.stat().st_size
    emit(args, text=f"calculator written to {out} ({size / 1000:.0f} kB)",
         payload={"calculator": str(out), "bytes": size, "model": type(model).__name__})
    return 0

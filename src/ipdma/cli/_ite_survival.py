"""Time-to-event options of ``ipdma ite``: ``--time``, ``--event``, ``--horizon``, ``--tau``."""

from __future__ import annotations

import argparse

from ._common import ipd_from_args

#: survival learners and the pooler that averages trials with equal weights
SURVIVAL_LEARNERS = ["cox", "weibull", "cox-lasso", "cox-ridge", "xgboost-cox"]
SURVIVAL_POOLERS = ["unweighted"]
SURVIVAL_SCALES = ["survdiff", "rmstdiff", "loghr"]


def _positive_time(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive time")
    return v


def add_survival_arguments(p: argparse.ArgumentParser) -> None:
    """--time (with --event COL instead of --outcome), --horizon, --tau."""
    for act in p._actions:
        if "--outcome" in act.option_strings:
            act.required = False
            act.help = "outcome column (or --time and --event for a time-to-event outcome)"
        elif "--event" in act.option_strings:
            act.metavar = "COL|LABEL"
            act.help = ("with --time: the event indicator column (1 = event, 0 = censored); "
                        "otherwise the outcome label that counts as the event (binary "
                        "outcomes coded with two labels ipdma cannot map itself)")
    p.add_argument("--time", default=None, metavar="COL",
                   help="follow-up time column of a time-to-event outcome (with --event COL); "
                        "learners cox (default), weibull, cox-lasso, cox-ridge, xgboost-cox "
                        "(gradient-boosted Cox; --learner-options '{\"meta\": \"t\"}' "
                        "for the T-learner); more than two treatments: a treatment "
                        "network, ite_<T>_vs_<REF> for every treatment")
    p.add_argument("--horizon", type=_positive_time, default=None, metavar="T",
                   help="time-to-event: horizon t* of --scale survdiff (difference in "
                        "survival probability S(t*) between the arms)")
    p.add_argument("--tau", type=_positive_time, default=None, metavar="T",
                   help="time-to-event: restriction time of --scale rmstdiff (difference "
                        "in restricted mean survival time up to T)")


def check_survival_options(args: argparse.Namespace) -> None:
    """Option combinations, checked before any data is read."""
    from ..errors import ModelSpecificationError

    if args.time is None:
        if args.outcome is None:
            raise ModelSpecificationError(
                "--outcome COL is required (or --time COL --event COL for a time-to-event "
                "outcome)")
        for opt, val in (("--horizon", args.horizon), ("--tau", args.tau)):
            if val is not None:
                raise ModelSpecificationError(
                    f"{opt} applies to time-to-event outcomes (--time COL --event COL)")
        if args.scale in SURVIVAL_SCALES:
            raise ModelSpecificationError(
                f"--scale {args.scale} applies to time-to-event outcomes (--time/--event)")
        return
    if args.outcome is not None:
        raise ModelSpecificationError(
            "give either --outcome or --time/--event (time-to-event outcome), not both")
    if args.event is None:
        raise ModelSpecificationError(
            "--time needs --event COL: the event indicator column (1 = event, 0 = censored)")
    if args.scale is None:
        args.scale = "survdiff" if args.horizon is not None or args.tau is None else "rmstdiff"
    if args.scale == "survdiff" and args.horizon is None:
        raise ModelSpecificationError(
            "--scale survdiff (difference in survival probability) needs --horizon T; or use "
            "--scale rmstdiff --tau T, or --scale loghr")
    if args.scale == "rmstdiff" and args.tau is None:
        raise ModelSpecificationError(
            "--scale rmstdiff (difference in restricted mean survival time) needs --tau T")
    if args.learner is None:
        args.learner = "cox"


def ipd_from_survival_args(args: argparse.Namespace):
    """The IPD of ``ipdma ite``: with --time, a time-to-event outcome (``IPD(time=,
    event=)``: times > 0, events 0/1, every arm of every trial with events)."""
    if args.time is None:
        return ipd_from_args(args)
    return ipd_from_args(args, time=args.time)


def check_time_points(args: argparse.Namespace, ipd) -> None:
    """--horizon/--tau within every trial's follow-up (before fitting); the Weibull
    learner may extrapolate with --learner-options '{"extrapolate": true}'."""
    if args.time is None:
        return
    import json

    import numpy as np

    from ..errors import OutcomeError

    opts = json.loads(args.learner_options) if args.learner_options else {}
    if args.learner == "weibull" and opts.get("extrapolate"):
        return
    tp = {"survdiff": ("--horizon", args.horizon), "rmstdiff": ("--tau", args.tau)}.get(
        args.scale)
    if tp is None:
        return
    trials = np.asarray(ipd.trial).astype(str)
    times = np.asarray(ipd.time, dtype=float)
    for tr in dict.fromkeys(trials.tolist()):
        last = float(times[trials == tr].max())
        if tp[1] > last:
            hint = ("" if args.learner == "weibull" else
                    " or a parametric model (--learner weibull --learner-options "
                    "'{\"extrapolate\": true}')")
            if args.learner == "weibull":
                hint = " or allow extrapolation (--learner-options '{\"extrapolate\": true}')"
            raise OutcomeError(f"{tp[0]} {tp[1]:g} is beyond the last follow-up time "
                               f"({last:g}) of trial {tr!r}: choose a smaller {tp[0]}{hint}")


def check_survival_network_options(args: argparse.Namespace) -> None:
    """Time-to-event options that a treatment network does not support (before fitting)."""
    if args.time is None:
        return
    from ..errors import ModelSpecificationError

    if args.export_sites and args.pooler == "mvma" and args.scale in ("survdiff", "rmstdiff"):
        raise ModelSpecificationError(
            f"--export-sites with --pooler mvma on --scale {args.scale}: the network site "
            "summaries would need each trial's baseline hazard, which they do not carry; "
            "use --scale loghr, or --pooler weighted-aux-ols with --predict NEW.csv")

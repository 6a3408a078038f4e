"""``ipdma subgroups``: subgroup identification with MOB or metaMOB."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_ipd_arguments, emit, ipd_from_args, split_list, status


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "subgroups", help="subgroup identification: MOB (partykit) or metaMOB (glmertree)",
        description="Grow a model-based recursive partitioning tree of the treatment model "
                    "outcome ~ treatment over the --partition-by variables. --method mob pools "
                    "all trials (partykit's lmtree/glmtree); --method metamob adds random "
                    "effects for trial (glmertree's alternating algorithm).")
    add_ipd_arguments(p)
    # a time-to-event outcome is given by --time/--event instead of --outcome
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
                   help="follow-up time column of a time-to-event outcome (with --event COL "
                        "and --method mob): Weibull node models, as partykit's mob(Surv(time, "
                        "event) ~ treatment | ..., fit = wbreg)")
    p.add_argument("--tau", type=float, default=None, metavar="T",
                   help="time-to-event outcomes: horizon of the restricted mean survival time "
                        "(default: the shortest, over terminal nodes and arms, of the longest "
                        "follow-up)")
    p.add_argument("--partition-by", required=True, metavar="A,B,...",
                   help="candidate splitting variables")
    p.add_argument("--method", choices=["mob", "metamob"], default="metamob",
                   help="mob: naive pooling; metamob: random trial effects (default)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--random", default=None, metavar="intercept,treatment",
                   help="metaMOB random effects for trial: intercept, treatment, or both "
                        "(default: intercept,treatment)")
    g.add_argument("--fixed-trial-intercepts", action="store_true",
                   help="metaMOB: fixed trial intercepts plus a random treatment effect")
    p.add_argument("--treated", default=None, metavar="LABEL",
                   help="treatment label coded 1 (default: the non-reference arm)")
    p.add_argument("--test", choices=["all", "treatment"], default="all",
                   help="parameters the instability tests look at: all node-model "
                        "coefficients (partykit's default) or only the treatment effect, so "
                        "purely prognostic variables do not split")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (0.05)")
    p.add_argument("--minsize", type=int, default=None,
                   help="minimum patients per node (default: partykit's rule)")
    p.add_argument("--maxdepth", type=int, default=None, help="maximum depth (unlimited)")
    p.add_argument("--prune", choices=["AIC", "BIC"], default=None, help="post-pruning")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="write tree.txt, nodes.csv, effects.csv, tree.png and index.html")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _random_spec(args: argparse.Namespace) -> tuple[str, bool]:
    from ..errors import ModelSpecificationError

    if args.fixed_trial_intercepts:
        return "treatment", True
    terms = set(split_list(args.random) or ["intercept", "treatment"])
    bad = terms - {"intercept", "treatment"}
    if bad:
        raise ModelSpecificationError(
            f"--random takes 'intercept', 'treatment' or 'intercept,treatment', not "
            f"{sorted(bad)}")
    return ("both" if len(terms) == 2 else terms.pop()), False


def _check_outcome_options(args: argparse.Namespace) -> None:
    from ..errors import ModelSpecificationError

    if args.time is not None:
        if args.outcome is not None:
            raise ModelSpecificationError(
                "give either --outcome or --time/--event (time-to-event outcome), not both")
        if args.event is None:
            raise ModelSpecificationError(
                "--time needs --event COL: the event indicator column (1 = event, 0 = "
                "censored)")
        if args.method != "mob":
            raise ModelSpecificationError(
                "time-to-event outcomes (--time/--event) are available with --method mob "
                "(Weibull node models); metaMOB handles continuous outcomes")
        if args.tau is not None and not args.tau > 0:
            raise ModelSpecificationError(f"--tau must be a positive time, not {args.tau:g}")
    else:
        if args.outcome is None:
            raise ModelSpecificationError(
                "--outcome COL is required (or --time COL --event COL for a time-to-event "
                "outcome)")
        if args.tau is not None:
            raise ModelSpecificationError("--tau applies to time-to-event outcomes (--time)")


def _survival_ipd(args: argparse.Namespace, covs: list[str]):
    """IPD for a time-to-event outcome: the time column is validated as the (numeric)
    outcome; the event column is checked here (complete, coded 0/1)."""
    import numpy as np

    from ..data import IPD
    from ..errors import MissingDataError, column_not_found
    from ..survival import check_survival_outcome
    from ._common import read_csv

    df = read_csv(args.file)
    for opt, col in (("--time", args.time), ("--event", args.event)):
        if col not in df.columns:
            raise column_not_found(col, df.columns, opt)
    if args.time == args.event:
        from ..errors import ModelSpecificationError
        raise ModelSpecificationError("--time and --event name the same column")
    ipd = IPD(df, trial=args.trial, treatment=args.treatment, outcome=args.time,
              covariates=covs, patient_id=args.patient_id, outcome_type="continuous",
              missing=args.missing, normalize_labels=args.normalize_labels)
    ev = ipd.data[args.event]
    if ev.isna().any():
        rows = np.flatnonzero(ev.isna().to_numpy())
        raise MissingDataError(
            f"--event column {args.event!r} has {len(rows)} missing value(s) (e.g. row "
            f"{rows[0]}); every patient needs 1 (event) or 0 (censored)")
    if not (np.issubdtype(ev.dtype, np.number) or ev.dtype == bool):
        from ..errors import OutcomeError
        raise OutcomeError(
            f"--event column {args.event!r} must be coded 1 = event, 0 = censored; found "
            f"values such as {sorted(map(str, ev.unique()))[:5]}")
    check_survival_outcome(ipd.data[args.time].to_numpy(float), ev.to_numpy(float),
                           args.time, args.event)
    return ipd


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import ModelSpecificationError
    from ..report import Report
    from ..trees import MOB, MetaMOB, WeibullModel

    _check_outcome_options(args)
    survival = args.time is not None
    partition = split_list(args.partition_by)
    covs = list(dict.fromkeys([*(split_list(args.covariates) or []), *partition]))
    args.covariates = ",".join(covs)
    ipd = _survival_ipd(args, covs) if survival else ipd_from_args(args)
    if len(ipd.treatments) != 2:
        raise ModelSpecificationError(
            f"subgroup trees compare two treatments, but {args.treatment!r} has "
            f"{len(ipd.treatments)}: {ipd.treatments}; subset the data to two arms")
    treated = args.treated or next(t for t in ipd.treatments if t != ipd.reference)
    if treated not in ipd.treatments:
        raise ModelSpecificationError(
            f"--treated {treated!r} is not a label of {args.treatment!r}: {ipd.treatments}")
    data = ipd.data.copy()
    trt = "treated" if args.treatment != "treated" else "treated_"
    data[trt] = ipd.binary_treatment(treated=treated).astype(float)
    node_model = "logistic" if ipd.outcome_type == "binary" else "linear"
    parm = trt if args.test == "treatment" else None
    depth = np.inf if args.maxdepth is None else args.maxdepth
    status(f"growing the {args.method} tree on {len(data)} patients ...")
    if survival:
        model = MOB(WeibullModel(), alpha=args.alpha, minsize=args.minsize, maxdepth=depth,
                    parm=parm, prune=args.prune).fit(
            data, time=args.time, event=args.event, regressors=[trt], partition=partition)
        effects = model.survival_effects(tau=args.tau, coef=trt)
        extra = {"tau": float(effects["tau"].iloc[0])}
    elif args.method == "mob":
        model = MOB(node_model, alpha=args.alpha, minsize=args.minsize, maxdepth=depth,
                    parm=parm, prune=args.prune).fit(
            data, outcome=args.outcome, regressors=[trt], partition=partition)
        effects = model.effects(coef=trt)
        extra = {}
    else:
        if ipd.outcome_type == "binary":
            raise ModelSpecificationError(
                "metaMOB is implemented for continuous outcomes (linear mixed models); use "
                "--method mob for a binary outcome")
        random, fixed = _random_spec(args)
        model = MetaMOB(random=random, fixed_trial_intercepts=fixed, alpha=args.alpha,
                        minsize=args.minsize, maxdepth=depth, parm=parm, prune=args.prune).fit(
            data, outcome=args.outcome, treatment=trt, partition=partition, trial=args.trial)
        effects = model.node_effects()
        extra = {"variance_components": model.variance_components(),
                 "random_effects": model.random_effects(), "iterations": model.n_iter,
                 "converged": model.converged}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tree.txt").write_text(str(model) + "\n")
    model.to_frame().to_csv(out / "nodes.csv", index=False)
    effects.to_csv(out / "effects.csv", index=False)
    ax = model.plot()
    ax.figure.savefig(out / "tree.png", dpi=130, bbox_inches="tight")
    rep = Report(f"Subgroup identification ({args.method})", subtitle=str(args.file))
    sec = rep.section("Tree")
    sec.code(str(model), caption="Printed tree")
    sec.figure(model.plot(), caption=f"{args.method} tree; treatment = {treated!r} vs "
                                     f"{ipd.reference!r}")
    sec.table(effects, caption="Treatment effect by terminal node", index=False)
    for name, tab in extra.items():
        if hasattr(tab, "to_html"):
            sec.table(tab, caption=name.replace("_", " "))
    index = rep.write(out)
    shown = _survival_table(effects) if survival else effects
    scale = (f" as hazard ratio, time ratio and RMST difference up to tau = {extra['tau']:g}"
             if survival else "")
    text = f"{model}\n\nTreatment effect ({treated} vs {ipd.reference}){scale} by terminal " \
           f"node:\n{shown.to_string(index=False)}\n\nwritten to {index.parent}"
    emit(args, text=text, payload={
        "method": args.method, "treated": treated, "control": ipd.reference,
        "n_terminal": int(effects.shape[0]), "node_effects": effects,
        "nodes": model.to_frame(), **extra,
        "files": {k: str(out / f) for k, f in (("tree", "tree.txt"), ("nodes", "nodes.csv"),
                                               ("effects", "effects.csv"),
                                               ("plot", "tree.png"), ("report", "index.html"))}})
    return 0


def _survival_table(eff):
    """Compact human table of survival node effects: estimate (CI) per scale."""
    import pandas as pd

    def fmt(e, lo, hi, digits=2):
        return [f"{a:.{digits}f} ({b:.{digits}f}, {c:.{digits}f})" for a, b, c in zip(e, lo, hi)]

    return pd.DataFrame({
        "node": eff["node"], "n": eff["n"].astype(int), "events": eff["events"].astype(int),
        "HR (95% CI)": fmt(eff["hr"], eff["hr_lower"], eff["hr_upper"]),
        "TR (95% CI)": fmt(eff["tr"], eff["tr_lower"], eff["tr_upper"]),
        "RMST diff (95% CI)": fmt(eff["rmst_diff"], eff["rmst_diff_lower"],
                                  eff["rmst_diff_upper"])})

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
                    "effects for trial (glmertree's alternating algorithm: a linear mixed "
                    "model for a continuous outcome, a logistic GLMM by the Laplace "
                    "approximation for a binary one, whose node effects are reported as odds "
                    "ratios and risk differences).")
    add_ipd_arguments(p)
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


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import ModelSpecificationError
    from ..report import Report
    from ..trees import MOB, MetaMOB

    partition = split_list(args.partition_by)
    covs = list(dict.fromkeys([*(split_list(args.covariates) or []), *partition]))
    args.covariates = ",".join(covs)
    ipd = ipd_from_args(args)
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
    if args.method == "mob":
        model = MOB(node_model, alpha=args.alpha, minsize=args.minsize, maxdepth=depth,
                    parm=parm, prune=args.prune).fit(
            data, outcome=args.outcome, regressors=[trt], partition=partition)
        effects = model.effects(coef=trt)
        extra = {}
    else:
        random, fixed = _random_spec(args)
        family = "binary" if ipd.outcome_type == "binary" else "continuous"
        model = MetaMOB(random=random, family=family, fixed_trial_intercepts=fixed,
                        alpha=args.alpha, minsize=args.minsize, maxdepth=depth, parm=parm,
                        prune=args.prune).fit(
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
    shown = effects
    if args.method == "metamob" and ipd.outcome_type == "binary":
        # odds ratio and risk difference (at the node's average baseline) with their CIs
        shown = effects[["node", "n", "odds_ratio", "or_ci_lower", "or_ci_upper", "p_value",
                         "risk_diff", "rd_ci_lower", "rd_ci_upper", "rule"]].rename(
            columns={"odds_ratio": "OR", "or_ci_lower": "OR_lower", "or_ci_upper": "OR_upper",
                     "risk_diff": "RD", "rd_ci_lower": "RD_lower", "rd_ci_upper": "RD_upper"})
        shown = shown.round({"OR": 3, "OR_lower": 3, "OR_upper": 3, "RD": 4, "RD_lower": 4,
                             "RD_upper": 4})
    text = f"{model}\n\nTreatment effect ({treated} vs {ipd.reference}) by terminal node:\n" \
           f"{shown.to_string(index=False)}\n\nwritten to {index.parent}"
    emit(args, text=text, payload={
        "method": args.method, "treated": treated, "control": ipd.reference,
        "n_terminal": int(effects.shape[0]), "node_effects": effects,
        "nodes": model.to_frame(), **extra,
        "files": {k: str(out / f) for k, f in (("tree", "tree.txt"), ("nodes", "nodes.csv"),
                                               ("effects", "effects.csv"),
                                               ("plot", "tree.png"), ("report", "index.html"))}})
    return 0

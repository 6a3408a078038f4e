"""``ipdma subgroups``: subgroup identification with MOB or metaMOB."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._lazy import lazy_module
from ._common import (
    add_ipd_arguments,
    add_save_model_argument,
    check_save_model,
    emit,
    ipd_from_args,
    patient_frame,
    positive_int,
    probability,
    split_list,
    status,
    write_model_file,
)

np = lazy_module("numpy")   # not imported by the parser (fast --help)
pd = lazy_module("pandas")


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
    add_ipd_arguments(p, trial_required=False)
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
    p.add_argument("--alpha", type=probability, default=0.05, help="significance level (0.05)")
    p.add_argument("--minsize", type=positive_int, default=None,
                   help="minimum patients per node (default: partykit's rule)")
    p.add_argument("--maxdepth", type=positive_int, default=None, help="maximum depth (unlimited)")
    p.add_argument("--prune", choices=["AIC", "BIC"], default=None, help="post-pruning")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="write tree.txt, nodes.csv, effects.csv, tree.png and index.html")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_save_model_argument(p)
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
    """IPD of a time-to-event outcome, ``IPD(time=, event=)``: times > 0, events coded
    1/0 (or two mappable labels), complete, every trial arm with events."""
    from ._common import ipd_from_args

    if args.time == args.event:
        from ..errors import ModelSpecificationError
        raise ModelSpecificationError("--time and --event name the same column")
    return ipd_from_args(args, time=args.time)


def split_table(model) -> pd.DataFrame:
    """The tree structure as data: per node its parent, depth, ``n`` (int), its own split
    (variable, kind, full-precision ``split_point``, factor partition) and the rule leading
    to it from its parent (``rule_variable``, ``rule_operator`` ``<=``/``>``/``in``,
    ``rule_value`` at full precision, ``rule_levels``)."""
    root = model.tree_
    root = getattr(root, "tree_", root)  # MetaMOB wraps a MOB
    rows = []

    def levels_of(split, kid):
        return ";".join(str(lv) for lv, k in zip(split.levels, split.index) if k == kid)

    for nd in root.walk():
        sp = nd.split
        r = {"node": nd.id, "parent": nd.parent, "depth": nd.depth, "terminal": nd.terminal,
             "n": round(float(nd.nobs)),
             "split_variable": sp.variable if sp else None,
             "split_kind": sp.kind if sp else None,
             "split_point": (float(sp.breaks) if sp is not None and sp.kind == "numeric"
                             else np.nan),
             "split_level": (str(sp.levels[int(sp.breaks)]) if sp is not None
                             and sp.kind == "ordered" else None),
             "split_partition": (" | ".join(levels_of(sp, k) for k in range(sp.n_kids))
                                 if sp is not None and sp.kind not in ("numeric", "ordered")
                                 else None),
             "rule_variable": None, "rule_operator": None, "rule_value": np.nan,
             "rule_levels": None}
        rows.append(r)
    by_id = {r["node"]: r for r in rows}
    for nd in root.walk():
        for kid_pos, kid in enumerate(nd.children):
            sp, r = nd.split, by_id[kid.id]
            r["rule_variable"] = sp.variable
            if sp.kind == "numeric":
                r["rule_operator"] = "<=" if kid_pos == 0 else ">"
                r["rule_value"] = float(sp.breaks)
            elif sp.kind == "ordered":
                r["rule_operator"] = "<=" if kid_pos == 0 else ">"
                r["rule_levels"] = str(sp.levels[int(sp.breaks)])
            else:
                r["rule_operator"] = "in"
                r["rule_levels"] = levels_of(sp, kid_pos)
    out = pd.DataFrame(rows)
    out["parent"] = out["parent"].astype("Int64")
    return out


def run(args: argparse.Namespace) -> int:
    import warnings

    from ..errors import ColumnNotFoundError, DataWarning, ModelSpecificationError
    from ..report import Report
    from ..trees import MOB, MetaMOB, WeibullModel

    _check_outcome_options(args)
    check_save_model(args)
    survival = args.time is not None
    if args.trial is None and args.method == "metamob":
        raise ModelSpecificationError(
            "--method metamob has random trial effects and needs --trial COL; use --method "
            "mob for a single trial")
    partition = split_list(args.partition_by)
    user_covs = set(split_list(args.covariates) or [])
    covs = list(dict.fromkeys([*(split_list(args.covariates) or []), *partition]))
    args.covariates = ",".join(covs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ipd = _survival_ipd(args, covs) if survival else ipd_from_args(args)
        except ColumnNotFoundError as exc:  # a --partition-by column, not a --covariates one
            missing = [c for c in partition if c not in user_covs and repr(c) in str(exc)]
            if missing:
                raise ColumnNotFoundError(str(exc).replace(
                    "(given as covariates=)", "(given as --partition-by)")) from None
            raise
    for w in caught:  # re-issue, but say what subgroups does with single-arm trials
        if "have a single arm" in str(w.message):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if len(ipd.treatments) != 2:
        raise ModelSpecificationError(
            f"subgroup trees compare two treatments, but {args.treatment!r} has "
            f"{len(ipd.treatments)}: {ipd.treatments}; subset the data to two arms")
    treated = args.treated or next(t for t in ipd.treatments if t != ipd.reference)
    if treated not in ipd.treatments:
        raise ModelSpecificationError(
            f"--treated {treated!r} is not a label of {args.treatment!r}: {ipd.treatments}")
    single = [t for t in ipd.trials if len(ipd.arms[t]) == 1]
    if single:
        kept = ipd.relative_effect_trials
        if not kept:
            raise ModelSpecificationError(
                f"every trial has a single arm ({', '.join(single)}): a treatment effect "
                "cannot be estimated")
        n_single = int(sum(len(sub) for t, sub in ipd.by_trial().items() if t in single))
        warnings.warn(
            f"{len(single)} single-arm trial(s) ({', '.join(single)}; {n_single} patients) "
            "are left out of the subgroup tree: they carry no within-trial treatment "
            "comparison", DataWarning, stacklevel=2)
        ipd = ipd.subset(trials=kept)
    data = ipd.data.copy()
    trt = f"{args.treatment}[{treated}]"
    if trt in data.columns:
        trt = f"{trt}_"
    data[trt] = ipd.binary_treatment(treated=treated).astype(float)
    node_model = "logistic" if ipd.outcome_type == "binary" else "linear"
    parm = trt if args.test == "treatment" else None
    depth = np.inf if args.maxdepth is None else args.maxdepth
    trial_col = ipd.trial_col
    status(f"growing the {args.method} tree on {len(data)} patients ...")
    if survival:
        model = MOB(WeibullModel(), alpha=args.alpha, minsize=args.minsize, maxdepth=depth,
                    parm=parm, prune=args.prune).fit(
            data, time=args.time, event=args.event, regressors=[trt], partition=partition)
        effects = model.survival_effects(tau=args.tau, coef=trt)
        nodes = split_table(model).merge(
            model.to_frame().drop(columns=["parent", "depth", "terminal", "n",
                                           "split_variable"], errors="ignore"),
            on="node", how="left")
        extra = {"tau": float(effects["tau"].iloc[0])}
    elif args.method == "mob":
        model = MOB(node_model, alpha=args.alpha, minsize=args.minsize, maxdepth=depth,
                    parm=parm, prune=args.prune).fit(
            data, outcome=args.outcome, regressors=[trt], partition=partition)
        effects = model.effects(coef=trt)
        nodes = split_table(model).merge(
            model.to_frame().drop(columns=["parent", "depth", "terminal", "n",
                                           "split_variable"], errors="ignore"),
            on="node", how="left")
        extra = {}
    else:
        random, fixed = _random_spec(args)
        family = "binary" if ipd.outcome_type == "binary" else "continuous"
        model = MetaMOB(random=random, family=family, fixed_trial_intercepts=fixed,
                        alpha=args.alpha, minsize=args.minsize, maxdepth=depth, parm=parm,
                        prune=args.prune).fit(
            data, outcome=args.outcome, treatment=trt, partition=partition, trial=trial_col)
        effects = model.node_effects()
        nodes = split_table(model).merge(
            effects.drop(columns=["n"], errors="ignore"), on="node", how="left")
        extra = {"variance_components": model.variance_components(),
                 "random_effects": model.random_effects(), "iterations": model.n_iter,
                 "converged": model.converged}
    if "n" in effects.columns:
        effects["n"] = effects["n"].round().astype(np.int64)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tree.txt").write_text(str(model) + "\n")
    nodes.to_csv(out / "nodes.csv", index=False, float_format="%.17g")
    effects.to_csv(out / "effects.csv", index=False)
    ids = patient_frame(args, ipd)
    ids["node"] = np.asarray(model.apply(data) if hasattr(model, "apply") else
                             model.tree_.apply(data))
    ids.to_csv(out / "patient_nodes.csv", index=False)
    ax = model.plot()
    ax.figure.savefig(out / "tree.png", dpi=130, bbox_inches="tight")
    rep = Report(f"Subgroup identification ({args.method})", subtitle=str(args.file))
    drop = ipd.drop_report()
    sec0 = rep.section("Patients analysed")
    sec0.text(f"{drop['n_input']} rows read; {drop['n_dropped']} dropped with missing "
              f"covariate values; {len(data)} patients in the tree"
              + (f" (single-arm trials left out: {', '.join(single)})." if single else "."))
    if drop["n_dropped"]:
        sec0.table(ipd.dropped_by_column, caption="Rows dropped per trial and covariate",
                   index=False)
    sec = rep.section("Tree")
    sec.code(str(model), caption="Printed tree")
    sec.figure(model.plot(), caption=f"{args.method} tree; treatment = {treated!r} vs "
                                     f"{ipd.reference!r}")
    sec.table(effects, caption="Treatment effect by terminal node", index=False)
    for name, tab in extra.items():
        if hasattr(tab, "to_html"):
            sec.table(tab, caption=name.replace("_", " "))
    est = effects["hr"] if survival else effects["estimate"]
    sec.conclusions([
        f"{len(effects)} subgroup(s) (terminal nodes) from {len(data)} patients"
        + (f"; split on {', '.join(nodes['split_variable'].dropna().unique())}."
           if nodes["split_variable"].notna().any() else "; no variable split the data."),
        f"{'Hazard ratio' if survival else 'Treatment effect'} of {treated!r} vs "
        f"{ipd.reference!r} on "
        f"{args.outcome or 'time to event (' + args.time + ')'!r}: "
        + (f"{est.iloc[0]:.3g}" if len(est) == 1 else
           f"from {est.min():.3g} to {est.max():.3g} across subgroups") + "."])
    index = rep.write(out)
    shown = _survival_table(effects) if survival else effects
    if args.method == "metamob" and ipd.outcome_type == "binary":
        # odds ratio and risk difference (at the node's average baseline) with their CIs
        shown = effects[["node", "n", "odds_ratio", "or_ci_lower", "or_ci_upper", "p_value",
                         "risk_diff", "rd_ci_lower", "rd_ci_upper", "rule"]].rename(
            columns={"odds_ratio": "OR", "or_ci_lower": "OR_lower", "or_ci_upper": "OR_upper",
                     "risk_diff": "RD", "rd_ci_lower": "RD_lower", "rd_ci_upper": "RD_upper"})
        shown = shown.round({"OR": 3, "OR_lower": 3, "OR_upper": 3, "RD": 4, "RD_lower": 4,
                             "RD_upper": 4})
    scale = (f" as hazard ratio, time ratio and RMST difference up to tau = {extra['tau']:g}"
             if survival else "")
    text = f"{model}\n\nTreatment effect ({treated} vs {ipd.reference}){scale} by terminal " \
           f"node:\n{shown.to_string(index=False)}\n\nwritten to {index.parent}"
    files = {k: str(out / f) for k, f in (("tree", "tree.txt"), ("nodes", "nodes.csv"),
                                          ("effects", "effects.csv"),
                                          ("patient_nodes", "patient_nodes.csv"),
                                          ("plot", "tree.png"), ("report", "index.html"))}
    saved = write_model_file(args, model)
    if saved:
        files["model"] = saved
        text += f"\nmodel file: {saved} (treatment column {trt!r} = 1 for {treated!r})"
    emit(args, text=text, payload={
        "method": args.method, "treated": treated, "control": ipd.reference,
        "treatment_term": trt, "n_terminal": int(effects.shape[0]), "node_effects": effects,
        "nodes": nodes, "dropped_rows": drop, "single_arm_trials_left_out": single, **extra,
        "files": files})
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

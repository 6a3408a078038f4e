"""``ipdma ite``: two-stage IPD meta-analysis of individualised treatment effects."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._lazy import lazy_module
from ._common import (
    add_ipd_arguments,
    add_save_model_argument,
    check_save_model,
    emit,
    id_columns,
    ipd_from_args,
    label_outcome,
    n_jobs_type,
    nonneg_int,
    positive_int,
    read_csv,
    split_list,
    status,
    write_model_file,
)
from ._ite_survival import (
    SURVIVAL_LEARNERS,
    SURVIVAL_POOLERS,
    SURVIVAL_SCALES,
    add_survival_arguments,
    check_survival_options,
    check_time_points,
)

np = lazy_module("numpy")   # not imported by the parser (fast --help)
pd = lazy_module("pandas")

_LEARNERS = ["ols", "lasso", "ridge", "elasticnet", "xgboost", "causal-forest", "bayes-lm",
             "bayes-lasso", "sklearn-s", "sklearn-t", "logistic", "logistic-lasso",
             "logistic-ridge", "logistic-elasticnet", "bayes-logistic", *SURVIVAL_LEARNERS]
_POOLERS = ["mvma", "weighted-bootstrap", "weighted-aux-ols", "weighted-forest", "bayes-mvma",
            "posterior-mix", *SURVIVAL_POOLERS]


def _heterogeneity(value: str) -> str:
    """argparse type of --heterogeneity."""
    v = value.strip()
    if v.lower() == "fixed":
        return "fixed"
    if v.upper() in {"DL", "REML", "PM", "ML", "HE", "SJ", "EB", "HS"}:
        return v.upper()
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a heterogeneity estimator: choose fixed, DL, REML or PM")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "ite", help="two-stage IPD meta-analysis of individualised treatment effects",
        description="Fit a learner in every trial (stage 1) and pool the trials (stage 2) to "
                    "predict individualised treatment effects (Mainetti et al.). With "
                    "--predict NEW.csv, writes DIR/predictions.csv (one row per row of NEW.csv, "
                    "in its order). With --compare, ranks learner+pooler pairs by "
                    "leave-one-trial-out validation.")
    add_ipd_arguments(p, covariates_required=True)
    add_survival_arguments(p)
    p.add_argument("--treated", default=None, metavar="LABEL",
                   help="treatment label coded t = 1 (default: the non-reference arm)")
    p.add_argument("--reference", default=None, metavar="TRT",
                   help="reference treatment: with more than two treatments the network "
                        "reference of ite_<T>_vs_<TRT> (default: a placebo/control-like "
                        "label, else the treatment in most trials); with two, the control arm")
    p.add_argument("--lower-is-better", action="store_true",
                   help="more than two treatments: the best treatment is the one with the "
                        "lowest predicted outcome (e.g. a relapse); default: the highest "
                        "(time to event: longer survival is best, i.e. the largest survdiff/"
                        "rmstdiff and the smallest loghr)")
    p.add_argument("--network-stage1", choices=["native", "per-contrast"], default=None,
                   help="more than two treatments: how a machine-learning learner fits a "
                        "trial with all its arms. native (default): xgboost and sklearn-s "
                        "as S-learners with the treatment as a categorical feature, "
                        "sklearn-t with one model per arm, causal-forest as one forest with "
                        "a multi-valued treatment; per-contrast: one two-arm fit per "
                        "contrast. ols, logistic and the Bayesian learners always fit one "
                        "joint model per trial; lasso/ridge/elastic net fit per contrast")
    p.add_argument("--learner", choices=_LEARNERS, default=None,
                   help="stage-1 learner (default: ols for a continuous outcome, logistic for "
                        "a binary one; the outcome type is inferred, see --outcome-type)")
    p.add_argument("--scale", choices=["difference", "rd", "logor", *SURVIVAL_SCALES],
                   default=None,
                   help="ITE scale: difference (continuous); rd = risk difference (binary, "
                        "default) or logor = conditional log odds ratio (binary, learners "
                        "with coefficients). Binary outcomes add p0, p1 (predicted risks "
                        "under control and treatment) to predictions.csv. Time to event: "
                        "survdiff (S(t*) difference, --horizon; p0/p1 = survival "
                        "probabilities), rmstdiff (RMST difference up to --tau) or loghr "
                        "(conditional log hazard ratio)")
    p.add_argument("--pooler", choices=_POOLERS, default=None,
                   help="stage-2 pooler (default: mvma for ols and logistic, bayes-mvma for "
                        "the Bayesian learners, weighted-aux-ols for every other learner; "
                        "binary outcome with more than two treatments and --scale rd: "
                        "weighted-aux-ols for logistic, posterior-mix for bayes-logistic); "
                        "weighted-forest (--learner causal-forest): weights from the forest's "
                        "own variance estimate, cheaper than weighted-bootstrap's --n-boot "
                        "refits")
    p.add_argument("--learner-options", default=None, metavar="JSON",
                   help="keyword arguments of the learner, as a JSON object, e.g. "
                        "'{\"nfolds\": 5}' for lasso or '{\"num_samples\": 2000}' for "
                        "bayes-lasso")
    p.add_argument("--foldid", default=None, metavar="COLUMN",
                   help="column of cross-validation fold ids (integers, per trial 1..K, "
                        "K >= 3, as R's cv.glmnet(foldid = )) for the learners that "
                        "cross-validate (lasso, ridge, elasticnet, xgboost); not a covariate")
    p.add_argument("--xgboost-grid", choices=["paper", "reduced"], default="paper",
                   help="XGBoost tuning grid: the paper's 45 points with 10-fold CV (default; "
                        "about 35 s per trial) or depth 2-3, eta 0.1, nrounds 100/500 with "
                        "5-fold CV")
    p.add_argument("--method", choices=["reml", "ml", "fixed", "mm"], default="reml",
                   help="between-trial covariance estimator of the mvma pooler")
    p.add_argument("--heterogeneity", default="fixed", metavar="fixed|DL|REML|PM",
                   type=_heterogeneity,
                   help="weighted poolers: fixed-effect weights (the paper) or per-profile "
                        "random-effects weights with a prediction interval")
    p.add_argument("--n-boot", type=positive_int, default=100, help="bootstrap resamples per trial")
    p.add_argument("--seed", type=nonneg_int, default=1, help="random seed")
    p.add_argument("--predict", metavar="NEW.csv", default=None,
                   help="covariates of new patients to predict")
    p.add_argument("--no-plots", action="store_true",
                   help="do not draw the figures (faster: matplotlib is not loaded)")
    p.add_argument("--compare", action="store_true",
                   help="also rank methods by leave-one-trial-out validation (more than "
                        "two treatments: scores per contrast in comparison_contrasts.csv, "
                        "overall = all contrasts stacked)")
    p.add_argument("--compare-methods", default=None, metavar="LIST",
                   help="methods for --compare: learner+pooler names, comma-separated, or "
                        "'all' (default: ols+mvma, ols/lasso/ridge+weighted-aux-ols and the "
                        "fitted method; time to event: cox+mvma, cox+weighted-aux-ols, "
                        "cox-lasso+weighted-aux-ols, weibull+mvma, scored by censoring-aware "
                        "C-for-benefit and Kaplan-Meier calibration for benefit)")
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--n-jobs", type=n_jobs_type, default=1,
                    help="parallel stage-1 jobs (trials; learners with --compare)")
    ex.add_argument("--dask-local", type=positive_int, default=None, metavar="N",
                    help="run the stage-1 jobs on a Dask LocalCluster with N workers")
    ex.add_argument("--scheduler", default=None, metavar="ADDR",
                    help="run the stage-1 jobs on an existing Dask scheduler, e.g. "
                         "tcp://host:8786")
    p.add_argument("--export-sites", action="store_true",
                   help="also write one site summary (JSON, no patient rows) per trial "
                        "(more than two treatments: the trial's contrast blocks with their "
                        "joint covariance, or its predicted contrasts at --predict)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_save_model_argument(p)
    p.set_defaults(func=run)


def _learner_options(args: argparse.Namespace) -> dict[str, dict]:
    """Learner keyword arguments by learner name, from --learner-options and --xgboost-grid."""
    import json

    from ..errors import ModelSpecificationError
    from ..ite import REDUCED_XGBOOST_GRID

    opts: dict[str, dict] = {}
    if args.xgboost_grid == "reduced":
        opts["xgboost"] = dict(REDUCED_XGBOOST_GRID)
    if args.learner_options:
        try:
            given = json.loads(args.learner_options)
        except json.JSONDecodeError as exc:
            raise ModelSpecificationError(
                f"--learner-options is not valid JSON ({exc.msg} at character {exc.pos}): "
                f"{args.learner_options!r}; write e.g. '{{\"nfolds\": 5}}'") from None
        if not isinstance(given, dict):
            raise ModelSpecificationError(
                f"--learner-options must be a JSON object such as '{{\"nfolds\": 5}}', "
                f"got {args.learner_options!r}")
        nfolds = given.get("nfolds", given.get("n_folds"))
        if nfolds is not None and (not isinstance(nfolds, int) or isinstance(nfolds, bool)
                                   or nfolds < 2):
            raise ModelSpecificationError(
                f"--learner-options: nfolds must be a whole number of at least 2 for "
                f"cross-validation, got {nfolds!r}")
        opts[args.learner] = {**opts.get(args.learner, {}), **given}
    return opts


def _check_extras(learners: list[str]) -> None:
    """Stop before any computation when a learner's optional package is missing."""
    from .._optional import EXTRAS, is_available
    from ..errors import MissingDependencyError
    from ..ite._learners import LEARNER_REQUIRES

    for name in learners:
        mod = LEARNER_REQUIRES.get(name)
        if mod is not None and not is_available(mod):
            raise MissingDependencyError(
                f"--learner {name} needs the optional package {mod!r}, which is not "
                f"installed: pip install 'ipdma[{EXTRAS[mod]}]'")


def read_new_patients(args: argparse.Namespace, path: str, covariates: list[str],
                      option: str = "--predict"):
    """Read and check the covariates of new patients before any model is fitted."""
    import pandas as pd

    from ..data._validation import numeric_like, row_numbers_text
    from ..errors import DataError, column_not_found

    new = read_csv(path, args, what=option)
    if len(new) == 0:
        raise DataError(f"{option} {path!r} has a header but no rows: it needs one row per "
                        "patient to predict")
    declared = set(split_list(getattr(args, "categorical", None)) or [])
    declared |= {s.partition(":")[0] for s in (getattr(args, "ordered", None) or [])}
    for c in covariates:
        if c not in new.columns:
            raise column_not_found(c, new.columns, "covariate", where=f"{option} {path!r}")
        col = new[c]
        na = col.isna().to_numpy()
        if na.any():
            raise DataError(f"{option} {path!r}: covariate {c!r} is missing in "
                            f"{row_numbers_text(na.nonzero()[0] + 1)}; predictions need "
                            "complete covariates: fill or drop those rows")
        if c not in declared and not pd.api.types.is_numeric_dtype(col.dtype) \
                and not pd.api.types.is_bool_dtype(col.dtype):
            ok = numeric_like(col.to_numpy())
            if ok.any() and not ok.all():
                raise DataError(
                    f"{option} {path!r}: covariate {c!r} has non-numeric values "
                    f"{sorted(set(col[~ok].astype(str)))[:5]} in "
                    f"{row_numbers_text(np.flatnonzero(~ok) + 1)}")
    return new


def run(args: argparse.Namespace) -> int:
    from ..ite._dask import dask_client

    if args.scheduler is not None or args.dask_local is not None:
        _check_extras_dask()
    with dask_client(args.scheduler, args.dask_local) as client:
        return _run(args, client)


def _check_extras_dask() -> None:
    from .._optional import is_available
    from ..errors import MissingDependencyError

    if not (is_available("dask") and is_available("distributed")):
        raise MissingDependencyError(
            "--scheduler/--dask-local need the optional packages 'dask' and 'distributed', "
            "which are not installed: pip install 'ipdma[dask]'")


def _run(args: argparse.Namespace, client) -> int:
    from ..errors import ModelSpecificationError
    from ..ite import LEARNERS, TwoStageITE, compare_methods, feasible_pairs

    check_save_model(args)
    out = Path(args.out)
    check_survival_options(args)
    covs = split_list(args.covariates)
    new = read_new_patients(args, args.predict, covs) if args.predict else None
    ipd = (ipd_from_args(args, reference=args.reference) if args.time is None
           else ipd_from_args(args, time=args.time, reference=args.reference))
    fam = ipd.family
    network = len(ipd.treatments) > 2
    if args.learner is None:
        args.learner = "logistic" if fam.name == "binary" else "ols"
    if fam.name not in LEARNERS[args.learner].families:
        ok = sorted({a for a, _ in feasible_pairs(fam.name)})
        raise ModelSpecificationError(
            f"--learner {args.learner} handles {', '.join(sorted(LEARNERS[args.learner].families))}"
            f" outcomes; the outcome column {args.outcome or args.event!r} is {fam.name}: use "
            "--learner "
            f"{' or '.join(ok)}"
            + ("" if fam.name == "survival" else
               " (or --outcome-type continuous if it is a measurement)"))
    if args.scale is not None and args.scale not in fam.scales:
        raise ModelSpecificationError(
            f"--scale {args.scale} is not a scale for a {fam.name} outcome: use --scale "
            f"{' or '.join(fam.scales)}")
    if args.scale in fam.coef_scales and "linear" not in LEARNERS[args.learner].provides:
        raise ModelSpecificationError(
            f"--scale {args.scale} needs a learner with coefficients; --learner {args.learner} "
            f"has none: use --scale {fam.default_scale} or --learner logistic")
    if args.pooler is None:
        from ..ite import default_pooler

        args.pooler = default_pooler(args.learner, fam.name)
        if network and fam.name == "binary" and (args.scale or fam.default_scale) != "logor":
            # mvma / bayes-mvma pool log odds ratios of a network: the risk-difference
            # default is the pooler that pools predictions of the same learner
            args.pooler = {"mvma": "weighted-aux-ols",
                           "bayes-mvma": "posterior-mix"}.get(args.pooler, args.pooler)
    if network:
        _check_network_options(args, ipd)
    elif args.network_stage1 is not None:
        raise ModelSpecificationError(
            f"--network-stage1 applies to more than two treatments; {args.treatment!r} has "
            f"two ({', '.join(map(str, ipd.treatments))}), so every learner fits the two arms "
            "directly: drop --network-stage1")
    if args.save_model:
        from ..serialize import EXPORTABLE_LEARNERS

        if args.learner not in EXPORTABLE_LEARNERS:
            raise ModelSpecificationError(
                f"--save-model: a model with --learner {args.learner} cannot be written to a "
                f"model file; learners that can: {', '.join(EXPORTABLE_LEARNERS)}")
    check_time_points(args, ipd)
    learner_options = _learner_options(args)
    learners = [args.learner]
    if args.compare and args.compare_methods:
        from ..ite import parse_methods

        learners += [a for a, _ in parse_methods(args.compare_methods, family=fam.name)]
    _check_extras(learners)
    out.mkdir(parents=True, exist_ok=True)
    pooler_options = {"method": args.method} if args.pooler == "mvma" else {}
    if args.pooler.startswith("weighted"):
        pooler_options["heterogeneity"] = args.heterogeneity
    model = TwoStageITE(args.learner, args.pooler, n_boot=args.n_boot, random_state=args.seed,
                        n_jobs=args.n_jobs, learner_options=learner_options.get(args.learner),
                        pooler_options=pooler_options, progress=None, scale=args.scale,
                        horizon=args.horizon, tau=args.tau)
    status(f"fitting {model.name} in {len(ipd.trials)} trials")
    # the new patients are the query points: bootstrap refits are predicted there and
    # dropped (memory); --compare predicts the trials' own patients with this model too
    model.fit(ipd, treated=args.treated, foldid=args.foldid, reference=args.reference,
              higher_is_better=not args.lower_is_better,
              X_query=new if args.predict and not args.compare else None,
              client=client,
              **({"network_stage1": args.network_stage1} if network and args.network_stage1
                 else {}))
    if network:
        return _run_network(args, model, ipd, new, out, covs)
    files: dict[str, str] = {}
    payload: dict = {"learner": args.learner, "pooler": args.pooler, "outcome_type": fam.name,
                     "scale": fam.check_scale(args.scale),
                     **({"horizon": args.horizon, "tau": args.tau} if args.time else {}),
                     "trials": model.trials_, "covariates": model.feature_names_,
                     "dropped_rows": ipd.drop_report()}
    if args.predict:
        pred = model.predict(new)
        pred = pred.drop(columns=[c for c in ("tau2",) if c in pred.columns])
        ids = new[id_columns(args, new.columns)].reset_index(drop=True)
        ids.insert(0, "row", np.arange(1, len(new) + 1))
        pred = pd.concat([ids, pred.reset_index(drop=True)], axis=1)
        path = out / "predictions.csv"
        pred.to_csv(path, index=False)
        files["predictions"] = str(path)
        for kind in () if args.no_plots else ("distribution", "covariate", "trials"):
            import matplotlib.pyplot as plt

            ax = model.plot(kind, covariate=covs[0] if covs else None)
            label_outcome(ax, args.outcome or args.event)
            fp = out / f"ite_{kind}.png"
            ax.figure.savefig(fp, dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
            files[f"plot_{kind}"] = str(fp)
        payload["prediction"] = {"n": len(pred), "mean_ite": float(pred["ite"].mean()),
                                 "columns": list(pred.columns)}
    summary = model.summary()
    (out / "summary.txt").write_text(str(summary) + "\n")
    files["summary"] = str(out / "summary.txt")
    model.trial_frame().to_csv(out / "trials.csv")
    files["trials"] = str(out / "trials.csv")
    if hasattr(model.pooler_, "coef_frame"):
        cf = model.pooler_.coef_frame()
        cf.to_csv(out / "pooled_coefficients.csv")
        files["pooled_coefficients"] = str(out / "pooled_coefficients.csv")
        payload["pooled_coefficients"] = cf
    if args.export_sites:
        X_sites = new
        if X_sites is None and model.pooler_.needs == "predictions":
            status("site summaries of a prediction-level pooler need --predict; skipped")
        else:
            paths = model.export_sites(out / "sites", X_new=X_sites)
            files["sites"] = [str(p) for p in paths]
    saved = write_model_file(args, model)
    if saved:
        files["model"] = saved
    text = str(summary)
    if args.compare:
        if args.compare_methods:
            from ..ite import parse_methods

            methods = [f"{a}+{b}" for a, b in parse_methods(args.compare_methods,
                                                            family=fam.name)]
        elif fam.name == "survival":
            methods = ["cox+mvma", "cox+weighted-aux-ols", "cox-lasso+weighted-aux-ols",
                       "weibull+mvma"]
            if model.name not in methods:
                methods.append(model.name)
        elif fam.name == "binary":
            methods = ["logistic+mvma", "logistic+weighted-aux-ols",
                       "logistic-lasso+weighted-aux-ols", "logistic-ridge+weighted-aux-ols"]
        else:
            methods = ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols",
                       "ridge+weighted-aux-ols"]
            if model.name not in methods:
                methods.append(model.name)
        # the method fitted above enters as the fitted model: its stage 1 is reused
        # (same data, same seed: what a refit would give)
        methods = [model if m == model.name else m for m in methods]
        status(f"leave-one-trial-out comparison of {len(methods)} methods")
        # the other compared methods' learners get their options too (e.g. the grid)
        named = {m.split("+", 1)[0] for m in methods if isinstance(m, str)}
        cmp = compare_methods(ipd, methods, treated=args.treated, n_boot=args.n_boot,
                              random_state=args.seed, n_jobs=args.n_jobs,
                              learner_options={k: v for k, v in learner_options.items()
                                               if k in named},
                              progress=None, foldid=args.foldid, client=client,
                              **({"scale": args.scale, "horizon": args.horizon,
                                  "tau": args.tau} if fam.name == "survival" else {}))
        cmp.table.to_csv(out / "comparison.csv")
        files["comparison"] = str(out / "comparison.csv")
        if not args.no_plots and cmp.table["calib_slope"].notna().any():
            import matplotlib.pyplot as plt

            ax = cmp.plot()
            ax.figure.savefig(out / "comparison_calibration.png", dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
            files["plot_comparison"] = str(out / "comparison_calibration.png")
        payload["comparison"] = cmp.table
        text += "\n" + str(cmp.summary())
    payload["files"] = files
    emit(args, text=text + "\nfiles: " + ", ".join(f"{k}={v}" for k, v in files.items()),
         payload=payload)
    return 0


def _check_network_options(args: argparse.Namespace, ipd) -> None:
    """Options that do not apply to a treatment network, before anything is fitted."""
    from ..errors import ModelSpecificationError
    from ..ite._network_ite import NETWORK_POOLERS

    trts = ", ".join(map(str, ipd.treatments))
    if args.treated is not None:
        raise ModelSpecificationError(
            f"--treated names one treatment, but {args.treatment!r} has "
            f"{len(ipd.treatments)} treatments ({trts}): every treatment is compared with "
            "the network reference; pick it with --reference")
    for flag, on in (("--foldid", args.foldid is not None),):
        if on:
            raise ModelSpecificationError(
                f"{flag} is not available yet with more than two treatments ({trts}); "
                "drop it")
    if args.pooler not in NETWORK_POOLERS:
        raise ModelSpecificationError(
            f"--pooler {args.pooler} is not available with more than two treatments ({trts});"
            f" use --pooler {' or '.join(NETWORK_POOLERS)}")
    from ..ite._network_bayes import POSTERIOR_LEARNERS

    if NETWORK_POOLERS[args.pooler] in ("bayes", "posterior") and \
            args.learner not in POSTERIOR_LEARNERS:
        raise ModelSpecificationError(
            f"--pooler {args.pooler} with more than two treatments ({trts}) needs the joint "
            f"posterior of each trial's contrast blocks: use --learner "
            f"{' or '.join(sorted(POSTERIOR_LEARNERS))}")
    if ipd.family.name == "binary" and args.pooler in ("mvma", "bayes-mvma") and \
            (args.scale or ipd.family.default_scale) != "logor":
        alt = "weighted-aux-ols" if args.pooler == "mvma" else "posterior-mix"
        raise ModelSpecificationError(
            f"--pooler {args.pooler} with more than two treatments ({trts}) pools the trials' "
            f"log odds ratios: add --scale logor, or use --pooler {alt} for risk differences")
    if args.pooler == "mvma" and args.method == "mm":
        raise ModelSpecificationError(
            "--method mm is not available for a treatment network: use reml, ml or fixed")
    if args.pooler.startswith("weighted") and args.heterogeneity not in ("fixed", "DL"):
        raise ModelSpecificationError(
            f"--heterogeneity {args.heterogeneity} is not available for a treatment network: "
            "use fixed or DL")
    from ._ite_survival import check_survival_network_options

    check_survival_network_options(args)


def _run_network(args: argparse.Namespace, model, ipd, new, out: Path, covs) -> int:
    """Outputs of ``ipdma ite`` with more than two treatments."""
    net = model.network_
    files: dict[str, str] = {}
    payload: dict = {"learner": args.learner, "pooler": args.pooler,
                     "outcome_type": ipd.family.name, "scale": net.scale,
                     "treatments": net.treatments, "reference": net.reference,
                     "best": "higher" if net.higher_is_better else "lower",
                     "network_stage1": getattr(model, "network_stage1_", None),
                     "trials": model.trials_, "covariates": model.feature_names_,
                     "dropped_rows": ipd.drop_report()}
    if new is not None:
        pred = model.predict(new)
        ids = new[id_columns(args, new.columns)].reset_index(drop=True)
        ids.insert(0, "row", np.arange(1, len(new) + 1))
        pred = pd.concat([ids, pred.reset_index(drop=True)], axis=1)
        path = out / "predictions.csv"
        pred.to_csv(path, index=False)
        files["predictions"] = str(path)
        pairs = model.predict_pairs(new)
        pairs = pd.concat([ids, pairs.reset_index(drop=True)], axis=1)
        pairs.to_csv(out / "predictions_all_pairs.csv", index=False)
        files["predictions_all_pairs"] = str(out / "predictions_all_pairs.csv")
        for kind in () if args.no_plots else ("best", "distribution"):
            import matplotlib.pyplot as plt

            ax = model.plot(kind, covariate=covs[0] if covs else None)
            fp = out / f"ite_{kind}.png"
            ax.figure.savefig(fp, dpi=120, bbox_inches="tight")
            plt.close(ax.figure)
            files[f"plot_{kind}"] = str(fp)
        counts = pred["best_treatment"].value_counts()
        payload["prediction"] = {
            "n": len(pred), "columns": list(pred.columns),
            "mean_ite": {c[4:]: float(pred[c].mean()) for c in pred.columns
                         if c.startswith("ite_")},
            "best_counts": {t: int(counts.get(t, 0)) for t in net.treatments}}
    summary = model.summary()
    (out / "summary.txt").write_text(str(summary) + "\n")
    files["summary"] = str(out / "summary.txt")
    model.trial_frame().to_csv(out / "trials.csv")
    files["trials"] = str(out / "trials.csv")
    if net.pooled is not None:
        cf = net.coef_frame()
        cf.to_csv(out / "pooled_coefficients.csv", index=False)
        files["pooled_coefficients"] = str(out / "pooled_coefficients.csv")
        payload["pooled_coefficients"] = cf
    text = str(summary)
    if args.export_sites:
        from ..ite._network_federation import cli_export_network_sites

        files["sites"] = cli_export_network_sites(model, new, out)
    if args.compare:
        from ..ite._network_validate import cli_compare_network

        files_cmp, payload["comparison"], cmp_text = cli_compare_network(args, model, ipd, out)
        files.update(files_cmp)
        text += "\n" + cmp_text
    saved = write_model_file(args, model)
    if saved:
        files["model"] = saved
    payload["files"] = files
    emit(args, text=text + "\nfiles: " + ", ".join(f"{k}={v}" for k, v in files.items()),
         payload=payload)
    return 0

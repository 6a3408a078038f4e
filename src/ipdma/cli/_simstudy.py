"""``ipdma simstudy``: run and summarise simulation studies of ITE methods."""

from __future__ import annotations

import argparse
import os

from ._common import emit, n_jobs_type, nonneg_int, positive_int

_N_SCENARIOS = 16


def _scenarios(value: str) -> str:
    """argparse type of --scenarios: a list of scenario numbers 1-16."""
    from ..errors import ModelSpecificationError
    from ..simstudy import parse_scenarios

    try:
        ids = parse_scenarios(value)
    except ModelSpecificationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    bad = [i for i in ids if not 1 <= i <= _N_SCENARIOS]
    if not ids or bad:
        raise argparse.ArgumentTypeError(
            f"scenarios are numbered 1-{_N_SCENARIOS}; {value!r} gives "
            f"{bad or 'no scenario'}")
    return value


def _n_bootstrap(value: str) -> int:
    try:
        v = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"must be 2 or more bootstrap replicates, got {v}")
    return v


def _metric(value: str) -> str:
    """argparse type of --metric (the metric list is imported only when used)."""
    from ..simstudy._metrics import METRICS

    ok = [*METRICS, "fit_time", "best_correct"]
    # treatment networks also store <metric>[<j>_vs_<k>] per contrast
    if value not in ok and not (value.endswith("]") and value.split("[", 1)[0] in METRICS):
        raise argparse.ArgumentTypeError(
            f"invalid choice: {value!r} (choose from {', '.join(map(repr, ok))})")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simstudy", help="simulation study comparing two-stage ITE methods",
        description="Run (resumably) and summarise simulation studies of learner+pooler "
                    "methods on the scenarios of make_ite_continuous (or make_ite_binary with "
                    "--outcome binary, make_survival_trials with --outcome survival, "
                    "make_ite_network with --outcome network).")
    sub = p.add_subparsers(dest="simstudy_command", metavar="{run,summarize}")
    sub.required = True

    r = sub.add_parser("run", help="run the study; rerunning on the same --out resumes")
    r.add_argument("--scenarios", default=None, type=_scenarios,
                   help="e.g. 1-16 or 1,3,5-7 (default 1-16; 1-4 with --outcome survival "
                        "or network)")
    r.add_argument("--outcome", choices=["continuous", "binary", "survival", "network"],
                   default="continuous",
                   help="continuous: the paper's design (make_ite_continuous); binary: its "
                        "logistic analogue (make_ite_binary), ITE = risk difference; "
                        "survival: Weibull time-to-event trials (make_survival_trials), ITE = "
                        "difference in survival probability at --horizon; network: a "
                        "treatment network of four treatments with multi-arm trials "
                        "(make_ite_network; scenarios 1-4: moderate, no, large "
                        "heterogeneity, small trials), scored per contrast (bias, rmse, "
                        "coverage) and by the share of correct best-treatment calls")
    from ._ite_survival import _positive_time

    r.add_argument("--horizon", type=_positive_time, default=None, metavar="T",
                   help="--outcome survival: horizon of the survival-probability ITE "
                        "(default 2)")
    r.add_argument("--methods", default="all",
                   help="learner+pooler names, comma-separated (e.g. "
                        "ols+mvma,xgboost+weighted-aux-ols), or 'all' (default)")
    r.add_argument("--reps", type=positive_int, default=100, help="replicates per scenario (default 100)")
    r.add_argument("--seed", type=nonneg_int, default=42, help="master seed (default 42)")
    r.add_argument("--out", required=True, metavar="DIR", help="result store folder")
    r.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    r.add_argument("--n-bootstrap", type=_n_bootstrap, default=None,
                   help="bootstrap replicates for weighted-bootstrap (default: the pooler's)")
    r.add_argument("--xgboost-grid", choices=["paper", "reduced"], default="paper",
                   help="XGBoost tuning grid: the paper's 45 points with 10-fold CV (default) "
                        "or a reduced one (depth 2-3, eta 0.1, nrounds 100/500, 5 folds)")
    ex = r.add_mutually_exclusive_group()
    ex.add_argument("--n-jobs", type=n_jobs_type, default=1,
                    help="local worker processes (joblib; -1: every core)")
    ex.add_argument("--dask-local", type=positive_int, default=None, metavar="N",
                    help="start a Dask LocalCluster with N workers")
    ex.add_argument("--scheduler", default=None, metavar="ADDR",
                    help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r.add_argument("--extend", action="store_true",
                   help="allow adding scenarios, methods or replicates to an existing store "
                        "made with another design (without it such a run is refused)")
    r.add_argument("--retry-failed", action="store_true",
                   help="also recompute methods stored with an error (same random streams)")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(func=run_study)

    s = sub.add_parser("summarize", help="tables and figures from a result store")
    s.add_argument("store", metavar="DIR", help="result store folder written by 'run'")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="write CSV tables, figures and index.html here")
    s.add_argument("--metric", default="mae", type=_metric,
                   help="metric of the printed table (default mae: the median absolute error; "
                        "treatment networks also best_correct and e.g. 'bias[B_vs_A]')")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=summarize_study)


def _check_design(args: argparse.Namespace, config: dict) -> None:
    """Refuse to run into a store made with another design unless --extend is given."""
    from ..errors import ModelSpecificationError
    from ..simstudy._store import ResultStore

    old = ResultStore(args.out, args.format).read_config()
    if old is None:
        return
    diffs = []
    new_sc = sorted(set(config["scenarios"]) - set(old.get("scenarios", {})), key=int)
    new_m = [m for m in config["methods"] if m not in old.get("methods", [])]
    if new_sc:
        diffs.append(f"scenarios {', '.join(new_sc)} are not in it")
    if new_m:
        diffs.append(f"methods {', '.join(new_m)} are not in it")
    if int(config["n_reps"]) > int(old.get("n_reps", 0)):
        diffs.append(f"it has {old.get('n_reps')} replicates, not {config['n_reps']}")
    if diffs and not args.extend:
        raise ModelSpecificationError(
            f"--out {args.out!r} holds a study with another design ({'; '.join(diffs)}): pass "
            "--extend to add the missing cells to it, or use another --out folder")
    if diffs:
        from ._common import status

        status(f"extending the study in {args.out}: {'; '.join(diffs)}")


def run_study(args: argparse.Namespace) -> int:
    from ..errors import ModelSpecificationError
    from ..simstudy import SimulationStudy, ite_methods, ite_scenarios

    options = {}
    if args.n_bootstrap is not None:
        options["n_boot"] = args.n_bootstrap
    gen_params = {}
    if args.outcome == "survival":
        options["horizon"] = gen_params["horizon"] = float(args.horizon or 2.0)
    elif args.horizon is not None:
        raise ModelSpecificationError("--horizon applies to --outcome survival")
    if args.scenarios is None:
        args.scenarios = [1, 2, 3, 4] if args.outcome in ("survival", "network") \
            else list(range(1, 17))
    from ..ite import REDUCED_XGBOOST_GRID

    lopts = {"xgboost": REDUCED_XGBOOST_GRID} if args.xgboost_grid == "reduced" else None
    study = SimulationStudy(ite_scenarios(args.scenarios, outcome=args.outcome,
                                          **gen_params),
                            ite_methods(args.methods, family=args.outcome,
                                        learner_options=lopts, **options),
                            n_reps=args.reps, seed=args.seed, store_format=args.format)
    _check_design(args, study.config())
    n_jobs = args.n_jobs if args.n_jobs > 0 else (os.cpu_count() or 1)
    # SIGTERM (kill, a batch system's time limit) stops like Ctrl-C, so that joblib/Dask
    # shut their workers down instead of leaving them computing as orphans; finished
    # cells are in the store and a rerun resumes
    import signal

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        res = study.run(args.out, n_jobs=n_jobs, scheduler=args.scheduler,
                        dask_local=args.dask_local, progress=not args.no_progress,
                        retry_failed=args.retry_failed)
    finally:
        signal.signal(signal.SIGTERM, previous)
    emit(args, text=str(res.summary()),
         payload={"store": args.out, "table_mae": res.table("mae"),
                  "failures": res.failures()})
    return 0


def summarize_study(args: argparse.Namespace) -> int:
    import warnings

    from ..errors import DataWarning
    from ..simstudy import summarize

    res = summarize(args.store)
    tab = res.table(args.metric)
    gaps = {str(m): [str(sc) for sc in tab.index[tab[m].isna()]] for m in tab.columns
            if tab[m].isna().any()}
    if gaps:
        shown = "; ".join(f"{m}: scenarios {', '.join(v)}" for m, v in list(gaps.items())[:5])
        warnings.warn(f"some methods have no results in some scenarios ({shown}), so their "
                      "mean ranks are over different scenario sets; complete the store with "
                      "`ipdma simstudy run --extend ...` before comparing them", DataWarning,
                      stacklevel=2)
    payload = {"incomplete": gaps,"table": res.table(args.metric), "ranks": res.ranks(args.metric),
               "failures": res.failures()}
    if args.out:
        payload["report"] = str(res.write_report(args.out))
    emit(args, text=str(res.summary(args.metric)), payload=payload)
    return 0

"""Benchmark of the simulation-study engine.

Reports replicates per minute per core for the default method set (all feasible
learner+pooler pairs) on one scenario of make_ite_continuous, and the speed-up
from 1 to 2 workers (joblib, processes).

Usage:  python benchmarks/bench_simstudy.py [--scenario 16] [--reps 4] [--methods all]
                                           [--xgboost-grid reduced|paper] [--n-boot 20]
                                           [--no-warmup]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from ipdma.simstudy import SimulationStudy, ite_methods, ite_scenarios


def timed_run(scenarios, methods, reps, n_jobs, seed=1, **opts):
    study = SimulationStudy(ite_scenarios(scenarios), ite_methods(methods, **opts),
                            n_reps=reps, seed=seed)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        res = study.run(out, n_jobs=n_jobs, progress=False)
        elapsed = time.perf_counter() - t0
    return elapsed, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="16", help="scenario(s), default 16 (largest data)")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--methods", default="all")
    ap.add_argument("--xgboost-grid", choices=["paper", "reduced"], default="reduced",
                    help="XGBoost tuning grid (default reduced, as in docs/simulation-study.md)")
    ap.add_argument("--n-boot", type=int, default=20, help="bootstrap replicates (default 20)")
    ap.add_argument("--no-warmup", action="store_true",
                    help="skip the warm-up replicate (JIT compilation then counts in both "
                         "timings)")
    args = ap.parse_args()

    from ipdma.ite import REDUCED_XGBOOST_GRID

    opts = {"n_boot": args.n_boot}
    if args.xgboost_grid == "reduced":
        opts["learner_options"] = {"xgboost": REDUCED_XGBOOST_GRID}
    n_methods = len(ite_methods(args.methods))
    print(f"scenario {args.scenario}, {args.reps} replicates, {n_methods} methods "
          f"({args.methods}); B = {args.n_boot}; XGBoost grid: {args.xgboost_grid}")
    if not args.no_warmup:
        # warm-up (imports, JIT compilation) so that both timings measure steady state
        timed_run(args.scenario, args.methods, 1, 1, seed=999, **opts)
    t1, res = timed_run(args.scenario, args.methods, args.reps, 1, **opts)
    t2, _ = timed_run(args.scenario, args.methods, args.reps, 2, **opts)
    per_method = res.to_frame().groupby("method")["fit_time"].mean().sort_values()
    print("\nmean fit time per replicate, by method (1 worker):")
    for m, t in per_method.items():
        print(f"  {m:32s} {t:8.2f} s")
    print(f"\n1 worker : {t1:8.1f} s  -> {args.reps / t1 * 60:6.2f} replicates/min/core")
    print(f"2 workers: {t2:8.1f} s  -> {args.reps / t2 * 60 / 2:6.2f} replicates/min/core")
    print(f"speed-up 1 -> 2 workers: {t1 / t2:.2f}x")
    fails = res.failures()
    if len(fails):
        print(f"\n{len(fails)} failed fits:\n{fails.to_string()}")


if __name__ == "__main__":
    main()

"""Benchmark of the simulation-study engine.

Reports replicates per minute per core for the default method set (all feasible
learner+pooler pairs) on one scenario of make_ite_continuous, and the speed-up
from 1 to 2 workers (joblib, processes).

Usage:  python benchmarks/bench_simstudy.py [--scenario 16] [--reps 4] [--methods all]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from ipdma.simstudy import SimulationStudy, ite_methods, ite_scenarios


def timed_run(scenarios, methods, reps, n_jobs, seed=1):
    study = SimulationStudy(ite_scenarios(scenarios), ite_methods(methods), n_reps=reps,
                            seed=seed)
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
    args = ap.parse_args()

    n_methods = len(ite_methods(args.methods))
    print(f"scenario {args.scenario}, {args.reps} replicates, {n_methods} methods "
          f"({args.methods})")
    # warm-up (imports, JIT compilation) so that both timings measure steady state
    timed_run(args.scenario, args.methods, 1, 1, seed=999)
    t1, res = timed_run(args.scenario, args.methods, args.reps, 1)
    t2, _ = timed_run(args.scenario, args.methods, args.reps, 2)
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

"""Benchmark: every feasible learner+pooler pair of ipdma.ite on one simulated data set.

make_ite_continuous(scenario, 10 trials, large trial sizes 300-600), B = 100 bootstrap
resamples, default MCMC settings.  All pairs are fitted with ``ipdma.ite.fit_methods``:
each learner is fitted once per trial and shared by its poolers (results identical to
fitting every pair on its own), with (learner, trial) jobs on ``--n-jobs`` processes.

Prints one row per pair: ``stage1_s`` = the pair's own stage-1 seconds (learner fits
plus its bootstrap or auxiliary OLS, summed over trials, i.e. its cost if run alone on
one core), ``stage2_s`` = pooling + prediction of the 3000 test patients, and the MAE
(median |predicted - true ITE|); for bootstrap pairs ``boot_s`` (the part of stage1_s
spent on the K x B refits) and ``refit_ms`` (one refit, on average); then the wall time of the whole run, which is what
the issue's target (< 60 s) is about.  ``--separate`` fits every pair on its own
instead (no sharing), for comparison.

    python benchmarks/bench_ite.py [--scenario 13] [--n-boot 100] [--seed 1]
                                   [--grid reduced|paper] [--n-jobs 2] [--separate]
                                   [--pairs ols+mvma,...] [--keep-refits]
                                   [--dask-local N] [--save PRED.csv] [--no-r]

Memory: the test patients are passed as ``X_query``, so bootstrap refits of the
flexible learners are predicted in the stage-1 worker and dropped (``--keep-refits``:
the former behaviour, every refit kept as a model).  The peak resident memory of this
process and of its worker processes (``getrusage``; for ``--dask-local``, the largest
worker's, from the workers themselves) is printed at the end.  ``--dask-local N`` runs
stage 1 on a Dask LocalCluster of N single-threaded workers (its start-up is outside
the timings); ``--save`` writes every pair's predictions to one CSV to compare runs.

``--grid reduced`` (default; the simulation study's) tunes XGBoost over depth 2-3,
eta 0.1, nrounds 100/500 with 5-fold CV; ``--grid paper`` uses the paper's 45 points
with 10-fold CV (about 35 s of tuning per trial on one core).  Pairs whose learner is
not installed (EconML for the causal forest) are listed as skipped.  When ``Rscript``
with metafor is available, the R time of the REML rma.mv pooling of the same 10
trials' OLS coefficients is printed for comparison.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=int, default=13,
                    help="make_ite_continuous scenario (13: large trials, non-linear)")
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--grid", choices=["reduced", "paper"], default="reduced",
                    help="XGBoost tuning grid")
    ap.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1,
                    help="parallel (learner, trial) jobs (default: all cores)")
    ap.add_argument("--separate", action="store_true",
                    help="fit every pair on its own (no shared stage 1)")
    ap.add_argument("--pairs", default=None, help="comma-separated learner+pooler subset")
    ap.add_argument("--keep-refits", action="store_true",
                    help="keep the bootstrap refits as models (no X_query): the old memory use")
    ap.add_argument("--dask-local", type=int, default=None, metavar="N",
                    help="stage 1 on a Dask LocalCluster with N workers")
    ap.add_argument("--save", default=None, metavar="PRED.csv",
                    help="write all pairs' predictions to this CSV")
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    ap.add_argument("--json-out", default=None, metavar="FILE.json",
                    help="write wall times and peak memory to this JSON file")
    args = ap.parse_args()

    from ipdma.datasets import make_ite_continuous
    from ipdma.ite import (
        REDUCED_XGBOOST_GRID,
        TwoStageITE,
        feasible_pairs,
        fit_methods,
        learner_available,
    )

    sim = make_ite_continuous(scenario=args.scenario, random_state=args.seed)
    ipd, test = sim.ipd(), sim.test
    truth = test["ite_true"].to_numpy()
    print(f"data: scenario {args.scenario}, {len(sim.data)} patients in "
          f"{sim.data['trial'].nunique()} trials; {len(test)} test patients; B = {args.n_boot};"
          f" XGBoost grid: {args.grid}; {args.n_jobs} job(s); "
          f"{'separate fits' if args.separate else 'shared stage 1 (fit_methods)'}")
    lopts = {"xgboost": dict(REDUCED_XGBOOST_GRID)} if args.grid == "reduced" else {}
    pairs = feasible_pairs()
    if args.pairs:
        wanted = set(args.pairs.split(","))
        pairs = [p for p in pairs if f"{p[0]}+{p[1]}" in wanted]
    skipped = [p for p in pairs if not learner_available(p[0])]
    pairs = [p for p in pairs if learner_available(p[0])]
    lopts = {k: v for k, v in lopts.items() if k in {p[0] for p in pairs}}
    import jax  # noqa: F401  - import once, outside the timings (1-2 s per process)

    from ipdma.ite import dask_client

    X_query = None if args.keep_refits else test
    sampler = _TreeRSS()
    with dask_client(dask_local=args.dask_local) as client:
        if client is not None:
            client.run(lambda: __import__("ipdma.ite"))   # warm the workers' imports
        rows, total, t_fit, preds = _run(args, ipd, test, truth, pairs, lopts, X_query,
                                         client, TwoStageITE, fit_methods)
        worker_rss = _worker_peak_rss(client)
    tree_peak = sampler.stop()
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table = pd.DataFrame(rows)
    const = float(np.median(np.abs(truth.mean() - truth)))
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for lrn, pool in skipped:
        print(f"{lrn}+{pool}: skipped (learner not installed)")
    print(f"\nsum of the pairs' own costs (stage 1 + 2, one core, no sharing): "
          f"{table['stage1_s'].sum() + table['stage2_s'].sum():.1f} s")
    print(f"wall time: {total:.1f} s for {len(table)} pairs (stage 1 {t_fit:.1f} s); "
          f"constant-prediction MAE {const:.3f}")
    print(f"peak RSS: this process {rss_self:.0f} MB; largest worker process "
          f"{max(rss_child, worker_rss):.0f} MB "
          f"({'refits kept as models' if args.keep_refits else 'refits predicted at X_query'}"
          f"{'' if client is None else f', Dask LocalCluster of {args.dask_local}'}); "
          f"load average {os.getloadavg()[0]:.1f}")
    if tree_peak:
        print(f"peak RSS of the whole process tree (this process + workers, sampled every "
              f"0.2 s): {tree_peak:.0f} MB")
    if args.json_out:
        import json

        Path(args.json_out).write_text(json.dumps({
            "wall_s": total, "stage1_s": t_fit, "pairs": len(table),
            "peak_rss_self_mb": rss_self, "peak_rss_worker_mb": max(rss_child, worker_rss),
            "peak_rss_tree_mb": tree_peak, "dask_local": args.dask_local,
            "n_jobs": args.n_jobs, "loadavg": os.getloadavg()}, indent=2))
    if args.save:
        pd.concat(preds, names=["pair", "row"]).to_csv(args.save)
        print(f"predictions written to {args.save}")
    heavy = table[table["boot_s"] > 5.0]
    if len(heavy):
        rest = table.drop(heavy.index)
        print(f"{len(heavy)} pair(s) refit a flexible learner B = {args.n_boot} times in each "
              f"trial ({', '.join(heavy['pair'])}): their stage 1 + 2 is "
              f"{heavy['stage1_s'].sum() + heavy['stage2_s'].sum():.1f} s of the sum; the "
              f"{len(rest)} other pairs cost {rest['stage1_s'].sum() + rest['stage2_s'].sum():.1f}"
              " s (run them alone with --pairs for their wall time)")
    if not args.no_r:
        _r_comparison(ipd)


class _TreeRSS:
    """Peak summed RSS of this process and its descendants, sampled by a thread (psutil)."""

    def __init__(self, every: float = 0.2) -> None:
        import threading

        self.peak = 0.0
        self._stop = threading.Event()
        try:
            import psutil
        except ImportError:
            self._thread = None
            return
        me = psutil.Process()

        def loop():
            while not self._stop.is_set():
                total = 0
                try:
                    for p in [me, *me.children(recursive=True)]:
                        try:
                            total += p.memory_info().rss
                        except psutil.Error:
                            pass
                except psutil.Error:
                    pass
                self.peak = max(self.peak, total / 2**20)
                self._stop.wait(every)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        if self._thread is None:
            return 0.0
        self._stop.set()
        self._thread.join()
        return self.peak


def _worker_peak_rss(client) -> float:
    if client is None:
        return 0.0
    peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return float(max(peaks.values()))


def _run(args, ipd, test, truth, pairs, lopts, X_query, client, TwoStageITE, fit_methods):
    rows, preds = [], {}
    t_all = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if args.separate:
            models = {}
            for lrn, pool in pairs:
                t0 = time.perf_counter()
                models[f"{lrn}+{pool}"] = TwoStageITE(
                    lrn, pool, n_boot=args.n_boot, random_state=args.seed, n_jobs=args.n_jobs,
                    learner_options=lopts.get(lrn)).fit(ipd, X_query=X_query, client=client)
                print(f"  fitted {lrn}+{pool} in {time.perf_counter() - t0:.2f} s", flush=True)
        else:
            models = fit_methods(ipd, pairs, n_boot=args.n_boot, random_state=args.seed,
                                 n_jobs=args.n_jobs, learner_options=lopts,
                                 X_query=X_query, client=client)
        t_fit = time.perf_counter() - t_all
        for name, model in models.items():
            t0 = time.perf_counter()
            pred = model.predict(test)
            dt = time.perf_counter() - t0 + model.stage2_seconds_
            preds[name] = pred.reset_index(drop=True)
            mae = float(np.median(np.abs(pred["ite"].to_numpy() - truth)))
            boot = sum(f.timings.get("bootstrap", 0.0) for f in model.fits_)
            refits = len(model.fits_) * args.n_boot if model.pooler_.variance == "bootstrap" \
                else 0
            rows.append({"pair": name, "stage1_s": model.stage1_seconds_, "boot_s": boot,
                         "refit_ms": 1000 * boot / refits if refits else np.nan,
                         "stage2_s": dt, "mae": mae})
    total = time.perf_counter() - t_all
    return rows, total, t_fit, preds


def _r_comparison(ipd) -> None:
    if shutil.which("Rscript") is None:
        print("Rscript not found: no R comparison")
        return
    ok = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True)
    if ok.returncode != 0:
        print("R package metafor not installed: no R comparison")
        return
    from ipdma.ite import TwoStageITE

    model = TwoStageITE("ols", "mvma").fit(ipd)
    t0 = time.perf_counter()
    TwoStageITE("ols", "mvma").fit(ipd)
    py = time.perf_counter() - t0
    sums = model.site_summaries()
    with tempfile.TemporaryDirectory() as d:
        y = np.vstack([s.coef for s in sums])
        S = np.vstack([s.cov.reshape(1, -1) for s in sums])
        pd.DataFrame(y).to_csv(Path(d) / "y.csv", index=False)
        pd.DataFrame(S).to_csv(Path(d) / "S.csv", index=False)
        script = f"""suppressPackageStartupMessages(library(metafor))
y <- as.matrix(read.csv('{d}/y.csv')); S <- as.matrix(read.csv('{d}/S.csv'))
K <- nrow(y); q <- ncol(y)
V <- bldiag(lapply(1:K, function(i) matrix(S[i, ], q, q)))
long <- data.frame(trial = rep(1:K, each = q), coef = factor(rep(1:q, K)), yi = as.vector(t(y)))
t0 <- Sys.time()
m <- rma.mv(yi, V, mods = ~ 0 + coef, random = ~ coef | trial, struct = 'UN', data = long,
            control = list(iter.max = 20000, eval.max = 40000, rel.tol = 1e-12))
cat(as.numeric(difftime(Sys.time(), t0, units = 'secs')))"""
        (Path(d) / "b.R").write_text(script)
        r = subprocess.run(["Rscript", str(Path(d) / "b.R")], capture_output=True, text=True)
    if r.returncode == 0:
        print(f"ols+mvma (REML, unstructured Psi): ipdma stage 1 + 2 {py:.2f} s; "
              f"R rma.mv stage 2 alone {float(r.stdout.strip()):.2f} s")
    else:
        print("R comparison failed:", r.stderr.strip()[:200])


if __name__ == "__main__":
    main()

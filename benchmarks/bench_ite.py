"""Benchmark: every feasible learner+pooler pair of ipdma.ite on one simulated data set.

make_ite_continuous(scenario, 10 trials, large trial sizes 300-600), B = 100 bootstrap
resamples, the paper's full XGBoost grid (45 points, 10-fold CV), default MCMC settings.
Prints one row per pair: wall time of fit + predict on the 3000 test patients and the
MAE (median |predicted - true ITE|).  Pairs whose learner is not installed (EconML for
the causal forest) are listed as skipped.

    python benchmarks/bench_ite.py [--scenario 13] [--n-boot 100] [--seed 1] [--quick]
                                   [--n-jobs 1] [--pairs ols+mvma,...]

``--quick`` uses a reduced XGBoost grid (depth 2-3, eta 0.1, nrounds 100/500, 5 folds).
When ``Rscript`` with metafor is available, the R time of the REML rma.mv pooling of
the same 10 trials' OLS coefficients is printed for comparison.
"""

from __future__ import annotations

import argparse
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
    ap.add_argument("--quick", action="store_true", help="reduced XGBoost grid")
    ap.add_argument("--n-jobs", type=int, default=1, help="trials fitted in parallel")
    ap.add_argument("--pairs", default=None, help="comma-separated learner+pooler subset")
    args = ap.parse_args()

    from ipdma.datasets import make_ite_continuous
    from ipdma.ite import REDUCED_XGBOOST_GRID, TwoStageITE, feasible_pairs

    sim = make_ite_continuous(scenario=args.scenario, random_state=args.seed)
    ipd, test = sim.ipd(), sim.test
    truth = test["ite_true"].to_numpy()
    print(f"data: scenario {args.scenario}, {len(sim.data)} patients in "
          f"{sim.data['trial'].nunique()} trials; {len(test)} test patients; B = {args.n_boot}")
    xgb_opts = dict(REDUCED_XGBOOST_GRID) if args.quick else {}
    pairs = feasible_pairs()
    if args.pairs:
        wanted = set(args.pairs.split(","))
        pairs = [p for p in pairs if f"{p[0]}+{p[1]}" in wanted]
    rows = []
    t_all = time.perf_counter()
    for lrn, pool in pairs:
        name = f"{lrn}+{pool}"
        opts = xgb_opts if lrn == "xgboost" else {}
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = TwoStageITE(lrn, pool, n_boot=args.n_boot, random_state=args.seed,
                                    n_jobs=args.n_jobs, learner_options=opts).fit(ipd)
                pred = model.predict(test)
        except ImportError as exc:
            rows.append({"pair": name, "seconds": np.nan, "mae": np.nan,
                         "note": f"skipped: {exc}"[:60]})
            print(f"{name:32s} skipped ({exc})", flush=True)
            continue
        dt = time.perf_counter() - t0
        mae = float(np.median(np.abs(pred["ite"].to_numpy() - truth)))
        rows.append({"pair": name, "seconds": dt, "mae": mae, "note": ""})
        print(f"{name:32s} {dt:8.2f} s   MAE {mae:.3f}", flush=True)
    total = time.perf_counter() - t_all
    table = pd.DataFrame(rows)
    const = float(np.median(np.abs(truth.mean() - truth)))
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\ntotal {total:.1f} s for {table['seconds'].notna().sum()} pairs "
          f"(target < 60 s); constant-prediction MAE {const:.3f}")
    _r_comparison(ipd)


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

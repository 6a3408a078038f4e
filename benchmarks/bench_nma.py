"""Benchmark the aggregate-data network meta-analysis against metafor ``rma.mv``.

Data: ``nma_aggregate_smoking`` (24 studies, 4 treatments, two 3-arm studies, 26 log-OR
contrasts) from ``../shared/reference`` (or ``$IPDMA_REFERENCE``); without it a seeded
synthetic network of the same shape.

Times, for the common-effect, REML and ML models:
* ``network_meta_analysis(data_frame, ...)``: from the arm counts (effect sizes + fit);
* ``network_meta_analysis(contrast_data, ...)``: the fit alone, on precomputed contrasts;
* metafor ``rma.mv(yi, V, mods = X, intercept = FALSE, random = ~ comp | sid,
  struct = "CS", rho = 0.5, method = ...)`` on the same contrasts, V and X (metafor's
  default optimiser), via ``Rscript`` when R and metafor are installed.

The ratio (metafor median / ipdma median) is printed.  Results objects compute league
tables, P-scores, Q decomposition and netsplit lazily, so the fit times compare like
with like (estimates, vcov, tau^2, Q, I^2).

Run:  python benchmarks/bench_nma.py [--repeat 200] [--r-repeat 50]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ipdma.meta import network_meta_analysis, pairwise_contrasts

REPO = Path(__file__).resolve().parents[1]
REF = Path(os.environ.get("IPDMA_REFERENCE", REPO.parent / "shared" / "reference"))
ORDER = ["no_contact", "self_help", "ind_counseling", "grp_counseling"]


def load():
    path = REF / "nma_aggregate_smoking" / "dat_hasselblad1998.csv"
    if path.is_file():
        return pd.read_csv(path), "nma_aggregate_smoking (24 studies, 26 contrasts)"
    rng = np.random.default_rng(7)
    rows = []
    designs = [ORDER[:1] + ORDER[2:3]] * 14 + [ORDER[:2]] * 3 + [ORDER[2:]] * 2 + [
        ORDER[:1] + ORDER[2:], ORDER[1:], ORDER[1:3], ORDER[1::2], ORDER[::3]]
    eff = dict(zip(ORDER, [0.0, 0.3, 0.7, 0.8], strict=True))
    for s, arms in enumerate(designs):
        base = rng.normal(-2, 0.5)
        for t in arms:
            n = int(rng.integers(30, 700))
            p = 1 / (1 + np.exp(-(base + eff[t] + rng.normal(0, 0.5))))
            rows.append((s + 1, t, rng.binomial(n, p), n))
    return pd.DataFrame(rows, columns=["study", "trt", "xi", "ni"]), "synthetic (24 studies)"


def timeit(fn, repeat, cpu=False):
    """Median wall-clock seconds of ``repeat`` calls (and median CPU seconds if ``cpu``)."""
    fn()
    out, outc = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t)
        outc.append(time.process_time() - c)
    return (statistics.median(out), statistics.median(outc)) if cpu else statistics.median(out)


R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE); reps <- as.integer(args[4])
cd <- read.csv(args[1]); V <- as.matrix(read.csv(args[2], header = FALSE))
X <- as.matrix(read.csv(args[3], header = FALSE))
cd$sid <- factor(cd$study, levels = unique(cd$study))
tm <- function(expr) { f <- function() eval(expr); f(); out <- numeric(reps)
  cpu <- numeric(reps)
  for (r in seq_len(reps)) { p0 <- proc.time(); f(); p1 <- proc.time() - p0
    out[r] <- p1[["elapsed"]]; cpu[r] <- p1[["user.self"]] + p1[["sys.self"]] }
  c(median(out), median(cpu)) }
t_fe <- tm(quote(rma.mv(yi, V, mods = X, intercept = FALSE, data = cd)))
t_reml <- tm(quote(rma.mv(yi, V, mods = X, intercept = FALSE, random = ~ comp | sid,
                          struct = "CS", rho = 0.5, method = "REML", data = cd)))
t_ml <- tm(quote(rma.mv(yi, V, mods = X, intercept = FALSE, random = ~ comp | sid,
                        struct = "CS", rho = 0.5, method = "ML", data = cd)))
m <- rma.mv(yi, V, mods = X, intercept = FALSE, random = ~ comp | sid, struct = "CS",
            rho = 0.5, method = "REML", data = cd)
cat(sprintf("%.6f\n%.6f\n%.6f\n%.12g\n%.6f\n%.6f\n%.6f\n", t_fe[1], t_reml[1], t_ml[1],
            m$tau2, t_fe[2], t_reml[2], t_ml[2]))
"""


def run_r(cd, reps):
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    chk = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True, text=True)
    if chk.returncode != 0:
        return None, "metafor not installed in R"
    tab = cd.to_frame()
    tab["comp"] = tab["treatment"] + "-" + tab["baseline"]
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        tab[["study", "comp", "yi"]].to_csv(t / "cd.csv", index=False, float_format="%.17g")
        np.savetxt(t / "V.csv", cd.V(), delimiter=",", fmt="%.17g")
        np.savetxt(t / "X.csv", cd.design(), delimiter=",", fmt="%.17g")
        (t / "bench.R").write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(t / "bench.R"), str(t / "cd.csv"),
                              str(t / "V.csv"), str(t / "X.csv"), str(reps)],
                             capture_output=True, text=True)
    if res.returncode != 0:
        return None, "R failed: " + res.stderr.strip()[-300:]
    v = [float(x) for x in res.stdout.split()]
    return {"common": v[0], "REML": v[1], "ML": v[2], "tau2_reml": v[3],
            "cpu": {"common": v[4], "REML": v[5], "ML": v[6]}}, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--r-repeat", type=int, default=50)
    args = ap.parse_args(argv)
    dat, label = load()
    kw = {"study": "study", "treatment": "trt", "events": "xi", "n": "ni",
          "reference": "no_contact"}
    cd = pairwise_contrasts(dat, treatment_order=ORDER, **kw)
    rows, cpu = {}, {}
    load0 = os.getloadavg()[0]
    for method in ("common", "REML", "ML"):
        full = timeit(lambda m=method: network_meta_analysis(dat, method=m, **kw), args.repeat)
        core, core_cpu = timeit(lambda m=method: network_meta_analysis(cd, method=m),
                                args.repeat, cpu=True)
        rows[method] = (full, core)
        cpu[method] = core_cpu
    tau2 = network_meta_analysis(cd, method="REML").tau2
    print(f"data: {label}; load average {load0:.1f}")
    print(f"ipdma -- median of {args.repeat} runs")
    print(f"{'model':8s} {'from arm counts ms':>19s} {'fit on contrasts ms':>20s} "
          f"{'fit CPU ms':>11s}")
    for m, (full, core) in rows.items():
        print(f"{m:8s} {1e3 * full:19.3f} {1e3 * core:20.3f} {1e3 * cpu[m]:11.3f}")
    r, why = run_r(cd, args.r_repeat)
    if r is None:
        print(f"\nR comparison skipped: {why}")
        return 0
    print(f"\nmetafor rma.mv -- median of {args.r_repeat} runs (same yi, V, X; default "
          "optimiser)")
    print(f"REML tau^2: ipdma {tau2:.10f}, metafor {r['tau2_reml']:.10f}")
    print(f"{'model':8s} {'rma.mv ms':>10s} {'CPU ms':>8s} {'ratio (from counts)':>20s} "
          f"{'ratio (fit only)':>17s} {'ratio (fit CPU)':>16s}")
    for m, (full, core) in rows.items():
        rc = r["cpu"][m]
        print(f"{m:8s} {1e3 * r[m]:10.2f} {1e3 * rc:8.2f} {r[m] / full:19.1f}x "
              f"{r[m] / core:16.1f}x {rc / cpu[m]:15.1f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

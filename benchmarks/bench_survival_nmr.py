"""Benchmark: the time-to-event risk-based NMR (stage 2) vs R's coxph on the same data.

Stage 2 is ``coxph(Surv(time, event) ~ treatment * Rc + strata(trial), ties = "efron")``
with ``Rc`` the risk score centred at each trial's mean.  ipdma's side is the public API
``RiskNMR(engine="ml").fit(df, trial=, treatment=, time=, event=, risk=)`` (DataFrame in,
validation, canonical ordering and the result object included); R's side is the
``coxph`` call alone (plus the centring), timed with ``system.time`` inside one
``Rscript`` run (start-up excluded).  ipdma's result holds the coefficients, their
covariance and log-likelihoods as arrays; its pandas tables (``params``, ``coef``,
``cov``) and the normal draws for P(best) are built on first access, after the timing
(R's ``summary(fit)`` is not timed either).  No caching between repetitions: each one
fits a new ``RiskNMR`` from the DataFrame.  Also timed: ipdma's predictions (survival at
t* = 2 and RMST up to 3 with delta-method SEs, 41 risk scores x 4 treatments) vs
``survfit(fit, newdata, ctype = 1)`` for the same 164 rows in one stratum plus the
RMST sums in R.

Data: ``make_survival_network(n, random_state=1)`` (4 trials, 4 treatments, one 3-arm
trial; times rounded to 0.01), n = 1600 and ``--n-large`` (default 20000).

    python benchmarks/bench_survival_nmr.py [--reps 5] [--n-large 20000]

Prints wall-clock and CPU seconds (medians; R's CPU = user + system of ``system.time``),
the ratios R / ipdma (> 1 = ipdma faster) and the largest absolute difference of the
coefficients, with the load average before and after (on a shared, loaded machine the
CPU ratio is the fairer one).  ``bench_survival.py`` includes these cases in its table.  Without ``Rscript`` only the Python side runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[2]); files <- strsplit(args[1], ",")[[1]]
med <- function(f) { ts <- numeric(reps); cs <- numeric(reps)
  for (i in seq_len(reps)) { st <- system.time(r <- f()); ts[i] <- st[["elapsed"]]
    cs[i] <- st[["user.self"]] + st[["sys.self"]] }
  list(t = median(ts), cpu = median(cs), r = r) }
out <- list()
for (f in files) {
  d <- read.csv(f)
  d$treatment <- factor(d$treatment, levels = c("PBO", "A", "B", "C"))
  a <- med(function() {
    d$Rc <- d$R - ave(d$R, d$trial)
    coxph(Surv(time, event) ~ treatment * Rc + strata(trial), data = d, ties = "efron")
  })
  fit <- a$r
  cT2 <- mean(d$R[d$trial == "T2"])
  nd <- expand.grid(treatment = levels(d$treatment), r = seq(min(d$R), max(d$R), length.out = 41))
  nd$treatment <- factor(nd$treatment, levels = levels(d$treatment))
  nd$Rc <- nd$r - cT2; nd$trial <- "T2"
  p <- med(function() {
    sf <- survfit(fit, newdata = nd, ctype = 1)
    s2 <- summary(sf, times = 2)
    rm <- sapply(seq_len(nrow(nd)), function(i) { s <- sf[i]; k <- s$time <= 3
      sum(diff(c(0, s$time[k], 3)) * c(1, s$surv[k])) })
    list(s2$surv, s2$std.err, rm)
  })
  out[[basename(f)]] <- list(n = nrow(d), seconds = a$t, cpu = a$cpu, coef = unname(coef(fit)),
                             predict_seconds = p$t, predict_cpu = p$cpu)
}
write_json(out, args[3], digits = NA, auto_unbox = TRUE)
"""


def timed(f, reps):
    """Median wall-clock and CPU seconds of ``reps`` calls, and the last result."""
    ts, cs = [], []
    r = None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        r = f()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return float(np.median(ts)), float(np.median(cs)), r


def run(reps: int = 5, n_large: int = 20000, sizes=None) -> pd.DataFrame:
    """The table of cases (ipdma and, when Rscript works, R side by side)."""
    from threadpoolctl import threadpool_limits

    from ipdma.datasets import make_survival_network
    from ipdma.nmr import RiskNMR

    sets = {}
    for n in (sizes or (1600, n_large)):
        sim = make_survival_network(n, random_state=1)
        sets[f"n{n}.csv"] = sim.data.assign(R=sim.truth["true_lp"].round(6))

    r_out = None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, df in sets.items():
            paths.append(str(Path(tmp) / name))
            df.to_csv(paths[-1], index=False)
        if shutil.which("Rscript"):
            script, res = Path(tmp) / "b.R", Path(tmp) / "r.json"
            script.write_text(R_SCRIPT)
            p = subprocess.run(["Rscript", str(script), ",".join(paths), str(reps),
                                str(res)], capture_output=True, text=True)
            if p.returncode == 0:
                r_out = json.loads(res.read_text())
            else:
                print("R run failed:", p.stderr.strip()[-400:])

    rows = []
    cols = dict(trial="trial", treatment="treatment", time="time", event="event", risk="R")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, df in sets.items():
            RiskNMR(engine="ml", random_state=1).fit(df, **cols)          # warm-up
            s, c, res = timed(lambda df=df: RiskNMR(engine="ml", random_state=1).fit(
                df, **cols), reps)
            grid = np.linspace(df["R"].min(), df["R"].max(), 41)
            sp, cp, _ = timed(lambda res=res, grid=grid: res.predict(
                grid, horizon=2.0, tau=3.0, baseline="T2"), reps)
            row = {"case": f"stage-2 Cox NMR fit, n = {len(df)}", "ipdma_s": s, "ipdma_cpu": c}
            prow = {"case": f"predict S(2), RMST(3) + SE, 164 rows, n = {len(df)}",
                    "ipdma_s": sp, "ipdma_cpu": cp}
            if r_out:
                ro = r_out[name]
                row.update(R_s=ro["seconds"], R_cpu=ro["cpu"])
                row["max_abs_coef_diff"] = float(np.max(np.abs(res.params["estimate"].to_numpy()
                                                               - ro["coef"])))
                prow.update(R_s=ro["predict_seconds"], R_cpu=ro["predict_cpu"])
            rows += [row, prow]
    out = pd.DataFrame(rows)
    if "R_s" in out:
        out["ratio_wall"] = out["R_s"] / out["ipdma_s"]
        out["ratio_cpu"] = out["R_cpu"] / out["ipdma_cpu"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--n-large", type=int, default=20000)
    args = ap.parse_args()
    print("before: load average", os.getloadavg())
    out = run(args.reps, args.n_large)
    with pd.option_context("display.width", 160, "display.float_format", "{:.4g}".format):
        print(out.to_string(index=False))
    print("after: load average", os.getloadavg())


if __name__ == "__main__":
    main()

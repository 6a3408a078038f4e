"""Benchmark two-stage ITE on a time-to-event treatment network against R.

The stored case ``tests/ite/data/survival_network`` (6 trials, two 3-arm, 1520
patients, 2 covariates): stage 1 per-trial ``coxph(Surv ~ trt * (x1 + x2))`` (Efron) and
stage 2 network REML with the consistency structure (``rma.mv`` with make.R's
Nelder-Mead settings: metafor's default nlminb stops without convergence here, two tau2
on the boundary 0).  ipdma: ``TwoStageITE("cox", "mvma").fit`` (loghr, the same two stages) and the
absolute-scale prediction (S(1.5), delta-method SEs) of the 8 test patients.  Prints
wall-clock medians and the ratio; R runs through ``Rscript`` when it is installed.

Run:  python benchmarks/bench_ite_survival_network.py [--repeat 10] [--r-repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from ipdma.data import IPD
from ipdma.ite import TwoStageITE

CASE = Path(__file__).resolve().parents[1] / "tests" / "ite" / "data" / "survival_network"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(metafor)})
args <- commandArgs(TRUE); reps <- as.integer(args[2])
train <- read.csv(args[1], stringsAsFactors = FALSE)
run <- function() {
  trials <- sort(unique(train$trial)); rows <- list(); Vs <- list()
  for (tr in trials) {
    dl <- train[train$trial == tr, ]; a <- sort(unique(dl$trt)); dl$trt <- factor(dl$trt, levels = a)
    f <- coxph(Surv(time, event) ~ trt * (x1 + x2), data = dl, ties = "efron")
    tn <- as.vector(sapply(a[-1], function(k) c(paste0("trt", k), paste0("trt", k, ":", c("x1", "x2")))))
    Vs[[tr]] <- vcov(f)[tn, tn]
    for (k in a[-1]) for (q in 1:3) rows[[length(rows) + 1]] <- data.frame(trial = tr, treat = k, base = a[1], q = q,
      yi = coef(f)[tn][(match(k, a[-1]) - 1) * 3 + q])
  }
  d <- do.call(rbind, rows); N <- nrow(d); nb <- c("B", "C")
  X <- matrix(0, N, 6); for (j in 1:N) { if (d$treat[j] != "A") X[j, (match(d$treat[j], nb) - 1) * 3 + d$q[j]] <- 1
    if (d$base[j] != "A") X[j, (match(d$base[j], nb) - 1) * 3 + d$q[j]] <- -1 }
  M <- lapply(1:3, function(q) { m <- outer(1:N, 1:N, function(i, j) ifelse(d$q[i] == q & d$q[j] == q & d$trial[i] == d$trial[j],
    ifelse(i == j, 1, 0.5), 0)); dimnames(m) <- list(as.character(1:N), as.character(1:N)); m })
  for (q in 1:3) d[[paste0("re_", q)]] <- factor(1:N)
  rma.mv(yi, bldiag(Vs), mods = X, intercept = FALSE, random = lapply(1:3, function(q) as.formula(paste0("~ 1 | re_", q))),
         R = setNames(M, paste0("re_", 1:3)), Rscale = "none", data = d, method = "REML",
         control = list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-14, maxit = 1e5))
}
st <- sapply(seq_len(reps), function(i) system.time(run())[["elapsed"]])
cat(sprintf("%.6f\n", median(st)))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--r-repeat", type=int, default=3)
    args = ap.parse_args()
    train = pd.read_csv(CASE / "train.csv")
    test = pd.read_csv(CASE / "test.csv")
    ipd = IPD(train, trial="trial", treatment="trt", outcome="event", time="time",
              covariates=["x1", "x2"], reference="A")
    fit_t, pred_t = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        TwoStageITE("cox", "mvma", scale="loghr").fit(ipd, reference="A")
        fit_t.append(time.perf_counter() - t0)
        m2 = TwoStageITE("cox", "mvma", horizon=1.5).fit(ipd, reference="A")
        t0 = time.perf_counter()
        m2.predict(test)
        pred_t.append(time.perf_counter() - t0)
    py = statistics.median(fit_t)
    print(f"ipdma cox+mvma fit (6 trials, REML consistency): {py * 1e3:.1f} ms; "
          f"S(1.5) prediction of 8 patients with P(best): "
          f"{statistics.median(pred_t) * 1e3:.1f} ms")
    if shutil.which("Rscript") is None:
        print("Rscript not found: R side skipped")
        return
    with tempfile.TemporaryDirectory() as d:
        script = Path(d) / "bench.R"
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(CASE / "train.csv"),
                              str(args.r_repeat)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print("R failed:", out.stderr.strip().splitlines()[-1:])
        return
    r = float(out.stdout.split()[-1])
    print(f"R coxph per trial + rma.mv REML: {r * 1e3:.1f} ms  (R / ipdma = {r / py:.1f}x)")


if __name__ == "__main__":
    main()

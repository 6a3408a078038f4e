"""Benchmark: two-stage ITE for a time-to-event outcome, ipdma vs R on the same data.

Data: ``../shared/reference/ite_twostage_survival`` (8 trials, 2998 patients, 1000 new
patients).  ipdma: per-trial Cox with full treatment interactions, REML (unstructured
Psi) pooling of the log-HR block and the log-HR ITEs; the unweighted mean over trials of
per-trial S(2) and RMST(3) differences (Cox and Weibull), each with delta-method SEs.
R: ``Rscript make.R`` of the reference case (coxph, survfit, survreg, rma.mv UN/DIAG and
fixed, plus two optimizer checks; it also writes its JSON/CSV outputs), timed whole, and
a stripped R script doing only what ipdma does here (coxph/survreg per trial, rma.mv UN,
survfit predictions at 2 and RMST to 3).

    python benchmarks/bench_ite_survival.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ite_twostage_survival"
if not REF.is_dir():
    REF = Path("/work/shared/reference/ite_twostage_survival")

R_SCRIPT = r"""
suppressMessages({library(survival); library(metafor)})
d <- read.csv("train.csv"); te <- read.csv("test.csv")
t0 <- proc.time()[["elapsed"]]
fits <- lapply(split(d, d$trial), function(g) coxph(Surv(time, status) ~ trt * (x1 + x2 + x3 + x4),
  data = g, ties = "efron"))
wb <- lapply(split(d, d$trial), function(g) survreg(Surv(time, status) ~ trt * (x1 + x2 + x3 + x4),
  data = g, dist = "weibull"))
idx <- c(1, 6:9)
yi <- unlist(lapply(fits, function(f) coef(f)[idx]))
V <- bldiag(lapply(fits, function(f) vcov(f)[idx, idx]))
long <- data.frame(trial = rep(seq_along(fits), each = 5), coef = factor(rep(1:5, length(fits))), yi = yi)
m <- rma.mv(yi, V, mods = ~ 0 + coef, random = ~ coef | trial, struct = "UN", data = long)
nd0 <- cbind(te[, c("x1", "x2", "x3", "x4")], trt = 0); nd1 <- nd0; nd1$trt <- 1
pr <- lapply(fits, function(f) {
  s0 <- survfit(f, newdata = nd0, ctype = 1); s1 <- survfit(f, newdata = nd1, ctype = 1)
  i <- findInterval(2, s0$time)
  r0 <- summary(s0, rmean = 3)$table[, "rmean"]; r1 <- summary(s1, rmean = 3)$table[, "rmean"]
  list(s = s1$surv[i, ] - s0$surv[i, ], r = r1 - r0)})
cat(proc.time()[["elapsed"]] - t0, "\n")
"""


def run_ipdma():
    import pandas as pd

    from ipdma.data import IPD
    from ipdma.ite import TwoStageITE

    t0 = time.perf_counter()
    train, test = pd.read_csv(REF / "train.csv"), pd.read_csv(REF / "test.csv")
    X = test[["x1", "x2", "x3", "x4"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ipd = IPD(train, trial="trial", treatment="trt", time="time", event="status",
                  covariates=["x1", "x2", "x3", "x4"])
    TwoStageITE("cox", "mvma", scale="loghr").fit(ipd).predict(X)
    for lrn in ("cox", "weibull"):
        TwoStageITE(lrn, "unweighted", horizon=2.0).fit(ipd).predict(X)
        TwoStageITE(lrn, "unweighted", scale="rmstdiff", tau=3.0).fit(ipd).predict(X)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    run_ipdma()                                            # warm-up (imports)
    py = min(run_ipdma() for _ in range(args.repeat))
    print(f"ipdma  (cox REML UN log-HR + cox/weibull S(2) and RMST(3), SEs): {py:.2f} s")
    if shutil.which("Rscript") is None:
        print("Rscript not found: no R comparison")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for f in ("train.csv", "test.csv", "make.R", "truth.json"):
            shutil.copy(REF / f, tmp)
        (Path(tmp) / "bench.R").write_text(R_SCRIPT)
        r_same = min(float(subprocess.run(["Rscript", "bench.R"], cwd=tmp, check=True,
                                          capture_output=True, text=True).stdout.split()[-1])
                     for _ in range(args.repeat))
        t0 = time.perf_counter()
        subprocess.run(["Rscript", "make.R"], cwd=tmp, check=True, capture_output=True)
        r_full = time.perf_counter() - t0
    print(f"R      (same steps, timed inside R, no start-up):                {r_same:.2f} s "
          f"(ratio R/ipdma {r_same / py:.1f})")
    print(f"R      (the reference make.R, whole script):                     {r_full:.2f} s")


if __name__ == "__main__":
    main()

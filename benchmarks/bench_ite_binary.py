"""Benchmark: the linear binary-outcome ITE pairs of ipdma.ite on a 10-trial binary data set.

A logistic analogue of the Mainetti design (``tests/ite/test_binary.py::simulate``: 10
trials of 300-600 patients, 3 covariates, trial-specific intercepts and treatment
effects, linear effect modification) with 2000 test patients of a new trial and their
true risk differences.  Pairs: logistic+mvma (REML with diagonal Psi, and fixed),
logistic+weighted-aux-ols (delta-method IVW), logistic+weighted-bootstrap,
logistic-lasso/ridge/elasticnet+weighted-aux-ols, bayes-logistic+posterior-mix.

Prints one row per pair: wall seconds of fit + predict, MAE on the risk-difference
scale.  When ``Rscript`` with metafor and glmnet is available, the same stage 1
(``glm`` per trial) + stage 2 (``rma.mv`` REML DIAG) and the per-trial ``cv.glmnet``
are timed in R on the same data, side by side.

    python benchmarks/bench_ite_binary.py [--seed 1] [--n-boot 100] [--pairs ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PAIRS = [("logistic", "mvma", {"method": "reml"}), ("logistic", "mvma", {"method": "fixed"}),
         ("logistic", "weighted-aux-ols", {}), ("logistic", "weighted-bootstrap", {}),
         ("logistic-lasso", "weighted-aux-ols", {}), ("logistic-ridge", "weighted-aux-ols", {}),
         ("logistic-elasticnet", "weighted-aux-ols", {}),
         ("bayes-logistic", "posterior-mix", {})]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(metafor); library(glmnet)})
d <- read.csv("train.csv")
t0 <- Sys.time()
tr <- sort(unique(d$trial))
fits <- lapply(tr, function(l) glm(y ~ t * (x1 + x2 + x3), family = binomial, data = d[d$trial == l, ]))
B <- t(sapply(fits, coef)); S <- lapply(fits, vcov); P <- ncol(B)
long <- data.frame(trial = rep(tr, each = P), coef = factor(rep(colnames(B), length(tr)), levels = colnames(B)), yi = as.vector(t(B)))
m <- rma.mv(yi, bldiag(S), mods = ~ 0 + coef, random = ~ coef | trial, struct = "DIAG", data = long,
            control = list(iter.max = 20000, eval.max = 40000))
t1 <- Sys.time()
for (l in tr) { g <- d[d$trial == l, ]; X <- model.matrix(y ~ t * (x1 + x2 + x3), g)[, -1]
  cv <- cv.glmnet(X, g$y, family = "binomial", penalty.factor = as.numeric(grepl(":", colnames(X))), nfolds = 10) }
t2 <- Sys.time()
cat(as.numeric(difftime(t1, t0, units = "secs")), as.numeric(difftime(t2, t1, units = "secs")), "\n")
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--pairs", default=None, help="comma-separated learner+pooler subset")
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ite"))
    from test_binary import COLS, XS, simulate

    from ipdma.ite import TwoStageITE

    train, test = simulate(K=10, n=(300, 601), seed=args.seed, n_test=2000)
    truth = test["true_ite"].to_numpy()
    print(f"10 trials, N = {len(train)}, events {train['y'].mean():.2f}; 2000 test patients; "
          f"B = {args.n_boot}")
    print(f"{'pair':42s} {'seconds':>8s} {'MAE':>8s}")
    chosen = None if args.pairs is None else set(args.pairs.split(","))
    for lrn, pool, popt in PAIRS:
        name = f"{lrn}+{pool}" + (f"({popt['method']})" if popt else "")
        if chosen is not None and f"{lrn}+{pool}" not in chosen:
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = TwoStageITE(lrn, pool, n_boot=args.n_boot, random_state=args.seed,
                            pooler_options=popt).fit(train, **COLS)
            pred = m.predict(test[XS])
        sec = time.perf_counter() - t0
        mae = float(np.median(np.abs(pred["ite"] - truth)))
        print(f"{name:42s} {sec:8.2f} {mae:8.4f}")
    print(f"{'constant (mean true RD; oracle)':42s} {'':8s} "
          f"{np.median(np.abs(truth - truth.mean())):8.4f}")
    if shutil.which("Rscript") is None:
        print("Rscript not found: no R comparison")
        return
    ok = subprocess.run(["Rscript", "-e", "library(metafor); library(glmnet)"],
                        capture_output=True)
    if ok.returncode != 0:
        print("R packages metafor/glmnet not available: no R comparison")
        return
    with tempfile.TemporaryDirectory() as d:
        train.to_csv(Path(d) / "train.csv", index=False)
        (Path(d) / "b.R").write_text(R_SCRIPT)
        r = subprocess.run(["Rscript", "b.R"], capture_output=True, text=True, cwd=d)
    if r.returncode != 0:
        print("R run failed:", r.stderr[-500:])
        return
    glm_mv, cvg = map(float, r.stdout.split())
    print(f"R: glm x 10 + rma.mv REML DIAG {glm_mv:.2f} s (stage 1 + 2, no prediction); "
          f"cv.glmnet(binomial) x 10 {cvg:.2f} s")


if __name__ == "__main__":
    main()

"""Benchmark: ipdma.prognosis.RiskModel (stage-1 baseline-risk model) on the
``nmr_ms_synthetic`` reference data (3,294 complete cases, 9 or 12 candidates).

Usage::

    python benchmarks/bench_prognosis.py             # ipdma (+ R when available)
    python benchmarks/bench_prognosis.py --repeat 3 --B 200

R is timed only when ``Rscript -e 'library(rms); library(glmnet); library(lme4)'`` works: the
same glm, lrm(penalty = 20.5), glmnet path, cv.glmnet, glmer (Laplace) and a B = 200
fixed-penalty bootstrap of lrm (rms::validate) are run in one R session and timed inside it.
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

from ipdma.prognosis import RiskModel

CASE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "nmr_ms_synthetic"
PRE = ["AGE", "SEX", "EDSSBL", "ONSYRS", "RLPS1YR", "TRELMOS", "PRMSGR", "T25FWABL", "SFPCSBL"]
CAND = ["AGE", "SEX", "EDSSBL", "RLPS1YR", "TRELMOS", "PRMSGR", "ONSYRS", "SFPCSBL",
        "T25FWABL", "WEIGHTBL", "NOISE1", "NOISE2"]


def load():
    raw = pd.read_csv(CASE / "synthetic_ms_ipd.csv")
    for col in ("ONSYRS", "T25FWABL", "RLPS1YR"):
        raw[col] = np.log(raw[col] + 1)
    return raw, raw.dropna().reset_index(drop=True)


def timeit(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


R_CODE = r"""
suppressPackageStartupMessages({library(rms); library(glmnet); library(lme4)})
ipd <- read.csv("%s"); for (v in c("ONSYRS","T25FWABL","RLPS1YR")) ipd[[v]] <- log(ipd[[v]] + 1)
X <- na.omit(ipd); f <- RELAPSE2year ~ AGE + SEX + EDSSBL + ONSYRS + RLPS1YR + TRELMOS + PRMSGR + T25FWABL + SFPCSBL
tm <- function(e) { t <- proc.time()[[3]]; eval(e); proc.time()[[3]] - t }
cand <- setdiff(names(X), c("STUDYID","USUBJID","TRT01A","RELAPSE2year")); mm <- model.matrix(~ . - 1, X[, cand])
set.seed(231398)
res <- c(glm = tm(quote(glm(f, binomial, data = X))),
         lrm_pen = tm(quote(lrm(f, data = X, penalty = 20.5))),
         glmnet_path = tm(quote(glmnet(mm, X$RELAPSE2year, family = "binomial"))),
         cv_glmnet = tm(quote(cv.glmnet(mm, X$RELAPSE2year, family = "binomial", type.measure = "auc"))),
         glmer = tm(quote(glmer(update(f, . ~ . + (1 | STUDYID)), binomial, data = X))),
         boot_lrm = tm(quote(validate(lrm(f, data = X, penalty = 20.5, x = TRUE, y = TRUE), B = %d))))
cat(paste(names(res), res, sep = "=", collapse = "\n"), "\n")
"""


def run_r(B):
    if shutil.which("Rscript") is None:
        return None
    ok = subprocess.run(["Rscript", "-e", "library(rms); library(glmnet); library(lme4)"],
                        capture_output=True)
    if ok.returncode != 0:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_CODE % (CASE / "synthetic_ms_ipd.csv", B))
    out = subprocess.run(["Rscript", fh.name], capture_output=True, text=True)
    res = {}
    for line in out.stdout.split():
        if "=" in line:
            k, v = line.split("=")
            res[k] = float(v)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--B", type=int, default=200)
    args = ap.parse_args()
    raw, data = load()
    kw = dict(outcome="RELAPSE2year", covariates=PRE, trial="STUDYID", treatment="TRT01A")
    kc = dict(outcome="RELAPSE2year", covariates=CAND)
    pm = RiskModel("pmle", penalty=20.5).fit(data, **kw)
    aic = RiskModel("pmle", penalty="aic").fit(data, **kw)
    las = RiskModel("lasso", penalty=0.02).fit(data, **kc)
    rows = {
        "glm fit": ("glm", lambda: RiskModel("glm").fit(data, **kw)),
        "PMLE fit, penalty 20.5": ("lrm_pen", lambda: RiskModel("pmle", penalty=20.5)
                                   .fit(data, **kw)),
        "PMLE fit, corrected-AIC search": (None, lambda: RiskModel("pmle").fit(data, **kw)),
        "lasso fit, fixed lambda": (None, lambda: RiskModel("lasso", penalty=0.02)
                                    .fit(data, **kc)),
        "lasso 10-fold CV (AUC, 1se)": ("cv_glmnet", lambda: RiskModel(
            "lasso", lambda_rule="1se", cv_criterion="auc", random_state=1).fit(data, **kc)),
        "GLMM random intercept (Laplace)": ("glmer", lambda: RiskModel(
            "glm", trial_effect="random").fit(data, **kw)),
        "MICE m=5 + glm (all 3,570 rows)": (None, lambda: RiskModel(
            "glm", missing="mice", n_imputations=5, random_state=1).fit(raw, **kw)),
        f"bootstrap B={args.B}, PMLE fixed penalty": (
            "boot_lrm", lambda: pm.validate(B=args.B, random_state=1)),
        "bootstrap B=20, PMLE AIC re-tuned": (None, lambda: aic.validate(B=20, random_state=1)),
        "bootstrap B=20, lasso fixed lambda": (None, lambda: las.validate(B=20,
                                                                          random_state=1)),
        "IECV (3 trials), PMLE fixed penalty": (None, lambda: pm.validate(method="iecv")),
    }
    r = run_r(args.B)
    print(f"{'task':45s} {'ipdma (s)':>10s} {'R (s)':>8s}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (rkey, fn) in rows.items():
            t = timeit(fn, args.repeat)
            rt = f"{r[rkey]:8.3f}" if r and rkey in r else f"{'-':>8s}"
            print(f"{name:45s} {t:10.3f} {rt}")
    if r is None:
        print("(R timings skipped: Rscript with rms and glmnet not available)")


if __name__ == "__main__":
    main()

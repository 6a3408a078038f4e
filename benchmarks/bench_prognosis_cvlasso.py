"""Benchmark: the prognostic 10-fold CV lasso (``RiskModel("lasso")``) against R's
``cv.glmnet(family = "binomial")`` on the shared MS reference data
(``../shared/reference/nmr_ms_synthetic``: 3,294 complete cases, the 12 candidate
predictors), side by side, with the same folds.

Usage::

    python benchmarks/bench_prognosis_cvlasso.py [--reps 5]

Both sides get the same fold ids (drawn here, passed to ``cv.glmnet(foldid = )`` and to
``RiskModel(foldid = )``), so lambda.min / lambda.1se and the coefficients must agree;
the script prints them with the largest coefficient difference, against R's timed run
(default ``thresh = 1e-7``: its convergence error can move lambda.min where the CV curve
is flat) and against the same CV with ``thresh = 1e-14`` (``R_exact_lambda``,
``diff_exact``: the oracle; ipdma solves to the exact minimiser).  Two criteria: deviance (``cv.glmnet``'s default) and AUC with the 1se rule
(the setting of the prognosis benchmark, ``bench_prognosis.py``; R's AUC is costly).
Timings are medians of ``--reps`` fits in one process (R: ``system.time`` in one
``Rscript`` run, start-up excluded), wall-clock and CPU (user + system); on the shared
machine the CPU ratio is the fairer one.  The load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

CASE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "nmr_ms_synthetic"
CAND = ["AGE", "SEX", "EDSSBL", "RLPS1YR", "TRELMOS", "PRMSGR", "ONSYRS", "SFPCSBL",
        "T25FWABL", "WEIGHTBL", "NOISE1", "NOISE2"]

R_CODE = r"""
suppressPackageStartupMessages({library(glmnet); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[2])
d <- read.csv(args[1]); X <- as.matrix(d[, setdiff(names(d), c("y", "fold"))]); y <- d$y
med <- function(f) { ts <- numeric(reps); cs <- numeric(reps)
  for (i in seq_len(reps)) { st <- system.time(r <- f()); ts[i] <- st[["elapsed"]]
    cs[i] <- st[["user.self"]] + st[["sys.self"]] }
  list(t = median(ts), cpu = median(cs), r = r) }
out <- list()
for (m in c("deviance", "auc")) {
  a <- med(function() cv.glmnet(X, y, family = "binomial", foldid = d$fold, type.measure = m))
  out[[m]] <- list(seconds = a$t, cpu = a$cpu, lambda_min = a$r$lambda.min,
                   lambda_1se = a$r$lambda.1se, n_lambda = length(a$r$lambda),
                   coef_min = unname(as.numeric(coef(a$r, s = "lambda.min"))),
                   coef_1se = unname(as.numeric(coef(a$r, s = "lambda.1se"))))
  # the same CV solved to glmnet's tightest threshold: the oracle for lambda and coef
  e <- cv.glmnet(X, y, family = "binomial", foldid = d$fold, type.measure = m, thresh = 1e-14)
  out[[paste0(m, "_exact")]] <- list(lambda_min = e$lambda.min, lambda_1se = e$lambda.1se,
                   coef_min = unname(as.numeric(coef(e, s = "lambda.min"))),
                   coef_1se = unname(as.numeric(coef(e, s = "lambda.1se"))))
}
write_json(out, args[3], digits = NA, auto_unbox = TRUE)
"""


def load_data() -> pd.DataFrame:
    raw = pd.read_csv(CASE / "synthetic_ms_ipd.csv")
    for col in ("ONSYRS", "T25FWABL", "RLPS1YR"):
        raw[col] = np.log(raw[col] + 1)
    return raw.dropna().reset_index(drop=True)


def timed(f, reps):
    ts, cs = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        r = f()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return float(np.median(ts)), float(np.median(cs)), r


def loadavg() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    from ipdma.prognosis import RiskModel

    data = load_data()
    folds = np.random.default_rng(231398).permutation(np.arange(len(data)) % 10) + 1
    data["fold"] = folds
    print("before:", loadavg())
    r_out = None
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv, script, res = Path(tmp) / "d.csv", Path(tmp) / "b.R", Path(tmp) / "r.json"
            data[CAND].assign(y=data["RELAPSE2year"], fold=folds).to_csv(csv, index=False)
            script.write_text(R_CODE)
            p = subprocess.run(["Rscript", str(script), str(csv), str(args.reps), str(res)],
                               capture_output=True, text=True)
            if p.returncode == 0:
                r_out = json.loads(res.read_text())
            else:
                print("R run failed:", p.stderr.strip()[-400:])
    rows = []
    kw = dict(outcome="RELAPSE2year", covariates=CAND)
    for crit, rule in (("deviance", "min"), ("auc", "1se")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s, c, m = timed(lambda crit=crit, rule=rule: RiskModel(
                "lasso", cv_criterion=crit, lambda_rule=rule, foldid=folds,
                random_state=1).fit(data, **kw), args.reps)
        row = {"criterion": f"{crit} ({rule})", "ipdma_s": s, "ipdma_cpu": c,
               "lambda": m.penalty_, "n_lambda": len(m.cv_results_)}
        if r_out:
            r = r_out[crit]
            lam_r = r["lambda_min"] if rule == "min" else r["lambda_1se"]
            coef_r = np.asarray(r["coef_min"] if rule == "min" else r["coef_1se"])
            ex = r_out[crit + "_exact"]
            lam_e = ex["lambda_min"] if rule == "min" else ex["lambda_1se"]
            coef_e = np.asarray(ex["coef_min"] if rule == "min" else ex["coef_1se"])
            row.update(R_s=r["seconds"], R_cpu=r["cpu"], R_lambda=lam_r,
                       R_n_lambda=r["n_lambda"],
                       max_abs_coef_diff=float(np.max(np.abs(m.coef_.to_numpy() - coef_r))),
                       R_exact_lambda=lam_e,
                       diff_exact=float(np.max(np.abs(m.coef_.to_numpy() - coef_e))))
        rows.append(row)
    out = pd.DataFrame(rows)
    if "R_s" in out:
        out["ratio_wall"] = out["R_s"] / out["ipdma_s"]
        out["ratio_cpu"] = out["R_cpu"] / out["ipdma_cpu"]
    with pd.option_context("display.width", 160, "display.float_format", "{:.4g}".format):
        print(out.to_string(index=False))
    print("after:", loadavg())


if __name__ == "__main__":
    main()

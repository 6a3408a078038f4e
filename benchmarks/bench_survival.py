"""Benchmark: ipdma.survival Cox fits and the penalised Cox path vs R (survival::coxph,
glmnet) on the same data, side by side, with the numbers compared.

Data: ``../shared/reference/survival_prognostic/surv_ipd.csv`` (5 trials, N = 1675,
heavy ties), plus a larger simulated set (``--n-large`` patients, 10 covariates,
times rounded to 0.01) to show how both scale.  Timings are the median of
``--reps`` repeated fits inside one process (Python: ``time.perf_counter``;
R: ``system.time`` inside one ``Rscript`` run, so R's start-up is excluded).

What each side's time includes (like with like): R's ``coxph``/``survreg`` call parses
the formula, builds the model frame and matrix from the data.frame and fits (Newton from
0, including the null model); ipdma's ``fit`` reads the DataFrame columns, validates
them (times > 0, 0/1 events, missing values, numeric covariates), fits (Newton from 0,
null log-likelihood, score test, inverse information) and returns the fitted estimator.
The pandas result tables (``coef_``, ``vcov_``, ``tests_`` ...) are built on first access
(after the timing, as R's ``summary(fit)`` is not timed); their arrays are computed in the
fit.  Nothing is cached between repetitions: each one fits a new estimator from the
DataFrame.  ``ipdma_cpu`` is ``time.process_time``, ``R_cpu`` user + system time.

Cases:
* ``cox_control``: ``coxph(Surv ~ x1..x5, ties = "efron")`` on the control arms (n = 774)
  -- ipdma ``CoxPH().fit(df, ...)`` (DataFrame in, validation included).
* ``cox_all_strata``: ``coxph(Surv ~ trt + x1..x5 + strata(trial))`` (n = 1675).
* ``cox_large``: ``coxph(Surv ~ x1..x10)`` on the simulated set.
* ``glmnet_path``: ``glmnet(x, Surv, family = "cox")`` default path (its own lambda
  sequence, early stop) on the control arms vs ``coxnet_path(x, time, event,
  thresh=1e-7)`` (glmnet's iterations at glmnet's default threshold: the same lambdas and
  the same coefficients, convergence error included); ``max_abs_lambda_reldiff`` compares
  the lambdas.
* ``glmnet_path_exact``: ``glmnet(..., thresh = 1e-14)`` vs ``coxnet_path(x, time, event)``
  (the exact minimisers; glmnet's differ from them by its remaining convergence error).
* ``glmnet_path_large`` / ``glmnet_path_large_exact``: the same on the simulated set.
* ``weibull_control`` / ``weibull_large``: ``survreg(Surv ~ x..., dist = "weibull")`` vs
  ``WeibullRegression().fit`` (coefficients and Log(scale) compared).

* ``mob_weibull``: the Weibull MOB tree vs ``partykit::mob(..., fit = wbreg)`` on
  ``../shared/reference/mob_weibull/sim_weibull.csv`` (n = 800; from
  ``bench_mob_weibull.py``: best of ``--reps`` ipdma fits, one R fit, same tree checked).
* ``cox_nmr`` / ``predict``: the time-to-event risk-based NMR fit (``RiskNMR``, public API)
  vs ``coxph(Surv ~ treatment * Rc + strata(trial))`` and its predictions vs ``survfit``
  (from ``bench_survival_nmr.py``, n = 1600 and ``--n-large``).

    python benchmarks/bench_survival.py [--reps 10] [--n-large 20000] [--no-mob] [--no-nmr]

Prints wall-clock and CPU seconds (medians), the ratios R / ipdma (> 1 = ipdma faster)
and the largest absolute difference of the coefficients, with the load average before
and after.  On the shared, loaded machine the CPU-time ratio is the fairer one (both
sides lose the same share of the cores; R's CPU time is ``user + system`` from
``system.time``).  The Python side runs with one BLAS thread (R's reference BLAS is
single-threaded).  Without ``Rscript`` (or survival/glmnet) only the Python side runs.
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

REF = Path(__file__).resolve().parents[2] / "shared" / "reference" / "survival_prognostic"
XS = ["x1", "x2", "x3", "x4", "x5"]

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(glmnet); library(jsonlite)})
args <- commandArgs(TRUE); reps <- as.integer(args[3])
d <- read.csv(args[1]); big <- read.csv(args[2]); ctrl <- d[d$trt == 0, ]
med <- function(f) { ts <- numeric(reps); cs <- numeric(reps)
  for (i in seq_len(reps)) { st <- system.time(r <- f()); ts[i] <- st[["elapsed"]]
    cs[i] <- st[["user.self"]] + st[["sys.self"]] }
  list(t = median(ts), cpu = median(cs), r = r) }
out <- list()
a <- med(function() coxph(Surv(time, status) ~ x1 + x2 + x3 + x4 + x5, data = ctrl, ties = "efron"))
out$cox_control <- list(seconds = a$t, cpu = a$cpu, coef = unname(coef(a$r)))
a <- med(function() coxph(Surv(time, status) ~ trt + x1 + x2 + x3 + x4 + x5 + strata(trial), data = d, ties = "efron"))
out$cox_all_strata <- list(seconds = a$t, cpu = a$cpu, coef = unname(coef(a$r)))
xb <- paste0("x", 1:10)
a <- med(function() coxph(as.formula(paste("Surv(time, status) ~", paste(xb, collapse = "+"))), data = big, ties = "efron"))
out$cox_large <- list(seconds = a$t, cpu = a$cpu, coef = unname(coef(a$r)))
a <- med(function() survreg(Surv(time, status) ~ x1 + x2 + x3 + x4 + x5, data = ctrl, dist = "weibull"))
out$weibull_control <- list(seconds = a$t, cpu = a$cpu, coef = unname(c(coef(a$r), log(a$r$scale))))
a <- med(function() survreg(as.formula(paste("Surv(time, status) ~", paste(xb, collapse = "+"))), data = big, dist = "weibull"))
out$weibull_large <- list(seconds = a$t, cpu = a$cpu, coef = unname(c(coef(a$r), log(a$r$scale))))
X <- as.matrix(ctrl[, paste0("x", 1:5)]); y <- Surv(ctrl$time, ctrl$status)
Xb <- as.matrix(big[, xb]); yb <- Surv(big$time, big$status)
for (th in c(1e-7, 1e-14)) {
  sfx <- if (th < 1e-7) "_exact" else ""
  a <- med(function() glmnet(X, y, family = "cox", thresh = th))
  out[[paste0("glmnet_path", sfx)]] <- list(seconds = a$t, cpu = a$cpu, lambda = a$r$lambda, coef = unname(as.matrix(coef(a$r))))
  a <- med(function() glmnet(Xb, yb, family = "cox", thresh = th))
  out[[paste0("glmnet_path_large", sfx)]] <- list(seconds = a$t, cpu = a$cpu, lambda = a$r$lambda, coef = unname(as.matrix(coef(a$r))))
}
write_json(out, args[4], digits = NA, auto_unbox = TRUE)
"""


def simulate(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    beta = np.r_[0.5, -0.4, 0.3, 0.2, -0.2, np.zeros(5)]
    t = rng.weibull(1.3, n) / np.exp(X @ beta / 1.3)
    c = rng.uniform(0.5, 3.0, n)
    df = pd.DataFrame(X, columns=[f"x{j}" for j in range(1, 11)])
    df["time"] = np.maximum(np.round(np.minimum(t, c), 2), 0.01)
    df["status"] = (t <= c).astype(int)
    return df


def timed(f, reps):
    """Median wall-clock and CPU seconds of ``reps`` calls, and the last result."""
    ts, cs = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        r = f()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return float(np.median(ts)), float(np.median(cs)), r


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--n-large", type=int, default=20000)
    ap.add_argument("--no-mob", action="store_true", help="skip the Weibull MOB tree")
    ap.add_argument("--no-nmr", action="store_true", help="skip the survival NMR cases")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    from ipdma.survival import CoxPH, WeibullRegression, coxnet_path

    d = pd.read_csv(REF / "surv_ipd.csv")
    ctrl = d[d.trt == 0].reset_index(drop=True)
    big = simulate(args.n_large)
    xb = [f"x{j}" for j in range(1, 11)]

    print("before:", load())
    r_out = None
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            bpath, script, res = Path(tmp) / "big.csv", Path(tmp) / "b.R", Path(tmp) / "r.json"
            big.to_csv(bpath, index=False)
            script.write_text(R_SCRIPT)
            p = subprocess.run(["Rscript", str(script), str(REF / "surv_ipd.csv"), str(bpath),
                                str(args.reps), str(res)], capture_output=True, text=True)
            if p.returncode == 0:
                r_out = json.loads(res.read_text())
            else:
                print("R run failed:", p.stderr.strip()[-400:])

    rows = []

    def add(name, n, s, c, coef=None, key=None, lam=None):
        row = {"case": name, "n": n, "ipdma_s": s, "ipdma_cpu": c}
        if r_out:
            r = r_out[key or name]
            row.update(R_s=r["seconds"], R_cpu=r["cpu"])
            rc = np.asarray(r["coef"])
            if coef is not None and np.shape(coef) == rc.shape:
                row["max_abs_coef_diff"] = float(np.max(np.abs(coef - rc)))
            elif coef is not None:
                row["max_abs_coef_diff"] = float("nan")   # different path lengths
            if lam is not None:
                rl = np.asarray(r["lambda"])
                row["max_abs_lambda_reldiff"] = (float(np.max(np.abs(lam / rl - 1)))
                                                 if len(lam) == len(rl) else float("nan"))
        rows.append(row)

    with threadpool_limits(limits=1, user_api="blas"):
        cases = {
            "cox_control": lambda: CoxPH().fit(ctrl, "time", "status", XS),
            "cox_all_strata": lambda: CoxPH().fit(d, "time", "status", ["trt", *XS],
                                                  strata="trial"),
            "cox_large": lambda: CoxPH().fit(big, "time", "status", xb),
        }
        for name, f in cases.items():
            s, c, m = timed(f, args.reps)
            add(name, m.n_, s, c, m.coef_.to_numpy())
        for name, df, cols in (("weibull_control", ctrl, XS), ("weibull_large", big, xb)):
            s, c, m = timed(lambda df=df, cols=cols: WeibullRegression().fit(
                df, "time", "status", cols), args.reps)
            add(name, len(df), s, c, np.r_[m.coef.to_numpy(), m.log_scale])
        for name, X, df in (("glmnet_path", ctrl[XS].to_numpy(), ctrl),
                            ("glmnet_path_large", big[xb].to_numpy(), big)):
            for sfx, th in (("", 1e-7), ("_exact", None)):
                # arrays in, glmnet's default lambda sequence and early stop on both sides
                s, c, (B, lams, _) = timed(lambda X=X, df=df, th=th: coxnet_path(
                    X, df["time"].to_numpy(), df["status"].to_numpy(), thresh=th), args.reps)
                add(name + sfx + f" ({len(lams)} lambdas)", len(df), s, c, B.T,
                    key=name + sfx, lam=lams)
    out = pd.DataFrame(rows)
    extra = []
    if not args.no_mob:
        extra.append(_mob_rows(args.reps, r_out is not None))
    if not args.no_nmr:
        nmr = _sibling("bench_survival_nmr").run(args.reps, args.n_large)
        extra.append(nmr.drop(columns=[c for c in ("ratio_wall", "ratio_cpu") if c in nmr]))
    out = pd.concat([out, *extra], ignore_index=True)
    if "R_s" in out:
        out["ratio_wall"] = out["R_s"] / out["ipdma_s"]
        out["ratio_cpu"] = out["R_cpu"] / out["ipdma_cpu"]
    with pd.option_context("display.width", 140, "display.float_format", "{:.4g}".format):
        print(out.to_string(index=False))
    print("after:", load())
    print("\nglmnet_path*: ipdma runs glmnet's own iterations at thresh 1e-7 (same "
          "coefficients, convergence error included); glmnet_path*_exact: glmnet at thresh "
          "1e-14 vs ipdma's exact minimisers.")


def _sibling(name: str):
    """Import another benchmark script of this folder as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mob_rows(reps: int, use_r: bool) -> pd.DataFrame:
    """The Weibull MOB tree on the reference data vs partykit (``bench_mob_weibull.py``)."""
    mob = _sibling("bench_mob_weibull")
    d = mob.load_data()
    tree, wall, cpu = mob.fit_ipdma(d, max(reps, 1))
    row = {"case": "mob_weibull (tree, best of reps)", "n": len(d), "ipdma_s": wall,
           "ipdma_cpu": cpu}
    if use_r and mob.r_available():
        r = mob.fit_r(d)
        row.update(R_s=r["seconds"], R_cpu=r["cpu"], same_tree=bool(mob.same_tree(tree, r)))
    return pd.DataFrame([row])


if __name__ == "__main__":
    main()

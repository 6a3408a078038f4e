"""Benchmark the meta-analysis engines (and metafor, when R is installed).

Times, on the same data:
* a REML multivariate fit with unstructured Psi: 10 trials x 9 coefficients, the stage-2
  pooling of the two-stage ITE reference case (``ite_twostage_continuous``);
* a univariate REML random-effects fit (``meta_univariate_bcg``, 13 trials).

Run:  python benchmarks/bench_meta.py [--repeat 50]

With ``Rscript`` and metafor installed the same fits are timed in R (``rma.mv`` with
metafor's defaults first -- falling back to the raised iteration limits that the
reference needed if the defaults fail -- and ``rma``), and the ratio is printed.
Reference data come from ``../shared/reference`` (or ``$IPDMA_REFERENCE``); without
it a seeded synthetic problem of the same shape is used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ipdma.meta import fit_mvma, fit_univariate, meta_analysis, mv_meta_analysis
from ipdma.meta._multivariate import _blas_single_thread

REPO = Path(__file__).resolve().parents[1]
REF = Path(os.environ.get("IPDMA_REFERENCE", REPO.parent / "shared" / "reference"))


def load_mv():
    path = REF / "ite_twostage_continuous" / "expected.json"
    if path.is_file():
        exp = json.loads(path.read_text())
        y = np.array([s["coef"] for s in exp["stage1"]])
        S = np.array([s["vcov"] for s in exp["stage1"]])
        return y, S, "ite_twostage_continuous (10 x 9)"
    rng = np.random.default_rng(2024)
    k, p = 10, 9
    A = rng.normal(size=(p, p)) * 0.1
    Psi = A @ A.T
    S = np.array([(B := rng.normal(size=(p, p)) * 0.05) @ B.T + 0.01 * np.eye(p)
                  for _ in range(k)])
    y = np.array([rng.multivariate_normal(np.zeros(p), Psi + S[i]) for i in range(k)])
    return y, S, "synthetic (10 x 9)"


def load_uni():
    path = REF / "meta_univariate_bcg" / "expected.json"
    if path.is_file():
        exp = json.loads(path.read_text())
        return np.array(exp["yi"]), np.array(exp["vi"]), "meta_univariate_bcg (k = 13)"
    rng = np.random.default_rng(1)
    v = rng.uniform(0.01, 0.5, 13)
    return rng.normal(0, np.sqrt(v + 0.3)), v, "synthetic (k = 13)"


def timeit(fn, repeat):
    """Median and best wall-clock seconds, and median CPU seconds, of ``repeat`` calls."""
    fn()  # warm-up
    out, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(out), min(out), statistics.median(cpu)


R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE); reps <- as.integer(args[3])
mv <- read.csv(args[1]); uni <- read.csv(args[2])
p <- 9; k <- nrow(mv)
S <- lapply(seq_len(k), function(i) matrix(as.numeric(mv[i, paste0("S", 1:(p*p))]), p, p))
long <- data.frame(trial = rep(seq_len(k), each = p), coef = factor(rep(1:p, k)),
                   yi = as.vector(t(as.matrix(mv[, paste0("y", 1:p)]))))
V <- bldiag(S)
fit_mv <- function(ctrl) rma.mv(yi, V, mods = ~ 0 + coef, random = ~ coef | trial,
                                struct = "UN", data = long, method = "REML", control = ctrl)
ctrl <- list(); note <- "metafor defaults"
t0 <- Sys.time(); ok <- tryCatch({fit_mv(ctrl); TRUE}, error = function(e) FALSE)
t_default <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
if (!ok) { ctrl <- list(iter.max = 20000, eval.max = 40000, rel.tol = 1e-12)
           note <- "defaults failed; iter.max 20000, eval.max 40000, rel.tol 1e-12" }
tm <- numeric(reps)
for (r in seq_len(reps)) { t0 <- Sys.time(); fit_mv(ctrl)
  tm[r] <- as.numeric(difftime(Sys.time(), t0, units = "secs")) }
tu <- numeric(50)
for (r in 1:50) { t0 <- Sys.time(); rma(yi, vi, data = uni, method = "REML")
  tu[r] <- as.numeric(difftime(Sys.time(), t0, units = "secs")) }
cat(sprintf("%.6f\n%.6f\n%.6f\n%s\n", median(tm), median(tu), t_default, note))
"""


def run_r(y, S, yi, vi, reps):
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    chk = subprocess.run(["Rscript", "-e", "library(metafor)"], capture_output=True, text=True)
    if chk.returncode != 0:
        return None, "metafor not installed in R"
    k, p = y.shape
    with tempfile.TemporaryDirectory() as tmp:
        mv = Path(tmp, "mv.csv")
        cols = [f"y{j + 1}" for j in range(p)] + [f"S{j + 1}" for j in range(p * p)]
        rows = np.column_stack([y, S.reshape(k, p * p, order="F")])
        mv.write_text(",".join(cols) + "\n" + "\n".join(",".join(f"{v:.17g}" for v in r)
                                                       for r in rows) + "\n")
        un = Path(tmp, "uni.csv")
        un.write_text("yi,vi\n" + "\n".join(f"{a:.17g},{b:.17g}" for a, b in zip(yi, vi,
                                                                               strict=True)))
        script = Path(tmp, "bench.R")
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(mv), str(un), str(reps)],
                             capture_output=True, text=True)
    if res.returncode != 0:
        return None, "R failed: " + res.stderr.strip()[-300:]
    lines = res.stdout.strip().splitlines()
    return {"mv": float(lines[0]), "uni": float(lines[1]), "mv_first": float(lines[2]),
            "note": lines[3]}, ""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--r-repeat", type=int, default=3, help="R repetitions (>= 1)")
    args = ap.parse_args(argv)
    args.r_repeat = max(1, args.r_repeat)
    y, S, mv_label = load_mv()
    yi, vi, uni_label = load_uni()
    rows = []

    def mv_numpy():
        with _blas_single_thread():
            return fit_mvma(y, S, method="reml", on_failure="warn")

    fit = mv_numpy()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load0 = os.getloadavg()[0]
        med, best, cpu = timeit(lambda: mv_meta_analysis(y, S), args.repeat)
        rows.append(("MV REML UN, mv_meta_analysis()", mv_label, med, best, cpu))
        med, best, cpu = timeit(mv_numpy, args.repeat)
        rows.append(("MV REML UN, fit_mvma() (numpy)", mv_label, med, best, cpu))
        med, best, cpu = timeit(lambda: meta_analysis(yi, vi, method="REML"), args.repeat)
        rows.append(("UNI REML, meta_analysis()", uni_label, med, best, cpu))
        med, best, cpu = timeit(lambda: fit_univariate(yi, vi, None, "REML"), args.repeat)
        rows.append(("UNI REML, fit_univariate() (numpy)", uni_label, med, best, cpu))
    print(f"ipdma (python) -- median and best of {args.repeat} runs; load average "
          f"{load0:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'fit':38s} {'data':32s} {'median ms':>10s} {'best ms':>9s} {'CPU ms':>8s}")
    for name, lab, med, best, cpu in rows:
        print(f"{name:38s} {lab:32s} {1e3 * med:10.2f} {1e3 * best:9.2f} {1e3 * cpu:8.2f}")
    print(f"MV REML: converged={fit.converged}, iterations={fit.n_iter}, "
          f"function evaluations={fit.n_feval}, logLik={fit.loglik:.10g}")
    r, why = run_r(y, S, yi, vi, args.r_repeat)
    if r is None:
        print(f"\nR comparison skipped: {why}")
        return 0
    print(f"\nmetafor (R) -- median of {args.r_repeat} runs (rma.mv: {r['note']}; first "
          f"attempt with defaults took {r['mv_first']:.3f} s)")
    print(f"{'rma.mv REML UN':38s} {mv_label:32s} {1e3 * r['mv']:10.2f}")
    print(f"{'rma REML':38s} {uni_label:32s} {1e3 * r['uni']:10.2f}")
    print("\nspeed-up (metafor median / ipdma median):")
    print(f"  multivariate  {r['mv'] / rows[0][2]:8.1f}x (mv_meta_analysis), "
          f"{r['mv'] / rows[1][2]:8.1f}x (fit_mvma)")
    print(f"  univariate    {r['uni'] / rows[2][2]:8.1f}x (meta_analysis), "
          f"{r['uni'] / rows[3][2]:8.1f}x (fit_univariate)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

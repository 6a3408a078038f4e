"""Benchmark the network (consistency) variance-components REML against metafor's rma.mv.

The model of ``ite_network_multiarm`` stage 2: 7 trials (two 3-arm), 36 stacked
contrast parameters, 8 basic parameters, one tau2 per parameter type with correlation
1/2 between contrasts of a multi-arm trial. Times :func:`ipdma.meta.fit_variance_components`
and, when ``Rscript`` and metafor are installed, ``rma.mv(..., random = list(~ 1 | re_q),
R = list(re_q = M_q), Rscale = "none")`` on the same arrays with metafor's default
optimizer (nlminb) and with the reference's Nelder-Mead settings; prints wall-clock and
CPU (user + system) medians, the ratios and the load average.

Run:  python benchmarks/bench_network.py [--repeat 20] [--r-repeat 3]
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
from scipy import linalg

from ipdma.meta import consistency_components, fit_variance_components

REPO = Path(__file__).resolve().parents[1]
REF = Path(os.environ.get("IPDMA_REFERENCE", REPO.parent / "shared" / "reference"))

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(TRUE); d <- args[1]; reps <- as.integer(args[2])
y <- scan(file.path(d, "y.txt"), quiet = TRUE)
V <- as.matrix(read.csv(file.path(d, "V.csv"), header = FALSE))
X <- as.matrix(read.csv(file.path(d, "X.csv"), header = FALSE))
Q <- as.integer(readLines(file.path(d, "Q.txt")))
N <- length(y)
M <- lapply(seq_len(Q), function(q) {
  m <- as.matrix(read.csv(file.path(d, paste0("M", q, ".csv")), header = FALSE))
  dimnames(m) <- list(as.character(1:N), as.character(1:N)); m })
dat <- data.frame(y = y)
for (q in seq_len(Q)) dat[[paste0("re_", q)]] <- factor(1:N)
Rl <- setNames(M, paste0("re_", seq_len(Q)))
rnd <- lapply(seq_len(Q), function(q) as.formula(paste0("~ 1 | re_", q)))
fit <- function(ctrl) rma.mv(y, V, mods = X, intercept = FALSE, random = rnd, R = Rl,
                             Rscale = "none", data = dat, method = "REML", control = ctrl)
for (nm in c("nlminb", "neldermead")) {
  ctrl <- if (nm == "nlminb") list() else
    list(optimizer = "optim", optmethod = "Nelder-Mead", reltol = 1e-14, maxit = 1e5)
  m <- NULL
  st <- sapply(seq_len(reps), function(i) { s <- system.time(m <<- fit(ctrl))
    c(s[["elapsed"]], s[["user.self"]] + s[["sys.self"]]) })
  cat(sprintf("%s %.6f %.10f %.6f\n", nm, median(st[1, ]), as.numeric(logLik(m)),
              median(st[2, ])))
}
"""


def load():
    exp = json.loads((REF / "ite_network_multiarm" / "expected.json").read_text())
    sd = exp["stage2_data"]
    trials = np.asarray(sd["trial"])
    V = linalg.block_diag(*[np.atleast_2d(np.asarray(exp["stage1"][int(t) - 1]["vcov"]))
                            for t in dict.fromkeys(trials.tolist())])
    _, M = consistency_components(trials, sd["par"])
    return np.asarray(sd["yi"]), V, np.asarray(sd["X"], dtype=float), M


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--r-repeat", type=int, default=3)
    args = ap.parse_args()
    y, V, X, M = load()
    times, cpu = [], []
    load0 = os.getloadavg()[0]
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fit = fit_variance_components(y, V, X, M, method="reml")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ours, ours_cpu = statistics.median(times), statistics.median(cpu)
    print(f"load average {load0:.1f}; {len(y)} estimates, {X.shape[1]} parameters, "
          f"{len(M)} variance components")
    print(f"ipdma fit_variance_components REML: {ours * 1e3:.1f} ms wall, {ours_cpu * 1e3:.1f} ms "
          f"CPU (medians of {args.repeat}); {fit.iterations} iterations; "
          f"logLik {fit.loglik:.10f}, tau2 {np.round(fit.tau2, 7).tolist()}")
    if shutil.which("Rscript") is None:
        print("Rscript not found: no side-by-side timing")
        return
    with tempfile.TemporaryDirectory() as d:
        np.savetxt(Path(d) / "y.txt", y, fmt="%.17g")
        np.savetxt(Path(d) / "V.csv", V, delimiter=",", fmt="%.17g")
        np.savetxt(Path(d) / "X.csv", X, delimiter=",", fmt="%.17g")
        (Path(d) / "Q.txt").write_text(f"{len(M)}\n")
        for q, m in enumerate(M, 1):
            np.savetxt(Path(d) / f"M{q}.csv", m, delimiter=",", fmt="%.17g")
        (Path(d) / "bench.R").write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(Path(d) / "bench.R"), d, str(args.r_repeat)],
                             capture_output=True, text=True)
    if out.returncode != 0:
        print("R failed:", out.stderr.strip().splitlines()[-1:])
        return
    for line in out.stdout.split("\n"):
        if not line.strip():
            continue
        name, secs, ll, csecs = line.split()
        print(f"metafor rma.mv ({name}): {float(secs) * 1e3:.0f} ms wall, "
              f"{float(csecs) * 1e3:.0f} ms CPU, logLik {float(ll):.10f} -> ipdma is "
              f"{float(secs) / ours:.0f}x faster (wall), {float(csecs) / ours_cpu:.0f}x (CPU)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

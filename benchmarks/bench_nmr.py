"""Benchmark: Bayesian risk-based NMR on the nmr_ms_synthetic reference data.

Reports effective samples per second (smallest bulk ESS over u, d, g0, gamma divided by
wall time) for ipdma's NumPyro NUTS fit -- cold (first fit in a fresh process, JAX
compilation included) and warm (compiled sampler re-used) -- and, when R with rjags is
installed, for the JAGS reference run (2 chains, 1,000 adaptation + 1,000 burn-in +
10,000 iterations, the settings of ../shared/reference/nmr_ms_synthetic/make.R), timed
side by side on this machine.  Without rjags it prints the recorded reference figures
(134 s, smallest ESS about 2,700, about 20 ESS/s).

Run:  python benchmarks/bench_nmr.py [--jags-iter 10000] [--no-jags] [--chain-methods]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REF = Path(os.environ.get("IPDMA_REFERENCE",
                          Path(__file__).resolve().parents[1].parent / "shared" / "reference"))
CASE = REF / "nmr_ms_synthetic"
KW = dict(trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year", risk="logitRisk")
JAGS_RECORDED = {"seconds": 133.66, "min_ess": 2710.0}

JAGS_SCRIPT = r"""
suppressPackageStartupMessages({library(rjags); library(coda)})
a <- commandArgs(TRUE); niter <- as.integer(a[3])
X <- read.csv(file.path(a[1], "stage1_risk_scores.csv"), stringsAsFactors = FALSE)
ext <- read.csv(file.path(a[1], "synthetic_ms_placebo_external.csv"), stringsAsFactors = FALSE)
X$study <- match(X$STUDYID, c("S1", "S2", "S3"))
X$trt <- match(X$TRT01A, c("DMF", "GA", "NAT", "PBO"))
meanRisk <- as.numeric(tapply(X$logitRisk, X$study, mean))
jd <- list(Nstudies = 3L, Np = nrow(X), studyid = X$study, trt = X$trt,
           outcome = X$RELAPSE2year, Risk = X$logitRisk, meanRisk = meanRisk, ref = 4L,
           NpPlacebo = nrow(ext), outcomeP = ext$RELAPSE2year)
inits <- lapply(1:2, function(k) list(.RNG.name = "base::Mersenne-Twister", .RNG.seed = 2000 + k))
t0 <- Sys.time()
jm <- jags.model(file.path(a[1], "model_ipdnmr_placebo_first.jags"), data = jd, inits = inits,
                 n.chains = 2, n.adapt = 1000, quiet = TRUE)
update(jm, 1000)
sm <- coda.samples(jm, c("u", "delta", "gamma", "gamma.w", "logitpplacebo"), n.iter = niter)
sec <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
keep <- setdiff(colnames(as.matrix(sm)), c("delta[4]", "gamma.w[4]", "logitpplacebo"))
ne <- effectiveSize(sm[, keep])
cat(jsonlite::toJSON(list(seconds = sec, min_ess = min(ne), iter = niter), auto_unbox = TRUE),
    file = a[2])
"""


def worker(draws: int, chain_method: str, cache_dir: str | None = None) -> None:
    """Fresh process: import JAX, NumPyro and ArviZ and initialise JAX (timed apart), then a cold fit (compilation
    included) and a warm fit (compiled sampler re-used); print JSON."""
    t0 = time.perf_counter()
    import arviz
    import jax
    import jax.numpy as jnp
    import numpyro.infer.hmc  # noqa: F401

    if cache_dir:
        jax.config.update("jax_compilation_cache_dir", cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jnp.zeros(1).block_until_ready()
    arviz.from_dict(posterior={"a": np.zeros((1, 2))})   # xarray's one-time backend discovery
    imp = time.perf_counter() - t0
    df = pd.read_csv(CASE / "stage1_risk_scores.csv")
    ext = pd.read_csv(CASE / "synthetic_ms_placebo_external.csv")
    cold = run_ours(df, ext, draws=draws, chain_method=chain_method, seed=1)
    warm = run_ours(df, ext, draws=draws, chain_method=chain_method, seed=2)
    print(json.dumps({"import": imp, "cold": cold, "warm": warm, "jax": jax.__version__}))


def run_ours(df, ext, *, draws, chain_method, seed):
    from ipdma.nmr import RiskNMR

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RiskNMR(engine="bayes", draws=draws, chain_method=chain_method,
                      random_state=seed).fit(df, external_control=ext, **KW)
    sec = time.perf_counter() - t0
    keep = [p for p in res.params.index if not p.startswith("alpha")]
    return sec, float(res.params.loc[keep, "ess_bulk"].min())


def run_jags(niter: int):
    if shutil.which("Rscript") is None:
        return None, "Rscript not found"
    chk = subprocess.run(["Rscript", "-e", "library(rjags); library(jsonlite)"],
                         capture_output=True, text=True)
    if chk.returncode != 0:
        return None, "R package rjags/jsonlite not installed"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        out = Path(tmp) / "out.json"
        script.write_text(JAGS_SCRIPT)
        t0 = time.perf_counter()
        r = subprocess.run(["Rscript", str(script), str(CASE), str(out), str(niter)],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            return None, f"JAGS run failed: {r.stderr.strip()[-300:]}"
        res = json.loads(out.read_text())
    res["wall_with_R_startup"] = wall
    return res, ""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000, help="NUTS draws per chain (default 1000)")
    ap.add_argument("--jags-iter", type=int, default=10000)
    ap.add_argument("--no-jags", action="store_true")
    ap.add_argument("--chain-methods", action="store_true",
                    help="also time chain_method='vectorized'")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(int(args.worker[0]), args.worker[1], *args.worker[2:])
        return 0
    if not CASE.is_dir():
        print(f"reference case not found at {CASE}")
        return 1
    df = pd.read_csv(CASE / "stage1_risk_scores.csv")
    ext = pd.read_csv(CASE / "synthetic_ms_placebo_external.csv")
    print(f"nmr_ms_synthetic: {len(df)} patients, 3 trials, 4 treatments; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    from ipdma.nmr import RiskNMR

    t0 = time.perf_counter()
    RiskNMR(engine="ml").fit(df, external_control=ext, **KW)
    ml_sec = time.perf_counter() - t0

    rows = []
    methods = ["sequential"] + (["vectorized"] if args.chain_methods else [])
    imports = []

    def spawn(cm, *extra):
        r = subprocess.run([sys.executable, __file__, "--worker", str(args.draws), cm, *extra],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        out = json.loads(r.stdout.strip().splitlines()[-1])
        imports.append(out["import"])
        return out

    for cm in methods:
        out = spawn(cm)
        rows.append((f"ipdma NUTS {cm}, cold (compile incl.)", 2, args.draws, *out["cold"]))
        rows.append((f"ipdma NUTS {cm}, warm", 2, args.draws, *out["warm"]))
    with tempfile.TemporaryDirectory() as cache:
        spawn("sequential", cache)                  # first process fills the cache
        out = spawn("sequential", cache)
        rows.append(("ipdma NUTS sequential, new process + JAX persistent cache", 2,
                     args.draws, *out["cold"]))

    jags, why = (None, "--no-jags given") if args.no_jags else run_jags(args.jags_iter)
    if jags is not None:
        rows.append(("JAGS 4 (rjags), measured now", 2, jags["iter"], jags["seconds"],
                     jags["min_ess"]))
        j_rate = jags["min_ess"] / jags["seconds"]
        j_label = "JAGS measured now"
    else:
        rows.append(("JAGS (recorded in the issue)", 2, 10000, JAGS_RECORDED["seconds"],
                     JAGS_RECORDED["min_ess"]))
        j_rate = JAGS_RECORDED["min_ess"] / JAGS_RECORDED["seconds"]
        j_label = f"JAGS recorded figure ({why})"

    tab = pd.DataFrame(rows, columns=["run", "chains", "draws/chain", "seconds", "min ESS"])
    tab["ESS/s"] = tab["min ESS"] / tab["seconds"]
    tab["x JAGS"] = tab["ESS/s"] / j_rate
    with pd.option_context("display.width", 120, "display.float_format", "{:.1f}".format):
        print(tab.to_string(index=False))
    print(f"ratio basis: {j_label}: {j_rate:.1f} ESS/s (min bulk ESS over u, d, g0, gamma)")
    cold = tab.iloc[0]
    print(f"cold ipdma fit reaches {cold['min ESS']:.0f} ESS in {cold['seconds']:.1f} s "
          f"(target: 30x JAGS = {30 * j_rate:.0f} ESS/s, i.e. JAGS's ESS in < "
          f"{JAGS_RECORDED['min_ess'] / (30 * j_rate):.1f} s): "
          f"{'met' if cold['x JAGS'] >= 30 else 'NOT met'} ({cold['x JAGS']:.1f}x)")
    print(f"ML engine (GLM + external intercept): {ml_sec:.2f} s; importing and initialising "
          f"JAX/NumPyro/ArviZ (not included above, once per process): {np.mean(imports):.1f} s")
    print("cold = first fit in a fresh process (tracing + XLA compilation + warm-up + "
          "sampling + diagnostics); warm = a second fit of same-shaped data in that process;\n"
          "persistent cache = a fresh process with jax_compilation_cache_dir set, after one "
          "earlier process compiled the sampler (opt-in JAX setting, not set by ipdma)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

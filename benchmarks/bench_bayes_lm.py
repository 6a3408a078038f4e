"""Benchmark: the Bayesian linear learner (method's prior, Gibbs) against JAGS.

One trial (tests/ite/data/bayes_lm_jags: n = 50, 3 covariates, or a simulated trial of
``--n`` patients with ``--p`` covariates): ``BayesLMLearner()`` with its defaults
(2 chains x (500 warm-up + 2000) draws) and with the paper's JAGS run length
(2 chains x (3000 warm-up + 10000) draws), then, when ``Rscript`` with rjags is
available, JAGS itself on the paper's settings (1000 adaptation + 2000 burn-in +
10000 iterations, 2 chains) on the same data, timed inside R (model compilation
included, R start-up excluded).  Prints seconds, the ratio and the largest difference
in posterior SD relative to JAGS.

    python benchmarks/bench_bayes_lm.py [--n 50] [--p 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ipdma.ite import BayesLMLearner

HERE = Path(__file__).resolve().parent
CASE = HERE.parent / "tests" / "ite" / "data" / "bayes_lm_jags" / "trial.csv"

R_SCRIPT = r"""
suppressPackageStartupMessages({library(rjags); library(jsonlite)})
d <- read.csv("trial.csv")
X <- as.matrix(d[, grep("^x", names(d))]); Z <- cbind(1, d$t, X, d$t * X)
p <- ncol(X); q <- ncol(Z)
model <- "model {
  for (i in 1:n) { y[i] ~ dnorm(inprod(Z[i, ], beta[]), 1 / (sigma * sigma)) }
  for (j in 1:q) { beta[j] ~ dnorm(0, 1 / 1000) }
  sigma ~ dunif(0, 10)
}"
t0 <- proc.time()[["elapsed"]]
jm <- jags.model(textConnection(model), data = list(y = d$y, Z = Z, n = nrow(Z), q = q),
                 n.chains = 2, n.adapt = 1000, quiet = TRUE)
update(jm, 2000, progress.bar = "none")
sm <- coda.samples(jm, "beta", n.iter = 10000, progress.bar = "none")
secs <- proc.time()[["elapsed"]] - t0
b <- as.matrix(sm)[, c(2, (p + 3):(2 * p + 2))]
write_json(list(seconds = secs, sd = unname(apply(b, 2, sd))), "out.json", digits = 10,
           auto_unbox = TRUE)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="simulate a trial of n patients")
    ap.add_argument("--p", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.n is None:
        d = pd.read_csv(CASE)
    else:
        rng = np.random.default_rng(1)
        X = rng.normal(size=(args.n, args.p))
        t = rng.integers(0, 2, args.n)
        y = X[:, 0] + t * (1 + X[:, 1 % args.p]) + rng.normal(size=args.n)
        d = pd.DataFrame(X, columns=[f"x{j + 1}" for j in range(args.p)]).assign(t=t, y=y)
    X, t, y = d.filter(regex="^x").to_numpy(), d["t"].to_numpy(), d["y"].to_numpy()
    with warnings.catch_warnings():          # a short run to import everything first
        warnings.simplefilter("ignore")
        BayesLMLearner(num_samples=100, num_warmup=10).fit(X, t, y, random_state=0)
    rows = {}
    for label, kw in (("ipdma default (2 x 2500)", {}),
                      ("ipdma, JAGS length (2 x 13000)", dict(num_warmup=3000,
                                                              num_samples=10000))):
        times = []
        for r in range(args.repeat):
            t0 = time.perf_counter()
            m = BayesLMLearner(**kw).fit(X, t, y, random_state=r)
            times.append(time.perf_counter() - t0)
        rows[label] = (min(times), np.sqrt(np.diag(m.theta_cov_)))
    jags = None
    if shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            d.to_csv(Path(tmp) / "trial.csv", index=False)
            (Path(tmp) / "run.R").write_text(R_SCRIPT)
            res = subprocess.run(["Rscript", "run.R"], cwd=tmp, capture_output=True, text=True)
            if res.returncode == 0:
                jags = json.loads((Path(tmp) / "out.json").read_text())
            else:
                print("JAGS not run:", res.stderr.strip().splitlines()[-1:])
    print(f"trial: n = {len(y)}, p = {X.shape[1]}; best of {args.repeat}")
    print(f"{'run':34s} {'seconds':>8s} {'vs JAGS':>8s} {'max |sd/sd_JAGS - 1|':>22s}")
    for label, (sec, sd) in rows.items():
        ratio = f"{jags['seconds'] / sec:7.1f}x" if jags else ""
        dev = f"{np.max(np.abs(sd / np.asarray(jags['sd']) - 1)):.4f}" if jags else ""
        print(f"{label:34s} {sec:8.3f} {ratio:>8s} {dev:>22s}")
    if jags:
        print(f"{'JAGS (2 x 13000, in R)':34s} {jags['seconds']:8.3f}")


if __name__ == "__main__":
    main()

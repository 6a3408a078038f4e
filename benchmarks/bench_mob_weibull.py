"""Benchmark: the Weibull MOB tree (ipdma.trees.MOB(WeibullModel())) against R's
``partykit::mob(Surv(time, status) ~ trt | z1 + z2 + z3 + x1 + x2, fit = wbreg)`` with the
survreg fitting function of partykit's mob vignette, on the reference data
``../shared/reference/mob_weibull/sim_weibull.csv`` (n = 800; set IPDMA_REFERENCE to use
another reference folder).

Usage::

    python benchmarks/bench_mob_weibull.py              # ipdma and R (if partykit is installed)
    python benchmarks/bench_mob_weibull.py --repeat 5   # best of 5 ipdma fits
    python benchmarks/bench_mob_weibull.py --n 4000     # also simulated data, n = 4000

``--n`` simulates new data from the reference case's model (log T = 1 + trt (-0.2 +
0.8 [z1 > 0] + 0.8 [z2 = b]) + 0.5 W, censoring U(1, 8), noise z3, x1, x2) with numpy's
generator (seeded; not R's stream, so not the reference rows). R is timed only when ``Rscript -e 'library(partykit); library(survival)'`` works. Both
trees are checked to be the same (split variables and points, terminal nodes, node
coefficients and log scales to 1e-6). Wall-clock and CPU times are both reported: on a
shared, loaded machine the CPU-time ratio is the fairer one.
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
from pathlib import Path

import numpy as np
import pandas as pd

from ipdma.trees import MOB, WeibullModel

REPO = Path(__file__).resolve().parents[1]
REF = Path(os.environ.get("IPDMA_REFERENCE", REPO.parent / "shared" / "reference"))
CANDIDATES = [REF / "mob_weibull" / "sim_weibull.csv",
              Path("/work/shared/reference/mob_weibull/sim_weibull.csv")]
PARTITION = ["z1", "z2", "z3", "x1", "x2"]

R_SCRIPT = r"""
suppressMessages({library(survival); library(partykit)})
args <- commandArgs(TRUE)
d <- read.csv(args[1]); d$z2 <- factor(d$z2); d$x2 <- factor(d$x2)
wbreg <- function(y, x, start = NULL, weights = NULL, offset = NULL, ...) {
  survreg(y ~ 0 + x, weights = weights, dist = "weibull", ...)
}
tm <- system.time(tr <- mob(Surv(time, status) ~ trt | z1 + z2 + z3 + x1 + x2, data = d,
                            fit = wbreg))
term <- nodeids(tr, terminal = TRUE)
splits <- lapply(nodeids(tr), function(i) {
  sp <- split_node(nodeapply(node_party(tr), ids = i, FUN = function(n) n)[[1]])
  if (is.null(sp)) NULL else list(id = i, variable = names(tr$data)[varid_split(sp)],
                                  breaks = if (is.null(sp$breaks)) NA else sp$breaks,
                                  index = if (is.null(sp$index)) NA else sp$index)
})
cf <- coef(tr); if (is.null(dim(cf))) cf <- matrix(cf, nrow = 1)
ls <- sapply(term, function(i) log(info_node(node_party(tr[[i]]))$object$scale))
jsonlite::write_json(list(seconds = tm[["elapsed"]], cpu = tm[["user.self"]] + tm[["sys.self"]],
                          terminal = term, splits = Filter(Negate(is.null), splits),
                          coef = unname(cf), log_scale = ls, logLik = as.numeric(logLik(tr))),
                     args[2], digits = NA, auto_unbox = TRUE)
"""


def load_data() -> pd.DataFrame:
    for p in CANDIDATES:
        if p.is_file():
            return pd.read_csv(p)
    sys.exit(f"reference data not found (looked in {[str(p) for p in CANDIDATES]}); "
             "set IPDMA_REFERENCE")


def simulate(n: int, seed: int = 20251203) -> pd.DataFrame:
    rng = np.random.default_rng(seed + n)
    trt = rng.integers(0, 2, n)
    z1 = rng.normal(size=n).round(4)
    z2 = rng.choice(["a", "b", "c"], n)
    logt = 1.0 + trt * (-0.2 + 0.8 * (z1 > 0) + 0.8 * (z2 == "b")) + 0.5 * np.log(
        rng.exponential(size=n))
    t, c = np.exp(logt), rng.uniform(1, 8, n)
    return pd.DataFrame({"time": np.maximum(np.minimum(t, c).round(2), 0.01),
                         "status": (t <= c).astype(int), "trt": trt, "z1": z1, "z2": z2,
                         "z3": rng.uniform(size=n).round(4), "x1": rng.normal(size=n).round(4),
                         "x2": rng.choice(["f", "m"], n)})


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "suppressMessages({library(partykit); library(survival)})"],
                       capture_output=True, text=True)
    return r.returncode == 0


def fit_ipdma(d: pd.DataFrame, repeat: int):
    best_wall, best_cpu, tree = np.inf, np.inf, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        tree = MOB(WeibullModel()).fit(d, time="time", event="status", regressors=["trt"],
                                       partition=PARTITION)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return tree, best_wall, best_cpu


def fit_r(d: pd.DataFrame) -> dict:
    with tempfile.TemporaryDirectory() as td:
        csv, out, script = Path(td, "d.csv"), Path(td, "out.json"), Path(td, "run.R")
        d.to_csv(csv, index=False)
        script.write_text(R_SCRIPT)
        r = subprocess.run(["Rscript", str(script), str(csv), str(out)], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return json.loads(out.read_text())


def same_tree(tree: MOB, r: dict) -> bool:
    term = [nd.id for nd in tree.tree_.walk() if nd.terminal]
    if term != list(np.atleast_1d(r["terminal"])):
        return False
    for sp in r["splits"]:
        nd = tree.nodes_[sp["id"]]
        if nd.split is None or nd.split.variable != sp["variable"]:
            return False
        if sp["breaks"] is not None and not np.isclose(nd.split.breaks, sp["breaks"], atol=1e-12):
            return False
        if sp["index"] is not None and (nd.split.index + 1).tolist() != list(sp["index"]):
            return False
    coef = np.array([tree.nodes_[i].fit.coef for i in term])
    ls = np.array([tree.nodes_[i].fit.extra["log_scale"] for i in term])
    return (np.allclose(coef, np.array(r["coef"]).reshape(coef.shape), atol=1e-6)
            and np.allclose(ls, np.atleast_1d(r["log_scale"]), atol=1e-6)
            and np.isclose(tree.loglik, r["logLik"], rtol=1e-9))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="best of this many ipdma fits")
    ap.add_argument("--n", type=int, nargs="*", default=[],
                    help="also time simulated data of these sizes")
    ap.add_argument("--no-r", action="store_true", help="skip R")
    args = ap.parse_args(argv)
    base = load_data()
    use_r = not args.no_r and r_available()
    if not use_r:
        print("R/partykit not available: timing ipdma only")
    rows = []
    for label, d in [("reference", base), *[("simulated", simulate(n)) for n in args.n]]:
        tree, wall, cpu = fit_ipdma(d, args.repeat)
        row = {"data": label, "n": len(d), "ipdma_s": wall, "ipdma_cpu_s": cpu,
               "terminal_nodes": tree.n_terminal}
        if use_r:
            r = fit_r(d)
            row.update(R_s=r["seconds"], R_cpu_s=r["cpu"], ratio_wall=r["seconds"] / wall,
                       ratio_cpu=r["cpu"] / cpu, same_tree=same_tree(tree, r))
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    print("\nWeibull MOB tree (ipdma) on the reference data:")
    print(MOB(WeibullModel()).fit(base, time="time", event="status", regressors=["trt"],
                                  partition=PARTITION))


if __name__ == "__main__":
    main()

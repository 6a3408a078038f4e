"""Benchmark: ipdma.trees.MetaMOB (and its LMM/GLMM engines) against R's glmertree.

Continuous outcomes (``lmertree``): the two reference cases (metamob_multitrial,
N = 1,200, 8 trials; glmertree_depression, N = 150, 10 clusters) and ``make_lbp_trials``
with 19 trials of 490 patients (N = 9,310, 8 candidate partitioning variables, as the
synthetic low-back-pain IPD of Huber & Friede 2025), for every random-effects variant.

Binary outcomes (``--family binary``; ``glmertree(family = binomial)``, Laplace GLMM): the
glmertree_binary reference case (N = 1,500, 6 trials, 3 partitioning variables) and the
19 x 490 low-back-pain data with the outcome dichotomised (``rmdq <= 8``: recovered), for
the RI, RI+RT and FE+RT variants.

Usage::

    python benchmarks/bench_metamob.py              # continuous; ipdma (+ R when available)
    python benchmarks/bench_metamob.py --family binary --repeat 3
    R_LIBS=/work/rlib python benchmarks/bench_metamob.py --family binary   # glmertree there

R is timed only when ``Rscript -e 'library(glmertree)'`` works (set ``R_LIBS`` to the library
holding glmertree if it is not in R's default library), as the best of ``--r-repeat``
(default 1) ``system.time`` runs inside one R session (R start-up and package loading excluded); the R
fit is then checked to give the same terminal-node membership and iteration count.
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

from ipdma.datasets import LBP_COVARIATES, make_lbp_trials
from ipdma.trees._metamob import MetaMOB

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference"

VARIANTS = {
    "RI": (dict(random="intercept"), "{trial}"),
    "RI+RT": (dict(random="both"), "(1 + {trt} | {trial})"),
    "FE+RT": (dict(random="treatment", fixed_trial_intercepts=True),
              "({trial} + (0 + {trt} | {trial}))"),
    "RT": (dict(random="treatment"), "(0 + {trt} | {trial})"),
}


BINARY_VARIANTS = ("RI", "RI+RT", "FE+RT")


def binary_datasets() -> list[tuple[str, pd.DataFrame, dict]]:
    out = []
    p = REF / "glmertree_binary" / "sim_binary_multitrial.csv"
    if p.is_file():
        out.append(("glmertree_binary", pd.read_csv(p),
                    dict(outcome="y", treatment="trt", trial="trial",
                         partition=["x1", "x2", "x3"])))
    sim = make_lbp_trials(random_state=1, n_trials=19, n_per_trial=490).data
    sim = sim.assign(recovered=(sim["rmdq"] <= 8).astype(int))
    out.append(("lbp_19x490_binary", sim.drop(columns="rmdq"),
                dict(outcome="recovered", treatment="treatment", trial="trial",
                     partition=list(LBP_COVARIATES))))
    return out


def datasets() -> list[tuple[str, pd.DataFrame, dict]]:
    out = []
    p = REF / "metamob_multitrial" / "sim_multitrial.csv"
    if p.is_file():
        d = pd.read_csv(p)
        d["x3"] = d["x3"].astype("category")
        out.append(("metamob_multitrial", d, dict(outcome="y", treatment="trt", trial="trial",
                                                  partition=["x1", "x2", "x3", "x4"])))
    p = REF / "glmertree_depression" / "DepressionDemo.csv"
    if p.is_file():
        out.append(("glmertree_depression", pd.read_csv(p),
                    dict(outcome="depression", treatment="treatment", trial="cluster",
                         partition=["age", "anxiety", "duration"])))
    sim = make_lbp_trials(random_state=1, n_trials=19, n_per_trial=490)
    out.append(("lbp_19x490", sim.data, dict(outcome="rmdq", treatment="treatment",
                                              trial="trial", partition=list(LBP_COVARIATES))))
    return out


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "suppressMessages(library(glmertree))"],
                       capture_output=True, text=True)
    return r.returncode == 0


R_SCRIPT = r"""
suppressMessages({library(glmertree)})
a <- commandArgs(TRUE)
d <- read.csv(a[1], stringsAsFactors = TRUE)
d[[a[3]]] <- factor(d[[a[3]]])
f <- as.formula(a[2])
fit <- if (a[5] == "binary") function() glmertree(f, data = d, family = binomial) else
  function() lmertree(f, data = d)
tms <- sapply(seq_len(as.integer(a[6])), function(i) system.time(m <<- fit()))
jsonlite::write_json(list(seconds = min(tms["elapsed", ]),
                          cpu = min(tms["user.self", ] + tms["sys.self", ]),
                          node = unname(predict(m$tree, type = "node")),
                          iterations = m$iterations), a[4], auto_unbox = TRUE)
"""


def run_r(d, kw, re_part, workdir: Path, family: str = "continuous",
          repeat: int = 1) -> dict | None:
    csv, script, out = workdir / "d.csv", workdir / "fit.R", workdir / "out.json"
    d.to_csv(csv, index=False)
    script.write_text(R_SCRIPT)
    f = (f"{kw['outcome']} ~ {kw['treatment']} | {re_part.format(trial=kw['trial'], trt=kw['treatment'])}"
         f" | {' + '.join(kw['partition'])}")
    r = subprocess.run(["Rscript", str(script), str(csv), f, kw["trial"], str(out), family,
                        str(repeat)], capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1:]}
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--family", choices=["continuous", "binary"], default="continuous",
                    help="outcome family: lmertree (continuous) or glmertree binomial")
    ap.add_argument("--r-repeat", type=int, default=1,
                    help="timing repeats for R (best of; R fits take seconds to minutes)")
    ap.add_argument("--no-r", action="store_true", help="time ipdma only")
    args = ap.parse_args()
    use_r = not args.no_r and r_available()
    print(f"R glmertree available: {use_r}")
    rows = []
    binary = args.family == "binary"
    data = binary_datasets() if binary else datasets()
    variants = {k: v for k, v in VARIANTS.items() if not binary or k in BINARY_VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for name, d, kw in data:
            for vname, (opts, re_part) in variants.items():
                times, cpus = [], []
                for _ in range(args.repeat):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0, c0 = time.perf_counter(), time.process_time()
                        m = MetaMOB(**opts, family=args.family).fit(d, **kw)
                        m.node_effects()  # includes the (lazy) GLMM covariance
                        times.append(time.perf_counter() - t0)
                        cpus.append(time.process_time() - c0)
                row = {"data": name, "N": len(d), "trials": d[kw["trial"]].nunique(),
                       "variant": vname, "ipdma_s": min(times), "ipdma_cpu": min(cpus),
                       "iter": m.n_iter,
                       "leaves": len(m.node_effects()), "singular": m.lmm_.singular}
                if use_r:
                    r = run_r(d, kw, re_part, Path(tmp), args.family, args.r_repeat)
                    if r and "seconds" in r:
                        row["R_s"] = r["seconds"]
                        row["speedup"] = r["seconds"] / row["ipdma_s"]
                        row["R_cpu"] = r.get("cpu", np.nan)
                        row["cpu_ratio"] = row["R_cpu"] / row["ipdma_cpu"]
                        row["same_tree"] = bool(np.array_equal(r["node"], m.fitted_node_))
                        row["R_iter"] = r["iterations"]
                    else:
                        row["R_s"] = np.nan
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1),
                      flush=True)
    print("\n" + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()

"""Benchmark: ipdma.trees.MetaMOB (and its LMM engine) against R's glmertree::lmertree.

Data: the two reference cases (metamob_multitrial, N = 1,200, 8 trials;
glmertree_depression, N = 150, 10 clusters) and ``make_lbp_trials`` with 19 trials of
490 patients (N = 9,310, 8 candidate partitioning variables, as the synthetic
low-back-pain IPD of Huber & Friede 2025), for every random-effects variant.

Usage::

    python benchmarks/bench_metamob.py              # ipdma only (+ R when available)
    python benchmarks/bench_metamob.py --repeat 3

R is timed only when ``Rscript -e 'library(glmertree)'`` works; the R fit is then checked
to give the same terminal-node membership.
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
tm <- system.time(m <- lmertree(f, data = d))[["elapsed"]]
jsonlite::write_json(list(seconds = tm, node = unname(predict(m$tree, type = "node")),
                          iterations = m$iterations), a[4], auto_unbox = TRUE)
"""


def run_r(d, kw, re_part, workdir: Path) -> dict | None:
    csv, script, out = workdir / "d.csv", workdir / "fit.R", workdir / "out.json"
    d.to_csv(csv, index=False)
    script.write_text(R_SCRIPT)
    f = (f"{kw['outcome']} ~ {kw['treatment']} | {re_part.format(trial=kw['trial'], trt=kw['treatment'])}"
         f" | {' + '.join(kw['partition'])}")
    r = subprocess.run(["Rscript", str(script), str(csv), f, kw["trial"], str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1:]}
    return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    args = ap.parse_args()
    use_r = r_available()
    print(f"R glmertree available: {use_r}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, d, kw in datasets():
            for vname, (opts, re_part) in VARIANTS.items():
                times = []
                for _ in range(args.repeat):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        m = MetaMOB(**opts).fit(d, **kw)
                        times.append(time.perf_counter() - t0)
                row = {"data": name, "N": len(d), "trials": d[kw["trial"]].nunique(),
                       "variant": vname, "ipdma_s": min(times), "iter": m.n_iter,
                       "leaves": len(m.node_effects()), "singular": m.lmm_.singular}
                if use_r:
                    r = run_r(d, kw, re_part, Path(tmp))
                    if r and "seconds" in r:
                        row["R_s"] = r["seconds"]
                        row["speedup"] = r["seconds"] / row["ipdma_s"]
                        row["same_tree"] = bool(np.array_equal(r["node"], m.fitted_node_))
                        row["R_iter"] = r["iterations"]
                    else:
                        row["R_s"] = np.nan
                rows.append(row)
                print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1))
    print("\n" + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()

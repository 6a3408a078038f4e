"""Dask scale-out of ``bench_ite``: the 1 -> 2 worker speed-up, identical predictions.

Runs ``benchmarks/bench_ite.py --no-r --dask-local N --save ...`` once per worker count
(each in a new process, stage 1 on a LocalCluster of N single-threaded workers), checks
that every pair's predictions are identical between the runs, and prints the wall
times, the speed-up (issue 18's target: >= 1.7x from 1 to 2 workers) and the load
average.  Run it on a quiet machine (the speed-up needs free cores):

    python benchmarks/bench_ite_dask.py [--workers 1,2] [--n-boot 100] [--pairs A+B,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--pairs", default=None, help="learner+pooler subset (default: all)")
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix="ipdma-bench-dask-"))
    counts = [int(v) for v in args.workers.split(",")]
    res, preds = {}, {}
    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"{os.cpu_count()} CPU(s)")
    for n in counts:
        out, js = tmp / f"pred_{n}.csv", tmp / f"run_{n}.json"
        cmd = [sys.executable, str(here / "bench_ite.py"), "--no-r", "--dask-local", str(n),
               "--n-boot", str(args.n_boot), "--save", str(out), "--json-out", str(js)]
        if args.pairs:
            cmd += ["--pairs", args.pairs]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        res[n] = json.loads(js.read_text())
        preds[n] = pd.read_csv(out)
        print(f"  {n} worker(s): wall {res[n]['wall_s']:.1f} s (stage 1 {res[n]['stage1_s']:.1f}"
              f" s); load average {' '.join(f'{v:.1f}' for v in res[n]['loadavg'])}",
              flush=True)
    base = counts[0]
    for n in counts[1:]:
        a, b = preds[base], preds[n]
        same = a.shape == b.shape and all(
            np.array_equal(a[c].to_numpy(), b[c].to_numpy(), equal_nan=True)
            if a[c].dtype.kind == "f" else a[c].equals(b[c]) for c in a.columns)
        print(f"{base} -> {n} workers: speed-up {res[base]['wall_s'] / res[n]['wall_s']:.2f}x "
              f"(stage 1 {res[base]['stage1_s'] / res[n]['stage1_s']:.2f}x); predictions "
              f"{'identical' if same else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: cold Bayesian NMR fit in a new process with ipdma's compile cache warm, vs JAGS.

ipdma turns on JAX's persistent compilation cache when it first imports JAX
(``$IPDMA_CACHE_DIR/jax``, default ``~/.cache/ipdma/jax``; ``IPDMA_JAX_CACHE=0`` turns it
off).  This script measures what a user sees on the second run of a script:

1. a first process fits the ``nmr_ms_synthetic`` reference case (fills the cache in a
   temporary ``IPDMA_CACHE_DIR``);
2. a second, fresh process fits it again: its first ("cold") fit loads the compiled
   sampler from the cache instead of compiling it;
3. the same fresh-process cold fit with the cache off (``IPDMA_JAX_CACHE=0``);
4. JAGS (rjags, the settings of the reference ``make.R``; ``--jags-iter`` sampling
   iterations) on the same data at the same time.

Effective samples per second = smallest bulk ESS over u, d, g0, gamma / fit wall time
(imports and JAX initialisation excluded, as in ``bench_nmr.py``).  The load average
is printed before and after: the issue's target (>= 30x JAGS) is to hold with load >= 3.

    python benchmarks/bench_nmr_cache.py [--draws 1000] [--jags-iter 10000] [--no-jags]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_nmr import CASE, JAGS_RECORDED, run_jags


def _child(draws: int) -> None:
    import time

    t0 = time.perf_counter()
    from ipdma._optional import import_optional

    jax = import_optional("jax")           # ipdma's import: turns the cache on
    import_optional("numpyro")
    import_optional("arviz").from_dict(posterior={"a": [[0.0, 1.0]]})
    jax.numpy.zeros(1).block_until_ready()
    imp = time.perf_counter() - t0
    from bench_nmr import run_ours

    df = pd.read_csv(CASE / "stage1_risk_scores.csv")
    ext = pd.read_csv(CASE / "synthetic_ms_placebo_external.csv")
    cold = run_ours(df, ext, draws=draws, chain_method="sequential", seed=1)
    print(json.dumps({"import": imp, "cold": cold,
                      "cache": str(jax.config.jax_compilation_cache_dir)}))


def _spawn(draws: int, env: dict) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", str(draws)], capture_output=True,
                       text=True, env={**os.environ, **env})
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--jags-iter", type=int, default=10000)
    ap.add_argument("--no-jags", action="store_true")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return 0
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {"IPDMA_CACHE_DIR": cache, "IPDMA_JAX_CACHE": "1"}
        first = _spawn(args.draws, env)                  # compiles, fills the cache
        rows.append(("first process (compiles; fills the cache)", *first["cold"]))
        warm = _spawn(args.draws, env)
        rows.append(("new process, cache warm (default)", *warm["cold"]))
    off = _spawn(args.draws, {"IPDMA_JAX_CACHE": "0"})
    rows.append(("new process, cache off (IPDMA_JAX_CACHE=0)", *off["cold"]))
    jags, why = (None, "--no-jags given") if args.no_jags else run_jags(args.jags_iter)
    if jags is not None:
        rows.append((f"JAGS (rjags), {jags['iter']} iterations, measured now",
                     jags["seconds"], jags["min_ess"]))
        j_rate = jags["min_ess"] / jags["seconds"]
    else:
        rows.append(("JAGS, recorded figure (" + why + ")", JAGS_RECORDED["seconds"],
                     JAGS_RECORDED["min_ess"]))
        j_rate = JAGS_RECORDED["min_ess"] / JAGS_RECORDED["seconds"]
    load1 = os.getloadavg()[0]
    tab = pd.DataFrame(rows, columns=["run", "seconds", "min ESS"])
    tab["ESS/s"] = tab["min ESS"] / tab["seconds"]
    tab["x JAGS"] = tab["ESS/s"] / j_rate
    print(f"nmr_ms_synthetic, 2 chains x {args.draws} draws; {os.cpu_count()} CPUs; load "
          f"average {load0:.1f} at the start, {load1:.1f} at the end")
    with pd.option_context("display.width", 120, "display.float_format", "{:.2f}".format):
        print(tab.to_string(index=False))
    ratio = tab.loc[1, "x JAGS"]
    print(f"cold fit in a new process with the cache warm: {ratio:.1f}x JAGS ESS/s "
          f"(target >= 30x: {'met' if ratio >= 30 else 'NOT met'}); imports + JAX start-up "
          f"{warm['import']:.1f} s, not included")
    return 0


if __name__ == "__main__":
    sys.exit(main())

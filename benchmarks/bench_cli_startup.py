"""Start-up cost of the command line: ``import ipdma`` and a small ``ipdma ite`` run.

What a user feels: ``ipdma ite sc5.csv ... --learner ols --pooler mvma --predict new.csv``
on the scenario-5 simulation data (10 trials, about 4,500 patients), each run a new
process.  Reports wall and CPU time (user + system of the child process) for

* ``python -c pass`` (the interpreter alone),
* ``import ipdma`` (in-process ``perf_counter``, and the whole process),
* ``import ipdma.cli`` + ``ipdma ite --help`` parser,
* ``ipdma ite ... --predict new.csv --no-plots`` and the same with its three figures,

with the load average before and after (the machine is shared: compare CPU times when
the load is high).  Byte code is cached in a temporary ``PYTHONPYCACHEPREFIX`` and one
untimed run warms it, as an installed package has its ``.pyc`` files.

Usage::

    python benchmarks/bench_cli_startup.py [--repeat 5] [--python /path/to/venv/bin/python]
                                           [--json]

``--python`` runs the commands with another interpreter (e.g. a fresh core install);
``PYTHONPATH`` is passed through, so the source tree on it is what runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "n/a"


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU seconds (children's user + sys) of one command; its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise SystemExit(f"command failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="ipdma-bench-cli-"))
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    py = args.python
    data = tmp / "sc5.csv"
    _run([py, "-m", "ipdma.cli", "simulate", "ite", "--scenario", "5", "--seed", "1",
          "--out", str(data)], env)
    new = tmp / "sc5_test.csv"
    covs = ",".join(f"x{i}" for i in range(1, 9))
    ite = [py, "-m", "ipdma.cli", "ite", str(data), "--trial", "trial", "--treatment",
           "treatment", "--outcome", "y", "--covariates", covs, "--learner", "ols",
           "--pooler", "mvma", "--predict", str(new), "--out", str(tmp / "out")]
    cases = {
        "python -c pass": [py, "-c", "pass"],
        "import ipdma": [py, "-c", "import time; t = time.perf_counter(); import ipdma; "
                         "print(time.perf_counter() - t)"],
        "ipdma ite --help": [py, "-m", "ipdma.cli", "ite", "--help"],
        "ite --predict --no-plots": [*ite, "--no-plots"],
        "ite --predict (3 figures)": ite,
    }
    for cmd in cases.values():   # warm the byte-code cache and the file cache
        _run(cmd, env)
    load_before = _loadavg()
    results: dict[str, dict[str, float]] = {}
    in_process: list[float] = []
    for name, cmd in cases.items():
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu, out = _run(cmd, env)
            walls.append(wall)
            cpus.append(cpu)
            if name == "import ipdma":
                in_process.append(float(out.strip()))
        results[name] = {"wall_median": statistics.median(walls), "wall_min": min(walls),
                         "cpu_median": statistics.median(cpus), "cpu_min": min(cpus)}
    results["import ipdma (in-process)"] = {
        "wall_median": statistics.median(in_process), "wall_min": min(in_process),
        "cpu_median": float("nan"), "cpu_min": float("nan")}
    load_after = _loadavg()
    if args.json:
        print(json.dumps({"python": py, "repeat": args.repeat, "loadavg_before": load_before,
                          "loadavg_after": load_after, "results": results}, indent=2))
        return 0
    print(f"python: {py}; {args.repeat} runs each; data: {data} (scenario 5, seed 1)")
    print(f"load average before {load_before}, after {load_after}")
    print(f"{'case':<28}{'wall med':>10}{'wall min':>10}{'CPU med':>10}{'CPU min':>10}")
    for name, r in results.items():
        print(f"{name:<28}{r['wall_median']:>10.3f}{r['wall_min']:>10.3f}"
              f"{r['cpu_median']:>10.3f}{r['cpu_min']:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

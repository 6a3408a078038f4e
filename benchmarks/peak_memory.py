"""Peak memory of a process tree: a command run to its end, or a running process.

The resident set (RSS) of a parent and its worker processes double-counts the shared
libraries every process maps (numpy, pandas, scikit-learn, xgboost, JAX: about 330 MB
per process that imports them all); the proportional set size (PSS, Linux) charges each
shared page to its processes in equal parts, so the summed PSS is the memory the tree
really occupies.  This script samples both for the whole tree (``psutil``; PSS reads
``/proc/PID/smaps_rollup``) and prints their peaks, the largest single process's peak
RSS and the load average.

    python benchmarks/peak_memory.py [--every 1.0] [--log FILE] -- python benchmarks/bench_ite.py --no-r
    python benchmarks/peak_memory.py --pid 12345 [--every 5]    # attach until it exits

``--log`` appends one line per sample (time, summed RSS, summed PSS, processes).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def _tree(psutil, root):
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def sample(psutil, root) -> tuple[float, float, float, int]:
    """Summed RSS, summed PSS, largest RSS (MB) and process count of ``root``'s tree."""
    rss = pss = big = 0.0
    n = 0
    for p in _tree(psutil, root):
        try:
            r = p.memory_info().rss
            try:
                s = p.memory_full_info().pss
            except (psutil.Error, AttributeError):
                s = r
        except psutil.Error:
            continue
        rss += r
        pss += s
        big = max(big, r)
        n += 1
    return rss / 2**20, pss / 2**20, big / 2**20, n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--every", type=float, default=1.0, help="seconds between samples")
    ap.add_argument("--pid", type=int, default=None, help="watch this running process")
    ap.add_argument("--log", default=None, help="append every sample to this file")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command to run")
    args = ap.parse_args(argv)
    import psutil

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if (args.pid is None) == (not cmd):
        ap.error("give a command after -- or --pid, not both")
    proc = None
    if cmd:
        proc = subprocess.Popen(cmd)
        root = psutil.Process(proc.pid)
    else:
        root = psutil.Process(args.pid)
    load0 = " ".join(f"{v:.1f}" for v in os.getloadavg())
    t0 = time.perf_counter()
    peak = {"rss": 0.0, "pss": 0.0, "big": 0.0}
    log = open(args.log, "a") if args.log else None
    try:
        while True:
            if proc is not None and proc.poll() is not None:
                break
            if proc is None and not root.is_running():
                break
            rss, pss, big, n = sample(psutil, root)
            peak["rss"] = max(peak["rss"], rss)
            peak["pss"] = max(peak["pss"], pss)
            peak["big"] = max(peak["big"], big)
            if log is not None:
                log.write(f"{time.strftime('%H:%M:%S')} rss {rss:.0f} pss {pss:.0f} "
                          f"largest {big:.0f} processes {n}\n")
                log.flush()
            time.sleep(args.every)
    except KeyboardInterrupt:   # pragma: no cover
        pass
    finally:
        if log is not None:
            log.close()
    wall = time.perf_counter() - t0
    load1 = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"peak memory of the process tree (sampled every {args.every:g} s over {wall:.0f} s):"
          f" summed RSS {peak['rss']:.0f} MB, summed PSS {peak['pss']:.0f} MB, largest "
          f"process RSS {peak['big']:.0f} MB; load average {load0} -> {load1}",
          file=sys.stderr)
    return 0 if proc is None else int(proc.returncode or 0)


if __name__ == "__main__":
    raise SystemExit(main())

"""``ipdma demo``: run every capability on the embedded example data."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._common import emit, nonneg_int, status


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run every capability on the example data and write an HTML report",
        description="Runs each method of ipdma on its seeded example data set and writes a "
                    "self-contained report DIR/index.html (figures embedded, tables, and the "
                    "exact calls that produced them).")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--seed", type=nonneg_int, default=2026, help="random seed (default 2026)")
    p.add_argument("--only", default=None, metavar="NAME,...",
                   help="run only these sections (names as listed by --list)")
    p.add_argument("--list", action="store_true", help="list the sections and exit")
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report import Report
    from ..report._demo import DEMO_SECTIONS, load_section
    from ._common import split_list

    if args.list:
        emit(args, text="\n".join(f"{k:12s} {title}" for k, (title, _) in DEMO_SECTIONS.items()),
             payload=list(DEMO_SECTIONS))
        return 0
    wanted = split_list(args.only) or list(DEMO_SECTIONS)
    unknown = sorted(set(wanted) - set(DEMO_SECTIONS))
    if unknown:
        from ..errors import ModelSpecificationError

        raise ModelSpecificationError(
            f"unknown demo section(s) {unknown}; choose from {list(DEMO_SECTIONS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report("ipdma demonstration",
                 subtitle="Every capability of ipdma, run on its seeded example data sets.")
    timings = {}
    for i, key in enumerate(wanted, 1):
        title, _ = DEMO_SECTIONS[key]
        status(f"[{i}/{len(wanted)}] {title} ...")
        t0 = time.perf_counter()
        load_section(key)(rep, out, args.seed)
        timings[key] = round(time.perf_counter() - t0, 2)
        status(f"[{i}/{len(wanted)}] {title} done in {timings[key]:.1f} s")
    index = rep.write(out)
    emit(args, text=f"report written to {index}",
         payload={"report": str(index), "sections": timings})
    return 0

"""``ipdma simulate``: write a seeded example data set to CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import emit, int_range, nonneg_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate", help="write a seeded example data set (with its truth) to CSV",
        description="Simulate one of the example data sets. FILE.csv gets the IPD; extra "
                    "frames (truth, external control cohort, test set) go beside it as "
                    "FILE_<name>.csv.")
    p.add_argument("dataset", choices=["ms", "ite", "ite-binary", "lbp", "ite-network",
                                       "survival", "survival-network"],
                   help="ms: multiple-sclerosis-like network; ite: two-stage ITE simulation "
                        "scenario; ite-binary: its binary-outcome analogue; lbp: "
                        "low-back-pain-like trials for subgroup identification; ite-network: "
                        "a treatment network for two-stage ITE (true ITEs and best "
                        "treatment); survival: time-to-event trials for two-stage ITE; "
                        "survival-network: a time-to-event treatment network")
    p.add_argument("--scenario", type=int_range(1, 16), default=None,
                   help="scenario number: 1-16 for ite and ite-binary, 1-4 for survival "
                        "(default 1; the other data sets have none)")
    p.add_argument("--seed", type=nonneg_int, required=True, help="random seed")
    p.add_argument("--out", required=True, metavar="FILE.csv", help="output CSV file")
    p.add_argument("--json", action="store_true", help="print a JSON description of the files")
    p.set_defaults(func=run, out_kind="file")


def run(args: argparse.Namespace) -> int:
    from ..datasets import simulate
    from ..errors import ModelSpecificationError

    if args.scenario is not None:
        from ..datasets import DATASETS

        scen = DATASETS[args.dataset].scenarios
        if not scen:
            raise ModelSpecificationError(
                f"--scenario applies to the 'ite', 'ite-binary' and 'survival' data sets "
                f"only, not {args.dataset!r}: drop it")
        if args.scenario not in scen:
            raise ModelSpecificationError(
                f"--scenario {args.scenario}: data set {args.dataset!r} has scenarios "
                f"{min(scen)}-{max(scen)}")
    sim = simulate(args.dataset, seed=args.seed, scenario=args.scenario)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sim.data.to_csv(out, index=False)
    files = {"data": str(out)}
    for name, frame in _extra_frames(sim).items():
        path = out.with_name(f"{out.stem}_{name}{out.suffix or '.csv'}")
        frame.to_csv(path, index=False)
        files[name] = str(path)
    params = getattr(sim, "params", None)
    if params:
        import json

        from ._common import to_jsonable

        ppath = out.with_name(f"{out.stem}_params.json")
        ppath.write_text(json.dumps(to_jsonable(params), indent=2))
        files["params"] = str(ppath)
    cols = sim.columns
    lines = [f"wrote {len(sim.data)} patients in {sim.data[cols['trial']].nunique()} trials "
             f"to {out}"]
    lines += [f"  {k}: {v}" for k, v in files.items() if k != "data"]
    cov = ",".join(cols.get("covariates") or [])
    time_col = cols.get("time") or (getattr(sim, "ipd_options", None) or {}).get("time")
    lines.append(f"columns: --trial {cols['trial']} --treatment {cols['treatment']} "
                 + (f"--time {time_col} --event {cols['outcome']}" if time_col else
                    f"--outcome {cols['outcome']}") + f" --covariates {cov}")
    emit(args, text="\n".join(lines),
         payload={"dataset": args.dataset, "seed": args.seed, "scenario": args.scenario,
                  "n_patients": len(sim.data), "files": files, "columns": cols})
    return 0


def _extra_frames(sim) -> dict:
    """The simulated object's DataFrames other than the IPD itself (truth, external, test)."""
    import pandas as pd

    frames = {}
    for name in ("truth", "external", "test"):
        frame = getattr(sim, name, None)
        if isinstance(frame, pd.DataFrame):
            frames[name] = frame
    return frames

"""``ipdma describe``: trials, arms, outcomes, missingness and the network."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_ipd_arguments, emit, ipd_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "describe", help="describe an IPD file: trials, arms, outcomes, missingness, network",
        description="Validate an IPD file and describe it: patients, events (binary) or mean "
                    "outcome (continuous) per arm, covariate missingness per trial and the "
                    "treatment network. For a time to event (--time COL --event COL): "
                    "patients, events, censored and median follow-up (reverse Kaplan-Meier) "
                    "per arm. With --out DIR, also writes the network plot (and Kaplan-Meier "
                    "curves per trial by arm) and an HTML report.")
    add_ipd_arguments(p, time_to_event=True)
    p.add_argument("--reference", default=None, help="reference treatment label")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="write network.png, tables and index.html to DIR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import describe

    ipd = ipd_from_args(args, reference=args.reference)
    desc = describe(ipd)
    payload = desc.to_dict()
    payload["dropped_rows"] = ipd.drop_report()
    if args.out:
        from ..report import Report

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        ax = desc.plot()
        ax.figure.savefig(out / "network.png", dpi=130, bbox_inches="tight")
        desc.to_frame().to_csv(out / "arms.csv", index=False)
        rep = Report("IPD description", subtitle=str(args.file))
        sec = rep.section("Data description")
        sec.html(desc.summary().as_html())
        drop = payload["dropped_rows"]
        sec.text(f"{drop['n_input']} rows read; {drop['n_dropped']} dropped with missing "
                 f"covariate values; {drop['n_used']} patients described.")
        if drop["n_dropped"]:
            sec.table(ipd.dropped_by_column, caption="Rows dropped per trial and covariate",
                      index=False)
        sec.figure(desc.plot(), caption="Treatment network: nodes sized by patients, "
                                        "edges by number of trials")
        files = {"network_plot": str(out / "network.png"), "arms": str(out / "arms.csv")}
        if desc.outcome_type == "survival":
            fig = desc.plot_km()
            fig.savefig(out / "km.png", dpi=130, bbox_inches="tight")
            sec.figure(fig, caption="Kaplan-Meier curves per trial by arm (ticks: censored)")
            files["km_plot"] = str(out / "km.png")
        import matplotlib.pyplot as plt

        plt.close("all")
        index = rep.write(out)
        payload["files"] = {**files, "report": str(index)}
    emit(args, text=str(desc.summary()), payload=payload)
    return 0

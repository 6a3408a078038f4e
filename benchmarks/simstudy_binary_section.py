"""Print the binary-outcome section of docs/simulation-study.md from a result store.

Run:  python benchmarks/simstudy_binary_section.py STORE

The store is made by ``ipdma simstudy run --outcome binary ...`` (the command is printed
in the section). Tables: mean over replicates of the median absolute error of the
predicted risk differences per scenario and method, the mean rank over scenarios, and
interval coverage split by linear / non-linear scenarios.
"""

from __future__ import annotations

import argparse

import numpy as np

from ipdma.datasets import ITE_SCENARIOS
from ipdma.simstudy import summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    args = ap.parse_args()
    res = summarize(args.store)
    ok = res.ok
    n_rep = ok.groupby(["scenario", "method"]).size()
    mae = res.table("mae")
    methods = list(mae.columns)
    print(f"Replicates per cell: {n_rep.min()}-{n_rep.max()}; {len(mae)} scenarios; "
          f"{len(methods)} methods; failed fits: {len(res.failures())}.\n")
    head = "| scenario | tau2 | EM | n | g(x) | " + " | ".join(methods) + " |"
    print(head)
    print("|" + "---|" * (5 + len(methods)))
    for sc, row in mae.iterrows():
        s = ITE_SCENARIOS.loc[int(sc)]
        best = row.min()
        cells = [f"**{v:.4f}**" if v == best else f"{v:.4f}" for v in row]
        print(f"| {sc} | {s.tau2:g} | {s.effect_modification} | {s.trial_size} | "
              f"{'non-lin' if s.nonlinear else 'linear'} | " + " | ".join(cells) + " |")
    ranks = res.ranks("mae").mean().sort_values()
    print(f"\nMean rank over the {len(mae)} scenarios with results (1 = smallest error): "
          + "; ".join(f"{m} {r:.2f}" for m, r in ranks.items()))
    ok = ok.assign(nonlinear=[bool(ITE_SCENARIOS.loc[int(s), "nonlinear"])
                              for s in ok["scenario"]])
    rows = []
    for m, g in ok.groupby("method"):
        r = {"method": m}
        for lin, gg in g.groupby("nonlinear"):
            tag = "non-linear" if lin else "linear"
            for k in ("coverage_ci", "coverage_pi"):
                if k in gg and gg[k].notna().any():
                    r[f"{k} ({tag})"] = f"{100 * np.nanmean(gg[k]):.1f}%"
        rows.append(r)
    keys = sorted({k for r in rows for k in r if k != "method"})
    print("\n| method | " + " | ".join(keys) + " |")
    print("|" + "---|" * (1 + len(keys)))
    for r in rows:
        print(f"| {r['method']} | " + " | ".join(r.get(k, "") for k in keys) + " |")


if __name__ == "__main__":
    main()

"""Point-by-point comparison of a simulation-study store with the conclusions of
Mainetti et al. (two-stage IPD-MA for individualised treatment effects).

Prints Markdown (tables and one line per conclusion) used in docs/simulation-study.md.

Usage:  python benchmarks/simstudy_paper_comparison.py RESULTS_DIR [--figures DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ipdma.datasets import ITE_SCENARIOS
from ipdma.simstudy import summarize

REGRESSION = ["ols+mvma", "ols+weighted-aux-ols", "ols+weighted-bootstrap"]
SHRINKAGE = ["lasso+weighted-aux-ols", "ridge+weighted-aux-ols", "elasticnet+weighted-aux-ols"]
ML_AUX = ["xgboost+weighted-aux-ols", "sklearn-s+weighted-aux-ols", "sklearn-t+weighted-aux-ols"]
ML_BOOT = ["xgboost+weighted-bootstrap", "sklearn-s+weighted-bootstrap",
           "sklearn-t+weighted-bootstrap"]
FREQ_BAYES = [("ols+mvma", "bayes-lm+bayes-mvma"), ("ols+weighted-aux-ols",
                                                    "bayes-lm+weighted-aux-ols"),
              ("lasso+weighted-aux-ols", "bayes-lasso+weighted-aux-ols")]


def _md(df: pd.DataFrame, fmt: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([df.index.name or "", *cols]) + " |",
             "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        cells = [fmt.format(v) if isinstance(v, (float, np.floating)) and np.isfinite(v)
                 else ("" if isinstance(v, float) else str(v)) for v in row]
        lines.append("| " + " | ".join([str(idx), *cells]) + " |")
    return "\n".join(lines)


def _best(tab: pd.DataFrame, methods: list[str]) -> pd.Series:
    cols = [m for m in methods if m in tab.columns]
    return tab[cols].min(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--figures", default=None, help="write mae.png and ranks.png here")
    args = ap.parse_args()

    res = summarize(args.store)
    mae = res.table("mae")
    mae.index = mae.index.astype(int)
    mae = mae.sort_index()
    n = res.table("mae", "n")
    sc = ITE_SCENARIOS.loc[mae.index]
    print(f"Replicates per scenario: {int(n.min().min())}-{int(n.max().max())}; "
          f"methods: {mae.shape[1]}; failed fits: {len(res.failures())}\n")
    print("### Mean MAE of the ITE by scenario and method\n")
    print(_md(mae.T.rename_axis("method")))
    mcse = res.table("mae", "sd") / np.sqrt(n)
    print(f"\nMonte Carlo standard error of a cell of this table (sd over replicates / "
          f"sqrt(replicates)): median {np.nanmedian(mcse.to_numpy()):.3f}, "
          f"max {np.nanmax(mcse.to_numpy()):.3f}.")
    print("\n### Mean rank over scenarios (1 = lowest MAE)\n")
    ranks = res.ranks("mae").mean().sort_values().to_frame("mean rank")
    print(_md(ranks.rename_axis("method"), "{:.2f}"))

    linear = sc.index[~sc["nonlinear"]]
    nonlin_large = sc.index[sc["nonlinear"] & (sc["trial_size"] == "large")]
    nonlin_small = sc.index[sc["nonlinear"] & (sc["trial_size"] == "small")]
    reg = _best(mae, REGRESSION)
    ml = _best(mae, ML_AUX + ML_BOOT)
    print("\n### The paper's conclusions, checked\n")
    w = (ml[nonlin_large] < reg[nonlin_large]).mean()
    print(f"1. ML beats regression with complex interactions and large trials: best ML < best "
          f"regression in {w:.0%} of the non-linear large-trial scenarios "
          f"({', '.join(map(str, nonlin_large))}); mean MAE {ml[nonlin_large].mean():.3f} vs "
          f"{reg[nonlin_large].mean():.3f}. In non-linear small-trial scenarios: "
          f"{(ml[nonlin_small] < reg[nonlin_small]).mean():.0%} "
          f"({ml[nonlin_small].mean():.3f} vs {reg[nonlin_small].mean():.3f}).")
    w = (reg[linear] < ml[linear]).mean()
    print(f"2. Regression wins under linear effect modification: best regression < best ML in "
          f"{w:.0%} of linear scenarios; mean MAE {reg[linear].mean():.3f} vs "
          f"{ml[linear].mean():.3f}.")
    pairs = [(a, b) for a, b in zip(ML_AUX, ML_BOOT) if a in mae and b in mae]
    wins = [(mae[a] < mae[b]).mean() for a, b in pairs]
    detail = "; ".join(f"{a.split('+')[0]}: {x:.0%}" for (a, _), x in zip(pairs, wins))
    print(f"3. Auxiliary-OLS weights beat bootstrap weights for ML: share of scenarios where "
          f"aux-OLS has the lower MAE — {detail}.")
    diffs = [(f, b, (mae[f] - mae[b]).abs().mean(), (mae[f] - mae[b]).mean())
             for f, b in FREQ_BAYES if f in mae and b in mae]
    detail = "; ".join(f"{f} vs {b}: mean |diff| {d:.3f} (signed {s:+.3f})"
                       for f, b, d, s in diffs)
    print(f"4. Frequentist ~ Bayesian: {detail}.")
    sh = _best(mae, SHRINKAGE)
    ols = mae["ols+weighted-aux-ols"]
    print(f"5. Shrinkage gives modest gains: best shrinkage learner vs OLS (aux-OLS pooling) — "
          f"mean MAE {sh.mean():.3f} vs {ols.mean():.3f}; shrinkage lower in "
          f"{(sh < ols).mean():.0%} of scenarios, largest gain {(ols - sh).max():.3f}.")
    long = res.ok
    print("\n### Paired differences in MAE (same data sets), mean over all scenario-"
          "replicates ± Monte Carlo SE\n")
    print("| comparison | mean difference | SE | first lower in |")
    print("|---|---|---|---|")
    wide = long.pivot_table(index=["scenario", "replicate"], columns="method", values="mae")
    comps = [*zip(ML_AUX, ML_BOOT), *FREQ_BAYES,
             *[(m, "ols+weighted-aux-ols") for m in SHRINKAGE]]
    for a, b in comps:
        if a in wide and b in wide:
            d = (wide[a] - wide[b]).dropna()
            print(f"| {a} − {b} | {d.mean():+.4f} | {d.std(ddof=1) / np.sqrt(len(d)):.4f} | "
                  f"{(d < 0).mean():.0%} of {len(d)} |")
    kind = long["scenario"].astype(int).map(
        lambda i: "non-linear" if sc.loc[i, "nonlinear"] else "linear")
    cov = long.assign(em=kind).groupby(["method", "em"])[
        ["coverage_ci", "coverage_pi", "width_ci", "width_pi"]].mean().unstack("em")
    cov.columns = [f"{a} ({b})" for a, b in cov.columns]
    cov = cov.dropna(how="all").sort_index()
    if len(cov):
        print("\n### Interval coverage of the true ITE of new-trial patients (nominal 95%), "
              "mean over cells, by kind of effect modification\n")
        print(_md(cov.rename_axis("method")))
    if args.figures:
        out = Path(args.figures)
        out.mkdir(parents=True, exist_ok=True)
        ax = res.plot("mae")
        ax.figure.set_size_inches(16, 5)
        ax.figure.savefig(out / "simstudy_mae.png", dpi=110, bbox_inches="tight")
        ax = res.plot("ranks")
        ax.figure.savefig(out / "simstudy_ranks.png", dpi=110, bbox_inches="tight")
        print(f"\nfigures written to {out}")


if __name__ == "__main__":
    main()

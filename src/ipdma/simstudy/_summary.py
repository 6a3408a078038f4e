"""Summaries of a finished (or partly finished) simulation study."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._base import Summary
from ..errors import ModelSpecificationError
from ._metrics import METRICS
from ._store import ResultStore

__all__ = ["SimulationResults", "summarize"]


class SimulationResults:
    """Results of a simulation study, one row per (scenario, replicate, method).

    Examples
    --------
    >>> res = summarize("results/")  # doctest: +SKIP
    >>> res.table("mae")             # scenarios x methods, mean over replicates  # doctest: +SKIP
    >>> res.plot("mae")              # doctest: +SKIP
    """

    def __init__(self, results: pd.DataFrame, config: dict | None = None) -> None:
        self.results = results
        self.config = config or {}

    @classmethod
    def from_store(cls, store: ResultStore | str | Path) -> SimulationResults:
        if not isinstance(store, ResultStore):
            store = ResultStore(store, _detect_format(Path(store)))
        return cls(store.load(), store.read_config())

    # -- tables --------------------------------------------------------------
    @property
    def ok(self) -> pd.DataFrame:
        """Rows of methods that ran without error."""
        return self.results[self.results["error"].fillna("") == ""]

    def failures(self) -> pd.DataFrame:
        """Rows of methods that failed, with their error messages."""
        return self.results[self.results["error"].fillna("") != ""][
            ["scenario", "replicate", "method", "error"]]

    def table(self, metric: str = "mae", stat: str = "mean") -> pd.DataFrame:
        """Scenario x method table of ``metric`` summarised over replicates.

        ``stat`` is "mean", "median", "sd" or "n".
        """
        known = [*METRICS, "fit_time", *self.extra_metrics]
        if metric not in known:
            raise ModelSpecificationError(f"unknown metric {metric!r}; choose from {known}")
        agg = {"mean": "mean", "median": "median", "sd": "std", "n": "count"}.get(stat)
        if agg is None:
            raise ModelSpecificationError(f"stat must be mean, median, sd or n, not {stat!r}")
        tab = self.ok.pivot_table(index="scenario", columns="method", values=metric,
                                  aggfunc=agg, sort=False)
        order = sorted(tab.index, key=lambda s: (float(s) if str(s).isdigit() else np.inf,
                                                 str(s)))
        return tab.loc[order]

    @property
    def extra_metrics(self) -> list[str]:
        """Scenario-specific metric columns (a treatment network: ``best_correct`` and
        ``<metric>[<j>_vs_<k>]`` per contrast)."""
        base = {"scenario", "replicate", "method", "learner", "pooler", "fit_time", "error",
                *METRICS}
        return [c for c in self.results.columns if c not in base]

    def contrast_table(self, metric: str = "bias", stat: str = "mean") -> pd.DataFrame:
        """Treatment networks: (scenario, contrast) x method table of a per-contrast
        ``metric`` (``bias``, ``rmse``, ``mae``, ``coverage_ci``, ``coverage_pi``)
        summarised over replicates.

        Examples
        --------
        >>> res = summarize("results/")        # doctest: +SKIP
        >>> res.contrast_table("coverage_ci")  # doctest: +SKIP
        """
        cols = [c for c in self.extra_metrics if c.startswith(f"{metric}[")]
        if not cols:
            raise ModelSpecificationError(
                f"no per-contrast {metric!r} in these results (they come from the "
                "treatment-network scenarios, --outcome network)")
        parts = []
        for c in cols:
            tab = self.table(c, stat)
            tab.insert(0, "contrast", c[len(metric) + 1:-1])
            parts.append(tab.reset_index())
        out = pd.concat(parts, ignore_index=True)
        key = pd.to_numeric(out["scenario"], errors="coerce")
        out = out.assign(_k=key).sort_values(["_k", "scenario", "contrast"], kind="stable")
        return out.drop(columns="_k").set_index(["scenario", "contrast"])

    def ranks(self, metric: str = "mae") -> pd.DataFrame:
        """Rank of each method within each scenario (1 = lowest mean ``metric``)."""
        return self.table(metric).rank(axis=1, method="min")

    def to_frame(self) -> pd.DataFrame:
        """The long results table."""
        return self.results.copy()

    def summary(self, metric: str = "mae") -> Summary:
        tab = self.table(metric)
        mean_rank = self.ranks(metric).mean().sort_values()
        info = {
            "scenarios": self.results["scenario"].nunique(),
            "methods": self.results["method"].nunique(),
            "replicates per cell (max)": int(self.results.groupby(["scenario", "method"])
                                             ["replicate"].nunique().max()),
            "failed fits": len(self.failures()),
            "seed": self.config.get("seed", "?"),
        }
        ranking = pd.DataFrame({"mean rank": mean_rank,
                                f"mean {metric}": tab.mean()[mean_rank.index]})
        tables = {f"{metric} (mean over replicates)": tab, "overall ranking": ranking}
        if "best_correct" in self.extra_metrics:      # treatment networks
            tables["share of correct best-treatment calls (mean)"] = self.table("best_correct")
            for m in ("bias", "rmse", "coverage_ci"):
                tables[f"{m} per contrast (mean)"] = self.contrast_table(m)
        return Summary(f"Simulation study: {metric} by scenario and method",
                       tables=tables, info=info)

    # -- plots -----------------------------------------------------------------
    def plot(self, kind: str = "mae", ax=None):
        """``kind="mae"`` (or any metric): distribution per method and scenario;
        ``kind="ranks"``: heat-map of method ranks by scenario."""
        if kind == "ranks":
            return self._plot_ranks(ax)
        return self._plot_metric(kind, ax)

    def _plot_metric(self, metric: str, ax=None):
        from ..plots import color_for, get_ax

        df = self.ok
        scen = list(self.table(metric).index)
        methods = sorted(df["method"].unique())
        ax = get_ax(ax, figsize=(max(6.0, 0.9 * len(scen) * max(1, len(methods)) ** 0.5 + 2),
                                 4.8))
        width = 0.8 / max(len(methods), 1)
        for j, m in enumerate(methods):
            data = [df.loc[(df["scenario"] == s) & (df["method"] == m), metric].dropna().values
                    for s in scen]
            pos = np.arange(len(scen)) + (j - (len(methods) - 1) / 2) * width
            keep = [i for i, d in enumerate(data) if len(d)]
            if not keep:
                continue
            bp = ax.boxplot([data[i] for i in keep], positions=pos[keep], widths=width * 0.9,
                            patch_artist=True, showfliers=False, manage_ticks=False)
            for box in bp["boxes"]:
                box.set_facecolor(color_for(j))
                box.set_alpha(0.75)
            ax.plot([], [], color=color_for(j), lw=6, label=m)
        ax.set_xticks(np.arange(len(scen)))
        ax.set_xticklabels(scen)
        ax.set_xlabel("scenario")
        ax.set_ylabel(metric)
        ax.legend(fontsize="small", ncol=2 if len(methods) > 6 else 1, frameon=False)
        ax.set_title(f"{metric} over replicates, by scenario and method")
        return ax

    def _plot_ranks(self, ax=None):
        from ..plots import get_ax

        ranks = self.ranks("mae")
        ax = get_ax(ax, figsize=(1.0 + 0.55 * ranks.shape[1], 1.0 + 0.35 * ranks.shape[0]))
        im = ax.imshow(ranks.values, cmap="viridis_r", aspect="auto")
        ax.set_xticks(range(ranks.shape[1]))
        ax.set_xticklabels(ranks.columns, rotation=60, ha="right", fontsize="small")
        ax.set_yticks(range(ranks.shape[0]))
        ax.set_yticklabels(ranks.index)
        ax.set_ylabel("scenario")
        for i in range(ranks.shape[0]):
            for j in range(ranks.shape[1]):
                v = ranks.values[i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                            color="white" if v < ranks.shape[1] / 2 else "black")
        ax.figure.colorbar(im, ax=ax, label="rank of the mean median absolute error (1 = best)")
        ax.set_title("Method ranks by scenario")
        return ax

    def write_report(self, out_dir: str | Path) -> Path:
        """Write tables (CSV) and an HTML report with figures to ``out_dir``."""
        from ..report import Report

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.results.to_csv(out / "results.csv", index=False)
        rep = Report("Simulation study")
        sec = rep.section("Results by scenario and method")
        sec.html(self.summary().as_html())
        for metric in ("mae", "bias", "rmse", "coverage_pi"):
            tab = self.table(metric)
            tab.to_csv(out / f"table_{metric}.csv")
            if tab.notna().any().any():
                sec.table(tab, caption=f"{metric}: mean over replicates")
        if "best_correct" in self.extra_metrics:      # treatment networks
            tab = self.table("best_correct")
            tab.to_csv(out / "table_best_correct.csv")
            sec.table(tab, caption="share of correct best-treatment calls: mean over "
                                   "replicates")
            for m in ("bias", "rmse", "coverage_ci"):
                tab = self.contrast_table(m)
                tab.to_csv(out / f"table_{m}_per_contrast.csv")
                sec.table(tab, caption=f"{m} per contrast: mean over replicates")
        sec.figure(self.plot("mae"), caption="Median absolute error of the ITE per replicate")
        sec.figure(self.plot("ranks"), caption="Ranks of methods by mean median absolute error within scenario")
        fails = self.failures()
        if len(fails):
            sec.table(fails.head(50), caption=f"{len(fails)} failed fits (first 50)", index=False)
        return rep.write(out)


def _detect_format(path: Path) -> str:
    cells = path / "cells"
    if cells.is_dir() and any(cells.rglob("*.csv")):
        return "csv"
    return "parquet"


def summarize(path: str | Path) -> SimulationResults:
    """Load the results stored in ``path`` (finished cells only).

    Examples
    --------
    >>> import shutil, tempfile
    >>> from ipdma.simstudy import SimulationStudy, ite_methods, ite_scenarios, summarize
    >>> folder = tempfile.mkdtemp()
    >>> study = SimulationStudy(ite_scenarios("1-2", n_test_per_trial=20),
    ...                         ite_methods("ols+mvma"), n_reps=2, seed=1)
    >>> _ = study.run(folder, progress=False)
    >>> res = summarize(folder)
    >>> res.results.shape, len(res.failures())
    ((4, 15), 0)
    >>> res.table("mae").shape                    # scenarios x methods
    (2, 1)
    >>> res.table("mae", stat="n").astype(int).values.ravel().tolist()  # replicates per cell
    [2, 2]
    >>> shutil.rmtree(folder)
    """
    return SimulationResults.from_store(path)

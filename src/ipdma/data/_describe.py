"""``describe(ipd)``: per-arm outcome table, covariate missingness and the network."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from ._ipd import IPD, outcome_summary
from ._network import Network

__all__ = ["Description", "describe"]

if TYPE_CHECKING:   # matplotlib is imported only when plotting
    from matplotlib.axes import Axes


def _jsonable(v: object) -> object:
    """Plain Python value for JSON: NaN/NA -> None, numpy scalars -> Python."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) or math.isinf(v) else float(v)
    return str(v) if not isinstance(v, str) else v


def _records(df: pd.DataFrame) -> list[dict]:
    return [_jsonable(r) for r in df.to_dict(orient="records")]  # type: ignore[misc]


class Description(ResultsMixin):
    """What :func:`describe` returns.

    Attributes
    ----------
    arms : pandas.DataFrame
        One row per trial x arm: ``trial``, ``treatment``, ``n`` and, for a
        binary outcome, ``events`` and ``risk``; for a continuous one ``mean``
        and ``sd``; for a time to event ``events``, ``censored``,
        ``prop_censored``, ``median_followup`` (reverse Kaplan-Meier),
        ``median_survival`` (Kaplan-Meier; NaN when S stays above 0.5) and
        ``last_followup`` (see also :meth:`plot_km`).
    missingness : pandas.DataFrame
        Missing covariate values per trial in the input data (before
        complete-case dropping): ``trial``, ``covariate``, ``n_missing``,
        ``n_rows``, ``prop_missing``.
    dropped : pandas.DataFrame
        Rows dropped per trial and why (``IPD.dropped``).
    network : Network
        The treatment network; ``network.edges`` lists the direct comparisons.

    Examples
    --------
    >>> from ipdma.data import describe
    >>> from ipdma.datasets import make_ms_network
    >>> sim = make_ms_network(300, random_state=1, missing=False)
    >>> desc = describe(sim.ipd())
    >>> desc
    Description(300 patients, 3 trials, 4 treatments)
    >>> desc.arms.columns.tolist()
    ['trial', 'treatment', 'n', 'events', 'risk']
    >>> desc.arms["n"].tolist()
    [69, 34, 59, 29, 30, 53, 26]
    >>> desc.network.is_connected, desc.network.multi_arm_trials
    (True, ['S2'])
    >>> info = desc.to_dict()  # JSON-ready, as ``ipdma describe --json``
    >>> info["reference"], info["outcome_type"]
    ('PBO', 'binary')
    """

    def __init__(self, ipd: IPD) -> None:
        self.outcome_col = ipd.outcome_col
        self.outcome_type = ipd.outcome_type
        self.reference = ipd.reference
        self.covariates = list(ipd.covariate_cols)
        self.n_patients = ipd.n_patients
        self.trials = list(ipd.trials)
        self.treatments = list(ipd.treatments)
        if ipd.outcome_type == "survival":
            arms = _survival_arms(ipd)
            self.time_col = ipd.time_col
            self._surv = (ipd.trial, ipd.treatment, ipd.time, ipd.y)
        else:
            arms = outcome_summary(pd.Series(ipd.y).groupby([ipd.trial, ipd.treatment],
                                                            sort=True), ipd.outcome_type)
        arms.index.names = ["trial", "treatment"]
        self.arms = arms.reset_index()
        self.missingness = ipd.missingness.copy()
        self.dropped = ipd.dropped.copy()
        self.network: Network = ipd.network
        self._header = ipd._header_info()

    def to_frame(self) -> pd.DataFrame:
        """The trial x arm table."""
        return self.arms.copy()

    def missingness_table(self) -> pd.DataFrame:
        """Missing counts as a trial x covariate table."""
        if not len(self.missingness):
            return pd.DataFrame(index=pd.Index(self.trials, name="trial"))
        wide = self.missingness.pivot(index="trial", columns="covariate", values="n_missing")
        wide = wide.reindex(columns=[c for c in self.covariates if c in wide.columns])
        wide.insert(0, "n_rows", self.missingness.groupby("trial")["n_rows"].first())
        wide.columns.name = None
        return wide

    def summary(self) -> Summary:
        """Arms, covariate missingness and network edges as a :class:`~ipdma._base.Summary`."""
        net = self.network
        info: dict[str, object] = {
            **self._header,
            "Network": "connected" if net.is_connected else
                       f"disconnected: {net.components_text()}",
        }
        tables = {"Arms": self.arms.set_index(["trial", "treatment"])}
        notes = []
        if len(self.missingness):
            miss = self.missingness_table()
            any_missing = [c for c in miss.columns[1:] if miss[c].sum() > 0]
            if any_missing:
                tables["Missing covariate values per trial (input data)"] = (
                    miss[["n_rows", *any_missing]])
                complete = [c for c in self.covariates if c not in any_missing]
                if complete:
                    notes.append("Complete covariates: " + ", ".join(map(str, complete)) + ".")
            else:
                notes.append("No missing covariate values.")
        tables["Network edges"] = net.to_frame()
        n_drop = int(self.dropped["n_dropped"].sum()) if len(self.dropped) else 0
        if n_drop:
            notes.append(f"{n_drop} rows with missing covariates were dropped (complete cases).")
        return Summary("IPD description", tables=tables, info=info, notes=notes)

    def to_dict(self) -> dict:
        """Everything as plain JSON-ready Python objects (``ipdma describe --json``)."""
        net = self.network
        edges = net.edges.copy()
        return _jsonable({
            "n_patients": self.n_patients,
            "outcome": self.outcome_col,
            "outcome_type": self.outcome_type,
            "reference": self.reference,
            "trials": self.trials,
            "treatments": self.treatments,
            "covariates": self.covariates,
            "arms": _records(self.arms),
            "missingness": _records(self.missingness),
            "dropped": _records(self.dropped),
            "network": {
                "is_connected": net.is_connected,
                "components": net.components,
                "multi_arm_trials": net.multi_arm_trials,
                "edges": _records(edges),
            },
        })  # type: ignore[return-value]

    def plot(self, ax: Axes | None = None) -> Axes:
        """The treatment network (see :meth:`Network.plot`)."""
        return self.network.plot(ax=ax)

    def plot_km(self, axes=None, ncols: int = 3):
        """Kaplan-Meier curves by arm, one panel per trial (time-to-event outcomes).

        Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt

        from ..errors import OutcomeError
        from ..plots import color_for
        from ..survival import kaplan_meier

        if self.outcome_type != "survival":
            raise OutcomeError(f"Kaplan-Meier plots need a time-to-event outcome; "
                               f"{self.outcome_col!r} is {self.outcome_type}")
        trial, treat, time, event = self._surv
        trials = self.trials
        ncols = max(1, min(ncols, len(trials)))
        nrows = -(-len(trials) // ncols)
        if axes is None:
            fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows),
                                     squeeze=False, sharey=True)
            axes = axes.ravel()
        else:
            axes = np.atleast_1d(axes).ravel()
            fig = axes[0].figure
        colours = {t: color_for(k) for k, t in enumerate(self.treatments)}
        for ax, tr in zip(axes, trials):
            for arm in sorted(pd.unique(treat[trial == tr]).tolist(),
                              key=self.treatments.index):
                m = (trial == tr) & (treat == arm)
                km = kaplan_meier(time[m], event[m])
                ax.step(np.r_[0.0, km.time], np.r_[1.0, km.surv], where="post",
                        color=colours[arm], label=f"{arm} (n={int(m.sum())})")
                cens = km.n_censor > 0
                ax.plot(km.time[cens], km.surv[cens], "|", color=colours[arm], ms=4)
            ax.set_title(f"trial {tr}", fontsize=9)
            ax.set_ylim(0, 1.02)
            ax.set_xlabel(self.time_col)
            ax.legend(frameon=False, fontsize=7)
        for ax in axes[len(trials):]:
            ax.set_visible(False)
        for ax in axes[::ncols]:
            ax.set_ylabel("Kaplan-Meier survival")
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        return (f"Description({self.n_patients} patients, {len(self.trials)} trials, "
                f"{len(self.treatments)} treatments)")


def _survival_arms(ipd: IPD) -> pd.DataFrame:
    """Per trial and arm: patients, events, censored (count and share), median
    follow-up (reverse Kaplan-Meier) and the Kaplan-Meier median survival."""
    from ..survival import kaplan_meier, median_followup

    df = pd.DataFrame({"trial": ipd.trial, "treatment": ipd.treatment, "t": ipd.time,
                       "e": ipd.y})
    g = df.groupby(["trial", "treatment"], sort=True)
    out = pd.DataFrame({"n": g.size().astype(np.int64),
                        "events": g["e"].sum().astype(np.int64)})
    out["censored"] = out["n"] - out["events"]
    out["prop_censored"] = out["censored"] / out["n"]
    out["median_followup"] = [median_followup(s["t"], s["e"]) for _, s in g]
    out["median_survival"] = [kaplan_meier(s["t"], s["e"]).median() for _, s in g]
    out["last_followup"] = g["t"].max()
    return out


def describe(ipd: IPD) -> Description:
    """Describe an IPD: per-arm outcomes, covariate missingness and the network.

    Parameters
    ----------
    ipd : IPD

    Returns
    -------
    Description
        With ``.summary()``, ``.to_frame()`` (the trial x arm table),
        ``.to_dict()`` (JSON-ready) and ``.plot(ax=None)`` (the network).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": ["a"] * 4 + ["b"] * 4, "trt": ["P", "D"] * 4,
    ...                    "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 9.0]})
    >>> describe(IPD(df, trial="t", treatment="trt", outcome="y")).to_frame()["mean"].tolist()
    [3.0, 2.0, 7.5, 6.0]
    """
    return Description(ipd)

"""The treatment network: which treatments are compared in which trials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary
from ..errors import ModelSpecificationError, NetworkError

__all__ = ["Network"]

if TYPE_CHECKING:   # matplotlib is imported only when plotting
    from matplotlib.axes import Axes


class Network(ResultsMixin):
    """Treatment network of a set of trials.

    Nodes are treatments; two treatments are joined by an edge when at least one
    trial randomised patients to both.  A multi-arm trial contributes an edge for
    every pair of its arms.

    Parameters
    ----------
    arms : mapping of str to sequence of str
        Trial label -> treatment labels of its arms.  A single-arm trial adds a
        node but no edge.
    n_patients : mapping of (trial, treatment) to int, optional
        Patients per arm, used for node sizes and the ``n_patients`` columns.

    Attributes
    ----------
    treatments : list of str
        Sorted treatment labels.
    trials : list of str
        Sorted trial labels.
    edges : pandas.DataFrame
        One row per compared pair: ``treatment_a``, ``treatment_b`` (sorted so
        that a < b), ``n_trials``, ``n_patients`` (patients in those two arms of
        those trials) and ``trials`` (list of trial labels).
    nodes : pandas.DataFrame
        One row per treatment: ``treatment``, ``n_trials``, ``n_patients``.
    components : list of list of str
        Connected components (each sorted), largest first.
    is_connected : bool
        Whether every treatment can be reached from every other one.
    multi_arm_trials : list of str
        Trials with three or more arms.

    Examples
    --------
    >>> net = Network({"t1": ["A", "B"], "t2": ["A", "B", "C"], "t3": ["C", "D"]})
    >>> net.is_connected, net.multi_arm_trials
    (True, ['t2'])
    >>> net.edges[["treatment_a", "treatment_b", "n_trials"]].values.tolist()
    [['A', 'B', 2], ['A', 'C', 1], ['B', 'C', 1], ['C', 'D', 1]]
    """

    def __init__(self, arms: Mapping[str, Sequence[str]],
                 n_patients: Mapping[tuple[str, str], int] | None = None) -> None:
        self.arms = {str(t): sorted({str(a) for a in tr}) for t, tr in arms.items()}
        self.trials = sorted(self.arms)
        self.treatments = sorted({a for tr in self.arms.values() for a in tr})
        sizes = None if n_patients is None else {
            (str(t), str(a)): int(n) for (t, a), n in n_patients.items()}

        pairs: dict[tuple[str, str], list[str]] = {}
        for t in self.trials:
            for a, b in combinations(self.arms[t], 2):
                pairs.setdefault((a, b), []).append(t)
        rows = []
        for (a, b), trials in sorted(pairs.items()):
            n = (sum(sizes.get((t, a), 0) + sizes.get((t, b), 0) for t in trials)
                 if sizes is not None else pd.NA)
            rows.append((a, b, len(trials), n, trials))
        self.edges = pd.DataFrame(
            rows, columns=["treatment_a", "treatment_b", "n_trials", "n_patients", "trials"])
        self.edges["n_trials"] = self.edges["n_trials"].astype(np.int64)
        self.edges["n_patients"] = self.edges["n_patients"].astype("Int64")

        node_trials = {k: 0 for k in self.treatments}
        node_pat: dict[str, int] = {k: 0 for k in self.treatments}
        for t, tr in self.arms.items():
            for a in tr:
                node_trials[a] += 1
                if sizes is not None:
                    node_pat[a] += sizes.get((t, a), 0)
        self.nodes = pd.DataFrame({
            "treatment": self.treatments,
            "n_trials": [node_trials[k] for k in self.treatments],
            "n_patients": pd.array([node_pat[k] if sizes is not None else pd.NA
                                    for k in self.treatments], dtype="Int64"),
        })
        self.components = self._components(pairs)
        self.is_connected = len(self.components) <= 1
        self.multi_arm_trials = [t for t in self.trials if len(self.arms[t]) >= 3]

    def _components(self, pairs: Mapping[tuple[str, str], list[str]]) -> list[list[str]]:
        parent = {k: k for k in self.treatments}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b in pairs:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        groups: dict[str, list[str]] = {}
        for k in self.treatments:
            groups.setdefault(find(k), []).append(k)
        return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))

    # ------------------------------------------------------------------ checks

    def components_text(self) -> str:
        """Components as text: ``{A, B} | {C, D}`` with the trials of each."""
        parts = []
        for comp in self.components:
            members = set(comp)
            trials = [t for t in self.trials if set(self.arms[t]) & members]
            parts.append("{" + ", ".join(comp) + "} (trials " + ", ".join(trials) + ")")
        return " | ".join(parts)

    def check_connected(self) -> Network:
        """Raise :class:`~ipdma.errors.NetworkError` unless the network is connected.

        Returns
        -------
        Network
            ``self``, so the call can be chained.

        Examples
        --------
        >>> Network({"t1": ["A", "B"], "t2": ["B", "C"]}).check_connected().is_connected
        True
        """
        if not self.is_connected:
            raise NetworkError(
                f"the treatment network is disconnected: {len(self.components)} components "
                f"{self.components_text()}. Relative effects between treatments in different "
                "components cannot be estimated; analyse each component separately "
                "(ipd.subset(trials=...)) or add trials that link them."
            )
        return self

    # ------------------------------------------------------------------ results protocol

    def to_frame(self) -> pd.DataFrame:
        """The edges as a flat table (``trials`` joined into a ``"; "`` string)."""
        out = self.edges.copy()
        out["trials"] = out["trials"].map("; ".join)
        return out

    def summary(self) -> Summary:
        """Treatments, edges and connectedness as a printable :class:`~ipdma._base.Summary`."""
        info: dict[str, object] = {
            "Treatments": len(self.treatments),
            "Trials": len(self.trials),
            "Direct comparisons (edges)": len(self.edges),
            "Multi-arm trials": ", ".join(self.multi_arm_trials) or "none",
            "Connected": "yes" if self.is_connected else f"no ({len(self.components)} components)",
        }
        notes = [] if self.is_connected else [f"Components: {self.components_text()}"]
        return Summary("Treatment network",
                       tables={"Nodes": self.nodes.set_index("treatment"),
                               "Edges": self.to_frame()},
                       info=info, notes=notes)

    def __repr__(self) -> str:
        conn = "connected" if self.is_connected else f"{len(self.components)} components"
        return (f"Network({len(self.treatments)} treatments, {len(self.trials)} trials, "
                f"{len(self.edges)} edges, {conn})")

    def plot(self, ax: Axes | None = None,
             node_size_by: Literal["patients", "trials"] | None = "patients") -> Axes:
        """Draw the network on a circle.

        Node area is proportional to the number of patients (or trials) on that
        treatment; edge width to the number of trials making the comparison,
        which is also written on the edge.  Treatments in different components
        are not joined.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure is made when None.
        node_size_by : {"patients", "trials", None}
            What node areas show; None draws equal nodes.

        Returns
        -------
        matplotlib.axes.Axes

        Examples
        --------
        >>> ax = Network({"t1": ["A", "B"], "t2": ["B", "C"]}).plot(node_size_by="trials")
        """
        from ..plots import color_for, get_ax

        if node_size_by not in ("patients", "trials", None):
            raise ModelSpecificationError(
                f"node_size_by must be 'patients', 'trials' or None, not {node_size_by!r}.")
        ax = get_ax(ax, figsize=(5.5, 5.5))
        k = len(self.treatments)
        theta = np.pi / 2 - 2 * np.pi * np.arange(k) / max(k, 1)
        radius = 1.0 if k > 1 else 0.0
        pos = {t: (radius * np.cos(a), radius * np.sin(a))
               for t, a in zip(self.treatments, theta)}

        if len(self.edges):
            w = self.edges["n_trials"].to_numpy(dtype=float)
            widths = 1.0 + 7.0 * (w / w.max())
            for (a, b, n), lw in zip(self.edges[["treatment_a", "treatment_b", "n_trials"]]
                                     .itertuples(index=False), widths):
                (x0, y0), (x1, y1) = pos[a], pos[b]
                ax.plot([x0, x1], [y0, y1], color="0.55", lw=lw, solid_capstyle="round",
                        zorder=1)
                ax.text((x0 + x1) / 2, (y0 + y1) / 2, str(n), ha="center", va="center",
                        fontsize=8, zorder=3,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none"})

        if node_size_by == "trials":
            size = self.nodes["n_trials"].to_numpy(dtype=float)
        elif node_size_by == "patients" and not self.nodes["n_patients"].isna().any():
            size = self.nodes["n_patients"].to_numpy(dtype=float)
        else:
            size = np.ones(k)
        size = 150.0 + 1350.0 * size / size.max() if k and size.max() > 0 else np.full(k, 400.0)
        comp_of = {t: i for i, comp in enumerate(self.components) for t in comp}
        xy = np.array([pos[t] for t in self.treatments]).reshape(-1, 2)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, zorder=2, edgecolors="white", linewidths=1.5,
                   c=[color_for(comp_of[t]) for t in self.treatments])
        for t, (x, y), s in zip(self.treatments, xy, size):
            r = np.hypot(x, y)
            ux, uy = (x / r, y / r) if r > 0 else (0.0, 1.0)
            off = np.sqrt(s / np.pi) + 4.0  # marker radius in points, plus a gap
            ax.annotate(t, (x, y), xytext=(ux * off, uy * off), textcoords="offset points",
                        ha="left" if ux > 0.3 else "right" if ux < -0.3 else "center",
                        va="bottom" if uy > 0.3 else "top" if uy < -0.3 else "center",
                        fontsize=10)
        lim = 1.45
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axis("off")
        what = {"patients": "patients", "trials": "trials", None: ""}[node_size_by]
        caption = "edge width & label: trials"
        if what:
            caption = f"node area: {what}; " + caption
        ax.set_title("Treatment network" + ("" if self.is_connected else " (disconnected)"))
        ax.text(0.5, 0.0, caption, transform=ax.transAxes, ha="center", va="bottom",
                fontsize=8, color="0.35")
        return ax

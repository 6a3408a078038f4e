"""The container every generator in :mod:`ipdma.datasets` returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._base import Summary

if TYPE_CHECKING:  # pragma: no cover
    from ..data import IPD

__all__ = ["SimulatedIPD"]


@dataclass(repr=False)
class SimulatedIPD:
    """Simulated individual participant data together with the truth behind them.

    Parameters
    ----------
    name : str
        Registry name of the generator (``"ms"``, ``"ite"``, ``"lbp"``).
    data : pandas.DataFrame
        The observable data, one row per patient, as an analyst would receive them
        (may contain missing covariate values where the generator says so).
    truth : pandas.DataFrame
        Per-patient truth, aligned row for row with ``data`` (same index, same
        patient-id column): true risks, true treatment effects, subgroup membership...
    params : dict
        The true parameters of the data-generating mechanism, including every random
        quantity drawn once per data set (trial intercepts, trial treatment effects,
        cut-points...).
    columns : dict
        Column roles: ``trial``, ``treatment``, ``outcome``, ``covariates`` (list) and
        ``patient_id``; they are passed to :class:`ipdma.data.IPD` by :meth:`ipd`.
    description : str
        One-paragraph description of the mechanism.
    ipd_options : dict
        Further default keyword arguments for :class:`ipdma.data.IPD` (e.g.
        ``reference``, ``outcome_type``).
    extra : dict of str to DataFrame
        Additional frames named by the generator, reachable as attributes too
        (``sim.external`` for ``make_ms_network``, ``sim.test`` for
        ``make_ite_continuous``).

    Examples
    --------
    >>> from ipdma.datasets import simulate
    >>> sim = simulate("lbp", seed=1)
    >>> sim.columns["outcome"]
    'rmdq'
    >>> len(sim.data) == len(sim.truth)
    True
    """

    name: str
    data: pd.DataFrame
    truth: pd.DataFrame
    params: dict[str, Any]
    columns: dict[str, Any]
    description: str = ""
    ipd_options: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getattr__(self, item: str) -> pd.DataFrame:
        # only called when normal lookup fails: expose the named extra frames
        if item.startswith("__") or item == "extra":
            raise AttributeError(item)
        extra = self.__dict__.get("extra", {})
        if item in extra:
            return extra[item]
        names = ", ".join(sorted(extra)) or "none"
        raise AttributeError(
            f"SimulatedIPD {self.__dict__.get('name', '')!r} has no attribute or extra frame "
            f"{item!r} (extra frames: {names})"
        )

    # ------------------------------------------------------------------ helpers
    @property
    def trial_col(self) -> str:
        return self.columns["trial"]

    @property
    def treatment_col(self) -> str:
        return self.columns["treatment"]

    @property
    def outcome_col(self) -> str:
        return self.columns["outcome"]

    @property
    def covariate_cols(self) -> list[str]:
        return list(self.columns.get("covariates") or [])

    def ipd(self, **kwargs: Any) -> IPD:
        """Build an :class:`ipdma.data.IPD` container from :attr:`data`.

        The column roles in :attr:`columns` and the defaults in :attr:`ipd_options`
        are passed on; keyword arguments override either (e.g. a subset of
        ``covariates=`` or ``missing="error"``).
        """
        from ..data import IPD  # imported lazily: ipdma.data is a sibling sub-package

        options: dict[str, Any] = {**self.columns, **self.ipd_options, **kwargs}
        return IPD(self.data, **options)

    def to_frame(self, truth: bool = False) -> pd.DataFrame:
        """The data as one DataFrame; with ``truth=True`` the truth columns are appended
        (columns already in :attr:`data` are not repeated)."""
        if not truth:
            return self.data.copy()
        extra_cols = [c for c in self.truth.columns if c not in self.data.columns]
        return pd.concat([self.data, self.truth[extra_cols]], axis=1)

    def summary(self) -> Summary:
        """Per-trial, per-arm patient counts and outcome summaries."""
        d = self.data
        y = d[self.outcome_col]
        grouped = y.groupby([d[self.trial_col], d[self.treatment_col]], sort=True)
        table = pd.DataFrame({"n": grouped.size(), "outcome_mean": grouped.mean(),
                              "outcome_sd": grouped.std()})
        info: dict[str, object] = {
            "patients": len(d),
            "trials": d[self.trial_col].nunique(),
            "treatments": ", ".join(map(str, sorted(d[self.treatment_col].unique()))),
            "outcome": self.outcome_col,
            "covariates": len(self.covariate_cols),
            "missing covariate values": int(d[self.covariate_cols].isna().to_numpy().sum()),
        }
        for key, frame in self.extra.items():
            info[f"extra frame {key!r}"] = f"{len(frame)} rows"
        notes = [self.description] if self.description else []
        return Summary(title=f"Simulated IPD: {self.name}", tables={"by trial and arm": table},
                       info=info, notes=notes)

    def __repr__(self) -> str:
        d = self.data
        extra = "".join(f", {k}={len(v)} rows" for k, v in self.extra.items())
        return (f"SimulatedIPD(name={self.name!r}, patients={len(d)}, "
                f"trials={d[self.trial_col].nunique()}, outcome={self.outcome_col!r}{extra})")


def _largest_remainder(total: int, weights: Mapping[Any, float]) -> dict[Any, int]:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton's method)."""
    keys = list(weights)
    w = np.array([weights[k] for k in keys], dtype=float)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return dict(zip(keys, base.tolist()))

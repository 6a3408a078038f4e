"""Site summaries: what stage 1 exports from one trial, with no patient rows.

A :class:`SiteSummary` holds, depending on what the pooler needs,

* ``coef`` / ``cov``: treatment coefficients (delta, gamma) and their covariance
  (pooler ``mvma``);
* ``post_mean`` / ``post_cov`` / ``post_draws``: posterior mean, covariance and
  draws of (delta, gamma) (poolers ``bayes-mvma``, ``posterior-mix``);
* ``X_query`` / ``ite`` / ``var``: predicted ITEs and their variances at query
  points (poolers ``weighted-bootstrap``, ``weighted-aux-ols``);
* ``family`` / ``scale``: the outcome family and ITE scale; for a binary outcome
  ``coef``/``cov`` are the full coefficient vector (1, t, x, t:x) and
  ``mu0``/``mu1`` the predicted risks under each arm at the query points;
* time-to-event: ``coef``/``cov`` are the log-hazard treatment block (delta,
  gamma), ``eta0_coef`` the control-arm log hazard on (1, x), ``baseline`` the
  baseline cumulative hazard (Breslow steps at the event times, or a Weibull
  shape), ``horizon``/``tau`` the time points of the scale, ``mu0``/``mu1`` the
  survival probabilities (or RMSTs) under each arm.

It is written as JSON (``.json``) or NumPy ``.npz`` (never pickle) and read
back bit-for-bit, so pooling the files gives the in-memory numbers exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = ["FORMAT_VERSION", "SiteSummary", "read_site_summary"]

FORMAT_VERSION = 1
_ARRAYS = ("coef", "cov", "post_mean", "post_cov", "post_draws", "X_query", "ite", "var",
           "mu0", "mu1", "eta0_coef")


def write_summary_file(path: str | Path, meta: dict[str, Any],
                       arrays: dict[str, np.ndarray]) -> Path:
    """A site summary file: ``.json`` (metadata plus arrays as shape + flat data, exact
    float repr) or ``.npz`` (arrays plus the metadata as ``__meta__``); shared by the
    two-arm and the network summaries."""
    path = Path(path)
    if path.suffix == ".json":
        payload = dict(meta)
        payload["arrays"] = {k: {"shape": list(v.shape), "data": v.ravel().tolist()}
                             for k, v in arrays.items()}
        path.write_text(json.dumps(payload))
    elif path.suffix == ".npz":
        np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
    else:
        raise DataError(f"site summary file {str(path)!r}: use a .json or .npz suffix")
    return path


@dataclass
class SiteSummary:
    """Stage-1 output of one trial (no patient-level rows).

    Examples
    --------
    >>> import numpy as np
    >>> s = SiteSummary(trial="A", n=120, learner="ols", feature_names=["x1"],
    ...                 coef=np.array([1.0, 0.5]), cov=np.eye(2) * 0.01)
    >>> s.has("coef"), s.has("predictions")
    (True, False)
    """

    trial: str
    n: int
    learner: str
    feature_names: list[str]
    pooler: str = ""
    variance: str = ""
    coef: np.ndarray | None = None
    cov: np.ndarray | None = None
    post_mean: np.ndarray | None = None
    post_cov: np.ndarray | None = None
    post_draws: np.ndarray | None = None
    X_query: np.ndarray | None = None
    ite: np.ndarray | None = None
    var: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    family: str = "continuous"
    scale: str = ""
    mu0: np.ndarray | None = None
    mu1: np.ndarray | None = None
    #: time-to-event: coefficients of the control-arm log-hazard on (1, x), the
    #: baseline (``ipdma.families`` baseline ``to_dict()``) and the scale's time point
    eta0_coef: np.ndarray | None = None
    baseline: dict | None = None
    horizon: float | None = None
    tau: float | None = None

    def has(self, what: str) -> bool:
        """``"coef"``, ``"posterior"`` or ``"predictions"``."""
        if what == "coef":
            return self.coef is not None and self.cov is not None
        if what == "posterior":
            return self.post_mean is not None and self.post_cov is not None
        if what == "predictions":
            return self.X_query is not None and self.ite is not None
        raise ValueError(what)

    # ---------------------------------------------------------------- I/O
    def _meta(self) -> dict[str, Any]:
        return {"format": "ipdma-ite-site-summary", "version": FORMAT_VERSION,
                "trial": self.trial, "n": int(self.n), "learner": self.learner,
                "pooler": self.pooler, "variance": self.variance,
                "feature_names": list(self.feature_names), "info": self.info,
                "family": self.family, "scale": self.scale, "baseline": self.baseline,
                "horizon": self.horizon, "tau": self.tau}

    def save(self, path: str | Path) -> Path:
        """Write to ``path``: ``.json`` (text, exact float repr) or ``.npz``."""
        arrays = {k: getattr(self, k) for k in _ARRAYS if getattr(self, k) is not None}
        return write_summary_file(path, self._meta(), arrays)

    @classmethod
    def load(cls, path: str | Path) -> SiteSummary:
        """Read a summary written by :meth:`save` (a treatment network's multi-arm
        summary comes back as :class:`~ipdma.ite.NetworkSiteSummary`)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"site summary file {str(path)!r} does not exist")
        if path.suffix == ".json":
            payload = json.loads(path.read_text())
            arrays = {k: np.asarray(v["data"], dtype=float).reshape(v["shape"])
                      for k, v in payload.pop("arrays", {}).items()}
            meta = payload
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
                arrays = {k: z[k] for k in z.files if k != "__meta__"}
        else:
            raise DataError(f"site summary file {str(path)!r}: expected .json or .npz")
        if meta.get("format") == "ipdma-ite-network-site-summary":   # multi-arm trial
            from ._network_federation import NetworkSiteSummary

            return NetworkSiteSummary.from_parts(meta, arrays, path)
        if meta.get("format") != "ipdma-ite-site-summary":
            raise DataError(f"{str(path)!r} is not an ipdma ITE site summary")
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in meta.items() if k in names}
        kw.update({k: v for k, v in arrays.items() if k in names})
        return cls(**kw)


def read_site_summary(path: str | Path) -> SiteSummary:
    """Read a site summary file (``.json`` or ``.npz``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> s = SiteSummary(trial="A", n=120, learner="ols", feature_names=["x1"],
    ...                 coef=np.array([1.0, 0.5]), cov=np.eye(2) * 0.01)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = read_site_summary(s.save(Path(tmp) / "site_A.json"))
    >>> back.trial, back.n, back.coef.tolist()
    ('A', 120, [1.0, 0.5])
    """
    return SiteSummary.load(path)

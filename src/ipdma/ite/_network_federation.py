"""Federated two-stage ITE for a treatment network: multi-arm site summaries.

A site (one trial, any number of arms) runs stage 1 alone and exports a
:class:`NetworkSiteSummary` with no patient rows; :func:`~ipdma.ite.pool_sites` (and
``ipdma pool``) pool the files with the network stage 2 and give the numbers of
:meth:`TwoStageITE.predict <ipdma.ite.TwoStageITE.predict>` on the pooled IPD.

What a summary holds (the trial's arms, its own reference arm first):

* ``theta`` ((m-1), p+1) / ``cov``: the trial's treatment blocks (delta_k, gamma_k) of
  every non-reference arm with their **joint** covariance (contrasts of a multi-arm
  trial share the reference arm) -- learners ``ols`` and ``logistic`` (the latter also
  ``coef_full``/``vcov_full``, the whole coefficient vector, for risk differences).
  Enough for pooler ``mvma`` and, at any query point, for ``weighted-aux-ols``;
* ``X_query`` (N, p), ``ite`` (N, m-1) and ``ite_cov`` (N, m-1, m-1): the predicted
  contrasts at the query points with their joint covariance (auxiliary full-interaction
  model or arm-stratified bootstrap) -- the other learners, and ``weighted-bootstrap``;
* ``n_arm``: patients per arm (counts only); ``info["treatments"]`` the network's
  treatment order (the network reference first) when the site knows it.

Files are versioned JSON (exact float repr) or ``.npz`` (never pickle), format
``"ipdma-ite-network-site-summary"``, version :data:`NETWORK_FORMAT_VERSION`;
:func:`~ipdma.ite.read_site_summary` reads both kinds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, ModelSpecificationError
from ._network import NetworkBlock
from ._network_ite import NETWORK_POOLERS, _block_contrasts, _natural_key

__all__ = ["NETWORK_FORMAT_VERSION", "NetworkSiteSummary", "fit_network_site",
           "pool_network_sites"]

NETWORK_FORMAT_VERSION = 1
_FORMAT = "ipdma-ite-network-site-summary"
_ARRAYS = ("theta", "cov", "coef_full", "vcov_full", "X_query", "ite", "ite_cov")


@dataclass
class NetworkSiteSummary:
    """Stage-1 output of one trial of a treatment network (no patient rows).

    Examples
    --------
    >>> import numpy as np
    >>> s = NetworkSiteSummary(trial="T1", n=300, learner="ols", feature_names=["x1"],
    ...                        arms=["A", "B", "C"], n_arm={"A": 100, "B": 100, "C": 100},
    ...                        theta=np.zeros((2, 2)), cov=np.eye(4) * 0.01)
    >>> s.has("coef"), s.has("predictions"), s.contrasts
    (True, False, ['B_vs_A', 'C_vs_A'])
    """

    trial: str
    n: int
    learner: str
    feature_names: list[str]
    arms: list[str]
    n_arm: dict[str, int] = field(default_factory=dict)
    pooler: str = ""
    variance: str = ""
    family: str = "continuous"
    scale: str = ""
    theta: np.ndarray | None = None
    cov: np.ndarray | None = None
    coef_full: np.ndarray | None = None
    vcov_full: np.ndarray | None = None
    X_query: np.ndarray | None = None
    ite: np.ndarray | None = None
    ite_cov: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def contrasts(self) -> list[str]:
        """The trial's contrasts, each arm vs the trial's own reference arm."""
        return [f"{a}_vs_{self.arms[0]}" for a in self.arms[1:]]

    def has(self, what: str) -> bool:
        """``"coef"`` (treatment blocks) or ``"predictions"`` (contrasts at query points)."""
        if what == "coef":
            return self.theta is not None and self.cov is not None
        if what == "predictions":
            return self.X_query is not None and self.ite is not None and \
                self.ite_cov is not None
        raise ValueError(what)

    # ---------------------------------------------------------------- I/O
    def _meta(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": NETWORK_FORMAT_VERSION, "trial": self.trial,
                "n": int(self.n), "learner": self.learner, "pooler": self.pooler,
                "variance": self.variance, "feature_names": list(self.feature_names),
                "arms": list(self.arms), "n_arm": {k: int(v) for k, v in self.n_arm.items()},
                "family": self.family, "scale": self.scale, "info": self.info}

    def save(self, path: str | Path) -> Path:
        """Write to ``path``: ``.json`` (text, exact float repr) or ``.npz``."""
        from ._site import write_summary_file

        arrays = {k: np.asarray(getattr(self, k), dtype=float) for k in _ARRAYS
                  if getattr(self, k) is not None}
        return write_summary_file(path, self._meta(), arrays)

    @classmethod
    def from_parts(cls, meta: dict, arrays: dict, path: str | Path = "") -> NetworkSiteSummary:
        if meta.get("format") != _FORMAT:
            raise DataError(f"{str(path)!r} is not an ipdma network ITE site summary")
        version = int(meta.get("version", 0))
        if version > NETWORK_FORMAT_VERSION:
            raise DataError(
                f"{str(path)!r} is a network site summary of format version {version}; this "
                f"ipdma reads up to version {NETWORK_FORMAT_VERSION}: upgrade ipdma")
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in meta.items() if k in names}
        kw.update({k: v for k, v in arrays.items() if k in names})
        return cls(**kw)

    @classmethod
    def load(cls, path: str | Path) -> NetworkSiteSummary:
        """Read a summary written by :meth:`save`."""
        from ._site import SiteSummary

        out = SiteSummary.load(path)
        if getattr(out, "arms", None) is None:
            raise DataError(f"{str(path)!r} is a two-treatment site summary, not a network one")
        return out


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------
def _summarize(st, *, learner: str, pooler: str, kind: str, scale: str, family: str,
               feature_names: Sequence[str], X_query: np.ndarray | None,
               treatments: Sequence[str] | None) -> NetworkSiteSummary:
    s = NetworkSiteSummary(trial=st.label, n=int(st.n), learner=learner,
                           feature_names=list(feature_names), arms=list(st.arms),
                           n_arm=dict(st.n_arm), pooler=pooler, variance=kind,
                           family=family, scale=scale,
                           info={} if treatments is None else
                           {"treatments": list(treatments), "reference": treatments[0]})
    absolute_surv = family == "survival" and scale in ("survdiff", "rmstdiff")
    if absolute_surv and kind == "coef":
        raise ModelSpecificationError(
            f"site summaries of a time-to-event network with pooler 'mvma' on scale "
            f"{scale!r} would need each trial's baseline hazard, which network site "
            "summaries do not carry: export with scale 'loghr', or with pooler "
            "'weighted-aux-ols' and the query points (X_new; CLI: --predict)")
    if st.joint and kind in ("coef", "aux-ols") and not absolute_surv:
        b = st.block
        s.theta, s.cov = np.asarray(b.theta, float), np.asarray(b.cov, float)
        if b.extra.get("kind") == "logistic":
            s.coef_full, s.vcov_full = b.extra["coef"], b.extra["vcov"]
        return s
    if X_query is None:
        raise ModelSpecificationError(
            f"learner {learner!r} with pooler {pooler!r} pools predictions: the site needs "
            "the query points (X_new / X_query; CLI: --predict)")
    s.X_query = np.asarray(X_query, dtype=float)
    s.ite = st.contrasts(s.X_query, scale)
    s.ite_cov = st.contrast_cov(s.X_query, scale, kind)
    return s


def network_site_summaries(model, X_query: np.ndarray | None) -> list[NetworkSiteSummary]:
    """Per-trial summaries of a network :class:`~ipdma.ite.TwoStageITE` (what each site
    would export); used by ``TwoStageITE.site_summaries``."""
    net = model.network_
    kind = NETWORK_POOLERS[model.pooler_.name]
    return [_summarize(st, learner=model.learner_.name, pooler=model.pooler_.name, kind=kind,
                       scale=net.scale, family=net.family.name,
                       feature_names=model.feature_names_, X_query=X_query,
                       treatments=net.treatments) for st in net.stage1]


def fit_network_site(X: Any, treatment: Any, y: Any, *, trial: str, learner: str = "ols",
                     pooler: str | None = None, X_query: Any = None, n_boot: int = 100,
                     random_state: Any = None, feature_names: Sequence[str] | None = None,
                     learner_options: dict | None = None, family: str | None = None,
                     scale: str | None = None,
                     treatments: Sequence[str] | None = None, horizon: float | None = None,
                     tau: float | None = None) -> NetworkSiteSummary:
    """Stage 1 at one site of a treatment network (two or more arms) and its summary.

    ``treatment`` holds each patient's arm label.  ``treatments`` is the network's
    treatment order with the network reference first (as ``TwoStageITE.treatments_``);
    the trial's own reference arm is the first of its arms in that order (default:
    natural label order).  Time to event: ``y`` is (n, 2) time and event, ``horizon``/
    ``tau`` the time points of the absolute scales (learners cox, weibull, ...).
    With ``random_state = trial_seeds(s, K)[l]`` the summary
    equals the in-memory ``TwoStageITE(random_state=s)`` fit of trial l.  Write it with
    ``.save("site.json")`` (or ``.npz``) and pool the files with
    :func:`~ipdma.ite.pool_sites`.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_network_site
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)); arm = rng.choice(["A", "B", "C"], 300)
    >>> y = X[:, 0] + (arm == "B") * (1 + X[:, 1]) + rng.normal(size=300)
    >>> s = fit_network_site(X, arm, y, trial="T1", learner="ols", pooler="mvma",
    ...                      feature_names=["age", "bmi"])
    >>> s.arms, s.theta.shape, s.cov.shape
    (['A', 'B', 'C'], (2, 3), (6, 6))

    Three sites (A/B/C, A/B, B/C) pooled from their summaries alone:

    >>> from ipdma.ite import pool_sites
    >>> sites = [s]
    >>> for name, arms in (("T2", ["A", "B"]), ("T3", ["B", "C"])):
    ...     X = rng.normal(size=(200, 2)); arm = rng.choice(arms, 200)
    ...     y = X[:, 0] + (arm == "B") * (1 + X[:, 1]) + rng.normal(size=200)
    ...     sites.append(fit_network_site(X, arm, y, trial=name, pooler="mvma",
    ...                                   feature_names=["age", "bmi"]))
    >>> pred = pool_sites(sites, "mvma", X_new=np.zeros((2, 2)), method="fixed",
    ...                   reference="A", random_state=1)
    >>> pred.columns[:2].tolist(), pred["best_treatment"].tolist()
    (['ite_B_vs_A', 'se_B_vs_A'], ['B', 'B'])
    """
    from ..families import get_family
    from ._learners import get_learner
    from ._network_ite import _NetStage1
    from ._twostage import new_X

    lrn = get_learner(learner, **(learner_options or {}))
    if pooler is None:
        from ._defaults import default_pooler

        pooler = default_pooler(lrn)
    pname = pooler if isinstance(pooler, str) else pooler.name
    if pname not in NETWORK_POOLERS:
        raise ModelSpecificationError(
            f"pooler {pname!r} is not available with more than two treatments yet; use "
            f"{', '.join(repr(p) for p in NETWORK_POOLERS)}")
    kind = NETWORK_POOLERS[pname]
    if family is None:
        family = "continuous" if "continuous" in lrn.families else sorted(lrn.families)[0]
    fam = get_family(family, **({"horizon": horizon, "tau": tau} if family == "survival"
                                else {}))
    sc = fam.check_scale(scale)
    from ._network_ite import _BLOCK_LEARNERS

    if kind == "coef" and lrn.name not in _BLOCK_LEARNERS:
        raise ModelSpecificationError(
            f"pooler 'mvma' needs coefficient blocks with a covariance, which learner "
            f"{lrn.name!r} does not give; use learner 'ols', 'logistic', 'cox' or 'weibull'")
    if isinstance(X, pd.DataFrame) and feature_names is None:
        feature_names = [str(c) for c in X.columns]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    names = list(feature_names) if feature_names is not None else \
        [f"x{j + 1}" for j in range(X.shape[1])]
    if len(names) != X.shape[1]:
        raise DataError(f"feature_names has {len(names)} names but X has {X.shape[1]} columns")
    arm = np.asarray(treatment).astype(str)
    y = np.asarray(y, dtype=float)
    if not (len(X) == len(arm) == len(y)):
        raise DataError(f"site {trial!r}: X, treatment and y have different lengths "
                        f"({len(X)}, {len(arm)}, {len(y)})")
    present = sorted(set(arm.tolist()), key=_natural_key)
    if len(present) < 2:
        raise DataError(f"site {trial!r} has one arm only ({present[0]}): an ITE needs two "
                        "or more")
    if treatments is not None:
        treatments = [str(t) for t in treatments]
        unknown = [a for a in present if a not in treatments]
        if unknown:
            raise DataError(f"site {trial!r}: arm(s) {unknown} are not in treatments="
                            f"{treatments}")
        arms = [t for t in treatments if t in present]
    else:
        arms = present
    st = _NetStage1(str(trial), X, arm, y, arms, lrn, random_state, fam,
                    n_boot=int(n_boot) if kind == "bootstrap" else None,
                    aux=kind == "aux-ols")
    Xq = None if X_query is None else new_X(X_query, names)[0]
    return _summarize(st, learner=lrn.name, pooler=pname, kind=kind, scale=sc,
                      family=fam.name, feature_names=names, X_query=Xq,
                      treatments=treatments)


# --------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------
class _SiteStage1:
    """A network site summary in the role of a stage-1 fit (``NetworkFit`` input)."""

    def __init__(self, s: NetworkSiteSummary):
        self.label = s.trial
        self.n = int(s.n)
        self.arms = list(s.arms)
        self.n_arm = dict(s.n_arm)
        self.seconds = {"fit": 0.0}
        self.summary = s
        self.joint = s.has("coef")
        self.block = None
        if self.joint:
            extra = {}
            if s.coef_full is not None:
                extra = {"coef": s.coef_full, "vcov": s.vcov_full, "kind": "logistic"}
            self.block = NetworkBlock(trial=s.trial, arms=self.arms, theta=s.theta,
                                      cov=s.cov, n=self.n, extra=extra)
        self._index = None

    def _rows(self, X: np.ndarray) -> np.ndarray:
        s = self.summary
        if self._index is None:
            self._index = {r.tobytes(): i for i, r in enumerate(np.ascontiguousarray(
                s.X_query, dtype=float))}
        X = np.ascontiguousarray(X, dtype=float)
        idx = [self._index.get(r.tobytes()) for r in X]
        miss = [i for i, v in enumerate(idx) if v is None]
        if miss:
            raise DataError(
                f"site {s.trial!r} exported predictions at its query points only; row "
                f"{miss[0]} of X_new is not among them: pool at the sites' query points "
                "(X_new=None) or re-export the sites with these patients")
        return np.asarray(idx, dtype=int)

    def contrasts(self, X: np.ndarray, scale: str) -> np.ndarray:
        if self.joint:
            return _block_contrasts(self.block, X, scale, cov=False)[0]
        return self.summary.ite[self._rows(X)]

    def contrast_cov(self, X: np.ndarray, scale: str, source: str) -> np.ndarray:
        if self.joint:
            return _block_contrasts(self.block, X, scale)[1]
        return self.summary.ite_cov[self._rows(X)]


def _network_order(sums: Sequence[NetworkSiteSummary], reference: str | None) -> list[str]:
    from ..data import choose_reference

    seen = sorted({a for s in sums for a in s.arms}, key=_natural_key)
    stored = {tuple(s.info.get("treatments", ())) for s in sums} - {()}
    if reference is None and len(stored) == 1:
        order = list(stored.pop())
        if set(order) >= set(seen):
            reference = order[0] if order[0] in seen else None
    ref = choose_reference(seen, {s.trial: list(s.arms) for s in sums}, reference)
    return [ref, *[t for t in seen if t != ref]]


def _site_counts(sums: Sequence[NetworkSiteSummary]) -> tuple[np.ndarray, np.ndarray]:
    """Trial and arm labels repeated by the summaries' patient counts (arm ``""`` when a
    summary's per-arm counts do not add up to its ``n``)."""
    trial, arm = [], []
    for s in sums:
        n = int(s.n or 0)
        counts = {a: int(c) for a, c in (s.n_arm or {}).items()}
        trial += [s.trial] * n
        if sum(counts.values()) == n:
            for a, c in counts.items():
                arm += [a] * c
        else:
            arm += [""] * n
    return np.asarray(trial, dtype=object), np.asarray(arm, dtype=object)


def pool_network_sites(summaries: Sequence[NetworkSiteSummary], pooler: str | None = None,
                       *, reference: str | None = None, higher_is_better: bool = True,
                       random_state: Any = None, **pooler_options: Any):
    """Network stage 2 from multi-arm site summaries: a fitted
    :class:`~ipdma.ite.TwoStageITE` whose ``predict``/``predict_pairs``/``summary``
    work as after an in-memory fit (``random_state`` seeds P(best) as there).

    The network reference is ``reference``, else the one the sites were exported with,
    else the IPD rule (:func:`ipdma.data.choose_reference`).
    """
    from ._network_ite import NetworkITEData, _check_network, _set_network
    from ._twostage import TwoStageITE

    sums = list(summaries)
    if not sums:
        raise DataError("no site summaries to pool")
    bad = [type(s).__name__ for s in sums if getattr(s, "arms", None) is None]
    if bad:
        raise DataError("cannot pool network site summaries with two-treatment ones "
                        f"({bad[0]}): export every site of the network with the same ipdma "
                        "version and the network's treatments")
    trials = [s.trial for s in sums]
    dup = sorted({t for t in trials if trials.count(t) > 1})
    if dup:
        raise DataError(f"several summaries of trial(s) {dup}: keep one per trial")
    for attr in ("feature_names", "learner", "family", "scale"):
        vals = {json.dumps(getattr(s, attr)) for s in sums}
        if len(vals) > 1:
            raise DataError(f"the site summaries differ in {attr} ({', '.join(sorted(vals))}): "
                            "export every site with the same settings")
    pooler = pooler or sums[0].pooler
    if not pooler:
        raise ModelSpecificationError("the site summaries do not name their pooler: pass "
                                      "pooler=...")
    kind = NETWORK_POOLERS.get(pooler)
    if kind is None:
        raise ModelSpecificationError(
            f"pooler {pooler!r} is not available with more than two treatments yet; use "
            f"{', '.join(repr(p) for p in NETWORK_POOLERS)}")
    for s in sums:
        if kind in ("coef", "aux-ols") and s.has("coef"):
            continue
        if kind != "coef" and s.has("predictions") and s.variance == kind:
            continue
        need = "treatment blocks (learner ols/logistic)" if kind == "coef" else \
            f"predicted contrasts with a {kind} covariance"
        raise ModelSpecificationError(
            f"pooler {pooler!r} needs {need}; site {s.trial!r} exported "
            f"{'blocks' if s.has('coef') else (s.variance or 'predictions')} for pooler "
            f"{s.pooler!r}: pool with that pooler or re-export the sites")
    sums = sorted(sums, key=lambda s: _natural_key(s.trial))
    treatments = _network_order(sums, reference)
    stage1 = [_SiteStage1(s) for s in sums]
    _check_network([NetworkBlock(trial=s.label, arms=s.arms,
                                 theta=np.zeros((len(s.arms) - 1, 1)),
                                 cov=np.eye(len(s.arms) - 1)) for s in stage1], treatments)
    scale = sums[0].scale or None
    model = TwoStageITE(sums[0].learner, pooler, pooler_options=pooler_options or None,
                        random_state=random_state, scale=scale)
    p = len(sums[0].feature_names)
    trial_lab, arm_lab = _site_counts(sums)
    # the patient counts of the summaries (no rows: covariates empty, outcomes NaN), as a
    # model read from a model file, so summary() reports the number of patients
    d = NetworkITEData(X=np.empty((0, p)), arm=arm_lab, y=np.full(len(arm_lab), np.nan),
                       trial=trial_lab, trials=[s.trial for s in sums],
                       treatments=treatments, feature_names=list(sums[0].feature_names),
                       outcome_type=sums[0].family)
    _set_network(model, stage1, d, higher_is_better)
    model.sites_ = sums
    return model


def pool_sites_network(sums, pooler, X_new, *, reference=None, higher_is_better=True,
                       random_state=None, pairs: str = "reference",
                       **pooler_options) -> pd.DataFrame:
    """:func:`~ipdma.ite.pool_sites` for network site summaries."""
    from ._network_ite import network_predict

    model = pool_network_sites(sums, pooler, reference=reference,
                               higher_is_better=higher_is_better, random_state=random_state,
                               **pooler_options)
    if X_new is None:
        preds = [s for s in model.sites_ if s.X_query is not None]
        if not preds:
            raise ModelSpecificationError("pass X_new: the covariates to predict at")
        X_new = preds[0].X_query
        for s in preds[1:]:
            if s.X_query.shape != X_new.shape or not np.array_equal(s.X_query, X_new):
                raise DataError(f"sites {preds[0].trial!r} and {s.trial!r} exported different "
                                "query points: pass X_new")
    return network_predict(model, X_new, pairs=pairs)


def cli_export_network_sites(model, new, out: Path) -> list[str]:
    """``ipdma ite --export-sites`` on a treatment network: one file per trial in
    ``out/sites`` (the query points are the --predict patients when the summaries hold
    predictions)."""
    kind = NETWORK_POOLERS[model.pooler_.name]
    blocks = all(st.joint for st in model.network_.stage1) and kind != "bootstrap" and \
        model.network_.scale not in ("survdiff", "rmstdiff")     # survival: predictions
    if new is None and not blocks:
        raise ModelSpecificationError(
            f"--export-sites with --learner {model.learner_.name} --pooler "
            f"{model.pooler_.name} exports the trials' predicted contrasts: give --predict "
            "NEW.csv (the patients to pool at)")
    return [str(p) for p in model.export_sites(out / "sites",
                                               X_new=None if blocks else new)]

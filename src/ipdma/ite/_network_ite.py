"""Two-stage ITE for more than two treatments: the estimator-level network path.

:class:`~ipdma.ite.TwoStageITE` (and :func:`~ipdma.ite.fit_methods`) switch to this
path when the treatment column has more than two treatments.  Stage 1 fits each
trial with all its arms, against the trial's own reference arm (the network reference
when the trial has it, else its first arm in the network's treatment order):

* ``"ols"`` (continuous) and ``"logistic"`` (binary): one model per trial with
  treatment dummies and their covariate interactions, with the full covariance of all
  the trial's contrast blocks (:func:`ipdma.ite._network.fit_network_ols`);
* ``"cox"``/``"weibull"`` (time to event): the same on the log-hazard scale, with the
  trial's baseline kept for S(horizon)/RMST ITEs (:mod:`ipdma.ite._network_survival`);
* ``"bayes-lm"``, ``"bayes-lasso"``, ``"bayes-logistic"``: one joint Bayesian model per
  trial, the posterior of all its contrast blocks (:mod:`ipdma.ite._network_bayes`), for
  the poolers ``bayes-mvma`` (c) and ``posterior-mix`` (d);
* ``"xgboost"``/``"sklearn-s"`` (S-learners, the treatment as a categorical feature),
  ``"sklearn-t"`` (T-learner, one model per arm) and ``"causal-forest"`` (one forest
  with a multi-valued treatment): one native fit of all arms
  (``network_stage1="native"``, default; :mod:`ipdma.ite._network_learners`);
* every other learner (and ``network_stage1="per-contrast"``): one two-arm fit per
  contrast (rows of the trial's reference arm and of arm k, t = 1 for arm k).

The joint covariance of the contrasts of a multi-arm trial, which share the reference
arm, comes from the auxiliary full-interaction model (``weighted-aux-ols``) or from
arm-stratified bootstrap refits of the whole trial (``weighted-bootstrap``).  Random-
effects prediction intervals use t quantiles with K - 2 df (K trials), as the two-arm
poolers.

Examples
--------
>>> from sklearn.linear_model import LinearRegression
>>> from ipdma.datasets import make_ite_network
>>> from ipdma.ite import TwoStageITE
>>> sim = make_ite_network(random_state=5, n_per_trial=(150, 200), n_test=5)
>>> m = TwoStageITE("sklearn-t", "weighted-aux-ols", random_state=1,
...                 learner_options={"estimator": LinearRegression()}).fit(sim.ipd())
>>> m.network_stage1_, m.network_.stage1[0].model.kind        # one model per arm
('native', 'T')
>>> m.predict(sim.test[sim.columns["covariates"]]).filter(like="ite_").shape
(5, 3)

Stage 2 pools onto the basic parameters (each treatment vs the network reference):
``mvma`` is the network multivariate meta-analysis of the contrast blocks with the
consistency structure (:func:`ipdma.ite._network.pool_network`); ``weighted-aux-ols`` and
``weighted-bootstrap`` are the per-patient network GLS of the trials' predicted
contrasts (common effect, or ``heterogeneity="DL"``: a per-patient generalised
DerSimonian-Laird tau^2 with the consistency structure).  Every pair follows from the
basic contrasts, so the results are consistent by construction.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._base import Summary, check_random_state, progress_bar
from .._lazy import lazy_module
from ..errors import (
    DataError,
    InfeasibleMethodError,
    ModelSpecificationError,
    NotFittedError,
)
from ._network import (
    NetworkBlock,
    NetworkPooled,
    _check_network,
    all_pairs,
    best_treatment,
    fit_network_ols,
    p_best,
    pool_network,
)

stats = lazy_module("scipy.stats")   # imported when first used
special = lazy_module("scipy.special")

__all__ = ["NETWORK_POOLERS", "NetworkITEData", "NetworkPrediction", "network_data"]

#: poolers available for a treatment network (pooler name -> kind)
NETWORK_POOLERS = {"mvma": "coef", "weighted-aux-ols": "aux-ols",
                   "weighted-bootstrap": "bootstrap", "bayes-mvma": "bayes",
                   "posterior-mix": "posterior"}
#: learners fitted as one joint model per trial (family -> learner name)
_BLOCK_LEARNERS = {"ols": "continuous", "logistic": "binary", "cox": "survival",
                   "weibull": "survival"}


def _natural_key(label: str):
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(label))]


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
@dataclass
class NetworkITEData:
    """Arrays for a network of treatments: X (n, p), treatment labels, y, trial labels.

    ``treatments`` lists every treatment with the network reference first.
    """

    X: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    trial: np.ndarray
    trials: list[str]
    treatments: list[str]
    feature_names: list[str]
    outcome_type: str = "continuous"
    covariate_cols: list[str] | None = None
    #: options of the outcome family (time to event: ``horizon``, ``tau``)
    family_options: dict | None = None

    @property
    def reference(self) -> str:
        return self.treatments[0]

    @property
    def family(self):
        from ..families import get_family

        return get_family(self.outcome_type, **(self.family_options or {}))

    def trial_arms(self, tr: str) -> list[str]:
        """The arms of trial ``tr``, its own reference first (the network reference if
        present, else the first in the network's treatment order)."""
        present = set(self.arm[self.trial == tr].tolist())
        return [t for t in self.treatments if t in present]

    def by_trial(self):
        for tr in self.trials:
            m = self.trial == tr
            yield tr, self.X[m], self.arm[m], self.y[m], self.trial_arms(tr)


def _n_treatments(data: Any, treatment: str | None) -> int | None:
    """Number of treatment labels, cheaply (None when it cannot be told)."""
    from ._twostage import ITEData

    if isinstance(data, ITEData):
        return 2
    if isinstance(data, pd.DataFrame):
        if treatment is None or treatment not in data.columns:
            return None
        return int(data[treatment].dropna().astype(str).nunique())
    trts = getattr(data, "treatments", None)
    return None if trts is None else len(trts)


def network_data(data: Any, *, trial: str | None = None, treatment: str | None = None,
                 outcome: str | None = None, covariates: Sequence[str] | None = None,
                 reference: str | None = None, treated: Any = None,
                 foldid: str | None = None) -> NetworkITEData | None:
    """:class:`NetworkITEData` when the data have more than two treatments, else None.

    ``reference`` is the network reference (default: the IPD's reference treatment).
    """
    n_trt = _n_treatments(data, treatment)
    if n_trt is not None and n_trt <= 2:
        return None
    if isinstance(data, NetworkITEData):     # already prepared (e.g. by compare_methods)
        from ._network_validate import as_network_data

        return as_network_data(data, reference=reference)
    from ..data import IPD, choose_reference

    ipd = data
    from_df = isinstance(data, pd.DataFrame)
    if from_df:
        missing = [n for n, v in (("trial", trial), ("treatment", treatment),
                                  ("outcome", outcome)) if v is None]
        if missing:
            raise ModelSpecificationError(
                f"with a DataFrame, pass the column names {', '.join(m + '=' for m in missing)}"
                " (or pass an ipdma.data.IPD)")
        ipd = IPD(data, trial=trial, treatment=treatment, outcome=outcome,
                  covariates=covariates, reference=reference)
    elif not hasattr(data, "treatments"):
        raise ModelSpecificationError(
            f"data must be an ipdma.data.IPD or a pandas DataFrame, not {type(data).__name__}")
    treatments_all = [str(t) for t in ipd.treatments]
    if len(treatments_all) <= 2:
        return None
    if treated is not None:
        raise ModelSpecificationError(
            f"treated={treated!r} names one treatment, but the data have "
            f"{len(treatments_all)} treatments ({', '.join(treatments_all)}): with a "
            "treatment network every treatment is compared with the network reference; "
            "pick it with reference=... (or subset the data to two treatments)")
    if foldid is not None:
        raise ModelSpecificationError(
            "fold ids (foldid) are not supported yet with more than two treatments: "
            "drop foldid (the learners then draw their own folds)")
    outcome_type = getattr(ipd, "outcome_type", "continuous")
    if outcome_type not in ("continuous", "binary", "survival"):
        raise ModelSpecificationError(
            f"two-stage ITE for a treatment network supports continuous, binary and "
            f"time-to-event outcomes; the outcome is {outcome_type}")
    ref = choose_reference(treatments_all, ipd.arms, reference) if reference is not None \
        else str(ipd.reference)
    others = sorted([t for t in treatments_all if t != ref], key=_natural_key)
    treatments = [ref, *others]
    X_df = ipd.design_matrix(covariates=list(covariates)) if covariates is not None and \
        not from_df else ipd.design_matrix()
    if X_df.shape[1] == 0:
        raise ModelSpecificationError("no covariates: an ITE model needs at least one "
                                      "covariate (pass covariates=[...])")
    trials_arr = np.asarray(ipd.trial).astype(str)
    arm = np.asarray(ipd.treatment).astype(str)
    trials = sorted(set(trials_arr.tolist()), key=_natural_key)
    for tr in trials:
        arms = sorted(set(arm[trials_arr == tr].tolist()))
        if len(arms) < 2:
            raise DataError(f"trial {tr!r} has one arm only ({arms[0]}): every trial needs "
                            "two or more arms for an ITE model; drop it with "
                            "ipd.subset(trials=...)")
    y = np.asarray(ipd.y, dtype=float)
    if outcome_type == "survival":                           # (time, event) columns
        y = np.column_stack([np.asarray(ipd.time, dtype=float), y])
    d = NetworkITEData(X=X_df.to_numpy(dtype=float), arm=arm,
                       y=y, trial=trials_arr, trials=trials,
                       treatments=treatments, feature_names=list(X_df.columns),
                       outcome_type=outcome_type,
                       covariate_cols=list(getattr(ipd, "covariate_cols", X_df.columns)))
    # connectivity (names the components of a disconnected network)
    _check_network([NetworkBlock(trial=tr, arms=d.trial_arms(tr),
                                 theta=np.zeros((len(d.trial_arms(tr)) - 1, 1)),
                                 cov=np.eye(len(d.trial_arms(tr)) - 1)) for tr in trials],
                   treatments)
    return d


def treated_from_reference(data: Any, treatment: str | None, reference: str | None,
                           treated: Any) -> Any:
    """Two treatments: ``reference`` names the control arm, so ``treated`` is the other
    one (``treated`` as given when no reference is named)."""
    if reference is None:
        return treated
    if isinstance(data, pd.DataFrame):
        labels = sorted(map(str, data[treatment].dropna().astype(str).unique())) \
            if treatment is not None and treatment in data.columns else None
    else:
        labels = [str(t) for t in getattr(data, "treatments", [])] or None
    if labels is None:
        raise ModelSpecificationError("reference=... needs the treatment labels: pass an IPD "
                                      "or a DataFrame with treatment=...")
    from ..data import choose_reference

    ref = choose_reference(labels, {}, str(reference))
    other = [t for t in labels if t != ref]
    if treated is not None and str(treated) == ref:
        raise ModelSpecificationError(f"treated={treated!r} is also the reference")
    return other[0] if treated is None and len(other) == 1 else treated


def network_pairs(methods, pairs: list[tuple[str, str]], family, scale) -> list:
    """The (learner, pooler) pairs of ``methods`` that run on a treatment network
    (``"all"``: the feasible ones; named pairs are kept and checked at fit time)."""
    is_all = (isinstance(methods, str) and methods.strip() == "all") or \
        (not isinstance(methods, str) and list(methods) == ["all"])
    if not is_all:
        return pairs
    from ._network_bayes import POSTERIOR_LEARNERS

    sc = family.check_scale(scale)
    out = []
    for lrn, pool in pairs:
        if pool not in NETWORK_POOLERS:
            continue
        if NETWORK_POOLERS[pool] in ("bayes", "posterior") and lrn not in POSTERIOR_LEARNERS:
            continue
        if NETWORK_POOLERS[pool] == "bayes" and family.name == "binary" and sc != "logor":
            continue
        if pool == "mvma" and (lrn not in _BLOCK_LEARNERS or
                               (family.name == "binary" and sc != "logor")):
            continue
        if sc in family.coef_scales and lrn not in _BLOCK_LEARNERS:
            from ._learners import LEARNERS

            if "linear" not in getattr(LEARNERS.get(lrn), "provides", ()):
                continue
        out.append((lrn, pool))
    return out


# --------------------------------------------------------------------------------------
# stage 1
# --------------------------------------------------------------------------------------
def _design(X: np.ndarray, arm: np.ndarray, arms: list[str]):
    n, p = X.shape
    D = (arm[:, None] == np.array(arms[1:])[None, :]).astype(float)
    inter = (D[:, :, None] * X[:, None, :]).reshape(n, -1)
    Z = np.hstack([np.ones((n, 1)), X, D, inter])
    m1 = len(arms) - 1
    idx = np.array([[1 + p + k, *(1 + p + m1 + k * p + np.arange(p))] for k in range(m1)])
    return Z, idx


def fit_network_logistic(X: np.ndarray, arm: Sequence[str], y: np.ndarray, *, trial: str,
                         arms: Sequence[str]) -> NetworkBlock:
    """Logistic regression ``y ~ trt * (x1 + ... + xp)`` with all arms of a trial (R
    ``glm``); blocks on the log-odds-ratio scale, full covariance kept."""
    from ._glm_learners import logistic_irls

    X = np.asarray(X, dtype=float)
    arm = np.asarray(arm).astype(str)
    arms = [str(a) for a in arms]
    Z, idx = _design(X, arm, arms)
    if len(y) <= Z.shape[1]:
        raise DataError(f"trial {trial}: the interaction model needs more than {Z.shape[1]} "
                        f"patients (got {len(y)}); use fewer covariates")
    r = logistic_irls(Z, np.asarray(y, dtype=float))
    if not r["converged"] or not np.all(np.isfinite(r["vcov"])) or \
            np.max(np.abs(r["coef"])) > 15:
        raise DataError(f"trial {trial}: the full-interaction logistic regression did not "
                        "converge (separation?); use fewer covariates or a penalised learner")
    flat = idx.ravel()
    return NetworkBlock(trial=str(trial), arms=arms, theta=r["coef"][idx],
                        cov=r["vcov"][np.ix_(flat, flat)], n=len(y),
                        extra={"coef": r["coef"], "vcov": r["vcov"], "kind": "logistic"})


def _block_fit(X, arm, y, arms, trial, family, learner=None) -> NetworkBlock:
    if family.name == "survival":
        from ._network_survival import fit_network_survival

        return fit_network_survival(X, arm, y, arms, trial, family, learner)
    if family.name == "binary":
        return fit_network_logistic(X, arm, y, trial=trial, arms=arms)
    return fit_network_ols(X, arm, y, trial=trial, arms=arms)


def _block_contrasts(b: NetworkBlock, X: np.ndarray, scale: str, cov: bool = True):
    """Contrasts of arms[1:] vs arms[0] at X (N, m-1) and their covariance (N, m-1, m-1)."""
    if scale in ("survdiff", "rmstdiff"):
        from ._network_survival import survival_block_contrasts

        return survival_block_contrasts(b, X, scale, cov)
    N = len(X)
    c = np.hstack([np.ones((N, 1)), X])
    m1, q = b.theta.shape
    if scale != "rd":
        est = c @ b.theta.T
        if not cov:
            return est, None
        S = b.cov.reshape(m1, q, m1, q)
        return est, np.einsum("ni,aibj,nj->nab", c, S, c)
    if "coef_draws" in b.extra:          # bayes-logistic: posterior of per-draw RDs
        from ..families import get_family
        from ._network_bayes import posterior_contrasts

        return posterior_contrasts(b, X, scale, get_family("binary"), cov=cov)
    coef, V = b.extra["coef"], b.extra["vcov"]
    p = X.shape[1]
    Zr = np.hstack([c, np.zeros((N, m1 * q))])
    eta_r = Zr @ coef
    pr = special.expit(eta_r)
    G = np.zeros((N, m1, len(coef)))
    est = np.zeros((N, m1))
    for k in range(m1):
        Zk = Zr.copy()
        Zk[:, 1 + p + k] = 1.0
        Zk[:, 1 + p + m1 + k * p: 1 + p + m1 + (k + 1) * p] = X
        pk = special.expit(Zk @ coef)
        est[:, k] = pk - pr
        G[:, k] = (pk * (1 - pk))[:, None] * Zk - (pr * (1 - pr))[:, None] * Zr
    if not cov:
        return est, None
    return est, np.einsum("nai,ij,nbj->nab", G, V, G)


class _PairwiseModel:
    """One two-arm learner per non-reference arm of a trial."""

    def __init__(self, models: list):
        self.models = models

    def contrasts(self, X: np.ndarray, scale: str, binary: bool) -> np.ndarray:
        kw = {"scale": scale} if binary else {}
        return np.column_stack([m.predict_ite(X, **kw) for m in self.models])


def _fit_pairwise(learner, X, arm, y, arms, rng, family, *, clone: bool = False):
    models = []
    for k in arms[1:]:
        m = (arm == arms[0]) | (arm == k)
        lrn = learner.bootstrap_clone() if clone else copy.deepcopy(learner)
        lrn.fit(X[m], (arm[m] == k).astype(float), y[m], random_state=rng, family=family)
        models.append(lrn)
    return _PairwiseModel(models)


def _strat_resample(arm: np.ndarray, arms: list[str], rng) -> np.ndarray:
    parts = []
    for a in arms:
        rows = np.flatnonzero(arm == a)
        parts.append(rows[rng.integers(0, len(rows), len(rows))])
    return np.concatenate(parts)


class _NetStage1:
    """One trial's network stage-1 fit (shared by every pooler of the same learner).

    ``network_stage1="native"`` fits the machine-learning learners on all arms at once
    (:mod:`ipdma.ite._network_learners`); ``X_query`` reduces the bootstrap refits of a
    fitted-model learner to their predicted contrasts there ((B, N, m-1), in the worker).
    """

    def __init__(self, label, X, arm, y, arms, learner, seed, family, *,
                 n_boot: int | None = None, aux: bool = False,
                 network_stage1: str = "native", X_query: np.ndarray | None = None,
                 scale: str | None = None):
        import time

        from ._network_bayes import POSTERIOR_LEARNERS, fit_network_posterior
        from ._network_learners import fit_native, uses_native

        rng = check_random_state(seed)
        self.label = str(label)
        self.n = len(y)
        self.arms = list(arms)
        self.n_arm = {a: int((arm == a).sum()) for a in arms}
        self.family = family
        # outcome-scale aware contrasts (binary and time to event pass the scale on)
        self.binary = family.name in ("binary", "survival")
        self.joint = learner.name in _BLOCK_LEARNERS or learner.name in POSTERIOR_LEARNERS
        self.native = uses_native(learner, network_stage1) or (
            learner.name == "xgboost-cox" and network_stage1 == "native")
        self.learner_name = learner.name
        t0 = time.perf_counter()
        if learner.name in POSTERIOR_LEARNERS:
            self.block = fit_network_posterior(learner, X, arm, y, arms, self.label, rng,
                                               family)
            self.model = None
        elif self.joint:
            self.block = _block_fit(X, arm, y, arms, self.label, family, learner)
            self.model = None
        elif self.native:
            self.block = None
            if learner.name == "xgboost-cox":                # time to event
                from ._network_survival import fit_native_xgboost_cox

                self.model = fit_native_xgboost_cox(learner, X, arm, y, arms, rng, family)
            else:
                self.model = fit_native(learner, X, arm, y, arms, rng, family)
        else:
            self.block = None
            self.model = _fit_pairwise(learner, X, arm, y, arms, rng, family)
        self.seconds = {"fit": time.perf_counter() - t0}
        self.aux = None
        if aux:
            t0 = time.perf_counter()
            self.aux = self.block if learner.name in _BLOCK_LEARNERS else \
                _block_fit(X, arm, y, arms, self.label, family, learner)
            self.seconds["aux-ols"] = time.perf_counter() - t0
        self.boot = None
        if n_boot is not None:
            t0 = time.perf_counter()
            boots = []
            for _ in range(int(n_boot)):
                ib = _strat_resample(arm, self.arms, rng)
                if self.joint:
                    boots.append(_block_fit(X[ib], arm[ib], y[ib], arms, self.label, family,
                                            learner))
                elif self.native:
                    boots.append(fit_native(learner, X[ib], arm[ib], y[ib], arms, rng, family,
                                            template=self.model))
                else:
                    boots.append(_fit_pairwise(self.model.models[0], X[ib], arm[ib], y[ib],
                                               arms, rng, family, clone=True)
                                 if len(self.model.models) == 1 else
                                 _PairwiseModel([_fit_pairwise(mk, X[ib], arm[ib], y[ib],
                                                               [arms[0], arms[j + 1]], rng,
                                                               family, clone=True).models[0]
                                                 for j, mk in enumerate(self.model.models)]))
            self.boot = boots
            if X_query is not None and not self.joint:
                # predicted in the worker, refits dropped (same numbers as predicting later)
                from ._bootstrap_store import PredictedBootstrap

                Xq = np.asarray(X_query, dtype=float)
                self.boot = PredictedBootstrap(
                    Xq, np.stack([b.contrasts(Xq, scale, self.binary) for b in boots]),
                    scale if self.binary else None)
            self.seconds["bootstrap"] = time.perf_counter() - t0

    def contrasts(self, X: np.ndarray, scale: str) -> np.ndarray:
        if self.joint:
            return _block_contrasts(self.block, X, scale, cov=False)[0]
        return self.model.contrasts(X, scale, self.binary)

    def boot_contrasts(self, X: np.ndarray, scale: str) -> np.ndarray:
        """(B, N, m-1) contrasts of the bootstrap refits at X."""
        from ._bootstrap_store import PredictedBootstrap

        if isinstance(self.boot, PredictedBootstrap):
            return self.boot.predict_ite(X, scale=scale if self.binary else None)
        return np.stack([_block_contrasts(b, X, scale, cov=False)[0] if self.joint
                         else b.contrasts(X, scale, self.binary) for b in self.boot])

    def contrast_cov(self, X: np.ndarray, scale: str, source: str) -> np.ndarray:
        if source == "aux-ols":
            return _block_contrasts(self.aux, X, scale)[1]
        draws = self.boot_contrasts(X, scale)
        c = draws - draws.mean(0)
        return np.einsum("bna,bnc->nac", c, c) / (len(draws) - 1)


# --------------------------------------------------------------------------------------
# stage 2
# --------------------------------------------------------------------------------------
def _design_rows(arms: list[str], treatments: list[str]) -> np.ndarray:
    pos = {t: i - 1 for i, t in enumerate(treatments)}
    D = np.zeros((len(arms) - 1, len(treatments) - 1))
    for k, a in enumerate(arms[1:]):
        if a != treatments[0]:
            D[k, pos[a]] += 1.0
        if arms[0] != treatments[0]:
            D[k, pos[arms[0]]] -= 1.0
    return D


def network_gls(ests: list[np.ndarray], covs: list[np.ndarray], Ds: list[np.ndarray],
                heterogeneity: str = "fixed"):
    """Per-patient network GLS of trials' contrasts onto the basic parameters.

    ``ests[l]`` (N, m_l - 1), ``covs[l]`` (N, m_l - 1, m_l - 1), ``Ds[l]`` (m_l - 1, T - 1).
    ``heterogeneity="DL"`` adds a per-patient generalised DerSimonian-Laird tau^2 with
    the consistency structure (variance tau^2 per contrast, tau^2/2 between contrasts of
    one trial).  Returns mean (N, T-1), covariance (N, T-1, T-1), tau2 (N,) and Q (N,).
    """
    N = len(ests[0])
    T1 = Ds[0].shape[1]

    def gls(extra):
        info = np.zeros((N, T1, T1))
        score = np.zeros((N, T1))
        Ws = []
        for e, C, D in zip(ests, covs, Ds):
            m1 = D.shape[0]
            S = 0.5 * (np.eye(m1) + np.ones((m1, m1)))
            W = np.linalg.inv(C + extra[:, None, None] * S)
            Ws.append(W)
            info += np.einsum("ka,nkl,lb->nab", D, W, D)
            score += np.einsum("ka,nkl,nl->na", D, W, e)
        covb = np.linalg.inv(info)
        return np.einsum("nab,nb->na", covb, score), covb, Ws

    zero = np.zeros(N)
    mean, covb, Ws = gls(zero)
    Q = np.zeros(N)
    for e, D, W in zip(ests, Ds, Ws):
        r = e - mean @ D.T
        Q += np.einsum("nk,nkl,nl->n", r, W, r)
    n_obs = sum(D.shape[0] for D in Ds)
    df = n_obs - T1
    tau2 = zero
    if heterogeneity != "fixed":
        # tr(P S) = sum_l tr(W_l S_l) - tr(covb sum_l D_l' W_l S_l W_l D_l)
        trWS = np.zeros(N)
        A = np.zeros((N, T1, T1))
        for D, W in zip(Ds, Ws):
            m1 = D.shape[0]
            S = 0.5 * (np.eye(m1) + np.ones((m1, m1)))
            WS = np.einsum("nkl,lm->nkm", W, S)
            trWS += np.einsum("nkk->n", WS)
            A += np.einsum("ka,nkm,nml,lb->nab", D, WS, W, D)
        trPS = trWS - np.einsum("nab,nba->n", covb, A)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau2 = np.where(trPS > 0, np.maximum(0.0, (Q - df) / trPS), 0.0)
        mean, covb, _ = gls(tau2)
    return mean, covb, tau2, Q


@dataclass
class NetworkPrediction:
    """Pooled network ITEs at N query points.

    ``mean`` (N, T-1): each non-reference treatment vs the reference (``treatments[0]``);
    ``cov`` (N, T-1, T-1) their joint covariance (no heterogeneity); ``extra_var`` (N,)
    the between-trial variance of a contrast (any pair, consistency structure) for the
    prediction intervals; ``p_best`` (N, T) P(each treatment is best).
    """

    treatments: list[str]
    mean: np.ndarray
    cov: np.ndarray
    level: float = 0.95
    extra_var: np.ndarray | None = None
    higher_is_better: bool = True
    p_best: np.ndarray | None = None
    scale: str = "difference"
    info: dict = field(default_factory=dict)
    #: degrees of freedom of the prediction intervals' t quantiles (None: normal)
    pi_df: float | None = None
    #: interval columns that replace the normal ones (Bayesian poolers: quantiles of draws)
    intervals: dict | None = None

    @property
    def reference(self) -> str:
        return self.treatments[0]

    @property
    def best(self) -> np.ndarray:
        return best_treatment(self.treatments, self.mean,
                              higher_is_better=self.higher_is_better)

    def to_frame(self, pairs: str = "reference") -> pd.DataFrame:
        """``ite_<T>_vs_<REF>``, ``se_``, ``ci_low_``, ``ci_high_`` (``pi_low_``,
        ``pi_high_``) per non-reference treatment T, ``best_treatment`` and
        ``p_best_<T>`` per treatment; ``pairs="all"``: every pair ``<j>_vs_<k>``."""
        raw = all_pairs(self.treatments, self.mean, self.cov, extra_var=self.extra_var,
                        level=self.level, pi_df=self.pi_df)
        if self.intervals is not None:
            raw.update(self.intervals)
        ref = self.reference
        wanted = [f"{t}_vs_{ref}" for t in self.treatments[1:]] if pairs == "reference" \
            else [f"{self.treatments[j]}_vs_{self.treatments[k]}"
                  for j in range(1, len(self.treatments)) for k in range(j)]
        cols: dict[str, np.ndarray] = {}
        for key in wanted:
            for stem in ("ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
                name = f"{stem}_{key}"
                if name in raw:
                    cols[name] = raw[name]
        if self.extra_var is not None:
            cols["tau2"] = self.extra_var
        cols["best_treatment"] = self.best
        if self.p_best is not None:
            for j, t in enumerate(self.treatments):
                cols[f"p_best_{t}"] = self.p_best[:, j]
        return pd.DataFrame(cols)


def _pooler_spec(pooler, family, scale: str) -> dict:
    name = pooler.name
    if name not in NETWORK_POOLERS:
        raise InfeasibleMethodError(
            f"pooler {name!r} is not available with more than two treatments yet; use "
            f"{', '.join(repr(p) for p in NETWORK_POOLERS)}")
    spec = {"name": name, "kind": NETWORK_POOLERS[name], "level": pooler.level}
    if name == "mvma":
        method = pooler.method
        if method not in ("reml", "ml", "fixed"):
            raise ModelSpecificationError(
                f"method={method!r}: the network multivariate meta-analysis supports "
                "'reml', 'ml' and 'fixed'")
        structure = pooler.structure or "consistency"
        if structure not in ("consistency", "delta"):
            raise ModelSpecificationError(
                f"structure={structure!r}: with more than two treatments choose "
                "'consistency' (one tau2 per parameter type, correlation 1/2 within a "
                "multi-arm trial) or 'delta' (random treatment effects only)")
        if getattr(pooler, "aggregate", None) is not None:
            raise ModelSpecificationError(
                "aggregate trials are not supported with more than two treatments yet")
        if family.name == "binary" and scale != "logor":
            raise ModelSpecificationError(
                "pooler 'mvma' pools the trials' log odds ratios of a treatment network: "
                "pass scale='logor', or use pooler 'weighted-aux-ols' for risk differences")
        spec.update(method=method, structure=structure,
                    pi_df=getattr(pooler, "pi_df", "riley"))
    elif spec["kind"] in ("bayes", "posterior"):
        if family.name not in ("continuous", "binary"):
            raise ModelSpecificationError(
                f"pooler {name!r} on a treatment network pools the posterior of "
                f"continuous or binary contrast blocks; the outcome is {family.name}")
        if family.name == "binary" and spec["kind"] == "bayes" and scale != "logor":
            raise ModelSpecificationError(
                "pooler 'bayes-mvma' pools the trials' posterior log odds ratios of a "
                "treatment network: pass scale='logor', or use pooler 'posterior-mix' for "
                "risk differences")
        spec.update(method="bayes" if spec["kind"] == "bayes" else "fixed")
        if spec["kind"] == "bayes":
            from ._network_bayes import _random_types

            _random_types(pooler.random, 1)          # checks the choice
    else:
        het = pooler.heterogeneity
        if het not in ("fixed", "DL"):
            raise ModelSpecificationError(
                f"heterogeneity={het!r}: the network weighted pooler supports 'fixed' "
                "(the paper's common-effect weights) and 'DL' (per-patient generalised "
                "DerSimonian-Laird tau2)")
        spec.update(heterogeneity=het)
    return spec


class NetworkFit:
    """The fitted network state of a :class:`~ipdma.ite.TwoStageITE` (``model.network_``)."""

    def __init__(self, model, stage1: list[_NetStage1], d: NetworkITEData, *,
                 higher_is_better: bool = True, n_draws: int = 2000):
        self.model = model
        self.stage1 = stage1
        self.data = d
        self.treatments = list(d.treatments)
        self.family = d.family
        self.scale = self.family.check_scale(model.scale)
        self.higher_is_better = bool(higher_is_better)
        if self.family.name == "survival":              # longer survival is better
            from ._network_survival import survival_better_is_higher

            self.higher_is_better = survival_better_is_higher(self.scale, higher_is_better)
        self.n_draws = int(n_draws)
        self.spec = _pooler_spec(model.pooler_, self.family, self.scale)
        self.pooled: NetworkPooled | None = None
        self.Ds = [_design_rows(s.arms, self.treatments) for s in stage1]
        if self.spec["kind"] == "coef":
            self.pooled = pool_network([s.block for s in stage1], treatments=self.treatments,
                                       method=self.spec["method"],
                                       structure=self.spec["structure"],
                                       level=self.spec["level"])
        elif self.spec["kind"] == "bayes":
            from ._network_bayes import pool_network_bayes

            pl = model.pooler_
            self.pooled = pool_network_bayes(
                [s.block for s in stage1], treatments=self.treatments, random=pl.random,
                prior_var=pl.prior_var, tau_scale=pl.tau_scale, num_warmup=pl.num_warmup,
                num_samples=pl.num_samples, num_chains=pl.num_chains,
                grid_size=pl.grid_size, level=pl.level, random_state=pl.random_state)

    def inference_data(self):
        """Pooler ``bayes-mvma``: the posterior draws of the basic parameters and tau as
        ArviZ ``InferenceData``."""
        if self.spec["kind"] != "bayes":
            raise ModelSpecificationError(
                f"pooler {self.spec['name']!r} has no posterior draws; use 'bayes-mvma' "
                "(the trials' posteriors: stage1_inference_data())")
        return self.pooled.inference_data()

    def stage1_inference_data(self) -> dict:
        """Bayesian learners: each trial's posterior of its contrast blocks as ArviZ
        ``InferenceData`` (``{trial: InferenceData}``)."""
        from ._network_bayes import block_inference_data

        return {s.label: block_inference_data(s.block, self.data.feature_names)
                for s in self.stage1}

    @property
    def n_trials(self) -> int:
        return len(self.stage1)

    def _pi_df(self, riley: bool = True) -> float | None:
        """t_{K-2} prediction intervals (K trials; Riley et al. 2011, as the two-arm
        poolers), normal quantiles with K <= 2 or when asked for."""
        K = self.n_trials
        return float(K - 2) if riley and K > 2 else None

    @property
    def reference(self) -> str:
        return self.treatments[0]

    def predict(self, X: np.ndarray) -> NetworkPrediction:
        spec = self.spec
        pb = intervals = None
        pi_df = self._pi_df()
        if spec["kind"] == "coef":
            pi_df = self._pi_df(spec.get("pi_df", "riley") == "riley")
            info = {"method": spec["method"], "structure": spec["structure"]}
            if self.scale in ("survdiff", "rmstdiff"):
                from ._network_survival import survival_mvma_network

                mean, cov, arm_values, intervals = survival_mvma_network(
                    self.pooled, [s.block for s in self.stage1], X, self.treatments,
                    self.family, self.scale, random=spec["method"] != "fixed",
                    pi_df=pi_df, level=spec["level"])
                extra = None
                info["arm_values"] = arm_values
            else:
                mean, cov = self.pooled.predict_basic(X)
                extra = None if spec["method"] == "fixed" else self.pooled.heterogeneity(X)
        elif spec["kind"] == "bayes":
            mean, cov, intervals, pb, extra = self.pooled.predict(
                X, higher_is_better=self.higher_is_better)
            info = {"random": self.pooled.random, **self.pooled.diagnostics}
        elif spec["kind"] == "posterior":
            from ._network_bayes import network_posterior_mix, posterior_contrasts

            md = getattr(self.model.pooler_, "max_draws", None)
            ests, covs = zip(*[posterior_contrasts(s.block, X, self.scale, self.family,
                                                   max_draws=md) for s in self.stage1])
            mean, cov, probs = network_posterior_mix(list(ests), list(covs), self.Ds)
            extra = None
            info = {"trial_probabilities": probs}
        else:
            ests = [s.contrasts(X, self.scale) for s in self.stage1]
            covs = [s.contrast_cov(X, self.scale, spec["kind"]) for s in self.stage1]
            for s, C in zip(self.stage1, covs):
                ev = np.linalg.eigvalsh(C)
                if not np.all(np.isfinite(ev)) or ev.min() <= 0:
                    i = int(np.argwhere(~(np.isfinite(ev) & (ev > 0)).all(1))[0, 0])
                    raise DataError(
                        f"{self.model.name}: trial {s.label!r} has a degenerate "
                        f"{spec['kind']} covariance of its contrasts at query point {i} (e.g. "
                        "bootstrap refits with identical predictions there); use "
                        "weighted-aux-ols or more bootstrap resamples (n_boot)")
            mean, cov, tau2, Q = network_gls(ests, covs, self.Ds, spec["heterogeneity"])
            extra = None if spec["heterogeneity"] == "fixed" else tau2
            info = {"heterogeneity": spec["heterogeneity"], "Q": Q}
        if pb is None:
            pb = _p_best_chunked(self.treatments, mean, cov, n_draws=self.n_draws,
                                 higher_is_better=self.higher_is_better,
                                 random_state=self.model.random_state)
        return NetworkPrediction(treatments=self.treatments, mean=mean, cov=cov,
                                 level=spec["level"], extra_var=extra,
                                 higher_is_better=self.higher_is_better, p_best=pb,
                                 scale=self.scale, info=info,
                                 pi_df=pi_df if extra is not None else None,
                                 intervals=intervals)

    def trial_contrasts(self, X: np.ndarray) -> pd.DataFrame:
        """Every trial's predicted contrasts (vs its own reference arm), long format."""
        rows = []
        for s in self.stage1:
            est = s.contrasts(X, self.scale)
            for k, a in enumerate(s.arms[1:]):
                rows.append(pd.DataFrame({"trial": s.label, "patient": np.arange(len(X)),
                                          "contrast": f"{a}_vs_{s.arms[0]}",
                                          "ite": est[:, k]}))
        return pd.concat(rows, ignore_index=True)

    def trial_frame(self) -> pd.DataFrame:
        rows = []
        for s in self.stage1:
            row = {"trial": s.label, "n": s.n, "arms": ", ".join(s.arms),
                   "trial reference": s.arms[0]}
            for a in self.treatments:
                row[f"n_{a}"] = s.n_arm.get(a, 0)
            rows.append(row)
        return pd.DataFrame(rows).set_index("trial")

    def coef_frame(self) -> pd.DataFrame:
        if self.pooled is None:
            raise ModelSpecificationError(
                f"pooler {self.spec['name']!r} pools predictions per patient; pooled "
                "coefficients come from pooler 'mvma'")
        p = self.pooled
        se = np.sqrt(np.diag(p.vcov)).reshape(p.coef.shape)
        z = stats.norm.ppf(0.5 + p.level / 2)
        names = ["delta", *[f"gamma[{n}]" for n in self.data.feature_names]]
        rows = []
        for i, t in enumerate(self.treatments[1:]):
            for j, nm in enumerate(names):
                rows.append({"contrast": f"{t}_vs_{self.reference}", "parameter": nm,
                             "coef": p.coef[i, j], "se": se[i, j],
                             "ci_lower": p.coef[i, j] - z * se[i, j],
                             "ci_upper": p.coef[i, j] + z * se[i, j]})
        return pd.DataFrame(rows)

    def tau2_frame(self) -> pd.DataFrame:
        p = self.pooled
        names = ["delta", *[f"gamma[{n}]" for n in self.data.feature_names]]
        return pd.DataFrame({"parameter": names[: len(p.tau2)], "tau2": p.tau2})


def _p_best_chunked(treatments, mean, cov, *, n_draws, higher_is_better, random_state,
                    chunk=250):
    """P(best) per patient, drawn in a canonical basis (contrasts vs the first treatment in
    natural label order, labels in that order) with the same seeded normal draws for every
    patient: the same numbers whatever the network reference, label or row order."""
    from ._twostage import _seed_sequence

    ss = _seed_sequence(random_state)
    seed = int(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 2**31 - 1),
                                      pool_size=ss.pool_size).generate_state(1)[0])
    T = len(treatments)
    canon = sorted(treatments, key=_natural_key)
    # full (T) from basic (T-1): F = [0; I]; canonical basic = A full, A rows e_k - e_c0
    F = np.vstack([np.zeros((1, T - 1)), np.eye(T - 1)])
    pos = [treatments.index(t) for t in canon]
    A = np.zeros((T - 1, T))
    for i, t in enumerate(pos[1:]):
        A[i, t] += 1.0
        A[i, pos[0]] -= 1.0
    M = A @ F
    cmean = mean @ M.T
    ccov = np.einsum("ia,nab,jb->nij", M, cov, M)
    out = []
    for a in range(0, len(mean), chunk):
        out.append(p_best(cmean[a:a + chunk], ccov[a:a + chunk], n_draws=n_draws,
                          higher_is_better=higher_is_better, random_state=seed))
    pc = np.vstack(out)
    return pc[:, [canon.index(t) for t in treatments]]


# --------------------------------------------------------------------------------------
# wiring into TwoStageITE / fit_methods
# --------------------------------------------------------------------------------------
def check_network_method(model, family) -> None:
    """The model's learner and pooler can run on a treatment network of ``family``."""
    from ._twostage import _check_family_pair

    _check_family_pair(model, family)
    lrn = model.learner_
    spec_pooler = model.pooler_
    scale = family.check_scale(model.scale)
    _pooler_spec(spec_pooler, family, scale)
    from ._network_bayes import POSTERIOR_LEARNERS

    if NETWORK_POOLERS[spec_pooler.name] in ("bayes", "posterior") and \
            lrn.name not in POSTERIOR_LEARNERS:
        raise InfeasibleMethodError(
            f"pooler {spec_pooler.name!r} on a treatment network needs the joint posterior "
            f"of each trial's contrast blocks, which learner {lrn.name!r} does not give; use "
            f"learner {', '.join(repr(x) for x in sorted(POSTERIOR_LEARNERS))}")
    if spec_pooler.name == "mvma" and lrn.name not in _BLOCK_LEARNERS:
        raise InfeasibleMethodError(
            f"pooler 'mvma' needs coefficient blocks with a covariance, which learner "
            f"{lrn.name!r} does not give; use learner 'ols' (continuous), 'logistic' "
            "(binary) or 'cox'/'weibull' (time to event), or pooler 'weighted-aux-ols'")
    if lrn.name in _BLOCK_LEARNERS and _BLOCK_LEARNERS[lrn.name] != family.name:
        raise ModelSpecificationError(
            f"learner {lrn.name!r} is for {_BLOCK_LEARNERS[lrn.name]} outcomes; the outcome "
            f"is {family.name}")
    if scale in family.coef_scales and lrn.name not in _BLOCK_LEARNERS and \
            "linear" not in lrn.provides:
        raise ModelSpecificationError(
            f"scale={scale!r} needs a learner with coefficients; learner {lrn.name!r} has "
            f"none: use scale={family.default_scale!r}")


def _net_stage1_job(lrn, i, tr, X, arm, y, arms, learner, seed, fam, nb, aux, stage1_mode,
                    X_query, scale):
    """One (learner, trial) network stage-1 job (module level: it runs in worker
    processes or on a Dask cluster)."""
    try:
        return (lrn, i), _NetStage1(tr, X, arm, y, arms, learner, seed, fam, n_boot=nb,
                                    aux=aux, network_stage1=stage1_mode, X_query=X_query,
                                    scale=scale)
    except DataError as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.startswith("trial") else f"trial {tr!r}: {msg}") \
            from exc


def fit_network_groups(d: NetworkITEData, groups: dict, seeds, n_jobs: int, *,
                       higher_is_better: bool = True, progress: bool | None = False,
                       desc: str = "stage 1", network_stage1: str = "native",
                       X_query: np.ndarray | None = None, client: Any = None) -> None:
    """Stage 1 once per (learner, trial) for each group of models sharing a learner,
    then the network stage 2 of every model.

    ``network_stage1``: ``"native"`` or ``"per-contrast"`` fits of the machine-learning
    learners (:mod:`ipdma.ite._network_learners`).  ``X_query``: the points the models
    will predict at; bootstrap refits of fitted-model learners are predicted there in the
    worker and dropped (as on the two-arm path).  ``client``: a Dask client
    (:func:`ipdma.ite._dask.run_jobs`); every job carries its own seed, so the numbers do
    not depend on where it runs.
    """
    from ._dask import run_jobs
    from ._network_learners import check_network_stage1

    mode = check_network_stage1(network_stage1)
    if d.outcome_type == "survival":        # the models' horizon/tau (one value per call)
        import dataclasses

        m0 = next(iter(groups.values()))[0]
        opts = dict(d.family_options or {})
        opts.update({k: v for k, v in (("horizon", m0.horizon), ("tau", m0.tau))
                     if v is not None})
        d = dataclasses.replace(d, family_options=opts)
    fam = d.family
    for ms in groups.values():
        for m in ms:
            check_network_method(m, fam)
    trial_data = list(d.by_trial())
    jobs = []
    for lrn, ms in groups.items():
        need_boot = any(NETWORK_POOLERS[m.pooler_.name] == "bootstrap" for m in ms)
        need_aux = any(NETWORK_POOLERS[m.pooler_.name] == "aux-ols" for m in ms)
        scales = {fam.check_scale(m.scale) for m in ms}
        # the models of a group predict on one scale: only then can the worker predict
        # the bootstrap refits for all of them
        xq = X_query if need_boot and len(scales) == 1 else None
        sc = next(iter(scales))
        for i, (tr, X, arm, y, arms) in enumerate(trial_data):
            jobs.append((lrn, i, tr, X, arm, y, arms, copy.deepcopy(ms[0].learner_), seeds[i],
                         fam, ms[0].n_boot if need_boot else None, need_aux, mode, xq, sc))

    done = run_jobs(_net_stage1_job, jobs, n_jobs=n_jobs, client=client)
    stage1 = dict(progress_bar(done, show=progress, total=len(jobs), desc=desc, unit="fit"))
    for lrn, ms in groups.items():
        for m in ms:
            _set_network(m, [stage1[(lrn, i)] for i in range(len(trial_data))], d,
                         higher_is_better)
            m.network_stage1_ = mode


def _set_network(model, stage1, d, higher_is_better) -> None:
    import time

    model.fits_ = None
    model.data_ = d
    model.trials_ = list(d.trials)
    model.feature_names_ = list(d.feature_names)
    model.treatments_ = list(d.treatments)
    model.reference_ = d.reference
    model.prediction_ = None
    kind = NETWORK_POOLERS[model.pooler_.name]
    model.stage1_seconds_ = float(sum(s.seconds["fit"] + s.seconds.get(kind, 0.0)
                                      for s in stage1))
    t0 = time.perf_counter()
    model.network_ = NetworkFit(model, stage1, d, higher_is_better=higher_is_better)
    model.stage2_seconds_ = time.perf_counter() - t0


def network_predict(model, X_new: Any, pairs: str = "reference") -> pd.DataFrame:
    from ._twostage import new_X

    X, index = new_X(X_new, model.feature_names_)
    pred = model.network_.predict(X)
    model.prediction_ = pred
    model.X_pred_ = X
    out = pred.to_frame(pairs=pairs)
    if index is not None:
        out.index = index
    return out


def network_summary(model) -> Summary:
    net = model.network_
    info = {"learner": model.learner_.name, "pooler": model.pooler_.name,
            "treatments": ", ".join(net.treatments), "network reference": net.reference,
            "trials": len(model.trials_),
            "patients": len(model.data_.y) or "not available (site summaries)",
            "covariates": ", ".join(model.feature_names_), "scale": net.scale,
            "best": "higher" if net.higher_is_better else "lower"}
    if net.family.name == "survival":                # the scale's time point
        info.update({k: v for k, v in (("horizon", net.family.horizon),
                                       ("tau", net.family.tau)) if v is not None})
    tables = {"Stage 1 (per trial)": net.trial_frame()}
    if net.pooled is not None:
        tables["Stage 2: pooled basic parameters"] = net.coef_frame()
        if net.spec["method"] != "fixed":
            tables["Stage 2: tau2 (consistency structure)"] = net.tau2_frame()
    notes = []
    pred = getattr(model, "prediction_", None)
    if isinstance(pred, NetworkPrediction):
        best = pd.Series(pred.best).value_counts().reindex(net.treatments, fill_value=0)
        row = {"N": len(pred.mean)}
        for j, t in enumerate(net.treatments[1:]):
            row[f"mean ITE {t}_vs_{net.reference}"] = pred.mean[:, j].mean()
        for t in net.treatments:
            row[f"best {t}"] = int(best[t])
        tables["Last prediction"] = pd.DataFrame([row])
    else:
        notes.append("Call .predict(X_new) for individualised treatment effects.")
    return Summary(title=f"Two-stage ITE meta-analysis of a treatment network: {model.name}",
                   info=info, tables=tables, notes=notes)


def network_plot(model, kind: str = "best", *, covariate: str | None = None, ax=None):
    """``kind="best"``: the predicted best treatment of each patient against
    ``covariate`` (and the first other covariate) ; ``"distribution"``: histograms of the
    ITEs vs the reference."""
    from ..plots import color_for, get_ax

    pred = getattr(model, "prediction_", None)
    if not isinstance(pred, NetworkPrediction):
        raise NotFittedError("call .predict(X_new) before .plot()")
    ax = get_ax(ax)
    trts = pred.treatments
    if kind in ("best", "distribution") and kind == "distribution":
        for j, t in enumerate(trts[1:]):
            ax.hist(pred.mean[:, j], bins=40, alpha=0.5, color=color_for(j),
                    label=f"{t} vs {trts[0]}")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("predicted ITE")
        ax.set_ylabel("patients")
        ax.legend(frameon=False)
        return ax
    if kind != "best":
        raise ModelSpecificationError(
            f"kind={kind!r}: choose 'best' or 'distribution' for a treatment network")
    names = model.feature_names_
    if covariate is None:
        covariate = names[0]
    if covariate not in names:
        from ..errors import ColumnNotFoundError

        raise ColumnNotFoundError(f"covariate {covariate!r} is not one of {', '.join(names)}")
    j0 = names.index(covariate)
    other = next((j for j in range(len(names)) if j != j0), None)
    X = model.X_pred_
    best = pred.best
    for k, t in enumerate(trts):
        m = best == t
        yv = X[m, other] if other is not None else np.zeros(m.sum())
        ax.scatter(X[m, j0], yv, s=10, color=color_for(k), label=f"{t} ({int(m.sum())})")
    ax.set_xlabel(covariate)
    ax.set_ylabel(names[other] if other is not None else "")
    ax.set_title("predicted best treatment per patient")
    ax.legend(title="best", frameon=False, fontsize="small")
    return ax

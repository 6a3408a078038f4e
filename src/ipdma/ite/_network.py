"""Two-stage ITE for a network of treatments: array-level stage 1 and stage 2.

Stage 1 (per trial, all its arms): OLS ``y ~ trt * (x1 + ... + xp)`` with treatment
dummies against the trial's own reference arm; the treatment block of arm k is
``theta_k = (delta_k, gamma_k1..gamma_kp)`` and the full covariance of all the trial's
blocks is kept (contrasts of a multi-arm trial share the reference arm, so they covary).

Stage 2 (:func:`pool_network`): the blocks of all trials are stacked and mapped to the
basic parameters (each treatment vs the network reference): a B-vs-C block informs
(C - A) - (B - A). Random effects follow the consistency structure, one tau2 per
parameter type (delta, gamma_1, ...) with correlation 1/2 between the contrasts of a
multi-arm trial (:func:`ipdma.meta.consistency_components`), fitted by REML, ML or as a
fixed (GLS) model with :func:`ipdma.meta.fit_variance_components`. Every pairwise
contrast follows from the basic ones, so the results are consistent by construction and
do not depend on which treatment is the network reference or on the trials' own
reference arms.

:func:`network_ivw` is the per-patient network version of the inverse-variance average
of trial ITEs: at each query point, the trials' predicted contrasts (with their
covariances) enter a common-effect GLS on the basic contrasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._lazy import lazy_module
from ..errors import DataError, ModelSpecificationError, NetworkError
from ..meta import consistency_components, fit_variance_components
from ..meta._components import VCFit

__all__ = [
    "NetworkBlock",
    "NetworkPooled",
    "all_pairs",
    "best_treatment",
    "fit_network_ols",
    "network_ivw",
    "p_best",
    "pool_network",
]

stats = lazy_module("scipy.stats")   # imported when first used


@dataclass
class NetworkBlock:
    """Stage-1 result of one trial: treatment blocks vs the trial's reference arm.

    ``theta`` has one row per non-reference arm (``arms[1:]``), columns
    (delta, gamma_1..gamma_p); ``cov`` is the covariance of ``theta.ravel()`` (contrast
    by contrast).
    """

    trial: str
    arms: list[str]
    theta: np.ndarray
    cov: np.ndarray
    n: int = 0
    sigma: float = float("nan")
    extra: dict = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return self.arms[0]


def fit_network_ols(X: np.ndarray, arm: Sequence[str], y: np.ndarray, *, trial: str = "",
                    arms: Sequence[str] | None = None) -> NetworkBlock:
    """OLS with treatment dummies and their covariate interactions, all arms of a trial.

    Parameters
    ----------
    X : array (n, p)
        Covariates.
    arm : sequence of str, length n
        Treatment label of each patient.
    y : array (n,)
        Continuous outcome.
    trial : str
        Trial label (kept in the result).
    arms : sequence of str, optional
        The trial's arms with its reference first (default: sorted labels; R's factor
        order).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite._network import fit_network_ols
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 1)); arm = rng.choice(["A", "B", "C"], 600)
    >>> y = X[:, 0] + (arm == "B") * (1 + X[:, 0]) + (arm == "C") * 2 + rng.normal(size=600)
    >>> blk = fit_network_ols(X, arm, y, trial="t1")
    >>> blk.arms, blk.theta.round(1).tolist(), blk.cov.shape
    (['A', 'B', 'C'], [[1.0, 0.9], [2.0, -0.0]], (4, 4))
    """
    X = np.ascontiguousarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, dtype=float).ravel()
    arm = np.asarray(arm).astype(str)
    if not (len(X) == len(arm) == len(y)):
        raise DataError(f"trial {trial}: X, treatment and y have different lengths")
    labels = sorted(set(arm.tolist())) if arms is None else [str(a) for a in arms]
    missing = sorted(set(arm.tolist()) - set(labels))
    if missing:
        raise DataError(f"trial {trial}: treatment(s) {missing} are not among its arms {labels}")
    if len(labels) < 2:
        raise DataError(f"trial {trial} has one arm ({labels[0]}): an ITE needs two or more")
    n, p = X.shape
    m = len(labels)
    D = (arm[:, None] == np.array(labels[1:])[None, :]).astype(float)       # (n, m-1)
    counts = D.sum(0)
    if np.any(counts == 0) or n - counts.sum() == 0:
        empty = [lab for lab, c in zip(labels, [n - counts.sum(), *counts]) if c == 0]
        raise DataError(f"trial {trial}: arm(s) {empty} have no patients")
    inter = (D[:, :, None] * X[:, None, :]).reshape(n, -1)                 # D_k * x, by arm
    Z = np.hstack([np.ones((n, 1)), X, D, inter])
    q = Z.shape[1]
    if n <= q:
        raise DataError(f"trial {trial}: the interaction model needs more than {q} patients "
                        f"(got {n}); use fewer covariates")
    Q, R = np.linalg.qr(Z)
    dR = np.abs(np.diag(R))
    if dR.min() < 1e-10 * dR.max():
        raise DataError(f"trial {trial}: the interaction design is rank deficient (a covariate "
                        "constant within an arm?): drop that covariate")
    coef = np.linalg.solve(R, Q.T @ y)
    resid = y - Z @ coef
    sigma2 = float(resid @ resid) / (n - q)
    Rinv = np.linalg.solve(R, np.eye(q))
    vcov = sigma2 * (Rinv @ Rinv.T)
    # block of arm k: (delta_k, gamma_k1..gamma_kp) = columns (1 + p + k, 1 + p + (m-1) + k*p ...)
    idx = np.array([[1 + p + k, *(1 + p + (m - 1) + k * p + np.arange(p))]
                    for k in range(m - 1)])
    theta = coef[idx]
    flat = idx.ravel()
    return NetworkBlock(trial=str(trial), arms=list(labels), theta=theta,
                        cov=vcov[np.ix_(flat, flat)], n=n, sigma=float(np.sqrt(sigma2)),
                        extra={"coef": coef, "vcov": vcov})


@dataclass
class NetworkPooled:
    """Pooled basic parameters of a network of treatment blocks.

    ``coef`` has one row per non-reference treatment (``treatments[1:]``), columns
    (delta, gamma_1..gamma_p); ``vcov`` is the covariance of ``coef.ravel()``;
    ``tau2`` one value per parameter type (``parameter_names``).
    """

    treatments: list[str]
    parameter_names: list[str]
    coef: np.ndarray
    vcov: np.ndarray
    tau2: np.ndarray
    fit: VCFit
    method: str
    structure: str
    level: float = 0.95

    def contrast_rows(self, X: np.ndarray) -> np.ndarray:
        """(N, p+1) rows c = (1, x)."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[1] != self.coef.shape[1] - 1:
            raise DataError(f"X has {X.shape[1]} columns but the model has "
                            f"{self.coef.shape[1] - 1} covariates")
        return np.hstack([np.ones((len(X), 1)), X])

    def predict_basic(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ITE of each treatment vs the reference: means (N, T-1) and covariances
        (N, T-1, T-1) at the query points (no heterogeneity added)."""
        C = self.contrast_rows(X)
        T1, q = self.coef.shape
        mean = C @ self.coef.T
        V = self.vcov.reshape(T1, q, T1, q)
        cov = np.einsum("ni,aibj,nj->nab", C, V, C)
        return mean, cov

    def heterogeneity(self, X: np.ndarray) -> np.ndarray:
        """Between-trial variance of any contrast at the query points: sum_q tau2_q c_q^2
        (the same for every pair under the consistency structure)."""
        C = self.contrast_rows(X)
        t2 = np.zeros(C.shape[1])
        t2[: len(self.tau2)] = self.tau2          # "delta": only the first type varies
        return (C ** 2) @ t2


def _basic_design(blocks: Sequence[NetworkBlock], treatments: list[str], p: int):
    """Stack the blocks: y, V (block diagonal), X onto the basic parameters, labels."""
    ref = treatments[0]
    pos = {t: i - 1 for i, t in enumerate(treatments)}                   # ref -> -1
    q = p + 1
    nb = (len(treatments) - 1) * q
    ys, Vs, rows, study, ptype = [], [], [], [], []
    for b in blocks:
        r = b.reference
        for k, arm in enumerate(b.arms[1:]):
            for j in range(q):
                row = np.zeros(nb)
                if arm != ref:
                    row[pos[arm] * q + j] += 1.0
                if r != ref:
                    row[pos[r] * q + j] -= 1.0
                rows.append(row)
                study.append(b.trial)
                ptype.append(j)
            ys.append(b.theta[k])
        Vs.append(b.cov)
    from scipy.linalg import block_diag

    return (np.concatenate(ys), block_diag(*Vs), np.array(rows), np.array(study),
            np.array(ptype))


def _check_network(blocks: Sequence[NetworkBlock], treatments: Sequence[str] | None):
    if not blocks:
        raise DataError("no trials to pool")
    p = blocks[0].theta.shape[1] - 1
    for b in blocks:
        if b.theta.shape[1] != p + 1:
            raise DataError(f"trial {b.trial} has {b.theta.shape[1] - 1} covariates, trial "
                            f"{blocks[0].trial} {p}: every trial needs the same covariates")
        if b.theta.shape[0] != len(b.arms) - 1 or b.cov.shape != (b.theta.size,) * 2:
            raise DataError(f"trial {b.trial}: theta/cov do not match its arms {b.arms}")
    seen = sorted({a for b in blocks for a in b.arms})
    if treatments is None:
        treatments = seen
    treatments = [str(t) for t in treatments]
    unknown = sorted(set(seen) - set(treatments))
    if unknown:
        raise DataError(f"treatments {unknown} appear in trials but not in the treatment list")
    absent = [t for t in treatments if t not in seen]
    if absent:
        raise NetworkError(f"treatment(s) {absent} are in no trial: drop them from the list")
    # connectivity (union-find over the trials' arms)
    parent = {t: t for t in treatments}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for b in blocks:
        for a in b.arms[1:]:
            parent[find(a)] = find(b.arms[0])
    comps: dict[str, list[str]] = {}
    for t in treatments:
        comps.setdefault(find(t), []).append(t)
    if len(comps) > 1:
        parts = sorted(comps.values(), key=len, reverse=True)
        raise NetworkError(
            "the treatment network is disconnected: components "
            + "; ".join("{" + ", ".join(c) + "}" for c in parts)
            + ". Add trials that link them or analyse each component separately")
    return list(treatments), p


def pool_network(blocks: Sequence[NetworkBlock], *, treatments: Sequence[str] | None = None,
                 method: str = "reml", structure: str = "consistency",
                 level: float = 0.95) -> NetworkPooled:
    """Network multivariate meta-analysis of per-trial treatment blocks.

    Parameters
    ----------
    blocks : sequence of NetworkBlock
        Stage-1 results (e.g. from :func:`fit_network_ols`).
    treatments : sequence of str, optional
        All treatments, the network reference first (default: sorted labels).
    method : {"reml", "ml", "fixed"}
    structure : {"consistency", "delta"}
        ``"consistency"``: one tau2 per parameter type (delta, gamma_1, ...), correlation
        1/2 between contrasts of a multi-arm trial; ``"delta"``: random effects on the
        treatment effects delta only (effect modifiers common).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite._network import fit_network_ols, pool_network
    >>> rng = np.random.default_rng(1)
    >>> blocks = []
    >>> for k, arms in enumerate([["A", "B", "C"], ["A", "B"], ["B", "C"], ["A", "C"]]):
    ...     X = rng.normal(size=(300, 1)); arm = rng.choice(arms, 300)
    ...     y = (arm == "B") * (1 + X[:, 0]) + (arm == "C") * 2 + rng.normal(size=300)
    ...     blocks.append(fit_network_ols(X, arm, y, trial=f"t{k}"))
    >>> pooled = pool_network(blocks, method="fixed")
    >>> pooled.treatments, pooled.coef.round(1).tolist()
    (['A', 'B', 'C'], [[0.9, 1.0], [1.9, 0.0]])
    """
    treatments, p = _check_network(blocks, treatments)
    method = str(method).lower()
    if structure not in ("consistency", "delta"):
        raise ModelSpecificationError(
            f"structure must be 'consistency' or 'delta', not {structure!r}")
    y, V, Xd, study, ptype = _basic_design(blocks, treatments, p)
    pnames = ["delta", *[f"gamma_{j}" for j in range(1, p + 1)]]
    types = [pnames[j] for j in ptype]
    _, M = consistency_components(study, types,
                                  parameters=pnames if structure == "consistency" else ["delta"])
    fit = fit_variance_components(y, V, Xd, M, method=method)
    T1 = len(treatments) - 1
    return NetworkPooled(treatments=treatments, parameter_names=pnames,
                         coef=fit.coef.reshape(T1, p + 1), vcov=fit.vcov, tau2=fit.tau2,
                         fit=fit, method=method, structure=structure, level=level)


def network_ivw(blocks: Sequence[NetworkBlock], X_new: np.ndarray, *,
                treatments: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient network inverse-variance pooling of the trials' predicted contrasts.

    At each query point x, trial l gives its contrasts ``C theta_l`` (C = I ⊗ (1, x'))
    with covariance ``C S_l C'``; a common-effect GLS over the trials gives the basic
    contrasts (each treatment vs the reference). Returns means (N, T-1) and covariances
    (N, T-1, T-1).
    """
    treatments, p = _check_network(blocks, treatments)
    X_new = np.asarray(X_new, dtype=float)
    if X_new.ndim == 1:
        X_new = X_new[:, None]
    c = np.hstack([np.ones((len(X_new), 1)), X_new])                     # (N, q)
    q = p + 1
    T1 = len(treatments) - 1
    pos = {t: i - 1 for i, t in enumerate(treatments)}
    N = len(c)
    info = np.zeros((N, T1, T1))
    score = np.zeros((N, T1))
    for b in blocks:
        m1 = len(b.arms) - 1
        D = np.zeros((m1, T1))
        for k, arm in enumerate(b.arms[1:]):
            if arm != treatments[0]:
                D[k, pos[arm]] += 1.0
            if b.reference != treatments[0]:
                D[k, pos[b.reference]] -= 1.0
        est = c @ b.theta.T                                              # (N, m1)
        S = b.cov.reshape(m1, q, m1, q)
        cov = np.einsum("ni,aibj,nj->nab", c, S, c)                     # (N, m1, m1)
        W = np.linalg.inv(cov)
        info += np.einsum("ka,nkl,lb->nab", D, W, D)
        score += np.einsum("ka,nkl,nl->na", D, W, est)
    covb = np.linalg.inv(info)
    return np.einsum("nab,nb->na", covb, score), covb


def all_pairs(treatments: Sequence[str], mean: np.ndarray, cov: np.ndarray,
              extra_var: np.ndarray | None = None, level: float = 0.95,
              pi_df: float | None = None) -> dict[str, np.ndarray]:
    """Every pairwise contrast ``j - k`` (j after k in ``treatments``) from the basic ones.

    Returns ``{"ite_<j>_vs_<k>": ..., "se_...", "ci_low_...", "ci_high_..."}`` (and
    ``pi_low_``/``pi_high_`` when ``extra_var``, the between-trial variance of a contrast,
    is given).  The prediction interval uses t quantiles with ``pi_df`` degrees of
    freedom (the two-arm path's Riley et al. 2011 choice is K - 2 with K trials) or
    normal quantiles when ``pi_df`` is None.
    """
    N, T1 = mean.shape
    full = np.hstack([np.zeros((N, 1)), mean])
    fcov = np.zeros((N, T1 + 1, T1 + 1))
    fcov[:, 1:, 1:] = cov
    z = stats.norm.ppf(0.5 + level / 2)
    zp = z if pi_df is None else stats.t.ppf(0.5 + level / 2, pi_df)
    out: dict[str, np.ndarray] = {}
    for j in range(1, T1 + 1):
        for k in range(j):
            est = full[:, j] - full[:, k]
            var = fcov[:, j, j] + fcov[:, k, k] - 2 * fcov[:, j, k]
            se = np.sqrt(np.clip(var, 0, None))
            key = f"{treatments[j]}_vs_{treatments[k]}"
            out[f"ite_{key}"] = est
            out[f"se_{key}"] = se
            out[f"ci_low_{key}"] = est - z * se
            out[f"ci_high_{key}"] = est + z * se
            if extra_var is not None:
                ps = np.sqrt(se ** 2 + extra_var)
                out[f"pi_low_{key}"] = est - zp * ps
                out[f"pi_high_{key}"] = est + zp * ps
    return out


def best_treatment(treatments: Sequence[str], mean: np.ndarray, *,
                   higher_is_better: bool = True) -> np.ndarray:
    """Label of the treatment with the best predicted outcome (reference = 0)."""
    full = np.hstack([np.zeros((len(mean), 1)), mean])
    idx = np.argmax(full if higher_is_better else -full, axis=1)
    return np.asarray(treatments, dtype=object)[idx]


def p_best(mean: np.ndarray, cov: np.ndarray, *, n_draws: int = 10_000,
           higher_is_better: bool = True, random_state=None) -> np.ndarray:
    """P(each treatment is best) from the joint normal of the basic contrasts, by
    seeded Monte Carlo (``n_draws`` per query point): an (N, T) array, rows sum to 1."""
    from .._base import check_random_state

    rng = check_random_state(random_state)
    _N, T1 = mean.shape
    L = np.linalg.cholesky(cov + 1e-15 * np.eye(T1))
    z = rng.standard_normal((n_draws, T1))
    draws = mean[:, None, :] + np.matmul(z[None], np.swapaxes(L, 1, 2))   # (N, S, T1)
    if not higher_is_better:
        draws = -draws
    top = draws.argmax(axis=2) + 1
    best = np.where(draws.max(axis=2) > 0, top, 0)                        # reference = 0
    counts = np.stack([(best == t).sum(1) for t in range(T1 + 1)], axis=1)
    return counts / n_draws

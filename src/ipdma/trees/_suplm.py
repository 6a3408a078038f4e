"""Score-based parameter-instability tests used by MOB.

* :func:`suplm_pvalue` / :func:`suplm_logpvalue`: asymptotic p-value of the sup-LM
  statistic by Hansen's (1997) response-surface approximation (k <= 40 tested parameters),
  interpolated linearly over the trimming fraction on the p scale; Estrella's (2003)
  approximation for k > 40.
* :func:`decorrelated_process`: the empirical fluctuation process W = P M^(-1/2) of the
  scores (outer-product-of-gradients meat, optionally clustered).
* :func:`fluctuation_tests`: sup-LM statistics for numeric/ordered variables, the chi-square
  LM statistic for unordered (and, by default, ordered) factors.

References
----------
Hansen BE (1997). Approximate asymptotic p values for structural-change models.
*J Bus Econ Stat* 15:60-67.
Zeileis A, Hothorn T, Hornik K (2008). Model-based recursive partitioning.
*J Comput Graph Stat* 17:492-514.
Estrella A (2003). Critical values and p values of Bessel process distributions.
*Econometric Theory* 19:1128-1143.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..errors import ModelSpecificationError
from ._hansen_table import HANSEN_SUPLM_COEF

__all__ = [
    "chi2_logsf",
    "decorrelated_process",
    "fluctuation_tests",
    "suplm_lambda",
    "suplm_logpvalue",
    "suplm_pvalue",
]


def chi2_logsf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """log P(chi2_df > x), accurate also far in the tail (where the survival function
    underflows double precision), via a continued fraction for the upper incomplete gamma
    function.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from ipdma.trees import chi2_logsf
    >>> round(float(np.exp(chi2_logsf(3.84, 1))), 3)
    0.05
    >>> float(stats.chi2.sf(2000.0, 2))                  # underflows
    0.0
    >>> round(float(chi2_logsf(2000.0, 2)), 3)          # log P = -x / 2 for df = 2
    -1000.0
    >>> chi2_logsf([1.0, 10.0], df=[1, 4]).round(3).tolist()
    [-1.148, -3.208]
    """
    x = np.asarray(x, dtype=float)
    df = np.asarray(df, dtype=float)
    x, df = np.broadcast_arrays(x, df)
    out = np.empty(x.shape)
    a = df / 2.0
    h = x / 2.0
    q = special.gammaincc(a, h)
    ok = q > 1e-280
    with np.errstate(divide="ignore"):
        out[ok] = np.log(q[ok])
    tail = ~ok
    if tail.any():
        at, xt = a[tail], h[tail]
        # modified Lentz continued fraction for Gamma(a, x) / (exp(-x) x^a)
        tiny = 1e-300
        b = xt + 1.0 - at
        c = np.full_like(b, 1.0 / tiny)
        d = 1.0 / b
        f = d.copy()
        for i in range(1, 500):
            an = -i * (i - at)
            b = b + 2.0
            d = an * d + b
            d = np.where(np.abs(d) < tiny, tiny, d)
            c = b + an / c
            c = np.where(np.abs(c) < tiny, tiny, c)
            d = 1.0 / d
            delta = d * c
            f = f * delta
            if np.all(np.abs(delta - 1.0) < 1e-16):
                break
        out[tail] = -xt + at * np.log(xt) - special.gammaln(at) + np.log(f)
    return out if out.ndim else out[()]


def suplm_lambda(nobs: float, trim: float, minsize: int = 0) -> tuple[float, float, float]:
    """Trimming of the sup-LM test as in partykit: ``from = max(ceil(nobs * trim), minsize)``
    (``trim > 1`` is an absolute number of observations), ``to = nobs - from`` and
    ``lambda = ((nobs - from) * to) / (from * (nobs - to))``.

    Returns ``(from, to, lambda)``.

    Examples
    --------
    >>> from ipdma.trees import suplm_lambda
    >>> suplm_lambda(nobs=500, trim=0.1, minsize=20)
    (50.0, 450.0, 81.0)
    >>> frm, to, lam = suplm_lambda(nobs=200, trim=30)   # trim > 1: observations
    >>> frm, to, round(lam, 2)
    (30.0, 170.0, 32.11)
    """
    frm = float(trim) if trim > 1 else float(np.ceil(nobs * trim))
    frm = max(frm, float(minsize))
    to = nobs - frm
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = ((nobs - frm) * to) / (frm * (nobs - to))
    return frm, to, float(lam)


def _estrella_logp(x, k, lam):
    return (-special.gammaln(k / 2.0) + k / 2.0 * np.log(x / 2.0) - x / 2.0
            + np.log(np.abs(np.log(lam) * (1.0 - k / x) + 2.0 / x)))


def suplm_logpvalue(stat: np.ndarray | float, k: int, lam: float) -> np.ndarray:
    """Log of the asymptotic p-value of the sup-LM statistic.

    Parameters
    ----------
    stat : float or array
        sup-LM statistic(s).
    k : int
        Number of tested parameters (>= 1).
    lam : float
        Trimming parameter lambda (see :func:`suplm_lambda`); for symmetric trimming the
        trimming fraction is ``pi0 = 1 / (1 + sqrt(lambda))``. Values < 1 are taken as pi0.

    Notes
    -----
    For k <= 40, Hansen's (1997) approximation: at tabulated trimming fractions
    pi0 = 0.49, 0.47, ..., 0.01, p(x) = P(chi2_df > max(0, b0 + b1 x)); in between, the
    p-values of the two neighbouring rows are interpolated linearly (pi0 = 0.5 gives the
    chi2_k tail, pi0 <= 0.01 uses the 0.01 row). The interpolation is carried out on the p
    scale from log p-values; if that underflows the two log p-values are averaged (as
    partykit does). For k > 40, Estrella's (2003) approximation, interpolated as in
    partykit below x = 1.5 k.

    Examples
    --------
    >>> from ipdma.trees import suplm_pvalue
    >>> round(float(suplm_pvalue(10.0, k=2, lam=81.0)), 4)
    0.1158
    """
    x = np.asarray(stat, dtype=float)
    k = int(k)
    if k < 1:
        raise ModelSpecificationError(f"k (number of tested parameters) must be >= 1, not {k}")
    if k > 40:
        with np.errstate(divide="ignore", invalid="ignore"):
            lo = (x / (1.5 * k)) ** np.sqrt(k) * _estrella_logp(1.5 * k, k, lam)
            hi = _estrella_logp(x, k, lam)
        out = np.where(x <= 1.5 * k, lo, hi)
        return out if out.ndim else out[()]
    tau = lam if lam < 1 else 1.0 / (1.0 + np.sqrt(lam))
    beta = HANSEN_SUPLM_COEF[k - 1]
    lin = beta[:, 0] + beta[:, 1] * x[..., None]
    lin = lin * (lin > 0)
    lpp = chi2_logsf(lin, np.broadcast_to(beta[:, 2], lin.shape))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if tau == 0.5:
            p = chi2_logsf(x, k)
        elif tau <= 0.01:
            p = lpp[..., 24]
        elif tau >= 0.49:
            lchi = chi2_logsf(x, k)
            p = np.log((np.exp(np.log(0.5 - tau) + lpp[..., 0])
                        + np.exp(np.log(tau - 0.49) + lchi)) * 100)
            p = np.where(np.isfinite(p), p, (lpp[..., 0] + lchi) / 2.0)
        else:
            taua = (0.51 - tau) * 50.0
            t1 = int(np.floor(taua))  # 1-based row index of the first bracketing row
            a0, a1 = lpp[..., t1 - 1], lpp[..., t1]
            p = np.log(np.exp(np.log(t1 + 1 - taua) + a0) + np.exp(np.log(taua - t1) + a1))
            p = np.where(np.isfinite(p), p, (a0 + a1) / 2.0)
    p = np.asarray(p, dtype=float)
    return p if p.ndim else p[()]


def suplm_pvalue(stat: np.ndarray | float, k: int, lam: float) -> np.ndarray:
    """Asymptotic p-value of the sup-LM statistic (``exp`` of :func:`suplm_logpvalue`).

    Examples
    --------
    >>> from ipdma.trees import suplm_lambda, suplm_pvalue
    >>> frm, to, lam = suplm_lambda(nobs=500, trim=0.1, minsize=20)
    >>> lam
    81.0
    >>> float(suplm_pvalue(42.8466245384184, k=2, lam=lam)) < 1e-7
    True
    """
    return np.exp(suplm_logpvalue(stat, k, lam))


def _inv_sqrt_psd(M: np.ndarray) -> np.ndarray | None:
    """Symmetric M^(-1/2) via the inverse (computed through a Cholesky factor) and its
    eigen-decomposition; None when M is not positive definite."""
    try:
        L = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        return None
    Linv = np.linalg.inv(L)
    Minv = Linv.T @ Linv
    lam, V = np.linalg.eigh(Minv)
    if np.any(lam < 0):
        return None
    return (V * np.sqrt(lam)) @ V.T


def decorrelated_process(estfun: np.ndarray, weights: np.ndarray, nobs: float,
                         cluster: np.ndarray | None = None) -> np.ndarray | None:
    """W = P M^(-1/2) with P = estfun / sqrt(nobs) and the OPG meat
    M = sum_i P_i P_i' / w_i (per-cluster sums of P_i / sqrt(w_i) when ``cluster`` is given).

    Returns None when the meat is not positive definite (the test then fails and the node
    becomes terminal).

    Examples
    --------
    The scores of a linear model sum to zero, and the decorrelated process has orthonormal
    columns:

    >>> import numpy as np
    >>> from ipdma.trees import LinearModel, decorrelated_process
    >>> rng = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(100), rng.integers(0, 2, 100)])
    >>> fit = LinearModel().fit(X @ [1.0, 0.5] + rng.normal(size=100), X)
    >>> W = decorrelated_process(fit.estfun, np.ones(100), nobs=100)
    >>> W.shape
    (100, 2)
    >>> bool(np.allclose(W.sum(axis=0), 0)), bool(np.allclose(W.T @ W, np.eye(2)))
    (True, True)
    >>> decorrelated_process(fit.estfun, np.ones(100), 100,
    ...                      cluster=np.repeat(np.arange(10), 10)).shape
    (100, 2)
    """
    P = estfun / np.sqrt(nobs)
    Pw = P / np.sqrt(weights)[:, None]
    if cluster is None:
        M = Pw.T @ Pw
    else:
        _, cl = np.unique(cluster, return_inverse=True)
        S = np.zeros((cl.max() + 1, P.shape[1]))
        np.add.at(S, cl, Pw)
        M = S.T @ S
    J = _inv_sqrt_psd(M)
    if J is None:
        return None
    return P @ J


@dataclass
class _TestVar:
    """Node-local view of one partitioning variable for the tests."""

    name: str
    kind: str  # "numeric" | "ordered" | "nominal"
    order: np.ndarray | None = None  # stable sort order (numeric), node-local positions
    sorted_values: np.ndarray | None = None  # values in that order (numeric)
    codes: np.ndarray | None = None  # level codes (factors), node-local


def fluctuation_tests(W: np.ndarray, variables: Sequence[_TestVar], weights: np.ndarray,
                      nobs: float, frm: float, to: float, lam: float,
                      caseweights: bool) -> tuple[np.ndarray, np.ndarray]:
    """Statistics and log p-values (unadjusted) of the instability test of every variable.

    Variables with fewer than 2 distinct values in the node, or numeric variables with no
    observation inside the trimmed range, get statistic 0 and log p-value NaN.
    """
    k = W.shape[1]
    m = len(variables)
    stat = np.zeros(m)
    logp = np.full(m, np.nan)
    num = [i for i, v in enumerate(variables) if v.kind == "numeric"]
    if num:
        n = W.shape[0]
        tt0 = None if caseweights else np.arange(1, n + 1, dtype=float)
        for i in num:
            v = variables[i]
            sv = v.sorted_values
            if sv[0] == sv[-1]:
                continue
            cs = np.cumsum(W[v.order], axis=0)
            ss = np.einsum("ij,ij->i", cs, cs)
            t = np.cumsum(weights[v.order]) if caseweights else tt0
            sel = (t >= frm) & (t <= to)
            if not sel.any():
                continue
            tt = t[sel] / nobs
            stat[i] = float(np.max(ss[sel] / (tt * (1.0 - tt))))
            logp[i] = float(suplm_logpvalue(stat[i], k, lam))
    for i, v in enumerate(variables):
        if v.kind == "numeric":
            continue
        codes = v.codes
        L = int(codes.max()) + 1 if len(codes) else 0
        seg = np.bincount(codes, weights=weights if caseweights else None, minlength=L)
        present = seg > 0
        if present.sum() < 2:
            continue
        S = np.zeros((L, k))
        np.add.at(S, codes, W)
        segw = seg[present] / nobs
        stat[i] = float(np.sum(S[present] ** 2 / segw[:, None]))
        logp[i] = float(chi2_logsf(stat[i], k * (int(present.sum()) - 1)))
    return stat, logp


def adjust_pvalues(p: np.ndarray) -> np.ndarray:
    """partykit's Bonferroni/Sidak hybrid: with m non-missing p-values,
    ``1 - (1 - p)^m`` if p > 0.001, else ``min(1, m p)``.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.trees import adjust_pvalues
    >>> adjust_pvalues([0.0004, 0.02, np.nan]).round(4).tolist()   # m = 2
    [0.0008, 0.0396, nan]
    """
    p = np.asarray(p, dtype=float)
    m = int(np.sum(~np.isnan(p)))
    with np.errstate(invalid="ignore", divide="ignore"):
        sidak = -np.expm1(m * np.log1p(-p))
        bonf = np.minimum(1.0, m * p)
        return np.where(~np.isnan(p) & (p > 0.001), sidak, bonf)

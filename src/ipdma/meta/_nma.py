"""Contrast-based network meta-analysis of aggregate data (netmeta / metafor rma.mv).

Model: the contrasts ``y`` of every study against its baseline arm satisfy
``y ~ N(X d, V + tau^2 S)``, with ``d`` the basic parameters (each treatment vs the
network reference), ``V`` the block-diagonal within-study covariance and ``S`` the
consistency structure (1 on the diagonal, 1/2 between the contrasts of a multi-arm
study: one heterogeneity variance common to all comparisons).

* common effect: GLS with ``tau^2 = 0``;
* random effects: tau^2 by netmeta's generalised DerSimonian-Laird estimator
  ``max(0, (Q - df) / tr(P S))`` (Jackson, White & Riley 2012; Ruecker 2012), by REML
  or ML (Fisher scoring on the exact one-dimensional (restricted) likelihood, with
  metafor's likelihood constants), or given by the user.
* Q total and its decomposition into within-design and between-design
  (design-by-treatment interaction) parts (Krahn, Binder & Koenig 2013), including
  netmeta's random-effects between-design Q;
* I^2 with the Higgins-Thompson CI, league table with CIs and prediction intervals,
  P-scores (Ruecker & Schwarzer 2015) and simulated SUCRA, node-splitting by
  back-calculation (Koenig, Krahn & Binder 2013).

Studies are handled as stacked blocks grouped by their number of contrasts, so the
cost grows linearly with the number of studies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._base import ResultsMixin, Summary, check_random_state
from ..errors import ConvergenceWarning, ModelSpecificationError
from ._effects import ContrastData, pairwise_contrasts

__all__ = ["NMA_METHODS", "NMAResult", "network_meta_analysis"]

NMA_METHODS = ("common", "DL", "REML", "ML")
_LOG2PI = float(np.log(2.0 * np.pi))


# ---------------------------------------------------------------------------
# block GLS engine
# ---------------------------------------------------------------------------

@dataclass
class _Group:
    idx: np.ndarray   # (n, m) contrast rows of the studies with m contrasts
    V: np.ndarray     # (n, m, m)
    S: np.ndarray     # (n, m, m)


def _groups(cd: ContrastData) -> list[_Group]:
    by: dict[int, list[int]] = {}
    for s, r in enumerate(cd.rows):
        by.setdefault(len(r), []).append(s)
    out = []
    for m, ss in sorted(by.items()):
        idx = np.array([cd.rows[s] for s in ss])
        V = np.array([cd.blocks[s] for s in ss])
        S = np.broadcast_to(0.5 * (np.eye(m) + 1.0), (len(ss), m, m)).copy()
        out.append(_Group(idx=idx, V=V, S=S))
    return out


@dataclass
class _GLS:
    beta: np.ndarray
    vb: np.ndarray
    Q: float
    logdetM: float
    logdetA: float
    trPS: float          # tr(P S)
    score_quad: float    # r' W S W r
    trWS: float
    info_ml: float       # tr(W S W S)
    info_reml: float     # tr(P S P S)


def _gls(y: np.ndarray, X: np.ndarray, groups: list[_Group], tau2: float,
         derivs: bool = True) -> _GLS:
    p = X.shape[1]
    A = np.zeros((p, p))
    b = np.zeros(p)
    logdet = 0.0
    parts = []
    for g in groups:
        M = g.V + tau2 * g.S
        sign, ld = np.linalg.slogdet(M)
        if np.any(sign <= 0):
            raise np.linalg.LinAlgError("marginal covariance not positive definite")
        logdet += float(ld.sum())
        W = np.linalg.inv(M)
        Xg = X[g.idx]                       # (n, m, p)
        yg = y[g.idx]                       # (n, m)
        WX = W @ Xg
        A += np.einsum("nmp,nmq->pq", Xg, WX)
        b += np.einsum("nmp,nm->p", WX, yg)
        parts.append((g, W, Xg, yg, WX))
    sA, logdetA = np.linalg.slogdet(A)
    if sA <= 0:
        raise ModelSpecificationError("the network design is not identifiable (X'WX singular): "
                                      "check that the network is connected")
    vb = np.linalg.inv(A)
    beta = vb @ b
    Q = 0.0
    trWS = quad = info_ml = 0.0
    B = np.zeros((p, p))        # X' W S W X
    C = np.zeros((p, p))        # X' W S W S W X
    for g, W, Xg, yg, WX in parts:
        r = yg - Xg @ beta
        Wr = np.einsum("nij,nj->ni", W, r)
        Q += float((r * Wr).sum())
        if derivs:
            WS = W @ g.S
            trWS += float(np.trace(WS, axis1=1, axis2=2).sum())
            SWr = np.einsum("nij,nj->ni", g.S, Wr)
            quad += float((Wr * SWr).sum())
            info_ml += float(np.einsum("nij,nji->", WS, WS))
            SWX = g.S @ WX
            B += np.einsum("nmp,nmq->pq", WX, SWX)
            C += np.einsum("nmp,nmq->pq", WX, g.S @ (W @ SWX))
    trPS = trWS - float(np.sum(vb * B.T))
    vB = vb @ B
    info_reml = info_ml - 2.0 * float(np.sum(vb * C.T)) + float(np.sum(vB * vB.T))
    return _GLS(beta=beta, vb=vb, Q=Q, logdetM=logdet, logdetA=float(logdetA), trPS=trPS,
                score_quad=quad, trWS=trWS, info_ml=info_ml, info_reml=info_reml)


def _loglik(g: _GLS, k: int, p: int, logdet_xx: float, reml: bool) -> float:
    if reml:
        return -0.5 * ((k - p) * _LOG2PI - logdet_xx + g.logdetM + g.logdetA + g.Q)
    return -0.5 * (k * _LOG2PI + g.logdetM + g.Q)


def _fit_tau2_likelihood(y, X, groups, reml: bool, start: float, tol: float = 1e-12,
                         maxiter: int = 200) -> tuple[float, int, bool]:
    """Fisher scoring for tau^2 >= 0 on the (restricted) likelihood, with step halving."""
    k, p = X.shape
    lxx = float(np.linalg.slogdet(X.T @ X)[1])

    def state(t):
        g = _gls(y, X, groups, t)
        score = 0.5 * (g.score_quad - (g.trPS if reml else g.trWS))
        info = 0.5 * (g.info_reml if reml else g.info_ml)
        return _loglik(g, k, p, lxx, reml), score, info

    t = max(float(start), 0.0)
    ll, sc, inf = state(t)
    for it in range(1, maxiter + 1):
        step = sc / inf if inf > 0 else sc
        new = max(0.0, t + step)
        if t == 0.0 and new == 0.0:
            return 0.0, it, True
        h = 1.0
        while True:
            cand = max(0.0, t + h * (new - t))
            ll2, sc2, inf2 = state(cand)
            if ll2 >= ll - 1e-12 * max(1.0, abs(ll)) or h < 1e-8:
                break
            h *= 0.5
        change = abs(cand - t)
        t, ll, sc, inf = cand, ll2, sc2, inf2
        if change < tol * max(1.0, t):
            return t, it, True
    return t, maxiter, False


# ---------------------------------------------------------------------------
# public function
# ---------------------------------------------------------------------------

def network_meta_analysis(
    data: pd.DataFrame | ContrastData,
    *,
    study: str | None = None,
    treatment: str | None = None,
    events: str | None = None,
    n: str | None = None,
    mean: str | None = None,
    sd: str | None = None,
    te: str | None = None,
    se: str | None = None,
    treatment2: str | None = None,
    measure: str | None = None,
    method: str = "DL",
    tau2: float | None = None,
    reference: str | None = None,
    treatment_order: Sequence[str] | None = None,
    incr: float = 0.5,
    small_values: Literal["good", "bad"] = "good",
    level: float = 0.95,
    n_sim: int = 10000,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
) -> NMAResult:
    """Frequentist contrast-based network meta-analysis (as netmeta / metafor rma.mv).

    Parameters
    ----------
    data : DataFrame or ContrastData
        Arm-level rows (``events``/``n``, ``mean``/``sd``/``n`` or ``te``/``se``), contrast
        rows (``te``/``se`` with ``treatment2``), or the output of
        :func:`pairwise_contrasts`.
    study, treatment, events, n, mean, sd, te, se, treatment2, measure, incr
        Passed to :func:`pairwise_contrasts` (see there; ``incr`` is the continuity
        correction added to all cells of a study with a zero cell).
    method : {"common", "DL", "REML", "ML"}
        Common effect (GLS), or random effects with tau^2 from netmeta's generalised
        DerSimonian-Laird estimator (default, as netmeta), REML or ML.  Ignored when
        ``tau2`` is given.
    tau2 : float, optional
        Fix the heterogeneity variance (random effects with this tau^2).
    reference : str, optional
        Network reference treatment (the basic parameters are each treatment vs it).
    treatment_order : sequence of str, optional
        Order of the treatments in tables; no estimate depends on it.
    small_values : {"good", "bad"}
        Whether small effects are desirable (e.g. an OR of a harmful event; netmeta's
        ``small.values = "desirable"``) or undesirable (an OR of a good outcome).
        Only P-scores, SUCRA and rankings depend on it.
    level : float
        Coverage of confidence and prediction intervals.
    n_sim, random_state
        Draws from the normal approximation used for SUCRA and rank probabilities.

    Returns
    -------
    NMAResult

    Examples
    --------
    >>> import pandas as pd
    >>> from ipdma.meta import network_meta_analysis
    >>> arms = pd.DataFrame({
    ...     "study": [1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5],
    ...     "trt": ["A", "B", "A", "B", "A", "C", "A", "B", "C", "B", "C"],
    ...     "r": [10, 15, 12, 20, 8, 16, 9, 14, 18, 11, 15],
    ...     "n": [50, 50, 60, 60, 40, 40, 45, 45, 45, 55, 55]})
    >>> res = network_meta_analysis(arms, study="study", treatment="trt", events="r", n="n",
    ...                             reference="A", method="REML", small_values="bad")
    >>> res.to_frame()[["treatment", "estimate", "se"]].round(3)
      treatment  estimate     se
    0         B     0.609  0.247
    1         C     0.996  0.291
    >>> res.tau2   # REML estimate on the boundary here
    0.0
    >>> res.pscores()["pscore"].round(3).tolist()
    [0.004, 0.537, 0.959]
    >>> res.league()[["treat1", "treat2", "estimate"]].round(3).values.tolist()[-1]
    ['C', 'B', 0.387]
    """
    if method not in NMA_METHODS:
        low = {m.lower(): m for m in NMA_METHODS}
        alias = {"fixed": "common", "fe": "common", "fixed-effect": "common"}
        m2 = low.get(str(method).lower()) or alias.get(str(method).lower())
        if m2 is None:
            raise ModelSpecificationError(
                f"method={method!r}; choose one of {', '.join(NMA_METHODS)}")
        method = m2
    if small_values not in ("good", "bad"):
        raise ModelSpecificationError(
            f"small_values must be 'good' (small effects desirable) or 'bad', not "
            f"{small_values!r}")
    if not 0 < level < 1:
        raise ModelSpecificationError(f"level must be in (0, 1), not {level}")
    if isinstance(data, ContrastData):
        cd = data
    else:
        if study is None or treatment is None:
            raise ModelSpecificationError("give study= and treatment= column names")
        cd = pairwise_contrasts(data, study=study, treatment=treatment, events=events, n=n,
                                mean=mean, sd=sd, te=te, se=se, treatment2=treatment2,
                                measure=measure, incr=incr, reference=reference,
                                treatment_order=treatment_order)
    if tau2 is not None:
        tau2 = float(tau2)
        if not np.isfinite(tau2) or tau2 < 0:
            raise ModelSpecificationError(f"tau2 must be a finite number >= 0, not {tau2!r}")
    return NMAResult(cd, method=method, tau2=tau2, small_values=small_values, level=level,
                     n_sim=n_sim, random_state=random_state)


def _i2_ci(Q: float, df: int, level: float) -> dict[str, float]:
    """I^2 = (Q - df)/Q with the Higgins & Thompson (2002) CI on H (as meta/netmeta)."""
    if df < 1:
        return {"I2": np.nan, "I2_lower": np.nan, "I2_upper": np.nan, "H": np.nan,
                "H_lower": np.nan, "H_upper": np.nan}
    k = df + 1
    H = np.sqrt(Q / df)
    if Q > k:
        se_lnH = 0.5 * (np.log(Q) - np.log(k - 1)) / (np.sqrt(2 * Q) - np.sqrt(2 * k - 3))
    elif k > 2:
        se_lnH = np.sqrt(1 / (2 * (k - 2)) * (1 - 1 / (3 * (k - 2) ** 2)))
    else:
        se_lnH = np.nan
    lH = np.log(max(H, 1.0))
    z = stats.norm.isf((1 - level) / 2)
    Hs = (np.exp(lH), max(np.exp(lH - z * se_lnH), 1.0), max(np.exp(lH + z * se_lnH), 1.0))

    def f(h):
        return (h**2 - 1) / h**2

    return {"I2": f(Hs[0]), "I2_lower": f(Hs[1]), "I2_upper": f(Hs[2]), "H": H,
            "H_lower": Hs[1], "H_upper": Hs[2]}


class NMAResult(ResultsMixin):
    """Fitted network meta-analysis (see :func:`network_meta_analysis`).

    Attributes
    ----------
    treatments : list of str
        Treatment order (reference first).
    reference : str
    coef, se : Series
        Basic parameters: each treatment vs the reference (log OR / log RR / RD / MD /
        SMD).
    vcov : DataFrame
    tau2 : float
        Heterogeneity variance (0 for the common-effect model).
    method : str
        ``"common"``, ``"DL"``, ``"REML"``, ``"ML"`` or ``"user"`` (given tau^2).
    Q, Q_df, Q_pval : float, int, float
        Q of the common-effect model (total heterogeneity/inconsistency).
    I2, I2_lower, I2_upper : float
        I^2 (fraction, as netmeta) with the Higgins-Thompson CI.
    loglik : float
        REML log-likelihood for REML, ML log-likelihood otherwise (metafor's).
    contrasts : ContrastData
        The data the model was fitted to.
    """

    def __init__(self, cd: ContrastData, *, method: str, tau2: float | None,
                 small_values: str, level: float, n_sim: int, random_state) -> None:
        import warnings

        self.contrasts = cd
        self.treatments = list(cd.treatments)
        self.reference = cd.reference
        self.measure = cd.measure
        self.small_values = small_values
        self.level = level
        self.n_sim = int(n_sim)
        self.random_state = random_state
        X = cd.design()
        y = cd.y
        groups = _groups(cd)
        self._X, self._groups = X, groups
        k, p = X.shape
        self.k, self.n_studies = k, len(cd.studies)
        self.n_treatments = len(self.treatments)
        if k < p:
            raise ModelSpecificationError(f"{k} contrasts for {p} treatment effects")
        g0 = _gls(y, X, groups, 0.0)
        self._g0 = g0
        self.Q = g0.Q
        self.Q_df = k - p
        self.Q_pval = float(stats.chi2.sf(g0.Q, self.Q_df)) if self.Q_df > 0 else np.nan
        self.tau2_DL = max(0.0, (g0.Q - self.Q_df) / g0.trPS) if self.Q_df > 0 else 0.0
        self.trace_PS = g0.trPS
        self.iterations = 0
        self.converged = True
        if tau2 is not None:
            method, t2 = "user", tau2
        elif method == "common":
            t2 = 0.0
        elif method == "DL":
            t2 = self.tau2_DL
        else:
            if self.Q_df < 1 and method in ("REML", "ML"):
                raise ModelSpecificationError(
                    f"{method} needs more contrasts than treatment effects (k = {k}, "
                    f"{p} effects): use method='common' or give tau2")
            t2, it, ok = _fit_tau2_likelihood(y, X, groups, method == "REML",
                                              start=max(self.tau2_DL, 0.01))
            self.iterations, self.converged = it, ok
            if not ok:
                warnings.warn(f"{method} estimation of tau^2 did not converge in {it} "
                              "iterations", ConvergenceWarning, stacklevel=3)
        self.method = method
        self.tau2 = float(t2)
        g = g0 if t2 == 0.0 else _gls(y, X, groups, t2)
        self._g = g
        names = self.treatments[1:]
        self.coef = pd.Series(g.beta, index=names, name="coef")
        self.se = pd.Series(np.sqrt(np.diag(g.vb)), index=names, name="se")
        self.vcov = pd.DataFrame(g.vb, index=names, columns=names)
        lxx = float(np.linalg.slogdet(X.T @ X)[1])
        self.loglik_ml = _loglik(g, k, p, lxx, reml=False)
        self.loglik_reml = _loglik(g, k, p, lxx, reml=True)
        self.loglik = self.loglik_reml if method == "REML" else self.loglik_ml
        h = _i2_ci(g0.Q, self.Q_df, level)
        self.I2, self.I2_lower, self.I2_upper = h["I2"], h["I2_lower"], h["I2_upper"]
        self.H, self.H_lower, self.H_upper = h["H"], h["H_lower"], h["H_upper"]

    # -- helpers -----------------------------------------------------------
    @property
    def is_random(self) -> bool:
        return self.method != "common"

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    def _z(self) -> float:
        return float(stats.norm.isf((1 - self.level) / 2))

    def _full(self) -> tuple[np.ndarray, np.ndarray]:
        T = self.n_treatments
        th = np.concatenate([[0.0], self._g.beta])
        Vf = np.zeros((T, T))
        Vf[1:, 1:] = self._g.vb
        return th, Vf

    @property
    def TE(self) -> pd.DataFrame:
        """Matrix of all contrasts: ``TE.loc[i, j]`` = effect of treatment i vs j."""
        th, _ = self._full()
        return pd.DataFrame(th[:, None] - th[None, :], index=self.treatments,
                            columns=self.treatments)

    @property
    def seTE(self) -> pd.DataFrame:
        """Standard errors of :attr:`TE`."""
        _, Vf = self._full()
        d = np.diag(Vf)
        se = np.sqrt(np.maximum(d[:, None] + d[None, :] - 2 * Vf, 0.0))
        return pd.DataFrame(se, index=self.treatments, columns=self.treatments)

    def _pi_crit(self) -> float:
        if not self.is_random or self.Q_df < 1:
            return np.nan
        return float(stats.t.isf((1 - self.level) / 2, self.Q_df))

    # -- tables ------------------------------------------------------------
    def league(self, kind: Literal["long", "matrix"] = "long", digits: int = 2,
               exp: bool | None = None) -> pd.DataFrame:
        """All pairwise contrasts with CIs and (random effects) prediction intervals.

        ``kind="long"``: one row per pair ``treat1`` vs ``treat2`` (treat1 later in the
        treatment order), columns estimate, se, ci_lower, ci_upper, pi_lower, pi_upper,
        z, pval (prediction intervals use t with the Q df, as netmeta).
        ``kind="matrix"``: a T x T table of formatted strings, cell (i, j) = treatment i
        vs treatment j with its CI (exponentiated for OR/RR unless ``exp=False``).
        """
        TE, SE = self.TE.to_numpy(), self.seTE.to_numpy()
        T = self.n_treatments
        z = self._z()
        tp = self._pi_crit()
        if kind == "matrix":
            ex = self.measure in ("OR", "RR") if exp is None else exp
            f = np.exp if ex else (lambda v: v)
            cells = np.empty((T, T), dtype=object)
            for i in range(T):
                for j in range(T):
                    if i == j:
                        cells[i, j] = self.treatments[i]
                    else:
                        e, lo, hi = TE[i, j], TE[i, j] - z * SE[i, j], TE[i, j] + z * SE[i, j]
                        cells[i, j] = f"{f(e):.{digits}f} ({f(lo):.{digits}f}, {f(hi):.{digits}f})"
            return pd.DataFrame(cells, index=self.treatments, columns=self.treatments)
        if kind != "long":
            raise ModelSpecificationError(f"kind={kind!r}: choose 'long' or 'matrix'")
        rows = []
        for i in range(T):
            for j in range(i + 1, T):
                e, s = TE[j, i], SE[j, i]
                sp = np.sqrt(s**2 + self.tau2)
                rows.append((self.treatments[j], self.treatments[i], e, s, e - z * s, e + z * s,
                             e - tp * sp, e + tp * sp, e / s, 2 * stats.norm.sf(abs(e / s))))
        return pd.DataFrame(rows, columns=["treat1", "treat2", "estimate", "se", "ci_lower",
                                           "ci_upper", "pi_lower", "pi_upper", "z", "pval"])

    def to_frame(self) -> pd.DataFrame:
        """Each treatment vs the reference: estimate, se, CI, PI, z, p."""
        b, s = self.coef.to_numpy(), self.se.to_numpy()
        z = self._z()
        tp = self._pi_crit()
        sp = np.sqrt(s**2 + self.tau2)
        return pd.DataFrame({
            "treatment": self.coef.index, "reference": self.reference, "estimate": b, "se": s,
            "ci_lower": b - z * s, "ci_upper": b + z * s, "pi_lower": b - tp * sp,
            "pi_upper": b + tp * sp, "z": b / s, "pval": 2 * stats.norm.sf(np.abs(b / s))})

    def pscores(self) -> pd.DataFrame:
        """P-scores (analytic, Ruecker & Schwarzer 2015), SUCRA and mean rank (simulated
        from the normal approximation, ``n_sim`` draws, ``random_state``).

        Direction from ``small_values``: with ``"bad"`` larger effects are better.
        """
        TE, SE = self.TE.to_numpy(), self.seTE.to_numpy()
        T = self.n_treatments
        with np.errstate(divide="ignore", invalid="ignore"):
            P = stats.norm.cdf(TE / SE)
        np.fill_diagonal(P, np.nan)
        ps = np.nanmean(P, axis=1)
        if self.small_values == "good":
            ps = 1 - ps
        rng = check_random_state(self.random_state)
        th, Vf = self._full()
        draws = rng.multivariate_normal(th[1:], Vf[1:, 1:], size=self.n_sim, method="cholesky")
        draws = np.column_stack([np.zeros(self.n_sim), draws])
        sign = -1.0 if self.small_values == "bad" else 1.0
        ranks = np.argsort(np.argsort(sign * draws, axis=1), axis=1) + 1   # 1 = best
        mean_rank = ranks.mean(axis=0)
        sucra = (T - mean_rank) / (T - 1)
        p_best = (ranks == 1).mean(axis=0)
        out = pd.DataFrame({"treatment": self.treatments, "pscore": ps, "sucra": sucra,
                            "mean_rank": mean_rank, "p_best": p_best})
        return out

    def heterogeneity(self) -> pd.DataFrame:
        """Q total, within designs, between designs (design-by-treatment interaction) and
        netmeta's random-effects between-designs Q, with df and p-values."""
        cd = self.contrasts
        y = cd.y
        design = np.array([cd.design_label(cd.studies[s]) for s in cd.study_idx])
        key = pd.Series([f"{d}|{t}" for d, t in zip(design, cd.treat_idx)])
        codes, uniq = pd.factorize(key)
        Xinc = np.zeros((cd.k, len(uniq)))
        Xinc[np.arange(cd.k), codes] = 1.0
        gi = _gls(y, Xinc, self._groups, 0.0)
        df_w = cd.k - len(uniq)
        df_b = self.Q_df - df_w
        Qw = gi.Q
        Qb = self.Q - Qw
        t2w = max(0.0, (Qw - df_w) / gi.trPS) if df_w > 0 and gi.trPS > 0 else 0.0
        Qbr = _gls(y, self._X, self._groups, t2w, derivs=False).Q - _gls(
            y, Xinc, self._groups, t2w, derivs=False).Q

        def pv(q, d):
            return float(stats.chi2.sf(q, d)) if d > 0 else np.nan

        rows = [("total", self.Q, self.Q_df, pv(self.Q, self.Q_df), np.nan),
                ("within designs", Qw, df_w, pv(Qw, df_w), np.nan),
                ("between designs", Qb, df_b, pv(Qb, df_b), np.nan),
                ("between designs (random)", Qbr, df_b, pv(Qbr, df_b), t2w)]
        return pd.DataFrame(rows, columns=["source", "Q", "df", "pval", "tau2_within"])

    def design_heterogeneity(self) -> pd.DataFrame:
        """Within-design Q of every design (its share of the within-designs Q)."""
        cd = self.contrasts
        out = []
        for dz in dict.fromkeys(cd.design_label(s) for s in cd.studies):
            ss = [i for i, s in enumerate(cd.studies) if cd.design_label(s) == dz]
            rows = np.concatenate([cd.rows[i] for i in ss])
            sub_y = cd.y[rows]
            m = len(cd.rows[ss[0]])
            Xd = np.tile(np.eye(m), (len(ss), 1))
            V = np.zeros((len(rows), len(rows)))
            o = 0
            for i in ss:
                b = cd.blocks[i]
                V[o:o + m, o:o + m] = b
                o += m
            W = np.linalg.inv(V)
            A = Xd.T @ W @ Xd
            beta = np.linalg.solve(A, Xd.T @ W @ sub_y)
            r = sub_y - Xd @ beta
            Qd = float(r @ W @ r)
            dfd = len(rows) - m
            out.append((dz, len(ss), Qd, dfd, float(stats.chi2.sf(Qd, dfd)) if dfd > 0
                        else np.nan))
        return pd.DataFrame(out, columns=["design", "n_studies", "Q", "df", "pval"])

    def netsplit(self) -> pd.DataFrame:
        """Node-splitting by back-calculation (netmeta ``netsplit``).

        For every comparison with direct evidence: the direct estimate is the
        inverse-variance average (weights ``1 / (v + tau^2)``) of the studies' own
        estimates of that comparison (pairs from a multi-arm study enter as if
        independent, as netmeta does); ``prop_direct = se_nma^2 / se_direct^2``,
        ``indirect = (nma - prop direct) / (1 - prop)``, ``se_indirect =
        se_nma / sqrt(1 - prop)``; ``diff = direct - indirect`` with a z-test.
        """
        pairs = self.contrasts.study_pairs()
        lg = self.league()
        z = self._z()
        rows = []
        for r in lg.itertuples(index=False):
            sel = (pairs["treat1"] == r.treat1) & (pairs["treat2"] == r.treat2)
            if not sel.any():
                continue
            w = 1.0 / (pairs.loc[sel, "var"].to_numpy() + self.tau2)
            d = float(np.sum(w * pairs.loc[sel, "TE"].to_numpy()) / w.sum())
            sd = float(np.sqrt(1.0 / w.sum()))
            nma, sn = r.estimate, r.se
            prop = sn**2 / sd**2
            if abs(prop - 1) < np.sqrt(np.finfo(float).eps):
                ind = sind = np.nan
            else:
                ind = (nma - prop * d) / (1 - prop)
                sind = float(np.sqrt(sn**2 / (1 - prop)))
            diff = d - ind
            sdf = float(np.sqrt(sd**2 + sind**2))
            zz = diff / sdf
            rows.append({
                "comparison": f"{r.treat1}:{r.treat2}", "treat1": r.treat1, "treat2": r.treat2,
                "k": int(sel.sum()), "prop_direct": prop, "nma": nma, "se_nma": sn,
                "direct": d, "se_direct": sd, "direct_lower": d - z * sd,
                "direct_upper": d + z * sd, "indirect": ind, "se_indirect": sind,
                "indirect_lower": ind - z * sind, "indirect_upper": ind + z * sind,
                "diff": diff, "se_diff": sdf, "z": zz, "pval": 2 * stats.norm.sf(abs(zz))})
        return pd.DataFrame(rows)

    # -- protocol ----------------------------------------------------------
    def summary(self) -> Summary:
        model = "Common-effect" if self.method == "common" else (
            f"Random-effects ({'tau^2 given' if self.method == 'user' else self.method})")
        info: dict[str, object] = {
            "studies": self.n_studies, "contrasts": self.k, "treatments": self.n_treatments,
            "designs": len({self.contrasts.design_label(s) for s in self.contrasts.studies}),
            "measure": self.measure, "reference": self.reference}
        if self.is_random:
            info["tau^2"] = self.tau2
            info["tau"] = self.tau
        info["I^2 [CI]"] = (f"{100 * self.I2:.1f}% [{100 * self.I2_lower:.1f}%, "
                            f"{100 * self.I2_upper:.1f}%]")
        tables = {f"Each treatment vs {self.reference}":
                  self.to_frame().drop(columns="reference").set_index("treatment"),
                  "Heterogeneity / inconsistency (Q)": self.heterogeneity().set_index("source"),
                  f"Ranking (small values {self.small_values})":
                  self.pscores().set_index("treatment")}
        notes = []
        if self.measure in ("OR", "RR"):
            notes.append(f"Estimates are log {self.measure}s.")
        if self.is_random:
            notes.append(f"Prediction intervals: t with {self.Q_df} df (as netmeta).")
        return Summary(title=f"{model} network meta-analysis", tables=tables, info=info,
                       notes=notes)

    def plot(self, kind: Literal["forest", "network", "netsplit"] = "forest", ax=None,
             xlabel: str | None = None):
        """``"forest"``: each treatment vs the reference with CIs (and prediction
        intervals for random effects); ``"network"``: the network graph (edge width =
        number of studies); ``"netsplit"``: direct, indirect and network estimates of
        every comparison with direct evidence.  Returns the Axes."""
        from ..plots import color_for
        from ._plot import forest

        if kind == "network":
            from ..data import Network

            return Network(self.contrasts.arms).plot(ax=ax, node_size_by="trials")
        xl = xlabel or ({"OR": "log odds ratio", "RR": "log risk ratio"}.get(
            self.measure, self.measure) + f" vs {self.reference}")
        if kind == "forest":
            tab = self.to_frame()
            ax = forest(ax, labels=list(tab["treatment"]), est=tab["estimate"],
                        lb=tab["ci_lower"], ub=tab["ci_upper"], xlabel=xl,
                        title=f"{self.method} network meta-analysis")
            if self.is_random:
                ys = np.arange(len(tab), 0, -1)
                ax.hlines(ys - 0.25, tab["pi_lower"], tab["pi_upper"], color=color_for(1),
                          lw=1.2, linestyles="--", label="prediction interval")
                ax.legend(loc="best", frameon=False, fontsize="small")
            return ax
        if kind == "netsplit":
            ns = self.netsplit()
            labels, est, lb, ub = [], [], [], []
            for r in ns.itertuples(index=False):
                for what in ("direct", "indirect", "nma"):
                    e = getattr(r, what)
                    s = getattr(r, "se_" + what)
                    labels.append(f"{r.comparison} {what}")
                    est.append(e)
                    lb.append(e - self._z() * s)
                    ub.append(e + self._z() * s)
            return forest(ax, labels=labels, est=est, lb=lb, ub=ub,
                          xlabel=xlabel or self.measure, title="Direct vs indirect evidence")
        raise ModelSpecificationError(
            f"kind={kind!r}: choose 'forest', 'network' or 'netsplit'")

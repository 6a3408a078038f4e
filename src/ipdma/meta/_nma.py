"""Contrast-based network meta-analysis of aggregate data (netmeta / metafor rma.mv).

Model: the contrasts ``y`` of every study against its baseline arm satisfy
``y ~ N(X d, V + tau^2 S)``, with ``d`` the basic parameters (each treatment vs the
network reference), ``V`` the block-diagonal within-study covariance and ``S`` the
consistency structure (1 on the diagonal, 1/2 between the contrasts of a multi-arm
study: one heterogeneity variance common to all comparisons).

* common effect: GLS with ``tau^2 = 0``;
* random effects: tau^2 by netmeta's generalised DerSimonian-Laird estimator
  ``max(0, (Q - df) / tr(P S))`` (Jackson, White & Riley 2012; Ruecker 2012), by REML
  or ML (metafor's likelihoods, constants included), or given by the user.
* Q total and its decomposition into within-design and between-design
  (design-by-treatment interaction) parts (Krahn, Binder & Koenig 2013), including
  netmeta's random-effects between-design Q;
* I^2 with the Higgins-Thompson CI, league table with CIs and prediction intervals,
  P-scores (Ruecker & Schwarzer 2015) and simulated SUCRA, node-splitting by
  back-calculation (Koenig, Krahn & Binder 2013).

Engine: a per-study generalised eigendecomposition of (S, V) turns the model into a
univariate meta-regression with independent transformed contrasts (see ``_transform``),
fitted by :func:`ipdma.meta.fit_univariate` -- the same DL/REML/ML/GLS code as
:func:`ipdma.meta.meta_analysis`, with no second copy of the estimators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary, check_random_state
from .._lazy import lazy_module
from ..errors import ConvergenceWarning, ModelSpecificationError
from ._effects import ContrastData, pairwise_contrasts
from ._univariate import fit_univariate, tau2_estimate

__all__ = ["NMA_METHODS", "NMAResult", "network_meta_analysis"]

NMA_METHODS = ("common", "DL", "REML", "ML")

stats = lazy_module("scipy.stats")   # imported when first used
special = lazy_module("scipy.special")


# ---------------------------------------------------------------------------
# engine: reduction to a univariate meta-regression
# ---------------------------------------------------------------------------
#
# V (within-study) and S (consistency structure, positive definite) are block diagonal
# by study.  Per block solve the generalised eigenproblem S u = lambda V u, so that
# U' V U = I and U' S U = diag(lambda).  With G = diag(lambda^-1/2) U', the transformed
# contrasts G y have the covariance diag(1/lambda + tau^2): the NMA is *exactly* the
# univariate meta-regression of G y on G X with sampling variances 1/lambda, whose
# estimators (DL = netmeta's generalised DL, REML, ML) and GLS are those of
# ipdma.meta.fit_univariate.  The log-likelihoods differ by constants, restored below
# (log|V + tau^2 S| = log|V| + sum log lambda + sum log(1/lambda + tau^2)).


@dataclass
class _Transform:
    blocks: list[tuple[np.ndarray, np.ndarray]]   # (rows (n, m), G (n, m, m)) per size
    v: np.ndarray                                 # (k,) transformed sampling variances
    const: float                                  # log|V| + sum log lambda

    def __call__(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        out = np.empty_like(a)
        for rows, G in self.blocks:
            sub = a[rows]                          # (n, m) or (n, m, p)
            out[rows] = np.einsum("nij,nj...->ni...", G, sub)
        return out


def _transform(cd: ContrastData) -> _Transform:
    by: dict[int, list[int]] = {}
    for s, r in enumerate(cd.rows):
        by.setdefault(len(r), []).append(s)
    blocks = []
    v = np.empty(cd.k)
    const = 0.0
    for m, ss in sorted(by.items()):
        rows = np.array([cd.rows[s] for s in ss])
        V = np.array([cd.blocks[s] for s in ss])
        S = 0.5 * (np.eye(m) + 1.0)
        L = np.linalg.cholesky(V)
        Li = np.linalg.inv(L)
        C = Li @ S @ np.swapaxes(Li, 1, 2)
        lam, Qm = np.linalg.eigh(0.5 * (C + np.swapaxes(C, 1, 2)))
        G = (np.swapaxes(Qm, 1, 2) @ Li) / np.sqrt(lam)[:, :, None]
        v[rows] = 1.0 / lam
        const += 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        const += float(np.log(lam).sum())
        blocks.append((rows, G))
    return _Transform(blocks=blocks, v=v, const=const)


def _wrss(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Weighted residual sum of squares of the GLS fit with weights 1/(v + tau2)."""
    sw = 1.0 / np.sqrt(v + tau2)
    b, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    r = (y - X @ b) * sw
    return float(r @ r)


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
    z = float(-special.ndtri((1 - level) / 2))
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
        k, p = X.shape
        self.k, self.n_studies = k, len(cd.studies)
        self.n_treatments = len(self.treatments)
        if k < p:
            raise ModelSpecificationError(f"{k} contrasts for {p} treatment effects")
        tr = _transform(cd)
        yh, Xh = tr(cd.y), tr(X)
        self._X, self._tr, self._yh, self._Xh = X, tr, yh, Xh
        self.Q_df = k - p
        if tau2 is not None:
            method = "user"
            f = fit_univariate(yh, tr.v, Xh, method="FE", tau2=tau2)
        elif method == "common" or (method == "DL" and self.Q_df < 1):
            f = fit_univariate(yh, tr.v, Xh, method="FE")
        else:
            if self.Q_df < 1:
                raise ModelSpecificationError(
                    f"{method} needs more contrasts than treatment effects (k = {k}, "
                    f"{p} effects): use method='common' or give tau2")
            f = fit_univariate(yh, tr.v, Xh, method=method)
            if not f.converged:
                warnings.warn(f"{method} estimation of tau^2 did not converge in {f.n_iter} "
                              "iterations", ConvergenceWarning, stacklevel=3)
        # Q and tr(P S) of the common-effect model (QE and vt of the univariate fit)
        self.Q = f.QE
        self.Q_pval = float(special.chdtrc(self.Q_df, self.Q)) if self.Q_df > 0 else np.nan
        self.trace_PS = (k - p) / f.vt if self.Q_df > 0 else np.nan
        self.tau2_DL = max(0.0, (self.Q - self.Q_df) / self.trace_PS) if self.Q_df > 0 else 0.0
        self.iterations, self.converged = f.n_iter, f.converged
        self.method = method
        self.tau2 = float(f.tau2)
        self._beta, self._vb = f.beta, f.vb
        # restore the constants of the likelihood of the untransformed contrasts
        # (metafor's rma.mv definitions, REML including + 1/2 log|X'X|)
        lxx = float(np.linalg.slogdet(X.T @ X)[1])
        lxxh = float(np.linalg.slogdet(Xh.T @ Xh)[1])
        self.loglik_ml = f.loglik_ml - 0.5 * tr.const
        self.loglik_reml = f.loglik_reml - 0.5 * tr.const + 0.5 * (lxx - lxxh)
        self.loglik = self.loglik_reml if method == "REML" else self.loglik_ml
        h = _i2_ci(self.Q, self.Q_df, level)
        self.I2, self.I2_lower, self.I2_upper = h["I2"], h["I2_lower"], h["I2_upper"]
        self.H, self.H_lower, self.H_upper = h["H"], h["H_lower"], h["H_upper"]

    # -- helpers -----------------------------------------------------------
    @property
    def coef(self) -> pd.Series:
        """Each treatment vs the reference (the basic parameters)."""
        return pd.Series(self._beta, index=self.treatments[1:], name="coef")

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._vb)), index=self.treatments[1:], name="se")

    @property
    def vcov(self) -> pd.DataFrame:
        names = self.treatments[1:]
        return pd.DataFrame(self._vb, index=names, columns=names)

    @property
    def is_random(self) -> bool:
        return self.method != "common"

    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    def _z(self) -> float:
        return float(-special.ndtri((1 - self.level) / 2))

    def _full(self) -> tuple[np.ndarray, np.ndarray]:
        T = self.n_treatments
        th = np.concatenate([[0.0], self._beta])
        Vf = np.zeros((T, T))
        Vf[1:, 1:] = self._vb
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
        design = np.array([cd.design_label(cd.studies[s]) for s in cd.study_idx])
        key = pd.Series([f"{d}|{t}" for d, t in zip(design, cd.treat_idx)])
        codes, uniq = pd.factorize(key)
        Xinc = np.zeros((cd.k, len(uniq)))
        Xinc[np.arange(cd.k), codes] = 1.0
        Xh_inc = self._tr(Xinc)
        df_w = cd.k - len(uniq)
        df_b = self.Q_df - df_w
        fi = fit_univariate(self._yh, self._tr.v, Xh_inc, method="FE")
        Qw = fi.QE if df_w > 0 else 0.0
        Qb = self.Q - Qw
        # netmeta's Q.inc.random: tau^2 of the interaction model by the method of moments
        t2w = tau2_estimate(self._yh, self._tr.v, Xh_inc, "DL")[0] if df_w > 0 else 0.0
        Qbr = (_wrss(self._yh, self._tr.v, self._Xh, t2w)
               - _wrss(self._yh, self._tr.v, Xh_inc, t2w))

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

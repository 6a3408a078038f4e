"""Stage 2 of the two-stage ITE meta-analysis: poolers.

A pooler combines the per-trial :class:`~ipdma.ite.SiteSummary` objects:

* ``mvma`` (a): multivariate meta-analysis of (delta, gamma) with
  fixed/REML/ML/MM (engine :mod:`ipdma.meta`); ITE = pooled delta + x'gamma,
  CI from Var(theta), PI from Var(theta) + Psi.
* ``weighted-bootstrap`` / ``weighted-aux-ols`` (b): inverse-variance
  weighted average of the per-trial ITEs, variances from the bootstrap or from
  an auxiliary full-interaction OLS; fixed-effect weights (the paper) or
  per-profile random-effects weights with a Riley prediction interval.
  ``weighted-forest``: the same with the causal forest's own variance of each
  per-trial ITE (bootstrap of little bags; no refits), a cheaper variant.
* ``bayes-mvma`` (c): Bayesian multivariate meta-analysis (NumPyro) of the
  per-trial posterior means and covariances.
* ``posterior-mix`` (d): inverse-variance weighted mixing of the per-trial
  posterior ITE distributions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._base import check_random_state
from .._optional import import_optional
from .._quantiles import norm_ppf, t_ppf
from ..errors import (
    DataError,
    InfeasibleMethodError,
    ModelSpecificationError,
    NotFittedError,
    SamplerWarning,
)
from ._learners import LEARNERS, ite_contrast
from ._site import SiteSummary

__all__ = [
    "POOLERS",
    "BayesMVMAPooler",
    "ITEPooler",
    "MVMAPooler",
    "PooledITE",
    "PosteriorMixPooler",
    "WeightedForestPooler",
    "WeightedITEPooler",
    "check_pair",
    "feasible_pairs",
    "get_pooler",
]

# interval quantiles without importing scipy.stats / scipy.special (CLI start-up):
# norm_ppf = stats.norm.ppf, t_ppf(df, p) = stats.t.ppf(p, df) (ipdma._quantiles)


@dataclass
class PooledITE:
    """Pooled ITEs at N query points (arrays of length N; None where not given).

    Returned by a pooler's ``predict`` (and kept by :class:`TwoStageITE` as
    ``prediction_``); ``to_frame()`` gives the table of
    :meth:`TwoStageITE.predict`.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler="mvma"))
    >>> res = MVMAPooler(method="fixed").fit(sites).predict(X_new)
    >>> res.ite.round(2), res.per_trial.shape, res.trials
    (array([1.08, 2.18]), (2, 3), ['site0', 'site1', 'site2'])
    >>> res.to_frame().columns.tolist()
    ['ite', 'se', 'ci_low', 'ci_high', 'ite_site0', 'ite_site1', 'ite_site2']
    """

    ite: np.ndarray
    per_trial: np.ndarray                      # (N, K)
    trials: list[str]
    se: np.ndarray | None = None
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None
    pi_low: np.ndarray | None = None
    pi_high: np.ndarray | None = None
    weights: np.ndarray | None = None          # (N, K) normalised weights
    per_trial_var: np.ndarray | None = None    # (N, K)
    tau2: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    p0: np.ndarray | None = None               # binary: predicted risk under control
    p1: np.ndarray | None = None               # binary: predicted risk under treatment

    def to_frame(self, per_trial: bool = True) -> pd.DataFrame:
        cols: dict[str, np.ndarray] = {"ite": self.ite}
        for k in ("se", "ci_low", "ci_high", "pi_low", "pi_high"):
            v = getattr(self, k)
            if v is not None:
                cols[k] = v
        if self.tau2 is not None:
            cols["tau2"] = self.tau2
        for k in ("p0", "p1"):
            v = getattr(self, k)
            if v is not None:
                cols[k] = v
        if per_trial:
            for j, tr in enumerate(self.trials):
                cols[f"ite_{tr}"] = self.per_trial[:, j]
        return pd.DataFrame(cols)


def _check_summaries(summaries: list[SiteSummary], what: str, pooler: str) -> None:
    if len(summaries) == 0:
        raise DataError("no site summaries to pool")
    labels = [s.trial for s in summaries]
    if len(set(labels)) != len(labels):
        raise DataError(f"duplicate trial labels among the site summaries: {labels}")
    names = summaries[0].feature_names
    for s in summaries:
        if list(s.feature_names) != list(names):
            raise DataError(f"trial {s.trial!r} has covariates {s.feature_names}, trial "
                            f"{summaries[0].trial!r} has {names}: every site must use the "
                            "same covariates in the same order")
        if not s.has(what):
            raise DataError(f"the site summary of trial {s.trial!r} has no {what!r} part, "
                            f"which pooler {pooler!r} needs: re-run stage 1 with this pooler")


class ITEPooler:
    """Protocol of a stage-2 pooler.

    ``needs`` is the part of the site summaries it uses (``"coef"``,
    ``"posterior"`` or ``"predictions"``); ``requires`` is the learner
    capability it needs (``"coef_cov"``, ``"posterior"``, ``"bootstrap"``,
    ``"ite_var"`` or None); ``variance`` is the per-trial variance a site must export
    with its predictions (``"bootstrap"``, ``"aux-ols"`` or ``"forest"``).

    Examples
    --------
    A minimal pooler: the unweighted mean of the per-trial predicted ITEs.
    ``fit`` (checks, ``summaries_``, ``trials_``) comes from the protocol; the
    subclass implements ``predict``.  An instance can be passed to
    :func:`fit_site`, :func:`pool_sites` or :class:`TwoStageITE`.

    >>> import numpy as np
    >>> from ipdma.ite import ITEPooler, PooledITE, fit_site
    >>> class MeanPooler(ITEPooler):
    ...     name = "mean"
    ...     needs = "predictions"
    ...     variance = "aux-ols"
    ...
    ...     def predict(self, X_new=None):
    ...         Y = np.column_stack([s.ite for s in self.summaries_])
    ...         return PooledITE(ite=Y.mean(axis=1), per_trial=Y, trials=self.trials_)
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler=MeanPooler(),
    ...                           X_query=X_new))
    >>> MeanPooler().fit(sites).predict().to_frame().round(2)
        ite  ite_site0  ite_site1  ite_site2
    0  1.09       1.00       1.23       1.02
    1  2.13       1.91       2.19       2.28
    """

    name: ClassVar[str] = "base"
    needs: ClassVar[str] = "predictions"
    requires: ClassVar[str | None] = None
    variance: ClassVar[str | None] = None
    families: ClassVar[frozenset[str]] = frozenset({"continuous"})

    def __init__(self, *, level: float = 0.95) -> None:
        if not 0 < level < 1:
            raise ModelSpecificationError(f"level must be in (0, 1), got {level}")
        self.level = float(level)

    def fit(self, summaries: list[SiteSummary]) -> ITEPooler:
        _check_summaries(summaries, self.needs, self.name)
        self.summaries_ = list(summaries)
        self.trials_ = [s.trial for s in summaries]
        self._fit(self.summaries_)
        return self

    def _fit(self, summaries: list[SiteSummary]) -> None:
        pass

    def predict(self, X_new: Any) -> PooledITE:  # pragma: no cover - interface
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if getattr(self, "summaries_", None) is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call .fit(summaries)")

    def _X(self, X_new: Any) -> np.ndarray:
        X = np.asarray(X_new, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        p = len(self.summaries_[0].feature_names)
        if X.shape[1] != p:
            raise DataError(f"X_new has {X.shape[1]} columns; the trials used {p} covariates "
                            f"({', '.join(self.summaries_[0].feature_names)})")
        return X

    @property
    def _z(self) -> float:
        return norm_ppf(0.5 + self.level / 2)   # = stats.norm.ppf, without scipy.special

    def get_params(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


# --------------------------------------------------------------------------------------
# (a) multivariate meta-analysis of the coefficients
# --------------------------------------------------------------------------------------
def _mv_engine():
    from ..meta import fit_mvma

    return fit_mvma


class MVMAPooler(ITEPooler):
    """(a) Multivariate meta-analysis of the treatment coefficients (delta, gamma).

    ``theta_l ~ N(theta, S_l + Psi)``; ``method`` = ``"reml"`` (default), ``"ml"``,
    ``"fixed"`` (Psi = 0, GLS) or ``"mm"``; ``structure`` of Psi =
    ``"unstructured"``, ``"diagonal"`` or ``"identity"`` (default None:
    unstructured for a continuous outcome, diagonal for a binary one).

    Binary outcomes: the learner exports the *full* coefficient vector
    (intercept, t, x, t:x), since a risk difference needs the whole linear
    predictor; it is pooled with a diagonal Psi by default (an unstructured Psi
    of 2p + 2 coefficients is not identified with a handful of trials).  The
    ITE for a patient of a new trial is ``expit(z1'b) - expit(z0'b)`` (or
    ``(z1 - z0)'b`` on the log-OR scale) from the pooled ``b``, se by the delta
    method from Var(b), the prediction interval from Var(b) + Psi, and
    ``p0``/``p1`` are the pooled risks.  ITE(x) = c'theta with
    c = (1, x); se = sqrt(c'Var(theta)c); the prediction interval for a patient
    of a new trial uses sqrt(c'(Var(theta) + Psi)c) with t_{K-2} quantiles
    (``pi_df="riley"``) or normal ones (``pi_df="normal"``).

    ``aggregate``: trials that share only an average treatment effect (aggregate data)
    as a DataFrame with columns ``trial``, ``delta`` and ``se`` (on the scale of the
    learner's treatment coefficient).  Each enters the multivariate meta-analysis as a
    study whose effect-modifier coefficients are *missing*, so it informs ``delta``
    (and, through the between-study correlations of Psi, the other coefficients only
    indirectly) while ``gamma`` comes from the IPD trials.  Its estimate is taken as
    an estimate of ``delta``, the effect at ``x = 0``: centre the covariates at values
    typical of the aggregate trials (or use it only when effect modification is
    small).  With ``method="fixed"`` this is the GLS update
    ``theta_new = theta + V e1 (d_a - delta) / (v_a + V_11)``.

    Examples
    --------
    >>> import pandas as pd
    >>> pooler = MVMAPooler(method="fixed")
    >>> with_ad = MVMAPooler(method="fixed",
    ...                      aggregate=pd.DataFrame({"trial": ["AD1"], "delta": [0.8],
    ...                                              "se": [0.2]}))
    """

    name = "mvma"
    needs = "coef"
    requires = "coef_cov"
    families = frozenset({"continuous", "binary", "survival"})

    def __init__(self, *, method: str = "reml", structure: str | None = None,
                 level: float = 0.95, pi_df: str = "riley",
                 aggregate: pd.DataFrame | None = None) -> None:
        super().__init__(level=level)
        self.aggregate = _check_aggregate(aggregate)
        if method.lower() not in ("reml", "ml", "fixed", "mm"):
            raise ModelSpecificationError(
                f"method={method!r}: choose 'reml', 'ml', 'fixed' or 'mm'")
        if pi_df not in ("riley", "normal"):
            raise ModelSpecificationError(f"pi_df={pi_df!r}: choose 'riley' or 'normal'")
        self.method = method.lower()
        self.structure = structure
        self.pi_df = pi_df

    def get_params(self) -> dict[str, Any]:
        params = super().get_params()
        if params.get("aggregate") is None:     # keep the repr of IPD-only poolers
            params.pop("aggregate", None)
        return params

    @property
    def _structure(self) -> str:
        if self.structure is not None:
            return self.structure
        fam = getattr(self, "family_", "continuous")
        return "unstructured" if fam in ("continuous", "survival") else "diagonal"

    def _fit(self, summaries):
        Y = np.vstack([s.coef for s in summaries])
        S = np.stack([s.cov for s in summaries])
        self.family_ = getattr(summaries[0], "family", "continuous") or "continuous"
        if self.aggregate is not None:
            if self.family_ != "continuous":
                raise ModelSpecificationError(
                    "aggregate-data trials enter pooler (a) through their average treatment "
                    "effect delta, which is implemented for continuous outcomes only; for a "
                    f"{self.family_} outcome pool the IPD trials alone")
            clash = sorted(set(self.aggregate["trial"]) & set(self.trials_))
            if clash:
                raise DataError(f"aggregate trial(s) {clash} are also IPD trials: a trial "
                                "enters either with IPD or with its aggregate delta")
            m, q = len(self.aggregate), Y.shape[1]
            Ya = np.full((m, q), np.nan)
            Ya[:, 0] = self.aggregate["delta"].to_numpy(float)
            Sa = np.tile(np.eye(q), (m, 1, 1))
            Sa[:, 0, 0] = self.aggregate["se"].to_numpy(float) ** 2
            Y, S = np.vstack([Y, Ya]), np.concatenate([S, Sa])
        fit = _mv_engine()(Y, S, method=self.method, structure=self._structure)
        self.fit_ = fit
        self.coef_ = np.asarray(fit.beta, dtype=float).reshape(-1)
        self.vcov_ = np.asarray(fit.vcov, dtype=float)
        self.Psi_ = np.asarray(fit.Psi, dtype=float)
        self.family_ = getattr(summaries[0], "family", "continuous") or "continuous"
        if self.family_ not in ("continuous", "survival"):
            from ._glm_learners import coef_names

            self.coef_names_ = coef_names(summaries[0].feature_names)
        else:
            self.coef_names_ = ["delta"] + [f"gamma[{n}]" for n in summaries[0].feature_names]

    def _predict_full(self, X):
        """Non-continuous families: the full coefficient vector was pooled; the ITE of a
        patient of a new trial is ``g(z1'b) - g(z0'b)`` on the family's scale, se by the
        delta method from Var(b), prediction interval from Var(b) + Psi."""
        from ..families import get_family
        from ._glm_learners import arm_designs

        fam = get_family(self.family_)
        scale = fam.check_scale(self.summaries_[0].scale or None)
        Z0, Z1 = arm_designs(X)
        r = fam.ite_from_coef(self.coef_, self.vcov_, Z0, Z1, scale,
                              extra_V=None if self.method == "fixed" else self.Psi_)
        ite, se = r["ite"], r["se"]
        z = self._z
        per_trial = np.column_stack([fam.ite(Z0 @ s.coef, Z1 @ s.coef, scale)
                                     for s in self.summaries_])
        out = PooledITE(ite=ite, per_trial=per_trial, trials=self.trials_, se=se,
                        ci_low=ite - z * se, ci_high=ite + z * se, p0=r["mu0"], p1=r["mu1"],
                        info={"method": self.method, "structure": self._structure,
                              "scale": scale})
        if self.method != "fixed":
            K = len(self.summaries_)
            q = (t_ppf(K - 2, 0.5 + self.level / 2)
                 if self.pi_df == "riley" and K > 2 else z)
            out.pi_low = ite - q * r["se_pred"]
            out.pi_high = ite + q * r["se_pred"]
        return out

    def predict(self, X_new):
        self._check_fitted()
        X = self._X(X_new)
        if self.family_ == "survival":
            from ._survival_poolers import survival_mvma_predict

            return survival_mvma_predict(self, X)
        if self.family_ != "continuous":
            return self._predict_full(X)
        C = ite_contrast(X)
        ite = C @ self.coef_
        var = np.einsum("ij,jk,ik->i", C, self.vcov_, C)
        se = np.sqrt(var)
        z = self._z
        per_trial = C @ np.vstack([s.coef for s in self.summaries_]).T
        K = len(self.summaries_)
        out = PooledITE(ite=ite, per_trial=per_trial, trials=self.trials_, se=se,
                        ci_low=ite - z * se, ci_high=ite + z * se,
                        info={"method": self.method, "structure": self._structure})
        if self.method != "fixed":
            pvar = var + np.einsum("ij,jk,ik->i", C, self.Psi_, C)
            q = (t_ppf(K - 2, 0.5 + self.level / 2)
                 if self.pi_df == "riley" and K > 2 else z)
            out.pi_low = ite - q * np.sqrt(pvar)
            out.pi_high = ite + q * np.sqrt(pvar)
        return out

    def coef_frame(self) -> pd.DataFrame:
        """Pooled coefficients with se and CI."""
        self._check_fitted()
        se = np.sqrt(np.diag(self.vcov_))
        z = self._z
        return pd.DataFrame({"estimate": self.coef_, "se": se, "ci_low": self.coef_ - z * se,
                             "ci_high": self.coef_ + z * se,
                             "tau2": np.diag(self.Psi_)}, index=self.coef_names_)


def _check_aggregate(agg: pd.DataFrame | None) -> pd.DataFrame | None:
    """Validate the aggregate-data trials of :class:`MVMAPooler` (trial, delta, se)."""
    if agg is None:
        return None
    if not isinstance(agg, pd.DataFrame):
        raise ModelSpecificationError(
            "aggregate must be a DataFrame with columns trial, delta, se (one row per "
            f"aggregate-data trial), not {type(agg).__name__}")
    missing = [c for c in ("trial", "delta", "se") if c not in agg.columns]
    if missing:
        raise DataError(f"aggregate lacks column(s) {missing}: give trial, delta and se")
    out = pd.DataFrame({"trial": agg["trial"].astype(str).to_numpy(),
                        "delta": pd.to_numeric(agg["delta"], errors="coerce").to_numpy(float),
                        "se": pd.to_numeric(agg["se"], errors="coerce").to_numpy(float)})
    bad = ~np.isfinite(out["delta"]) | ~(out["se"] > 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"aggregate trial {out['trial'][i]!r}: delta = {agg['delta'].iloc[i]!r},"
                        f" se = {agg['se'].iloc[i]!r}; need a finite delta and se > 0")
    if out["trial"].duplicated().any():
        raise DataError("aggregate has a trial twice; give one row per trial")
    return out


# --------------------------------------------------------------------------------------
# (b) weighted average of predicted ITEs
# --------------------------------------------------------------------------------------
class WeightedITEPooler(ITEPooler):
    """(b) Inverse-variance weighted average of the per-trial predicted ITEs.

    ``ITE(x_i) = sum_l w_il ITE_il / sum_l w_il`` with ``w_il = 1 / v_il``
    (``heterogeneity="fixed"``, the paper's method; se = sqrt(1 / sum_l w_il)),
    or per profile random-effects weights ``1 / (v_il + tau^2(x_i))`` with
    ``heterogeneity`` = ``"DL"``, ``"REML"``, ``"PM"``... (engine
    :func:`ipdma.meta.pool_univariate`), which also gives a Riley prediction
    interval (t_{K-2}).  ``variance`` says where v_il comes from: ``"bootstrap"``
    (B row resamples within the trial), ``"aux-ols"`` (auxiliary
    full-interaction OLS, c'V c) or ``"forest"`` (the learner's own variance
    estimate, ``ite_var``: the causal forest's bootstrap of little bags).

    The subclasses :class:`WeightedBootstrapPooler`, :class:`WeightedAuxOLSPooler`
    and :class:`WeightedForestPooler` fix ``variance``; ``get_pooler`` returns them.

    Examples
    --------
    >>> pooler = WeightedITEPooler(variance="bootstrap", heterogeneity="DL")
    >>> pooler.name, pooler.requires
    ('weighted-bootstrap', 'bootstrap')
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler="weighted-aux-ols",
    ...                           X_query=X_new))
    >>> res = WeightedITEPooler(variance="aux-ols", heterogeneity="REML").fit(sites).predict()
    >>> res.ite.round(2)
    array([1.09, 2.15])
    >>> res.to_frame(per_trial=False).columns.tolist()
    ['ite', 'se', 'ci_low', 'ci_high', 'pi_low', 'pi_high', 'tau2']
    """

    needs = "predictions"
    families = frozenset({"continuous", "binary", "survival"})

    def __init__(self, *, variance: str = "aux-ols", heterogeneity: str = "fixed",
                 level: float = 0.95) -> None:
        super().__init__(level=level)
        if variance not in ("bootstrap", "aux-ols", "forest"):
            raise ModelSpecificationError(
                f"variance={variance!r}: choose 'bootstrap', 'aux-ols' or 'forest'")
        self.variance_source = variance
        self.heterogeneity = heterogeneity if heterogeneity == "fixed" else heterogeneity.upper()

    @property
    def variance(self) -> str:  # type: ignore[override]
        return self.variance_source

    @property
    def requires(self) -> str | None:  # type: ignore[override]
        return {"bootstrap": "bootstrap", "forest": "ite_var"}.get(self.variance_source)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"weighted-{self.variance_source}"

    def _fit(self, summaries):
        X0 = summaries[0].X_query
        for s in summaries:
            if s.var is None:
                raise DataError(f"the site summary of trial {s.trial!r} has no ITE variances")
            if s.X_query.shape != X0.shape or not np.array_equal(s.X_query, X0):
                raise DataError(f"trial {s.trial!r} predicted at other query points than trial "
                                f"{summaries[0].trial!r}: every site must use the same X_new")
            if s.variance and s.variance != self.variance_source:
                raise DataError(f"trial {s.trial!r} exported {s.variance!r} variances; pooler "
                                f"{self.name!r} needs {self.variance_source!r}")
        self.X_query_ = X0

    def predict(self, X_new=None):
        self._check_fitted()
        if X_new is not None:
            X = self._X(X_new)
            if X.shape != self.X_query_.shape or not np.array_equal(X, self.X_query_):
                raise DataError("the weighted pooler can only predict at the query points the "
                                "sites predicted at: re-run stage 1 with these X_new")
        Y = np.column_stack([s.ite for s in self.summaries_])
        V = np.column_stack([s.var for s in self.summaries_])
        bad = ~(np.isfinite(V) & (V > 0))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise DataError(f"trial {self.trials_[j]!r} has a non-positive or missing ITE "
                            f"variance at query point {i}: the {self.variance_source} variance "
                            "is degenerate (e.g. a bootstrap with identical refits)")
        K = Y.shape[1]
        z = self._z
        if self.heterogeneity == "fixed":
            W = 1.0 / V
            sw = W.sum(axis=1)
            ite = (W * Y).sum(axis=1) / sw
            se = np.sqrt(1.0 / sw)
            out = PooledITE(ite=ite, per_trial=Y, trials=self.trials_, se=se,
                            ci_low=ite - z * se, ci_high=ite + z * se, weights=W / sw[:, None],
                            per_trial_var=V, info={"heterogeneity": "fixed"})
            return self._arms(out)
        from ..meta import pool_univariate

        r = pool_univariate(Y, V, method=self.heterogeneity, level=self.level, pi_df="riley")
        W = 1.0 / (V + r["tau2"][:, None])
        out = PooledITE(ite=r["mu"], per_trial=Y, trials=self.trials_, se=r["se"],
                        ci_low=r["ci_lb"], ci_high=r["ci_ub"], weights=W / W.sum(1)[:, None],
                        per_trial_var=V, tau2=r["tau2"],
                        info={"heterogeneity": self.heterogeneity})
        if K > 2:
            out.pi_low, out.pi_high = r["pi_lb"], r["pi_ub"]
        return self._arms(out)

    def _arms(self, out: PooledITE) -> PooledITE:
        """Binary outcomes: the per-trial risks averaged with the ITE weights, so that
        ``p1 - p0`` is the pooled risk difference (scale ``"rd"``)."""
        if all(getattr(s, "mu0", None) is not None for s in self.summaries_):
            P0 = np.column_stack([s.mu0 for s in self.summaries_])
            P1 = np.column_stack([s.mu1 for s in self.summaries_])
            out.p0 = (out.weights * P0).sum(axis=1)
            out.p1 = (out.weights * P1).sum(axis=1)
        return out


class WeightedBootstrapPooler(WeightedITEPooler):
    """(b) with bootstrap variances (``variance="bootstrap"``).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler="weighted-bootstrap",
    ...                           X_query=X_new, n_boot=20, random_state=k))
    >>> res = WeightedBootstrapPooler().fit(sites).predict()
    >>> res.ite.round(1), res.per_trial_var.shape        # (profiles, trials)
    (array([1.1, 2.2]), (2, 3))
    """

    def __init__(self, *, heterogeneity: str = "fixed", level: float = 0.95) -> None:
        super().__init__(variance="bootstrap", heterogeneity=heterogeneity, level=level)


class WeightedAuxOLSPooler(WeightedITEPooler):
    """(b) with auxiliary-OLS variances (``variance="aux-ols"``).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler="weighted-aux-ols",
    ...                           X_query=X_new))
    >>> res = WeightedAuxOLSPooler().fit(sites).predict()
    >>> res.ite.round(2), res.se.round(2)
    (array([1.09, 2.15]), array([0.13, 0.19]))
    >>> res.weights.round(2)                                  # rows sum to 1
    array([[0.21, 0.34, 0.44],
           [0.26, 0.33, 0.41]])
    """

    def __init__(self, *, heterogeneity: str = "fixed", level: float = 0.95) -> None:
        super().__init__(variance="aux-ols", heterogeneity=heterogeneity, level=level)


class WeightedForestPooler(WeightedITEPooler):
    """(b) weighted by the learner's own ITE variance (``variance="forest"``).

    For the causal forest (``learner="causal-forest"``): v_il is the forest's
    variance estimate of its predicted ITE at x_i (EconML's ``effect_inference``,
    the bootstrap of little bags over the forest's subforests, as in grf), so the
    weights need no refits.  A cheaper variant of ``weighted-bootstrap`` (the
    paper's B refits of the forest per trial); the forest's estimate targets the
    sampling variance of the same forest, but it is not the paper's method.
    Needs a learner that ``provides`` ``"ite_var"``.

    Examples
    --------
    >>> from ipdma.ite import feasible_pairs
    >>> pooler = WeightedForestPooler()
    >>> pooler.name, pooler.requires
    ('weighted-forest', 'ite_var')
    >>> ("causal-forest", "weighted-forest") in feasible_pairs()
    True
    >>> ("ols", "weighted-forest") in feasible_pairs()
    False
    """

    def __init__(self, *, heterogeneity: str = "fixed", level: float = 0.95) -> None:
        super().__init__(variance="forest", heterogeneity=heterogeneity, level=level)


# --------------------------------------------------------------------------------------
# (c) Bayesian multivariate meta-analysis
# --------------------------------------------------------------------------------------
def _marginal_theta(kstar, Sstar, Psi, prior_var):
    """theta integrated out: log p(k* | Psi) and the moments of theta | Psi, k*.

    Psi may carry leading batch dimensions (..., q, q); returns (logp, mean, cov).
    """
    q = kstar.shape[1]
    Sig = Sstar[None] + Psi[..., None, :, :] if Psi.ndim == 3 else Sstar + Psi
    W = np.linalg.inv(Sig)
    _, logdet = np.linalg.slogdet(Sig)
    A = np.eye(q) / prior_var + W.sum(axis=-3)
    b = np.einsum("...lij,lj->...i", W, kstar)
    Ainv = np.linalg.inv(A)
    mean = np.einsum("...ij,...j->...i", Ainv, b)
    quad = np.einsum("li,...lij,lj->...", kstar, W, kstar)
    _, logdetA = np.linalg.slogdet(A)
    logp = (-0.5 * quad + 0.5 * np.einsum("...i,...i->...", b, mean)
            - 0.5 * logdet.sum(axis=-1) - 0.5 * q * np.log(prior_var) - 0.5 * logdetA)
    return logp, mean, Ainv


def _bmvma_full_model(kstar, Sstar, prior_var, tau_scale, lkj_eta, diagonal=False):
    jnp = import_optional("jax.numpy")
    numpyro = import_optional("numpyro")
    dist = import_optional("numpyro.distributions")

    q = kstar.shape[1]
    tau = numpyro.sample("tau", dist.HalfNormal(tau_scale).expand([q]))
    if diagonal:
        Psi = numpyro.deterministic("Psi", jnp.diag(tau ** 2))
    else:
        L = numpyro.sample("L_corr", dist.LKJCholesky(q, concentration=lkj_eta))
        Lpsi = tau[:, None] * L
        Psi = numpyro.deterministic("Psi", Lpsi @ Lpsi.T)
    # theta ~ N(0, prior_var I) integrated out analytically
    Sig = Sstar + Psi
    W = jnp.linalg.inv(Sig)
    A = jnp.eye(q) / prior_var + W.sum(axis=0)
    b = jnp.einsum("lij,lj->i", W, kstar)
    mean = jnp.linalg.solve(A, b)
    quad = jnp.einsum("li,lij,lj->", kstar, W, kstar)
    logp = (-0.5 * quad + 0.5 * b @ mean - 0.5 * jnp.linalg.slogdet(Sig)[1].sum()
            - 0.5 * jnp.linalg.slogdet(A)[1])
    numpyro.factor("marginal_likelihood", logp)


class BayesMVMAPooler(ITEPooler):
    """(c) Bayesian multivariate meta-analysis of per-trial posterior means and covariances.

    ``k*_l ~ MVN(theta + u_l, Sigma*_l)``, ``theta ~ N(0, prior_var I)``.  By default
    only delta is random (``random="delta"``: ``u_l = (h_l, 0, ..., 0)``,
    ``h_l ~ N(0, tau^2)``, ``tau ~ half-N(0, tau_scale)``, the paper's model);
    ``random="full"`` gives a full Psi with half-normal scales and an
    LKJ(``lkj_eta``) correlation prior; ``random="diagonal"`` a diagonal Psi
    with half-normal scales (sampled by NUTS).

    Binary outcomes: the sites export the posterior of the *full* coefficient
    vector (1, t, x, t:x); ``random`` defaults to ``"diagonal"`` (every
    coefficient, baseline risk included, varies between trials) and the ITE
    for a new trial's patient is ``expit(z1'theta_bar) - expit(z0'theta_bar)``
    at the posterior mean of theta, with the credible interval of the posterior
    of ``expit(z1'theta) - expit(z0'theta)`` and the prediction interval of
    ``expit(z1'(theta + u)) - expit(z0'(theta + u))``, ``u ~ N(0, Psi)``;
    ``p0``, ``p1`` are the risks at the posterior mean of theta.

    Both the trial effects and theta are integrated out analytically (the model
    is Gaussian given Psi).  With ``random="delta"`` the one-dimensional
    posterior of tau is evaluated on a fine grid (``grid_size`` points) and
    draws of (tau, theta) are exact; with ``random="full"`` Psi is sampled by
    NUTS (NumPyro) and theta drawn exactly given each Psi draw.  ITE(x) =
    c'theta: posterior mean, sd, credible interval, and a posterior-predictive
    interval for a patient of a new trial.

    Priors and the paper: the default (``random="delta"``, ``prior_var=1000``,
    ``tau_scale=1``) is the method's model (c): delta_l ~ N(theta_delta, tau^2),
    common gamma, theta_delta and gamma ~ N(0, 1000), tau ~ half-N(0, 1).  The
    grid over tau ends at ``8 * tau_scale`` (prior mass beyond it < 1e-14).
    ``random="full"`` is an ipdma extension, not the paper's commented-out
    random-gamma variant (a Gamma(0.001, 0.001) prior on the precision of the
    random gammas): half-normal scales and an LKJ correlation prior are proper
    and weakly informative, whereas a Gamma(0.001, 0.001) precision is
    informative for small heterogeneity when there are few trials (Gelman 2006).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", learner="bayes-lm",
    ...                           pooler="bayes-mvma", learner_options={"num_samples": 300},
    ...                           random_state=k))
    >>> pooler = BayesMVMAPooler(num_samples=200, num_chains=1, grid_size=500, random_state=0)
    >>> res = pooler.fit(sites).predict(X_new)
    >>> pooler.theta_draws_.shape, pooler.tau_draws_.shape
    ((200, 3), (200,))
    >>> res.to_frame(per_trial=False).columns.tolist()
    ['ite', 'se', 'ci_low', 'ci_high', 'pi_low', 'pi_high']
    >>> bool(np.all((res.pi_low < res.ite) & (res.ite < res.pi_high)))
    True
    """

    name = "bayes-mvma"
    needs = "posterior"
    requires = "posterior"
    families = frozenset({"continuous", "binary"})

    @property
    def _random(self) -> str:
        if self.random is not None:
            return self.random
        fam = getattr(self, "family_", "continuous")
        return "delta" if fam == "continuous" else "diagonal"

    def __init__(self, *, random: str | None = None, prior_var: float = 1000.0,
                 tau_scale: float = 1.0, lkj_eta: float = 1.0, num_warmup: int = 1000,
                 num_samples: int = 1000, num_chains: int = 2, grid_size: int = 4000,
                 level: float = 0.95, random_state: Any = 0) -> None:
        super().__init__(level=level)
        if random not in (None, "delta", "full", "diagonal"):
            raise ModelSpecificationError(
                f"random={random!r}: choose 'delta', 'diagonal' or 'full'")
        self.random = random
        self.prior_var = float(prior_var)
        self.tau_scale = float(tau_scale)
        self.lkj_eta = float(lkj_eta)
        self.num_warmup = int(num_warmup)
        self.num_samples = int(num_samples)
        self.num_chains = int(num_chains)
        self.grid_size = int(grid_size)
        self.random_state = random_state

    def _fit(self, summaries):
        kstar = np.vstack([s.post_mean for s in summaries])
        Sstar = np.stack([s.post_cov for s in summaries])
        self.family_ = getattr(summaries[0], "family", "continuous") or "continuous"
        if self.family_ != "continuous" and self._random == "delta":
            raise ModelSpecificationError(
                "bayes-mvma with random='delta' pools the continuous treatment coefficients; "
                "for a binary outcome use random='diagonal' (default) or 'full'")
        q = kstar.shape[1]
        rng = check_random_state(self.random_state)
        S = self.num_samples * self.num_chains
        if self._random == "delta":
            hi = 8.0 * self.tau_scale
            edges = np.linspace(0.0, hi, self.grid_size + 1)
            mid = 0.5 * (edges[1:] + edges[:-1])
            E = np.zeros((q, q))
            E[0, 0] = 1.0
            logp, _, _ = _marginal_theta(kstar, Sstar, mid[:, None, None] ** 2 * E,
                                         self.prior_var)
            logp = logp - 0.5 * (mid / self.tau_scale) ** 2
            w = np.exp(logp - logp.max())
            w /= w.sum()
            cell = rng.choice(len(mid), size=S, p=w)
            tau = edges[cell] + rng.random(S) * (hi / self.grid_size)
            Psi = tau[:, None, None] ** 2 * E
            self.tau_grid_ = pd.DataFrame({"tau": mid, "posterior": w})
            self.diagnostics_ = {"method": "exact (grid over tau)",
                                 "grid_mass_last_1pct": float(w[-len(w) // 100:].sum())}
            if self.diagnostics_["grid_mass_last_1pct"] > 1e-6:
                warnings.warn("bayes-mvma: the posterior of tau reaches the end of the grid; "
                              "increase tau_scale", SamplerWarning, stacklevel=3)
        else:
            Psi = self._sample_full(kstar, Sstar, rng)
            tau = np.sqrt(np.diagonal(Psi, axis1=1, axis2=2))
        _, mean, cov = _marginal_theta(kstar, Sstar, Psi, self.prior_var)
        L = np.linalg.cholesky(cov)
        theta = mean + np.einsum("sij,sj->si", L, rng.standard_normal((len(Psi), q)))
        self.theta_draws_ = theta
        self.Psi_draws_ = Psi
        self.tau_draws_ = tau
        self.coef_ = theta.mean(axis=0)
        self.Psi_ = Psi.mean(axis=0)
        self._pred_seed = int(rng.integers(2**31 - 1))

    def _sample_full(self, kstar, Sstar, rng):
        jax = import_optional("jax")
        jnp = import_optional("jax.numpy")
        _mod = import_optional("numpyro.diagnostics")
        effective_sample_size, split_gelman_rubin = _mod.effective_sample_size, _mod.split_gelman_rubin
        _mod = import_optional("numpyro.infer")
        MCMC, NUTS = _mod.MCMC, _mod.NUTS

        mcmc = MCMC(NUTS(_bmvma_full_model), num_warmup=self.num_warmup,
                    num_samples=self.num_samples, num_chains=self.num_chains,
                    chain_method="sequential", progress_bar=False)
        mcmc.run(jax.random.PRNGKey(int(rng.integers(2**31 - 1))), jnp.asarray(kstar),
                 jnp.asarray(Sstar), self.prior_var, self.tau_scale, self.lkj_eta,
                 self._random == "diagonal", extra_fields=("diverging",))
        self.mcmc_ = mcmc
        g = mcmc.get_samples(group_by_chain=True)
        tau = np.asarray(g["tau"])
        rhat = float(np.nanmax(split_gelman_rubin(tau))) if self.num_chains > 1 else np.nan
        ess = float(np.nanmin(effective_sample_size(tau)))
        n_div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
        self.diagnostics_ = {"method": "NUTS", "rhat_max": rhat, "ess_bulk_min": ess,
                             "divergences": n_div}
        if (np.isfinite(rhat) and rhat > 1.01) or ess < 400 or n_div > 0:
            warnings.warn(f"bayes-mvma sampler diagnostics: R-hat max {rhat:.3f}, bulk ESS min "
                          f"{ess:.0f}, {n_div} divergences; increase num_warmup/num_samples",
                          SamplerWarning, stacklevel=4)
        return np.asarray(mcmc.get_samples()["Psi"], dtype=float)

    def inference_data(self):
        """The posterior draws as an ArviZ ``InferenceData``."""
        az = import_optional("arviz")

        self._check_fitted()
        return az.from_dict(posterior={"theta": self.theta_draws_[None],
                                       "tau": self.tau_draws_[None]})

    def _predict_binary(self, X):
        from ..families import get_family
        from ._glm_learners import arm_designs

        fam = get_family(self.family_)
        scale = fam.check_scale(self.summaries_[0].scale or None)
        Z0, Z1 = arm_designs(X)
        th = self.theta_draws_
        draws = fam.ite(th @ Z0.T, th @ Z1.T, scale)               # (S, N)
        a = (1 - self.level) / 2
        rng = np.random.default_rng(self._pred_seed)
        z = rng.standard_normal(th.shape)
        Lp = np.linalg.cholesky(self.Psi_draws_ + 1e-12 * np.eye(th.shape[1]))
        thn = th + np.einsum("sij,sj->si", Lp, z)
        pdraws = fam.ite(thn @ Z0.T, thn @ Z1.T, scale)
        ci = np.quantile(draws, [a, 1 - a], axis=0)
        pi = np.quantile(pdraws, [a, 1 - a], axis=0)
        per_trial = np.column_stack([fam.ite(Z0 @ s.post_mean, Z1 @ s.post_mean, scale)
                                     for s in self.summaries_])
        # point: the ITE at the posterior mean of theta (as mvma's RD from the pooled
        # coefficients); the posterior mean of the per-draw RD is attenuated towards 0
        # when theta is uncertain (few trials), so it is kept in info
        tbar = th.mean(axis=0)
        point = fam.ite(Z0 @ tbar, Z1 @ tbar, scale)
        return PooledITE(ite=point, per_trial=per_trial, trials=self.trials_,
                         se=draws.std(axis=0, ddof=1), ci_low=ci[0], ci_high=ci[1],
                         pi_low=pi[0], pi_high=pi[1],
                         p0=fam.inverse_link(Z0 @ tbar), p1=fam.inverse_link(Z1 @ tbar),
                         info={"random": self._random, "scale": scale,
                               "posterior_mean_ite": draws.mean(axis=0)})

    def predict(self, X_new):
        self._check_fitted()
        X = self._X(X_new)
        if self.family_ != "continuous":
            return self._predict_binary(X)
        C = ite_contrast(X)
        draws = self.theta_draws_ @ C.T                       # (S, N)
        a = (1 - self.level) / 2
        ite = draws.mean(axis=0)
        ci = np.quantile(draws, [a, 1 - a], axis=0)
        rng = np.random.default_rng(self._pred_seed)
        # posterior predictive for a new trial: theta + u_new, u_new ~ N(0, Psi^(s))
        z = rng.standard_normal(self.theta_draws_.shape)
        Lp = np.linalg.cholesky(self.Psi_draws_ + 1e-12 * np.eye(C.shape[1]))
        u = np.einsum("sij,sj->si", Lp, z)
        pdraws = (self.theta_draws_ + u) @ C.T
        pi = np.quantile(pdraws, [a, 1 - a], axis=0)
        per_trial = C @ np.vstack([s.post_mean for s in self.summaries_]).T
        return PooledITE(ite=ite, per_trial=per_trial, trials=self.trials_,
                         se=draws.std(axis=0, ddof=1), ci_low=ci[0], ci_high=ci[1],
                         pi_low=pi[0], pi_high=pi[1], info={"random": self._random})


# --------------------------------------------------------------------------------------
# (d) weighted mixing of posterior ITE distributions
# --------------------------------------------------------------------------------------
class PosteriorMixPooler(ITEPooler):
    """(d) Inverse-variance weighted mixing of the per-trial posterior ITE distributions.

    ``m_il`` and ``v_il`` are trial l's posterior mean and variance of ITE(x_i);
    the point estimate is ``sum_l (m_il / v_il) / sum_l (1 / v_il)`` (the paper).
    The mixture with trial probabilities proportional to ``1 / v_il`` also gives
    an interval (``ci_low``/``ci_high``: quantiles of the mixture of the
    per-trial posterior draws) and ``se`` (the mixture's standard deviation).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.ite import fit_site
    >>> rng = np.random.default_rng(0)
    >>> X_new = np.array([[0.0, 0.0], [0.0, 1.0]])    # true ITEs 1 and 2
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", learner="bayes-lm",
    ...                           pooler="posterior-mix", learner_options={"num_samples": 300},
    ...                           random_state=k))
    >>> res = PosteriorMixPooler().fit(sites).predict(X_new)
    >>> res.ite.round(2)
    array([1.09, 2.15])
    >>> res.weights.sum(axis=1).round(3), res.to_frame(per_trial=False).columns.tolist()
    (array([1., 1.]), ['ite', 'se', 'ci_low', 'ci_high'])
    """

    name = "posterior-mix"
    needs = "posterior"
    requires = "posterior"
    families = frozenset({"continuous", "binary"})

    def __init__(self, *, level: float = 0.95, max_draws: int = 1000) -> None:
        super().__init__(level=level)
        self.max_draws = int(max_draws)

    def _predict_binary(self, X):
        """Per-trial posterior draws of the full coefficient vector -> ITE draws."""
        from ..families import get_family
        from ._glm_learners import arm_designs

        s0 = self.summaries_[0]
        fam = get_family(s0.family)
        scale = fam.check_scale(s0.scale or None)
        Z0, Z1 = arm_designs(X)
        draws, p0s, p1s = [], [], []
        for s in self.summaries_:
            if s.post_draws is None:
                raise DataError(f"the site summary of trial {s.trial!r} has no posterior "
                                "draws, which posterior-mix needs for a binary outcome")
            d = s.post_draws
            if len(d) > self.max_draws:   # deterministic thinning
                d = d[np.linspace(0, len(d) - 1, self.max_draws).round().astype(int)]
            e0, e1 = d @ Z0.T, d @ Z1.T                                 # (S, N)
            draws.append(fam.ite(e0, e1, scale))
            p0s.append(fam.inverse_link(e0).mean(axis=0))
            p1s.append(fam.inverse_link(e1).mean(axis=0))
        M = np.column_stack([dr.mean(axis=0) for dr in draws])
        V = np.column_stack([dr.var(axis=0, ddof=1) for dr in draws])
        P = (1.0 / V) / (1.0 / V).sum(axis=1, keepdims=True)
        ite = (P * M).sum(axis=1)
        mix_var = (P * (V + M**2)).sum(axis=1) - ite**2
        out = PooledITE(ite=ite, per_trial=M, trials=self.trials_,
                        se=np.sqrt(np.maximum(mix_var, 0.0)), weights=P, per_trial_var=V,
                        p0=(P * np.column_stack(p0s)).sum(axis=1),
                        p1=(P * np.column_stack(p1s)).sum(axis=1), info={"scale": scale})
        a = (1 - self.level) / 2
        N = len(X)
        lo, hi = np.empty(N), np.empty(N)
        for i in range(N):
            vals = np.concatenate([dr[:, i] for dr in draws])
            wts = np.concatenate([np.full(len(dr), P[i, j] / len(dr))
                                  for j, dr in enumerate(draws)])
            o = np.argsort(vals)
            cw = np.cumsum(wts[o])
            lo[i] = vals[o][np.argmax(cw >= a)]
            hi[i] = vals[o][np.argmax(cw >= 1 - a)]
        out.ci_low, out.ci_high = lo, hi
        return out

    def predict(self, X_new):
        self._check_fitted()
        X = self._X(X_new)
        if (getattr(self.summaries_[0], "family", "continuous") or "continuous") != \
                "continuous":
            return self._predict_binary(X)
        C = ite_contrast(X)
        M = np.column_stack([C @ s.post_mean for s in self.summaries_])             # (N, K)
        V = np.column_stack([np.einsum("ij,jk,ik->i", C, s.post_cov, C)
                             for s in self.summaries_])
        W = 1.0 / V
        P = W / W.sum(axis=1, keepdims=True)
        ite = (P * M).sum(axis=1)
        mix_var = (P * (V + M**2)).sum(axis=1) - ite**2
        out = PooledITE(ite=ite, per_trial=M, trials=self.trials_,
                        se=np.sqrt(np.maximum(mix_var, 0.0)), weights=P, per_trial_var=V)
        if all(s.post_draws is not None for s in self.summaries_):
            out.ci_low, out.ci_high = self._mixture_quantiles(C, P)
        return out

    def _mixture_quantiles(self, C, P):
        a = (1 - self.level) / 2
        draws = []
        for s in self.summaries_:
            d = s.post_draws
            if len(d) > self.max_draws:   # deterministic thinning
                d = d[np.linspace(0, len(d) - 1, self.max_draws).round().astype(int)]
            draws.append(d)
        N = len(C)
        lo, hi = np.empty(N), np.empty(N)
        for start in range(0, N, 256):
            sl = slice(start, min(N, start + 256))
            vals = np.concatenate([C[sl] @ d.T for d in draws], axis=1)     # (n, sum S)
            wts = np.concatenate([np.repeat(P[sl, j:j + 1] / len(d), len(d), axis=1)
                                  for j, d in enumerate(draws)], axis=1)
            order = np.argsort(vals, axis=1)
            v = np.take_along_axis(vals, order, axis=1)
            cw = np.cumsum(np.take_along_axis(wts, order, axis=1), axis=1)
            rows = np.arange(v.shape[0])
            lo[sl] = v[rows, np.argmax(cw >= a, axis=1)]
            hi[sl] = v[rows, np.argmax(cw >= 1 - a, axis=1)]
        return lo, hi


# --------------------------------------------------------------------------------------
# registry and feasibility
# --------------------------------------------------------------------------------------
POOLERS: dict[str, type[ITEPooler]] = {
    "mvma": MVMAPooler,
    "weighted-bootstrap": WeightedBootstrapPooler,
    "weighted-aux-ols": WeightedAuxOLSPooler,
    "weighted-forest": WeightedForestPooler,
    "bayes-mvma": BayesMVMAPooler,
    "posterior-mix": PosteriorMixPooler,
}


def get_pooler(pooler: str | ITEPooler, **kwargs: Any) -> ITEPooler:
    """A pooler instance from its name (``"mvma"``, ...) or an instance.

    Examples
    --------
    >>> get_pooler("mvma", method="fixed")
    MVMAPooler(level=0.95, method='fixed', structure=None, pi_df='riley')
    >>> get_pooler("weighted-aux-ols").name
    'weighted-aux-ols'
    """
    if isinstance(pooler, ITEPooler):
        if kwargs:
            raise ModelSpecificationError("pooler options go to the pooler's constructor when "
                                          "an instance is given")
        return pooler
    if isinstance(pooler, str) and pooler in POOLERS:
        return POOLERS[pooler](**kwargs)
    raise ModelSpecificationError(
        f"unknown pooler {pooler!r}: choose one of {', '.join(POOLERS)} or pass an ITEPooler")


def _pair_ok(learner_cls, pooler: ITEPooler, family: str | None = None) -> bool:
    if family is not None and (family not in learner_cls.families
                               or family not in getattr(pooler, "families", ())):
        return False
    req = pooler.requires
    if req is None:
        return True
    if req == "bootstrap":
        return bool(learner_cls.bootstrap_supported)
    return req in learner_cls.provides


def feasible_pairs(family: str = "continuous") -> list[tuple[str, str]]:
    """All (learner, pooler) name pairs that can run together on an outcome ``family``.

    Examples
    --------
    >>> ("ols", "mvma") in feasible_pairs(), ("xgboost", "mvma") in feasible_pairs()
    (True, False)
    >>> binary = feasible_pairs("binary")
    >>> ("logistic", "mvma") in binary, ("ols", "mvma") in binary
    (True, False)
    """
    from ..families import get_family

    family = get_family(family).name
    out = []
    for lname, lcls in LEARNERS.items():
        for pname, pcls in POOLERS.items():
            if _pair_ok(lcls, pcls(), family):
                out.append((lname, pname))
    return out


def check_pair(learner, pooler: ITEPooler, family: str | None = None) -> None:
    """Raise :class:`InfeasibleMethodError` listing the feasible pairs if the pair cannot run.

    Examples
    --------
    >>> from ipdma.ite import get_learner
    >>> check_pair(get_learner("ols"), get_pooler("mvma"))          # feasible: no error
    >>> check_pair(get_learner("xgboost"), get_pooler("mvma"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ipdma.errors.InfeasibleMethodError: pooler 'mvma' needs coefficients with a covariance ...
    """
    lcls = type(learner)
    if family is not None:
        from ..families import check_family

        try:
            check_family(learner, family)
            check_family(pooler, family)
        except ModelSpecificationError as exc:
            ok = ", ".join(f"{a}+{b}" for a, b in feasible_pairs(family))
            raise InfeasibleMethodError(f"{exc}. Pairs for {family} outcomes: {ok}") from None
    fam = family or "continuous"
    if _pair_ok(lcls, pooler):
        return
    why = {"coef_cov": "coefficients with a covariance matrix",
           "posterior": "posterior draws of the treatment coefficients",
           "bootstrap": "bootstrap refits",
           "ite_var": "its own variance of each predicted ITE (a causal forest)"}[pooler.requires]
    ok_poolers = [p for (lname, p) in feasible_pairs(fam) if lname == learner.name]
    ok_learners = [lname for (lname, p) in feasible_pairs(fam) if p == pooler.name]
    raise InfeasibleMethodError(
        f"pooler {pooler.name!r} needs {why}, which learner {learner.name!r} does not provide. "
        f"Poolers that work with {learner.name!r}: {', '.join(ok_poolers)}; learners that work "
        f"with {pooler.name!r}: {', '.join(ok_learners)}. All feasible pairs: "
        + ", ".join(f"{a}+{b}" for a, b in feasible_pairs(fam)))

"""Bayesian network meta-analysis / meta-regression of IPD and aggregate data with
optional bias adjustment: the model family of R's crossnma (Hamza, Schwarzer, Salanti).

Model (binary outcome, logit link; study ``j``, its baseline arm ``b(j)``)::

    IPD row i:  logit p_i = u_j + theta_{j,t} + beta0_j x_i + (beta_t - beta_{b(j)}) x_i
                            [+ R_j g                      bias="adjust1"]
    AD arm t:   r_jt ~ Bin(n_jt, p_jt),
                logit p_jt = u_j + theta_{j,t} + (beta_t - beta_{b(j)}) xbar_j
                            [+ R_j g 1(t != b(j))          bias="adjust1"]

with ``x`` the covariate minus a reference value (default: its minimum over IPD and AD),
``xbar_j`` the AD study's mean covariate, ``theta_{j,b(j)} = 0`` and the random study
effects of the non-baseline arms built arm by arm (the multi-arm conditional form of the
``tau^2 (I + J) / 2`` covariance)::

    theta_{jk} = (d_{t_k} - d_{b(j)}) + e_{jk},
    e_{jk} | e_{j,<k} ~ N(mean(e_{j,1..k-1}) + s_j, c_j^2 tau^2 k / (2 (k - 1))),  e_{j1} = 0

where ``s_j = 0, c_j = 1`` except under ``bias="adjust2"``: then ``theta`` is the
``pi_j``-weighted average of an unbiased and a biased (shifted by ``g``) draw, i.e.
``s_j = pi_j g`` and ``c_j^2 = (1 - pi_j)^2 + pi_j^2`` with ``pi_j`` the prior probability
of bias of study ``j`` (Beta priors by risk of bias and design).  Under ``"adjust1"`` the
bias indicator ``R_j ~ Bernoulli(pi_j)`` is latent, ``logit pi_j = a + b z_j`` with ``z`` a
study-level bias covariate.  ``R`` and ``(a, b)`` are summed out exactly (module
``_crossnma_bias``): ``p(data | rest) = sum_r c_r prod_j L_j(r_j)`` over the ``2^J``
configurations of the bias-group studies, ``c_r`` the prior probability of configuration
``r`` (computed once by quadrature).  In IPD studies ``R_j g`` shifts every arm, like
``u_j``, so ``u_j`` is sampled as ``u_j + R_j g`` and ``R_j`` only changes its prior
density; NUTS then sees one smooth density whatever the bias covariate's scale (with an
uncentred year, ``pi_j`` is a step in ``b``: JAGS's chains each keep one configuration).
``R``, ``u`` (crossnma's parametrisation) and ``(a, b) | R`` (rejection from the prior)
are drawn after sampling.  Above ``MAX_EXACT`` bias-group studies, ``a`` and ``b`` are
sampled with a per-study two-component mixture instead (fine for a centred covariate;
on an uncentred one it does not mix and the sampler diagnostics warn).

Priors (crossnma's defaults): ``u, d, beta0, b, g, a, b ~ N(0, (15 m)^2)``,
``tau, tau_b ~ U(0, m)`` with ``m`` the largest absolute log odds ratio among all
within-study arm pairs (0.5 added to every cell), and, for the covariate,
``beta_t ~ N(b, tau_b^2)`` (exchangeable interactions, within = between study).
Random effects are non-centred; NUTS with a dense mass matrix (NumPyro).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._base import Summary
from .._optional import import_optional
from ..errors import ColumnNotFoundError, DataError, ModelSpecificationError, NotFittedError
from ._bayes import _diagnostics
from ._crossnma_bias import MAX_EXACT, config_bits, config_prior, draw_ab

_BIAS = ("naive", "adjust1", "adjust2")

# default Beta priors of the probability of bias (crossnma 1.3.0 defaults) by category:
# 1 high-risk RCT, 2 low-risk RCT, 3 high-risk NRS, 4 low-risk NRS, 5 unclear
_PI_PRIOR = {1: (10.0, 1.0), 2: (1.0, 10.0), 3: (30.0, 1.0), 4: (1.0, 30.0), 5: (1.0, 1.0)}


def _bias_category(rob: str, design: str, study: object) -> int:
    r, d = str(rob).strip().lower(), str(design).strip().lower()
    if r == "unclear":
        return 5
    if r not in ("high", "low"):
        raise DataError(f"risk of bias {rob!r} of study {study!r} is not one of "
                        "'high', 'low', 'unclear'; recode the bias column.")
    if d not in ("rct", "nrs"):
        raise DataError(f"design {design!r} of study {study!r} is not 'rct' or 'nrs'; "
                        "recode the design column.")
    return {("high", "rct"): 1, ("low", "rct"): 2, ("high", "nrs"): 3,
            ("low", "nrs"): 4}[(r, d)]


def _need(df: pd.DataFrame, cols: Sequence[str], what: str) -> None:
    for c in cols:
        if c is not None and c not in df.columns:
            raise ColumnNotFoundError(f"column {c!r} ({what}) not found; available: "
                                      f"{list(df.columns)}")


def max_log_or(studies: np.ndarray, treatments: np.ndarray, events: np.ndarray,
               n: np.ndarray) -> float:
    """Largest absolute log odds ratio among all pairs of arms within a study, with 0.5
    added to every cell (crossnma's scale for its vague priors)."""
    best = 0.0
    for s in pd.unique(studies):
        m = studies == s
        e, nn = events[m].astype(float), n[m].astype(float)
        lo = np.log((e + 0.5) / (nn - e + 0.5))
        diff = np.abs(lo[:, None] - lo[None, :])
        best = max(best, float(diff.max()))
    return best


@dataclass
class _Data:
    y: np.ndarray
    n: np.ndarray
    study: np.ndarray          # row -> study index
    trt: np.ndarray            # row -> treatment index
    x: np.ndarray              # row covariate (centred); AD rows: study mean
    is_ipd: np.ndarray
    arm_pos: np.ndarray        # row -> position of its arm in the study (0 = baseline)
    arm_trt: np.ndarray        # (J, K) treatment index of arm k, -1 padding
    n_ipd: int
    studies: list
    treatments: list
    bias_mask: np.ndarray      # row: 1 where R_j g enters (adjust1)
    bias_group: np.ndarray     # (J,) 1 = bias-adjusted
    bias_cat: np.ndarray       # (J,) 1..5
    bias_cov: np.ndarray | None
    prior_scale: float
    cov_ref: float | None


@dataclass
class CrossNMAResult:
    """Posterior of a :class:`CrossNMA` fit.

    Attributes
    ----------
    params : DataFrame
        One row per parameter (``d[B]``, ``tau``, ``b_1``, ``tau_b``, ``beta[B]``, ``g``,
        ...): ``estimate`` (posterior mean), ``se`` (posterior sd), ``lower``, ``median``,
        ``upper`` (2.5/50/97.5 % quantiles), ``r_hat``, ``ess_bulk``.
    inference_data : arviz.InferenceData
    diagnostics : dict
        ``max_rhat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``.
    """

    params: pd.DataFrame
    inference_data: object
    diagnostics: dict
    samples: dict
    treatments: list
    studies: list
    bias: str
    covariate: str | None
    covariate_ref: float | None
    prior_scale: float
    seconds: float
    info: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy parameter table (``parameter`` column + :attr:`params` columns)."""
        return self.params.reset_index().rename(columns={"index": "parameter"})

    def _lor_draws(self, value: float | None) -> np.ndarray:
        d = self.samples["d"].reshape(-1, len(self.treatments) - 1)
        dfull = np.concatenate([np.zeros((d.shape[0], 1)), d], axis=1)
        if self.covariate is not None:
            if value is None:
                raise ModelSpecificationError(
                    f"the model has covariate {self.covariate!r}: give "
                    f"covariate_value= (e.g. {self.covariate_ref:g}).")
            beta = self.samples["beta"].reshape(-1, len(self.treatments) - 1)
            bfull = np.concatenate([np.zeros((beta.shape[0], 1)), beta], axis=1)
            dfull = dfull + bfull * (value - self.covariate_ref)
        return dfull

    def config_weights(self) -> np.ndarray:
        """``bias="adjust1"`` (exact): per draw, the conditional posterior probability of
        every bias configuration (``(chain, draw, 2^J)``, columns as the rows of
        ``info["config_bits"]``).  Averaging over draws gives the posterior probability
        of each configuration; weighting draws by a column gives posterior means given
        that configuration."""
        if "config_bits" not in self.info:
            raise ModelSpecificationError("config_weights() needs a bias='adjust1' fit "
                                          "with the exact marginalisation.")
        lw = (np.log(np.maximum(self.info["config_prior"], 1e-300))
              + self.samples["bias_delta"] @ self.info["config_bits"].T)
        lw -= lw.max(axis=-1, keepdims=True)
        w = np.exp(lw)
        return w / w.sum(axis=-1, keepdims=True)

    def bias_configurations(self) -> pd.DataFrame:
        """``bias="adjust1"`` (exact): every configuration of the bias indicators
        (one 0/1 column per bias-group study) with its ``prior`` probability (from the
        model of ``pi_j``) and ``posterior`` probability, sorted by the latter."""
        w = self.config_weights()
        tab = pd.DataFrame(self.info["config_bits"].astype(int),
                           columns=self.info["bias_studies"])
        tab["prior"] = self.info["config_prior"]
        tab["posterior"] = w.reshape(-1, w.shape[-1]).mean(axis=0)
        return tab.sort_values("posterior", ascending=False).reset_index(drop=True)

    def league(self, covariate_value: float | None = None, *, exp: bool = True,
               level: float = 0.95) -> pd.DataFrame:
        """Every pairwise contrast ``treatment`` vs ``comparator`` (log odds ratio, or OR
        with ``exp=True``) at ``covariate_value``: posterior median, mean and interval."""
        lor = self._lor_draws(covariate_value)
        a = (1 - level) / 2
        rows = []
        for i, t in enumerate(self.treatments):
            for k, c in enumerate(self.treatments):
                if i == k:
                    continue
                v = lor[:, i] - lor[:, k]
                if exp:
                    v = np.exp(v)
                rows.append({"treatment": t, "comparator": c, "median": np.median(v),
                             "mean": v.mean(), "lower": np.quantile(v, a),
                             "upper": np.quantile(v, 1 - a)})
        return pd.DataFrame(rows)

    def summary(self) -> Summary:
        info = {"model": f"crossnma-type NMA ({self.bias})", "studies": len(self.studies),
                "treatments": ", ".join(map(str, self.treatments)),
                "reference": self.treatments[0], "prior scale (max |log OR|)": self.prior_scale,
                "max R-hat": self.diagnostics["max_rhat"],
                "min bulk ESS": self.diagnostics["min_ess_bulk"],
                "divergences": self.diagnostics["divergences"]}
        if self.covariate is not None:
            info["covariate"] = f"{self.covariate} (centred at {self.covariate_ref:g})"
        tab = self.params.rename(columns={"r_hat": "R-hat"})
        return Summary(title="Bayesian NMA of IPD + aggregate data (log odds ratios)",
                       tables={"posterior": tab}, info=info,
                       notes=["estimate = posterior mean, se = posterior sd, "
                              "lower/upper = 2.5 % / 97.5 % quantiles."])

    def plot(self, ax=None):
        """Forest plot of the treatment effects vs the reference (posterior mean, 95 %)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * (len(self.treatments) - 1)))
        rows = [f"d[{t}]" for t in self.treatments[1:]]
        p = self.params.loc[rows]
        yy = np.arange(len(rows))[::-1]
        ax.errorbar(p["estimate"], yy, xerr=[p["estimate"] - p["lower"],
                                             p["upper"] - p["estimate"]], fmt="o")
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(yy, [f"{t} vs {self.treatments[0]}" for t in self.treatments[1:]])
        ax.set_xlabel("log odds ratio")
        return ax


class CrossNMA:
    """Bayesian NMA / network meta-regression of IPD and aggregate-data (AD) trials with
    optional bias adjustment (the models of R's crossnma, binary outcome, log OR).

    Parameters
    ----------
    bias : {"naive", "adjust1", "adjust2"}
        ``"naive"``: RCTs and non-randomised studies combined as they are.
        ``"adjust1"``: additive bias ``g`` (common) in studies with a latent bias
        indicator, probability modelled on ``bias_covariate`` (logistic); the indicators
        and the logistic coefficients are summed out exactly (up to 10 bias-group
        studies), see :meth:`CrossNMAResult.bias_configurations`.
        ``"adjust2"``: study effects are a ``pi``-weighted average of an unbiased and a
        ``g``-shifted draw; ``pi`` has Beta priors by risk of bias and design.
    covariate : str, optional
        Column (IPD and AD) of a continuous covariate: per-study main effect
        (independent), treatment interactions exchangeable ``N(b_1, tau_b^2)``, AD
        studies at their mean value (crossnma ``split.regcoef = FALSE``).
    covariate_ref : float, optional
        Centring value of the covariate (default: smallest value in IPD and AD).
    reference : str, optional
        Reference treatment (default: the first in sorted order).
    prior_scale : float, optional
        ``m`` of the priors (default: largest absolute within-study log OR).
    chains, draws, warmup, target_accept, random_state
        NUTS settings.
    crossnma_compat : bool
        Bias models only: reproduce the model crossnma 1.3.0 actually generates, which
        differs from its documentation in two ways seen in its JAGS code and data:
        every study's baseline arm is the first treatment in sorted order (the
        ``unfavored`` ordering is lost when the arm matrix is re-sorted), and under
        ``"adjust2"`` AD study ``a`` gets the probability of bias of the category of the
        ``a``-th study (an IPD study) instead of its own.  Default False: the baseline
        arm is the ``unfavored == 0`` treatment and every study uses its own category.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.nmr import CrossNMA
    >>> rng = np.random.default_rng(1)
    >>> ipd = pd.DataFrame({"study": np.repeat(["s1", "s2"], 100),
    ...                     "treat": np.tile(np.repeat(["A", "B"], 50), 2)})
    >>> ipd["y"] = rng.binomial(1, np.where(ipd["treat"] == "B", 0.3, 0.5))
    >>> ad = pd.DataFrame({"study": ["a1", "a1"], "treat": ["A", "B"],
    ...                    "events": [20, 12], "n": [40, 40]})
    >>> CrossNMA("adjust2", covariate="age").bias
    'adjust2'
    >>> res = CrossNMA(draws=300, warmup=300, random_state=1).fit(
    ...     ipd, study="study", treatment="treat", outcome="y", aggregate=ad,
    ...     aggregate_events="events", aggregate_n="n")  # doctest: +SKIP
    >>> -2 < res.params.loc["d[B]", "estimate"] < 0  # doctest: +SKIP
    True
    """

    def __init__(self, bias: str = "naive", *, covariate: str | None = None,
                 covariate_ref: float | None = None, reference: str | None = None,
                 prior_scale: float | None = None, chains: int = 2, draws: int = 2000,
                 warmup: int = 1000, target_accept: float = 0.9,
                 random_state: int = 0, crossnma_compat: bool = False) -> None:
        if bias not in _BIAS:
            raise ModelSpecificationError(f"bias={bias!r}; use one of {_BIAS}.")
        self.bias = bias
        self.covariate = covariate
        self.covariate_ref = covariate_ref
        self.reference = reference
        self.prior_scale = prior_scale
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.target_accept = target_accept
        self.random_state = random_state
        self.crossnma_compat = crossnma_compat
        self.result_: CrossNMAResult | None = None

    # ------------------------------------------------------------------ data
    def _prepare(self, ipd, study, treatment, outcome, aggregate, aggregate_study,
                 aggregate_treatment, aggregate_events, aggregate_n, design, rob,
                 unfavored, bias_group, bias_covariate) -> _Data:
        adj = self.bias != "naive"
        cov = self.covariate
        need_i = [study, treatment, outcome, cov]
        if adj:
            need_i += [design, rob, unfavored, bias_group]
            if self.bias == "adjust1":
                need_i.append(bias_covariate)
        _need(ipd, need_i, "IPD")
        if aggregate is not None:
            need_a = [aggregate_study, aggregate_treatment, aggregate_events, aggregate_n,
                      cov]
            if adj:
                need_a += [design, rob, unfavored, bias_group]
                if self.bias == "adjust1":
                    need_a.append(bias_covariate)
            _need(aggregate, need_a, "aggregate")
        for c in need_i:
            if c is not None and ipd[c].isna().any():
                i = ipd.index[ipd[c].isna()][0]
                raise DataError(f"column {c!r} has missing values (first at row {i!r}); "
                                "remove or impute them before fitting.")
        yv = ipd[outcome].to_numpy()
        if not np.isin(yv, [0, 1]).all():
            raise DataError(f"outcome column {outcome!r} must be 0/1; found "
                            f"{sorted(set(np.unique(yv)) - {0, 1})[:3]}.")
        # study keys (IPD and AD kept apart even if ids coincide)
        s_ipd = ["ipd:" + str(s) for s in ipd[study]]
        ipd_studies = list(pd.unique(np.asarray(s_ipd)))
        if aggregate is not None:
            s_ad = ["ad:" + str(s) for s in aggregate[aggregate_study]]
            ad_studies = list(pd.unique(np.asarray(s_ad)))
            tr_all = list(ipd[treatment].astype(str)) + list(aggregate[aggregate_treatment]
                                                            .astype(str))
        else:
            s_ad, ad_studies = [], []
            tr_all = list(ipd[treatment].astype(str))
        treatments = sorted(set(tr_all))
        if self.reference is not None:
            if str(self.reference) not in treatments:
                raise ModelSpecificationError(f"reference {self.reference!r} is not a "
                                              f"treatment; treatments: {treatments}.")
            treatments.remove(str(self.reference))
            treatments.insert(0, str(self.reference))
        tix = {t: i for i, t in enumerate(treatments)}
        studies = ipd_studies + ad_studies
        six = {s: i for i, s in enumerate(studies)}
        J = len(studies)
        # rows: IPD rows, then AD arms
        study_idx = np.array([six[s] for s in s_ipd + s_ad])
        trt_idx = np.array([tix[t] for t in tr_all])
        y = np.concatenate([yv.astype(float), np.zeros(0) if aggregate is None else
                            aggregate[aggregate_events].to_numpy(float)])
        n = np.concatenate([np.ones(len(ipd)), np.zeros(0) if aggregate is None else
                            aggregate[aggregate_n].to_numpy(float)])
        is_ipd = np.arange(y.size) < len(ipd)
        frames = [ipd] + ([] if aggregate is None else [aggregate])

        def col(c):
            return np.concatenate([f[c].to_numpy() for f in frames])

        # study-level baseline arm: the treatment with unfavored == 0 (bias models), or the
        # lowest treatment index
        arms: dict[int, list[int]] = {}
        for j, t in zip(study_idx, trt_idx):
            arms.setdefault(j, [])
            if t not in arms[j]:
                arms[j].append(t)
        base = {j: min(ts) for j, ts in arms.items()}
        if adj:
            unf = col(unfavored)
            sorted_base = dict(base)
            for j in range(J):
                m = study_idx == j
                zeros = np.unique(trt_idx[m][unf[m] == 0])
                if zeros.size != 1:
                    raise DataError(f"study {studies[j]!r}: column {unfavored!r} must be 0 "
                                    f"for exactly one treatment (found {zeros.size}).")
                base[j] = int(zeros[0])
            if self.crossnma_compat:
                base = sorted_base
        K = max(len(v) for v in arms.values())
        arm_trt = -np.ones((J, K), dtype=int)
        for j, ts in arms.items():
            ordered = [base[j], *sorted(t for t in ts if t != base[j])]
            arm_trt[j, :len(ordered)] = ordered
        pos = {(j, t): k for j in range(J) for k, t in enumerate(arm_trt[j]) if t >= 0}
        arm_pos = np.array([pos[(j, t)] for j, t in zip(study_idx, trt_idx)])
        # covariate
        x = np.zeros(y.size)
        cov_ref = None
        if cov is not None:
            xi = ipd[cov].to_numpy(float)
            xa = (np.zeros(0) if aggregate is None else aggregate[cov].to_numpy(float))
            cov_ref = (float(min(xi.min(), xa.min() if xa.size else np.inf))
                       if self.covariate_ref is None else float(self.covariate_ref))
            xcat = np.concatenate([xi, xa]) - cov_ref
            x = xcat.copy()
            # AD: the study mean of its arm values
            for j in range(len(ipd_studies), J):
                m = study_idx == j
                x[m] = xcat[m].mean()
        # bias
        bgrp = np.ones(J)
        bias_cat = np.full(J, 5)
        bias_cov = None
        bias_mask = np.zeros(y.size)
        if adj:
            bg, rb, ds = col(bias_group), col(rob), col(design)
            bcv = col(bias_covariate) if self.bias == "adjust1" else None
            bias_cov = np.zeros(J) if bcv is not None else None
            for j in range(J):
                m = np.flatnonzero(study_idx == j)
                vals = set(np.asarray(bg[m]).tolist())
                if len(vals) != 1 or not vals <= {0, 1}:
                    raise DataError(f"study {studies[j]!r}: column {bias_group!r} must be "
                                    f"one value per study, 0 or 1 (found {sorted(vals)}); "
                                    "bias.group 2 is not supported.")
                bgrp[j] = float(vals.pop())
                cats = {_bias_category(r, d, studies[j]) for r, d in zip(rb[m], ds[m])}
                if len(cats) != 1:
                    raise DataError(f"study {studies[j]!r}: risk of bias / design differ "
                                    "between its rows; give one value per study.")
                bias_cat[j] = cats.pop()
                if bcv is not None:
                    bias_cov[j] = float(np.mean(bcv[m].astype(float)))
            bias_mask = bgrp[study_idx] * np.where(is_ipd, 1.0,
                                                         (arm_pos > 0).astype(float))
        # prior scale from arm counts (IPD aggregated)
        if self.prior_scale is None:
            key = pd.DataFrame({"s": study_idx, "t": trt_idx, "y": y, "n": n})
            agg = key.groupby(["s", "t"], sort=False)[["y", "n"]].sum().reset_index()
            scale = max_log_or(agg["s"].to_numpy(), agg["t"].to_numpy(),
                               agg["y"].to_numpy(), agg["n"].to_numpy())
        else:
            scale = float(self.prior_scale)
        return _Data(y=y, n=n, study=study_idx, trt=trt_idx, x=x, is_ipd=is_ipd,
                     arm_pos=arm_pos, arm_trt=arm_trt, n_ipd=len(ipd_studies),
                     studies=studies, treatments=treatments, bias_mask=bias_mask,
                     bias_group=bgrp, bias_cat=bias_cat, bias_cov=bias_cov,
                     prior_scale=scale, cov_ref=cov_ref)

    # ----------------------------------------------------------------- model
    def _model(self, D: _Data):
        jnp = import_optional("jax.numpy")
        jax = import_optional("jax")
        numpyro = import_optional("numpyro")
        dist = import_optional("numpyro.distributions")

        J, K = D.arm_trt.shape
        T = len(D.treatments)
        m = D.prior_scale
        sd = 15.0 * m
        has_cov = self.covariate is not None
        rows_y, rows_n, rows_s, rows_t = D.y, D.n, D.study, D.trt
        rows_pos, rows_ipd, rows_mask = D.arm_pos, D.is_ipd, D.bias_mask
        if not has_cov:
            # without a covariate every IPD row of an arm has the same linear predictor:
            # the Bernoulli rows are summed to arm counts (same posterior, far cheaper)
            key = pd.DataFrame({"s": rows_s, "p": rows_pos, "i": rows_ipd,
                                "r": np.arange(rows_y.size)})
            first = key.groupby(["i", "s", "p"], sort=True)["r"].first().to_numpy()
            grp = key.groupby(["i", "s", "p"], sort=True).ngroup().to_numpy()
            rows_y = np.bincount(grp, weights=rows_y)
            rows_n = np.bincount(grp, weights=rows_n)
            rows_s, rows_t, rows_pos = rows_s[first], rows_t[first], rows_pos[first]
            rows_ipd, rows_mask = rows_ipd[first], rows_mask[first]
        y, n = jnp.asarray(rows_y), jnp.asarray(rows_n)
        study, trt, x = jnp.asarray(rows_s), jnp.asarray(rows_t), jnp.asarray(D.x)
        pos = jnp.asarray(rows_pos)
        arm_trt = np.where(D.arm_trt < 0, 0, D.arm_trt)
        valid = D.arm_trt >= 0
        base_trt = jnp.asarray(D.arm_trt[:, 0])
        is_ipd = jnp.asarray(rows_ipd.astype(float))
        mask = jnp.asarray(rows_mask)
        bias = self.bias
        ipd_idx = np.flatnonzero(D.is_ipd)
        n_ipd = D.n_ipd
        logc_y = jnp.asarray(_log_binom(rows_y, rows_n))
        bg = jnp.asarray(D.bias_group)
        if bias == "adjust2":
            ab = np.array([_PI_PRIOR[c] for c in range(1, 6)])
            cat = D.bias_cat.astype(int) - 1
            if self.crossnma_compat:
                # crossnma 1.3.0 indexes pi of AD study a by the category of study a
                # (an IPD study), not of the AD study itself
                cat = cat.copy()
                n_ad = J - n_ipd
                cat[n_ipd:] = D.bias_cat[:n_ad].astype(int) - 1
            cat = jnp.asarray(cat)
        exact = False
        self._adjust1 = None
        if bias == "adjust1":
            zc = jnp.asarray(D.bias_cov)
            jb = np.flatnonzero(D.bias_group > 0)
            exact = 0 < jb.size <= MAX_EXACT
            if exact:
                t_c = time.perf_counter()
                cprob, cerr = config_prior(D.bias_cov[jb], sd)
                self._adjust1 = {"jb": jb, "bits": config_bits(jb.size), "c": cprob,
                                 "c_error": cerr, "z": D.bias_cov[jb], "sd": sd,
                                 "c_seconds": time.perf_counter() - t_c}
                bits_j = jnp.asarray(self._adjust1["bits"])
                logc = jnp.asarray(np.log(np.maximum(cprob, 1e-300)))
                jb_j = jnp.asarray(jb)
                ipd_study = jnp.asarray((np.arange(J) < n_ipd).astype(float))
                ad_rows = jnp.asarray(np.flatnonzero(~rows_ipd))
        if has_cov:
            xbar = np.zeros(J)
            for j in range(n_ipd):
                xbar[j] = D.x[D.study == j].mean()
            xbar = jnp.asarray(xbar)
            xc = float(D.x[D.is_ipd].mean())

        def model():
            if has_cov:
                # sampled at centred values (u_j at the study's mean covariate, d at the
                # overall mean) with the priors evaluated at the original parameters: the
                # same posterior with far less correlation between intercepts and slopes
                b1 = numpyro.sample("b_1", dist.Normal(0.0, sd))
                taub = numpyro.sample("tau_b", dist.Uniform(0.0, m))
                # centred: the IPD inform the interactions well, so the non-centred
                # form makes a thin curved ridge in (tau_b, z)
                beta = numpyro.sample("beta", dist.Normal(b1, taub).expand([T - 1])
                                      .to_event(1))
                bfull = jnp.concatenate([jnp.zeros(1), beta])
                b0 = numpyro.sample("beta0", dist.Normal(0.0, sd).expand([n_ipd])
                                    .to_event(1))
                b0full = jnp.concatenate([b0, jnp.zeros(J - n_ipd)])
                u_c = numpyro.sample("u_c", dist.Normal(0.0, sd).expand([J]).to_event(1))
                d_c = numpyro.sample("d_c", dist.Normal(0.0, sd).expand([T - 1])
                                     .to_event(1))
                u = numpyro.deterministic("u", u_c - b0full * xbar)
                d = numpyro.deterministic("d", d_c - beta * xc)
                prior = dist.Normal(0.0, sd)
                numpyro.factor("prior_shift", jnp.sum(prior.log_prob(u) - prior.log_prob(u_c))
                               + jnp.sum(prior.log_prob(d) - prior.log_prob(d_c)))
            else:
                u = numpyro.sample("u", dist.Normal(0.0, sd).expand([J]).to_event(1))
                d = numpyro.sample("d", dist.Normal(0.0, sd).expand([T - 1]).to_event(1))
            dfull = jnp.concatenate([jnp.zeros(1), d])
            tau = numpyro.sample("tau", dist.Uniform(0.0, m))
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([J, K - 1]).to_event(2))
            shift = jnp.zeros(J)
            scale = jnp.ones(J)
            if bias in ("adjust1", "adjust2"):
                g = numpyro.sample("g", dist.Normal(0.0, sd))
            if bias == "adjust2":
                # one probability of bias per category (high/low RCT, high/low NRS,
                # unclear), shared by the studies of that category
                pic = numpyro.sample("pi", dist.Beta(jnp.asarray(ab[:, 0]),
                                                     jnp.asarray(ab[:, 1])).to_event(1))
                pi = pic[cat]
                shift = bg * pi * g
                scale = jnp.where(bg > 0, jnp.sqrt((1 - pi) ** 2 + pi ** 2), 1.0)
            # sequential multi-arm random effects (deviation e of arm k from its mean)
            e_cols = [jnp.zeros(J)]
            for k in range(1, K):
                prev = sum(e_cols) / k
                sdk = tau * scale * np.sqrt((k + 1) / (2.0 * k))
                e_cols.append(prev + shift + sdk * z[:, k - 1])
            e = jnp.stack(e_cols, axis=1) * jnp.asarray(valid)
            theta = (dfull[jnp.asarray(arm_trt)] - dfull[base_trt][:, None]) + e
            theta = theta.at[:, 0].set(0.0)
            eta = u[study] + theta[study, pos]
            if has_cov:
                b0row = b0full[study] * is_ipd
                eta = eta + (b0row + bfull[trt] - bfull[base_trt[study]]) * x
            ll0 = y * eta - n * jax.nn.softplus(eta) + logc_y
            if exact:
                # (a, b) and R summed out exactly: sum over configurations r of
                # c_r prod_j L_j(r_j).  In IPD studies R_j g shifts every arm like u_j,
                # so u_j is sampled as the effective intercept u_j + R_j g and R_j only
                # moves its prior: N(u_j - R_j g; 0, sd^2) instead of N(u_j; 0, sd^2).
                # AD rows only: R_j g shifts their non-baseline arms
                eta1 = eta[ad_rows] + g * mask[ad_rows]
                ll1 = y[ad_rows] * eta1 - n[ad_rows] * jax.nn.softplus(eta1)
                L0 = jax.ops.segment_sum(ll0, study, num_segments=J)
                L1 = L0 + jax.ops.segment_sum(ll1 + logc_y[ad_rows] - ll0[ad_rows],
                                              study[ad_rows], num_segments=J)
                pu = dist.Normal(0.0, sd)
                L1 = L1 + ipd_study * (pu.log_prob(u - g) - pu.log_prob(u))
                delta = numpyro.deterministic("bias_delta", (L1 - L0)[jb_j])
                lw = logc + bits_j @ delta
                lse = jax.scipy.special.logsumexp(lw)
                numpyro.factor("loglik", jnp.sum(L0) + lse)
                numpyro.deterministic("p_bias", jnp.exp(lw - lse) @ bits_j)
            elif bias == "adjust1":
                a = numpyro.sample("a", dist.Normal(0.0, sd))
                b = numpyro.sample("b", dist.Normal(0.0, sd))
                eta1 = eta + g * mask
                ll1 = y * eta1 - n * jax.nn.softplus(eta1) + logc_y
                L0 = jax.ops.segment_sum(ll0, study, num_segments=J)
                L1 = jax.ops.segment_sum(ll1, study, num_segments=J)
                lin = a + b * zc
                lp = jnp.logaddexp(jax.nn.log_sigmoid(-lin) + L0,
                                   jax.nn.log_sigmoid(lin) + L1)
                numpyro.factor("loglik", jnp.sum(lp))
                # posterior probability that study j is biased
                numpyro.deterministic("p_bias", jax.nn.sigmoid(
                    jax.nn.log_sigmoid(lin) + L1 - lp))
            else:
                numpyro.factor("loglik", jnp.sum(ll0))

        del ipd_idx
        # start every chain near the data: study intercepts at the empirical log odds of
        # the baseline arm, the rest at zero (or mid-range for the SDs)
        u0 = np.zeros(J)
        for j in range(J):
            mm = (D.study == j) & (D.arm_pos == 0)
            p = (D.y[mm].sum() + 0.5) / (D.n[mm].sum() + 1.0)
            u0[j] = np.log(p / (1 - p))
        init = {"tau": 0.3 * m, "z": np.zeros((J, K - 1)), "d": np.zeros(T - 1)}
        if has_cov:
            init.update(u_c=u0, d_c=np.zeros(T - 1), b_1=0.0, tau_b=0.3 * m,
                        beta=np.zeros(T - 1), beta0=np.zeros(n_ipd))
        else:
            init["u"] = u0
        if bias != "naive":
            init["g"] = 0.0
        if bias == "adjust1" and not exact:
            init.update(a=0.0, b=0.0)
        if bias == "adjust2":
            init["pi"] = np.full(5, 0.5)
        self._init = {k: np.asarray(v, dtype=float) for k, v in init.items()}
        return model

    def fit(self, ipd: pd.DataFrame, *, study: str, treatment: str, outcome: str,
            aggregate: pd.DataFrame | None = None, aggregate_study: str | None = None,
            aggregate_treatment: str | None = None, aggregate_events: str | None = None,
            aggregate_n: str | None = None, design: str | None = None,
            rob: str | None = None, unfavored: str | None = None,
            bias_group: str | None = None,
            bias_covariate: str | None = None) -> CrossNMAResult:
        """Fit to IPD (one row per participant) and, optionally, aggregate arm data.

        Parameters
        ----------
        ipd : DataFrame
        study, treatment, outcome : str
            IPD columns (outcome 0/1).
        aggregate : DataFrame, optional
            One row per AD arm; ``aggregate_study`` / ``aggregate_treatment`` default to
            ``study`` / ``treatment``; ``aggregate_events`` and ``aggregate_n`` required.
            AD study ids are distinct from IPD ids even if equal.
        design, rob, unfavored, bias_group, bias_covariate : str, optional
            Columns (in IPD and AD) for the bias models: design ``"rct"``/``"nrs"``, risk
            of bias ``"high"``/``"low"``/``"unclear"``, ``unfavored`` 0 for exactly one
            treatment per study (the arm the bias would not favour, e.g. placebo; it
            becomes the study's baseline arm), bias group 1 (adjust) / 0 (no
            adjustment), and the study-level bias covariate (``"adjust1"``).
        """
        numpyro = import_optional("numpyro")
        infer = import_optional("numpyro.infer")
        jax = import_optional("jax")
        az = import_optional("arviz")
        aggregate_study = aggregate_study or study
        aggregate_treatment = aggregate_treatment or treatment
        if aggregate is not None and (aggregate_events is None or aggregate_n is None):
            raise ModelSpecificationError("aggregate= needs aggregate_events= and "
                                          "aggregate_n= (column names).")
        if self.bias != "naive" and None in (design, rob, unfavored, bias_group):
            raise ModelSpecificationError(f"bias={self.bias!r} needs design=, rob=, "
                                          "unfavored= and bias_group= (column names).")
        if self.bias == "adjust1" and bias_covariate is None:
            raise ModelSpecificationError("bias='adjust1' needs bias_covariate= (a "
                                          "study-level column, e.g. publication year).")
        D = self._prepare(ipd, study, treatment, outcome, aggregate, aggregate_study,
                          aggregate_treatment, aggregate_events, aggregate_n, design, rob,
                          unfavored, bias_group, bias_covariate)
        model = self._model(D)
        del numpyro
        kern = infer.NUTS(model, dense_mass=True, target_accept_prob=self.target_accept,
                          init_strategy=infer.init_to_value(values=self._init))
        mc = infer.MCMC(kern, num_warmup=self.warmup, num_samples=self.draws,
                        num_chains=self.chains, chain_method="sequential",
                        progress_bar=False)
        t0 = time.perf_counter()
        mc.run(jax.random.PRNGKey(self.random_state), extra_fields=("diverging",))
        seconds = time.perf_counter() - t0
        s = {k: np.asarray(v, dtype=float) for k, v in mc.get_samples(group_by_chain=True)
             .items()}
        div = np.asarray(mc.get_extra_fields(group_by_chain=True)["diverging"])
        tr = D.treatments
        post = {"d": s["d"], "tau": s["tau"], "u": s["u"]}
        coords = {"treatment": tr[1:], "study": D.studies}
        dims = {"d": ["treatment"], "u": ["study"]}
        if self.covariate is not None:
            post.update(b_1=s["b_1"], tau_b=s["tau_b"], beta=s["beta"])
            dims["beta"] = ["treatment"]
        if self.bias != "naive":
            post["g"] = s["g"]
        info: dict = {}
        if self.bias == "adjust1" and self._adjust1 is not None:
            ex = self._adjust1
            jb, bits = ex["jb"], ex["bits"]
            # configuration of R per draw from its conditional posterior, then u in
            # crossnma's parametrisation and (a, b) | R exactly (rejection from the prior)
            rng = np.random.default_rng(self.random_state)
            lw = np.log(np.maximum(ex["c"], 1e-300)) + s["bias_delta"] @ bits.T
            lw -= lw.max(axis=-1, keepdims=True)
            pw = np.exp(lw)
            cum = np.cumsum(pw / pw.sum(axis=-1, keepdims=True), axis=-1)  # as config_weights()
            k = (cum < rng.random(cum.shape[:-1])[..., None]).sum(axis=-1)
            R = bits[np.minimum(k, bits.shape[0] - 1)]
            u = s["u"].copy()
            ipd_b = jb < D.n_ipd
            u[..., jb[ipd_b]] -= R[..., ipd_b] * s["g"][..., None]
            shp = R.shape[:-1]
            a, b, nmiss = draw_ab(R.reshape(-1, jb.size), ex["z"], ex["sd"], rng)
            s.update(u=u, R=R, a=a.reshape(shp), b=b.reshape(shp))
            s["pi"] = _expit(s["a"][..., None] + s["b"][..., None] * ex["z"])
            post.update(u=u, a=s["a"], b=s["b"], R=R, p_bias=s["p_bias"], pi=s["pi"])
            coords["bias_study"] = [D.studies[j] for j in jb]
            for v in ("R", "p_bias", "pi"):
                dims[v] = ["bias_study"]
            info = {"adjust1": "exact (R, a, b summed out)",
                    "configurations": int(bits.shape[0]),
                    "config_prior_error": ex["c_error"],
                    "config_prior_seconds": ex["c_seconds"],
                    "ab_draws_reused": int(nmiss),
                    "bias_studies": [D.studies[j] for j in jb],
                    "config_bits": bits, "config_prior": ex["c"]}
        elif self.bias == "adjust1":
            post.update(a=s["a"], b=s["b"], p_bias=s["p_bias"])
            dims["p_bias"] = ["study"]
        if self.bias == "adjust2":
            post["pi"] = s["pi"]
            dims["pi"] = ["bias_category"]
            coords["bias_category"] = ["high RCT", "low RCT", "high NRS", "low NRS",
                                       "unclear"]
        idata = az.from_dict(posterior=post, coords=coords, dims=dims,
                             sample_stats={"diverging": div})
        # exact conditional draws (R, a, b, pi) are left out of the sampler diagnostics: their
        # mixing is that of the sampled parameters (p_bias, g) they are drawn from
        skip = ("u", "R", "a", "b", "pi") if info else ("u",)
        diag = _diagnostics(_subset(idata, [v for v in post if v not in skip]),
                            int(div.sum()), self.chains)
        rows = {}
        for t_i, t in enumerate(tr[1:]):
            rows[f"d[{t}]"] = s["d"][..., t_i]
        rows["tau"] = s["tau"]
        if self.covariate is not None:
            rows["b_1"] = s["b_1"]
            rows["tau_b"] = s["tau_b"]
            for t_i, t in enumerate(tr[1:]):
                rows[f"beta[{t}]"] = s["beta"][..., t_i]
        if self.bias != "naive":
            rows["g"] = s["g"]
        if self.bias == "adjust1":
            rows["a"], rows["b"] = s["a"], s["b"]
        params = _param_table(rows, az)
        res = CrossNMAResult(params=params, inference_data=idata, diagnostics=diag,
                             samples=s, treatments=tr, studies=D.studies, bias=self.bias,
                             covariate=self.covariate, covariate_ref=D.cov_ref,
                             prior_scale=D.prior_scale, seconds=seconds, info=info)
        self.result_ = res
        return res

    @property
    def result(self) -> CrossNMAResult:
        if self.result_ is None:
            raise NotFittedError("CrossNMA is not fitted: call fit() first.")
        return self.result_


def _expit(v: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(v)


def _log_binom(y: np.ndarray, n: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)


def _subset(idata, names):
    az = import_optional("arviz")
    post = idata.posterior[names]
    return az.InferenceData(posterior=post)


def _param_table(rows: dict, az) -> pd.DataFrame:
    out = []
    for name, v in rows.items():
        flat = v.reshape(-1)
        q = np.quantile(flat, [0.025, 0.5, 0.975])
        out.append({"parameter": name, "estimate": flat.mean(), "se": flat.std(ddof=1),
                    "lower": q[0], "median": q[1], "upper": q[2],
                    "r_hat": float(az.rhat(v)) if v.shape[0] > 1 else np.nan,
                    "ess_bulk": float(az.ess(v, method="bulk"))})
    return pd.DataFrame(out).set_index("parameter")

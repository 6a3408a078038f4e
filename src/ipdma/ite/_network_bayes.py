"""Bayesian stage 1 and the Bayesian poolers (c) and (d) for a treatment network.

Stage 1 (``learner="bayes-lm"``): one Bayesian full-interaction linear model per trial
with all its arms, ``y = Z beta + e`` with ``Z = (1, x, D, D*x)`` (``D``: dummies of the
trial's non-reference arms), the learner's priors (every coefficient ``N(0,
prior_var)``, ``sigma ~ U(0, sigma_max)``, exact two-block Gibbs sampler; or the
conjugate prior) and its R-hat / ESS checks.  The posterior of the trial's contrast
blocks ``theta_k = (delta_k, gamma_k)`` (arm k vs the trial's reference arm) is kept
as draws and as its (Rao-Blackwellised) mean and joint covariance, the covariance
between the contrasts of a multi-arm trial included.

``learner="bayes-lasso"`` (continuous) and ``"bayes-logistic"`` (binary) fit one joint
model per trial too, on ``Z = (1, D, x, D*x)`` (with two arms exactly the two-arm
learners' design, so the same seed gives the same draws): the Park-Casella prior on every
treatment-covariate interaction, and the Polya-Gamma Gibbs sampler of the Bayesian
full-interaction logistic regression.  Their blocks are the draws' mean and covariance
(binary: log odds ratios; the draws of the whole coefficient vector give per-draw risk
differences).  On a binary outcome ``bayes-mvma`` pools the log odds ratios (it needs
``scale="logor"``, as ``mvma``) and ``posterior-mix`` mixes the trials' posteriors of the
per-draw contrasts on the requested scale (``"rd"`` or ``"logor"``; draws thinned to the
pooler's ``max_draws`` as the two-arm pooler).  ``NetworkFit.stage1_inference_data()``
gives every trial's posterior as ArviZ ``InferenceData``.

Stage 2:

* ``bayes-mvma`` (c): Bayesian network multivariate meta-analysis of the blocks'
  posterior means with their posterior covariances, mapped to the basic parameters
  (each treatment vs the network reference) as in :func:`ipdma.ite._network.pool_network`,
  ``beta ~ N(0, prior_var I)``, random effects with the consistency structure:
  ``random="delta"`` (default, as the two-arm pooler): one tau for the treatment effects
  ``delta``; ``random="diagonal"``: one tau per parameter type
  (delta, gamma_1, ...), correlation 1/2 between the contrasts of a multi-arm trial.
  ``tau ~ half-N(0, tau_scale)``.  ``beta`` and the trial effects are integrated out
  analytically (the model is Gaussian given tau): with one tau its posterior is
  evaluated on a grid and the draws are exact; with several, tau is sampled by NUTS
  (NumPyro; R-hat / bulk ESS / divergence warnings) and ``beta`` drawn exactly given
  each tau.  ``inference_data()`` gives ArviZ ``InferenceData``.  Predictions: posterior
  mean and SD of every pairwise ITE, equal-tailed credible intervals, posterior
  predictive intervals for a patient of a new trial and P(best) from the draws.
* ``posterior-mix`` (d): the mixing of the trials' posteriors, generalised to contrasts
  on the basic parameters.  At a patient x trial l gives the posterior mean ``m_l`` and
  covariance ``V_l`` of its contrasts (``D_l b`` in the basic parameters ``b``).  The
  point estimate is the network GLS ``mu = G sum_l D_l' V_l^-1 m_l``,
  ``G = (sum_l D_l' V_l^-1 D_l)^-1`` (with two treatments: the paper's inverse-variance
  average).  The mixture gives trial l the probability ``p_l = tr(G D_l' V_l^-1 D_l) /
  (T - 1)`` (the trial's share of the information; with two treatments the paper's
  ``(1/v_l) / sum(1/v)``) and lifts its posterior onto the basic parameters with
  ``L_l = G D_l' (D_l G D_l')^-1`` (the lift whose contrasts are the trial's; the
  identity with two treatments), so that the covariance of the mixture about mu is
  ``sum_l p_l L_l (V_l + r_l r_l') L_l'``, ``r_l = m_l - D_l mu``: with two treatments
  exactly the variance of the paper's mixture.  It is invariant to the network
  reference and the trials' reference arms.  Intervals are normal from that covariance
  (the two-arm pooler's intervals are mixture quantiles).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._base import check_random_state
from .._optional import import_optional
from ..errors import ModelSpecificationError, SamplerWarning

__all__ = ["POSTERIOR_LEARNERS", "BayesNetworkPooled", "fit_network_posterior",
           "network_posterior_mix", "pool_network_bayes"]

#: learners whose stage 1 on a network is a joint posterior of the trial's contrast blocks
POSTERIOR_LEARNERS = frozenset({"bayes-lm", "bayes-lasso", "bayes-logistic"})


def _bayes_design(X: np.ndarray, arm: np.ndarray, arms: list[str]):
    """``Z = (1, D, x, D*x)`` (``D``: dummies of the trial's non-reference arms; ``D*x``
    arm by arm) and the columns of each contrast block: with two arms exactly the two-arm
    learners' ``(1, t, x, t*x)``, so the same seed gives the same draws."""
    n, p = X.shape
    D = (np.asarray(arm)[:, None] == np.array(arms[1:])[None, :]).astype(float)
    inter = (D[:, :, None] * X[:, None, :]).reshape(n, -1)
    Z = np.hstack([np.ones((n, 1)), D, X, inter])
    m1 = len(arms) - 1
    idx = np.array([[1 + k, *(1 + m1 + p + k * p + np.arange(p))] for k in range(m1)])
    return Z, idx


def _arm_rows(X: np.ndarray, arms: list[str], k: int) -> np.ndarray:
    """Design rows of :func:`_bayes_design` for every patient of X under arm ``k``."""
    return _bayes_design(X, np.full(len(X), arms[k]), arms)[0]


# --------------------------------------------------------------------------------------
# stage 1
# --------------------------------------------------------------------------------------
def fit_network_posterior(learner, X, arm, y, arms, trial: str, rng, family):
    """Bayesian full-interaction model with all arms of a trial (``bayes-lm``;
    ``bayes-lasso`` and ``bayes-logistic`` through :func:`_fit_bayes_lasso` and
    :func:`_fit_bayes_logistic`).

    Returns a :class:`~ipdma.ite._network.NetworkBlock` whose ``theta``/``cov`` are the
    posterior mean and covariance of the contrast blocks, ``extra["draws"]`` the draws
    (S, m-1, p+1) and ``extra["rhat_max"]``/``extra["ess_min"]`` the diagnostics.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.families import get_family
    >>> from ipdma.ite import get_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 1)); arm = rng.choice(["A", "B", "C"], 600)
    >>> y = (arm == "B") * (1 + X[:, 0]) + (arm == "C") * 2 + rng.normal(size=600)
    >>> blk = fit_network_posterior(get_learner("bayes-lm"), X, arm, y, ["A", "B", "C"],
    ...                             "t1", np.random.default_rng(1), get_family("continuous"))
    >>> blk.theta.round(1).tolist(), blk.cov.shape, blk.extra["draws"].shape
    ([[1.0, 0.9], [2.0, -0.0]], (4, 4), (4000, 2, 2))
    """
    from ..errors import DataError
    from ._learners import _chain_diagnostics, _gibbs_bayes_lm
    from ._network import NetworkBlock
    from ._network_ite import _design

    if family.name not in learner.families:
        raise ModelSpecificationError(
            f"learner {learner.name!r} is for {', '.join(sorted(learner.families))} "
            f"outcomes; the outcome is {family.name}")
    X = np.asarray(X, dtype=float)
    arm = np.asarray(arm).astype(str)
    y = np.asarray(y, dtype=float)
    arms = [str(a) for a in arms]
    Z, idx = _design(X, arm, arms)
    if len(y) <= Z.shape[1]:
        raise DataError(f"trial {trial}: the interaction model needs more than {Z.shape[1]} "
                        f"patients (got {len(y)}); use fewer covariates")
    if learner.name == "bayes-lasso":
        return _fit_bayes_lasso(learner, X, arm, y, arms, str(trial), rng)
    if learner.name == "bayes-logistic":
        return _fit_bayes_logistic(learner, X, arm, y, arms, str(trial), rng)
    if learner.name != "bayes-lm":
        raise ModelSpecificationError(
            f"learner {learner.name!r} gives no joint posterior of a trial's contrast blocks; "
            f"use {', '.join(repr(x) for x in sorted(POSTERIOR_LEARNERS))}")
    m1, q = idx.shape
    flat = idx.ravel()
    lrn = learner
    if lrn.prior == "conjugate":
        n, k = Z.shape
        Vn_inv = np.eye(k) / lrn.prior_var + Z.T @ Z
        Vn = np.linalg.inv(Vn_inv)
        mn = Vn @ (Z.T @ y)
        an = lrn.a0 + n / 2
        bn = lrn.b0 + 0.5 * (y @ y - mn @ Vn_inv @ mn)
        mean = mn[flat]
        cov = (bn / (an - 1)) * Vn[np.ix_(flat, flat)]
        shape = (lrn.num_chains, lrn.num_samples)
        sigma2 = bn / rng.gamma(an, 1.0, size=shape)
        L = np.linalg.cholesky(Vn[np.ix_(flat, flat)])
        zs = rng.standard_normal((*shape, len(flat)))
        chains = mean + np.sqrt(sigma2)[..., None] * (zs @ L.T)
    else:
        s = _gibbs_bayes_lm(Z, y, prior_var=lrn.prior_var, sigma_max=lrn.sigma_max,
                            num_warmup=lrn.num_warmup, num_samples=lrn.num_samples,
                            num_chains=lrn.num_chains, rng=rng)
        if np.any(s["sigma"] > 0.999 * lrn.sigma_max):
            warnings.warn(f"bayes-lm, trial {trial}: the posterior of sigma reaches its prior "
                          f"bound sigma_max={lrn.sigma_max:g}; rescale y or raise sigma_max",
                          SamplerWarning, stacklevel=4)
        k = Z.shape[1]
        cm = s["cond_mean"].reshape(-1, k)
        Vi = s["V"][flat]
        cov = (Vi * s["cond_var"].reshape(-1, k).mean(axis=0)) @ Vi.T + \
            np.cov(cm[:, flat], rowvar=False)
        mean = cm.mean(axis=0)[flat]
        chains = s["beta"][..., flat]
    ess, rhat = _chain_diagnostics(f"bayes-lm (trial {trial})", chains, stacklevel=5)
    draws = chains.reshape(-1, m1, q)
    return NetworkBlock(trial=str(trial), arms=arms, theta=mean.reshape(m1, q), cov=cov,
                        n=len(y), extra={"draws": draws, "chains": chains, "kind": "posterior",
                                         "rhat_max": rhat, "ess_min": ess})


def _posterior_block(trial, arms, chains, n, extra=None):
    """A NetworkBlock from block chains (C, S, m-1, p+1): draws' mean and covariance."""
    from ._network import NetworkBlock

    C, S, m1, q = chains.shape
    draws = chains.reshape(C * S, m1, q)
    flat = draws.reshape(C * S, m1 * q)
    cov = np.atleast_2d(np.cov(flat, rowvar=False))
    return NetworkBlock(trial=trial, arms=arms, theta=draws.mean(axis=0), cov=cov, n=n,
                        extra={"draws": draws, "chains": flat.reshape(C, S, m1 * q),
                               "kind": "posterior", **(extra or {})})


def _fit_bayes_lasso(lrn, X, arm, y, arms, trial, rng):
    """``bayes-lasso`` with all arms: Park-Casella prior on every treatment-covariate
    interaction (``D*x``), intercept, main effects and treatment dummies ~ N(0,
    prior_var), continuous covariates standardised within the trial and the draws mapped
    back (``gamma_k = gamma_k^s / sd``, ``delta_k = b_k - gamma_k' mu``), as the two-arm
    learner (which it equals with two arms)."""
    from ._learners import _chain_diagnostics, _gibbs_bayes_lasso, _standardise_continuous

    p = X.shape[1]
    m1 = len(arms) - 1
    mu, sd = _standardise_continuous(X)
    Zs, _ = _bayes_design((X - mu) / sd, arm, arms)
    s = _gibbs_bayes_lasso(Zs, y, 1 + m1 + p, prior_var=lrn.prior_var,
                           sigma_max=lrn.sigma_max, a_lambda=lrn.lambda_prior[0],
                           b_lambda=lrn.lambda_prior[1], num_warmup=lrn.num_warmup,
                           num_samples=lrn.num_samples, num_chains=lrn.num_chains, rng=rng)
    if np.any(s["sigma"] > 0.999 * lrn.sigma_max):
        warnings.warn(f"bayes-lasso, trial {trial}: the posterior of sigma reaches its prior "
                      f"bound sigma_max={lrn.sigma_max:g}; rescale y or raise sigma_max",
                      SamplerWarning, stacklevel=5)
    beta = s["beta"]                                          # (C, S, q) standardised
    C, S = beta.shape[:2]
    gamma = beta[..., 1 + m1 + p:].reshape(C, S, m1, p) / sd
    delta = beta[..., 1:1 + m1] - gamma @ mu
    chains = np.concatenate([delta[..., None], gamma], axis=-1)      # (C, S, m1, p + 1)
    ess, rhat = _chain_diagnostics(f"bayes-lasso (trial {trial})",
                                   chains.reshape(C, S, -1), stacklevel=6)
    return _posterior_block(trial, arms, chains, len(y),
                            {"rhat_max": rhat, "ess_min": ess, "sigma": s["sigma"]})


def _fit_bayes_logistic(lrn, X, arm, y, arms, trial, rng):
    """``bayes-logistic`` with all arms: one Bayesian full-interaction logistic regression
    ``y ~ Bernoulli(expit(Z b))``, ``Z = (1, D, x, D*x)``, ``b ~ N(0, prior_var I)``, by the
    two-arm learner's Polya-Gamma Gibbs sampler (equal to it with two arms).  The blocks
    are the log odds ratios (delta_k, gamma_k); the draws of the whole ``b``
    (``extra["coef_draws"]``) give risk differences."""
    from ._glm_learners import logistic_chain_diagnostics, pg_gibbs_logistic

    Z, idx = _bayes_design(X, arm, arms)
    chains = pg_gibbs_logistic(Z, y, prior_var=lrn.prior_var, num_warmup=lrn.num_warmup,
                               num_samples=lrn.num_samples, num_chains=lrn.num_chains,
                               rng=rng)
    ess, rhat = logistic_chain_diagnostics(f"bayes-logistic (trial {trial})", chains,
                                           stacklevel=6)
    C, S, Q = chains.shape
    return _posterior_block(trial, arms, chains[..., idx], len(y),
                            {"rhat_max": rhat, "ess_min": ess, "design": "bayes",
                             "coef_draws": chains.reshape(C * S, Q)})


def _thin(draws: np.ndarray, max_draws: int | None) -> np.ndarray:
    """Deterministic thinning to ``max_draws`` (as the two-arm ``posterior-mix``)."""
    if max_draws is not None and len(draws) > max_draws:
        return draws[np.linspace(0, len(draws) - 1, int(max_draws)).round().astype(int)]
    return draws


def _draw_contrasts(block, X, scale, family, max_draws=None, chunk=500):
    """Per-draw contrasts (S, N, m-1) of a binary posterior block on ``scale``."""
    B = _thin(block.extra["coef_draws"], max_draws)
    arms = block.arms
    out = np.empty((len(B), len(X), len(arms) - 1))
    for lo in range(0, len(X), chunk):
        Xc = X[lo:lo + chunk]
        e0 = B @ _arm_rows(Xc, arms, 0).T                               # (S, n)
        for k in range(1, len(arms)):
            out[:, lo:lo + chunk, k - 1] = family.ite(e0, B @ _arm_rows(Xc, arms, k).T,
                                                      scale)
    return out


def posterior_contrasts(block, X, scale, family, *, max_draws=None, cov=True):
    """Posterior mean (N, m-1) and covariance (N, m-1, m-1) of a trial's contrasts at X.

    Continuous outcomes (and any block without the full coefficient draws): exact from
    the block's posterior mean and covariance (the contrasts are linear in it).  Binary
    (``bayes-logistic``): the sample mean and covariance of the per-draw contrasts on
    ``scale`` (``"rd"``: ``expit(eta_k) - expit(eta_0)``; ``"logor"``), draws thinned to
    ``max_draws`` as the two-arm ``posterior-mix``.
    """
    from ._network_ite import _block_contrasts

    X = np.asarray(X, dtype=float)
    if "coef_draws" not in block.extra:
        return _block_contrasts(block, X, scale, cov=cov)
    d = _draw_contrasts(block, X, scale, family, max_draws)
    mean = d.mean(axis=0)
    if not cov:
        return mean, None
    c = d - mean
    return mean, np.einsum("snk,snl->nkl", c, c) / (len(d) - 1)


def block_inference_data(block, feature_names):
    """A trial's posterior draws of its contrast blocks as ArviZ ``InferenceData``:
    ``delta`` (chain, draw, contrast) and ``gamma`` (chain, draw, contrast, covariate),
    contrasts ``<arm>_vs_<trial reference>``."""
    if block is None or block.extra.get("kind") != "posterior":
        raise ModelSpecificationError(
            "the stage-1 fits have no posterior draws; use a Bayesian learner ("
            f"{', '.join(repr(x) for x in sorted(POSTERIOR_LEARNERS))})")
    az = import_optional("arviz")

    m1, q = block.theta.shape
    ch = block.extra["chains"]
    ch = ch.reshape(ch.shape[0], ch.shape[1], m1, q)
    return az.from_dict(
        posterior={"delta": ch[..., 0], "gamma": ch[..., 1:]},
        coords={"contrast": [f"{a}_vs_{block.arms[0]}" for a in block.arms[1:]],
                "covariate": [str(f) for f in feature_names]},
        dims={"delta": ["contrast"], "gamma": ["contrast", "covariate"]})


# --------------------------------------------------------------------------------------
# (c) Bayesian network multivariate meta-analysis
# --------------------------------------------------------------------------------------
def _random_types(random: str | None, p: int) -> tuple[str, list[int]]:
    r = "delta" if random is None else str(random)
    if r == "consistency":
        r = "diagonal"
    if r == "delta":
        return r, [0]
    if r == "diagonal":
        return r, list(range(p + 1))
    raise ModelSpecificationError(
        f"random={random!r}: with more than two treatments bayes-mvma supports 'delta' (one "
        "tau for the treatment effects) and 'diagonal' (one tau per parameter type, "
        "correlation 1/2 within a multi-arm trial: the consistency structure); an "
        "unstructured Psi ('full') is not implemented for networks")


def _trial_pieces(blocks, treatments, p, types):
    """Per trial: y_l, V_l, X_l (onto the basic parameters) and the structure matrices."""
    from ..meta import consistency_components
    from ._network import _basic_design

    out = []
    for b in blocks:
        y, V, Xd, study, ptype = _basic_design([b], treatments, p)
        _, M = consistency_components(study, ptype.tolist(), parameters=types)
        out.append((y, V, Xd, np.stack(M)))
    return out


def _marginal_np(pieces, tau2, prior_var):
    """log p(y | tau) and the moments of beta | tau, y; tau2 (G, R) -> batched."""
    P = pieces[0][2].shape[1]
    G = tau2.shape[0]
    A = np.broadcast_to(np.eye(P) / prior_var, (G, P, P)).copy()
    b = np.zeros((G, P))
    quad = np.zeros(G)
    logdet = np.zeros(G)
    for y, V, Xd, M in pieces:
        S = V[None] + np.einsum("gr,rij->gij", tau2, M)
        W = np.linalg.inv(S)
        logdet += np.linalg.slogdet(S)[1]
        WX = W @ Xd
        A += np.einsum("ia,gib->gab", Xd, WX)
        b += np.einsum("gia,i->ga", WX, y)
        quad += np.einsum("i,gij,j->g", y, W, y)
    Ainv = np.linalg.inv(A)
    mean = np.einsum("gab,gb->ga", Ainv, b)
    logp = (-0.5 * quad + 0.5 * np.einsum("ga,ga->g", b, mean) - 0.5 * logdet
            - 0.5 * np.linalg.slogdet(A)[1] - 0.5 * P * np.log(prior_var))
    return logp, mean, Ainv


def _padded(pieces):
    """The trials' pieces stacked with zero padding to one size (padded rows: y = 0,
    X = 0, V = I, M = 0 add nothing to the likelihood), for one batched JAX program."""
    d = max(len(pc[0]) for pc in pieces)
    K, P, R = len(pieces), pieces[0][2].shape[1], pieces[0][3].shape[0]
    Y, V, X, M = np.zeros((K, d)), np.tile(np.eye(d), (K, 1, 1)), np.zeros((K, d, P)), \
        np.zeros((K, R, d, d))
    for k, (y, v, x, m) in enumerate(pieces):
        n = len(y)
        Y[k, :n], V[k, :n, :n], X[k, :n], M[k, :, :n, :n] = y, v, x, m
    return Y, V, X, M


def _nuts_model(Y, V, X, M, prior_var, tau_scale):
    jnp = import_optional("jax.numpy")
    numpyro = import_optional("numpyro")
    dist = import_optional("numpyro.distributions")
    jsl = import_optional("jax.scipy.linalg")

    R = M.shape[1]
    tau = numpyro.sample("tau", dist.HalfNormal(tau_scale).expand([R]))
    S = V + jnp.einsum("r,krij->kij", tau ** 2, M)
    Lc = jnp.linalg.cholesky(S)
    WX = jax_cho_solve(Lc, X)                                          # (K, d, P)
    Wy = jax_cho_solve(Lc, Y[..., None])[..., 0]                       # (K, d)
    P = X.shape[2]
    A = jnp.eye(P) / prior_var + jnp.einsum("kia,kib->ab", X, WX)
    b = jnp.einsum("kia,ki->a", X, Wy)
    La = jnp.linalg.cholesky(A)
    mean = jsl.cho_solve((La, True), b)
    logp = (-0.5 * jnp.sum(Y * Wy) - jnp.sum(jnp.log(jnp.diagonal(Lc, axis1=1, axis2=2)))
            + 0.5 * b @ mean - jnp.sum(jnp.log(jnp.diag(La))))
    numpyro.factor("marginal_likelihood", logp)


def jax_cho_solve(L, B):
    """Batched ``(L L')^-1 B`` for lower-triangular L (K, d, d) and B (K, d, m)."""
    jsl = import_optional("jax.scipy.linalg")
    Z = jsl.solve_triangular(L, B, lower=True)
    return jsl.solve_triangular(L.swapaxes(-1, -2), Z, lower=False)


class BayesNetworkPooled:
    """Posterior of the basic parameters of a network (pooler (c)).

    ``beta_draws`` (S, T-1, p+1), ``tau_draws`` (S, R) with R = 1 (``random="delta"``) or
    p + 1 (``"diagonal"``); ``diagnostics`` (method, R-hat, ESS, divergences or grid
    mass).
    """

    def __init__(self, treatments, parameter_names, beta_draws, tau_draws, random,
                 diagnostics, level=0.95, chains: int = 1, seed: int = 0):
        self.treatments = list(treatments)
        self.parameter_names = list(parameter_names)
        self.beta_draws = beta_draws
        self.tau_draws = tau_draws
        self.random = random
        self.diagnostics = diagnostics
        self.level = level
        self.chains = chains
        self.seed = seed

    @property
    def coef(self) -> np.ndarray:
        return self.beta_draws.mean(axis=0)

    @property
    def vcov(self) -> np.ndarray:
        S = len(self.beta_draws)
        return np.cov(self.beta_draws.reshape(S, -1), rowvar=False)

    @property
    def tau2(self) -> np.ndarray:
        return (self.tau_draws ** 2).mean(axis=0)

    def inference_data(self):
        """The draws of beta (``treatment`` x ``parameter``) and tau as ArviZ
        ``InferenceData`` (chains kept)."""
        az = import_optional("arviz")

        S = len(self.beta_draws)
        c = self.chains
        beta = self.beta_draws.reshape(c, S // c, *self.beta_draws.shape[1:])
        tau = self.tau_draws.reshape(c, S // c, -1)
        tnames = self.parameter_names[: tau.shape[-1]]
        return az.from_dict(posterior={"beta": beta, "tau": tau},
                            coords={"treatment": self.treatments[1:],
                                    "parameter": self.parameter_names, "tau_parameter": tnames},
                            dims={"beta": ["treatment", "parameter"], "tau": ["tau_parameter"]})

    def predict(self, X: np.ndarray, *, higher_is_better: bool = True, chunk: int = 200):
        """Posterior summaries at X: mean (N, T-1), cov (N, T-1, T-1), all-pair intervals
        (credible and predictive, quantiles of the draws), P(best) (N, T) and the
        posterior mean between-trial variance of a contrast (N,)."""
        from ._network_ite import _natural_key

        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        N = len(X)
        T = len(self.treatments)
        C = np.hstack([np.ones((N, 1)), X])
        Bd = self.beta_draws                                        # (S, T1, q)
        S, T1, q = Bd.shape
        a = (1 - self.level) / 2
        rng = np.random.default_rng(self.seed)
        zs = rng.standard_normal((S, T1))
        Lr = np.linalg.cholesky(0.5 * (np.eye(T1) + np.ones((T1, T1))))
        ushape = zs @ Lr.T                                         # (S, T1), corr 1/2
        t2 = np.zeros((S, q))
        t2[:, : self.tau_draws.shape[1]] = self.tau_draws ** 2
        canon = sorted(self.treatments, key=_natural_key)
        cpos = [self.treatments.index(t) for t in canon]
        pairs = [(j, k) for j in range(1, T) for k in range(j)]
        mean = np.empty((N, T1))
        cov = np.empty((N, T1, T1))
        het = np.empty(N)
        pb = np.empty((N, T))
        iv = {f"{s}_{self.treatments[j]}_vs_{self.treatments[k]}": np.empty(N)
              for j, k in pairs for s in ("ci_low", "ci_high", "pi_low", "pi_high")}
        for lo in range(0, N, chunk):
            sl = slice(lo, min(N, lo + chunk))
            c = C[sl]
            d = np.einsum("stq,nq->nst", Bd, c)                    # (n, S, T1)
            ev = np.einsum("sq,nq->ns", t2, c ** 2)                # (n, S)
            pd_ = d + np.sqrt(ev)[..., None] * ushape[None]
            mean[sl] = d.mean(axis=1)
            dc = d - mean[sl][:, None]
            cov[sl] = np.einsum("nsa,nsb->nab", dc, dc) / (S - 1)
            het[sl] = ev.mean(axis=1)
            full = np.concatenate([np.zeros((*d.shape[:2], 1)), d], axis=2)
            pfull = np.concatenate([np.zeros((*d.shape[:2], 1)), pd_], axis=2)
            sgn = full if higher_is_better else -full
            # ties (exactly equal draws) go to the first treatment in natural label order
            best = np.asarray(cpos)[np.argmax(sgn[..., cpos], axis=2)]
            pb[sl] = np.stack([(best == t).mean(axis=1) for t in range(T)], axis=1)
            for j, k in pairs:
                key = f"{self.treatments[j]}_vs_{self.treatments[k]}"
                e = full[..., j] - full[..., k]
                pe = pfull[..., j] - pfull[..., k]
                ci = np.quantile(e, [a, 1 - a], axis=1)
                pi = np.quantile(pe, [a, 1 - a], axis=1)
                iv[f"ci_low_{key}"][sl], iv[f"ci_high_{key}"][sl] = ci
                iv[f"pi_low_{key}"][sl], iv[f"pi_high_{key}"][sl] = pi
        return mean, cov, iv, pb, het


def pool_network_bayes(blocks, *, treatments, random: str | None = None,
                       prior_var: float = 1000.0, tau_scale: float = 1.0,
                       num_warmup: int = 1000, num_samples: int = 1000, num_chains: int = 2,
                       grid_size: int = 4000, level: float = 0.95,
                       random_state: Any = 0) -> BayesNetworkPooled:
    """Bayesian network multivariate meta-analysis of posterior contrast blocks (pooler (c)).

    ``blocks`` carry the per-trial posterior means (``theta``) and covariances (``cov``).

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
    >>> post = pool_network_bayes(blocks, treatments=["A", "B", "C"], random_state=0)
    >>> post.coef.round(1).tolist()            # fixed-effect GLS: [[0.9, 1.0], [1.9, 0.0]]
    [[0.9, 1.0], [1.9, 0.0]]
    >>> post.beta_draws.shape, post.diagnostics["method"]
    ((2000, 2, 2), 'exact (grid over tau)')
    """
    from ._network import _check_network

    treatments, p = _check_network(blocks, treatments)
    random, types = _random_types(random, p)
    pnames = ["delta", *[f"gamma_{j}" for j in range(1, p + 1)]]
    pieces = _trial_pieces(blocks, treatments, p, types)
    rng = check_random_state(random_state)
    S = int(num_samples) * int(num_chains)
    T1 = len(treatments) - 1
    if random == "delta":
        hi = 8.0 * tau_scale
        edges = np.linspace(0.0, hi, int(grid_size) + 1)
        mid = 0.5 * (edges[1:] + edges[:-1])
        logp = np.concatenate([_marginal_np(pieces, mid[i:i + 500, None] ** 2, prior_var)[0]
                               for i in range(0, len(mid), 500)])
        logp = logp - 0.5 * (mid / tau_scale) ** 2
        w = np.exp(logp - logp.max())
        w /= w.sum()
        cell = rng.choice(len(mid), size=S, p=w)
        tau = (edges[cell] + rng.random(S) * (hi / len(mid)))[:, None]
        diag = {"method": "exact (grid over tau)",
                "grid_mass_last_1pct": float(w[-max(len(w) // 100, 1):].sum())}
        if diag["grid_mass_last_1pct"] > 1e-6:
            warnings.warn("bayes-mvma (network): the posterior of tau reaches the end of the "
                          "grid; increase tau_scale", SamplerWarning, stacklevel=3)
        chains = 1
    else:
        jax = import_optional("jax")
        jnp = import_optional("jax.numpy")
        diag_mod = import_optional("numpyro.diagnostics")
        infer = import_optional("numpyro.infer")
        Yp, Vp, Xp, Mp = (jnp.asarray(a) for a in _padded(pieces))
        mcmc = infer.MCMC(infer.NUTS(_nuts_model), num_warmup=int(num_warmup),
                          num_samples=int(num_samples), num_chains=int(num_chains),
                          chain_method="sequential", progress_bar=False)
        mcmc.run(jax.random.PRNGKey(int(rng.integers(2**31 - 1))), Yp, Vp, Xp, Mp,
                 float(prior_var), float(tau_scale), extra_fields=("diverging",))
        g = np.asarray(mcmc.get_samples(group_by_chain=True)["tau"], dtype=float)
        rhat = float(np.nanmax(diag_mod.split_gelman_rubin(g))) if num_chains > 1 else np.nan
        ess = float(np.nanmin(diag_mod.effective_sample_size(g)))
        n_div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
        diag = {"method": "NUTS", "rhat_max": rhat, "ess_bulk_min": ess, "divergences": n_div}
        if (np.isfinite(rhat) and rhat > 1.01) or ess < 400 or n_div > 0:
            warnings.warn(f"bayes-mvma (network) sampler diagnostics: R-hat max {rhat:.3f}, "
                          f"bulk ESS min {ess:.0f}, {n_div} divergences; increase "
                          "num_warmup/num_samples", SamplerWarning, stacklevel=3)
        tau = g.reshape(-1, len(types))
        chains = int(num_chains)
    beta = np.empty((S, T1 * (p + 1)))
    for i in range(0, S, 500):
        _, mean, cov = _marginal_np(pieces, tau[i:i + 500] ** 2, prior_var)
        L = np.linalg.cholesky(cov)
        beta[i:i + 500] = mean + np.einsum("sij,sj->si", L,
                                           rng.standard_normal((len(mean), mean.shape[1])))
    return BayesNetworkPooled(treatments, pnames, beta.reshape(S, T1, p + 1), tau, random,
                              diag, level=level, chains=chains,
                              seed=int(rng.integers(2**31 - 1)))


# --------------------------------------------------------------------------------------
# (d) mixing of posteriors on the basic parameters
# --------------------------------------------------------------------------------------
def network_posterior_mix(ests, covs, Ds):
    """Pooler (d) at N patients: ``ests[l]`` (N, m_l-1) posterior means of trial l's
    contrasts, ``covs[l]`` (N, m_l-1, m_l-1) their posterior covariances, ``Ds[l]``
    (m_l-1, T-1) the map onto the basic parameters.  Returns the GLS mean (N, T-1), the
    mixture covariance about it (N, T-1, T-1) and the trial probabilities (N, K).

    Examples
    --------
    >>> import numpy as np
    >>> m = [np.array([[1.0]]), np.array([[2.0]])]; v = [np.array([[[1.0]]]),
    ...                                                  np.array([[[4.0]]])]
    >>> mu, cov, p = network_posterior_mix(m, v, [np.eye(1), np.eye(1)])
    >>> mu.ravel().round(3).tolist(), p.ravel().tolist(), cov.ravel().round(3).tolist()
    ([1.2], [0.8, 0.2], [1.76])
    """
    N = len(ests[0])
    T1 = Ds[0].shape[1]
    Ws = [np.linalg.inv(C) for C in covs]
    info = np.zeros((N, T1, T1))
    score = np.zeros((N, T1))
    for e, D, W in zip(ests, Ds, Ws):
        info += np.einsum("ka,nkl,lb->nab", D, W, D)
        score += np.einsum("ka,nkl,nl->na", D, W, e)
    G = np.linalg.inv(info)
    mu = np.einsum("nab,nb->na", G, score)
    cov = np.zeros((N, T1, T1))
    probs = []
    for e, C, D, W in zip(ests, covs, Ds, Ws):
        A = np.einsum("ka,nkl,lb->nab", D, W, D)
        p = np.einsum("nab,nba->n", G, A) / T1
        GD = np.einsum("nab,kb->nak", G, D)                                  # G D'
        L = GD @ np.linalg.inv(np.einsum("ka,nal->nkl", D, GD))            # G D'(D G D')^-1
        r = e - mu @ D.T
        inner = C + r[:, :, None] * r[:, None, :]
        cov += p[:, None, None] * np.einsum("nak,nkl,nbl->nab", L, inner, L)
        probs.append(p)
    return mu, 0.5 * (cov + cov.swapaxes(1, 2)), np.column_stack(probs)

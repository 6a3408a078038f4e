"""Bayesian LASSO logistic prognostic model in NumPyro.

Model (covariates standardised with mean and divide-by-n SD, as glmnet)::

    y_i ~ Bernoulli(expit(a_[trial] + z_i' b))
    b_j ~ Laplace(0, s)              # s fixed, or s ~ HalfCauchy(1) (default)
    a   ~ Normal(0, 10)              # trial_effect = "none"
    a_k ~ Normal(0, 10)              # "fixed": independent trial intercepts
    a_k = m + tau * e_k, m ~ N(0, 10), tau ~ HalfNormal(1), e_k ~ N(0, 1)  # "random"

Point estimates are posterior means (or medians) mapped back to the original
scale; the posterior is kept as ArviZ ``InferenceData``.  R-hat > 1.01 or bulk
ESS < 400 triggers a :class:`~ipdma.errors.SamplerWarning`.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .._optional import import_optional
from ..errors import SamplerWarning
from ._estimators import FittedParams

__all__ = ["fit_bayes_lasso"]


def fit_bayes_lasso(X, y, trial, n_trials, trial_effect, rng, laplace_scale=None,
                    num_warmup=500, num_samples=1000, num_chains=2, point="mean"):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    az = import_optional("arviz")
    jax = import_optional("jax")
    jnp = import_optional("jax.numpy")
    numpyro = import_optional("numpyro")
    dist = import_optional("numpyro.distributions")
    _mod = import_optional("numpyro.infer")
    MCMC, NUTS = _mod.MCMC, _mod.NUTS

    _n, p = X.shape
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = jnp.asarray((X - mean) / sd)
    yj = jnp.asarray(y)
    if trial_effect != "none":
        present, tcode = np.unique(trial, return_inverse=True)
        K = len(present)
        tj = jnp.asarray(tcode)
    else:
        present, K, tj = None, 1, None

    def model():
        if laplace_scale is None:
            s = numpyro.sample("laplace_scale", dist.HalfCauchy(1.0))
        else:
            s = laplace_scale
        b = numpyro.sample("beta_std", dist.Laplace(0.0, s).expand([p]).to_event(1))
        if trial_effect == "none":
            a = numpyro.sample("intercept_std", dist.Normal(0.0, 10.0))
            eta = a + Z @ b
        elif trial_effect == "fixed":
            a = numpyro.sample("trial_intercept_std", dist.Normal(0.0, 10.0).expand([K])
                               .to_event(1))
            eta = a[tj] + Z @ b
        else:
            m = numpyro.sample("intercept_std", dist.Normal(0.0, 10.0))
            tau = numpyro.sample("sigma_trial", dist.HalfNormal(1.0))
            e = numpyro.sample("trial_z", dist.Normal(0.0, 1.0).expand([K]).to_event(1))
            eta = m + tau * e[tj] + Z @ b
        numpyro.sample("y", dist.Bernoulli(logits=eta), obs=yj)

    seed = int(rng.integers(0, 2**31 - 1))
    mcmc = MCMC(NUTS(model), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed))
    idata = az.from_numpyro(mcmc)
    post = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=False).items()}
    agg = np.mean if point == "mean" else np.median
    bstd = post["beta_std"]                       # draws x p
    beta_draws = bstd / sd
    if trial_effect == "none":
        a_draws = post["intercept_std"] - beta_draws @ mean
        ints = None
    elif trial_effect == "fixed":
        tint = post["trial_intercept_std"] - (beta_draws @ mean)[:, None]
        a_draws = tint.mean(axis=1)
        ints = np.full(n_trials, np.nan)
        ints[present] = agg(tint, axis=0)
    else:
        a_draws = post["intercept_std"] - beta_draws @ mean
        tint = (post["intercept_std"][:, None] + post["sigma_trial"][:, None] * post["trial_z"]
                - (beta_draws @ mean)[:, None])
        ints = np.full(n_trials, np.nan)
        ints[present] = agg(tint, axis=0)
    draws = np.column_stack([a_draws, beta_draws])
    summ = az.summary(idata, kind="diagnostics")
    rhat = float(np.nanmax(summ["r_hat"])) if num_chains > 1 else float("nan")
    ess = float(np.nanmin(summ["ess_bulk"]))
    n_div = int(np.sum(np.asarray(mcmc.get_extra_fields()["diverging"])))
    if (num_chains > 1 and rhat > 1.01) or ess < 400 or n_div > 0:
        warnings.warn(f"Bayesian LASSO sampler diagnostics: max R-hat {rhat:.3f}, min bulk ESS "
                      f"{ess:.0f}, {n_div} divergent transitions; increase num_samples/"
                      "num_warmup or num_chains", SamplerWarning, stacklevel=4)
    info = {"idata": idata, "rhat_max": rhat, "ess_bulk_min": ess, "divergences": n_div,
            "point": point, "penalty": float("nan")}
    return FittedParams(float(agg(a_draws)), agg(beta_draws, axis=0), ints,
                        np.cov(draws, rowvar=False), info)

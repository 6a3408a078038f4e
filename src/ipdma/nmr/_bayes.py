"""Bayesian engine (NumPyro NUTS) for the risk-based NMR.

The likelihood is the same arm-based model as the ML engine::

    logit p_i = u_j + d_t + e_jt + (g0 + gamma_t) * x_i

with ``d_ref = gamma_ref = 0``, ``x_i`` the centred risk covariate and, for
random treatment effects, ``e_j = tau * L z_j`` (non-centred; ``z ~ N(0, I)``,
``L L' = (I + J) / 2`` per trial, ``e = 0`` for the trial's baseline arm).

Sampling notes:

* the log posterior is written by hand on the flat coefficient vector with the
  dense design matrix (``eta = X b``; no loop over patients), equal to NumPyro's
  potential of the documented model :func:`_model_fn` (checked in the tests); a
  matrix product traces, compiles and runs faster than gathers;
* NUTS uses a dense mass matrix: the trial intercepts and treatment effects
  are strongly correlated a posteriori, which a diagonal metric mixes badly;
* chains start at the maximum-likelihood estimate (common effects), so a short
  warm-up (500) suffices;
* warm-up and sampling of all chains run in one jitted function built from
  NumPyro's functional ``hmc`` interface (``lax.map`` over chains by default,
  which compiled and ran faster than ``vmap`` on 2 cores); it is cached per model
  structure and sampler settings, and the data are arguments, so refits of
  same-shaped data do not recompile;
* the vague N(0, sd^2 = 1000) priors of the original analysis are used as they
  are: the posterior is data-dominated and the adapted dense metric makes their
  scale immaterial numerically (float32 is ample);
* random effects are non-centred (``z ~ N(0, I)``), which avoids the funnel when
  tau is small (a handful of trials).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._optional import import_optional
from ..errors import SamplerWarning
from ._design import NMRDesign

# compiled samplers keyed by model structure and sampler settings (data are arguments, so
# refitting data of the same shape, e.g. in a simulation study, does not recompile)
_RUNNERS: dict = {}


@dataclass
class BayesFit:
    samples: dict[str, np.ndarray]   # name -> (chains, draws, ...) arrays
    inference_data: object
    divergences: int
    seconds: float
    diagnostics: dict


def _model_fn(has_risk: bool, random: bool, J: int, T: int, A: int,
              prior_sd: float, tau_scale: float, tau_prior: str = "half-normal"):
    jnp = import_optional("jax.numpy")
    numpyro = import_optional("numpyro")
    dist = import_optional("numpyro.distributions")

    def model(trial_idx, trt_idx, x, re_row, chol, y):
        u = numpyro.sample("u", dist.Normal(0.0, prior_sd).expand([J]).to_event(1))
        d = numpyro.sample("d", dist.Normal(0.0, prior_sd).expand([T - 1]).to_event(1))
        dfull = jnp.concatenate([jnp.zeros(1), d])
        eta = u[trial_idx] + dfull[trt_idx]
        if has_risk:
            g0 = numpyro.sample("g0", dist.Normal(0.0, prior_sd))
            gam = numpyro.sample("gamma", dist.Normal(0.0, prior_sd).expand([T - 1]).to_event(1))
            slope = g0 + jnp.concatenate([jnp.zeros(1), gam])
            eta = eta + slope[trt_idx] * x
        if random:
            tau_dist = (dist.HalfNormal(tau_scale) if tau_prior == "half-normal"
                        else dist.Uniform(0.0, tau_scale))
            tau = numpyro.sample("tau", tau_dist)
            z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([A]).to_event(1))
            e = tau * (chol @ z)
            eta = eta + jnp.concatenate([e, jnp.zeros(1)])[re_row]
        numpyro.sample("y", dist.Bernoulli(logits=eta).to_event(1), obs=y)

    return model



def random_effects_log_prior(z, tau_prior: str, tau_scale: float):
    """The random treatment effects' part of a NUTS potential, shared by the binary and
    time-to-event engines: ``tau`` from its unconstrained ``z["tau"]`` and the log
    density of (tau, standard-normal ``z["z"]``) including the Jacobian.

    ``tau_prior="half-normal"``: tau = exp(w), half-normal(``tau_scale``) density plus
    the log-Jacobian w; otherwise U(0, ``tau_scale``): tau = a sigmoid(w), density 1/a
    times the Jacobian a s (1 - s).
    """
    jax = import_optional("jax")
    jnp = import_optional("jax.numpy")
    w, zr = z["tau"], z["z"]
    if tau_prior == "half-normal":
        tau = jnp.exp(w)
        lp = (0.5 * np.log(2 / np.pi) - np.log(tau_scale) - 0.5 * (tau / tau_scale) ** 2 + w)
    else:
        tau = tau_scale * jax.nn.sigmoid(w)
        lp = jax.nn.log_sigmoid(w) + jax.nn.log_sigmoid(-w)
    return tau, lp - 0.5 * jnp.sum(zr ** 2) - zr.size * (0.5 * float(np.log(2 * np.pi)))

def _potential_fn(random: bool, prior_sd: float, tau_scale: float,
                  tau_prior: str = "half-normal"):
    """Hand-written potential energy (minus log posterior on the unconstrained scale) of
    :func:`_model_fn`, on the flat coefficient vector ``b`` (in the order of
    ``NMRDesign.param_names()``) with the dense fixed-effects design ``X``: a matrix
    product compiles and runs faster than gathers.  tau is sampled as log tau (with its
    Jacobian) under the half-normal prior, and as ``logit(tau / a)`` under U(0, a).
    ``tests/nmr`` checks it equals numpyro's potential of :func:`_model_fn`."""
    jax = import_optional("jax")
    jnp = import_optional("jax.numpy")

    half_log_2pi = 0.5 * float(np.log(2 * np.pi))

    def pe(z, args):
        X, ZL, y = args
        b = z["b"]
        lp = -0.5 * jnp.sum((b / prior_sd) ** 2) - b.size * (np.log(prior_sd) + half_log_2pi)
        eta = X @ b
        if random:
            tau, lp_re = random_effects_log_prior(z, tau_prior, tau_scale)
            lp = lp + lp_re
            eta = eta + tau * (ZL @ z["z"])
        lp = lp + jnp.sum(y * eta - jax.nn.softplus(eta))
        return -lp

    return pe


def _make_runner(pe, *, chains: int, draws: int, warmup: int, chain_method: str,
                 target_accept: float):
    """One jitted function: NUTS warm-up (step size + dense mass adaptation) and sampling
    for every chain, from numpyro's functional HMC interface.  Warm-up and sampling share
    one loop body so the NUTS kernel is compiled once."""
    jax = import_optional("jax")
    _mod = import_optional("numpyro.infer.hmc")
    hmc = _mod.hmc

    def one_chain(key, init, args):
        init_kernel, sample_kernel = hmc(lambda z: pe(z, args), algo="NUTS")
        state = init_kernel(init, num_warmup=warmup, dense_mass=True,
                            target_accept_prob=target_accept, rng_key=key)

        def body(st, _):
            st = sample_kernel(st)
            return st, (st.z, st.diverging)

        _, (zs, div) = jax.lax.scan(body, state, None, length=warmup + draws)
        return jax.tree.map(lambda v: v[warmup:], zs), div[warmup:]

    def run(seed, inits, args):
        # keys are derived inside the compiled function (no extra small compilations)
        keys = jax.random.split(jax.random.PRNGKey(seed), chains)
        if chain_method == "vectorized":
            return jax.vmap(one_chain, in_axes=(0, 0, None))(keys, inits, args)
        return jax.lax.map(lambda ki: one_chain(ki[0], ki[1], args), (keys, inits))

    return jax.jit(run)


def fit_bayes(design: NMRDesign, *, random: bool, prior_sd: float, tau_prior_scale: float,
              tau_prior: str = "half-normal",
              chains: int, draws: int, warmup: int, seed: int, init: np.ndarray | None,
              chain_method: str = "sequential", target_accept: float = 0.8) -> BayesFit:
    import time

    az = import_optional("arviz")
    jnp = import_optional("jax.numpy")

    J, T = design.n_trials, design.n_treatments
    A = design.re_arm_trial.size
    has_risk = design.has_risk
    if random and A == 0:
        random = False
    key = (has_risk, random, J, T, A, float(prior_sd), float(tau_prior_scale), tau_prior,
           chains, draws,
           warmup, chain_method, float(target_accept))
    X = design.design_matrix()
    P = X.shape[1]
    ZL = np.zeros((design.n, A))
    if random:
        has = design.re_row >= 0
        ZL[has] = design.re_chol[design.re_row[has]]     # row i: its arm's Cholesky row
    args = (jnp.asarray(X, dtype=jnp.float32), jnp.asarray(ZL, dtype=jnp.float32),
            jnp.asarray(design.y, dtype=jnp.float32))
    # initial values on the unconstrained scale, one copy per chain (tau enters as log tau)
    values = {"b": np.asarray(init if init is not None else np.zeros(P), dtype=float)}
    if random:
        t0 = min(0.1, 0.5 * tau_prior_scale)
        values["tau"] = (np.log(t0) if tau_prior == "half-normal"
                         else np.log(t0 / (tau_prior_scale - t0)))
        values["z"] = np.zeros(A)
    init_params = {k: jnp.asarray(np.broadcast_to(v, (chains, *np.shape(v))), dtype=jnp.float32)
                   for k, v in values.items()}
    runner = _RUNNERS.get(key)
    if runner is None:
        pe = _potential_fn(random, prior_sd, tau_prior_scale, tau_prior)
        runner = _make_runner(pe, chains=chains, draws=draws, warmup=warmup,
                              chain_method=chain_method, target_accept=target_accept)
        _RUNNERS.clear()           # keep one compiled sampler (the last structure used)
        _RUNNERS[key] = runner
    t0 = time.perf_counter()
    zs, div = runner(np.uint32(seed), init_params, args)
    zs = {k: np.asarray(v, dtype=float) for k, v in zs.items()}
    b = zs["b"]                                           # (chains, draws, P)
    samples = {"u": b[..., :J], "d": b[..., J:J + T - 1]}
    if has_risk:
        samples["g0"] = b[..., J + T - 1]
        samples["gamma"] = b[..., J + T:]
    if random:
        w = zs["tau"]                                      # unconstrained -> tau
        samples["tau"] = (np.exp(w) if tau_prior == "half-normal"
                          else tau_prior_scale / (1.0 + np.exp(-w)))
        samples["z"] = zs["z"]
    seconds = time.perf_counter() - t0
    div_arr = np.asarray(div)
    div = int(div_arr.sum())

    treat = design.treatments[1:]
    coords = {"trial": design.trials, "treatment": treat}
    dims = {"u": ["trial"], "d": ["treatment"], "gamma": ["treatment"]}
    post = {k: v for k, v in samples.items()}
    if random:
        arms = [f"{design.trials[j]}:{design.treatments[t]}"
                for j, t in zip(design.re_arm_trial, design.re_arm_trt)]
        coords["arm"] = arms
        dims["z"] = ["arm"]
    idata = az.from_dict(posterior=post, coords=coords, dims=dims,
                         sample_stats={"diverging": div_arr})
    diag = _diagnostics(idata, div, chains)
    return BayesFit(samples=samples, inference_data=idata, divergences=div, seconds=seconds,
                    diagnostics=diag)


def _diagnostics(idata, divergences: int, chains: int) -> dict:
    az = import_optional("arviz")

    var_names = [v for v in idata.posterior.data_vars if v != "z"]
    ess = az.ess(idata, var_names=var_names, method="bulk")
    ess_tail = az.ess(idata, var_names=var_names, method="tail")
    min_ess = float(min(float(ess[v].min()) for v in var_names))
    min_ess_tail = float(min(float(ess_tail[v].min()) for v in var_names))
    max_rhat = np.nan
    if chains > 1:
        rh = az.rhat(idata, var_names=var_names)
        max_rhat = float(max(float(rh[v].max()) for v in var_names))
    msgs = []
    if chains > 1 and max_rhat > 1.01:
        msgs.append(f"max R-hat {max_rhat:.3f} > 1.01")
    if min_ess < 400:
        msgs.append(f"min bulk ESS {min_ess:.0f} < 400")
    if divergences:
        msgs.append(f"{divergences} divergent transitions")
    if msgs:
        warnings.warn(
            "NUTS diagnostics: " + "; ".join(msgs) + ". Increase draws/warmup (or "
            "target_accept for divergences) before relying on the posterior.",
            SamplerWarning, stacklevel=4,
        )
    return {"max_rhat": max_rhat, "min_ess_bulk": min_ess, "min_ess_tail": min_ess_tail,
            "divergences": divergences}


def sample_external_intercept(events: int, n: int, prior_sd: float, size: int,
                              rng: np.random.Generator) -> np.ndarray:
    """Exact posterior draws of a single log-odds alpha with y ~ Bin(n, expit(alpha)) and
    alpha ~ N(0, prior_sd^2): inverse-CDF sampling on a fine grid (the posterior is
    one-dimensional and independent of the NMR parameters)."""
    p = (events + 0.5) / (n + 1.0)
    centre = np.log(p / (1 - p))
    se = 1.0 / np.sqrt((n + 1.0) * p * (1 - p))
    grid = np.linspace(centre - 14 * se, centre + 14 * se, 20001)
    logpost = (events * grid - n * np.logaddexp(0.0, grid) - 0.5 * (grid / prior_sd) ** 2)
    dens = np.exp(logpost - logpost.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return np.interp(rng.uniform(size=size), cdf, grid)

"""Risk-based IPD network meta-regression for time-to-event outcomes.

Stage 2 for a (time, event) outcome is a Cox network meta-regression with
trial-stratified baseline hazards::

    h_ij(t) = h_0j(t) exp(d_t + (g0 + gamma_t) x_ij),   x_ij = R_ij - Rbar_j

``R`` is the stage-1 risk score on the log-hazard scale (the linear predictor of
:class:`ipdma.prognosis.SurvivalRiskModel`), ``d_t``/``gamma_t`` are log hazard
ratios and risk interactions relative to the network reference and ``g0`` is the
prognostic slope under the reference in every trial (the order-free
parametrisation of the binary model: no dependence on the order of rows or arms).

* ``engine="ml"``: partial likelihood (:func:`ipdma.survival.fit_cox` with
  ``strata = trial``; = ``coxph(Surv(time, event) ~ trt * Rc + strata(trial))``).
* ``engine="bayes"``: piecewise-constant baseline hazard per trial (``n_pieces``
  intervals cut at the quantiles of the trial's event times, one log hazard per
  interval with a N(0, prior_sd^2) prior) and NUTS (NumPyro) on the exact
  piecewise-exponential likelihood; with ``survival_model="weibull"`` a Weibull PH
  likelihood instead (log scale per trial, common log shape, N(0, prior_sd^2) priors),
  absolute predictions in closed form per posterior draw.  ``effects="random"`` adds
  random log-HR treatment effects (``tau``) to either.

Absolute predictions (survival at a horizon, RMST up to tau, their differences
vs the reference, hazard ratios, P(best)) use a Breslow baseline cumulative
hazard: pooled over all trials with every patient's risk centred at the
prediction centre (``baseline="pooled"``), or one trial's own stratum baseline
(``baseline=<trial label>``).  ML intervals are by the delta method, including
the variance of the baseline hazard given the coefficients (survfit's formula);
Bayesian intervals are posterior quantiles, with the baseline increments drawn
as ``Gamma(d_i, S0_i(theta_s))`` for every posterior draw ``theta_s`` (the
posterior of a hazard that is constant between event times under a flat prior).
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._base import Summary, check_is_fitted
from .._optional import import_optional
from ..errors import ColumnNotFoundError, ModelSpecificationError
from ..survival import SurvivalOutcome, check_horizon, fit_cox, survival_outcome
from ..survival._outcome import column_values
from ..survival._riskset import RiskSets
from ._bayes import random_effects_log_prior
from ._design import NMRDesign, _check_column, design_from_codes, label_codes, prepare
from ._model import RiskNMRResult

__all__ = ["SurvivalRiskNMRResult", "fit_survival"]

_RUNNERS: dict = {}


def prepare_survival(data: pd.DataFrame, *, trial: str, treatment: str, time: str,
                     event: str, risk: str | None, reference: str | None,
                     centring, event_label=None) -> NMRDesign:
    """Validate a time-to-event IPD and build the canonical design (``family="survival"``).

    The usual input (numeric time, 0/1 event and risk columns without missing values) is
    prepared on integer codes of the trial and treatment labels with numpy only (the same
    design as :func:`prepare`, whose per-column pandas work costs more than the Cox fit of
    a small network); anything else goes through :func:`_prepare_survival_pandas`, which
    raises the specific errors."""
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecificationError(
            f"data must be a pandas DataFrame or an ipdma.data.IPD, not {type(data).__name__}")
    for c, role in ((trial, "trial"), (treatment, "treatment"), (time, "time"),
                    (event, "event")) + (((risk, "risk"),) if risk is not None else ()):
        _check_column(data, c, role)
    fast = None if event_label is not None else _survival_arrays(data, trial, treatment, time,
                                                                 event, risk)
    if fast is None:
        return _prepare_survival_pandas(data, trial=trial, treatment=treatment, time=time,
                                        event=event, risk=risk, reference=reference,
                                        centring=centring, event_label=event_label)
    t, e, r, (tr, trials), (tt, labels) = fast
    J, K = len(trials), len(labels)
    cell = tr * K + tt
    present = np.bincount(cell, minlength=J * K) > 0
    if np.any(present & (np.bincount(cell, weights=e, minlength=J * K) == 0)):
        # a trial arm without events: the general path names it
        survival_outcome(data, time, event, trial=trial, treatment=treatment)
    present = present.reshape(J, K)
    arms = {trials[j]: [labels[k] for k in np.flatnonzero(present[j])] for j in range(J)}
    design = design_from_codes(tr, trials, tt, labels, arms, e, r, reference=reference,
                               centring=centring, treatment=treatment, extra_keys=(t,))
    pos = design.source_index
    design.time = t[pos]
    design.source_index = np.asarray(data.index)[pos]
    design.family = "survival"
    return design


def _survival_arrays(data, trial, treatment, time, event, risk):
    """(time, event, risk, trial codes + labels, treatment codes + labels) as arrays when
    every column is complete and plain (numeric time > 0, 0/1 event, finite risk), else
    None."""
    tv, ev = column_values(data, time), column_values(data, event)
    if not (isinstance(tv, np.ndarray) and tv.dtype.kind in "fiu"
            and isinstance(ev, np.ndarray) and ev.dtype.kind in "fiub"):
        return None
    t = tv.astype(float)
    e = ev.astype(float)
    if not (np.all(t > 0) and np.isfinite(t).all() and np.all((e == 0) | (e == 1))
            and e.any()):
        return None
    if risk is None:
        r = None
    else:
        rv = column_values(data, risk)
        if not (isinstance(rv, np.ndarray) and rv.dtype.kind in "fiu"):
            return None
        r = rv.astype(float)
        if not np.isfinite(r).all():
            return None
    tr, tt = label_codes(column_values(data, trial)), label_codes(column_values(data, treatment))
    if tr is None or tt is None:
        return None
    return t, e, r, tr, tt


def _prepare_survival_pandas(data: pd.DataFrame, *, trial: str, treatment: str, time: str,
                     event: str, risk: str | None, reference: str | None,
                     centring, event_label=None) -> NMRDesign:
    """:func:`prepare_survival` through the general (pandas) :func:`prepare`: used for the
    inputs the array path leaves to it (missing or non-numeric values, labels to recode),
    so that every error message is the same."""
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecificationError(
            f"data must be a pandas DataFrame or an ipdma.data.IPD, not {type(data).__name__}")
    for c, role in ((trial, "trial"), (treatment, "treatment"), (time, "time"),
                    (event, "event")) + (((risk, "risk"),) if risk is not None else ()):
        _check_column(data, c, role)
    for c in (trial, treatment):
        if data[c].isna().any():
            from ..errors import MissingDataError

            raise MissingDataError(f"column {c!r} has {int(data[c].isna().sum())} missing "
                                   "values: every patient needs a trial and a treatment")
    y = survival_outcome(data, time, event, trial=trial, treatment=treatment,
                         event_label=event_label)
    cols = [trial, treatment] + ([risk] if risk is not None else [])
    df = data[cols].reset_index(drop=True)
    df["__event__"] = y.event
    # stable pre-sort by time: time is the last tie-break of the canonical order
    pre = np.argsort(y.time, kind="stable")
    df = df.iloc[pre]
    design = prepare(df, trial=trial, treatment=treatment, outcome="__event__", risk=risk,
                     reference=reference, centring=centring, risk_scale="logit")
    pos = np.asarray(design.source_index, dtype=int)
    design.time = y.time[pos]
    design.source_index = np.asarray(data.index)[pos]
    design.family = "survival"
    return design


@dataclass
class CoxNMRFit:
    coef: np.ndarray
    cov: np.ndarray
    loglik: float
    loglik_null: float
    iterations: int
    converged: bool
    tau: None = None
    tau_se: None = None


def fit_ml(design: NMRDesign, ties: str = "efron") -> CoxNMRFit:
    """Stratified Cox partial likelihood of the NMR design."""
    # the trial indices are already the sorted stratum codes (every trial has rows)
    rs = RiskSets(design.time, design.y, design.trial_idx)
    fit = fit_cox(design.design_matrix(), design.time, design.y, ties=ties, risk_sets=rs)
    return CoxNMRFit(fit.coef, fit.vcov, fit.loglik, fit.loglik_null, fit.n_iter,
                     fit.converged)


@dataclass
class WeibullNMRFit:
    """Weibull PH network meta-regression (survreg AFT fit, log-HR parametrisation)."""

    coef: np.ndarray          # d, g0, gamma on the log-hazard scale (= -aft / scale)
    cov: np.ndarray
    loglik: float
    aft: np.ndarray           # mu[trial]..., d, g0, gamma on the log-time scale
    aft_vcov: np.ndarray      # (aft, log(scale))
    aft_names: list
    scale: float
    iterations: int
    converged: bool
    loglik_null: float = float("nan")
    tau: None = None
    tau_se: None = None


def fit_weibull_ml(design: NMRDesign) -> WeibullNMRFit:
    """``survreg(Surv(time, event) ~ 0 + trial + trt * Rc, dist = "weibull")``: a Weibull
    baseline per trial (log-time intercept ``mu[trial]``, common shape ``1/scale``) and
    the NMR terms; reported as log hazard ratios ``-coef / scale`` (delta-method vcov)."""
    from ..survival import fit_weibull

    J = design.n_trials
    U = np.zeros((design.n, J))
    U[np.arange(design.n), design.trial_idx] = 1.0
    X = np.hstack([U, design.design_matrix()])
    names = [f"mu[{t}]" for t in design.trials] + design.param_names()
    fit = fit_weibull(design.time, design.y, X, coef_names=names, tol=1e-10)
    if np.any(~np.isfinite(fit.coef)):
        raise ModelSpecificationError("the Weibull NMR design is rank deficient (aliased "
                                      "terms); check the risk score varies within trials")
    sig = fit.scale
    b = fit.coef[J:]
    P = b.size
    # d(-b/sig)/d(b, log sig) = [-I/sig, b/sig]
    G = np.hstack([np.zeros((P, J)), -np.eye(P) / sig, (b / sig)[:, None]])
    cov = G @ fit.vcov @ G.T
    return WeibullNMRFit(-b / sig, (cov + cov.T) / 2, fit.loglik, fit.coef, fit.vcov, names,
                         sig, fit.n_iter, fit.converged)


# ------------------------------------------------------------------ Bayesian engine


def _pieces(design: NMRDesign, n_pieces: int):
    """Per-trial intervals cut at the quantiles of the trial's event times, merged so
    that every interval holds at least one event.  Returns (trial of piece, lower,
    upper) arrays, the exposure matrix W (n x Q) and event counts per piece."""
    t, e, tid = design.time, design.y, design.trial_idx
    ptrial, lo, hi = [], [], []
    for j in range(design.n_trials):          # loop over trials (a handful)
        et = np.sort(t[(tid == j) & (e == 1)])
        cuts = np.unique(np.quantile(et, np.arange(1, n_pieces) / n_pieces))
        cuts = cuts[cuts < et.max()]
        # drop cuts that leave an interval without events
        while cuts.size:
            edges = np.r_[0.0, cuts, np.inf]
            cnt = np.diff(np.searchsorted(et, edges, side="right"))
            if np.all(cnt > 0):
                break
            k = int(np.argmin(cnt))
            cuts = np.delete(cuts, min(k, cuts.size - 1))
        edges = np.r_[0.0, cuts, np.inf]
        ptrial += [j] * (edges.size - 1)
        lo += edges[:-1].tolist()
        hi += edges[1:].tolist()
    ptrial, lo, hi = np.array(ptrial), np.array(lo), np.array(hi)
    same = tid[:, None] == ptrial[None, :]
    W = np.where(same, np.clip(np.minimum(t[:, None], hi[None, :]) - lo[None, :], 0, None), 0.0)
    inside = same & (t[:, None] > lo[None, :]) & (t[:, None] <= hi[None, :])
    D = (inside & (e[:, None] == 1)).sum(axis=0).astype(float)
    return ptrial, lo, hi, W, D


def _potential(prior_sd: float, random: bool = False, tau_scale: float = 1.0,
               tau_prior: str = "half-normal"):
    """Minus the log posterior of the piecewise-exponential NMR.  With random treatment
    effects the linear predictor gains ``tau * (ZL z)`` (non-centred, ``z ~ N(0, I)``,
    the arm rows of the block Cholesky of ``(I + J) / 2`` per trial, as the binary
    engine); tau is sampled as log tau under the half-normal prior and as
    ``logit(tau / a)`` under U(0, a), with their Jacobians."""
    jnp = import_optional("jax.numpy")
    half_log_2pi = 0.5 * float(np.log(2 * np.pi))

    def pe(z, args):
        X, W, dX, D, ZL, dZ = args
        b, lg = z["b"], z["l"]
        lp = (-0.5 * (jnp.sum(b ** 2) + jnp.sum(lg ** 2)) / prior_sd ** 2
              - (b.size + lg.size) * (np.log(prior_sd) + half_log_2pi))
        eta = X @ b
        lin = jnp.sum(dX * b)                            # sum over events of eta
        if random:
            tau, lp_re = random_effects_log_prior(z, tau_prior, tau_scale)
            lp = lp + lp_re
            eta = eta + tau * (ZL @ z["z"])
            lin = lin + tau * jnp.sum(dZ * z["z"])
        ll = jnp.sum(D * lg) + lin - jnp.sum(jnp.exp(eta) * (W @ jnp.exp(lg)))
        return -(lp + ll)

    return pe


@dataclass
class SurvBayesFit:
    samples: dict
    inference_data: object
    divergences: int
    seconds: float
    diagnostics: dict
    pieces: pd.DataFrame


def fit_bayes(design: NMRDesign, *, prior_sd: float, n_pieces: int, chains: int, draws: int,
              warmup: int, seed: int, init: np.ndarray, chain_method: str,
              target_accept: float, random: bool = False, tau_prior_scale: float = 1.0,
              tau_prior: str = "half-normal") -> SurvBayesFit:
    """NUTS on the piecewise-exponential likelihood (trial-specific piecewise-constant
    baseline hazards); ``random=True`` adds random treatment effects (log-HR scale)."""
    az = import_optional("arviz")
    jnp = import_optional("jax.numpy")
    from ._bayes import _make_runner

    X = design.design_matrix()
    ptrial, lo, hi, W, D = _pieces(design, n_pieces)
    eta0 = X @ init
    lam0 = D / np.maximum(np.exp(eta0) @ W, 1e-300)
    values = {"b": np.asarray(init, float), "l": np.log(lam0)}
    P, Q = X.shape[1], W.shape[1]
    A = design.re_arm_trial.size
    random = bool(random and A > 0)
    ZL = np.zeros((design.n, A))
    if random:
        has = design.re_row >= 0
        ZL[has] = design.re_chol[design.re_row[has]]     # row i: its arm's Cholesky row
        t0 = min(0.1, 0.5 * tau_prior_scale)
        values["tau"] = (np.log(t0) if tau_prior == "half-normal"
                         else np.log(t0 / (tau_prior_scale - t0)))
        values["z"] = np.zeros(A)
    key = (P, Q, A, design.n, float(prior_sd), chains, draws, warmup, chain_method,
           float(target_accept), random, float(tau_prior_scale), tau_prior)
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _make_runner(_potential(prior_sd, random, tau_prior_scale, tau_prior),
                              chains=chains, draws=draws, warmup=warmup,
                              chain_method=chain_method, target_accept=target_accept)
        _RUNNERS.clear()
        _RUNNERS[key] = runner
    f32 = jnp.float32
    args = (jnp.asarray(X, f32), jnp.asarray(W, f32), jnp.asarray(design.y @ X, f32),
            jnp.asarray(D, f32), jnp.asarray(ZL, f32), jnp.asarray(design.y @ ZL, f32))
    inits = {k: jnp.asarray(np.broadcast_to(v, (chains, *np.shape(v))), dtype=f32)
             for k, v in values.items()}
    t0 = _time.perf_counter()
    zs, div = runner(np.uint32(seed), inits, args)
    seconds = _time.perf_counter() - t0
    b = np.asarray(zs["b"], float)
    lg = np.asarray(zs["l"], float)
    T = design.n_treatments
    samples = {"d": b[..., :T - 1]}
    if design.has_risk:
        samples["g0"] = b[..., T - 1]
        samples["gamma"] = b[..., T:]
    samples["log_hazard"] = lg
    piece_names = [f"{design.trials[j]}:({a:g},{h:g}]" for j, a, h in zip(ptrial, lo, hi)]
    coords = {"treatment": design.treatments[1:], "piece": piece_names}
    dims = {"d": ["treatment"], "gamma": ["treatment"], "log_hazard": ["piece"]}
    if random:
        _random_draws(samples, coords, dims, zs, design, tau_prior, tau_prior_scale)
    idata, ndiv, diag = _posterior(az, samples, coords, dims, div, chains)
    flat = np.exp(lg.reshape(-1, Q))
    pieces = pd.DataFrame({"trial": [design.trials[j] for j in ptrial], "lower": lo,
                           "upper": hi, "events": D.astype(int),
                           "exposure": np.exp(eta0) @ W, "hazard": flat.mean(0),
                           "hazard_lower": np.quantile(flat, 0.025, axis=0),
                           "hazard_upper": np.quantile(flat, 0.975, axis=0)})
    return SurvBayesFit(samples, idata, ndiv, seconds, diag, pieces)


def _random_draws(samples, coords, dims, zs, design, tau_prior, tau_prior_scale) -> None:
    """tau (back from its unconstrained draws) and the per-arm z of the random
    treatment effects into the posterior dictionaries (Cox and Weibull engines)."""
    w = np.asarray(zs["tau"], float)
    samples["tau"] = (np.exp(w) if tau_prior == "half-normal"
                      else tau_prior_scale / (1.0 + np.exp(-w)))
    samples["z"] = np.asarray(zs["z"], float)
    coords["arm"] = [f"{design.trials[j]}:{design.treatments[t]}"
                     for j, t in zip(design.re_arm_trial, design.re_arm_trt)]
    dims["z"] = ["arm"]


def _posterior(az, samples, coords, dims, div, chains):
    """InferenceData with the divergences, their count and the R-hat/ESS diagnostics."""
    from ._bayes import _diagnostics

    div_arr = np.asarray(div)
    idata = az.from_dict(posterior=samples, coords=coords, dims=dims,
                         sample_stats={"diverging": div_arr})
    ndiv = int(div_arr.sum())
    return idata, ndiv, _diagnostics(idata, ndiv, chains)


def _potential_weibull(prior_sd: float, random: bool = False, tau_scale: float = 1.0,
                       tau_prior: str = "half-normal"):
    """Minus the log posterior of the Bayesian Weibull PH NMR: hazard
    ``lambda_j rho t^(rho - 1) exp(eta)`` (log lambda_j per trial, common log rho, N(0,
    prior_sd^2) priors on every one of them and on the coefficients), optional random
    treatment effects as :func:`_potential`."""
    jnp = import_optional("jax.numpy")
    half_log_2pi = 0.5 * float(np.log(2 * np.pi))

    def pe(z, args):
        X, U, logt, ev, ZL = args
        b, ll, lr = z["b"], z["loglam"], z["logrho"]
        lp = (-0.5 * (jnp.sum(b ** 2) + jnp.sum(ll ** 2) + lr ** 2) / prior_sd ** 2
              - (b.size + ll.size + 1) * (np.log(prior_sd) + half_log_2pi))
        eta = X @ b + U @ ll
        if random:
            tau, lp_re = random_effects_log_prior(z, tau_prior, tau_scale)
            lp = lp + lp_re
            eta = eta + tau * (ZL @ z["z"])
        rho = jnp.exp(lr)
        loglik = (jnp.sum(ev * (eta + lr + (rho - 1.0) * logt))
                  - jnp.sum(jnp.exp(eta + rho * logt)))
        return -(lp + loglik)

    return pe


def fit_bayes_weibull(design: NMRDesign, ml: WeibullNMRFit, *, prior_sd: float, chains: int,
                      draws: int, warmup: int, seed: int, chain_method: str,
                      target_accept: float, random: bool = False,
                      tau_prior_scale: float = 1.0,
                      tau_prior: str = "half-normal") -> SurvBayesFit:
    """NUTS on the Weibull PH likelihood (a scale per trial, common shape), started at the
    survreg fit ``ml``; samples ``d``, ``g0``, ``gamma``, ``log_lambda`` (per trial),
    ``shape`` (rho) and, with random effects, ``tau`` and ``z``."""
    az = import_optional("arviz")
    jnp = import_optional("jax.numpy")
    from ._bayes import _make_runner

    X = design.design_matrix()
    J = design.n_trials
    U = np.zeros((design.n, J))
    U[np.arange(design.n), design.trial_idx] = 1.0
    sig = ml.scale
    values = {"b": np.asarray(ml.coef, float), "loglam": -ml.aft[:J] / sig,
              "logrho": np.asarray(-np.log(sig))}
    A = design.re_arm_trial.size
    random = bool(random and A > 0)
    ZL = np.zeros((design.n, A))
    if random:
        has = design.re_row >= 0
        ZL[has] = design.re_chol[design.re_row[has]]
        t0 = min(0.1, 0.5 * tau_prior_scale)
        values["tau"] = (np.log(t0) if tau_prior == "half-normal"
                         else np.log(t0 / (tau_prior_scale - t0)))
        values["z"] = np.zeros(A)
    key = ("weibull", X.shape[1], J, A, design.n, float(prior_sd), chains, draws, warmup,
           chain_method, float(target_accept), random, float(tau_prior_scale), tau_prior)
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = _make_runner(_potential_weibull(prior_sd, random, tau_prior_scale, tau_prior),
                              chains=chains, draws=draws, warmup=warmup,
                              chain_method=chain_method, target_accept=target_accept)
        _RUNNERS.clear()
        _RUNNERS[key] = runner
    f32 = jnp.float32
    args = (jnp.asarray(X, f32), jnp.asarray(U, f32), jnp.asarray(np.log(design.time), f32),
            jnp.asarray(design.y, f32), jnp.asarray(ZL, f32))
    inits = {k: jnp.asarray(np.broadcast_to(v, (chains, *np.shape(v))), dtype=f32)
             for k, v in values.items()}
    t0_ = _time.perf_counter()
    zs, div = runner(np.uint32(seed), inits, args)
    seconds = _time.perf_counter() - t0_
    b = np.asarray(zs["b"], float)
    T = design.n_treatments
    samples = {"d": b[..., :T - 1]}
    if design.has_risk:
        samples["g0"] = b[..., T - 1]
        samples["gamma"] = b[..., T:]
    samples["log_lambda"] = np.asarray(zs["loglam"], float)
    samples["shape"] = np.exp(np.asarray(zs["logrho"], float))
    coords = {"treatment": design.treatments[1:], "trial": design.trials}
    dims = {"d": ["treatment"], "gamma": ["treatment"], "log_lambda": ["trial"]}
    if random:
        _random_draws(samples, coords, dims, zs, design, tau_prior, tau_prior_scale)
    idata, ndiv, diag = _posterior(az, samples, coords, dims, div, chains)
    return SurvBayesFit(samples, idata, ndiv, seconds, diag, None)


# ------------------------------------------------------------------ estimator entry


def fit_survival(model, data, *, trial, treatment, time, event, risk, reference,
                 event_label, seed: int) -> SurvivalRiskNMRResult:
    """``RiskNMR.fit`` for a time-to-event outcome."""
    if model.effects != "common" and model.engine != "bayes":
        raise ModelSpecificationError(
            "effects='random' for a time-to-event outcome needs engine='bayes' (random "
            "log-hazard-ratio treatment effects with a piecewise-constant baseline per "
            "trial); the ML engine (a frailty/coxme-type fit) has common effects only")
    if model.risk_scale != "logit":
        raise ModelSpecificationError(
            "for time-to-event outcomes the risk column is the stage-1 linear predictor "
            "(log relative hazard); leave risk_scale at its default 'logit' (= linear "
            "predictor scale)")
    design = prepare_survival(data, trial=trial, treatment=treatment, time=time, event=event,
                              risk=risk, reference=reference, centring=model.centring,
                              event_label=event_label)
    ties = getattr(model, "ties", "efron")
    smodel = getattr(model, "survival_model", "cox")
    if smodel not in ("cox", "weibull"):
        raise ModelSpecificationError(
            f"survival_model must be 'cox' or 'weibull', not {smodel!r}")
    ml = fit_weibull_ml(design) if smodel == "weibull" else fit_ml(design, ties=ties)
    res = SurvivalRiskNMRResult(model, design, seed=seed,
                                columns={"trial": trial, "treatment": treatment,
                                         "time": time, "event": event, "outcome": event,
                                         "risk": risk})
    if model.engine == "ml":
        res._set_ml(ml)
    elif smodel == "weibull":
        fit = fit_bayes_weibull(
            design, ml, prior_sd=model.prior_sd, chains=int(model.chains),
            draws=int(model.draws), warmup=int(model.warmup), seed=seed,
            chain_method=model.chain_method,
            target_accept=(model.target_accept if model.target_accept is not None
                           else 0.95 if model.effects == "random" else 0.8),
            random=model.effects == "random", tau_prior_scale=model.tau_prior_scale,
            tau_prior=model.tau_prior)
        res._set_bayes(fit)
    else:
        fit = fit_bayes(design, prior_sd=model.prior_sd,
                        n_pieces=int(getattr(model, "n_pieces", 8)), chains=int(model.chains),
                        draws=int(model.draws), warmup=int(model.warmup), seed=seed,
                        init=ml.coef, chain_method=model.chain_method,
                        target_accept=(model.target_accept if model.target_accept is not None
                                       else 0.95 if model.effects == "random" else 0.8),
                        random=model.effects == "random",
                        tau_prior_scale=model.tau_prior_scale, tau_prior=model.tau_prior)
        res._set_bayes(fit)
    return res


class SurvivalRiskNMRResult(RiskNMRResult):
    """A fitted :class:`RiskNMR` for a time-to-event outcome.

    ``params`` holds ``d[treatment]`` (log hazard ratio vs the reference at the
    prediction centre), ``g0`` (prognostic log-HR slope under the reference) and
    ``gamma[treatment]`` (treatment x risk interaction); there are no trial
    intercepts: each trial has its own baseline hazard (Cox strata, or piecewise
    constant for the Bayesian engine: ``baseline_pieces``).

    Attributes
    ----------
    horizon : float
        Default horizon ``t*`` of survival predictions (the median event time,
        capped at the earliest last follow-up of a trial).
    weibull_params : DataFrame or None
        ``survival_model="weibull"``: the survreg-scale parameters (``mu[trial]``
        log-time intercepts, AFT coefficients, ``log(scale)``) with SEs; with
        ``engine="bayes"`` the posterior of the PH baseline ``log_lambda[trial]`` and
        ``log(shape)`` (hazard ``lambda_j rho t^(rho - 1) exp(eta)``).
    baseline_pieces : DataFrame or None
        Bayesian engine: the piecewise-constant baseline hazard of every trial
        (interval, events, posterior mean and 95% interval of the hazard).

    Examples
    --------
    >>> from ipdma.datasets import make_survival_network
    >>> from ipdma.nmr import RiskNMR
    >>> sim = make_survival_network(800, random_state=3)
    >>> df = sim.data.assign(lp=sim.truth["true_lp"])
    >>> res = RiskNMR(engine="ml").fit(df, trial="trial", treatment="treatment",
    ...                                time="time", event="event", risk="lp")
    >>> res.params.index.tolist()
    ['d[A]', 'd[B]', 'd[C]', 'g0', 'gamma[A]', 'gamma[B]', 'gamma[C]']
    >>> pred = res.predict(risk=[-0.5, 0.5], horizon=2.0, tau=3.0)
    >>> pred.columns[:6].tolist()
    ['risk_score', 'treatment', 'baseline_risk', 'surv', 'surv_lower', 'surv_upper']
    >>> pred.shape
    (8, 24)
    """

    def __init__(self, model, design: NMRDesign, *, seed: int, columns: dict):
        super().__init__(model, design, seed=seed, columns=columns)
        self.family = "survival"
        self.baseline_pieces = None
        self.weibull_params = None
        et = design.time[design.y == 1]
        lasts = np.full(design.n_trials, -np.inf)
        np.maximum.at(lasts, design.trial_idx, design.time)
        self.horizon = float(min(np.quantile(et, 0.5), lasts.min()))
        self._y = SurvivalOutcome(design.time, design.y)

    # the ML engine's tables and P(best) draws are built on first access (pandas objects
    # and 4000 normal draws cost more than the Cox fit of a small network); assigning one
    # replaces it
    def _lazy_attr(name):  # a property factory used in the class body
        key = "_v_" + name

        def fget(self):
            d = self.__dict__
            if key not in d:
                fit = d.get("_pending_ml")
                d[key] = None if fit is None else self._build_ml(name, fit)
            return d[key]

        def fset(self, value):
            self.__dict__[key] = value

        return property(fget, fset)

    coef = _lazy_attr("coef")
    cov = _lazy_attr("cov")
    params = _lazy_attr("params")
    weibull_params = _lazy_attr("weibull_params")
    _theta_draws = _lazy_attr("_theta_draws")
    del _lazy_attr

    def _set_ml(self, fit) -> None:
        self._ml = fit
        self.loglik = fit.loglik
        self.tau = fit.tau
        self.diagnostics = {"loglik": fit.loglik, "iterations": fit.iterations,
                            "converged": fit.converged}
        self.loglik_null = fit.loglik_null
        self._pending_ml = fit
        for name in ("coef", "cov", "params", "weibull_params", "_theta_draws"):
            self.__dict__.pop("_v_" + name, None)

    def _build_ml(self, name: str, fit):
        """The ML result ``name`` (as :meth:`RiskNMRResult._set_ml` sets it)."""
        names = self._names
        if name == "coef":
            return pd.Series(fit.coef, index=names)
        if name == "cov":
            return pd.DataFrame(fit.cov, index=names, columns=names)
        z = stats.norm.ppf(0.5 + self.level / 2)
        if name == "params":
            se = np.sqrt(np.diag(fit.cov))
            tab = pd.DataFrame({"estimate": fit.coef, "se": se, "lower": fit.coef - z * se,
                                "upper": fit.coef + z * se}, index=names)
            tab.index.name = "parameter"
            return tab
        if name == "weibull_params":
            if not isinstance(fit, WeibullNMRFit):
                return None
            est = np.r_[fit.aft, np.log(fit.scale)]
            se = np.sqrt(np.diag(fit.aft_vcov))
            return pd.DataFrame(
                {"estimate": est, "se": se, "lower": est - z * se, "upper": est + z * se},
                index=pd.Index([*fit.aft_names, "log(scale)"], name="parameter"))
        # P(best) draws through the Cholesky factor: continuous in the covariance, so
        # results do not change with the row order (eigenvector signs can)
        rng = np.random.default_rng([self.seed, 1])
        L = np.linalg.cholesky(fit.cov)
        return fit.coef + rng.standard_normal((int(self.model.n_sim), fit.coef.size)) @ L.T

    def _set_bayes(self, fit) -> None:
        self._bayes = fit
        self.inference_data = fit.inference_data
        self.diagnostics = dict(fit.diagnostics, seconds=fit.seconds)
        s = fit.samples
        parts = [s["d"]]
        if self.design.has_risk:
            parts += [s["g0"][..., None], s["gamma"]]
        th = np.concatenate(parts, axis=-1)
        self._theta_draws = th.reshape(-1, th.shape[-1])
        self.tau = None
        names, allp = list(self._names), th
        if "tau" in s:                                   # random treatment effects
            allp = np.concatenate([th, s["tau"][..., None]], axis=-1)
            names.append("tau")
            self.tau_draws = s["tau"].ravel()
            self.tau = float(s["tau"].mean())
        self.params = self._table_from_draws(allp, names)
        if "shape" in s:                                 # Bayesian Weibull
            extra = np.concatenate([s["log_lambda"], np.log(s["shape"])[..., None]], axis=-1)
            self.weibull_params = self._table_from_draws(
                extra, [f"log_lambda[{t}]" for t in self.design.trials] + ["log(shape)"])
        self.coef = self.params["estimate"].loc[list(self._names)]
        self.baseline_pieces = fit.pieces

    # ------------------------------------------------------------ baseline hazard
    def _baseline_weights(self, baseline: str) -> np.ndarray:
        """Weights of the trials' baselines: 1/J each for ``"pooled"``, else 1 for the
        named trial."""
        J = self.design.n_trials
        Mu = np.zeros(J)
        if baseline == "pooled":
            Mu[:] = 1.0 / J
        else:
            Mu[self.design.trials.index(baseline)] = 1.0
        return Mu

    def _baseline_rows(self, baseline: str):
        """Rows, their centre and label of a prediction baseline."""
        d = self.design
        if baseline == "pooled":
            return np.ones(d.n, bool), (d.centre_pred if d.has_risk else 0.0)
        if baseline in d.trials:
            j = d.trials.index(baseline)
            return d.trial_idx == j, (float(d.centre_trial[j]) if d.has_risk else 0.0)
        raise ModelSpecificationError(
            f"baseline must be 'pooled' or a trial label {d.trials}, not {baseline!r}")

    def _row_design(self, rows: np.ndarray, centre: float) -> np.ndarray:
        d = self.design
        T = d.n_treatments
        D = np.zeros((int(rows.sum()), T))
        D[np.arange(D.shape[0]), d.trt_idx[rows]] = 1.0
        D = D[:, 1:]
        if not d.has_risk:
            return D
        x = d.x_raw[rows] - centre
        return np.hstack([D, x[:, None], D * x[:, None]])

    def _breslow(self, rows: np.ndarray, centre: float, theta: np.ndarray, upto: float):
        """Breslow increments on the distinct event times <= upto of the baseline rows.

        ``theta`` (P,) or (S, P).  Returns u (m,), d (m,), S0 (m,) or (S, m) and S1
        (m, P) (for a single theta)."""
        t = self.design.time[rows]
        e = self.design.y[rows]
        Z = self._row_design(rows, centre)
        o = np.argsort(t, kind="stable")
        t, e, Z = t[o], e[o], Z[o]
        u, d = np.unique(t[(e == 1) & (t <= upto)], return_counts=True)
        start = np.searchsorted(t, u, side="left")
        eta = Z @ np.asarray(theta).T                      # (n,) or (n, S)
        shift = eta.max(axis=0)
        r = np.exp(eta - shift)
        R = np.cumsum(r[::-1], axis=0)[::-1]
        S0 = R[start] * np.exp(shift)                      # (m,) or (m, S)
        if np.ndim(theta) == 1:
            ZR = np.cumsum((Z * r[:, None])[::-1], axis=0)[::-1]
            S1 = ZR[start] * np.exp(shift)
            return u, d.astype(float), S0, S1
        return u, d.astype(float), S0.T, None

    # ------------------------------------------------------------ predictions
    def _maps(self, xc: np.ndarray) -> np.ndarray:
        d = self.design
        T = d.n_treatments
        P = len(self._names)
        M = np.zeros((xc.size, T, P))
        for k in range(1, T):
            M[:, k, k - 1] = 1.0
        if d.has_risk:
            M[:, :, T - 1] += xc[:, None]
            for k in range(1, T):
                M[:, k, T - 1 + k] += xc
        return M

    def predict(self, risk=None, *, horizon: float | None = None, tau: float | None = None,
                baseline: str = "pooled", point: str = "mean", extrapolate: bool = False,
                **_ignored) -> pd.DataFrame:
        """Absolute predictions under every treatment.

        Parameters
        ----------
        risk : array of risk scores, DataFrame or None
            Stage-1 risk scores (linear predictor, log relative hazard) at which to
            predict, or a patient DataFrame with the fitted ``risk`` column.
            ``None``: 41 points spanning the observed scores.
        horizon : float, optional
            Horizon ``t*`` of survival predictions (default :attr:`horizon`).
        tau : float, optional
            Truncation time of the restricted mean survival time (default ``horizon``).
        baseline : "pooled" or a trial label
            Baseline cumulative hazard: Breslow over all trials with every patient's
            risk centred at the prediction centre (``"pooled"``), or one trial's own
            stratum baseline (its patients centred at the trial's mean risk).
            With ``survival_model="weibull"``: the Weibull baseline of the average trial
            (mean of the trial log-time intercepts, score centred at the mean of the
            trial centres) or of one trial.
        point : {"mean"}
            Bayesian point predictions are posterior means (ML: plug-in).
        extrapolate : bool
            Weibull model only: allow a horizon / tau beyond a trial's last follow-up
            (the parametric baseline is extrapolated); refused for the Cox model.

        Returns
        -------
        DataFrame
            One row per score (or patient) and treatment: ``risk_score``,
            ``treatment``, ``baseline_risk`` (= 1 - S(t*) under the reference),
            ``surv`` = S(t* | R, treatment), ``surv_diff`` = S_treatment - S_reference
            (positive = better survival), ``rmst``, ``rmst_diff`` (same sign), ``hr``
            vs the reference, each with ``_lower``/``_upper``, ``p_best`` (probability
            of the lowest hazard, i.e. of the highest survival at every time) and
            ``recommended``.  ``attrs`` hold ``horizon``, ``tau`` and ``baseline``.
        """
        check_is_fitted(self, "_theta_draws")
        d = self.design
        horizon = float(self.horizon if horizon is None else horizon)
        tau = float(horizon if tau is None else tau)
        rows, centre = self._baseline_rows(baseline)
        weibull = getattr(self.model, "survival_model", "cox") == "weibull"
        if extrapolate and not weibull:
            raise ModelSpecificationError(
                "extrapolate=True is for the parametric (survival_model='weibull') model; "
                "the Cox baseline hazard is not defined beyond the follow-up")
        if not (horizon > 0 and tau > 0):
            raise ModelSpecificationError(f"horizon and tau must be positive (got {horizon}, "
                                          f"{tau})")
        # the horizon must be within the follow-up of every trial whose baseline is used
        check_horizon(self._y.subset(rows), max(horizon, tau),
                      groups=np.asarray(d.trials)[d.trial_idx[rows]], group_name="trial",
                      extrapolate=extrapolate)
        if weibull and baseline == "pooled" and d.has_risk:
            centre = float(np.mean(d.centre_trial))
        index_name = "risk_score"
        rowlab = None
        if risk is None:
            if d.has_risk:
                lo, hi = float(d.risk_logit.min()), float(d.risk_logit.max())
                r = np.linspace(lo, hi, 41)
            else:
                r = np.zeros(1)
        elif isinstance(risk, pd.DataFrame):
            col = self.columns["risk"]
            if col is None:
                raise ModelSpecificationError("the model has no risk term: predict on a grid")
            if col not in risk.columns:
                raise ColumnNotFoundError(
                    f"risk column {col!r} (used in fit) is not in the prediction data")
            r = pd.to_numeric(risk[col], errors="coerce").to_numpy(float)
            rowlab = np.asarray(risk.index)
            index_name = "row"
        else:
            r = np.asarray(risk, dtype=float).ravel()
        if r.size == 0 or not np.all(np.isfinite(r)):
            raise ModelSpecificationError("risk scores must be finite numbers")
        xc = (r - centre) if d.has_risk else np.zeros_like(r)
        M = self._maps(xc)
        if weibull and self.engine != "ml":
            out = self._predict_weibull_bayes(M, baseline, horizon, tau)
        elif weibull:
            out = self._predict_weibull(M, baseline, horizon, tau)
        elif self.engine == "ml":
            out = self._predict_ml(M, rows, centre, horizon, tau)
        else:
            out = self._predict_bayes(M, rows, centre, horizon, tau)
        T = d.n_treatments
        G = r.size
        frame = pd.DataFrame({"risk_score": np.repeat(r, T),
                              "treatment": np.tile(self.treatments, G)})
        if rowlab is not None:
            frame.insert(0, "row", np.repeat(rowlab, T))
        frame["baseline_risk"] = np.repeat(1.0 - out["surv"][:, 0], T)
        for k, v in out.items():
            frame[k] = v.reshape(-1)
        frame.attrs.update(index=index_name, horizon=horizon, tau=tau, baseline=baseline)
        return frame

    def _pbest(self, M: np.ndarray) -> np.ndarray:
        th = self._theta_draws
        G, T = M.shape[:2]
        sign = 1.0 if self.model.higher_is_better else -1.0
        pb = np.empty((G, T))
        chunk = max(1, 2_000_000 // (T * th.shape[0]))
        for s in range(0, G, chunk):
            lp = np.einsum("gtp,sp->sgt", M[s:s + chunk], th)
            # lower hazard = higher survival at every time; higher_is_better flips it
            best = np.argmax(sign * lp, axis=2)
            pb[s:s + chunk] = np.stack([(best == k).mean(0) for k in range(T)], axis=1)
        return pb

    def _predict_ml(self, M, rows, centre, horizon, tau) -> dict:
        z = stats.norm.ppf(0.5 + self.level / 2)
        theta, V = self._ml.coef, self._ml.cov
        upto = max(horizon, tau)
        u, dd, S0, S1 = self._breslow(rows, centre, theta, upto)
        dH = dd / S0
        v = dd / S0 ** 2
        A = np.cumsum((dd / S0 ** 2)[:, None] * S1, axis=0)        # (m, P): -dH_b/dtheta
        Hc, Vc = np.cumsum(dH), np.cumsum(v)
        lp = M @ theta                                               # (G, T)
        elp = np.exp(lp)
        h = np.searchsorted(u, horizon, side="right") - 1
        Hb = Hc[h] if h >= 0 else 0.0
        Ab = A[h] if h >= 0 else np.zeros(M.shape[2])
        Vb = Vc[h] if h >= 0 else 0.0
        H = Hb * elp
        S = np.exp(-H)
        res = {}
        # survival: CI on the log cumulative hazard scale (stays in [0, 1])
        gH = Hb * M - Ab                                             # dH/dtheta / e^lp
        varH = elp ** 2 * (np.einsum("gtp,pq,gtq->gt", gH, V, gH) + Vb)
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(H > 0, np.sqrt(np.maximum(varH, 0)) / H, 0.0)
        res["surv"] = S
        res["surv_lower"] = np.exp(-H * np.exp(z * se_log))
        res["surv_upper"] = np.exp(-H * np.exp(-z * se_log))
        res["surv_se"] = S * np.sqrt(np.maximum(varH, 0))
        gS = -(S * elp)[:, :, None] * gH                             # dS/dtheta
        gD = gS - gS[:, :1]
        cB = -(S * elp)                                              # dS/dH_b
        cD = cB - cB[:, :1]
        var = np.einsum("gtp,pq,gtq->gt", gD, V, gD) + cD ** 2 * Vb
        self._interval(res, "surv_diff", S - S[:, :1], var, z)
        # RMST: step function S at the points 0, u_1, ..., u_m (<= tau), up to tau
        keep = u <= tau
        p = np.r_[0.0, u[keep]]
        w = np.diff(np.r_[p, tau])
        Hp = np.r_[0.0, Hc[keep]]
        Ap = np.vstack([np.zeros((1, M.shape[2])), A[keep]])
        Sp = np.exp(-Hp[None, None, :] * elp[:, :, None])            # (G, T, m+1)
        wS = w * Sp
        rmst = wS.sum(axis=2)
        a = (wS * Hp).sum(axis=2)
        Bm = np.einsum("gti,ip->gtp", wS, Ap)
        gR = -elp[:, :, None] * (a[:, :, None] * M - Bm)            # dRMST/dtheta
        c = -elp[:, :, None] * np.cumsum(wS[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]
        vk = v[keep]
        var_r = np.einsum("gtp,pq,gtq->gt", gR, V, gR) + (c ** 2 * vk).sum(axis=2)
        self._interval(res, "rmst", rmst, var_r, z)
        gRD = gR - gR[:, :1]
        cd = c - c[:, :1]
        var_rd = np.einsum("gtp,pq,gtq->gt", gRD, V, gRD) + (cd ** 2 * vk).sum(axis=2)
        self._interval(res, "rmst_diff", rmst - rmst[:, :1], var_rd, z)
        Dm = M - M[:, :1]
        lhr = Dm @ theta
        se = np.sqrt(np.maximum(np.einsum("gtp,pq,gtq->gt", Dm, V, Dm), 0))
        res["hr"], res["hr_lower"], res["hr_upper"] = (np.exp(lhr), np.exp(lhr - z * se),
                                                       np.exp(lhr + z * se))
        return self._finish(res, M)

    def _predict_weibull(self, M, baseline, horizon, tau) -> dict:
        """Weibull PH predictions; delta method by central differences of the closed
        forms in (mu, AFT coefficients, log scale) with survreg's vcov."""
        from ..survival import weibull_rmst, weibull_survival

        f = self._ml
        J = self.design.n_trials
        Mu = self._baseline_weights(baseline)

        def outputs(phi):
            aft, ls = phi[:-1], phi[-1]
            mu = Mu @ aft[:J] + M @ aft[J:]                                # (G, T)
            sc = np.exp(ls)
            S = weibull_survival(horizon, mu, sc)
            R = weibull_rmst(tau, mu, sc)
            return np.stack([S, S - S[:, :1], R, R - R[:, :1]])          # (4, G, T)

        phi = np.r_[f.aft, np.log(f.scale)]
        base = outputs(phi)
        Jac = np.empty((*base.shape, phi.size))
        for k in range(phi.size):              # loop over the (few) parameters
            h = 1e-6 * max(1.0, abs(phi[k]))
            e = np.zeros(phi.size)
            e[k] = h
            Jac[..., k] = (outputs(phi + e) - outputs(phi - e)) / (2 * h)
        var = np.einsum("...p,pq,...q->...", Jac, f.aft_vcov, Jac)
        z = stats.norm.ppf(0.5 + self.level / 2)
        res = {}
        S = base[0]
        H = -np.log(np.clip(S, 1e-300, 1.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            se_log = np.where(H > 0, np.sqrt(np.maximum(var[0], 0)) / (S * H), 0.0)
        res["surv"], res["surv_se"] = S, np.sqrt(np.maximum(var[0], 0))
        res["surv_lower"] = np.exp(-H * np.exp(z * se_log))
        res["surv_upper"] = np.exp(-H * np.exp(-z * se_log))
        self._interval(res, "surv_diff", base[1], var[1], z)
        self._interval(res, "rmst", base[2], var[2], z)
        self._interval(res, "rmst_diff", base[3], var[3], z)
        theta, V = f.coef, f.cov
        Dm = M - M[:, :1]
        lhr = Dm @ theta
        se = np.sqrt(np.maximum(np.einsum("gtp,pq,gtq->gt", Dm, V, Dm), 0))
        res["hr"], res["hr_lower"], res["hr_upper"] = (np.exp(lhr), np.exp(lhr - z * se),
                                                       np.exp(lhr + z * se))
        return self._finish(res, M)

    def _predict_weibull_bayes(self, M, baseline, horizon, tau) -> dict:
        """Bayesian Weibull PH predictions: closed-form S(horizon) and RMST(tau) for every
        posterior draw (baseline: the mean log scale over trials, or one trial's), then
        posterior means, sds and equal-tailed intervals."""
        from ..survival import weibull_rmst, weibull_survival

        d = self.design
        s = self._bayes.samples
        loglam = s["log_lambda"].reshape(-1, d.n_trials)
        rho = s["shape"].reshape(-1)
        base = (loglam.mean(axis=1) if baseline == "pooled"
                else loglam[:, d.trials.index(baseline)])
        th = self._theta_draws
        lp = np.einsum("gtp,sp->sgt", M, th)                               # (S, G, T)
        mu = -(base[:, None, None] + lp) / rho[:, None, None]              # log-time lp
        sc = (1.0 / rho)[:, None, None]
        Sh = weibull_survival(horizon, mu, sc)
        rm = weibull_rmst(tau, mu, sc)
        draws = {"surv": Sh, "surv_diff": Sh - Sh[:, :, :1], "rmst": rm,
                 "rmst_diff": rm - rm[:, :, :1], "hr": np.exp(lp - lp[:, :, :1])}
        a = (1 - self.level) / 2
        res = {}
        for k, arr in draws.items():
            res[k] = arr.mean(0)
            res[k + "_se"] = arr.std(0, ddof=1)
            q = np.quantile(arr, [a, 1 - a], axis=0)
            res[k + "_lower"], res[k + "_upper"] = q[0], q[1]
        return self._finish(res, M)

    @staticmethod
    def _interval(res, key, est, var, z):
        se = np.sqrt(np.maximum(var, 0))
        res[key], res[key + "_lower"], res[key + "_upper"] = est, est - z * se, est + z * se
        res[key + "_se"] = se

    def _finish(self, res, M) -> dict:
        res["p_best"] = self._pbest(M)
        G, T = M.shape[:2]
        rec = np.zeros((G, T), dtype=bool)
        best = (np.argmin(res["surv"], axis=1) if self.model.higher_is_better
                else np.argmax(res["surv"], axis=1))
        rec[np.arange(G), best] = True
        res["recommended"] = rec
        order = ["surv", "surv_lower", "surv_upper", "surv_se", "surv_diff", "surv_diff_lower",
                 "surv_diff_upper", "surv_diff_se", "rmst", "rmst_lower", "rmst_upper",
                 "rmst_se", "rmst_diff", "rmst_diff_lower", "rmst_diff_upper", "rmst_diff_se",
                 "hr", "hr_lower", "hr_upper", "p_best", "recommended"]
        return {k: res[k] for k in order}

    def _cox_bayes_baseline(self, rows, centre, horizon, tau):
        """Per posterior draw: the baseline cumulative hazard at the horizon ``Hb`` (S,),
        the RMST step grid widths ``w`` (m+1,) and its cumulative hazard ``Hp`` (S, m+1)
        (Breslow increments redrawn from their gamma posterior, seeded)."""
        th = self._theta_draws
        Sd = th.shape[0]
        upto = max(horizon, tau)
        u, dd, S0, _ = self._breslow(rows, centre, th, upto)        # S0 (S, m)
        rng = np.random.default_rng([self.seed, 5])
        dH = rng.gamma(dd[None, :], 1.0, size=S0.shape) / S0         # (S, m)
        Hc = np.cumsum(dH, axis=1)
        h = np.searchsorted(u, horizon, side="right") - 1
        Hb = Hc[:, h] if h >= 0 else np.zeros(Sd)
        keep = u <= tau
        p = np.r_[0.0, u[keep]]
        w = np.diff(np.r_[p, tau])
        Hp = np.hstack([np.zeros((Sd, 1)), Hc[:, keep]])            # (S, m+1)
        return Hb, w, Hp

    def _predict_bayes(self, M, rows, centre, horizon, tau) -> dict:
        th = self._theta_draws
        Sd = th.shape[0]
        Hb, w, Hp = self._cox_bayes_baseline(rows, centre, horizon, tau)
        G, T = M.shape[:2]
        a = (1 - self.level) / 2
        keys = ("surv", "surv_diff", "rmst", "rmst_diff", "hr")
        res = {}
        for k in keys:
            for suf in ("", "_lower", "_upper", "_se"):
                res[k + suf] = np.empty((G, T))
        chunk = max(1, 3_000_000 // (Sd * T * max(1, Hp.shape[1])))
        for s in range(0, G, chunk):
            sl = slice(s, min(G, s + chunk))
            lp = np.einsum("gtp,sp->sgt", M[sl], th)                   # (S, g, T)
            elp = np.exp(lp)
            Sh = np.exp(-Hb[:, None, None] * elp)
            rm = np.einsum("i,sgti->sgt", w, np.exp(-Hp[:, None, None, :] * elp[..., None]))
            draws = {"surv": Sh, "surv_diff": Sh - Sh[:, :, :1], "rmst": rm,
                     "rmst_diff": rm - rm[:, :, :1], "hr": np.exp(lp - lp[:, :, :1])}
            for k, arr in draws.items():
                res[k][sl] = arr.mean(0)
                res[k + "_se"][sl] = arr.std(0, ddof=1)
                q = np.quantile(arr, [a, 1 - a], axis=0)
                res[k + "_lower"][sl], res[k + "_upper"][sl] = q[0], q[1]
        return self._finish(res, M)

    def recommend(self, risk=None, **kw) -> pd.DataFrame:
        """One row per score / patient: the recommended treatment (highest predicted
        survival at the horizon), its survival and probability of being best."""
        pr = self.predict(risk, **kw)
        key = "row" if "row" in pr.columns else "risk_score"
        return pr.loc[pr["recommended"], [key, "treatment", "surv", "p_best"]].reset_index(
            drop=True)

    # ------------------------------------------------------------------ protocol
    def summary(self) -> Summary:
        d = self.design
        info = {
            "outcome": f"time to event ({self.columns['time']}, {self.columns['event']})",
            "engine": ("ml (Weibull PH, baseline per trial, common shape)"
                       if getattr(self.model, "survival_model", "cox") == "weibull" else
                       "ml (stratified Cox, " + getattr(self.model, "ties", "efron")
                       + " ties)") if self.engine == "ml" else
                      (f"bayes ({'Weibull PH, scale per trial, common shape' if getattr(self.model, 'survival_model', 'cox') == 'weibull' else 'piecewise-constant baseline per trial'}, "
                       f"NUTS, {self.model.chains} chains x {self.model.draws} draws)"),
            "patients": d.n, "events": int(d.y.sum()), "trials": d.n_trials,
            "treatments": ", ".join(self.treatments), "reference": self.reference,
            "default horizon": self.horizon,
        }
        if d.has_risk:
            info["risk covariate"] = (f"{self.columns['risk']} (linear predictor), centred per "
                                      f"{self.model.centring}")
            info["prediction centre"] = float(d.centre_pred)
        if self.engine == "ml":
            info["log partial likelihood" if self.weibull_params is None
                 else "log-likelihood"] = float(self.loglik)
        else:
            info["max R-hat"] = self.diagnostics.get("max_rhat")
            info["min bulk ESS"] = self.diagnostics.get("min_ess_bulk")
            info["divergences"] = self.diagnostics.get("divergences")
        notes = ["d, gamma: log hazard ratio and risk interaction vs the reference; g0: "
                 "prognostic log-HR slope under the reference; baseline hazards stratified "
                 "by trial."]
        if self.engine == "bayes":
            notes.append("se = posterior sd; lower/upper = equal-tailed credible interval.")
        tables = {"parameters": self.params}
        if self.weibull_params is not None:
            tables["Weibull (survreg) scale" if self.engine == "ml" else
                   "Weibull PH baseline (log lambda per trial, log shape)"] = self.weibull_params
        return Summary(title="Risk-based IPD network meta-regression (time to event)",
                       tables=tables, info=info, notes=notes)

    def plot(self, kind: str = "survival", ax=None, *, baseline: str = "pooled",
             data: pd.DataFrame | None = None, horizon: float | None = None,
             tau: float | None = None, **kw):
        """Plot predictions against the risk score.

        ``kind="survival"``: S(t*) per treatment with bands; ``"benefit"``:
        S_treatment - S_reference at t*; ``"rmst"``: RMST difference up to tau;
        ``"hr"``: hazard ratio vs the reference; ``"which"``: per-patient
        probability of each treatment being best; ``"curves"``: survival curves
        over time at the prediction centre.  Returns the Axes.
        """
        from ..plots import color_for, get_ax
        from ._plots import _plot_which

        kinds = ("survival", "benefit", "rmst", "hr", "which", "curves")
        if kind not in kinds:
            raise ModelSpecificationError(f"kind must be one of {kinds}, not {kind!r}")
        ax = get_ax(ax)
        if kind == "which":
            return _plot_which(self, ax, baseline=baseline, data=data)
        if kind == "curves":
            return self._plot_curves(ax, baseline, kw.get("risk"))
        pr = self.predict(None, horizon=horizon, tau=tau, baseline=baseline)
        key = {"survival": "surv", "benefit": "surv_diff", "rmst": "rmst_diff", "hr": "hr"}[kind]
        for k, t in enumerate(self.treatments):
            if kind != "survival" and t == self.reference:
                continue
            sub = pr[pr["treatment"] == t]
            c = color_for(k)
            ax.plot(sub["risk_score"], sub[key], color=c, lw=1.8, label=t)
            ax.fill_between(sub["risk_score"], sub[key + "_lower"], sub[key + "_upper"],
                            color=c, alpha=0.15, lw=0)
        h, ta = pr.attrs["horizon"], pr.attrs["tau"]
        if kind == "survival":
            ax.set_ylabel(f"Predicted survival at t* = {h:g}")
            ax.set_ylim(0, 1)
        elif kind == "benefit":
            ax.axhline(0, color="0.4", lw=0.8, ls=":")
            ax.set_ylabel(f"Survival difference at t* = {h:g}\n(treatment - {self.reference})")
        elif kind == "rmst":
            ax.axhline(0, color="0.4", lw=0.8, ls=":")
            ax.set_ylabel(f"RMST difference up to {ta:g}\n(treatment - {self.reference})")
        else:
            ax.set_yscale("log")
            ax.axhline(1, color="0.4", lw=0.8, ls=":")
            ax.set_ylabel(f"Hazard ratio vs {self.reference}")
        ax.set_xlabel("Baseline risk score (stage-1 linear predictor)")
        band = "credible" if self.engine == "bayes" else "confidence"
        ax.set_title(f"{round(self.level * 100)}% {band} bands; baseline: {baseline}",
                     fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        return ax

    def _plot_curves(self, ax, baseline, risk):
        from ..plots import color_for

        d = self.design
        rows, centre = self._baseline_rows(baseline)
        r = centre if risk is None else float(risk)
        last = min(float(d.time[rows & (d.trial_idx == j)].max())
                   for j in np.unique(d.trial_idx[rows]))
        grid = np.linspace(0, last, 60)[1:]
        S = np.array([self.predict([r], horizon=float(t), tau=float(t),
                                   baseline=baseline)["surv"].to_numpy() for t in grid])
        for k, t in enumerate(self.treatments):
            ax.step(np.r_[0, grid], np.r_[1, S[:, k]], where="post", color=color_for(k),
                    label=t)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("time")
        ax.set_ylabel("Predicted survival")
        ax.set_title(f"At risk score {r:.2f}; baseline: {baseline}", fontsize=9)
        ax.legend(frameon=False, fontsize=8)
        return ax

    def observed_risk_range(self) -> tuple[float, float]:
        """Min and max risk score (linear predictor) among the fitted patients."""
        r = self.design.risk_logit
        if r is None:
            raise ModelSpecificationError("the model has no risk term")
        return float(r.min()), float(r.max())

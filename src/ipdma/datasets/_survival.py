"""Time-to-event trials with known individualised treatment effects (Weibull hazards)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD

__all__ = ["SURVIVAL_BETA", "SURVIVAL_GAMMA", "SURVIVAL_SCENARIOS", "make_survival_trials"]

#: Prognostic (main) effects of x1..x4 on the log hazard.
SURVIVAL_BETA: tuple[float, ...] = (0.5, 0.4, -0.3, 0.6)
#: Effect modifiers of x1..x4 on the log hazard ratio (x4 modifies nothing).
SURVIVAL_GAMMA: tuple[float, ...] = (-0.35, 0.30, 0.20, 0.0)
_DELTA = -0.4
_LOG_LAMBDA = np.log(0.22)
_SD_LOG_LAMBDA = 0.3
_RHO_RANGE = (1.0, 1.5)

#: Scenarios: between-trial variance of the treatment effect and strength of effect
#: modification (multiplier of :data:`SURVIVAL_GAMMA`).
SURVIVAL_SCENARIOS: pd.DataFrame = pd.DataFrame(
    {"tau2": [0.04, 0.2, 0.04, 0.2], "gamma_multiplier": [1.0, 1.0, 2.0, 2.0]},
    index=pd.Index([1, 2, 3, 4], name="scenario"))


def _draw_x(rng: np.random.Generator, n: int) -> np.ndarray:
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.5, n).astype(float)
    x3 = 0.3 * x1 + rng.normal(0.0, 0.95, n)
    x4 = rng.binomial(1, 0.3, n).astype(float)
    return np.column_stack([x1, x2, x3, x4])


def _truth(lam, rho, eta, horizon, tau):
    """S(horizon) and RMST(tau) of Weibull PH hazards ``lam rho t^(rho-1) e^eta``."""
    from scipy import special

    c = lam * np.exp(eta)
    S = np.exp(-c * horizon ** rho)
    a = 1.0 / rho
    rmst = c ** (-a) * special.gamma(1.0 + a) * special.gammainc(a, c * tau ** rho)
    return S, rmst


def make_survival_trials(
    scenario: int = 1,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    n_trials: int = 8,
    n_range: tuple[int, int] = (200, 600),
    n_test_trials: int = 2,
    n_test_per_trial: int = 500,
    horizon: float = 2.0,
    tau: float = 3.0,
    round_to: float | None = 0.1,
    scale: str = "survdiff",
) -> SimulatedIPD:
    r"""Simulate randomised trials with a time-to-event outcome and known ITEs.

    Trial k has Weibull proportional hazards with its own baseline:

    .. math::

        h_k(t \mid x, z) = \lambda_k \rho_k t^{\rho_k - 1}
            \exp\{x'\beta + z(\delta + h_k + m\,x'\gamma)\},

    :math:`\log\lambda_k \sim N(\log 0.22, 0.3^2)`, :math:`\rho_k \sim U(1, 1.5)`,
    :math:`h_k \sim N(0, \tau^2)`, β = :data:`SURVIVAL_BETA`, δ = −0.4, γ =
    :data:`SURVIVAL_GAMMA` (x4 modifies nothing) and m the scenario's
    ``gamma_multiplier``.  Covariates: x1 ~ N(0, 1), x2 ~ Bernoulli(0.5), x3 = 0.3 x1 +
    N(0, 0.95²), x4 ~ Bernoulli(0.3); treatment z ~ Bernoulli(0.5); trial sizes
    round(U(``n_range``)).  Censoring: min(U(2, 5), Exp(rate 0.07)) (administrative and
    drop-out); observed times rounded up to ``round_to`` (heavy ties; None: exact).
    This is the design of the ``ite_twostage_survival`` R reference (which draws with
    R's generator, so its numbers differ).

    The test set holds ``n_test_trials`` *new* trials (their own λ, ρ and h) with the
    true ITEs on every scale: S(``horizon``) and RMST(``tau``) under each arm (closed
    forms), their differences and the conditional log hazard ratio.

    Parameters
    ----------
    scenario : int, default 1
        1..4 (:data:`SURVIVAL_SCENARIOS`): τ² ∈ {0.04, 0.2} × m ∈ {1, 2}.
    random_state : None, int, SeedSequence or Generator
    n_trials, n_range, n_test_trials, n_test_per_trial : sizes
    horizon, tau : float, default 2 and 3
        Time points of the true survival-probability and RMST ITEs.
    round_to : float or None, default 0.1
    scale : {"survdiff", "rmstdiff", "loghr"}, default "survdiff"
        Which true ITE is ``ite_true`` in ``truth`` and ``test`` (all are given).

    Returns
    -------
    SimulatedIPD
        ``data``: ``trial``, ``id``, ``treatment`` (0/1), ``x1``..``x4``, ``time``,
        ``event`` (1 = event). ``truth``/``test``: ``S0``, ``S1`` (S(horizon) per arm),
        ``RMST0``, ``RMST1``, ``ite_survdiff`` (= S1 − S0), ``ite_rmstdiff``,
        ``loghr_true``, ``ite_true``. A positive survival/RMST difference is a benefit.

    Examples
    --------
    >>> from ipdma.datasets import make_survival_trials
    >>> sim = make_survival_trials(random_state=1, n_test_per_trial=50)
    >>> ipd = sim.ipd()
    >>> ipd.outcome_type, len(ipd.trials), sim.test.shape[0]
    ('survival', 8, 100)
    >>> bool(((sim.test.ite_survdiff > -1) & (sim.test.ite_survdiff < 1)).all())
    True
    """
    if isinstance(scenario, bool) or int(scenario) != scenario or \
            int(scenario) not in SURVIVAL_SCENARIOS.index:
        raise ModelSpecificationError(f"scenario must be an integer in 1..4, got {scenario!r}")
    scenario = int(scenario)
    for name, value, minimum in (("n_trials", n_trials, 1), ("n_test_trials", n_test_trials, 0),
                                 ("n_test_per_trial", n_test_per_trial, 1)):
        if isinstance(value, bool) or int(value) != value or value < minimum:
            raise ModelSpecificationError(
                f"{name} must be an integer >= {minimum}, got {value!r}")
    lo, hi = n_range
    if not (0 < lo <= hi):
        raise ModelSpecificationError(f"n_range must be (low, high) with 0 < low <= high, "
                                      f"got {n_range!r}")
    for name, v in (("horizon", horizon), ("tau", tau)):
        if not v > 0:
            raise ModelSpecificationError(f"{name} must be > 0, got {v!r}")
    if scale not in ("survdiff", "rmstdiff", "loghr"):
        raise ModelSpecificationError(
            f"scale={scale!r}: choose 'survdiff', 'rmstdiff' or 'loghr'")
    setting = SURVIVAL_SCENARIOS.loc[scenario]
    tau2 = float(setting["tau2"])
    mult = float(setting["gamma_multiplier"])
    beta = np.array(SURVIVAL_BETA)
    gamma = mult * np.array(SURVIVAL_GAMMA)
    rng = check_random_state(random_state)

    def trial_params(k):
        lam = np.exp(_LOG_LAMBDA + rng.normal(0.0, _SD_LOG_LAMBDA, k))
        rho = rng.uniform(*_RHO_RANGE, k)
        h = rng.normal(0.0, np.sqrt(tau2), k)
        return lam, rho, h

    def block(sizes, lam, rho, h, first_trial, first_id):
        n = int(sizes.sum())
        idx = np.repeat(np.arange(len(sizes)), sizes)
        x = _draw_x(rng, n)
        z = rng.binomial(1, 0.5, n)
        lhr = _DELTA + h[idx] + x @ gamma
        eta0 = x @ beta
        T = (rng.exponential(size=n) / (lam[idx] * np.exp(eta0 + z * lhr))) ** (1.0 / rho[idx])
        C = np.minimum(rng.uniform(2.0, 5.0, n), rng.exponential(1 / 0.07, n))
        obs = np.minimum(T, C)
        if round_to is not None:
            obs = np.maximum(np.ceil(obs / round_to - 1e-9) * round_to, round_to)
            obs = np.round(obs, 10)
        event = (T <= C).astype(int)
        frame = pd.DataFrame({"trial": idx + first_trial,
                              "id": np.arange(first_id, first_id + n), "treatment": z})
        frame = pd.concat([frame, pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"]),
                           pd.DataFrame({"time": obs, "event": event})], axis=1)
        S0, R0 = _truth(lam[idx], rho[idx], eta0, horizon, tau)
        S1, R1 = _truth(lam[idx], rho[idx], eta0 + lhr, horizon, tau)
        truth = pd.DataFrame({"S0": S0, "S1": S1, "RMST0": R0, "RMST1": R1,
                              "ite_survdiff": S1 - S0, "ite_rmstdiff": R1 - R0,
                              "loghr_true": lhr})
        truth["ite_true"] = truth[{"survdiff": "ite_survdiff", "rmstdiff": "ite_rmstdiff",
                                   "loghr": "loghr_true"}[scale]]
        return frame, truth

    sizes = np.round(rng.uniform(lo, hi, n_trials)).astype(int)
    lam, rho, h = trial_params(n_trials)
    data, tr = block(sizes, lam, rho, h, 1, 1)
    truth = pd.concat([data[["trial", "id"]], tr], axis=1)
    lam_n, rho_n, h_n = trial_params(n_test_trials)
    test, tt = block(np.full(n_test_trials, n_test_per_trial), lam_n, rho_n, h_n,
                     n_trials + 1, len(data) + 1)
    test = pd.concat([test, tt], axis=1)
    covariates = ["x1", "x2", "x3", "x4"]
    trials = range(1, n_trials + 1)
    new = range(n_trials + 1, n_trials + n_test_trials + 1)
    params = {"scenario": scenario, "outcome": "survival", "tau2": tau2,
              "gamma_multiplier": mult, "delta": _DELTA,
              "beta": dict(zip(covariates, beta.tolist())),
              "gamma": dict(zip(covariates, gamma.tolist())),
              "horizon": float(horizon), "tau": float(tau), "scale": scale,
              "n_per_trial": dict(zip(trials, sizes.tolist())),
              "lambda": dict(zip(trials, lam.tolist())), "rho": dict(zip(trials, rho.tolist())),
              "h": dict(zip(trials, h.tolist())),
              "lambda_new": dict(zip(new, lam_n.tolist())),
              "rho_new": dict(zip(new, rho_n.tolist())), "h_new": dict(zip(new, h_n.tolist())),
              "censoring": "min(U(2, 5), Exp(rate 0.07))", "round_to": round_to}
    description = (f"Time-to-event trials (Weibull PH, trial-specific baselines), scenario "
                   f"{scenario}: tau2 = {tau2:g}, effect modification x{mult:g}; true ITE = "
                   f"{scale} (horizon {horizon:g}, tau {tau:g}); new trials in `.test`.")
    return SimulatedIPD(
        name="survival", data=data, truth=truth, params=params,
        columns={"trial": "trial", "treatment": "treatment", "outcome": "event",
                 "time": "time", "covariates": covariates, "patient_id": "id"},
        description=description, ipd_options={}, extra={"test": test})

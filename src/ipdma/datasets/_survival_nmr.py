"""Time-to-event treatment network for risk-based IPD network meta-regression."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD, _largest_remainder

__all__ = ["SURVIVAL_NMR_COVARIATES", "make_survival_network"]

#: Covariates of :func:`make_survival_network`, in column order.
SURVIVAL_NMR_COVARIATES: tuple[str, ...] = ("x1", "x2", "x3", "x4")

# trials and their arm proportions: a placebo-anchored network with one 3-arm trial and
# one trial without placebo (B vs C), so the network reference is not in every trial
_DESIGN: dict[str, dict[str, int]] = {
    "T1": {"PBO": 1, "A": 1},
    "T2": {"PBO": 1, "A": 1, "B": 1},
    "T3": {"PBO": 1, "C": 2},
    "T4": {"B": 1, "C": 1},
}
_TREATMENTS = ("PBO", "A", "B", "C")
_BETA = np.array([0.6, 0.4, -0.3, 0.5])       # prognostic log-hazard ratios of x1..x4
_D_DEFAULT = {"A": -0.40, "B": -0.25, "C": -0.55}   # log HR vs PBO at the centre
_G_DEFAULT = {"A": -0.25, "B": 0.0, "C": 0.20}      # log HR x (lp - centre) interactions


def make_survival_network(
    n_patients: int = 1600,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    treatment_effects: Mapping[str, float] | None = None,
    risk_interactions: Mapping[str, float] | None = None,
    shape: float = 1.3,
    followup: tuple[float, float] = (2.0, 4.0),
    dropout_rate: float = 0.05,
) -> SimulatedIPD:
    """Simulate a time-to-event treatment network with risk-dependent effects.

    Four trials (T1: A vs PBO; T2: A, B, PBO; T3: C vs PBO, 2:1; T4: B vs C),
    covariates ``x1 ~ N(0, 1)``, ``x2 ~ Bernoulli(0.4)``, ``x3 = 0.3 x1 +
    N(0, 0.95^2)``, ``x4 ~ U(-1, 1)``; prognostic score ``lp = x'beta`` with
    ``beta = (0.6, 0.4, -0.3, 0.5)``.  Weibull proportional hazards with a
    trial-specific scale::

        h(t) = lambda_j rho t^(rho - 1) exp(lp + d_t + gamma_t (lp - c))

    ``lambda_j = exp(log 0.25 + N(0, 0.3^2))``, common shape ``rho``, ``c`` the
    mean of ``lp`` over all patients, ``d_PBO = gamma_PBO = 0``.  Censoring:
    administrative at ``U(followup)`` and drop-out at rate ``dropout_rate``;
    times rounded to 0.01 (ties).

    Parameters
    ----------
    n_patients : int
        Total number of patients (split over the arms in the design proportions).
    random_state : None, int, SeedSequence or Generator
    treatment_effects, risk_interactions : mapping, optional
        ``d_t`` and ``gamma_t`` for A, B and C (log hazard ratios vs PBO).
    shape : float
        Weibull shape ``rho``.
    followup : (float, float)
        Range of the uniform administrative censoring time.
    dropout_rate : float
        Exponential drop-out rate.

    Returns
    -------
    SimulatedIPD
        ``data``: ``trial``, ``treatment``, ``x1..x4``, ``time``, ``event``,
        ``patient_id``; ``truth``: ``true_lp`` and the true survival at time 1 and
        2 under every treatment (``S1_<trt>``, ``S2_<trt>``); ``params``: the
        true values.  ``sim.ipd()`` builds the time-to-event IPD.

    Examples
    --------
    >>> from ipdma.datasets import make_survival_network
    >>> sim = make_survival_network(400, random_state=1)
    >>> sim.data.columns.tolist()
    ['patient_id', 'trial', 'treatment', 'x1', 'x2', 'x3', 'x4', 'time', 'event']
    >>> sorted(sim.data["treatment"].unique())
    ['A', 'B', 'C', 'PBO']
    >>> ipd = sim.ipd()
    >>> ipd.outcome_type, ipd.time_col
    ('survival', 'time')
    """
    rng = check_random_state(random_state)
    if int(n_patients) != n_patients or n_patients < 40:
        raise ModelSpecificationError(f"n_patients must be an integer >= 40, not {n_patients!r}")
    if not shape > 0 or not dropout_rate >= 0 or not 0 < followup[0] <= followup[1]:
        raise ModelSpecificationError("shape must be > 0, dropout_rate >= 0 and followup a "
                                      "range (low, high) with 0 < low <= high")
    d = dict(_D_DEFAULT, **(treatment_effects or {}))
    g = dict(_G_DEFAULT, **(risk_interactions or {}))
    unknown = sorted((set(d) | set(g)) - set(_TREATMENTS[1:]))
    if unknown:
        raise ModelSpecificationError(f"unknown treatments {unknown}; use A, B, C")
    d_all = {"PBO": 0.0, **d}
    g_all = {"PBO": 0.0, **g}
    keys = [(s, t) for s, arms in _DESIGN.items() for t in arms]
    total = sum(_DESIGN[s][t] for s, t in keys)
    split = _largest_remainder(int(n_patients), {k: _DESIGN[k[0]][k[1]] / total for k in keys})
    counts = np.array([split[k] for k in keys])
    trial = np.repeat([s for s, _ in keys], counts)
    treat = np.repeat([t for _, t in keys], counts)
    n = trial.size
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.4, n).astype(float)
    x3 = 0.3 * x1 + rng.normal(0, 0.95, n)
    x4 = rng.uniform(-1, 1, n)
    X = np.column_stack([x1, x2, x3, x4]).round(4)
    lp = X @ _BETA
    centre = float(lp.mean())
    lam = {s: float(np.exp(np.log(0.25) + rng.normal(0, 0.3))) for s in _DESIGN}
    lam_i = np.array([lam[s] for s in trial])
    eta = lp + np.array([d_all[t] + g_all[t] * (li - centre)
                         for t, li in zip(treat, lp)])
    # inverse-CDF draw of Weibull PH times: H(t) = lam t^rho exp(eta)
    T = (-np.log(rng.uniform(size=n)) / (lam_i * np.exp(eta))) ** (1.0 / shape)
    C = np.minimum(rng.uniform(followup[0], followup[1], n),
                   rng.exponential(1 / dropout_rate, n) if dropout_rate > 0 else np.inf)
    time = np.maximum(np.round(np.minimum(T, C), 2), 0.01)
    event = (T <= C).astype(int)
    pid = np.array([f"P{i + 1:05d}" for i in range(n)], dtype=object)
    data = pd.DataFrame({"patient_id": pid, "trial": trial, "treatment": treat,
                         "x1": X[:, 0], "x2": X[:, 1], "x3": X[:, 2], "x4": X[:, 3],
                         "time": time, "event": event})
    truth = {"patient_id": pid, "true_lp": lp}
    for t in _TREATMENTS:
        eta_t = lp + d_all[t] + g_all[t] * (lp - centre)
        for h in (1, 2):
            truth[f"S{h}_{t}"] = np.exp(-lam_i * h ** shape * np.exp(eta_t))
    params = {"beta": dict(zip(SURVIVAL_NMR_COVARIATES, _BETA.tolist())),
              "treatment_effects": d, "risk_interactions": g, "centre": centre,
              "trial_scale": lam, "shape": shape, "reference": "PBO",
              "arm_sizes": {f"{s}:{t}": int(k) for (s, t), k in zip(keys, counts)}}
    return SimulatedIPD(
        name="survival-network", data=data, truth=pd.DataFrame(truth), params=params,
        columns={"trial": "trial", "treatment": "treatment", "outcome": "event",
                 "covariates": list(SURVIVAL_NMR_COVARIATES), "patient_id": "patient_id"},
        description=("Time-to-event network (T1 A/PBO, T2 A/B/PBO, T3 C/PBO, T4 B/C); Weibull "
                     "PH with trial-specific scale, log HR d_t + gamma_t (lp - c); "
                     "administrative and drop-out censoring."),
        ipd_options={"reference": "PBO", "time": "time"})

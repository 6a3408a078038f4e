"""Simulation designs of the two-stage ITE study (Mainetti et al.): the continuous-outcome
design of the paper and its logistic analogue for binary outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD

__all__ = ["ITE_BETA", "ITE_GAMMA", "ITE_SCENARIOS", "make_ite_binary", "make_ite_continuous"]

#: Main effects of x1..x8 (drawn once by the authors, round(U(-2, 2), 2), seed 42).
ITE_BETA: tuple[float, ...] = (1.66, 1.75, -0.86, 1.32, 0.57, 0.08, 0.95, -1.46)

#: Effect modifiers of x1..x8 for "small" (drawn once from U(-1.5, 1.5)) and "large"
#: (drawn once from U(-3, 3)) effect modification, as fixed in the authors' code.
ITE_GAMMA: dict[str, tuple[float, ...]] = {
    "small": (0.47, 0.62, -0.13, 0.66, 1.30, -0.73, -0.11, 1.32),
    "large": (2.87, -2.30, -0.15, 0.36, 2.42, -2.17, 2.93, 2.68),
}
_GAMMA_RANGE = {"small": 1.5, "large": 3.0}
_N_RANGE = {"small": (50, 200), "large": (300, 600)}


def _scenario_table() -> pd.DataFrame:
    # numbering of the authors' expand.grid: tau2 fastest, then effect modification,
    # trial size, non-linearity
    idx = np.arange(16)
    tau2 = np.array([0.2, 0.5])[idx % 2]
    em = np.array(["small", "large"])[(idx // 2) % 2]
    size = np.array(["small", "large"])[(idx // 4) % 2]
    nonlinear = (idx // 8) % 2 == 1
    return pd.DataFrame({
        "tau2": tau2,
        "effect_modification": em,
        "gamma_range": [f"U(-{_GAMMA_RANGE[e]:g}, {_GAMMA_RANGE[e]:g})" for e in em],
        "trial_size": size,
        "n_min": [_N_RANGE[s][0] for s in size],
        "n_max": [_N_RANGE[s][1] for s in size],
        "nonlinear": nonlinear,
    }, index=pd.Index(idx + 1, name="scenario"))


#: The 16 scenarios of :func:`make_ite_continuous` (index ``scenario`` = 1..16).
ITE_SCENARIOS: pd.DataFrame = _scenario_table()

_P = 8
_BINARY = (2, 4, 6, 8)  # 1-based indices of the dichotomised covariates
_INTERCEPT = 2.0
_DELTA = 2.0
_VAR_U = 0.5
_VAR_EPS = 0.5
_VAR_NOISE_X = 1.5
_RHO = 0.35


def _nonlinear_term(x: np.ndarray) -> np.ndarray:
    x1, x2, x3, x5 = x[:, 0], x[:, 1], x[:, 2], x[:, 4]
    return (1.5 * np.log1p(np.abs(x1)) + 1.5 * x2 * np.sqrt(x3**2 + 1.0)
            - 1.4 * (np.abs(x5) + 2.0) - 1.8 * np.abs(x3 * x5) ** (2.0 / 3.0))


def _draw_x(rng: np.random.Generator, n: int, chol: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    x = rng.standard_normal((n, _P)) @ chol.T + rng.normal(0.0, np.sqrt(_VAR_NOISE_X), (n, _P))
    for j, c in zip(_BINARY, cuts):
        x[:, j - 1] = (x[:, j - 1] < c).astype(float)
    return x


def _check_scenario(scenario: object) -> int:
    is_number = (isinstance(scenario, (int, np.integer, float, np.floating))
                 and not isinstance(scenario, (bool, np.bool_)))
    if not is_number or not float(scenario).is_integer():  # type: ignore[arg-type]
        raise ModelSpecificationError(
            f"scenario must be an integer from 1 to 16, got {scenario!r}; see "
            "ipdma.datasets.ITE_SCENARIOS for the 16 designs"
        )
    value = int(scenario)  # type: ignore[call-overload]
    if value not in ITE_SCENARIOS.index:
        raise ModelSpecificationError(
            f"scenario {value} does not exist: choose 1 to 16 (see "
            "ipdma.datasets.ITE_SCENARIOS for the 16 designs)"
        )
    return value


def make_ite_continuous(
    scenario: int = 1,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    n_trials: int = 10,
    n_test_trials: int = 3,
    n_test_per_trial: int = 1000,
    draw_gamma: bool = False,
) -> SimulatedIPD:
    r"""Simulate one data set of the continuous-outcome two-stage ITE simulation study.

    Implements the data-generating mechanism of Mainetti et al. (two-stage IPD
    meta-analysis for individualised treatment effects): K trials with random
    intercepts and random treatment effects, 8 covariates (4 binary), linear or
    non-linear effect modification, and new trials for out-of-trial prediction.

    **Data-generating mechanism.** For trial l = 1..K and patient i:

    * n_l = round(U(n_min, n_max)); t_i ~ Bernoulli(0.5);
    * x_i = z_i + e_i, z_i ~ MVN(0, Σ) with Σ_jk = 0.35^{|j−k|}, e_i ~ N(0, 1.5 I)
      (variances); then x2 = 1[x2 < 0], x4 = 1[x4 < c4], x6 = 1[x6 < c6],
      x8 = 1[x8 < c8], with cut-points c4 ~ U(−1, 1), c6 ~ U(0, 1), c8 ~ U(−1, 0)
      drawn once per data set and shared by the training and test trials;
    * outcome

      .. math::

          y_i = 2 + u_l + x_i'\beta + (2 + h_l)\,t_i + (g(x_i) + x_i'\gamma)\,t_i + \varepsilon_i,

      u_l ~ N(0, 0.5), h_l ~ N(0, τ²), ε_i ~ N(0, 0.5) (all variances),
      β = :data:`ITE_BETA` = (1.66, 1.75, −0.86, 1.32, 0.57, 0.08, 0.95, −1.46), common
      to all trials, as is γ;
    * non-linear term (scenarios 9-16, otherwise g = 0)

      .. math::

          g(x) = 1.5\log(1+|x_1|) + 1.5\,x_2\sqrt{x_3^2+1} - 1.4(|x_5|+2)
                 - 1.8\,|x_3 x_5|^{2/3};

    * true ITE of a patient in trial l: ITE_l(x) = 2 + h_l + g(x) + x'γ.

    Test set (``.test``): ``n_test_trials`` new trials of ``n_test_per_trial`` patients
    with new h_new ~ N(0, τ²) (and u_new ~ N(0, 0.5)); ``ite_true`` = 2 + h_new + g(x)
    + x'γ. Test patients also get a randomised treatment and an outcome drawn from the
    same model (an addition to the original design, useful for calibration checks).

    **Scenarios** (numbered as the authors' ``expand.grid``: τ² varies fastest;
    available as :data:`ITE_SCENARIOS`):

    ========  ====  ============  ==============  ==========  ==========
    scenario  τ²    γ             drawn from      n_l         g(x)
    ========  ====  ============  ==============  ==========  ==========
    1         0.2   small         U(−1.5, 1.5)    U(50, 200)  0
    2         0.5   small         U(−1.5, 1.5)    U(50, 200)  0
    3         0.2   large         U(−3, 3)        U(50, 200)  0
    4         0.5   large         U(−3, 3)        U(50, 200)  0
    5         0.2   small         U(−1.5, 1.5)    U(300, 600) 0
    6         0.5   small         U(−1.5, 1.5)    U(300, 600) 0
    7         0.2   large         U(−3, 3)        U(300, 600) 0
    8         0.5   large         U(−3, 3)        U(300, 600) 0
    9-16      as 1-8                                          non-linear
    ========  ====  ============  ==============  ==========  ==========

    By default γ is the authors' fixed draw (:data:`ITE_GAMMA`: small = (0.47, 0.62,
    −0.13, 0.66, 1.30, −0.73, −0.11, 1.32), large = (2.87, −2.30, −0.15, 0.36, 2.42,
    −2.17, 2.93, 2.68)), used in every replicate of their study; ``draw_gamma=True``
    draws a fresh γ from the scenario's uniform distribution instead.

    Parameters
    ----------
    scenario : int, default 1
        Scenario number 1..16 (table above).
    random_state : None, int, SeedSequence or Generator
        Seed; same seed, same data.
    n_trials : int, default 10
        Number of training trials K.
    n_test_trials, n_test_per_trial : int, default 3 and 1000
        Size of the test set of new trials (``n_test_trials=0`` gives an empty frame).
    draw_gamma : bool, default False
        Draw γ afresh instead of using the fixed published values.

    Returns
    -------
    SimulatedIPD
        ``data``: ``trial`` (1..K), ``id`` (1..N, unique), ``treatment`` (0/1),
        ``x1``..``x8``, ``y``. ``truth``: ``trial``, ``id``, ``mu0`` and ``mu1`` (expected
        outcome without and with treatment), ``ite_true``. ``test``: ``trial``
        (K+1..), ``id`` (continuing after the training ids), ``treatment``, ``x1``..``x8``, ``y``, ``ite_true``. ``params``:
        ``scenario`` and its settings, ``intercept``, ``delta``, ``beta``, ``gamma``,
        ``tau2``, ``var_u``, ``var_eps``, ``cuts`` (c2, c4, c6, c8), ``n_per_trial``,
        ``u``, ``h``, ``u_new``, ``h_new``.

    Raises
    ------
    ModelSpecificationError
        If ``scenario`` is not an integer in 1..16 or a size is not a positive integer.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous, ITE_SCENARIOS
    >>> ITE_SCENARIOS.loc[5, ["tau2", "effect_modification", "trial_size", "nonlinear"]].to_dict()
    {'tau2': 0.2, 'effect_modification': 'small', 'trial_size': 'large', 'nonlinear': False}
    >>> sim = make_ite_continuous(scenario=5, random_state=0)
    >>> sim.data["trial"].nunique(), sim.test.shape[0]
    (10, 3000)
    """
    return _simulate(scenario, random_state, n_trials=n_trials, n_test_trials=n_test_trials,
                     n_test_per_trial=n_test_per_trial, draw_gamma=draw_gamma,
                     outcome="continuous")


#: Binary design: the continuous design's linear predictor, scaled to the log-odds scale.
BINARY_SCALE = 0.25
#: Log-odds intercept of the binary design (control risk about 0.4 at x'beta = 0).
BINARY_INTERCEPT = -0.5


def make_ite_binary(
    scenario: int = 1,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    n_trials: int = 10,
    n_test_trials: int = 3,
    n_test_per_trial: int = 1000,
    draw_gamma: bool = False,
) -> SimulatedIPD:
    r"""Simulate one data set of the binary-outcome (logistic) analogue of the 16 scenarios.

    The design of :func:`make_ite_continuous` (same scenarios, γ, β and order of random
    draws: with the same seed the training trials have the same sizes, trial effects,
    covariates and arms; the new test trials differ, since the outcome draws before them
    differ) with the outcome drawn from a logistic model whose
    linear predictor is the continuous design's mean structure scaled to the log-odds
    scale by s = :data:`BINARY_SCALE` = 0.25:

    .. math::

        \operatorname{logit} P(y_i = 1) = \alpha + s\,(u_l + x_i'\beta)
            + s\,(2 + h_l + g(x_i) + x_i'\gamma)\,t_i ,

    with α = :data:`BINARY_INTERCEPT` = −0.5, u_l ~ N(0, 0.5), h_l ~ N(0, τ²) (so the
    between-trial variance of the conditional log odds ratio is s²τ² = 0.0125 or
    0.03125), β = :data:`ITE_BETA`, γ and g(x) as in the continuous design. y = 1 is a
    good outcome (response): the treatment raises its odds on average (s·2 = 0.5), and
    a positive risk difference is a benefit.

    The true ITE of a patient is the **risk difference**
    P(y=1 | x, t=1) − P(y=1 | x, t=0) in the patient's own trial (``ite_true``); the
    conditional log odds ratio s(2 + h_l + g(x) + x'γ) is ``logor_true``.

    Parameters
    ----------
    scenario : int, default 1
        Scenario number 1..16 (see :data:`ITE_SCENARIOS` and :func:`make_ite_continuous`).
    random_state : None, int, SeedSequence or Generator
        Seed; same seed, same data.
    n_trials : int, default 10
        Number of training trials K.
    n_test_trials, n_test_per_trial : int, default 3 and 1000
        Size of the test set of new trials (``n_test_trials=0`` gives an empty frame).
    draw_gamma : bool, default False
        Draw γ afresh instead of using the fixed published values.

    Returns
    -------
    SimulatedIPD
        ``data``: ``trial`` (1..K), ``id``, ``treatment`` (0/1), ``x1``..``x8``, ``y``
        (0/1). ``truth``: ``trial``, ``id``, ``p0``, ``p1`` (true risks without and with
        treatment), ``ite_true`` (= p1 − p0), ``logor_true``. ``test``: new trials with
        ``treatment``, ``x1``..``x8``, ``y``, ``p0``, ``p1``, ``ite_true``,
        ``logor_true``. ``params`` as for :func:`make_ite_continuous` plus ``scale`` and
        ``intercept`` (log-odds) and ``outcome = "binary"``.

    Raises
    ------
    ModelSpecificationError
        If ``scenario`` is not an integer in 1..16 or a size is not a positive integer.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_binary
    >>> sim = make_ite_binary(scenario=5, random_state=0)
    >>> sorted(sim.data["y"].unique().tolist()), sim.test.shape[0]
    ([0, 1], 3000)
    >>> bool(((sim.test.ite_true > -1) & (sim.test.ite_true < 1)).all())
    True
    >>> sim.ipd().outcome_type
    'binary'
    """
    return _simulate(scenario, random_state, n_trials=n_trials, n_test_trials=n_test_trials,
                     n_test_per_trial=n_test_per_trial, draw_gamma=draw_gamma,
                     outcome="binary")


def _simulate(scenario: object, random_state, *, n_trials, n_test_trials, n_test_per_trial,
              draw_gamma: bool, outcome: str) -> SimulatedIPD:
    """Both designs: the draws (sizes, cut-points, trial effects, covariates, treatment) are
    the same; only the outcome model differs (normal error or logistic)."""
    binary = outcome == "binary"
    scenario = _check_scenario(scenario)
    for name, value, minimum in (("n_trials", n_trials, 1), ("n_test_trials", n_test_trials, 0),
                                 ("n_test_per_trial", n_test_per_trial, 1)):
        if isinstance(value, bool) or int(value) != value or value < minimum:
            raise ModelSpecificationError(
                f"{name} must be an integer >= {minimum}, got {value!r}")
    n_trials, n_test_trials, n_test_per_trial = int(n_trials), int(n_test_trials), int(
        n_test_per_trial)
    setting = ITE_SCENARIOS.loc[scenario]
    tau2 = float(setting["tau2"])
    em = str(setting["effect_modification"])
    n_min, n_max = int(setting["n_min"]), int(setting["n_max"])
    nonlinear = bool(setting["nonlinear"])

    rng = check_random_state(random_state)
    beta = np.array(ITE_BETA)
    if draw_gamma:
        gamma = np.round(rng.uniform(-_GAMMA_RANGE[em], _GAMMA_RANGE[em], _P), 2)
    else:
        gamma = np.array(ITE_GAMMA[em])

    # same order of draws as the original design: sizes, cut-points, trial effects
    n_l = np.round(rng.uniform(n_min, n_max, n_trials)).astype(int)
    cuts = np.array([0.0, rng.uniform(-1, 1), rng.uniform(0, 1), rng.uniform(-1, 0)])
    u = rng.normal(0.0, np.sqrt(_VAR_U), n_trials)
    h = rng.normal(0.0, np.sqrt(tau2), n_trials)
    chol = np.linalg.cholesky(_RHO ** np.abs(np.subtract.outer(np.arange(_P), np.arange(_P))))

    def simulate_block(sizes: np.ndarray, u_l: np.ndarray, h_l: np.ndarray, first_trial: int,
                       first_id: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
        n = int(sizes.sum())
        trial_idx = np.repeat(np.arange(sizes.shape[0]), sizes)
        x = _draw_x(rng, n, chol, cuts)
        t = rng.binomial(1, 0.5, n)
        g = _nonlinear_term(x) if nonlinear else np.zeros(n)
        ite = _DELTA + h_l[trial_idx] + g + x @ gamma
        if binary:  # logistic: the same mean structure on the log-odds scale
            mu0 = BINARY_INTERCEPT + BINARY_SCALE * (u_l[trial_idx] + x @ beta)
            ite = BINARY_SCALE * ite
            y = (rng.uniform(size=n) < expit(mu0 + ite * t)).astype(int)
        else:
            eps = rng.normal(0.0, np.sqrt(_VAR_EPS), n)
            mu0 = _INTERCEPT + u_l[trial_idx] + x @ beta
            y = mu0 + ite * t + eps
        frame = pd.DataFrame({"trial": trial_idx + first_trial,
                              "id": np.arange(first_id, first_id + n), "treatment": t})
        frame = pd.concat([frame, pd.DataFrame(x, columns=[f"x{j}" for j in range(1, _P + 1)]),
                           pd.DataFrame({"y": y})], axis=1)
        return frame, mu0, ite

    def true_effects(frame: pd.DataFrame, mu0: np.ndarray, ite: np.ndarray) -> pd.DataFrame:
        if binary:
            p0, p1 = expit(mu0), expit(mu0 + ite)
            return frame.assign(p0=p0, p1=p1, ite_true=p1 - p0, logor_true=ite)
        return frame.assign(mu0=mu0, mu1=mu0 + ite, ite_true=ite)

    data, mu0, ite = simulate_block(n_l, u, h, 1, 1)
    truth = true_effects(data[["trial", "id"]].copy(), mu0, ite)

    u_new = rng.normal(0.0, np.sqrt(_VAR_U), n_test_trials)
    h_new = rng.normal(0.0, np.sqrt(tau2), n_test_trials)
    test, mu0_test, ite_test = simulate_block(np.full(n_test_trials, n_test_per_trial), u_new,
                                              h_new, n_trials + 1, len(data) + 1)
    if binary:
        test = true_effects(test, mu0_test, ite_test)
    else:
        test["ite_true"] = ite_test

    covariates = [f"x{j}" for j in range(1, _P + 1)]
    params = {
        "scenario": scenario,
        "effect_modification": em,
        "trial_size": str(setting["trial_size"]),
        "nonlinear": nonlinear,
        "outcome": outcome,
        "intercept": BINARY_INTERCEPT if binary else _INTERCEPT,
        "delta": _DELTA,
        "beta": dict(zip(covariates, beta.tolist())),
        "gamma": dict(zip(covariates, gamma.tolist())),
        "tau2": tau2,
        "var_u": _VAR_U,
        **({"scale": BINARY_SCALE} if binary else {"var_eps": _VAR_EPS}),
        "cuts": {"c2": 0.0, "c4": float(cuts[1]), "c6": float(cuts[2]), "c8": float(cuts[3])},
        "n_range": (n_min, n_max),
        "n_per_trial": dict(zip(range(1, n_trials + 1), n_l.tolist())),
        "u": dict(zip(range(1, n_trials + 1), u.tolist())),
        "h": dict(zip(range(1, n_trials + 1), h.tolist())),
        "u_new": dict(zip(range(n_trials + 1, n_trials + n_test_trials + 1), u_new.tolist())),
        "h_new": dict(zip(range(n_trials + 1, n_trials + n_test_trials + 1), h_new.tolist())),
    }
    model = (f"logit P(y=1) = {BINARY_INTERCEPT:g} + {BINARY_SCALE:g} (u_l + x'beta + (2 + h_l) t "
             "+ (g(x) + x'gamma) t); true ITE = risk difference"
             if binary else "y = 2 + u_l + x'beta + (2 + h_l) t + (g(x) + x'gamma) t + eps")
    description = (
        f"Two-stage ITE design ({outcome} outcome), scenario {scenario}: tau2 = {tau2:g}, "
        f"{em} effect modification, trial sizes U({n_min}, {n_max}), "
        f"{'non-linear' if nonlinear else 'linear'} ITE; {model}; new trials in `.test`."
    )
    return SimulatedIPD(
        name="ite-binary" if binary else "ite",
        data=data,
        truth=truth,
        params=params,
        columns={"trial": "trial", "treatment": "treatment", "outcome": "y",
                 "covariates": covariates, "patient_id": "id"},
        description=description,
        ipd_options={"outcome_type": outcome},
        extra={"test": test},
    )

"""Low-back-pain-like multi-trial data for subgroup identification (MOB / metaMOB)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD

__all__ = ["LBP_COVARIATES", "make_lbp_trials"]

#: Candidate partitioning variables of :func:`make_lbp_trials`, in column order.
LBP_COVARIATES: tuple[str, ...] = (
    "age", "sex", "rmdq0", "pain", "duration", "depression", "employed", "bmi",
)


def make_lbp_trials(
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    n_trials: int = 7,
    *,
    n_per_trial: int | Sequence[int] | None = None,
    effect: float = -1.0,
    subgroup_effect: float = -2.5,
    threshold: float = 13.0,
    tau: float = 0.8,
    confounding: float = 2.0,
    intercept_sd: float = 0.5,
    sigma: float = 4.0,
    prognostic: bool = False,
    discretize: bool = False,
) -> SimulatedIPD:
    r"""Simulate low-back-pain-like randomised trials with one true treatment subgroup.

    Outcome is a Roland-Morris-like disability score at follow-up (``rmdq``, 0-24
    scale, lower is better); treatment (1) is an active intervention against usual
    care (0). The trials differ in their intercepts *and* in their treatment effects,
    and the trial intercepts are tied to the trials' mean age: ``age`` carries no
    information within a trial but separates the trials, so a model-based tree that
    ignores the trial structure (plain MOB, ``y ~ treatment | z``) tends to split on
    ``age`` to absorb between-trial heterogeneity, while a tree with trial effects
    (metaMOB: random or fixed trial intercepts plus random treatment effects) should
    split only on the true effect modifier ``rmdq0``. This is the trap of the
    ``metamob_multitrial`` reference case, dressed as an IPD meta-analysis of
    low-back-pain trials.

    **Data-generating mechanism.** Trial j = 1..K has n_j patients (default
    n_j ~ U{120, ..., 250}); t_i ~ Bernoulli(0.5). Each trial has a mean age
    m_j: the K values evenly spaced on [38, 62], randomly permuted over trials.

    * ``age`` ~ N(m_j, 10²) rounded; ``sex`` ∈ {"female", "male"}, P(female) = 0.6;
    * ``rmdq0`` (baseline disability) = clip(round(N(12, 5²)), 0, 24);
    * ``pain`` (0-10 rating) = clip(round(N(6, 2²)), 0, 10);
    * ``duration`` (months of pain) = round(exp(N(log 18, 1))) + 3;
    * ``depression`` (0-27) = clip(round(Gamma(2, scale 3.5)), 0, 27);
      ``employed`` ~ Bernoulli(0.6); ``bmi`` ~ N(27, 4.5²) rounded to 0.1.

    The subgroup is S_i = 1[rmdq0_i > ``threshold``] (default: baseline RMDQ of 14 or
    more). The outcome is

    .. math::

        y_i = \alpha_j + t_i\,(\delta + b_j + \Delta\,S_i) + \pi(x_i) + \varepsilon_i,
        \qquad \varepsilon_i \sim N(0, \sigma^2),

    .. math::

        \alpha_j = 10 + \kappa\,(m_j - 50)/10 + N(0, s_\alpha^2), \qquad
        b_j \sim N(0, \tau^2),

    with δ = ``effect`` (−1), Δ = ``subgroup_effect`` (−2.5), τ = ``tau`` (0.8), κ =
    ``confounding`` (2), s_α = ``intercept_sd`` (0.5) and σ = ``sigma`` (4). By default
    π(x) = 0: no covariate other than trial membership shifts the outcome, so every
    covariate except ``rmdq0`` is noise for the treatment effect and ``age`` is noise
    correlated with trial. With ``prognostic=True``,
    π(x) = 0.5(rmdq0 − 12) + 0.3(pain − 6) + 0.15(depression − 7), a realistic
    prognostic part; trees then need those covariates in the node model or a test of
    the treatment coefficient only (``parm``) to avoid prognostic splits.

    The true treatment effect of patient i is δ + b_j + Δ·S_i (``effect_true``); its
    across-trial mean δ + Δ·S_i is ``effect_mean``.

    By default y is left continuous and unbounded so that the linear model holds
    exactly (about 1-2 % of values fall below 0 with the defaults). ``discretize=True``
    rounds y and clips
    it to 0..24 like a real RMDQ; the clipping attenuates effects near the floor, and
    the share of clipped values is reported in ``params["fraction_clipped"]``.

    Parameters
    ----------
    random_state : None, int, SeedSequence or Generator
        Seed; same seed, same data.
    n_trials : int, default 7
        Number of trials K (at least 2).
    n_per_trial : int or sequence of int, optional
        Patients per trial (one value for all, or K values); default random in 120..250.
    effect, subgroup_effect, threshold, tau, confounding, intercept_sd, sigma : float
        Parameters of the mechanism above.
    prognostic : bool, default False
        Add the prognostic part π(x).
    discretize : bool, default False
        Round and clip the outcome to the RMDQ range 0..24.

    Returns
    -------
    SimulatedIPD
        ``data``: ``trial`` ("T1".."TK"), ``id`` (1..N), ``treatment`` (0/1), the
        covariates of :data:`LBP_COVARIATES` and ``rmdq``. ``truth``: ``trial``, ``id``,
        ``subgroup`` (bool), ``effect_true``, ``effect_mean``, ``mu0``, ``mu1``.
        ``params``: ``alpha``, ``b`` and ``age_mean`` (dicts by trial), ``effect``,
        ``subgroup_effect``, ``threshold``, ``subgroup_rule``, ``tau``, ``confounding``,
        ``intercept_sd``, ``sigma``, ``prognostic``, ``discretize``,
        ``fraction_clipped``, ``n_per_trial``.

    Raises
    ------
    ModelSpecificationError
        For fewer than 2 trials, trial sizes below 10 or of the wrong length, or a
        negative standard deviation.

    References
    ----------
    Huber C, Benda N, Friede T. Adv Data Anal Classif 2022;16:797-815 (metaMOB).

    Examples
    --------
    >>> from ipdma.datasets import make_lbp_trials
    >>> sim = make_lbp_trials(random_state=3)
    >>> sorted(sim.data["trial"].unique())
    ['T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7']
    >>> sim.params["subgroup_rule"]
    'rmdq0 > 13'
    """
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 2:
        raise ModelSpecificationError(f"n_trials must be an integer >= 2, got {n_trials!r}")
    k = int(n_trials)
    for name, value in (("tau", tau), ("intercept_sd", intercept_sd), ("sigma", sigma)):
        if not np.isfinite(value) or value < 0:
            raise ModelSpecificationError(
                f"{name} is a standard deviation and must be >= 0, got {value!r}")
    rng = check_random_state(random_state)

    if n_per_trial is None:
        sizes = rng.integers(120, 251, k)
    else:
        sizes = np.broadcast_to(np.asarray(n_per_trial), (k,)) if np.ndim(n_per_trial) == 0 \
            else np.asarray(n_per_trial)
        if sizes.shape != (k,):
            raise ModelSpecificationError(
                f"n_per_trial must be one integer or {k} integers (one per trial), got "
                f"{len(sizes)} values")
        if np.any(sizes != np.round(sizes)) or np.any(sizes < 10):
            raise ModelSpecificationError(
                f"n_per_trial must be integers >= 10, got {list(np.asarray(sizes).tolist())}")
        sizes = sizes.astype(int)
    labels = np.array([f"T{j}" for j in range(1, k + 1)])
    age_mean = rng.permutation(np.linspace(38.0, 62.0, k))
    alpha = 10.0 + confounding * (age_mean - 50.0) / 10.0 + rng.normal(0.0, intercept_sd, k)
    b = rng.normal(0.0, tau, k)

    n = int(sizes.sum())
    j = np.repeat(np.arange(k), sizes)
    age = np.round(rng.normal(age_mean[j], 10.0))
    sex = np.where(rng.random(n) < 0.6, "female", "male")
    rmdq0 = np.clip(np.round(rng.normal(12.0, 5.0, n)), 0, 24)
    pain = np.clip(np.round(rng.normal(6.0, 2.0, n)), 0, 10)
    duration = np.round(np.exp(rng.normal(np.log(18.0), 1.0, n))) + 3.0
    depression = np.clip(np.round(rng.gamma(2.0, 3.5, n)), 0, 27)
    employed = rng.binomial(1, 0.6, n)
    bmi = np.round(rng.normal(27.0, 4.5, n), 1)
    t = rng.binomial(1, 0.5, n)
    eps = rng.normal(0.0, sigma, n)

    subgroup = rmdq0 > threshold
    prog = (0.5 * (rmdq0 - 12.0) + 0.3 * (pain - 6.0) + 0.15 * (depression - 7.0)
            if prognostic else np.zeros(n))
    effect_mean = effect + subgroup_effect * subgroup
    effect_true = effect_mean + b[j]
    mu0 = alpha[j] + prog
    y = mu0 + t * effect_true + eps
    fraction_clipped = 0.0
    if discretize:
        y = np.round(y)
        fraction_clipped = float(np.mean((y < 0) | (y > 24)))
        y = np.clip(y, 0, 24)

    ids = np.arange(1, n + 1)
    data = pd.DataFrame({
        "trial": labels[j], "id": ids, "treatment": t, "age": age.astype(int), "sex": sex,
        "rmdq0": rmdq0.astype(int), "pain": pain.astype(int), "duration": duration.astype(int),
        "depression": depression.astype(int), "employed": employed, "bmi": bmi, "rmdq": y,
    })
    truth = pd.DataFrame({"trial": labels[j], "id": ids, "subgroup": subgroup,
                          "effect_true": effect_true, "effect_mean": effect_mean,
                          "mu0": mu0, "mu1": mu0 + effect_true})
    params = {
        "alpha": dict(zip(labels.tolist(), alpha.tolist())),
        "b": dict(zip(labels.tolist(), b.tolist())),
        "age_mean": dict(zip(labels.tolist(), age_mean.tolist())),
        "effect": float(effect),
        "subgroup_effect": float(subgroup_effect),
        "threshold": float(threshold),
        "subgroup_rule": f"rmdq0 > {threshold:g}",
        "tau": float(tau),
        "confounding": float(confounding),
        "intercept_sd": float(intercept_sd),
        "sigma": float(sigma),
        "prognostic": bool(prognostic),
        "discretize": bool(discretize),
        "fraction_clipped": fraction_clipped,
        "n_per_trial": dict(zip(labels.tolist(), sizes.tolist())),
    }
    description = (
        f"{k} low-back-pain-like trials; y = alpha_j + t (delta + b_j + Delta 1[rmdq0 > "
        f"{threshold:g}]) + eps; trial intercepts follow the trials' mean age (age is noise "
        "correlated with trial)."
    )
    return SimulatedIPD(
        name="lbp",
        data=data,
        truth=truth,
        params=params,
        columns={"trial": "trial", "treatment": "treatment", "outcome": "rmdq",
                 "covariates": list(LBP_COVARIATES), "patient_id": "id"},
        description=description,
        ipd_options={"outcome_type": "continuous"},
    )

"""Multiple-sclerosis-like treatment network for risk-based IPD network meta-regression."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import expit

from .._base import check_random_state
from ..errors import ModelSpecificationError
from ._base import SimulatedIPD, _largest_remainder

__all__ = ["MS_COVARIATES", "make_ms_network"]

#: Candidate prognostic factors of :func:`make_ms_network`, in column order.
MS_COVARIATES: tuple[str, ...] = (
    "AGE", "SEX", "EDSSBL", "RLPS1YR", "TRELMOS", "PRMSGR", "ONSYRS", "GDLESBL", "T2VOLBL",
    "SFPCSBL", "T25FWABL", "WEIGHTBL", "NOISE1", "NOISE2",
)

# Arm sizes of the three Biogen trials (DMF dose arms combined), used as proportions.
_DESIGN: dict[str, dict[str, int]] = {
    "S1": {"DMF": 826, "PBO": 408},             # DEFINE-like
    "S2": {"DMF": 704, "GA": 350, "PBO": 363},  # CONFIRM-like
    "S3": {"NAT": 627, "PBO": 315},             # AFFIRM-like
}
_TREATMENTS = ("PBO", "DMF", "GA", "NAT")

# True prognostic model on the placebo log-odds scale: lp = intercept + sum coef * feature.
# The intercept re-centres lp so that its mean is about -0.3 in the trial populations.
_LP_INTERCEPT = -1.44
_LP_COEF: dict[str, float] = {
    "AGE - 37.5": -0.030,
    "SEX": -0.150,
    "EDSSBL - 2.5": 0.200,
    "log(RLPS1YR + 1)": 1.200,
    "TRELMOS - 7": -0.040,
    "PRMSGR": 0.250,
    "log(GDLESBL + 1)": 0.300,
    "log(T2VOLBL / 8)": 0.150,
    "SFPCSBL - 46": -0.010,
}

_D_DEFAULT = {"DMF": -0.85, "GA": -0.65, "NAT": -1.20}
_G_DEFAULT = {"DMF": 0.30, "GA": 0.20, "NAT": -0.30}
_OFFSET_DEFAULT = {"S1": 0.00, "S2": -0.15, "S3": 0.20, "EXT": 0.10}
_MISSING_DEFAULT = {"SFPCSBL": 0.05, "T25FWABL": 0.03, "GDLESBL": 0.02}


def _ms_covariates(rng: np.random.Generator, age_mean: np.ndarray) -> pd.DataFrame:
    """Draw the baseline covariates; ``age_mean`` has one entry per patient."""
    n = age_mean.shape[0]
    age = np.clip(np.round(rng.normal(age_mean, 9.0)), 18, 55)
    sex = rng.binomial(1, 0.30, n)  # 1 = male
    onset = np.round(np.minimum(rng.gamma(2.0, 4.0, n) * np.exp(0.02 * (age - 37.5)), age - 12.0), 1)
    edss = np.clip(np.round(2.0 * rng.gamma(4.0, 0.6 * np.exp(0.01 * (age - 37.5)
                                                               + 0.015 * (onset - 8.0)), n)) / 2.0,
                   0.0, 5.5)
    relapses = np.where(rng.random(n) < 0.10, 0, 1 + rng.poisson(0.4, n))
    months = np.round(rng.gamma(2.0, 3.0, n)) + 1.0
    prior_dmt = rng.binomial(1, 0.40, n)
    # Gd+ lesion count: gamma-Poisson, more lesions in younger patients with recent relapses
    gd_mean = 1.6 * np.exp(-0.03 * (age - 37.5) + 0.2 * (relapses - 1.4) - 0.03 * (months - 7.0))
    gd = rng.poisson(rng.gamma(0.5, gd_mean / 0.5))
    t2vol = np.round(np.exp(rng.normal(np.log(8.0) + 0.12 * (edss - 2.5) + 0.02 * (onset - 8.0),
                                       0.8)), 2)
    sf_pcs = np.round(52.0 - 2.5 * edss + rng.normal(0.0, 8.0, n), 1)
    t25fw = np.round(np.exp(np.log(4.5) + 0.08 * edss + rng.normal(0.0, 0.2, n)), 2)
    weight = np.round(rng.normal(68.0 + 12.0 * sex, 14.0), 1)
    noise1 = np.round(rng.normal(0.0, 1.0, n), 3)
    noise2 = rng.binomial(1, 0.5, n)
    return pd.DataFrame({
        "AGE": age.astype(int), "SEX": sex, "EDSSBL": edss, "RLPS1YR": relapses.astype(int),
        "TRELMOS": months.astype(int), "PRMSGR": prior_dmt, "ONSYRS": onset,
        "GDLESBL": gd.astype(float), "T2VOLBL": t2vol, "SFPCSBL": sf_pcs, "T25FWABL": t25fw,
        "WEIGHTBL": weight, "NOISE1": noise1, "NOISE2": noise2,
    })


def _ms_features(x: pd.DataFrame) -> pd.DataFrame:
    """The transformed covariates entering the true prognostic model (keys of ``_LP_COEF``)."""
    return pd.DataFrame({
        "AGE - 37.5": x["AGE"] - 37.5,
        "SEX": x["SEX"].astype(float),
        "EDSSBL - 2.5": x["EDSSBL"] - 2.5,
        "log(RLPS1YR + 1)": np.log1p(x["RLPS1YR"]),
        "TRELMOS - 7": x["TRELMOS"] - 7.0,
        "PRMSGR": x["PRMSGR"].astype(float),
        "log(GDLESBL + 1)": np.log1p(x["GDLESBL"]),
        "log(T2VOLBL / 8)": np.log(x["T2VOLBL"] / 8.0),
        "SFPCSBL - 46": x["SFPCSBL"] - 46.0,
    }, index=x.index)


def _ms_lp(x: pd.DataFrame) -> np.ndarray:
    f = _ms_features(x)
    coef = np.array([_LP_COEF[c] for c in f.columns])
    return _LP_INTERCEPT + f.to_numpy() @ coef


def _patient_ids(study: np.ndarray, first: int) -> np.ndarray:
    """Ids ``"<study>-<5-digit running number>"`` (works for zero rows too)."""
    numbers = pd.Series(np.arange(first, first + study.shape[0])).astype(str).str.zfill(5)
    return (pd.Series(study, dtype=str) + "-" + numbers).to_numpy(dtype=object)


def _check_effects(name: str, value: Mapping[str, float] | None,
                   default: dict[str, float]) -> dict[str, float]:
    if value is None:
        return dict(default)
    unknown = sorted(set(value) - set(default))
    if unknown:
        raise ModelSpecificationError(
            f"{name} has unknown key(s) {unknown}; allowed keys are {sorted(default)}"
        )
    out = dict(default)
    out.update({k: float(v) for k, v in value.items()})
    return out


def make_ms_network(
    n_patients: int = 3593,
    random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
    *,
    n_external: int = 1000,
    treatment_effects: Mapping[str, float] | None = None,
    risk_interactions: Mapping[str, float] | None = None,
    study_offsets: Mapping[str, float] | None = None,
    centre: float = -0.30,
    missing: bool = True,
) -> SimulatedIPD:
    r"""Simulate a multiple-sclerosis-like network of three trials plus an external placebo cohort.

    The structure follows the Biogen network analysed by Chalkou et al. (2021):
    ``S1`` is DEFINE-like (DMF vs placebo), ``S2`` CONFIRM-like (DMF, glatiramer
    acetate GA, placebo) and ``S3`` AFFIRM-like (natalizumab NAT vs placebo); the
    outcome is at least one relapse within two years. Everything is invented.

    **Data-generating mechanism.** Arm sizes are proportional to the real trials
    (DMF dose arms combined: S1 826/408, S2 704/350/363, S3 627/315), scaled to
    ``n_patients`` by largest remainders. For patient *i* in study *j* on treatment *t*,
    covariates are drawn independently of arm (randomisation):

    * ``AGE`` = clip(round(N(37.5, 9²)), 18, 55) (mean 41 in the external cohort);
      ``SEX`` ~ Bernoulli(0.30) (1 = male);
    * ``ONSYRS`` (years since onset) = min(Gamma(2, scale 4)·e^{0.02(AGE−37.5)}, AGE − 12);
    * ``EDSSBL`` = clip(round(2·Gamma(4, scale 0.6·e^{0.01(AGE−37.5)+0.015(ONSYRS−8)}))/2, 0, 5.5);
    * ``RLPS1YR`` (relapses in the prior year) = 0 with probability 0.1, else 1 + Poisson(0.4);
    * ``TRELMOS`` (months since last relapse) = round(Gamma(2, scale 3)) + 1;
      ``PRMSGR`` (prior disease-modifying therapy) ~ Bernoulli(0.4);
    * ``GDLESBL`` (Gd-enhancing lesions) ~ Poisson(λ), λ ~ Gamma(0.5, mean m),
      m = 1.6·exp(−0.03(AGE−37.5) + 0.2(RLPS1YR−1.4) − 0.03(TRELMOS−7));
    * ``T2VOLBL`` (T2 lesion volume, cm³) = exp(N(log 8 + 0.12(EDSSBL−2.5) + 0.02(ONSYRS−8), 0.8²));
    * ``SFPCSBL`` (SF-36 physical component) = 52 − 2.5·EDSSBL + N(0, 8²);
      ``T25FWABL`` (timed 25-foot walk, s) = exp(log 4.5 + 0.08·EDSSBL + N(0, 0.2²));
    * pure noise: ``WEIGHTBL`` ~ N(68 + 12·SEX, 14²), ``NOISE1`` ~ N(0, 1), ``NOISE2`` ~ Bernoulli(0.5).

    The true prognostic linear predictor (placebo log-odds of relapse) is

    .. math::

        \mathrm{lp}_i = -1.44 - 0.03(\mathrm{AGE}-37.5) - 0.15\,\mathrm{SEX}
            + 0.2(\mathrm{EDSSBL}-2.5) + 1.2\log(\mathrm{RLPS1YR}+1) - 0.04(\mathrm{TRELMOS}-7)
            + 0.25\,\mathrm{PRMSGR} + 0.3\log(\mathrm{GDLESBL}+1)
            + 0.15\log(\mathrm{T2VOLBL}/8) - 0.01(\mathrm{SFPCSBL}-46),

    (``ONSYRS``, ``T25FWABL``, ``WEIGHTBL``, ``NOISE1``, ``NOISE2`` have no effect given
    the others) and the outcome ``RELAPSE2year`` ~ Bernoulli(p) with

    .. math::

        \operatorname{logit} p_{ijt} = a_j + \mathrm{lp}_i + d_t + \gamma_t(\mathrm{lp}_i - c),

    with d_PBO = γ_PBO = 0, d = (DMF −0.85, GA −0.65, NAT −1.20), γ = (DMF 0.30,
    GA 0.20, NAT −0.30), study offsets a = (S1 0, S2 −0.15, S3 0.20) and centre
    c = −0.30 (≈ the mean of lp). Thus d_t is the log odds ratio versus placebo at
    lp = c and γ_t the change in log odds ratio per unit of logit baseline risk; lp has
    mean ≈ −0.3 and sd ≈ 0.66. Event rates are about 43 % on placebo, 22-28 % on the
    active arms and 31 % overall. After the outcome is
    drawn, ``SFPCSBL``, ``T25FWABL`` and ``GDLESBL`` are set missing completely at
    random in 5 %, 3 % and 2 % of rows (``missing=False`` switches this off).

    The external placebo cohort (``.external``, study ``EXT``) has the same covariate
    mechanism with mean age 41 and logit p = a_EXT + lp, a_EXT = 0.10; it is complete.

    Parameters
    ----------
    n_patients : int, default 3593
        Number of randomised patients; the default gives exactly the arm sizes above
        (the real network randomised about 3590).
    random_state : None, int, SeedSequence or Generator
        Seed; same seed, same data.
    n_external : int, default 1000
        Size of the external placebo cohort (0 for none; the frame is then empty).
    treatment_effects, risk_interactions : dict, optional
        Override d_t / γ_t for any of ``"DMF"``, ``"GA"``, ``"NAT"``.
    study_offsets : dict, optional
        Override a_j for any of ``"S1"``, ``"S2"``, ``"S3"``, ``"EXT"``.
    centre : float, default -0.30
        The constant c in the interaction term.
    missing : bool, default True
        Whether to delete covariate values completely at random as described.

    Returns
    -------
    SimulatedIPD
        ``data``: columns ``STUDYID``, ``USUBJID``, ``TRT01A`` (``PBO``, ``DMF``, ``GA``,
        ``NAT``), the 14 covariates of :data:`MS_COVARIATES` and ``RELAPSE2year``
        (0/1). ``truth``: ``USUBJID``, ``STUDYID``, ``TRT01A``, ``true_lp``, the relapse
        probability under every treatment (``p_PBO``, ``p_DMF``, ``p_GA``, ``p_NAT``, in
        the patient's own study) and ``p_true`` (under the assigned arm). ``params``:
        ``lp_intercept`` (−1.44), ``lp_coef`` (dict over the transformed features named
        as in the formula), ``treatment_effects``, ``risk_interactions``,
        ``study_offsets``, ``centre``, ``arm_sizes``, ``missing_rates``.
        ``external``: the external placebo cohort with the same columns plus
        ``true_lp`` and ``p_true``.

    Raises
    ------
    ModelSpecificationError
        If ``n_patients`` is too small for every arm to have a patient, ``n_external``
        is negative, or an override names an unknown treatment or study.

    References
    ----------
    Chalkou K, et al. A two-stage prediction model for heterogeneous effects of
    treatments. Stat Med 2021;40:4362-4375.

    Examples
    --------
    >>> from ipdma.datasets import make_ms_network
    >>> sim = make_ms_network(random_state=1)
    >>> sim.data.groupby(["STUDYID", "TRT01A"]).size()["S2"].to_dict()
    {'DMF': 704, 'GA': 350, 'PBO': 363}
    >>> len(sim.external)
    1000
    >>> sim.truth[["p_PBO", "p_DMF", "p_GA", "p_NAT"]].shape
    (3593, 4)
    """
    rng = check_random_state(random_state)
    n_arms = sum(len(v) for v in _DESIGN.values())
    if int(n_patients) != n_patients or n_patients < 10 * n_arms:
        raise ModelSpecificationError(
            f"n_patients must be an integer >= {10 * n_arms} (at least 10 per arm of the "
            f"{n_arms} arms), got {n_patients!r}"
        )
    if int(n_external) != n_external or n_external < 0:
        raise ModelSpecificationError(
            f"n_external must be a non-negative integer, got {n_external!r}")
    d = _check_effects("treatment_effects", treatment_effects, _D_DEFAULT)
    g = _check_effects("risk_interactions", risk_interactions, _G_DEFAULT)
    a = _check_effects("study_offsets", study_offsets, _OFFSET_DEFAULT)
    d_all = {"PBO": 0.0, **d}
    g_all = {"PBO": 0.0, **g}

    weights = {(s, t): n for s, arms in _DESIGN.items() for t, n in arms.items()}
    sizes = _largest_remainder(int(n_patients), weights)
    study = np.concatenate([np.repeat(s, n) for (s, _), n in sizes.items()])
    trt = np.concatenate([np.repeat(t, n) for (_, t), n in sizes.items()])
    n = study.shape[0]

    x = _ms_covariates(rng, np.full(n, 37.5))
    lp = _ms_lp(x)
    offset = pd.Series(study).map(a).to_numpy(dtype=float)

    def eta(t: str) -> np.ndarray:
        return offset + lp + d_all[t] + g_all[t] * (lp - centre)

    probs = {t: expit(eta(t)) for t in _TREATMENTS}
    p_assigned = np.select([trt == t for t in _TREATMENTS], [probs[t] for t in _TREATMENTS])
    y = (rng.random(n) < p_assigned).astype(int)

    ids = _patient_ids(study, 1)
    data = pd.concat([
        pd.DataFrame({"STUDYID": study, "USUBJID": ids, "TRT01A": trt}),
        x,
        pd.DataFrame({"RELAPSE2year": y}),
    ], axis=1)
    missing_rates = dict(_MISSING_DEFAULT) if missing else {}
    for col, rate in missing_rates.items():
        k = round(rate * n)
        idx = rng.choice(n, size=k, replace=False)
        data.loc[idx, col] = np.nan

    truth = pd.DataFrame({"USUBJID": ids, "STUDYID": study, "TRT01A": trt, "true_lp": lp,
                          **{f"p_{t}": probs[t] for t in _TREATMENTS}, "p_true": p_assigned})

    # external placebo cohort (older population), complete data
    xe = _ms_covariates(rng, np.full(int(n_external), 41.0))
    lpe = _ms_lp(xe)
    pe = expit(a["EXT"] + lpe)
    ye = (rng.random(int(n_external)) < pe).astype(int)
    ext_ids = _patient_ids(np.repeat("EXT", int(n_external)), 1)
    external = pd.concat([
        pd.DataFrame({"STUDYID": np.repeat("EXT", int(n_external)), "USUBJID": ext_ids,
                      "TRT01A": np.repeat("PBO", int(n_external))}),
        xe,
        pd.DataFrame({"RELAPSE2year": ye, "true_lp": lpe, "p_true": pe}),
    ], axis=1)

    params = {
        "lp_intercept": _LP_INTERCEPT,
        "lp_coef": dict(_LP_COEF),
        "treatment_effects": d,
        "risk_interactions": g,
        "study_offsets": a,
        "centre": float(centre),
        "arm_sizes": {f"{s}:{t}": k for (s, t), k in sizes.items()},
        "n_external": int(n_external),
        "missing_rates": missing_rates,
        "reference": "PBO",
    }
    description = (
        "MS-like network (S1 DMF/PBO, S2 DMF/GA/PBO, S3 NAT/PBO), outcome relapse within 2 "
        "years; logit p = a_study + lp + d_t + gamma_t (lp - c); external placebo cohort in "
        "`.external`."
    )
    return SimulatedIPD(
        name="ms",
        data=data,
        truth=truth,
        params=params,
        columns={"trial": "STUDYID", "treatment": "TRT01A", "outcome": "RELAPSE2year",
                 "covariates": list(MS_COVARIATES), "patient_id": "USUBJID"},
        description=description,
        ipd_options={"reference": "PBO", "outcome_type": "binary"},
        extra={"external": external},
    )

"""Seeded example-data generators that return the data together with the truth.

Each generator documents its data-generating mechanism and returns a
:class:`SimulatedIPD` (``.data``, ``.truth``, ``.params``, ``.columns``,
``.ipd()``):

* :func:`make_ms_network` - multiple-sclerosis-like treatment network with an
  external placebo cohort (risk-based network meta-regression);
* :func:`make_ite_continuous` - the 16 scenarios of the continuous-outcome
  two-stage ITE simulation study, with new test trials;
* :func:`make_ite_binary` - their logistic analogue (binary response, true
  risk-difference ITEs);
* :func:`make_survival_network` - time-to-event treatment network (Weibull PH,
  risk-dependent hazard ratios) for the time-to-event risk-based NMR;
* :func:`make_ite_network` - a treatment network (multi-arm and two-arm trials,
  treatment-specific effect modifiers, known best treatment per patient) for
  two-stage ITE with more than two treatments;
* :func:`make_survival_trials` - time-to-event trials (Weibull hazards with
  trial-specific baselines, censoring) with true ITEs on the survival-probability,
  RMST and log-hazard-ratio scales;
* :func:`make_lbp_trials` - low-back-pain-like trials with a true subgroup and
  a trial-confounded noise covariate (MOB / metaMOB).

:func:`simulate` runs a generator by registry name (``"ms"``, ``"ite"``,
``"ite-binary"``, ``"lbp"``); :func:`list_datasets` lists them.
"""

from ._base import SimulatedIPD
from ._ite import ITE_BETA, ITE_GAMMA, ITE_SCENARIOS, make_ite_binary, make_ite_continuous
from ._ite_network import make_ite_network
from ._lbp import LBP_COVARIATES, make_lbp_trials
from ._ms import MS_COVARIATES, make_ms_network
from ._registry import DATASETS, list_datasets, simulate
from ._survival import (
    SURVIVAL_BETA,
    SURVIVAL_GAMMA,
    SURVIVAL_SCENARIOS,
    make_survival_trials,
)
from ._survival_nmr import SURVIVAL_NMR_COVARIATES, make_survival_network

__all__ = [
    "DATASETS",
    "ITE_BETA",
    "ITE_GAMMA",
    "ITE_SCENARIOS",
    "LBP_COVARIATES",
    "MS_COVARIATES",
    "SURVIVAL_BETA",
    "SURVIVAL_GAMMA",
    "SURVIVAL_NMR_COVARIATES",
    "SURVIVAL_SCENARIOS",
    "SimulatedIPD",
    "list_datasets",
    "make_ite_binary",
    "make_ite_continuous",
    "make_ite_network",
    "make_lbp_trials",
    "make_ms_network",
    "make_survival_network",
    "make_survival_trials",
    "simulate",
]

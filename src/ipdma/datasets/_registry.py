"""Registry of the example-data generators, used by ``ipdma simulate``."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ._base import SimulatedIPD
from ._ite import ITE_SCENARIOS, make_ite_binary, make_ite_continuous
from ._ite_network import make_ite_network
from ._lbp import make_lbp_trials
from ._ms import make_ms_network
from ._survival import SURVIVAL_SCENARIOS, make_survival_trials
from ._survival_nmr import make_survival_network

__all__ = ["DATASETS", "list_datasets", "simulate"]


@dataclass(frozen=True)
class _Entry:
    generator: Callable[..., SimulatedIPD]
    description: str
    method: str
    scenarios: tuple[int, ...] = ()


#: Generator registry: name -> (generator, description, method it illustrates, scenarios).
DATASETS: dict[str, _Entry] = {
    "ms": _Entry(make_ms_network,
                 "MS-like network: 3 trials (DMF/PBO, DMF/GA/PBO, NAT/PBO), binary 2-year "
                 "relapse, 14 candidate prognostic factors, external placebo cohort",
                 "risk-based IPD network meta-regression (ipdma.nmr)"),
    "ite": _Entry(make_ite_continuous,
                  "Mainetti et al. continuous-outcome design: 10 trials, 8 covariates, random "
                  "trial intercepts and treatment effects, 3 new test trials with true ITEs",
                  "two-stage ITE meta-analysis (ipdma.ite)",
                  tuple(int(s) for s in ITE_SCENARIOS.index)),
    "ite-binary": _Entry(make_ite_binary,
                         "logistic analogue of the Mainetti et al. design: binary response, "
                         "10 trials, 8 covariates, true risk-difference ITEs for 3 new trials",
                         "two-stage ITE meta-analysis (ipdma.ite), binary outcome",
                         tuple(int(s) for s in ITE_SCENARIOS.index)),
    "lbp": _Entry(make_lbp_trials,
                  "low-back-pain-like trials: continuous RMDQ-like outcome, one true subgroup "
                  "(rmdq0 > 13), trial intercepts tied to a trial-confounded noise covariate",
                  "subgroup identification with MOB / metaMOB (ipdma.trees)"),
    "ite-network": _Entry(make_ite_network,
                          "treatment network for two-stage ITE: 10 trials over A, B, C, D "
                          "(multi-arm and two-arm, one without A), continuous outcome, "
                          "treatment-specific effect modifiers, true ITEs and best treatment",
                          "two-stage ITE for a treatment network (ipdma.ite)"),
    "survival": _Entry(make_survival_trials,
                       "Weibull time-to-event trials: 8 trials, true ITEs on the S(2), "
                       "RMST(3) and log-HR scales for 2 new test trials",
                       "two-stage ITE meta-analysis, time to event (ipdma.ite)",
                       tuple(int(s) for s in SURVIVAL_SCENARIOS.index)),
    "survival-network": _Entry(make_survival_network,
                               "time-to-event treatment network: 4 trials (A, B, C, PBO; one "
                               "B vs C), Weibull times with risk-dependent effects",
                               "risk-based network meta-regression, time to event "
                               "(ipdma.nmr)"),
}


def list_datasets() -> pd.DataFrame:
    """The available generators.

    Returns
    -------
    pandas.DataFrame
        One row per name (index ``name``) with columns ``function``, ``method``,
        ``scenarios`` and ``description``.

    Examples
    --------
    >>> from ipdma.datasets import list_datasets
    >>> list_datasets().index.tolist()
    ['ms', 'ite', 'ite-binary', 'lbp', 'ite-network', 'survival', 'survival-network']
    >>> list_datasets().loc["survival", "scenarios"]
    '1-4'
    """
    rows = [
        {"name": name, "function": f"ipdma.datasets.{e.generator.__name__}", "method": e.method,
         "scenarios": (f"{min(e.scenarios)}-{max(e.scenarios)}" if e.scenarios else ""),
         "description": e.description}
        for name, e in DATASETS.items()
    ]
    return pd.DataFrame(rows).set_index("name")


def simulate(name: str, seed: int | np.random.SeedSequence | np.random.Generator | None = None,
             scenario: int | None = None) -> SimulatedIPD:
    """Run the generator registered under ``name`` with its default settings.

    Parameters
    ----------
    name : {"ms", "ite", "ite-binary", "lbp", "ite-network", "survival", "survival-network"}
        Registry name (see :func:`list_datasets`).
    seed : None, int, SeedSequence or Generator
        Passed as ``random_state``; same seed, same data.
    scenario : int, optional
        Scenario number, for generators that have scenarios (``"ite"``, ``"ite-binary"``:
        1..16, default 1; ``"survival"``: 1..4, default 1).

    Returns
    -------
    SimulatedIPD

    Raises
    ------
    ModelSpecificationError
        For an unknown name, or a scenario given to a generator without scenarios.

    Examples
    --------
    >>> from ipdma.datasets import simulate
    >>> sim = simulate("ite", seed=42, scenario=9)
    >>> sim.params["nonlinear"]
    True
    """
    key = str(name).strip().lower()
    if key not in DATASETS:
        close = difflib.get_close_matches(key, list(DATASETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelSpecificationError(
            f"unknown data set {name!r}: choose one of {', '.join(map(repr, DATASETS))}.{hint}")
    entry = DATASETS[key]
    if scenario is None:
        return entry.generator(random_state=seed)
    if not entry.scenarios:
        with_sc = ", ".join(f"{k!r} ({min(e.scenarios)}-{max(e.scenarios)})"
                            for k, e in DATASETS.items() if e.scenarios)
        raise ModelSpecificationError(
            f"data set {key!r} has no scenarios (got scenario={scenario!r}); only {with_sc} "
            "take a scenario number. Leave the scenario out.")
    return entry.generator(scenario=scenario, random_state=seed)

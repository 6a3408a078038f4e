"""Simulation studies comparing two-stage ITE methods (and any other methods).

Declare scenarios (e.g. the 16 of :func:`ipdma.datasets.make_ite_continuous`),
methods (learner + pooler pairs) and replicates; run locally with joblib or on
a Dask cluster; results go cell by cell to a Parquet store that a rerun
resumes; :func:`summarize` gives tables and plots.

Examples
--------
>>> from ipdma.simstudy import SimulationStudy, ite_scenarios, ite_methods
>>> study = SimulationStudy(ite_scenarios("1-2"), ite_methods("ols+mvma"), n_reps=3, seed=42)
>>> results = study.run("results/", n_jobs=2)       # doctest: +SKIP
>>> print(results.summary())                         # doctest: +SKIP
"""

from ._design import ITEMethod, Scenario, ite_methods, ite_scenarios, parse_methods, parse_scenarios
from ._engine import SimulationStudy, cell_seeds, run_cell
from ._metrics import METRICS, ite_metrics
from ._network import NETWORK_SCENARIOS, make_network_scenario, network_metrics
from ._store import ResultStore
from ._summary import SimulationResults, summarize

__all__ = [
    "METRICS",
    "NETWORK_SCENARIOS",
    "ITEMethod",
    "ResultStore",
    "Scenario",
    "SimulationResults",
    "SimulationStudy",
    "cell_seeds",
    "ite_methods",
    "ite_metrics",
    "ite_scenarios",
    "make_network_scenario",
    "network_metrics",
    "parse_methods",
    "parse_scenarios",
    "run_cell",
    "summarize",
]

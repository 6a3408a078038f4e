"""The treatment-network scenarios of a simulation study (``outcome="network"``).

Data: :func:`ipdma.datasets.make_ite_network` (four treatments A-D, multi-arm and
two-arm trials, one trial without the reference A, treatment-specific effect
modifiers, true ITEs and true best treatment of every test patient).  The methods
predict every pair of treatments for the test patients
(:meth:`ipdma.ite.TwoStageITE.predict_pairs`); :func:`network_metrics` scores them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ._metrics import ite_metrics

__all__ = ["NETWORK_SCENARIOS", "make_network_scenario", "network_metrics"]

#: The network scenarios: between-trial SD ``tau`` of the treatment effects and the
#: range of trial sizes (every scenario uses the default ten-trial design of
#: :func:`ipdma.datasets.make_ite_network`)
NETWORK_SCENARIOS = pd.DataFrame(
    {"tau": [0.2, 0.0, 0.5, 0.2], "n_low": [200, 200, 200, 60],
     "n_high": [400, 400, 400, 120],
     "label": ["moderate heterogeneity", "no heterogeneity", "large heterogeneity",
               "small trials"]},
    index=pd.Index([1, 2, 3, 4], name="scenario"))

#: per-contrast metrics stored as ``<metric>[<j>_vs_<k>]``
CONTRAST_METRICS = ("bias", "rmse", "mae", "coverage_ci", "coverage_pi")


def make_network_scenario(scenario: int = 1, random_state: Any = None, **params: Any):
    """:func:`ipdma.datasets.make_ite_network` with the settings of a network scenario.

    ``params`` override the scenario's (e.g. ``n_test=200``).  The test set gets
    ``true_ite_<T>_vs_A`` and ``true_best``.

    Examples
    --------
    >>> from ipdma.simstudy import make_network_scenario
    >>> sim = make_network_scenario(4, random_state=1, n_test=50)
    >>> sim.params["tau"], len(sim.test)
    (0.2, 50)
    """
    if int(scenario) not in NETWORK_SCENARIOS.index:
        raise ModelSpecificationError(
            f"network scenario {scenario} does not exist: the treatment-network design has "
            f"scenarios {NETWORK_SCENARIOS.index.min()}-{NETWORK_SCENARIOS.index.max()}")
    from ..datasets import make_ite_network

    row = NETWORK_SCENARIOS.loc[int(scenario)]
    kw = {"tau": float(row["tau"]), "n_per_trial": (int(row["n_low"]), int(row["n_high"]))}
    kw.update(params)
    sim = make_ite_network(random_state=random_state, **kw)
    sim.params["scenario"] = int(scenario)
    return sim


def network_metrics(pred: pd.DataFrame, sim) -> dict[str, float]:
    """Accuracy of a network method's predictions for the test patients of ``sim``.

    ``pred`` holds every pair (``ite_<j>_vs_<k>``, ``ci_``/``pi_`` intervals, as
    :meth:`~ipdma.ite.TwoStageITE.predict_pairs`) and ``best_treatment``.

    * the columns of :data:`ipdma.simstudy.METRICS` (``mae``, ``bias``, ``rmse``,
      ``r2``, coverage and width of the CI/PI) over the contrasts of every treatment
      vs the network reference, stacked (the basic parameters: every other pair
      follows from them);
    * ``best_correct``: share of patients whose predicted best treatment is the true one;
    * per contrast, every pair ``j`` vs ``k``: ``bias[j_vs_k]``, ``rmse[...]``,
      ``mae[...]``, ``coverage_ci[...]``, ``coverage_pi[...]``.

    Examples
    --------
    >>> from ipdma.ite import TwoStageITE
    >>> from ipdma.simstudy import make_network_scenario, network_metrics
    >>> sim = make_network_scenario(2, random_state=1, n_test=100)
    >>> model = TwoStageITE("ols", "mvma", random_state=1).fit(sim.ipd())
    >>> m = network_metrics(model.predict_pairs(sim.test[sim.columns["covariates"]]), sim)
    >>> 0.5 < m["best_correct"] <= 1, round(m["coverage_ci[B_vs_A]"], 2) > 0.5
    (True, True)
    """
    trts = list(sim.params["treatments"])
    ref = str(sim.params["reference"])
    test = sim.test
    true = {ref: np.zeros(len(test))}
    for t in trts:
        if t != ref:
            true[t] = test[f"true_ite_{t}_vs_{ref}"].to_numpy(float)
    pairs = [(a, b) for a in trts for b in trts if a != b and f"ite_{a}_vs_{b}" in pred]
    out: dict[str, float] = {}
    stacked = []
    for a, b in pairs:
        key = f"{a}_vs_{b}"
        sub = pd.DataFrame({stem: pred[f"{stem}_{key}"].to_numpy(float)
                            for stem in ("ite", "ci_low", "ci_high", "pi_low", "pi_high")
                            if f"{stem}_{key}" in pred})
        truth = true[a] - true[b]
        m = ite_metrics(sub, truth)
        for name in CONTRAST_METRICS:
            out[f"{name}[{key}]"] = m[name]
        if b == ref:
            stacked.append((sub, truth))
    if not stacked:
        raise ModelSpecificationError(
            f"the predictions have no contrast vs the network reference {ref!r}")
    allp = pd.concat([s for s, _ in stacked], ignore_index=True)
    overall = ite_metrics(allp, np.concatenate([t for _, t in stacked]))
    out = {**overall, "best_correct": float(np.mean(
        pred["best_treatment"].astype(str).to_numpy() == test["true_best"].astype(str).to_numpy())),
        **out}
    return out

"""Simulation check (slow): 95% intervals of the risk interactions cover the truth.

Data: ``ipdma.datasets.make_ms_network`` (3 trials, DMF/GA/NAT vs placebo) with the risk
score set to the *true* prognostic linear predictor ``true_lp`` (logit scale).  The
generating model is ``logit p = a_j + lp + d_t + gamma_t (lp - c)``, so with trial
centring our model is correctly specified for the slope under placebo (g0 = 1) and the
interactions gamma_t (the trial-level d_t absorb gamma_t (mean lp_j - c), so d is not
checked).  Using the true lp isolates stage 2 from stage-1 estimation error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ipdma.nmr import RiskNMR

pytest.importorskip("ipdma.datasets")

KW = dict(trial="STUDYID", treatment="TRT01A", outcome="RELAPSE2year", risk="true_lp")
TRUTH = {"g0": 1.0, "gamma[DMF]": 0.30, "gamma[GA]": 0.20, "gamma[NAT]": -0.30}


def _data(seed: int):
    from ipdma.datasets import make_ms_network

    sim = make_ms_network(random_state=seed, missing=False, n_external=0)
    df = sim.data[["STUDYID", "TRT01A", "RELAPSE2year"]].copy()
    df["true_lp"] = sim.truth["true_lp"].to_numpy()
    assert sim.params["risk_interactions"] == {"DMF": 0.3, "GA": 0.2, "NAT": -0.3}
    return df


def _coverage(engine: str, n_rep: int, **kw) -> dict[str, float]:
    hits = {k: 0 for k in TRUTH}
    ss = np.random.SeedSequence(20240611)
    seeds = [int(s.generate_state(1)[0]) for s in ss.spawn(n_rep)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, seed in enumerate(seeds):
            res = RiskNMR(engine=engine, random_state=i, **kw).fit(_data(seed), **KW)
            p = res.params
            for k, v in TRUTH.items():
                hits[k] += int(p.loc[k, "lower"] <= v <= p.loc[k, "upper"])
    return {k: h / n_rep for k, h in hits.items()}


@pytest.mark.slow
def test_interaction_coverage_ml():
    cov = _coverage("ml", 200)
    print("ML Wald 95% CI coverage over 200 replicates:", cov)
    for k, c in cov.items():
        assert 0.90 <= c <= 0.99, (k, c)


@pytest.mark.slow
def test_interaction_coverage_bayes():
    cov = _coverage("bayes", 100, draws=500, warmup=300)
    print("NUTS 95% CrI coverage over 100 replicates:", cov)
    for k, c in cov.items():
        assert 0.90 <= c <= 0.99, (k, c)

"""Simulation checks over many replicates (run with ``pytest -m slow``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from ipdma.datasets import make_ite_continuous, make_lbp_trials, make_ms_network

pytestmark = pytest.mark.slow

X = [f"x{j}" for j in range(1, 9)]


def _coverage_ok(hits: np.ndarray, level: float = 0.95) -> None:
    """Observed coverage within 3.5 binomial SEs of the nominal level."""
    n = hits.size
    assert abs(hits.mean() - level) < 3.5 * np.sqrt(level * (1 - level) / n), hits.mean()


def test_ite_ols_interactions_unbiased_with_nominal_coverage():
    seeds = np.random.SeedSequence(31).spawn(120)
    est, hits = [], []
    for ss in seeds:
        sim = make_ite_continuous(1, random_state=ss, n_test_trials=0)
        d = sim.data
        trial = pd.get_dummies(d["trial"], dtype=float).to_numpy()
        t = d["treatment"].to_numpy(dtype=float)[:, None]
        xm = d[X].to_numpy()
        design = np.column_stack([trial, xm, trial * t, xm * t])
        fit = sm.OLS(d["y"].to_numpy(), design).fit()
        gamma = np.array(list(sim.params["gamma"].values()))
        ci = fit.conf_int()[-8:]
        est.append(fit.params[-8:] - gamma)
        hits.append((ci[:, 0] <= gamma) & (gamma <= ci[:, 1]))
    err = np.array(est)
    se_mean = err.std(axis=0, ddof=1) / np.sqrt(len(seeds))
    assert np.all(np.abs(err.mean(axis=0)) < 3.5 * se_mean)
    _coverage_ok(np.array(hits).ravel())


def test_ms_treatment_effects_unbiased_with_nominal_coverage():
    seeds = np.random.SeedSequence(32).spawn(100)
    names = ["DMF", "GA", "NAT", "DMF:lpc", "GA:lpc", "NAT:lpc"]
    hits = []
    for ss in seeds:
        sim = make_ms_network(random_state=ss, n_external=0)
        d, t, p = sim.data, sim.truth, sim.params
        trt = pd.get_dummies(d["TRT01A"], dtype=float)[["DMF", "GA", "NAT"]]
        inter = trt.mul(t["true_lp"] - p["centre"], axis=0).add_suffix(":lpc")
        x = pd.concat([pd.get_dummies(d["STUDYID"], dtype=float), trt,
                       t["true_lp"].rename("lp"), inter], axis=1)
        fit = sm.Logit(d["RELAPSE2year"].to_numpy(), x).fit(disp=0)
        truth = np.array([p["treatment_effects"][k] for k in ("DMF", "GA", "NAT")]
                         + [p["risk_interactions"][k] for k in ("DMF", "GA", "NAT")])
        ci = fit.conf_int().loc[names].to_numpy()
        hits.append((ci[:, 0] <= truth) & (truth <= ci[:, 1]))
    _coverage_ok(np.array(hits).ravel())


def test_lbp_subgroup_effect_coverage():
    seeds = np.random.SeedSequence(33).spawn(200)
    hits = []
    for ss in seeds:
        sim = make_lbp_trials(random_state=ss)
        d = sim.data
        trial = pd.get_dummies(d["trial"], dtype=float).to_numpy()
        t = d["treatment"].to_numpy(dtype=float)
        s = (d["rmdq0"] > 13).to_numpy(dtype=float)
        fit = sm.OLS(d["rmdq"].to_numpy(), np.column_stack([trial, trial * t[:, None], s,
                                                            t * s])).fit()
        lo, hi = fit.conf_int()[-1]
        hits.append(lo <= sim.params["subgroup_effect"] <= hi)
    _coverage_ok(np.array(hits))
    assert stats.binomtest(int(np.sum(hits)), len(hits), 0.95).pvalue > 0.001

"""sup-LM p-value function (Hansen 1997) against partykit (R oracle suplm_pvalues)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

from ipdma.trees import chi2_logsf, suplm_lambda, suplm_logpvalue, suplm_pvalue
from ipdma.trees._suplm import adjust_pvalues


@pytest.mark.reference
def test_suplm_grid_matches_partykit(ref_case):
    case = ref_case("suplm_pvalues")
    g = case.csv("suplm_pvalue_grid.csv")
    assert len(g) == case.expected["rows"]
    lams = []
    logp = []
    for r in g.itertuples():
        frm, _to, lam = suplm_lambda(r.n, r.trim, r.minsize)
        assert frm == r._6  # column "from"
        lams.append(lam)
        logp.append(suplm_logpvalue(r.stat, int(r.k), lam))
    np.testing.assert_allclose(lams, g["lambda"], rtol=1e-14)
    # README tolerance: log p atol 1e-10 over the whole grid
    np.testing.assert_allclose(logp, g["logp_partykit"], rtol=0, atol=1e-10)
    p = np.exp(logp)
    np.testing.assert_allclose(p, g["p_partykit"], rtol=1e-10)
    np.testing.assert_allclose(p, g["p_strucchange"], rtol=0, atol=1e-12)


@pytest.mark.reference
def test_suplm_lmtree_anchor(ref_case):
    anchor = ref_case("suplm_pvalues").expected["lmtree_anchor"]
    p = suplm_pvalue(np.array(anchor["statistic"]), 2, anchor["lambda"])
    np.testing.assert_allclose(p, anchor["p_grid_function"], rtol=1e-10)


def test_suplm_vectorised_and_monotone():
    x = np.linspace(0.5, 60, 200)
    for k in (1, 3, 12, 40):
        for lam in (1.0, 16.0, 81.0, 1e4):
            lp = suplm_logpvalue(x, k, lam)
            assert lp.shape == x.shape
            scalar = [float(suplm_logpvalue(v, k, lam)) for v in x[::37]]
            np.testing.assert_allclose(lp[::37], scalar, rtol=1e-14)
            assert np.all(np.diff(lp) <= 1e-12)


def test_suplm_boundaries():
    # tau = 0.5 (lambda = 1): plain chi-square tail
    np.testing.assert_allclose(suplm_pvalue(7.0, 3, 1.0), chi2.sf(7.0, 3), rtol=1e-12)
    # stronger trimming (larger tau) gives smaller p-values for the same statistic
    assert suplm_pvalue(10.0, 2, 4.0) < suplm_pvalue(10.0, 2, 81.0) < suplm_pvalue(10.0, 2, 1e5)
    # k > 40 uses Estrella's approximation and stays a probability
    p = suplm_pvalue(np.array([30.0, 60.0, 120.0]), 45, 81.0)
    assert np.all((p > 0) & (p <= 1)) and np.all(np.diff(p) < 0)


def test_chi2_logsf_tail():
    x = np.array([10.0, 500.0, 1400.0, 5000.0])
    ref = chi2.logsf(x[:2], 4)
    np.testing.assert_allclose(chi2_logsf(x[:2], 4), ref, rtol=1e-12)
    lp = chi2_logsf(x, 4)
    assert np.all(np.isfinite(lp)) and np.all(np.diff(lp) < 0)
    # asymptotics: log Q(a, x) ~ -x + (a - 1) log x - lgamma(a) for the gamma(a = df/2)
    np.testing.assert_allclose(lp[-1], -2500 + np.log(2500), rtol=1e-6)


def test_bonferroni_rule():
    p = np.array([0.0001, 0.2, np.nan, 0.5])
    adj = adjust_pvalues(p)
    np.testing.assert_allclose(adj[0], 3 * 0.0001)
    np.testing.assert_allclose(adj[1], 1 - 0.8**3)
    assert np.isnan(adj[2])

"""LinearMixedModel against lme4::lmer (the lmer fits inside the glmertree references).

Each lmertree entry of the reference cases stores the final lmer fit of
``y ~ .tree + .tree:trt + (random | trial)``; its design is rebuilt here from the
exported terminal-node membership (``tree.fitted_node``), so the mixed-model
engine is tested independently of the tree.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import BoundaryWarning, DataError, DataWarning, ModelSpecificationError
from ipdma.trees._lmm import LinearMixedModel

MULTI = [
    ("b_lmertree_RI", ["1"], False),
    ("c_lmertree_RI_RT", ["1", "trt"], False),
    ("d_lmertree_FEint_RT", ["trt"], True),
    ("e_lmertree_RT", ["trt"], False),
    ("f_lmertree_RI_RT_cluster", ["1", "trt"], False),
    ("g_lmertree_RI_RT_parm2", ["1", "trt"], False),
]
DEPR = [("lmertree_RI", ["1"]), ("lmertree_RI_RT", ["1", "trt"])]


def _design(node, trt, trial=None):
    """The lmer fixed-effects design of glmertree: (Intercept), .tree<k> (k > first),
    [trial dummies], .tree<k>:trt."""
    nodes = np.unique(node)
    cols = {"(Intercept)": np.ones(node.size)}
    for k in nodes[1:]:
        cols[f".tree{k}"] = (node == k).astype(float)
    if trial is not None:
        for lv in np.unique(trial)[1:]:
            cols[f"trial{lv}"] = (trial == lv).astype(float)
    for k in nodes:
        cols[f".tree{k}:trt"] = (node == k) * trt
    return pd.DataFrame(cols)


def _fit(entry, y, trt, groups, zspec, fe_trial=None, grp="trial"):
    node = np.asarray(entry["tree"]["fitted_node"])
    X = _design(node, trt, fe_trial)
    assert list(X.columns) == [n.replace("treatmentTreatment 2", "trt")
                               for n in entry["fixef_names"]]
    Z = np.column_stack([np.ones(y.size) if s == "1" else trt for s in zspec])
    return LinearMixedModel().fit(y, X, Z, groups, random_names=zspec, group_name=grp)


def _compare(res, entry, grp, vc_atol):
    np.testing.assert_allclose(res.fe_params.to_numpy(), entry["fixef"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(res.vcov.to_numpy(), np.array(entry["fixef_vcov"]),
                               atol=1e-5, rtol=0)
    vc = res.varcorr()
    np.testing.assert_allclose(vc["vcov"].to_numpy(), entry["varcorr"]["vcov"], atol=vc_atol)
    np.testing.assert_allclose(vc["sdcor"].to_numpy(), entry["varcorr"]["sdcor"], atol=vc_atol)
    assert list(vc["grp"]) == entry["varcorr"]["grp"]
    assert res.sigma == pytest.approx(entry["sigma"], abs=vc_atol)
    # REML logLik: ours must be at least as high as lme4's (bobyqa stops slightly early)
    assert res.llf == pytest.approx(entry["logLik_lmer_REML"], abs=1e-4)
    assert res.llf >= entry["logLik_lmer_REML"] - 1e-8
    re = np.array(entry["ranef"][grp]["values"], dtype=float).reshape(res.ranef.shape)
    np.testing.assert_allclose(res.ranef.to_numpy(), re, atol=max(vc_atol, 1e-4))
    assert list(res.ranef.index) == entry["ranef"][grp]["levels"]


@pytest.mark.reference
@pytest.mark.parametrize(("key", "zspec", "fe"), MULTI)
def test_lmer_multitrial(ref_case, key, zspec, fe):
    case = ref_case("metamob_multitrial")
    d = case.csv("sim_multitrial.csv")
    entry = case.expected[key]
    trt = d["trt"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BoundaryWarning)
        res = _fit(entry, d["y"].to_numpy(), trt, d["trial"], zspec,
                   d["trial"].to_numpy() if fe else None)
    assert res.converged and not res.singular
    _compare(res, entry, "trial", 1e-4)


@pytest.mark.reference
@pytest.mark.parametrize(("key", "zspec"), DEPR)
def test_lmer_depression(ref_case, key, zspec):
    case = ref_case("glmertree_depression")
    d = case.csv("DepressionDemo.csv")
    entry = case.expected[key]
    trt = (d["treatment"] == "Treatment 2").to_numpy(float)
    singular = key.endswith("RT")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = _fit(entry, d["depression"].to_numpy(), trt, d["cluster"], zspec, grp="cluster")
    assert res.singular == singular
    assert any(issubclass(w.category, BoundaryWarning) for w in rec) == singular
    # the RI+RT fit is singular (correlation -1): README tolerance 1e-2 for its VCs
    _compare(res, entry, "cluster", 1e-2 if singular else 1e-4)
    if singular:
        assert res.varcorr()["sdcor"].iloc[2] == pytest.approx(-1.0, abs=1e-6)


@pytest.fixture
def toy():
    rng = np.random.default_rng(7)
    J, m = 12, 40
    g = np.repeat(np.arange(J), m)
    t = rng.integers(0, 2, g.size).astype(float)
    b0, b1 = rng.normal(0, 1.0, J), rng.normal(0, 0.5, J)
    y = 5 + 1.5 * t + b0[g] + b1[g] * t + rng.normal(0, 1.5, g.size)
    X = pd.DataFrame({"(Intercept)": 1.0, "trt": t})
    Z = pd.DataFrame({"(Intercept)": 1.0, "trt": t})
    return y, X, Z, g


def test_ml_matches_statsmodels(toy):
    """ML fit against statsmodels MixedLM (same model, independent code)."""
    import statsmodels.api as sm

    y, X, Z, g = toy
    ours = LinearMixedModel(reml=False).fit(y, X, Z, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_fit = sm.MixedLM(y, X, g, exog_re=Z).fit(reml=False, method="lbfgs")
    np.testing.assert_allclose(ours.fe_params.to_numpy(), sm_fit.fe_params.to_numpy(),
                               atol=1e-4)
    assert ours.llf == pytest.approx(sm_fit.llf, abs=1e-4)
    np.testing.assert_allclose(ours.cov_re.to_numpy(), sm_fit.cov_re.to_numpy(), atol=1e-3)
    assert ours.scale == pytest.approx(sm_fit.scale, rel=1e-4)


def test_reml_matches_statsmodels(toy):
    """REML: same estimates, SEs and log-likelihood definition as statsmodels MixedLM."""
    import statsmodels.api as sm

    y, X, Z, g = toy
    ours = LinearMixedModel().fit(y, X, Z, g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_fit = sm.MixedLM(y, X, g, exog_re=Z).fit(reml=True, method="lbfgs")
    np.testing.assert_allclose(ours.fe_params.to_numpy(), sm_fit.fe_params.to_numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(ours.bse.to_numpy(), sm_fit.bse.to_numpy()[:2], atol=1e-4)
    np.testing.assert_allclose(ours.cov_re.to_numpy(), sm_fit.cov_re.to_numpy(), atol=1e-4)
    assert ours.llf == pytest.approx(sm_fit.llf, abs=1e-6)


def test_reml_above_ml_variance(toy):
    y, X, Z, g = toy
    reml = LinearMixedModel().fit(y, X, Z, g)
    ml = LinearMixedModel(reml=False).fit(y, X, Z, g)
    assert reml.cov_re.iloc[0, 0] > ml.cov_re.iloc[0, 0]


def test_constant_weights_invariance(toy):
    """Prior weights c rescale sigma^2 by 1/c and leave beta and the likelihood unchanged."""
    y, X, Z, g = toy
    a = LinearMixedModel().fit(y, X, Z, g)
    b = LinearMixedModel().fit(y, X, Z, g, weights=np.full(y.size, 4.0))
    np.testing.assert_allclose(a.fe_params, b.fe_params, atol=1e-7)
    assert b.llf == pytest.approx(a.llf, abs=1e-7)
    assert b.sigma == pytest.approx(a.sigma * 2.0, rel=1e-6)
    np.testing.assert_allclose(a.cov_re, b.cov_re, atol=1e-6)


def test_offset_equals_shifted_outcome(toy):
    y, X, Z, g = toy
    off = np.linspace(-1, 1, y.size)
    a = LinearMixedModel().fit(y, X, Z, g, offset=off)
    b = LinearMixedModel().fit(y - off, X, Z, g)
    np.testing.assert_allclose(a.fe_params, b.fe_params, atol=1e-8)
    np.testing.assert_allclose(a.fittedvalues - off, b.fittedvalues, atol=1e-8)


def test_outputs_and_protocol(toy):
    y, X, Z, g = toy
    res = LinearMixedModel().fit(y, X, Z, g, group_name="trial")
    assert res.converged
    np.testing.assert_allclose(res.fittedvalues + res.resid, y)
    np.testing.assert_allclose(res.predict(X, Z, g), res.fittedvalues, atol=1e-10)
    # unseen groups get a zero random effect
    np.testing.assert_allclose(res.predict(X, Z, np.full(y.size, 99)), X.to_numpy()
                               @ res.fe_params.to_numpy())
    re = res.random_effects()
    assert list(re.columns) == ["trial", "term", "estimate", "cond_sd", "ci_lower", "ci_upper"]
    assert len(re) == 2 * 12 and (re["cond_sd"] > 0).all()
    assert res.ranef_condvar.shape == (12, 2, 2)
    tab = res.to_frame()
    assert {"estimate", "se", "ci_lower", "ci_upper"} <= set(tab.columns)
    assert "Variance components" in str(res.summary())
    assert res.plot() is not None
    assert np.isfinite(res.aic) and res.bic > res.aic


def test_rank_deficient_columns_dropped(toy):
    y, X, Z, g = toy
    X2 = X.assign(dup=2 * X["trt"])
    with pytest.warns(DataWarning, match="dup"):
        res = LinearMixedModel().fit(y, X2, Z, g)
    assert np.isnan(res.fe_params["dup"])
    ref = LinearMixedModel().fit(y, X, Z, g)
    assert res.fe_params["trt"] == pytest.approx(ref.fe_params["trt"], abs=1e-8)


def test_errors(toy):
    y, X, Z, g = toy
    with pytest.raises(ModelSpecificationError, match="single level"):
        LinearMixedModel().fit(y, X, Z, np.zeros(y.size), group_name="trial")
    y2 = y.copy()
    y2[3] = np.nan
    with pytest.raises(DataError, match="outcome"):
        LinearMixedModel().fit(y2, X, Z, g)
    with pytest.raises(DataError, match="weights"):
        LinearMixedModel().fit(y, X, Z, g, weights=np.zeros(y.size))
    with pytest.raises(DataError, match="rows"):
        LinearMixedModel().fit(y, X.iloc[:10], Z, g)

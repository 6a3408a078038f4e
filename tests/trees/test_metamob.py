"""MetaMOB against glmertree::lmertree (metamob_multitrial, glmertree_depression).

For every random-effects variant: the same tree (node ids, split variables and
points, terminal node of every patient), node fixed effects (atol 1e-5), variance
components (atol 1e-4; 1e-2 for the singular RI+RT depression fit), REML logLik
(atol 1e-4), BLUPs and the number of tree/LMM iterations, as the READMEs state.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import (
    BoundaryWarning,
    ColumnNotFoundError,
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelSpecificationError,
)
from ipdma.trees._metamob import MetaMOB, _stopping_rule
from ipdma.trees._mob import MOB

PART_MULTI = ["x1", "x2", "x3", "x4"]
PART_DEPR = ["age", "anxiety", "duration"]

MULTI = {
    "b_lmertree_RI": dict(random="intercept"),
    "c_lmertree_RI_RT": dict(random="both"),
    "d_lmertree_FEint_RT": dict(random="treatment", fixed_trial_intercepts=True),
    "e_lmertree_RT": dict(random="treatment"),
    "f_lmertree_RI_RT_cluster": dict(random="both", cluster_tests=True),
    "g_lmertree_RI_RT_parm2": dict(random="both", parm="trt"),  # R's parm = 2
}
DEPR = {"lmertree_RI": dict(random="intercept"), "lmertree_RI_RT": dict(random="both")}

_FITS: dict = {}


def _multi(case):
    d = case.csv("sim_multitrial.csv")
    d["x3"] = d["x3"].astype("category")
    return d


def _fit_multi(case, key):
    if key not in _FITS:
        with warnings.catch_warnings():
            warnings.simplefilter("error", BoundaryWarning)
            _FITS[key] = MetaMOB(**MULTI[key]).fit(_multi(case), outcome="y", treatment="trt",
                                                   partition=PART_MULTI, trial="trial")
    return _FITS[key]


def _fit_depr(case, key):
    if key not in _FITS:
        d = case.csv("DepressionDemo.csv")
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            m = MetaMOB(**DEPR[key]).fit(d, outcome="depression", treatment="treatment",
                                         partition=PART_DEPR, trial="cluster")
        _FITS[key] = (m, rec)
    return _FITS[key]


def _compare_tree(tree, exp):
    """Same node ids, terminal flags, parents, split variables/points and membership."""
    nodes = {nd["id"]: nd for nd in exp["nodes"]}
    assert sorted(tree.nodes_) == exp["node_ids"]
    for nid, nd in tree.nodes_.items():
        e = nodes[nid]
        assert nd.terminal == e["terminal"]
        assert nd.nobs == e["nobs"]
        if not nd.terminal:
            assert nd.split.variable == e["split"]["variable"]
            if nd.split.kind == "numeric":
                assert nd.split.breaks == pytest.approx(e["split"]["breaks"], rel=1e-12)
            else:
                assert [str(v) for v in nd.split.levels] == [str(v) for v in e["split"]["levels"]]
                np.testing.assert_array_equal(nd.split.index + 1, e["split"]["index"])
    np.testing.assert_array_equal(tree.fitted_node_, exp["fitted_node"])


def _compare_fit(m, e, vc_atol):
    _compare_tree(m.tree_, e["tree"])
    assert m.n_iter == e["iterations"]
    assert m.converged
    # node coefficients (coef(lmertree)) and all fixed effects
    np.testing.assert_allclose(m.coef().to_numpy(), np.array(e["node_coef"]), atol=1e-5)
    assert [str(k) for k in m.coef().index] == e["node_coef_rownames"]
    np.testing.assert_allclose(m.lmm_.fe_params.to_numpy(), e["fixef"], atol=1e-5)
    # the tree's own node fits (final lmtree with the random-effect offset)
    for nd in e["tree"]["nodes"]:
        np.testing.assert_allclose(m.tree_.nodes_[nd["id"]].fit.coef, nd["coef"], atol=1e-5)
    # instability tests of the final tree: its offsets inherit lme4's optimiser error
    # (~1e-6), so statistics agree to ~1e-5 relative (tiny p-values less tightly)
    for nd in e["tree"]["nodes"]:
        if nd.get("tests"):
            t = m.tree_.nodes_[nd["id"]].tests
            assert list(t["variable"]) == nd["tests"]["variable"]
            np.testing.assert_allclose(t["statistic"], nd["tests"]["statistic"], rtol=1e-4)
            np.testing.assert_allclose(t["p_value"], np.array(nd["tests"]["p_value"], float),
                                       rtol=1e-2)
    vc = m.variance_components()
    np.testing.assert_allclose(vc["vcov"].to_numpy(), e["varcorr"]["vcov"], atol=vc_atol)
    np.testing.assert_allclose(vc["sdcor"].to_numpy(), e["varcorr"]["sdcor"], atol=vc_atol)
    assert m.lmm_.sigma == pytest.approx(e["sigma"], abs=vc_atol)
    assert m.loglik_ == pytest.approx(e["logLik_lmer_REML"], abs=1e-4)
    grp = next(iter(e["ranef"]))
    re = np.array(e["ranef"][grp]["values"], dtype=float).reshape(m.lmm_.ranef.shape)
    np.testing.assert_allclose(m.lmm_.ranef.to_numpy(), re, atol=max(vc_atol, 1e-4))
    # node treatment effects with Wald SEs from vcov(lmer)
    ne = m.node_effects()
    fx = e["fixef_names"]
    V = np.array(e["fixef_vcov"])
    if len(ne) > 1:
        idx = [fx.index(f".tree{k}:{e['node_coef_colnames'][1]}") for k in ne["node"]]
        np.testing.assert_allclose(ne["se"], np.sqrt(np.diag(V)[idx]), atol=1e-5)
        assert (ne["ci_lower"] < ne["estimate"]).all() and (ne["estimate"] < ne["ci_upper"]).all()


@pytest.mark.reference
@pytest.mark.parametrize("key", list(MULTI))
def test_multitrial_matches_glmertree(ref_case, key):
    case = ref_case("metamob_multitrial")
    m = _fit_multi(case, key)
    _compare_fit(m, case.expected[key], 1e-4)


@pytest.mark.reference
@pytest.mark.parametrize("key", list(DEPR))
def test_depression_matches_glmertree(ref_case, key):
    case = ref_case("glmertree_depression")
    m, rec = _fit_depr(case, key)
    singular = key == "lmertree_RI_RT"
    # RI+RT is a singular fit (correlation -1): README tolerance 1e-2 for its VCs
    assert m.lmm_.singular == singular
    assert any(issubclass(w.category, BoundaryWarning) for w in rec) == singular
    _compare_fit(m, case.expected[key], 1e-2 if singular else 1e-4)


@pytest.mark.reference
def test_mob_splits_on_trial_confounded_noise_metamob_does_not(ref_case):
    """Naive pooling (plain MOB) splits first on x4 (noise correlated with the trial
    intercepts); metaMOB with trial intercepts (random or fixed) splits only on the true
    modifier x1. Modelling only a random treatment effect is not enough (fit e)."""
    case = ref_case("metamob_multitrial")
    d = _multi(case)
    mob = MOB().fit(d, outcome="y", regressors=["trt"], partition=PART_MULTI)
    assert mob.tree_.split.variable == "x4"
    assert case.expected["a_lmtree"]["nodes"][0]["split"]["variable"] == "x4"
    for key in ("b_lmertree_RI", "c_lmertree_RI_RT", "d_lmertree_FEint_RT"):
        m = _fit_multi(case, key)
        used = {nd.split.variable for nd in m.tree_.tree_.walk() if nd.split is not None}
        assert used == {"x1"}, key
        # the subgroup effects recover the truth: -0.5 (x1 <= 0.5) vs -2.5
        ne = m.node_effects()
        assert ne["ci_lower"].iloc[0] < -0.5 < ne["ci_upper"].iloc[0]
        assert ne["ci_lower"].iloc[1] < -2.5 < ne["ci_upper"].iloc[1]
    e = _fit_multi(case, "e_lmertree_RT")
    assert "x4" in {nd.split.variable for nd in e.tree_.tree_.walk() if nd.split is not None}


@pytest.mark.reference
def test_outputs_and_predict(ref_case):
    case = ref_case("metamob_multitrial")
    d = _multi(case)
    for key in ("c_lmertree_RI_RT", "d_lmertree_FEint_RT"):
        m = _fit_multi(case, key)
        # in-sample conditional predictions = fitted values of the final LMM
        np.testing.assert_allclose(m.predict(d).to_numpy(), m.lmm_.fittedvalues, atol=1e-8)
        np.testing.assert_array_equal(m.predict(d, type="node"), m.fitted_node_)
        eff = m.predict(d.head(5), type="effect")
        assert list(eff.columns) == ["node", "estimate", "se", "ci_lower", "ci_upper"]
        re = m.random_effects()
        assert set(re["trial"]) == {f"T{k}" for k in range(1, 9)}
        assert {"estimate", "cond_sd", "ci_lower", "ci_upper"} <= set(re.columns)
    m = _fit_multi(case, "c_lmertree_RI_RT")
    # a new trial gets zero random effects: population-level prediction
    new = d.head(4).assign(trial="T99")
    np.testing.assert_allclose(m.predict(new), m.predict(d.head(4), random=False))
    assert m.formula() == "y ~ trt | (1 + trt | trial) | x1 + x2 + x3 + x4"
    assert list(m.history_["iteration"]) == [1, 2, 3]
    text = str(m.summary())
    assert "Variance components" in text and "x1 <= 0.50189" in text
    assert str(m).startswith("Linear mixed model tree") and "x1 <= 0.50189" in str(m)
    assert m.to_frame().shape[0] == 2
    for kind in ("tree", "effects", "ranef"):
        assert m.plot(kind=kind) is not None
    fe = _fit_multi(case, "d_lmertree_FEint_RT")
    assert fe.formula() == "y ~ trt | trial + (0 + trt | trial) | x1 + x2 + x3 + x4"
    with pytest.warns(DataWarning, match="trials not in the fit"):
        p = fe.predict(d.head(2).assign(trial="T99"))
    assert p.isna().all()


def test_stopping_rule():
    inf = -np.inf
    assert _stopping_rule(-10.0, [inf, inf], 1, 100, 1e-3) == (True, False)
    assert _stopping_rule(-10.0, [-10.0005, inf], 2, 100, 1e-3) == (False, True)
    assert _stopping_rule(-10.0, [-12.0, -10.0002], 5, 100, 1e-3) == (False, True)  # 2-cycle
    assert _stopping_rule(-12.0, [-10.0, -12.0002], 5, 100, 1e-3) == (True, False)
    assert _stopping_rule(-10.0, [-11.0, inf], 100, 100, 1e-3) == (False, False)  # maxit


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(11)
    trial = np.repeat(["A", "B", "C", "D", "E"], 80)
    n = trial.size
    df = pd.DataFrame({"study": trial, "arm": rng.choice(["ctrl", "active"], n),
                       "z1": rng.normal(size=n), "z2": rng.uniform(size=n)})
    a = dict(zip("ABCDE", rng.normal(10, 1, 5)))
    df["out"] = (df.study.map(a) + (df.arm == "active") * (-1 - 2 * (df.z1 > 0))
                 + rng.normal(0, 1.5, n))
    return df


def test_categorical_treatment_and_ranefstart(small):
    m = MetaMOB("intercept").fit(small, outcome="out", treatment="arm", partition=["z1", "z2"],
                                 trial="study", treated="active")
    assert m.node_effects()["coef"].iloc[0] == "arm[active]"
    m2 = MetaMOB("intercept", ranefstart=True).fit(
        small, outcome="out", treatment="arm", partition=["z1", "z2"], trial="study",
        treated="active")
    np.testing.assert_array_equal(m.fitted_node_, m2.fitted_node_)
    np.testing.assert_allclose(m.coef(), m2.coef(), atol=1e-6)
    # default treated level: the second in sorted order ("ctrl" -> 1), effect flips sign
    m3 = MetaMOB("intercept").fit(small, outcome="out", treatment="arm", partition=["z1", "z2"],
                                  trial="study")
    np.testing.assert_allclose(m3.node_effects()["estimate"], -m.node_effects()["estimate"],
                               atol=1e-6)


def test_maxit_warns(small):
    with pytest.warns(ConvergenceWarning, match="maxit"):
        m = MetaMOB("intercept", maxit=1).fit(small, outcome="out", treatment="arm",
                                              partition=["z1"], trial="study")
    assert m.n_iter == 1 and not m.converged


def test_missing_rows_dropped_with_warning(small):
    d = small.copy()
    d.loc[[3, 7], "z2"] = np.nan
    with pytest.warns(DataWarning, match="dropped 2"):
        m = MetaMOB("intercept").fit(d, outcome="out", treatment="arm", partition=["z1", "z2"],
                                     trial="study")
    assert m.nobs_ == len(d) - 2


def test_errors(small):
    kw = dict(outcome="out", treatment="arm", partition=["z1", "z2"])
    with pytest.raises(ColumnNotFoundError, match=r"'studdy'.*Did you mean 'study'"):
        MetaMOB().fit(small, trial="studdy", **kw)
    with pytest.raises(ModelSpecificationError, match=r"single trial.*MOB"):
        MetaMOB().fit(small[small.study == "A"], trial="study", **kw)
    with pytest.raises(ModelSpecificationError, match="cannot also be random"):
        MetaMOB("both", fixed_trial_intercepts=True).fit(small, trial="study", **kw)
    with pytest.raises(ModelSpecificationError, match="random must be"):
        MetaMOB("slopes!").fit(small, trial="study", **kw)
    three = small.assign(arm=np.resize(["a", "b", "c"], len(small)))
    with pytest.raises(DataError, match="exactly 2 levels"):
        MetaMOB().fit(three, trial="study", **kw)
    with pytest.raises(ModelSpecificationError, match="partitioning variable and in the node"):
        MetaMOB().fit(small, outcome="out", treatment="arm", partition=["arm"], trial="study")
    with pytest.raises(DataError, match="not identifiable"):
        MetaMOB("treatment").fit(small.assign(arm=small.study.isin(["A", "B"]).astype(int)),
                                 trial="study", **kw)


def test_unit_weights_and_offset(small):
    kw = dict(outcome="out", treatment="arm", partition=["z1", "z2"], trial="study",
              treated="active")
    base = MetaMOB("both").fit(small, **kw)
    w1 = MetaMOB("both").fit(small.assign(w=1.0), weights="w", **kw)
    np.testing.assert_array_equal(base.fitted_node_, w1.fitted_node_)
    np.testing.assert_allclose(base.coef(), w1.coef(), atol=1e-8)
    assert w1.loglik_ == pytest.approx(base.loglik_, abs=1e-8)
    # a constant offset shifts the node intercepts only
    off = MetaMOB("both").fit(small.assign(o=5.0), offset="o", **kw)
    np.testing.assert_array_equal(base.fitted_node_, off.fitted_node_)
    np.testing.assert_allclose(off.coef().iloc[:, 0], base.coef().iloc[:, 0] - 5, atol=1e-6)
    np.testing.assert_allclose(off.coef().iloc[:, 1], base.coef().iloc[:, 1], atol=1e-6)
    with pytest.raises(DataError, match="positive"):
        MetaMOB("both").fit(small.assign(w=0.0), weights="w", **kw)


def test_extra_regressor_in_node_model(small):
    """A covariate in the node model gets node-specific slopes. When the partition is
    repeated, the last tree's node fits (OLS on y minus the random-effect offset) equal
    the mixed model's node coefficients (Henderson's equations)."""
    d = small.assign(age=np.linspace(30, 70, len(small)))
    m = MetaMOB("intercept").fit(d, outcome="out", treatment="arm", treated="active",
                                 partition=["z1", "z2"], trial="study", regressors=["age"])
    assert list(m.coef().columns) == ["(Intercept)", "arm[active]", "age"]
    assert m.converged
    hist = m.history_["splits"].tolist()
    assert hist[-1] == hist[-2]
    for k, row in m.coef().iterrows():
        np.testing.assert_allclose(m.tree_.nodes_[k].fit.coef, row.to_numpy(), atol=1e-6)
    ne = m.node_effects(coef="age")
    assert (ne["coef"] == "age").all() and (ne["se"] > 0).all()


def test_combine_propagates_inestimable():
    from ipdma.trees._metamob import _combine

    C = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    out = _combine(C, np.array([1.0, 2.0, np.nan]))
    np.testing.assert_array_equal(out[:2], [1.0, 3.0])
    assert np.isnan(out[2])


@pytest.mark.reference
def test_parm_by_treatment_column_name(ref_case):
    """parm may name the treatment column even when its coefficient is 'col[level]'."""
    d = ref_case("glmertree_depression").csv("DepressionDemo.csv")
    kw = dict(outcome="depression", treatment="treatment", partition=PART_DEPR, trial="cluster")
    a = MetaMOB("intercept", parm="treatment").fit(d, **kw)
    b = MetaMOB("intercept", parm=1).fit(d, **kw)
    np.testing.assert_array_equal(a.fitted_node_, b.fitted_node_)
    assert a.tree_.parm_ == ["treatment[Treatment 2]"]

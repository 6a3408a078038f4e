"""MOB against partykit::lmtree (R oracles mob_lmtree_single, mob_lmtree_null)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.trees import MOB

pytestmark = pytest.mark.reference

PARTITION = ["x1", "x2", "x3", "x4", "x5"]
RTOL_FIT = 1e-10  # coefficients, vcov, RSS, logLik, split points (case READMEs)
RTOL_STAT = 1e-8  # test statistics
RTOL_P = 1e-6  # p-values (for p < 1e-12 only the order of magnitude)


def load(case, name):
    d = case.csv(name)
    d["x3"] = d["x3"].astype(str)  # nominal, alphabetical levels
    d["x4"] = d["x4"].astype(str)
    d["x5"] = pd.Categorical(d["x5"], categories=["lo", "mid", "hi", "vhi"], ordered=True)
    return d


def fit(d, **kw):
    return MOB(**kw).fit(d, outcome="y", regressors=["trt"], partition=PARTITION)


def assert_p(actual, expected):
    actual = np.asarray(actual, float)
    expected = np.asarray(expected, float)
    small = expected < 1e-12
    np.testing.assert_allclose(actual[~small], expected[~small], rtol=RTOL_P)
    if small.any():
        np.testing.assert_allclose(np.log10(actual[small]), np.log10(expected[small]), atol=1.0)


def check_tree(tree: MOB, exp: dict) -> None:
    """Every quantity the case README pins, node by node."""
    ids = sorted(tree.nodes_)
    assert ids == list(np.atleast_1d(exp["node_ids"]))
    term = [i for i in ids if tree.nodes_[i].terminal]
    assert term == list(np.atleast_1d(exp["terminal_ids"]))
    for en in exp["nodes"]:
        nd = tree.nodes_[en["id"]]
        assert nd.parent == en["parent"]
        assert [c.id for c in nd.children] == list(np.atleast_1d(en["children"]))
        assert nd.nobs == en["nobs"]
        assert nd.fit.coef_names == en["coef_names"]
        np.testing.assert_allclose(nd.fit.coef, en["coef"], rtol=RTOL_FIT)
        np.testing.assert_allclose(nd.fit.objective, en["objfun"], rtol=RTOL_FIT)
        np.testing.assert_allclose(nd.fit.vcov, np.array(en["vcov"]), rtol=RTOL_FIT)
        np.testing.assert_allclose(nd.fit.loglik, en["logLik"], rtol=RTOL_FIT)
        np.testing.assert_allclose(nd.fit.sigma, en["sigma"], rtol=RTOL_FIT)
        if "tests" in en:
            t = nd.tests
            assert t["variable"].tolist() == en["tests"]["variable"]
            np.testing.assert_allclose(t["statistic"], en["tests"]["statistic"], rtol=RTOL_STAT)
            assert_p(t["p_value"], en["tests"]["p_value"])
            assert_p([nd.p_value], [en["p_value_min"]])
        else:
            assert nd.tests is None
        if "split" in en:
            sp = en["split"]
            assert nd.split.variable == sp["variable"]
            if nd.split.kind == "numeric":
                np.testing.assert_allclose(nd.split.breaks, sp["breaks"], rtol=RTOL_FIT)
            elif nd.split.kind == "ordered":
                assert nd.split.breaks + 1 == sp["breaks"]  # R: 1-based level position
            else:
                r_index = [k + 1 if k >= 0 else None for k in nd.split.index]
                assert r_index == sp["index"]
        else:
            assert nd.split is None
    np.testing.assert_allclose(tree.loglik, exp["logLik"], rtol=RTOL_FIT)
    assert tree.df == exp["logLik_df"]
    np.testing.assert_allclose(tree.aic, exp["AIC"], rtol=RTOL_FIT)
    np.testing.assert_allclose(tree.bic, exp["BIC"], rtol=RTOL_FIT)
    assert tree.nobs == exp["nobs"]
    coefs = np.array([tree.nodes_[i].fit.coef for i in term])
    np.testing.assert_allclose(coefs, np.array(exp["terminal_coef"]).reshape(coefs.shape),
                               rtol=RTOL_FIT)
    np.testing.assert_array_equal(tree.fitted_node_, exp["fitted_node"])
    assert tree.print_lines() == exp["print"]


@pytest.fixture
def single(ref_case):
    case = ref_case("mob_lmtree_single")
    return case, load(case, "sim_single.csv")


@pytest.fixture
def null(ref_case):
    case = ref_case("mob_lmtree_null")
    return case, load(case, "sim_null.csv")


def test_single_default(single):
    case, d = single
    check_tree(fit(d), case.expected["default"])


def test_single_parm2(single):
    case, d = single
    exp = case.expected["parm2"]
    check_tree(fit(d, parm="trt"), exp)
    # 0-based position of the treatment coefficient gives the same tree
    assert fit(d, parm=1).print_lines() == exp["print"]


def test_single_root_tests_unadjusted(single):
    case, d = single
    exp = case.expected["root_tests_unadjusted"]
    t = fit(d, bonferroni=False).tree_.tests
    assert t["variable"].tolist() == exp["variable"]
    np.testing.assert_allclose(t["statistic"], exp["statistic"], rtol=RTOL_STAT)
    assert_p(t["p_value"], exp["p_value"])
    # the default fit stores the raw p-values too
    assert_p(fit(d).tree_.tests["p_value_raw"], exp["p_value"])


@pytest.mark.parametrize("key,kw", [
    ("minsize50_maxdepth2", dict(minsize=50, maxdepth=2)),
    ("alpha020_pruneAIC", dict(alpha=0.20, prune="AIC")),
    ("numsplit_center", dict(numsplit="center")),
])
def test_single_control_variants(single, key, kw):
    case, d = single
    check_tree(fit(d, **kw), case.expected[key])


def test_single_root_split_search(single):
    case, d = single
    curve = case.csv("root_splitsearch_x1.csv")
    exp = case.expected["root_splitsearch_x1"]
    got = fit(d).split_search("x1", node=1)
    np.testing.assert_array_equal(got["cut"].to_numpy(), curve["cut"].to_numpy())
    inf = ~np.isfinite(curve["rss_sum"].to_numpy())
    np.testing.assert_array_equal(~np.isfinite(got["objective"].to_numpy()), inf)
    np.testing.assert_allclose(got["objective"].to_numpy()[~inf],
                               curve["rss_sum"].to_numpy()[~inf], rtol=RTOL_FIT)
    assert int(np.isfinite(got["objective"]).sum()) == exp["n_admissible"]
    best = got.loc[got["objective"].idxmin()]
    np.testing.assert_allclose(best["cut"], exp["best_cut"], rtol=RTOL_FIT)  # JSON: 15 digits
    np.testing.assert_allclose(best["objective"], exp["best_rss_sum"], rtol=RTOL_FIT)


def test_single_predict(single):
    case, d = single
    exp = case.expected["predict_default"]
    nd = pd.DataFrame(exp["newdata"])
    nd["x5"] = pd.Categorical(nd["x5"], categories=["lo", "mid", "hi", "vhi"], ordered=True)
    tree = fit(d)
    np.testing.assert_array_equal(tree.predict(nd, type="node").to_numpy(), exp["node"])
    np.testing.assert_allclose(tree.predict(nd, type="response").to_numpy(), exp["response"],
                               rtol=RTOL_FIT)
    eff = tree.predict(nd, type="effect")
    term = {n["id"]: n for n in case.expected["default"]["nodes"]}
    for node, est, se in zip(eff["node"], eff["estimate"], eff["se"]):
        np.testing.assert_allclose(est, term[node]["coef"][1], rtol=RTOL_FIT)
        np.testing.assert_allclose(se**2, term[node]["vcov"][1][1], rtol=RTOL_FIT)
    assert (eff["ci_lower"] < eff["estimate"]).all() and (eff["estimate"] < eff["ci_upper"]).all()


def test_null_default(null):
    case, d = null
    check_tree(fit(d), case.expected["default"])


def test_null_parm2_no_split(null):
    case, d = null
    tree = fit(d, parm="trt")
    check_tree(tree, case.expected["parm2"])
    assert tree.n_terminal == 1


def test_null_root_tests_unadjusted(null):
    case, d = null
    exp = case.expected["root_tests_unadjusted"]
    t = fit(d, bonferroni=False).tree_.tests
    np.testing.assert_allclose(t["statistic"], exp["statistic"], rtol=RTOL_STAT)
    assert_p(t["p_value"], exp["p_value"])


def test_null_alpha050(null):
    case, d = null
    check_tree(fit(d, alpha=0.5), case.expected["alpha050"])


def test_row_order_invariance(single):
    _case, d = single
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(d))
    t0 = fit(d)
    t1 = fit(d.iloc[perm].reset_index(drop=True))
    assert t1.print_lines() == t0.print_lines()
    for i, nd in t0.nodes_.items():
        np.testing.assert_allclose(t1.nodes_[i].fit.coef, nd.fit.coef, rtol=1e-10)
        if nd.tests is not None:
            np.testing.assert_allclose(t1.nodes_[i].tests["statistic"], nd.tests["statistic"],
                                       rtol=1e-8)
    np.testing.assert_array_equal(t1.fitted_node_, t0.fitted_node_[perm])

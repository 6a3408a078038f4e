"""MOB behaviour beyond the R oracles: controls, factors, node models, errors, output."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from ipdma.errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    MissingDataError,
    ModelSpecificationError,
    OutcomeError,
)
from ipdma.trees import MOB, LinearModel, LogisticModel, NodeFit, NodeModel


def sim(n=600, seed=1, effect=None):
    rng = np.random.default_rng(seed)
    d = pd.DataFrame({
        "x1": rng.normal(size=n),
        "x2": rng.uniform(size=n),
        "f": rng.choice(list("abcd"), size=n),
        "o": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n),
                            categories=["lo", "mid", "hi"], ordered=True),
        "trt": rng.integers(0, 2, n),
    })
    eff = 0.2 + 1.5 * (d.x1 > 0) if effect is None else effect(d)
    d["y"] = 10 + d.x2 + d.trt * eff + rng.normal(size=n)
    return d


PART = ["x1", "x2", "f", "o"]


def test_minsize_and_maxdepth_honoured():
    d = sim(800, seed=2)
    tree = MOB(alpha=0.9, minsize=60).fit(d, "y", ["trt"], PART)
    assert tree.minsize_ == 60
    assert all(nd.nobs >= 60 for nd in tree.tree_.walk())
    # nodes with fewer than 2 * minsize observations are never split
    assert all(nd.terminal for nd in tree.tree_.walk() if nd.nobs < 120)
    shallow = MOB(alpha=0.9, maxdepth=2).fit(d, "y", ["trt"], PART)
    assert max(nd.depth for nd in shallow.tree_.walk()) <= 2
    assert shallow.n_terminal <= 2
    # default minsize = 10 * number of coefficients, fixed at the root
    assert MOB().fit(d, "y", ["trt"], PART).minsize_ == 20


def test_nominal_factor_binary_partition():
    d = sim(800, seed=3, effect=lambda d: np.where(d.f.isin(["b", "d"]), 2.0, 0.0))
    tree = MOB(parm="trt").fit(d, "y", ["trt"], PART)
    root = tree.tree_
    assert root.split.variable == "f" and root.split.kind == "nominal"
    left = [lv for lv, k in zip(root.split.levels, root.split.index) if k == 0]
    right = [lv for lv, k in zip(root.split.levels, root.split.index) if k == 1]
    assert sorted([left, right]) == [["a", "c"], ["b", "d"]]
    assert root.split.index[-1] == 1  # the last level always goes right (partykit)
    assert root.split.labels()[0].startswith("f in ")
    effects = tree.effects()
    assert effects["estimate"].max() > 1.5 and effects["estimate"].min() < 0.5
    # new data is routed by level
    nodes = tree.apply(pd.DataFrame({"x1": [0.0, 0.0], "x2": [0.5, 0.5], "f": ["b", "a"],
                                     "o": ["lo", "lo"]}))
    assert nodes[0] != nodes[1]


def test_nominal_multiway_and_ordered_split():
    d = sim(800, seed=3, effect=lambda d: np.where(d.f.isin(["b", "d"]), 2.0, 0.0))
    tree = MOB(parm="trt", catsplit="multiway", maxdepth=2).fit(d, "y", ["trt"], PART)
    assert len(tree.tree_.children) == 4
    assert [c.nobs for c in tree.tree_.children] == d.f.value_counts().sort_index().tolist()
    d2 = sim(800, seed=4, effect=lambda d: np.where(d.o == "hi", 2.0, 0.0))
    t2 = MOB(parm="trt", maxdepth=2).fit(d2, "y", ["trt"], PART)
    sp = t2.tree_.split
    assert sp.variable == "o" and sp.kind == "ordered"
    assert sp.labels() == ["o <= mid", "o > mid"]


def test_row_order_and_column_order_do_not_matter():
    d = sim(500, seed=5)
    t0 = MOB().fit(d, "y", ["trt"], PART)
    t1 = MOB().fit(d.sample(frac=1.0, random_state=1)[d.columns[::-1]], "y", ["trt"], PART)
    assert str(t0) == str(t1)


def test_offset_equals_fit_on_shifted_outcome():
    d = sim(500, seed=6)
    off = np.sin(d.x2.to_numpy() * 3)
    t_off = MOB().fit(d, "y", ["trt"], PART, offset=off)
    d2 = d.assign(y=d.y - off)
    t_ref = MOB().fit(d2, "y", ["trt"], PART)
    assert t_off.print_lines()[4:] == t_ref.print_lines()[4:]
    for i, nd in t_ref.nodes_.items():
        np.testing.assert_allclose(t_off.nodes_[i].fit.coef, nd.fit.coef, rtol=1e-12)
    # offset given as a column name
    t_col = MOB().fit(d.assign(off=off), "y", ["trt"], PART, offset="off")
    assert str(t_col) == str(t_off)


def test_weights_zero_rows_are_dropped_and_weighted_fit():
    d = sim(500, seed=7)
    w = np.ones(len(d))
    w[:50] = 0
    t_w = MOB().fit(d, "y", ["trt"], PART, weights=w)
    t_sub = MOB().fit(d.iloc[50:], "y", ["trt"], PART)
    assert str(t_w) == str(t_sub)
    ww = np.random.default_rng(0).integers(1, 4, len(d)).astype(float)
    t = MOB(maxdepth=1).fit(d, "y", ["trt"], PART, weights=ww)
    ref = sm.WLS(d.y, sm.add_constant(d.trt.astype(float)), weights=ww).fit()
    np.testing.assert_allclose(t.tree_.fit.coef, ref.params.to_numpy(), rtol=1e-10)
    assert t.tree_.nobs == ww.sum()


def test_cluster_of_singletons_equals_unclustered():
    d = sim(400, seed=8)
    t0 = MOB().fit(d, "y", ["trt"], PART)
    t1 = MOB().fit(d, "y", ["trt"], PART, cluster=np.arange(len(d)))
    np.testing.assert_allclose(t1.tests_["statistic"], t0.tests_["statistic"], rtol=1e-10)


def test_logistic_node_model_on_binary_data():
    rng = np.random.default_rng(11)
    n = 2000
    d = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
                      "trt": rng.integers(0, 2, n)})
    lp = -0.5 + d.trt * np.where(d.x1 > 0, 1.5, -0.2)
    d["y"] = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    tree = MOB("logistic", parm="trt").fit(d, "y", ["trt"], ["x1", "x2"])
    assert tree.tree_.split.variable == "x1"
    assert abs(tree.tree_.split.breaks) < 0.3
    for nd in tree.tree_.walk():
        if not nd.terminal:
            continue
        sub = d.iloc[nd.rows]
        ref = sm.GLM(sub.y, sm.add_constant(sub.trt.astype(float)),
                     family=sm.families.Binomial()).fit(tol=1e-12)
        np.testing.assert_allclose(nd.fit.coef, ref.params.to_numpy(), rtol=1e-6)
        np.testing.assert_allclose(nd.fit.vcov, ref.cov_params().to_numpy(), rtol=1e-5)
        np.testing.assert_allclose(nd.fit.loglik, ref.llf, rtol=1e-9)
        assert np.abs(nd.fit.estfun.sum(axis=0)).max() < 1e-6
    prob = tree.predict(d.head(20), type="response")
    assert ((prob > 0) & (prob < 1)).all()
    assert "Generalized linear model tree" in str(tree)
    with pytest.raises(OutcomeError, match="0/1"):
        MOB("logistic").fit(d.assign(y=d.y * 2.5), "y", ["trt"], ["x1"])


class _PlainLinear(NodeModel):
    """A user-written node model: only fit(); the split search then refits per candidate."""

    name = "plain linear"
    objective_name = "residual sum of squares"

    def fit(self, y, X, weights=None, offset=None, coef_names=None) -> NodeFit:
        return LinearModel().fit(y, X, weights, offset, coef_names)


def test_custom_node_model_protocol_gives_same_tree():
    d = sim(300, seed=12)
    t_fast = MOB(LinearModel()).fit(d, "y", ["trt"], PART)
    t_plain = MOB(_PlainLinear()).fit(d, "y", ["trt"], PART)
    assert t_plain.print_lines()[1:] == t_fast.print_lines()[1:]
    assert t_plain.print_lines()[0] == "Model-based recursive partitioning (plain linear)"
    np.testing.assert_allclose(t_plain.split_search("x1")["objective"],
                               t_fast.split_search("x1")["objective"], rtol=1e-9)


def test_prune_bic_never_grows_tree_and_breakties_reproducible():
    d = sim(600, seed=13)
    big = MOB(alpha=0.5).fit(d, "y", ["trt"], PART)
    pruned = MOB(alpha=0.5, prune="BIC").fit(d, "y", ["trt"], PART)
    assert pruned.n_terminal <= big.n_terminal
    assert sorted(pruned.nodes_) == list(range(1, len(pruned.nodes_) + 1))
    d["x2"] = np.round(d["x2"], 1)  # many ties
    a = MOB(breakties=True, random_state=5).fit(d, "y", ["trt"], PART)
    b = MOB(breakties=True, random_state=5).fit(d, "y", ["trt"], PART)
    pd.testing.assert_frame_equal(a.tests_, b.tests_)


def test_predict_outputs_and_reporting():
    d = sim(600, seed=14)
    tree = MOB(parm="trt").fit(d, "y", ["trt"], PART)
    new = d.head(7)
    coef = tree.predict(new, type="coef")
    assert list(coef.columns) == ["(Intercept)", "trt"] and coef.shape == (7, 2)
    eff = tree.predict(new, type="effect", coef="trt", level=0.9)
    node = tree.predict(new, type="node")
    np.testing.assert_array_equal(eff["node"], node)
    np.testing.assert_allclose(eff["estimate"], coef["trt"])
    resp = tree.predict(new, type="response")
    np.testing.assert_allclose(resp, coef["(Intercept)"] + coef["trt"] * new.trt)
    frame = tree.to_frame()
    assert {"node", "parent", "terminal", "n", "split", "p_value", "trt", "se(trt)"} <= set(
        frame.columns)
    assert len(frame) == len(tree.nodes_)
    assert {"node", "variable", "statistic", "p_value", "p_value_raw"} <= set(tree.tests_.columns)
    s = str(tree.summary())
    assert "Terminal nodes" in s and "AIC" in s
    ax = tree.plot()
    assert ax is not None
    ax2 = tree.plot(ax=plt.subplots()[1], terminal="outcome")
    assert ax2 is not None
    np.testing.assert_allclose(tree.aic, -2 * tree.loglik + 2 * tree.df)
    with pytest.raises(ModelSpecificationError, match="type must be"):
        tree.predict(new, type="probability")


def test_missing_values_dropped_with_warning_or_error():
    d = sim(300, seed=15)
    d.loc[[3, 7], "x2"] = np.nan
    with pytest.warns(DataWarning, match="dropped 2 of 300"):
        tree = MOB().fit(d, "y", ["trt"], PART)
    assert tree.n_obs_ == 298
    with pytest.raises(MissingDataError, match="x2"):
        MOB(missing="error").fit(d, "y", ["trt"], PART)


def test_clear_errors():
    d = sim(200, seed=16)
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'x1'"):
        MOB().fit(d, "y", ["trt"], ["x1", "x11x"])
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'trt'"):
        MOB().fit(d, "y", ["trtt"], ["x1"])
    with pytest.raises(ColumnNotFoundError, match="Outcome"):
        MOB().fit(d, "yy", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match=r"'treatment'.*not in the node model"):
        MOB(parm="treatment").fit(d, "y", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match="0-based"):
        MOB(parm=2).fit(d, "y", ["trt"], ["x1"])
    with pytest.raises(DataError, match="Too few observations"):
        MOB().fit(d.head(2), "y", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match="node_model"):
        MOB("poisson").fit(d, "y", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match="prune"):
        MOB(prune="CV").fit(d, "y", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match="minsize"):
        MOB(minsize=0.1).fit(d, "y", ["trt"], ["x1"])
    with pytest.raises(ModelSpecificationError, match="both"):
        MOB().fit(d, "y", ["trt"], ["trt", "x1"])
    with pytest.raises(ColumnNotFoundError, match="x2"):
        MOB().fit(d, "y", ["trt"], ["x1", "x2"]).apply(d.drop(columns="x2"))
    from ipdma.errors import NotFittedError

    with pytest.raises(NotFittedError):
        MOB().predict(d)


def test_logistic_model_class_directly():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(300), rng.integers(0, 2, 300), rng.normal(size=300)])
    y = (rng.random(300) < 0.4).astype(float)
    fit = LogisticModel().fit(y, X, coef_names=["(Intercept)", "trt", "age"])
    ref = sm.Logit(y, X).fit(disp=0)
    np.testing.assert_allclose(fit.coef, ref.params, rtol=1e-7)
    # aliased column (duplicate of trt) is reported as NaN and left out of the scores
    fit2 = LinearModel().fit(y, np.column_stack([X, X[:, 1]]))
    assert np.isnan(fit2.coef[3]) and fit2.estfun.shape[1] == 3


def test_logistic_aggregated_split_search_equals_refits():
    rng = np.random.default_rng(21)
    n = 400
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n)])
    y = (rng.random(n) < special_expit(-0.3 + 0.8 * X[:, 1])).astype(float)
    w = np.ones(n)
    off = np.zeros(n)
    order = np.argsort(rng.normal(size=n), kind="stable")
    cuts = np.arange(20, n - 21)
    m = LogisticModel()
    fast = m.prefix_objectives(y, X, w, off, order, cuts)
    slow = NodeModel.prefix_objectives(m, y, X, w, off, order, cuts[::40])
    np.testing.assert_allclose(fast[::40], slow, rtol=1e-9)
    codes = rng.integers(0, 3, n)
    subsets = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=bool)
    np.testing.assert_allclose(m.subset_objectives(y, X, w, off, codes, subsets),
                               NodeModel.subset_objectives(m, y, X, w, off, codes, subsets),
                               rtol=1e-9)


def special_expit(x):
    return 1 / (1 + np.exp(-x))


def test_multi_arm_regressor_and_many_level_factor():
    rng = np.random.default_rng(30)
    n = 900
    d = pd.DataFrame({"x1": rng.normal(size=n), "arm": rng.choice(["A", "B", "C"], n)})
    d["y"] = (d.arm == "B") * (1.5 * (d.x1 > 0)) + rng.normal(size=n)
    tree = MOB().fit(d, "y", ["arm"], ["x1"])
    assert tree.coef_names_ == ["(Intercept)", "arm[B]", "arm[C]"]
    assert tree.tree_.split.variable == "x1"
    eff = tree.effects()  # default: first treatment contrast
    assert eff["coef"].iloc[0] == "arm[B]"
    d["many"] = rng.choice([f"l{i:02d}" for i in range(24)], n)
    d["y"] = d.y + (d.arm == "C") * np.where(d.many < "l12", 2.0, -2.0)
    with pytest.raises(ModelSpecificationError, match="24 levels"):
        MOB().fit(d, "y", ["arm"], ["many"])


def test_monotone_transform_of_partitioning_variable():
    d = sim(500, seed=31)
    t0 = MOB().fit(d, "y", ["trt"], PART)
    t1 = MOB().fit(d.assign(x1=3 * d.x1 + 1, x2=np.exp(d.x2)), "y", ["trt"], PART)
    np.testing.assert_array_equal(t1.fitted_node_, t0.fitted_node_)
    for i, nd in t0.nodes_.items():
        np.testing.assert_allclose(t1.nodes_[i].fit.coef, nd.fit.coef, rtol=1e-12)
        if nd.split is not None and nd.split.variable == "x1":
            np.testing.assert_allclose(t1.nodes_[i].split.breaks, 3 * nd.split.breaks + 1)
        if nd.tests is not None:
            np.testing.assert_allclose(t1.nodes_[i].tests["statistic"], nd.tests["statistic"],
                                       rtol=1e-10)


def test_level_codes_masks_unseen_levels_without_pandas_deprecation():
    import warnings

    from ipdma.trees._mob import level_codes

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas 3 warns (pandas 4 raises) on the naive path
        assert level_codes(pd.Series(["a", "b", "z", None]), ["a", "b"]).tolist() == [0, 1, -1, -1]
        cat = pd.Series(pd.Categorical(["lo", "hi", "mid"], categories=["lo", "mid", "hi", "x"],
                                       ordered=True))
        assert level_codes(cat, ["lo", "mid", "hi"]).tolist() == [0, 2, 1]
        assert level_codes(pd.Series([1, 2, 3]), [1, 2]).tolist() == [0, 1, -1]

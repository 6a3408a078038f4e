"""MOB with the Weibull node model against partykit::mob(Surv ~ trt | ..., fit = wbreg)
(R oracle mob_weibull; tolerances from its README)."""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.errors import ModelSpecificationError, OutcomeError
from ipdma.trees import MOB, LinearModel, WeibullModel

pytestmark = pytest.mark.reference

PARTITION = ["z1", "z2", "z3", "x1", "x2"]
ATOL_COEF = 1e-7     # node coefficients and log scale
RTOL_OBJ = 1e-9      # objfun / logLik, split-search sums
RTOL_VCOV = 1e-6
RTOL_STAT = 1e-6     # statistics and p-values
ATOL_SCORE = 1e-7    # root scores


@pytest.fixture
def case(ref_case):
    return ref_case("mob_weibull")


def load(case):
    d = case.csv("sim_weibull.csv")
    d["z2"] = d["z2"].astype(str)   # factors with alphabetical levels
    d["x2"] = d["x2"].astype(str)
    return d


def grow(d, **kw):
    return MOB(WeibullModel(), **kw).fit(d, time="time", event="status", regressors=["trt"],
                                         partition=PARTITION)


def p_or_nan(values):
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def check_tree(tree: MOB, exp: dict) -> None:
    assert sorted(tree.nodes_) == exp["node_ids"]
    assert [i for i in sorted(tree.nodes_) if tree.nodes_[i].terminal] == exp["terminal_ids"]
    for en in exp["nodes"]:
        nd = tree.nodes_[en["id"]]
        assert nd.parent == en["parent"]
        assert [c.id for c in nd.children] == list(en["children"])
        assert nd.nobs == en["nobs"]
        assert ["x" + c for c in nd.fit.coef_names] == en["coef_names"]
        np.testing.assert_allclose(nd.fit.coef, en["coef"], rtol=0, atol=ATOL_COEF)
        np.testing.assert_allclose(nd.fit.extra["log_scale"], en["log_scale"], rtol=0,
                                   atol=ATOL_COEF)
        np.testing.assert_allclose(nd.fit.extra["scale"], en["scale"], rtol=ATOL_COEF)
        np.testing.assert_allclose(nd.fit.objective, en["objfun"], rtol=RTOL_OBJ)
        np.testing.assert_allclose(nd.fit.loglik, en["logLik"], rtol=RTOL_OBJ)
        assert nd.fit.df == en["logLik_df"]
        np.testing.assert_allclose(nd.fit.extra["vcov_full"], np.array(en["vcov"]),
                                   rtol=RTOL_VCOV)
        np.testing.assert_allclose(nd.fit.vcov, np.array(en["vcov"])[:2, :2], rtol=RTOL_VCOV)
        if "tests" in en:
            t = nd.tests
            assert t["variable"].tolist() == en["tests"]["variable"]
            np.testing.assert_allclose(t["statistic"], en["tests"]["statistic"], rtol=RTOL_STAT,
                                       atol=1e-12)
            np.testing.assert_allclose(t["p_value"], p_or_nan(en["tests"]["p_value"]),
                                       rtol=RTOL_STAT)
            np.testing.assert_allclose(nd.p_value, en["p_value_min"], rtol=RTOL_STAT)
        sp = en.get("split")
        if sp is None:
            assert nd.split is None
            continue
        assert nd.split.variable == sp["variable"]
        if sp["breaks"] is not None:
            np.testing.assert_allclose(nd.split.breaks, sp["breaks"], rtol=0, atol=1e-12)
        else:
            assert nd.split.levels == sp["levels"]
            assert (nd.split.index + 1).tolist() == sp["index"]
    np.testing.assert_allclose(tree.loglik, exp["logLik"], rtol=RTOL_OBJ)
    assert tree.df == exp["logLik_df"]
    np.testing.assert_allclose(tree.aic, exp["AIC"], rtol=RTOL_OBJ)
    np.testing.assert_allclose(tree.bic, exp["BIC"], rtol=RTOL_OBJ)
    assert tree.nobs == exp["nobs"]
    assert tree.fitted_node_.tolist() == exp["fitted_node"]


def test_default_tree(case):
    exp = case.expected["default"]
    tree = grow(load(case))
    assert tree.minsize_ == exp["minsize_effective"] == 10
    check_tree(tree, exp)
    np.testing.assert_allclose([tree.nodes_[i].fit.extra["log_scale"] for i in exp["terminal_ids"]],
                               exp["terminal_log_scale"], atol=ATOL_COEF)
    # the printout has partykit's layout
    txt = str(tree)
    assert "Surv(time, status) ~ trt | z1 + z2 + z3 + x1 + x2" in txt
    assert "[2] z1 <= 0.0211" in txt and "[3] z2 in b: n = 114" in txt


def test_parm2_tree(case):
    exp = case.expected["parm2"]
    check_tree(grow(load(case), parm="trt"), exp)


def test_root_tests_unadjusted(case):
    exp = case.expected["root_tests_unadjusted"]
    tree = grow(load(case), bonferroni=False, alpha=1e-300)   # stops after the root tests
    t = tree.tests_
    np.testing.assert_allclose(t["statistic"], exp["statistic"], rtol=RTOL_STAT)
    np.testing.assert_allclose(t["p_value"], exp["p_value"], rtol=RTOL_STAT)


def test_root_fit_and_scores(case):
    exp = case.expected["root_fit"]
    tree = grow(load(case), maxdepth=1)
    fit = tree.tree_.fit
    np.testing.assert_allclose(fit.coef, exp["coef"], atol=ATOL_COEF)
    np.testing.assert_allclose(fit.extra["log_scale"], exp["log_scale"], atol=ATOL_COEF)
    np.testing.assert_allclose(fit.loglik, exp["loglik"], rtol=RTOL_OBJ)
    ef = case.csv("root_estfun.csv")
    assert fit.estfun.shape == (800, 3)     # intercept, trt and Log(scale): k = 3
    np.testing.assert_allclose(fit.estfun, ef[["score_intercept", "score_trt",
                                               "score_log_scale"]].to_numpy(),
                               rtol=0, atol=ATOL_SCORE)
    np.testing.assert_allclose(fit.estfun.T @ fit.estfun, np.array(exp["estfun_crossprod"]),
                               rtol=1e-7)


def test_root_split_search_z1(case):
    exp = case.expected["root_splitsearch_z1"]
    ref = case.csv("root_splitsearch_z1.csv")
    tree = grow(load(case), maxdepth=1)
    ss = tree.split_search("z1", node=1)
    np.testing.assert_array_equal(ss["cut"].to_numpy(), ref["cut"].to_numpy())
    fin = np.isfinite(ref["objfun_sum"].to_numpy())
    assert fin.sum() == exp["n_admissible"]
    np.testing.assert_array_equal(np.isfinite(ss["objective"].to_numpy()), fin)
    np.testing.assert_allclose(ss["objective"].to_numpy()[fin], ref["objfun_sum"].to_numpy()[fin],
                               rtol=RTOL_OBJ)
    best = int(np.argmin(ss["objective"].to_numpy()))
    assert ss["cut"].iloc[best] == exp["best_cut"]


def test_general_design_matches_profile_search(case):
    """A node model with an extra continuous regressor is not saturated: the split search
    then runs the batched Newton fit; both must agree with separate fits."""
    d = load(case)
    model = WeibullModel()
    y = d[["time", "status"]].to_numpy(float)
    X = np.column_stack([np.ones(len(d)), d.trt, d.x1])
    order = np.argsort(d.z1.to_numpy(), kind="stable")
    cuts = np.array([50, 300, 600])
    w = np.ones(len(d))
    got = model.prefix_objectives(y, X, w, np.zeros(len(d)), order, cuts)
    for c, g in zip(cuts, got):
        left = np.zeros(len(d), bool)
        left[order[:c + 1]] = True
        want = model.fit(y[left], X[left]).objective + model.fit(y[~left], X[~left]).objective
        np.testing.assert_allclose(g, want, rtol=1e-11)
    X2 = X[:, :2]
    prof = model.prefix_objectives(y, X2, w, None, order, cuts)
    # a constant offset only shifts the intercept, but sends the search down the general path
    gen = model.prefix_objectives(y, X2, w, np.full(len(d), 0.3), order, cuts)
    np.testing.assert_allclose(prof, gen, rtol=1e-11)


def test_survival_effects(case):
    d = load(case)
    tree = grow(d)
    eff = tree.survival_effects()
    tau = min(d.loc[(tree.fitted_node_ == n) & (d.trt == a), "time"].max()
              for n in (3, 4, 6, 7) for a in (0, 1))
    assert eff["tau"].unique().tolist() == [tau]
    node6 = eff.set_index("node").loc[6]
    fit = tree.nodes_[6].fit
    np.testing.assert_allclose(node6["tr"], np.exp(fit.coef[1]))
    np.testing.assert_allclose(node6["hr"], np.exp(-fit.coef[1] / fit.extra["scale"]))
    assert node6["hr_lower"] < node6["hr"] < node6["hr_upper"]
    assert node6["rmst_diff_lower"] < node6["rmst_diff"] < node6["rmst_diff_upper"]
    # the planted subgroups: treatment lengthens survival most where z1 > 0 and z2 = b
    assert eff.set_index("node")["rmst_diff"].idxmax() == 6
    with pytest.raises(ModelSpecificationError, match="time-to-event"):
        MOB().fit(d.assign(y=d.time), outcome="y", regressors=["trt"],
                  partition=["z1"]).survival_effects()


def test_outcome_errors(case):
    d = load(case)
    with pytest.raises(ModelSpecificationError, match="time= and event="):
        MOB(WeibullModel()).fit(d, outcome="time", regressors=["trt"], partition=["z1"])
    with pytest.raises(ModelSpecificationError, match="does not handle time-to-event"):
        MOB(LinearModel()).fit(d, time="time", event="status", regressors=["trt"],
                               partition=["z1"])
    with pytest.raises(ModelSpecificationError, match="both time= and event="):
        MOB(WeibullModel()).fit(d, time="time", regressors=["trt"], partition=["z1"])
    with pytest.raises(OutcomeError, match="'status'"):
        grow(d.assign(status=d.status * 2))
    with pytest.raises(OutcomeError, match="'time'"):
        grow(d.assign(time=d.time - 1))
    with pytest.raises(ModelSpecificationError, match="partitioning variable and in the node"):
        MOB(WeibullModel()).fit(d, time="time", event="status", regressors=["trt"],
                                partition=["status"])


def test_plot_km_panels(case):
    tree = grow(load(case))
    ax = tree.plot()
    panels = ax.child_axes[0].child_axes       # one Kaplan-Meier panel per terminal node
    assert [a.get_title() for a in panels] == ["Node 3", "Node 4", "Node 6", "Node 7"]
    assert all(len(a.get_lines()) == 2 for a in panels)     # one curve per arm
    ax2 = tree.plot(terminal="effect")
    assert ax2.child_axes[0].get_ylabel().startswith("trt")


def test_summary_and_node_table(case):
    tree = grow(load(case))
    tab = tree.node_table()
    exp = case.expected["default"]["nodes"]
    np.testing.assert_allclose(tab["log_scale"], [e["log_scale"] for e in exp], atol=ATOL_COEF)
    np.testing.assert_allclose(tab["se(log_scale)"], [np.sqrt(e["vcov"][2][2]) for e in exp],
                               rtol=RTOL_VCOV)
    txt = str(tree.summary())
    assert "hazard ratio, time ratio, RMST difference" in txt


def test_node_model_by_name(case):
    d = load(case)
    a = MOB("weibull", maxdepth=2).fit(d, time="time", event="status", regressors=["trt"],
                                       partition=PARTITION)
    assert isinstance(a._model, WeibullModel)
    assert a.tree_.split.variable == "z1"

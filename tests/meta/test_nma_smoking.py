"""Aggregate-data NMA against the reference case nma_aggregate_smoking (metafor 3.8-1
closed forms and rma.mv, cross-checked against netmeta 3.3-1).

Tolerances (the case README): closed forms (common, DL, Q and its decomposition, I^2,
league, prediction intervals, P-scores, netsplit) rtol 1e-9; REML/ML tau^2, coefficients
and SEs atol 1e-6, logLik atol 1e-8.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ipdma.meta import network_meta_analysis, pairwise_contrasts

CLOSED = {"rtol": 1e-9, "atol": 1e-12}
ITER = {"rtol": 0, "atol": 1e-6}
KEY = {"common": "common", "DL": "random_DL", "REML": "random_REML", "ML": "random_ML"}


@pytest.fixture
def smoking(ref_case):
    case = ref_case("nma_aggregate_smoking")
    return case.expected, case.csv("dat_hasselblad1998.csv"), case


def fit(dat, exp, method, **kw):
    return network_meta_analysis(dat, study="study", treatment="trt", events="xi", n="ni",
                                 reference="no_contact",
                                 treatment_order=exp["data"]["treatments"], method=method,
                                 small_values="bad", **kw)


def test_contrast_data(smoking):
    exp, dat, _ = smoking
    cd = pairwise_contrasts(dat, study="study", treatment="trt", events="xi", n="ni",
                            reference="no_contact", treatment_order=exp["data"]["treatments"])
    c = exp["contrast_data"]
    tab = cd.to_frame()
    assert tab["study"].tolist() == [str(s) for s in c["study"]]
    assert tab["treatment"].tolist() == c["treat"]
    assert tab["baseline"].tolist() == c["baseline"]
    assert tab["design"].tolist() == c["design"]
    assert_allclose(tab["yi"], c["yi"], **CLOSED)
    assert_allclose(tab["vi"], c["vi"], **CLOSED)
    assert_allclose(tab["cov_within_study"], c["cov_with_other_contrasts_of_study"], **CLOSED)
    assert_allclose(cd.V(), np.array(exp["V"]), **CLOSED)
    assert_allclose(cd.design(), np.array(c["X"]), **CLOSED)
    assert {s for s, v in cd.incr.items() if v > 0} == {"5", "19"}


@pytest.mark.parametrize("method", ["common", "DL", "REML", "ML"])
def test_estimates(smoking, method):
    exp, dat, _ = smoking
    e = exp[KEY[method]]
    res = fit(dat, exp, method)
    tol = CLOSED if method in ("common", "DL") else ITER
    assert res.coef.index.tolist() == e["coef_names"]
    tab = res.to_frame()
    assert_allclose(tab["estimate"], e["coef"], **tol)
    assert_allclose(tab["se"], e["se"], **tol)
    assert_allclose(tab["ci_lower"], e["ci_lb"], **tol)
    assert_allclose(tab["ci_upper"], e["ci_ub"], **tol)
    assert_allclose(tab["z"], e["zval"], **({"rtol": 1e-5} if tol is ITER else tol))
    assert_allclose(tab["pval"], e["pval"], **({"rtol": 1e-4} if tol is ITER else tol))
    assert_allclose(res.vcov.to_numpy(), np.array(e["vcov"]), **tol)
    if method == "common":
        assert res.tau2 == 0.0
        assert_allclose(res.Q, e["Q"], **CLOSED)
        assert res.Q_df == e["df"]
        assert_allclose(res.Q_pval, e["pval_Q"], **CLOSED)
        assert_allclose(res.loglik_ml, e["logLik_ML"], **CLOSED)
    elif method == "DL":
        assert_allclose(res.tau2, e["tau2"], **CLOSED)
        assert_allclose(tab["pi_lower"], e["pred_lower"], **CLOSED)
        assert_allclose(tab["pi_upper"], e["pred_upper"], **CLOSED)
    else:
        assert_allclose(res.tau2, e["tau2"], **ITER)
        assert_allclose(res.loglik, e["logLik"], rtol=0, atol=1e-8)
        assert res.converged


def test_optimizer_exact_maximiser(smoking):
    exp, dat, _ = smoking
    oc = exp["optimizer_check"]
    assert_allclose(fit(dat, exp, "REML").tau2, oc["REML_tau2_profile_optimize"], atol=1e-8)
    assert_allclose(fit(dat, exp, "ML").tau2, oc["ML_tau2_profile_optimize"], atol=1e-8)


def test_heterogeneity_and_i2(smoking):
    exp, dat, _ = smoking
    h = exp["heterogeneity"]
    res = fit(dat, exp, "DL")
    assert_allclose(res.tau2_DL, h["tau2_DL"], **CLOSED)
    assert_allclose(res.trace_PS, h["trace_PS"], **CLOSED)
    for k in ("I2", "I2_lower", "I2_upper", "H", "H_lower", "H_upper"):
        assert_allclose(getattr(res, k), h[k], **CLOSED)
    q = exp["Q_decomposition"]
    tab = res.heterogeneity().set_index("source")
    for src, key in [("total", "total"), ("within designs", "within_designs"),
                     ("between designs", "between_designs"),
                     ("between designs (random)", "between_designs_random")]:
        assert_allclose(tab.loc[src, "Q"], q[key]["Q"], **CLOSED)
        assert tab.loc[src, "df"] == q[key]["df"]
        assert_allclose(tab.loc[src, "pval"], q[key]["pval"], **CLOSED)
    assert_allclose(tab.loc["between designs (random)", "tau2_within"],
                    q["between_designs_random"]["tau2_within"], **CLOSED)
    byd = res.design_heterogeneity().set_index("design")
    for d in q["within_by_design"]:
        row = byd.loc[d["design"]]
        assert row["n_studies"] == d["n_studies"] and row["df"] == d["df"]
        assert_allclose(row["Q"], d["Q"], rtol=1e-9, atol=1e-9)
        if d["pval"] is not None:
            assert_allclose(row["pval"], d["pval"], **CLOSED)


@pytest.mark.parametrize("method", ["common", "DL", "REML", "ML"])
def test_league(smoking, method):
    exp, dat, case = smoking
    res = fit(dat, exp, method)
    lg = res.league()
    ref = case.csv("league.csv")
    ref = ref[ref["model"] == KEY[method]].reset_index(drop=True)
    tol = CLOSED if method in ("common", "DL") else ITER
    assert lg["treat1"].tolist() == ref["treat1"].tolist()
    assert lg["treat2"].tolist() == ref["treat2"].tolist()
    for ours, theirs in [("estimate", "TE"), ("se", "seTE"), ("ci_lower", "lower"),
                         ("ci_upper", "upper")]:
        assert_allclose(lg[ours], ref[theirs], **tol)
    if method == "common":
        assert lg["pi_lower"].isna().all()
        assert_allclose(lg["z"], ref["z"], **CLOSED)
        assert_allclose(lg["pval"], ref["p"], **CLOSED)
    else:
        assert_allclose(lg["pi_lower"], ref["pred_lower"], **tol)
        assert_allclose(lg["pi_upper"], ref["pred_upper"], **tol)
    if method in ("common", "DL"):
        m = exp[KEY[method]]["matrices"]
        assert_allclose(res.TE.to_numpy(), np.array(m["TE"]), **CLOSED)
        assert_allclose(res.seTE.to_numpy(), np.array(m["seTE"]), **CLOSED)
        mat = res.league(kind="matrix", digits=3)
        assert mat.loc["self_help", "no_contact"].startswith(
            f"{np.exp(m['TE'][1][0]):.3f}")


@pytest.mark.parametrize("method", ["common", "DL", "REML", "ML"])
def test_pscores(smoking, method):
    exp, dat, _ = smoking
    res = fit(dat, exp, method, random_state=1)
    ps = res.pscores().set_index("treatment")
    e = exp[KEY[method]]["pscore"]
    tol = CLOSED if method in ("common", "DL") else {"rtol": 0, "atol": 1e-6}
    assert_allclose(ps.loc[list(e), "pscore"], list(e.values()), **tol)
    # small values desirable: the complement (netmeta small.values = "desirable")
    res_g = network_meta_analysis(dat, study="study", treatment="trt", events="xi", n="ni",
                                  reference="no_contact", method=method, small_values="good")
    psg = res_g.pscores().set_index("treatment")
    assert_allclose(psg.loc[list(e), "pscore"], 1 - np.array(list(e.values())),
                    **({"rtol": 0, "atol": 1e-6} if tol is not CLOSED else CLOSED))
    # simulated SUCRA is close to the P-score (both measure the same certainty)
    assert_allclose(ps["sucra"], ps["pscore"], atol=0.03)
    assert ps["p_best"].sum() == pytest.approx(1.0)


@pytest.mark.parametrize("method,key", [("common", "netsplit_common"),
                                        ("DL", "netsplit_random_DL")])
def test_netsplit(smoking, method, key):
    exp, dat, _ = smoking
    ns = fit(dat, exp, method).netsplit()
    ref = pd.DataFrame(exp[key])
    assert ns["comparison"].tolist() == ref["comparison"].tolist()
    assert ns["k"].tolist() == ref["k"].tolist()
    for col in ["prop_direct", "nma", "se_nma", "direct", "se_direct", "direct_lower",
                "direct_upper", "indirect", "se_indirect", "indirect_lower", "indirect_upper",
                "diff", "se_diff", "z", "pval"]:
        assert_allclose(ns[col].to_numpy(float), ref[col].to_numpy(float), err_msg=col,
                        **CLOSED)
    assert_allclose(np.exp(ns["diff"]), ref["RoR"], **CLOSED)


def test_netmeta_crosscheck(smoking):
    """The netmeta 3.3-1 numbers (stored beside the case) are matched as well."""
    exp, dat, case = smoking
    nm = case.json("netmeta_crosscheck.json")
    dl = fit(dat, exp, "DL")
    assert_allclose(dl.coef, nm["random_DL"]["coef"], rtol=1e-9)
    assert_allclose(dl.tau2, nm["random_DL"]["tau2"], rtol=1e-9)
    assert_allclose([dl.I2, dl.I2_lower, dl.I2_upper],
                    [nm["random_DL"]["I2"], nm["random_DL"]["lower_I2"],
                     nm["random_DL"]["upper_I2"]], rtol=1e-9)
    # netmeta calls rma.mv with nlminb, which stops 4.7e-7 short in tau^2 (README)
    assert_allclose(fit(dat, exp, "REML").tau2, nm["random_REML"]["tau2"], atol=1e-6)
    assert_allclose(fit(dat, exp, "ML").tau2, nm["random_ML"]["tau2"], atol=1e-6)
    q = fit(dat, exp, "common").heterogeneity().set_index("source")["Q"]
    assert_allclose([q["total"], q["within designs"], q["between designs"]],
                    [nm["Q"]["total"], nm["Q"]["within"], nm["Q"]["between"]], rtol=1e-9)


def test_user_tau2_equals_dl(smoking):
    exp, dat, _ = smoking
    dl = fit(dat, exp, "DL")
    user = fit(dat, exp, "REML", tau2=dl.tau2)
    assert user.method == "user"
    assert_allclose(user.coef, dl.coef, rtol=1e-12)
    assert_allclose(user.league()["pi_upper"], dl.league()["pi_upper"], rtol=1e-12)


def test_summary_and_plots(smoking):
    import matplotlib.pyplot as plt

    exp, dat, _ = smoking
    res = fit(dat, exp, "DL")
    text = str(res.summary())
    assert "Random-effects (DL)" in text and "between designs" in text
    for kind in ("forest", "network", "netsplit"):
        ax = res.plot(kind=kind)
        assert ax is not None
    plt.close("all")

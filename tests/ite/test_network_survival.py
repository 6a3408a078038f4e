"""Two-stage ITE on a time-to-event treatment network (public API) against the stored R
oracle tests/ite/data/survival_network (coxph / survreg per trial, rma.mv network pooling
with the consistency structure, absolute predictions on the per-trial Breslow
baselines), and its invariances (network reference, trials' reference arms, label order,
row order)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdma.data import IPD
from ipdma.errors import InfeasibleMethodError, ModelSpecificationError, OutcomeError
from ipdma.ite import TwoStageITE

HERE = Path(__file__).parent / "data" / "survival_network"
COV = ["x1", "x2"]


@pytest.fixture(scope="module")
def case():
    exp = json.loads((HERE / "expected.json").read_text())
    return exp, pd.read_csv(HERE / "train.csv"), pd.read_csv(HERE / "test.csv")


def _ipd(train, reference="A"):
    return IPD(train, trial="trial", treatment="trt", outcome="event", time="time",
               covariates=COV, reference=reference)


def _fit(train, learner="cox", pooler="mvma", opts=None, reference="A", **kw):
    return TwoStageITE(learner, pooler, pooler_options=opts, random_state=1,
                       horizon=1.5, tau=2.0, **kw).fit(_ipd(train, reference),
                                                       reference=reference)


@pytest.mark.reference
def test_stage1_cox_blocks_and_baselines_equal_coxph(case):
    exp, train, _ = case
    m = _fit(train)
    got = {s.label: s.block for s in m.network_.stage1}
    for st in exp["stage1_cox"]:
        b = got[st["trial"]]
        assert b.arms == st["arms"]
        np.testing.assert_allclose(b.theta.ravel(), st["coef"], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(b.cov, np.array(st["vcov"]), rtol=1e-6, atol=1e-10)
        base = b.extra["baseline"]
        rt, rh = np.array(st["baseline_times"]), np.array(st["baseline_cumhaz"])
        grid = np.r_[rt, 0.5 * (rt[1:] + rt[:-1])]         # survfit also lists censoring times
        ours = np.array([base.H(t) for t in grid])
        np.testing.assert_allclose(ours, rh[np.searchsorted(rt, grid, side="right") - 1],
                                   rtol=1e-6)
        np.testing.assert_allclose(b.extra["loglik"], st["loglik"], rtol=1e-10)


@pytest.mark.reference
def test_stage1_weibull_blocks_equal_survreg(case):
    exp, train, _ = case
    m = _fit(train, "weibull")
    got = {s.label: s.block for s in m.network_.stage1}
    for st in exp["stage1_weibull"]:
        b = got[st["trial"]]
        np.testing.assert_allclose(b.theta.ravel(), st["loghaz_coef"], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(b.cov, np.array(st["loghaz_vcov"]), rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(b.extra["log_scale"], st["log_scale"], rtol=1e-7)


@pytest.mark.reference
@pytest.mark.parametrize("method,key,atol,tatol", [("reml", "stage2_REML_consistency", 1e-5, 1e-4),
                                                   ("fixed", "stage2_fixed", 1e-7, None)])
def test_pooled_blocks_equal_rma_mv(case, method, key, atol, tatol):
    exp, train, _ = case
    m = _fit(train, opts={"method": method})
    p = m.network_.pooled
    ref = exp[key]
    np.testing.assert_allclose(p.coef.ravel(), ref["coef"], atol=atol, rtol=0)
    np.testing.assert_allclose(np.sqrt(np.diag(p.vcov)), ref["se"], atol=atol, rtol=0)
    if tatol is not None:
        np.testing.assert_allclose(p.tau2, ref["tau2"], atol=tatol, rtol=0)
    cf = m.network_.coef_frame()
    np.testing.assert_allclose(cf["coef"].to_numpy(), ref["coef"], atol=atol, rtol=0)


@pytest.mark.reference
@pytest.mark.parametrize("method,atol", [("reml", 1e-5), ("fixed", 1e-6)])
@pytest.mark.parametrize("scale", ["loghr", "survdiff", "rmstdiff"])
def test_predictions_equal_reference(case, method, atol, scale):
    exp, train, test = case
    m = _fit(train, opts={"method": method}, scale=scale)
    pred = m.predict(test)
    ref = exp["predictions"][method][scale]
    for j, t in enumerate(["B", "C"]):
        np.testing.assert_allclose(pred[f"ite_{t}_vs_A"], np.array(ref["ite_vs_ref"])[:, j],
                                   atol=atol, rtol=0)
        np.testing.assert_allclose(pred[f"se_{t}_vs_A"], np.array(ref["se_vs_ref"])[:, j],
                                   atol=atol, rtol=0)
    if scale != "loghr":
        np.testing.assert_allclose(m.prediction_.info["arm_values"],
                                   np.array(ref["arm_values"]), atol=atol, rtol=0)
    # best treatment: longer survival is better (largest S/RMST difference, smallest log HR)
    ite = np.column_stack([np.zeros(len(test)), np.array(ref["ite_vs_ref"])])
    want = np.array(["A", "B", "C"])[ite.argmin(1) if scale == "loghr" else ite.argmax(1)]
    assert (pred["best_treatment"].to_numpy() == want).all()
    pb = pred[["p_best_A", "p_best_B", "p_best_C"]].to_numpy()
    np.testing.assert_allclose(pb.sum(1), 1.0)
    if method == "reml":
        assert {f"pi_low_{t}_vs_A" for t in "BC"} <= set(pred.columns)
        assert (pred["pi_low_B_vs_A"] <= pred["ci_low_B_vs_A"] + 1e-12).all()


def _pairs(model, test):
    pairs = model.predict_pairs(test)
    out = {}
    for col in pairs.columns:
        if not col.startswith(("ite_", "se_", "ci_low_", "pi_low_")):
            continue
        stem, key = col.split("_", 1)
        if stem in ("ci", "pi"):
            continue
        a, b = key.split("_vs_")
        if a < b:
            out[(stem, b, a)] = -pairs[col].to_numpy() if stem == "ite" else pairs[col].to_numpy()
        else:
            out[(stem, a, b)] = pairs[col].to_numpy()
    return out, pairs["best_treatment"].to_numpy()


@pytest.mark.parametrize("learner,pooler,opts,scale,atol", [
    ("cox", "mvma", {"method": "fixed"}, "survdiff", 1e-7),
    ("cox", "mvma", {"method": "reml"}, "rmstdiff", 2e-5),
    ("cox", "mvma", {"method": "reml"}, "loghr", 2e-5),
    ("cox", "weighted-aux-ols", {}, "survdiff", 1e-7),
    ("weibull", "weighted-aux-ols", {"heterogeneity": "DL"}, "rmstdiff", 1e-7),
    ("weibull", "mvma", {"method": "fixed"}, "survdiff", 1e-6)])
def test_invariant_to_network_reference_labels_and_rows(case, learner, pooler, opts, scale,
                                                        atol):
    _, train, test = case
    base, best0 = _pairs(_fit(train, learner, pooler, opts, "A", scale=scale), test)
    variants = [(_fit(train, learner, pooler, opts, "C", scale=scale), {})]
    # relabel B -> Z: label order changes, trial T5 (B vs C) gets reference arm C
    tr2 = train.assign(trt=train["trt"].map({"A": "A", "B": "Z", "C": "C"}))
    variants.append((_fit(tr2, learner, pooler, opts, "A", scale=scale), {"Z": "B"}))
    tr3 = train.sample(frac=1.0, random_state=3).reset_index(drop=True)
    variants.append((_fit(tr3, learner, pooler, opts, "B", scale=scale), {}))
    for model, back in variants:
        got, best = _pairs(model, test)
        mapped = {}
        for (stem, a, b), v in got.items():
            a, b = back.get(a, a), back.get(b, b)
            if a < b:
                a, b, v = b, a, (-v if stem == "ite" else v)
            mapped[(stem, a, b)] = v
        assert set(mapped) == set(base)
        for k, v in base.items():
            np.testing.assert_allclose(mapped[k], v, atol=atol, rtol=0, err_msg=str(k))
        assert (np.array([back.get(b, b) for b in best], dtype=object) == best0).all()


def test_other_learners_and_refusals(case):
    _, train, test = case
    m = _fit(train, "cox-lasso", "weighted-aux-ols", learner_options={"nfolds": 3})
    assert m.predict(test.head(3)).filter(like="ite_").shape == (3, 2)
    m = _fit(train, "cox", "weighted-bootstrap", n_boot=10)
    assert np.isfinite(m.predict(test.head(3))["se_B_vs_A"]).all()
    with pytest.raises(InfeasibleMethodError, match="mvma"):
        _fit(train, "cox-lasso", "mvma")
    with pytest.raises(InfeasibleMethodError, match="'bayes-mvma' supports binary, "
                       "continuous outcomes only; the outcome is survival"):
        _fit(train, "cox", "bayes-mvma")
    with pytest.raises(InfeasibleMethodError, match="unweighted"):
        _fit(train, "cox", "unweighted")
    with pytest.raises(OutcomeError, match=r"trial 'T.*horizon 9"):
        TwoStageITE("cox", "mvma", horizon=9.0).fit(_ipd(train)).predict(test)


def test_survival_network_summary_and_best_direction(case):
    _, train, test = case
    m = _fit(train, scale="loghr")
    m.predict(test)
    s = m.summary()
    assert "best" in str(s) and m.network_.higher_is_better is False
    with pytest.raises(ModelSpecificationError, match="horizon"):
        TwoStageITE("cox", "mvma").fit(_ipd(train)).predict(test)


def test_xgboost_cox_native_and_per_contrast(case):
    pytest.importorskip("xgboost")
    _, train, test = case
    opts = {"max_depth": (2,), "nrounds": 60, "nfold": 3}
    m = _fit(train, "xgboost-cox", "weighted-aux-ols", learner_options=opts)
    assert m.network_stage1_ == "native"
    assert type(m.network_.stage1[0].model).__name__ == "NativeXGBoostCox"
    pred = m.predict(test)
    assert np.isfinite(pred[["ite_B_vs_A", "ite_C_vs_A", "se_B_vs_A"]].to_numpy()).all()
    assert pred["ite_B_vs_A"].abs().max() < 1
    again = _fit(train, "xgboost-cox", "weighted-aux-ols", learner_options=opts)
    np.testing.assert_array_equal(again.predict(test)["ite_C_vs_A"], pred["ite_C_vs_A"])
    t = TwoStageITE("xgboost-cox", "weighted-aux-ols", random_state=1, horizon=1.5,
                    learner_options={**opts, "meta": "t"}).fit(_ipd(train), reference="A")
    assert np.isfinite(t.predict(test)["ite_B_vs_A"]).all()
    pc = TwoStageITE("xgboost-cox", "weighted-aux-ols", random_state=1, horizon=1.5,
                     learner_options=opts).fit(_ipd(train), network_stage1="per-contrast")
    assert pc.network_stage1_ == "per-contrast"
    assert np.isfinite(pc.predict(test)["ite_C_vs_A"]).all()


@pytest.mark.slow
def test_large_survival_network_recovers_the_true_ites():
    """make_survival_network with 16 000 patients: the ITEs (S(2) differences) of A and C
    (risk-dependent effects) beat the oracle constant prediction; B has no effect
    modification (true ITE spread about 0.013), so it is not checked."""
    from ipdma.datasets import make_survival_network

    sim = make_survival_network(n_patients=16000, random_state=3)
    X = sim.data[sim.covariate_cols].head(3000)
    for learner, pooler in [("cox", "mvma"), ("weibull", "weighted-aux-ols")]:
        pred = TwoStageITE(learner, pooler, horizon=2.0).fit(sim.ipd()).predict(X)
        for t in "AC":
            truth = (sim.truth[f"S2_{t}"] - sim.truth["S2_PBO"]).to_numpy()[:3000]
            const = np.median(np.abs(truth - truth.mean()))
            mae = np.median(np.abs(pred[f"ite_{t}_vs_PBO"] - truth))
            assert mae < 0.5 * const, (learner, pooler, t, mae, const)


def test_calculator_export_of_survival_network(case, tmp_path):
    _, train, _ = case
    with pytest.raises(ModelSpecificationError, match="scale='loghr'"):
        _fit(train).export_calculator(tmp_path / "c.html")
    _fit(train, scale="loghr").export_calculator(tmp_path / "c.html")
    assert (tmp_path / "c.html").stat().st_size > 1000


@pytest.mark.parametrize("pooler,scale", [("weighted-aux-ols", "survdiff"), ("mvma", "loghr")])
def test_site_summaries_pool_to_the_in_memory_fit(case, pooler, scale):
    from ipdma.ite import fit_network_site, pool_sites

    _, train, test = case
    sites = [fit_network_site(g[COV], g["trt"], g[["time", "event"]].to_numpy(), trial=t,
                              learner="cox", pooler=pooler, scale=scale, horizon=1.5,
                              X_query=test if pooler != "mvma" else None,
                              treatments=["A", "B", "C"])
             for t, g in train.groupby("trial")]
    got = pool_sites(sites, pooler, X_new=test, reference="A")
    want = _fit(train, "cox", pooler, scale=scale).predict(test)
    np.testing.assert_allclose(got.filter(like="ite_"), want.filter(like="ite_"), atol=1e-12)
    assert (got["best_treatment"] == want["best_treatment"]).all()
    with pytest.raises(ModelSpecificationError, match="baseline hazard"):
        fit_network_site(train[COV], train["trt"], train[["time", "event"]].to_numpy(),
                         trial="all", learner="cox", pooler="mvma", horizon=1.5)

"""Network two-stage ITE (array level) against ite_network_multiarm (lm + rma.mv)."""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.ite._network import (
    all_pairs,
    best_treatment,
    fit_network_ols,
    network_ivw,
    p_best,
    pool_network,
)

COV = ["x1", "x2", "x3"]


def _blocks(case, relabel=None, arm_order=None):
    train = case.csv("train.csv")
    if relabel:
        train["trt"] = train["trt"].map(relabel)
    blocks = []
    for tr, d in train.groupby("trial", sort=True):
        arms = sorted(d["trt"].unique())
        if arm_order:
            arms = arm_order(arms)
        blocks.append(fit_network_ols(d[COV].to_numpy(), d["trt"].to_numpy(),
                                      d["y"].to_numpy(), trial=str(tr), arms=arms))
    return blocks


@pytest.mark.reference
def test_stage1_blocks_equal_lm(ref_case):
    case = ref_case("ite_network_multiarm")
    e = case.expected
    for blk, ref in zip(_blocks(case), e["stage1"]):
        assert blk.arms == list(ref["arms"])
        np.testing.assert_allclose(blk.theta.ravel(), ref["coef"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(blk.cov, np.asarray(ref["vcov"]), rtol=1e-9, atol=1e-14)
        assert blk.sigma == pytest.approx(ref["sigma"], rel=1e-9)


@pytest.mark.reference
@pytest.mark.parametrize("method,key,atol", [("reml", "stage2_REML_consistency", 1e-5),
                                             ("fixed", "stage2_fixed", 1e-9)])
def test_pooled_blocks_and_predictions_equal_rma_mv(ref_case, method, key, atol):
    case = ref_case("ite_network_multiarm")
    e = case.expected
    pooled = pool_network(_blocks(case), method=method)
    assert pooled.treatments == ["A", "B", "C"]
    np.testing.assert_allclose(pooled.coef.ravel(), e[key]["coef"], atol=atol, rtol=0)
    if method == "reml":
        np.testing.assert_allclose(pooled.tau2, e[key]["tau2"], atol=1e-4)
    test = case.csv("test.csv")
    preds = case.csv("test_predictions.csv")
    mean, cov = pooled.predict_basic(test[COV].to_numpy())
    pairs = all_pairs(pooled.treatments, mean, cov)
    tag = "reml" if method == "reml" else "fixed"
    for mine, theirs in (("B_vs_A", "BA"), ("C_vs_A", "CA"), ("C_vs_B", "CB")):
        np.testing.assert_allclose(pairs[f"ite_{mine}"], preds[f"{tag}_ite_{theirs}"],
                                   atol=atol, rtol=0)
        np.testing.assert_allclose(pairs[f"se_{mine}"], preds[f"{tag}_se_{theirs}"],
                                   atol=atol, rtol=0)
    best = best_treatment(pooled.treatments, mean)
    assert (best == preds[f"{tag}_best"].to_numpy()).all()          # best calls: exact


@pytest.mark.reference
def test_network_ivw_equals_reference(ref_case):
    case = ref_case("ite_network_multiarm")
    test = case.csv("test.csv")
    preds = case.csv("test_predictions.csv")
    mean, cov = network_ivw(_blocks(case), test[COV].to_numpy())
    pairs = all_pairs(["A", "B", "C"], mean, cov)
    for mine, theirs in (("B_vs_A", "BA"), ("C_vs_A", "CA"), ("C_vs_B", "CB")):
        np.testing.assert_allclose(pairs[f"ite_{mine}"], preds[f"ivw_ite_{theirs}"], rtol=1e-9)
        np.testing.assert_allclose(pairs[f"se_{mine}"], preds[f"ivw_se_{theirs}"], rtol=1e-9)
    assert (best_treatment(["A", "B", "C"], mean) == preds["ivw_best"].to_numpy()).all()


@pytest.mark.reference
@pytest.mark.parametrize("method", ["reml", "fixed"])
def test_invariant_to_network_reference_and_trial_reference_arms(ref_case, method):
    case = ref_case("ite_network_multiarm")
    test = case.csv("test.csv")[COV].to_numpy()[:50]
    base = pool_network(_blocks(case), method=method)
    m0, c0 = base.predict_basic(test)
    p0 = all_pairs(base.treatments, m0, c0)
    # network reference C, and every trial's reference arm = its last arm
    other = pool_network(_blocks(case, arm_order=lambda a: a[::-1]),
                         treatments=["C", "A", "B"], method=method)
    m1, c1 = other.predict_basic(test)
    p1 = all_pairs(other.treatments, m1, c1)
    tol = 1e-8 if method == "fixed" else 1e-5
    np.testing.assert_allclose(p1["ite_A_vs_C"], -p0["ite_C_vs_A"], atol=tol)
    np.testing.assert_allclose(p1["ite_B_vs_C"], -p0["ite_C_vs_B"], atol=tol)
    np.testing.assert_allclose(p1["se_B_vs_A"], p0["se_B_vs_A"], atol=tol)
    np.testing.assert_allclose(other.tau2, base.tau2, atol=1e-6)
    assert (best_treatment(other.treatments, m1) == best_treatment(base.treatments, m0)).all()


def test_disconnected_network_names_the_components():
    rng = np.random.default_rng(0)
    blocks = []
    for k, arms in enumerate([["A", "B"], ["C", "D"], ["A", "B"]]):
        X = rng.normal(size=(80, 1))
        arm = rng.choice(arms, 80)
        blocks.append(fit_network_ols(X, arm, rng.normal(size=80), trial=f"t{k}"))
    from ipdma.errors import NetworkError

    with pytest.raises(NetworkError, match=r"\{A, B\}; \{C, D\}"):
        pool_network(blocks)


def test_p_best_sums_to_one_and_is_seeded():
    mean = np.array([[1.0, 0.2], [-1.0, -2.0]])
    cov = np.array([np.eye(2) * 0.01] * 2)
    pb = p_best(mean, cov, random_state=1)
    np.testing.assert_allclose(pb.sum(1), 1.0)
    assert pb[0, 1] > 0.99 and pb[1, 0] > 0.99
    np.testing.assert_array_equal(pb, p_best(mean, cov, random_state=1))

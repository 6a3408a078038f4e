"""TwoStageITE exposes the full stage-2 model (``pooled_``) and the stage-1 coefficient
vectors, checked against the shared reference ite_twostage_continuous (R 4.2.2:
``lm(y ~ treatment * (x1 + ... + x8))`` per trial; metafor 3.8-1 ``rma.mv`` REML, UN).
Tolerances from its README: stage-1 OLS rtol 1e-9; REML coefficients atol 1e-5, Psi
atol 1e-4, logLik atol 1e-5; fixed-effect GLS (Q) rtol 1e-9."""

from __future__ import annotations

import numpy as np
import pytest

from ipdma.errors import ModelSpecificationError
from ipdma.ite import TwoStageITE

COVS = [f"x{j}" for j in range(1, 9)]


def _fit(ref_case, pooler="mvma"):
    case = ref_case("ite_twostage_continuous")
    train = case.csv("train.csv")
    m = TwoStageITE("ols", pooler).fit(train, trial="trial", treatment="treatment",
                                       outcome="y", covariates=COVS)
    return case, m


def test_stage1_full_coefficients(ref_case):
    case, m = _fit(ref_case)
    tab = m.stage1_coefficients()
    se = m.stage1_coefficients(se=True)
    exp = case.expected["stage1"]
    assert list(tab.columns) == exp[0]["all_coef_names"]
    for e in exp:
        np.testing.assert_allclose(tab.loc[str(e["trial"])].to_numpy(), e["all_coef"],
                                   rtol=1e-9, atol=1e-12)
        idx = [exp[0]["all_coef_names"].index(n) for n in e["coef_names"]]
        np.testing.assert_allclose(se.loc[str(e["trial"])].to_numpy()[idx],
                                   np.sqrt(np.diag(e["vcov"])), rtol=1e-9)


def test_pooled_model_full_results(ref_case):
    case, m = _fit(ref_case)
    res = m.pooled_
    exp = case.expected["stage2_REML_UN"]
    assert res.k == len(m.trials_) and res.p == len(exp["coef"])
    np.testing.assert_allclose(res.coef.to_numpy(), exp["coef"], atol=1e-5)
    np.testing.assert_allclose(res.se.to_numpy(), exp["se"], atol=1e-5)
    np.testing.assert_allclose(res.Psi.to_numpy(), np.array(exp["Psi"]), atol=1e-4)
    assert res.loglik == pytest.approx(exp["logLik"], abs=1e-5)
    assert res.Q == pytest.approx(exp["QE"], rel=1e-9)
    text = str(res.summary())
    assert "Between-study SD (tau) and correlations" in text and "log-likelihood" in text
    # same numbers as the pooler used for the predictions
    np.testing.assert_array_equal(res.coef.to_numpy(), m.pooler_.coef_)


def test_pooled_model_other_poolers(ref_case):
    _, m = _fit(ref_case, "weighted-aux-ols")
    with pytest.raises(ModelSpecificationError, match="mvma"):
        _ = m.pooled_

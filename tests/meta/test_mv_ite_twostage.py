"""Stage-2 multivariate pooling of the two-stage ITE reference (ite_twostage_continuous).

metafor needed raised iteration limits (iter.max 20000, eval.max 40000, rel.tol 1e-12)
for this 10 trials x 9 coefficients unstructured REML fit; ours converges with its
defaults. Tolerances from the README: fixed/GLS rtol 1e-9; REML coefficients and
predictions atol 1e-5, Psi atol 1e-4, logLik atol 1e-5, MAE atol 1e-5.

The REML optimum has a singular Psi (rank 3 of 9: several between-trial variances and
correlations are on the boundary), in metafor's fit as in ours, so a BoundaryWarning
is expected and checked.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from ipdma.errors import BoundaryWarning
from ipdma.meta import fit_mvma, mv_meta_analysis


@pytest.fixture
def ite(ref_case):
    case = ref_case("ite_twostage_continuous")
    exp = case.expected
    y = np.array([s["coef"] for s in exp["stage1"]])
    S = np.array([s["vcov"] for s in exp["stage1"]])
    names = exp["stage2_REML_UN"]["coef_names"]
    trials = [str(s["trial"]) for s in exp["stage1"]]
    return y, S, names, trials, exp, case


def _mae_and_preds(coef, case):
    test = case.csv("test.csv")
    X = np.column_stack([np.ones(len(test)), test[[f"x{j}" for j in range(1, 9)]].to_numpy()])
    pred = X @ coef
    return pred, float(np.median(np.abs(pred - test["true_ite"].to_numpy())))


def test_reml_unstructured(ite):
    y, S, names, trials, exp, case = ite
    want = exp["stage2_REML_UN"]
    with pytest.warns(BoundaryWarning, match="singular"):
        res = mv_meta_analysis(y, S, outcome_names=names, study_names=trials)
    assert res.converged
    assert list(res.coef.index) == names
    assert_allclose(res.coef.values, want["coef"], atol=1e-5)
    assert_allclose(res.se.values, want["se"], atol=1e-5)
    assert_allclose(res.vcov.values, np.array(want["vcov"]), atol=1e-5)
    assert_allclose(res.Psi.values, np.array(want["Psi"]), atol=1e-4)
    assert_allclose(res.tau2.values, want["tau2"], atol=1e-4)
    assert_allclose(res.loglik, want["logLik"], atol=1e-5)
    assert_allclose(res.Q, want["QE"], rtol=1e-9)
    assert_allclose(res.Q_pval, want["QEp"], rtol=1e-6)
    pred, mae = _mae_and_preds(res.coef.values, case)
    ref = case.csv("test_predictions.csv")
    assert_allclose(pred, ref["pred_reml"].to_numpy(), atol=1e-5)
    assert_allclose(mae, exp["mae"]["reml"], atol=1e-5)


def test_reml_numpy_level_is_fast_path(ite):
    y, S, _, _, exp, _ = ite
    fit = fit_mvma(y, S, method="reml")
    assert fit.converged and fit.n_iter < 500
    assert_allclose(fit.beta.ravel(), exp["stage2_REML_UN"]["coef"], atol=1e-5)
    assert fit.boundary  # named in the fit object too


def test_fixed_gls(ite):
    y, S, names, trials, exp, case = ite
    want = exp["stage2_fixed"]
    res = mv_meta_analysis(y, S, method="fixed", outcome_names=names, study_names=trials)
    assert_allclose(res.coef.values, want["coef"], rtol=1e-9)
    assert_allclose(res.se.values, want["se"], rtol=1e-9)
    assert_allclose(res.vcov.values, np.array(want["vcov"]), rtol=1e-9, atol=1e-300)
    # rma.mv's default method is REML even without random effects (see berkey test)
    assert_allclose(res.loglik_reml, want["logLik"], rtol=1e-9)
    assert_allclose(res.Q, want["QE"], rtol=1e-9)
    # closed form: theta = (sum S_l^-1)^-1 sum S_l^-1 theta_l
    Si = np.linalg.inv(S)
    theta = np.linalg.solve(Si.sum(0), np.einsum("ijk,ik->j", Si, y))
    assert_allclose(res.coef.values, theta, rtol=1e-10)
    pred, mae = _mae_and_preds(res.coef.values, case)
    ref = case.csv("test_predictions.csv")
    assert_allclose(pred, ref["pred_fixed"].to_numpy(), rtol=1e-9)
    assert_allclose(mae, exp["mae"]["fixed"], atol=1e-9)

"""RiskModel fit statistics against R (glm, lme4::glmer, glmnet).

Reference: ``tests/prognosis/data/fit_statistics`` (make.R, expected.json) on the shared
case nmr_ms_synthetic with the pre-processing of test_reference.py.  Tolerances:
glm statistics rtol 1e-9 (observed ~1e-12); trial-intercept SEs rtol 1e-7; glmer
logLik/AIC/BIC rtol 1e-9, conditional SDs of the random intercepts rtol 1e-4 (they
depend on the SD, which agrees with lme4 to ~2e-5); glmnet coefficients atol 1e-6,
dev.ratio and null deviance rtol 1e-8 / 1e-10.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ipdma.errors import ModelSpecificationError

from .test_reference import PRE, fit_pre, load_complete

EXP = json.loads((Path(__file__).parent / "data" / "fit_statistics" / "expected.json")
                 .read_text())


@pytest.fixture
def data(ref_case):
    return load_complete(ref_case("nmr_ms_synthetic"))


def _check_glm(m, ref):
    assert m.n_ == ref["n"] and m.n_events_ == ref["events"]
    for ours, theirs in (("loglik_", "logLik"), ("deviance_", "deviance"),
                         ("null_deviance_", "null_deviance"), ("aic_", "AIC"),
                         ("bic_", "BIC"), ("df_resid_", "df_resid")):
        assert getattr(m, ours) == pytest.approx(ref[theirs], rel=1e-9), ours
    fs = m.fit_statistics_
    assert fs["aic"] == pytest.approx(ref["AIC"], rel=1e-9)


def test_glm_no_trial_term(data):
    m = fit_pre(data, "glm")
    _check_glm(m, EXP["glm_none"])
    assert m.trial_intercepts_se_ is None
    text = str(m.summary())
    assert "AIC" in text and "null deviance" in text


def test_glm_fixed_trial_intercepts(data):
    ref = EXP["glm_fixed"]
    m = fit_pre(data, "glm", trial_effect="fixed")
    _check_glm(m, ref)
    np.testing.assert_allclose(m.trial_intercepts_[ref["trials"]].to_numpy(),
                               ref["trial_intercepts"], rtol=1e-8)
    np.testing.assert_allclose(m.trial_intercepts_se_[ref["trials"]].to_numpy(),
                               ref["trial_intercepts_se"], rtol=1e-7)


def test_glmer_statistics(data):
    ref = EXP["glmer"]
    m = fit_pre(data, "glm", trial_effect="random")
    assert m.loglik_ == pytest.approx(ref["logLik"], rel=1e-9)
    assert m.aic_ == pytest.approx(ref["AIC"], rel=1e-9)
    assert m.bic_ == pytest.approx(ref["BIC"], rel=1e-9)
    assert m.df_resid_ == ref["df_resid"]
    np.testing.assert_allclose(m.trial_intercepts_se_[ref["trials"]].to_numpy(),
                               ref["blup_sd"], rtol=1e-4)


@pytest.mark.parametrize("alpha", [1, 0.5])
@pytest.mark.parametrize("trial_effect", ["none", "fixed"])
def test_glmnet_path_dev_ratio(data, alpha, trial_effect):
    ref = EXP[f"glmnet_alpha{alpha}_{trial_effect}"]
    method = "lasso" if alpha == 1 else "elasticnet"
    m = fit_pre(data, method, alpha=alpha, penalty=ref["lambda"][3],
                trial_effect=trial_effect)
    assert m.null_deviance_ == pytest.approx(ref["nulldev"], rel=1e-10)
    path = m.lambda_path(ref["lambda"])
    np.testing.assert_allclose(path["lambda"], ref["lambda"], rtol=1e-15)
    coef = np.array(ref["coef"])
    np.testing.assert_allclose(path[PRE].to_numpy(), coef[:, 1:], atol=1e-6)
    if trial_effect == "none":
        np.testing.assert_allclose(path["Intercept"], coef[:, 0], atol=1e-6)
    np.testing.assert_allclose(path["dev_ratio"], ref["dev_ratio"], rtol=1e-8)
    np.testing.assert_array_equal(path["df"], ref["df"])
    # the single fit at lambda[3] is the path's 4th row
    np.testing.assert_allclose(m.coef_[PRE].to_numpy(), coef[3, 1:], atol=1e-6)
    assert 1 - m.deviance_ / m.null_deviance_ == pytest.approx(ref["dev_ratio"][3], rel=1e-8)


def test_lambda_path_errors(data):
    m = fit_pre(data, "glm")
    with pytest.raises(ModelSpecificationError, match="lasso"):
        m.lambda_path([0.1])


def test_pmle_statistics_match_rms(data):
    """rms::lrm(penalty = 20.5) (reference tests/prognosis/data/lrm_fit_statistics):
    unpenalised log-likelihood at the penalised estimate, null deviance, effective d.f.
    (rms' stats["d.f."]) and AIC with effective d.f. + 1 parameters, rtol 1e-8.  rms'
    model -2 log L (``deviance[2]``) includes the penalty: ours does not."""
    ref = json.loads((Path(__file__).parent / "data" / "lrm_fit_statistics" /
                      "expected.json").read_text())
    m = fit_pre(data, "pmle", penalty=20.5)
    assert m.loglik_ == pytest.approx(ref["loglik"], rel=1e-8)
    assert m.null_deviance_ == pytest.approx(ref["deviance_lrm"][0], rel=1e-10)
    assert m.n_params_ - 1 == pytest.approx(ref["df"], rel=1e-8)
    assert m.aic_ == pytest.approx(ref["aic"], rel=1e-8)
    assert m.deviance_ < ref["deviance_lrm"][1]

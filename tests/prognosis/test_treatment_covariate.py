"""RiskModel with the treatment column among the covariates: coded against the
reference arm (control=, or the IPD's reference), else refused with a how-to.
R reference ``tests/prognosis/data/treatment_covariate`` (glm with
relevel(TRT01A, "PBO")); coefficients and SEs rtol 1e-8, logLik rtol 1e-10."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ipdma.errors import DataError, ModelSpecificationError
from ipdma.prognosis import RiskModel

from .test_reference import load_complete

EXP = json.loads((Path(__file__).parent / "data" / "treatment_covariate" / "expected.json")
                 .read_text())


def test_treatment_coded_against_reference(ref_case):
    d = load_complete(ref_case("nmr_ms_synthetic"))
    m = RiskModel("glm", control="PBO").fit(d, outcome="RELAPSE2year",
                                            covariates=["AGE", "EDSSBL", "TRT01A"],
                                            treatment="TRT01A")
    assert list(m.coef_.index) == ["Intercept", "AGE", "EDSSBL", "TRT01A[DMF]", "TRT01A[GA]",
                                   "TRT01A[NAT]"]
    np.testing.assert_allclose(m.coef_.to_numpy(), EXP["coef"], rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov_.to_numpy())), EXP["se"], rtol=1e-8)
    assert m.loglik_ == pytest.approx(EXP["logLik"], rel=1e-10)
    # scoring new data uses the same coding
    np.testing.assert_allclose(m.predict_logit(d.head(5)),
                               m.training_scores_["logit_risk"].head(5), rtol=1e-12)


def test_treatment_covariate_without_reference_is_refused(ref_case):
    d = load_complete(ref_case("nmr_ms_synthetic"))
    kw = dict(outcome="RELAPSE2year", covariates=["AGE", "TRT01A"], treatment="TRT01A")
    with pytest.raises(ModelSpecificationError, match="control="):
        RiskModel("glm").fit(d, **kw)
    with pytest.raises(DataError, match="not found"):
        RiskModel("glm", control="placebo").fit(d, **kw)

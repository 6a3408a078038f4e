"""Calibration statistics against R (glm, metafor 3.8-1): reference
``tests/prognosis/data/calibration`` (make.R, expected.json) on nmr_ms_synthetic with
``glm`` and no trial term.  Apparent (``RiskModel.calibration()``, and the bootstrap's
``.calibration``) and internal-external (``validate(method="iecv").calibration``, per
held-out trial and stacked; ``.calibration_summary``: REML meta-analysis across trials).
Tolerances: GLM-based numbers rtol 1e-7 / atol 1e-9 (observed ~1e-10); the REML
summaries rtol 1e-5 (metafor's own REML stopping rule, see test_univariate_bcg)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from .test_reference import fit_pre, load_complete

EXP = json.loads((Path(__file__).parent / "data" / "calibration" / "expected.json")
                 .read_text())
COLS = ["n", "events", "intercept", "intercept_se", "slope", "slope_se", "citl", "citl_se",
        "oe", "log_oe_se", "mean_predicted", "observed"]


@pytest.fixture
def model(ref_case):
    return fit_pre(load_complete(ref_case("nmr_ms_synthetic")), "glm")


def _check(row, ref):
    np.testing.assert_allclose(row[COLS].to_numpy(float), [ref[c] for c in COLS],
                               rtol=1e-7, atol=1e-9)


def test_apparent_calibration(model):
    tab = model.calibration()
    assert list(tab.index) == [*EXP["trials"], "overall"]
    assert list(tab.columns) == COLS
    _check(tab.loc["overall"], EXP["apparent_overall"])
    for t, ref in zip(EXP["trials"], EXP["apparent_by_trial"], strict=True):
        _check(tab.loc[t], ref)


def test_iecv_calibration(model):
    v = model.validate(method="iecv")
    tab = v.calibration
    assert list(tab.index) == [*EXP["trials"], "stacked"]
    for t, ref in zip(EXP["trials"], EXP["iecv_by_trial"], strict=True):
        _check(tab.loc[t], ref)
    _check(tab.loc["stacked"], EXP["iecv_stacked"])
    summ = v.calibration_summary
    for name, ref in EXP["iecv_summary"].items():
        got = summ.loc[name]
        np.testing.assert_allclose(
            got[["estimate", "se", "tau2", "ci_lower", "ci_upper", "pi_lower", "pi_upper"]]
            .to_numpy(float),
            [ref[k] for k in ("estimate", "se", "tau2", "ci_lb", "ci_ub", "pi_lb", "pi_ub")],
            rtol=1e-5, atol=1e-8)
    assert "calibration" in str(v.summary())


def test_bootstrap_has_apparent_calibration(model):
    v = model.validate(B=3, random_state=1)
    _check(v.calibration.loc["overall"], EXP["apparent_overall"])
    assert v.calibration_summary is not None

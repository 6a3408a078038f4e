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


SE_MAP = {"c_statistic": ("c", "c_se"), "calibration_slope": ("slope", "slope_se"),
          "calibration_intercept": ("intercept", "intercept_se"), "citl": ("citl", "citl_se"),
          "brier": ("brier", "brier_se")}


def test_bootstrap_corrected_measures_have_ses(model):
    """Every bootstrap-corrected measure carries an SE: ``apparent_se`` against R (DeLong
    for the c-statistic, glm SEs for slope/intercept/CITL, sd((p-y)^2)/sqrt(n) for the
    Brier score; rtol 1e-7), and ``corrected_se`` = sqrt(apparent_se^2 + optimism_se^2)
    with its Wald interval."""
    v = model.validate(B=5, random_state=1)
    t = v.table
    ref = EXP["apparent_overall"]
    for m, (est, se) in SE_MAP.items():
        np.testing.assert_allclose(t.loc[m, "apparent"], ref[est], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(t.loc[m, "apparent_se"], ref[se], rtol=1e-7)
    np.testing.assert_allclose(t["corrected_se"],
                               np.sqrt(t["apparent_se"] ** 2 + t["optimism_se"] ** 2),
                               rtol=1e-12)
    np.testing.assert_allclose(t["ci_upper"] - t["corrected"],
                               1.959963984540054 * t["corrected_se"], rtol=1e-12)


def test_iecv_measures_have_ses(model):
    """IECV: each held-out trial's measures with their SEs equal R's, and the stacked
    out-of-trial predictions (``overall.stacked_se``) too (rtol 1e-7)."""
    v = model.validate(method="iecv")
    tab = v.table.set_index("trial")
    for trial, ref in zip(EXP["trials"], EXP["iecv_by_trial"], strict=True):
        for m, (est, se) in SE_MAP.items():
            np.testing.assert_allclose(tab.loc[trial, m], ref[est], rtol=1e-7, atol=1e-9)
            np.testing.assert_allclose(tab.loc[trial, f"{m}_se"], ref[se], rtol=1e-7)
    ref = EXP["iecv_stacked"]
    for m, (_, se) in SE_MAP.items():
        np.testing.assert_allclose(v.overall.loc[m, "stacked_se"], ref[se], rtol=1e-7)

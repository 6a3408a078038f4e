"""``ipdma risk-nmr`` / ``ipdma risk-score`` end to end on the MS-like example (ML engine;
the Bayesian engine is tested in tests/nmr)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ipdma.cli import main

COVS = "AGE,SEX,EDSSBL,ONSYRS,RLPS1YR,TRELMOS,PRMSGR,T25FWABL,SFPCSBL"
BASE = ["--trial", "STUDYID", "--treatment", "TRT01A", "--outcome", "RELAPSE2year"]


@pytest.fixture(scope="module")
def ms(tmp_path_factory):
    d = tmp_path_factory.mktemp("ms")
    assert main(["simulate", "ms", "--seed", "5", "--out", str(d / "ms.csv")]) == 0
    return d


def test_two_stages_end_to_end(ms, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "nmr"
    code = main(["risk-nmr", str(ms / "ms.csv"), *BASE, "--covariates", COVS,
                 "--external-control", str(ms / "ms_external.csv"), "--engine", "ml",
                 "--bootstrap", "10", "--seed", "3", "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    val = pd.DataFrame(payload["stage1"]["validation"])
    assert val.shape[0] >= 4  # c-statistic, calibration slope, CITL, Brier
    est = pd.DataFrame(payload["stage2"]["estimates"]).set_index("parameter")
    assert {"d[DMF]", "d[GA]", "d[NAT]", "g0", "gamma[NAT]"} <= set(est.index)
    assert (est["lower"] < est["estimate"]).all() and (est["estimate"] < est["upper"]).all()
    assert payload["stage2"]["baseline"] == "external"
    for f in ("risk_model.json", "stage1_coefficients.csv", "stage1_validation.csv",
              "stage1_iecv.csv", "stage2_estimates.csv", "predictions_by_risk.csv",
              "predictions_by_patient.csv", "risk.png", "or.png", "benefit.png", "which.png",
              "index.html"):
        assert (out / f).is_file(), f
    # the saved stage-1 model scores a new file, and gives the same scores as the run
    scored = tmp_path / "scored.csv"
    assert main(["risk-score", str(out / "risk_model.json"), str(ms / "ms.csv"), "--out",
                 str(scored)]) == 0
    s = pd.read_csv(scored)
    r = pd.read_csv(out / "risk_scores.csv")
    s_cc = s.dropna(subset=["logit_risk"]).reset_index(drop=True)  # complete cases, as the run
    assert len(s_cc) == len(r)
    pd.testing.assert_series_equal(s_cc["logit_risk"], r["logit_risk"], check_names=False)
    # and it can be reused as the stage-1 model of a new run
    capsys.readouterr()
    assert main(["risk-nmr", str(ms / "ms.csv"), *BASE, "--risk-model",
                 str(out / "risk_model.json"), "--engine", "ml", "--out",
                 str(tmp_path / "again"), "--json"]) == 0
    again = pd.DataFrame(json.loads(capsys.readouterr().out)["stage2"]["estimates"])
    again = again.set_index("parameter")
    shared = [p for p in est.index if not p.startswith("alpha")]  # no external cohort now
    pd.testing.assert_frame_equal(again.loc[shared, ["estimate", "se"]],
                                  est.loc[shared, ["estimate", "se"]], rtol=1e-8)


def test_risk_score_column_errors(ms, tmp_path, capsys):
    code = main(["risk-nmr", str(ms / "ms.csv"), *BASE, "--risk-score", "AGEE", "--engine",
                 "ml", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Did you mean 'AGE'?" in err and "--risk-score column 'AGEE'" in err
    code = main(["risk-nmr", str(ms / "ms.csv"), *BASE, "--engine", "ml", "--out",
                 str(tmp_path)])
    assert code == 2 and "stage 1 needs --covariates" in capsys.readouterr().err

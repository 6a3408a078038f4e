"""``ipdma ite --time --event``: survival learners, --horizon/--tau, --scale, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main

XS = "x1,x2,x3,x4"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(ref_case, tmp_path):
    case = ref_case("ite_twostage_survival")
    tr, te = tmp_path / "train.csv", tmp_path / "new.csv"
    case.csv("train.csv").to_csv(tr, index=False)
    case.csv("test.csv")[["x1", "x2", "x3", "x4"]].head(40).to_csv(te, index=False)
    return tr, te, case


BASE = ["--trial", "trial", "--treatment", "trt", "--time", "time", "--event", "status",
        "--covariates", XS]


def test_ite_survival_survdiff(files, tmp_path, capsys):
    tr, te, case = files
    code, out, _ = _run(capsys, "ite", str(tr), *BASE, "--horizon", "2", "--pooler",
                        "unweighted", "--predict", str(te), "--out", str(tmp_path / "o"),
                        "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["learner"] == "cox" and payload["outcome_type"] == "survival"
    assert payload["scale"] == "survdiff" and payload["horizon"] == 2.0
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    ref = case.csv("test_predictions.csv").head(40)
    np.testing.assert_allclose(pred["ite"], ref["cox_mean_ite_S2"], rtol=1e-8)
    np.testing.assert_allclose(pred["p0"], ref["cox_mean_S2_t0"], rtol=1e-8)


@pytest.mark.parametrize("scale,extra,col", [("rmstdiff", ["--tau", "3"], "weibull_mean_ite_RMST3"),
                                             ("loghr", [], "loghr_reml_un")])
def test_ite_survival_scales(files, tmp_path, capsys, scale, extra, col):
    tr, te, case = files
    learner = "weibull" if scale == "rmstdiff" else "cox"
    pooler = "unweighted" if scale == "rmstdiff" else "mvma"
    code, _, _ = _run(capsys, "ite", str(tr), *BASE, "--scale", scale, *extra, "--learner",
                      learner, "--pooler", pooler, "--predict", str(te), "--out",
                      str(tmp_path / "o"))
    assert code == 0
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    ref = case.csv("test_predictions.csv").head(40)
    np.testing.assert_allclose(pred["ite"], ref[col], rtol=1e-6 if scale == "loghr" else 1e-8,
                               atol=1e-5 if scale == "loghr" else 0)


@pytest.mark.parametrize("args,msg", [
    (["--time", "time"], "--time needs --event COL"),
    (["--time", "time", "--event", "status"], "needs --horizon T"),
    (["--time", "time", "--event", "status", "--scale", "rmstdiff"], "needs --tau T"),
    (["--time", "time", "--event", "status", "--horizon", "9"], "beyond the last follow-up"),
    (["--time", "time", "--event", "status", "--horizon", "2", "--learner", "ols"],
     "--learner cox or"),
    (["--time", "time", "--event", "status", "--horizon", "2", "--outcome", "status"],
     "not both"),
    (["--outcome", "status", "--horizon", "2"], "--horizon applies to time-to-event"),
    (["--time", "tme", "--event", "status", "--horizon", "2"], "Did you mean 'time'"),
    (["--time", "time", "--event", "status", "--horizon", "-1"], "not a positive time"),
])
def test_ite_survival_errors(files, tmp_path, capsys, args, msg):
    tr, te, _ = files
    code, _, err = _run(capsys, "ite", str(tr), "--trial", "trial", "--treatment", "trt",
                          "--covariates", XS, *args, "--predict", str(te), "--out",
                          str(tmp_path / "o"))
    assert code == 2
    assert msg in err
    assert "Traceback" not in err

"""``--save-model PATH`` of ``ipdma risk-nmr``, ``ipdma ite`` and ``ipdma subgroups``:
checked before computing, written as a versioned JSON model file, reported in the
human and ``--json`` outputs; the loaded model predicts as the run's outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main
from ipdma.serialize import load_model, predict_from_covariates, read_model_header


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    assert main(["simulate", "ms", "--seed", "5", "--out", str(d / "ms.csv")]) == 0
    assert main(["simulate", "ite", "--seed", "2", "--out", str(d / "ite.csv")]) == 0
    assert main(["simulate", "lbp", "--seed", "3", "--out", str(d / "lbp.csv")]) == 0
    return d


MS = ["--trial", "STUDYID", "--treatment", "TRT01A", "--outcome", "RELAPSE2year",
      "--covariates", "AGE,SEX,EDSSBL,RLPS1YR", "--engine", "ml", "--bootstrap", "0",
      "--seed", "3"]
ITE = ["--trial", "trial", "--treatment", "treatment", "--outcome", "y",
       "--covariates", "x1,x2,x3,x4,x5,x6,x7,x8", "--treated", "1"]
LBP = ["--trial", "trial", "--treatment", "treatment", "--outcome", "rmdq",
       "--partition-by", "age,sex,rmdq0,pain"]


def test_risk_nmr(data, tmp_path, capsys):
    capsys.readouterr()
    model = tmp_path / "nmr.json"
    assert main(["risk-nmr", str(data / "ms.csv"), *MS, "--out", str(tmp_path / "o"),
                 "--json", "--save-model", str(model)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["files"]["model"] == str(model)
    head = read_model_header(model)
    assert head["kind"] == "risk-nmr" and head["provenance"]["data"]["file"] == "ms.csv"
    res = load_model(model)
    df = pd.read_csv(data / "ms.csv")
    got = predict_from_covariates(res, df, baseline="trials")
    want = pd.read_csv(tmp_path / "o" / "predictions_by_patient.csv")
    np.testing.assert_allclose(got["prob"].to_numpy(), want["prob"].to_numpy(), rtol=1e-12,
                               atol=1e-14)
    # human output names the file
    assert main(["risk-nmr", str(data / "ms.csv"), *MS, "--out", str(tmp_path / "h"),
                 "--save-model", str(tmp_path / "h.json")]) == 0
    assert f"model file: {tmp_path / 'h.json'}" in capsys.readouterr().out


def test_ite(data, tmp_path, capsys):
    capsys.readouterr()
    model = tmp_path / "ite.json"
    new = data / "ite_test.csv"
    assert main(["ite", str(data / "ite.csv"), *ITE, "--pooler", "weighted-aux-ols",
                 "--predict", str(new), "--out", str(tmp_path / "o"), "--json",
                 "--save-model", str(model)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["files"]["model"] == str(model)
    back = load_model(model, kind="two-stage-ite")
    want = pd.read_csv(tmp_path / "o" / "predictions.csv")
    got = back.predict(pd.read_csv(new))
    np.testing.assert_allclose(got["ite"].to_numpy(), want["ite"].to_numpy(), rtol=1e-12,
                               atol=1e-14)


def test_subgroups(data, tmp_path, capsys):
    capsys.readouterr()
    model = tmp_path / "tree.json"
    assert main(["subgroups", str(data / "lbp.csv"), *LBP, "--method", "mob",
                 "--out", str(tmp_path / "o"), "--save-model", str(model)]) == 0
    assert f"model file: {model}" in capsys.readouterr().out
    tree = load_model(model, kind="mob")
    nodes = pd.read_csv(tmp_path / "o" / "patient_nodes.csv")
    df = pd.read_csv(data / "lbp.csv")
    assert (tree.predict(df, type="node").to_numpy() == nodes["node"].to_numpy()).all()


def test_checked_before_computing(data, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "o"
    code = main(["subgroups", str(data / "lbp.csv"), *LBP, "--out", str(out),
                 "--save-model", str(tmp_path / "tree.pkl")])
    err = capsys.readouterr().err
    assert code == 2 and "--save-model" in err and "ending in .json" in err
    assert not out.exists()
    code = main(["ite", str(data / "ite.csv"), *ITE, "--out", str(out),
                 "--save-model", str(tmp_path / "missing" / "m.json")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist; create it first" in err and not out.exists()
    code = main(["ite", str(data / "ite.csv"), *ITE, "--learner", "sklearn-t",
                 "--pooler", "weighted-bootstrap", "--out", str(out),
                 "--save-model", str(tmp_path / "m.json")])
    err = capsys.readouterr().err
    assert code == 2 and "learners that can: ols" in err and not out.exists()
    code = main(["risk-nmr", str(data / "ms.csv"), *MS, "--out", str(out),
                 "--save-model", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "--save-model" in err and not out.exists()

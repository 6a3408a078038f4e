"""``ipdma ite`` on a binary outcome: inferred family, --scale, p0/p1 in predictions.csv."""

from __future__ import annotations

import json

import pandas as pd

from ipdma.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _data(ref_case, tmp_path):
    case = ref_case("ite_twostage_binary")
    train = case.csv("train.csv").drop(columns=["foldid", "id"])
    test = case.csv("test.csv")[["x1", "x2", "x3", "x4", "x5"]].head(50)
    tr, te = tmp_path / "train.csv", tmp_path / "new.csv"
    train.to_csv(tr, index=False)
    test.to_csv(te, index=False)
    return tr, te


BASE = ["--trial", "trial", "--treatment", "t", "--outcome", "y", "--covariates",
        "x1,x2,x3,x4,x5", "--treated", "1"]


def test_ite_binary_infers_family_and_writes_risks(ref_case, tmp_path, capsys):
    tr, te = _data(ref_case, tmp_path)
    code, out, _ = _run(capsys, "ite", str(tr), *BASE, "--pooler", "weighted-aux-ols",
                        "--predict", str(te), "--out", str(tmp_path / "o"), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["learner"] == "logistic" and payload["outcome_type"] == "binary"
    assert payload["scale"] == "rd"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert {"ite", "se", "p0", "p1"} <= set(pred.columns) and len(pred) == 50
    assert ((pred["p1"] - pred["p0"] - pred["ite"]).abs() < 1e-10).all()


def test_ite_binary_logor(ref_case, tmp_path, capsys):
    tr, te = _data(ref_case, tmp_path)
    code, _, _ = _run(capsys, "ite", str(tr), *BASE, "--method", "fixed", "--scale", "logor",
                      "--predict", str(te), "--out", str(tmp_path / "o"))
    assert code == 0
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert pred["ite"].abs().max() > 0.3          # log odds ratios, not risk differences


def test_ite_binary_errors_in_cli_words(ref_case, tmp_path, capsys):
    tr, _ = _data(ref_case, tmp_path)
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "ols",
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "error: --learner ols" in err and "logistic" in err
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "xgboost", "--scale",
                        "logor", "--out", str(tmp_path / "o"))
    assert code == 2 and "--scale logor" in err and "Traceback" not in err
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--scale", "difference",
                        "--out", str(tmp_path / "o"))
    assert code == 2 and "--scale rd or logor" in err

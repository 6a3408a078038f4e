"""``ipdma ite`` with more than two treatments: predictions.csv with ite_<T>_vs_<REF>,
best_treatment and p_best_<T>; --reference; errors in CLI words."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main

BASE = ["--trial", "trial", "--treatment", "trt", "--outcome", "y", "--covariates",
        "x1,x2,x3"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _data(ref_case, tmp_path):
    case = ref_case("ite_network_multiarm")
    tr, te = tmp_path / "train.csv", tmp_path / "new.csv"
    case.csv("train.csv").to_csv(tr, index=False)
    case.csv("test.csv")[["id", "x1", "x2", "x3"]].head(100).to_csv(te, index=False)
    return case, tr, te


@pytest.mark.reference
def test_ite_network_predictions_match_reference(ref_case, tmp_path, capsys):
    case, tr, te = _data(ref_case, tmp_path)
    code, out, _ = _run(capsys, "ite", str(tr), *BASE, "--method", "fixed", "--predict",
                        str(te), "--reference", "A", "--id", "id", "--out",
                        str(tmp_path / "o"), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["treatments"] == ["A", "B", "C"] and payload["reference"] == "A"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    for col in ("ite_B_vs_A", "se_B_vs_A", "ci_low_C_vs_A", "ci_high_C_vs_A",
                "best_treatment", "p_best_A", "p_best_B", "p_best_C"):
        assert col in pred.columns
    ref = case.csv("test_predictions.csv").head(100)
    np.testing.assert_allclose(pred["ite_B_vs_A"], ref["fixed_ite_BA"], rtol=1e-9)
    np.testing.assert_allclose(pred["se_C_vs_A"], ref["fixed_se_CA"], rtol=1e-9)
    assert (pred["best_treatment"] == ref["fixed_best"]).all()
    assert list(pred["id"]) == list(range(1, 101)) or "id" in pred.columns
    pairs = pd.read_csv(tmp_path / "o" / "predictions_all_pairs.csv")
    np.testing.assert_allclose(pairs["ite_C_vs_B"], ref["fixed_ite_CB"], rtol=1e-9,
                               atol=1e-12)
    assert (tmp_path / "o" / "ite_best.png").exists()
    assert (tmp_path / "o" / "pooled_coefficients.csv").exists()


def test_ite_network_reference_option(ref_case, tmp_path, capsys):
    _, tr, te = _data(ref_case, tmp_path)
    code, out, _ = _run(capsys, "ite", str(tr), *BASE, "--pooler", "weighted-aux-ols",
                        "--predict", str(te), "--reference", "C", "--lower-is-better",
                        "--out", str(tmp_path / "o"), "--no-plots")
    assert code == 0 and "network reference : C" in out
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert "ite_A_vs_C" in pred.columns and "ite_B_vs_C" in pred.columns
    assert not list((tmp_path / "o").glob("*.png"))          # --no-plots draws nothing


@pytest.mark.parametrize("extra,msg", [
    (["--reference", "D"], "--reference 'D' is not a treatment label"),
    (["--treated", "B"], "pick it with --reference"),
    (["--pooler", "bayes-mvma", "--learner", "lasso"], "joint posterior"),
    (["--method", "mm"], "--method mm"),
])
def test_ite_network_errors_in_cli_words(ref_case, tmp_path, capsys, extra, msg):
    _, tr, _ = _data(ref_case, tmp_path)
    code, _, err = _run(capsys, "ite", str(tr), *BASE, *extra, "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith("error:") and msg in err
    assert "Traceback" not in err


def test_ite_network_bayesian_pooler_and_x_query(ref_case, tmp_path, capsys):
    """bayes-lm + posterior-mix on a network from the CLI; --predict rows are the query
    points of the bootstrap refits (X_query) on the network path too."""
    _, tr, te = _data(ref_case, tmp_path)
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "bayes-lm", "--pooler",
                        "posterior-mix", "--learner-options",
                        '{"num_samples": 300, "num_warmup": 100}', "--predict", str(te),
                        "--no-plots", "--out", str(tmp_path / "b"))
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "b" / "predictions.csv")
    assert {"ite_B_vs_A", "se_C_vs_A", "best_treatment", "p_best_C"} <= set(pred.columns)
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "xgboost", "--pooler",
                        "weighted-bootstrap", "--n-boot", "8", "--learner-options",
                        '{"max_depth": [3], "eta": [0.3], "nrounds": [60], "nfold": 3}',
                        "--predict", str(te),
                        "--no-plots", "--out", str(tmp_path / "t"))
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "t" / "predictions.csv")) == 100


# ------------------------------------------------------------------ time to event
SURV = ["--trial", "trial", "--treatment", "trt", "--time", "time", "--event", "event",
        "--covariates", "x1,x2"]


def _surv_data(tmp_path):
    from pathlib import Path

    here = Path(__file__).parents[1] / "ite" / "data" / "survival_network"
    tr, te = tmp_path / "train.csv", tmp_path / "new.csv"
    pd.read_csv(here / "train.csv").to_csv(tr, index=False)
    new = pd.read_csv(here / "test.csv")
    new.insert(0, "id", np.arange(1, len(new) + 1))
    new.to_csv(te, index=False)
    return json.loads((here / "expected.json").read_text()), tr, te


@pytest.mark.reference
def test_ite_survival_network_predictions(tmp_path, capsys):
    exp, tr, te = _surv_data(tmp_path)
    code, out, _ = _run(capsys, "ite", str(tr), *SURV, "--horizon", "1.5", "--method", "fixed",
                        "--predict", str(te), "--reference", "A", "--no-plots",
                        "--out", str(tmp_path / "o"), "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["outcome_type"] == "survival" and payload["scale"] == "survdiff"
    assert payload["best"] == "higher" and payload["learner"] == "cox"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    for col in ("ite_B_vs_A", "se_C_vs_A", "ci_low_B_vs_A", "best_treatment", "p_best_A",
                "p_best_B", "p_best_C"):
        assert col in pred.columns
    ref = np.array(exp["predictions"]["fixed"]["survdiff"]["ite_vs_ref"])
    np.testing.assert_allclose(pred[["ite_B_vs_A", "ite_C_vs_A"]], ref, atol=1e-6)
    # loghr: best = lowest hazard; --reference C
    code, out, _ = _run(capsys, "ite", str(tr), *SURV, "--scale", "loghr", "--predict",
                        str(te), "--reference", "C", "--no-plots", "--out",
                        str(tmp_path / "o2"), "--json")
    assert code == 0 and json.loads(out)["best"] == "lower"
    pred = pd.read_csv(tmp_path / "o2" / "predictions.csv")
    assert {"ite_A_vs_C", "ite_B_vs_C", "pi_low_A_vs_C", "tau2"} <= set(pred.columns)
    ite = np.column_stack([np.zeros(len(pred)), pred[["ite_A_vs_C", "ite_B_vs_C"]]])
    assert (pred["best_treatment"].to_numpy() == np.array(["C", "A", "B"])[ite.argmin(1)]).all()


def test_ite_survival_network_compare_and_sites(tmp_path, capsys):
    _, tr, te = _surv_data(tmp_path)
    code, _out, err = _run(capsys, "ite", str(tr), *SURV, "--horizon", "1.5", "--pooler",
                          "weighted-aux-ols", "--predict", str(te), "--no-plots", "--compare",
                          "--compare-methods", "cox+mvma,weibull+weighted-aux-ols",
                          "--export-sites", "--out", str(tmp_path / "o"))
    assert code == 0, err
    cmp = pd.read_csv(tmp_path / "o" / "comparison.csv")
    assert "c_for_benefit" in cmp.columns and len(cmp) == 3
    per = pd.read_csv(tmp_path / "o" / "comparison_contrasts.csv")
    assert set(per["contrast"]) == {"B_vs_A", "C_vs_A", "C_vs_B"}
    assert len(list((tmp_path / "o" / "sites").glob("*.json"))) == 6


@pytest.mark.parametrize("extra,msg", [
    (["--horizon", "1.5", "--pooler", "unweighted"], "--pooler unweighted is not available"),
    (["--horizon", "1.5", "--export-sites"], "--export-sites with --pooler mvma on --scale"),
    (["--horizon", "9"], "--horizon 9 is beyond the last follow-up"),
    (["--scale", "loghr", "--learner", "xgboost-cox"], "--scale loghr needs a learner"),
])
def test_ite_survival_network_errors(tmp_path, capsys, extra, msg):
    _, tr, _ = _surv_data(tmp_path)
    code, _, err = _run(capsys, "ite", str(tr), *SURV, *extra, "--out", str(tmp_path / "o"))
    assert code == 2
    assert err.startswith("error:") and msg in err
    assert "Traceback" not in err


def test_ite_network_stage1_option(ref_case, tmp_path, capsys):
    """--network-stage1 native (default) fits the S-learner once per trial on all arms;
    per-contrast fits one two-arm model per contrast (different numbers, same columns);
    the choice is in the JSON output and is checked before fitting."""
    _, tr, te = _data(ref_case, tmp_path)
    grid = '{"max_depth": [2], "eta": [0.3], "nrounds": [30], "nfold": 3}'
    preds = {}
    for mode in (None, "native", "per-contrast"):
        extra = [] if mode is None else ["--network-stage1", mode]
        out_dir = tmp_path / f"o_{mode}"
        code, out, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "xgboost",
                              "--learner-options", grid, "--predict", str(te), "--no-plots",
                              *extra, "--out", str(out_dir), "--json")
        assert code == 0, err
        assert json.loads(out)["network_stage1"] == (mode or "native")
        preds[mode] = pd.read_csv(out_dir / "predictions.csv")
    pd.testing.assert_frame_equal(preds[None], preds["native"])
    assert list(preds["per-contrast"].columns) == list(preds["native"].columns)
    assert not np.allclose(preds["per-contrast"]["ite_B_vs_A"], preds["native"]["ite_B_vs_A"])
    # bad choice: argparse, one line; two treatments: the option does not apply
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--network-stage1", "joint",
                        "--out", str(tmp_path / "x"))
    assert code == 2 and "--network-stage1" in err and "Traceback" not in err
    two = tmp_path / "two.csv"
    train = pd.read_csv(tr)
    train[train["trt"] != "C"].to_csv(two, index=False)
    code, _, err = _run(capsys, "ite", str(two), *BASE, "--network-stage1", "per-contrast",
                        "--out", str(tmp_path / "y"))
    assert code == 2 and "error: --network-stage1 applies to more than two treatments" in err
    assert not (tmp_path / "y").exists()


def test_ite_network_binary_bayesian_learner(ref_case, tmp_path, capsys):
    """bayes-logistic on a binary network: posterior-mix gives risk differences;
    bayes-mvma needs --scale logor (checked before fitting, in CLI words)."""
    case = ref_case("ite_network_multiarm")
    train = case.csv("train.csv")
    train["y"] = (train["y"] > train["y"].median()).astype(int)
    tr, te = tmp_path / "bin.csv", tmp_path / "new.csv"
    train.to_csv(tr, index=False)
    case.csv("test.csv")[["x1", "x2", "x3"]].head(20).to_csv(te, index=False)
    opts = '{"num_samples": 100, "num_warmup": 20, "num_chains": 1}'
    code, _, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "bayes-logistic",
                        "--pooler", "bayes-mvma", "--out", str(tmp_path / "x"))
    assert code == 2 and "add --scale logor" in err and "--pooler posterior-mix" in err
    # no --pooler: the risk-difference default on a network is posterior-mix
    code, out, err = _run(capsys, "ite", str(tr), *BASE, "--learner", "bayes-logistic",
                          "--learner-options", opts,
                          "--predict", str(te), "--no-plots", "--json",
                          "--out", str(tmp_path / "o"))
    assert code == 0, err
    payload = json.loads(out)
    assert payload["scale"] == "rd" and payload["pooler"] == "posterior-mix"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert pred.filter(like="ite_").abs().to_numpy().max() < 1

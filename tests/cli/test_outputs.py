"""Outputs link back to the input rows; tree tables carry split data; pooling site
summaries from the CLI (issue 13)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, err


@pytest.fixture(scope="module")
def lbp(tmp_path_factory):
    from ipdma.datasets import make_lbp_trials

    root = tmp_path_factory.mktemp("lbp")
    sim = make_lbp_trials(random_state=3)
    sim.data.to_csv(root / "lbp.csv", index=False)
    return root, sim


def test_subgroups_mob_single_trial_without_trial_column(lbp, tmp_path, capsys):
    _root, sim = lbp
    df = sim.data
    one = df[df["trial"] == df["trial"].iloc[0]].drop(columns="trial")
    one.to_csv(tmp_path / "one.csv", index=False)
    out = tmp_path / "out"
    text, _ = _run(capsys, "subgroups", tmp_path / "one.csv", "--treatment", "treatment",
                   "--outcome", "rmdq", "--partition-by", "rmdq0,age", "--method", "mob",
                   "--patient-id", "id", "--alpha", "0.5", "--out", out, "--json")
    payload = json.loads(text)
    assert payload["treatment_term"] == "treatment[1]"  # the treatment keeps its own label
    eff = pd.read_csv(out / "effects.csv")
    assert (eff["coef"] == "treatment[1]").all() and eff["n"].dtype == np.int64
    nodes = pd.read_csv(out / "nodes.csv")
    assert {"split_point", "rule_operator", "rule_value", "split_partition"} <= set(nodes)
    assert nodes["n"].dtype == np.int64
    pn = pd.read_csv(out / "patient_nodes.csv")
    assert list(pn.columns[:2]) == ["row", "id"] and pn["row"].tolist()[:3] == [1, 2, 3]
    assert pn["id"].tolist() == one["id"].tolist()


def test_tree_split_points_at_full_precision(lbp, tmp_path, capsys):
    from ipdma.cli._subgroups import split_table
    from ipdma.trees import MOB

    root, sim = lbp
    out = tmp_path / "out"
    text, _ = _run(capsys, "subgroups", root / "lbp.csv", "--trial", "trial", "--treatment",
                   "treatment", "--outcome", "rmdq", "--partition-by", "rmdq0,bmi",
                   "--method", "mob", "--out", out, "--json")
    nodes = pd.read_csv(out / "nodes.csv")
    inner = nodes[~nodes["terminal"]]
    assert len(inner) >= 1
    data = sim.data.assign(**{"treatment[1]": (sim.data["treatment"] == 1).astype(float)})
    tree = MOB("linear").fit(data, outcome="rmdq", regressors=["treatment[1]"],
                             partition=["rmdq0", "bmi"])
    ref = split_table(tree)
    got = inner["split_point"].to_numpy()
    np.testing.assert_array_equal(got, ref.loc[~ref["terminal"], "split_point"].to_numpy())
    kids = nodes[nodes["parent"] == inner["node"].iloc[0]]
    assert kids["rule_operator"].tolist() == ["<=", ">"]
    assert (kids["rule_value"] == inner["split_point"].iloc[0]).all()
    json_nodes = json.loads(text)["nodes"]
    assert [n["split_point"] for n in json_nodes if not n["terminal"]] == got.tolist()


def test_pool_sites_matches_the_fit_bit_for_bit(tmp_path, capsys):
    from ipdma.datasets import make_ite_continuous

    sim = make_ite_continuous(scenario=1, random_state=5)
    sim.data.to_csv(tmp_path / "train.csv", index=False)
    new = sim.test.drop(columns=["ite_true", "y", "treatment"]).head(40)
    new.to_csv(tmp_path / "new.csv", index=False)
    covs = ",".join(f"x{j}" for j in range(1, 9))
    _run(capsys, "ite", tmp_path / "train.csv", "--trial", "trial", "--treatment", "treatment",
         "--outcome", "y", "--covariates", covs, "--predict", tmp_path / "new.csv",
         "--export-sites", "--out", tmp_path / "fit")
    fitted = (tmp_path / "fit" / "predictions.csv").read_bytes()
    _run(capsys, "pool", tmp_path / "fit" / "sites", "--predict", tmp_path / "new.csv",
         "--id", "trial", "--out", tmp_path / "pooled")
    assert (tmp_path / "pooled" / "predictions.csv").read_bytes() == fitted
    # file names that sort in another order give the same bytes
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    files = sorted((tmp_path / "fit" / "sites").glob("*.json"))
    for k, f in enumerate(reversed(files)):
        shutil.copy(f, shuffled / f"{k:02d}_{f.name}")
    _run(capsys, "pool", shuffled, "--predict", tmp_path / "new.csv", "--id", "trial",
         "--out", tmp_path / "pooled2")
    assert (tmp_path / "pooled2" / "predictions.csv").read_bytes() == fitted


def test_risk_nmr_outputs_carry_rows_and_ids(tmp_path, capsys):
    from ipdma.datasets import make_ms_network

    sim = make_ms_network(random_state=2)
    df = sim.data.copy()
    df.loc[[0, 5], "AGE"] = np.nan
    df.to_csv(tmp_path / "ms.csv", index=False)
    out = tmp_path / "out"
    text, _err = _run(capsys, "risk-nmr", tmp_path / "ms.csv", "--trial", "STUDYID",
                     "--treatment", "TRT01A", "--outcome", "RELAPSE2year", "--covariates",
                     "AGE,SEX", "--patient-id", "USUBJID", "--engine", "ml", "--bootstrap",
                     "0", "--out", out, "--json")
    payload = json.loads(text)
    assert payload["dropped_rows"]["rows"] == [1, 6]
    assert payload["dropped_rows"]["by_column"] == {"AGE": 2}
    scores = pd.read_csv(out / "risk_scores.csv")
    assert list(scores.columns[:3]) == ["row", "USUBJID", "STUDYID"]
    assert 1 not in set(scores["row"]) and scores["row"].iloc[0] == 2
    # the row numbers point at the patients' lines in the input file
    back = df.iloc[scores["row"].to_numpy() - 1]
    assert back["USUBJID"].tolist() == scores["USUBJID"].tolist()
    pred = pd.read_csv(out / "predictions_by_patient.csv")
    assert list(pred.columns[:3]) == ["row", "USUBJID", "STUDYID"]
    assert len(pred) == len(scores) * df["TRT01A"].nunique()
    page = (out / "index.html").read_text()
    assert "Patients analysed" in page and "2 dropped" in page

"""``ipdma subgroups`` end to end on the low-back-pain-like example."""

from __future__ import annotations

import json

import pytest

from ipdma.cli import main

PARTITION = "age,sex,rmdq0,pain,duration,depression,employed,bmi"


@pytest.fixture(scope="module")
def lbp_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("lbp") / "lbp.csv"
    assert main(["simulate", "lbp", "--seed", "3", "--out", str(path)]) == 0
    return path


def _args(path, out, *extra):
    return ["subgroups", str(path), "--trial", "trial", "--treatment", "treatment",
            "--outcome", "rmdq", "--partition-by", PARTITION, "--out", str(out), "--json",
            *extra]


def test_mob_is_fooled_and_metamob_is_not(lbp_csv, tmp_path, capsys):
    capsys.readouterr()
    assert main(_args(lbp_csv, tmp_path / "mob", "--method", "mob")) == 0
    mob = json.loads(capsys.readouterr().out)
    assert main(_args(lbp_csv, tmp_path / "meta", "--method", "metamob",
                      "--fixed-trial-intercepts")) == 0
    meta = json.loads(capsys.readouterr().out)
    assert mob["n_terminal"] > 2
    assert "age" in (tmp_path / "mob" / "tree.txt").read_text()  # the trial-correlated covariate
    assert meta["n_terminal"] == 2
    rules = {e["rule"] for e in meta["node_effects"]}
    assert rules == {"rmdq0 <= 13", "rmdq0 > 13"}
    big = next(e for e in meta["node_effects"] if e["rule"] == "rmdq0 > 13")
    assert big["ci_lower"] < -2.5 < big["ci_upper"]  # the true subgroup effect
    for f in ("tree.txt", "nodes.csv", "effects.csv", "tree.png", "index.html"):
        assert (tmp_path / "meta" / f).is_file()
    assert meta["variance_components"]


def test_random_option_validation(lbp_csv, tmp_path, capsys):
    code = main(_args(lbp_csv, tmp_path / "x", "--random", "slope"))
    assert code == 2
    assert "--random takes" in capsys.readouterr().err

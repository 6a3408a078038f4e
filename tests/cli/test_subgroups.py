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


def _binary_csv(path, seed=11):
    """Six trials, binary outcome, planted subgroup x1 > 0 (treatment harmful -> helpful)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sizes = [200, 260, 240, 220, 250, 230]
    trial = np.repeat([f"S{k + 1}" for k in range(6)], sizes)
    codes = np.repeat(np.arange(6), sizes)
    n = trial.size
    x1, x2 = rng.normal(size=n).round(2), rng.uniform(size=n).round(2)
    arm = rng.integers(0, 2, n)
    alpha = rng.normal(-0.3, 0.5, 6)[codes]
    b = rng.normal(0, 0.3, 6)[codes]
    eta = alpha + arm * (0.4 + b - 1.6 * (x1 > 0))
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    pd.DataFrame({"trial": trial, "arm": np.where(arm == 1, "drug", "placebo"), "y": y,
                  "x1": x1, "x2": x2}).to_csv(path, index=False)
    return path


def test_metamob_binary_outcome(tmp_path, capsys):
    """A binary outcome runs metaMOB (logistic GLMM tree) with OR and RD per node."""
    path = _binary_csv(tmp_path / "bin.csv")
    capsys.readouterr()
    assert main(["subgroups", str(path), "--trial", "trial", "--treatment", "arm",
                 "--outcome", "y", "--partition-by", "x1,x2", "--out", str(tmp_path / "o"),
                 "--treated", "drug", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["method"] == "metamob" and res["n_terminal"] == 2
    ne = res["node_effects"]
    assert {e["rule"] for e in ne} == {"x1 <= 0.01", "x1 > 0.01"}  # planted at x1 > 0
    for e in ne:
        for lo, est, hi in (("or_ci_lower", "odds_ratio", "or_ci_upper"),
                            ("rd_ci_lower", "risk_diff", "rd_ci_upper"),
                            ("ci_lower", "estimate", "ci_upper")):
            assert e[lo] < e[est] < e[hi]
    harm = next(e for e in ne if e["rule"] == "x1 > 0.01")
    assert harm["odds_ratio"] < 1 and harm["rd_ci_upper"] < 0
    text = (tmp_path / "o" / "tree.txt").read_text()
    assert text.startswith("Generalized linear mixed model tree")
    assert res["variance_components"] and res["random_effects"]
    # the human table shows odds ratios and risk differences with their intervals
    assert main(["subgroups", str(path), "--trial", "trial", "--treatment", "arm",
                 "--outcome", "y", "--partition-by", "x1,x2", "--out", str(tmp_path / "h"),
                 "--treated", "drug", "--random", "intercept"]) == 0
    out = capsys.readouterr().out
    assert "OR_lower" in out and "RD_upper" in out


@pytest.mark.reference
def test_metamob_binary_matches_glmertree(ref_case, tmp_path, capsys):
    """The CLI's binary metaMOB gives glmertree's tree and node log odds ratios."""
    import numpy as np

    case = ref_case("glmertree_binary")
    e = case.expected["c_glmertree_RI_RT"]
    capsys.readouterr()
    assert main(["subgroups", str(case.path / "sim_binary_multitrial.csv"), "--trial", "trial",
                 "--treatment", "trt", "--outcome", "y", "--partition-by", "x1,x2,x3",
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [x["node"] for x in res["node_effects"]] == [int(k) for k in e["node_coef_rownames"]]
    np.testing.assert_allclose([x["estimate"] for x in res["node_effects"]],
                               np.array(e["node_coef"])[:, 1], atol=1e-4)
    assert res["iterations"] == e["iterations"]

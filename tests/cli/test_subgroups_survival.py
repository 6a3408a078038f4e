"""``ipdma subgroups --method mob --time COL --event COL``: Weibull MOB from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main


@pytest.fixture
def surv_csv(tmp_path):
    rng = np.random.default_rng(11)
    n = 700
    d = pd.DataFrame({"study": rng.integers(1, 5, n).astype(str),
                      "arm": np.where(rng.integers(0, 2, n) == 1, "active", "placebo"),
                      "age": rng.normal(60, 10, n).round(1), "sex": rng.choice(["f", "m"], n)})
    trt = (d.arm == "active").to_numpy()
    logt = 1.0 + trt * (-0.1 + 0.9 * (d.age > 60)) + 0.5 * np.log(rng.exponential(size=n))
    c = rng.uniform(1, 8, n)
    t = np.exp(logt)
    d["months"] = np.maximum(np.minimum(t, c).round(2), 0.01)
    d["died"] = (t <= c).astype(int)
    path = tmp_path / "surv.csv"
    d.to_csv(path, index=False)
    return path


def _args(path, out, *extra):
    return ["subgroups", str(path), "--trial", "study", "--treatment", "arm", "--time", "months",
            "--event", "died", "--partition-by", "age,sex", "--method", "mob",
            "--out", str(out), *extra]


def test_weibull_mob_json(surv_csv, tmp_path, capsys):
    capsys.readouterr()
    assert main(_args(surv_csv, tmp_path / "o", "--json")) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n_terminal"] == 2
    eff = pd.DataFrame(res["node_effects"])
    assert {"hr", "hr_lower", "hr_upper", "tr", "tr_lower", "tr_upper", "rmst_diff",
            "rmst_diff_lower", "rmst_diff_upper", "tau", "events"} <= set(eff.columns)
    # default tau: shortest of the longest follow-up over terminal nodes and arms
    d = pd.read_csv(surv_csv)
    assert res["tau"] <= d["months"].max()
    assert np.allclose(eff["tau"], res["tau"])
    older = eff.loc[eff["tr"].idxmax()]
    assert older["tr_lower"] > 1 and older["hr_upper"] < 1 and older["rmst_diff_lower"] > 0
    for f in ("tree.txt", "nodes.csv", "effects.csv", "tree.png", "index.html"):
        assert (tmp_path / "o" / f).is_file()
    assert "Surv(months, died)" in (tmp_path / "o" / "tree.txt").read_text()


def test_weibull_mob_text_and_tau(surv_csv, tmp_path, capsys):
    capsys.readouterr()
    assert main(_args(surv_csv, tmp_path / "o", "--tau", "3")) == 0
    out = capsys.readouterr().out
    assert "HR (95% CI)" in out and "RMST diff (95% CI)" in out and "tau = 3" in out


@pytest.mark.parametrize("extra, message", [
    (["--method", "metamob"], "--method mob"),
    (["--outcome", "months"], "either --outcome or --time"),
    (["--tau", "-1"], "--tau must be a positive"),
])
def test_option_errors(surv_csv, tmp_path, capsys, extra, message):
    capsys.readouterr()
    assert main([*_args(surv_csv, tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_data_errors(surv_csv, tmp_path, capsys):
    d = pd.read_csv(surv_csv)
    bad = tmp_path / "bad.csv"
    d.assign(died=d.died.replace({1: 2})).to_csv(bad, index=False)
    capsys.readouterr()
    assert main(_args(bad, tmp_path / "o")) == 2
    assert "event column 'died' must be 0 (censored) / 1 (event); found values [2.0]" in \
        capsys.readouterr().err
    d.assign(months=d.months.where(d.index != 5, 0.0)).to_csv(bad, index=False)
    assert main(_args(bad, tmp_path / "o")) == 2
    assert "'months'" in capsys.readouterr().err
    assert main([*_args(surv_csv, tmp_path / "o")[:-2], "--out", str(tmp_path / "o"),
                 "--time", "mnths"]) == 2
    assert "months" in capsys.readouterr().err         # did you mean
    args = [a for a in _args(surv_csv, tmp_path / "o") if a not in ("--event", "died")]
    assert main(args) == 2
    assert "--time needs --event" in capsys.readouterr().err
    args = [a for a in _args(surv_csv, tmp_path / "o") if a not in ("--time", "months")]
    assert main(args) == 2
    assert "--outcome COL is required" in capsys.readouterr().err


def test_matches_library_on_reference(ref_case, tmp_path, capsys):
    """The CLI's node fits are the library's (which match partykit, tests/trees)."""
    case = ref_case("mob_weibull")
    d = case.csv("sim_weibull.csv")
    d["trial"] = "1"
    d["arm"] = np.where(d.trt == 1, "B", "A")
    path = tmp_path / "w.csv"
    d.drop(columns="trt").to_csv(path, index=False)
    capsys.readouterr()
    assert main(["subgroups", str(path), "--trial", "trial", "--treatment", "arm",
                 "--time", "time", "--event", "status", "--partition-by", "z1,z2,z3,x1,x2",
                 "--method", "mob", "--out", str(tmp_path / "o"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    exp = {n["id"]: n for n in case.expected["default"]["nodes"]}
    eff = pd.DataFrame(res["node_effects"]).set_index("node")
    assert eff.index.tolist() == case.expected["default"]["terminal_ids"]
    for nid, row in eff.iterrows():
        np.testing.assert_allclose(np.log(row["tr"]), exp[nid]["coef"][1], atol=1e-7)
        np.testing.assert_allclose(np.log(row["hr"]), -exp[nid]["coef"][1] / exp[nid]["scale"],
                                   atol=1e-7)

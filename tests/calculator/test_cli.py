"""``ipdma calculator MODEL.json --out calc.html``: options checked before computing; the
round trip through a saved model needs ``ipdma.serialize`` (branch ``persist``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main


def test_missing_model_file(tmp_path, capsys):
    rc = main(["calculator", str(tmp_path / "nope.json"), "--out", str(tmp_path / "c.html")])
    err = capsys.readouterr().err
    assert rc == 2 and "MODEL.json" in err and "no such file" in err
    assert not (tmp_path / "c.html").exists()


@pytest.mark.parametrize("args, msg", [
    (["--out", "{tmp}/c.txt"], "give an .html file name"),
    (["--out", "{tmp}/c.html", "--units", "age"], "COL=UNIT"),
    (["--out", "{tmp}/c.html", "--treatments", "a,b,c"], "two labels"),
    (["--out", "{tmp}/c.html", "--data", "{tmp}/missing.csv"], "--data"),
])
def test_options_checked_before_loading(tmp_path, capsys, args, msg):
    model = tmp_path / "m.json"
    model.write_text("{}")          # never read: the options fail first
    rc = main(["calculator", str(model), *[a.format(tmp=tmp_path) for a in args]])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err, err


def test_round_trip_through_a_saved_model(tmp_path, capsys):
    serialize = pytest.importorskip("ipdma.serialize")
    from ipdma.nmr import RiskNMR

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], 100),
                       "treat": rng.choice(["placebo", "A"], 300),
                       "logit_risk": rng.normal(-0.5, 0.8, 300)})
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(df.logit_risk - 0.7 * (df.treat == "A")))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = RiskNMR(engine="ml", n_sim=500).fit(df, trial="trial", treatment="treat",
                                                  outcome="y")
    path = tmp_path / "model.json"
    serialize.save_model(res, path)
    out = tmp_path / "calc.html"
    rc = main(["calculator", str(path), "--out", str(out), "--json"])
    assert rc == 0, capsys.readouterr().err
    assert out.read_text().startswith("<!DOCTYPE html>")


def _spec_without_provenance(spec):
    spec = dict(spec)
    for k in ("provenance", "plot", "title"):
        spec.pop(k, None)
    return spec


def test_saved_nmr_with_stage1_gives_the_same_calculator(tmp_path, capsys):
    """`ipdma risk-nmr --save-model` files carry the stage-1 model and the development
    summaries: the calculator built from the loaded file has the same inputs (ranges,
    defaults, levels) and the same model parameters as the one built in the session."""
    from ipdma.calculator import calculator_spec
    from ipdma.nmr import RiskNMR
    from ipdma.prognosis import RiskModel
    from ipdma.serialize import load_model, save_model

    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({"trial": rng.choice(["T1", "T2", "T3"], n),
                       "treat": rng.choice(["placebo", "A", "B"], n),
                       "age": rng.normal(50, 10, n).round(),
                       "sex": rng.choice(["f", "m"], n)})
    lp = -3 + 0.05 * df.age + 0.3 * (df.sex == "m")
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(lp - 0.5 * (df.treat == "A")))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        risk = RiskModel("glm").fit(df, outcome="y", covariates=["age", "sex"],
                                    trial="trial", treatment="treat")
        df["lr"] = risk.predict_logit(df)
        res = RiskNMR(engine="ml", n_sim=500, reference="placebo").fit(
            df, trial="trial", treatment="treat", outcome="y", risk="lr")
    path = tmp_path / "nmr.json"
    save_model(res, path, risk_model=risk)
    loaded = load_model(path)
    a = calculator_spec(res, risk_model=risk, data=df)
    b = calculator_spec(loaded, risk_model=loaded.risk_model)
    assert _spec_without_provenance(a) == _spec_without_provenance(b)
    out = tmp_path / "calc.html"
    rc = main(["calculator", str(path), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "age" in out.read_text()


def test_saved_ite_and_tree_give_the_same_calculator(tmp_path):
    from ipdma.calculator import calculator_spec
    from ipdma.ite import TwoStageITE
    from ipdma.serialize import load_model, save_model
    from ipdma.trees import MOB

    rng = np.random.default_rng(4)
    n = 800
    df = pd.DataFrame({"trial": rng.choice(["T1", "T2", "T3", "T4"], n),
                       "trt": rng.integers(0, 2, n), "x1": rng.normal(size=n),
                       "x2": rng.normal(size=n), "g": rng.choice(["a", "b", "c"], n)})
    df["y"] = df.x1 + df.trt * (0.5 + 0.8 * df.x2 + 1.0 * (df.g == "a")) + rng.normal(size=n)
    ite = TwoStageITE("ols", "mvma").fit(df, outcome="y", treatment="trt", trial="trial",
                                         covariates=["x1", "x2"])
    save_model(ite, tmp_path / "ite.json")
    a = calculator_spec(ite)
    b = calculator_spec(load_model(tmp_path / "ite.json"))
    assert a["inputs"] == b["inputs"] and a["model"] == b["model"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = MOB(parm="trt", alpha=0.2).fit(df, outcome="y", regressors=["trt"],
                                              partition=["x2", "g"])
    save_model(tree, tmp_path / "tree.json")
    a = calculator_spec(tree, data=df)
    b = calculator_spec(load_model(tmp_path / "tree.json"))
    assert a["inputs"] == b["inputs"] and a["model"] == b["model"]

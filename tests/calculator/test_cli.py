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

"""MOB / MetaMOB model files: split rules, node fits and random effects round trip;
the loaded tree predicts exactly as the original (tolerance 1e-12; bit for bit)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.serialize import load_model, model_inputs, save_model
from ipdma.trees import MOB, LogisticModel, MetaMOB

TOL = 1e-12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    n = 800
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
                       "grp": rng.choice(["a", "b", "c"], n),
                       "sev": pd.Categorical(rng.choice(["low", "mid", "high"], n),
                                             categories=["low", "mid", "high"], ordered=True),
                       "trt": rng.integers(0, 2, n),
                       "trial": rng.choice(["S1", "S2", "S3", "S4", "S5"], n)})
    u = df.trial.map({"S1": -0.3, "S2": 0.1, "S3": 0.4, "S4": 0.0, "S5": -0.2})
    df["y"] = 1 + u + df.trt * (0.2 + 1.5 * (df.x1 > 0)) + rng.normal(size=n)
    df["yb"] = rng.binomial(1, 1 / (1 + np.exp(-(u - 0.4 + 1.6 * df.trt * (df.x1 > 0)))))
    return df


def _same(a, b):
    if isinstance(a, pd.Series):
        a, b = a.to_frame(), b.to_frame()
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y, x, rtol=0, atol=TOL)
    assert a.equals(b)


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_mob(data, tmp_path, kind):
    if kind == "linear":
        tree = MOB(parm="trt").fit(data, "y", ["trt"], ["x1", "x2", "grp", "sev"])
    else:
        tree = MOB(LogisticModel(), parm="trt").fit(data, "yb", ["trt"], ["x1", "x2", "grp"])
    back = load_model(save_model(tree, tmp_path / "tree.json"), kind="mob")
    new = data.sample(200, random_state=1)
    for typ in ("response", "node", "coef", "effect"):
        _same(tree.predict(new, type=typ), back.predict(new, type=typ))
    _same(tree.effects(), back.effects())
    _same(tree.node_table(), back.node_table())
    assert str(tree) == str(back) and str(tree.summary()) == str(back.summary())
    assert back.n_terminal == tree.n_terminal and back.depth() == tree.depth()
    # a loaded tree saves again to the same state
    again = save_model(back, tmp_path / "again.json")
    assert (json.loads(again.read_text())["state"]
            == json.loads((tmp_path / "tree.json").read_text())["state"])


def test_mob_inputs(data, tmp_path):
    tree = MOB(parm="trt").fit(data, "y", ["trt"], ["x1", "grp", "sev"])
    path = save_model(tree, tmp_path / "tree.json")
    inputs = model_inputs(tree)
    assert model_inputs(load_model(path)) == inputs
    by = {e["name"]: e for e in inputs}
    assert by["x1"]["kind"] == "numeric" and by["x1"]["max"] == data.x1.max()
    assert by["grp"]["kind"] == "categorical" and by["grp"]["levels"] == ["a", "b", "c"]
    assert by["sev"]["kind"] == "ordered" and by["sev"]["levels"] == ["low", "mid", "high"]
    assert by["sev"]["mode"] == data.sev.value_counts().idxmax()
    assert by["trt"]["kind"] == "binary" and by["trt"]["role"] == "regressor"
    # no per-patient arrays (rows, score contributions, data) in the file
    assert f'"shape":[{len(data)}' not in path.read_text()


@pytest.mark.parametrize("family", ["continuous", "binary"])
def test_metamob(data, tmp_path, family):
    out = "y" if family == "continuous" else "yb"
    mm = MetaMOB(family=family).fit(data, out, "trt", ["x1", "x2"], "trial")
    back = load_model(save_model(mm, tmp_path / "mm.json"), kind="metamob")
    new = data.sample(150, random_state=2)
    for typ in ("response", "node", "effect"):
        _same(mm.predict(new, type=typ), back.predict(new, type=typ))
    _same(mm.predict(new, random=False), back.predict(new, random=False))
    _same(mm.node_effects(), back.node_effects())
    _same(mm.coef(), back.coef())
    _same(mm.random_effects(), back.random_effects())
    _same(mm.variance_components(), back.variance_components())
    assert str(mm.summary()) == str(back.summary())
    doc = json.loads((tmp_path / "mm.json").read_text())
    assert doc["provenance"]["n_trials"] == 5 and doc["provenance"]["n_patients"] == len(data)
    inputs = model_inputs(back)
    assert inputs == model_inputs(mm)
    roles = {e["name"]: e["role"] for e in inputs}
    assert roles == {"x1": "partition", "x2": "partition", "trt": "treatment",
                     "trial": "trial"}

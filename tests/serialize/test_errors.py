"""Model-file errors: clear ipdma.errors classes naming the file and what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import (
    DataError,
    ModelFileError,
    ModelSpecificationError,
    NotFittedError,
)
from ipdma.serialize import load_model, read_model_header, save_model
from ipdma.serialize._codec import decode, encode
from ipdma.trees import MOB


@pytest.fixture(scope="module")
def tree():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"x": rng.normal(size=300), "trt": rng.integers(0, 2, 300)})
    df["y"] = df.trt * (df.x > 0) + rng.normal(size=300)
    return MOB(parm="trt").fit(df, "y", ["trt"], ["x"])


@pytest.fixture
def saved(tree, tmp_path):
    return save_model(tree, tmp_path / "tree.json")


def _rewrite(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.json")


def test_not_json_and_truncated(saved, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(ModelFileError, match="not a text"):
        load_model(bad)
    bad.write_text(saved.read_text()[: len(saved.read_text()) // 2])
    with pytest.raises(ModelFileError, match=r"not valid JSON.*corrupt or truncated"):
        load_model(bad)


def test_not_a_model_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"format": "ipdma.prognosis.RiskModel", "version": 1}))
    with pytest.raises(ModelFileError, match=r"RiskModel.from_json"):
        load_model(p)
    p.write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="not an ipdma model file"):
        load_model(p)


def test_newer_version(saved):
    _rewrite(saved, lambda d: d.update(format_version=2, ipdma_version="9.0"))
    with pytest.raises(ModelFileError, match=r"format version 2.*upgrade ipdma"):
        load_model(saved)
    _rewrite(saved, lambda d: d.update(format_version="1"))
    with pytest.raises(ModelFileError, match="invalid format_version"):
        load_model(saved)


def test_unknown_kind_and_kind_mismatch(saved):
    with pytest.raises(ModelFileError, match="holds a 'mob' model, not a 'metamob'"):
        load_model(saved, kind="metamob")
    _rewrite(saved, lambda d: d.update(kind="forest"))
    with pytest.raises(ModelFileError, match=r"kind 'forest'.*kinds: risk-nmr"):
        load_model(saved)


def test_missing_fields(saved):
    _rewrite(saved, lambda d: d.pop("state"))
    with pytest.raises(ModelFileError, match=r"lacks the field\(s\) \['state'\]"):
        load_model(saved)


def test_malformed_state(saved):
    _rewrite(saved, lambda d: d["state"]["estimator"].update(cls="os:system"))
    with pytest.raises(ModelFileError, match="not an ipdma class"):
        load_model(saved)


def test_state_cannot_name_arbitrary_classes():
    for cls in ("builtins:eval", "subprocess:Popen", "ipdma.cli._common:main",
                "ipdma.trees._mob:MOB.__init__.__globals__", "ipdma.ite._twostage:Path",
                "ipdma.ite._twostage:np.random.Generator"):
        with pytest.raises(ValueError, match=r"ipdma class|does not exist|not a class"):
            decode({"__t": "obj", "cls": cls, "state": {}})


def test_missing_state_field(saved):
    _rewrite(saved, lambda d: d["state"].pop("estimator"))
    with pytest.raises(ModelFileError, match=r"incomplete or malformed.*estimator"):
        load_model(saved)


def test_header(saved):
    head = read_model_header(saved)
    assert head["kind"] == "mob" and "state" not in head
    assert head["format"] == "ipdma-model" and head["format_version"] == 1
    assert head["provenance"]["data"] is None and head["provenance"]["n_patients"] == 300


def test_save_checks(tree, tmp_path):
    with pytest.raises(ModelSpecificationError, match=r"ending in .json"):
        save_model(tree, tmp_path / "tree.pkl")
    with pytest.raises(DataError, match="does not exist; create it first"):
        save_model(tree, tmp_path / "no" / "tree.json")
    (tmp_path / "d.json").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        save_model(tree, tmp_path / "d.json")
    with pytest.raises(NotFittedError, match="not fitted"):
        save_model(MOB(), tmp_path / "t.json")
    with pytest.raises(ModelSpecificationError, match="cannot write a dict"):
        save_model({}, tmp_path / "t.json")
    with pytest.raises(ModelSpecificationError, match="risk_model= goes with a RiskNMR"):
        save_model(tree, tmp_path / "t.json", risk_model=tree)


def test_data_file_provenance(tree, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    p = save_model(tree, tmp_path / "t.json", data_file=data,
                   provenance={"command": "ipdma subgroups ..."})
    prov = read_model_header(p)["provenance"]
    assert prov["data"]["file"] == "data.csv" and len(prov["data"]["sha256"]) == 64
    assert prov["command"] == "ipdma subgroups ..." and prov["method"].startswith("MOB(")


def test_codec_round_trip_exact():
    vals = {"f": [0.1, -0.0, 5e-324, 1.7976931348623157e308, float("nan"), float("inf")],
            "ints": np.arange(5, dtype=np.int64), "big": 2**70,
            "arr": np.array([[np.nan, 1 / 3], [-np.inf, 2.0]]),
            "frame": pd.DataFrame({"a": [1.5, np.nan], "c": pd.Categorical(["x", "y"]),
                                   "s": ["u", None]}, index=["r1", "r2"]),
            "tuple": (1, "a"), "set": frozenset({"a", "b"}), 3: "int key",
            "gen": np.random.default_rng(5)}
    out = decode(json.loads(json.dumps(encode(vals), allow_nan=False)))
    assert out["f"][:4] == vals["f"][:4] and np.isnan(out["f"][4]) and out["f"][5] == np.inf
    assert str(out["f"][1]) == "-0.0"
    np.testing.assert_array_equal(out["arr"], vals["arr"])
    assert out["ints"].dtype == np.int64 and out["big"] == 2**70
    pd.testing.assert_frame_equal(out["frame"], vals["frame"])
    assert out["tuple"] == (1, "a") and out["set"] == frozenset({"a", "b"})
    assert out[3] == "int key"
    assert out["gen"].random() == np.random.default_rng(5).random()
    # shared arrays and views are written once and read back shared
    a = np.arange(40.0)
    views = {"a": a, "same": a, "b": a.reshape(8, 5), "t": a.reshape(8, 5).T,
             "s": a[3:30:4], "neg": a[::-1], "c": a.reshape(2, 4, 5)[..., [1, 3]],
             "half": a[:25]}
    enc = encode(views)
    assert enc["same"]["__t"] == "ref" and enc["b"]["__t"] == "view"
    assert enc["s"]["__t"] == "nd"          # a small slice is a copy, not its whole base
    back = decode(json.loads(json.dumps(enc)))
    for k, v in views.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].shape == v.shape
    assert back["same"] is back["a"] and np.shares_memory(back["t"], back["a"])
    # a view cannot address memory outside its base
    bad = json.loads(json.dumps(enc))
    bad["b"]["offset"] = 10_000
    with pytest.raises(ValueError, match="outside its base"):
        decode(bad)

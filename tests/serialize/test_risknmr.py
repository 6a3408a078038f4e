"""RiskNMR (+ its stage-1 RiskModel) model files: the loaded result predicts exactly as
the original (tolerance 1e-12; in practice bit for bit), for both engines, two-arm and
multi-treatment networks, every baseline."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.nmr import RiskNMR
from ipdma.prognosis import RiskModel
from ipdma.serialize import load_model, model_inputs, predict_from_covariates, save_model

TOL = 1e-12


def _data(treatments, n=900, seed=2):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
                       "treat": rng.choice(treatments, n),
                       "age": rng.normal(60, 8, n).round(1),
                       "sex": rng.choice(["f", "m"], n)})
    eta = -6 + 0.09 * df.age + 0.3 * (df.sex == "m") - 0.6 * (df.treat == treatments[1])
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    return df


def _assert_same_frame(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if x.dtype.kind == "f":
            np.testing.assert_allclose(y, x, rtol=0, atol=TOL)
        else:
            assert (x == y).all(), c
    assert a.equals(b)            # bit for bit


@pytest.fixture(scope="module")
def two_arm():
    df = _data(["placebo", "A"])
    rm = RiskModel("pmle", random_state=1).fit(df, outcome="y", covariates=["age", "sex"],
                                              trial="trial", treatment="treat")
    df["logit_risk"] = rm.predict_logit(df)
    return df, rm


@pytest.fixture(scope="module")
def network():
    df = _data(["placebo", "A", "B"], n=1200, seed=5)
    rm = RiskModel("glm").fit(df, outcome="y", covariates=["age", "sex"])
    df["logit_risk"] = rm.predict_logit(df)
    return df, rm


@pytest.mark.parametrize("effects", ["common", "random"])
@pytest.mark.parametrize("which", ["two_arm", "network"])
def test_ml_round_trip(request, tmp_path, which, effects):
    df, rm = request.getfixturevalue(which)
    ext = df[df.treat == "placebo"].head(150)
    res = RiskNMR(engine="ml", effects=effects, n_sim=800, random_state=3).fit(
        df, trial="trial", treatment="treat", outcome="y", external_control=ext)
    path = save_model(res, tmp_path / "nmr.json", risk_model=rm)
    back = load_model(path)
    assert type(back) is type(res) and back.risk_model is not None
    for kw in ({"baseline": "trials"}, {"baseline": "external"},
               {"baseline": "control-model"}):
        _assert_same_frame(res.predict(risk=[0.05, 0.2, 0.6], **kw),
                           back.predict(risk=[0.05, 0.2, 0.6], **kw))
        _assert_same_frame(res.predict(df[["logit_risk"]].head(40), **kw),
                           back.predict(df[["logit_risk"]].head(40), **kw))
    _assert_same_frame(res.params, back.params)
    assert str(res.summary()) == str(back.summary())
    assert res.observed_risk_range() == back.observed_risk_range()
    # covariates -> risk score -> predictions under every treatment
    _assert_same_frame(predict_from_covariates(res, df.head(30), risk_model=rm),
                       predict_from_covariates(back, df.head(30)))
    got = predict_from_covariates(back, df.head(30))
    assert set(got["treatment"]) == set(res.treatments)


def test_bayes_round_trip(two_arm, tmp_path):
    pytest.importorskip("numpyro")
    df, rm = two_arm
    res = RiskNMR(engine="bayes", chains=1, draws=150, warmup=150, random_state=4).fit(
        df, trial="trial", treatment="treat", outcome="y")
    back = load_model(save_model(res, tmp_path / "bayes.json", risk_model=rm))
    for point in ("logit_mean", "mean"):
        _assert_same_frame(res.predict(risk=[0.1, 0.3], point=point),
                           back.predict(risk=[0.1, 0.3], point=point))
    _assert_same_frame(res.params, back.params)
    np.testing.assert_array_equal(res._theta_draws, back._theta_draws)
    assert back.inference_data is None   # the draws are kept, not the InferenceData
    _assert_same_frame(predict_from_covariates(res, df.head(10), risk_model=rm),
                       predict_from_covariates(back, df.head(10)))


def test_no_patient_rows_and_metadata(two_arm, tmp_path):
    df, rm = two_arm
    res = RiskNMR(engine="ml", n_sim=200, random_state=1).fit(
        df, trial="trial", treatment="treat", outcome="y")
    path = save_model(res, tmp_path / "nmr.json", risk_model=rm)
    doc = json.loads(path.read_text())
    assert doc["format"] == "ipdma-model" and doc["format_version"] == 1
    assert doc["kind"] == "risk-nmr"
    prov = doc["provenance"]
    assert prov["n_patients"] == len(df) and prov["n_trials"] == 3
    assert prov["random_state"] == 1 and prov["stage1"]["covariates"] == ["age", "sex"]
    # no per-patient array in the file: nothing as long as the data
    text = path.read_text()
    assert str(len(df)) in text
    assert '"shape":[900]' not in text and '"shape": [900]' not in text
    back = load_model(path)
    assert back.design.n == len(df) and int(back.design.y.sum()) == int(df.y.sum())
    # covariate metadata round trip (kinds, levels, ranges, defaults)
    inputs = model_inputs(rm)
    assert model_inputs(back) == inputs
    age, sex = inputs
    assert (age["kind"], sex["kind"]) == ("numeric", "categorical")
    assert age["min"] == df.age.min() and age["max"] == df.age.max()
    assert age["median"] == float(np.median(df.age))
    assert sex["levels"] == ["f", "m"] and sex["mode"] == df.sex.mode()[0]
    assert sex["counts"] == [int((df.sex == "f").sum()), int((df.sex == "m").sum())]


def test_without_risk_model(two_arm, tmp_path):
    df, _ = two_arm
    res = RiskNMR(engine="ml", n_sim=200, random_state=1).fit(
        df, trial="trial", treatment="treat", outcome="y")
    back = load_model(save_model(res, tmp_path / "nmr.json"))
    assert back.risk_model is None
    _assert_same_frame(res.predict(), back.predict())
    (entry,) = model_inputs(back)
    assert entry["role"] == "risk score" and entry["min"] == df.logit_risk.min()
    with pytest.raises(Exception, match="no stage-1 risk model"):
        predict_from_covariates(back, df.head(3))


def test_risk_model_alone(two_arm, tmp_path):
    df, rm = two_arm
    back = load_model(save_model(rm, tmp_path / "rm.json"), kind="risk-model")
    np.testing.assert_array_equal(back.predict_logit(df), rm.predict_logit(df))
    assert model_inputs(back) == model_inputs(rm)


def test_save_method(two_arm, tmp_path):
    df, rm = two_arm
    res = RiskNMR(engine="ml", n_sim=200, random_state=1).fit(
        df, trial="trial", treatment="treat", outcome="y")
    p = res.save(tmp_path / "m.json", risk_model=rm)
    back = load_model(p, kind="risk-nmr")
    _assert_same_frame(res.predict(), back.predict())
    back.save(tmp_path / "again.json")          # a loaded model saves again, same content
    a = json.loads(p.read_text())
    b = json.loads((tmp_path / "again.json").read_text())
    assert a["state"] == b["state"] and a["inputs"] == b["inputs"]

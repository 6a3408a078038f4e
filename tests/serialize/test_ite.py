"""TwoStageITE model files: per-trial fits and the fitted pooler are written as the
estimator holds them; the loaded model predicts exactly as the original (tolerance
1e-12; in practice bit for bit)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.datasets import make_ite_binary, make_ite_continuous
from ipdma.errors import ModelSpecificationError
from ipdma.ite import TwoStageITE, fit_methods
from ipdma.serialize import EXPORTABLE_LEARNERS, load_model, model_inputs, save_model

TOL = 1e-12


@pytest.fixture(scope="module")
def cont():
    return make_ite_continuous(scenario=5, random_state=1, n_trials=4, n_test_per_trial=25)


@pytest.fixture(scope="module")
def binary():
    return make_ite_binary(scenario=5, random_state=2, n_trials=4, n_test_per_trial=25)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    np.testing.assert_allclose(b.to_numpy(float), a.to_numpy(float), rtol=0, atol=TOL)
    assert a.equals(b)


def _round_trip(model, sim, tmp_path):
    path = save_model(model, tmp_path / "ite.json")
    back = load_model(path, kind="two-stage-ite")
    _same(model.predict(sim.test), back.predict(sim.test))
    return back, path


@pytest.mark.parametrize("learner,pooler", [
    ("ols", "mvma"), ("ols", "weighted-aux-ols"), ("ols", "weighted-bootstrap"),
    ("lasso", "weighted-aux-ols"), ("ridge", "weighted-bootstrap"),
    ("bayes-lm", "posterior-mix"), ("bayes-lasso", "posterior-mix"),
])
def test_continuous(cont, tmp_path, learner, pooler):
    model = TwoStageITE(learner, pooler, n_boot=8, random_state=3).fit(cont.ipd())
    back, path = _round_trip(model, cont, tmp_path)
    assert str(model.summary()) == str(back.summary())
    again = save_model(back, tmp_path / "again.json")      # loaded models save again
    assert json.loads(again.read_text())["state"] == json.loads(path.read_text())["state"]
    if learner == "ols":
        _same(model.stage1_coefficients(), back.stage1_coefficients())


@pytest.mark.parametrize("learner,pooler", [
    ("logistic", "mvma"), ("logistic", "weighted-aux-ols"), ("logistic", "weighted-bootstrap"),
    ("logistic-ridge", "weighted-aux-ols"),
])
def test_binary(binary, tmp_path, learner, pooler):
    opts = {"nlambda": 20, "nfolds": 3} if learner != "logistic" else None
    model = TwoStageITE(learner, pooler, n_boot=6, random_state=5,
                        learner_options=opts).fit(binary.ipd())
    back, _ = _round_trip(model, binary, tmp_path)
    pred = back.predict(binary.test)
    assert {"p0", "p1"} <= set(pred.columns)


def test_binary_logor_scale(binary, tmp_path):
    model = TwoStageITE("logistic", "mvma", scale="logor").fit(binary.ipd())
    _round_trip(model, binary, tmp_path)


def test_xgboost_boosters_as_json(cont, tmp_path):
    pytest.importorskip("xgboost")
    model = TwoStageITE("xgboost", "weighted-aux-ols", random_state=1,
                        learner_options={"max_depth": [2], "eta": [0.3], "nrounds": [20],
                                         "nfold": 3}).fit(cont.ipd())
    back, path = _round_trip(model, cont, tmp_path)
    text = path.read_text()
    assert '"__t":"xgb"' in text and "pickle" not in text
    assert type(back.fits_[0].learner.booster_).__name__ == "Booster"


def test_unexportable_learner_names_the_exportable_ones(cont, tmp_path):
    model = TwoStageITE("sklearn-t", "weighted-bootstrap", n_boot=2,
                        random_state=1).fit(cont.ipd())
    with pytest.raises(ModelSpecificationError, match="Exportable learners: ols, lasso"):
        save_model(model, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
    assert "sklearn-t" not in EXPORTABLE_LEARNERS


def test_no_patient_rows_and_inputs(cont, tmp_path):
    model = TwoStageITE("ols", "mvma").fit(cont.ipd())
    path = save_model(model, tmp_path / "ite.json")
    doc = json.loads(path.read_text())
    n = sum(f.n for f in model.fits_)
    assert doc["provenance"]["n_patients"] == n
    assert doc["provenance"]["method"] == "TwoStageITE('ols', 'mvma')"
    assert f'"shape":[{n}' not in path.read_text()
    back = load_model(path)
    assert back.data_.X.shape[0] == 0
    inputs = model_inputs(model)
    assert model_inputs(back) == inputs
    assert [e["name"] for e in inputs] == model.feature_names_
    X = model.data_.X
    for j, e in enumerate(inputs):
        assert e["min"] == X[:, j].min() and e["max"] == X[:, j].max()
        assert e["kind"] == ("binary" if set(np.unique(X[:, j])) <= {0.0, 1.0} else "numeric")


def test_shared_fit_from_fit_methods(cont, tmp_path):
    """A pair from fit_methods (stage 1 shared between poolers) writes and reads alike."""
    fitted = fit_methods(cont.ipd(), [("ols", "mvma"), ("ols", "weighted-aux-ols")],
                         random_state=2)
    for model in fitted.values():
        _round_trip(model, cont, tmp_path)

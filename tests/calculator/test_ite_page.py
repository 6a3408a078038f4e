"""The two-stage ITE calculator page (pooled coefficients, pooler "mvma") in headless
Chromium: continuous and binary outcomes, 100 patients each, 1e-9 vs ``predict``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec, export_calculator
from ipdma.datasets import make_ite_binary, make_ite_continuous
from ipdma.errors import ModelSpecificationError
from ipdma.ite import TwoStageITE, learner_available

from .conftest import as_text, fill_and_read, open_page

TOL = 1e-9


@pytest.fixture(scope="module")
def continuous():
    sim = make_ite_continuous(scenario=5, random_state=1, n_trials=6, n_test_per_trial=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TwoStageITE("ols", "mvma").fit(sim.ipd())
    return sim, model


@pytest.fixture(scope="module")
def binary():
    sim = make_ite_binary(7, random_state=3, n_trials=6, n_test_trials=2, n_test_per_trial=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TwoStageITE("logistic", "mvma").fit(sim.ipd())
    return sim, model


@pytest.fixture(scope="module")
def binary_logor(binary):
    sim = binary[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TwoStageITE("logistic", "mvma", scale="logor").fit(sim.ipd())
    return sim, model


def _patients(model, n, seed):
    X = model.data_.X
    rng = np.random.default_rng(seed)
    lo, hi = X.min(0), X.max(0)
    P = rng.uniform(lo, hi, size=(n, X.shape[1]))
    # binary-looking covariates (0/1) take their allowed values
    for j in range(X.shape[1]):
        u = np.unique(X[:, j])
        if u.size <= 2:
            P[:, j] = rng.choice(u, n)
    return pd.DataFrame(P, columns=model.feature_names_)


@pytest.mark.parametrize("which", ["continuous", "binary", "binary_logor"])
def test_page_matches_predict(browser, tmp_path, which, request):
    _sim, model = request.getfixturevalue(which)
    path = export_calculator(model, tmp_path / f"ite_{which}.html",
                             treatments=("control", "treated"))
    open_page(browser, path, screenshot=tmp_path / f"ite_{which}.png")
    pats = _patients(model, 100, seed=5)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = model.predict(pats)
    cols = ["ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"] + (
        ["p0", "p1"] if which != "continuous" else [])
    hib = which == "continuous"
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        for k in cols:
            assert abs(out["columns"][k][0] - py[k].iloc[i]) <= TOL, (i, k)
        better = py["ite"].iloc[i] > 0 if hib else py["ite"].iloc[i] < 0
        assert out["recommended"] == ("treated" if better else "control")
    assert path.stat().st_size < 300_000


def test_out_of_range_and_missing(browser, tmp_path, continuous):
    _sim, model = continuous
    path = export_calculator(model, tmp_path / "c.html")
    open_page(browser, path)
    f0 = model.feature_names_[0]
    X = model.data_.X
    base = {f: as_text(float(np.median(X[:, j]))) for j, f in enumerate(model.feature_names_)}
    out = fill_and_read(browser, [dict(base, **{f0: ""}),
                                  dict(base, **{f0: as_text(float(X[:, 0].max() + 10))})])
    assert not out[0]["ok"] and out[0]["errors"][0]["input"] == f0
    assert out[1]["ok"] and "outside the development data range" in \
        out[1]["warnings"][0]["message"]


def test_unexportable_learner_names_the_exportable_ones(continuous):
    sim = continuous[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TwoStageITE("ridge", "weighted-aux-ols", random_state=1).fit(sim.ipd())
        random_w = TwoStageITE("ols", "weighted-aux-ols",
                               pooler_options={"heterogeneity": "DL"}).fit(sim.ipd())
    with pytest.raises(ModelSpecificationError, match=r"learner 'ridge'.*Exportable: pooler 'mvma'"):
        calculator_spec(model)
    with pytest.raises(ModelSpecificationError, match=r"heterogeneity='DL'.*Exportable"):
        calculator_spec(random_w)


@pytest.fixture(scope="module")
def weighted(continuous):
    sim = continuous[0]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["ols"] = TwoStageITE("ols", "weighted-aux-ols").fit(sim.ipd())
        if learner_available("xgboost"):
            out["xgboost"] = TwoStageITE(
                "xgboost", "weighted-aux-ols", random_state=1,
                learner_options={"max_depth": (2, 3), "eta": (0.3,), "nrounds": (30,),
                                 "nfold": 3}).fit(sim.ipd())
    return sim, out


@pytest.mark.parametrize("learner", ["ols", "xgboost"])
def test_weighted_pooler_page_matches_predict(browser, tmp_path, weighted, learner):
    _sim, models = weighted
    if learner not in models:
        pytest.skip("xgboost is not installed")
    model = models[learner]
    path = export_calculator(model, tmp_path / f"ite_weighted_{learner}.html")
    open_page(browser, path, screenshot=tmp_path / f"ite_weighted_{learner}.png")
    pats = _patients(model, 100, seed=8)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = model.predict(pats)
    per_trial = [f"ite_{t}" for t in model.trials_]
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        for k in ("ite", "se", "ci_low", "ci_high"):
            assert abs(out["columns"][k][0] - py[k].iloc[i]) <= TOL, (i, k)
        # every trial's learner prediction (XGBoost: float32 trees) reproduced exactly
        np.testing.assert_allclose(out["columns"]["per_trial"], py[per_trial].iloc[i],
                                   rtol=0, atol=TOL)
    assert path.stat().st_size < 300_000

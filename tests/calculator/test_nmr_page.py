"""The risk-NMR calculator page (stage-1 risk model + network meta-regression) in
headless Chromium: for 100+ random patients the page's numbers equal
``RiskNMRResult.predict`` to 1e-9, messages for out-of-range and missing inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec, export_calculator
from ipdma.nmr import RiskNMR
from ipdma.prognosis import RiskModel

from .conftest import as_text, fill_and_read, open_page, shown_cells

TOL = 1e-9
KEYS = ["prob", "prob_lower", "prob_upper", "ard", "ard_lower", "ard_upper", "or",
        "or_lower", "or_upper", "p_best"]


def _network(seed=3, n=900):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "trial": np.repeat(["T1", "T2", "T3"], n // 3),
        "age": rng.uniform(20, 60, n).round(1),
        "sex": rng.choice(["F", "M"], n),
        "edss": rng.uniform(0, 6, n).round(1),
        "smoker": rng.integers(0, 2, n)})
    arms = {"T1": ["placebo", "A"], "T2": ["placebo", "B"], "T3": ["A", "B", "placebo"]}
    df["treat"] = [rng.choice(arms[t]) for t in df["trial"]]
    lp0 = -2 + 0.03 * (df.age - 40) + 0.3 * (df.sex == "M") + 0.25 * df.edss + 0.4 * df.smoker
    eff = np.select([df.treat == "A", df.treat == "B"], [-0.6, -0.3], 0.0)
    df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(lp0 + eff))))
    ext = pd.DataFrame({"y": rng.binomial(1, 0.35, 300)})
    return df, ext


COVS = ["age", "sex", "edss", "smoker"]


def _fit(engine, **kw):
    df, ext = _network()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rm = RiskModel("glm").fit(df, outcome="y", covariates=COVS)
        df["logit_risk"] = rm.predict_logit(df)
        res = RiskNMR(engine=engine, random_state=1, **kw).fit(
            df, trial="trial", treatment="treat", outcome="y", risk="logit_risk",
            external_control=ext if engine == "ml" else None)
    return df, rm, res


@pytest.fixture(scope="module")
def ml_model():
    return _fit("ml", n_sim=2000)


@pytest.fixture(scope="module")
def bayes_model():
    pytest.importorskip("numpyro")
    return _fit("bayes", chains=2, draws=300, warmup=300, effects="common")


def _patients(df, n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.uniform(df.age.min(), df.age.max(), n),
        "sex": rng.choice(["F", "M"], n),
        "edss": rng.uniform(df.edss.min(), df.edss.max(), n),
        "smoker": rng.integers(0, 2, n)})


def _check_patients(browser, tmp_path, model, name, n=100):
    df, rm, res = model
    path = export_calculator(res, tmp_path / f"{name}.html", risk_model=rm, data=df,
                             units={"age": "years"})
    info = open_page(browser, path, screenshot=tmp_path / f"{name}.png")
    pats = _patients(df, n, seed=7)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    lp = rm.predict_logit(pats)
    py = res.predict(pd.DataFrame({"logit_risk": lp}))
    T = len(res.treatments)
    assert len(page) == n
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        rows = py.iloc[i * T:(i + 1) * T]
        assert out["rows"] == rows["treatment"].tolist()
        assert abs(out["logit_risk"] - lp[i]) <= TOL
        assert abs(out["baseline_risk"] - rows["baseline_risk"].iloc[0]) <= TOL
        for k in KEYS:
            np.testing.assert_allclose(out["columns"][k], rows[k].to_numpy(), rtol=0, atol=TOL,
                                       err_msg=f"patient {i}, {k}")
        assert out["recommended"] == rows.loc[rows["recommended"], "treatment"].item()
    # what the table shows for the last patient carries the same full-precision numbers
    cells = shown_cells(browser)
    last = py.iloc[(n - 1) * T:]
    for t, row in zip(last["treatment"], last.itertuples()):
        assert abs(cells[(t, "prob")] - row.prob) <= TOL
        assert abs(cells[(t, "p_best")] - row.p_best) <= TOL
    return path, info


def test_ml_page_matches_predict(browser, tmp_path, ml_model):
    path, _info = _check_patients(browser, tmp_path, ml_model, "nmr_ml", n=120)
    assert path.stat().st_size < 300_000


def test_bayes_page_matches_predict(browser, tmp_path, bayes_model):
    _check_patients(browser, tmp_path, bayes_model, "nmr_bayes", n=100)


def test_messages_for_missing_invalid_and_out_of_range(browser, tmp_path, ml_model):
    df, rm, res = ml_model
    path = export_calculator(res, tmp_path / "m.html", risk_model=rm, data=df)
    open_page(browser, path)
    base = {"age": "40", "sex": "F", "edss": "2", "smoker": "0"}
    out = fill_and_read(browser, [
        dict(base, age=""), dict(base, sex=""), dict(base, edss="abc"), dict(base, smoker="3"),
        dict(base, age="95"), base])
    # a select cannot take a value outside its options (it reads as missing); the
    # evaluator itself refuses it with its own message
    assert out[3]["errors"][0]["message"].startswith("smoker: missing value")
    out[3] = browser.execute_script("return window.ipdmaCalculator.evaluate(arguments[0]);",
                                    dict(base, smoker="3"))
    assert [o["ok"] for o in out] == [False, False, False, False, True, True]
    assert "age: missing value" in out[0]["errors"][0]["message"]
    assert out[1]["errors"][0]["input"] == "sex"
    assert "not a number" in out[2]["errors"][0]["message"]
    assert "not an allowed value" in out[3]["errors"][0]["message"]
    assert "outside the development data range" in out[4]["warnings"][0]["message"]
    assert out[5]["warnings"] == []
    # the page shows the messages next to the field and in the status area
    fill_and_read(browser, [dict(base, age="")])
    txt = browser.find_element("id", "messages").text
    assert "age: missing value" in txt
    assert browser.find_element("id", "in-age").get_attribute("aria-invalid") == "true"
    assert "No prediction" in browser.find_element("id", "recommended").text
    fill_and_read(browser, [dict(base, age="95")])
    assert "extrapolation" in browser.find_element("id", "note-age").text
    assert browser.find_elements("css selector", "#plot svg circle.patient-marker")


def test_page_without_risk_model_takes_the_baseline_risk(browser, tmp_path, ml_model):
    _df, _rm, res = ml_model
    path = export_calculator(res, tmp_path / "r.html", baseline="trials")
    open_page(browser, path)
    grid = np.random.default_rng(2).uniform(0.02, 0.9, 100)
    page = fill_and_read(browser, [{"baseline_risk": as_text(p)} for p in grid])
    py = res.predict(risk=grid, baseline="trials")
    T = len(res.treatments)
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        rows = py.iloc[i * T:(i + 1) * T]
        for k in KEYS:
            np.testing.assert_allclose(out["columns"][k], rows[k].to_numpy(), rtol=0, atol=TOL)
    bad = fill_and_read(browser, [{"baseline_risk": "1.5"}])[0]
    assert not bad["ok"] and "strictly between 0 and 1" in bad["errors"][0]["message"]


def test_spec_is_plain_json_with_provenance(ml_model):
    import json

    df, rm, res = ml_model
    spec = calculator_spec(res, risk_model=rm, data=df)
    json.dumps(spec, allow_nan=False)
    assert spec["kind"] == "risk-nmr" and spec["treatments"][0] == res.reference
    assert [i["name"] for i in spec["inputs"]] == COVS
    sex = spec["inputs"][1]
    assert sex["type"] == "categorical" and sex["levels"] == ["F", "M"]
    assert spec["inputs"][0]["default"] == pytest.approx(float(df.age.median()), rel=1e-3)
    assert spec["inputs"][3]["allowed"] == [0, 1]
    assert set(spec["provenance"]) >= {"method", "data", "created", "ipdma_version"}
    assert spec["constants"]["z"] == pytest.approx(1.959963984540054)


@pytest.mark.parametrize("engine", ["ml", "bayes"])
def test_control_model_baseline(browser, tmp_path, request, engine):
    df, rm, res = request.getfixturevalue(f"{engine}_model")
    path = export_calculator(res, tmp_path / f"cm_{engine}.html", risk_model=rm, data=df,
                             baseline="control-model")
    open_page(browser, path, screenshot=tmp_path / f"nmr_control_model_{engine}.png")
    pats = _patients(df, 100, seed=9)
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = res.predict(pd.DataFrame({"logit_risk": rm.predict_logit(pats)}),
                     baseline="control-model")
    T = len(res.treatments)
    for i, out in enumerate(page):
        rows = py.iloc[i * T:(i + 1) * T]
        for k in KEYS:
            np.testing.assert_allclose(out["columns"][k], rows[k].to_numpy(), rtol=0, atol=TOL,
                                       err_msg=f"patient {i}, {k}")
        assert out["recommended"] == rows.loc[rows["recommended"], "treatment"].item()


def test_unknown_baseline_is_refused(ml_model):
    from ipdma.errors import ModelSpecificationError

    with pytest.raises(ModelSpecificationError, match="baseline must be"):
        calculator_spec(ml_model[2], baseline="cohort")

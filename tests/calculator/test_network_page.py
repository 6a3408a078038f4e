"""The network two-stage ITE calculator page (TwoStageITE on more than two treatments,
pooler mvma) in headless Chromium: every non-reference contrast with SE / CI / PI, the
best treatment and P(best) equal ``TwoStageITE.predict`` to 1e-9 for 100+ patients."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec, export_calculator
from ipdma.datasets import make_ite_network
from ipdma.ite import TwoStageITE

from .conftest import as_text, fill_and_read, open_page, shown_cells

TOL = 1e-9
COVS = ["x1", "x2", "x3", "x4"]


def _sim(binary=False):
    sim = make_ite_network(random_state=5)
    df = sim.data.copy()
    if binary:
        rng = np.random.default_rng(2)
        df["y"] = (df["y"] + rng.normal(0, 0.5, len(df)) > df["y"].median()).astype(int)
    return df


def _fit(learner="ols", pooler="mvma", binary=False, **kw):
    df = _sim(binary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE(learner, pooler, random_state=7, **kw).fit(
            df, trial="trial", treatment="treatment", outcome="y", covariates=COVS)
    return df, m


@pytest.fixture(scope="module")
def reml_model():
    return _fit()


def _check(browser, tmp_path, df, model, name, n=100):
    path = export_calculator(model, tmp_path / f"{name}.html", data=df)
    open_page(browser, path, screenshot=tmp_path / f"{name}.png")
    rng = np.random.default_rng(3)
    pats = pd.DataFrame({c: rng.uniform(df[c].min(), df[c].max(), n) for c in COVS})
    page = fill_and_read(browser, [{c: as_text(v) for c, v in r.items()}
                                   for r in pats.to_dict("records")])
    py = model.predict(pats)
    trts = list(model.treatments_)
    ref = trts[0]
    for i, out in enumerate(page):
        assert out["ok"], out["errors"]
        assert out["rows"] == trts
        row = py.iloc[i]
        for k, t in enumerate(trts):
            assert abs(out["columns"]["p_best"][k] - row[f"p_best_{t}"]) <= TOL, (i, t)
            if k == 0:
                continue
            for stem in ("ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"):
                col = f"{stem}_{t}_vs_{ref}"
                if col in py.columns:
                    assert abs(out["columns"][stem][k] - row[col]) <= TOL, (i, col)
                else:
                    assert stem not in out["columns"]
        assert out["recommended"] == row["best_treatment"]
    cells = shown_cells(browser)
    last = py.iloc[-1]
    for t in trts[1:]:
        assert abs(cells[(t, "ite")] - last[f"ite_{t}_vs_{ref}"]) <= TOL
    return path, py


def test_network_reml_page_matches_predict(browser, tmp_path, reml_model):
    df, m = reml_model
    path, py = _check(browser, tmp_path, df, m, "ite_network_reml", n=120)
    assert any(c.startswith("pi_low_") for c in py.columns)
    # P(best) is not degenerate for these patients (the draws matter)
    pb = py[[c for c in py.columns if c.startswith("p_best_")]].to_numpy()
    assert ((pb > 0.01) & (pb < 0.99)).any()
    assert path.stat().st_size < 300_000


def test_network_fixed_page_matches_predict(browser, tmp_path):
    df, m = _fit(pooler_options={"method": "fixed"})
    _check(browser, tmp_path, df, m, "ite_network_fixed", n=100)


def test_network_binary_logor_page_matches_predict(browser, tmp_path):
    df, m = _fit("logistic", binary=True, scale="logor")
    _check(browser, tmp_path, df, m, "ite_network_binary", n=100)


def test_network_page_messages(browser, tmp_path, reml_model):
    df, m = reml_model
    path = export_calculator(m, tmp_path / "nm.html", data=df)
    open_page(browser, path)
    base = {c: "0" for c in COVS}
    out = fill_and_read(browser, [dict(base, x1=""), dict(base, x2="1e3"), base])
    assert not out[0]["ok"] and "x1: missing value" in out[0]["errors"][0]["message"]
    assert out[1]["ok"] and "outside the development data range" in \
        out[1]["warnings"][0]["message"]
    assert out[2]["ok"]
    assert "No prediction" not in browser.find_element("id", "recommended").text


def test_network_weighted_pooler_is_exported():
    # the weighted poolers with a linear learner are exported since issue 19 (b); their
    # pages are checked in test_network_weighted_page.py, the refusals there too
    df, m = _fit(pooler="weighted-aux-ols")
    spec = calculator_spec(m, data=df)
    assert spec["kind"] == "ite-network" and len(spec["model"]["trials"]) == 10

"""Bayesian time-to-event risk-based NMR pages in headless Chromium (Weibull and Cox
stage 2): for 100+ random patients the page's posterior summaries equal ``predict`` to
1e-9; the Cox page carries the per-draw RMST grid only when the page stays under 300 kB
and says so otherwise; model files (no patient rows) give the same page."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ipdma.calculator import calculator_spec, export_calculator
from ipdma.errors import DataWarning

from .conftest import fill_and_read, open_page
from .test_survival_pages import KEYS_COX, _check, _fit

pytest.importorskip("numpyro")

KEYS_NO_RMST = [k for k in KEYS_COX if not k.startswith("rmst")]
SAMPLER = {"chains": 1, "draws": 300, "warmup": 200}


@pytest.fixture(scope="module")
def weibull_bayes():
    return _fit("weibull", engine="bayes", **SAMPLER)


@pytest.fixture(scope="module")
def cox_bayes():
    return _fit("cox", engine="bayes", **SAMPLER)


def test_weibull_bayes_page_matches_predict(browser, tmp_path, weibull_bayes):
    path = _check(browser, tmp_path, weibull_bayes, "surv_nmr_weibull_bayes", KEYS_COX,
                  n=100, horizon=2.0, tau=3.0)
    assert path.stat().st_size < 300_000


def test_weibull_bayes_page_trial_baseline(browser, tmp_path, weibull_bayes):
    _check(browser, tmp_path, weibull_bayes, "surv_nmr_weibull_bayes_t2", KEYS_COX, n=100,
           baseline="T2", horizon=1.5, tau=3.5)


def test_cox_bayes_page_without_rmst_says_so(browser, tmp_path, cox_bayes):
    _df, _rm, res = cox_bayes
    with pytest.warns(DataWarning, match="RMST is not available on this page"):
        spec = calculator_spec(res, horizon=2.0, tau=3.0)
    assert spec["model"]["rmst"] is False
    assert "RMST is not available on this page" in spec["model"]["rmst_omitted"]
    assert not any(o["keys"][0].startswith("rmst") for o in spec["outputs"])
    path = _check(browser, tmp_path, cox_bayes, "surv_nmr_cox_bayes", KEYS_NO_RMST, n=100,
                  horizon=2.0, tau=3.0)
    assert path.stat().st_size < 300_000
    assert "RMST is not available on this page" in \
        browser.find_element("tag name", "body").text


def test_cox_bayes_page_with_rmst_grid(browser, tmp_path, cox_bayes):
    # a short tau: few event times, so the per-draw step grid fits in the page
    _df, _rm, res = cox_bayes
    spec = calculator_spec(res, horizon=0.3, tau=0.4)
    assert spec["model"]["rmst"] is True and spec["model"]["m"] > 5
    path = _check(browser, tmp_path, cox_bayes, "surv_nmr_cox_bayes_rmst", KEYS_COX, n=100,
                  horizon=0.3, tau=0.4)
    assert path.stat().st_size < 300_000


def test_cox_bayes_page_trial_baseline(browser, tmp_path, cox_bayes):
    _check(browser, tmp_path, cox_bayes, "surv_nmr_cox_bayes_t1", KEYS_NO_RMST, n=100,
           baseline="T1", horizon=1.5)


def _numbers(o) -> set[float]:
    if isinstance(o, dict):
        return set().union(*(_numbers(v) for v in o.values())) if o else set()
    if isinstance(o, list):
        return set().union(*(_numbers(v) for v in o)) if o else set()
    return {o} if isinstance(o, float) else set()       # (ints: array shapes)


def test_bayes_model_files_give_the_same_page(browser, tmp_path, weibull_bayes, cox_bayes):
    from ipdma.serialize import load_model, save_model

    for name, (df, rm, res), keys in (("w", weibull_bayes, KEYS_COX),
                                      ("c", cox_bayes, KEYS_NO_RMST)):
        f = save_model(res, tmp_path / f"{name}.json", risk_model=rm, horizon=2.0, tau=3.0)
        # no patient rows: the Bayesian part of the file holds draws and per-draw
        # baselines, none of the patients' times or risk scores (the rest of the state is
        # that of the ML model files: design summaries and the stage-1 model; the piecewise
        # baseline's cut points are kept for the summary; the RMST grid widths are differences
        # of distinct event times, as the Breslow times of the ML model files)
        doc = json.loads(f.read_text())
        bb = doc["state"]["bayes_baseline"]
        per_draw = [] if bb is None else [
            [b["Hb"], b["Hp"]] for b in bb["baselines"].values()]
        bayes = _numbers([doc["state"]["bayes"]["samples"], per_draw])
        assert not bayes & set(df["time"]) and not bayes & set(df["lp"])
        loaded = load_model(f)
        a = res.predict(risk=np.linspace(-1, 1, 7), horizon=2.0, tau=3.0)
        b = loaded.predict(risk=np.linspace(-1, 1, 7), horizon=2.0, tau=3.0)
        for k in keys:
            np.testing.assert_array_equal(a[k].to_numpy(), b[k].to_numpy(), err_msg=k)
        p1 = export_calculator(res, tmp_path / f"{name}1.html", risk_model=rm, data=df,
                               horizon=2.0, tau=3.0)
        p2 = export_calculator(loaded, tmp_path / f"{name}2.html",
                               risk_model=loaded.risk_model, horizon=2.0, tau=3.0)
        pats = [{"x1": "0.3", "x2": "1", "x3": "-0.2", "x4": "0.5"},
                {"x1": "-1", "x2": "0", "x3": "0.7", "x4": "-0.4"}]
        open_page(browser, p1)
        o1 = fill_and_read(browser, pats)
        open_page(browser, p2)
        o2 = fill_and_read(browser, pats)
        for u, v in zip(o1, o2):
            for k in keys:
                assert u["columns"][k] == v["columns"][k], (name, k)

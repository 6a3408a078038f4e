"""Model files of time-to-event and treatment-network models: survival RiskNMR (ML Cox
and Weibull, with the stage-1 SurvivalRiskModel), survival TwoStageITE (cox, weibull),
network TwoStageITE (mvma) and time-to-event MOB: the loaded model predicts as the
original, and the calculator built from the file equals the in-session one."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.calculator import calculator_spec
from ipdma.errors import ModelSpecificationError
from ipdma.serialize import load_model, save_model

COVS = ["x1", "x2", "x3", "x4"]


def _same_spec(a, b):
    for k in ("provenance", "plot", "title"):
        a.pop(k, None)
        b.pop(k, None)
    assert a == b


@pytest.fixture(scope="module")
def surv_net():
    from ipdma.datasets import make_survival_network

    df = make_survival_network(900, random_state=3).data.copy()
    df["x2"] = df["x2"].astype(int)
    return df


def _nmr(df, survival_model="cox", engine="ml", **kw):
    from ipdma.nmr import RiskNMR
    from ipdma.prognosis import SurvivalRiskModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rm = SurvivalRiskModel("cox", trial_effect="strata").fit(
            df, time="time", event="event", covariates=COVS, trial="trial")
        df = df.assign(lp=rm.predict_lp(df))
        res = RiskNMR(engine=engine, random_state=1, survival_model=survival_model,
                      **kw).fit(df, trial="trial", treatment="treatment", time="time",
                                event="event", risk="lp")
    return df, rm, res


@pytest.mark.parametrize("survival_model", ["cox", "weibull"])
def test_survival_nmr_round_trip(surv_net, tmp_path, survival_model):
    df, rm, res = _nmr(surv_net, survival_model, n_sim=800)
    path = save_model(res, tmp_path / "nmr.json", risk_model=rm)
    text = path.read_text()
    assert "P00001" not in text              # no patient rows
    doc = json.loads(text)
    assert doc["state"]["survival"] is True
    loaded = load_model(path)
    grid = np.linspace(-1, 1, 7)
    for kw in ({}, {"horizon": 2.0, "tau": 3.0}, {"baseline": "T2", "horizon": 1.5}):
        a, b = res.predict(grid, **kw), loaded.predict(grid, **kw)
        pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(res.params, loaded.params)
    assert loaded.horizon == res.horizon
    np.testing.assert_array_equal(loaded.risk_model.predict_lp(df), rm.predict_lp(df))
    with pytest.raises(Exception, match="horizon"):
        loaded.predict(grid, horizon=1e6)
    a = calculator_spec(res, risk_model=rm, data=df, horizon=2.0)
    b = calculator_spec(loaded, risk_model=loaded.risk_model, horizon=2.0)
    _same_spec(a, b)
    assert "time to event" in str(loaded.summary())


@pytest.mark.parametrize("survival_model", ["weibull", "cox"])
def test_bayes_survival_nmr_round_trip(surv_net, tmp_path, survival_model):
    pytest.importorskip("numpyro")
    _df, rm, res = _nmr(surv_net, engine="bayes", survival_model=survival_model, chains=1,
                        draws=60, warmup=60)
    path = save_model(res, tmp_path / "b.json", risk_model=rm, horizon=1.5, tau=2.0)
    loaded = load_model(path)
    grid = np.linspace(-1, 1, 5)
    for base in ["pooled", res.design.trials[1]]:
        a = res.predict(risk=grid, horizon=1.5, tau=2.0, baseline=base)
        b = loaded.predict(risk=grid, horizon=1.5, tau=2.0, baseline=base)
        pd.testing.assert_frame_equal(a, b)
    assert "time to event" in str(loaded.summary())
    if survival_model == "weibull":          # the draws alone: any horizon
        pd.testing.assert_frame_equal(res.predict(risk=grid, horizon=1.0),
                                      loaded.predict(risk=grid, horizon=1.0))
    else:                                    # per-draw baselines at the saved times only
        with pytest.raises(ModelSpecificationError, match=r"horizon 1\.5 and tau 2 only"):
            loaded.predict(risk=grid, horizon=1.0)
        # the saved pair is the loaded model's default
        pd.testing.assert_frame_equal(loaded.predict(risk=grid),
                                      res.predict(risk=grid, horizon=1.5, tau=2.0))


def test_bayes_cox_file_without_the_rmst_grid_says_so(surv_net, tmp_path, monkeypatch):
    pytest.importorskip("numpyro")
    from ipdma.errors import DataWarning
    from ipdma.serialize import _survival_nmr

    _df, rm, res = _nmr(surv_net, engine="bayes", chains=1, draws=60, warmup=60)
    monkeypatch.setattr(_survival_nmr, "MAX_RMST_VALUES", 10)
    loaded = load_model(save_model(res, tmp_path / "b.json", risk_model=rm))
    with pytest.warns(DataWarning, match="RMST is not available from this model file"):
        b = loaded.predict(risk=[0.0])
    a = res.predict(risk=[0.0])
    assert b["rmst"].isna().all()
    np.testing.assert_array_equal(a["surv"], b["surv"])


def test_save_times_are_for_survival_nmr_only(tmp_path):
    from ipdma.trees import MOB

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=200), "trt": rng.integers(0, 2, 200)})
    df["y"] = df.trt + rng.normal(size=200)
    tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x"])
    with pytest.raises(ModelSpecificationError, match="time-to-event RiskNMR"):
        save_model(tree, tmp_path / "t.json", horizon=1.0)


@pytest.mark.parametrize("learner,scale,kw", [("cox", "survdiff", {"horizon": 1.0}),
                                              ("cox", "rmstdiff", {"tau": 1.5}),
                                              ("weibull", "loghr", {})])
def test_survival_ite_round_trip(tmp_path, learner, scale, kw):
    from ipdma.datasets import make_survival_trials
    from ipdma.ite import TwoStageITE

    sim = make_survival_trials(random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE(learner, "mvma", random_state=1, scale=scale, **kw).fit(sim.ipd())
    loaded = load_model(save_model(m, tmp_path / "ite.json"))
    X = sim.data[sim.covariate_cols].iloc[:50]
    pd.testing.assert_frame_equal(m.predict(X), loaded.predict(X))
    _same_spec(calculator_spec(m), calculator_spec(loaded))


@pytest.mark.parametrize("learner,binary", [("ols", False), ("logistic", True)])
def test_network_ite_round_trip(tmp_path, learner, binary):
    from ipdma.datasets import make_ite_network
    from ipdma.ite import TwoStageITE

    df = make_ite_network(random_state=5).data.copy()
    if binary:
        df["y"] = (df["y"] > df["y"].median()).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = TwoStageITE(learner, "mvma", random_state=7,
                        scale="logor" if binary else None).fit(
            df, trial="trial", treatment="treatment", outcome="y", covariates=COVS)
    path = save_model(m, tmp_path / "net.json")
    assert json.loads(path.read_text())["state"]["data_counts"]["network"] is True
    loaded = load_model(path)
    X = df[COVS].iloc[:80]
    a, b = m.predict(X), loaded.predict(X)
    assert a.columns.equals(b.columns)
    # the einsum of the loaded (contiguous) covariance may differ in the last bit
    num = [c for c in a.columns if c != "best_treatment"]
    np.testing.assert_allclose(a[num].to_numpy(), b[num].to_numpy(), rtol=1e-13, atol=1e-15)
    assert (a["best_treatment"] == b["best_treatment"]).all()
    pb = [c for c in a.columns if c.startswith("p_best_")]
    np.testing.assert_array_equal(a[pb].to_numpy(), b[pb].to_numpy())
    assert loaded.treatments_ == m.treatments_
    assert "trials" in str(loaded.summary())
    _same_spec(calculator_spec(m), calculator_spec(loaded))


def test_survival_mob_keeps_its_subgroup_effects(tmp_path):
    from ipdma.datasets import make_survival_trials
    from ipdma.trees import MOB, WeibullModel

    sim = make_survival_trials(random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = MOB(WeibullModel(), parm="treatment").fit(
            sim.data, regressors=["treatment"], partition=list(sim.covariate_cols),
            time="time", event="event")
    loaded = load_model(save_model(tree, tmp_path / "t.json"))
    pd.testing.assert_frame_equal(loaded._survival_effects, tree.survival_effects())
    a = calculator_spec(tree, data=sim.data)
    b = calculator_spec(loaded)
    assert a["model"] == b["model"] and a["outputs"] == b["outputs"]
    # survival_effects() of the loaded tree: from the kept node fits (any tau, level),
    # the default tau and the event counts from the stored table -- the same numbers
    pd.testing.assert_frame_equal(loaded.survival_effects(), tree.survival_effects())
    pd.testing.assert_frame_equal(loaded.survival_effects(tau=0.5, level=0.9),
                                  tree.survival_effects(tau=0.5, level=0.9))
    a = calculator_spec(tree, data=sim.data, tau=0.5)
    b = calculator_spec(loaded, tau=0.5)
    assert a["model"] == b["model"] and a["outputs"] == b["outputs"]
    with pytest.raises(ModelSpecificationError, match="tau must be a positive number"):
        loaded.survival_effects(tau=-1.0)
    loaded._survival_effects = None          # a file without the stored table
    with pytest.raises(ModelSpecificationError, match="pass tau="):
        loaded.survival_effects()
    assert np.isnan(loaded.survival_effects(tau=0.5)["events"]).all()

"""End-to-end: every feasible learner+pooler pair, API, plots, validation, CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import ColumnNotFoundError, ModelSpecificationError, NotFittedError
from ipdma.ite import (
    TwoStageITE,
    calibration_for_benefit,
    compare_methods,
    feasible_pairs,
    tau_risk,
)

FAST = {
    "xgboost": {"max_depth": (2,), "eta": (0.3,), "nrounds": (20, 60), "nfold": 3},
    "bayes-lasso": {"num_warmup": 200, "num_samples": 200},
    "causal-forest": {"n_estimators": 100},
}


def _options(learner):
    if learner in ("sklearn-s", "sklearn-t"):
        from sklearn.ensemble import GradientBoostingRegressor

        return {"estimator": GradientBoostingRegressor(n_estimators=50, max_depth=2)}
    return FAST.get(learner, {})


@pytest.fixture(scope="module")
def sim():
    from ipdma.datasets import make_ite_continuous

    return make_ite_continuous(scenario=5, random_state=11, n_trials=5, n_test_trials=2,
                               n_test_per_trial=100)


@pytest.mark.parametrize("learner,pooler", feasible_pairs())
def test_every_feasible_pair_beats_a_constant(sim, learner, pooler):
    if learner == "causal-forest":
        pytest.importorskip("econml")
    ipd = sim.ipd()
    test = sim.test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = TwoStageITE(learner, pooler, n_boot=10, random_state=5,
                            learner_options=_options(learner)).fit(ipd)
        pred = model.predict(test)
    assert len(pred) == len(test) and list(pred.index) == list(test.index)
    truth = test["ite_true"].to_numpy()
    mae = np.median(np.abs(pred["ite"] - truth))
    const = np.median(np.abs(pred["ite"].mean() - truth))
    assert mae < const
    assert {f"ite_{t}" for t in model.trials_} <= set(pred.columns)
    if "se" in pred:
        assert np.all(pred["se"] > 0)
        assert np.all(pred["ci_low"] <= pred["ite"]) and np.all(pred["ite"] <= pred["ci_high"])


def test_same_seed_same_numbers(sim):
    a = TwoStageITE("lasso", "weighted-bootstrap", n_boot=10, random_state=2).fit(sim.ipd())
    b = TwoStageITE("lasso", "weighted-bootstrap", n_boot=10, random_state=2).fit(sim.ipd())
    pd.testing.assert_frame_equal(a.predict(sim.test), b.predict(sim.test), check_exact=True)


def test_dataframe_input_summary_and_plots(sim):
    df = sim.data
    model = TwoStageITE("ols", "weighted-aux-ols").fit(
        df, trial="trial", treatment="treatment", outcome="y",
        covariates=[f"x{j}" for j in range(1, 9)], treated=1)
    with pytest.raises(NotFittedError):
        model.plot()
    pred = model.predict(sim.test)
    assert pred.shape[0] == len(sim.test)
    text = str(model.summary())
    assert "ols+weighted-aux-ols" in text and "Stage 1" in text
    for kind in ("distribution", "covariate", "trials"):
        ax = model.plot(kind, covariate="x5")
        assert ax is not None
    with pytest.raises(ModelSpecificationError):
        model.plot("pie")
    with pytest.raises(ColumnNotFoundError, match="x3"):
        model.predict(sim.test.drop(columns="x3"))


def test_tau_risk_and_calibration_with_known_truth():
    rng = np.random.default_rng(0)
    n = 40000
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    ite = 1 + x
    y = 2 * x + t * ite + rng.normal(size=n)
    trial = np.repeat(["a", "b"], n // 2)
    assert tau_risk(y, t, ite, trial) < tau_risk(y, t, np.full(n, 1.0), trial)
    for method in ("groups", "matching"):
        cal = calibration_for_benefit(y, t, ite, trial, method=method, n_groups=5)
        assert cal["slope"] == pytest.approx(1.0, abs=0.1)
        assert cal["intercept"] == pytest.approx(0.0, abs=0.1)


def test_compare_methods_ranks(sim):
    cmp = compare_methods(sim.ipd(), ["ols+mvma", "ols+weighted-aux-ols",
                                      ("ridge", "weighted-aux-ols")],
                          random_state=0, true_ite=sim.truth["ite_true"].to_numpy())
    tab = cmp.table
    assert list(tab["rank"]) == [1, 2, 3]
    assert tab["tau_risk"].is_monotonic_increasing
    assert {"calib_slope", "calib_intercept", "mae"} <= set(tab.columns)
    assert np.all(tab["mae"] < 0.5)
    assert cmp.plot() is not None and cmp.plot(kind="ranking") is not None
    assert "leave-one-trial-out" in str(cmp.summary())
    with pytest.raises(ModelSpecificationError):
        compare_methods(sim.ipd(), ["xgboost+mvma"])


def test_cli_predictions_csv(tmp_path, sim):
    from ipdma.cli import main

    train = tmp_path / "train.csv"
    sim.data.to_csv(train, index=False)
    new = sim.test.drop(columns=["ite_true", "y", "treatment"]).sample(frac=1, random_state=1)
    new_path = tmp_path / "new.csv"
    new.to_csv(new_path, index=False)
    out = tmp_path / "out"
    argv = ["ite", str(train), "--trial", "trial", "--treatment", "treatment",
            "--outcome", "y", "--covariates", ",".join(f"x{j}" for j in range(1, 9)),
            "--learner", "ols", "--pooler", "mvma", "--predict", str(new_path),
            "--out", str(out), "--json", "--export-sites"]
    assert main(argv) == 0
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == len(new)
    # the input row (1-based, as in NEW.csv) and its id columns come first (issue 13)
    assert list(pred.columns[:2]) == ["row", "trial"]
    assert pred["row"].tolist() == list(range(1, len(new) + 1))
    assert pred["trial"].tolist() == new["trial"].tolist()
    assert list(pred.columns[2:8]) == ["ite", "se", "ci_low", "ci_high", "pi_low", "pi_high"]
    assert [c for c in pred.columns if c.startswith("ite_")] == [f"ite_{k}" for k in
                                                                 range(1, 6)]
    direct = TwoStageITE("ols", "mvma", random_state=1).fit(sim.ipd()).predict(new)
    np.testing.assert_allclose(pred["ite"], direct["ite"], rtol=1e-12)
    assert (out / "sites" / "site_1.json").is_file()


def test_cli_module_standalone(tmp_path, sim, capsys):
    """The module works through argparse even before it is listed in ipdma.cli."""
    import argparse

    from ipdma.cli import _ite

    parser = argparse.ArgumentParser()
    _ite.register(parser.add_subparsers())
    train = tmp_path / "train.csv"
    sim.data.to_csv(train, index=False)
    args = parser.parse_args(["ite", str(train), "--trial", "trial", "--treatment",
                              "treatment", "--outcome", "y", "--covariates", "x1,x2,x5",
                              "--learner", "ols", "--pooler", "weighted-aux-ols",
                              "--predict", str(train), "--out", str(tmp_path / "o"),
                              "--json"])
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["pooler"] == "weighted-aux-ols"
    pred = pd.read_csv(tmp_path / "o" / "predictions.csv")
    assert len(pred) == len(sim.data) and "pi_low" not in pred


def test_categorical_covariate_and_binary_outcome(sim):
    df = sim.data.copy()
    df["site"] = np.where(df["x1"] > 0, "north", "south")
    model = TwoStageITE("ols", "weighted-aux-ols").fit(
        df, trial="trial", treatment="treatment", outcome="y", covariates=["site", "x5"])
    assert model.feature_names_ == ["site[south]", "x5"]
    new = pd.DataFrame({"site": ["north", "south"], "x5": [0.0, 0.0]})
    pred = model.predict(new)
    enc = pd.DataFrame({"site[south]": [0.0, 1.0], "x5": [0.0, 0.0]})
    pd.testing.assert_frame_equal(pred, model.predict(enc))
    df["yb"] = (df["y"] > df["y"].median()).astype(int)
    with pytest.raises(ModelSpecificationError, match="continuous"):
        TwoStageITE("ols", "mvma").fit(df, trial="trial", treatment="treatment",
                                       outcome="yb", covariates=["x5"])


def test_demo_section_writes_report(tmp_path):
    from ipdma.ite._demo import demo_section
    from ipdma.report import Report

    rep = Report("demo")
    demo_section(rep, tmp_path, 1)
    html = rep.write(tmp_path).read_text()
    assert "Individualised treatment effects" in html and "ols+mvma" in html


def test_fit_methods_shares_stage1_and_equals_single_runs(sim):
    from ipdma.ite import fit_methods

    ipd = sim.ipd()
    names = ["ols+mvma", "ols+weighted-bootstrap", "xgboost+weighted-bootstrap",
             "xgboost+weighted-aux-ols", "bayes-lasso+bayes-mvma", "bayes-lasso+posterior-mix"]
    opts = {k: _options(k) for k in ("xgboost", "bayes-lasso")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_methods(ipd, ",".join(names), n_boot=5, random_state=3,
                           learner_options=opts, n_jobs=2)
        assert list(fits) == names
        # one learner object per trial, shared by the pairs of that learner
        assert fits["xgboost+weighted-bootstrap"].fits_[0].learner is \
            fits["xgboost+weighted-aux-ols"].fits_[0].learner
        for name, model in fits.items():
            lrn, pool = name.split("+")
            alone = TwoStageITE(lrn, pool, n_boot=5, random_state=3,
                                learner_options=opts.get(lrn)).fit(ipd)
            pd.testing.assert_frame_equal(model.predict(sim.test), alone.predict(sim.test))
            assert model.stage1_seconds_ > 0
    with pytest.raises(ModelSpecificationError, match="ridge"):
        fit_methods(ipd, "ols+mvma", learner_options={"ridge": {}})
    with pytest.raises(ModelSpecificationError, match="learner\\+pooler"):
        fit_methods(ipd, "ols")


def test_progress_bar_over_stage1_fits_changes_no_number(sim, capsys):
    from ipdma.ite import fit_methods

    ipd = sim.ipd()
    names = "ols+mvma,ridge+weighted-bootstrap,ridge+weighted-aux-ols"
    quiet = fit_methods(ipd, names, n_boot=5, random_state=2, n_jobs=2)
    assert capsys.readouterr().err == ""
    shown = fit_methods(ipd, names, n_boot=5, random_state=2, n_jobs=2, progress=True)
    err = capsys.readouterr().err
    n_jobs = 2 * len(sim.ipd().trials)  # (learner, trial) jobs: ols and ridge
    assert "stage 1 of 3 method(s)" in err and f"{n_jobs}/{n_jobs}" in err
    for name in quiet:
        pd.testing.assert_frame_equal(quiet[name].predict(sim.test),
                                      shown[name].predict(sim.test))
    TwoStageITE("ols", "mvma", progress=True).fit(ipd)
    assert "ols+mvma: stage 1" in capsys.readouterr().err


def test_compare_methods_reuses_a_model_fitted_on_the_same_data(sim, monkeypatch):
    ipd = sim.ipd()
    by_name = compare_methods(ipd, ["ols+mvma", "ridge+weighted-aux-ols"], random_state=4)
    fitted = TwoStageITE("ridge", "weighted-aux-ols", random_state=4).fit(ipd)
    fits = fitted.fits_
    calls = []
    monkeypatch.setattr(TwoStageITE, "fit", lambda self, *a, **k: calls.append(self) or self)
    by_model = compare_methods(ipd, ["ols+mvma", fitted], random_state=4)
    assert calls == [] and fitted.fits_ is fits  # stage 1 not refitted
    pd.testing.assert_frame_equal(by_name.table, by_model.table)
    monkeypatch.undo()
    # fitted on other data: refitted with its own settings
    other = TwoStageITE("ridge", "weighted-aux-ols", random_state=4).fit(
        sim.data[sim.data["trial"].astype(str) != sorted(ipd.trials)[0]],
        trial="trial", treatment="treatment", outcome="y",
        covariates=[c for c in sim.data.columns if c.startswith("x")])
    again = compare_methods(ipd, ["ols+mvma", other], random_state=4)
    pd.testing.assert_frame_equal(by_name.table, again.table)


def test_same_seed_sequence_object_gives_the_same_fit_twice(sim):
    ss = np.random.SeedSequence(8)
    model = TwoStageITE("ridge", "weighted-bootstrap", n_boot=5, random_state=ss)
    a = model.fit(sim.ipd()).predict(sim.test)
    b = model.fit(sim.ipd()).predict(sim.test)
    pd.testing.assert_frame_equal(a, b)


def test_loto_fold_equals_a_fresh_fit_on_the_other_trials(sim):
    from ipdma.ite import loto_predictions

    ipd = sim.ipd()
    for method in ("ols+mvma", "ols+weighted-aux-ols"):
        oof = loto_predictions(ipd, method, random_state=1)
        held_trial = sorted(set(oof["trial"]))[1]
        rest = sim.data[sim.data["trial"].astype(str) != held_trial]
        held = sim.data[sim.data["trial"].astype(str) == held_trial]
        from ipdma.data import IPD

        sub = IPD(rest, trial="trial", treatment="treatment", outcome="y",
                  covariates=list(sim.columns["covariates"]))
        lrn, pool = method.split("+")
        fresh = TwoStageITE(lrn, pool).fit(sub).predict(held[list(sim.columns["covariates"])])
        np.testing.assert_allclose(oof.loc[(oof["trial"] == held_trial).to_numpy(), "ite"],
                                   fresh["ite"], rtol=1e-10, atol=1e-12)


def test_cli_compare_methods_list_and_n_jobs(tmp_path, sim):
    from ipdma.cli import main

    train = tmp_path / "train.csv"
    sim.data.to_csv(train, index=False)
    base = ["ite", str(train), "--trial", "trial", "--treatment", "treatment", "--outcome", "y",
            "--covariates", ",".join(f"x{j}" for j in range(1, 9)), "--n-jobs", "2"]
    out = tmp_path / "out"
    assert main([*base, "--compare", "--compare-methods",
                 "ols+mvma,bayes-lm+weighted-aux-ols", "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv")
    assert sorted(table["method"]) == ["bayes-lm+weighted-aux-ols", "ols+mvma"]
    assert main([*base, "--compare", "--compare-methods", "xgboost+mvma",
                 "--out", str(tmp_path / "bad")]) == 2


def test_cli_learner_options_reach_the_fitted_and_the_compared_learners(tmp_path, sim, capsys):
    from ipdma.cli import main

    train = tmp_path / "train.csv"
    sim.data.to_csv(train, index=False)
    new = tmp_path / "new.csv"
    sim.test.drop(columns=["ite_true", "y", "treatment"]).to_csv(new, index=False)
    base = ["ite", str(train), "--trial", "trial", "--treatment", "treatment", "--outcome", "y",
            "--covariates", ",".join(f"x{j}" for j in range(1, 9))]
    opts = {"max_depth": [2], "eta": [0.3], "nrounds": [20, 60], "nfold": 3}
    out = tmp_path / "out"
    assert main([*base, "--learner", "xgboost", "--pooler", "weighted-aux-ols",
                 "--learner-options", json.dumps(opts), "--predict", str(new), "--compare",
                 "--compare-methods", "ols+mvma,xgboost+weighted-aux-ols",
                 "--out", str(out)]) == 0
    direct = TwoStageITE("xgboost", "weighted-aux-ols", random_state=1,
                         learner_options=opts).fit(sim.ipd())
    np.testing.assert_allclose(pd.read_csv(out / "predictions.csv")["ite"],
                               direct.predict(pd.read_csv(new))["ite"],
                               rtol=1e-6)
    ref = compare_methods(sim.ipd(), ["ols+mvma", direct], random_state=1)
    table = pd.read_csv(out / "comparison.csv").set_index("method")
    np.testing.assert_allclose(table.loc[ref.table.index, "tau_risk"], ref.table["tau_risk"],
                               rtol=1e-9)
    capsys.readouterr()
    for bad, msg in (("{nfold: 3}", "not valid JSON"), ("[3]", "JSON object"),
                     ('{"depth": 3}', "has no option 'depth'")):
        assert main([*base, "--learner", "xgboost", "--learner-options", bad,
                     "--out", str(tmp_path / "bad")]) == 2
        assert msg in capsys.readouterr().err


def test_cli_reduced_xgboost_grid():
    import argparse

    from ipdma.cli._ite import _learner_options
    from ipdma.ite import REDUCED_XGBOOST_GRID

    args = argparse.Namespace(xgboost_grid="reduced", learner="xgboost",
                              learner_options='{"nfold": 3}')
    assert _learner_options(args) == {"xgboost": {**REDUCED_XGBOOST_GRID, "nfold": 3}}
    args = argparse.Namespace(xgboost_grid="paper", learner="lasso", learner_options=None)
    assert _learner_options(args) == {}

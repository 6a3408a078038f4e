"""``ipdma simstudy run --outcome network``: make_ite_network, metrics per contrast and
the share of correct best-treatment calls."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ipdma.cli import main
from ipdma.errors import ModelSpecificationError
from ipdma.ite import TwoStageITE
from ipdma.simstudy import (
    SimulationStudy,
    ite_methods,
    ite_scenarios,
    make_network_scenario,
    network_metrics,
    run_cell,
    summarize,
)


def test_network_metrics_by_hand():
    sim = make_network_scenario(2, random_state=4, n_test=150)
    model = TwoStageITE("ols", "mvma", random_state=1).fit(sim.ipd())
    pred = model.predict_pairs(sim.test[sim.columns["covariates"]])
    m = network_metrics(pred, sim)
    t = sim.test
    # per contrast: C vs B = (C - A) - (B - A)
    true_cb = t["true_ite_C_vs_A"] - t["true_ite_B_vs_A"]
    err = pred["ite_C_vs_B"] - true_cb
    assert m["bias[C_vs_B]"] == pytest.approx(err.mean(), rel=1e-12)
    assert m["rmse[C_vs_B]"] == pytest.approx(np.sqrt((err ** 2).mean()), rel=1e-12)
    inside = (true_cb >= pred["ci_low_C_vs_B"]) & (true_cb <= pred["ci_high_C_vs_B"])
    assert m["coverage_ci[C_vs_B]"] == pytest.approx(inside.mean(), abs=1e-15)
    # overall: the contrasts vs the network reference, stacked
    errs = np.concatenate([pred[f"ite_{x}_vs_A"] - t[f"true_ite_{x}_vs_A"] for x in "BCD"])
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean(errs ** 2)), rel=1e-12)
    assert m["mae"] == pytest.approx(np.median(np.abs(errs)), rel=1e-12)
    assert m["best_correct"] == pytest.approx(
        np.mean(pred["best_treatment"].to_numpy() == t["true_best"].to_numpy()), abs=1e-15)
    assert {f"bias[{p}]" for p in ("B_vs_A", "D_vs_C")} <= set(m)


def test_network_study_runs_and_reproduces(tmp_path):
    scen = ite_scenarios("1,4", outcome="network", n_test=100)
    methods = ite_methods("ols+mvma,ols+weighted-aux-ols", family="network")
    study = SimulationStudy(scen, methods, n_reps=1, seed=9, store_format="csv")
    res = study.run(tmp_path / "s", progress=False)
    df = res.to_frame()
    assert (df["error"].fillna("") == "").all(), df["error"].tolist()
    assert (df["best_correct"] > 0.5).all()
    assert "coverage_ci[D_vs_B]" in df.columns
    # a cell rerun alone gives the stored numbers (same streams)
    again = run_cell(scen[0], 0, methods, seed=9)
    stored = df[df["scenario"] == "1"].sort_values("method").reset_index(drop=True)
    np.testing.assert_allclose(again.sort_values("method")["rmse[C_vs_B]"].to_numpy(),
                               stored["rmse[C_vs_B]"].to_numpy(), rtol=1e-12)
    tab = summarize(tmp_path / "s").contrast_table("coverage_ci")
    assert tab.index.names == ["scenario", "contrast"] and len(tab) == 2 * 6
    assert "correct best-treatment" in str(res.summary())


def test_network_all_methods_are_network_pairs_and_scenarios_checked():
    names = [m.name for m in ite_methods("all", family="network")]
    # the Bayesian network poolers take the posterior draws of the Bayesian learners only
    assert "ols+mvma" in names and "bayes-lm+bayes-mvma" in names
    assert "bayes-lasso+bayes-mvma" in names and "bayes-lasso+posterior-mix" in names
    assert "lasso+bayes-mvma" not in names and "xgboost+posterior-mix" not in names
    assert all(n.split("+")[1] in ("mvma", "weighted-aux-ols", "weighted-bootstrap",
                                   "bayes-mvma", "posterior-mix") for n in names)
    with pytest.raises(ModelSpecificationError, match="scenarios 1-4"):
        ite_scenarios("5", outcome="network")


def test_cli_simstudy_network(tmp_path, capsys):
    code = main(["simstudy", "run", "--outcome", "network", "--scenarios", "2", "--reps",
                 "1", "--methods", "ols+mvma", "--out", str(tmp_path / "o"), "--format",
                 "csv", "--no-progress", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["failures"] == []
    code = main(["simstudy", "summarize", str(tmp_path / "o"), "--metric", "best_correct",
                 "--out", str(tmp_path / "rep")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "bias per contrast" in out
    assert (tmp_path / "rep" / "table_coverage_ci_per_contrast.csv").is_file()
    assert pd.read_csv(tmp_path / "rep" / "table_best_correct.csv").shape[0] == 1

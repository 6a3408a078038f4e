"""``ipdma simstudy run --outcome survival``: make_survival_trials with true S(2) ITEs."""

from __future__ import annotations

import json

import pytest

from ipdma.cli import main
from ipdma.errors import ModelSpecificationError
from ipdma.simstudy import SimulationStudy, ite_methods, ite_scenarios


def test_survival_study_runs(tmp_path):
    study = SimulationStudy(ite_scenarios([1], outcome="survival", n_test_per_trial=100),
                            ite_methods("cox+mvma,cox+weighted-aux-ols", family="survival",
                                        horizon=2.0),
                            n_reps=1, seed=5)
    res = study.run(tmp_path / "s", progress=False).to_frame()
    assert (res["error"] == "").all(), res["error"].tolist()
    assert (res["mae"] < 0.1).all()


def test_survival_scenarios_checked():
    with pytest.raises(ModelSpecificationError, match="scenarios 1-4"):
        ite_scenarios("1-5", outcome="survival")


def test_cli_simstudy_survival(tmp_path, capsys):
    code = main(["simstudy", "run", "--outcome", "survival", "--scenarios", "2", "--reps",
                 "1", "--methods", "weibull+mvma", "--out", str(tmp_path / "o"), "--format",
                 "csv", "--no-progress", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["failures"] == []

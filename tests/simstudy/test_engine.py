"""Engine tests of ipdma.simstudy with small self-contained scenarios and methods.

The end-to-end study with real two-stage ITE methods is in test_ite_study.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import DataError, ModelSpecificationError
from ipdma.simstudy import (
    ResultStore,
    Scenario,
    SimulationStudy,
    cell_seeds,
    ite_metrics,
    parse_scenarios,
    summarize,
)


@dataclass
class _Sim:
    test: pd.DataFrame


def _toy_generator(random_state, n=200, shift=0.0):
    rng = np.random.default_rng(random_state)
    x = rng.normal(size=n)
    return _Sim(pd.DataFrame({"x": x, "ite_true": 1.0 + shift + 0.5 * x}))


@dataclass(frozen=True)
class _NoisyMethod:
    name: str
    noise: float

    def fit_predict(self, sim, seed_seq):
        rng = np.random.default_rng(seed_seq)
        ite = sim.test["ite_true"].to_numpy() + rng.normal(0, self.noise, len(sim.test))
        return pd.DataFrame({"ite": ite, "ci_low": ite - 2 * self.noise,
                             "ci_high": ite + 2 * self.noise})


@dataclass(frozen=True)
class _FailingMethod:
    name: str = "broken"

    def fit_predict(self, sim, seed_seq):
        raise ValueError("singular matrix in trial 3")


def _study(n_reps=3, methods=None, seed=7):
    scen = [Scenario(1, _toy_generator, {"shift": 0.0}), Scenario(2, _toy_generator,
                                                                  {"shift": 1.0})]
    methods = methods or [_NoisyMethod("a", 0.1), _NoisyMethod("b", 0.5), _FailingMethod()]
    return SimulationStudy(scen, methods, n_reps=n_reps, seed=seed, store_format="csv")


def test_parse_scenarios():
    assert parse_scenarios("1-3,7,9-10") == [1, 2, 3, 7, 9, 10]
    assert parse_scenarios("2,2,1") == [2, 1]
    with pytest.raises(ModelSpecificationError, match="runs backwards"):
        parse_scenarios("5-3")
    with pytest.raises(ModelSpecificationError, match="cannot read scenario list"):
        parse_scenarios("one")


def test_metrics_against_hand_computation():
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    pred = pd.DataFrame({"ite": [0.5, 1.0, 1.0, 3.5], "pi_low": [-1, 0, 0, 3.6],
                         "pi_high": [1, 2, 3, 4]})
    m = ite_metrics(pred, truth)
    assert m["mae"] == pytest.approx(0.5)
    assert m["bias"] == pytest.approx((0.5 + 0 - 1 + 0.5) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0.25) / 4))
    assert m["r2"] == pytest.approx(1 - (1.5 / 4) / np.var(truth))
    assert m["coverage_pi"] == pytest.approx(0.75)
    assert m["width_pi"] == pytest.approx(np.mean([2, 2, 3, 0.4]))
    assert np.isnan(m["coverage_ci"])


def test_cell_seeds_depend_on_identity_not_order():
    ms = [_NoisyMethod("a", 0.1), _NoisyMethod("b", 0.1)]
    d1, m1 = cell_seeds(5, 3, 2, ms)
    d2, m2 = cell_seeds(5, 3, 2, ms[::-1])
    assert d1.generate_state(4).tolist() == d2.generate_state(4).tolist()
    assert m1["a"].generate_state(4).tolist() == m2["a"].generate_state(4).tolist()
    assert m1["a"].generate_state(4).tolist() != m1["b"].generate_state(4).tolist()
    d3, _ = cell_seeds(5, 3, 3, ms)
    assert d1.generate_state(4).tolist() != d3.generate_state(4).tolist()


def test_run_resume_and_single_cell_rerun(tmp_path):
    study = _study()
    res = study.run(tmp_path / "full", progress=False)
    full = res.to_frame()
    assert len(full) == 2 * 3 * 3
    # the failing method is recorded with its error, not fatal
    fails = res.failures()
    assert len(fails) == 6 and fails["error"].str.contains("singular matrix in trial 3").all()
    # a single cell rerun alone gives identical numbers
    cell = study.run_cell(2, 1).drop(columns="fit_time")
    stored = full[(full.scenario == "2") & (full.replicate == 1)].drop(columns="fit_time")
    pd.testing.assert_frame_equal(cell.sort_values("method").reset_index(drop=True),
                                  stored.sort_values("method").reset_index(drop=True),
                                  check_dtype=False)
    # partial run: only some cells exist; resuming computes only the missing ones
    part = tmp_path / "part"
    SimulationStudy(study.scenarios, study.methods, n_reps=1, seed=7,
                    store_format="csv").run(part, progress=False)
    store = ResultStore(part, "csv")
    before = {p: p.stat().st_mtime_ns for p in store.files()}
    resumed = study.run(part, progress=False).to_frame()
    for p, t in before.items():
        assert p.stat().st_mtime_ns == t, "a finished cell was recomputed"
    cols = [c for c in full.columns if c != "fit_time"]
    pd.testing.assert_frame_equal(full[cols], resumed[cols], check_dtype=False)


def test_adding_a_method_keeps_old_numbers(tmp_path):
    a = _study(methods=[_NoisyMethod("a", 0.1)], n_reps=2)
    first = a.run(tmp_path, progress=False).to_frame()
    ab = _study(methods=[_NoisyMethod("a", 0.1), _NoisyMethod("b", 0.5)], n_reps=2)
    both = ab.run(tmp_path, progress=False).to_frame()
    assert set(both.method) == {"a", "b"}
    cols = ["scenario", "replicate", "mae", "bias"]
    pd.testing.assert_frame_equal(first[cols].reset_index(drop=True),
                                  both[both.method == "a"][cols].reset_index(drop=True))


def test_seed_mismatch_refused(tmp_path):
    _study(n_reps=1).run(tmp_path, progress=False)
    with pytest.raises(DataError, match="seed 7"):
        _study(n_reps=1, seed=8).run(tmp_path, progress=False)


def test_joblib_workers_give_identical_numbers(tmp_path):
    study = _study(n_reps=2)
    seq = study.run(tmp_path / "seq", n_jobs=1, progress=False).to_frame()
    par = study.run(tmp_path / "par", n_jobs=2, progress=False).to_frame()
    cols = [c for c in seq.columns if c != "fit_time"]
    pd.testing.assert_frame_equal(seq[cols], par[cols], check_dtype=False)


def test_summaries_and_plots(tmp_path):
    res = _study().run(tmp_path / "s", progress=False)
    tab = res.table("mae")
    assert list(tab.index) == ["1", "2"] and set(tab.columns) == {"a", "b"}
    assert (tab["a"] < tab["b"]).all()
    assert (res.ranks()["a"] == 1).all()
    assert "overall ranking" in str(res.summary())
    assert res.plot("mae") is not None and res.plot("ranks") is not None
    index = summarize(tmp_path / "s").write_report(tmp_path / "rep")
    assert index.is_file() and (tmp_path / "rep" / "table_mae.csv").is_file()
    with pytest.raises(ModelSpecificationError, match="unknown metric"):
        res.table("auc")


def test_empty_store_message(tmp_path):
    with pytest.raises(DataError, match="no finished simulation cells"):
        summarize(tmp_path)


@dataclass(frozen=True)
class _FixableMethod:
    """Fails while ``flag`` exists (a bug), then works (the fix)."""

    name: str
    flag: str

    def fit_predict(self, sim, seed_seq):
        from pathlib import Path

        if Path(self.flag).exists():
            raise ValueError("bug")
        return _NoisyMethod(self.name, 0.2).fit_predict(sim, seed_seq)


def test_retry_failed_recomputes_only_failed_methods(tmp_path):
    flag = tmp_path / "bug"
    flag.write_text("")
    methods = [_NoisyMethod("a", 0.1), _FixableMethod("fix", str(flag))]
    study = _study(methods=methods, n_reps=2)
    first = study.run(tmp_path / "s", progress=False)
    assert len(first.failures()) == 4
    flag.unlink()
    # a plain rerun resumes: nothing is pending, the failures stay
    assert len(study.run(tmp_path / "s", progress=False).failures()) == 4
    fixed = study.run(tmp_path / "s", progress=False, retry_failed=True).to_frame()
    assert (fixed["error"] == "").all()
    cols = ["scenario", "replicate", "method", "mae", "bias"]
    a_before = first.to_frame().query("method == 'a'")[cols].reset_index(drop=True)
    a_after = fixed.query("method == 'a'")[cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a_before, a_after)
    # the fixed method gives what a fresh run without the bug gives
    fresh = _study(methods=methods, n_reps=2).run(tmp_path / "fresh", progress=False)
    pd.testing.assert_frame_equal(
        fixed[cols].sort_values(cols[:3]).reset_index(drop=True),
        fresh.to_frame()[cols].sort_values(cols[:3]).reset_index(drop=True))

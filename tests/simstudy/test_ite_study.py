"""The issue's acceptance test: a 2-scenario x 3-method x 3-replicate study of real
two-stage ITE methods, once straight through, once killed half way and resumed (a
real SIGKILL of the CLI process), and once on a Dask LocalCluster: identical tables.

Timing columns (``fit_time``) are excluded from the comparisons: they measure the
machine, not the method.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from ipdma.simstudy import ResultStore, SimulationStudy, ite_methods, ite_scenarios, summarize

METHODS = "ols+mvma,ols+weighted-aux-ols,ridge+weighted-aux-ols"
SCENARIOS = "1-2"
REPS = 3
SEED = 11


def _cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c != "fit_time"]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight")
    study = SimulationStudy(ite_scenarios(SCENARIOS), ite_methods(METHODS), n_reps=REPS,
                            seed=SEED)
    res = study.run(out, progress=False).to_frame()
    assert len(res) == 2 * 3 * REPS
    assert (res["error"] == "").all(), res.loc[res["error"] != "", "error"].tolist()
    return res


def _cli(out, *extra):
    return [sys.executable, "-m", "ipdma.cli", "simstudy", "run", "--scenarios", SCENARIOS,
            "--methods", METHODS, "--reps", str(REPS), "--seed", str(SEED), "--out", str(out),
            "--no-progress", *extra]


def test_killed_and_resumed_run_is_identical(reference_run, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = ResultStore(out)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(store.files())) < 2:
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(store.files()))
    assert 0 < n_done, proc.stderr.read().decode()
    # resume: the same command on the same folder
    done = subprocess.run(_cli(out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    resumed = summarize(out).to_frame()
    pd.testing.assert_frame_equal(reference_run[_cols(reference_run)],
                                  resumed[_cols(resumed)], check_dtype=False)


def test_dask_local_cluster_is_identical(reference_run, tmp_path):
    pytest.importorskip("dask.distributed")
    study = SimulationStudy(ite_scenarios(SCENARIOS), ite_methods(METHODS), n_reps=REPS,
                            seed=SEED)
    res = study.run(tmp_path / "dask", dask_local=2, progress=False).to_frame()
    pd.testing.assert_frame_equal(reference_run[_cols(reference_run)], res[_cols(res)],
                                  check_dtype=False)


def test_shared_stage1_equals_each_method_run_alone():
    """Methods with one learner are fitted together in a cell; every row must equal the
    method's own fit_predict on its stream (a single method rerun alone)."""
    from ipdma.simstudy import cell_seeds, run_cell
    from ipdma.simstudy._metrics import ite_metrics

    methods = ite_methods("ols+mvma,ols+weighted-aux-ols,ridge+weighted-bootstrap,"
                          "ridge+weighted-aux-ols", n_boot=5)
    sc = ite_scenarios("3")[0]
    cell = run_cell(sc, 0, methods, SEED).set_index("method")
    assert (cell["error"] == "").all()
    data_seq, seqs = cell_seeds(SEED, sc.id, 0, methods)
    assert seqs["ridge+weighted-bootstrap"].spawn_key == seqs["ridge+weighted-aux-ols"].spawn_key
    sim = sc.simulate(data_seq)
    for m in methods:
        alone = ite_metrics(m.fit_predict(sim, seqs[m.name]), sim.test["ite_true"].to_numpy())
        for k, v in alone.items():
            assert cell.loc[m.name, k] == pytest.approx(v, rel=0, abs=0, nan_ok=True), (m.name, k)
        assert cell.loc[m.name, "fit_time"] > 0


def _children(pid: int) -> list[int]:
    from pathlib import Path

    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        kids += [int(k) for k in text.split()]
    return kids


def _alive(pid: int) -> bool:
    from pathlib import Path

    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_stops_the_workers_too(tmp_path):
    """SIGTERM (kill, a batch time limit) ends the run like Ctrl-C: exit code 130 and no
    worker process left computing."""
    out = tmp_path / "term"
    cmd = _cli(out, "--n-jobs", "2")
    err = tmp_path / "stderr.txt"
    # stderr to a file: orphaned workers would hold a pipe open and block reading it
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err.open("w"))
    deadline = time.monotonic() + 120
    kids: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        kids = _children(proc.pid)
        if len(kids) >= 2:
            break
        time.sleep(0.1)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted")
    time.sleep(1.0)
    kids = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    survivors = [k for k in kids if _alive(k)]
    for k in survivors:  # do not leave them running after a failure
        os.kill(k, signal.SIGKILL)
    assert proc.returncode == 130, err.read_text()
    assert not survivors, "worker processes survived SIGTERM"

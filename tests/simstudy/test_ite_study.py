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

"""Shared test fixtures.

``ref_case("name")`` gives access to an R oracle case in
``../shared/reference/name`` (next to the repository).  Where that folder is
absent the test is skipped with the reason, except under ``CI=true`` where a
missing reference is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]

# The scripts that regenerate stored references (tests/*/data/*/make_data.py) write
# their CSV into the working directory when imported: never collect them (doctests).
collect_ignore_glob = ["*/data/*/*.py"]
REFERENCE_ROOT = Path(os.environ.get("IPDMA_REFERENCE", REPO.parent / "shared" / "reference"))


@dataclass
class RefCase:
    """One reference case: its folder, ``expected.json`` and CSV files."""

    name: str
    path: Path

    @property
    def expected(self) -> dict:
        with open(self.path / "expected.json") as fh:
            return json.load(fh)

    def csv(self, filename: str, **kw) -> pd.DataFrame:
        return pd.read_csv(self.path / filename, **kw)

    def json(self, filename: str) -> dict:
        with open(self.path / filename) as fh:
            return json.load(fh)


def _get_ref_case(name: str) -> RefCase:
    path = REFERENCE_ROOT / name
    if not (path / "expected.json").is_file():
        msg = (f"reference case {name!r} not found at {path}: clone the shared folder beside "
               "the repository (or set IPDMA_REFERENCE) to run R-oracle tests")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return RefCase(name, path)


@pytest.fixture
def ref_case():
    """Factory fixture: ``ref_case("meta_univariate_bcg")`` -> :class:`RefCase`."""
    return _get_ref_case


def as_array(x) -> np.ndarray:
    """jsonlite writes NA as null; turn nested lists into float arrays with NaN."""
    return np.array(x, dtype=float) if x is not None else np.array(np.nan)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# --------------------------------------------------------------------------------------
# The suite must leave the working tree as it found it: a test, doctest or benchmark that
# writes a file into the repository (instead of tmp_path) fails the run.
# --------------------------------------------------------------------------------------
def _tree_state() -> set[str] | None:
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(out.stdout.splitlines())


def pytest_sessionstart(session):
    session.config._ipdma_tree_before = _tree_state()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_ipdma_tree_before", None)
    after = _tree_state()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        msg = ("the test suite changed the working tree (write to tmp_path instead):\n  "
               + "\n  ".join(new))
        if tr is not None:
            tr.write_line(msg, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

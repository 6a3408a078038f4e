"""pyproject extras: exactly one xgboost distribution per platform, the CPU-only build
(no nvidia-nccl-cu12 wheel) where PyPI has it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

packaging = pytest.importorskip("packaging.requirements")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _extras():
    return tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]


@pytest.mark.parametrize(("system", "machine", "expected"), [
    ("Linux", "x86_64", "xgboost-cpu"), ("Linux", "aarch64", "xgboost-cpu"),
    ("Windows", "AMD64", "xgboost-cpu"), ("Darwin", "arm64", "xgboost"),
    ("Darwin", "x86_64", "xgboost"), ("Linux", "ppc64le", "xgboost"),
    ("Windows", "ARM64", "xgboost")])
def test_one_xgboost_distribution_per_platform(system, machine, expected):
    env = {"platform_system": system, "platform_machine": machine, "sys_platform": "x",
           "extra": ""}
    reqs = [packaging.Requirement(r) for r in _extras()["xgboost"]]
    chosen = [r.name for r in reqs if r.marker is None or r.marker.evaluate(env)]
    assert chosen == [expected]


def test_all_holds_every_extra_but_the_causal_forest():
    extras = _extras()
    assert extras["all"] == ["ipdma[bayes,xgboost,parquet,dask]"]
    assert set(extras) >= {"bayes", "xgboost", "parquet", "dask", "causal-forest", "all", "test"}

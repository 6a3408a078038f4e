"""Invariants of IPD on random frames (hypothesis) and runnable docstring examples."""

from __future__ import annotations

import doctest
import warnings
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ipdma.data._describe
import ipdma.data._ipd
import ipdma.data._network
from ipdma.data import IPD
from ipdma.errors import DataWarning


@st.composite
def frames(draw):
    n_trials = draw(st.integers(1, 5))
    treatments = ["P", "A", "B", "C"]
    rows = []
    for t in range(n_trials):
        arms = draw(st.lists(st.sampled_from(treatments), min_size=1, max_size=3, unique=True))
        for a in arms:
            rows += [(f"s{t}", a)] * draw(st.integers(2, 6))
    df = pd.DataFrame(rows, columns=["trial", "arm"])
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n = len(df)
    df["y"] = rng.normal(size=n)
    df["x"] = rng.normal(size=n)
    df["g"] = rng.choice(["u", "v", "w"], n)
    df.loc[df.index[0], "g"], df.loc[df.index[-1], "g"] = "u", "v"  # never constant
    return df


@settings(max_examples=40, deadline=None)
@given(frames())
def test_ipd_invariants(df):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        ipd = IPD(df, trial="trial", treatment="arm", outcome="y", covariates=["x", "g"])
    assert len(ipd) == len(df)
    # by_trial round trip
    parts = ipd.by_trial()
    back = pd.concat([p.data for p in parts.values()], ignore_index=True)
    pd.testing.assert_frame_equal(
        back, ipd.data.sort_values("trial", kind="stable").reset_index(drop=True))
    # same design-matrix columns in every trial
    for t, p in parts.items():
        assert p.design_matrix().columns.tolist() == ipd.feature_names
        assert ipd.design_matrix(trial=t).shape == (len(p), len(ipd.feature_names))
    # network edges are exactly the pairs of arms within trials
    pairs = {pair for arms in ipd.arms.values() for pair in combinations(arms, 2)}
    net = ipd.network
    assert set(zip(net.edges["treatment_a"], net.edges["treatment_b"])) == pairs
    assert net.edges["n_trials"].sum() == sum(len(a) * (len(a) - 1) // 2
                                              for a in ipd.arms.values())
    assert sorted(t for comp in net.components for t in comp) == ipd.treatments
    assert set(ipd.relative_effect_trials) == {t for t, a in ipd.arms.items() if len(a) > 1}
    assert ipd.reference in ipd.treatments


@pytest.mark.parametrize("module", [ipdma.data._ipd, ipdma.data._network, ipdma.data._describe])
def test_docstring_examples_run(module):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0

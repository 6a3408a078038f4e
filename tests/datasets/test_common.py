"""Behaviour shared by every generator: seeding, the registry, the SimulatedIPD container."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.datasets import (
    DATASETS,
    SimulatedIPD,
    list_datasets,
    make_ite_continuous,
    make_lbp_trials,
    make_ms_network,
    simulate,
)
from ipdma.errors import ModelSpecificationError

# small settings keep the suite fast; the defaults are exercised in the per-generator files
GENERATORS = {
    "ms": lambda seed: make_ms_network(800, random_state=seed, n_external=200),
    "ite": lambda seed: make_ite_continuous(3, random_state=seed, n_test_per_trial=100),
    "lbp": lambda seed: make_lbp_trials(random_state=seed),
}


def _frames(sim: SimulatedIPD) -> dict[str, pd.DataFrame]:
    return {"data": sim.data, "truth": sim.truth, **sim.extra}


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_frames(name):
    a, b = GENERATORS[name](123), GENERATORS[name](123)
    fa, fb = _frames(a), _frames(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        pd.testing.assert_frame_equal(fa[key], fb[key])
    assert a.params.keys() == b.params.keys()
    for key in a.params:
        assert a.params[key] == b.params[key], key


@pytest.mark.parametrize("name", list(GENERATORS))
def test_seed_sequence_and_generator_reproduce(name):
    a = GENERATORS[name](np.random.SeedSequence(7))
    b = GENERATORS[name](np.random.default_rng(np.random.SeedSequence(7)))
    pd.testing.assert_frame_equal(a.data, b.data)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_different_seed_differs(name):
    a, b = GENERATORS[name](1), GENERATORS[name](2)
    outcome = a.columns["outcome"]
    assert not a.data[outcome].equals(b.data[outcome])
    assert not a.truth.equals(b.truth)


@pytest.mark.parametrize("name", list(GENERATORS))
def test_container_contract(name):
    sim = GENERATORS[name](5)
    cols = sim.columns
    assert set(cols) == {"trial", "treatment", "outcome", "covariates", "patient_id"}
    used = [cols["trial"], cols["treatment"], cols["outcome"], cols["patient_id"],
            *cols["covariates"]]
    assert set(used) <= set(sim.data.columns)
    assert len(set(used)) == len(used)
    # truth is aligned row for row with the data
    assert sim.truth.index.equals(sim.data.index)
    assert (sim.truth[cols["patient_id"]].to_numpy() == sim.data[cols["patient_id"]].to_numpy()).all()
    assert sim.data[cols["patient_id"]].is_unique
    # no loops leaked: fresh RangeIndex
    assert isinstance(sim.data.index, pd.RangeIndex)
    merged = sim.to_frame(truth=True)
    assert len(merged) == len(sim.data)
    assert set(sim.truth.columns) <= set(merged.columns)
    assert list(sim.to_frame().columns) == list(sim.data.columns)
    text = str(sim.summary())
    assert cols["outcome"] in text and "by trial and arm" in text
    assert name in repr(sim)


def test_unknown_extra_frame_attribute_error_names_available_frames():
    sim = GENERATORS["ms"](1)
    assert isinstance(sim.external, pd.DataFrame)
    with pytest.raises(AttributeError, match="external"):
        sim.test  # noqa: B018
    assert getattr(sim, "test", None) is None


@pytest.mark.parametrize("name", list(GENERATORS))
def test_ipd_builds_the_container(name):
    data_mod = pytest.importorskip("ipdma.data")
    if not hasattr(data_mod, "IPD"):
        pytest.skip("ipdma.data.IPD not available yet")
    from ipdma.errors import DataWarning

    sim = GENERATORS[name](3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ipd = sim.ipd()
    data_warnings = [w for w in caught if issubclass(w.category, DataWarning)]
    # only the ms data have missing covariate values (complete-case analysis warns)
    assert len(data_warnings) == (1 if name == "ms" else 0)
    cols = sim.columns
    assert ipd.trial_col == cols["trial"] and ipd.outcome_col == cols["outcome"]
    assert list(ipd.covariate_cols) == cols["covariates"]
    assert ipd.trials == sorted(map(str, sim.data[cols["trial"]].unique()))
    complete = sim.data[cols["covariates"]].notna().all(axis=1)
    assert len(ipd.data) == int(complete.sum())
    if name == "ms":
        assert ipd.outcome_type == "binary" and ipd.reference == "PBO"
        assert ipd.arms["S2"] == ["DMF", "GA", "PBO"]
        assert ipd.network.is_connected
    else:
        assert ipd.outcome_type == "continuous" and ipd.reference == "0"
    # keyword arguments override the stored roles
    sub = sim.ipd(covariates=cols["covariates"][:2])
    assert list(sub.covariate_cols) == cols["covariates"][:2]


def test_registry_and_list_datasets():
    table = list_datasets()
    assert table.index.tolist() == ["ms", "ite", "ite-binary", "lbp", "ite-network",
                                    "survival", "survival-network"] == list(DATASETS)
    assert table.loc["survival", "scenarios"] == "1-4"
    assert table.loc["ite-network", "function"] == "ipdma.datasets.make_ite_network"
    assert table.loc["ite", "scenarios"] == "1-16"
    assert table.loc["ms", "scenarios"] == ""
    assert table.loc["lbp", "function"] == "ipdma.datasets.make_lbp_trials"


def test_simulate_dispatches_with_seed_and_scenario():
    sim = simulate("ite", seed=11, scenario=12)
    ref = make_ite_continuous(12, random_state=11)
    pd.testing.assert_frame_equal(sim.data, ref.data)
    assert sim.params["scenario"] == 12
    pd.testing.assert_frame_equal(simulate("LBP", seed=4).data,
                                  make_lbp_trials(random_state=4).data)
    assert simulate("ite", seed=1).params["scenario"] == 1


def test_simulate_errors_are_clear():
    with pytest.raises(ModelSpecificationError, match=r"unknown data set 'itee'.*'ite'"):
        simulate("itee", seed=1)
    with pytest.raises(ModelSpecificationError, match="'ms' has no scenarios"):
        simulate("ms", seed=1, scenario=2)
    with pytest.raises(ModelSpecificationError, match="scenario 17 does not exist"):
        simulate("ite", seed=1, scenario=17)

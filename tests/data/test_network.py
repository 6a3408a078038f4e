"""Treatment network and describe()."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ipdma._base import Summary
from ipdma.data import IPD, Description, Network, describe
from ipdma.errors import DataWarning, ModelSpecificationError, NetworkError

ARMS = {"t1": ["A", "B"], "t2": ["A", "B", "C"], "t3": ["C", "D"]}


def test_edges_of_small_network():
    net = Network(ARMS)
    e = net.edges
    assert list(e.columns) == ["treatment_a", "treatment_b", "n_trials", "n_patients", "trials"]
    assert e[["treatment_a", "treatment_b", "n_trials"]].values.tolist() == [
        ["A", "B", 2], ["A", "C", 1], ["B", "C", 1], ["C", "D", 1]]
    assert e["trials"].tolist() == [["t1", "t2"], ["t2"], ["t2"], ["t3"]]
    assert net.is_connected and net.components == [["A", "B", "C", "D"]]
    assert net.multi_arm_trials == ["t2"]
    assert net.treatments == ["A", "B", "C", "D"] and net.trials == ["t1", "t2", "t3"]
    assert net.check_connected() is net


def test_network_from_ipd_counts_patients(frame):
    net = IPD(frame, trial="study", treatment="arm", outcome="y").network
    assert net.edges["n_patients"].tolist() == [80, 40, 40, 40]
    assert net.nodes.set_index("treatment")["n_patients"].to_dict() == \
        {"A": 40, "B": 40, "C": 40, "D": 20}
    assert net.nodes.set_index("treatment")["n_trials"].to_dict() == \
        {"A": 2, "B": 2, "C": 2, "D": 1}


def test_disconnected_components():
    net = Network({"t1": ["A", "B"], "t3": ["C", "D"], "t4": ["E"]})
    assert not net.is_connected
    assert net.components == [["A", "B"], ["C", "D"], ["E"]]
    with pytest.raises(NetworkError, match=r"3 components \{A, B\} \(trials t1\) \| \{C, D\} "
                       r"\(trials t3\) \| \{E\} \(trials t4\)"):
        net.check_connected()


def test_single_arm_trial_adds_isolated_node():
    net = Network({"t1": ["A", "B"], "cohort": ["A"]})
    assert net.is_connected and net.multi_arm_trials == []
    assert net.nodes.set_index("treatment")["n_trials"].to_dict() == {"A": 2, "B": 1}


def test_network_summary_to_frame_repr():
    net = Network(ARMS)
    s = net.summary()
    assert isinstance(s, Summary) and s.info["Connected"] == "yes"
    assert net.to_frame()["trials"].tolist() == ["t1; t2", "t2", "t2", "t3"]
    assert repr(net) == "Network(4 treatments, 3 trials, 4 edges, connected)"


@pytest.mark.parametrize("by", ["patients", "trials", None])
def test_network_plot(frame, by):
    net = IPD(frame, trial="study", treatment="arm", outcome="y").network
    ax = net.plot(node_size_by=by)
    assert ax.get_title() == "Treatment network"
    assert len(ax.lines) == 4  # one line per edge
    sizes = ax.collections[0].get_sizes()
    assert len(sizes) == 4
    if by == "patients":
        assert sizes[3] < sizes[0]  # D has half the patients of A


def test_network_plot_on_given_axes_and_bad_option():
    _, ax = plt.subplots()
    assert Network(ARMS).plot(ax=ax) is ax
    with pytest.raises(ModelSpecificationError, match="node_size_by must be"):
        Network(ARMS).plot(node_size_by="size")
    Network({"t1": ["A"]}).plot()  # a single node draws too


def test_describe_binary(frame, ipd_args):
    frame.loc[[0, 1, 45], "age"] = None
    with pytest.warns(DataWarning):
        ipd = IPD(frame, **ipd_args)
    d = describe(ipd)
    assert isinstance(d, Description)
    arms = d.to_frame()
    assert list(arms.columns) == ["trial", "treatment", "n", "events", "risk"]
    assert len(arms) == 7
    row = arms.set_index(["trial", "treatment"]).loc[("t1", "A")]
    kept = ipd.data[(ipd.data["study"] == "t1") & (ipd.data["arm"] == "A")]
    assert row["n"] == len(kept) == 18
    assert row["events"] == kept["y"].sum()
    assert row["risk"] == pytest.approx(kept["y"].mean())
    # missingness is on the raw input, before the complete-case drop
    miss = d.missingness_table()
    assert miss.loc["t1", "age"] == 2 and miss.loc["t2", "age"] == 1
    assert miss.loc["t1", "n_rows"] == 40
    s = d.summary()
    # only covariates with missing values are tabulated
    assert s.tables["Missing covariate values per trial (input data)"].columns.tolist() == \
        ["n_rows", "age"]
    assert "3 rows with missing covariates were dropped" in str(s)


def test_describe_continuous(frame_cont):
    ipd = IPD(frame_cont, trial="study", treatment="arm", outcome="y")
    arms = describe(ipd).to_frame().set_index(["trial", "treatment"])
    assert list(arms.columns) == ["n", "mean", "sd"]
    sel = frame_cont[(frame_cont["study"] == "t3") & (frame_cont["arm"] == "D")]["y"]
    assert arms.loc[("t3", "D"), "mean"] == pytest.approx(sel.mean())
    assert arms.loc[("t3", "D"), "sd"] == pytest.approx(sel.std(ddof=1))


def test_describe_to_dict_is_json_ready(frame, ipd_args):
    frame.loc[3, "sex"] = None
    with pytest.warns(DataWarning):
        ipd = IPD(frame, **ipd_args)
    out = describe(ipd).to_dict()
    text = json.dumps(out, allow_nan=False)  # no NaN, no numpy types
    back = json.loads(text)
    assert back["n_patients"] == 139 and back["reference"] == "A"
    assert back["network"]["is_connected"] is True
    assert back["network"]["multi_arm_trials"] == ["t2"]
    assert back["network"]["edges"][0] == {"treatment_a": "A", "treatment_b": "B",
                                           "n_trials": 2, "n_patients": 79,
                                           "trials": ["t1", "t2"]}
    assert back["dropped"][0]["n_dropped"] == 1
    assert {"trial": "t1", "covariate": "sex", "n_missing": 1, "n_rows": 40,
            "prop_missing": 0.025} in back["missingness"]
    assert pd.DataFrame(back["arms"]).shape == (7, 5)


def test_describe_plot(frame):
    ipd = IPD(frame, trial="study", treatment="arm", outcome="y")
    ax = describe(ipd).plot()
    assert ax.get_title() == "Treatment network"

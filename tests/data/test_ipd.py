"""The IPD container: attributes of the contract, design matrices, subsets."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma._base import Summary
from ipdma.data import IPD, choose_reference
from ipdma.errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    ModelSpecificationError,
)


@pytest.fixture
def ipd(frame, ipd_args):
    return IPD(frame, **ipd_args)


def test_contract_attributes(ipd, frame):
    assert ipd.trial_col == "study" and ipd.treatment_col == "arm" and ipd.outcome_col == "y"
    assert ipd.covariate_cols == ["age", "sex", "stage", "smoker"]
    assert ipd.patient_id_col == "pid"
    assert ipd.outcome_type == "binary"
    assert ipd.trials == ["t1", "t2", "t3"]
    assert ipd.treatments == ["A", "B", "C", "D"]
    assert ipd.arms == {"t1": ["A", "B"], "t2": ["A", "B", "C"], "t3": ["C", "D"]}
    assert ipd.reference == "A"  # no control-like label: most trials, ties by sort order
    assert ipd.relative_effect_trials == ["t1", "t2", "t3"]
    assert ipd.data.index.equals(pd.RangeIndex(len(frame)))
    assert list(ipd.data.columns) == list(frame.columns)  # other columns kept
    np.testing.assert_array_equal(ipd.y, frame["y"].to_numpy(dtype=float))
    np.testing.assert_array_equal(ipd.treatment, frame["arm"].to_numpy())
    np.testing.assert_array_equal(ipd.trial, frame["study"].to_numpy())
    assert ipd.y.dtype == float and ipd.treatment.dtype == object and ipd.trial.dtype == object
    assert len(ipd) == ipd.n_patients == 140
    assert ipd.dropped["n_dropped"].sum() == 0


def test_input_frame_not_modified(frame, ipd_args):
    before = frame.copy()
    frame.loc[0, "age"] = np.nan
    before.loc[0, "age"] = np.nan
    with pytest.warns(DataWarning):
        IPD(frame, **ipd_args)
    pd.testing.assert_frame_equal(frame, before)


def test_binary_inference(frame, frame_cont):
    assert IPD(frame, trial="study", treatment="arm", outcome="y").outcome_type == "binary"
    assert IPD(frame_cont, trial="study", treatment="arm", outcome="y").outcome_type == \
        "continuous"
    # a 0/1 outcome can be analysed as continuous on request (linear probability model)
    ipd = IPD(frame, trial="study", treatment="arm", outcome="y", outcome_type="continuous")
    assert ipd.outcome_type == "continuous"
    assert ipd.data["y"].dtype == float
    assert IPD(frame, trial="study", treatment="arm", outcome="y").data["y"].dtype == np.int64
    # two non-integer values are a (coarse) measurement, not a binary outcome
    frame["y"] = np.where(frame["y"] == 1, 2.5, 0.5)
    assert IPD(frame, trial="study", treatment="arm", outcome="y").outcome_type == "continuous"


def test_float_zero_one_outcome_is_binary(frame):
    frame["y"] = frame["y"].astype(float)
    ipd = IPD(frame, trial="study", treatment="arm", outcome="y")
    assert ipd.outcome_type == "binary"
    assert ipd.outcome_coding is None


def test_non_numeric_labels_cast_to_str(frame):
    frame["study"] = frame["study"].map({"t1": 101, "t2": 7, "t3": 33}).astype(float)
    frame["arm"] = frame["arm"].map({"A": 0, "B": 1, "C": 2, "D": 3})
    ipd = IPD(frame, trial="study", treatment="arm", outcome="y")
    assert ipd.trials == ["101", "33", "7"]  # plain string sort
    assert ipd.treatments == ["0", "1", "2", "3"]
    assert ipd.reference == "0"
    assert ipd.data["study"].iloc[0] == "101"


@pytest.mark.parametrize(("labels", "expected"), [
    (["Drug A", "Placebo", "Drug B"], "Placebo"),
    (["active", "usual care"], "usual care"),
    (["SoC", "new"], "SoC"),
    (["DMF", "GA", "PBO"], "PBO"),
    (["control", "placebo"], "placebo"),  # placebo ranks above control
    (["sham", "x"], "sham"),
    (["1", "0"], "0"),
])
def test_reference_rule(labels, expected):
    arms = {"t1": labels}
    assert choose_reference(sorted(labels), arms) == expected


def test_reference_most_trials_then_sort_order():
    arms = {"t1": ["B", "C"], "t2": ["B", "D"], "t3": ["A", "C"]}
    assert choose_reference(["A", "B", "C", "D"], arms) == "B"
    assert choose_reference(["A", "B"], {"t1": ["A", "B"]}) == "A"


def test_reference_argument(frame):
    ipd = IPD(frame, trial="study", treatment="arm", outcome="y", reference="C")
    assert ipd.reference == "C"


def test_design_matrix_encoding(ipd, frame):
    X = ipd.design_matrix()
    assert list(X.columns) == ipd.feature_names == \
        ["age", "sex[male]", "stage[II]", "stage[III]", "smoker"]
    assert (X.dtypes == np.float64).all()
    np.testing.assert_array_equal(X["age"], frame["age"])
    np.testing.assert_array_equal(X["sex[male]"], (frame["sex"] == "male").astype(float))
    np.testing.assert_array_equal(X["stage[III]"], (frame["stage"] == "III").astype(float))
    np.testing.assert_array_equal(X["smoker"], frame["smoker"].astype(float))
    assert ipd.design_matrix(covariates=["stage"]).columns.tolist() == ["stage[II]", "stage[III]"]


def test_design_matrix_names_stable_across_trials(frame, ipd_args):
    # trial t3 has no stage III patients and no smokers: same columns anyway
    frame.loc[(frame["study"] == "t3") & (frame["stage"] == "III"), "stage"] = "II"
    ipd = IPD(frame, **ipd_args)
    cols = [ipd.design_matrix(trial=t).columns.tolist() for t in ipd.trials]
    assert all(c == ipd.feature_names for c in cols)
    assert ipd.design_matrix(trial="t3")["stage[III]"].eq(0).all()
    for t, sub in ipd.by_trial().items():
        assert sub.feature_names == ipd.feature_names
        assert sub.design_matrix().columns.tolist() == ipd.feature_names
        pd.testing.assert_frame_equal(sub.design_matrix().reset_index(drop=True),
                                      ipd.design_matrix(trial=t).reset_index(drop=True))


def test_design_matrix_index_and_trial_list(ipd):
    X = ipd.design_matrix(trial=["t1", "t3"])
    assert len(X) == 80
    assert X.index.equals(ipd.data.index[np.isin(ipd.trial, ["t1", "t3"])])


def test_categorical_dtype_keeps_category_order(frame, ipd_args):
    frame["stage"] = pd.Categorical(frame["stage"], categories=["III", "II", "I", "IV"])
    ipd = IPD(frame, **ipd_args)
    # unused level IV is dropped; first category III is the reference level
    assert ipd.feature_names == ["age", "sex[male]", "stage[II]", "stage[I]", "smoker"]


def test_numeric_coded_categorical_and_object_bool(frame, ipd_args):
    frame["smoker"] = frame["smoker"].astype(object)
    frame.loc[0, "smoker"] = None
    with pytest.warns(DataWarning, match="dropped 1 of 140"):
        ipd = IPD(frame, **ipd_args)
    assert ipd.covariate_kinds["smoker"] == "bool"
    assert ipd.design_matrix()["smoker"].isin([0.0, 1.0]).all()


def test_design_matrix_errors(ipd):
    with pytest.raises(ColumnNotFoundError, match=r"'extra' is not a covariate of this IPD"):
        ipd.design_matrix(covariates=["extra"])
    with pytest.raises(DataError, match=r"trial 'T1' is not in the data\. Did you mean 't1'"):
        ipd.design_matrix(trial="T1")


def test_binary_treatment(ipd, frame):
    with pytest.raises(ModelSpecificationError, match=r"needs treated=\.\.\. when there are 4 "
                       r"treatments"):
        ipd.binary_treatment()
    t = ipd.binary_treatment(treated="B")
    np.testing.assert_array_equal(t, (frame["arm"] == "B").astype(int))
    two = ipd.subset(treatments=["A", "B"])
    assert two.treatments == ["A", "B"] and two.reference == "A"
    np.testing.assert_array_equal(two.binary_treatment(), (two.treatment == "B").astype(int))
    with pytest.raises(DataError, match=r"treatment 'b' is not in the data\. Did you mean 'B'"):
        ipd.binary_treatment(treated="b")


def test_by_trial_round_trip(ipd):
    parts = ipd.by_trial()
    assert list(parts) == ipd.trials
    assert all(isinstance(p, IPD) and p.trials == [t] for t, p in parts.items())
    assert parts["t2"].arms == {"t2": ["A", "B", "C"]}
    back = pd.concat([p.data for p in parts.values()], ignore_index=True)
    expected = ipd.data.sort_values("study", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected)
    assert sum(len(p) for p in parts.values()) == len(ipd)


def test_subset(ipd):
    sub = ipd.subset(trials=["t1", "t3"])
    assert sub.trials == ["t1", "t3"]
    assert sub.treatments == ["A", "B", "C", "D"]
    assert not sub.network.is_connected  # A-B and C-D only
    assert sub.outcome_type == ipd.outcome_type and sub.reference == "A"
    assert sub.data.index.equals(pd.RangeIndex(80))
    assert sub.dropped["trial"].tolist() == ["t1", "t3"]
    only_t3 = ipd.subset(trials="t3")
    assert only_t3.reference == "C"  # A absent: rule applied again
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # subsets re-issue no warnings
        ipd.subset(trials="t3", treatments="D")
    with pytest.raises(DataError, match="selects no patient"):
        ipd.subset(trials="t1", treatments="D")


def test_summary_and_repr(ipd):
    s = ipd.summary()
    assert isinstance(s, Summary)
    assert s.info["Patients"] == 140 and s.info["Reference"] == "A"
    assert s.tables["Trials"].loc["t2", "n_arms"] == 3
    text = str(s)
    assert "Individual participant data" in text and "t2" in text
    assert repr(ipd).startswith("IPD(140 patients, 3 trials, 4 treatments [A (ref), B, C, D]")


def test_continuous_trial_table(frame_cont):
    ipd = IPD(frame_cont, trial="study", treatment="arm", outcome="y")
    tab = ipd.trial_table()
    assert {"mean", "sd"} <= set(tab.columns)
    np.testing.assert_allclose(tab.loc["t1", "mean"],
                               frame_cont.loc[frame_cont["study"] == "t1", "y"].mean())


def test_trial_losing_all_rows(frame, ipd_args):
    frame.loc[frame["study"] == "t3", "age"] = np.nan
    with pytest.warns(DataWarning, match=r"Trial\(s\) 't3' had no complete case"):
        ipd = IPD(frame, **ipd_args)
    assert ipd.trials == ["t1", "t2"]
    assert ipd.dropped.set_index("trial").loc["t3", "n_kept"] == 0

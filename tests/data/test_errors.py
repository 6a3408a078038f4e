"""Bad input gives a clear ipdma error (or DataWarning) naming what is wrong and the fix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.data import IPD
from ipdma.errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    IPDMAError,
    MissingDataError,
    ModelSpecificationError,
    NetworkError,
    OutcomeError,
)

ARGS = {"trial": "study", "treatment": "arm", "outcome": "y"}


def quiet_ipd(df, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return IPD(df, **{**ARGS, **kw})


# ----------------------------------------------------------------------------- columns


def test_misspelled_outcome_column_suggests_closest(frame):
    with pytest.raises(ColumnNotFoundError, match=r"column 'yy' \(given as outcome=\).*"
                       r"Did you mean 'y'\?"):
        IPD(frame, trial="study", treatment="arm", outcome="yy")


def test_misspelled_covariate_suggests_closest(frame):
    with pytest.raises(ColumnNotFoundError, match=r"'agee'.*covariates=.*Did you mean 'age'"):
        IPD(frame, **ARGS, covariates=["agee", "sex"])


def test_column_name_wrong_case_suggests_exact_name(frame):
    with pytest.raises(ColumnNotFoundError, match=r"'Study'.*Did you mean 'study'"):
        IPD(frame, trial="Study", treatment="arm", outcome="y")


def test_column_in_index_suggests_reset_index(frame):
    with pytest.raises(ColumnNotFoundError, match=r"'study' .*is an index level.*reset_index"):
        IPD(frame.set_index("study"), **ARGS)


def test_missing_column_lists_available(frame):
    with pytest.raises(ColumnNotFoundError, match=r"Available columns: 'pid', 'study'"):
        IPD(frame, trial="study", treatment="zzzzz", outcome="y")


def test_column_not_found_is_a_key_and_value_error(frame):
    with pytest.raises(KeyError):
        IPD(frame, trial="study", treatment="arm", outcome="nope")
    with pytest.raises(ValueError):
        IPD(frame, trial="study", treatment="arm", outcome="nope")


def test_same_column_for_two_roles(frame):
    with pytest.raises(ModelSpecificationError, match=r"'study' is given both as trial= and as "
                       r"treatment="):
        IPD(frame, trial="study", treatment="study", outcome="y")


def test_covariate_that_is_the_outcome(frame):
    with pytest.raises(ModelSpecificationError, match=r"covariates include 'y'.*outcome="):
        IPD(frame, **ARGS, covariates=["age", "y"])


def test_bad_missing_option(frame):
    with pytest.raises(ModelSpecificationError, match="missing must be 'complete-case' or"):
        IPD(frame, **ARGS, missing="drop")


def test_not_a_dataframe():
    with pytest.raises(DataError, match=r"must be a pandas DataFrame.*not ndarray"):
        IPD(np.zeros((3, 3)), **ARGS)


def test_empty_frame(frame):
    with pytest.raises(DataError, match=r"empty frame \(0 rows\)"):
        IPD(frame.iloc[:0], **ARGS)


# ----------------------------------------------------------------------------- outcome


def test_non_numeric_outcome_with_many_labels(frame):
    frame["y"] = np.array(["low", "mid", "high", "mid"] * 35)
    with pytest.raises(OutcomeError, match=r"outcome column 'y' is not numeric.*3 distinct"):
        IPD(frame, **ARGS)


def test_numeric_strings_outcome_suggests_to_numeric(frame_cont):
    frame_cont["y"] = frame_cont["y"].round(2).astype(str)
    with pytest.raises(OutcomeError, match=r"look numeric: convert with pd.to_numeric"):
        IPD(frame_cont, **ARGS)


def test_continuous_requested_for_text_outcome(frame):
    frame["y"] = np.where(frame["y"] == 1, "yes", "no")
    with pytest.raises(OutcomeError, match="is not numeric"):
        IPD(frame, **ARGS, outcome_type="continuous")


def test_yes_no_outcome_is_coded(frame):
    y01 = frame["y"].to_numpy()
    frame["y"] = np.where(y01 == 1, "Yes", "No")
    ipd = IPD(frame, **ARGS)
    assert ipd.outcome_type == "binary"
    np.testing.assert_array_equal(ipd.y, y01)
    assert ipd.outcome_coding == {"No": 0, "Yes": 1}


def test_true_false_outcome_is_coded(frame):
    y01 = frame["y"].to_numpy()
    frame["y"] = y01 == 1
    ipd = IPD(frame, **ARGS)
    assert ipd.outcome_type == "binary"
    np.testing.assert_array_equal(ipd.y, y01)


def test_negated_label_outcome_is_coded(frame):
    y01 = frame["y"].to_numpy()
    frame["y"] = np.where(y01 == 1, "relapse", "no relapse")
    ipd = IPD(frame, **ARGS)
    np.testing.assert_array_equal(ipd.y, y01)
    frame["y"] = np.where(y01 == 1, "relapse", "relapse-free")
    np.testing.assert_array_equal(IPD(frame, **ARGS).y, y01)


def test_ambiguous_labels_need_event(frame):
    y01 = frame["y"].to_numpy()
    frame["y"] = np.where(y01 == 1, "bad", "good")
    with pytest.raises(OutcomeError, match=r"labels 'bad', 'good'.*cannot tell which one is the "
                       r"event\. Pass event='bad'"):
        IPD(frame, **ARGS)
    np.testing.assert_array_equal(IPD(frame, **ARGS, event="bad").y, y01)
    np.testing.assert_array_equal(IPD(frame, **ARGS, event="good").y, 1 - y01)


def test_event_label_not_present(frame):
    frame["y"] = np.where(frame["y"] == 1, "bad", "good")
    with pytest.raises(OutcomeError, match=r"event='baad' is not one of the labels.*"
                       r"Did you mean 'bad'"):
        IPD(frame, **ARGS, event="baad")


def test_numeric_two_values_not_01_need_event(frame):
    frame["y"] = frame["y"] + 1
    with pytest.raises(OutcomeError, match=r"two values \(1, 2\) that are not coded 0/1.*"
                       r"Pass event=2.*outcome_type='continuous'"):
        IPD(frame, **ARGS)
    y = IPD(frame, **ARGS, event=2).y
    np.testing.assert_array_equal(y, (frame["y"] == 2).to_numpy())
    assert IPD(frame, **ARGS, outcome_type="continuous").outcome_type == "continuous"


def test_binary_requested_with_many_values(frame_cont):
    with pytest.raises(OutcomeError, match=r"outcome column 'y' is read as binary "
                       r"\(outcome_type='binary' or event= given\) but has 140 distinct values"):
        IPD(frame_cont, **ARGS, outcome_type="binary")


def test_bad_outcome_type(frame):
    with pytest.raises(ModelSpecificationError, match="outcome_type must be 'binary'"):
        IPD(frame, **ARGS, outcome_type="count")


def test_nan_outcome_is_an_error_not_a_silent_drop(frame_cont):
    frame_cont.loc[[4, 17], "y"] = np.nan
    with pytest.raises(OutcomeError, match=r"outcome column 'y' has missing values in 2 rows "
                       r"\(index 4, 17\).*dropna"):
        IPD(frame_cont, **ARGS)


def test_inf_outcome(frame_cont):
    frame_cont.loc[9, "y"] = np.inf
    with pytest.raises(OutcomeError, match=r"'y' has infinite values in 1 row \(index 9\)"):
        IPD(frame_cont, **ARGS)


# ----------------------------------------------------------------------------- keys


def test_nan_treatment(frame):
    frame.loc[[2, 3, 50], "arm"] = None
    with pytest.raises(MissingDataError, match=r"treatment column 'arm' has missing values in 3 "
                       r"rows \(index 2, 3, 50\)"):
        IPD(frame, **ARGS)


def test_nan_trial(frame):
    frame["study"] = frame["study"].str[1:].astype(float)
    frame.loc[7, "study"] = np.nan
    with pytest.raises(MissingDataError, match=r"trial column 'study' has missing values in 1 "
                       r"row \(index 7\)"):
        IPD(frame, **ARGS)


def test_inf_trial(frame):
    frame["study"] = frame["study"].str[1:].astype(float)
    frame.loc[7, "study"] = np.inf
    with pytest.raises(DataError, match=r"trial column 'study' has infinite values in 1 row"):
        IPD(frame, **ARGS)


def test_duplicate_patient_ids(frame):
    frame.loc[[1, 2], "pid"] = 0
    with pytest.raises(DataError, match=r"patient_id column 'pid' has 1 id\(s\) used for more "
                       r"than one patient.*0 \(trial 't1'\)"):
        IPD(frame, **ARGS, patient_id="pid")


def test_patient_ids_may_repeat_across_trials(frame):
    frame["pid"] = frame.groupby("study").cumcount()
    ipd = quiet_ipd(frame, patient_id="pid")
    assert ipd.patient_id_col == "pid"


def test_treatment_labels_differing_by_case_or_space(frame):
    frame.loc[frame["arm"] == "A", "arm"] = "Placebo"
    frame.loc[(frame["study"] == "t2") & (frame["arm"] == "Placebo"), "arm"] = "placebo "
    with pytest.raises(NetworkError, match=r"differ only by case or whitespace: 'Placebo' vs "
                       r"'placebo '.*normalize_labels=True"):
        IPD(frame, **ARGS)


def test_normalize_labels_merges(frame):
    frame.loc[frame["arm"] == "A", "arm"] = "Placebo"
    frame.loc[(frame["study"] == "t2") & (frame["arm"] == "Placebo"), "arm"] = "placebo "
    frame.loc[frame["arm"] == "B", "arm"] = "  drug  x "
    ipd = IPD(frame, **ARGS, normalize_labels=True)
    assert ipd.treatments == ["C", "D", "Placebo", "drug x"]
    assert IPD(frame, **ARGS, normalize_labels=True, reference="drug  X").reference == "drug x"
    assert ipd.reference == "Placebo"
    assert ipd.arms["t2"] == ["C", "Placebo", "drug x"]


def test_labels_not_stripped_by_default(frame):
    frame.loc[frame["arm"] == "B", "arm"] = " B"
    ipd = IPD(frame, **ARGS)
    assert " B" in ipd.treatments


def test_unknown_reference(frame):
    with pytest.raises(DataError, match=r"reference='a' is not a treatment label.*"
                       r"Did you mean 'A'"):
        IPD(frame, **ARGS, reference="a")


# ----------------------------------------------------------------------------- covariates


def test_missing_covariates_complete_case_with_report(frame):
    frame.loc[[0, 1, 45], "age"] = np.nan
    frame.loc[[1, 120], "sex"] = None
    with pytest.warns(DataWarning, match=r"complete-case analysis dropped 4 of 140 rows.*"
                      r"trial 't1': 2 of 40 \(missing age \(2\), sex \(1\)\)"):
        ipd = IPD(frame, **ARGS, covariates=["age", "sex"])
    assert len(ipd) == 136
    d = ipd.dropped.set_index("trial")
    assert d["n_dropped"].to_dict() == {"t1": 2, "t2": 1, "t3": 1}
    assert d.loc["t3", "reason"] == "missing sex (1)"
    assert (d["n_rows"] - d["n_dropped"] == d["n_kept"]).all()
    # missingness is reported on the raw input, before dropping
    m = ipd.missingness.set_index(["trial", "covariate"])["n_missing"]
    assert m[("t1", "age")] == 2 and m[("t1", "sex")] == 1 and m[("t3", "sex")] == 1
    assert ipd.data.index.equals(pd.RangeIndex(136))


def test_missing_covariates_error_option(frame):
    frame.loc[[0, 1, 45], "age"] = np.nan
    with pytest.raises(MissingDataError, match=r"covariates have missing values: 'age' \(3 "
                       r"rows\), in trial\(s\) 't1', 't2'"):
        IPD(frame, **ARGS, covariates=["age", "sex"], missing="error")


def test_all_rows_incomplete(frame):
    frame["age"] = np.nan
    with pytest.raises(MissingDataError, match="no complete case is left"):
        IPD(frame, **ARGS, covariates=["age"])


def test_inf_covariate(frame):
    frame.loc[3, "age"] = -np.inf
    with pytest.raises(DataError, match=r"covariate 'age' has infinite values in 1 row "
                       r"\(index 3\)"):
        IPD(frame, **ARGS, covariates=["age"])


def test_constant_covariate(frame):
    frame["country"] = "CH"
    with pytest.raises(DataError, match=r"covariate 'country' \(always 'CH'\) is constant.*"
                       r"Remove it from covariates"):
        IPD(frame, **ARGS, covariates=["age", "country"])


def test_covariate_constant_within_a_trial_is_fine(frame):
    frame["site"] = frame["study"].map({"t1": "eu", "t2": "us", "t3": "us"})
    ipd = quiet_ipd(frame, covariates=["site"])
    assert ipd.feature_names == ["site[us]"]


# ----------------------------------------------------------------------------- warnings


def test_single_arm_trial_kept_with_warning(frame):
    extra = frame[frame["study"] == "t1"].assign(study="cohort", arm="A")
    df = pd.concat([frame, extra], ignore_index=True)
    with pytest.warns(DataWarning, match=r"1 trial\(s\) have a single arm: 'cohort' \(A\)"):
        ipd = IPD(df, **ARGS)
    assert "cohort" in ipd.trials
    assert ipd.relative_effect_trials == ["t1", "t2", "t3"]


@pytest.mark.filterwarnings("ignore:binary outcome")
def test_small_arm_warning(frame):
    df = frame.drop(index=frame.index[(frame["study"] == "t3") & (frame["arm"] == "D")][1:])
    with pytest.warns(DataWarning, match=r"fewer than min_patients_per_arm=2 patients: trial "
                      r"'t3' arm 'D' \(n=1\)"):
        IPD(df, **ARGS)
    with pytest.warns(DataWarning, match=r"fewer than min_patients_per_arm=25"):
        IPD(frame, **ARGS, min_patients_per_arm=25)


def test_no_events_and_all_events_warning(frame):
    frame.loc[(frame["study"] == "t1") & (frame["arm"] == "B"), "y"] = 0
    frame.loc[(frame["study"] == "t3") & (frame["arm"] == "D"), "y"] = 1
    with pytest.warns(DataWarning, match=r"no events in trial 't1' arm 'B' \(0/20\); only "
                      r"events in trial 't3' arm 'D' \(20/20\)"):
        ipd = IPD(frame, **ARGS)
    assert len(ipd) == 140  # warned, not dropped


def test_disconnected_network_warns_by_default(frame):
    frame.loc[frame["study"] == "t3", "arm"] = frame["arm"].map({"C": "E", "D": "F"})
    with pytest.warns(DataWarning, match=r"network is disconnected: \{A, B, C\} \(trials t1, "
                      r"t2\) \| \{E, F\} \(trials t3\)"):
        ipd = IPD(frame, **ARGS)
    with pytest.raises(NetworkError, match=r"disconnected: 2 components \{A, B, C\}.*"
                       r"\| \{E, F\}"):
        ipd.network.check_connected()


def test_disconnected_network_error_when_required(frame):
    frame.loc[frame["study"] == "t3", "arm"] = frame["arm"].map({"C": "E", "D": "F"})
    with pytest.raises(NetworkError, match=r"components \{A, B, C\}"):
        IPD(frame, **ARGS, require_connected=True)


def test_clean_data_gives_no_warning(frame, ipd_args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        IPD(frame, **ipd_args)


def test_all_errors_are_ipdma_errors(frame):
    with pytest.raises(IPDMAError):
        IPD(frame, trial="study", treatment="arm", outcome="nope")

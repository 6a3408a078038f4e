"""Column types decided once (categorical=/ordered=), row numbers and dropped-row data."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ipdma.data import IPD, read_csv
from ipdma.errors import DataError, DataWarning


def _frame(n: int = 24) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"t": np.repeat(["T1", "T2", "T10"], n // 3),
                         "arm": np.tile(["P", "D"], n // 2),
                         "y": rng.normal(size=n),
                         "age": rng.integers(20, 80, n),
                         "grade": np.tile(["low", "mid", "high"], n // 3),
                         "stage": np.tile([1, 2, 3, 10], n // 4)})


def _ipd(df, **kw):
    return IPD(df, trial="t", treatment="arm", outcome="y", **kw)


def test_mostly_numeric_text_is_an_error_naming_values_and_rows():
    df = _frame().astype({"age": object})
    df.loc[[2, 16], "age"] = "abc"
    with pytest.raises(DataError, match=r"'age' is mostly numeric.*'abc'.*rows 3, 17"):
        _ipd(df, covariates=["age"])
    # declared categorical, it is one
    ipd = _ipd(df, covariates=["age"], categorical=["age"])
    assert ipd.covariate_kinds["age"] == "categorical"


def test_numbers_stored_as_text_are_not_silently_categorical():
    df = _frame().astype({"age": str})
    with pytest.raises(DataError, match="numbers stored as text"):
        _ipd(df, covariates=["age"])


def test_categorical_numeric_levels_in_natural_order():
    ipd = _ipd(_frame(), covariates=["stage"], categorical=["stage"])
    assert ipd.categorical_levels["stage"] == ["1", "2", "3", "10"]
    assert ipd.feature_names == ["stage[2]", "stage[3]", "stage[10]"]


def test_ordered_levels_in_the_given_order_and_unknown_values_rejected():
    ipd = _ipd(_frame(), covariates=["grade"], ordered={"grade": ["low", "mid", "high"]})
    assert ipd.categorical_levels["grade"] == ["low", "mid", "high"]
    assert ipd.data["grade"].cat.ordered
    with pytest.raises(DataError, match=r"'high'.*not among its declared levels.*rows 3, 6"):
        _ipd(_frame(), covariates=["grade"], ordered={"grade": ["low", "mid"]})


def test_row_number_and_dropped_rows_follow_the_input():
    df = _frame()
    df["age"] = df["age"].astype(float)
    df.loc[[1, 9, 10], "age"] = np.nan
    with pytest.warns(DataWarning, match="dropped 3 of 24"):
        ipd = _ipd(df, covariates=["age"])
    assert 2 not in ipd.row_number and ipd.row_number[:3].tolist() == [1, 3, 4]
    assert ipd.dropped_rows["row"].tolist() == [2, 10, 11]
    rep = ipd.drop_report()
    assert rep["n_input"] == 24 and rep["n_used"] == 21 and rep["by_column"] == {"age": 3}
    by = ipd.dropped_by_column.set_index("trial")["n_dropped"].to_dict()
    assert by == {"T1": 1, "T2": 2}
    sub = ipd.subset(trials="T2")
    assert (sub.row_number >= 9).all() and (sub.row_number <= 16).all()


def test_duplicate_rows_warn_without_patient_id():
    df = _frame()
    df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    with pytest.warns(DataWarning, match=r"1 row\(s\) are exact duplicates.*row 25"):
        _ipd(df)


def test_read_csv_na_convention_and_delimiters(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("t\tarm\tv\n1\tA\tN/A\n2\tB\tNA\n3\tC\t\n")
    df = read_csv(p)
    assert df["v"].tolist()[0] == "N/A" and df["v"].isna().tolist() == [False, True, True]
    assert read_csv(p, na_values=["N/A"])["v"].isna().all()
    q = tmp_path / "bad.csv"
    q.write_text("a;b;c\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(read_csv(q).columns) == ["a", "b", "c"]

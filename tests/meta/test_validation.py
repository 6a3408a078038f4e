"""Input validation: every error names the study / outcome / column at fault."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdma.errors import (
    BoundaryWarning,
    ColumnNotFoundError,
    ConvergenceError,
    DataError,
    ModelSpecificationError,
)
from ipdma.meta import fit_mvma, meta_analysis, mv_meta_analysis


def _ok(k=6, p=2, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(k, p))
    S = np.tile(np.eye(p) * 0.2 + 0.05, (k, 1, 1))
    return y, S, [f"trial {chr(65 + i)}" for i in range(k)]


def test_non_psd_within_study_covariance_names_study():
    y, S, names = _ok()
    S[3] = [[0.1, 0.5], [0.5, 0.1]]
    with pytest.raises(DataError, match=r"trial D.*not positive definite"):
        mv_meta_analysis(y, S, study_names=names)


def test_asymmetric_S_names_study():
    y, S, names = _ok()
    S[2, 0, 1] = 0.3
    with pytest.raises(DataError, match=r"trial C.*not symmetric"):
        mv_meta_analysis(y, S, study_names=names)


def test_mismatched_shapes():
    y, S, names = _ok()
    with pytest.raises(DataError, match=r"2 x 2|p x p|shape"):
        mv_meta_analysis(y, S[:, :1, :1], study_names=names)
    with pytest.raises(DataError, match="shape"):
        mv_meta_analysis(y, S[:4], study_names=names)
    with pytest.raises(DataError, match="differ in shape"):
        mv_meta_analysis(y, [np.eye(2)] * 5 + [np.eye(3)])
    with pytest.raises(DataError, match="rows"):
        mv_meta_analysis(y, S, np.ones((4, 1)))


def test_all_missing_outcomes_names_study():
    y, S, names = _ok()
    y[4] = np.nan
    with pytest.raises(DataError, match=r"trial E.*all outcomes missing"):
        mv_meta_analysis(y, S, study_names=names)


def test_outcome_missing_everywhere_named():
    y, S, names = _ok()
    y[:, 1] = np.nan
    with pytest.raises(DataError, match=r"'AL'.*every study"):
        mv_meta_analysis(y, S, study_names=names, outcome_names=["PD", "AL"])


def test_nan_in_S_for_observed_outcome():
    y, S, names = _ok()
    S[1, 1, 1] = np.nan
    with pytest.raises(DataError, match="trial B"):
        mv_meta_analysis(y, S, study_names=names)
    # ... but NaN in S for a missing outcome is fine
    y[1, 1] = np.nan
    mv_meta_analysis(y, S, study_names=names, method="fixed")


def test_fewer_studies_than_parameters():
    y, S, names = _ok(k=3)
    mods = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]])
    with pytest.raises(ModelSpecificationError, match=r"studies|coefficients|identifiable"):
        mv_meta_analysis(y, S, mods, study_names=names)


def test_bad_options():
    y, S, _ = _ok()
    with pytest.raises(ModelSpecificationError, match="method"):
        mv_meta_analysis(y, S, method="bayes")
    with pytest.raises(ModelSpecificationError, match="structure"):
        mv_meta_analysis(y, S, structure="toeplitz")
    with pytest.raises(ModelSpecificationError, match="method"):
        meta_analysis([1, 2, 3], [1, 1, 1], method="EB")
    with pytest.raises(ModelSpecificationError, match="level"):
        meta_analysis([1, 2, 3], [1, 1, 1], level=95)
    with pytest.raises(ModelSpecificationError, match="level"):
        mv_meta_analysis(y, S, level=95)


def test_convergence_failure_is_clear():
    y, S, _ = _ok(k=8, p=3, seed=2)
    # unequal within-study variances: with equal ones the (rank-2) moment start is
    # already the REML optimum, which the low-rank fit then accepts without iterating
    S = np.eye(3)[None] * (0.2 * (1 + np.arange(8) / 4))[:, None, None]
    with pytest.raises(ConvergenceError, match="did not converge"):
        fit_mvma(y, S, maxiter=1, gtol=1e-14)
    with pytest.warns(Warning):
        fit_mvma(y, S, maxiter=1, gtol=1e-14, on_failure="warn")


def test_boundary_warning_names_outcome():
    rng = np.random.default_rng(4)
    k = 12
    S = np.tile(np.diag([0.5, 0.5]), (k, 1, 1))
    y = np.column_stack([rng.normal(0, np.sqrt(0.5), k) * 0.3,     # under-dispersed: tau^2 = 0
                         rng.normal(0, np.sqrt(0.5 + 2.0), k)])
    with pytest.warns(BoundaryWarning, match="'flat'"):
        mv_meta_analysis(y, S, structure="diagonal", outcome_names=["flat", "het"])


def test_univariate_validation():
    with pytest.raises(DataError, match="study 'B'"):
        meta_analysis([0.1, np.nan, 0.3], [0.1, 0.1, 0.1], study_names=["A", "B", "C"])
    with pytest.raises(DataError, match=r"study 'C'.*not positive"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.0], study_names=["A", "B", "C"])
    with pytest.raises(DataError, match="one of each"):
        meta_analysis([0.1, 0.2, 0.3], [0.1, 0.1])
    df = pd.DataFrame({"y": [0.1, 0.2, 0.4, 0.3], "v": [0.1] * 4, "lat": [1, 2, 3, 4.0]})
    with pytest.raises(ColumnNotFoundError, match=r"'latt'.*Did you mean 'lat'"):
        meta_analysis("y", "v", "~ latt", data=df)
    with pytest.raises(ModelSpecificationError, match="additive"):
        meta_analysis("y", "v", "~ lat * y", data=df)
    with pytest.raises(ModelSpecificationError, match="studies"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], np.array([[1.0, 2.0], [3.0, 1.0]]))
    with pytest.warns(BoundaryWarning, match="tau\\^2 = 0"):
        meta_analysis([0.1, 0.1, 0.1, 0.1], [0.1, 0.2, 0.3, 0.1])


def test_formula_interface():
    df = pd.DataFrame({"y": [0.1, 0.5, 0.4, 0.9, 0.2, 0.7], "v": [0.05] * 6,
                       "lat": [1.0, 2, 3, 4, 5, 6], "arm": list("ababab")})
    res = meta_analysis("y", "v", "~ lat + arm", data=df, method="DL")
    assert list(res.coef.index) == ["intercept", "lat", "arm[b]"]
    res0 = meta_analysis("y", "v", "~ 0 + lat", data=df, method="FE")
    assert list(res0.coef.index) == ["lat"]
    res1 = meta_analysis("y", "v", "~ lat - 1", data=df, method="FE")
    assert np.allclose(res1.coef.values, res0.coef.values)


def test_mv_dataframe_and_formula_inputs():
    rng = np.random.default_rng(8)
    k = 10
    yv = rng.normal(size=(k, 2))
    y = pd.DataFrame(yv, columns=["PD", "AL"], index=[f"s{i}" for i in range(k)])
    S = [np.array([[0.1, 0.02], [0.02, 0.2]])] * k
    study = pd.DataFrame({"year": np.arange(k, dtype=float), "arm": list("ab" * 5)})
    res = mv_meta_analysis(y, S, "~ year + arm", data=study, method="ml")
    assert list(res.coef.index) == ["PD", "AL", "PD:year", "AL:year", "PD:arm[b]", "AL:arm[b]"]
    assert list(res.Psi.index) == ["PD", "AL"]
    assert res.blup()["study"].iloc[0] == "s0"
    pr = res.predict(pd.DataFrame({"year": [1.0, 2.0], "arm[b]": [0.0, 1.0]}))
    assert pr.shape == (4, 6)
    res2 = mv_meta_analysis(yv, np.stack(S), study[["year"]], method="ml")
    res1 = mv_meta_analysis(y, S, "~ year", data=study, method="ml")
    assert np.allclose(res1.coef.values, res2.coef.values, rtol=1e-8)

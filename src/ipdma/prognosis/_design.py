"""Covariate design for the prognostic model: column checks, one-hot coding of
categorical covariates (first level dropped, names ``"{col}[{level}]"`` as in
``ipdma.data.IPD.design_matrix``) and a JSON-serialisable spec to rebuild the
same columns on new data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import (
    DataError,
    MissingDataError,
    ModelSpecificationError,
    OutcomeError,
    column_not_found,
)

__all__ = ["DesignSpec", "check_binary_outcome", "check_columns"]


def development_mask(data: pd.DataFrame, development_rows: str, treatment: str | None,
                     control: object) -> np.ndarray:
    """Rows a baseline-risk model is developed on: all, or the control arm only
    (``development_rows="control"``, which needs the treatment column and the control
    label)."""
    dev = np.ones(len(data), bool)
    if development_rows == "control":
        if treatment is None:
            raise ModelSpecificationError("development_rows='control' needs treatment= "
                                          "(the treatment column)")
        labels = data[treatment].astype(str)
        if control is None:
            raise ModelSpecificationError(
                "development_rows='control' needs control= (the control arm label); "
                f"labels in {treatment!r}: {sorted(labels.unique())}")
        if str(control) not in set(labels):
            raise DataError(f"control label {control!r} not found in column {treatment!r} "
                            f"(labels: {sorted(labels.unique())})")
        dev = (labels == str(control)).to_numpy()
    return dev


def check_columns(data: pd.DataFrame, columns: Sequence[str], role: str) -> None:
    """Raise :class:`ColumnNotFoundError` naming the first absent column."""
    for col in columns:
        if col not in data.columns:
            raise column_not_found(col, data.columns, role)


def check_binary_outcome(y: pd.Series, name: str) -> np.ndarray:
    """0/1 float array from a binary outcome column, with clear errors."""
    if y.isna().any():
        raise MissingDataError(f"outcome column {name!r} has {int(y.isna().sum())} missing "
                               "values; drop those rows or use missing='complete-case'")
    if y.dtype == bool:
        return y.to_numpy(float)
    if not pd.api.types.is_numeric_dtype(y):
        raise OutcomeError(f"outcome column {name!r} must be coded 0/1 (found dtype {y.dtype}); "
                           "recode it, e.g. (df[col] == 'event').astype(int)")
    vals = set(np.unique(y.to_numpy(float)).tolist())
    if not vals <= {0.0, 1.0}:
        bad = sorted(vals - {0.0, 1.0})[:5]
        raise OutcomeError(f"outcome column {name!r} must be binary 0/1; found values {bad}")
    out = y.to_numpy(float)
    if out.sum() == 0:
        raise OutcomeError(f"outcome column {name!r} has no events (all 0) in the development "
                           "rows: a prognostic model cannot be fitted")
    if out.sum() == len(out):
        raise OutcomeError(f"outcome column {name!r} has no non-events (all 1) in the "
                           "development rows: a prognostic model cannot be fitted")
    return out


class DesignSpec:
    """How covariates become model columns (numeric as is, categorical one-hot)."""

    def __init__(self, covariates: Sequence[str], levels: dict[str, list] | None = None):
        self.covariates = list(covariates)
        self.levels = dict(levels or {})      # categorical column -> sorted levels

    @classmethod
    def from_data(cls, data: pd.DataFrame, covariates: Sequence[str]) -> DesignSpec:
        check_columns(data, covariates, "covariate")
        if len(set(covariates)) != len(covariates):
            raise DataError(f"duplicate covariate names in {list(covariates)}")
        levels = {}
        for col in covariates:
            s = data[col]
            if s.dtype == bool:
                continue
            if not pd.api.types.is_numeric_dtype(s):
                lev = sorted(pd.unique(s.dropna()).tolist(), key=str)
                if isinstance(s.dtype, pd.CategoricalDtype):
                    lev = [v for v in s.cat.categories if v in set(lev)]
                if len(lev) < 2:
                    raise DataError(f"categorical covariate {col!r} has a single level "
                                    f"({lev}); drop it from covariates")
                levels[col] = lev
        return cls(covariates, levels)

    @property
    def feature_names(self) -> list[str]:
        out = []
        for col in self.covariates:
            if col in self.levels:
                out.extend(f"{col}[{lev}]" for lev in self.levels[col][1:])
            else:
                out.append(col)
        return out

    def missing_mask(self, data: pd.DataFrame) -> np.ndarray:
        check_columns(data, self.covariates, "covariate")
        return data[self.covariates].isna().any(axis=1).to_numpy()

    def transform(self, data: pd.DataFrame, allow_missing: bool = False) -> np.ndarray:
        """Model matrix (no intercept) as float array; NaN kept if ``allow_missing``."""
        check_columns(data, self.covariates, "covariate")
        if not allow_missing:
            na = data[self.covariates].isna().sum()
            if na.any():
                cols = ", ".join(f"{c} ({int(k)})" for c, k in na.items() if k)
                raise MissingDataError(
                    f"missing covariate values in the data to score: {cols}. Impute them or "
                    "drop those rows first (the model cannot score incomplete rows).")
        blocks = []
        for col in self.covariates:
            s = data[col]
            if col in self.levels:
                lev = self.levels[col]
                known = s.isna() | s.isin(lev)
                if not known.all():
                    bad = pd.unique(s[~known])[:5].tolist()
                    raise DataError(f"covariate {col!r} has levels {bad} not seen when the "
                                    f"model was fitted (known: {lev})")
                vals = s.to_numpy(object)
                block = np.column_stack([(vals == lv).astype(float) for lv in lev[1:]])
                block[s.isna().to_numpy()] = np.nan
                blocks.append(block)
            else:
                try:
                    blocks.append(pd.to_numeric(s).to_numpy(float)[:, None])
                except (TypeError, ValueError) as exc:
                    raise DataError(f"covariate {col!r} is not numeric and was numeric when "
                                    "the model was fitted") from exc
        return np.hstack(blocks) if blocks else np.empty((len(data), 0))

    def to_dict(self) -> dict:
        return {"covariates": self.covariates,
                "levels": {k: [_jsonable(v) for v in lev] for k, lev in self.levels.items()}}

    @classmethod
    def from_dict(cls, d: dict) -> DesignSpec:
        return cls(d["covariates"], d.get("levels", {}))


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    return v

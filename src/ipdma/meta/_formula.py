"""A minimal, dependency-free formula parser for study-level moderators.

Only what meta-regression needs: ``"~ a + b"``, ``"~ 0 + a"`` / ``"~ a - 1"``
(no intercept), numeric columns used as they are and categorical columns
one-hot encoded with the first level dropped (names ``"col[level]"``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, ModelSpecificationError, column_not_found

__all__ = ["design_from_formula", "moderator_matrix"]


def _column(data: pd.DataFrame, name: str) -> pd.Series:
    if name not in data.columns:
        raise column_not_found(name, data.columns, "moderator")
    return data[name]


def design_from_formula(formula: str, data: pd.DataFrame) -> pd.DataFrame:
    """Build a moderator design matrix from a simple additive formula.

    Parameters
    ----------
    formula : str
        ``"~ a + b"``; ``"~ 1"`` is intercept only; ``"~ 0 + a"`` or ``"~ a - 1"``
        drops the intercept. Terms are column names of ``data``; interactions
        and transformations are not parsed (compute them as columns first).
    data : DataFrame
        One row per study.

    Returns
    -------
    DataFrame
        Columns ``intercept`` (unless dropped) and one column per numeric term or
        per non-reference level of a categorical term (``"col[level]"``).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lat": [10.0, 20.0, 30.0], "alloc": ["a", "b", "a"]})
    >>> list(design_from_formula("~ lat + alloc", df).columns)
    ['intercept', 'lat', 'alloc[b]']
    """
    if not isinstance(formula, str):
        raise ModelSpecificationError(f"formula must be a string like '~ x1 + x2', got {formula!r}")
    rhs = formula.strip()
    if "~" in rhs:
        lhs, rhs = rhs.split("~", 1)
        if lhs.strip():
            raise ModelSpecificationError(
                f"formula {formula!r}: give only the right-hand side, e.g. '~ x1 + x2' (the "
                "outcome is passed separately)"
            )
    for bad in ("*", ":", "(", ")", "^", "|"):
        if bad in rhs:
            raise ModelSpecificationError(
                f"formula {formula!r}: only additive terms 'a + b' are supported; compute "
                f"interactions or transformations ({bad!r}) as new columns first"
            )
    intercept = True
    terms: list[str] = []
    # split on + and -, keeping the sign
    tokens = rhs.replace("-", " - ").replace("+", " + ").split()
    sign = "+"
    for tok in tokens:
        if tok in "+-":
            sign = tok
            continue
        if tok in ("0", "1"):
            if tok == "0" or sign == "-":
                intercept = False
            continue
        if sign == "-":
            raise ModelSpecificationError(f"formula {formula!r}: only '- 1' may be subtracted")
        terms.append(tok)
    cols: dict[str, np.ndarray] = {}
    n = len(data)
    if intercept:
        cols["intercept"] = np.ones(n)
    for term in terms:
        s = _column(data, term)
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(float)
        if pd.api.types.is_numeric_dtype(s):
            cols[term] = s.to_numpy(dtype=float)
        else:
            cat = pd.Categorical(s)
            for level in cat.categories[1:]:
                cols[f"{term}[{level}]"] = (cat == level).astype(float)
    out = pd.DataFrame(cols, index=data.index)
    if out.shape[1] == 0:
        raise ModelSpecificationError(f"formula {formula!r} gives an empty design matrix")
    return out


def moderator_matrix(mods, k: int, data: pd.DataFrame | None, *, intercept: bool = True,
                     study_names=None) -> pd.DataFrame:
    """Turn ``mods`` (None, formula string, array or DataFrame) into a k x q design
    DataFrame. Arrays and DataFrames get an intercept column prepended unless
    ``intercept=False``."""
    if mods is None:
        return pd.DataFrame({"intercept": np.ones(k)})
    if isinstance(mods, str):
        if data is None:
            raise ModelSpecificationError(
                f"mods={mods!r} is a formula, so pass the study-level data frame as data=")
        X = design_from_formula(mods, data)
    else:
        if isinstance(mods, pd.Series):
            X = mods.to_frame()
        elif isinstance(mods, pd.DataFrame):
            X = mods.copy()
        else:
            arr = np.asarray(mods, dtype=float)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2:
                raise ModelSpecificationError(
                    f"mods must be a (k, q) array, got an array of shape {arr.shape}")
            names = [f"x{j + 1}" for j in range(arr.shape[1])] if arr.shape[1] > 1 else ["mod"]
            X = pd.DataFrame(arr, columns=names)
        X.columns = [str(c) for c in X.columns]
        if intercept:
            X.insert(0, "intercept", 1.0)
    if len(X) != k:
        raise DataError(f"mods has {len(X)} rows but there are {k} studies; give one row per study")
    Xv = X.to_numpy(dtype=float)
    bad = ~np.isfinite(Xv)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        who = f"study {study_names[i]!r}" if study_names is not None else f"study at position {i}"
        raise DataError(f"moderator {X.columns[j]!r} is missing or not finite for {who}; "
                        "impute it or drop the study")
    X = pd.DataFrame(Xv, columns=X.columns)
    if study_names is not None:
        X.index = list(study_names)
    return X

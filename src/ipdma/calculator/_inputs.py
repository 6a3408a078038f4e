"""Input metadata of a calculator page: one entry per covariate the clinician enters."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ColumnNotFoundError, ModelSpecificationError

__all__ = ["covariate_inputs"]


def _html_id(name: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-") or "input"
    out, k = base, 2
    while out in used:
        out, k = f"{base}-{k}", k + 1
    used.add(out)
    return out


def _num(v: Any) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def covariate_inputs(data: pd.DataFrame | None, columns: Sequence[str], *,
                     levels: Mapping[str, Sequence[Any]] | None = None,
                     units: Mapping[str, str] | None = None,
                     labels: Mapping[str, str] | None = None,
                     summaries: Sequence[Mapping[str, Any]] | None = None) -> list[dict]:
    """Input entries (type, unit, allowed values, development range, default) of ``columns``.

    Parameters
    ----------
    data : DataFrame or None
        Development data: numeric inputs get their range (min, max) and the median as
        default; categorical ones their levels and the mode.  Without data the inputs
        have no range and no default (the page asks for every value).
    columns : sequence of str
        Covariates, in the order of the page.
    levels : mapping, optional
        Levels of categorical covariates as the model coded them (the first is the
        reference level); a column listed here is categorical.  Other non-numeric
        columns take their sorted levels from ``data``.
    units, labels : mapping, optional
        Unit and display label per column.
    summaries : sequence of dict, optional
        Development-data summaries per column as :func:`ipdma.serialize.model_inputs`
        gives them (``name``, ``kind``, ``levels``, ``min``, ``max``, ``median``,
        ``mode``): used for the columns that ``data`` does not provide, e.g. for a model
        loaded from a model file, which keeps these summaries but no patient rows.

    Returns
    -------
    list of dict
        ``name``, ``id``, ``label``, ``type`` (``"numeric"``/``"categorical"``),
        ``unit``, ``min``, ``max``, ``default``, ``levels`` or ``allowed``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"age": [30, 40, 50], "sex": ["f", "m", "m"], "smoker": [0, 1, 0]})
    >>> [(i["name"], i["type"], i["default"]) for i in covariate_inputs(df, ["age", "sex",
    ...                                                                      "smoker"])]
    [('age', 'numeric', 40), ('sex', 'categorical', 'm'), ('smoker', 'numeric', 0)]
    >>> covariate_inputs(df, ["smoker"])[0]["allowed"]
    [0, 1]
    """
    levels = dict(levels or {})
    units = dict(units or {})
    labels = dict(labels or {})
    unknown = sorted(set(units) - set(columns)) + sorted(set(labels) - set(columns))
    if unknown:
        raise ModelSpecificationError(
            f"units/labels given for {unknown}, which are not inputs of this calculator "
            f"(inputs: {list(columns)})")
    summ_by = {str(e["name"]): e for e in (summaries or [])}
    used: set[str] = set()
    out = []
    for col in columns:
        entry: dict[str, Any] = {"name": str(col), "id": _html_id(col, used),
                                 "label": labels.get(col, str(col)), "unit": units.get(col, "")}
        s = None
        if data is not None:
            if col not in data.columns:
                raise ColumnNotFoundError(
                    f"covariate {col!r} is not a column of the development data given to the "
                    f"calculator (columns: {list(data.columns)[:12]})")
            s = data[col].dropna()
        summ = None if s is not None else summ_by.get(str(col))
        if summ is not None:
            out.append(_entry_from_summary(entry, summ, levels.get(col)))
            continue
        categorical = col in levels or (s is not None and not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)))
        if categorical:
            lev = list(levels[col]) if col in levels else sorted(pd.unique(s).tolist(), key=str)
            entry["type"] = "categorical"
            entry["levels"] = [str(v) for v in lev]
            default = None
            if s is not None and len(s):
                counts = s.astype(str).value_counts()
                top = counts[counts == counts.max()].index
                default = next(v for v in entry["levels"] if v in set(top))
            entry["default"] = default
        else:
            entry["type"] = "numeric"
            entry["min"] = entry["max"] = entry["default"] = None
            if s is not None and len(s):
                v = s.to_numpy(dtype=float)
                entry["min"], entry["max"] = _num(v.min()), _num(v.max())
                uniq = np.unique(v)
                if uniq.size <= 2 and np.all(uniq == np.round(uniq)):
                    entry["allowed"] = [_num(u) for u in uniq]
                    vals, cnt = np.unique(v, return_counts=True)
                    entry["default"] = _num(vals[np.argmax(cnt)])
                else:
                    # the median, to 4 significant digits (a default to edit, not an estimate)
                    entry["default"] = _num(float(f"{np.median(v):.4g}"))
        out.append(entry)
    return out


def _entry_from_summary(entry: dict, summ: Mapping[str, Any], levels=None) -> dict:
    """An input entry from a stored development-data summary (same rules as from the
    data: factor levels and the mode; 0/1 columns as allowed values and the mode;
    numeric range and the median to 4 significant digits)."""
    kind = summ.get("kind")
    if levels is not None or kind in ("categorical", "ordered"):
        lev = list(levels) if levels is not None else list(summ.get("levels") or [])
        entry["type"] = "categorical"
        entry["levels"] = [str(v) for v in lev]
        mode = summ.get("mode")
        entry["default"] = str(mode) if mode is not None and str(mode) in entry["levels"] \
            else None
        return entry
    entry["type"] = "numeric"
    lo, hi, med = summ.get("min"), summ.get("max"), summ.get("median")
    entry["min"] = None if lo is None else _num(lo)
    entry["max"] = None if hi is None else _num(hi)
    entry["default"] = None
    if kind == "binary" or (lo is not None and hi is not None and float(lo) == round(lo)
                            and float(hi) == round(hi) and hi - lo == 1
                            and summ.get("mode") is not None):
        entry["allowed"] = [_num(lo), _num(hi)] if lo is not None else [0, 1]
        entry["default"] = _num(summ["mode"]) if summ.get("mode") is not None else None
    elif med is not None:
        entry["default"] = _num(float(f"{float(med):.4g}"))
    return entry

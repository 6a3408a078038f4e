"""Input checks used by :class:`ipdma.data.IPD`.

Every function here either returns cleaned values or raises an
:mod:`ipdma.errors` class whose message names the column, trial or value at
fault and says how to fix it.  Nothing here loops over patients.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from ..errors import (
    ColumnNotFoundError,
    DataError,
    MissingDataError,
    ModelSpecificationError,
    NetworkError,
    OutcomeError,
    _norm_key,
    did_you_mean,
)

_MAX_SHOW = 5

# --------------------------------------------------------------------------- formatting


def fmt_list(items: Iterable[object], max_show: int = _MAX_SHOW, quote: bool = True) -> str:
    """``'a', 'b', 'c' (and 4 more)``."""
    items = list(items)
    shown = [repr(x) if quote else str(x) for x in items[:max_show]]
    more = f" (and {len(items) - max_show} more)" if len(items) > max_show else ""
    return ", ".join(shown) + more


def rows_text(mask: np.ndarray, index: pd.Index) -> str:
    """``'3 rows (index 4, 9, 12)'`` for the rows where ``mask`` is true."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    first = index[mask][:_MAX_SHOW].tolist()
    more = ", ..." if n > _MAX_SHOW else ""
    return f"{n} row{'s' if n != 1 else ''} (index {', '.join(map(repr, first))}{more})"




# --------------------------------------------------------------------------- arguments


def check_frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise DataError(
            f"data must be a pandas DataFrame with one row per patient, not "
            f"{type(data).__name__}; wrap it with pd.DataFrame(...) first."
        )
    if data.shape[0] == 0:
        raise DataError(
            "data is an empty frame (0 rows): IPD needs one row per patient. Check the file "
            "you read or the filter applied before building the IPD."
        )
    dup = data.columns[data.columns.duplicated()].unique().tolist()
    if dup:
        raise DataError(
            f"data has duplicated column names {fmt_list(dup)}; rename them so each column "
            "name is unique (e.g. df.columns = [...])."
        )
    return data


def check_column(data: pd.DataFrame, name: object, argument: str) -> None:
    """Raise :class:`ColumnNotFoundError` unless ``name`` is a column of ``data``."""
    if name is None or not isinstance(name, Hashable):
        raise ModelSpecificationError(
            f"{argument}= must be the name of a column of data, got {name!r}."
        )
    if name in data.columns:
        return
    cols = list(data.columns)
    if name in [n for n in data.index.names if n is not None]:
        raise ColumnNotFoundError(
            f"{name!r} (given as {argument}=) is an index level of the data, not a column; "
            "call data.reset_index() first."
        )
    raise ColumnNotFoundError(
        f"column {name!r} (given as {argument}=) is not in the data.{did_you_mean(name, cols)} "
        f"Available columns: {fmt_list(cols, max_show=12)}. Pass the exact column name."
    )


def as_covariate_list(covariates: str | Sequence[str] | None) -> list:
    if covariates is None:
        return []
    if isinstance(covariates, str):
        return [covariates]
    covs = list(covariates)
    dup = sorted({str(c) for c in covs if covs.count(c) > 1})
    if dup:
        raise ModelSpecificationError(
            f"covariates lists {fmt_list(dup)} more than once; give each covariate once."
        )
    return covs


def check_roles(trial: object, treatment: object, outcome: object, covariates: list,
                patient_id: object) -> None:
    roles = {"trial": trial, "treatment": treatment, "outcome": outcome}
    if patient_id is not None:
        roles["patient_id"] = patient_id
    seen: dict[object, str] = {}
    for role, col in roles.items():
        if col in seen:
            raise ModelSpecificationError(
                f"column {col!r} is given both as {seen[col]}= and as {role}=; each role needs "
                "its own column."
            )
        seen[col] = role
    clash = [c for c in covariates if c in seen]
    if clash:
        raise ModelSpecificationError(
            f"covariates include {fmt_list(clash)}, which is the "
            f"{', '.join(seen[c] + '=' for c in clash)} column; remove it from covariates."
        )


# --------------------------------------------------------------------------- key columns


def check_no_missing_key(s: pd.Series, argument: str, what: str) -> None:
    """Trial, treatment and patient-id columns must be complete and finite."""
    na = s.isna().to_numpy()
    if na.any():
        raise MissingDataError(
            f"{argument} column {s.name!r} has missing values in {rows_text(na, s.index)}: "
            f"every patient needs a {what}. Fill them in or drop those rows explicitly "
            f"(df.dropna(subset=[{s.name!r}]))."
        )
    if ptypes.is_float_dtype(s.dtype):
        inf = np.isinf(s.to_numpy())
        if inf.any():
            raise DataError(
                f"{argument} column {s.name!r} has infinite values in "
                f"{rows_text(inf, s.index)}; a {what} must be a finite label. Fix those rows."
            )


def as_labels(s: pd.Series) -> pd.Series:
    """Cast a label column to ``str`` (integer-valued floats lose their ``.0``)."""
    if ptypes.is_float_dtype(s.dtype):
        v = s.to_numpy(dtype=float)
        if np.all(np.mod(v, 1.0) == 0):
            s = s.astype(np.int64)
    return s.astype(str).astype(object)


def label_clashes(labels: pd.Series) -> list[list[str]]:
    """Groups of distinct labels that differ only by case or whitespace."""
    uniq = pd.Series(pd.unique(labels), dtype=object)
    keys = uniq.map(_norm_key)
    groups = uniq.groupby(keys.to_numpy()).agg(lambda g: sorted(g))
    return [g for g in groups if len(g) > 1]


def normalise_labels(labels: pd.Series) -> pd.Series:
    """Strip and collapse whitespace; merge labels differing only by case.

    Each group of case variants takes its most frequent spelling (ties: the
    first in sort order).
    """
    uniq = pd.unique(labels)
    strip_map = {x: re.sub(r"\s+", " ", x.strip()) for x in uniq}  # per label, not per patient
    stripped = labels.map(strip_map)
    counts = stripped.value_counts()
    table = pd.DataFrame({"label": counts.index, "n": counts.to_numpy()})
    table["key"] = table["label"].map(_norm_key)
    table = table.sort_values(["key", "n", "label"], ascending=[True, False, True])
    canonical = table.groupby("key", sort=False)["label"].first()
    mapping = dict(zip(table["label"], table["key"].map(canonical)))
    return stripped.map(mapping).astype(object)


def check_treatment_labels(labels: pd.Series, argument: str = "treatment") -> None:
    clashes = label_clashes(labels)
    if clashes:
        shown = "; ".join(" vs ".join(repr(x) for x in g) for g in clashes[:_MAX_SHOW])
        raise NetworkError(
            f"{argument} column {labels.name!r} has labels that differ only by case or "
            f"whitespace: {shown}. They would be treated as different treatments and split "
            "the network. Normalise them (e.g. df[col].str.strip().str.lower()) or pass "
            "normalize_labels=True to merge them."
        )


# --------------------------------------------------------------------------- outcome

#: Labels (compared case-insensitively, whitespace collapsed) read as "the event".
EVENT_LABELS = frozenset({
    "1", "1.0", "yes", "y", "true", "t", "event", "events", "positive", "pos", "+", "case",
    "present", "occurred", "dead", "died", "death",
})
#: Labels read as "no event".
NON_EVENT_LABELS = frozenset({
    "0", "0.0", "no", "n", "false", "f", "no event", "none", "negative", "neg", "-", "non-case",
    "absent", "alive", "censored",
})
_NEGATIONS = ("no ", "no-", "not ", "not-", "non ", "non-", "without ")
_NEG_SUFFIXES = ("-free", " free")


def _event_score(label: str, other: str) -> int:
    a, b = _norm_key(label), _norm_key(other)
    score = 0
    if a in EVENT_LABELS:
        score += 1
    if a in NON_EVENT_LABELS:
        score -= 1
    if any(a == p + b for p in _NEGATIONS) or any(a == b + s for s in _NEG_SUFFIXES):
        score -= 2
    if any(b == p + a for p in _NEGATIONS) or any(b == a + s for s in _NEG_SUFFIXES):
        score += 2
    return score


def code_binary_labels(labels: Sequence[str], event: object, col: object) -> str:
    """Return which of the (at most two) string ``labels`` is the event.

    Rule: ``event=`` if given; otherwise the label read as an event
    (:data:`EVENT_LABELS`, e.g. "yes", "true", "event", "positive"), or the
    label whose negation ("no relapse", "non-responder", "relapse-free") is the
    other one.  Anything else needs ``event=``.
    """
    labels = list(labels)
    if event is not None:
        hits = [lab for lab in labels if lab == str(event)]
        if not hits:
            hits = [lab for lab in labels if _norm_key(lab) == _norm_key(str(event))]
        if len(hits) != 1:
            raise OutcomeError(
                f"event={event!r} is not one of the labels of outcome column {col!r} "
                f"({fmt_list(labels)}).{did_you_mean(event, labels)} Pass the exact label that "
                "means 'the event happened'."
            )
        return hits[0]
    if len(labels) == 2:
        s0, s1 = _event_score(labels[0], labels[1]), _event_score(labels[1], labels[0])
        if s0 != s1:
            return labels[0] if s0 > s1 else labels[1]
    elif len(labels) == 1:
        key = _norm_key(labels[0])
        if key in EVENT_LABELS or key in NON_EVENT_LABELS:
            return labels[0]  # caller codes by membership
    raise OutcomeError(
        f"outcome column {col!r} has the labels {fmt_list(labels)} and ipdma cannot tell which "
        f"one is the event. Pass event={labels[0]!r} (the label coded 1) to IPD(...), or recode "
        "the column to 0/1."
    )


def code_outcome(s: pd.Series, outcome_type: str | None, event: object
                 ) -> tuple[pd.Series, str, dict | None]:
    """Validate the outcome; return (coded series, outcome type, label -> 0/1 coding).

    Binary outcomes are returned as int 0/1, continuous ones as float.
    Inference (``outcome_type=None``): bool, two text labels, numeric values
    all in {0, 1}, two integer values, or any values with ``event=`` given are
    binary; other numeric columns (including two non-integer values) are
    continuous.
    """
    col = s.name
    if outcome_type not in (None, "binary", "continuous"):
        raise ModelSpecificationError(
            f"outcome_type must be 'binary', 'continuous' or None (infer), not {outcome_type!r}."
        )
    na = s.isna().to_numpy()
    if na.any():
        raise OutcomeError(
            f"outcome column {col!r} has missing values in {rows_text(na, s.index)}. ipdma does "
            "not drop patients with a missing outcome silently: drop them explicitly "
            f"(df.dropna(subset=[{col!r}])) or impute the outcome first."
        )
    if ptypes.is_bool_dtype(s.dtype):
        if outcome_type == "continuous":
            return s.astype(float), "continuous", None
        if event is not None and str(event) not in ("True", "False"):
            raise OutcomeError(
                f"event={event!r} is not a value of the True/False outcome column {col!r}; "
                "pass event=True or event=False."
            )
        coded = s.astype(np.int64) if str(event) != "False" else (~s).astype(np.int64)
        return coded, "binary", {"True": int(str(event) != "False"),
                                 "False": int(str(event) == "False")}
    if ptypes.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype):
        v = s.to_numpy(dtype=float)
        inf = np.isinf(v)
        if inf.any():
            raise OutcomeError(
                f"outcome column {col!r} has infinite values in {rows_text(inf, s.index)}; "
                "fix or remove those rows."
            )
        uniq = np.unique(v)
        disp = np.unique(s.to_numpy()).tolist()  # values as the user wrote them
        zero_one = bool(np.isin(uniq, (0.0, 1.0)).all())
        if outcome_type is None:
            integer = bool(np.all(np.mod(uniq, 1.0) == 0))
            outcome_type = ("binary" if zero_one or (len(uniq) == 2 and integer)
                            or event is not None else "continuous")
        if outcome_type == "continuous":
            return s.astype(float), "continuous", None
        if len(uniq) > 2:
            raise OutcomeError(
                f"outcome column {col!r} is read as binary (outcome_type='binary' or event= "
                f"given) but has {len(uniq)} distinct "
                f"values ({fmt_list(disp)}); a binary outcome has two. Recode it to "
                "0/1 or use outcome_type='continuous'."
            )
        if event is not None:
            try:
                ev = float(event)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                ev = np.nan
            if not np.isin(ev, uniq):
                raise OutcomeError(
                    f"event={event!r} is not a value of outcome column {col!r} (values: "
                    f"{fmt_list(disp)}); pass the value that means 'the event happened'."
                )
            coded = (v == ev).astype(np.int64)
            return (pd.Series(coded, index=s.index, name=col), "binary",
                    {str(u): int(float(u) == ev) for u in disp})
        if not zero_one:
            raise OutcomeError(
                f"outcome column {col!r} has two values ({fmt_list(disp)}) that are not "
                f"coded 0/1, so it is read as binary but ipdma cannot tell which value is the "
                f"event. Pass event={disp[-1]!r} (the value meaning 'event'), recode to "
                "0/1, or pass outcome_type='continuous' if it is a measurement."
            )
        return pd.Series(v.astype(np.int64), index=s.index, name=col), "binary", None
    # non-numeric: strings, objects, categoricals
    labels_s = s.astype(str)
    uniq_l = sorted(pd.unique(labels_s))
    if outcome_type == "continuous" or len(uniq_l) > 2:
        conv = pd.to_numeric(s, errors="coerce")
        hint = (f" The values look numeric: convert with pd.to_numeric(df[{col!r}])."
                if conv.notna().all() else
                " Recode it to numbers, or to two labels for a binary outcome.")
        bad = conv.isna().to_numpy()
        if conv.notna().any() and bad.any():
            vals = sorted(set(s[bad].astype(str)))
            hint = (f" Its non-numeric values {fmt_list(vals)} are in "
                    f"{row_numbers_text(np.flatnonzero(bad) + 1)}: fix those cells." + hint)
        raise OutcomeError(
            f"outcome column {col!r} is not numeric (dtype {s.dtype}, {len(uniq_l)} distinct "
            f"values, e.g. {fmt_list(uniq_l, max_show=3)}), so it can be neither a continuous "
            f"outcome nor a two-label binary one.{hint}"
        )
    ev_label = code_binary_labels(uniq_l, event, col)
    if len(uniq_l) == 1 and event is None:
        one = int(_norm_key(ev_label) in EVENT_LABELS)
        return (pd.Series(np.full(len(s), one, dtype=np.int64), index=s.index, name=col),
                "binary", {ev_label: one})
    coded = (labels_s == ev_label).astype(np.int64)
    return coded.rename(col), "binary", {lab: int(lab == ev_label) for lab in uniq_l}


# --------------------------------------------------------------------------- covariates


def covariate_kind(s: pd.Series) -> str:
    """``"numeric"``, ``"bool"`` or ``"categorical"``."""
    if ptypes.is_bool_dtype(s.dtype):
        return "bool"
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "categorical"
    if ptypes.is_numeric_dtype(s.dtype):
        return "numeric"
    uniq = pd.unique(s.dropna())  # few distinct values: checking them is cheap
    if 0 < len(uniq) <= 2 and all(isinstance(x, (bool, np.bool_)) for x in uniq):
        return "bool"
    return "categorical"


def category_strings(s: pd.Series) -> pd.Series:
    """Values of a categorical covariate as ``str`` labels (levels use the same form)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        names = as_labels(pd.Series(cats)).tolist()
        if len(set(names)) == len(names):
            return s.cat.rename_categories(names).astype(object)
        return s.astype(object).map(str)
    return as_labels(s)


def category_levels(s: pd.Series) -> list[str]:
    """Levels of a categorical covariate, first = reference (dropped) level.

    A pandas ``Categorical`` keeps its category order (as an R factor does);
    other columns use the sorted labels.  Levels absent from ``s`` are dropped.
    """
    present = set(pd.unique(category_strings(s).dropna()))
    if isinstance(s.dtype, pd.CategoricalDtype):
        names = as_labels(pd.Series(s.dtype.categories)).tolist()
        return [c for c in names if c in present]
    return sorted(present)


def check_covariate_values(data: pd.DataFrame, covs: list, kinds: dict) -> None:
    for c in covs:
        if kinds[c] == "numeric" and ptypes.is_float_dtype(data[c].dtype):
            inf = np.isinf(data[c].to_numpy(dtype=float, na_value=np.nan))
            if inf.any():
                raise DataError(
                    f"covariate {c!r} has infinite values in {rows_text(inf, data.index)}; "
                    "fix them, or set them to NaN to treat them as missing."
                )


def check_not_constant(data: pd.DataFrame, covs: list, kinds: dict) -> None:
    const = [c for c in covs if data[c].nunique(dropna=True) < 2]
    if const:
        vals = [data[c].dropna().iloc[0] if data[c].notna().any() else np.nan for c in const]
        desc = ", ".join(f"{c!r} (always {v!r})" for c, v in zip(const, vals))
        raise DataError(
            f"covariate {desc} is constant across all trials (after removing incomplete rows), "
            "so it carries no information and makes the design matrix singular. Remove it "
            "from covariates."
        )


# --------------------------------------------------------------------------- column types


def row_numbers_text(rows: Sequence[int], max_show: int = 8) -> str:
    """``'rows 3, 17 and 40'`` from 1-based row numbers."""
    rows = [int(r) for r in rows]
    shown = ", ".join(map(str, rows[:max_show]))
    more = f" (and {len(rows) - max_show} more)" if len(rows) > max_show else ""
    return f"row{'s' if len(rows) != 1 else ''} {shown}{more}"


def numeric_like(values: Iterable[object]) -> np.ndarray:
    """Which of ``values`` (distinct cells of a text column) read as numbers."""
    vals = pd.Series(list(values), dtype=object)
    conv = pd.to_numeric(vals.map(lambda x: str(x).strip()), errors="coerce")
    return conv.notna().to_numpy()


def check_text_covariate(s: pd.Series, row_number: np.ndarray, argument: str = "covariates"
                         ) -> None:
    """A text covariate not declared categorical must be clearly non-numeric.

    A column that is mostly numeric with a few non-numeric cells (``abc`` in an
    age column) is an error naming the column, the values and their 1-based row
    numbers, not a categorical variable with one level per number.
    """
    present = s.dropna()
    if present.empty:
        return
    uniq = pd.unique(present)
    num = numeric_like(uniq)
    if not num.any():
        return  # clearly non-numeric: a categorical covariate
    bad_vals = [v for v, ok in zip(uniq, num) if not ok]
    if not bad_vals:
        raise DataError(
            f"covariate {s.name!r} holds numbers stored as text (e.g. {fmt_list(uniq[:3])}); "
            "convert it with pd.to_numeric, or declare it categorical "
            f"(categorical=[{s.name!r}]).")
    bad = present.isin(bad_vals)
    n_num = int((~bad).sum())
    rows = row_number[s.index.get_indexer(present.index[bad.to_numpy()])]
    what = ("is mostly numeric" if n_num >= bad.sum() else "mixes numbers and text")
    raise DataError(
        f"covariate {s.name!r} {what} ({n_num} numeric of {len(present)} non-missing values) "
        f"but has non-numeric values {fmt_list(bad_vals)} in {row_numbers_text(rows)}. Fix "
        "those cells, mark such values as missing (na_values=[...] when reading the file), or "
        f"declare the column categorical (categorical=[{s.name!r}]).")


def natural_key(label: object) -> tuple:
    """Sort key ordering ``'T2'`` before ``'T10'`` and numbers numerically."""
    parts = re.split(r"(\d+(?:\.\d+)?)", str(label))
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p)


def natural_sorted(labels: Iterable[object]) -> list:
    """``labels`` in natural order (``T1, T2, T10``)."""
    return sorted(labels, key=natural_key)

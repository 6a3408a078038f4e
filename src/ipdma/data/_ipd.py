"""The IPD container: validated individual participant data from several trials."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from .._base import Summary
from ..errors import ColumnNotFoundError, DataError, DataWarning, MissingDataError
from ._network import Network
from ._validation import (
    _norm_key,
    as_covariate_list,
    as_labels,
    category_levels,
    category_strings,
    check_column,
    check_covariate_values,
    check_frame,
    check_no_missing_key,
    check_not_constant,
    check_roles,
    check_text_covariate,
    check_treatment_labels,
    code_outcome,
    covariate_kind,
    did_you_mean,
    fmt_list,
    natural_sorted,
    normalise_labels,
    row_numbers_text,
)

__all__ = ["IPD", "choose_reference"]

# Control-like treatment labels, in order of priority (matched case-insensitively).
_CONTROL_PATTERNS = (
    r"placebo|\bpbo\b",
    r"\bsham\b",
    r"usual care|standard care|standard of care|\bsoc\b|treatment as usual|\btau\b",
    r"\bcontrol\b",
    r"no treatment|untreated|\bvehicle\b|wait(ing)?[ -]?list",
    r"^(0|false|no|none)$",
)


def choose_reference(treatments: Sequence[str], arms: dict[str, list[str]],
                     requested: str | None = None) -> str:
    """The reference treatment of a network.

    Rule: ``requested`` if given; else the first pattern of a list of control
    labels that matches some treatment (case-insensitive, in this priority:
    placebo/PBO, sham, usual/standard care/SoC/treatment as usual, control,
    no treatment/untreated/vehicle/waiting list, and finally the labels
    ``0``/``false``/``no``/``none``); among several matches, and when nothing
    matches, the treatment in the most trials, ties broken by sort order.

    Examples
    --------
    >>> from ipdma.data import choose_reference
    >>> arms = {"t1": ["A", "Placebo"], "t2": ["A", "B"], "t3": ["B", "C"]}
    >>> choose_reference(["A", "B", "C", "Placebo"], arms)  # a control-like label
    'Placebo'
    >>> choose_reference(["A", "B", "C"], {"t1": ["A", "B"], "t2": ["B", "C"]})  # most trials
    'B'
    >>> choose_reference(["A", "B", "C"], {"t1": ["A", "B"], "t2": ["B", "C"]}, requested="C")
    'C'
    """
    if requested is not None:
        if str(requested) not in treatments:
            raise DataError(
                f"reference={requested!r} is not a treatment label; the treatments are "
                f"{fmt_list(treatments, max_show=12)}.{did_you_mean(requested, treatments)} "
                "Pass one of them."
            )
        return str(requested)
    n_trials = {t: 0 for t in treatments}
    for tr in arms.values():
        for a in tr:
            n_trials[a] += 1

    def best(cands: Iterable[str]) -> str:
        return sorted(cands, key=lambda t: (-n_trials[t], t))[0]

    for pat in _CONTROL_PATTERNS:
        hits = [t for t in treatments if re.search(pat, t.strip(), flags=re.IGNORECASE)]
        if hits:
            return best(hits)
    return best(treatments)



def outcome_summary(groups, outcome_type: str) -> pd.DataFrame:
    """Patients and events/risk (binary) or mean/sd (continuous) per group of a
    grouped outcome Series."""
    out = pd.DataFrame({"n": groups.size().astype(np.int64)})
    if outcome_type == "binary":
        out["events"] = groups.sum().astype(np.int64)
        out["risk"] = groups.mean()
    else:
        out["mean"] = groups.mean()
        out["sd"] = groups.std(ddof=1)
    return out

def ptypes_is_numeric_or_bool(s: pd.Series) -> bool:
    """Numeric, bool or pandas-categorical columns need no text check."""
    from pandas.api import types as ptypes

    return (ptypes.is_numeric_dtype(s.dtype) or ptypes.is_bool_dtype(s.dtype)
            or isinstance(s.dtype, pd.CategoricalDtype))


class IPD:
    """Individual participant data from several randomized trials.

    Validates a patient-level DataFrame once, so that every method downstream
    can rely on complete, finite, consistently labelled data.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.  Other columns are kept (aligned) in ``ipd.data``.
    trial, treatment, outcome : str
        Column names.  Trial and treatment labels are cast to ``str``
        (integer-valued floats such as ``1.0`` become ``"1"``).
    covariates : sequence of str, optional
        Patient-level covariates.  Numeric columns are used as they are, bool
        columns as 0/1, anything else (strings, pandas Categorical) as a
        categorical covariate, one-hot encoded by :meth:`design_matrix`.
    patient_id : str, optional
        Patient identifier, unique within each trial (ids may repeat across
        trials, as when each trial numbers its patients 1..n).
    outcome_type : {"binary", "continuous", "survival"}, optional
        ``"survival"`` (set automatically by ``time=``): the outcome is a time to
        event, given by ``time=`` and ``event=`` (the event column).  Inferred when None: bool columns, two text labels, 0/1 values, two
        distinct integer values (e.g. 1/2) or any column with ``event=`` given
        are binary; other numeric columns are continuous.
    reference : str, optional
        Reference treatment.  When None it is chosen by
        :func:`choose_reference`: a placebo/sham/usual-care/control-like label,
        else the treatment in the most trials (ties: first in sort order).
    missing : {"complete-case", "error"}
        Missing covariate values: drop those rows (reported per trial in
        :attr:`dropped` and by a :class:`~ipdma.errors.DataWarning`), or raise
        :class:`~ipdma.errors.MissingDataError`.  Missing outcome, treatment or
        trial values are always an error.
    event : optional
        For a binary outcome, the label (or value) meaning "the event happened",
        coded 1.  Needed only when the labels are ambiguous.  Without it, 0/1
        and True/False are used as they are, and of two text labels the one
        read as an event (yes, true, event, positive, ...) or whose negation is
        the other label ("relapse" vs "no relapse", "relapse-free") is coded 1.
    normalize_labels : bool, default False
        Strip and collapse whitespace in treatment labels and merge labels that
        differ only by case (each group takes its most frequent spelling).
        When False such labels raise :class:`~ipdma.errors.NetworkError`.
    require_connected : bool, default False
        Raise :class:`~ipdma.errors.NetworkError` when the treatment network is
        disconnected.  By default a :class:`~ipdma.errors.DataWarning` lists the
        components (prognostic models do not need a connected network; methods
        that do call ``ipd.network.check_connected()``).
    min_patients_per_arm : int, default 2
        Arms with fewer patients give a :class:`~ipdma.errors.DataWarning`
        (a single patient has no within-arm variability).
    categorical : sequence of str, optional
        Covariates to treat as categorical (unordered factors), numeric-looking
        or not; levels in natural order (``T2`` before ``T10``), first = reference.
        Column types are decided here, once: an undeclared text covariate must
        be clearly non-numeric; one that is mostly numeric with a few text cells
        (``abc`` in an age column) raises :class:`~ipdma.errors.DataError`
        naming the values and their 1-based row numbers.
    ordered : dict of str to sequence, or sequence of str, optional
        Ordered categorical covariates: ``{"grade": ["low", "mid", "high"]}``
        (level order given; a value outside it is an error) or a list of names
        (natural order).
    time : str, optional
        Follow-up time column of a time-to-event outcome (> 0; missing, zero or
        negative times raise).  With ``time=``, ``event=`` names the event
        indicator column (0/1, bool or two labels such as dead/alive) -- or pass
        ``outcome=`` for that column and ``event=`` for its event label.  A trial
        arm without events raises :class:`~ipdma.errors.OutcomeError`.

    Notes
    -----
    Problems that can occur in legitimate data give a
    :class:`~ipdma.errors.DataWarning` rather than an error, because an error
    would block a valid analysis: single-arm trials (kept for prognostic
    models, left out of :attr:`relative_effect_trials`), arms smaller than
    ``min_patients_per_arm``, and, for binary outcomes, arms with no events or
    only events.  Unusable input raises an :class:`~ipdma.errors.IPDMAError`
    naming the column, trial or value at fault: unknown columns, missing or
    infinite outcome/treatment/trial values, outcomes that are neither numeric
    nor two-label binary, duplicated patient ids, constant covariates and an
    empty frame.

    Attributes
    ----------
    data : pandas.DataFrame
        Cleaned data: complete cases, outcome coded 0/1 when binary, labels as
        ``str``, original column names, a fresh RangeIndex.
    trials, treatments : list of str
        Sorted labels (plain string sort).
    arms : dict of str to list of str
        Trial -> sorted treatments of its arms.
    reference : str
        Reference treatment.
    outcome_type : {"binary", "continuous"}
    outcome_coding : dict or None
        Original outcome label -> 0/1 when the outcome was recoded.
    y, treatment, trial : numpy.ndarray
        Outcome (float), treatment and trial labels (object arrays of str),
        aligned with ``data``.
    dropped : pandas.DataFrame
        Per trial: ``n_rows`` in the input, ``n_dropped``, ``n_kept`` and the
        ``reason`` (covariates with missing values and their counts).
    row_number : numpy.ndarray of int
        1-based position in the input of each row of :attr:`data` (the data row
        of the file, header not counted), to link outputs back to patients.
    dropped_rows : pandas.DataFrame
        One row per input row left out: ``row`` (1-based), ``trial`` and the
        covariates ``missing`` in it; :attr:`dropped_by_column` and
        :meth:`drop_report` summarise it.
    missingness : pandas.DataFrame
        Missing covariate values per trial in the input, before complete-case
        dropping: ``trial``, ``covariate``, ``n_missing``, ``n_rows``,
        ``prop_missing``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "study": ["s1"] * 4 + ["s2"] * 4,
    ...     "arm": ["placebo", "drug"] * 4,
    ...     "relapse": [0, 1, 1, 0, 0, 0, 1, 1],
    ...     "age": [50, 61, 47, 55, 38, 70, 64, 59],
    ...     "sex": ["f", "m", "m", "f", "f", "f", "m", "m"],
    ... })
    >>> ipd = IPD(df, trial="study", treatment="arm", outcome="relapse",
    ...           covariates=["age", "sex"])
    >>> ipd.outcome_type, ipd.reference, ipd.feature_names
    ('binary', 'placebo', ['age', 'sex[m]'])
    >>> ipd.binary_treatment().tolist()
    [0, 1, 0, 1, 0, 1, 0, 1]
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        trial: str,
        treatment: str,
        outcome: str | None = None,
        covariates: Sequence[str] | None = None,
        patient_id: str | None = None,
        outcome_type: Literal["binary", "continuous", "survival"] | None = None,
        reference: str | None = None,
        missing: Literal["complete-case", "error"] = "complete-case",
        event: object = None,
        normalize_labels: bool = False,
        require_connected: bool = False,
        min_patients_per_arm: int = 2,
        categorical: Sequence[str] | None = None,
        ordered: Mapping[str, Sequence[object]] | Sequence[str] | None = None,
        time: str | None = None,
    ) -> None:
        from ..errors import ModelSpecificationError

        data = check_frame(data)
        surv_label = None
        if time is not None or outcome_type == "survival":
            # time to event: event= names the event column (outcome= may name it instead,
            # with event= then the label meaning "event")
            if time is None:
                raise ModelSpecificationError(
                    "outcome_type='survival' needs time= (the follow-up time column) and "
                    "event= (the event indicator column).")
            if outcome is None:
                if not isinstance(event, str):
                    raise ModelSpecificationError(
                        "time= needs event= naming the event indicator column (1 = event, "
                        "0 = censored), e.g. IPD(df, ..., time='T', event='E').")
                outcome = event
            else:
                surv_label = event
            outcome_type = "survival"
            if time == outcome:
                raise ModelSpecificationError(f"column {time!r} is given as both time= and "
                                              "event=; each role needs its own column.")
        elif outcome is None:
            raise ModelSpecificationError("outcome= (the outcome column) is required; for a "
                                          "time-to-event outcome pass time= and event=.")
        if missing not in ("complete-case", "error"):
            raise ModelSpecificationError(
                f"missing must be 'complete-case' or 'error', not {missing!r}.")
        covs = as_covariate_list(covariates)
        check_roles(trial, treatment, outcome, covs, patient_id)
        check_column(data, trial, "trial")
        check_column(data, treatment, "treatment")
        check_column(data, outcome, "event" if outcome_type == "survival" else "outcome")
        if time is not None:
            check_column(data, time, "time")
            if time in (trial, treatment, patient_id) or time in covs:
                raise ModelSpecificationError(f"column {time!r} is given as time= and in "
                                              "another role; each role needs its own column.")
        for c in covs:
            check_column(data, c, "covariates")
        if patient_id is not None:
            check_column(data, patient_id, "patient_id")

        notes: list[str] = []
        df = data.copy()
        row_number = np.arange(1, len(df) + 1, dtype=np.int64)
        declared = self._declared_categories(df, covs, categorical, ordered, row_number)
        check_no_missing_key(df[trial], "trial", "trial label")
        check_no_missing_key(df[treatment], "treatment", "treatment label")
        df[trial] = as_labels(df[trial])
        df[treatment] = as_labels(df[treatment])
        if normalize_labels:
            df[treatment] = normalise_labels(df[treatment])
            if reference is not None:  # may be spelled like one of the merged variants
                same = [t for t in pd.unique(df[treatment])
                        if _norm_key(t) == _norm_key(str(reference))]
                if len(same) == 1:
                    reference = same[0]
        else:
            check_treatment_labels(df[treatment])
        if outcome_type == "survival":
            from ..survival._outcome import check_time, code_event

            df[time] = check_time(df[time], time)
            ev, coding = code_event(df[outcome], outcome, surv_label)
            df[outcome] = ev.astype(np.int64)
            otype = "survival"
        else:
            coded, otype, coding = code_outcome(df[outcome], outcome_type, event)
            df[outcome] = coded
        if patient_id is not None:
            self._check_patient_ids(df, trial, patient_id)
        else:
            dup_note = self._duplicate_rows(data, row_number)
            if dup_note:
                notes.append(dup_note)

        for c, cat in declared.items():
            df[c] = cat
        for c in covs:
            if c not in declared and not ptypes_is_numeric_or_bool(df[c]):
                check_text_covariate(df[c], row_number)
        kinds = {c: covariate_kind(df[c]) for c in covs}
        check_covariate_values(df, covs, kinds)
        missingness = self._raw_missingness(df, trial, covs)
        df["__ipdma_row__"] = row_number
        df, dropped, drop_note = self._complete_cases(df, trial, covs, missing)
        self.row_number = df.pop("__ipdma_row__").to_numpy(dtype=np.int64)
        self.dropped_rows = self._dropped_rows(data, trial, covs, row_number,
                                               set(self.row_number.tolist()))
        if drop_note:
            notes.append(drop_note)
        check_not_constant(df, covs, kinds)
        levels = {c: category_levels(df[c]) for c in covs if kinds[c] == "categorical"}

        self.trial_col = trial
        self.treatment_col = treatment
        self.outcome_col = outcome
        self.time_col = time
        self.covariate_cols = covs
        self.patient_id_col = patient_id
        self.outcome_type = otype
        self.outcome_coding = coding
        self.covariate_kinds = kinds
        self.categorical_levels = levels
        self.min_patients_per_arm = int(min_patients_per_arm)
        self.dropped = dropped
        self.missingness = missingness
        self._setup(df.reset_index(drop=True), reference)

        notes.extend(self._arm_checks())
        if not self.network.is_connected:
            if require_connected:
                self.network.check_connected()
            notes.append(
                f"the treatment network is disconnected: {self.network.components_text()}. "
                "Relative effects across components are not estimable; methods that need them "
                "raise NetworkError (ipd.network.check_connected()). Pass require_connected=True "
                "to make this an error here."
            )
        for note in notes:
            warnings.warn(note, DataWarning, stacklevel=2)

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _check_patient_ids(df: pd.DataFrame, trial: str, pid: str) -> None:
        check_no_missing_key(df[pid], "patient_id", "patient id")
        dup = df.duplicated(subset=[trial, pid], keep=False).to_numpy()
        if dup.any():
            ex = df.loc[dup, [trial, pid]].drop_duplicates().head(5)
            shown = ", ".join(f"{p!r} (trial {t!r})" for t, p in ex.itertuples(index=False))
            n = int(df.loc[dup, [trial, pid]].drop_duplicates().shape[0])
            raise DataError(
                f"patient_id column {pid!r} has {n} id(s) used for more than one patient in the "
                f"same trial, e.g. {shown}. Each patient must have one row: remove duplicated "
                "rows (df.drop_duplicates()) or fix the ids."
            )

    @staticmethod
    def _declared_categories(df: pd.DataFrame, covs: list, categorical, ordered,
                             row_number: np.ndarray) -> dict[str, pd.Categorical]:
        """Covariates declared categorical (``categorical=``) or ordered (``ordered=``),
        as pandas Categoricals (levels: natural order, or the order given)."""
        from ..errors import ModelSpecificationError

        cat = as_covariate_list(categorical)
        if ordered is None:
            ordd: dict = {}
        elif isinstance(ordered, Mapping):
            ordd = {c: (None if v is None else [str(x) for x in v]) for c, v in ordered.items()}
        else:
            ordd = {c: None for c in as_covariate_list(ordered)}
        out: dict[str, pd.Categorical] = {}
        for arg, names in (("categorical", cat), ("ordered", list(ordd))):
            bad = [c for c in names if c not in covs]
            if bad:
                raise ModelSpecificationError(
                    f"{arg}= names {fmt_list(bad)}, which is not among the covariates "
                    f"{fmt_list(covs, max_show=12)}; add it to covariates or remove it.")
        for c in dict.fromkeys([*cat, *ordd]):
            nn = df[c].notna()
            labels = pd.Series(np.nan, index=df.index, dtype=object)
            labels[nn] = category_strings(df.loc[nn, c]).to_numpy(dtype=object)
            present = natural_sorted(pd.unique(labels.dropna()))
            levels = ordd.get(c)
            if levels is None:
                levels = present
            else:
                dup = sorted({lv for lv in levels if levels.count(lv) > 1})
                if dup:
                    raise ModelSpecificationError(
                        f"the level order of {c!r} lists {fmt_list(dup)} more than once")
                unknown = [v for v in present if v not in set(levels)]
                if unknown:
                    hit = labels.isin(unknown).to_numpy()
                    raise DataError(
                        f"covariate {c!r} has values {fmt_list(unknown)} that are not among "
                        f"its declared levels {fmt_list(levels, max_show=12)}, in "
                        f"{row_numbers_text(row_number[hit])}; add them to the level order "
                        "or fix those cells.")
            out[c] = pd.Categorical(labels, categories=levels, ordered=c in ordd)
        return out

    @staticmethod
    def _duplicate_rows(data: pd.DataFrame, row_number: np.ndarray) -> str | None:
        """A note when rows repeat exactly (there is no patient id to tell patients apart)."""
        try:
            dup = data.duplicated(keep="first").to_numpy()
        except TypeError:  # unhashable cells: nothing sensible to compare
            return None
        if not dup.any():
            return None
        return (f"{int(dup.sum())} row(s) are exact duplicates of an earlier row "
                f"({row_numbers_text(row_number[dup])}); without a patient id ipdma cannot "
                "tell whether they are distinct patients. They are kept: remove repeated rows, "
                "or give patient_id= to check ids.")

    @staticmethod
    def _dropped_rows(data: pd.DataFrame, trial: str, covs: list, row_number: np.ndarray,
                      kept: set) -> pd.DataFrame:
        """One row per dropped input row: its 1-based row number, trial and the
        covariates missing in it."""
        drop = ~np.isin(row_number, list(kept))
        sub = data.loc[drop]
        missing = (sub[covs].isna().apply(lambda r: ",".join(map(str, r.index[r.to_numpy()])),
                                          axis=1) if covs and len(sub) else
                   pd.Series([""] * len(sub), index=sub.index, dtype=object))
        return pd.DataFrame({"row": row_number[drop],
                             "trial": as_labels(sub[trial]).to_numpy() if len(sub) else [],
                             "missing": missing.to_numpy(dtype=object)})

    @property
    def dropped_by_column(self) -> pd.DataFrame:
        """Dropped rows per trial and covariate: ``trial``, ``column``, ``n_dropped``
        (rows dropped with that covariate missing; a row missing two covariates counts
        under both)."""
        rows = []
        for t, miss in zip(self.dropped_rows["trial"], self.dropped_rows["missing"]):
            rows.extend((t, c) for c in str(miss).split(",") if c)
        long = pd.DataFrame(rows, columns=["trial", "column"])
        out = long.groupby(["trial", "column"], sort=True).size().rename("n_dropped")
        out = out.reset_index()
        out["n_dropped"] = out["n_dropped"].astype(np.int64)
        return out

    def drop_report(self) -> dict:
        """Rows left out of the analysis, as data (for ``--json`` and reports):
        ``n_input``, ``n_used``, ``n_dropped``, ``by_column`` (covariate -> rows),
        ``by_trial`` (per-trial table records) and ``rows`` (1-based input row numbers).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": ["a"] * 4 + ["b"] * 4, "trt": ["P", "D"] * 4,
        ...                    "y": [1.0, 2, 3, 4, 5, 6, 7, 8],
        ...                    "x": [1.0, None, 3, 4, 5, 6, 2, None]})
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     ipd = IPD(df, trial="t", treatment="trt", outcome="y", covariates=["x"])
        >>> rep = ipd.drop_report()
        >>> rep["n_dropped"], rep["by_column"], rep["rows"]
        (2, {'x': 2}, [2, 8])
        """
        byc = self.dropped_by_column.groupby("column", sort=True)["n_dropped"].sum()
        n_drop = len(self.dropped_rows)
        return {"n_input": int(self.n_patients + n_drop), "n_used": int(self.n_patients),
                "n_dropped": n_drop,
                "by_column": {str(k): int(v) for k, v in byc.items()},
                "by_trial": [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                             for r in self.dropped.to_dict(orient="records")],
                "rows": [int(r) for r in self.dropped_rows["row"]]}

    @staticmethod
    def _raw_missingness(df: pd.DataFrame, trial: str, covs: list) -> pd.DataFrame:
        cols = ["trial", "covariate", "n_missing", "n_rows", "prop_missing"]
        if not covs:
            return pd.DataFrame(columns=cols)
        na = df[covs].isna().groupby(df[trial], sort=True).sum()
        n = df.groupby(trial, sort=True).size()
        long = na.rename_axis(index="trial", columns="covariate").stack().rename("n_missing")
        out = long.reset_index()
        out["n_rows"] = out["trial"].map(n).astype(np.int64)
        out["n_missing"] = out["n_missing"].astype(np.int64)
        out["prop_missing"] = out["n_missing"] / out["n_rows"]
        return out[cols]

    @staticmethod
    def _complete_cases(df: pd.DataFrame, trial: str, covs: list, missing: str
                        ) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
        n_rows = df.groupby(trial, sort=True).size()
        if covs:
            na = df[covs].isna()
            drop = na.any(axis=1).to_numpy()
        else:
            na = pd.DataFrame(index=df.index)
            drop = np.zeros(len(df), dtype=bool)
        n_drop = pd.Series(drop, index=df.index).groupby(df[trial], sort=True).sum()
        by_col = na.groupby(df[trial], sort=True).sum() if covs else None

        def reason(t: str) -> str:
            if by_col is None or n_drop[t] == 0:
                return ""
            row = by_col.loc[t]
            row = row[row > 0]
            return "missing " + ", ".join(f"{c} ({int(v)})" for c, v in row.items())

        dropped = pd.DataFrame({
            "trial": n_rows.index.astype(str),
            "n_rows": n_rows.to_numpy(dtype=np.int64),
            "n_dropped": n_drop.reindex(n_rows.index).to_numpy(dtype=np.int64),
        })
        dropped["n_kept"] = dropped["n_rows"] - dropped["n_dropped"]
        dropped["reason"] = [reason(t) for t in dropped["trial"]]
        if not drop.any():
            return df, dropped, None
        per_col = na.sum()
        per_col = per_col[per_col > 0]
        col_text = ", ".join(f"{c!r} ({int(v)} row{'s' if v != 1 else ''})"
                             for c, v in per_col.items())
        hit = dropped[dropped["n_dropped"] > 0]
        if missing == "error":
            raise MissingDataError(
                f"covariates have missing values: {col_text}, in trial(s) "
                f"{fmt_list(hit['trial'].tolist(), max_show=8)}. Impute them first, drop those "
                "rows yourself, or pass missing='complete-case' to drop them (reported in "
                "ipd.dropped)."
            )
        if drop.all():
            raise MissingDataError(
                f"every row has a missing covariate value ({col_text}), so no complete case is "
                "left. Impute the covariates or leave the incomplete ones out of covariates."
            )
        gone = dropped.loc[dropped["n_kept"] == 0, "trial"].tolist()
        per_trial = "; ".join(f"trial {t!r}: {d} of {n} ({r})" for t, n, d, r in
                              hit[["trial", "n_rows", "n_dropped", "reason"]]
                              .itertuples(index=False))
        note = (f"complete-case analysis dropped {int(drop.sum())} of {len(df)} rows with "
                f"missing covariate values: {per_trial}. See ipd.dropped; pass missing='error' "
                "to stop instead, or impute beforehand.")
        if gone:
            note += f" Trial(s) {fmt_list(gone)} had no complete case and are left out entirely."
        return df.loc[~drop], dropped, note

    def _setup(self, data: pd.DataFrame, reference: str | None) -> None:
        """Derived attributes from cleaned data (shared by __init__ and subset)."""
        self.data = data
        tcol, acol = self.trial_col, self.treatment_col
        self.y = data[self.outcome_col].to_numpy(dtype=float)
        self.trial = data[tcol].to_numpy(dtype=object)
        self.treatment = data[acol].to_numpy(dtype=object)
        sizes = data.groupby([tcol, acol], sort=True).size()
        self._arm_sizes = sizes
        self.trials = sorted(pd.unique(self.trial).tolist())
        self.treatments = sorted(pd.unique(self.treatment).tolist())
        arms: dict[str, list[str]] = {t: [] for t in self.trials}
        for t, a in sizes.index:
            arms[t].append(a)
        self.arms = {t: sorted(v) for t, v in arms.items()}
        self.reference = choose_reference(self.treatments, self.arms, reference)
        self._network: Network | None = None

    @classmethod
    def _from_clean(cls, parent: IPD, data: pd.DataFrame) -> IPD:
        obj = cls.__new__(cls)
        for attr in ("trial_col", "treatment_col", "outcome_col", "covariate_cols",
                     "patient_id_col", "outcome_type", "outcome_coding", "covariate_kinds",
                     "categorical_levels", "min_patients_per_arm", "time_col"):
            setattr(obj, attr, getattr(parent, attr, None))
        obj.row_number = np.asarray(parent.row_number)[data.index.to_numpy()]
        obj._setup(data.reset_index(drop=True), None)
        keep = set(obj.trials)
        if parent.reference in obj.treatments:
            obj.reference = parent.reference
        obj.dropped = parent.dropped[parent.dropped["trial"].isin(keep)].reset_index(drop=True)
        obj.missingness = parent.missingness[parent.missingness["trial"].isin(keep)
                                             ].reset_index(drop=True)
        obj.dropped_rows = parent.dropped_rows[parent.dropped_rows["trial"].isin(keep)
                                               ].reset_index(drop=True)
        return obj

    def _arm_checks(self) -> list[str]:
        notes = []
        one = [t for t in self.trials if len(self.arms[t]) == 1]
        if one:
            shown = ", ".join(f"{t!r} ({self.arms[t][0]})" for t in one[:8])
            more = f" and {len(one) - 8} more" if len(one) > 8 else ""
            notes.append(
                f"{len(one)} trial(s) have a single arm: {shown}{more}. They are kept (e.g. for "
                "prognostic models) but left out of relative treatment effects "
                "(ipd.relative_effect_trials)."
            )
        sizes = self._arm_sizes
        small = sizes[sizes < self.min_patients_per_arm]
        if len(small):
            shown = ", ".join(f"trial {t!r} arm {a!r} (n={n})"
                              for (t, a), n in list(small.items())[:8])
            notes.append(
                f"{len(small)} arm(s) have fewer than min_patients_per_arm="
                f"{self.min_patients_per_arm} patients: {shown}. Estimates from these arms are "
                "unstable; check the data or lower min_patients_per_arm to silence this."
            )
        if self.outcome_type == "survival":
            from ..errors import OutcomeError

            ev = pd.Series(self.y).groupby([self.trial, self.treatment], sort=True).sum()
            none = ev[ev == 0]
            if len(none):
                shown = ", ".join(f"trial {t!r} arm {a!r} (0/{sizes[(t, a)]})"
                                  for (t, a) in list(none.index)[:8])
                raise OutcomeError(
                    f"no events in {shown} (event column {self.outcome_col!r}): the arm's "
                    "hazard is not estimable and survival comparisons involving it are "
                    "undefined. Drop or merge the arm/trial before building the IPD.")
        if self.outcome_type == "binary":
            ev = pd.Series(self.y).groupby([self.trial, self.treatment], sort=True).sum()
            none = ev[ev == 0]
            full = ev[ev == sizes.reindex(ev.index).to_numpy()]
            parts = []
            if len(none):
                parts.append("no events in " + ", ".join(
                    f"trial {t!r} arm {a!r} (0/{sizes[(t, a)]})"
                    for (t, a) in list(none.index)[:8]))
            if len(full):
                parts.append("only events in " + ", ".join(
                    f"trial {t!r} arm {a!r} ({sizes[(t, a)]}/{sizes[(t, a)]})"
                    for (t, a) in list(full.index)[:8]))
            if parts:
                notes.append(
                    "binary outcome " + f"{self.outcome_col!r}: " + "; ".join(parts) + ". "
                    "Odds ratios from such arms are infinite without a continuity correction "
                    "or a penalised/one-stage model; the arms are kept."
                )
        return notes

    # ------------------------------------------------------------------ public API

    @property
    def network(self) -> Network:
        """The treatment :class:`Network` (computed on first use)."""
        if self._network is None:
            self._network = Network(self.arms, n_patients=self._arm_sizes.to_dict())
        return self._network

    @property
    def relative_effect_trials(self) -> list[str]:
        """Trials with at least two arms (sorted)."""
        return [t for t in self.trials if len(self.arms[t]) >= 2]

    @property
    def family(self):
        """The outcome family (:mod:`ipdma.families`) of ``outcome_type``."""
        from ..families import get_family

        return get_family(self.outcome_type)

    @property
    def n_patients(self) -> int:
        """Number of patients (rows of :attr:`data`)."""
        return len(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def feature_names(self) -> list[str]:
        """Column names of :meth:`design_matrix` (all covariates)."""
        return self._feature_names(self.covariate_cols)

    def _feature_names(self, covs: Sequence[str]) -> list[str]:
        names: list[str] = []
        for c in covs:
            if self.covariate_kinds[c] == "categorical":
                names.extend(f"{c}[{lev}]" for lev in self.categorical_levels[c][1:])
            else:
                names.append(c)
        return names

    def _check_trials(self, trials: object) -> list[str]:
        if isinstance(trials, (str, int, float, np.integer, np.floating)):
            trials = [trials]
        labels = [str(t) for t in trials]  # type: ignore[union-attr]
        unknown = [t for t in labels if t not in set(self.trials)]
        if unknown:
            raise DataError(
                f"trial {unknown[0]!r} is not in the data.{did_you_mean(unknown[0], self.trials)} "
                f"Trials: {fmt_list(self.trials, max_show=12)}."
            )
        return labels

    def _check_treatments(self, treatments: object) -> list[str]:
        if isinstance(treatments, (str, int, float, np.integer, np.floating)):
            treatments = [treatments]
        labels = [str(t) for t in treatments]  # type: ignore[union-attr]
        unknown = [t for t in labels if t not in set(self.treatments)]
        if unknown:
            raise DataError(
                f"treatment {unknown[0]!r} is not in the data."
                f"{did_you_mean(unknown[0], self.treatments)} Treatments: "
                f"{fmt_list(self.treatments, max_show=12)}."
            )
        return labels

    def design_matrix(self, covariates: Sequence[str] | None = None,
                      trial: str | Sequence[str] | None = None) -> pd.DataFrame:
        """Covariates as a numeric design matrix (no intercept).

        Numeric covariates are used unchanged (as float), bool ones as 0/1, and
        categorical ones are one-hot encoded with the first level dropped, in
        columns named ``"{col}[{level}]"``.  Levels are fixed when the IPD is
        built, so every trial (and every subset) gets the same columns even
        when it lacks some level.

        Parameters
        ----------
        covariates : sequence of str, optional
            A subset of :attr:`covariate_cols` (default all).
        trial : str or sequence of str, optional
            Restrict to the rows of these trials.

        Returns
        -------
        pandas.DataFrame
            Float columns; the index is that of :attr:`data`.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": ["a"] * 4 + ["b"] * 4, "trt": ["P", "D"] * 4,
        ...                    "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        ...                    "grade": ["I", "II", "I", "II", "I", "III", "II", "III"]})
        >>> ipd = IPD(df, trial="t", treatment="trt", outcome="y", covariates=["grade"])
        >>> ipd.design_matrix(trial="a").columns.tolist()
        ['grade[II]', 'grade[III]']
        """
        covs = self.covariate_cols if covariates is None else as_covariate_list(covariates)
        for c in covs:
            if c not in self.covariate_cols:
                raise ColumnNotFoundError(
                    f"{c!r} is not a covariate of this IPD.{did_you_mean(c, self.covariate_cols)}"
                    f" Covariates: {fmt_list(self.covariate_cols, max_show=12)}; build the IPD "
                    "with it in covariates=[...] to use it."
                )
        data = self.data
        if trial is not None:
            data = data[data[self.trial_col].isin(self._check_trials(trial))]
        cols: dict[str, pd.Series] = {}
        for c in covs:
            kind = self.covariate_kinds[c]
            if kind == "numeric":
                cols[c] = data[c].astype(float)
            elif kind == "bool":
                cols[c] = data[c].astype(bool).astype(float)
            else:
                v = category_strings(data[c])
                for lev in self.categorical_levels[c][1:]:
                    cols[f"{c}[{lev}]"] = (v == lev).astype(float)
        out = pd.DataFrame(cols, index=data.index)
        return out.reindex(columns=self._feature_names(covs))

    def binary_treatment(self, treated: str | None = None) -> np.ndarray:
        """Treatment as a 0/1 array for two-arm methods (1 = ``treated``).

        Parameters
        ----------
        treated : str, optional
            Label coded 1; every other treatment is coded 0.  Required when
            there are more than two treatments (subset to two treatments first,
            e.g. ``ipd.subset(treatments=[ref, treated])``, for a clean
            two-arm comparison).  With two treatments it defaults to the one
            that is not :attr:`reference`.

        Returns
        -------
        numpy.ndarray of int

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": ["a"] * 4, "trt": ["placebo", "drug"] * 2,
        ...                    "y": [0.1, 0.2, 0.3, 0.4]})
        >>> IPD(df, trial="t", treatment="trt", outcome="y").binary_treatment().tolist()
        [0, 1, 0, 1]
        """
        from ..errors import ModelSpecificationError

        if treated is None:
            others = [t for t in self.treatments if t != self.reference]
            if len(others) != 1:
                raise ModelSpecificationError(
                    f"binary_treatment() needs treated=... when there are "
                    f"{len(self.treatments)} treatments ({fmt_list(self.treatments, 8)}); name "
                    "the treatment coded 1, and consider ipd.subset(treatments=[control, "
                    "treated]) so that 0 means a single control."
                )
            treated = others[0]
        treated = self._check_treatments(treated)[0]
        return (self.treatment == treated).astype(np.int64)

    def subset(self, trials: str | Sequence[str] | None = None,
               treatments: str | Sequence[str] | None = None) -> IPD:
        """A new IPD with the rows of some trials and/or treatments.

        Covariate levels (hence design-matrix columns), outcome type and coding
        are kept; the reference is kept when still present, otherwise chosen
        again by :func:`choose_reference`.  No warnings are re-issued.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": ["a"] * 4 + ["b"] * 4, "trt": ["P", "D"] * 4,
        ...                    "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
        >>> IPD(df, trial="t", treatment="trt", outcome="y").subset(trials="b").trials
        ['b']
        """
        mask = np.ones(len(self.data), dtype=bool)
        if trials is not None:
            mask &= np.isin(self.trial, self._check_trials(trials))
        if treatments is not None:
            mask &= np.isin(self.treatment, self._check_treatments(treatments))
        if not mask.any():
            raise DataError(
                f"subset(trials={trials!r}, treatments={treatments!r}) selects no patient; "
                "check that these treatments occur in these trials (ipd.arms)."
            )
        return IPD._from_clean(self, self.data.loc[mask])

    def by_trial(self) -> dict[str, IPD]:
        """One IPD per trial (keys in :attr:`trials` order).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"t": ["a"] * 4 + ["b"] * 4, "trt": ["P", "D"] * 4,
        ...                    "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]})
        >>> {t: len(sub) for t, sub in IPD(df, trial="t", treatment="trt",
        ...                                outcome="y").by_trial().items()}
        {'a': 4, 'b': 4}
        """
        groups = self.data.groupby(self.trial_col, sort=True).indices
        return {t: IPD._from_clean(self, self.data.iloc[groups[t]]) for t in self.trials}

    @property
    def time(self) -> np.ndarray | None:
        """Follow-up times (time-to-event outcomes; None otherwise)."""
        if getattr(self, "time_col", None) is None:
            return None
        return self.data[self.time_col].to_numpy(dtype=float)

    def survival_outcome(self):
        """The (time, event) outcome as an :class:`ipdma.survival.SurvivalOutcome`."""
        from ..errors import OutcomeError
        from ..survival import SurvivalOutcome

        if self.outcome_type != "survival":
            raise OutcomeError(f"the IPD outcome {self.outcome_col!r} is {self.outcome_type}, "
                               "not a time to event (build the IPD with time= and event=)")
        return SurvivalOutcome(self.time, self.y, self.time_col, self.outcome_col,
                               self.outcome_coding)

    def survival_table(self, by: Literal["trial", "arm"] = "arm") -> pd.DataFrame:
        """Per trial (and arm): patients, events, censored fraction and median
        follow-up (reverse Kaplan-Meier)."""
        from ..survival import median_followup

        y = self.survival_outcome()
        keys = [self.trial] if by == "trial" else [self.trial, self.treatment]
        names = ["trial"] if by == "trial" else ["trial", "treatment"]
        df = pd.DataFrame({"t": y.time, "e": y.event})
        g = df.groupby(keys, sort=True)
        out = pd.DataFrame({"n": g.size().astype(np.int64),
                            "events": g["e"].sum().astype(np.int64)})
        out["censored"] = 1 - out["events"] / out["n"]
        out["median_followup"] = [median_followup(sub["t"], sub["e"]) for _, sub in g]
        out.index.names = names
        return out

    def trial_table(self) -> pd.DataFrame:
        """Per trial: patients, arms and events (binary) or mean outcome; for time
        to event events, censored fraction and median follow-up."""
        if self.outcome_type == "survival":
            out = self.survival_table("trial")
            out.index = out.index.get_level_values(0) if out.index.nlevels > 1 else out.index
        else:
            out = outcome_summary(pd.Series(self.y).groupby(self.trial, sort=True),
                                  self.outcome_type)
        out.insert(1, "n_arms", [len(self.arms[t]) for t in out.index])
        out.insert(2, "treatments", [", ".join(self.arms[t]) for t in out.index])
        out.index.name = "trial"
        return out

    def _header_info(self) -> dict[str, object]:
        """The lines that open every summary of this IPD (also used by ``describe``)."""
        return {
            "Patients": self.n_patients,
            "Trials": len(self.trials),
            "Treatments": ", ".join(self.treatments),
            "Reference": self.reference,
            "Outcome": f"{self.outcome_col} ({self.outcome_type})",
        }

    def summary(self) -> Summary:
        """Patients, trials, treatments, outcome and covariates at a glance."""
        info = self._header_info()
        if self.outcome_type in ("binary", "survival"):
            info["Events"] = f"{int(self.y.sum())} ({self.y.mean():.1%})"
        if self.outcome_type == "survival":
            info["Time"] = self.time_col
        info["Covariates"] = ", ".join(map(str, self.covariate_cols)) or "none"
        info["Network"] = ("connected" if self.network.is_connected else
                           f"disconnected ({len(self.network.components)} components)")
        tables = {"Trials": self.trial_table()}
        notes = []
        n_drop = int(self.dropped["n_dropped"].sum()) if len(self.dropped) else 0
        if n_drop:
            tables["Rows dropped (complete-case)"] = (
                self.dropped[self.dropped["n_dropped"] > 0].set_index("trial"))
            notes.append(f"{n_drop} rows with missing covariates were dropped.")
        single = [t for t in self.trials if len(self.arms[t]) == 1]
        if single:
            notes.append(f"Single-arm trials (no relative effects): {', '.join(single)}.")
        return Summary("Individual participant data", tables=tables, info=info, notes=notes)

    def __repr__(self) -> str:
        trts = ", ".join(t + (" (ref)" if t == self.reference else "")
                         for t in self.treatments[:6])
        if len(self.treatments) > 6:
            trts += ", ..."
        out = f"outcome {self.outcome_col!r} ({self.outcome_type}"
        if self.outcome_type in ("binary", "survival"):
            out += f", {int(self.y.sum())} events"
        return (f"IPD({self.n_patients} patients, {len(self.trials)} trials, "
                f"{len(self.treatments)} treatments [{trts}], {out}), "
                f"{len(self.covariate_cols)} covariates)")

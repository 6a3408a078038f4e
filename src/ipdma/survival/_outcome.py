"""The time-to-event outcome: a validated (time, event) pair and its checks.

Every survival routine of ipdma takes a :class:`SurvivalOutcome` (or the two
arrays it validates).  :func:`survival_outcome` builds one from DataFrame
columns and raises a specific :mod:`ipdma.errors` class whose message names the
column, trial, arm or value at fault:

* :class:`~ipdma.errors.MissingDataError` -- missing times or event indicators;
* :class:`~ipdma.errors.OutcomeError` -- non-numeric, non-finite, zero or
  negative times; an event indicator that is neither 0/1 (bool) nor two labels
  that can be mapped to event / censored; a trial (or trial arm) without events;
* :class:`~ipdma.errors.DataError` -- a horizon beyond the last follow-up of a
  trial, or with every patient of a trial without an event censored before it
  (:func:`check_horizon`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, MissingDataError, OutcomeError, column_not_found

__all__ = ["SurvivalOutcome", "check_horizon", "code_event", "survival_outcome"]

# labels read as "the event happened" / "censored" (case-insensitive, whole label)
_EVENT_WORDS = r"^(1|true|yes|y|event|dead|death|died|deceased|relapse[d]?|progress(ed|ion)?|failure|failed|status ?1)$"
_CENSOR_WORDS = r"^(0|false|no|n|censor(ed)?|alive|event[- ]?free|no event|status ?0)$"


@dataclass(frozen=True)
class SurvivalOutcome:
    """A right-censored time-to-event outcome.

    Attributes
    ----------
    time : numpy.ndarray
        Follow-up times (> 0, finite), float.
    event : numpy.ndarray
        1.0 = event observed at ``time``, 0.0 = censored at ``time``.
    time_col, event_col : str or None
        Column names the outcome came from (used in messages).
    event_coding : dict or None
        Original event label -> 0/1 when the indicator was recoded.

    Examples
    --------
    >>> y = SurvivalOutcome.from_arrays([2.0, 1.5, 3.1], [1, 0, 1])
    >>> y.n, y.n_events
    (3, 2)
    """

    time: np.ndarray
    event: np.ndarray
    time_col: str | None = None
    event_col: str | None = None
    event_coding: dict | None = None

    @classmethod
    def from_arrays(cls, time, event, time_col: str | None = None,
                    event_col: str | None = None) -> SurvivalOutcome:
        """Validate ``time`` (> 0, finite) and ``event`` (0/1, bool or two labels)."""
        t = check_time(pd.Series(np.asarray(time)), time_col or "time")
        e, coding = code_event(pd.Series(np.asarray(event)), event_col or "event")
        if len(t) != len(e):
            raise DataError(f"time has {len(t)} values but event has {len(e)}")
        return cls(t, e, time_col, event_col, coding)

    @property
    def n(self) -> int:
        return len(self.time)

    @property
    def n_events(self) -> int:
        return int(self.event.sum())

    def __len__(self) -> int:
        return self.n

    def subset(self, mask) -> SurvivalOutcome:
        """The outcome of the rows selected by a boolean mask or index array."""
        return SurvivalOutcome(self.time[mask], self.event[mask], self.time_col,
                               self.event_col, self.event_coding)


def column_values(data: pd.DataFrame, name) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The values of column ``name`` (``data[name].values``: a numpy array for numpy dtypes,
    else the extension array) without building a Series, which costs more than a small
    fit's arithmetic (tens of microseconds per column with pandas 3)."""
    try:
        loc = data.columns.get_loc(name)
        if isinstance(loc, (int, np.integer)):
            return data._get_column_array(int(loc))
    except (AttributeError, KeyError, TypeError):      # pragma: no cover - other pandas
        pass
    return data[name].values


def check_time(t: pd.Series, name: str) -> np.ndarray:
    """Float array of follow-up times with named errors (missing, non-numeric,
    non-finite, zero or negative)."""
    if t.dtype.kind in "fiu":                         # fast path: plain numeric column
        v = t.to_numpy(float)
        if np.all(v > 0) and np.isfinite(v).all():
            return v
    if t.isna().any():
        rows = np.flatnonzero(t.isna().to_numpy())[:5].tolist()
        raise MissingDataError(
            f"time column {name!r} has {int(t.isna().sum())} missing values (rows {rows}); "
            "drop those patients or impute their follow-up before fitting")
    if t.dtype == bool or not pd.api.types.is_numeric_dtype(t):
        raise OutcomeError(f"time column {name!r} must be numeric (found dtype {t.dtype}); "
                           "convert it, e.g. pd.to_numeric(df[col])")
    v = t.to_numpy(float)
    bad = ~np.isfinite(v)
    if bad.any():
        raise OutcomeError(f"time column {name!r} has non-finite values "
                           f"{sorted(set(v[bad].tolist()))[:5]} (rows "
                           f"{np.flatnonzero(bad)[:5].tolist()}); follow-up times must be finite")
    bad = v <= 0
    if bad.any():
        raise OutcomeError(
            f"time column {name!r} has {int(bad.sum())} zero or negative times (e.g. "
            f"{sorted(set(v[bad].tolist()))[:5]} at rows {np.flatnonzero(bad)[:5].tolist()}); "
            "survival times must be > 0 -- check the time origin, or give same-day events a "
            "small positive time (e.g. half a day) explicitly")
    return v


def code_event(e: pd.Series, name: str, event: object = None) -> tuple[np.ndarray, dict | None]:
    """0/1 float array of the event indicator and the label coding (or None).

    Accepts 0/1 numbers, bools, or exactly two labels of which one reads as the
    event (``event``, ``dead``, ``relapse``, ``1``, ``yes`` ...) and the other as
    censored (``censored``, ``alive``, ``0``, ``no`` ...); ``event=`` names the
    event label explicitly.

    Examples
    --------
    >>> import pandas as pd
    >>> code_event(pd.Series(["dead", "alive", "dead"]), "status")
    (array([1., 0., 1.]), {'alive': 0, 'dead': 1})
    """
    if e.dtype == bool:
        return e.to_numpy(float), None
    if e.dtype.kind in "iu" and event is None:        # fast path: 0/1 integers
        v = e.to_numpy()
        if np.all((v == 0) | (v == 1)):
            return v.astype(float), None
    if e.isna().any():
        rows = np.flatnonzero(e.isna().to_numpy())[:5].tolist()
        raise MissingDataError(f"event column {name!r} has {int(e.isna().sum())} missing values "
                               f"(rows {rows}); every patient needs an event/censoring status")
    if pd.api.types.is_numeric_dtype(e) and event is None:
        v = e.to_numpy(float)
        vals = set(np.unique(v).tolist())
        if vals <= {0.0, 1.0}:
            return v, None
        raise OutcomeError(
            f"event column {name!r} must be 0 (censored) / 1 (event); found values "
            f"{sorted(vals - {0.0, 1.0})[:5]}. Recode it (e.g. (df[col] == 2).astype(int) "
            "for R's 1 = censored / 2 = dead), or pass the event label explicitly")
    labels = pd.unique(e).tolist()
    if event is not None:
        keys = {str(lv): lv for lv in labels}
        if str(event) not in keys:
            raise OutcomeError(f"event label {event!r} is not a value of column {name!r} "
                               f"(values: {sorted(map(str, labels))[:8]})")
        if len(labels) > 2:
            raise OutcomeError(f"event column {name!r} has {len(labels)} values "
                               f"{sorted(map(str, labels))[:8]}; it must have two (event / "
                               "censored)")
        ev = keys[str(event)]
        coded = (e == ev).to_numpy(float)
        return coded, {str(lv): int(lv == ev) for lv in sorted(labels, key=str)}
    if len(labels) != 2:
        raise OutcomeError(f"event column {name!r} must have two values (event / censored); "
                           f"found {len(labels)}: {sorted(map(str, labels))[:8]}")
    s = [str(lv).strip().lower() for lv in labels]
    is_ev = [bool(re.match(_EVENT_WORDS, v)) for v in s]
    is_ce = [bool(re.match(_CENSOR_WORDS, v)) for v in s]
    if (is_ev[0] and is_ce[1]) or (is_ev[0] and not is_ev[1] and not is_ce[0]):
        ev = labels[0]
    elif (is_ev[1] and is_ce[0]) or (is_ev[1] and not is_ev[0] and not is_ce[1]):
        ev = labels[1]
    elif is_ce[0] and not is_ce[1]:
        ev = labels[1]
    elif is_ce[1] and not is_ce[0]:
        ev = labels[0]
    else:
        raise OutcomeError(f"cannot tell which value of event column {name!r} is the event: "
                           f"{sorted(map(str, labels))}; pass the event label explicitly "
                           "(event_label=...) or recode the column to 0/1")
    coded = (e == ev).to_numpy(float)
    return coded, {str(lv): int(lv == ev) for lv in sorted(labels, key=str)}


def _every_group_has_events(data: pd.DataFrame, keys: list, e: np.ndarray) -> bool:
    """Quick check that every group of the ``keys`` columns has an event (groups by value,
    which are at least as fine as the groups by string; False also when unsure, so the
    caller's exact check decides)."""
    codes = None
    for k in keys:
        c, u = pd.factorize(data[k])
        if len(c) and c.min() < 0:
            return False
        codes = c if codes is None else codes * len(u) + c
    n_ev = np.bincount(codes, weights=e)
    return bool(np.all(n_ev[np.bincount(codes) > 0] > 0))


def survival_outcome(data: pd.DataFrame, time: str, event: str, *, trial: str | None = None,
                     treatment: str | None = None, event_label: object = None,
                     require_events: bool = True) -> SurvivalOutcome:
    """Validated :class:`SurvivalOutcome` from the ``time`` and ``event`` columns.

    Parameters
    ----------
    data : pandas.DataFrame
    time, event : str
        Column names of the follow-up time and of the event indicator.
    trial, treatment : str, optional
        With ``require_events=True`` every trial (and every trial arm when
        ``treatment`` is given) must have at least one event.
    event_label : optional
        The value of ``event`` meaning "event" when it is not 0/1.
    require_events : bool, default True

    Raises
    ------
    ColumnNotFoundError, MissingDataError, OutcomeError
        See the module docstring.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": [1.0, 2.5, 0.5, 4.0], "d": [1, 0, 1, 0], "trial": list("AABB")})
    >>> y = survival_outcome(df, "t", "d", trial="trial")
    >>> y.n_events
    2
    >>> survival_outcome(df.assign(t=[1.0, -2.0, 0.5, 4.0]), "t", "d")
    Traceback (most recent call last):
    ...
    ipdma.errors.OutcomeError: time column 't' has 1 zero or negative times (e.g. [-2.0] at rows [1]); survival times must be > 0 -- check the time origin, or give same-day events a small positive time (e.g. half a day) explicitly
    """
    for col, role in ((time, "time"), (event, "event"), (trial, "trial"),
                      (treatment, "treatment")):
        if col is not None and col not in data.columns:
            raise column_not_found(col, data.columns, role)
    t = e = coding = None
    # plain numeric columns are validated on their arrays (a Series per column costs more
    # than a small fit); anything else (missing values, labels) by check_time / code_event
    tv, ev = column_values(data, time), column_values(data, event)
    if isinstance(tv, np.ndarray) and tv.dtype.kind in "fiu":
        v = tv.astype(float)
        if np.all(v > 0) and np.isfinite(v).all():
            t = v
    if event_label is None and isinstance(ev, np.ndarray) and ev.dtype.kind in "fiub":
        v = ev.astype(float)
        if np.all((v == 0) | (v == 1)):
            e = v
    if t is None:
        t = check_time(data[time], time)
    if e is None:
        e, coding = code_event(data[event], event, event_label)
    if e.sum() == 0:
        raise OutcomeError(f"event column {event!r} has no events (all censored): a survival "
                           "model cannot be fitted")
    if require_events and trial is not None:
        keys = [trial] + ([treatment] if treatment is not None else [])
        if _every_group_has_events(data, keys, e):
            return SurvivalOutcome(t, e, time, event, coding)
        ev = pd.Series(e, index=data.index).groupby([data[k].astype(str) for k in keys]).sum()
        none = ev[ev == 0]
        if len(none):
            what = ", ".join(
                (f"trial {k!r}" if treatment is None else f"trial {k[0]!r} arm {k[1]!r}")
                for k in list(none.index)[:8])
            raise OutcomeError(
                f"no events in {what} (event column {event!r}): its hazard is not estimable. "
                "Drop the trial/arm, pool it with another, or fit without trial-specific "
                "baselines")
    return SurvivalOutcome(t, e, time, event, coding)


def check_horizon(y: SurvivalOutcome, horizon: float | Sequence[float],
                  groups: Sequence | np.ndarray | None = None, group_name: str = "trial",
                  extrapolate: bool = False) -> None:
    """Raise :class:`~ipdma.errors.DataError` when a prediction horizon is beyond
    the last follow-up time of a group (trial), or every patient of the group
    without an event is censored before it (no information on survival at the horizon).

    ``extrapolate=True`` (for parametric models only) skips the check.

    Examples
    --------
    >>> y = SurvivalOutcome.from_arrays([1.0, 2.0, 3.0, 1.5], [1, 0, 1, 1])
    >>> check_horizon(y, 2.5, groups=["A", "A", "A", "B"])
    Traceback (most recent call last):
    ...
    ipdma.errors.DataError: horizon 2.5 is beyond the last follow-up of trial 'B' (1.5); predictions there would extrapolate the baseline hazard. Choose a horizon <= 1.5, drop the trial, or use a parametric model with extrapolate=True
    """
    if extrapolate:
        return
    hs = np.atleast_1d(np.asarray(horizon, float))
    if np.any(~np.isfinite(hs)) or np.any(hs <= 0):
        raise DataError(f"horizon must be positive and finite (got {hs.tolist()})")
    h = float(hs.max())
    g = (np.zeros(y.n, int) if groups is None else np.asarray(groups).astype(str))
    for lab in pd.unique(g):
        m = g == lab
        lab = str(lab)
        last = float(y.time[m].max())
        who = f"{group_name} {lab!r}" if groups is not None else "the data"
        if h > last:
            if not np.any(y.event[m][y.time[m] == last]):
                raise DataError(
                    f"every patient of {who} without an event is censored before the horizon "
                    f"{h:g} (last follow-up {last:g}, censored): survival at {h:g} is not "
                    "identified. "
                    f"Choose a horizon <= {last:g} or drop the {group_name}")
            raise DataError(
                f"horizon {h:g} is beyond the last follow-up of {who} ({last:g}); predictions "
                "there would extrapolate the baseline hazard. Choose a horizon <= "
                f"{last:g}, drop the {group_name}, or use a parametric model with "
                "extrapolate=True")

"""Helpers shared by every ``ipdma`` subcommand."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ..errors import ColumnNotFoundError, DataError

T = TypeVar("T")

__all__ = [
    "add_ipd_arguments",
    "emit",
    "ipd_from_args",
    "progress",
    "read_csv",
    "split_list",
    "to_jsonable",
]


def split_list(value: str | None) -> list[str] | None:
    """``"a,b, c"`` -> ``["a", "b", "c"]``; None or empty -> None."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV file with a clear error when it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file {str(p)!r} does not exist: check the path")
    try:
        return pd.read_csv(p)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"could not read {str(p)!r} as CSV: {exc}") from None


def add_ipd_arguments(parser: argparse.ArgumentParser, covariates_required: bool = False) -> None:
    """FILE, --trial, --treatment, --outcome, --covariates (and --patient-id)."""
    parser.add_argument("file", metavar="FILE.csv", help="IPD as CSV, one row per patient")
    parser.add_argument("--trial", required=True, metavar="COL", help="trial identifier column")
    parser.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    parser.add_argument("--outcome", required=True, metavar="COL", help="outcome column")
    parser.add_argument("--covariates", required=covariates_required, metavar="A,B,...",
                        help="comma-separated covariate columns")
    parser.add_argument("--patient-id", metavar="COL", default=None,
                        help="optional patient identifier column")
    parser.add_argument("--outcome-type", choices=["binary", "continuous"], default=None,
                        help="override the inferred outcome type")
    parser.add_argument("--event", default=None, metavar="LABEL",
                        help="outcome label that counts as the event (binary outcomes coded "
                             "with two labels ipdma cannot map itself)")
    parser.add_argument("--missing", choices=["complete-case", "error"], default="complete-case",
                        help="missing covariate values: drop rows (reported per trial; "
                             "default) or stop with an error")
    parser.add_argument("--normalize-labels", action="store_true",
                        help="merge treatment labels that differ only by case or whitespace")


def ipd_from_args(args: argparse.Namespace, **kwargs: Any):
    """Build an :class:`ipdma.data.IPD` from the standard arguments."""
    from ..data import IPD

    df = read_csv(args.file)
    return IPD(df, trial=args.trial, treatment=args.treatment, outcome=args.outcome,
               covariates=split_list(getattr(args, "covariates", None)),
               patient_id=getattr(args, "patient_id", None),
               outcome_type=getattr(args, "outcome_type", None),
               event=getattr(args, "event", None),
               missing=getattr(args, "missing", "complete-case"),
               normalize_labels=getattr(args, "normalize_labels", False), **kwargs)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas objects (recursively) to JSON-serialisable Python."""
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.reset_index().to_dict(orient="records")] \
            if not isinstance(obj.index, pd.RangeIndex) else \
            [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return None if (math.isnan(f) or math.isinf(f)) else f
    if isinstance(obj, Path):
        return str(obj)
    if obj is pd.NA or obj is None:
        return None
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return obj if isinstance(obj, (str, int)) else str(obj)


def emit(args: argparse.Namespace, *, text: str, payload: Any) -> None:
    """Print ``text`` (human) or ``payload`` as JSON when ``--json`` was given."""
    if getattr(args, "json", False):
        json.dump(to_jsonable(payload), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(str(text).rstrip() + "\n")


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "",
             disable: bool | None = None) -> Iterator[T]:
    """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
    from .._base import progress_bar

    yield from progress_bar(iterable, show=None if disable is None else not disable,
                            total=total, desc=desc)


def status(message: str) -> None:
    """A one-line status message on stderr (progress of long steps)."""
    sys.stderr.write(f"[ipdma] {message}\n")
    sys.stderr.flush()


def column_error_hint(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ColumnNotFoundError) else ""

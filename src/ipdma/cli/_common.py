"""Helpers shared by every ``ipdma`` subcommand."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .._lazy import lazy_module
from ..errors import ColumnNotFoundError, DataError

np = lazy_module("numpy")   # not imported by the parser (fast --help)
pd = lazy_module("pandas")

T = TypeVar("T")

__all__ = [
    "CLIParser",
    "add_ipd_arguments",
    "check_output_path",
    "cli_words",
    "emit",
    "int_range",
    "ipd_from_args",
    "n_jobs_type",
    "nonneg_int",
    "positive_int",
    "probability",
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


def read_csv(path: str | Path, args: argparse.Namespace | None = None,
             what: str = "FILE.csv") -> pd.DataFrame:
    """Read a CSV file (the one place the CLI reads data): R's missing-value
    convention plus ``--na-values``, delimiter detected unless ``--sep`` is given."""
    from ..data import read_csv as _read

    na = split_list(getattr(args, "na_values", None)) if args is not None else None
    sep = getattr(args, "sep", None) if args is not None else None
    if sep is not None:
        sep = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}.get(sep, sep)
    try:
        return _read(path, na_values=na, sep=sep)
    except DataError as exc:
        raise DataError(f"{what}: {exc}") from None


# --------------------------------------------------------------------------- parsing


class CLIParser(argparse.ArgumentParser):
    """argparse with one-line ``error: ...`` messages (exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def nonneg_int(value: str) -> int:
    """argparse type: a whole number >= 0."""
    v = _int(value)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return v


def positive_int(value: str) -> int:
    """argparse type: a whole number >= 1."""
    v = _int(value)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {v}")
    return v


def int_range(lo: int, hi: int):
    """argparse type: a whole number in [lo, hi]."""
    def _check(value: str) -> int:
        v = _int(value)
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, got {v}")
        return v
    return _check


def n_jobs_type(value: str) -> int:
    """argparse type for --n-jobs: 1 or more, or -1 for all cores."""
    v = _int(value)
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(
            f"must be 1 or more (or -1 for every core), got {v}")
    return v


def probability(value: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {value}")
    return v


def check_output_path(path: str | Path, option: str = "--out", kind: str = "dir") -> Path:
    """Check before any computation that ``path`` can be written: a folder
    (``kind="dir"``) or a file (``kind="file"``).  Creates nothing."""
    import os
    import tempfile

    p = Path(path)
    if kind == "dir" and p.exists() and not p.is_dir():
        raise DataError(f"{option} {str(p)!r} is an existing file, not a folder: give a "
                        "folder path")
    if kind == "file" and p.is_dir():
        raise DataError(f"{option} {str(p)!r} is a folder: give a file path such as "
                        f"{str(p / 'out.csv')!r}")
    probe = p if (kind == "dir" and p.is_dir()) else p.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise DataError(f"{option} {str(p)!r} cannot be created: {str(probe)!r} is a file, "
                        "not a folder")
    ok = os.access(probe, os.W_OK | os.X_OK)
    if ok:  # os.access trusts permission bits; root passes them, so probe for real
        try:
            tempfile.TemporaryFile(dir=probe).close()
        except OSError:
            ok = False
    if not ok:
        raise DataError(f"{option} {str(p)!r} cannot be written: no write permission in "
                        f"{str(probe)!r} (or it is on a read-only file system); choose "
                        "another location")
    return p


_API_TO_CLI = [
    (r"\(given as ([a-z_]+)=\)", lambda m: f"(given as --{m.group(1).replace('_', '-')})"),
    (r"pass missing='error'", "pass --missing error"),
    (r"missing='complete-case'", "--missing complete-case"),
    (r"outcome_type='(\w+)'", r"--outcome-type \1"),
    (r"outcome_type=", "--outcome-type"),
    (r"categorical=\[([^\]]*)\]", lambda m: "--categorical " + m.group(1).replace("'", "")),
    (r"na_values=\[\.\.\.\] when reading the file", "--na-values VALUE,..."),
    (r"normalize_labels=True", "--normalize-labels"),
    (r"patient_id=", "--patient-id"),
    (r"require_connected=True", "a connected network"),
    (r"event=([^\s,;)]+)", r"--event \1"),
    (r"reference=", "--reference "),
    (r" ?\(?df\.dropna\(subset=\[[^\]]*\]\)\)?", ""),
    (r" ?\(?df\.drop_duplicates\(\)\)?", ""),
    (r"See ipd\.dropped; ", "The counts are in the --json output and the report; "),
    (r" \(ipd\.dropped\)| \(reported in ipd\.dropped\)", ""),
    (r"ipd\.relative_effect_trials", "the trials with two or more arms"),
    (r"\bpatient_id column", "--patient-id column"),
    (r"(?<![\w-])(trial|treatment|outcome|covariates|categorical|ordered|patient_id|reference|"
     r"missing|event|min_patients_per_arm)=(?!=)",
     lambda m: f"--{m.group(1).replace('_', '-')} "),
    (r"--(\S+)  +", r"--\1 "),
]


def cli_words(message: str) -> str:
    """Rewrite library wording (``trial=``, ``missing='error'``) in CLI words
    (``--trial``, ``--missing error``).

    Examples
    --------
    >>> cli_words("column 'x' (given as trial=) is not in the data")
    "column 'x' (given as --trial) is not in the data"
    >>> cli_words("pass missing='error' to stop instead")
    'pass --missing error to stop instead'
    """
    import re

    for pat, rep in _API_TO_CLI:
        message = re.sub(pat, rep, message)
    return message


def add_ipd_arguments(parser: argparse.ArgumentParser, covariates_required: bool = False,
                      trial_required: bool = True, time_to_event: bool = False) -> None:
    """FILE, --trial, --treatment, --outcome, --covariates (and --patient-id, --id,
    --categorical, --ordered, --na-values, --sep).  With ``time_to_event=True`` also
    ``--time COL``: then ``--event COL`` names the event column and ``--outcome`` is
    optional (checked by :func:`ipd_from_args`)."""
    parser.add_argument("file", metavar="FILE.csv", help="IPD as CSV, one row per patient")
    parser.add_argument("--trial", required=trial_required, default=None, metavar="COL",
                        help="trial identifier column" + (
                            "" if trial_required else " (optional with a single trial)"))
    parser.add_argument("--treatment", required=True, metavar="COL", help="treatment column")
    parser.add_argument("--outcome", required=not time_to_event, metavar="COL",
                        help="outcome column" + (" (binary; for a time to event give --time "
                                                 "and --event instead)" if time_to_event
                                                 else ""))
    if time_to_event:
        parser.add_argument("--time", metavar="COL", default=None,
                            help="follow-up time column of a time-to-event outcome (> 0); "
                                 "--event COL then names the event column (1 = event, "
                                 "0 = censored, or two labels such as dead/alive)")
    parser.add_argument("--covariates", required=covariates_required, metavar="A,B,...",
                        help="comma-separated covariate columns")
    parser.add_argument("--patient-id", metavar="COL", default=None,
                        help="optional patient identifier column (copied to the outputs)")
    parser.add_argument("--id", metavar="COL,...", default=None, dest="id_columns",
                        help="extra identifier columns copied to the patient-level outputs")
    parser.add_argument("--categorical", metavar="A,B,...", default=None,
                        help="covariates to treat as categorical, even when they look numeric")
    parser.add_argument("--ordered", metavar="COL[:LEV1,LEV2,...]", action="append",
                        default=None,
                        help="an ordered categorical covariate and its level order, lowest "
                             "first (e.g. --ordered 'grade:low,mid,high'); repeat for "
                             "several")
    parser.add_argument("--na-values", metavar="V1,V2,...", default=None,
                        help="cell values read as missing besides empty cells and NA "
                             "(e.g. 'None,N/A,-99')")
    parser.add_argument("--sep", metavar="CHAR", default=None,
                        help="field delimiter of the CSV files (default: detected among "
                             "comma, semicolon, tab and pipe)")
    parser.add_argument("--outcome-type", choices=["binary", "continuous"], default=None,
                        help="override the inferred outcome type")
    parser.add_argument("--event", default=None, metavar="LABEL",
                        help="outcome label that counts as the event (binary outcomes coded "
                             "with two labels ipdma cannot map itself)" + (
                            "; with --time: the event indicator column" if time_to_event
                            else ""))
    parser.add_argument("--missing", choices=["complete-case", "error"], default="complete-case",
                        help="missing covariate values: drop rows (reported per trial; "
                             "default) or stop with an error")
    parser.add_argument("--normalize-labels", action="store_true",
                        help="merge treatment labels that differ only by case or whitespace")


def ordered_from_args(args: argparse.Namespace) -> dict[str, list[str] | None] | None:
    """``--ordered grade:low,mid,high`` (repeatable) -> ``{"grade": ["low", "mid", "high"]}``."""
    from ..errors import ModelSpecificationError

    specs = getattr(args, "ordered", None)
    if not specs:
        return None
    out: dict[str, list[str] | None] = {}
    for spec in specs:
        col, _, levels = spec.partition(":")
        col = col.strip()
        if not col:
            raise ModelSpecificationError(
                f"--ordered {spec!r}: write COL or COL:LEV1,LEV2,... (lowest level first)")
        out[col] = split_list(levels) if levels.strip() else None
    return out


def id_columns(args: argparse.Namespace, columns: Iterable[str], *,
               include_keys: bool = True) -> list[str]:
    """The identifier columns to copy into patient-level outputs: ``--patient-id``,
    ``--trial`` and ``--id`` (those present in ``columns``)."""
    cols = list(columns)
    wanted = []
    if include_keys:
        wanted += [getattr(args, "patient_id", None), getattr(args, "trial", None)]
    wanted += split_list(getattr(args, "id_columns", None)) or []
    return [c for c in dict.fromkeys(w for w in wanted if w) if c in cols]


def ipd_from_args(args: argparse.Namespace, **kwargs: Any):
    """Build an :class:`ipdma.data.IPD` from the standard arguments."""
    from ..data import IPD

    df = read_csv(args.file, args)
    trial = args.trial
    if trial is None:  # single-trial analysis without a trial column
        trial = "trial" if "trial" not in df.columns else "__trial__"
        df = df.assign(**{trial: "1"})
        args.trial_constant = trial
    extra = split_list(getattr(args, "id_columns", None)) or []
    missing_ids = [c for c in extra if c not in df.columns]
    if missing_ids:
        from ..errors import column_not_found

        raise column_not_found(missing_ids[0], df.columns, "--id", where=str(args.file))
    time = getattr(args, "time", None)
    if time is not None or (hasattr(args, "time") and args.outcome is None):
        from ..errors import ModelSpecificationError, column_not_found

        if time is None:
            raise ModelSpecificationError("give --outcome COL (binary outcome), or --time COL "
                                          "and --event COL (time to event)")
        if getattr(args, "event", None) is None:
            raise ModelSpecificationError("--time needs --event COL naming the event "
                                          "indicator column (1 = event, 0 = censored)")
        for col, opt in ((time, "--time"), (args.event, "--event")):
            if col not in df.columns:
                raise column_not_found(col, df.columns, opt, where=str(args.file))
        if args.outcome is not None:
            raise ModelSpecificationError("with --time and --event leave out --outcome (the "
                                          "event column is the outcome)")
        kwargs.setdefault("time", time)
    return IPD(df, trial=trial, treatment=args.treatment, outcome=args.outcome,
               covariates=split_list(getattr(args, "covariates", None)),
               patient_id=getattr(args, "patient_id", None),
               outcome_type=getattr(args, "outcome_type", None),
               event=getattr(args, "event", None),
               missing=getattr(args, "missing", "complete-case"),
               normalize_labels=getattr(args, "normalize_labels", False),
               categorical=split_list(getattr(args, "categorical", None)),
               ordered=ordered_from_args(args), **kwargs)


def patient_frame(args: argparse.Namespace, ipd) -> pd.DataFrame:
    """``row`` (1-based input row) and the identifier columns of the analysed patients."""
    cols = id_columns(args, ipd.data.columns)
    cols = [c for c in cols if c != getattr(args, "trial_constant", None)]
    out = ipd.data[cols].copy()
    out.insert(0, "row", ipd.row_number)
    return out


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


def label_outcome(ax, outcome: str) -> None:
    """Name the outcome column on a figure's y axis when neither axis mentions it (the
    unit is the outcome's own; probabilities and odds ratios name it as such)."""
    for a in ax.figure.axes:
        if not a.get_ylabel() or outcome in a.get_ylabel() or outcome in a.get_xlabel():
            continue
        a.set_ylabel(f"{a.get_ylabel()}\n[outcome: {outcome}]")


def status(message: str) -> None:
    """A one-line status message on stderr (progress of long steps)."""
    sys.stderr.write(f"[ipdma] {message}\n")
    sys.stderr.flush()


def column_error_hint(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ColumnNotFoundError) else ""


# ------------------------------------------------------------------ model files (--save-model)
def add_save_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--save-model PATH``: write the fitted model as a versioned JSON model file."""
    parser.add_argument("--save-model", metavar="PATH.json", default=None,
                        help="also write the fitted model as a versioned JSON model file "
                             "(never pickle), e.g. for `ipdma calculator PATH.json`")


def check_save_model(args: argparse.Namespace) -> None:
    """Check ``--save-model`` before computing (``.json`` suffix, existing folder)."""
    if getattr(args, "save_model", None):
        from ..serialize import check_model_path

        check_model_path(args.save_model, "--save-model")


def write_model_file(args: argparse.Namespace, model: Any, **kwargs: Any) -> str | None:
    """Write ``model`` to ``--save-model`` (if given) with the data file's name and
    SHA-256 and the command line in its provenance; returns the path written."""
    if not getattr(args, "save_model", None):
        return None
    import shlex
    import sys

    from ..serialize import save_model

    cmd = "ipdma " + " ".join(shlex.quote(a) for a in sys.argv[1:]) \
        if sys.argv and sys.argv[0].endswith("ipdma") else None
    prov = {"command": cmd} if cmd else None
    return str(save_model(model, args.save_model, data_file=getattr(args, "file", None),
                          provenance=prov, **kwargs))

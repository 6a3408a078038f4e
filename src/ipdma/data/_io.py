"""Reading IPD files: one CSV reader with R's ``read.csv`` missing-value convention."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..errors import DataError

__all__ = ["DEFAULT_NA_VALUES", "read_csv"]

#: Cells read as missing by default (as R's ``read.csv``): empty cells and ``NA``.
DEFAULT_NA_VALUES: tuple[str, ...] = ("", "NA")

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def _sniff_delimiter(path: Path, text: str) -> str:
    """The delimiter of a delimited text file (comma, semicolon, tab or pipe)."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if not lines:
        raise DataError(f"{str(path)!r} is empty: it needs a header row and one row per patient")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        pass
    # fall back on the header: the candidate occurring most often in it
    counts = {d: lines[0].count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else ","


def read_csv(path: str | Path, *, na_values: Sequence[str] | None = None,
             sep: str | None = None) -> pd.DataFrame:
    """Read a delimited IPD file.

    Missing values follow R's ``read.csv``: only empty cells and ``NA`` are
    missing; labels such as ``None``, ``N/A`` or ``null`` are kept as values
    unless listed in ``na_values``.  The delimiter (comma, semicolon, tab or
    pipe) is detected unless ``sep`` is given.  Row ``k`` of the returned frame
    (1-based) is the ``k``-th data row of the file (the header is not counted).

    Parameters
    ----------
    path : str or Path
    na_values : sequence of str, optional
        Extra cell values read as missing (in addition to empty cells and ``NA``).
    sep : str, optional
        Field delimiter; detected when None.

    Returns
    -------
    pandas.DataFrame

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "ipd.csv")
    >>> _ = open(path, "w").write("trial;arm;y;smoker\\n1;A;0.5;None\\n1;B;NA;yes\\n")
    >>> df = read_csv(path)
    >>> df["smoker"].tolist(), int(df["y"].isna().sum())
    (['None', 'yes'], 1)
    >>> read_csv(path, na_values=["None"])["smoker"].isna().tolist()
    [True, False]
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file {str(p)!r} does not exist" if not p.exists() else
                        f"{str(p)!r} is a folder, not a CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        try:
            text = p.read_text(encoding="latin-1")
        except OSError as exc:  # pragma: no cover - unreadable file
            raise DataError(f"could not read {str(p)!r}: {exc.strerror}") from None
    except OSError as exc:
        raise DataError(f"could not read {str(p)!r}: {exc.strerror}") from None
    if sep is None:
        sep = _sniff_delimiter(p, text)
    na = list(DEFAULT_NA_VALUES) + [str(v) for v in (na_values or [])]
    try:
        import io

        df = pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=na,
                         skipinitialspace=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(p)!r} is empty: it needs a header row and one row per "
                        "patient") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[-1]
        raise DataError(f"could not read {str(p)!r} as {_DELIMITERS.get(sep, repr(sep))}-"
                        f"delimited text: {msg}") from None
    if df.shape[1] == 1:
        header = str(df.columns[0])
        others = [name for d, name in _DELIMITERS.items() if d != sep and d in header]
        if others:
            raise DataError(
                f"{str(p)!r} was read as a single column {header[:60]!r}: it looks "
                f"{others[0]}-delimited; check the file, or give the delimiter explicitly")
    return df

"""Shared building blocks for fitted results: printable summaries, the
``summary()/to_frame()/plot()`` protocol, and small validation helpers."""

from __future__ import annotations

import html as _html
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import NotFittedError

__all__ = ["ResultsMixin", "Summary", "check_is_fitted", "check_random_state",
           "format_number", "html_table", "progress_bar"]


def format_number(v: object, float_format: str = "{:.4g}") -> str:
    """A cell for reading: floats to 4 significant digits (``float_format``), large
    ones without decimals, integers and text as they are."""
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if np.isnan(f):
            return ""
        if np.isfinite(f) and 1e4 <= abs(f) < 1e15:
            return f"{f:.0f}"
        return float_format.format(f)
    return "" if v is None or v is pd.NA else str(v)


def html_table(df: pd.DataFrame, float_format: str = "{:.4g}", index: bool | None = None
               ) -> str:
    """A DataFrame as an HTML table for reading: every float cell rounded (also in
    object columns), no default 0..n-1 index column, rows with a ``trial`` column or
    index in natural order (``T2`` before ``T10``)."""
    from .data._validation import natural_key

    df = df.copy()
    if index is None:
        index = not (isinstance(df.index, pd.RangeIndex) and df.index.name is None)
    if "trial" in df.columns:
        order = sorted(range(len(df)), key=lambda i: natural_key(df["trial"].iloc[i]))
        df = df.iloc[order]
    elif df.index.name == "trial" and not isinstance(df.index, pd.MultiIndex):
        df = df.iloc[sorted(range(len(df)), key=lambda i: natural_key(df.index[i]))]
    if isinstance(df.index, pd.MultiIndex) or index:
        df.index = df.index.map(lambda v: v if isinstance(v, tuple) else
                                format_number(v, float_format))
    out = df.astype(object).map(lambda v: format_number(v, float_format))
    out.columns = [c if isinstance(c, str) else " ".join(map(str, c)) if isinstance(c, tuple)
                   else str(c) for c in out.columns]
    return out.to_html(index=index, border=0, na_rep="")


@dataclass
class Summary:
    """A printable summary: a title, one or more tables and free-text notes.

    ``print(result.summary())`` gives a plain-text table as statsmodels does;
    in Jupyter the summary renders as HTML; ``.tables`` keeps the underlying
    DataFrames for programmatic use.
    """

    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    float_format: str = "{:.4g}"

    def _fmt(self, df: pd.DataFrame) -> str:
        def f(v: object) -> str:
            if isinstance(v, (float, np.floating)):
                return "NA" if np.isnan(v) else self.float_format.format(v)
            return str(v)

        return df.map(f).to_string()

    def __str__(self) -> str:
        width = 78
        out = ["=" * width, self.title.center(width), "=" * width]
        if self.info:
            k = max(len(str(key)) for key in self.info)
            for key, val in self.info.items():
                if isinstance(val, (float, np.floating)):
                    val = self.float_format.format(val)
                out.append(f"{key!s:<{k}} : {val}")
            out.append("-" * width)
        for name, table in self.tables.items():
            if name:
                out.append(name)
            out.append(self._fmt(table))
            out.append("-" * width)
        out.extend(self.notes)
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        parts = [f"<h4>{_html.escape(self.title)}</h4>"]
        if self.info:
            rows = "".join(
                f"<tr><th>{_html.escape(str(k))}</th>"
                f"<td>{_html.escape(format_number(v, self.float_format))}</td></tr>"
                for k, v in self.info.items()
            )
            parts.append(f"<table>{rows}</table>")
        for name, table in self.tables.items():
            if name:
                parts.append(f"<h5>{_html.escape(name)}</h5>")
            parts.append(html_table(table, self.float_format))
        parts.extend(f"<p>{_html.escape(n)}</p>" for n in self.notes)
        return "\n".join(parts)

    def as_html(self) -> str:
        """HTML rendering (used by :mod:`ipdma.report`)."""
        return self._repr_html_()


class ResultsMixin:
    """The protocol every fitted results object follows.

    Subclasses implement ``summary()`` (a :class:`Summary`), ``to_frame()``
    (a tidy DataFrame) and ``plot(ax=None)`` (returns the matplotlib Axes).
    """

    def summary(self) -> Summary:  # pragma: no cover - interface
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - interface
        raise NotImplementedError

    def __str__(self) -> str:
        return str(self.summary())


def check_is_fitted(obj: object, attr: str) -> None:
    """Raise :class:`NotFittedError` unless ``obj`` has attribute ``attr``."""
    if getattr(obj, attr, None) is None:
        raise NotFittedError(
            f"This {type(obj).__name__} is not fitted yet: call .fit(...) before using it."
        )


def check_random_state(random_state: int | np.random.Generator | np.random.SeedSequence | None
                       ) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    ``None`` gives fresh OS entropy, an int or SeedSequence a reproducible
    stream, and a Generator is returned as is.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, an int, a SeedSequence or a numpy Generator, "
        f"not {type(random_state).__name__}"
    )


def as_mapping(x: Mapping | None) -> dict:
    return dict(x) if x is not None else {}


def progress_bar(iterable: Iterable, *, show: bool | None = False, total: int | None = None,
                 desc: str = "", unit: str = "it") -> Iterator:
    """``iterable`` with a tqdm progress bar on stderr.

    ``show``: True always, False never (tqdm is not even imported), None only when
    stderr is a terminal (what the CLI passes).  The library's ``progress=``
    arguments all go through here.
    """
    import sys

    if show is False or (show is None and not sys.stderr.isatty()):
        yield from iterable   # no bar: tqdm (and asyncio) is not even imported
        return

    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                    dynamic_ncols=True)

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
           "progress_bar"]


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
                f"<tr><th>{_html.escape(str(k))}</th><td>{_html.escape(str(v))}</td></tr>"
                for k, v in self.info.items()
            )
            parts.append(f"<table>{rows}</table>")
        for name, table in self.tables.items():
            if name:
                parts.append(f"<h5>{_html.escape(name)}</h5>")
            parts.append(table.to_html(float_format=lambda v: self.float_format.format(v)))
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
    if show is False:
        yield from iterable
        return
    import sys

    from tqdm.auto import tqdm

    yield from tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                    disable=not sys.stderr.isatty() if show is None else False,
                    dynamic_ncols=True)

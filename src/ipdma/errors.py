"""Exceptions and warnings raised by ipdma.

Every error ipdma raises on bad input derives from :class:`IPDMAError`, and
its message names the column, trial, study or value at fault and says how to
fix it.  Catch :class:`IPDMAError` to handle all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "BoundaryWarning",
    "ColumnNotFoundError",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "IPDMAError",
    "IPDMAWarning",
    "InfeasibleMethodError",
    "MissingDataError",
    "MissingDependencyError",
    "ModelFileError",
    "ModelSpecificationError",
    "NetworkError",
    "NotFittedError",
    "OutcomeError",
    "SamplerWarning",
    "closest_name",
    "column_not_found",
    "did_you_mean",
]


class IPDMAError(Exception):
    """Base class of every error raised by ipdma."""


class DataError(IPDMAError, ValueError):
    """The input data are unusable as given (bad values, shapes or codes)."""


class ColumnNotFoundError(DataError, KeyError):
    """A named column is not in the data frame.

    The message suggests the closest existing column name.
    """

    def __str__(self) -> str:  # KeyError would otherwise print the repr
        return str(self.args[0]) if self.args else ""


class OutcomeError(DataError):
    """The outcome column cannot be used (non-numeric, miscoded, non-finite)."""


class MissingDataError(DataError):
    """Missing values where none are allowed (or ``missing="error"`` was asked)."""


class NetworkError(DataError):
    """The treatment network is unusable (disconnected, duplicate labels, ...)."""


class ModelFileError(DataError):
    """A model file cannot be read: missing, corrupt, not an ipdma model file, a newer
    format version or an unknown model kind (``ipdma.serialize.load_model``)."""


class ModelSpecificationError(IPDMAError, ValueError):
    """Arguments that do not describe a valid model (bad option, shape, ...)."""


class InfeasibleMethodError(ModelSpecificationError):
    """A combination of methods that cannot work together (e.g. a pooler that
    needs coefficients with a learner that has none)."""


class MissingDependencyError(IPDMAError, ImportError):
    """An optional dependency (an install extra of ipdma) is not installed; the message
    names the extra to install."""


class ConvergenceError(IPDMAError, RuntimeError):
    """An optimiser or iterative algorithm failed to converge."""


class NotFittedError(IPDMAError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``."""


class IPDMAWarning(UserWarning):
    """Base class of every warning issued by ipdma."""


class DataWarning(IPDMAWarning):
    """Something in the data was handled in a way the user should know about
    (rows dropped, trials excluded from relative effects, ...)."""


class ConvergenceWarning(IPDMAWarning):
    """An iterative fit stopped without meeting its convergence criterion."""


class BoundaryWarning(IPDMAWarning):
    """An estimate lies on the boundary of its parameter space (e.g. tau^2 = 0,
    a between-study covariance that is not positive definite)."""


class SamplerWarning(IPDMAWarning):
    """MCMC diagnostics (R-hat, effective sample size, divergences) indicate
    the posterior sample may be unreliable."""


# --------------------------------------------------------------------------- messages


def _norm_key(label: str) -> str:
    """Label key ignoring case and surrounding/repeated whitespace."""
    return re.sub(r"\s+", " ", label.strip()).casefold()


def closest_name(name: object, candidates: Iterable[object]) -> object | None:
    """The candidate closest to ``name``: a match ignoring case and whitespace first,
    then the closest by :func:`difflib.get_close_matches` (case-sensitive, then folded)."""
    import difflib  # only when a name is wrong (keeps `import ipdma` lean)

    cands = list(candidates)
    key = _norm_key(str(name))
    for c in cands:
        if _norm_key(str(c)) == key:
            return c
    by_str = {str(c): c for c in cands}
    match = difflib.get_close_matches(str(name), list(by_str), n=1, cutoff=0.6)
    if match:
        return by_str[match[0]]
    folded = {str(c).casefold(): c for c in cands}
    match = difflib.get_close_matches(str(name).casefold(), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def did_you_mean(name: object, candidates: Iterable[object]) -> str:
    """``" Did you mean 'x'?"`` for the closest candidate, or ``""``."""
    best = closest_name(name, candidates)
    return f" Did you mean {best!r}?" if best is not None else ""


def column_not_found(name: object, columns: Iterable[object], role: str = "",
                     where: str = "the data") -> ColumnNotFoundError:
    """The error for a column that is absent: names the role, suggests the closest
    column and lists (the first 12) columns there are."""
    cols = [str(c) for c in columns]
    shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
    role = f"{role} " if role else ""
    return ColumnNotFoundError(
        f"{role}column {name!r} is not in {where}.{did_you_mean(name, cols)} "
        f"Available columns: {shown}.")

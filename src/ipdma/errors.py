"""Exceptions and warnings raised by ipdma.

Every error ipdma raises on bad input derives from :class:`IPDMAError`, and
its message names the column, trial, study or value at fault and says how to
fix it.  Catch :class:`IPDMAError` to handle all of them at once.
"""

from __future__ import annotations

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
    "ModelSpecificationError",
    "NetworkError",
    "NotFittedError",
    "OutcomeError",
    "SamplerWarning",
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


class ModelSpecificationError(IPDMAError, ValueError):
    """Arguments that do not describe a valid model (bad option, shape, ...)."""


class InfeasibleMethodError(ModelSpecificationError):
    """A combination of methods that cannot work together (e.g. a pooler that
    needs coefficients with a learner that has none)."""


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

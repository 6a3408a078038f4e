"""Bootstrap refits kept as arrays: predicted at known query points, then dropped.

A weighted-bootstrap pair refits its learner B times in each trial; with a tree
ensemble each refit is a large Python object (an XGBoost booster of 500 rounds is
about 0.4 MB), and 1,000 of them per learner, shipped from the worker processes to
the parent, made ``bench_ite`` peak at 3.2 GB.  When the points the model will be
asked about are known at fit time (``X_query=`` of :func:`fit_methods` and
:meth:`TwoStageITE.fit`, the CLI's ``--predict``, :func:`compare_methods`, the
simulation study), the stage-1 worker predicts every refit there and keeps only the
(B, N) array of predicted ITEs: :class:`PredictedBootstrap`.  Its variances are
computed from exactly the numbers the refits would give later, so the pooled
predictions are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ModelSpecificationError

__all__ = ["PredictedBootstrap", "compact_bootstrap", "predict_refits", "predicted_bootstrap"]


class PredictedBootstrap:
    """Bootstrap refits reduced to their predicted ITEs at fixed query points.

    ``preds`` is (B, N): refit b's ITE at row i of ``X_query`` on ``scale``
    (``None`` for continuous outcomes).  :meth:`predict_ite` answers for any set
    of rows of ``X_query`` (in any order, e.g. one held-out trial's patients);
    other points raise :class:`~ipdma.errors.ModelSpecificationError`, since the
    refits are gone.

    Examples
    --------
    >>> import numpy as np
    >>> Xq = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    >>> pb = PredictedBootstrap(Xq, np.arange(6.0).reshape(2, 3))
    >>> pb.predict_ite(Xq[[2, 0]])
    array([[2., 0.],
           [5., 3.]])
    >>> pb.nbytes
    48
    """

    def __init__(self, X_query: np.ndarray, preds: np.ndarray, scale: str | None = None):
        self.X_query = np.ascontiguousarray(X_query, dtype=float)
        self.preds = np.asarray(preds, dtype=float)
        self.scale = scale
        self._rows: dict[bytes, int] | None = None

    @property
    def n_boot(self) -> int:
        return self.preds.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the stored predictions."""
        return int(self.preds.nbytes)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_rows"] = None
        return state

    def _index(self, X: np.ndarray) -> np.ndarray:
        if X.shape == self.X_query.shape and np.array_equal(X, self.X_query):
            return np.arange(len(X))
        if X.ndim != 2 or X.shape[1] != self.X_query.shape[1]:
            raise ModelSpecificationError(
                f"the bootstrap refits were predicted at {self.X_query.shape[1]}-column query "
                f"points; got an array of shape {X.shape}")
        if self._rows is None:
            rows: dict[bytes, int] = {}
            for i, r in enumerate(self.X_query):
                rows.setdefault(r.tobytes(), i)
            self._rows = rows
        idx = np.empty(len(X), dtype=np.intp)
        for i, r in enumerate(np.ascontiguousarray(X, dtype=float)):
            j = self._rows.get(r.tobytes())
            if j is None:
                raise ModelSpecificationError(
                    f"row {i} of the new covariates is not one of the query points given at "
                    "fit time (X_query): the bootstrap refits were predicted there and "
                    "dropped to save memory; refit with these points in X_query (or without "
                    "X_query to keep the refits)")
            idx[i] = j
        return idx

    def predict_ite(self, X: Any, scale: str | None = None) -> np.ndarray:
        """The (B, len(X)) predicted ITEs of the refits at rows of ``X_query``."""
        if scale != self.scale:
            raise ModelSpecificationError(
                f"the bootstrap refits were predicted on scale {self.scale!r}, not {scale!r}: "
                "refit with that scale")
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        return self.preds[:, self._index(X)]


def predicted_bootstrap(boot: Any, X_query: np.ndarray, scale: str | None) -> PredictedBootstrap:
    """Predict bootstrap refits ``boot`` (``predict_ite(X) -> (B, N)``) at ``X_query``
    on ``scale`` (``None``: the learner's only scale) and keep only those numbers."""
    kw = {} if scale is None else {"scale": scale}
    return PredictedBootstrap(X_query, boot.predict_ite(X_query, **kw), scale)


def _query_scale(learner: Any, scale: str | None) -> str | None:
    """The scale refits are predicted on: ``None`` for continuous outcomes (the
    learner's only scale), else the family's check of ``scale`` (default when None)."""
    fam = getattr(learner, "family_", None)
    return None if fam is None or fam.name == "continuous" else fam.check_scale(scale)


def predict_refits(learner: Any, refits: Iterator[Any], n_boot: int, X_query: Any,
                   scale: str | None) -> PredictedBootstrap:
    """Predict each fitted refit from the iterator ``refits`` at ``X_query`` as soon as
    it is fitted, keeping only the (B, N) numbers: the peak memory of a worker is one
    refit, not B.  The same numbers as ``ModelBootstrap(list(refits))`` predicted at
    ``X_query`` (each refit's prediction does not depend on the others)."""
    Xq = np.asarray(X_query, dtype=float)
    sc = _query_scale(learner, scale)
    kw = {} if sc is None else {"scale": sc}
    rows = []
    for m in refits:
        rows.append(np.asarray(m.predict_ite(Xq, **kw)).reshape(1, -1))
        del m
    if len(rows) != n_boot:   # pragma: no cover - a learner's refit loop is broken
        raise ModelSpecificationError(f"internal: {len(rows)} refits for n_boot={n_boot}")
    return PredictedBootstrap(Xq, np.vstack(rows), sc)


def compact_bootstrap(boot: Any, learner: Any, X_query: np.ndarray | None,
                      scale: str | None) -> Any:
    """``boot`` with fitted refit models replaced by their predictions at ``X_query``.

    Refits that are already arrays (the coefficient draws of the linear learners)
    are kept as they are; ``X_query=None`` keeps ``boot``.  ``scale`` is the
    model's ITE scale (binary outcomes; the family's default when ``None``), the
    one :meth:`TwoStageITE.predict` will ask for.
    """
    from ._learners import ModelBootstrap

    if X_query is None or not isinstance(boot, ModelBootstrap):
        return boot
    return predicted_bootstrap(boot, np.asarray(X_query, dtype=float),
                               _query_scale(learner, scale))

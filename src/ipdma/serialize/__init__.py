"""Fitted models as versioned JSON files (never pickle).

:func:`save_model` writes a fitted :class:`~ipdma.nmr.RiskNMRResult` (with its stage-1
:class:`~ipdma.prognosis.RiskModel`), :class:`~ipdma.prognosis.RiskModel`,
:class:`~ipdma.ite.TwoStageITE`, :class:`~ipdma.trees.MOB` or
:class:`~ipdma.trees.MetaMOB` as one JSON document; :func:`load_model` reads it back
into an object whose ``predict`` gives the original's numbers bit for bit.
:func:`model_inputs` lists a model's per-patient inputs with their development-data
ranges (for calculators and input forms); :func:`predict_from_covariates` takes a
RiskNMR with its stage-1 model from patient covariates to predictions.

The file format (``"format": "ipdma-model"``, ``"format_version": 1``) and its
versioning policy are described in ``docs/architecture.md`` ("Model files").
"""

from ._codec import ALLOWED_MODULES
from ._inputs import model_inputs
from ._io import (
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    check_model_path,
    load_model,
    read_model_header,
    save_model,
)
from ._ite import EXPORTABLE_LEARNERS
from ._predict import predict_from_covariates

__all__ = [
    "ALLOWED_MODULES",
    "EXPORTABLE_LEARNERS",
    "FORMAT",
    "FORMAT_VERSION",
    "KINDS",
    "check_model_path",
    "load_model",
    "model_inputs",
    "predict_from_covariates",
    "read_model_header",
    "save_model",
]

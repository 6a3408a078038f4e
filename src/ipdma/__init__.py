"""ipdma: individual participant data meta-analysis of randomized trials.

Three methods, each in its own sub-package:

* :mod:`ipdma.nmr` with :mod:`ipdma.prognosis` - risk-based two-stage IPD
  network meta-regression (Chalkou et al., 2021);
* :mod:`ipdma.ite` - general two-stage IPD meta-analysis of individualized
  treatment effects (Mainetti et al., 2026);
* :mod:`ipdma.trees` - subgroup identification with MOB and metaMOB
  (Huber & Friede, 2025).

They share :mod:`ipdma.data` (the :class:`~ipdma.data.IPD` container),
:mod:`ipdma.meta` (univariate and multivariate meta-analysis) and
:mod:`ipdma.datasets` (seeded example data).  Sub-packages are imported on
first use, so ``import ipdma`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import errors

__version__ = "0.1.0"

_SUBPACKAGES = {
    "data", "datasets", "families", "meta", "prognosis", "nmr", "ite", "trees", "simstudy", "plots",
    "report", "cli", "serialize",
}

__all__ = ["IPD", "__version__", "errors", *sorted(_SUBPACKAGES)]


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name == "IPD":
        return importlib.import_module(".data", __name__).IPD
    raise AttributeError(f"module 'ipdma' has no attribute {name!r}")

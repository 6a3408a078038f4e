"""Performance measures of ITE predictions against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["METRICS", "ite_metrics"]

#: Metric names, in the order they are stored.
METRICS = ["mae", "bias", "rmse", "r2", "coverage_ci", "width_ci", "coverage_pi", "width_pi"]


def ite_metrics(pred: pd.DataFrame, truth: np.ndarray) -> dict[str, float]:
    """Accuracy of predicted ITEs against the true ITEs of the same patients.

    * ``mae``: median over patients of |true - predicted| (the measure of
      Mainetti et al.);
    * ``bias``: mean of predicted - true; ``rmse``: root mean squared error;
    * ``r2``: 1 - mean(err^2) / var(true);
    * ``coverage_ci``/``width_ci`` and ``coverage_pi``/``width_pi``: share of
      true ITEs inside the confidence / prediction interval and its mean width,
      NaN where the method gives no such interval.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.simstudy import ite_metrics
    >>> truth = np.array([1.0, 2.0, 3.0, 4.0])
    >>> pred = pd.DataFrame({"ite": [1.5, 2.0, 2.0, 4.5],
    ...                      "ci_low": [1.0, 1.5, 1.0, 4.2], "ci_high": [2.0, 2.5, 2.5, 5.0]})
    >>> m = ite_metrics(pred, truth)
    >>> round(m["mae"], 3), round(m["bias"], 3), round(m["rmse"], 3), round(m["r2"], 3)
    (0.5, 0.0, 0.612, 0.7)
    >>> round(m["coverage_ci"], 3), round(m["width_ci"], 3), m["coverage_pi"]
    (0.5, 1.075, nan)
    """
    ite = np.asarray(pred["ite"], dtype=float)
    truth = np.asarray(truth, dtype=float)
    err = ite - truth
    out = {
        "mae": float(np.median(np.abs(err))),
        "bias": float(np.mean(err)),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "r2": float(1.0 - np.mean(err**2) / np.var(truth)),
    }
    for kind in ("ci", "pi"):
        lo, hi = f"{kind}_low", f"{kind}_high"
        if lo in pred and hi in pred and pred[lo].notna().all() and pred[hi].notna().all():
            low = np.asarray(pred[lo], dtype=float)
            high = np.asarray(pred[hi], dtype=float)
            out[f"coverage_{kind}"] = float(np.mean((truth >= low) & (truth <= high)))
            out[f"width_{kind}"] = float(np.mean(high - low))
        else:
            out[f"coverage_{kind}"] = np.nan
            out[f"width_{kind}"] = np.nan
    return out

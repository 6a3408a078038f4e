"""Risk-based NMR predictions from patient covariates (stage 1 then stage 2)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError

__all__ = ["predict_from_covariates"]


def predict_from_covariates(model: Any, data: pd.DataFrame, *, risk_model: Any = None,
                            **predict_options: Any) -> pd.DataFrame:
    """Predictions under every treatment for patients given by their covariates.

    The stage-1 :class:`~ipdma.prognosis.RiskModel` scores the patients (its linear
    predictor with the average intercept, ``RiskModel.predict_logit``: the risk score
    ``ipdma risk-nmr`` fits stage 2 on) and the RiskNMR predicts from that score.

    Parameters
    ----------
    model : RiskNMRResult
        With its ``risk_model`` (set by :func:`load_model`) or ``risk_model=``.
    data : DataFrame
        The stage-1 covariates, one row per patient.
    risk_model : RiskModel, optional
    **predict_options
        ``baseline``, ``point`` ... of :meth:`RiskNMRResult.predict`.

    Returns
    -------
    DataFrame
        As :meth:`RiskNMRResult.predict` with a patient DataFrame (``row`` = the index
        of ``data``), plus ``risk_score`` (logit scale).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.prognosis import RiskModel
    >>> from ipdma.nmr import RiskNMR
    >>> from ipdma.serialize import predict_from_covariates
    >>> rng = np.random.default_rng(2)
    >>> n = 600
    >>> df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
    ...                    "treat": rng.choice(["placebo", "A"], n),
    ...                    "age": rng.normal(60, 8, n)})
    >>> eta = -6 + 0.09 * df.age - 0.6 * (df.treat == "A")
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    >>> rm = RiskModel("glm").fit(df, outcome="y", covariates=["age"])
    >>> df["logit_risk"] = rm.predict_logit(df)
    >>> res = RiskNMR(engine="ml", n_sim=200, random_state=1).fit(
    ...     df, trial="trial", treatment="treat", outcome="y")
    >>> out = predict_from_covariates(res, df.head(2), risk_model=rm)
    >>> out[["row", "treatment"]].values.tolist()
    [[0, 'placebo'], [0, 'A'], [1, 'placebo'], [1, 'A']]
    """
    from ..nmr import RiskNMRResult

    if not isinstance(model, RiskNMRResult):
        raise ModelSpecificationError(
            f"predict_from_covariates needs a fitted RiskNMR result, not {type(model).__name__}")
    rm = risk_model if risk_model is not None else getattr(model, "risk_model", None)
    if rm is None:
        raise ModelSpecificationError(
            "this RiskNMR result has no stage-1 risk model: pass risk_model= (or save it "
            "with save_model(res, path, risk_model=...)), or predict from the risk score "
            "with res.predict(DataFrame with the risk column)")
    col = model.columns["risk"]
    if col is None:
        raise ModelSpecificationError("the RiskNMR has no risk term (fitted with risk=None)")
    lp = rm.predict_logit(data)
    out = model.predict(pd.DataFrame({col: lp}, index=data.index), **predict_options)
    T = len(model.treatments)
    out.insert(2, "risk_score", np.repeat(np.asarray(lp, float), T))
    return out

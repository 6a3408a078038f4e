"""Multiple imputation by chained equations and Rubin's rules for stage 1.

Imputation model: scikit-learn's ``IterativeImputer`` (Bayesian ridge per
column, ``sample_posterior=True`` so the m completed data sets differ by proper
posterior draws), run on the covariate columns together with the outcome and
trial indicators as auxiliary predictors (the outcome must be in the
imputation model, otherwise covariate-outcome associations are biased towards
zero).  Each completed data set is analysed with the same estimator and the
coefficients are pooled by Rubin's rules: ``Q = mean(Q_m)``,
``T = W + (1 + 1/m) B``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._estimators import FittedParams

__all__ = ["impute_datasets", "rubin_pool"]


def impute_datasets(X: np.ndarray, y: np.ndarray, trial_codes: np.ndarray | None,
                    use: np.ndarray, m: int, rng: np.random.Generator,
                    max_iter: int = 10) -> list[np.ndarray]:
    """``m`` completed copies of ``X`` (all rows; observed values unchanged)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    aux = [np.where(np.isnan(y), np.nan, y)[:, None]]
    if trial_codes is not None and trial_codes.max() > 0:
        aux.append((trial_codes[:, None] == np.arange(1, trial_codes.max() + 1)).astype(float))
    Z = np.column_stack([X, *aux])
    p = X.shape[1]
    out = []
    for _ in range(m):
        imp = IterativeImputer(sample_posterior=True, max_iter=max_iter, skip_complete=True,
                               random_state=int(rng.integers(0, 2**31 - 1)))
        Zc = imp.fit_transform(Z)
        Xc = X.copy()
        miss = np.isnan(X)
        Xc[miss] = Zc[:, :p][miss]
        out.append(Xc)
    return out


def rubin_pool(fits: list[FittedParams], names: list[str]) -> tuple[FittedParams, pd.DataFrame]:
    """Pool the fits of the m completed data sets (Rubin's rules).

    Returns the pooled :class:`FittedParams` (``vcov`` = total variance ``T``;
    within variance unavailable for the lasso, then ``T = (1 + 1/m) B``) and a
    table with columns coef, within, between, total, fmi (fraction of missing
    information, ``(1 + 1/m) B / T``).
    """
    m = len(fits)
    Q = np.array([np.r_[f.intercept, f.beta] for f in fits])
    qbar = Q.mean(axis=0)
    Bm = np.atleast_2d(np.cov(Q, rowvar=False))
    if all(f.vcov is not None for f in fits):
        W = np.mean([f.vcov for f in fits], axis=0)
    else:
        W = np.full_like(Bm, np.nan)
    T = np.where(np.isnan(W), 0.0, W) + (1 + 1 / m) * Bm
    ti = None
    if fits[0].trial_intercepts is not None:
        ti = np.mean([f.trial_intercepts for f in fits], axis=0)
    info = dict(fits[0].info)
    info["penalty"] = float(np.mean([f.info.get("penalty", np.nan) for f in fits]))
    info["penalties_per_imputation"] = [f.info.get("penalty") for f in fits]
    sig = [f.info.get("sigma_trial") for f in fits]
    if sig[0] is not None:
        info["sigma_trial"] = float(np.mean(sig))
    info.pop("idata", None)
    tab = pd.DataFrame({"coef": qbar, "within": np.diag(W), "between": np.diag(Bm),
                        "total": np.diag(T)}, index=names)
    tab["fmi"] = (1 + 1 / m) * tab["between"] / tab["total"]
    return FittedParams(float(qbar[0]), qbar[1:], ti, T, info), tab

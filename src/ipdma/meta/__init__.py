"""Univariate and multivariate meta-analysis (metafor-equivalent).

High-level API (pandas in, results objects out)
-----------------------------------------------
meta_analysis(yi, vi, mods=None, *, method="REML", test="z", level=0.95, data=None,
              study_names=None) -> UnivariateMetaResult
    Fixed/random effects (FE, DL, REML, ML, PM, SJ, HE), meta-regression, Wald or
    Knapp-Hartung inference, Q/I^2/H^2, Q-profile CI for tau^2, prediction intervals.

Low-level numpy functions (no pandas; for loops, poolers and simulations)
-------------------------------------------------------------------------
tau2_estimate(yi, vi, X=None, method="REML") -> (tau2, info)
fit_univariate(yi, vi, X=None, method="REML", test="z", tau2=None) -> UnivariateFit
qprofile_tau2_ci(yi, vi, X=None, level=0.95) -> (lb, ub)
pool_univariate(Y, V, method="REML", level=0.95, pi_df="riley") -> dict of arrays
    Many intercept-only problems (rows of Y, V; NaN = study absent) solved at once.
"""

from ._formula import design_from_formula
from ._univariate import (
    UNIVARIATE_METHODS,
    UnivariateFit,
    UnivariateMetaResult,
    fit_univariate,
    meta_analysis,
    pool_univariate,
    qprofile_tau2_ci,
    tau2_estimate,
)

__all__ = [
    "UNIVARIATE_METHODS",
    "UnivariateFit",
    "UnivariateMetaResult",
    "design_from_formula",
    "fit_univariate",
    "meta_analysis",
    "pool_univariate",
    "qprofile_tau2_ci",
    "tau2_estimate",
]

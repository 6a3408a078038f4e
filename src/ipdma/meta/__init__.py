"""Univariate and multivariate meta-analysis (metafor-equivalent).

High-level API (pandas in, results objects out)
-----------------------------------------------
meta_analysis(yi, vi, mods=None, *, method="REML", test="z", level=0.95, data=None,
              study_names=None) -> UnivariateMetaResult
    Fixed/random effects (FE, DL, REML, ML, PM, SJ, HE), meta-regression, Wald or
    Knapp-Hartung inference, Q/I^2/H^2, Q-profile CI for tau^2, prediction intervals.

mv_meta_analysis(y, S, mods=None, *, method="reml", structure="unstructured",
                 outcome_names=None, study_names=None, level=0.95) -> MultivariateMetaResult
    Multivariate (missing outcomes allowed) fixed / REML / ML / method-of-moments
    meta-analysis and meta-regression; Psi unstructured, diagonal or tau^2 I; BLUPs,
    predictions with confidence and prediction intervals.

Low-level numpy functions (no pandas; for loops, poolers and simulations)
-------------------------------------------------------------------------
tau2_estimate(yi, vi, X=None, method="REML") -> (tau2, info)
fit_univariate(yi, vi, X=None, method="REML", test="z", tau2=None) -> UnivariateFit
qprofile_tau2_ci(yi, vi, X=None, level=0.95) -> (lb, ub)
pool_univariate(Y, V, method="REML", level=0.95, pi_df="riley") -> dict of arrays
    Many intercept-only problems (rows of Y, V; NaN = study absent) solved at once.
fit_mvma(y, S, X=None, *, method="reml", structure="unstructured") -> MVFit
    Multivariate fit on arrays: y (k, p) with NaN, S (k, p, p), X (k, q) including the
    intercept; returns beta (q, p), vcov, Psi, log-likelihoods, Q, convergence info.
    BLAS runs single-threaded during the fit (tiny matrices: threads only add overhead).
fit_variance_components(y, V, X, M, *, method="reml", tau2=None) -> VCFit
    y ~ N(X beta, V + sum_q tau2_q M_q) with known structure matrices M_q (network /
    consistency models; metafor's rma.mv with R = list(...)); REML, ML, fixed, given tau2.
consistency_components(study, parameter, rho=0.5) -> (names, [M_q])
    The consistency structure: one tau2 per parameter type, rho within a multi-arm study.

Aggregate-data network meta-analysis (netmeta-equivalent)
---------------------------------------------------------
pairwise_contrasts(data, *, study, treatment, events=, n= | mean=, sd=, n= | te=, se=
                   [treatment2=], measure="OR"|"RR"|"RD"|"MD"|"SMD", incr=0.5) -> ContrastData
    Study contrasts vs each study's baseline arm with the shared-arm covariance.
network_meta_analysis(data, ..., method="common"|"DL"|"REML"|"ML", tau2=None,
                      small_values="good"|"bad") -> NMAResult
    Contrast-based NMA with the consistency structure; league(), pscores(),
    heterogeneity() (Q decomposition), netsplit(), plot(kind="forest"|"network"|"netsplit").
"""

from ._components import VCFit, consistency_components, fit_variance_components
from ._effects import MEASURES, ContrastData, pairwise_contrasts
from ._formula import design_from_formula
from ._multivariate import MultivariateMetaResult, MVFit, fit_mvma, mv_meta_analysis
from ._nma import NMA_METHODS, NMAResult, network_meta_analysis
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
    "MEASURES",
    "NMA_METHODS",
    "UNIVARIATE_METHODS",
    "ContrastData",
    "MVFit",
    "MultivariateMetaResult",
    "NMAResult",
    "UnivariateFit",
    "UnivariateMetaResult",
    "VCFit",
    "consistency_components",
    "design_from_formula",
    "fit_mvma",
    "fit_univariate",
    "fit_variance_components",
    "meta_analysis",
    "mv_meta_analysis",
    "network_meta_analysis",
    "pairwise_contrasts",
    "pool_univariate",
    "qprofile_tau2_ci",
    "tau2_estimate",
]

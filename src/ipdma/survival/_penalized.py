"""Lasso / elastic-net Cox regression (= ``glmnet(family = "cox")``).

Objective, on columns standardised as glmnet does (mean and sd with divisor n,
weights normalised to sum 1)::

    -loglik_Breslow(beta) / sum(w) + lambda * sum_j pf_j [alpha |b_j| + (1 - alpha)/2 b_j^2]

with Breslow's rule for tied event times (glmnet's), penalty factors rescaled
to sum to the number of columns, and coefficients reported on the original
scale.  Solvers (:mod:`ipdma.survival._coxnet`): by default the exact minimiser at each
lambda (proximal Newton with the exact Breslow Hessian, the penalised quadratic model
solved exactly on its active set); with ``thresh=`` glmnet's own iterations (diagonal
IRLS weights + coordinate descent in covariance mode, strong rules, its convergence test),
which reproduce glmnet's coefficients at the same ``thresh`` including its convergence
error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._base import Summary, check_is_fitted
from .._enet import one_blas_thread
from ..errors import ConvergenceWarning, ModelSpecificationError, OutcomeError
from ._cox import _numeric_matrix
from ._coxnet import (
    CoxPathData,
    exact_cox_path,
    glmnet_cox_iterations,
    glmnet_default_lambdas,
    glmnet_lambda_max,
)
from ._outcome import survival_outcome

__all__ = ["CoxNet", "coxnet_lambda_max", "coxnet_path"]


def _pf(penalty_factor, p):
    pf = np.ones(p) if penalty_factor is None else np.maximum(np.asarray(penalty_factor, float), 0)
    if len(pf) != p:
        raise ModelSpecificationError(f"penalty_factor has {len(pf)} entries for {p} columns")
    return pf * p / pf.sum() if pf.sum() > 0 else pf


def coxnet_lambda_max(X, time, event, alpha: float = 1.0, penalty_factor=None,
                      weights=None, standardize: bool = True, strata=None) -> float:
    """Smallest lambda with every penalised coefficient zero (glmnet's first lambda):
    the largest score of a penalised standardised column divided by its penalty factor
    and by ``max(alpha, 1e-3)``, the score taken at the fit of the penalty-free columns
    (glmnet's ``coxnet``; at beta = 0 when ``alpha = 0``)."""
    data = _data(X, time, event, weights, standardize, strata)
    pf = _pf(penalty_factor, data.p)
    return glmnet_lambda_max(data, alpha, pf, ~data.const)[0]


def _data(X, time, event, weights, standardize, strata):
    st = None if strata is None else pd.factorize(np.asarray(strata), sort=True)[0]
    return CoxPathData(X, np.asarray(time, float), np.asarray(event, float), weights, st,
                       standardize)


def coxnet_path(X, time, event, lambdas=None, alpha: float = 1.0, penalty_factor=None,
                weights=None, standardize: bool = True, strata=None, n_lambda: int = 100,
                lambda_min_ratio: float | None = None, tol: float = 1e-14,
                max_iter: int = 200, thresh: float | None = None):
    """Elastic-net Cox coefficients along a decreasing lambda path (warm starts).

    Parameters
    ----------
    X : array (n, p); time, event : arrays (n,)
    lambdas : array, optional
        Lambdas (glmnet scale), solved in decreasing order as given.  Default: glmnet's
        sequence for ``family = "cox"``: ``n_lambda`` log-spaced values from
        :func:`coxnet_lambda_max` (the score at the fit of the penalty-free columns) down
        to ``lambda_min_ratio`` times it (1e-4 when n > p, else 1e-2); the first solution
        is glmnet's at an infinite lambda (penalised coefficients zero), and the path
        stops where glmnet stops it (from the 5th lambda, once the fraction of null
        deviance explained gains less than 0.1 % relative over 4 steps, or exceeds 0.99).
    alpha : float
        Elastic-net mixing (1 = lasso).
    penalty_factor, weights, standardize, strata
        As glmnet (``strata`` = ``stratifySurv``).
    tol : float
        Kept for compatibility (the exact solver converges to ~1e-14).
    max_iter : int
        Newton iterations per lambda (exact solver).
    thresh : float, optional
        None (default): the exact minimiser at each lambda (proximal Newton, error
        ~1e-14).  A number: glmnet's own iterations with its convergence threshold
        ``thresh`` (``glmnet(..., thresh = )``, 1e-7 is glmnet's default), so the
        coefficients are glmnet's including its convergence error (without strata;
        glmnet runs stratified data through another routine).

    Returns
    -------
    coefs : numpy.ndarray, shape (len(lambdas), p), original scale
    lambdas : numpy.ndarray
    converged : numpy.ndarray of bool

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> t = rng.exponential(np.exp(-X[:, 0]))
    >>> B, lam, ok = coxnet_path(X, t, np.ones(200), n_lambda=10)
    >>> B.shape, bool(np.all(B[0] == 0)), bool(ok.all())    # glmnet's early stop at 9
    ((9, 3), True, True)
    >>> B7, _, _ = coxnet_path(X, t, np.ones(200), lam, thresh=1e-7)   # glmnet's numbers
    >>> bool(np.max(np.abs(B7 - B)) < 1e-3)
    True
    """
    if not 0 <= alpha <= 1:
        raise ModelSpecificationError(f"alpha must be in [0, 1] (got {alpha})")
    data = _data(X, time, event, weights, standardize, strata)
    if data.sdw <= 0:
        raise OutcomeError("the penalised Cox path needs at least one event (with positive "
                           "weight); every row is censored")
    p = data.p
    pf = _pf(penalty_factor, p)
    usable = ~data.const
    ratio = lambda_min_ratio or (1e-4 if data.n > p else 1e-2)
    if lambdas is not None:
        lambdas = np.asarray(lambdas, float).ravel()
        if np.any(lambdas < 0) or np.any(np.isnan(lambdas)):
            raise ModelSpecificationError("lambdas must be >= 0")
    with one_blas_thread():             # narrow matrices: 1 BLAS thread is faster
        if thresh is not None:
            order = None
            lam_in = None
            if lambdas is not None:
                order = np.argsort(-lambdas, kind="stable")
                lam_in = lambdas[order]
            B, lam, _, conv, _ = glmnet_cox_iterations(
                data, lam_in, alpha, pf, thresh=float(thresh), nlambda=n_lambda,
                lambda_min_ratio=ratio)
            if order is not None:
                B2, c2 = np.empty_like(B), np.empty_like(conv)
                B2[order], c2[order] = B, conv
                B, conv, lam = B2, c2, lambdas
        else:
            l1w, l2w = alpha * pf, (1 - alpha) * pf
            stop = None
            if lambdas is None:
                lmax, b0 = glmnet_lambda_max(data, alpha, pf, usable)
                lam = glmnet_default_lambdas(lmax, ratio, n_lambda)
                lam_solve = lam.copy()
                lam_solve[0] = np.inf
                devs = []
                rr = data.lsat_n - data.ll0

                def stop(k, b, f, devs=devs):
                    devs.append((data.lconst - f - data.ll0) / rr)
                    return _glmnet_stop(devs)
            else:
                lam_solve, lam, b0 = lambdas, lambdas, None
            B, conv = exact_cox_path(data, lam_solve, l1w, l2w, usable, b0, stop=stop,
                                     max_iter=max_iter)
            lam = lam[:len(B)]
    out = np.where(data.const, 0.0, B / data.sd)
    if not conv.all():
        warnings.warn(f"coxnet did not converge at lambda = {lam[~conv][:3].tolist()}",
                      ConvergenceWarning, stacklevel=2)
    return out, np.asarray(lam, float), conv


def _glmnet_stop(devs, mnlam: int = 5, fdev: float = 1e-5, devmax: float = 0.999) -> bool:
    """glmnet's early stop of a default Cox path, given the dev ratios so far."""
    k = len(devs)
    if k < mnlam:
        return False
    d = devs[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        if (d - devs[k - mnlam]) / d < 100 * fdev:
            return True
    return d > devmax * 0.99 / 0.999


class CoxNet:
    """Lasso / elastic-net Cox model at a fixed lambda (= ``glmnet(family = "cox")``).

    Parameters
    ----------
    lambda_ : float
        Penalty (glmnet scale); the fit runs down the default path to it with
        warm starts.
    alpha : float, default 1 (lasso)
    penalty_factor : mapping column -> factor, optional
    standardize : bool, default True

    Attributes
    ----------
    coef_ : pandas.Series (original scale)
    loglik_ : float
        Breslow partial log-likelihood at the estimate.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> df["t"] = rng.exponential(np.exp(-df.a)); df["d"] = 1
    >>> m = CoxNet(lambda_=0.05).fit(df, time="t", event="d", covariates=["a", "b", "c"])
    >>> bool(m.coef_["a"] > 0.5), int((m.coef_ == 0).sum()) >= 1
    (True, True)
    """

    families = frozenset({"survival"})

    def __init__(self, lambda_: float, alpha: float = 1.0, penalty_factor=None,
                 standardize: bool = True, tol: float = 1e-14):
        self.lambda_ = lambda_
        self.alpha = alpha
        self.penalty_factor = penalty_factor
        self.standardize = standardize
        self.tol = tol
        self.coef_ = None

    def fit(self, data: pd.DataFrame, time: str, event: str, covariates: Sequence[str],
            strata: str | None = None, weights: str | None = None) -> CoxNet:
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        y = survival_outcome(data, time, event)
        X = _numeric_matrix(data, covariates)
        w = None if weights is None else _numeric_matrix(data, [weights])[:, 0]
        pf = None
        if self.penalty_factor is not None:
            pf = [float(self.penalty_factor.get(c, 1.0)) for c in covariates]
        lmax = coxnet_lambda_max(X, y.time, y.event, self.alpha, pf, w, self.standardize,
                                 None if strata is None else data[strata].to_numpy())
        lam = float(self.lambda_)
        path = np.r_[np.geomspace(lmax, lam, 8)[:-1], lam] if lam < lmax else np.array([lam])
        B, _, conv = coxnet_path(X, y.time, y.event, path, self.alpha, pf, w, self.standardize,
                                 None if strata is None else data[strata].to_numpy(),
                                 tol=self.tol)
        self.coef_ = pd.Series(B[-1], index=covariates, name="coef")
        self.converged_ = bool(conv[-1])
        from ._cox import cox_partial_likelihood

        self.loglik_ = cox_partial_likelihood(B[-1], X, y.time, y.event,
                                              None if strata is None else data[strata],
                                              w, ties="breslow")[0]
        self.covariates_, self.n_, self.n_events_ = covariates, y.n, y.n_events
        return self

    def predict_lp(self, data: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return _numeric_matrix(data, self.covariates_) @ self.coef_.to_numpy()

    def to_frame(self) -> pd.DataFrame:
        check_is_fitted(self, "coef_")
        return self.coef_.rename_axis("term").reset_index()

    def summary(self) -> Summary:
        check_is_fitted(self, "coef_")
        return Summary("Penalised Cox (glmnet objective, Breslow ties)",
                       tables={"coefficients": self.coef_.to_frame()},
                       info={"lambda": self.lambda_, "alpha": self.alpha, "n": self.n_,
                             "events": self.n_events_, "loglik (Breslow)": self.loglik_},
                       notes=["No standard errors for penalised coefficients."])

    def plot(self, ax=None):
        """Bar chart of the coefficients."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        ax.barh(self.coef_.index, self.coef_.to_numpy())
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlabel("coefficient (log hazard)")
        return ax

"""Lasso / elastic-net Cox regression (= ``glmnet(family = "cox")``).

Objective, on columns standardised as glmnet does (mean and sd with divisor n,
weights normalised to sum 1)::

    -loglik_Breslow(beta) / sum(w) + lambda * sum_j pf_j [alpha |b_j| + (1 - alpha)/2 b_j^2]

with Breslow's rule for tied event times (glmnet's), penalty factors rescaled
to sum to the number of columns, and coefficients reported on the original
scale.  Solver: the shared proximal-Newton path solver
(:func:`ipdma._enet.solve_enet_path`) -- the exact Cox Hessian (p x p, vectorised
over patients, see :mod:`ipdma.survival._cox`) defines a quadratic model whose
penalised minimum is found exactly (active set of the warm start, coordinate descent
when it changes); with the exact Hessian the outer iterations converge quadratically
once the active set is found, so the result is the exact minimiser (glmnet's own
answer differs from it by its convergence threshold).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._base import Summary, check_is_fitted
from .._enet import one_blas_thread, solve_enet_path
from ..errors import ConvergenceWarning, ModelSpecificationError
from ._cox import _CoxDerivatives, _derivatives, _numeric_matrix
from ._outcome import survival_outcome
from ._riskset import RiskSets

__all__ = ["CoxNet", "coxnet_lambda_max", "coxnet_path"]


def _std(X, w, standardize):
    mean = w @ X
    sd = np.sqrt(w @ (X - mean) ** 2) if standardize else np.ones(X.shape[1])
    return mean, sd


def _pf(penalty_factor, p):
    pf = np.ones(p) if penalty_factor is None else np.maximum(np.asarray(penalty_factor, float), 0)
    if len(pf) != p:
        raise ModelSpecificationError(f"penalty_factor has {len(pf)} entries for {p} columns")
    return pf * p / pf.sum() if pf.sum() > 0 else pf


class _Problem:
    def __init__(self, rs, Z, wsum):
        self.rs, self.Z, self.wsum = rs, Z, wsum

    def derivs(self, b, deriv=2):
        ll, u, info = _derivatives(self.rs, self.Z, self.Z @ b, "breslow", deriv)
        return ll / self.wsum, (None if u is None else u / self.wsum), \
            (None if info is None else info / self.wsum)


def _setup(X, time, event, weights, standardize, strata=None):
    X = np.asarray(X, float)
    n = X.shape[0]
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    wn = w / w.sum()
    mean, sd = _std(X, wn, standardize)
    const = sd <= 0
    sd_safe = np.where(const, 1.0, sd)
    Z = (X - mean) / sd_safe
    Z[:, const] = 0.0
    st = None if strata is None else pd.factorize(np.asarray(strata), sort=True)[0]
    rs = RiskSets(time, event, st, wn)
    return _Problem(rs, Z[rs.order], 1.0), mean, sd_safe, const


def coxnet_lambda_max(X, time, event, alpha: float = 1.0, penalty_factor=None,
                      weights=None, standardize: bool = True, strata=None) -> float:
    """Smallest lambda with every penalised coefficient zero (glmnet's first
    lambda; penalty-free columns are assumed absent)."""
    prob, _, _, _ = _setup(X, time, event, weights, standardize, strata)
    p = prob.Z.shape[1]
    pf = _pf(penalty_factor, p)
    _, g, _ = prob.derivs(np.zeros(p), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pf > 0, np.abs(g) / pf, 0.0)
    return float(np.max(ratio) / max(alpha, 1e-3))


def coxnet_path(X, time, event, lambdas=None, alpha: float = 1.0, penalty_factor=None,
                weights=None, standardize: bool = True, strata=None, n_lambda: int = 100,
                lambda_min_ratio: float | None = None, tol: float = 1e-14,
                max_iter: int = 200):
    """Elastic-net Cox coefficients along a decreasing lambda path (warm starts).

    Parameters
    ----------
    X : array (n, p); time, event : arrays (n,)
    lambdas : array, optional
        Decreasing lambdas (glmnet scale).  Default: ``n_lambda`` log-spaced
        values from :func:`coxnet_lambda_max` down to ``lambda_min_ratio`` times
        it (1e-4 when n > p, else 1e-2), as glmnet.
    alpha : float
        Elastic-net mixing (1 = lasso).
    penalty_factor, weights, standardize, strata
        As glmnet (``strata`` = ``stratifySurv``).
    tol : float
        Kept for compatibility: the solver converges to the exact minimiser (Newton
        steps below 1e-7 with a settled active set; the error is then ~1e-14).
    max_iter : int
        Newton iterations per lambda.

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
    >>> B.shape, bool(np.all(B[0] == 0)), bool(ok.all())
    ((10, 3), True, True)
    """
    if not 0 <= alpha <= 1:
        raise ModelSpecificationError(f"alpha must be in [0, 1] (got {alpha})")
    prob, _mean, sd, const = _setup(X, time, event, weights, standardize, strata)
    p = prob.Z.shape[1]
    pf = _pf(penalty_factor, p)
    if lambdas is None:
        lmax = coxnet_lambda_max(X, time, event, alpha, penalty_factor, weights, standardize,
                                 strata)
        n = prob.Z.shape[0]
        ratio = lambda_min_ratio or (1e-4 if n > p else 1e-2)
        lambdas = np.geomspace(lmax, lmax * ratio, n_lambda)
    lambdas = np.asarray(lambdas, float)
    if np.any(lambdas < 0):
        raise ModelSpecificationError("lambdas must be >= 0")
    derivs = _CoxDerivatives(prob.rs, prob.Z, "breslow")

    def evaluate(b, idx=None, hessian=True):
        ll, u, info = derivs(prob.Z @ b[0], 2 if hessian else 1)
        return np.array([-ll]), -u[None], None if info is None else info[None]

    lam = lambdas[:, None, None]
    with one_blas_thread():             # narrow matrices: 1 BLAS thread is faster
        B, conv = solve_enet_path(evaluate, np.zeros((1, p)), lam * alpha * pf,
                                  lam * (1 - alpha) * pf, lambdas=lambdas,
                                  usable=~const[None], max_iter=max_iter)
    out = np.where(const, 0.0, B[:, 0] / sd)
    conv = conv[:, 0]
    if not conv.all():
        warnings.warn(f"coxnet did not converge at lambda = {lambdas[~conv][:3].tolist()}",
                      ConvergenceWarning, stacklevel=2)
    return out, lambdas, conv


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

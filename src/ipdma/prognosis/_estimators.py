"""Estimation back-ends of :class:`ipdma.prognosis.RiskModel`.

Each back-end is a small class following the :class:`Estimator` protocol: it
takes the numeric design (no intercept column), the 0/1 outcome and integer
trial codes, and returns a :class:`FittedParams`.  Adding a method means adding
one class and registering it in :data:`ESTIMATORS`.

Trial handling is shared: ``"none"`` (one intercept, as in Chalkou et al.),
``"fixed"`` (trial-specific intercepts, coded as intercept + dummies for the
2nd..Kth trial present, never penalised) and ``"random"`` (normal random
intercept, adaptive Gauss-Hermite / Laplace).  For a new patient the linear
predictor uses the *average* intercept: the unweighted mean of the trial
intercepts (``"fixed"``) or the mean of the random-intercept distribution
(``"random"``, i.e. a patient from a typical trial).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy import optimize, special, stats

from ..errors import ConvergenceWarning, InfeasibleMethodError, ModelSpecificationError
from ._solvers import (
    fit_logistic_ridge,
    fit_random_intercept,
    glmnet_cv_paths,
    glmnet_interpolate,
    glmnet_lambda_max,
    glmnet_lambda_max_weighted,
    glmnet_path,
    glmnet_weighted_paths,
    loglik,
)

__all__ = ["ESTIMATORS", "Estimator", "FittedParams"]


@dataclass
class FittedParams:
    """What one fit of the prognostic model produces."""

    intercept: float                       # average intercept (used for new patients)
    beta: np.ndarray                       # covariate coefficients, original scale
    trial_intercepts: np.ndarray | None = None   # per trial code (fixed: b0+d_k; random: b0+u_k)
    vcov: np.ndarray | None = None         # of [intercept, beta]
    info: dict = field(default_factory=dict)

    def lp(self, X: np.ndarray, trial_codes: np.ndarray | None = None) -> np.ndarray:
        if trial_codes is None or self.trial_intercepts is None:
            return self.intercept + X @ self.beta
        return self.trial_intercepts[trial_codes] + X @ self.beta


class Estimator(Protocol):
    """Protocol of a stage-1 estimation method."""

    name: str
    tuned: bool   # True when the fit selects a penalty from the data

    def fit(self, X: np.ndarray, y: np.ndarray, trial: np.ndarray | None, n_trials: int,
            trial_effect: str, rng: np.random.Generator,
            fixed_tuning: float | None = None) -> FittedParams: ...


# --------------------------------------------------------------------------- helpers


def _trial_design(X, trial, n_trials, trial_effect):
    """Design with intercept (+ trial dummies for 'fixed').  Returns (A, present)."""
    n = X.shape[0]
    if trial_effect != "fixed":
        return np.column_stack([np.ones(n), X]), None
    present = np.unique(trial)
    D = (trial[:, None] == present[None, 1:]).astype(float)
    return np.column_stack([np.ones(n), X, D]), present


def _finish(coef, vcov, p, trial_effect, present, n_trials, info, blups=None, blup_se=None):
    """Map full-parameter estimates to FittedParams (average intercept)."""
    b0, beta = coef[0], coef[1:1 + p]
    k = len(coef)
    if trial_effect == "fixed":
        d = np.r_[0.0, coef[1 + p:]]
        ints = b0 + d
        full = np.full(n_trials, np.nan)
        full[present] = ints
        if vcov is not None:
            # SE of each trial's intercept b0 + d_k (contrast on the full covariance)
            Lt = np.zeros((len(present), k))
            Lt[:, 0] = 1.0
            Lt[np.arange(1, len(present)), 1 + p + np.arange(len(present) - 1)] = 1.0
            se_t = np.full(n_trials, np.nan)
            se_t[present] = np.sqrt(np.einsum("ij,jk,ik->i", Lt, vcov, Lt))
            info = dict(info, trial_intercepts_se=se_t)
        avg = float(np.mean(ints))
        # contrast: avg = b0 + mean(d)
        L = np.zeros((1 + p, k))
        L[0, 0] = 1.0
        L[0, 1 + p:] = 1.0 / len(present)
        L[1:, 1:1 + p] = np.eye(p)
        V = L @ vcov @ L.T if vcov is not None else None
        return FittedParams(avg, beta.copy(), full, V, info)
    if trial_effect == "random" and blups is not None:
        full = np.full(n_trials, np.nan)
        full[present] = b0 + blups
        if blup_se is not None:
            se_t = np.full(n_trials, np.nan)
            se_t[present] = blup_se
            info = dict(info, blup_se=se_t)
        V = vcov[:1 + p, :1 + p] if vcov is not None else None
        return FittedParams(float(b0), beta.copy(), full, V, info)
    V = vcov[:1 + p, :1 + p] if vcov is not None else None
    return FittedParams(float(b0), beta.copy(), None, V, info)


def _pen_matrix(X, A, penalty):
    """rms::lrm penalty matrix: penalty * diag(var(x_j)), var with divisor n-1,
    zero for the intercept and trial dummies."""
    p = X.shape[1]
    P = np.zeros((A.shape[1], A.shape[1]))
    if penalty > 0 and X.shape[0] > 1:
        P[1:1 + p, 1:1 + p] = np.diag(penalty * X.var(axis=0, ddof=1))
    return P


def _fit_fixed_or_none(X, y, trial, n_trials, trial_effect, penalty, info):
    A, present = _trial_design(X, trial, n_trials, trial_effect)
    P = _pen_matrix(X, A, penalty)
    fit = fit_logistic_ridge(A, y, P)
    if not fit.converged:
        warnings.warn("logistic fit did not converge (possible separation); estimates may be "
                      "unreliable", ConvergenceWarning, stacklevel=4)
    n_params = (A.shape[1] if penalty == 0 or fit.effective_df is None
                else fit.effective_df + 1.0)
    info = dict(info, loglik=fit.loglik, n_iter=fit.n_iter, converged=fit.converged,
                effective_df=fit.effective_df, n_params=n_params)
    return _finish(fit.coef, fit.vcov, X.shape[1], trial_effect, present, n_trials, info)


def _fit_random(X, y, trial, n_trials, penalty, info, n_agq, vcov="joint"):
    A = np.column_stack([np.ones(len(y)), X])
    P = _pen_matrix(X, A, penalty)
    present = np.unique(trial)
    if len(present) < 2:
        raise ModelSpecificationError("trial_effect='random' needs at least 2 trials in the "
                                      "development rows")
    fit = fit_random_intercept(A, y, trial, P=P, n_agq=n_agq, vcov=vcov)
    info = dict(info, loglik=fit.loglik, converged=fit.converged, sigma_trial=fit.sigma,
                n_agq=n_agq, vcov_type=vcov, sigma_trial_se=fit.sigma_se,
                n_params=A.shape[1] + 1.0)
    return _finish(fit.coef, fit.vcov, X.shape[1], "random", present, n_trials, info,
                   blups=fit.blups, blup_se=fit.blup_se)


def _folds(n, n_folds, rng, foldid=None):
    """Fold labels 0..K-1: user-given ``foldid`` (e.g. R's, to reproduce
    ``cv.glmnet(foldid = )``) when its length matches, else near-equal random folds
    (the distribution of R's ``sample(rep(seq(K), length = n))``)."""
    if foldid is not None and len(foldid) == n:
        _, codes = np.unique(np.asarray(foldid), return_inverse=True)
        if codes.max() < 2:
            raise ModelSpecificationError("foldid must contain at least 3 distinct folds")
        return codes
    if n_folds < 3:
        raise ModelSpecificationError(f"n_folds must be >= 3 (got {n_folds})")
    return rng.permutation(np.arange(n) % n_folds)


def _auc_columns(eta, y):
    """:func:`c_statistic` of every column of ``eta`` (n x L) against ``y`` at once."""
    y = np.asarray(y)
    n1 = int(np.sum(y == 1))
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return np.full(eta.shape[1], np.nan)
    r = stats.rankdata(eta, axis=0)
    return (r[y == 1].sum(axis=0) - n1 * (n1 + 1) / 2) / (n1 * n0)


def _cv_deviance(y, eta):
    p = np.clip(special.expit(eta), 1e-5, 1 - 1e-5)    # as cv.glmnet
    return -2 * (y * np.log(p) + (1 - y) * np.log(1 - p))


# --------------------------------------------------------------------------- GLM / PMLE


class GLMEstimator:
    """Unpenalised maximum likelihood (``glm(..., family = binomial)``)."""

    name = "glm"
    tuned = False

    def __init__(self, n_agq: int = 1, vcov: str = "joint"):
        self.n_agq = n_agq
        self.vcov = vcov

    def fit(self, X, y, trial, n_trials, trial_effect, rng, fixed_tuning=None):
        if trial_effect == "random":
            return _fit_random(X, y, trial, n_trials, 0.0, {"penalty": 0.0}, self.n_agq,
                               self.vcov)
        return _fit_fixed_or_none(X, y, trial, n_trials, trial_effect, 0.0, {"penalty": 0.0})


class PMLEEstimator:
    """Penalised ML with ``rms::lrm``'s quadratic penalty.

    Maximises ``loglik(b) - 0.5 * penalty * sum_j var(x_j) b_j^2`` (``var`` with
    divisor n-1 on the model-matrix columns: rms' default penalty matrix, so the
    penalty acts on coefficients of standardised predictors).  ``penalty`` is a
    fixed number, ``"aic"`` (the corrected AIC of ``rms::pentrace``, its default
    ``which = "aic.c"``), ``"aic-plain"``, ``"bic"`` or ``"cv"`` (k-fold deviance).
    """

    name = "pmle"
    foldid = None   # set by RiskModel for the main fit only (not for bootstrap refits)

    def __init__(self, penalty="aic", grid=None, n_folds=10, n_agq=1, vcov="joint"):
        self.vcov = vcov
        self.penalty = penalty
        self.grid = (np.r_[0.0, np.geomspace(0.01, 1e4, 49)] if grid is None
                     else np.sort(np.asarray(grid, float)))
        if np.any(self.grid < 0):
            raise ModelSpecificationError("penalty grid values must be >= 0")
        self.n_folds = n_folds
        self.n_agq = n_agq
        self.tuned = not isinstance(penalty, (int, float, np.number))

    # information criteria along the grid (warm-started fits)
    def _ic_path(self, A, X, y, which):
        n = len(y)
        ll0 = fit_logistic_ridge(np.ones((n, 1)), y).loglik
        start = None

        def crit(pen, start=None):
            f = fit_logistic_ridge(A, y, _pen_matrix(X, A, pen), start=start, tol=1e-10)
            lr = 2 * (f.loglik - ll0)
            df = f.effective_df
            if which == "aic":
                c = lr - 2 * df
            elif which == "bic":
                c = lr - np.log(n) * df
            else:
                c = lr - 2 * df - 2 * df * (df + 1) / max(n - df - 1, 1)
            return c, f

        vals = []
        for pen in self.grid:
            c, f = crit(pen, start)
            start = f.coef
            vals.append(c)
        vals = np.array(vals)
        k = int(np.argmax(vals))
        best = self.grid[k]
        # refine between neighbouring grid points (log scale; linear near 0)
        lo = self.grid[max(k - 1, 0)]
        hi = self.grid[min(k + 1, len(self.grid) - 1)]
        if hi > lo:
            res = optimize.minimize_scalar(lambda t: -crit(t)[0], bounds=(lo, hi),
                                           method="bounded", options={"xatol": 1e-4 * hi})
            if -res.fun > vals[k]:
                best = float(res.x)
        return float(best), vals

    def _cv_path(self, A, X, y, rng):
        folds = _folds(len(y), self.n_folds, rng, self.foldid)
        K = int(folds.max()) + 1
        dev = np.zeros((K, len(self.grid)))
        for k in range(K):
            tr, te = folds != k, folds == k
            start = None
            for j, pen in enumerate(self.grid):
                f = fit_logistic_ridge(A[tr], y[tr], _pen_matrix(X[tr], A[tr], pen),
                                       start=start, tol=1e-9)
                start = f.coef
                dev[k, j] = np.mean(_cv_deviance(y[te], A[te] @ f.coef))
        m = dev.mean(axis=0)
        return float(self.grid[int(np.argmin(m))]), m

    def fit(self, X, y, trial, n_trials, trial_effect, rng, fixed_tuning=None):
        info = {}
        if fixed_tuning is not None:
            pen = float(fixed_tuning)
        elif not self.tuned:
            pen = float(self.penalty)
            if pen < 0:
                raise ModelSpecificationError(f"penalty must be >= 0 (got {pen})")
        else:
            # tuning uses the fixed-effects design ("random": tuned without the
            # random intercept, then the GLMM is fitted at the chosen penalty)
            te = "fixed" if trial_effect == "fixed" else "none"
            A, _ = _trial_design(X, trial, n_trials, te)
            if self.penalty == "cv":
                pen, path = self._cv_path(A, X, y, rng)
                info["cv_deviance"] = path
            else:
                which = {"aic": "aic.c", "aic-plain": "aic", "bic": "bic"}[self.penalty]
                pen, path = self._ic_path(A, X, y, which)
                info["ic_path"] = path
            info["grid"] = self.grid
        info["penalty"] = pen
        if trial_effect == "random":
            return _fit_random(X, y, trial, n_trials, pen, info, self.n_agq, self.vcov)
        return _fit_fixed_or_none(X, y, trial, n_trials, trial_effect, pen, info)


# --------------------------------------------------------------------------- glmnet


class ElasticNetEstimator:
    """LASSO / elastic net reproducing ``glmnet(family = "binomial")``.

    ``penalty`` is a fixed lambda or ``"cv"`` (``cv.glmnet``: folds of near-equal
    size drawn from ``random_state`` -- not R's RNG -- criterion ``"deviance"``
    or ``"auc"``, rule ``"min"`` or ``"1se"``).
    """

    name = "elasticnet"
    foldid = None

    def __init__(self, alpha=1.0, penalty="cv", lambda_rule="min", cv_criterion="deviance",
                 n_folds=10, penalty_factor=None, n_lambda=100, lambda_min_ratio=None,
                 lambdas=None, standardize=True):
        if not 0 <= alpha <= 1:
            raise ModelSpecificationError(f"alpha must be in [0, 1] (got {alpha})")
        if lambda_rule not in ("min", "1se"):
            raise ModelSpecificationError(f"lambda_rule must be 'min' or '1se' (got "
                                          f"{lambda_rule!r})")
        if cv_criterion not in ("deviance", "auc"):
            raise ModelSpecificationError(f"cv_criterion must be 'deviance' or 'auc' (got "
                                          f"{cv_criterion!r})")
        self.alpha = alpha
        self.penalty = penalty
        self.lambda_rule = lambda_rule
        self.cv_criterion = cv_criterion
        self.n_folds = n_folds
        self.penalty_factor = penalty_factor   # array over covariate columns or None
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.lambdas = None if lambdas is None else np.sort(np.asarray(lambdas, float))[::-1]
        self.standardize = standardize
        self.tuned = not isinstance(penalty, (int, float, np.number))
        if self.tuned and penalty != "cv":
            raise ModelSpecificationError(f"penalty for the lasso/elastic net must be a lambda "
                                          f"value or 'cv' (got {penalty!r})")

    def _setup(self, X, trial, n_trials, trial_effect):
        p = X.shape[1]
        pf = np.ones(p) if self.penalty_factor is None else np.asarray(self.penalty_factor, float)
        if trial_effect == "fixed":
            present = np.unique(trial)
            D = (trial[:, None] == present[None, 1:]).astype(float)
            return np.column_stack([X, D]), np.r_[pf, np.zeros(D.shape[1])], present
        return X, pf, None

    def lambda_sequence(self, Xf, y, pf):
        if self.lambdas is not None:
            return self.lambdas
        n, p = Xf.shape
        lmax = glmnet_lambda_max(Xf, y, self.alpha, pf, self.standardize)
        ratio = self.lambda_min_ratio or (0.01 if n < p else 1e-4)
        return np.geomspace(lmax, lmax * ratio, self.n_lambda)

    def _fold_lambda_sequences(self, Xf, y, pf, folds):
        """Each fold's default lambda sequence (``lambda_sequence`` of its training
        rows), all folds at once."""
        K = int(folds.max()) + 1
        w = (folds[None, :] != np.arange(K)[:, None]).astype(float)
        lmax = glmnet_lambda_max_weighted(Xf, y, w, self.alpha, pf, self.standardize)
        nk = w.sum(axis=1)
        p = Xf.shape[1]
        out = np.empty((K, self.n_lambda))
        for k in range(K):
            ratio = self.lambda_min_ratio or (0.01 if nk[k] < p else 1e-4)
            out[k] = np.geomspace(lmax[k], lmax[k] * ratio, self.n_lambda)
        return w, out

    def _cv_default(self, Xf, y, pf, lambdas, rng):
        """``cv.glmnet``'s default: every fold fit computes its own lambda sequence
        (from its training rows) and stops early as glmnet does; its held-out
        predictions at the full-data lambdas interpolate its path linearly in lambda.
        The full-data path and the K fold paths are solved as one batch.  Returns the
        (truncated) full-data lambdas, the full-data path and its convergence flags,
        and the CV results of :meth:`_cv_score`."""
        n = len(y)
        folds = _folds(n, self.n_folds, rng, self.foldid)
        K = int(folds.max()) + 1
        w, fold_lams = self._fold_lambda_sequences(Xf, y, pf, folds)
        W = np.vstack([w, np.ones((1, n))])
        lams = np.vstack([fold_lams, np.asarray(lambdas, float)[None]])
        paths, conv, lengths = glmnet_weighted_paths(Xf, y, W, lams, self.alpha, pf,
                                                     self.standardize, fdev=1e-5)
        m_full = int(lengths[K])
        lambdas = lambdas[:m_full]
        fold_coefs = [glmnet_interpolate(fold_lams[k, :lengths[k]], paths[k, :lengths[k]],
                                         lambdas) for k in range(K)]
        res = self._cv_score(Xf, y, folds, lambdas, fold_coefs)
        return lambdas, paths[K, :m_full], conv[K, :m_full], res

    def _cv(self, Xf, y, pf, lambdas, rng):
        """CV over given lambdas: every fold fit uses them, no early stop (as glmnet)."""
        folds = _folds(len(y), self.n_folds, rng, self.foldid)
        paths, _, _ = glmnet_cv_paths(Xf, y, lambdas, folds, self.alpha, pf,
                                      self.standardize)
        return self._cv_score(Xf, y, folds, lambdas, list(paths))

    def _cv_score(self, Xf, y, folds, lambdas, fold_coefs):
        K = int(folds.max()) + 1
        raw = np.zeros((K, len(lambdas)))
        wts = np.zeros(K)
        for k in range(K):
            te = folds == k
            coefs = fold_coefs[k]
            eta = coefs[:, 0][None, :] + Xf[te] @ coefs[:, 1:].T        # n_te x L
            wts[k] = te.sum()
            if self.cv_criterion == "deviance":
                raw[k] = _cv_deviance(y[te][:, None], eta).mean(axis=0)
            else:
                raw[k] = -_auc_columns(eta, y[te])
        cvm = np.average(raw, axis=0, weights=wts)
        cvsd = np.sqrt(np.average((raw - cvm) ** 2, axis=0, weights=wts) / (K - 1))
        idx_min = np.flatnonzero(cvm <= cvm.min())
        lam_min = float(np.max(lambdas[idx_min]))
        j = int(np.flatnonzero(lambdas == lam_min)[0])
        lam_1se = float(np.max(lambdas[cvm <= cvm[j] + cvsd[j]]))
        sign = -1.0 if self.cv_criterion == "auc" else 1.0
        return lam_min, lam_1se, sign * cvm, cvsd

    def fit(self, X, y, trial, n_trials, trial_effect, rng, fixed_tuning=None):
        if trial_effect == "random":
            raise InfeasibleMethodError(
                "trial_effect='random' is not available with the lasso/elastic net; use "
                "trial_effect='fixed' (unpenalised trial intercepts) or method='bayes-lasso'")
        Xf, pf, present = self._setup(X, trial, n_trials, trial_effect)
        p = X.shape[1]
        info = {"alpha": self.alpha}
        coefs = None
        if fixed_tuning is not None or not self.tuned:
            lam = float(fixed_tuning if fixed_tuning is not None else self.penalty)
            if lam < 0:
                raise ModelSpecificationError(f"lambda must be >= 0 (got {lam})")
            path = self.lambda_sequence(Xf, y, pf)
            path = np.r_[path[path > lam], lam]          # warm start down to lam
        else:
            lambdas = self.lambda_sequence(Xf, y, pf)
            full = None
            if self.lambdas is None:    # glmnet truncates its default path
                lambdas, full, full_conv, res = self._cv_default(Xf, y, pf, lambdas, rng)
            else:
                res = self._cv(Xf, y, pf, lambdas, rng)
            lam_min, lam_1se, cvm, cvsd = res
            lam = lam_min if self.lambda_rule == "min" else lam_1se
            info.update(lambda_min=lam_min, lambda_1se=lam_1se, cv_lambdas=lambdas,
                        cvm=cvm, cvsd=cvsd, cv_criterion=self.cv_criterion)
            path = np.r_[lambdas[lambdas > lam], lam]
            if full is not None:        # the full-data path already holds the fit at lam
                coefs, conv = full[:len(path)], full_conv[:len(path)]
        if coefs is None:
            coefs, conv = glmnet_path(Xf, y, path, self.alpha, pf, self.standardize)
        if not conv[-1]:
            warnings.warn(f"elastic-net fit at lambda={lam:.4g} did not converge",
                          ConvergenceWarning, stacklevel=4)
        coef = coefs[-1]
        info.update(penalty=lam, **{"lambda": lam}, n_nonzero=int(np.sum(coef[1:1 + p] != 0)),
                    loglik=loglik(y, coef[0] + Xf @ coef[1:]),
                    n_params=1.0 + float(np.sum(coef[1:] != 0)))
        return _finish(coef, None, p, trial_effect, present, n_trials, info)


class BayesLassoEstimator:
    """Bayesian LASSO (Laplace prior on standardised coefficients), NUTS in
    NumPyro; see :mod:`ipdma.prognosis._bayes`."""

    name = "bayes-lasso"
    tuned = False

    def __init__(self, laplace_scale=None, num_warmup=500, num_samples=1000, num_chains=2,
                 point="mean"):
        self.laplace_scale = laplace_scale
        self.num_warmup = num_warmup
        self.num_samples = num_samples
        self.num_chains = num_chains
        self.point = point

    def fit(self, X, y, trial, n_trials, trial_effect, rng, fixed_tuning=None):
        from ._bayes import fit_bayes_lasso

        return fit_bayes_lasso(X, y, trial, n_trials, trial_effect, rng,
                               laplace_scale=self.laplace_scale, num_warmup=self.num_warmup,
                               num_samples=self.num_samples, num_chains=self.num_chains,
                               point=self.point)


ESTIMATORS = {"glm": GLMEstimator, "pmle": PMLEEstimator, "lasso": ElasticNetEstimator,
              "elasticnet": ElasticNetEstimator, "bayes-lasso": BayesLassoEstimator}

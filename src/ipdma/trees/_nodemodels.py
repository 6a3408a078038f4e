"""Node models for model-based recursive partitioning (MOB).

A node model is fitted in every node of a :class:`~ipdma.trees.MOB` tree. It must give the
coefficients, the objective that the split search minimises, the per-observation score
contributions (estimating functions) used by the parameter-instability tests, and a
covariance matrix for inference. A new model is one small subclass of :class:`NodeModel`
implementing :meth:`NodeModel.fit`; the split search then works by refitting the model in
every candidate child. Models with sufficient statistics (the linear model) override
:meth:`NodeModel.prefix_objectives` and :meth:`NodeModel.subset_objectives` to score all
candidate splits at once.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from ..errors import ConvergenceWarning, DataError, ModelSpecificationError, OutcomeError

__all__ = ["LinearModel", "LogisticModel", "NodeFit", "NodeModel", "get_node_model"]

#: relative tolerance for declaring a regressor column aliased (as R's ``lm.fit``, tol = 1e-7)
ALIAS_TOL = 1e-7


@dataclass
class NodeFit:
    """The fit of a node model in one node.

    Attributes
    ----------
    coef : ndarray, shape (p,)
        Coefficients; NaN for aliased (linearly dependent) columns.
    coef_names : list of str
        Names of the coefficients.
    objective : float
        The objective minimised by the split search (RSS for the linear model,
        minus the log-likelihood for GLMs).
    estfun : ndarray, shape (n, q)
        Score contributions (estimating functions) of the q non-aliased coefficients.
    vcov : ndarray, shape (p, p)
        Covariance matrix of ``coef`` (NaN rows/columns for aliased coefficients).
    loglik : float
        Log-likelihood of the node model.
    df : int
        Number of estimated parameters counted by ``loglik`` (including a scale parameter).
    nobs : float
        Number of observations (sum of case weights).
    df_resid : float
        Residual degrees of freedom (used for t-based intervals; ``inf`` means normal).
    sigma : float or None
        Residual standard deviation (linear model), else None.
    converged : bool
        Whether an iterative fit converged.

    Examples
    --------
    Every node of a fitted :class:`~ipdma.trees.MOB` tree keeps its node-model fit as
    ``fit``:

    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MOB
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
    ...                    "trt": rng.integers(0, 2, n)})
    >>> df["y"] = 10 + df.trt * (0.2 + 1.5 * (df.x1 > 0)) + rng.normal(size=n)
    >>> tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x1", "x2"])
    >>> fit = tree.nodes_[2].fit
    >>> fit.coef_names, fit.coef.round(2).tolist()
    (['(Intercept)', 'trt'], [9.96, 0.35])
    >>> fit.nobs, fit.df_resid, fit.rank, fit.estfun.shape
    (305.0, 303.0, 2, (305, 2))
    >>> np.sqrt(np.diag(fit.vcov)).round(2).tolist()          # standard errors
    [0.08, 0.12]
    >>> round(fit.objective, 1), round(fit.sigma, 2)          # RSS, residual SD
    (315.1, 1.02)
    """

    coef: np.ndarray
    coef_names: list[str]
    objective: float
    estfun: np.ndarray
    vcov: np.ndarray
    loglik: float
    df: int
    nobs: float
    df_resid: float = np.inf
    sigma: float | None = None
    converged: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def aliased(self) -> np.ndarray:
        """Boolean mask of aliased coefficients."""
        return np.isnan(self.coef)

    @property
    def rank(self) -> int:
        return int((~self.aliased).sum())


def _nonaliased_columns(X: np.ndarray, sw: np.ndarray | None = None) -> np.ndarray:
    """Columns kept after a sequential rank check (R's ``lm.fit`` keeps the earlier column of
    a linearly dependent set and marks the later one as aliased).

    ``sw`` are square-root weights applied to the rows first.
    """
    Xw = X if sw is None else X * sw[:, None]
    p = Xw.shape[1]
    keep = np.zeros(p, dtype=bool)
    Q = np.zeros((Xw.shape[0], 0))
    for j in range(p):
        col = Xw[:, j]
        norm = np.sqrt(col @ col)
        if norm == 0:
            continue
        res = col - Q @ (Q.T @ col) if Q.shape[1] else col
        res = res - Q @ (Q.T @ res) if Q.shape[1] else res  # re-orthogonalise
        rnorm = np.sqrt(res @ res)
        if rnorm > ALIAS_TOL * norm:
            keep[j] = True
            Q = np.column_stack([Q, res / rnorm])
    return keep


def _check_design(y: np.ndarray, X: np.ndarray, weights, offset):
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ModelSpecificationError(
            f"X must be a 2-d array with one row per observation (got shape {X.shape} "
            f"for {y.shape[0]} observations)")
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    off = np.zeros_like(y) if offset is None else np.asarray(offset, dtype=float)
    if w.shape != y.shape or off.shape != y.shape:
        raise ModelSpecificationError("weights and offset must have one value per observation")
    return y, X, w, off


class NodeModel(ABC):
    """Abstract node model for :class:`~ipdma.trees.MOB`.

    Subclasses implement :meth:`fit` (and optionally :meth:`predict`, :meth:`inverse_link`,
    :meth:`prefix_objectives`, :meth:`subset_objectives`). A new model is one small class.

    Attributes
    ----------
    name : str
        Short name used in printouts.
    objective_name : str
        What ``NodeFit.objective`` is (shown in the printed tree).
    inference : {"t", "normal"}
        Reference distribution for confidence intervals of coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.trees import LinearModel
    >>> X = np.column_stack([np.ones(6), [0, 1, 0, 1, 0, 1]])
    >>> fit = LinearModel().fit(np.array([1., 2, 1, 3, 2, 3]), X)
    >>> np.round(fit.coef, 3).tolist()
    [1.333, 1.333]

    A new node model is one small class. A Poisson GLM for counts, fitted by statsmodels:

    >>> import pandas as pd, statsmodels.api as sm
    >>> from ipdma.trees import MOB, NodeFit, NodeModel
    >>> class PoissonModel(NodeModel):
    ...     name = "Poisson model"
    ...     def fit(self, y, X, weights=None, offset=None, coef_names=None):
    ...         w = np.ones_like(y) if weights is None else weights
    ...         res = sm.GLM(y, X, family=sm.families.Poisson(), freq_weights=w,
    ...                      offset=offset).fit()
    ...         mu = res.fittedvalues
    ...         return NodeFit(coef=np.asarray(res.params), coef_names=list(coef_names),
    ...                        objective=-res.llf, estfun=(w * (y - mu))[:, None] * X,
    ...                        vcov=np.asarray(res.cov_params()), loglik=res.llf,
    ...                        df=X.shape[1], nobs=w.sum())
    ...     def inverse_link(self, eta):
    ...         return np.exp(eta)
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"z": rng.normal(size=200), "trt": rng.integers(0, 2, 200)})
    >>> d["y"] = rng.poisson(np.exp(0.5 + 0.8 * d.trt * (d.z > 0)))
    >>> tree = MOB(PoissonModel(), maxdepth=2).fit(d, "y", ["trt"], ["z"])
    >>> tree.tree_.split.variable
    'z'
    """

    name: str = "node model"
    #: outcome families the model supports ("continuous", "binary", ...)
    families: frozenset[str] = frozenset()
    objective_name: str = "negative log-likelihood"
    title: str = "Model-based recursive partitioning"
    inference: str = "normal"

    @abstractmethod
    def fit(self, y: np.ndarray, X: np.ndarray, weights: np.ndarray | None = None,
            offset: np.ndarray | None = None, coef_names: Sequence[str] | None = None
            ) -> NodeFit:
        """Fit the model to ``y`` (outcome), ``X`` (n x p regressors, intercept included if
        wanted), case ``weights`` and ``offset``; return a :class:`NodeFit`."""

    def check_outcome(self, y: np.ndarray, name: str = "outcome") -> None:
        """Raise :class:`~ipdma.errors.OutcomeError` when ``y`` cannot be modelled."""
        if not np.all(np.isfinite(y)):
            raise OutcomeError(f"The {name} column has non-finite values; remove or impute them.")

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """Map the linear predictor to the response scale (identity by default)."""
        return eta

    def predict(self, X: np.ndarray, coef: np.ndarray, offset: np.ndarray | None = None
                ) -> np.ndarray:
        """Predicted response for rows of ``X`` given node coefficients ``coef``."""
        eta = X @ np.where(np.isnan(coef), 0.0, coef)
        if offset is not None:
            eta = eta + offset
        return self.inverse_link(eta)

    def criterion(self, objective: float, df: float, nobs: float, penalty: float) -> float:
        """Information criterion used for post-pruning: ``2 * objective + penalty * df``."""
        return 2.0 * objective + penalty * df

    # ---- split search -------------------------------------------------------------------
    def _sum_objective(self, y, X, w, off, left: np.ndarray, names=None) -> float:
        fl = self.fit(y[left], X[left], w[left], off[left], coef_names=names)
        fr = self.fit(y[~left], X[~left], w[~left], off[~left], coef_names=names)
        return fl.objective + fr.objective

    def prefix_objectives(self, y: np.ndarray, X: np.ndarray, weights: np.ndarray,
                          offset: np.ndarray, order: np.ndarray, cuts: np.ndarray,
                          parent: NodeFit | None = None) -> np.ndarray:
        """Summed objective of the two children for the splits "left = ``order[:c + 1]``".

        The default refits the model in both children of every candidate; subclasses with
        sufficient statistics override this with a vectorised version.
        """
        names = parent.coef_names if parent is not None else None
        out = np.empty(len(cuts))
        left = np.zeros(len(y), dtype=bool)
        for i, c in enumerate(cuts):
            left[:] = False
            left[order[: c + 1]] = True
            out[i] = self._sum_objective(y, X, weights, offset, left, names)
        return out

    def subset_objectives(self, y: np.ndarray, X: np.ndarray, weights: np.ndarray,
                          offset: np.ndarray, codes: np.ndarray, subsets: np.ndarray,
                          parent: NodeFit | None = None) -> np.ndarray:
        """Summed objective of the two children for the splits "left = level in subset"
        (``subsets`` is a boolean matrix, one row per candidate, one column per level)."""
        names = parent.coef_names if parent is not None else None
        out = np.empty(subsets.shape[0])
        for i, s in enumerate(subsets):
            out[i] = self._sum_objective(y, X, weights, offset, s[codes], names)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LinearModel(NodeModel):
    """Linear model fitted by (weighted) least squares, as partykit's ``lmtree``.

    The objective is the residual sum of squares ``sum(w * r**2)``; the score contributions
    are ``w * r * X``; ``vcov`` is ``sigma^2 (X'WX)^-1`` as R's ``vcov(lm)``; the
    log-likelihood is Gaussian with its own sigma (``df = rank + 1``).

    The split search uses cumulative sums of the sufficient statistics (X'WX, X'Wr, r'Wr)
    over the sorted partitioning variable, so every candidate split is scored without a refit.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.trees import LinearModel
    >>> rng = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(50), rng.integers(0, 2, 50)])
    >>> y = X @ [1.0, 0.5] + rng.normal(size=50)
    >>> fit = LinearModel().fit(y, X)
    >>> fit.estfun.shape
    (50, 2)
    """

    name = "linear model"
    families = frozenset({"continuous"})
    objective_name = "residual sum of squares"
    title = "Linear model tree"
    inference = "t"

    def fit(self, y, X, weights=None, offset=None, coef_names=None) -> NodeFit:
        y, X, w, off = _check_design(y, X, weights, offset)
        _n, p = X.shape
        names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
        pos = w > 0
        sw = np.sqrt(w)
        keep = _nonaliased_columns(X[pos], sw[pos])
        coef = np.full(p, np.nan)
        vcov = np.full((p, p), np.nan)
        z = y - off
        Xk = X[:, keep]
        Rinv = None
        if keep.any():
            Q, R = np.linalg.qr(Xk[pos] * sw[pos, None])
            Rinv = np.linalg.inv(R)
            b = Rinv @ (Q.T @ (z[pos] * sw[pos]))
            coef[keep] = b
            resid = z - Xk @ b
        else:
            resid = z.copy()
        rank = int(keep.sum())
        rss = float(np.sum(w * resid**2))
        n_pos = int(pos.sum())
        df_resid = n_pos - rank
        sigma2 = rss / df_resid if df_resid > 0 else np.nan
        if Rinv is not None:
            vcov[np.ix_(keep, keep)] = (Rinv @ Rinv.T) * sigma2
        # Gaussian log-likelihood as R's logLik.lm (weights as precision weights)
        if rss > 0 and n_pos > 0:
            loglik = 0.5 * (np.sum(np.log(w[pos])) - n_pos * (np.log(2 * np.pi) + 1.0
                                                               - np.log(n_pos) + np.log(rss)))
        else:
            loglik = np.inf
        estfun = (resid * w)[:, None] * Xk
        return NodeFit(coef=coef, coef_names=names, objective=rss, estfun=estfun, vcov=vcov,
                       loglik=float(loglik), df=rank + 1, nobs=float(w.sum()),
                       df_resid=float(df_resid), sigma=float(np.sqrt(sigma2)),
                       extra={"residuals": resid})

    def criterion(self, objective, df, nobs, penalty):
        """``nobs * log(RSS) + penalty * df`` (partykit's lmtree pruning rule)."""
        return nobs * np.log(objective) + penalty * df

    # ---- vectorised split search ------------------------------------------------------
    @staticmethod
    def _rss_from_stats(A: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        """RSS = c - b' A^+ b for stacks of sufficient statistics (A: m x q x q, b: m x q,
        c: m), with the pseudo-inverse taken over the non-aliased directions."""
        d = np.sqrt(np.einsum("mii->mi", A))
        d = np.where(d > 0, d, 1.0)
        As = A / d[:, :, None] / d[:, None, :]
        bs = b / d
        lam, V = np.linalg.eigh(As)
        proj = np.einsum("mij,mi->mj", V, bs)
        tol = ALIAS_TOL**2 * np.maximum(lam[:, -1:], 1e-300)
        good = lam > tol
        red = np.where(good, proj**2 / np.where(good, lam, 1.0), 0.0).sum(axis=1)
        return np.maximum(c - red, 0.0)

    def _parent_residuals(self, y, X, w, off, parent: NodeFit | None):
        # Child RSS of fresh fits on y equals that of fits on the parent's residuals because
        # X @ b_parent lies in the column space of X; residuals avoid cancellation.
        if parent is not None and "residuals" in parent.extra and len(parent.extra["residuals"]) == len(y):
            return parent.extra["residuals"]
        return self.fit(y, X, w, off).extra["residuals"]

    def prefix_objectives(self, y, X, weights, offset, order, cuts, parent=None):
        y, X, w, off = _check_design(y, X, weights, offset)
        r = self._parent_residuals(y, X, w, off, parent)
        Xs, rs, ws = X[order], r[order], w[order]
        q = X.shape[1]
        xx = (ws[:, None, None] * Xs[:, :, None] * Xs[:, None, :]).reshape(len(order), q * q)
        xr = (ws * rs)[:, None] * Xs
        rr = ws * rs**2
        # forward sums for the left child, backward sums for the right child (no subtraction,
        # so exactly singular children stay singular)
        fl = np.cumsum(xx, axis=0)[cuts]
        fb = np.cumsum(xr, axis=0)[cuts]
        fc = np.cumsum(rr)[cuts]
        rl = np.cumsum(xx[::-1], axis=0)[::-1][cuts + 1]
        rb = np.cumsum(xr[::-1], axis=0)[::-1][cuts + 1]
        rc = np.cumsum(rr[::-1])[::-1][cuts + 1]
        m = len(cuts)
        left = self._rss_from_stats(fl.reshape(m, q, q), fb, fc)
        right = self._rss_from_stats(rl.reshape(m, q, q), rb, rc)
        return left + right

    def subset_objectives(self, y, X, weights, offset, codes, subsets, parent=None):
        y, X, w, off = _check_design(y, X, weights, offset)
        r = self._parent_residuals(y, X, w, off, parent)
        q = X.shape[1]
        L = subsets.shape[1]
        xx = (w[:, None, None] * X[:, :, None] * X[:, None, :]).reshape(len(y), q * q)
        S_xx = np.zeros((L, q * q))
        S_xr = np.zeros((L, q))
        np.add.at(S_xx, codes, xx)
        np.add.at(S_xr, codes, (w * r)[:, None] * X)
        S_rr = np.bincount(codes, weights=w * r**2, minlength=L)
        sub = subsets.astype(float)
        comp = 1.0 - sub
        m = subsets.shape[0]
        left = self._rss_from_stats((sub @ S_xx).reshape(m, q, q), sub @ S_xr, sub @ S_rr)
        right = self._rss_from_stats((comp @ S_xx).reshape(m, q, q), comp @ S_xr, comp @ S_rr)
        return left + right


class LogisticModel(NodeModel):
    """Logistic regression (binomial GLM, logit link) fitted by IRLS, as partykit's
    ``glmtree(family = binomial)``.

    The objective is minus the log-likelihood ``-sum(w * (y log mu + (1 - y) log(1 - mu)))``
    (case weights); the score contributions are ``w * (y - mu) * X``; ``vcov`` is the
    inverse Fisher information. IRLS starts and stops as R's ``glm.fit``
    (relative deviance change < ``tol``, at most ``maxit`` iterations).

    Parameters
    ----------
    tol : float
        Convergence tolerance on the relative change of the deviance.
    maxit : int
        Maximum number of IRLS iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.trees import LogisticModel
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([np.ones(200), rng.integers(0, 2, 200)])
    >>> y = (rng.random(200) < 1 / (1 + np.exp(-(X @ [-0.5, 1.0])))).astype(float)
    >>> fit = LogisticModel().fit(y, X, coef_names=["(Intercept)", "trt"])
    >>> fit.coef_names
    ['(Intercept)', 'trt']
    """

    name = "logistic model"
    families = frozenset({"binary"})
    objective_name = "negative log-likelihood"
    title = "Generalized linear model tree (family: binomial)"
    inference = "normal"

    def __init__(self, tol: float = 1e-8, maxit: int = 25):
        self.tol = float(tol)
        self.maxit = int(maxit)

    def check_outcome(self, y, name="outcome"):
        super().check_outcome(y, name)
        bad = ~np.isin(y, (0.0, 1.0))
        if bad.any():
            vals = np.unique(y[bad])[:5]
            raise OutcomeError(
                f"The {name} column must be coded 0/1 for the logistic node model; found "
                f"values such as {vals.tolist()}. Recode it (e.g. (y == 'event').astype(int)) "
                "or use node_model='linear'.")

    def inverse_link(self, eta):
        return special.expit(eta)

    def fit(self, y, X, weights=None, offset=None, coef_names=None) -> NodeFit:
        y, X, w, off = _check_design(y, X, weights, offset)
        n, p = X.shape
        names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
        pos = w > 0
        keep = _nonaliased_columns(X[pos], np.sqrt(w[pos]))
        Xk = X[:, keep]
        mu = (w * y + 0.5) / (w + 1.0)
        eta = special.logit(mu)
        b = np.zeros(int(keep.sum()))

        def deviance(mu_):
            mu_ = np.clip(mu_, 1e-300, 1 - 1e-16)
            return -2.0 * np.sum(w * (special.xlogy(y, mu_) + special.xlog1py(1 - y, -mu_)))

        dev_old = deviance(mu)
        converged = False
        it = 0
        for it in range(1, self.maxit + 1):  # noqa: B007
            var = mu * (1 - mu)
            var = np.maximum(var, 1e-300)
            z = eta - off + (y - mu) / var
            ww = w * var
            sw = np.sqrt(ww)
            if Xk.shape[1]:
                b, *_ = np.linalg.lstsq(Xk[pos] * sw[pos, None], z[pos] * sw[pos], rcond=None)
                eta = Xk @ b + off
            else:
                eta = off.copy()
            mu = special.expit(eta)
            dev = deviance(mu)
            if abs(dev - dev_old) / (abs(dev) + 0.1) < self.tol:
                converged = True
                break
            dev_old = dev
        if not converged:
            warnings.warn(f"Logistic node model did not converge in {self.maxit} IRLS "
                          f"iterations (n = {n}); estimates may be unreliable (separation?).",
                          ConvergenceWarning, stacklevel=3)
        if np.any((mu[pos] < 10 * np.finfo(float).eps) | (mu[pos] > 1 - 10 * np.finfo(float).eps)):
            warnings.warn("Logistic node model: fitted probabilities numerically 0 or 1 "
                          "occurred (complete or quasi-complete separation in a node).",
                          ConvergenceWarning, stacklevel=3)
        coef = np.full(p, np.nan)
        coef[keep] = b
        vcov = np.full((p, p), np.nan)
        # as R's glm.fit/summary.glm: the information uses the working weights of the last
        # IRLS iteration (``var`` from the loop, at the previous iterate), not the final mu
        if keep.any():
            info = (Xk[pos] * (w * var)[pos, None]).T @ Xk[pos]
            try:
                vcov[np.ix_(keep, keep)] = np.linalg.inv(info)
            except np.linalg.LinAlgError:
                pass
        dev = deviance(mu)
        estfun = (w * (y - mu))[:, None] * Xk
        rank = int(keep.sum())
        return NodeFit(coef=coef, coef_names=names, objective=dev / 2.0, estfun=estfun,
                       vcov=vcov, loglik=-dev / 2.0, df=rank, nobs=float(w.sum()),
                       df_resid=np.inf, sigma=None, converged=converged,
                       extra={"iterations": it, "fitted": mu})

    # ---- split search on aggregated data ------------------------------------------------
    #: use the aggregated (pattern) split search when the rows of (regressors, offset) take
    #: at most this many distinct values (e.g. intercept + treatment arms, with an offset
    #: that is constant within trial and arm as in GLMM trees)
    max_patterns: int = 64

    def _patterns(self, X, offset):
        A = np.column_stack([X, offset])
        D, inv = np.unique(A, axis=0, return_inverse=True)
        if D.shape[0] > self.max_patterns:
            return None
        return D[:, :-1], D[:, -1], inv.reshape(-1)

    @staticmethod
    def _aggregated_objectives(D: np.ndarray, S: np.ndarray, N: np.ndarray, tol: float = 1e-13,
                               maxit: int = 100, off: np.ndarray | None = None) -> np.ndarray:
        """Minus the maximised binomial log-likelihood for many candidate data sets at once.

        ``D``: distinct design rows (P x q) with offsets ``off`` (P); ``S``, ``N``: weighted
        successes and trials per pattern and candidate (m x P). Newton-Raphson with a
        pseudo-inverse Hessian (so aliased directions, e.g. a child without treated
        patients, are handled as R's ``glm`` handles aliased coefficients).
        """
        m = S.shape[0]
        q = D.shape[1]
        off = np.zeros(D.shape[0]) if off is None else off
        DD = (D[:, :, None] * D[:, None, :]).reshape(D.shape[0], q * q)
        beta = np.zeros((m, q))
        obj = np.full(m, np.inf)
        idx = np.arange(m)                     # candidates still iterating
        for _ in range(maxit):
            b = beta[idx]
            eta = b @ D.T + off
            o = -(S[idx] * eta - N[idx] * np.logaddexp(0.0, eta)).sum(axis=1)
            done = np.abs(obj[idx] - o) <= tol * (np.abs(o) + 0.1)
            obj[idx] = o
            keep = ~done
            idx, eta = idx[keep], eta[keep]
            if idx.size == 0:
                break
            mu = special.expit(eta)
            g = (S[idx] - N[idx] * mu) @ D
            H = ((N[idx] * mu * (1 - mu)) @ DD).reshape(-1, q, q)
            beta[idx] = beta[idx] + _pinv_solve(H, g)
        return obj

    def prefix_objectives(self, y, X, weights, offset, order, cuts, parent=None):
        y, X, w, off = _check_design(y, X, weights, offset)
        pat = self._patterns(X, off)
        if pat is None:
            return super().prefix_objectives(y, X, w, off, order, cuts, parent)
        D, po, inv = pat
        P = D.shape[0]
        io, wo, yo = inv[order], w[order], y[order]
        Nm = np.zeros((len(order), P))
        Sm = np.zeros((len(order), P))
        Nm[np.arange(len(order)), io] = wo
        Sm[np.arange(len(order)), io] = wo * yo
        NL, SL = np.cumsum(Nm, axis=0)[cuts], np.cumsum(Sm, axis=0)[cuts]
        NR = np.cumsum(Nm[::-1], axis=0)[::-1][cuts + 1]
        SR = np.cumsum(Sm[::-1], axis=0)[::-1][cuts + 1]
        return (self._aggregated_objectives(D, SL, NL, off=po)
                + self._aggregated_objectives(D, SR, NR, off=po))

    def subset_objectives(self, y, X, weights, offset, codes, subsets, parent=None):
        y, X, w, off = _check_design(y, X, weights, offset)
        pat = self._patterns(X, off)
        if pat is None:
            return super().subset_objectives(y, X, w, off, codes, subsets, parent)
        D, po, inv = pat
        P = D.shape[0]
        L = subsets.shape[1]
        N = np.zeros((L, P))
        S = np.zeros((L, P))
        np.add.at(N, (codes, inv), w)
        np.add.at(S, (codes, inv), w * y)
        sub = subsets.astype(float)
        comp = 1.0 - sub
        return (self._aggregated_objectives(D, sub @ S, sub @ N, off=po)
                + self._aggregated_objectives(D, comp @ S, comp @ N, off=po))


def _pinv_solve(H: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``pinv(H_m) g_m`` for a stack of symmetric PSD matrices: closed form for
    well-conditioned 2 x 2 blocks, eigen-decomposition (aliased directions dropped)
    otherwise."""
    out = np.empty_like(g)
    rest = np.ones(len(g), dtype=bool)
    if H.shape[1] == 2:
        a, b, c = H[:, 0, 0], H[:, 0, 1], H[:, 1, 1]
        det = a * c - b * b
        ok = (a > 0) & (c > 0) & (det > 1e-10 * a * c)
        dd = np.where(ok, det, 1.0)
        out[ok, 0] = ((c * g[:, 0] - b * g[:, 1]) / dd)[ok]
        out[ok, 1] = ((a * g[:, 1] - b * g[:, 0]) / dd)[ok]
        rest = ~ok
    if rest.any():
        lam, V = np.linalg.eigh(H[rest])
        good = lam > 1e-12 * np.maximum(lam[:, -1:], 1e-300)
        inv = np.where(good, 1.0 / np.where(good, lam, 1.0), 0.0)
        out[rest] = np.einsum("mij,mj,mkj,mk->mi", V, inv, V, g[rest])
    return out


_BUILTIN = {"linear": LinearModel, "lm": LinearModel, "gaussian": LinearModel,
            "logistic": LogisticModel, "binomial": LogisticModel, "logit": LogisticModel}


def get_node_model(node_model: str | NodeModel | type) -> NodeModel:
    """Turn ``"linear"``, ``"logistic"``, a :class:`NodeModel` class or instance into an
    instance.

    Examples
    --------
    >>> from ipdma.trees import LogisticModel, get_node_model
    >>> get_node_model("linear")
    LinearModel()
    >>> get_node_model("binomial")
    LogisticModel()
    >>> get_node_model(LogisticModel).name
    'logistic model'
    >>> get_node_model("weibull")
    WeibullModel()
    """
    if isinstance(node_model, NodeModel):
        return node_model
    if isinstance(node_model, type) and issubclass(node_model, NodeModel):
        return node_model()
    if isinstance(node_model, str):
        key = node_model.lower()
        if key in _BUILTIN:
            return _BUILTIN[key]()
        if key in ("weibull", "survreg"):
            from ._weibullnode import WeibullModel  # imports this module: import lazily

            return WeibullModel()
        raise ModelSpecificationError(
            f"Unknown node_model {node_model!r}; use 'linear', 'logistic', 'weibull' or a "
            "NodeModel instance (subclass ipdma.trees.NodeModel for a new model).")
    raise ModelSpecificationError(
        f"node_model must be 'linear', 'logistic' or a NodeModel, not {type(node_model).__name__}")


def _too_few(n: int, p: int) -> None:
    if n <= p:
        raise DataError(
            f"Too few observations to fit the node model: {n} rows for {p} coefficients. "
            "MOB needs clearly more observations than coefficients (at least 2 * minsize).")

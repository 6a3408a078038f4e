"""Weibull regression node model for MOB: partykit's ``mob(Surv(time, status) ~ trt | z,
fit = wbreg)`` with the Weibull ``survreg`` fitting function of partykit's mob vignette.

The outcome is two columns, time and event (``MOB(...).fit(data, time=, event=, ...)``).
Coefficients are survreg's (log-time scale); the objective is minus survreg's
log-likelihood (time scale); the score matrix has one column per coefficient **plus a
``Log(scale)`` column**, so the instability tests use k = p + 1 and the default minsize is
``ceil(10 * p / 2)`` (a ``Surv`` response has two columns).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import ModelSpecificationError
from ..survival._weibull import (
    _fit_batch,
    _profile_loglik,
    _saturated_groups,
    check_survival_outcome,
    fit_weibull,
    weibull_rmst,
)
from ._nodemodels import NodeFit, NodeModel

__all__ = ["WeibullModel"]


class WeibullModel(NodeModel):
    """Weibull accelerated-failure-time regression (``survreg(dist = "weibull")``) as a MOB
    node model, for a time-to-event outcome (time, event).

    ``NodeFit.coef`` are the regression coefficients on the log-time scale (the treatment
    coefficient is a log time ratio); ``NodeFit.vcov`` is their covariance block;
    ``NodeFit.extra`` holds ``scale``, ``log_scale``, ``vcov_full`` (with the
    ``Log(scale)`` row/column, survreg's ``var``) and ``iterations``. The score contributions
    include the ``Log(scale)`` column (as ``sandwich::estfun`` of a survreg fit).

    The split search fits the model in the two children of every candidate split at once
    (one vectorised Newton loop over all candidates), instead of one refit per candidate.

    Parameters
    ----------
    tol : float
        Newton convergence: largest absolute step below ``tol`` (estimates to ~``tol**2``).
    maxiter : int
        Maximum number of Newton iterations.
    chunk : int
        Maximum number of (candidates x observations) weights handled in one batch of the
        split search (memory bound).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MOB, WeibullModel
    >>> rng = np.random.default_rng(2)
    >>> n = 600
    >>> d = pd.DataFrame({"trt": rng.integers(0, 2, n), "z": rng.normal(size=n),
    ...                   "u": rng.uniform(size=n)})
    >>> t = np.exp(1 + d.trt * (-0.2 + 0.8 * (d.z > 0)) + 0.5 * np.log(rng.exponential(size=n)))
    >>> c = rng.uniform(1, 8, n)
    >>> d["time"], d["status"] = np.minimum(t, c), (t <= c).astype(int)
    >>> tree = MOB(WeibullModel()).fit(d, time="time", event="status", regressors=["trt"],
    ...                                partition=["z", "u"])
    >>> tree.tree_.split.variable, tree.n_terminal, tree.minsize_
    ('z', 2, 10)
    >>> eff = tree.survival_effects(tau=3)
    >>> eff[["node", "hr", "tr", "rmst_diff"]].round(2).values.tolist()
    [[2.0, 1.94, 0.72, -0.44], [3.0, 0.34, 1.71, 0.47]]
    """

    name = "Weibull regression"
    objective_name = "negative log-likelihood"
    title = "Model-based recursive partitioning (Weibull regression)"
    inference = "normal"
    families = frozenset({"survival"})
    #: columns of the outcome (time, event)
    outcome_columns = 2

    def __init__(self, tol: float = 1e-9, maxiter: int = 100, chunk: int = 2_000_000):
        self.tol = float(tol)
        self.maxiter = int(maxiter)
        self.chunk = int(chunk)

    # ---------------------------------------------------------------- protocol
    def check_outcome(self, y, name="outcome"):
        y = np.asarray(y, dtype=float)
        if y.ndim != 2 or y.shape[1] != 2:
            raise ModelSpecificationError(
                "The Weibull node model needs a time-to-event outcome of two columns: pass "
                "time= and event= to MOB.fit (not outcome=).")
        names = name if isinstance(name, tuple) else ("time", "event")
        check_survival_outcome(y[:, 0], y[:, 1], *names)

    def inverse_link(self, eta):
        """``exp(eta)``: survreg's ``predict(type = "response")`` (the Weibull scale
        parameter exp(lp), not the median)."""
        return np.exp(eta)

    def fit(self, y, X, weights=None, offset=None, coef_names=None) -> NodeFit:
        y = np.asarray(y, dtype=float)
        if y.ndim != 2 or y.shape[1] != 2:
            raise ModelSpecificationError(
                "WeibullModel.fit needs y with two columns (time, event).")
        X = np.asarray(X, dtype=float)
        n, p = X.shape
        names = list(coef_names) if coef_names is not None else [f"x{j}" for j in range(p)]
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
        f = fit_weibull(y[:, 0], y[:, 1], X, w, offset, coef_names=names, tol=self.tol,
                        maxiter=self.maxiter)
        rank = int(np.isfinite(f.coef).sum())
        return NodeFit(coef=f.coef, coef_names=names, objective=-f.loglik, estfun=f.estfun,
                       vcov=f.vcov[:p, :p], loglik=f.loglik, df=rank + 1, nobs=float(w.sum()),
                       df_resid=np.inf, sigma=None, converged=f.converged,
                       extra={"scale": f.scale, "log_scale": f.log_scale,
                              "vcov_full": f.vcov, "iterations": f.n_iter})

    # ---------------------------------------------------------------- split search
    def _objectives(self, y, X, off, Wmat, parent: NodeFit | None):
        """Minus the maximised log-likelihood for every row of the weight matrix.

        For a saturated design without offset (``~ trt`` with a 0/1 treatment) the group
        linear predictors are profiled out in closed form and only the shape is found by a
        1-D Newton iteration per candidate; otherwise all candidates are fitted by one
        batched Newton-Raphson on (coef, log scale). Both start at the parent's fit."""
        t, d = y[:, 0], y[:, 1]
        sat = _saturated_groups(X, off)
        if parent is not None and "log_scale" in parent.extra:
            start = np.r_[parent.coef, parent.extra["log_scale"]]
        else:
            start = None
        ly = np.log(t)
        off = np.zeros(len(t)) if off is None else off
        m, n = Wmat.shape
        step = max(1, self.chunk // max(n, 1))
        out = np.empty(m)
        for s in range(0, m, step):
            Wc = Wmat[s:s + step]
            if sat is not None:
                k0 = 1.0 if start is None else np.exp(-start[-1])
                ll, _ = _profile_loglik(t, d, sat[0], sat[1], Wc, k0)
            else:
                _, ll, *_ = _fit_batch(ly, d, X, Wc, off, tol=self.tol, maxiter=self.maxiter,
                                       start=start)
            out[s:s + step] = -ll
        return out

    def prefix_objectives(self, y, X, weights, offset, order, cuts, parent=None):
        y = np.asarray(y, dtype=float)
        w = np.asarray(weights, dtype=float)
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        left = rank[None, :] <= np.asarray(cuts)[:, None]
        return (self._objectives(y, X, offset, np.where(left, w, 0.0), parent)
                + self._objectives(y, X, offset, np.where(left, 0.0, w), parent))

    def subset_objectives(self, y, X, weights, offset, codes, subsets, parent=None):
        y = np.asarray(y, dtype=float)
        w = np.asarray(weights, dtype=float)
        left = np.asarray(subsets, dtype=bool)[:, codes]
        return (self._objectives(y, X, offset, np.where(left, w, 0.0), parent)
                + self._objectives(y, X, offset, np.where(left, 0.0, w), parent))

    # ---------------------------------------------------------------- effect scales
    @staticmethod
    def node_effects(fit: NodeFit, j: int, tau: float, level: float = 0.95) -> dict:
        """Treatment effect of coefficient ``j`` (a 0/1 treatment in a node model
        ``~ 1 + trt``) on the time-ratio, hazard-ratio and RMST-difference scales, with
        delta-method confidence intervals (normal, ``level``).

        ``tr = exp(b_j)``; ``hr = exp(-b_j / scale)`` (Weibull proportional hazards);
        ``rmst_diff = RMST_1(tau) - RMST_0(tau)`` with arm linear predictors
        ``b_0`` and ``b_0 + b_j`` (closed form, gradient in (b_0, b_j, log scale)).
        """
        q = stats.norm.ppf(0.5 + level / 2)
        V = fit.extra["vcov_full"]
        b = fit.coef
        ls = fit.extra["log_scale"]
        s = np.exp(ls)
        k = len(b)
        out = {}
        bj = b[j]
        se_tr = np.sqrt(V[j, j]) if np.isfinite(bj) else np.nan
        out.update(log_tr=bj, se_log_tr=se_tr, tr=np.exp(bj), tr_lower=np.exp(bj - q * se_tr),
                   tr_upper=np.exp(bj + q * se_tr))
        g = np.zeros(k + 1)
        g[j], g[k] = -1.0 / s, bj / s
        lhr = -bj / s
        se_hr = np.sqrt(g @ V @ g) if np.isfinite(bj) else np.nan
        out.update(log_hr=lhr, se_log_hr=se_hr, hr=np.exp(lhr), hr_lower=np.exp(lhr - q * se_hr),
                   hr_upper=np.exp(lhr + q * se_hr))
        if k != 2 or j != 1:
            raise ModelSpecificationError(
                "RMST differences need the node model outcome ~ treatment (intercept and one "
                f"0/1 treatment regressor); this one has coefficients {fit.coef_names}.")
        lp = np.array([b[0], b[0] + bj])
        rm, d_lp, d_ls = weibull_rmst(tau, lp, s, gradient=True)
        diff = rm[1] - rm[0]
        g = np.array([d_lp[1] - d_lp[0], d_lp[1], d_ls[1] - d_ls[0]])
        se = np.sqrt(g @ V @ g) if np.isfinite(bj) else np.nan
        out.update(tau=tau, rmst_0=rm[0], rmst_1=rm[1], rmst_diff=diff, se_rmst_diff=se,
                   rmst_diff_lower=diff - q * se, rmst_diff_upper=diff + q * se)
        return out

"""Stage-1 learners for binary outcomes on the outcome-family protocol.

Logistic regression with full treatment interactions (R ``glm``) and
penalised logistic regression with glmnet semantics (``cv.glmnet(family =
"binomial")``, only the treatment interactions penalised).  Both use the
design ``Z = (1, t, x, t*x)`` in R's column order; the ITE of a patient
follows from the linear predictors under control and treatment
(``eta_a = z_a'b``) through :class:`ipdma.families.BinaryFamily`: the risk
difference ``expit(eta1) - expit(eta0)`` (``scale="rd"``, default) or the
conditional log odds ratio ``eta1 - eta0`` (``scale="logor"``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._lazy import lazy_module
from .._optional import import_optional
from ..errors import ConvergenceWarning, DataError, ModelSpecificationError
from ._learners import ITELearner, _cd_batch, interaction_design

special = lazy_module("scipy.special")   # imported when first used

__all__ = ["BayesLogisticLearner", "ElasticNetLogisticLearner", "LassoLogisticLearner", "LogisticLearner",
           "RidgeLogisticLearner", "arm_designs", "coef_names"]


def arm_designs(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Design rows of each patient under control (t = 0) and treatment (t = 1).

    Examples
    --------
    >>> import numpy as np
    >>> Z0, Z1 = arm_designs(np.array([[2.0]]))
    >>> Z0.tolist(), Z1.tolist()
    ([[1.0, 0.0, 2.0, 0.0]], [[1.0, 1.0, 2.0, 2.0]])
    """
    n = len(X)
    return interaction_design(X, np.zeros(n)), interaction_design(X, np.ones(n))


def coef_names(feature_names: Sequence[str]) -> list[str]:
    """Names of the full-interaction coefficients in R's order.

    Examples
    --------
    >>> coef_names(["x1", "x2"])
    ['(Intercept)', 't', 'x1', 'x2', 't:x1', 't:x2']
    """
    f = list(feature_names)
    return ["(Intercept)", "t", *f, *[f"t:{n}" for n in f]]


class _BinaryLearner(ITELearner):
    """Shared parts of the learners for a binary outcome.

    ``predict_arms(X)`` gives the predicted risks ``(p0, p1)`` under control and
    treatment; ``predict_ite(X, scale)`` the ITE on ``scale`` (``"rd"`` or, for
    learners with coefficients, ``"logor"``).
    """

    families = frozenset({"binary"})

    def predict_eta(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Linear predictors ``(eta0, eta1)`` (learners with coefficients)."""
        X = self._check_X(X)
        Z0, Z1 = arm_designs(X)
        return Z0 @ self.coef_, Z1 @ self.coef_

    def predict_arms(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        eta0, eta1 = self.predict_eta(X)
        return special.expit(eta0), special.expit(eta1)

    def predict_ite(self, X: Any, scale: str | None = None) -> np.ndarray:
        eta0, eta1 = self.predict_eta(X)
        return self.family_.ite(eta0, eta1, scale)


# --------------------------------------------------------------------------------------
# logistic regression (R glm)
# --------------------------------------------------------------------------------------
def logistic_irls(Z: np.ndarray, y: np.ndarray, *, epsilon: float = 1e-14,
                  maxit: int = 100) -> dict[str, Any]:
    """Maximum-likelihood logistic regression by IRLS with R ``glm``'s stopping rule.

    Stops when ``|dev - dev_old| / (|dev| + 0.1) < epsilon``; the covariance is
    ``(Z'WZ)^-1`` with the working weights of the last IRLS step (as R).  Returns ``coef``, ``vcov``, ``deviance``,
    ``loglik``, ``iterations``, ``converged``.

    Examples
    --------
    >>> import numpy as np
    >>> Z = np.column_stack([np.ones(6), [0, 0, 1, 1, 2, 2.0]])
    >>> r = logistic_irls(Z, np.array([0, 1, 0, 1, 1, 1.0]))
    >>> r["coef"].round(4), r["converged"]
    (array([-0.4173,  1.2917]), True)
    """
    q = Z.shape[1]
    b = np.zeros(q)
    # R's starting values: mu = (y + 0.5) / 2
    mu = (y + 0.5) / 2
    eta = special.logit(mu)
    dev_old = np.inf
    converged = False
    it = 0
    eps = np.finfo(float).eps
    for step in range(1, maxit + 1):
        it = step
        # R's logit link: mu from eta clamped to +-30, dmu/deta floored at machine eps
        w = np.maximum(mu * (1 - mu), eps)
        z = eta + (y - mu) / w
        sw = np.sqrt(w)
        b_new, *_ = np.linalg.lstsq(Z * sw[:, None], z * sw, rcond=None)
        b = b_new
        eta = Z @ b
        mu = special.expit(np.clip(eta, -30.0, 30.0))
        dev = float(-2.0 * np.sum(y * eta - np.logaddexp(0.0, eta)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    # as R's summary.glm: the information at the working weights of the last IRLS step
    info = (Z * w[:, None]).T @ Z
    vcov = np.linalg.inv(info)
    vcov = (vcov + vcov.T) / 2
    return {"coef": b, "vcov": vcov, "deviance": dev, "loglik": -dev / 2, "iterations": it,
            "converged": converged, "fitted": mu}


class LogisticLearner(_BinaryLearner):
    """Full-interaction logistic regression ``y ~ t * (x1 + ... + xp)`` (R: ``glm``).

    ``coef_``/``vcov_`` hold all ``2p + 2`` coefficients (order (1, t, x, t:x),
    names in ``coef_names_``) and their covariance ``(Z'WZ)^-1``.  The ITE on
    the risk-difference scale is ``expit(z1'b) - expit(z0'b)``, with the
    delta-method variance ``g'Vg``, ``g = p1(1-p1) z1 - p0(1-p0) z0``
    (:meth:`ite_var`); on the log-odds-ratio scale it is ``delta + x'gamma``.
    :meth:`coef_cov` returns the *full* coefficient vector: a risk
    difference needs the whole linear predictor, so the ``mvma`` pooler pools
    all coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 2)); t = rng.integers(0, 2, 2000)
    >>> eta = -0.5 + X[:, 0] + t * (-0.5 + X[:, 1])
    >>> y = (rng.random(2000) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> m = LogisticLearner().fit(X, t, y, family="binary")
    >>> m.coef_.round(1)                 # truth (-0.5, -0.5, 1, 0, 0, 1)
    array([-0.3, -0.8,  1. , -0.1, -0.1,  1.1])
    >>> m.predict_ite(X[:2]).round(3), m.predict_ite(X[:2], scale="logor").round(2)
    (array([-0.217, -0.19 ]), array([-0.98, -0.77]))
    >>> m.ite_var(X[:2]).round(5)
    array([0.00058, 0.00087])
    """

    name = "logistic"
    provides = frozenset({"coef_cov", "linear"})

    def __init__(self, *, epsilon: float = 1e-14, maxit: int = 100) -> None:
        self.epsilon = float(epsilon)
        self.maxit = int(maxit)

    def _fit(self, X, t, y, rng):
        Z = interaction_design(X, t)
        n, q = Z.shape
        if n <= q:
            raise DataError(f"full-interaction logistic regression needs more than {q} "
                            f"patients per trial (got {n}): use fewer covariates or a "
                            "penalised learner")
        ev = float(y.sum())
        if ev == 0 or ev == n:
            raise DataError(f"the outcome is {'never' if ev == 0 else 'always'} an event in "
                            "this trial: a logistic model cannot be fitted; drop the trial")
        s = np.linalg.svd(Z, compute_uv=False)
        if s[-1] < 1e-10 * s[0]:
            raise DataError("the full-interaction design is rank deficient in this trial "
                            "(a covariate is constant within an arm?): drop that covariate")
        r = logistic_irls(Z, y, epsilon=self.epsilon, maxit=self.maxit)
        if not r["converged"] or np.max(np.abs(Z @ r["coef"])) > 30:
            raise DataError("the logistic regression is (quasi-)completely separated: some "
                            "patients' risks are fitted as 0 or 1 and the coefficients "
                            "diverge; use a penalised learner (logistic-lasso, "
                            "logistic-ridge), fewer covariates, or drop the trial")
        self.coef_ = r["coef"]
        self.vcov_ = r["vcov"]
        self.loglik_ = r["loglik"]
        self.deviance_ = r["deviance"]
        self.iterations_ = r["iterations"]
        self.converged_ = r["converged"]
        self.coef_names_ = coef_names([f"x{j + 1}" for j in range(X.shape[1])])

    def coef_cov(self):
        self._check_fitted()
        return self.coef_, self.vcov_

    def ite_var(self, X: Any, scale: str | None = None) -> np.ndarray:
        """Delta-method variance of the predicted ITE on ``scale``."""
        X = self._check_X(X)
        Z0, Z1 = arm_designs(X)
        return self.family_.ite_from_coef(self.coef_, self.vcov_, Z0, Z1, scale)["se"] ** 2

    def _refits(self, X, t, y, idx, rng):
        from ._learners import _redraw_both_arms

        for b in range(len(idx)):
            ib = idx[b]
            for _ in range(100):  # resamples with one arm or one outcome: draw again
                ok = 0 < t[ib].sum() < len(ib) and 0 < y[ib].sum() < len(ib)
                if ok:
                    break
                ib = _redraw_both_arms(t, rng)
            for _ in range(100):   # a separated resample: draw again
                m = self.bootstrap_clone()
                try:
                    m.fit(X[ib], t[ib], y[ib], random_state=rng, family=self.family_)
                    break
                except DataError:
                    ib = _redraw_both_arms(t, rng)
            else:
                raise DataError("100 bootstrap resamples in a row were separated: use the "
                                "weighted-aux-ols pooler (delta-method variances)")
            yield m


# --------------------------------------------------------------------------------------
# penalised logistic regression (glmnet, family = "binomial")
# --------------------------------------------------------------------------------------
def _pen_logistic_batch(Z: np.ndarray, y: np.ndarray, w: np.ndarray, sdp: np.ndarray,
                        pen: np.ndarray, unp: np.ndarray, l1: np.ndarray, l2: np.ndarray,
                        b0: np.ndarray, *, tol: float = 1e-11,
                        maxit: int = 200) -> np.ndarray:
    """Penalised logistic regression for a batch of problems (proximal Newton).

    Minimises ``-(1/n_m) sum_i w_mi loglik_i(b) + sum_j l1_mj |b~_j| + 1/2 l2_mj b~_j^2``
    over ``b`` (original scale), where ``b~_j = b_j * sdp_mj`` are the standardised
    penalised coefficients.  Z (M, n, q), y (n,), w (M, n) 0/1 observation
    weights, l1/l2 (M, len(pen)), b0 (M, q) start.  Each Newton step solves the
    penalised quadratic exactly: the unpenalised block is profiled out and the
    penalised block solved by coordinate descent.
    """
    nw = w.sum(axis=1)
    b = b0.copy()
    Zu = Z[:, :, unp]
    Zp = Z[:, :, pen] / sdp[:, None, :]
    for _ in range(maxit):
        eta = np.einsum("mni,mi->mn", Z, b)
        p = special.expit(eta)
        v = np.maximum(p * (1 - p), 1e-10)
        z = eta + (y[None, :] - p) / v
        ww = w * v
        Guu = np.einsum("mni,mnj->mij", Zu * ww[..., None], Zu)
        Gup = np.einsum("mni,mnj->mij", Zu * ww[..., None], Zp)
        guz = np.einsum("mni,mn->mi", Zu * ww[..., None], z)
        Guu_inv = np.linalg.inv(Guu)
        A = Guu_inv @ Gup
        a0 = np.einsum("mij,mj->mi", Guu_inv, guz)
        Rp = Zp - np.einsum("mnu,mup->mnp", Zu, A)
        rz = z - np.einsum("mnu,mu->mn", Zu, a0)
        G = np.einsum("mni,mnj->mij", Rp * ww[..., None], Rp) / nw[:, None, None]
        c = np.einsum("mni,mn->mi", Rp * ww[..., None], rz) / nw[:, None]
        bs = _cd_batch(G, c, l1, l2, tol=1e-14)
        new = np.empty_like(b)
        new[:, pen] = bs / sdp
        new[:, unp] = a0 - np.einsum("mup,mp->mu", A, bs)
        step = np.max(np.abs(new - b))
        b = new
        if step < tol:
            return b
    warnings.warn("penalised logistic regression did not converge; results may be "
                  "inaccurate", ConvergenceWarning, stacklevel=3)
    return b


def _binom_dev(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-patient binomial deviance with cv.glmnet's clamping of p to [1e-5, 1 - 1e-5]."""
    p = np.clip(p, 1e-5, 1 - 1e-5)
    return -2.0 * (y * np.log(p) + (1 - y) * np.log(1 - p))


class _PenalizedLogistic(_BinaryLearner):
    """Full-interaction logistic model with only the treatment interactions penalised.

    glmnet semantics (``family = "binomial"``, ``standardize = TRUE``): the
    columns ``(t, x, t:x)`` are standardised with their 1/n standard deviation,
    penalty factors (0 for t and x, 1 for t:x) are rescaled to sum to the
    number of columns, the objective is ``-loglik / n + lambda * sum pf_j
    (alpha |b~_j| + (1 - alpha) / 2 b~_j^2)``.  The lambda sequence is
    glmnet's default: ``lambda_max = max_j |x~_j'(y - mu0)| / (n pf_j
    max(alpha, 1e-3))`` (``mu0``: the fit of the unpenalised model), 100
    values down to ``lambda_min_ratio * lambda_max`` (1e-4 when n > number of
    columns, else 0.01), the path cut by glmnet's ``fdev = 1e-5`` rule (after
    at least 5 values, stop once the deviance ratio gains less than 1e-5, or
    exceeds 0.999).  ``lambdas`` replaces the sequence (no cut).
    ``lambda.min`` is chosen by k-fold CV of the binomial deviance as
    ``cv.glmnet`` does it: each fold fits its own default path and its
    coefficients at the full-data lambdas are linearly interpolated
    (``predict(fit, s = lambda)``); predicted risks are clamped to [1e-5,
    1 - 1e-5]; the largest lambda attaining the minimum is chosen; ``foldid`` gives the
    folds (``cv.glmnet(foldid = )``: one label per patient of the trial,
    any labels; or ``fit(X, t, y, foldid=...)`` and ``TwoStageITE(...).fit(data,
    foldid="COLUMN")`` as for the continuous learners), otherwise ``nfolds`` random
    balanced folds.

    Fitted: ``coef_`` (original scale, order (1, t, x, t:x)), ``lambda_``
    (sequence), ``cvm_``, ``cvsd_``, ``nzero_``, ``lambda_min_``,
    ``lambda_1se_``, ``path_coef_`` (L, q), ``dev_ratio_``.
    """

    alpha: float = 1.0

    def __init__(self, *, lambdas: Sequence[float] | None = None, nfolds: int = 10,
                 foldid: Sequence[Any] | None = None, nfolds_bootstrap: int = 5,
                 alpha: float | None = None, nlambda: int = 100,
                 lambda_min_ratio: float | None = None) -> None:
        self.lambdas = None if lambdas is None else list(map(float, lambdas))
        self.nfolds = int(nfolds)
        self.foldid = None if foldid is None else np.asarray(foldid)
        self.nfolds_bootstrap = int(nfolds_bootstrap)
        self.nlambda = int(nlambda)
        self.lambda_min_ratio = lambda_min_ratio
        if alpha is not None:
            if not 0.0 <= alpha <= 1.0:
                raise ModelSpecificationError(f"alpha must be in [0, 1], got {alpha}")
            self.alpha = float(alpha)

    def _path(self, Z, y, w, lam, p, b_start):
        """Coefficient paths (F, L, q) for F observation-weight vectors w (F, n) and
        lambda sequences lam (F, L)."""
        pen = np.arange(p + 2, 2 * p + 2)
        unp = np.arange(0, p + 2)
        F, L = lam.shape
        nw = w.sum(axis=1)
        mean = (w @ Z) / nw[:, None]
        sd = np.sqrt(np.maximum((w @ Z ** 2) / nw[:, None] - mean ** 2, 0.0))[:, pen]
        if np.any(sd <= 0):
            raise DataError("a treatment-interaction column is constant in a CV fold or "
                            "resample: use fewer folds or drop the covariate")
        pf = (2 * p + 1) / p                              # rescaled penalty factor of t:x
        l1 = np.repeat((lam * pf * self.alpha).reshape(-1, 1), p, axis=1)
        l2 = np.repeat((lam * pf * (1 - self.alpha)).reshape(-1, 1), p, axis=1)
        Zb = np.broadcast_to(Z, (F * L, *Z.shape))
        b = _pen_logistic_batch(Zb, y, np.repeat(w, L, axis=0), np.repeat(sd, L, axis=0),
                                pen, unp, l1, l2, np.repeat(b_start, L, axis=0))
        return b.reshape(F, L, -1)

    def _lambda_seq(self, Z, y, w, p) -> tuple[np.ndarray, np.ndarray]:
        """glmnet's default lambda sequence for the rows with weight 1 in ``w`` and the
        unpenalised fit there (start values)."""
        pen = np.arange(p + 2, 2 * p + 2)
        unp = np.arange(0, p + 2)
        rows = w > 0
        n = int(rows.sum())
        r = logistic_irls(Z[rows][:, unp], y[rows], epsilon=1e-14)
        b = np.zeros(Z.shape[1])
        b[unp] = r["coef"]
        resid = y[rows] - r["fitted"]
        Zp = Z[rows][:, pen]
        sd = Zp.std(axis=0)
        pf = (2 * p + 1) / p
        lmax = np.max(np.abs(((Zp - Zp.mean(axis=0)) / sd).T @ resid)) / (
            n * pf * max(self.alpha, 1e-3))
        ratio = self.lambda_min_ratio if self.lambda_min_ratio is not None else \
            (1e-4 if n > 2 * p + 1 else 1e-2)
        k = np.arange(self.nlambda)
        return lmax * ratio ** (k / (self.nlambda - 1)), b

    def _default_paths(self, Z, y, w, p, chunk: int = 16):
        """glmnet's default path on each weight vector (rows of w), cut by the fdev rule.

        Returns a list of (lambdas, path (L, q), dev_ratio) per row of w.
        """
        F = len(w)
        seqs = [self._lambda_seq(Z, y, w[f], p) for f in range(F)]
        lam_all = np.stack([s[0] for s in seqs])
        start = np.stack([s[1] for s in seqs])
        nw = w.sum(axis=1)
        ybar = (w @ y) / nw
        nulldev = -2.0 * nw * (ybar * np.log(ybar) + (1 - ybar) * np.log(1 - ybar))
        paths = [np.empty((0, Z.shape[1])) for _ in range(F)]
        ratios = [np.empty(0) for _ in range(F)]
        stop = [None] * F
        pos = 0
        nl = lam_all.shape[1]
        while pos < nl and any(s is None for s in stop):
            act = [f for f in range(F) if stop[f] is None]
            end = min(nl, pos + chunk)
            P = self._path(Z, y, w[act], lam_all[act, pos:end], p, start[act])
            eta = np.einsum("fli,ni->fln", P, Z)
            dev = -2.0 * np.einsum("fln,fn->fl", y * eta - np.logaddexp(0.0, eta), w[act])
            for j, f in enumerate(act):
                paths[f] = np.vstack([paths[f], P[j]])
                ratios[f] = np.r_[ratios[f], 1 - dev[j] / nulldev[f]]
                start[f] = P[j, -1]
                dr = ratios[f]
                for m in range(max(pos, 1), len(dr)):
                    if m + 1 >= min(5, nl) and (dr[m] > 0.999 or dr[m] - dr[m - 1] < 1e-5):
                        stop[f] = m + 1
                        break
            pos = end
        out = []
        for f in range(F):
            L = stop[f] or nl
            out.append((lam_all[f, :L], paths[f][:L], ratios[f][:L]))
        return out

    @staticmethod
    def _interp(lam_f: np.ndarray, path_f: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Coefficients at lambdas ``s`` by glmnet's linear interpolation (lambda.interp)."""
        if len(lam_f) == 1:
            return np.repeat(path_f, len(s), axis=0)
        span = lam_f[0] - lam_f[-1]
        sfrac = np.clip((lam_f[0] - s) / span, 0.0, 1.0)
        ln = (lam_f[0] - lam_f) / span
        coord = np.interp(sfrac, ln, np.arange(len(ln)))
        left = np.floor(coord).astype(int)
        right = np.ceil(coord).astype(int)
        den = ln[left] - ln[right]
        frac = np.where(left == right, 1.0,
                        (sfrac - ln[right]) / np.where(den == 0, 1.0, den))
        frac = np.where(np.abs(den) < np.finfo(float).eps, 1.0, frac)
        return path_f[left] * frac[:, None] + path_f[right] * (1 - frac[:, None])

    def _cv_fit(self, X, t, y, folds: np.ndarray | None, nfolds: int, rng):
        p = X.shape[1]
        Z = interaction_design(X, t)
        n = len(y)
        ev = y.sum()
        if ev == 0 or ev == n:
            raise DataError(f"the outcome is {'never' if ev == 0 else 'always'} an event in "
                            "this trial: a logistic model cannot be fitted; drop the trial")
        if folds is None:
            folds = rng.permutation(np.arange(n) % nfolds)
        labels = np.unique(folds)
        fold_idx = np.searchsorted(labels, folds)
        K = len(labels)
        if K < 3:
            raise DataError(f"cross-validation needs at least 3 folds, got {K}")
        w = np.vstack([np.ones(n), (fold_idx[None, :] != np.arange(K)[:, None])])
        if self.lambdas is None:
            res = self._default_paths(Z, y, w, p)
            lambdas, path, dev_ratio = res[0]
            # cv.glmnet: each fold fits its own default path; predictions at the
            # full-data lambdas are interpolated (glmnet's predict(s = lambda))
            fpath = np.stack([self._interp(lf, pf_, lambdas) for lf, pf_, _ in res[1:]])
        else:
            lambdas = np.sort(np.asarray(self.lambdas, float))[::-1]
            start = np.stack([self._lambda_seq(Z, y, w[f], p)[1] for f in range(K + 1)])
            allp = self._path(Z, y, w, np.tile(lambdas, (K + 1, 1)), p, start)
            path, fpath = allp[0], allp[1:]
            eta = path @ Z.T
            dev = -2.0 * np.sum(y * eta - np.logaddexp(0.0, eta), axis=1)
            ybar = y.mean()
            dev_ratio = 1 - dev / (-2.0 * n * (ybar * np.log(ybar) + (1 - ybar)
                                               * np.log(1 - ybar)))
        eta_f = np.einsum("kli,ni->kln", fpath, Z)                   # (K, L, n)
        held = fold_idx[None, :] == np.arange(K)[:, None]            # (K, n)
        d = _binom_dev(y[None, None, :], special.expit(eta_f))
        n_f = held.sum(axis=1)
        cvm_f = np.einsum("kln,kn->kl", d, held) / n_f[:, None]       # (K, L)
        cvm = (n_f[:, None] * cvm_f).sum(axis=0) / n_f.sum()
        cvsd = np.sqrt((n_f[:, None] * (cvm_f - cvm) ** 2).sum(axis=0) / n_f.sum() / (K - 1))
        imin = int(np.flatnonzero(cvm <= cvm.min())[0])
        semax = cvm[imin] + cvsd[imin]
        i1se = int(np.flatnonzero(cvm <= semax)[0])
        return dict(lambdas=lambdas, path=path, dev_ratio=dev_ratio, cvm=cvm, cvsd=cvsd,
                    imin=imin, i1se=i1se, folds=folds)

    def _fit(self, X, t, y, rng, foldid=None):
        p = X.shape[1]
        folds = None
        if foldid is not None:      # fit(..., foldid=): codes 0..K-1 checked by the protocol
            folds = np.asarray(foldid).ravel()
            nfolds = int(folds.max()) + 1
        elif self.foldid is not None:
            folds = np.asarray(self.foldid).ravel()
            if len(folds) != len(y):
                raise DataError(f"foldid has {len(folds)} entries but the trial has "
                                f"{len(y)} patients: give one fold label per patient")
            nfolds = len(np.unique(folds))
        else:
            nfolds = min(self.nfolds, len(y))
        r = self._cv_fit(X, t, y, folds, nfolds, rng)
        self.lambda_ = r["lambdas"]
        self.path_coef_ = r["path"]
        self.dev_ratio_ = r["dev_ratio"]
        self.cvm_ = r["cvm"]
        self.cvsd_ = r["cvsd"]
        self.nzero_ = np.count_nonzero(r["path"][:, 1:], axis=1)
        self.lambda_min_ = float(r["lambdas"][r["imin"]])
        self.lambda_min_index_ = r["imin"]
        self.lambda_1se_ = float(r["lambdas"][r["i1se"]])
        self.coef_ = r["path"][r["imin"]]
        self.coef_names_ = coef_names([f"x{j + 1}" for j in range(p)])

    def bootstrap_clone(self):
        new = super().bootstrap_clone()
        new.foldid = None                      # resamples draw their own folds
        new.nfolds = new.nfolds_bootstrap
        return new


class LassoLogisticLearner(_PenalizedLogistic):
    """LASSO logistic regression (glmnet ``alpha = 1``) on the treatment interactions.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)); t = rng.integers(0, 2, 300)
    >>> eta = -0.5 + X[:, 0] + t * (-0.5 + X[:, 1])
    >>> y = (rng.random(300) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> m = LassoLogisticLearner(nfolds=5).fit(X, t, y, random_state=0, family="binary")
    >>> m.lambda_min_ > 0, m.predict_ite(X[:2]).shape
    (True, (2,))
    """

    name = "logistic-lasso"
    alpha = 1.0


class RidgeLogisticLearner(_PenalizedLogistic):
    """Ridge logistic regression (glmnet ``alpha = 0``) on the treatment interactions.

    Examples
    --------
    >>> RidgeLogisticLearner().alpha
    0.0
    """

    name = "logistic-ridge"
    alpha = 0.0


class ElasticNetLogisticLearner(_PenalizedLogistic):
    """Elastic-net logistic regression (glmnet ``alpha``, default 0.5) on the interactions.

    Examples
    --------
    >>> ElasticNetLogisticLearner(alpha=0.3).alpha
    0.3
    """

    name = "logistic-elasticnet"
    alpha = 0.5


# --------------------------------------------------------------------------------------
# Polya-Gamma draws
# --------------------------------------------------------------------------------------
_T = 0.64


def _a(n, x):
    """Coefficients of the alternating series of J*(1, z) (Devroye)."""
    k = n + 0.5
    out = np.empty_like(x)
    lo = x <= _T
    xl = x[lo]
    out[lo] = np.pi * k * (2.0 / (np.pi * xl)) ** 1.5 * np.exp(-2.0 * k * k / xl)
    xh = x[~lo]
    out[~lo] = np.pi * k * np.exp(-k * k * np.pi ** 2 * xh / 2.0)
    return out


def _rtigauss(z, rng):
    """Inverse Gaussian IG(mu = 1/z, 1) truncated to (0, T), vectorised rejection."""
    n = len(z)
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        zz = z[todo]
        mu = np.divide(1.0, zz, out=np.full_like(zz, np.inf), where=zz > 0)
        x = np.empty(len(todo))
        ok = np.zeros(len(todo), bool)
        big = mu > _T
        if big.any():
            m = int(big.sum())
            e1 = rng.exponential(size=m)
            e2 = rng.exponential(size=m)
            good = e1 ** 2 <= 2.0 * e2 / _T
            xb = _T / (1.0 + _T * e1) ** 2
            alpha = np.exp(-0.5 * zz[big] ** 2 * xb)
            acc = good & (rng.random(m) <= alpha)
            x[big] = xb
            ok[big] = acc
        sm = ~big
        if sm.any():
            m = int(sm.sum())
            mus = mu[sm]
            y = rng.standard_normal(m) ** 2
            xs = mus + 0.5 * mus ** 2 * y - 0.5 * mus * np.sqrt(4 * mus * y + (mus * y) ** 2)
            flip = rng.random(m) > mus / (mus + xs)
            xs = np.where(flip, mus ** 2 / xs, xs)
            x[sm] = xs
            ok[sm] = xs <= _T
        out[todo[ok]] = x[ok]
        todo = todo[~ok]
    return out


def rpg1(z, rng):
    """Exact draws of PG(1, z) (Polson, Scott & Windle 2013; Devroye's method), vectorised."""
    z = np.abs(np.asarray(z, dtype=float)).ravel() / 2.0
    n = len(z)
    K = np.pi ** 2 / 8 + z ** 2 / 2
    p = np.pi / (2 * K) * np.exp(-K * _T)
    sq = np.sqrt(1.0 / _T)
    cdf = special.ndtr(sq * (_T * z - 1)) + np.exp(2 * z) * special.ndtr(-sq * (_T * z + 1))
    q = 2 * np.exp(-z) * cdf
    out = np.empty(n)
    todo = np.arange(n)
    while len(todo):
        zt, Kt = z[todo], K[todo]
        m = len(todo)
        use_exp = rng.random(m) < p[todo] / (p[todo] + q[todo])
        x = np.empty(m)
        x[use_exp] = _T + rng.exponential(size=int(use_exp.sum())) / Kt[use_exp]
        if (~use_exp).any():
            x[~use_exp] = _rtigauss(zt[~use_exp], rng)
        S = _a(0, x)
        Y = rng.random(m) * S
        decided = np.zeros(m, bool)
        accept = np.zeros(m, bool)
        nn = 0
        while not decided.all():
            nn += 1
            und = ~decided
            an = _a(nn, x[und])
            if nn % 2 == 1:
                S[und] -= an
                acc = Y[und] <= S[und]
                idx = np.flatnonzero(und)[acc]
                accept[idx] = True
                decided[idx] = True
            else:
                S[und] += an
                rej = Y[und] > S[und]
                decided[np.flatnonzero(und)[rej]] = True
        out[todo[accept]] = x[accept] / 4.0
        todo = todo[~accept]
    return out


# --------------------------------------------------------------------------------------
# Bayesian logistic regression (Polya-Gamma Gibbs)
# --------------------------------------------------------------------------------------
def pg_gibbs_logistic(Z: np.ndarray, y: np.ndarray, *, prior_var: float, num_warmup: int,
                      num_samples: int, num_chains: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Polya-Gamma Gibbs sampler of ``y ~ Bernoulli(expit(Z b))``, ``b ~ N(0, prior_var I)``;
    chains advanced together, from overdispersed starts around the maximum-likelihood fit.
    Returns the draws (num_chains, num_samples, q)."""
    n, q = Z.shape
    C = int(num_chains)
    kappa = y - 0.5
    Zk = Z.T @ kappa
    P0 = np.eye(q) / prior_var
    try:  # overdispersed starts around the MLE (or 0 if it does not exist)
        r = logistic_irls(Z, y)
        start, scov = r["coef"], r["vcov"]
        if not np.all(np.isfinite(start)) or np.max(np.abs(Z @ start)) > 30:
            raise ValueError
    except (ValueError, np.linalg.LinAlgError):
        start, scov = np.zeros(q), np.eye(q)
    b = start + 2.0 * rng.standard_normal((C, q)) @ np.linalg.cholesky(
        scov + 1e-10 * np.eye(q)).T
    total = int(num_warmup) + int(num_samples)
    out = np.empty((C, int(num_samples), q))
    for it in range(total):
        eta = b @ Z.T                                             # (C, n)
        omega = rpg1(eta, rng).reshape(C, n)
        prec = (Z.T[None] * omega[:, None, :]) @ Z + P0
        L = np.linalg.cholesky(prec)
        mean = np.linalg.solve(prec, np.broadcast_to(Zk, (C, q))[..., None])[..., 0]
        eps = rng.standard_normal((C, q))
        b = mean + np.linalg.solve(np.swapaxes(L, 1, 2), eps[..., None])[..., 0]
        if it >= num_warmup:
            out[:, it - num_warmup] = b
    return out


def logistic_chain_diagnostics(name: str, chains: np.ndarray,
                               stacklevel: int = 5) -> tuple[float, float]:
    """Bulk ESS (min) and split R-hat (max; NaN with one chain) of every coefficient of
    (chains, draws, q); :class:`~ipdma.errors.SamplerWarning` when R-hat > 1.01 or
    ESS < 400."""
    from ..errors import SamplerWarning

    az = import_optional("arviz")
    C = chains.shape[0]
    flat = chains.reshape(C, chains.shape[1], -1)
    q = flat.shape[-1]
    ess_min = float(np.min([az.ess(flat[..., j], method="bulk") for j in range(q)]))
    rhat_max = float(np.max([az.rhat(flat[..., j]) for j in range(q)])) if C > 1 \
        else float("nan")
    if (C > 1 and rhat_max > 1.01) or ess_min < 400:
        warnings.warn(f"{name}: R-hat max {rhat_max:.3f}, bulk ESS min {ess_min:.0f}; "
                      "increase num_samples/num_warmup", SamplerWarning, stacklevel=stacklevel)
    return ess_min, rhat_max


class BayesLogisticLearner(_BinaryLearner):
    """Bayesian full-interaction logistic regression, exact Polya-Gamma Gibbs sampler.

    ``b ~ N(0, prior_var I)`` on all ``2p + 2`` coefficients (order (1, t, x,
    t:x)), ``y ~ Bernoulli(expit(Z b))``.  Polson, Scott and Windle's (2013)
    data augmentation makes every full conditional exact: ``omega_i | b ~
    PG(1, z_i'b)`` (drawn exactly by Devroye's alternating-series method) and
    ``b | omega ~ N(V Z'kappa, V)``, ``V = (Z' Omega Z + I / prior_var)^-1``,
    ``kappa = y - 1/2``.  ``num_chains`` chains run together in numpy, from
    overdispersed starts around the maximum-likelihood fit.  Split R-hat and
    bulk ESS of every coefficient are checked
    (:class:`~ipdma.errors.SamplerWarning` when R-hat > 1.01 or ESS < 400).
    :meth:`posterior` returns the draws, mean and covariance of the *full*
    coefficient vector (a risk difference needs the whole linear predictor);
    :meth:`inference_data` the ArviZ ``InferenceData``.  The point ITE is the
    posterior mean of the per-draw ITE.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)); t = rng.integers(0, 2, 300)
    >>> eta = -0.5 + X[:, 0] + t * (-0.5 + X[:, 1])
    >>> y = (rng.random(300) < 1 / (1 + np.exp(-eta))).astype(float)
    >>> m = BayesLogisticLearner().fit(X, t, y, random_state=0, family="binary")
    >>> m.posterior()["draws"].shape, m.rhat_max_ < 1.01
    ((2000, 6), True)
    """

    name = "bayes-logistic"
    provides = frozenset({"posterior", "linear"})
    bootstrap_supported = False

    def __init__(self, *, prior_var: float = 1000.0, num_warmup: int = 500,
                 num_samples: int = 1000, num_chains: int = 2) -> None:
        self.prior_var = float(prior_var)
        self.num_warmup = int(num_warmup)
        self.num_samples = int(num_samples)
        self.num_chains = int(num_chains)
        if self.num_samples < 4 or self.num_chains < 1 or self.num_warmup < 0:
            raise ModelSpecificationError(
                "bayes-logistic needs num_samples >= 4, num_chains >= 1 and num_warmup >= 0")

    def _fit(self, X, t, y, rng):
        Z = interaction_design(X, t)
        chains = pg_gibbs_logistic(Z, y, prior_var=self.prior_var,
                                   num_warmup=self.num_warmup, num_samples=self.num_samples,
                                   num_chains=self.num_chains, rng=rng)
        q = Z.shape[1]
        self.coef_chains_ = chains
        draws = chains.reshape(-1, q)
        self.coef_draws_ = draws
        self.coef_ = draws.mean(axis=0)
        self.coef_cov_ = np.cov(draws, rowvar=False)
        self.coef_names_ = coef_names([f"x{j + 1}" for j in range(X.shape[1])])
        self.ess_min_, self.rhat_max_ = logistic_chain_diagnostics("bayes-logistic", chains,
                                                                   stacklevel=5)

    def posterior(self):
        self._check_fitted()
        return {"draws": self.coef_draws_, "mean": self.coef_, "cov": self.coef_cov_}

    def predict_ite(self, X, scale=None):
        X = self._check_X(X)
        Z0, Z1 = arm_designs(X)
        d = self.family_.ite(self.coef_draws_ @ Z0.T, self.coef_draws_ @ Z1.T, scale)
        return d.mean(axis=0)

    def predict_arms(self, X):
        X = self._check_X(X)
        Z0, Z1 = arm_designs(X)
        return (special.expit(self.coef_draws_ @ Z0.T).mean(axis=0),
                special.expit(self.coef_draws_ @ Z1.T).mean(axis=0))

    def inference_data(self):
        """The draws as ArviZ ``InferenceData`` (variable ``coef``)."""
        az = import_optional("arviz")

        self._check_fitted()
        return az.from_dict(posterior={"coef": self.coef_chains_},
                            coords={"coef_dim_0": self.coef_names_})


def _register() -> None:
    from ._learners import LEARNERS

    for cls in (LogisticLearner, LassoLogisticLearner, RidgeLogisticLearner,
                ElasticNetLogisticLearner, BayesLogisticLearner):
        LEARNERS.setdefault(cls.name, cls)


_register()

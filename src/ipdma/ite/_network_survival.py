"""Time-to-event outcomes on a treatment network (two-stage ITE, family ``"survival"``).

Stage 1 (one model per trial, all its arms, against the trial's own reference arm):

* ``"cox"``: ``coxph(Surv(time, event) ~ trt * (x1 + ... + xp), ties = "efron")`` with a
  treatment factor (one dummy per non-reference arm) -- :func:`fit_network_cox`; Breslow's
  baseline cumulative hazard of the trial (``survfit(ctype = 1)``) is kept for absolute
  predictions;
* ``"weibull"``: ``survreg(Surv(time, event) ~ trt * (x1 + ... + xp), dist =
  "weibull")`` -- :func:`fit_network_weibull`; the treatment blocks are turned to the
  log-hazard scale (``-coef / scale``) with their delta-method covariance, the trial's
  Weibull baseline is kept.

Each gives a :class:`~ipdma.ite._network.NetworkBlock` on the log-hazard-ratio scale: one
row ``(delta_k, gamma_k1..gamma_kp)`` per non-reference arm, with the full covariance of
all the trial's blocks (including between the contrasts of a multi-arm trial).

Stage 2 and predictions (``scale``):

* ``"loghr"``: as the continuous/binary network -- ``mvma`` pools the blocks onto the basic
  parameters (consistency structure, REML/ML/fixed); the weighted poolers pool each
  trial's predicted contrasts ``c' theta`` per patient;
* ``"survdiff"`` (S(horizon)) and ``"rmstdiff"`` (RMST up to tau), the absolute scales:

  - ``mvma``: as the two-arm survival path, the pooled log hazard ratios are applied to
    each trial's own baseline and the arm values are averaged over the trials with equal
    weights.  Trial l anchors the network reference at
    ``a_l(x) = mean_{k in arms(l)} [eta_lk(x) - P_k(x)]`` (its fitted log hazard of each
    of its arms minus the pooled log hazard ratio of that arm vs the reference; symmetric
    in the trial's arms, so that nothing depends on the trial's own reference arm), and
    treatment t gets ``A_t(x) = (1/K) sum_l f_l(a_l(x) + P_t(x))`` (``f_l`` the trial's
    S(horizon | eta) or RMST(tau | eta)).  ITE(t vs u) = ``A_t - A_u`` for every pair,
    consistent by construction; standard errors by the delta method over the pooled
    coefficients (baselines known, as the two-arm path); prediction intervals add the
    between-trial variance with the consistency structure;
  - weighted poolers: each trial's own absolute contrasts (its model and baseline) with
    their delta-method covariance (Cox: coefficients and Breslow increments, as
    ``survfit.coxph``; Weibull: coefficients and log(scale)), pooled per patient by
    network GLS.

Direction: longer survival is better.  On ``survdiff``/``rmstdiff`` the best treatment has
the largest predicted value; on ``loghr`` the smallest (``higher_is_better=False`` in
``fit`` reverses both: an event that is desirable).

Examples
--------
>>> from ipdma.datasets import make_survival_network
>>> from ipdma.ite import TwoStageITE
>>> sim = make_survival_network(random_state=1)
>>> m = TwoStageITE("cox", "mvma", horizon=2.0).fit(sim.ipd())
>>> pred = m.predict(sim.data[sim.covariate_cols].head(3))
>>> [c for c in pred.columns if c.startswith("ite_")]
['ite_A_vs_PBO', 'ite_B_vs_PBO', 'ite_C_vs_PBO']
>>> m.network_.higher_is_better        # survdiff: higher survival is better
True
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._lazy import lazy_module
from ..errors import DataError, ModelSpecificationError, OutcomeError
from ._network import NetworkBlock

stats = lazy_module("scipy.stats")   # imported when first used

__all__ = [
    "SURVIVAL_BLOCK_LEARNERS",
    "fit_network_cox",
    "fit_network_weibull",
    "survival_better_is_higher",
    "survival_block_contrasts",
    "survival_mvma_network",
]

#: learners fitted as one joint survival model per trial
SURVIVAL_BLOCK_LEARNERS = ("cox", "weibull")
ABSOLUTE_SCALES = ("survdiff", "rmstdiff")


def _design(X: np.ndarray, arm: np.ndarray, arms: list[str]):
    """Z = (1, x, D, D*x) with D the dummies of arms[1:] (interactions arm by arm) and the
    indices of each arm's block (delta_k, gamma_k) in Z."""
    from ._network_ite import _design as design

    return design(X, arm, arms)


def _arm_rows(X: np.ndarray, m: int, k: int) -> np.ndarray:
    """Design rows (1, x, D, D*x) of arm k (0 = the trial's reference) at X."""
    N, p = X.shape
    Z = np.zeros((N, 1 + p + (m - 1) * (1 + p)))
    Z[:, 0] = 1.0
    Z[:, 1:1 + p] = X
    if k > 0:
        Z[:, p + k] = 1.0
        a = 1 + p + (m - 1) + (k - 1) * p
        Z[:, a:a + p] = X
    return Z


def _time_event(y, trial):
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != 2:
        raise DataError(f"trial {trial}: a time-to-event model needs the outcome as (time, "
                        "event) columns; build the IPD with time= and event=")
    time, event = y[:, 0], y[:, 1]
    if event.sum() == 0:
        raise DataError(f"trial {trial}: no events, a survival model cannot be fitted; drop "
                        "the trial")
    return time, event


def fit_network_cox(X: np.ndarray, arm: Sequence[str], y: np.ndarray, *, trial: str,
                    arms: Sequence[str], ties: str = "efron", family: Any = None
                    ) -> NetworkBlock:
    """Cox model ``Surv(time, event) ~ trt * (x1 + ... + xp)`` with all arms of a trial.

    ``y`` is (n, 2): time and event.  Blocks on the log-hazard-ratio scale (one row per
    ``arms[1:]`` vs ``arms[0]``), with the full covariance (R ``coxph``, Efron ties by
    default).  ``extra`` keeps all coefficients, their covariance and the trial's Breslow
    baseline (uncentred, at eta = 0) for absolute predictions.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 900; X = rng.normal(size=(n, 1)); arm = rng.choice(["A", "B", "C"], n)
    >>> eta = 0.5 * X[:, 0] + (arm == "B") * (-0.5 + 0.3 * X[:, 0]) - 0.8 * (arm == "C")
    >>> T = rng.exponential(np.exp(-eta))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> blk = fit_network_cox(X, arm, y, trial="t1", arms=["A", "B", "C"])
    >>> blk.theta.round(1).tolist(), blk.cov.shape      # truth [[-0.5, 0.3], [-0.8, 0]]
    ([[-0.5, 0.2], [-0.8, -0.0]], (4, 4))
    """
    import warnings

    from ..errors import ConvergenceWarning
    from ..survival import fit_cox
    from ._survival_learners import breslow_step

    X = np.asarray(X, dtype=float)
    arm = np.asarray(arm).astype(str)
    arms = [str(a) for a in arms]
    time, event = _time_event(y, trial)
    Z, idx = _design(X, arm, arms)
    Z = Z[:, 1:]                                     # Cox: no intercept
    idx = idx - 1
    q = Z.shape[1]
    if event.sum() <= q:
        raise DataError(f"trial {trial}: the full-interaction Cox model has {q} coefficients "
                        f"but only {int(event.sum())} events; use fewer covariates")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = fit_cox(Z, time, event, ties=ties)
        except (ConvergenceWarning, ModelSpecificationError, np.linalg.LinAlgError) as exc:
            raise DataError(f"trial {trial}: the full-interaction Cox model cannot be fitted "
                            f"({exc}); a covariate is constant within an arm, or the "
                            "likelihood is monotone: drop that covariate") from None
    if not np.all(np.isfinite(fit.vcov)):
        raise DataError(f"trial {trial}: the full-interaction Cox model is not identified "
                        "(a covariate constant within an arm?): drop that covariate")
    br = breslow_step(time, event, Z, fit.coef)
    from ..families import StepBaseline

    flat = idx.ravel()
    return NetworkBlock(trial=str(trial), arms=arms, theta=fit.coef[idx],
                        cov=fit.vcov[np.ix_(flat, flat)], n=len(time),
                        extra={"kind": "cox", "coef": fit.coef, "vcov": fit.vcov,
                               "loglik": fit.loglik, "ties": ties, "family": family,
                               "baseline": StepBaseline(br["times"], br["cumhaz"],
                                                        max_time=float(time.max())),
                               "dcumhaz": br["dcumhaz"], "var_inc": br["var_inc"]})


def fit_network_weibull(X: np.ndarray, arm: Sequence[str], y: np.ndarray, *, trial: str,
                        arms: Sequence[str], extrapolate: bool = False, family: Any = None
                        ) -> NetworkBlock:
    """Weibull AFT ``survreg(Surv(time, event) ~ trt * (x1 + ... + xp))``, all arms of a
    trial; the treatment blocks on the log-hazard scale (``-coef / scale``) with their
    delta-method covariance over (coef, log(scale)).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 900; X = rng.normal(size=(n, 1)); arm = rng.choice(["A", "B", "C"], n)
    >>> eta = 0.5 * X[:, 0] + (arm == "B") * (-0.5 + 0.3 * X[:, 0]) - 0.8 * (arm == "C")
    >>> T = rng.exponential(np.exp(-eta))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> fit_network_weibull(X, arm, y, trial="t1", arms=["A", "B", "C"]).theta.round(1).tolist()
    [[-0.5, 0.2], [-0.8, -0.0]]
    """
    import warnings

    from ..errors import ConvergenceWarning
    from ..families import WeibullBaseline
    from ..survival import fit_weibull

    X = np.asarray(X, dtype=float)
    arm = np.asarray(arm).astype(str)
    arms = [str(a) for a in arms]
    time, event = _time_event(y, trial)
    Z, idx = _design(X, arm, arms)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = fit_weibull(time, event, Z)
        except ConvergenceWarning as exc:
            raise DataError(f"trial {trial}: the Weibull model did not converge ({exc})") \
                from None
    if not np.all(np.isfinite(fit.coef)) or not np.all(np.isfinite(fit.vcov)):
        raise DataError(f"trial {trial}: the full-interaction Weibull design is rank "
                        "deficient (a covariate constant within an arm?): drop that covariate")
    flat = idx.ravel()
    th = -fit.coef[flat] / fit.scale
    J = np.zeros((len(flat), len(fit.coef) + 1))
    J[np.arange(len(flat)), flat] = -1.0 / fit.scale
    J[:, -1] = -th
    return NetworkBlock(trial=str(trial), arms=arms, theta=th.reshape(idx.shape),
                        cov=J @ fit.vcov @ J.T, n=len(time),
                        extra={"kind": "weibull", "coef": fit.coef, "log_scale": fit.log_scale,
                               "vcov": fit.vcov, "loglik": fit.loglik, "family": family,
                               "baseline": WeibullBaseline(1.0 / fit.scale,
                                                           max_time=float(time.max()),
                                                           extrapolate=extrapolate)})


def fit_network_survival(X, arm, y, arms, trial, family, learner=None) -> NetworkBlock:
    """The joint stage-1 survival model of a trial: Weibull for learner ``"weibull"``,
    else Cox (learner ``"cox"`` with its ties; the auxiliary model of other learners)."""
    name = getattr(learner, "name", None)
    if name == "weibull":
        return fit_network_weibull(X, arm, y, trial=trial, arms=arms, family=family,
                                   extrapolate=getattr(learner, "extrapolate", False))
    ties = getattr(learner, "ties", "efron") if name == "cox" else "efron"
    return fit_network_cox(X, arm, y, trial=trial, arms=arms, ties=ties, family=family)


# --------------------------------------------------------------------------------------
# predictions of one trial
# --------------------------------------------------------------------------------------
def arm_etas(b: NetworkBlock, X: np.ndarray) -> np.ndarray:
    """(N, m) the trial's fitted log hazard of each of its arms at X (Weibull: PH form)."""
    m = len(b.arms)
    X = np.asarray(X, dtype=float)
    out = np.empty((len(X), m))
    for k in range(m):
        Z = _arm_rows(X, m, k)
        if b.extra["kind"] == "cox":
            out[:, k] = Z[:, 1:] @ b.extra["coef"]
        else:
            out[:, k] = -(Z @ b.extra["coef"]) / np.exp(b.extra["log_scale"])
    return out


def _time_point(family, scale: str, b: NetworkBlock | None = None) -> float:
    tp = family.scale_params(scale)
    if b is not None:
        try:
            b.extra["baseline"].check(tp, "horizon" if scale == "survdiff" else "tau")
        except OutcomeError as exc:
            raise OutcomeError(f"trial {b.trial!r}: {exc}") from None
    return tp


def _arm_value(base, scale, tp, eta):
    return base.survival(tp, eta) if scale == "survdiff" else base.rmst(tp, eta)


def _arm_deriv(base, scale, tp, eta):
    return base.dsurvival(tp, eta) if scale == "survdiff" else base.drmst(tp, eta)


def survival_block_contrasts(b: NetworkBlock, X: np.ndarray, scale: str, cov: bool = True):
    """A trial's own absolute contrasts (arms[1:] vs arms[0]) at X, (N, m-1), and their
    delta-method covariance (N, m-1, m-1): Cox over the coefficients and the Breslow
    increments (Tsiatis' variance, as the two-arm ``cox`` learner), Weibull over the
    coefficients and log(scale)."""
    fam = b.extra["family"]
    tp = _time_point(fam, scale, b)
    X = np.asarray(X, dtype=float)
    m = len(b.arms)
    kind = b.extra["kind"]
    if kind == "cox":
        from ._survival_learners import CoxLearner

        base = b.extra["baseline"]
        coef = b.extra["coef"]
        ns = SimpleNamespace(baseline_=base)
        parts = [CoxLearner._arm_parts(ns, _arm_rows(X, m, k)[:, 1:] @ coef, scale, tp)
                 for k in range(m)]
        est = np.column_stack([parts[k][0] - parts[0][0] for k in range(1, m)])
        if not cov:
            return est, None
        Zs = [_arm_rows(X, m, k)[:, 1:] for k in range(m)]
        G, A = [], []
        dc, vi = b.extra["dcumhaz"], b.extra["var_inc"]
        for k in range(1, m):
            a = parts[k][2] - parts[0][2]                              # d/dH_j
            G.append(parts[k][1][:, None] * Zs[k] - parts[0][1][:, None] * Zs[0] + a @ dc)
            A.append(np.cumsum(a[:, ::-1], axis=1)[:, ::-1])           # d/d increment
        G = np.stack(G, axis=1)                                        # (N, m-1, q)
        A = np.stack(A, axis=1)                                        # (N, m-1, J)
        V = b.extra["vcov"]
        C = np.einsum("nai,ij,nbj->nab", G, V, G) + np.einsum("naj,j,nbj->nab", A, vi, A)
        return est, C
    # Weibull: closed forms, numerical gradient over (coef, log scale)
    from ..families import WeibullBaseline

    Zs = [_arm_rows(X, m, k) for k in range(m)]
    th = np.r_[b.extra["coef"], b.extra["log_scale"]]

    def contr(par):
        s = np.exp(par[-1])
        base = WeibullBaseline(1.0 / s, extrapolate=True)
        vals = [_arm_value(base, scale, tp, -(Z @ par[:-1]) / s) for Z in Zs]
        return np.column_stack([vals[k] - vals[0] for k in range(1, m)])

    est = contr(th)
    if not cov:
        return est, None
    G = np.empty((*est.shape, len(th)))
    for j in range(len(th)):                             # loop over parameters
        h = 1e-6 * max(1.0, abs(th[j]))
        up, dn = th.copy(), th.copy()
        up[j] += h
        dn[j] -= h
        G[:, :, j] = (contr(up) - contr(dn)) / (2 * h)
    return est, np.einsum("nai,ij,nbj->nab", G, b.extra["vcov"], G)


# --------------------------------------------------------------------------------------
# mvma on an absolute scale
# --------------------------------------------------------------------------------------
def survival_mvma_network(pooled, blocks: Sequence[NetworkBlock], X: np.ndarray,
                          treatments: list[str], family, scale: str, *,
                          random: bool, pi_df: float | None, level: float):
    """Pooled basic log hazard ratios applied to every trial's baseline (see the module
    docstring).  Returns ``mean`` (N, T-1) and ``cov`` (N, T-1, T-1) of each treatment vs
    the reference on ``scale``, the arm values (N, T) and the interval columns of every
    pair (prediction intervals with the between-trial variance when ``random``)."""
    tp = family.scale_params(scale)
    P, Sig = pooled.predict_basic(X)                       # (N, T-1), (N, T-1, T-1)
    N, T1 = P.shape
    T = T1 + 1
    Pf = np.hstack([np.zeros((N, 1)), P])                  # reference = 0
    pos = {t: i for i, t in enumerate(treatments)}
    K = len(blocks)
    Avals = np.zeros((N, T))
    grad = np.zeros((N, T, T1))                            # dA_t / dP_s (s non-reference)
    for b in blocks:                                       # loop over trials
        tp = _time_point(family, scale, b)
        base = b.extra["baseline"]
        idx = [pos[a] for a in b.arms]
        anchor = (arm_etas(b, X) - Pf[:, idx]).mean(axis=1)
        memb = np.zeros(T1)                                # (1/m) [s in arms(l)]
        for i in idx:
            if i > 0:
                memb[i - 1] += 1.0 / len(idx)
        eta = anchor[:, None] + Pf                         # (N, T)
        Avals += _arm_value(base, scale, tp, eta) / K
        d = _arm_deriv(base, scale, tp, eta) / K           # (N, T)
        dir_ = np.tile(-memb, (T, 1))
        dir_[1:] += np.eye(T1)
        grad += d[:, :, None] * dir_[None]
    mean = Avals[:, 1:] - Avals[:, :1]
    Kc = grad[:, 1:, :] - grad[:, :1, :]                   # (N, T-1, T-1)
    cov = np.einsum("nai,nij,nbj->nab", Kc, Sig, Kc)
    intervals = None
    if random:
        h = pooled.heterogeneity(X)
        S = 0.5 * (np.eye(T1) + np.ones((T1, T1)))
        pcov = cov + np.einsum("nai,ij,nbj->nab", Kc, S, Kc) * h[:, None, None]
        intervals = _pair_intervals(treatments, mean, pcov, pi_df, level)
    return mean, cov, Avals, intervals


def _pair_intervals(treatments, mean, pcov, pi_df, level):
    N, T1 = mean.shape
    full = np.hstack([np.zeros((N, 1)), mean])
    fc = np.zeros((N, T1 + 1, T1 + 1))
    fc[:, 1:, 1:] = pcov
    zp = stats.norm.ppf(0.5 + level / 2) if pi_df is None else \
        stats.t.ppf(0.5 + level / 2, pi_df)
    out = {}
    for j in range(1, T1 + 1):
        for k in range(j):
            est = full[:, j] - full[:, k]
            sp = np.sqrt(np.clip(fc[:, j, j] + fc[:, k, k] - 2 * fc[:, j, k], 0, None))
            key = f"{treatments[j]}_vs_{treatments[k]}"
            out[f"pi_low_{key}"] = est - zp * sp
            out[f"pi_high_{key}"] = est + zp * sp
    return out


def survival_better_is_higher(scale: str, higher_is_better: bool) -> bool:
    """Whether larger ITEs on ``scale`` are better: longer survival is better (with
    ``higher_is_better=True``), so larger S(horizon)/RMST differences and smaller log
    hazard ratios."""
    return bool(higher_is_better) if scale in ABSOLUTE_SCALES else not higher_is_better


def check_survival_network(learner_name: str, pooler_kind: str) -> None:
    """Learners/poolers that do not run on a survival network, with what does."""
    if pooler_kind in ("bayes", "posterior"):
        raise ModelSpecificationError(
            "the Bayesian network poolers (bayes-mvma, posterior-mix) pool posterior draws "
            "of continuous-outcome contrast blocks; for a time-to-event network use pooler "
            "'mvma' (learner cox or weibull) or 'weighted-aux-ols'/'weighted-bootstrap'")


# --------------------------------------------------------------------------------------
# validation (compare_methods / LOTO on a time-to-event network)
# --------------------------------------------------------------------------------------
def survival_compare_setup(d, methods, rank_by, scale, horizon, tau):
    """Data with the time points, default methods and ranking, the scoring options and
    the ``fit_methods`` keywords of :func:`~ipdma.ite.compare_methods` on a time-to-event
    network."""
    import dataclasses

    opts = dict(d.family_options or {})
    if horizon is not None:
        opts["horizon"] = horizon
    if tau is not None:
        opts["tau"] = tau
    d = dataclasses.replace(d, family_options=opts or None)
    fam = d.family
    sc = fam.check_scale(scale)
    if sc != "loghr":
        fam.scale_params(sc)                              # raises without its time point
    if methods is None:
        methods = ["cox+mvma", "cox+weighted-aux-ols", "cox-lasso+weighted-aux-ols",
                   "weibull+mvma"]
    if rank_by is None:
        rank_by = "c_for_benefit"
    surv = {"horizon": fam.horizon, "tau": fam.tau}
    return d, methods, rank_by, surv, {"scale": scale, "horizon": fam.horizon, "tau": fam.tau}


def survival_contrast_scores(sub, strata, *, n_groups: int, scale: str,
                             horizon: float | None, tau: float | None):
    """Scores of one contrast's (or the stacked contrasts') LOTO predictions on censored
    data: C-for-benefit with censoring and Kaplan-Meier calibration for benefit
    (:mod:`ipdma.ite._survival_validation`), with ``strata`` in the role of the trial."""
    import pandas as pd

    from ._survival_validation import (
        survival_c_for_benefit,
        survival_calibration_for_benefit,
    )

    time, event, t, ite = (sub[c].to_numpy(float) for c in ("time", "event", "t", "ite"))
    benefit = -ite if scale == "loghr" else ite
    row = {"c_for_benefit": survival_c_for_benefit(time, event, t, benefit, trial=strata).c}
    if scale == "loghr":
        nan = float("nan")
        cal = {"intercept": nan, "slope": nan, "rmse": nan,
               "table": pd.DataFrame(columns=["group", "n", "predicted", "observed"])}
    else:
        cal = survival_calibration_for_benefit(time, event, t, ite, strata, scale=scale,
                                               horizon=horizon, tau=tau, n_groups=n_groups)
    row.update({"calib_intercept": cal["intercept"], "calib_slope": cal["slope"],
                "calib_rmse": cal["rmse"]})
    return row, cal


# --------------------------------------------------------------------------------------
# xgboost-cox, native on all arms of a trial
# --------------------------------------------------------------------------------------
class NativeXGBoostCox:
    """Gradient-boosted Cox model fitted on all arms of one trial (``network_stage1=
    "native"``, the default).

    ``meta="s"`` (S-learner, the learner's default): one booster on ``(D, x)`` with the
    treatment as a categorical feature (one 0/1 column per non-reference arm), tuned by
    the learner's CV of the Cox partial likelihood on all arms, and one Breslow baseline
    on its margins; every contrast is then defined on every scale (``loghr`` = the
    difference of margins).  ``meta="t"``: one booster (and baseline) per arm; absolute
    scales only.  Bootstrap refits reuse the tuned settings.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.families import SurvivalFamily
    >>> from ipdma.ite import get_learner
    >>> rng = np.random.default_rng(0)
    >>> n = 600; X = rng.normal(size=(n, 1)); arm = rng.choice(["A", "B", "C"], n)
    >>> T = rng.exponential(np.exp(-(0.5 * X[:, 0] - 0.7 * (arm == "C"))))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> lrn = get_learner("xgboost-cox", max_depth=(2,), nrounds=50, nfold=3)
    >>> m = fit_native_xgboost_cox(lrn, X, arm, y, ["A", "B", "C"], rng,
    ...                            SurvivalFamily(horizon=1.0))
    >>> m.contrasts(X[:2], "survdiff", True).shape
    (2, 2)
    """

    kind = "S"

    def __init__(self, learner, arms: list[str], family):
        self.learner = learner
        self.arms = list(arms)
        self.family = family
        self.kind = "T" if getattr(learner, "meta", "s") == "t" else "S"
        self.tuned: Any = None

    def fit(self, X: np.ndarray, arm: np.ndarray, y: np.ndarray, rng) -> NativeXGBoostCox:
        from ._network_learners import _dummies

        X = np.asarray(X, dtype=float)
        arm = np.asarray(arm).astype(str)
        time, event = _time_event(y, "")
        lrn = self.learner
        lrn.family_ = self.family
        lrn.n_features_ = X.shape[1]
        if self.kind == "S":
            F = np.column_stack([_dummies(arm, self.arms), X])
            self.booster_, self.baseline_, self.tuned_ = lrn._fit_one(
                F, time, event, rng, self.tuned)
        else:
            self.booster_, self.baseline_, self.tuned_ = [], [], []
            for k, a in enumerate(self.arms):
                m = arm == a
                if event[m].sum() == 0:
                    raise DataError(f"no events in arm {a}: the T-learner cannot fit that "
                                    "arm's Cox model; use meta='s'")
                b, base, tn = lrn._fit_one(X[m], time[m], event[m], rng,
                                           None if self.tuned is None else self.tuned[k])
                self.booster_.append(b)
                self.baseline_.append(base)
                self.tuned_.append(tn)
        self.n_features_ = X.shape[1]
        return self

    def bootstrap_clone(self) -> NativeXGBoostCox:
        import copy

        new = NativeXGBoostCox(copy.deepcopy(self.learner._params_only()), self.arms,
                               self.family)
        new.tuned = copy.deepcopy(self.tuned_)
        return new

    def margins(self, X: np.ndarray) -> np.ndarray:
        """(N, m) log relative hazard of each arm (T-learner: each on its own baseline)."""
        X = np.asarray(X, dtype=float)
        n, m = len(X), len(self.arms)
        mg = self.learner._margin
        if self.kind == "T":
            return np.column_stack([mg(b, X) for b in self.booster_])
        eye = np.vstack([np.zeros((1, m - 1)), np.eye(m - 1)])
        F = np.vstack([np.column_stack([np.repeat(eye[a][None], n, 0), X]) for a in range(m)])
        return mg(self.booster_, F).reshape(m, n).T

    def contrasts(self, X: np.ndarray, scale: str, binary: bool = True) -> np.ndarray:
        """(N, m-1): each non-reference arm vs the trial's reference arm on ``scale``."""
        f = self.margins(X)
        if scale == "loghr":
            if self.kind == "T":
                raise ModelSpecificationError(
                    "the T-learner of xgboost-cox has one baseline hazard per arm, so no "
                    "hazard ratio: use scale 'survdiff' or 'rmstdiff', or meta='s'")
            return f[:, 1:] - f[:, :1]
        bases = self.baseline_ if self.kind == "T" else [self.baseline_] * len(self.arms)
        vals = []
        for k, base in enumerate(bases):
            try:
                vals.append(self.family.arm_value(f[:, k], scale, baseline=base))
            except OutcomeError as exc:
                raise OutcomeError(f"arm {self.arms[k]}: {exc}") from None
        return np.column_stack([vals[k] - vals[0] for k in range(1, len(vals))])


def fit_native_xgboost_cox(learner, X, arm, y, arms, rng, family, *, template=None):
    """Fit ``xgboost-cox`` natively on all arms of a trial (``template``: a fitted
    :class:`NativeXGBoostCox` whose tuned settings a bootstrap refit reuses)."""
    import copy

    model = template.bootstrap_clone() if template is not None else \
        NativeXGBoostCox(copy.deepcopy(learner._params_only()), arms, family)
    return model.fit(X, arm, y, rng)

"""A machine-learning stage-1 learner for time-to-event outcomes: gradient-boosted Cox
models (XGBoost ``objective = "survival:cox"``) as S- or T-learner.

The booster's margin is a log relative hazard ``f(x, t)`` (S-learner: features
``(t, x)``; T-learner: one booster per arm on ``x``).  Breslow's estimator on
that margin (the margin as the only covariate with coefficient 1) gives the
baseline cumulative hazard ``H0`` (one per arm for the T-learner), so that

    S(t* | x, arm) = exp(-H0_arm(t*) exp(f(x, arm)))

and RMST(tau | x, arm) is the area under that step function.  The ITE is the
difference between the arms on the ``survdiff`` or ``rmstdiff`` scale (the
S-learner also gives ``f(x, 1) - f(x, 0)`` on the ``loghr`` scale; a T-learner
has no common baseline, hence no hazard ratio).  There are no coefficients: the
weighted poolers take their variances from bootstrap refits
(``weighted-bootstrap``, refits reuse the tuned settings) or from the auxiliary
full-interaction Cox model (``weighted-aux-ols``, the default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._optional import import_optional
from ..errors import DataError, ModelSpecificationError
from ..families import StepBaseline
from ._learners import LEARNER_REQUIRES, LEARNERS, ITELearner
from ._survival_learners import _check_events, _time_event, breslow_step

__all__ = ["XGBoostCoxLearner"]


def _cox_label(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """XGBoost's ``survival:cox`` label: the time, negative when censored."""
    return np.where(event == 1, time, -time)


class XGBoostCoxLearner(ITELearner):
    """Gradient-boosted Cox model (XGBoost ``survival:cox``) as S- or T-learner.

    Parameters
    ----------
    meta : {"s", "t"}, default "s"
        ``"s"``: one booster on ``(t, x)``; ``"t"``: one booster per arm on ``x``,
        each with its own Breslow baseline.
    max_depth, eta : sequences
        Tuning grid (every pair is cross-validated).
    nrounds : int, default 300
        Cap on boosting rounds; the number of rounds is chosen by ``nfold``-fold CV of
        XGBoost's Cox negative partial log-likelihood (``cox-nloglik``) with early
        stopping after ``early_stopping_rounds`` rounds.
    params : dict, optional
        Other XGBoost parameters (e.g. ``{"subsample": 0.8}``).

    Attributes
    ----------
    tuned_ : dict (S) or {arm: dict} (T)
        ``max_depth``, ``eta``, ``nrounds`` chosen by CV.
    baseline_ : StepBaseline (S) or {arm: StepBaseline} (T)
        Breslow cumulative baseline hazard on the margin.

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.families import SurvivalFamily
    >>> rng = np.random.default_rng(0)
    >>> n = 400; X = rng.normal(size=(n, 2)); t = rng.integers(0, 2, n)
    >>> T = rng.exponential(np.exp(-(0.8 * X[:, 0] + t * (-0.7 + 0.5 * X[:, 1]))))
    >>> y = np.column_stack([np.minimum(T, 2.0), (T < 2.0).astype(float)])
    >>> fam = SurvivalFamily(horizon=1.0, tau=2.0)
    >>> m = XGBoostCoxLearner(max_depth=(2,), nfold=3).fit(X, t, y, family=fam,
    ...                                                     random_state=0)
    >>> sorted(m.tuned_)
    ['eta', 'max_depth', 'nrounds']
    >>> S0, S1 = m.predict_arms(X[:3])
    >>> bool(np.all((S0 > 0) & (S0 < 1))), m.predict_ite(X[:3]).shape
    (True, (3,))
    >>> mt = XGBoostCoxLearner(meta="t", max_depth=(2,), nfold=3).fit(
    ...     X, t, y, family=fam, random_state=0)
    >>> mt.predict_ite(X[:3], scale="rmstdiff").shape
    (3,)
    """

    name = "xgboost-cox"
    families = frozenset({"survival"})

    def __init__(self, *, meta: str = "s", max_depth: Sequence[int] = (1, 2, 3),
                 eta: Sequence[float] = (0.05,), nrounds: int = 300, nfold: int = 5,
                 early_stopping_rounds: int = 20, params: dict | None = None,
                 n_jobs: int = 1) -> None:
        meta = str(meta).lower()
        if meta not in ("s", "t"):
            raise ModelSpecificationError(f"meta={meta!r}: choose 's' (S-learner, one "
                                          "booster on (t, x)) or 't' (one booster per arm)")
        self.meta = meta
        self.max_depth = [int(d) for d in max_depth]
        self.eta = [float(e) for e in eta]
        self.nrounds = int(nrounds)
        if self.nrounds < 1 or not self.max_depth or not self.eta:
            raise ModelSpecificationError("nrounds must be >= 1 and the max_depth/eta grids "
                                          "non-empty")
        self.nfold = int(nfold)
        self.early_stopping_rounds = int(early_stopping_rounds)
        self.params = dict(params or {})
        self.n_jobs = int(n_jobs)
        self.tuned: Any = None

    # ------------------------------------------------------------------ fitting
    def _base_params(self) -> dict:
        return {"objective": "survival:cox", "eval_metric": "cox-nloglik",
                "min_child_weight": 1.0, "subsample": 1.0, "colsample_bytree": 1.0,
                "tree_method": "hist", "nthread": self.n_jobs, "verbosity": 0,
                **self.params}

    def _tune(self, F, label, rng, foldid=None) -> dict:
        xgb = import_optional("xgboost")
        n = len(label)
        if foldid is not None:
            codes = np.asarray(foldid)
        else:
            codes = rng.permutation(np.arange(n) % max(2, min(self.nfold, n)))
        K = int(codes.max()) + 1
        folds = [(np.flatnonzero(codes != k), np.flatnonzero(codes == k)) for k in range(K)]
        dtrain = xgb.DMatrix(F, label=label, nthread=self.n_jobs)
        best = None
        for depth in self.max_depth:
            for eta in self.eta:
                par = {**self._base_params(), "max_depth": depth, "eta": eta,
                       "seed": int(rng.integers(2**31 - 1))}
                res = xgb.cv(par, dtrain, num_boost_round=self.nrounds, folds=folds,
                             early_stopping_rounds=self.early_stopping_rounds,
                             verbose_eval=False, as_pandas=False)
                curve = np.asarray(res["test-cox-nloglik-mean"], dtype=float)
                j = int(np.argmin(curve))
                if best is None or curve[j] < best[0]:
                    best = (float(curve[j]), {"max_depth": depth, "eta": eta,
                                              "nrounds": j + 1})
        return best[1]

    def _fit_one(self, F, time, event, rng, tuned, foldid=None):
        from ._learners import _train_booster

        xgb = import_optional("xgboost")
        label = _cox_label(time, event)
        if tuned is None:
            tuned = self._tune(F, label, rng, foldid)
        par = {**self._base_params(), "max_depth": tuned["max_depth"], "eta": tuned["eta"],
               "seed": int(rng.integers(2**31 - 1))}
        bst = _train_booster(par, xgb.DMatrix(F, label=label, nthread=self.n_jobs),
                             tuned["nrounds"])
        margin = self._margin(bst, F)
        br = breslow_step(time, event, margin[:, None], np.ones(1))
        base = StepBaseline(br["times"], br["cumhaz"], max_time=float(time.max()))
        return bst, base, tuned

    @staticmethod
    def _margin(bst, F) -> np.ndarray:
        return np.asarray(bst.inplace_predict(F, predict_type="margin"), dtype=float)

    def _fit(self, X, t, y, rng, foldid=None):
        time, event = _time_event(y)
        _check_events(time, event)
        if self.meta == "s":
            self.booster_, self.baseline_, self.tuned_ = self._fit_one(
                np.column_stack([t, X]), time, event, rng, self.tuned, foldid)
            return
        boosters, bases, tuned = {}, {}, {}
        for arm in (0, 1):
            m = t == arm
            if event[m].sum() == 0:
                raise DataError(f"no events in the {'treated' if arm else 'control'} arm: "
                                "the T-learner cannot fit that arm's Cox model; use meta='s'")
            fm = None if foldid is None else _recode(foldid[m])
            given = None if self.tuned is None else self.tuned[arm]
            boosters[arm], bases[arm], tuned[arm] = self._fit_one(
                X[m], time[m], event[m], rng, given, fm)
        self.booster_, self.baseline_, self.tuned_ = boosters, bases, tuned

    # ------------------------------------------------------------------ prediction
    def predict_margin(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Log relative hazards ``(f(x, 0), f(x, 1))`` (each arm on its own baseline for
        the T-learner)."""
        X = self._check_X(X)
        n = len(X)
        if self.meta == "s":
            F = np.vstack([np.column_stack([np.zeros(n), X]),
                           np.column_stack([np.ones(n), X])])
            m = self._margin(self.booster_, F)
            return m[:n], m[n:]
        return self._margin(self.booster_[0], X), self._margin(self.booster_[1], X)

    def _base(self, arm):
        return self.baseline_ if self.meta == "s" else self.baseline_[arm]

    def predict_arms(self, X: Any, scale: str | None = None, horizon: float | None = None,
                     tau: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """S(horizon) (``survdiff``) or RMST(tau) (``rmstdiff``) under control and
        treatment; ``loghr``: the hazard ratios ``exp(f)`` to the baseline (S only)."""
        fam = self.family_
        scale = fam.check_scale(scale)
        f0, f1 = self.predict_margin(X)
        if scale == "loghr":
            self._check_loghr()
            return np.exp(f0), np.exp(f1)
        return tuple(fam.arm_value(f, scale, baseline=self._base(a), horizon=horizon,
                                   tau=tau) for a, f in ((0, f0), (1, f1)))

    def _check_loghr(self):
        if self.meta == "t":
            raise ModelSpecificationError(
                "the T-learner of xgboost-cox has one baseline hazard per arm, so no hazard "
                "ratio: use scale='survdiff' or 'rmstdiff', or meta='s'")

    def predict_ite(self, X: Any, scale: str | None = None, horizon: float | None = None,
                    tau: float | None = None) -> np.ndarray:
        """ITE on ``scale``: S1 - S0 (``survdiff``), RMST1 - RMST0 (``rmstdiff``) or
        ``f(x, 1) - f(x, 0)`` (``loghr``, S-learner only)."""
        scale = self.family_.check_scale(scale)
        if scale == "loghr":
            self._check_loghr()
            f0, f1 = self.predict_margin(X)
            return f1 - f0
        a0, a1 = self.predict_arms(X, scale, horizon, tau)
        return a1 - a0

    def bootstrap_clone(self):
        import copy

        new = copy.deepcopy(self._params_only())
        new.tuned = copy.deepcopy(self.tuned_)
        return new


def _recode(f: np.ndarray) -> np.ndarray:
    """Fold codes of a subset renumbered 0..K'-1 (a fold may have no patient of an arm)."""
    _, codes = np.unique(f, return_inverse=True)
    return codes


def _register() -> None:
    LEARNERS.setdefault(XGBoostCoxLearner.name, XGBoostCoxLearner)
    LEARNER_REQUIRES.setdefault(XGBoostCoxLearner.name, "xgboost")


_register()

"""Native stage-1 fits of machine-learning learners on a treatment network.

With more than two treatments, :class:`~ipdma.ite.TwoStageITE` fits each trial with
all its arms.  For the machine-learning learners the fit is *native* by default
(``network_stage1="native"`` in :meth:`~ipdma.ite.TwoStageITE.fit` and
:func:`~ipdma.ite.fit_methods`):

* ``"xgboost"`` and ``"sklearn-s"`` (S-learners): one model per trial on
  ``(D, x)``, where ``D`` holds the treatment as a categorical feature (one 0/1
  column per non-reference arm of the trial, the trial's reference arm being all
  zeros).  With two arms ``D`` is the two-arm learner's ``t`` column, so the fit is
  the two-arm fit.  XGBoost tunes its grid once per trial on all arms (the CV
  criterion of the two-arm learner) and its bootstrap refits reuse the tuned
  settings.
* ``"sklearn-t"`` (T-learner): one model per arm of the trial.
* ``"causal-forest"``: one EconML ``CausalForestDML`` per trial with a multi-valued
  discrete treatment (arm codes 0, ..., m-1, 0 the trial's reference arm; EconML
  one-hot encodes them, residualises y and the treatment indicators on x with the
  learner's nuisance forests and grows one generalised random forest for all m-1
  effects).  Its contrasts are the forest's ``const_marginal_effect`` (binary: risk
  differences, the forest's only scale).  With two arms the codes are the two-arm
  learner's t and the seed is drawn the same way, so the fit is the two-arm fit.

Every contrast of the trial (each non-reference arm vs the trial's reference) is then
a difference of the predicted outcomes (binary: of risks, on the requested scale), or
the forest's effect.  Bootstrap refits (``weighted-bootstrap``) resample the whole
trial within arms and refit the same native model.
``network_stage1="per-contrast"`` keeps the former fits: one two-arm fit per
contrast on the rows of the two arms.  Learners without a native network fit stay
per contrast: the penalised linear learners (lasso, ridge, elastic net).
``ols``/``logistic`` and the Bayesian learners are always one joint model per trial.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..errors import DataError, ModelSpecificationError

__all__ = [
    "NATIVE_LEARNERS",
    "NETWORK_STAGE1",
    "NativeNetworkModel",
    "check_network_stage1",
    "fit_native",
]

#: learners with a native network fit -> "S" (treatment as a categorical feature) or "T"
NATIVE_LEARNERS: dict[str, str] = {"xgboost": "S", "sklearn-s": "S", "sklearn-t": "T",
                                   "causal-forest": "F"}
#: the choices of ``network_stage1``
NETWORK_STAGE1 = ("native", "per-contrast")


def check_network_stage1(value: str) -> str:
    v = str(value).strip().lower()
    if v not in NETWORK_STAGE1:
        raise ModelSpecificationError(
            f"network_stage1={value!r}: choose 'native' (S-learners with the treatment as a "
            "categorical feature, T-learners with one model per arm) or 'per-contrast' (one "
            "two-arm fit per contrast)")
    return v


def _dummies(arm: np.ndarray, arms: list[str]) -> np.ndarray:
    return (np.asarray(arm).astype(str)[:, None] == np.array(arms[1:])[None, :]).astype(float)


class NativeNetworkModel:
    """A machine-learning learner fitted on all arms of one trial.

    ``kind`` is ``"S"`` (one model on the treatment dummies and the covariates), ``"T"``
    (one model per arm) or ``"F"`` (one causal forest with a multi-valued treatment).
    :meth:`predict_arms` gives the predicted outcome (binary: risk) under every arm of
    the trial (not for ``"F"``, which estimates the contrasts directly),
    :meth:`contrasts` the arms vs the trial's reference arm.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from ipdma.families import get_family
    >>> from ipdma.ite import get_learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(600, 1)); arm = rng.choice(["A", "B", "C"], 600)
    >>> y = (arm == "B") * (1 + X[:, 0]) + (arm == "C") * 2 + rng.normal(size=600)
    >>> m = fit_native(get_learner("sklearn-t", estimator=LinearRegression()), X, arm, y,
    ...                ["A", "B", "C"], np.random.default_rng(1), get_family("continuous"))
    >>> m.kind, m.contrasts(np.array([[0.0], [1.0]]), None, False).round(1).tolist()
    ('T', [[1.0, 2.0], [1.9, 2.0]])
    """

    def __init__(self, learner, arms: list[str], family, kind: str):
        self.learner = learner
        self.arms = list(arms)
        self.family = family
        self.kind = kind
        self.binary = family.name == "binary"
        self.tuned: dict | None = None

    # ---------------------------------------------------------------------------- fit
    def fit(self, X: np.ndarray, arm: np.ndarray, y: np.ndarray, rng) -> NativeNetworkModel:
        X = np.asarray(X, dtype=float)
        arm = np.asarray(arm).astype(str)
        y = self.family.validate(np.asarray(y, dtype=float))
        counts = {a: int((arm == a).sum()) for a in self.arms}
        empty = [a for a, c in counts.items() if c == 0]
        if empty:
            raise DataError(f"arm(s) {empty} have no patients")
        lrn = self.learner
        lrn.family_ = self.family
        lrn.n_features_ = X.shape[1]
        lrn.fitted_ = True
        name = lrn.name
        if name == "xgboost":
            self._fit_xgboost(X, arm, y, rng)
        elif self.kind == "F":
            # arm codes 0..m-1 (0: the trial's reference); the learner's own fit (seed,
            # nuisance models, forest settings) with a multi-valued discrete treatment
            code = (arm[:, None] == np.array(self.arms)[None, :]).argmax(axis=1)
            lrn._fit(X, code.astype(float), y, rng)
            self.model_ = lrn.model_
        elif self.kind == "S":
            F = np.column_stack([_dummies(arm, self.arms), X])
            with lrn._threads():
                self.model_ = lrn._estimator(rng).fit(F, y)
        else:
            small = [a for a, c in counts.items() if c < 2]
            if small:
                raise DataError(f"arm(s) {small} have fewer than 2 patients: the T-learner "
                                "fits one model per arm")
            with lrn._threads():
                self.models_ = [lrn._estimator(rng).fit(X[arm == a], y[arm == a])
                                for a in self.arms]
        self.n_features_ = X.shape[1]
        return self

    def _fit_xgboost(self, X, arm, y, rng):
        from .._optional import import_optional
        from ._learners import _train_booster

        xgb = import_optional("xgboost")
        lrn = self.learner
        F = np.column_stack([_dummies(arm, self.arms), X])
        if self.tuned is None:
            tuned, table = lrn._tune(F, y, rng)
            self.tuning_ = table
        else:
            tuned = dict(self.tuned)
        self.tuned_ = tuned
        par = {**lrn._base_params(), "max_depth": tuned["max_depth"], "eta": tuned["eta"],
               "seed": int(rng.integers(2**31 - 1))}
        self.booster_ = _train_booster(par, xgb.DMatrix(F, label=y, nthread=lrn.n_jobs),
                                       tuned["nrounds"])

    def bootstrap_clone(self) -> NativeNetworkModel:
        """An unfitted copy reusing this fit's tuned settings (XGBoost grid point)."""
        new = NativeNetworkModel(copy.deepcopy(self.learner._params_only()), self.arms,
                                 self.family, self.kind)
        if getattr(self, "tuned_", None) is not None:
            new.tuned = dict(self.tuned_)
        return new

    # ------------------------------------------------------------------------ predict
    def predict_arms(self, X: np.ndarray) -> np.ndarray:
        """(N, m) predicted outcome (binary: risk) under each arm of the trial."""
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if X.shape[1] != self.n_features_:
            raise DataError(f"X has {X.shape[1]} columns but the learner was fitted on "
                            f"{self.n_features_}")
        n, m = len(X), len(self.arms)
        lrn = self.learner
        if self.kind == "F":
            raise ModelSpecificationError(
                "the causal forest estimates the contrasts directly, not the outcome under "
                "each arm; use contrasts()")
        if self.kind == "T":
            with lrn._threads():
                return np.column_stack([lrn._predict(md, X) for md in self.models_])
        eye = np.vstack([np.zeros((1, m - 1)), np.eye(m - 1)])          # arm -> dummies
        F = np.vstack([np.column_stack([np.repeat(eye[a][None], n, 0), X]) for a in range(m)])
        if lrn.name == "xgboost":
            pred = self.booster_.inplace_predict(F)         # float32, as the two-arm learner
        else:
            with lrn._threads():
                pred = lrn._predict(self.model_, F)
        return pred.reshape(m, n).T

    def contrasts(self, X: np.ndarray, scale: str | None, binary: bool) -> np.ndarray:
        """(N, m-1): each non-reference arm vs the trial's reference arm."""
        if self.kind == "F":
            X = np.asarray(X, dtype=float)
            if X.ndim == 1:
                X = X[:, None]
            if X.shape[1] != self.n_features_:
                raise DataError(f"X has {X.shape[1]} columns but the learner was fitted on "
                                f"{self.n_features_}")
            eff = np.asarray(self.model_.const_marginal_effect(X), dtype=float)
            return eff.reshape(len(X), len(self.arms) - 1)
        f = self.predict_arms(X)
        if self.binary:
            f = np.asarray(f, dtype=float)
            return np.column_stack([self.family.ite_from_mean(f[:, 0], f[:, k], scale)
                                    for k in range(1, f.shape[1])])
        return np.asarray(f[:, 1:] - f[:, :1], dtype=float)


def fit_native(learner, X: np.ndarray, arm: np.ndarray, y: np.ndarray, arms: list[str], rng,
               family, *, template: NativeNetworkModel | None = None) -> NativeNetworkModel:
    """Fit ``learner`` natively on all arms of a trial (``template``: a fitted model whose
    tuned settings a bootstrap refit reuses)."""
    if template is not None:
        model = template.bootstrap_clone()
    else:
        kind = NATIVE_LEARNERS.get(learner.name)
        if kind is None:
            raise ModelSpecificationError(
                f"learner {learner.name!r} has no native network fit; its contrasts are "
                "fitted one by one (network_stage1='per-contrast')")
        if family.name not in learner.families:
            raise ModelSpecificationError(
                f"learner {learner.name!r} supports {', '.join(sorted(learner.families))} "
                f"outcomes; the outcome is {family.name}")
        model = NativeNetworkModel(copy.deepcopy(learner._params_only()), arms, family, kind)
    return model.fit(X, arm, y, rng)


def uses_native(learner: Any, network_stage1: str) -> bool:
    """Whether ``learner`` is fitted natively under ``network_stage1``."""
    return network_stage1 == "native" and getattr(learner, "name", None) in NATIVE_LEARNERS

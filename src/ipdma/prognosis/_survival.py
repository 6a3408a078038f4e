"""Time-to-event baseline-risk (prognostic) model :class:`SurvivalRiskModel`:
stage 1 of the risk-based approach when the outcome is a time to event.

It follows :class:`~ipdma.prognosis.RiskModel`'s API (``fit``, ``score``,
``predict_*``, ``validate``, ``summary``/``to_frame``/``plot``, JSON) with a
Cox model in place of the logistic one; the numerics live in
:mod:`ipdma.survival`.  A sibling class rather than a ``RiskModel`` option
because its outcome is two columns, its risk is a function of the horizon and
its trial effects include stratified baselines.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary, check_is_fitted, check_random_state, progress_bar
from ..errors import (
    DataError,
    DataWarning,
    InfeasibleMethodError,
    ModelSpecificationError,
    NotFittedError,
)
from ..survival import baseline_cumhaz as _baseline_cumhaz
from ..survival import (
    calibration_at,
    check_horizon,
    concordance,
    coxnet_lambda_max,
    coxnet_path,
    cumhaz_at,
    fit_cox,
    kaplan_meier,
    survival_outcome,
)
from ..survival._cox import cox_partial_likelihood
from ._design import DesignSpec, check_columns, development_mask

__all__ = ["SURVIVAL_METRICS", "SurvivalRiskModel", "SurvivalValidationResult"]

_FORMAT = "ipdma.prognosis.SurvivalRiskModel"
#: measures of :meth:`SurvivalRiskModel.validate`, in table order
SURVIVAL_METRICS = ("c_index", "calibration_slope", "oe_ratio")


@dataclass
class _Params:
    """One fit: coefficients and baseline cumulative hazards per trial / overall."""

    beta: np.ndarray
    trial_coef: np.ndarray | None               # fixed effects: log-HR per trial code
    curves: dict                                # key (trial code or None) -> (times, H0)
    vcov: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def lp(self, X):
        return X @ self.beta

    def cumhaz(self, times, trial_codes=None, n=None, labels=None):
        """H0(t) per row: own trial's baseline when given, else the average
        (geometric mean over trials of the cumulative hazards).  Times beyond the
        last follow-up of a baseline used raise DataError (no extrapolation)."""
        times = np.atleast_1d(np.asarray(times, float))
        keys = [k for k in self.curves if k is not None]
        used = (keys or [None]) if trial_codes is None else list(np.unique(trial_codes))
        for k in used:
            last = float(self.curves[k if k in self.curves else None][0][-1])
            if times.max() > last:
                who = ("the development data" if k is None else
                       f"trial {labels[k]!r}" if labels is not None else f"trial {k}")
                raise DataError(f"time {times.max():g} is beyond the last follow-up of {who} "
                                f"({last:g}): the Cox baseline hazard is not defined there; "
                                "choose an earlier time")
        if trial_codes is None:
            if None in self.curves and not keys:
                H = cumhaz_at(self.curves[None], times)
            else:
                with np.errstate(divide="ignore"):
                    logs = np.array([np.log(cumhaz_at(self.curves[k], times)) +
                                     (self.trial_coef[k] if self.trial_coef is not None else 0)
                                     for k in keys])
                H = np.exp(logs.mean(axis=0))
            return np.broadcast_to(H, (n, len(times)))
        out = np.empty((len(trial_codes), len(times)))
        for k in np.unique(trial_codes):             # loop over trials
            m = trial_codes == k
            if self.trial_coef is not None:
                base = cumhaz_at(self.curves[None], times) * np.exp(self.trial_coef[k])
            else:
                base = cumhaz_at(self.curves[k], times)
            out[m] = base
        return out


class _CoxEngine:
    """Fit on arrays: X (n, p), time, event, trial codes; returns _Params."""

    def __init__(self, model: SurvivalRiskModel):
        self.m = model

    def fit(self, X, t, e, tc, n_trials, rng, fixed_lambda=None):
        m = self.m
        te = m.trial_effect
        strata = tc if te == "strata" else None
        Xf = X
        if te == "fixed":
            present = np.unique(tc)
            D = (tc[:, None] == present[None, 1:]).astype(float)
            Xf = np.column_stack([X, D])
        p = X.shape[1]
        info = {}
        if m.method == "cox":
            fit = fit_cox(Xf, t, e, strata=strata, ties=m.ties)
            beta_all, vcov = fit.coef, fit.vcov
            info.update(loglik=fit.loglik, loglik_null=fit.loglik_null, n_iter=fit.n_iter)
        else:
            if te == "fixed":
                raise InfeasibleMethodError(
                    "trial_effect='fixed' is not available with the penalised Cox model; use "
                    "trial_effect='strata' (trial-specific baselines, as glmnet's "
                    "stratifySurv)")
            alpha = 1.0 if m.method == "lasso" else m.alpha
            lam = fixed_lambda
            if lam is None and not isinstance(m.penalty, str) and m.penalty is not None:
                lam = float(m.penalty)
            if lam is None:
                lam, cvinfo = self._cv(X, t, e, strata, alpha, rng)
                info.update(cvinfo)
            lmax = coxnet_lambda_max(X, t, e, alpha, strata=strata)
            path = np.r_[np.geomspace(lmax, lam, 8)[:-1], lam] if lam < lmax else np.r_[lam]
            B, _, _ = coxnet_path(X, t, e, path, alpha, strata=strata)
            beta_all, vcov = B[-1], None
            info.update(penalty=lam, loglik=cox_partial_likelihood(
                beta_all, X, t, e, strata, ties="breslow")[0])
        beta = beta_all[:p]
        trial_coef = None
        eta = Xf @ beta_all
        if te == "fixed":
            trial_coef = np.zeros(n_trials)
            trial_coef[present] = np.r_[0.0, beta_all[p:]]
            trial_coef[np.setdiff1d(np.arange(n_trials), present)] = np.nan
            curves = {None: _baseline_cumhaz(t, e, eta, None, m.baseline)[None]}
            # average over trials present
            tc_avg = np.full(n_trials, np.nan)
            tc_avg[present] = trial_coef[present]
            trial_coef = tc_avg
            curves_out = {None: curves[None]}
            curves_out.update({int(k): curves[None] for k in present})
            params = _Params(beta, trial_coef, curves_out, None, info)
            if vcov is not None:
                params.vcov = vcov[:p, :p]
            params.info["trial_coef_present"] = present
            return params
        if te == "strata":
            cur = _baseline_cumhaz(t, e, eta, tc, m.baseline)
            curves = {int(k): v for k, v in cur.items()}
        else:
            curves = _baseline_cumhaz(t, e, eta, None, m.baseline)
        return _Params(beta, None, curves, None if vcov is None else vcov[:p, :p], info)

    def _cv(self, X, t, e, strata, alpha, rng):
        """cv.glmnet(family = "cox") with grouped partial-likelihood deviance
        (Verweij & van Houwelingen): fold k scores 2 [pl_{-k}(b_{-k}) - pl(b_{-k})]."""
        m = self.m
        n = len(t)
        lmax = coxnet_lambda_max(X, t, e, alpha, strata=strata)
        lambdas = np.geomspace(lmax, lmax * (1e-4 if n > X.shape[1] else 1e-2), m.n_lambda)
        folds = rng.permutation(np.arange(n) % m.n_folds)
        K = m.n_folds
        raw = np.zeros((K, len(lambdas)))
        wk = np.zeros(K)
        for k in range(K):                       # loop over folds
            tr = folds != k
            B, _, _ = coxnet_path(X[tr], t[tr], e[tr], lambdas, alpha,
                                  strata=None if strata is None else strata[tr])
            for j in range(len(lambdas)):       # loop over lambdas
                pl_all = cox_partial_likelihood(B[j], X, t, e, strata, ties="breslow")[0]
                pl_tr = cox_partial_likelihood(B[j], X[tr], t[tr], e[tr],
                                               None if strata is None else strata[tr],
                                               ties="breslow")[0]
                raw[k, j] = -2 * (pl_all - pl_tr)
            wk[k] = e[~tr].sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            per = raw / wk[:, None]
        cvm = np.average(per, axis=0, weights=wk)
        cvsd = np.sqrt(np.average((per - cvm) ** 2, axis=0, weights=wk) / (K - 1))
        jmin = int(np.argmin(cvm))
        lam_min = float(lambdas[jmin])
        lam_1se = float(np.max(lambdas[cvm <= cvm[jmin] + cvsd[jmin]]))
        lam = lam_min if m.lambda_rule == "min" else lam_1se
        return lam, {"lambda_min": lam_min, "lambda_1se": lam_1se, "cv_lambdas": lambdas,
                     "cvm": cvm, "cvsd": cvsd}


class SurvivalRiskModel:
    """Cox baseline-risk (prognostic) model for time-to-event outcomes.

    Parameters
    ----------
    method : {"cox", "lasso", "elasticnet"}
        ``"cox"``: partial likelihood (= ``coxph``). ``"lasso"`` /
        ``"elasticnet"``: ``glmnet(family = "cox")`` (Breslow ties).
    ties : {"efron", "breslow"}
        Ties rule of the unpenalised Cox fit (``coxph`` default Efron).
    baseline : {"breslow", "efron"}
        Cumulative baseline hazard used for predicted survival
        (``survfit(ctype = 1)`` Breslow / ``ctype = 2`` Efron).
    penalty : float or "cv"
        Penalised methods: a fixed lambda (glmnet scale) or ``"cv"`` (default;
        grouped partial-likelihood deviance, ``n_folds`` folds from
        ``random_state``; ``lambda_rule`` "min" or "1se").
    alpha : float
        Elastic-net mixing (``"elasticnet"`` only).
    development_rows : {"all", "control"}
        Develop on all arms or on the control arm only (``control`` label,
        default the IPD's reference).
    trial_effect : {"none", "strata", "fixed"}
        No trial term, trial-stratified baselines (``strata(trial)``), or fixed
        trial effects (log-hazard dummies, Cox only).  New patients get the
        *average* baseline: the geometric mean over trials of the cumulative
        baseline hazards (the mean trial effect on the log-hazard scale, as
        :class:`RiskModel`'s average intercept).
    horizon : float, optional
        Default time t* of :meth:`predict_risk`, :meth:`score` and the
        calibration measures.
    n_folds, n_lambda, lambda_rule, random_state
        Cross-validation of the penalty.

    Attributes
    ----------
    coef_ : pandas.Series
        Log hazard ratios of the covariates (the risk score is ``x'coef_``).
    vcov_ : pandas.DataFrame or None (penalised: None)
    trial_effects_ : pandas.Series or None
        Fixed trial effects (log HR vs the first trial).
    training_scores_ : pandas.DataFrame
        ``lp`` (and ``risk`` at ``horizon``) of every row of the fitted data.
    families : frozenset
        ``{"survival"}``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"age": rng.normal(size=n), "trial": rng.choice(["A", "B", "C"], n)})
    >>> df["time"] = np.round(rng.exponential(np.exp(-0.6 * df.age)) + 0.05, 2)
    >>> df["status"] = (rng.uniform(size=n) < 0.8).astype(int)
    >>> m = SurvivalRiskModel(trial_effect="strata", horizon=1.0).fit(
    ...     df, time="time", event="status", covariates=["age"], trial="trial")
    >>> m.score(df).columns.tolist()
    ['lp', 'risk']
    >>> v = m.validate(method="iecv")
    >>> v.table["trial"].tolist()
    ['A', 'B', 'C']
    """

    families = frozenset({"survival"})

    def __init__(self, method: Literal["cox", "lasso", "elasticnet"] = "cox", *,
                 ties: Literal["efron", "breslow"] = "efron",
                 baseline: Literal["breslow", "efron"] = "breslow",
                 penalty: float | str | None = None, alpha: float = 1.0,
                 lambda_rule: Literal["min", "1se"] = "min", n_folds: int = 10,
                 n_lambda: int = 50,
                 development_rows: Literal["all", "control"] = "all",
                 control: str | None = None,
                 trial_effect: Literal["none", "strata", "fixed"] = "none",
                 horizon: float | None = None, random_state=None):
        self.method = method
        self.ties = ties
        self.baseline = baseline
        self.penalty = penalty
        self.alpha = alpha
        self.lambda_rule = lambda_rule
        self.n_folds = n_folds
        self.n_lambda = n_lambda
        self.development_rows = development_rows
        self.control = control
        self.trial_effect = trial_effect
        self.horizon = horizon
        self.random_state = random_state
        self.coef_ = None
        self._check_options()

    def get_params(self) -> dict:
        keys = ["method", "ties", "baseline", "penalty", "alpha", "lambda_rule", "n_folds",
                "n_lambda", "development_rows", "control", "trial_effect", "horizon",
                "random_state"]
        return {k: getattr(self, k) for k in keys}

    def _check_options(self):
        choices = {"method": ("cox", "lasso", "elasticnet"), "ties": ("efron", "breslow"),
                   "baseline": ("breslow", "efron"), "lambda_rule": ("min", "1se"),
                   "development_rows": ("all", "control"),
                   "trial_effect": ("none", "strata", "fixed")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ModelSpecificationError(f"{name} must be one of {allowed} (got "
                                              f"{getattr(self, name)!r})")
        if self.method == "lasso" and self.alpha != 1.0:
            raise ModelSpecificationError("method='lasso' has alpha=1; use "
                                          "method='elasticnet' for alpha < 1")
        if isinstance(self.penalty, str) and self.penalty != "cv":
            raise ModelSpecificationError(f"penalty must be a lambda value or 'cv' (got "
                                          f"{self.penalty!r})")
        if self.method != "cox" and self.trial_effect == "fixed":
            raise InfeasibleMethodError(
                "trial_effect='fixed' is not available with the penalised Cox model; use "
                "trial_effect='strata'")
        if self.horizon is not None and not self.horizon > 0:
            raise ModelSpecificationError(f"horizon must be > 0 (got {self.horizon})")

    # ------------------------------------------------------------------ fit
    def fit(self, data, time: str | None = None, event: str | None = None,
            covariates: Sequence[str] | None = None, trial: str | None = None,
            treatment: str | None = None, event_label: object = None) -> SurvivalRiskModel:
        """Fit the prognostic model.

        Parameters
        ----------
        data : pandas.DataFrame or ipdma.data.IPD
            With a time-to-event ``IPD`` the column roles (and the control label)
            default to the container's.
        time, event : str
            Follow-up time (> 0) and event indicator (0/1 or two labels).
        covariates : sequence of str
            Numeric, bool or categorical (one-hot, first level dropped) columns.
        trial : str, optional
            Needed for ``trial_effect != "none"``, per-trial checks and IECV.
        treatment : str, optional
            Needed for ``development_rows="control"``.
        """
        self._check_options()
        control_default = None
        if hasattr(data, "outcome_col") and hasattr(data, "data"):       # an ipdma.data.IPD
            if getattr(data, "outcome_type", None) != "survival":
                raise DataError(f"the IPD outcome {data.outcome_col!r} is {data.outcome_type}; "
                                "SurvivalRiskModel needs a time-to-event IPD (IPD(..., "
                                "time=, event=)); use RiskModel for binary outcomes")
            time = time or data.time_col
            event = event or data.outcome_col
            covariates = covariates if covariates is not None else list(data.covariate_cols)
            trial = trial or data.trial_col
            treatment = treatment or data.treatment_col
            control_default = data.reference
            data = data.data
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame or an ipdma.data.IPD, not "
                            f"{type(data).__name__}")
        if time is None or event is None:
            raise ModelSpecificationError("time= and event= (the follow-up time and event "
                                          "columns) are required")
        if not covariates:
            raise ModelSpecificationError("covariates= must name at least one column")
        covariates = [covariates] if isinstance(covariates, str) else list(covariates)
        for col, role in ((trial, "trial"), (treatment, "treatment")):
            if col is not None:
                check_columns(data, [col], role)
        if self.trial_effect != "none" and trial is None:
            raise ModelSpecificationError(f"trial_effect={self.trial_effect!r} needs trial= "
                                          "(the trial column)")
        spec = DesignSpec.from_data(data, covariates)
        control = self.control if self.control is not None else control_default
        dev = development_mask(data, self.development_rows, treatment, control)
        miss_x = spec.missing_mask(data)
        if np.any(dev & miss_x):
            warnings.warn(f"{int((dev & miss_x).sum())} development rows with missing "
                          "covariates excluded (complete-case analysis)", DataWarning,
                          stacklevel=2)
        use = dev & ~miss_x
        sub = data.loc[use]
        y = survival_outcome(sub, time, event, trial=trial, event_label=event_label,
                             require_events=self.trial_effect != "none")
        if trial is not None:
            if data[trial].isna().any():
                raise DataError(f"trial column {trial!r} has missing values")
            self._trial_labels = sorted(data[trial].astype(str).unique())
            tcodes = pd.Categorical(data[trial].astype(str),
                                    categories=self._trial_labels).codes.astype(int)
        else:
            self._trial_labels, tcodes = [], None
        if self.horizon is not None:
            check_horizon(y, self.horizon, None if trial is None else
                          data.loc[use, trial].astype(str).to_numpy())
        X_full = spec.transform(data, allow_missing=True)
        X = X_full[use]
        tc = None if tcodes is None else tcodes[use]
        rng = check_random_state(self.random_state)
        self._engine = _CoxEngine(self)
        params = self._engine.fit(X, y.time, y.event, tc, len(self._trial_labels), rng)
        self._params, self._spec, self._y, self._X = params, spec, y, X
        self._use, self._trial_codes, self._tc_use = use, tcodes, tc
        self.time_, self.event_, self.trial_, self.treatment_ = time, event, trial, treatment
        self.covariates_, self.feature_names_ = covariates, spec.feature_names
        self._control_used = control
        self.n_, self.events_ = y.n, y.n_events
        self._set_public()
        lp = np.full(len(data), np.nan)
        lp[~miss_x] = params.lp(X_full[~miss_x])
        scores = pd.DataFrame({"lp": lp}, index=data.index)
        if self.horizon is not None:
            risk = np.full(len(data), np.nan)
            risk[~miss_x] = 1 - np.exp(-params.cumhaz(self.horizon, None, int((~miss_x).sum()))
                                       [:, 0] * np.exp(lp[~miss_x]))
            scores["risk"] = risk
        self.training_scores_ = scores
        return self

    def _set_public(self):
        p = self._params
        names = self.feature_names_
        self.coef_ = pd.Series(p.beta, index=names, name="coef")
        self.vcov_ = None if p.vcov is None else pd.DataFrame(p.vcov, index=names, columns=names)
        self.trial_effects_ = (None if p.trial_coef is None else
                               pd.Series(p.trial_coef, index=self._trial_labels,
                                         name="log_hr"))
        self.penalty_ = float(p.info.get("penalty", float("nan")))
        self.loglik_ = p.info.get("loglik")

    # ------------------------------------------------------------------ predict
    def _codes(self, data, baseline):
        if baseline == "average":
            return None
        if baseline != "trial":
            raise ModelSpecificationError(f"baseline must be 'average' or 'trial' (got "
                                          f"{baseline!r})")
        if self.trial_effect == "none":
            raise ModelSpecificationError("baseline='trial' needs a model fitted with "
                                          "trial_effect='strata' or 'fixed'")
        check_columns(data, [self.trial_], "trial")
        idx = pd.Index(self._trial_labels).get_indexer(data[self.trial_].astype(str))
        known = [k for k in self._params.curves if k is not None]
        bad = (idx < 0) | ~np.isin(idx, known)
        if bad.any():
            raise DataError(f"trials {sorted(set(data[self.trial_].astype(str)[bad]))} have no "
                            "fitted baseline; use baseline='average' for new trials")
        return idx

    def predict_lp(self, data: pd.DataFrame) -> np.ndarray:
        """Risk score: the linear predictor ``x'coef_`` (log relative hazard)."""
        check_is_fitted(self, "coef_")
        return self._params.lp(self._spec.transform(data))

    def predict_survival(self, data: pd.DataFrame, times=None,
                         baseline: Literal["average", "trial"] = "average") -> pd.DataFrame:
        """S(t | x) at ``times`` (default ``horizon``): rows of ``data`` x times.

        ``baseline="average"`` (new patients / trials) or ``"trial"`` (each
        row's own trial baseline)."""
        check_is_fitted(self, "coef_")
        times = self._times(times)
        codes = self._codes(data, baseline)
        H0 = self._params.cumhaz(times, codes, len(data), self._trial_labels)
        S = np.exp(-H0 * np.exp(self.predict_lp(data))[:, None])
        return pd.DataFrame(S, index=data.index, columns=list(times))

    def predict_risk(self, data: pd.DataFrame, horizon: float | None = None,
                     baseline: Literal["average", "trial"] = "average") -> np.ndarray:
        """Predicted risk of an event by ``horizon``: ``1 - S(horizon | x)``."""
        return 1 - self.predict_survival(data, [self._times(horizon)[0]], baseline
                                         ).to_numpy()[:, 0]

    def _times(self, times):
        if times is None:
            if self.horizon is None:
                raise ModelSpecificationError("no time given: pass times=/horizon= or fit with "
                                              "horizon=")
            times = [self.horizon]
        times = np.atleast_1d(np.asarray(times, float))
        if getattr(self, "_y", None) is not None:
            last = float(self._y.time.max())
            if np.any(times > last):
                raise DataError(f"time {float(times.max()):g} is beyond the last follow-up of "
                                f"the development data ({last:g}): the Cox baseline is not "
                                "defined there")
        return times

    def score(self, data: pd.DataFrame | None = None,
              baseline: Literal["average", "trial"] = "average") -> pd.DataFrame:
        """``lp`` (and ``risk`` at ``horizon``) per row; ``data=None`` gives
        :attr:`training_scores_`."""
        check_is_fitted(self, "coef_")
        if data is None:
            if not hasattr(self, "training_scores_"):
                raise NotFittedError("this model was loaded from JSON: pass the data to score")
            return self.training_scores_.copy()
        out = pd.DataFrame({"lp": self.predict_lp(data)}, index=data.index)
        if self.horizon is not None:
            out["risk"] = self.predict_risk(data, baseline=baseline)
        return out

    # ------------------------------------------------------------------ performance
    def _perf(self, params, X, t, e, tc, horizon):
        lp = params.lp(X)
        strat = tc if self.trial_effect == "strata" else None
        c = concordance(t, e, lp, strata=strat).c_index
        try:
            slope = float(fit_cox(lp[:, None], t, e, strata=strat, ties=self.ties).coef[0])
        except ModelSpecificationError:
            slope = float("nan")
        oe = float("nan")
        if horizon is not None and t.max() >= horizon:
            try:
                H = params.cumhaz(horizon, None, len(t))[:, 0]
            except DataError:     # a (bootstrap) baseline ends before the horizon
                H = None
            if H is not None:
                pred_risk = np.mean(1 - np.exp(-H * np.exp(lp)))
                obs = 1 - float(kaplan_meier(t, e).at(horizon)["surv"].iloc[0])
                oe = obs / pred_risk
        return {"c_index": c, "calibration_slope": slope, "oe_ratio": oe}

    def performance(self, data: pd.DataFrame | None = None) -> dict:
        """Apparent (``data=None``) or external performance: Harrell's C,
        calibration slope and the observed/expected risk ratio at ``horizon``."""
        check_is_fitted(self, "coef_")
        if data is None:
            return self._perf(self._params, self._X, self._y.time, self._y.event,
                              self._tc_use, self.horizon)
        y = survival_outcome(data, self.time_, self.event_)
        tc = None
        if self.trial_effect == "strata" and self.trial_ in data.columns:
            tc = pd.factorize(data[self.trial_])[0]
        return self._perf(self._params, self._spec.transform(data), y.time, y.event, tc,
                          self.horizon)

    def calibration(self, horizon: float | None = None, n_groups: int = 10,
                    data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Kaplan-Meier vs mean predicted survival at ``horizon`` by groups of
        predicted risk (see :func:`ipdma.survival.calibration_at`); on the
        development rows by default."""
        check_is_fitted(self, "coef_")
        h = self._times(horizon)[0]
        if data is None:
            X, t, e = self._X, self._y.time, self._y.event
        else:
            y = survival_outcome(data, self.time_, self.event_)
            X, t, e = self._spec.transform(data), y.time, y.event
        S = np.exp(-self._params.cumhaz(h, None, len(t))[:, 0] * np.exp(self._params.lp(X)))
        return calibration_at(t, e, S, h, n_groups)

    def validate(self, B: int = 200, method: Literal["bootstrap", "iecv"] = "bootstrap",
                 random_state=None, retune: bool = True, progress: bool | None = False
                 ) -> SurvivalValidationResult:
        """Bootstrap optimism correction (Harrell) or internal-external
        cross-validation by trial, as :meth:`RiskModel.validate`.

        Measures: Harrell's C (stratified by trial with ``trial_effect="strata"``),
        the calibration slope (``coxph(Surv ~ lp)``) and, with ``horizon``, the
        observed (Kaplan-Meier) / expected (mean predicted, average baseline) risk
        ratio at the horizon.  The whole procedure (including the lambda search
        when ``penalty="cv"`` and ``retune=True``) is repeated in each replicate.
        """
        if getattr(self, "_X", None) is None:
            raise NotFittedError("validate() needs the development data: fit the model first")
        if method not in ("bootstrap", "iecv"):
            raise ModelSpecificationError(f"method must be 'bootstrap' or 'iecv' (got "
                                          f"{method!r})")
        rng = check_random_state(random_state)
        X, t, e, tc = self._X, self._y.time, self._y.event, self._tc_use
        n_tr = len(self._trial_labels)
        fixed = None
        if self.method != "cox" and (not retune or self.penalty != "cv"):
            fixed = self.penalty_
        h = self.horizon
        info = {"model": self.method, "n": self.n_, "events": self.events_}
        if method == "bootstrap":
            if B < 1:
                raise ModelSpecificationError(f"B must be >= 1 (got {B})")
            app = self._perf(self._params, X, t, e, tc, h)
            rows = []
            for b in progress_bar(range(B), show=progress, total=B, desc="bootstrap"):
                idx = rng.integers(0, len(t), len(t))
                if e[idx].sum() == 0:
                    continue
                tcb = None if tc is None else tc[idx]
                try:
                    pb = self._engine.fit(X[idx], t[idx], e[idx], tcb, n_tr, rng, fixed)
                except ModelSpecificationError:
                    continue
                hb = h if (h is not None and t[idx].max() >= h) else None
                ab = self._perf(pb, X[idx], t[idx], e[idx], tcb, hb)
                tb = self._perf(pb, X, t, e, tc, hb)
                rows.append({"replicate": b, **{f"{k}_apparent_b": ab[k] for k in ab},
                             **{f"{k}_test_b": tb[k] for k in tb}})
            d = pd.DataFrame(rows)
            diff = pd.DataFrame({k: d[f"{k}_apparent_b"] - d[f"{k}_test_b"]
                                 for k in SURVIVAL_METRICS})
            apparent = pd.Series(app)
            optimism = diff.mean()
            table = pd.DataFrame({"apparent": apparent, "optimism": optimism,
                                  "corrected": apparent - optimism,
                                  "optimism_se": diff.std(ddof=1) / np.sqrt(len(diff))},
                                 index=list(SURVIVAL_METRICS))
            info.update(B=B, successful_replicates=len(d))
            return SurvivalValidationResult("bootstrap", table, draws=d, info=info,
                                            model=self)
        if tc is None:
            raise ModelSpecificationError("method='iecv' needs the trial column: fit with trial=")
        present = np.unique(tc)
        if len(present) < 2:
            raise ModelSpecificationError("method='iecv' needs at least 2 trials")
        rows = []
        lab = np.asarray(self._trial_labels, dtype=object)
        for k in present:                        # loop over held-out trials
            tr, ho = tc != k, tc == k
            pk = self._engine.fit(X[tr], t[tr], e[tr], tc[tr], n_tr, rng, fixed)
            hk = h if (h is not None and t[ho].max() >= h) else None
            perf = self._perf(pk, X[ho], t[ho], e[ho], None, hk)
            cc = concordance(t[ho], e[ho], pk.lp(X[ho]))
            row = {"trial": lab[k], "n": int(ho.sum()), "events": int(e[ho].sum()), **perf,
                   "c_index_se": cc.se}
            if h is not None and hk is not None and np.isfinite(perf["oe_ratio"]):
                Hk = pk.cumhaz(h, None, int(ho.sum()))[:, 0]
                row["mean_pred_surv"] = float(np.mean(np.exp(-Hk * np.exp(pk.lp(X[ho])))))
                row["km_surv"] = float(kaplan_meier(t[ho], e[ho]).at(h)["surv"].iloc[0])
            rows.append(row)
        table = pd.DataFrame(rows)
        w = table["n"].to_numpy(float)
        overall = pd.DataFrame({"weighted_mean": pd.Series(
            {m: float(np.average(table[m].fillna(np.nan), weights=w)) for m in SURVIVAL_METRICS})})
        info.update(trials=len(present),
                    notes="held-out trials are predicted with the average baseline hazard")
        return SurvivalValidationResult("iecv", table, overall=overall, info=info, model=self)

    # ------------------------------------------------------------------ reporting
    def summary(self) -> Summary:
        check_is_fitted(self, "coef_")
        tab = self.to_frame().set_index("term")
        info = {"method": self.method, "ties": self.ties if self.method == "cox" else "breslow",
                "development rows": self.development_rows, "trial effect": self.trial_effect,
                "baseline hazard": self.baseline}
        if hasattr(self, "n_"):
            info.update({"n": self.n_, "events": self.events_})
        if self.method != "cox":
            info["lambda (glmnet scale)"] = self.penalty_
        if self.horizon is not None:
            info["horizon"] = self.horizon
        tables = {"coefficients (log hazard ratios)": tab}
        if self.trial_effects_ is not None:
            tables["trial effects"] = self.trial_effects_.to_frame()
        notes = ["Risk score = linear predictor x'coef; predicted risk at t* = 1 - "
                 "exp(-H0(t*) exp(lp)) with the average baseline for new patients."]
        return Summary(f"Time-to-event baseline-risk model ({self.method})", tables=tables,
                       info=info, notes=notes)

    def to_frame(self) -> pd.DataFrame:
        check_is_fitted(self, "coef_")
        tab = pd.DataFrame({"term": self.coef_.index, "coef": self.coef_.to_numpy()})
        if self.vcov_ is not None:
            se = np.sqrt(np.diag(self.vcov_.to_numpy()))
            tab["se"] = se
            tab["ci_lower"] = tab["coef"] - 1.959963984540054 * se
            tab["ci_upper"] = tab["coef"] + 1.959963984540054 * se
        tab["hr"] = np.exp(tab["coef"])
        return tab

    def plot_calibration(self, ax=None, horizon: float | None = None, n_groups: int = 10):
        """Observed (Kaplan-Meier, 95 % CI) vs mean predicted survival at the horizon."""
        tab = self.calibration(horizon, n_groups)
        return _plot_cal(tab, ax, f"Calibration at t* = {tab.attrs['horizon']:g}")

    plot = plot_calibration

    def __repr__(self) -> str:
        return (f"SurvivalRiskModel(method={self.method!r}, trial_effect="
                f"{self.trial_effect!r})")

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        check_is_fitted(self, "coef_")
        params = self.get_params()
        rs = params["random_state"]
        params["random_state"] = rs if isinstance(rs, (int, type(None))) else None
        p = self._params
        return {"format": _FORMAT, "version": 1, "params": params,
                "design": self._spec.to_dict(), "time": self.time_, "event": self.event_,
                "trial": self.trial_, "treatment": self.treatment_,
                "trial_labels": self._trial_labels,
                "coef": {"names": list(self.coef_.index), "values": self.coef_.tolist()},
                "vcov": None if self.vcov_ is None else self.vcov_.to_numpy().tolist(),
                "trial_coef": (None if p.trial_coef is None else
                               [None if np.isnan(v) else float(v) for v in p.trial_coef]),
                "baseline_curves": [{"trial": k, "time": v[0].tolist(), "cumhaz": v[1].tolist()}
                                    for k, v in p.curves.items()],
                "penalty_used": None if np.isnan(self.penalty_) else self.penalty_,
                "n": self.n_, "events": self.events_,
                "last_followup": float(self._y.time.max())}

    def to_json(self, path: str | Path) -> Path:
        """Write the fitted model as JSON (never pickle)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    @classmethod
    def from_dict(cls, d: Mapping) -> SurvivalRiskModel:
        if d.get("format") != _FORMAT:
            raise DataError(f"not a SurvivalRiskModel JSON (format={d.get('format')!r})")
        m = cls(**d["params"])
        m._spec = DesignSpec.from_dict(d["design"])
        m.time_, m.event_, m.trial_, m.treatment_ = d["time"], d["event"], d["trial"], \
            d["treatment"]
        m._trial_labels = list(d["trial_labels"])
        m.covariates_, m.feature_names_ = m._spec.covariates, m._spec.feature_names
        tcf = d["trial_coef"]
        curves = {c["trial"]: (np.array(c["time"], float), np.array(c["cumhaz"], float))
                  for c in d["baseline_curves"]}
        m._params = _Params(np.array(d["coef"]["values"], float),
                            None if tcf is None else np.array([np.nan if v is None else v
                                                               for v in tcf], float),
                            curves, None if d["vcov"] is None else np.array(d["vcov"], float),
                            {"penalty": d["penalty_used"] if d["penalty_used"] is not None
                             else float("nan")})
        m.n_, m.events_ = d["n"], d["events"]
        m._set_public()
        m._X = m._y = None
        m._last = d["last_followup"]
        return m

    @classmethod
    def from_json(cls, path: str | Path) -> SurvivalRiskModel:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _plot_cal(tab: pd.DataFrame, ax, title: str):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    ax.errorbar(tab["mean_pred"], tab["km"],
                yerr=[tab["km"] - tab["km_lower"], tab["km_upper"] - tab["km"]], fmt="o")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set_xlabel("mean predicted survival")
    ax.set_ylabel("observed survival (Kaplan-Meier)")
    ax.set_title(title)
    return ax


class SurvivalValidationResult(ResultsMixin):
    """Result of :meth:`SurvivalRiskModel.validate` (``table``, ``overall`` for
    IECV, ``draws`` for the bootstrap, ``info``)."""

    def __init__(self, method, table, overall=None, draws=None, info=None, model=None):
        self.method = method
        self.table = table
        self.overall = overall
        self.draws = draws
        self.info = dict(info or {})
        self._model = model

    def summary(self) -> Summary:
        if self.method == "bootstrap":
            return Summary("Bootstrap optimism-corrected performance (time to event)",
                           tables={"": self.table}, info=self.info)
        info = {k: v for k, v in self.info.items() if k != "notes"}
        return Summary("Internal-external cross-validation (leave one trial out)",
                       tables={"per held-out trial": self.table.set_index("trial"),
                               "overall": self.overall}, info=info,
                       notes=[self.info.get("notes", "")])

    def to_frame(self) -> pd.DataFrame:
        if self.method == "bootstrap":
            return self.table.rename_axis("measure").reset_index()
        return self.table.copy()

    def plot(self, ax=None):
        """Bootstrap: apparent calibration plot; IECV: C per held-out trial with 95 % CI."""
        import matplotlib.pyplot as plt

        if self.method == "bootstrap":
            return self._model.plot_calibration(ax=ax)
        if ax is None:
            _, ax = plt.subplots()
        tb = self.table
        y = np.arange(len(tb))
        ax.errorbar(tb["c_index"], y, xerr=1.959963984540054 * tb["c_index_se"], fmt="o")
        ax.set_yticks(y, tb["trial"].astype(str))
        ax.axvline(0.5, ls="--", color="grey", lw=0.8)
        ax.set_xlabel("Harrell's C in the held-out trial")
        return ax

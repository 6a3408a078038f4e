"""The stage-1 baseline-risk model :class:`RiskModel`."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

from .._base import Summary, check_is_fitted, check_random_state
from ..errors import (
    DataError,
    DataWarning,
    MissingDataError,
    ModelSpecificationError,
    NotFittedError,
)
from ._design import DesignSpec, check_binary_outcome, check_columns, development_mask
from ._estimators import ESTIMATORS, FittedParams

__all__ = ["RiskModel"]

_FORMAT = "ipdma.prognosis.RiskModel"
_METHODS = tuple(ESTIMATORS)


def _is_ipd(obj) -> bool:
    return hasattr(obj, "outcome_col") and hasattr(obj, "covariate_cols") and hasattr(obj, "data")


class RiskModel:
    """Logistic baseline-risk (prognostic) model on pooled IPD -- stage 1 of the
    risk-based two-stage NMR of Chalkou et al. (2021).

    Parameters
    ----------
    method : {"glm", "pmle", "lasso", "elasticnet", "bayes-lasso"}
        ``"glm"``: maximum likelihood (= R ``glm``). ``"pmle"``: penalised ML
        with ``rms::lrm``'s penalty ``0.5 * penalty * sum_j var(x_j) b_j^2``.
        ``"lasso"``/``"elasticnet"``: ``glmnet`` objective and standardisation.
        ``"bayes-lasso"``: Laplace prior on standardised coefficients (NumPyro).
    penalty : "aic", "aic-plain", "bic", "cv" or float, optional
        PMLE: the fixed ``rms`` penalty, or how to choose it (``"aic"`` = the
        corrected AIC, ``rms::pentrace``'s default; ``"cv"`` = k-fold deviance),
        default ``"aic"``.  LASSO/elastic net: a fixed lambda or ``"cv"``
        (default).  Ignored for ``"glm"``.
    alpha : float
        Elastic-net mixing (1 = LASSO); ``method="lasso"`` forces 1.
    lambda_rule : {"min", "1se"}
        Lambda picked by cross-validation (glmnet's ``lambda.min``/``lambda.1se``).
        Chalkou et al. used ``"1se"`` with ``cv_criterion="auc"``.
    cv_criterion : {"deviance", "auc"}
    n_folds : int
        Folds for cross-validation (folds drawn from ``random_state``).
    development_rows : {"all", "control"}
        Rows that develop the model: every arm (as in the original) or only the
        control arm (``control`` label, default the IPD's reference).
    control : str, optional
        Reference treatment label (default: the IPD's reference).  Also used when
        the treatment column is one of the ``covariates``: its indicators are then
        coded against this arm (a fit without a known reference is refused).
    trial_effect : {"none", "fixed", "random"}
        No trial term (original), trial-specific unpenalised intercepts, or a
        normal random intercept (adaptive Gauss-Hermite, ``n_agq`` points;
        1 = Laplace).  New patients get the average intercept (see
        :meth:`predict_logit`).
    vcov : {"joint", "conditional"}
        Covariance of the fixed effects with ``trial_effect="random"``.
        ``"joint"`` (default) is ``vcov()`` of ``lme4::glmer``: the fixed-effect
        block of the inverse Hessian of the approximate (Laplace/AGQ) deviance
        over the fixed effects *and* the random-intercept SD.  ``"conditional"``
        holds the SD at its estimate (lme4's ``vcov(m, use.hessian = FALSE)``);
        the two differ by ~1e-3 relative on real data.  Ignored otherwise.
    missing : {"complete-case", "mice"}
        Complete cases (rows dropped are reported in ``dropped_`` and by a
        :class:`~ipdma.errors.DataWarning`) or multiple imputation by chained
        equations (scikit-learn ``IterativeImputer(sample_posterior=True)``,
        ``n_imputations`` times, Rubin's rules for the coefficients).
    penalty_grid : array-like, optional
        Candidate PMLE penalties (default 0 and 49 log-spaced values 0.01..1e4;
        the AIC optimum is refined between grid neighbours).
    penalty_factor : mapping feature name -> factor, optional
        glmnet ``penalty.factor`` (0 = never penalised); rescaled to sum to the
        number of columns as glmnet does.
    lambdas : array-like, optional
        Lambda sequence for the elastic net (default glmnet's: ``n_lambda``
        log-spaced values from ``lambda.max`` down to ``lambda_min_ratio``).
    bayes_options : mapping, optional
        ``laplace_scale`` (None = HalfCauchy(1) hyperprior), ``num_warmup``,
        ``num_samples``, ``num_chains``, ``point`` ("mean"/"median").
    foldid : sequence of int or str, optional
        Fold label of each development row for the cross-validation of the main
        fit (as ``cv.glmnet(foldid = )``; pass R's to reproduce its CV exactly),
        or the name of a data column holding them (read on the development rows;
        not a covariate; integers, at least 3 distinct).  Bootstrap and IECV
        refits draw their own folds.
    random_state : None, int, SeedSequence or Generator

    Attributes
    ----------
    coef_ : pandas.Series
        ``Intercept`` (the average intercept) and covariate coefficients,
        original scale.
    vcov_ : pandas.DataFrame or None
        Covariance of ``coef_`` (PMLE: inverse penalised information, rms'
        ``var.penalty = "simple"``; MI: Rubin's total variance; LASSO: None).
    trial_intercepts_ : pandas.Series or None
    penalty_ : float
        The PMLE penalty or elastic-net lambda used.
    training_scores_ : pandas.DataFrame
        ``risk`` and ``logit_risk`` of every row of the data passed to ``fit``
        (NaN only for complete-case rows with missing covariates; with MI the
        average over imputations).
    dropped_ : pandas.DataFrame
        Rows excluded from development, per trial, with the reason.
    loglik_, deviance_, null_deviance_ : float
        Log-likelihood at the estimate (unpenalised; random intercept: the
        Laplace/AGQ marginal one, as ``logLik(glmer)``), ``-2 loglik_`` (binary
        outcome: R's ``deviance(glm)``; unpenalised also for PMLE, whereas
        ``rms::lrm``'s ``deviance[2]`` adds the penalty) and the deviance of the
        intercept-only
        model (``glm``'s ``null.deviance``, glmnet's ``nulldev``).  NaN with
        multiple imputation and the Bayesian lasso.
    n_params_, df_resid_, aic_, bic_ : float
        Number of parameters (glm: coefficients incl. trial intercepts; random:
        + the SD, as lme4; PMLE: effective df + 1, rms' convention; lasso: non-zero
        coefficients + intercept + trial dummies), ``n - n_params_``,
        ``-2 loglik + 2 k`` and ``-2 loglik + log(n) k`` (R's ``AIC``/``BIC``).
        ``fit_statistics_`` gathers them with ``n`` and ``n_events``.
    n_events_ : int
        Events among the development rows.
    trial_intercepts_se_ : pandas.Series or None
        ``trial_effect="fixed"``: SE of each trial's intercept (as
        ``glm(y ~ 0 + trial + ...)``); ``"random"``: conditional SD of each trial's
        random intercept given the estimates (``ranef(glmer, condVar = TRUE)``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"age": rng.normal(50, 10, 400), "sex": rng.integers(0, 2, 400)})
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-3 + 0.05 * df.age))))
    >>> m = RiskModel("pmle", penalty=2.0).fit(df, outcome="y", covariates=["age", "sex"])
    >>> m.score(df).columns.tolist()
    ['risk', 'logit_risk']
    """

    def __init__(self, method: Literal["glm", "pmle", "lasso", "elasticnet",
                                       "bayes-lasso"] = "glm", *,
                 penalty: str | float | None = None, alpha: float = 1.0,
                 lambda_rule: Literal["min", "1se"] = "min",
                 cv_criterion: Literal["deviance", "auc"] = "deviance", n_folds: int = 10,
                 development_rows: Literal["all", "control"] = "all",
                 control: str | None = None,
                 trial_effect: Literal["none", "fixed", "random"] = "none",
                 missing: Literal["complete-case", "mice"] = "complete-case",
                 n_imputations: int = 10, penalty_grid: Sequence[float] | None = None,
                 penalty_factor: Mapping[str, float] | None = None,
                 lambdas: Sequence[float] | None = None, n_lambda: int = 100,
                 lambda_min_ratio: float | None = None, n_agq: int = 1,
                 vcov: Literal["joint", "conditional"] = "joint",
                 bayes_options: Mapping[str, Any] | None = None,
                 foldid: Sequence[int] | str | None = None, random_state=None):
        self.method = method
        self.penalty = penalty
        self.alpha = alpha
        self.lambda_rule = lambda_rule
        self.cv_criterion = cv_criterion
        self.n_folds = n_folds
        self.development_rows = development_rows
        self.control = control
        self.trial_effect = trial_effect
        self.missing = missing
        self.n_imputations = n_imputations
        self.penalty_grid = penalty_grid
        self.penalty_factor = penalty_factor
        self.lambdas = lambdas
        self.n_lambda = n_lambda
        self.lambda_min_ratio = lambda_min_ratio
        self.n_agq = n_agq
        self.vcov = vcov
        self.bayes_options = bayes_options
        self.foldid = foldid
        self.random_state = random_state
        self.coef_ = None
        self._check_options()

    # ------------------------------------------------------------------ options
    def get_params(self) -> dict:
        """Constructor arguments (JSON-serialisable except ``random_state`` objects)."""
        keys = ["method", "penalty", "alpha", "lambda_rule", "cv_criterion", "n_folds",
                "development_rows", "control", "trial_effect", "missing", "n_imputations",
                "penalty_grid", "penalty_factor", "lambdas", "n_lambda", "lambda_min_ratio",
                "n_agq", "vcov", "bayes_options", "foldid", "random_state"]
        return {k: getattr(self, k) for k in keys}

    def _check_options(self) -> None:
        if self.method not in _METHODS:
            raise ModelSpecificationError(f"method must be one of {_METHODS} (got "
                                          f"{self.method!r})")
        choices = {"development_rows": ("all", "control"),
                   "trial_effect": ("none", "fixed", "random"),
                   "missing": ("complete-case", "mice"), "lambda_rule": ("min", "1se"),
                   "cv_criterion": ("deviance", "auc"), "vcov": ("joint", "conditional")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ModelSpecificationError(f"{name} must be one of {allowed} (got "
                                              f"{getattr(self, name)!r})")
        if self.method == "lasso" and self.alpha != 1.0:
            raise ModelSpecificationError("method='lasso' has alpha=1; use "
                                          "method='elasticnet' for alpha < 1")
        if self.missing == "mice" and self.n_imputations < 2:
            raise ModelSpecificationError("n_imputations must be >= 2 for missing='mice'")
        pen = self.penalty
        if pen is not None and not isinstance(pen, (int, float, np.number)):
            ok = {"pmle": ("aic", "aic-plain", "bic", "cv"), "lasso": ("cv",),
                  "elasticnet": ("cv",)}.get(self.method, ())
            if pen not in ok:
                raise ModelSpecificationError(
                    f"penalty={pen!r} is not valid for method={self.method!r}; use a number "
                    f"or one of {ok}")

    def _estimator(self, feature_names: list[str]):
        m = self.method
        if m == "glm":
            return ESTIMATORS["glm"](n_agq=self.n_agq, vcov=self.vcov)
        if m == "pmle":
            return ESTIMATORS["pmle"](penalty="aic" if self.penalty is None else self.penalty,
                                      grid=self.penalty_grid, n_folds=self.n_folds,
                                      n_agq=self.n_agq, vcov=self.vcov)
        if m in ("lasso", "elasticnet"):
            pf = None
            if self.penalty_factor is not None:
                unknown = set(self.penalty_factor) - set(feature_names)
                if unknown:
                    raise ModelSpecificationError(
                        f"penalty_factor names {sorted(unknown)} are not model columns "
                        f"({feature_names})")
                pf = np.array([float(self.penalty_factor.get(f, 1.0)) for f in feature_names])
            return ESTIMATORS[m](alpha=self.alpha if m == "elasticnet" else 1.0,
                                 penalty="cv" if self.penalty is None else self.penalty,
                                 lambda_rule=self.lambda_rule, cv_criterion=self.cv_criterion,
                                 n_folds=self.n_folds, penalty_factor=pf,
                                 n_lambda=self.n_lambda, lambda_min_ratio=self.lambda_min_ratio,
                                 lambdas=self.lambdas)
        return ESTIMATORS["bayes-lasso"](**dict(self.bayes_options or {}))

    # ------------------------------------------------------------------ fit
    def fit(self, data, outcome: str | None = None, covariates: Sequence[str] | None = None,
            trial: str | None = None, treatment: str | None = None) -> RiskModel:
        """Fit the prognostic model.

        Parameters
        ----------
        data : pandas.DataFrame or ipdma.data.IPD
            With an ``IPD`` the column roles default to the container's.
        outcome, covariates, trial, treatment : str
            Column names (``trial`` needed for ``trial_effect != "none"`` and
            leave-one-trial-out validation; ``treatment`` for
            ``development_rows="control"`` and risk plots by arm).

        Returns
        -------
        self
        """
        self._check_options()
        # the design matrices are narrow (n x p, p small): multi-threaded BLAS only
        # adds contention, single-threaded products are ~10x faster here
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit(data, outcome, covariates, trial, treatment)

    def _fit(self, data, outcome, covariates, trial, treatment) -> RiskModel:
        control = self.control
        if _is_ipd(data):
            ipd = data
            df = ipd.data
            outcome = outcome or ipd.outcome_col
            covariates = list(covariates) if covariates is not None else list(ipd.covariate_cols)
            trial = trial or getattr(ipd, "trial_col", None)
            treatment = treatment or getattr(ipd, "treatment_col", None)
            if control is None:
                control = getattr(ipd, "reference", None)
        elif isinstance(data, pd.DataFrame):
            df = data
        else:
            raise DataError(f"data must be a pandas DataFrame or an ipdma.data.IPD, not "
                            f"{type(data).__name__}")
        if outcome is None:
            raise ModelSpecificationError("outcome= (the binary outcome column) is required")
        if not covariates:
            raise ModelSpecificationError("covariates= must name at least one column")
        if isinstance(covariates, str):
            covariates = [covariates]
        covariates = list(covariates)
        check_columns(df, [outcome], "outcome")
        if trial is not None:
            check_columns(df, [trial], "trial")
        if treatment is not None:
            check_columns(df, [treatment], "treatment")
        if self.trial_effect != "none" and trial is None:
            raise ModelSpecificationError(f"trial_effect={self.trial_effect!r} needs trial= "
                                          "(the trial column)")
        spec = DesignSpec.from_data(df, covariates)
        if _is_ipd(data):
            if getattr(data, "outcome_type", "binary") != "binary":
                raise DataError(f"the IPD outcome {outcome!r} is {data.outcome_type}; the "
                                "baseline-risk model needs a binary outcome"
                                + ("; use SurvivalRiskModel for a time to event"
                                   if data.outcome_type == "survival" else ""))
            # keep the IPD's level order so names match ipd.feature_names
            for col, lev in (getattr(data, "categorical_levels", None) or {}).items():
                if col in spec.levels and set(map(str, lev)) == set(map(str, spec.levels[col])):
                    spec.levels[col] = list(lev)
        self._order_treatment_levels(spec, df, treatment, control)
        rng = check_random_state(self.random_state)

        # development rows
        dev = development_mask(df, self.development_rows, treatment, control)
        self._control_used = control
        y_all = df[outcome]
        miss_y = y_all.isna().to_numpy()
        miss_x = spec.missing_mask(df)
        drop_reasons = []
        if np.any(dev & miss_y):
            drop_reasons.append(("missing outcome", dev & miss_y))
        if self.missing == "complete-case" and np.any(dev & miss_x & ~miss_y):
            drop_reasons.append(("missing covariate", dev & miss_x & ~miss_y))
        use = dev & ~miss_y & (~miss_x if self.missing == "complete-case" else True)
        self.dropped_ = self._dropped_table(df, trial, drop_reasons)
        if len(self.dropped_):
            tot = int(self.dropped_["n_dropped"].sum())
            by_reason = self.dropped_.groupby("reason")["n_dropped"].sum().to_dict()
            warnings.warn(f"{tot} development rows excluded ({by_reason}); see "
                          "RiskModel.dropped_",
                          DataWarning, stacklevel=2)
        y = check_binary_outcome(y_all[use], outcome)
        if self.missing == "mice" and (miss_x & ~miss_y).any():
            cat_missing = [c for c in spec.levels if df[c].isna().any()]
            if cat_missing:
                raise MissingDataError(
                    f"missing='mice' imputes numeric covariates only; categorical covariates "
                    f"{cat_missing} have missing values -- impute them beforehand or use "
                    "missing='complete-case'")

        trial_labels, trial_codes = self._trial_codes(df, trial)
        self._trial_labels = trial_labels
        est = self._estimator(spec.feature_names)
        self._spec = spec
        self.outcome_, self.covariates_, self.trial_, self.treatment_ = (
            outcome, covariates, trial, treatment)
        self.feature_names_ = spec.feature_names
        n_tr = len(trial_labels)
        tc_use = trial_codes[use] if trial_codes is not None else None

        if self.missing == "mice" and miss_x[use].any():
            from ._impute import impute_datasets, rubin_pool

            X_full = spec.transform(df, allow_missing=True)
            completed = impute_datasets(X_full, y_all.to_numpy(float), trial_codes, use,
                                        self.n_imputations, rng)
            fits = [est.fit(Xc[use], y, tc_use, n_tr, self.trial_effect, rng)
                    for Xc in completed]
            params, self.rubin_ = rubin_pool(fits, ["Intercept", *spec.feature_names])
            self._completed = completed
            self._imputation_fits = fits
            lps = np.column_stack([f.lp(Xc) for f, Xc in zip(fits, completed, strict=True)])
            lp_all = lps.mean(axis=1)
        else:
            X_full = spec.transform(df, allow_missing=True)
            X = X_full[use]
            if isinstance(self.foldid, str):
                est.foldid = self._foldid_from_column(df, self.foldid, use, covariates, trial)
            elif self.foldid is not None:
                if len(self.foldid) != len(y):
                    raise DataError(f"foldid has {len(self.foldid)} entries but there are "
                                    f"{len(y)} development rows")
                est.foldid = np.asarray(self.foldid)
            try:
                params = est.fit(X, y, tc_use, n_tr, self.trial_effect, rng)
            finally:
                if hasattr(est, "foldid"):
                    est.foldid = None
            self._completed = [X_full]
            self._imputation_fits = None
            self.rubin_ = None
            with np.errstate(invalid="ignore"):
                lp_all = params.lp(np.nan_to_num(X_full))
            lp_all[miss_x] = np.nan
        unscored = int((~dev & np.isnan(lp_all)).sum())
        if unscored:
            warnings.warn(f"{unscored} rows outside the development rows have missing "
                          "covariates and get no score (NaN in training_scores_)",
                          DataWarning, stacklevel=3)
        self._params = params
        self._estimator_obj = est
        self._use = use
        self._y = y
        self._trial_codes = trial_codes
        self._data_cols = df[[c for c in (trial, treatment) if c is not None]].copy()
        self.n_, self.events_ = int(use.sum()), int(y.sum())
        self.training_scores_ = pd.DataFrame({"risk": special.expit(lp_all),
                                              "logit_risk": lp_all}, index=df.index)
        self._set_public(params)
        self._set_fit_statistics(params)
        return self

    def _set_fit_statistics(self, params: FittedParams) -> None:
        """Log-likelihood, deviances, information criteria (R's definitions)."""
        n, ev = self.n_, self.events_
        ybar = ev / n
        ll0 = (ev * np.log(ybar) if ev else 0.0) + ((n - ev) * np.log1p(-ybar) if n > ev else 0.0)
        info = params.info
        single = self.rubin_ is None and self.method != "bayes-lasso"
        ll = float(info["loglik"]) if single and "loglik" in info else float("nan")
        k = float(info.get("n_params", np.nan)) if single else float("nan")
        self.loglik_ = ll
        self.deviance_ = -2.0 * ll
        self.null_deviance_ = -2.0 * ll0
        self.n_params_ = k
        self.aic_ = -2.0 * ll + 2.0 * k
        self.bic_ = -2.0 * ll + np.log(n) * k
        self.df_resid_ = n - k
        self.n_events_ = ev
        se_key = "trial_intercepts_se" if "trial_intercepts_se" in info else "blup_se"
        self.trial_intercepts_se_ = (pd.Series(info[se_key], index=self._trial_labels,
                                               name="se")
                                     if se_key in info and single else None)

    def calibration(self) -> pd.DataFrame:
        """Apparent calibration on the development rows, per trial and overall.

        Columns as :func:`~ipdma.prognosis.calibration_stats`: calibration
        ``intercept`` and ``slope`` (``glm(y ~ lp)``), ``citl``
        (``glm(y ~ offset(lp))``), each with its SE, ``oe`` (observed / expected
        events) with ``log_oe_se``, ``mean_predicted`` and ``observed`` rates, ``n``
        and ``events``.  One row per trial (when fitted with ``trial=``), then
        ``overall``.  ``lp`` is the linear predictor for new patients (average
        intercept).  Bootstrap-corrected and internal-external versions:
        :meth:`validate` (``.calibration``, ``.calibration_summary``).
        """
        check_is_fitted(self, "coef_")
        self._require_training("calibration()")
        from ._metrics import calibration_by_trial

        lp = self.training_scores_["logit_risk"].to_numpy()[self._use]
        groups = (np.asarray(self._trial_labels, dtype=object)[self._trial_codes[self._use]]
                  if self._trial_codes is not None else None)
        return calibration_by_trial(lp, self._y, groups)

    @property
    def fit_statistics_(self) -> pd.Series:
        """The fit statistics as a Series (see the class docstring)."""
        check_is_fitted(self, "coef_")
        keys = ["n_", "n_events_", "loglik_", "deviance_", "null_deviance_", "n_params_",
                "df_resid_", "aic_", "bic_"]
        return pd.Series({k.rstrip("_"): getattr(self, k, np.nan) for k in keys},
                         name="value", dtype=float)

    def lambda_path(self, lambdas: Sequence[float] | None = None) -> pd.DataFrame:
        """Refit the lasso / elastic net over several lambdas at once (``glmnet(x, y,
        lambda = )``) on the development rows.

        Parameters
        ----------
        lambdas : sequence of float, optional
            Default: the cross-validated sequence (``cv_results_``), else glmnet's
            default sequence.  Fitted in decreasing order with warm starts.

        Returns
        -------
        DataFrame
            One row per lambda (decreasing): ``lambda``, ``df`` (non-zero
            coefficients besides the intercept, trial dummies included: glmnet's
            ``df``), ``deviance``, ``dev_ratio``
            (glmnet's ``dev.ratio = 1 - deviance / null_deviance``, null deviance
            of the intercept-only model, ``null_deviance_``) and the coefficients
            (``Intercept``: the average intercept, as ``coef_``).
        """
        check_is_fitted(self, "coef_")
        if self.method not in ("lasso", "elasticnet"):
            raise ModelSpecificationError(f"lambda_path() is for method='lasso' or "
                                          f"'elasticnet', not {self.method!r}")
        if self.rubin_ is not None:
            raise ModelSpecificationError("lambda_path() is not available with multiple "
                                          "imputation (one path per imputed data set)")
        from ._solvers import glmnet_path, loglik

        est = self._estimator_obj
        X = self._completed[0][self._use]
        tc = self._trial_codes[self._use] if self._trial_codes is not None else None
        Xf, pf, present = est._setup(X, tc, len(self._trial_labels), self.trial_effect)
        if lambdas is None:
            lam = (self.cv_results_["lambda"].to_numpy() if self.cv_results_ is not None
                   else est.lambda_sequence(Xf, self._y, pf))
        else:
            lam = np.asarray(lambdas, float)
            if lam.ndim != 1 or lam.size == 0 or np.any(~np.isfinite(lam)) or np.any(lam < 0):
                raise ModelSpecificationError("lambdas must be a non-empty sequence of "
                                              "numbers >= 0")
        lam = np.sort(lam)[::-1]
        with threadpool_limits(limits=1, user_api="blas"):
            coefs, _ = glmnet_path(Xf, self._y, lam, est.alpha, pf, est.standardize)
        p = X.shape[1]
        dev = np.array([-2 * loglik(self._y, c[0] + Xf @ c[1:]) for c in coefs])
        b0 = coefs[:, 0]
        if self.trial_effect == "fixed":
            b0 = b0 + coefs[:, 1 + p:].sum(axis=1) / len(present)
        out = pd.DataFrame({"lambda": lam, "df": (coefs[:, 1:] != 0).sum(axis=1),
                            "deviance": dev, "dev_ratio": 1 - dev / self.null_deviance_})
        out["Intercept"] = b0
        for j, name in enumerate(self.feature_names_):
            out[name] = coefs[:, 1 + j]
        return out

    @staticmethod
    def _order_treatment_levels(spec, df, treatment, control) -> None:
        """A categorical treatment column among the covariates is coded against the
        reference treatment (``control=``, default the IPD's reference), never the
        alphabetically first label; without a known reference the fit is refused."""
        if treatment is None or treatment not in spec.levels:
            return
        labels = [str(v) for v in spec.levels[treatment]]
        if control is None:
            raise ModelSpecificationError(
                f"the treatment column {treatment!r} is among the covariates but the "
                f"reference treatment is unknown: pass control='<label>' (one of {labels}) "
                "so that its indicators contrast every arm with the reference, fit from an "
                "ipdma.data.IPD (its reference is used), or drop it from covariates")
        if str(control) not in labels:
            raise DataError(f"control label {control!r} not found in column {treatment!r} "
                            f"(labels: {labels})")
        lev = list(spec.levels[treatment])
        ref = lev[labels.index(str(control))]
        spec.levels[treatment] = [ref] + [v for v in lev if v is not ref and v != ref]

    @staticmethod
    def _dropped_table(df, trial, reasons) -> pd.DataFrame:
        rows = []
        for reason, mask in reasons:
            if trial is None:
                rows.append({"trial": None, "reason": reason, "n_dropped": int(mask.sum())})
            else:
                counts = df.loc[mask, trial].astype(str).value_counts().sort_index()
                rows.extend({"trial": t, "reason": reason, "n_dropped": int(k)}
                            for t, k in counts.items())
        return pd.DataFrame(rows, columns=["trial", "reason", "n_dropped"])

    @staticmethod
    def _trial_codes(df, trial):
        if trial is None:
            return [], None
        if df[trial].isna().any():
            raise MissingDataError(f"trial column {trial!r} has missing values")
        labels = sorted(df[trial].astype(str).unique())
        codes = pd.Categorical(df[trial].astype(str), categories=labels).codes.astype(int)
        return labels, codes

    def _set_public(self, params: FittedParams) -> None:
        names = ["Intercept", *self.feature_names_]
        self.coef_ = pd.Series(np.r_[params.intercept, params.beta], index=names, name="coef")
        self.vcov_ = (pd.DataFrame(params.vcov, index=names, columns=names)
                      if params.vcov is not None else None)
        self.trial_intercepts_ = (pd.Series(params.trial_intercepts, index=self._trial_labels,
                                            name="intercept")
                                  if params.trial_intercepts is not None else None)
        self.penalty_ = float(params.info.get("penalty", float("nan")))
        info = params.info
        self.idata_ = info.get("idata")
        self.sigma_trial_ = info.get("sigma_trial")
        if "cv_lambdas" in info:
            self.cv_results_ = pd.DataFrame({"lambda": info["cv_lambdas"], "cvm": info["cvm"],
                                             "cvsd": info["cvsd"]})
        elif "cv_deviance" in info:
            self.cv_results_ = pd.DataFrame({"penalty": info["grid"],
                                             "cv_deviance": info["cv_deviance"]})
        elif "ic_path" in info:
            self.cv_results_ = pd.DataFrame({"penalty": info["grid"],
                                             "criterion": info["ic_path"]})
        else:
            self.cv_results_ = None
        self.lambda_min_ = info.get("lambda_min")
        self.lambda_1se_ = info.get("lambda_1se")

    # ------------------------------------------------------------------ predict
    def predict_logit(self, data: pd.DataFrame,
                      intercept: Literal["average", "trial"] = "average") -> np.ndarray:
        """Linear predictor (logit of baseline risk) including the intercept.

        Parameters
        ----------
        data : DataFrame with the covariate columns (no missing values).
        intercept : {"average", "trial"}
            ``"average"`` (default, for new patients): ``trial_effect="fixed"``
            uses the unweighted mean of the trial intercepts, ``"random"`` the
            fixed intercept (mean of the random-intercept distribution).
            ``"trial"``: the patient's own trial intercept (needs the trial
            column and a trial seen in fitting).
        """
        check_is_fitted(self, "coef_")
        if _is_ipd(data):
            data = data.data
        X = self._spec.transform(data)
        beta = self.coef_.to_numpy()[1:]
        if intercept == "average":
            return self.coef_.iloc[0] + X @ beta
        if intercept != "trial":
            raise ModelSpecificationError(f"intercept must be 'average' or 'trial' (got "
                                          f"{intercept!r})")
        if self.trial_intercepts_ is None:
            raise ModelSpecificationError("intercept='trial' needs a model fitted with "
                                          "trial_effect='fixed' or 'random'")
        check_columns(data, [self.trial_], "trial")
        labels = data[self.trial_].astype(str)
        ti = self.trial_intercepts_.reindex(labels)
        if ti.isna().any():
            bad = sorted(set(labels[ti.isna().to_numpy()]))
            raise DataError(f"trials {bad} have no fitted intercept (known: "
                            f"{list(self.trial_intercepts_.dropna().index)}); use "
                            "intercept='average' for new trials")
        return ti.to_numpy() + X @ beta

    def predict_risk(self, data: pd.DataFrame,
                     intercept: Literal["average", "trial"] = "average") -> np.ndarray:
        """Predicted baseline risk ``expit(predict_logit(data))``."""
        return special.expit(self.predict_logit(data, intercept))

    def score(self, data: pd.DataFrame | None = None,
              intercept: Literal["average", "trial"] = "average",
              missing: Literal["error", "nan"] = "error") -> pd.DataFrame:
        """DataFrame with ``risk`` and ``logit_risk`` per row, index of ``data``.

        ``data=None`` returns :attr:`training_scores_`.  ``missing="nan"``
        gives NaN for rows with missing covariates instead of an error.
        """
        check_is_fitted(self, "coef_")
        if data is None:
            if not hasattr(self, "training_scores_"):
                raise NotFittedError("this model was loaded from JSON: pass the data to score")
            return self.training_scores_.copy()
        if _is_ipd(data):
            data = data.data
        if missing == "nan":
            miss = self._spec.missing_mask(data)
            lp = np.full(len(data), np.nan)
            if (~miss).any():
                lp[~miss] = self.predict_logit(data.loc[~miss], intercept)
        else:
            lp = self.predict_logit(data, intercept)
        return pd.DataFrame({"risk": special.expit(lp), "logit_risk": lp}, index=data.index)

    # ------------------------------------------------------------------ reporting
    def summary(self) -> Summary:
        """Coefficients with SE and 95 % Wald interval (penalised: approximate)."""
        check_is_fitted(self, "coef_")
        tab = pd.DataFrame({"coef": self.coef_})
        if self.vcov_ is not None:
            se = np.sqrt(np.diag(self.vcov_.to_numpy()))
            tab["se"] = se
            tab["ci_lower"] = tab["coef"] - 1.959963984540054 * se
            tab["ci_upper"] = tab["coef"] + 1.959963984540054 * se
        info = {"method": self.method, "development rows": self.development_rows,
                "trial effect": self.trial_effect, "missing": self.missing}
        if hasattr(self, "n_"):
            info.update({"n": self.n_, "events": self.events_})
        if np.isfinite(getattr(self, "loglik_", np.nan)):
            full = "{:.10g}".format   # full precision, to compare with R
            info.update({"log-likelihood": full(self.loglik_), "deviance": full(self.deviance_),
                         "null deviance": full(self.null_deviance_),
                         "df (parameters)": full(self.n_params_),
                         "residual df": full(self.df_resid_),
                         "AIC": full(self.aic_), "BIC": full(self.bic_)})
        if self.method in ("pmle",):
            info["penalty (rms scale)"] = self.penalty_
        if self.method in ("lasso", "elasticnet"):
            info["lambda (glmnet scale)"] = self.penalty_
        if self.sigma_trial_ is not None:
            info["random-intercept SD"] = self.sigma_trial_
        notes = []
        if self.trial_effect != "none":
            notes.append("Intercept = average intercept used for new patients ("
                         + ("mean of trial intercepts" if self.trial_effect == "fixed"
                            else "mean of the random-intercept distribution") + ").")
        if self.method in ("lasso", "elasticnet"):
            notes.append("No standard errors for the lasso/elastic net: use validate().")
        if self.rubin_ is not None:
            notes.append(f"Multiple imputation: {self.n_imputations} imputations, Rubin's rules.")
        tables = {"coefficients": tab}
        if self.trial_intercepts_ is not None:
            ti = self.trial_intercepts_.to_frame()
            se_t = getattr(self, "trial_intercepts_se_", None)
            if se_t is not None:
                ti["se" if self.trial_effect == "fixed" else "cond_sd"] = se_t
            tables["trial intercepts"] = ti
        return Summary(f"Baseline-risk model ({self.method})", tables=tables, info=info,
                       notes=notes)

    def to_frame(self) -> pd.DataFrame:
        """Tidy coefficient table (term, coef, se, ci_lower, ci_upper)."""
        return self.summary().tables["coefficients"].rename_axis("term").reset_index()

    def __repr__(self) -> str:
        return f"RiskModel(method={self.method!r}, trial_effect={self.trial_effect!r})"

    # ------------------------------------------------------------------ validation
    def validate(self, B: int = 200, method: Literal["bootstrap", "iecv"] = "bootstrap",
                 random_state=None, retune: bool = True, progress: bool | None = False):
        """Internal validation: bootstrap optimism correction or IECV.

        Parameters
        ----------
        B : int, default 200
            Bootstrap replicates (ignored for IECV).
        method : {"bootstrap", "iecv"}
            Harrell's optimism bootstrap, or internal-external cross-validation
            (leave one trial out; needs ``trial=``).
        random_state : None, int, SeedSequence or Generator
        retune : bool, default True
            Re-run the penalty / lambda search inside each replicate (honest);
            ``False`` keeps the penalty chosen on all data (fast, optimistic).
        progress : bool or None
            tqdm progress bar on stderr over the bootstrap replicates (``None``: only
            when stderr is a terminal).

        Returns
        -------
        ValidationResult
            See :func:`ipdma.prognosis.validate` for the algorithm and its cost.
        """
        from ._validation import validate

        with threadpool_limits(limits=1, user_api="blas"):
            return validate(self, B=B, method=method, random_state=random_state,
                            retune=retune, progress=progress)

    def out_of_sample_scores(self, by: Literal["trial", "fold"] = "trial", n_folds: int = 10,
                             random_state=None) -> pd.DataFrame:
        """Scores of the training rows from models that did not see them.

        The baseline risk used in stage 2 is otherwise estimated on the same
        patients (double use of the data).  ``by="trial"``: each trial is scored
        by the whole procedure (tuning included) refitted without that trial
        (average intercept); ``by="fold"``: random k-fold cross-fitting.  Rows
        that are not development rows (e.g. active arms with
        ``development_rows="control"``) are scored by the model of their trial /
        fold as well.  With MI the scores are averaged over imputations.

        Returns
        -------
        DataFrame with ``risk`` and ``logit_risk``, index of the training data.
        """
        self._require_training("out_of_sample_scores")
        rng = check_random_state(random_state)
        n = len(self.training_scores_)
        use, tc = self._use, self._trial_codes
        if by == "trial":
            if tc is None:
                raise ModelSpecificationError("by='trial' needs a model fitted with trial=")
            groups = tc
        elif by == "fold":
            if n_folds < 2:
                raise ModelSpecificationError(f"n_folds must be >= 2 (got {n_folds})")
            groups = rng.permutation(np.arange(n) % n_folds)
        else:
            raise ModelSpecificationError(f"by must be 'trial' or 'fold' (got {by!r})")
        y_full = np.full(n, np.nan)
        y_full[use] = self._y
        est = self._estimator_obj
        n_tr = len(self._trial_labels)
        out = np.zeros((len(self._completed), n))
        with threadpool_limits(limits=1, user_api="blas"):
            for k, Xfull in enumerate(self._completed):
                Xs = np.nan_to_num(Xfull)
                for g in np.unique(groups):
                    tr, te = use & (groups != g), groups == g
                    yt = y_full[tr]
                    if yt.size == 0 or yt.min() == yt.max():
                        what = (f"trial {self._trial_labels[g]!r}" if by == "trial"
                                else f"fold {g}")
                        raise ModelSpecificationError(
                            f"without {what} the development rows have no events or no "
                            "non-events")
                    fit = est.fit(Xfull[tr], yt, None if tc is None else tc[tr], n_tr,
                                  self.trial_effect, rng)
                    out[k, te] = fit.lp(Xs[te])
        lp = out.mean(axis=0)
        lp[self.training_scores_["logit_risk"].isna().to_numpy()] = np.nan
        return pd.DataFrame({"risk": special.expit(lp), "logit_risk": lp},
                            index=self.training_scores_.index)

    def plot_calibration(self, ax=None, n_groups: int = 10):
        """Apparent calibration plot on the development rows (deciles + lowess)."""
        from ._plots import plot_calibration

        self._require_training("plot_calibration")
        lp = self.training_scores_["logit_risk"].to_numpy()[self._use]
        return plot_calibration(lp, self._y, ax=ax, n_groups=n_groups,
                                title=f"Apparent calibration ({self.method})")

    def plot_risk_distribution(self, ax=None, by: str | None = None):
        """Distribution of the predicted baseline risk of every scored training
        row by trial (default), by arm (``by="arm"``), by trial and arm
        (``by="trial-arm"``) or by another column given at fit time."""
        from ._plots import plot_risk_distribution

        self._require_training("plot_risk_distribution")
        risk = self.training_scores_["risk"]
        if by == "trial-arm":
            if self.trial_ is None or self.treatment_ is None:
                raise ModelSpecificationError("by='trial-arm' needs trial= and treatment= at "
                                              "fit time")
            groups = (self._data_cols[self.trial_].astype(str) + " / "
                      + self._data_cols[self.treatment_].astype(str))
            return plot_risk_distribution(risk.to_numpy(), groups, ax=ax, label="trial / arm")
        col = self._by_column(by)
        groups = self._data_cols[col] if col is not None else None
        return plot_risk_distribution(risk.to_numpy(), groups, ax=ax, label=col)

    plot = plot_calibration

    def _by_column(self, by):
        if by is None:
            return self.trial_ if self.trial_ is not None else self.treatment_
        if by in ("trial",):
            return self.trial_
        if by in ("arm", "treatment"):
            if self.treatment_ is None:
                raise ModelSpecificationError("by='arm' needs treatment= at fit time")
            return self.treatment_
        if by not in self._data_cols.columns:
            raise ModelSpecificationError(f"by={by!r}: use 'trial', 'arm' or 'trial-arm'")
        return by

    def _require_training(self, what: str) -> None:
        check_is_fitted(self, "coef_")
        if getattr(self, "_use", None) is None:
            raise NotFittedError(f"{what} needs the development data: this model was loaded "
                                 "from JSON; refit it with .fit(data, ...)")

    @staticmethod
    def _foldid_from_column(df: pd.DataFrame, col: str, use: np.ndarray, covariates: list,
                            trial: str | None) -> np.ndarray:
        """Fold ids of the development rows from column ``col``, checked."""
        check_columns(df, [col], "foldid")
        if col in covariates:
            raise ModelSpecificationError(
                f"column {col!r} is given both as a covariate and as the fold-id column "
                "(foldid): fold ids are not a covariate")
        raw = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)[use]
        bad = ~np.isfinite(raw) | (raw != np.round(raw))
        if bad.any():
            i = int(np.flatnonzero(use)[np.argmax(bad)])
            where = f" (trial {df[trial].iloc[i]!r})" if trial is not None else ""
            raise DataError(f"fold-id column {col!r}: row {i}{where} has {df[col].iloc[i]!r}; "
                            "give every development row an integer fold id (e.g. 1..10)")
        if len(np.unique(raw)) < 3:
            raise DataError(f"fold-id column {col!r} has {len(np.unique(raw))} distinct "
                            "fold(s) on the development rows; cross-validation needs at least "
                            "3 (as cv.glmnet)")
        return raw.astype(int)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        check_is_fitted(self, "coef_")
        params = self.get_params()
        rs = params["random_state"]
        params["random_state"] = rs if isinstance(rs, (int, type(None))) else None
        for k in ("penalty_grid", "lambdas"):
            if params[k] is not None:
                params[k] = [float(v) for v in params[k]]
        if params["foldid"] is not None and not isinstance(params["foldid"], str):
            params["foldid"] = [int(v) for v in params["foldid"]]
        if params["penalty_factor"] is not None:
            params["penalty_factor"] = {k: float(v) for k, v in params["penalty_factor"].items()}
        if isinstance(params["penalty"], np.number):
            params["penalty"] = float(params["penalty"])
        return {
            "format": _FORMAT, "version": 1, "params": params, "design": self._spec.to_dict(),
            "outcome": self.outcome_, "trial": self.trial_, "treatment": self.treatment_,
            "control": self._control_used,
            "coef": {"names": list(self.coef_.index), "values": self.coef_.tolist()},
            "vcov": None if self.vcov_ is None else self.vcov_.to_numpy().tolist(),
            "trial_intercepts": (None if self.trial_intercepts_ is None else
                                 {k: (None if np.isnan(v) else float(v))
                                  for k, v in self.trial_intercepts_.items()}),
            "penalty_used": None if np.isnan(self.penalty_) else self.penalty_,
            "sigma_trial": self.sigma_trial_, "n": getattr(self, "n_", None),
            "events": getattr(self, "events_", None),
        }

    def to_json(self, path: str | Path) -> Path:
        """Write the fitted model as JSON (never pickle); see :meth:`from_json`."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    @classmethod
    def from_dict(cls, d: dict) -> RiskModel:
        if d.get("format") != _FORMAT:
            raise DataError(f"not a RiskModel JSON (format={d.get('format')!r})")
        m = cls(**d["params"])
        m._spec = DesignSpec.from_dict(d["design"])
        m.outcome_, m.trial_, m.treatment_ = d["outcome"], d["trial"], d["treatment"]
        m._control_used = d.get("control")
        m.covariates_ = m._spec.covariates
        m.feature_names_ = m._spec.feature_names
        names = d["coef"]["names"]
        m.coef_ = pd.Series(d["coef"]["values"], index=names, name="coef", dtype=float)
        m.vcov_ = (None if d["vcov"] is None else
                   pd.DataFrame(np.array(d["vcov"], float), index=names, columns=names))
        ti = d["trial_intercepts"]
        m.trial_intercepts_ = (None if ti is None else
                               pd.Series({k: (np.nan if v is None else v) for k, v in ti.items()},
                                         name="intercept", dtype=float))
        m._trial_labels = [] if ti is None else list(ti)
        m.penalty_ = float("nan") if d["penalty_used"] is None else float(d["penalty_used"])
        m.sigma_trial_ = d.get("sigma_trial")
        m.idata_ = None
        m.rubin_ = None
        m.cv_results_ = None
        if d.get("n") is not None:
            m.n_, m.events_ = d["n"], d["events"]
        m._use = None
        return m

    def save(self, path, **kwargs):
        """Write the fitted model (kind ``risk-model``) as a versioned JSON model file; see
        :func:`ipdma.serialize.save_model` and ``load_model``."""
        from ..serialize import save_model

        return save_model(self, path, **kwargs)

    @classmethod
    def from_json(cls, path: str | Path) -> RiskModel:
        """Load a model written by :meth:`to_json`; it scores new data."""
        return cls.from_dict(json.loads(Path(path).read_text()))

"""Risk-based IPD network meta-regression: estimator and results object."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._base import ResultsMixin, Summary, check_is_fitted, check_random_state
from .._optional import import_optional
from ..errors import ColumnNotFoundError, ModelSpecificationError, OutcomeError
from ._design import NMRDesign, _check_column, expit, logit, prepare

__all__ = ["RiskNMR", "RiskNMRResult"]

_ENGINES = ("bayes", "ml")
_EFFECTS = ("common", "random")
_SCALES = ("logit", "probability")


class RiskNMR:
    """Stage 2 of the risk-based two-stage prediction model (Chalkou et al., 2021).

    IPD network meta-regression of a binary outcome on a baseline-risk score::

        logit p_ij = u_j + d_{j,t} + (g0 + gamma_t) * (R_ij - Rbar_j)

    with trial intercepts ``u_j`` (the reference-treatment log-odds at the trial's
    mean risk), treatment effects ``d_t`` and risk interactions ``gamma_t`` relative
    to the **network reference** (``d_ref = gamma_ref = 0``) and a prognostic slope
    ``g0`` that is the slope under the reference in every trial.  This is the
    order-free form of the original model (which attached ``g0`` to whichever arm
    was listed first): results do not depend on the order of rows or arms.

    With ``effects="random"`` the trial-specific contrasts are
    ``d_{j,t} - d_{j,b} ~ N(d_t - d_b, tau^2)`` relative to the trial's baseline arm
    ``b`` (the reference when the trial has it, otherwise its first treatment in
    the model order), with covariance ``tau^2 / 2`` between contrasts of a
    multi-arm trial.  The risk interactions stay common.  For a time-to-event
    outcome (``fit(time=, event=)``) the contrasts are log hazard ratios and random
    effects need ``engine="bayes"``.

    Parameters
    ----------
    engine : {"bayes", "ml"}
        ``"bayes"``: NumPyro NUTS (dense mass matrix, started at the ML estimate);
        ``"ml"``: logistic GLM (common effects) or GLMM by Laplace / adaptive
        Gauss-Hermite quadrature (random effects).
    effects : {"common", "random"}
        Common (fixed) or random treatment effects.
    centring : {"trial", "global"} or float
        Centre the risk covariate at each trial's mean (default; interactions use
        within-trial information only), at the overall mean, or at a given value.
        Predictions always centre at the overall stage-2 mean (or the given value).
    risk_scale : {"logit", "probability"}
        The ``risk`` column holds the logit-scale risk score (the stage-1 linear
        predictor).  ``"logit"`` regresses on it; ``"probability"`` on
        ``expit(risk)``.
    reference : str, optional
        Network reference treatment; default a placebo-like label, else the
        treatment in most trials.
    prior_sd : float
        Standard deviation of the normal priors of ``u, d, g0, gamma`` and of the
        external-control intercept (default ``sqrt(1000)``: the N(0, var 1000)
        priors of the original analysis).
    tau_prior : {"half-normal", "uniform"}
        Prior of ``tau``: half-normal with scale ``tau_prior_scale`` (default) or
        uniform on ``(0, tau_prior_scale)`` (as crossnma's ``dunif(0, 3)``).
    tau_prior_scale : float
        Scale of the half-normal prior (default 1 on the log-odds-ratio scale) or the
        upper bound of the uniform prior.
    chains, draws, warmup : int
        NUTS chains, kept draws and warm-up iterations per chain.
    chain_method : {"sequential", "vectorized"}
        Run the chains one after the other in one compiled loop (default; fastest
        here, measured on 2 cores) or vectorised (``jax.vmap``).
    target_accept : float, optional
        NUTS target acceptance probability; default 0.8 with common effects and
        0.95 with random effects (smaller steps through the tau funnel).
    n_agq : int
        Quadrature nodes per random-effect dimension for ``engine="ml",
        effects="random"`` (1 = Laplace).
    vcov : {"joint", "conditional"}
        Covariance of the fixed effects for ``engine="ml", effects="random"``:
        ``"joint"`` (default, lme4's ``vcov(glmer)``: fixed-effect block of the
        inverse Hessian over fixed effects and tau) or ``"conditional"`` (tau held
        at its estimate).
    n_sim : int
        Parameter draws from the asymptotic normal distribution of the ML
        estimate used for P(best) with ``engine="ml"``.
    higher_is_better : bool
        ``False`` (default) when the outcome is harmful (relapse): the best
        treatment has the lowest predicted probability.
    level : float
        Coverage of the reported intervals.
    random_state : None, int, SeedSequence or Generator
        Seed of the sampler and of all simulation draws.
    ties : {"efron", "breslow"}
        Tie handling of the Cox partial likelihood (time-to-event outcomes, ML).
    n_pieces : int
        Baseline-hazard intervals per trial of the Bayesian time-to-event engine
        (cut at the quantiles of the trial's event times).
    survival_model : {"cox", "weibull"}
        Time-to-event stage 2 with ``engine="ml"``: Cox partial likelihood with
        trial strata (default) or Weibull proportional hazards with a Weibull
        baseline per trial and a common shape (= ``survreg(Surv ~ 0 + trial +
        trt * Rc, dist = "weibull")``; log hazard ratios ``-coef / scale``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.nmr import RiskNMR
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
    ...                    "treat": rng.choice(["placebo", "A"], n),
    ...                    "logit_risk": rng.normal(-0.5, 0.8, n)})
    >>> eta = df.logit_risk - 0.7 * (df.treat == "A")
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    >>> res = RiskNMR(engine="ml").fit(df, trial="trial", treatment="treat", outcome="y")
    >>> list(res.params.index)[:4]
    ['u[T1]', 'u[T2]', 'u[T3]', 'd[A]']
    >>> pred = res.predict(risk=[0.2, 0.5])
    >>> sorted(pred.columns)[:3]
    ['ard', 'ard_lower', 'ard_upper']
    """

    def __init__(
        self,
        engine: Literal["bayes", "ml"] = "bayes",
        effects: Literal["common", "random"] = "common",
        centring: Literal["trial", "global"] | float = "trial",
        risk_scale: Literal["logit", "probability"] = "logit",
        reference: str | None = None,
        prior_sd: float = float(np.sqrt(1000.0)),
        tau_prior_scale: float = 1.0,
        tau_prior: Literal["half-normal", "uniform"] = "half-normal",
        chains: int = 2,
        draws: int = 1000,
        warmup: int = 500,
        chain_method: str = "sequential",
        target_accept: float | None = None,
        n_agq: int = 1,
        vcov: Literal["joint", "conditional"] = "joint",
        n_sim: int = 4000,
        higher_is_better: bool = False,
        level: float = 0.95,
        random_state: int | np.random.Generator | np.random.SeedSequence | None = None,
        ties: Literal["efron", "breslow"] = "efron",
        n_pieces: int = 8,
        survival_model: Literal["cox", "weibull"] = "cox",
    ) -> None:
        self.engine = engine
        self.effects = effects
        self.centring = centring
        self.risk_scale = risk_scale
        self.reference = reference
        self.prior_sd = prior_sd
        self.tau_prior_scale = tau_prior_scale
        self.tau_prior = tau_prior
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.chain_method = chain_method
        self.target_accept = target_accept
        self.n_agq = n_agq
        self.vcov = vcov
        self.n_sim = n_sim
        self.higher_is_better = higher_is_better
        self.level = level
        self.random_state = random_state
        self.ties = ties
        self.n_pieces = n_pieces
        self.survival_model = survival_model

    def _fit_survival(self, data, *, trial, treatment, time, event, risk, reference,
                      event_label, outcome, external_control, aggregate):
        from ._survival import fit_survival

        if time is None or event is None:
            raise ModelSpecificationError(
                "a time-to-event outcome needs both time= (follow-up column) and event= "
                "(event indicator column)")
        if outcome is not None:
            raise ModelSpecificationError(
                "give either outcome= (binary) or time= and event= (time to event), not both")
        if trial is None or treatment is None:
            raise ModelSpecificationError(
                "fit needs the column names: fit(data, trial=..., treatment=..., time=..., "
                "event=...)")
        if external_control is not None or aggregate is not None:
            raise ModelSpecificationError(
                "external_control= and aggregate= are available for binary outcomes only")
        if self.ties not in ("efron", "breslow"):
            raise ModelSpecificationError(f"ties must be 'efron' or 'breslow', not {self.ties!r}")
        if int(self.n_pieces) != self.n_pieces or self.n_pieces < 1:
            raise ModelSpecificationError(
                f"n_pieces must be a positive integer, not {self.n_pieces!r}")
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        return fit_survival(self, data, trial=trial, treatment=treatment, time=time,
                            event=event, risk=risk, reference=reference,
                            event_label=event_label, seed=seed)

    def _validate(self) -> None:
        if self.engine not in _ENGINES:
            raise ModelSpecificationError(f"engine must be one of {_ENGINES}, not {self.engine!r}")
        if self.effects not in _EFFECTS:
            raise ModelSpecificationError(
                f"effects must be one of {_EFFECTS}, not {self.effects!r}")
        if self.risk_scale not in _SCALES:
            raise ModelSpecificationError(
                f"risk_scale must be one of {_SCALES}, not {self.risk_scale!r}")
        if isinstance(self.centring, str) and self.centring not in ("trial", "global"):
            raise ModelSpecificationError(
                f"centring must be 'trial', 'global' or a number, not {self.centring!r}")
        if getattr(self, "vcov", "joint") not in ("joint", "conditional"):
            raise ModelSpecificationError(
                f"vcov must be 'joint' or 'conditional', not {self.vcov!r}")
        if self.tau_prior not in ("half-normal", "uniform"):
            raise ModelSpecificationError(
                f"tau_prior must be 'half-normal' or 'uniform', not {self.tau_prior!r}")
        if self.chain_method not in ("sequential", "vectorized"):
            raise ModelSpecificationError(
                f"chain_method must be 'sequential' or 'vectorized', not {self.chain_method!r}")
        if self.target_accept is not None and not 0 < self.target_accept < 1:
            raise ModelSpecificationError(
                f"target_accept must be in (0, 1), not {self.target_accept}")
        if not 0 < self.level < 1:
            raise ModelSpecificationError(f"level must be in (0, 1), not {self.level}")
        for name in ("chains", "draws", "warmup", "n_agq", "n_sim"):
            v = getattr(self, name)
            if int(v) != v or v < (0 if name == "warmup" else 1):
                raise ModelSpecificationError(f"{name} must be a positive integer, not {v!r}")
        if self.prior_sd <= 0 or self.tau_prior_scale <= 0:
            raise ModelSpecificationError("prior_sd and tau_prior_scale must be positive")

    def fit(
        self,
        data,
        *,
        trial: str | None = None,
        treatment: str | None = None,
        outcome: str | None = None,
        risk: str | None = "logit_risk",
        external_control: pd.DataFrame | None = None,
        aggregate: pd.DataFrame | None = None,
        aggregate_events: str = "events",
        aggregate_n: str = "n",
        aggregate_risk: str | None = None,
        time: str | None = None,
        event: str | None = None,
        event_label: object = None,
    ) -> RiskNMRResult:
        """Fit the network meta-regression.

        Parameters
        ----------
        data : DataFrame or ipdma.data.IPD
            One row per patient.  With an ``IPD`` the trial/treatment/outcome
            columns (and the reference) are taken from it; ``risk`` must be a column
            of ``ipd.data``.
        trial, treatment, outcome : str
            Column names (outcome coded 0/1).
        risk : str or None
            Column with the stage-1 risk score on the logit scale.  ``None`` fits a
            plain IPD network meta-analysis without a risk term.
        external_control : DataFrame, optional
            Control-arm-only cohort with the ``outcome`` column; its log-odds is the
            intercept of absolute predictions (``baseline="external"``).
        aggregate : DataFrame, optional
            Trials that share only arm-level results: one row per arm with the
            ``trial`` and ``treatment`` columns (same names as the IPD) and the arm's
            event count and size (columns ``aggregate_events``, ``aggregate_n``).  As in
            crossnma's IPD + AD model, each aggregate arm contributes the binomial
            likelihood of its event count given its trial's intercept ``u_j`` and the
            treatment effects ``d_t`` (and, with random effects, its trial's random
            contrasts): exactly the likelihood of its patients expanded to 0/1 rows,
            which is how it is computed.  The risk term enters at the arm's mean risk
            when ``aggregate_risk`` names a column with it (logit scale, as ``risk``;
            with ``centring="trial"`` the term is ``x = mean risk - trial mean``), and
            is **left out** (``x = 0``) otherwise: aggregate trials then inform
            ``u_j``, ``d_t`` and ``tau`` but not the risk slopes ``g0``/``gamma``.  Their
            labels must differ from the IPD trials'; the prediction centre uses the IPD
            only.
        aggregate_events, aggregate_n, aggregate_risk : str
            Column names in ``aggregate``.
        time, event : str, optional
            A time-to-event outcome: follow-up time and event indicator columns
            (1 = event, 0 = censored, or two labels; ``event_label`` names the event
            label).  Stage 2 is then a Cox network meta-regression with
            trial-stratified baselines (``engine="ml"``: partial likelihood with
            ``ties``; ``"bayes"``: piecewise-constant baseline hazard per trial with
            ``n_pieces`` intervals, NUTS), the ``risk`` column is the stage-1 linear
            predictor (log relative hazard), and the result is a
            :class:`~ipdma.nmr._survival.SurvivalRiskNMRResult` (survival at a
            horizon, RMST, their differences, hazard ratios, P(best)).  An ``IPD``
            built with ``time=``/``event=`` selects this automatically.

        Returns
        -------
        RiskNMRResult
        """
        self._validate()
        reference = self.reference
        if hasattr(data, "trial_col") and hasattr(data, "data"):
            trial = trial or data.trial_col
            treatment = treatment or data.treatment_col
            if getattr(data, "time_col", None) is not None:
                time = time or data.time_col
                event = event or data.outcome_col
            else:
                outcome = outcome or data.outcome_col
            if reference is None:
                reference = getattr(data, "reference", None)
            data = data.data
        if time is not None or event is not None:
            return self._fit_survival(data, trial=trial, treatment=treatment, time=time,
                                      event=event, risk=risk, reference=reference,
                                      event_label=event_label, outcome=outcome,
                                      external_control=external_control, aggregate=aggregate)
        if trial is None or treatment is None or outcome is None:
            raise ModelSpecificationError(
                "fit needs the column names: fit(data, trial=..., treatment=..., outcome=...)")
        ad_mask = None
        if aggregate is not None:
            data, ad_mask = _with_aggregate(data, aggregate, trial=trial, treatment=treatment,
                                            outcome=outcome, risk=risk,
                                            events=aggregate_events, n=aggregate_n,
                                            mean_risk=aggregate_risk)
        design = prepare(data, trial=trial, treatment=treatment, outcome=outcome, risk=risk,
                         reference=reference, centring=self.centring,
                         risk_scale=self.risk_scale, ad=ad_mask)
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(0, 2**31 - 1))
        ext = _external_counts(external_control, outcome) if external_control is not None \
            else None
        from ._ml import fit_common, fit_random

        ml_common = fit_common(design)
        res = RiskNMRResult(self, design, seed=seed,
                            columns={"trial": trial, "treatment": treatment,
                                     "outcome": outcome, "risk": risk})
        if self.engine == "ml":
            if self.effects == "random":
                fit = fit_random(design, n_agq=int(self.n_agq), start=ml_common,
                                 vcov=self.vcov)
            else:
                fit = ml_common
            res._set_ml(fit)
        else:
            from ._bayes import fit_bayes

            fit = fit_bayes(design, random=self.effects == "random", prior_sd=self.prior_sd,
                            tau_prior_scale=self.tau_prior_scale, tau_prior=self.tau_prior,
                            chains=int(self.chains),
                            draws=int(self.draws), warmup=int(self.warmup), seed=seed,
                            init=ml_common.coef, chain_method=self.chain_method,
                            target_accept=(self.target_accept if self.target_accept is not None
                                           else 0.95 if self.effects == "random" else 0.8))
            res._set_bayes(fit)
        if ext is not None:
            res._set_external(*ext)
        return res


def _with_aggregate(data: pd.DataFrame, agg: pd.DataFrame, *, trial: str, treatment: str,
                    outcome: str, risk: str | None, events: str, n: str,
                    mean_risk: str | None) -> tuple[pd.DataFrame, np.ndarray]:
    """IPD rows plus the aggregate arms expanded exactly to 0/1 rows (vectorised), and
    the mask of the expanded rows."""
    from ..errors import DataError

    if not isinstance(agg, pd.DataFrame):
        raise ModelSpecificationError(
            f"aggregate must be a DataFrame of arms, not {type(agg).__name__}")
    for col, role in [(trial, "trial (aggregate)"), (treatment, "treatment (aggregate)"),
                      (events, "aggregate_events"), (n, "aggregate_n")] + (
            [(mean_risk, "aggregate_risk")] if mean_risk is not None else []):
        _check_column(agg, col, role)
    if mean_risk is not None and risk is None:
        raise ModelSpecificationError("aggregate_risk= needs a risk term (risk=...)")
    ev = pd.to_numeric(agg[events], errors="coerce").to_numpy(dtype=float)
    nn = pd.to_numeric(agg[n], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(ev) & np.isfinite(nn)) | (ev < 0) | (nn < 1) | (ev > nn) | (
        ev != np.round(ev)) | (nn != np.round(nn))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"aggregate row {agg.index[i]!r} (trial {agg[trial].iloc[i]!r}, treatment "
            f"{agg[treatment].iloc[i]!r}): {events} = {agg[events].iloc[i]!r}, {n} = "
            f"{agg[n].iloc[i]!r}; need whole numbers with n >= 1 and 0 <= events <= n")
    at = agg[trial].astype(str).to_numpy()
    atr = agg[treatment].astype(str).to_numpy()
    key = pd.Series(list(zip(at, atr)))
    if key.duplicated().any():
        i = int(np.flatnonzero(key.duplicated().to_numpy())[0])
        raise DataError(f"aggregate trial {at[i]!r} has two rows for treatment {atr[i]!r}; "
                        "give one row per arm")
    clash = sorted(set(at) & set(data[trial].astype(str)))
    if clash:
        raise DataError(
            f"aggregate trial(s) {clash} also appear in the IPD column {trial!r}; a trial "
            "enters either as IPD or as aggregate data: relabel the aggregate trials (e.g. "
            "'AD1').")
    ev, nn = ev.astype(int), nn.astype(int)
    reps = np.column_stack([ev, nn - ev]).ravel()
    arm = np.repeat(np.repeat(np.arange(len(agg)), 2), reps)
    y = np.repeat(np.tile([1, 0], len(agg)), reps)
    rows = {trial: at[arm], treatment: atr[arm], outcome: y}
    if risk is not None:
        rows[risk] = (pd.to_numeric(agg[mean_risk], errors="coerce").to_numpy(float)[arm]
                      if mean_risk is not None else np.full(arm.size, np.nan))
    cols = [trial, treatment, outcome] + ([risk] if risk is not None else [])
    ipd = data[cols].copy()
    ipd[trial] = ipd[trial].astype(str)
    ad = pd.DataFrame(rows, index=np.full(arm.size, -1))
    both = pd.concat([ipd, ad])
    mask = np.r_[np.zeros(len(ipd), bool), np.ones(arm.size, bool)]
    return both, mask


def _external_counts(ext: pd.DataFrame, outcome: str) -> tuple[int, int]:
    if not isinstance(ext, pd.DataFrame):
        raise ModelSpecificationError("external_control must be a DataFrame of control patients")
    _check_column(ext, outcome, "outcome (external control)")
    y = pd.to_numeric(ext[outcome], errors="coerce")
    if y.isna().any():
        raise OutcomeError(
            f"external_control has {int(y.isna().sum())} missing/non-numeric values in "
            f"{outcome!r}; drop them first.")
    if not np.isin(y.to_numpy(), [0, 1]).all():
        raise OutcomeError(f"external_control column {outcome!r} must be coded 0/1.")
    k, n = int(y.sum()), int(y.size)
    if n == 0 or k in (0, n):
        raise OutcomeError(
            f"external_control has {k} events in {n} patients: its log-odds is not finite.")
    return k, n


class RiskNMRResult(ResultsMixin):
    """A fitted :class:`RiskNMR`.

    Attributes
    ----------
    params : DataFrame
        One row per parameter (``u[trial]``, ``d[treatment]``, ``g0``,
        ``gamma[treatment]``, ``tau``, ``alpha[external]``) with ``estimate``,
        ``se`` (posterior sd for the Bayesian engine), ``lower``, ``upper`` and,
        for the Bayesian engine, ``r_hat``, ``ess_bulk``, ``ess_tail``.
    inference_data : arviz.InferenceData or None
        Posterior (Bayesian engine).
    treatments, trials, reference
        Model labels.
    risk_centre : float or None
        Centre of the risk covariate used for predictions (``Rbar``: the mean over
        all patients for ``centring="trial"`` or ``"global"``, or the given number).
    centre_trial : pandas.Series or None
        The per-trial centring values ``Rbar_j`` subtracted from each trial's risk
        covariate in the fit (``centring="trial"``: the trial's mean risk on the
        ``risk_scale``; otherwise ``risk_centre`` for every trial); None without a
        risk term.
    control_model : DataFrame or None
        After ``predict(baseline="control-model")``: intercept ``a`` and slope ``b``
        (estimate, se) of ``logit P(event | reference) = a + b (R - Rbar)``.

    Examples
    --------
    :meth:`RiskNMR.fit` returns the result; the ML engine is quick:

    >>> import numpy as np, pandas as pd
    >>> from ipdma.nmr import RiskNMR
    >>> rng = np.random.default_rng(1)
    >>> n = 300
    >>> df = pd.DataFrame({"trial": np.repeat(["T1", "T2", "T3"], n // 3),
    ...                    "treat": rng.choice(["placebo", "A"], n),
    ...                    "logit_risk": rng.normal(-0.5, 0.8, n)})
    >>> eta = df.logit_risk - 0.7 * (df.treat == "A")
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    >>> res = RiskNMR(engine="ml").fit(df, trial="trial", treatment="treat", outcome="y")
    >>> type(res).__name__, res.reference, res.treatments
    ('RiskNMRResult', 'placebo', ['placebo', 'A'])
    >>> res.params.index.tolist()
    ['u[T1]', 'u[T2]', 'u[T3]', 'd[A]', 'g0', 'gamma[A]']
    >>> res.params.columns.tolist()
    ['estimate', 'se', 'lower', 'upper']
    >>> res.predict(risk=[0.2, 0.5]).shape  # 2 baseline risks x 2 treatments
    (4, 13)
    >>> res.recommend(risk=[0.2, 0.5])["treatment"].tolist()
    ['A', 'A']
    """

    def __init__(self, model: RiskNMR, design: NMRDesign, *, seed: int, columns: dict):
        self.model = model
        self.design = design
        self.seed = seed
        self.columns = columns
        self.engine = model.engine
        self.effects = model.effects
        self.treatments = design.treatments
        self.trials = design.trials
        self.reference = design.reference
        self.risk_centre = design.centre_pred
        self.centre_trial = (pd.Series(design.centre_trial, index=design.trials,
                                       name="centre")
                             if design.centre_trial is not None else None)
        self.control_model = None
        self._control_fit = None
        self.level = model.level
        self.inference_data = None
        self.diagnostics: dict = {}
        self._external: tuple[int, int] | None = None
        self._theta_draws: np.ndarray | None = None
        self.params: pd.DataFrame | None = None

    # ------------------------------------------------------------------ set-up
    @property
    def _names(self) -> list[str]:
        return self.design.param_names()

    def _set_ml(self, fit) -> None:
        self._ml = fit
        self.coef = pd.Series(fit.coef, index=self._names)
        self.cov = pd.DataFrame(fit.cov, index=self._names, columns=self._names)
        self.loglik = fit.loglik
        self.tau = fit.tau
        se = np.sqrt(np.diag(fit.cov))
        z = stats.norm.ppf(0.5 + self.level / 2)
        tab = pd.DataFrame({"estimate": fit.coef, "se": se, "lower": fit.coef - z * se,
                            "upper": fit.coef + z * se}, index=self._names)
        if fit.tau is not None:
            lo = max(fit.tau - z * fit.tau_se, 0.0) if np.isfinite(fit.tau_se) else np.nan
            hi = fit.tau + z * fit.tau_se if np.isfinite(fit.tau_se) else np.nan
            tab.loc["tau"] = [fit.tau, fit.tau_se, lo, hi]
        tab.index.name = "parameter"
        self.params = tab
        self.diagnostics = {"loglik": fit.loglik, "iterations": fit.iterations,
                            "converged": fit.converged}
        rng = np.random.default_rng([self.seed, 1])
        self._theta_draws = rng.multivariate_normal(fit.coef, fit.cov, size=int(self.model.n_sim),
                                                    method="eigh")

    def _set_bayes(self, fit) -> None:
        self._bayes = fit
        self.inference_data = fit.inference_data
        self.diagnostics = dict(fit.diagnostics, seconds=fit.seconds)
        s = fit.samples
        parts = [s["u"], s["d"]]
        if self.design.has_risk:
            parts += [s["g0"][..., None], s["gamma"]]
        th = np.concatenate(parts, axis=-1)               # (chains, draws, P)
        self._theta_draws = th.reshape(-1, th.shape[-1])
        names = list(self._names)
        allp = th
        self.tau = None
        if "tau" in s:
            allp = np.concatenate([th, s["tau"][..., None]], axis=-1)
            names.append("tau")
            self.tau_draws = s["tau"].ravel()
            self.tau = float(s["tau"].mean())
        self.params = self._table_from_draws(allp, names)
        self.coef = self.params["estimate"].loc[self._names]

    def _table_from_draws(self, draws: np.ndarray, names: list[str]) -> pd.DataFrame:
        az = import_optional("arviz")

        a = (1 - self.level) / 2
        flat = draws.reshape(-1, draws.shape[-1])
        tab = pd.DataFrame({
            "estimate": flat.mean(0), "se": flat.std(0, ddof=1),
            "lower": np.quantile(flat, a, axis=0), "upper": np.quantile(flat, 1 - a, axis=0),
        }, index=pd.Index(names, name="parameter"))
        if draws.ndim == 3:
            ds = az.convert_to_dataset({"theta": draws})
            tab["r_hat"] = (az.rhat(ds)["theta"].to_numpy() if draws.shape[0] > 1
                            else np.full(draws.shape[-1], np.nan))
            tab["ess_bulk"] = az.ess(ds, method="bulk")["theta"].to_numpy()
            tab["ess_tail"] = az.ess(ds, method="tail")["theta"].to_numpy()
        return tab

    def _set_external(self, events: int, n: int) -> None:
        self._external = (events, n)
        S = self._theta_draws.shape[0]
        if self.engine == "ml":
            p = events / n
            est, se = float(np.log(p / (1 - p))), float(1 / np.sqrt(n * p * (1 - p)))
            rng = np.random.default_rng([self.seed, 2])
            self._alpha_ext = (est, se)
            self._alpha_draws = est + se * rng.standard_normal(S)
            z = stats.norm.ppf(0.5 + self.level / 2)
            row = [est, se, est - z * se, est + z * se]
            self.params.loc["alpha[external]"] = row + [np.nan] * (self.params.shape[1] - 4)
        else:
            from ._bayes import sample_external_intercept

            rng = np.random.default_rng([self.seed, 2])
            draws = sample_external_intercept(events, n, self.model.prior_sd, S, rng)
            self._alpha_draws = draws
            m = draws.mean()
            self._alpha_ext = (float(m), float(draws.std(ddof=1)))
            chains = int(self.model.chains)
            tab = self._table_from_draws(draws.reshape(chains, -1, 1), ["alpha[external]"])
            self.params = pd.concat([self.params.drop(index="alpha[external]", errors="ignore"),
                                     tab])
            self.params.index.name = "parameter"

    # ------------------------------------------------------------- predictions
    def _linear_maps(self, xc: np.ndarray, baseline: str) -> np.ndarray:
        """(G, T, P) matrices: logit P_k(x) = M[g, k] . theta (+ external alpha).

        ``baseline="trials"`` averages the trial-specific predictions,
        ``mean_j [u_j + d_k + (g0 + gamma_k)(x - xbar_j)]``, which does not depend on
        the choice of reference treatment."""
        d = self.design
        J, T = d.n_trials, d.n_treatments
        P = len(self._names)
        G = xc.size
        M = np.zeros((G, T, P))
        if baseline == "trials":
            M[:, :, :J] = 1.0 / J
            if d.has_risk:
                xc = xc + float(d.centre_pred - np.mean(d.centre_trial))
        for k in range(1, T):
            M[:, k, J + k - 1] += 1.0
        if d.has_risk:
            M[:, :, J + T - 1] += xc[:, None]
            for k in range(1, T):
                M[:, k, J + T - 1 + k] += xc
        return M

    def predict(
        self,
        risk: Sequence[float] | np.ndarray | pd.DataFrame | None = None,
        *,
        baseline: Literal["external", "trials", "control-model"] | None = None,
        external_control: pd.DataFrame | None = None,
        point: Literal["logit_mean", "mean"] = "logit_mean",
    ) -> pd.DataFrame:
        """Absolute predictions under every treatment.

        Parameters
        ----------
        risk : array of baseline risks in (0, 1), DataFrame or None
            A grid of baseline (treatment-blind, stage-1) risks, or a patient
            DataFrame holding the fitted ``risk`` column (logit scale).  ``None``
            gives the grid 0.01, 0.02, ..., 0.99.
        baseline : {"external", "trials"}, optional
            Source of the reference-treatment log-odds at the mean risk: the
            external control cohort (intercept only, as in the original analysis;
            default when one was given to ``fit`` or here) or the trials
            (the average over trials, with equal weights, of the trial-specific
            predicted log-odds ``u_j + d_k + (g0 + gamma_k)(R - Rbar_j)``), or
            ``"control-model"``: a logistic regression of the outcome of the
            reference-treatment (control) arms of the trials on the risk covariate,
            ``logit P_ref(R) = a + b (R - Rbar)`` (intercept *and* slope, stored in
            ``control_model``), so that a risk score developed on the control arms
            reproduces their risk exactly; treatment k adds ``d_k + gamma_k (R - Rbar)``.
            Its intervals treat ``(a, b)`` as independent of the NMR estimates
            (normal draws from their ML covariance for the Bayesian engine).
        external_control : DataFrame, optional
            Control cohort (outcome column as in ``fit``); replaces the one given to
            ``fit`` for this and later predictions (and the ``alpha[external]`` row
            of ``params``).
        point : {"logit_mean", "mean"}
            Bayesian point prediction: ``expit`` of the posterior mean of the
            log-odds (as the original code) or the posterior mean probability.
            ML uses the plug-in estimate.

        Returns
        -------
        DataFrame
            One row per grid point (or patient) and treatment: ``baseline_risk``,
            ``treatment``, ``prob`` (+ ``_lower``/``_upper``), ``ard`` = P(reference) -
            P(treatment) (positive = fewer events with a harmful outcome), ``or`` vs
            the reference, ``p_best`` (probability of being best) and
            ``recommended`` (the treatment with the best point prediction).

        Notes
        -----
        With random treatment effects the predictions use the mean (network)
        treatment effects ``d_t``; intervals do not include the between-trial
        heterogeneity ``tau``.
        """
        check_is_fitted(self, "_theta_draws")
        d = self.design
        if external_control is not None:
            self._set_external(*_external_counts(external_control, self.columns["outcome"]))
        if baseline is None:
            baseline = "external" if self._external is not None else "trials"
        if baseline not in ("external", "trials", "control-model"):
            raise ModelSpecificationError(
                f"baseline must be 'external', 'trials' or 'control-model', not {baseline!r}")
        if baseline == "control-model":
            self._fit_control_model()
        if baseline == "external" and self._external is None:
            raise ModelSpecificationError(
                "baseline='external' needs an external control cohort: pass "
                "external_control= to fit() or predict(), or use baseline='trials'.")
        index_name = "baseline_risk"
        if risk is None:
            risk = np.round(np.arange(1, 100) / 100.0, 2)
        if isinstance(risk, pd.DataFrame):
            col = self.columns["risk"]
            if col is None:
                raise ModelSpecificationError("the model has no risk term: predict on a grid")
            if col not in risk.columns:
                raise ColumnNotFoundError(
                    f"risk column {col!r} (used in fit) is not in the prediction data")
            r = pd.to_numeric(risk[col], errors="coerce").to_numpy(float)
            if not np.all(np.isfinite(r)):
                raise ModelSpecificationError(f"risk column {col!r} has missing/non-finite values")
            rows = np.asarray(risk.index)
            p0 = expit(r)
            index_name = "row"
        else:
            p0 = np.asarray(risk, dtype=float).ravel()
            if p0.size == 0 or np.any(~np.isfinite(p0)) or np.any((p0 <= 0) | (p0 >= 1)):
                raise ModelSpecificationError(
                    "risk grid values must be baseline risks strictly between 0 and 1")
            r = logit(p0)
            rows = None
        if d.has_risk:
            xv = r if self.model.risk_scale == "logit" else p0
            xc = xv - d.centre_pred
        else:
            xc = np.zeros_like(r)
        out = self._predict_x(xc, baseline, point)
        G, T = xc.size, d.n_treatments
        frame = pd.DataFrame({
            "baseline_risk": np.repeat(p0, T),
            "treatment": np.tile(self.treatments, G),
        })
        if rows is not None:
            frame.insert(0, "row", np.repeat(rows, T))
        for k, v in out.items():
            frame[k] = v.reshape(-1)
        frame.attrs["index"] = index_name
        return frame

    def _fit_control_model(self) -> None:
        """Logistic regression of the reference arms' outcome on the centred risk."""
        if self._control_fit is not None:
            return
        d = self.design
        if not d.has_risk:
            raise ModelSpecificationError("baseline='control-model' needs a model with a risk "
                                          "term (risk= in fit)")
        from ._ml import irls_logistic

        m = d.trt_idx == 0
        if m.sum() < 3 or d.y[m].min() == d.y[m].max():
            raise ModelSpecificationError(
                f"baseline='control-model' needs events and non-events in the "
                f"{self.reference!r} arms ({int(m.sum())} patients, {int(d.y[m].sum())} "
                "events); use baseline='trials' or an external control cohort")
        xc = d.x_raw[m] - d.centre_pred
        fit = irls_logistic(np.column_stack([np.ones(int(m.sum())), xc]), d.y[m])
        se = np.sqrt(np.diag(fit.cov))
        z = stats.norm.ppf(0.5 + self.level / 2)
        self.control_model = pd.DataFrame(
            {"estimate": fit.coef, "se": se, "lower": fit.coef - z * se,
             "upper": fit.coef + z * se}, index=pd.Index(["a", "b"], name="parameter"))
        rng = np.random.default_rng([self.seed, 3])
        S = self._theta_draws.shape[0]
        L = np.linalg.cholesky(fit.cov)
        self._control_fit = (fit.coef, fit.cov, fit.coef + rng.standard_normal((S, 2)) @ L.T)

    def _predict_x(self, xc: np.ndarray, baseline: str, point: str) -> dict[str, np.ndarray]:
        d = self.design
        T = d.n_treatments
        G = xc.size
        control = baseline == "control-model"
        M = self._linear_maps(xc, "external" if control else baseline)   # (G, T, P)
        if control:
            # the reference log-odds come from the control model: drop g0 * (R - Rbar)
            M[:, :, d.n_trials + T - 1] -= xc[:, None]
        use_ext = baseline in ("external", "control-model")
        a = (1 - self.level) / 2
        th = self._theta_draws
        if control:
            coef, cov, draws = self._control_fit
            Xa = np.column_stack([np.ones(G), xc])
            alpha_d = draws @ Xa.T                                       # (S, G)
            self._alpha_grid = (Xa @ coef, np.einsum("gi,ij,gj->g", Xa, cov, Xa))
        else:
            alpha_d = (self._alpha_draws if use_ext else np.zeros(th.shape[0]))[:, None] \
                * np.ones((1, G))
            self._alpha_grid = None
        res = {k: np.empty((G, T)) for k in
               ("prob", "prob_lower", "prob_upper", "ard", "ard_lower", "ard_upper",
                "or", "or_lower", "or_upper", "p_best")}
        sign = -1.0 if not self.model.higher_is_better else 1.0
        chunk = max(1, 2_000_000 // (T * th.shape[0]))
        for s in range(0, G, chunk):
            Mc = M[s:s + chunk]                              # (g, T, P)
            sl = slice(s, s + Mc.shape[0])
            lp = np.einsum("gtp,sp->sgt", Mc, th) + alpha_d[:, sl, None]  # (S, g, T)
            pr = expit(lp)
            ard = pr[:, :, :1] - pr
            lor = lp - lp[:, :, :1]
            best = np.argmax(sign * pr, axis=2)              # (S, g)
            pb = np.stack([(best == k).mean(0) for k in range(T)], axis=1)
            res["p_best"][sl] = pb
            if self.engine == "bayes":
                lpm = lp.mean(0)
                res["prob"][sl] = expit(lpm) if point == "logit_mean" else pr.mean(0)
                pm = res["prob"][sl]
                res["ard"][sl] = (pm[:, :1] - pm) if point == "logit_mean" else ard.mean(0)
                res["or"][sl] = np.exp(lor.mean(0))
                for key, arr in (("prob", pr), ("ard", ard), ("or", np.exp(lor))):
                    q = np.quantile(arr, [a, 1 - a], axis=0)
                    res[key + "_lower"][sl], res[key + "_upper"][sl] = q[0], q[1]
            else:
                self._wald(Mc, use_ext, res, sl)
        best_point = np.argmax(sign * res["prob"], axis=1)
        rec = np.zeros((G, T), dtype=bool)
        rec[np.arange(G), best_point] = True
        res["recommended"] = rec
        return res

    def _wald(self, Mc: np.ndarray, use_ext: bool, res: dict, sl: slice) -> None:
        z = stats.norm.ppf(0.5 + self.level / 2)
        theta = self._ml.coef
        V = self._ml.cov
        if getattr(self, "_alpha_grid", None) is not None:
            a_est = self._alpha_grid[0][sl][:, None]
            a_var = self._alpha_grid[1][sl][:, None]
        else:
            a_est, a_var = ((self._alpha_ext[0], self._alpha_ext[1] ** 2) if use_ext
                            else (0.0, 0.0))
        lp = Mc @ theta + a_est                               # (g, T)
        var = np.einsum("gtp,pq,gtq->gt", Mc, V, Mc) + a_var
        se = np.sqrt(np.maximum(var, 0))
        pr = expit(lp)
        res["prob"][sl] = pr
        res["prob_lower"][sl], res["prob_upper"][sl] = expit(lp - z * se), expit(lp + z * se)
        # log OR vs reference and ARD by the delta method (alpha cancels in the log OR)
        Dm = Mc - Mc[:, :1]
        lor = Dm @ theta
        se_lor = np.sqrt(np.maximum(np.einsum("gtp,pq,gtq->gt", Dm, V, Dm), 0))
        res["or"][sl] = np.exp(lor)
        res["or_lower"][sl], res["or_upper"][sl] = np.exp(lor - z * se_lor), np.exp(lor + z * se_lor)
        w = pr * (1 - pr)
        gvec = w[:, :1, None] * Mc[:, :1] - w[:, :, None] * Mc          # (g, T, P)
        galpha = w[:, :1] - w
        var_ard = np.einsum("gtp,pq,gtq->gt", gvec, V, gvec) + galpha ** 2 * a_var
        se_ard = np.sqrt(np.maximum(var_ard, 0))
        ard = pr[:, :1] - pr
        res["ard"][sl] = ard
        res["ard_lower"][sl], res["ard_upper"][sl] = ard - z * se_ard, ard + z * se_ard

    def recommend(self, risk=None, **kw) -> pd.DataFrame:
        """One row per grid point / patient: the recommended treatment (best point
        prediction), its predicted probability and probability of being best."""
        pr = self.predict(risk, **kw)
        key = "row" if "row" in pr.columns else "baseline_risk"
        return pr.loc[pr["recommended"], [key, "treatment", "prob", "p_best"]].reset_index(
            drop=True)

    # ------------------------------------------------------------- protocol
    def summary(self) -> Summary:
        d = self.design
        info = {
            "engine": self.engine + (f" (NUTS, {self.model.chains} chains x "
                                     f"{self.model.draws} draws)" if self.engine == "bayes"
                                     else (f" (GLMM, nAGQ={self.model.n_agq})"
                                           if self.effects == "random" else " (GLM)")),
            "treatment effects": self.effects,
            "patients": d.n,
            "events": int(d.y.sum()),
            "trials": d.n_trials,
            "treatments": ", ".join(self.treatments),
            "reference": self.reference,
        }
        if d.has_risk:
            info["risk covariate"] = (f"{self.columns['risk']} ({self.model.risk_scale} scale), "
                                      f"centred per {self.model.centring}")
            info["prediction centre"] = float(d.centre_pred)
        if self.engine == "ml":
            info["log-likelihood"] = float(self.loglik)
        else:
            info["max R-hat"] = self.diagnostics.get("max_rhat")
            info["min bulk ESS"] = self.diagnostics.get("min_ess_bulk")
            info["divergences"] = self.diagnostics.get("divergences")
        notes = ["u[j]: reference log-odds at trial j's mean risk; d, gamma: log OR and risk "
                 "interaction vs the reference; g0: prognostic slope under the reference."]
        if self.engine == "bayes":
            notes.append("se = posterior sd; lower/upper = equal-tailed credible interval.")
        return Summary(title="Risk-based IPD network meta-regression",
                       tables={"parameters": self.params}, info=info, notes=notes)

    def to_frame(self) -> pd.DataFrame:
        """The parameter table as a tidy DataFrame (one row per parameter)."""
        return self.params.reset_index()

    def plot(self, kind: Literal["risk", "or", "benefit", "which"] = "risk", ax=None, *,
             baseline: str | None = None, data: pd.DataFrame | None = None, **kw):
        """Plot predictions against baseline risk.

        ``kind="risk"``: predicted outcome probability per treatment with bands;
        ``"or"``: odds ratio vs the reference; ``"benefit"``: absolute risk
        difference (reference minus treatment); ``"which"``: per-patient
        probability of each treatment being best, patients ordered by baseline
        risk (the fitted patients unless ``data`` is given), with the
        recommended treatment underneath.  Returns the Axes.
        """
        from ._plots import plot_result

        return plot_result(self, kind=kind, ax=ax, baseline=baseline, data=data, **kw)

    def observed_risk_range(self) -> tuple[float, float]:
        """Min and max baseline risk (probability) among the fitted patients."""
        r = self.design.risk_logit
        if r is None:
            raise ModelSpecificationError("the model has no risk term")
        r = r[~self.design.is_ad] if self.design.is_ad.size else r
        return float(expit(r.min())), float(expit(r.max()))

    def fitted_risk_frame(self) -> pd.DataFrame:
        """The fitted patients' risk scores (canonical order), for per-patient predictions."""
        col = self.columns["risk"]
        ipd = ~self.design.is_ad if self.design.is_ad.size else slice(None)
        return pd.DataFrame({col: self.design.risk_logit[ipd]},
                            index=self.design.source_index[ipd])

    def save(self, path, *, risk_model=None, **kwargs):
        """Write this result (with its stage-1 ``risk_model``) as a versioned JSON model
        file; see :func:`ipdma.serialize.save_model` and ``load_model``."""
        from ..serialize import save_model

        return save_model(self, path, risk_model=risk_model, **kwargs)

    def export_calculator(self, path, **options):
        """Write a per-patient calculator page (one self-contained HTML file) for this
        model; see :func:`ipdma.calculator.export_calculator` for the options (``risk_model=`` the stage-1
        :class:`ipdma.prognosis.RiskModel` whose ``predict_logit`` gave the risk column, and
        ``data=`` its development data, so that the clinician enters the patient's
        characteristics)."""
        from ..calculator import export_calculator

        return export_calculator(self, path, **options)

"""Internal validation of the baseline-risk model: Harrell's bootstrap optimism
correction and internal-external cross-validation (leave one trial out)."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .._base import ResultsMixin, Summary, check_random_state, progress_bar
from ..errors import ConvergenceWarning, IPDMAWarning, ModelSpecificationError
from ._metrics import (
    METRICS,
    calibration_by_trial,
    calibration_summary,
    performance,
    performance_se,
)

__all__ = ["ValidationResult", "validate"]


class ValidationResult(ResultsMixin):
    """Result of :meth:`RiskModel.validate`.

    Attributes
    ----------
    method : "bootstrap" or "iecv"
    table : DataFrame
        Bootstrap: index = measure (:data:`~ipdma.prognosis.METRICS`), columns
        ``apparent``, ``optimism``, ``corrected``, ``optimism_se`` (the Monte-Carlo
        SE of the optimism), ``apparent_se`` (the SE of the apparent measure on the
        development data: DeLong for the c-statistic, the ``glm`` SEs for the
        calibration slope, intercept and CITL, ``sd((p - y)^2) / sqrt(n)`` for the
        Brier score; with multiple imputation pooled by Rubin's rules) and
        ``corrected_se = sqrt(apparent_se^2 + optimism_se^2)``: the optimism is
        treated as a fixed correction estimated with Monte-Carlo error, so the
        corrected measure has the sampling variance of the apparent one plus that
        error (an approximation; bootstrap the whole validation for an exact
        interval).  ``ci_lower``/``ci_upper``: Wald interval of ``corrected``.
        IECV: one row per held-out trial (``trial``, ``n``, ``events``, the five
        measures and their ``<measure>_se``).
    overall : DataFrame or None
        IECV only: the measures on all out-of-trial predictions stacked
        (``stacked``, with ``stacked_se``), and their n-weighted mean over trials.
    draws : DataFrame or None
        Bootstrap only: ``apparent_b`` and ``test_b`` per replicate.
    calibration : DataFrame
        Calibration per trial (index ``trial``) and over all rows (last row:
        ``overall`` for the bootstrap's apparent predictions, ``stacked`` for the
        IECV out-of-trial predictions): ``n``, ``events``, calibration ``intercept``
        and ``slope`` (``glm(y ~ lp)``), ``citl`` (``glm(y ~ offset(lp))``), each
        with ``_se``, ``oe`` (observed/expected) with ``log_oe_se``,
        ``mean_predicted`` and ``observed`` rates (see
        :func:`~ipdma.prognosis.calibration_stats`).  IECV: per held-out trial.
        With multiple imputation, on the predictions averaged over imputations.
    calibration_summary : DataFrame or None
        REML random-effects meta-analysis of the per-trial intercept, CITL, slope
        and log O/E (estimate, se, tau2, confidence and prediction intervals);
        None with fewer than 2 trials.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.prognosis import RiskModel
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"x": rng.normal(size=600), "trial": rng.choice(["A", "B", "C"], 600)})
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-df.x)))
    >>> m = RiskModel("glm").fit(df, outcome="y", covariates=["x"], trial="trial")
    >>> v = m.validate(B=20, random_state=1)
    >>> v.table.columns.tolist()[:4]
    ['apparent', 'optimism', 'corrected', 'optimism_se']
    >>> m.validate(method="iecv").table["trial"].tolist()
    ['A', 'B', 'C']
    """

    def __init__(self, method, table, lp, y, groups=None, overall=None, draws=None,
                 info=None, group_data=None):
        self.method = method
        self.table = table
        self.overall = overall
        self.draws = draws
        self.info = dict(info or {})
        self._lp = lp
        self._y = y
        self._groups = groups
        self._group_data = group_data
        self.calibration = calibration_by_trial(
            lp, y, groups, overall="stacked" if method == "iecv" else "overall")
        per_trial = self.calibration.iloc[:-1]
        self.calibration_summary = (calibration_summary(per_trial) if len(per_trial) >= 2
                                    else None)

    def summary(self) -> Summary:
        if self.method == "bootstrap":
            title = "Bootstrap optimism-corrected performance"
            tables = {"": self.table}
        else:
            title = "Internal-external cross-validation (leave one trial out)"
            tables = {"per held-out trial": self.table.set_index("trial"),
                      "overall": self.overall}
        tables["calibration"] = self.calibration
        if self.calibration_summary is not None:
            tables["calibration across trials (REML)"] = self.calibration_summary
        notes = [f"{k}: {v}" for k, v in self.info.items() if k in ("notes",)]
        info = {k: v for k, v in self.info.items() if k != "notes"}
        return Summary(title, tables=tables, info=info, notes=notes)

    def to_frame(self) -> pd.DataFrame:
        if self.method == "bootstrap":
            return self.table.rename_axis("measure").reset_index()
        return self.table.copy()

    def plot(self, ax=None):
        """Calibration plot (see :meth:`plot_calibration`)."""
        return self.plot_calibration(ax=ax)

    def plot_calibration(self, ax=None, n_groups: int = 10):
        """Bootstrap: apparent calibration with optimism-corrected measures
        annotated.  IECV: out-of-trial predictions, lowess per held-out trial."""
        from ._plots import plot_calibration

        if self.method == "bootstrap":
            t = self.table["corrected"]
            ann = {"c (corrected)": t["c_statistic"], "slope (corrected)":
                   t["calibration_slope"], "CITL (corrected)": t["citl"]}
            return plot_calibration(self._lp, self._y, ax=ax, n_groups=n_groups,
                                    title="Calibration (apparent curve, corrected measures)",
                                    annotate=ann)
        return plot_calibration(self._lp, self._y, ax=ax, n_groups=n_groups,
                                groups=self._groups,
                                title="Calibration in held-out trials (IECV)")

    def plot_risk_distribution(self, ax=None, by: str | None = None):
        """Predicted-risk distribution of the development rows by trial (default)
        or arm (``by="arm"``)."""
        from scipy import special

        from ._plots import plot_risk_distribution

        gd = self._group_data
        roles = gd.attrs.get("roles", {}) if gd is not None else {}
        if by in (None, "trial"):
            col = roles.get("trial") or roles.get("treatment")
        elif by in ("arm", "treatment"):
            col = roles.get("treatment")
            if col is None:
                raise ModelSpecificationError("by='arm' needs treatment= at fit time")
        elif gd is not None and by in gd.columns:
            col = by
        else:
            raise ModelSpecificationError(f"by={by!r}: use 'trial' or 'arm'")
        groups = gd[col].to_numpy() if col is not None else None
        return plot_risk_distribution(special.expit(self._lp), groups, ax=ax, label=col)


def _rubin_se(est: pd.DataFrame, se: pd.DataFrame) -> pd.Series:
    """Rubin's rules over imputations (rows): sqrt(W + (1 + 1/m) B); the SE itself
    with a single data set."""
    m = len(est)
    w = (se ** 2).mean()
    if m == 1:
        return np.sqrt(w)
    return np.sqrt(w + (1 + 1 / m) * est.var(ddof=1))


def _fixed_tuning(model, est, k, retune):
    if not getattr(est, "tuned", False) or retune:
        return None
    fits = model._imputation_fits
    if fits is not None:
        return fits[k].info.get("penalty")
    return model._params.info.get("penalty")


def validate(model, B: int = 200, method: Literal["bootstrap", "iecv"] = "bootstrap",
             random_state=None, retune: bool = True,
             progress: bool | None = False) -> ValidationResult:
    """Internal validation of a fitted :class:`~ipdma.prognosis.RiskModel`.

    ``method="bootstrap"`` (Harrell): for b = 1..B draw a bootstrap sample of
    the development rows, repeat the whole fitting procedure on it (including
    the penalty / lambda search when the penalty is tuned and ``retune=True``,
    the honest procedure; ``retune=False`` keeps the penalty chosen on the full
    data, much faster but optimistic), and compute the measures on the sample
    (apparent_b) and on the original rows (test_b).  Optimism =
    mean(apparent_b - test_b); corrected = apparent - optimism.  Measures:
    c-statistic, calibration slope, calibration-in-the-large, Brier score;
    predictions use the average intercept.

    ``method="iecv"``: each trial in turn is held out, the procedure is fitted
    on the other trials and evaluated on it.

    With ``missing="mice"`` the validation runs on each completed data set
    (B replicates each) and the measures are averaged over imputations.

    Cost: a fixed-penalty PMLE/glm refit on ~3,500 rows takes ~2 ms, so B=200
    takes a second; retuning the PMLE AIC grid costs ~50 fits per replicate and
    a 10-fold CV lasso ~11 path fits (each ~0.1-0.5 s) per replicate.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.prognosis import RiskModel, validate
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "trial": np.repeat(["A", "B", "C"], 100)})
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-df.x)))
    >>> model = RiskModel("glm").fit(df, outcome="y", covariates=["x"], trial="trial")
    >>> boot = validate(model, B=20, random_state=1)
    >>> boot.method, boot.info["successful_replicates"]
    ('bootstrap', 20)
    >>> boot.table.index.tolist()
    ['c_statistic', 'calibration_slope', 'calibration_intercept', 'citl', 'brier']
    >>> iecv = validate(model, method="iecv")
    >>> iecv.table[["trial", "n"]].values.tolist()
    [['A', 100], ['B', 100], ['C', 100]]
    """
    if getattr(model, "_use", None) is None:
        from ..errors import NotFittedError

        raise NotFittedError("validate() needs the development data: fit the model first "
                             "(a model loaded from JSON cannot be validated)")
    if method not in ("bootstrap", "iecv"):
        raise ModelSpecificationError(f"method must be 'bootstrap' or 'iecv' (got {method!r})")
    if B < 1:
        raise ModelSpecificationError(f"B must be >= 1 (got {B})")
    rng = check_random_state(random_state)
    est = model._estimator_obj
    use, y = model._use, model._y
    tc_all = model._trial_codes
    tc = tc_all[use] if tc_all is not None else None
    n_tr = len(model._trial_labels)
    te = model.trial_effect
    fits = model._imputation_fits or [model._params]
    datasets = model._completed
    gd = model._data_cols.loc[use].reset_index(drop=True)
    gd.attrs["roles"] = {k: v for k, v in (("trial", model.trial_),
                                           ("treatment", model.treatment_)) if v is not None}
    info = {"model": model.method, "n": int(use.sum()), "events": int(y.sum()),
            "imputations": len(datasets)}
    caught_total = 0

    if method == "bootstrap":
        app_list, opt_list, draws, app_se_list = [], [], [], []
        iterator = range(B)
        for k, (Xfull, fit0) in enumerate(zip(datasets, fits, strict=True)):
            X = Xfull[use]
            lp0 = fit0.lp(X)
            app = performance(lp0, y)
            app_se_list.append(performance_se(lp0, y))
            ft = _fixed_tuning(model, est, k, retune)
            rows = []
            it = progress_bar(iterator, show=progress, total=B,
                              desc=f"bootstrap (imputation {k + 1})")
            for b in it:
                idx = rng.integers(0, len(y), len(y))
                yb = y[idx]
                if yb.min() == yb.max():
                    continue
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always", IPDMAWarning)
                    pb = est.fit(X[idx], yb, None if tc is None else tc[idx], n_tr, te, rng,
                                 fixed_tuning=ft)
                caught_total += sum(issubclass(x.category, ConvergenceWarning) for x in w)
                ab = performance(pb.lp(X[idx]), yb)
                tb = performance(pb.lp(X), y)
                rows.append({"imputation": k, "replicate": b,
                             **{f"{m}_apparent_b": ab[m] for m in METRICS},
                             **{f"{m}_test_b": tb[m] for m in METRICS}})
            d = pd.DataFrame(rows)
            draws.append(d)
            app_list.append(app)
            opt_list.append({m: float(np.mean(d[f"{m}_apparent_b"] - d[f"{m}_test_b"]))
                             for m in METRICS})
        d = pd.concat(draws, ignore_index=True)
        apparent = pd.DataFrame(app_list).mean()
        optimism = pd.DataFrame(opt_list).mean()
        diff = pd.DataFrame({m: d[f"{m}_apparent_b"] - d[f"{m}_test_b"] for m in METRICS})
        app_se = _rubin_se(pd.DataFrame(app_list), pd.DataFrame(app_se_list))
        opt_se = diff.std(ddof=1) / np.sqrt(len(diff))
        corrected = apparent - optimism
        corrected_se = np.sqrt(app_se ** 2 + opt_se ** 2)
        zq = stats.norm.ppf(0.975)
        table = pd.DataFrame({"apparent": apparent, "optimism": optimism,
                              "corrected": corrected, "optimism_se": opt_se,
                              "apparent_se": app_se, "corrected_se": corrected_se,
                              "ci_lower": corrected - zq * corrected_se,
                              "ci_upper": corrected + zq * corrected_se},
                             index=list(METRICS))
        info.update(B=B, successful_replicates=int(len(d) / len(datasets)),
                    retune=bool(retune and getattr(est, "tuned", False)))
        if caught_total:
            warnings.warn(f"{caught_total} bootstrap refits raised convergence warnings",
                          ConvergenceWarning, stacklevel=3)
        lp_plot = np.mean([f.lp(Xf[use]) for f, Xf in zip(fits, datasets, strict=True)],
                          axis=0)
        groups_b = (np.asarray(model._trial_labels, dtype=object)[tc] if tc is not None
                    else None)
        return ValidationResult("bootstrap", table, lp_plot, y, groups=groups_b, draws=d,
                                info=info, group_data=gd)

    # ---------------------------------------------------------------- IECV
    if tc is None:
        raise ModelSpecificationError("method='iecv' needs the trial column: fit with trial=")
    present = np.unique(tc)
    if len(present) < 2:
        raise ModelSpecificationError("method='iecv' needs at least 2 trials in the "
                                      "development rows")
    labels = np.asarray(model._trial_labels, dtype=object)
    per_imp = []
    lp_oot = np.zeros((len(datasets), len(y)))
    for k, Xfull in enumerate(datasets):
        X = Xfull[use]
        ft = _fixed_tuning(model, est, k, retune)
        rows = []
        for t in present:
            tr, ho = tc != t, tc == t
            if y[tr].min() == y[tr].max():
                raise ModelSpecificationError(
                    f"leaving out trial {labels[t]!r} leaves no events (or no non-events)")
            pt = est.fit(X[tr], y[tr], tc[tr], n_tr, te, rng, fixed_tuning=ft)
            lp = pt.lp(X[ho])
            lp_oot[k, ho] = lp
            rows.append({"trial": labels[t], "n": int(ho.sum()), "events": int(y[ho].sum()),
                         **performance(lp, y[ho]),
                         **{f"{m}_se": v for m, v in performance_se(lp, y[ho]).items()}})
        per_imp.append(pd.DataFrame(rows))
    table = (pd.concat(per_imp).groupby("trial", sort=False).mean(numeric_only=True)
             .reset_index())
    if len(per_imp) > 1:   # Rubin's rules for the SEs over imputations
        for m in METRICS:
            est_w = pd.DataFrame({k: d[m].to_numpy() for k, d in enumerate(per_imp)})
            se_w = pd.DataFrame({k: d[f"{m}_se"].to_numpy() for k, d in enumerate(per_imp)})
            table[f"{m}_se"] = _rubin_se(est_w.T, se_w.T).to_numpy()
    table[["n", "events"]] = table[["n", "events"]].round().astype(int)
    lp_mean = lp_oot.mean(axis=0)
    w = table["n"].to_numpy(float)
    overall = pd.DataFrame({
        "stacked": pd.Series(performance(lp_mean, y)),
        "stacked_se": pd.Series(performance_se(lp_mean, y)),
        "weighted_mean": pd.Series({m: float(np.average(table[m], weights=w))
                                    for m in METRICS}),
    })
    info.update(trials=len(present),
                notes="held-out trials are predicted with the average intercept")
    groups = labels[tc]
    return ValidationResult("iecv", table, lp_mean, y, groups=groups, overall=overall,
                            info=info, group_data=gd)

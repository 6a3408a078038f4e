"""The two-stage ITE pipeline: stage 1 per trial, stage 2 pooling, federation."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._base import ResultsMixin, Summary, check_random_state, progress_bar
from ..errors import (
    ColumnNotFoundError,
    DataError,
    InfeasibleMethodError,
    ModelSpecificationError,
    NotFittedError,
)
from ._learners import ITELearner, OLSLearner, get_learner
from ._poolers import ITEPooler, PooledITE, check_pair, get_pooler
from ._site import SiteSummary

__all__ = ["ITEData", "TwoStageITE", "fit_methods", "fit_site", "parse_methods",
           "pool_sites", "prepare_ite_data", "trial_seeds"]


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def _natural_key(label: str):
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(label))]


@dataclass
class ITEData:
    """Arrays for two-arm ITE methods: covariates X (n, p), t in {0, 1}, y, trial labels.

    Made by :func:`prepare_ite_data` from an :class:`ipdma.data.IPD` or a DataFrame;
    every function of :mod:`ipdma.ite` that takes data also accepts an ``ITEData``.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_per_trial=20)
    >>> d = prepare_ite_data(sim.ipd())
    >>> d.X.shape, d.trials[:3], d.feature_names[:3]
    ((4532, 8), ['1', '2', '3'], ['x1', 'x2', 'x3'])
    >>> trial, X, t, y = next(d.by_trial())             # one trial at a time
    >>> trial, X.shape, sorted(set(t.tolist()))
    ('1', (454, 8), [0.0, 1.0])
    """

    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    trial: np.ndarray
    trials: list[str]
    feature_names: list[str]
    outcome_type: str = "continuous"
    covariate_cols: list[str] | None = None
    #: cross-validation fold id of each patient (integers, per trial numbered
    #: consecutively), from ``prepare_ite_data(..., foldid="COLUMN")``; None: random folds
    foldid: np.ndarray | None = None
    foldid_col: str | None = None
    #: options of the outcome family (time to event: ``horizon``, ``tau``)
    family_options: dict | None = None

    @property
    def family(self):
        """The outcome family (:mod:`ipdma.families`) of ``outcome_type``."""
        from ..families import get_family

        return get_family(self.outcome_type, **(self.family_options or {}))

    def by_trial(self):
        for tr in self.trials:
            m = self.trial == tr
            yield tr, self.X[m], self.t[m], self.y[m]


def prepare_ite_data(data: Any, *, trial: str | None = None, treatment: str | None = None,
                     outcome: str | None = None, covariates: Sequence[str] | None = None,
                     treated: Any = None, foldid: str | None = None) -> ITEData:
    """Turn an :class:`ipdma.data.IPD` (or a DataFrame with column names) into :class:`ITEData`.

    ``treated`` names the treatment label coded t = 1 (default: the label that is
    not the IPD's reference).  ``foldid`` names a column of cross-validation fold
    ids for the learners that cross-validate (not a covariate): integers, numbered
    consecutively within each trial (e.g. 1..10, as R's ``cv.glmnet(foldid = )``),
    at least 3 folds per trial, none empty.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": ["a"] * 4 + ["b"] * 4, "arm": [0, 1] * 4,
    ...                    "y": [1.0, 2.0, 1.5, 2.5, 0.5, 1.0, 0.0, 2.0],
    ...                    "age": [50, 60, 55, 65, 40, 45, 70, 52]})
    >>> d = prepare_ite_data(df, trial="study", treatment="arm", outcome="y",
    ...                      covariates=["age"])
    >>> d.X.shape, d.trials, d.feature_names
    ((8, 1), ['a', 'b'], ['age'])
    >>> d.t
    array([0., 1., 0., 1., 0., 1., 0., 1.])
    """
    if isinstance(data, ITEData):
        if foldid is not None and foldid != data.foldid_col:
            raise ModelSpecificationError(
                f"foldid={foldid!r} names a data column: pass the DataFrame or IPD (ITEData "
                "already holds its fold ids, set by prepare_ite_data(..., foldid=...))")
        return data
    from_df = isinstance(data, pd.DataFrame)
    if from_df:
        missing = [n for n, v in (("trial", trial), ("treatment", treatment),
                                  ("outcome", outcome)) if v is None]
        if missing:
            raise ModelSpecificationError(
                f"with a DataFrame, pass the column names {', '.join(m + '=' for m in missing)}"
                " (or pass an ipdma.data.IPD)")
        from ..data import IPD

        data = IPD(data, trial=trial, treatment=treatment, outcome=outcome,
                   covariates=covariates)
    elif not hasattr(data, "binary_treatment"):
        raise ModelSpecificationError(
            f"data must be an ipdma.data.IPD or a pandas DataFrame, not {type(data).__name__}")
    ipd = data
    if treated is not None:
        treated = str(treated)
    elif len(getattr(ipd, "treatments", ())) > 2:
        trts = [str(x) for x in ipd.treatments]
        raise ModelSpecificationError(
            f"the treatment column has {len(trts)} treatments ({', '.join(trts)}), a "
            "treatment network: this step compares two arms. TwoStageITE, fit_methods, "
            "loto_predictions and compare_methods take the network directly (pick the "
            "network reference with reference=...); or pass treated=... and subset the "
            "data to two treatments")
    t = np.asarray(ipd.binary_treatment(treated=treated), dtype=float)
    X_df = ipd.design_matrix(covariates=list(covariates)) if covariates is not None and \
        not from_df else ipd.design_matrix()
    if X_df.shape[1] == 0:
        raise ModelSpecificationError("no covariates: an ITE model needs at least one "
                                      "covariate (pass covariates=[...])")
    trials_arr = np.asarray(ipd.trial).astype(str)
    trials = sorted(set(trials_arr.tolist()), key=_natural_key)
    for tr in trials:
        tt = t[trials_arr == tr]
        if tt.min() == tt.max():
            arm = "treated" if tt[0] == 1 else "control"
            raise DataError(f"trial {tr!r} has only {arm} patients: every trial needs both "
                            "arms for an ITE model; drop it with ipd.subset(trials=...)")
    covariate_cols = list(getattr(ipd, "covariate_cols", X_df.columns))
    folds = None if foldid is None else _foldid_column(ipd, foldid, trials_arr, trials,
                                                       covariate_cols)
    y = np.asarray(ipd.y, dtype=float)
    if getattr(ipd, "outcome_type", None) == "survival":     # (time, event) columns
        y = np.column_stack([np.asarray(ipd.time, dtype=float), y])
    return ITEData(X=X_df.to_numpy(dtype=float), t=t, y=y,
                   trial=trials_arr, trials=trials, feature_names=list(X_df.columns),
                   outcome_type=getattr(ipd, "outcome_type", "continuous"),
                   covariate_cols=covariate_cols, foldid=folds,
                   foldid_col=None if foldid is None else str(foldid))


def _foldid_column(ipd: Any, col: str, trials_arr: np.ndarray, trials: list[str],
                   covariate_cols: list[str]) -> np.ndarray:
    """The fold-id column of the (cleaned) IPD rows, checked trial by trial."""
    from ._learners import check_foldid

    if not isinstance(col, str):
        raise ModelSpecificationError(
            f"foldid must name a data column (a string such as 'fold'), got {col!r}")
    frame = getattr(ipd, "data", None)
    if frame is None or col not in frame.columns:
        import difflib

        cols = [] if frame is None else list(map(str, frame.columns))
        close = difflib.get_close_matches(col, cols, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ColumnNotFoundError(f"the fold-id column {col!r} is not in the data{hint}")
    if col in covariate_cols:
        raise ModelSpecificationError(
            f"column {col!r} is given both as a covariate and as the fold-id column (foldid); "
            "fold ids are not a covariate: drop it from the covariates")
    raw = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    out = np.empty(len(raw), dtype=int)
    for tr in trials:
        m = trials_arr == tr
        vals = raw[m]
        bad = ~np.isfinite(vals)
        if bad.any():
            shown = frame[col].to_numpy()[m][bad][0]
            raise DataError(f"fold-id column {col!r}: trial {tr!r} has a missing or "
                            f"non-numeric fold id ({shown!r}); give every patient an integer "
                            "fold id")
        try:
            out[m] = check_foldid(vals, int(m.sum()), what=f"fold-id column {col!r}") + 1
        except DataError as exc:
            raise DataError(f"trial {tr!r}: {exc}") from None
    return out


def new_X(X_new: Any, feature_names: Sequence[str]) -> tuple[np.ndarray, pd.Index | None]:
    """Covariates of new patients in the fitted feature order.

    A DataFrame must contain the feature columns (``"col[level]"`` indicator columns
    are built from a raw categorical column ``col`` when needed).
    """
    if isinstance(X_new, pd.DataFrame):
        cols = {}
        for f in feature_names:
            if f in X_new.columns:
                cols[f] = pd.to_numeric(X_new[f], errors="coerce").to_numpy(dtype=float)
                continue
            m = re.fullmatch(r"(.+)\[(.+)\]", f)
            if m and m.group(1) in X_new.columns:
                cols[f] = (X_new[m.group(1)].astype(str) == m.group(2)).to_numpy(dtype=float)
                continue
            import difflib

            close = difflib.get_close_matches(f, list(map(str, X_new.columns)), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ColumnNotFoundError(f"X_new has no column {f!r}{hint}; it needs the "
                                      f"covariates {', '.join(feature_names)}")
        X = np.column_stack([cols[f] for f in feature_names])
        index = X_new.index
    else:
        X = np.asarray(X_new, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.shape[1] != len(feature_names):
            raise DataError(f"X_new has {X.shape[1]} columns, the model uses "
                            f"{len(feature_names)}: {', '.join(feature_names)}")
        index = None
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(f"X_new has a missing or non-numeric value in column "
                        f"{feature_names[j]!r} (row {i}): complete or drop such rows")
    return X, index


def _seed_sequence(random_state: Any) -> np.random.SeedSequence:
    """A SeedSequence as is; None or an int seeds a new one; a Generator gives one draw."""
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.SeedSequence(random_state)
    return np.random.SeedSequence(int(check_random_state(random_state).integers(2**63)))


def trial_seeds(random_state: Any, n_trials: int) -> list[np.random.SeedSequence]:
    """The per-trial seeds used by :class:`TwoStageITE` (trial order as ``.trials_``).

    Pass ``trial_seeds(s, K)[l]`` as ``random_state`` of :func:`fit_site` at site l
    to reproduce the in-memory run ``TwoStageITE(random_state=s)`` exactly.

    Examples
    --------
    >>> seeds = trial_seeds(1, 3)
    >>> [s.spawn_key for s in seeds]
    [(0,), (1,), (2,)]
    >>> bool((trial_seeds(1, 3)[2].generate_state(4) == seeds[2].generate_state(4)).all())
    True
    """
    ss = _seed_sequence(random_state)
    # the children of a fresh ``ss.spawn(n_trials)``, without advancing ``ss``'s spawn
    # counter: the same SeedSequence gives the same trial seeds every time it is used
    return [np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, i),
                                   pool_size=ss.pool_size) for i in range(n_trials)]


# --------------------------------------------------------------------------------------
# stage 1 for one trial
# --------------------------------------------------------------------------------------
class _Stage1:
    """One trial's stage-1 fit, shareable by every pooler of the same learner.

    ``boot`` and ``aux`` are computed when asked for; the bootstrap continues the
    random stream right after the learner's fit, exactly as a single-pair run does.
    Times (seconds) are kept so that a shared fit can report each pair's own cost.
    """

    def __init__(self, label, X, t, y, learner: ITELearner, random_state, feature_names, *,
                 n_boot: int | None = None, aux: bool = False, foldid: Any = None,
                 family: Any = None, X_query: np.ndarray | None = None,
                 scale: str | None = None):
        rng = check_random_state(random_state)
        self.label = str(label)
        self.n = len(y)
        self.feature_names = list(feature_names)
        self.family = family
        t0 = time.perf_counter()
        self.learner = learner.fit(X, t, y, random_state=rng, foldid=foldid, family=family)
        self.seconds = {"fit": time.perf_counter() - t0, "bootstrap": 0.0, "aux-ols": 0.0}
        self.boot = None
        self.aux = None
        if n_boot is not None:
            t0 = time.perf_counter()
            # with X_query: refits predicted there one by one and dropped (memory)
            self.boot = self.learner.bootstrap(X, t, y, n_boot, random_state=rng,
                                               X_query=X_query, scale=scale)
            if X_query is not None:   # refits -> their (B, N) predictions (compact)
                from ._bootstrap_store import compact_bootstrap

                self.boot = compact_bootstrap(self.boot, self.learner, X_query, scale)
            self.seconds["bootstrap"] = time.perf_counter() - t0
        if aux:
            t0 = time.perf_counter()
            self.aux = _aux_model(self.learner, X, t, y)
            self.seconds["aux-ols"] = time.perf_counter() - t0


def _aux_model(learner: ITELearner, X, t, y) -> ITELearner:
    """The auxiliary full-interaction GLM of the learner's family that supplies the
    weights of ``weighted-aux-ols``: OLS (continuous) or logistic regression (binary,
    delta-method variances); the learner itself when it is that GLM."""
    from ._glm_learners import LogisticLearner

    fam = getattr(learner, "family_", None)
    if fam is not None and fam.name == "survival":
        from ._survival_learners import survival_aux_model

        return survival_aux_model(learner, X, t, y)
    if fam is None or fam.name == "continuous":
        return learner if isinstance(learner, OLSLearner) else OLSLearner().fit(X, t, y)
    if isinstance(learner, LogisticLearner):
        return learner
    import warnings

    from ..errors import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            return LogisticLearner().fit(X, t, y, family=fam)
        except DataError as exc:
            raise DataError(f"the auxiliary logistic regression that gives the "
                            f"weighted-aux-ols weights failed: {exc}") from None


class _TrialFit:
    def __init__(self, stage1: _Stage1, pooler: ITEPooler, scale: str | None = None):
        self.family = stage1.family
        self.scale = scale
        self.label = stage1.label
        self.n = stage1.n
        self.feature_names = stage1.feature_names
        self.learner = stage1.learner
        self.pooler_name = pooler.name
        self.variance = pooler.variance
        self.boot = stage1.boot if pooler.variance == "bootstrap" else None
        self.aux = stage1.aux if pooler.variance == "aux-ols" else None
        if pooler.variance == "bootstrap" and self.boot is None:
            raise ModelSpecificationError("internal: the stage-1 fit has no bootstrap")
        if pooler.variance == "aux-ols" and self.aux is None:
            raise ModelSpecificationError("internal: the stage-1 fit has no auxiliary OLS")
        self.needs = pooler.needs
        #: this pair's share of the trial's stage-1 seconds: learner fit, and the
        #: bootstrap refits or auxiliary OLS where its pooler uses them
        self.timings = {"fit": stage1.seconds["fit"]}
        if pooler.variance:
            self.timings[pooler.variance] = stage1.seconds.get(pooler.variance, 0.0)
        self.seconds = sum(self.timings.values())

    @classmethod
    def fit(cls, label, X, t, y, learner: ITELearner, pooler: ITEPooler, n_boot, random_state,
            feature_names, foldid=None, family: Any = None,
            scale: str | None = None) -> _TrialFit:
        st = _Stage1(label, X, t, y, learner, random_state, feature_names,
                     n_boot=n_boot if pooler.variance == "bootstrap" else None,
                     aux=pooler.variance == "aux-ols", foldid=foldid, family=family)
        return cls(st, pooler, scale)

    @property
    def _binary(self) -> bool:
        fam = getattr(self.learner, "family_", None)
        return fam is not None and fam.name != "continuous"

    def summarize(self, X_query: np.ndarray | None = None) -> SiteSummary:
        s = SiteSummary(trial=self.label, n=self.n, learner=self.learner.name,
                        feature_names=self.feature_names, pooler=self.pooler_name,
                        variance=self.variance or "")
        kw = {}
        if self._binary:
            fam = self.learner.family_
            s.family = fam.name
            s.scale = fam.check_scale(self.scale)
            kw = {"scale": s.scale}
            if fam.name == "survival":
                from ._survival_learners import survival_site_fields

                survival_site_fields(s, self.learner)
        info = {}
        for key in ("lambda_min_", "tuned_", "sigma_", "df_resid_"):
            if hasattr(self.learner, key):
                info[key.rstrip("_")] = getattr(self.learner, key)
        s.info = info
        if self.needs == "coef":
            s.coef, s.cov = self.learner.coef_cov()
        elif self.needs == "posterior":
            post = self.learner.posterior()
            s.post_mean, s.post_cov, s.post_draws = post["mean"], post["cov"], post["draws"]
        else:
            if X_query is None:
                raise ModelSpecificationError(
                    f"pooler {self.pooler_name!r} pools predictions: the site needs the query "
                    "points X_new")
            s.X_query = np.asarray(X_query, dtype=float)
            s.ite = self.learner.predict_ite(X_query, **kw)
            if self._binary and hasattr(self.learner, "predict_arms"):
                s.mu0, s.mu1 = (np.asarray(a, dtype=float)
                                for a in (self.learner.predict_arms(X_query, **kw)
                                          if s.family == "survival"
                                          else self.learner.predict_arms(X_query)))
            if self.boot is not None:
                s.var = np.var(self.boot.predict_ite(X_query, **kw), axis=0, ddof=1)
            elif self.variance == "forest":   # the learner's own variance (no refits)
                s.var = np.asarray(self.learner.ite_var(X_query, **kw), dtype=float)
            else:
                s.var = self.aux.ite_var(X_query, **kw)
        return s


def fit_site(X: Any, t: Any, y: Any, *, trial: str, learner: str | ITELearner = "ols",
             pooler: str | ITEPooler | None = None, X_query: Any = None, n_boot: int = 100,
             random_state: Any = None, feature_names: Sequence[str] | None = None,
             learner_options: dict | None = None, foldid: Any = None, family: Any = None,
             scale: str | None = None, horizon: float | None = None,
             tau: float | None = None) -> SiteSummary:
    """Stage 1 at one site: fit the learner on its patients and export a summary.

    The summary holds no patient rows; write it with ``.save("site.json")`` (or
    ``.npz``) and pool the files with :func:`pool_sites`.  With ``random_state =
    trial_seeds(s, K)[l]`` the result equals the in-memory
    ``TwoStageITE(random_state=s)`` run.  ``foldid`` (one integer per patient)
    fixes the cross-validation folds of a learner that cross-validates.
    ``family`` is the outcome family (default: continuous, or binary for a learner
    of binary outcomes) and ``scale`` its ITE scale (binary: ``"rd"`` default,
    ``"logor"``; survival: ``"survdiff"`` with ``horizon``, ``"rmstdiff"`` with
    ``tau``, ``"loghr"``; ``y`` is then the (n, 2) array of time and event).

    Feature names travel with the summary, so that :func:`pool_sites` can take
    ``X_new`` as a DataFrame: they are ``feature_names``, else the columns of a
    DataFrame ``X``, else ``x1, x2, ...`` (then :func:`pool_sites` refuses a
    DataFrame ``X_new`` without those columns and says how to name them).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 2)); t = rng.integers(0, 2, 100); y = t * X[:, 0] + X[:, 1]
    >>> s = fit_site(X, t, y, trial="A", learner="ols", pooler="mvma",
    ...              feature_names=["age", "bmi"])
    >>> s.coef.shape, s.feature_names
    ((3,), ['age', 'bmi'])
    """
    from ..families import get_family

    lrn = get_learner(learner, **(learner_options or {}))
    if pooler is None:
        from ._defaults import default_pooler

        pooler = default_pooler(lrn)
    pool = get_pooler(pooler)
    if family is None:
        family = "continuous" if "continuous" in lrn.families else sorted(lrn.families)[0]
    fam = get_family(family, horizon=horizon, tau=tau)
    check_pair(lrn, pool, family=fam.name)
    fam.check_scale(scale)
    given = feature_names is not None or isinstance(X, pd.DataFrame)
    if feature_names is None and isinstance(X, pd.DataFrame):
        feature_names = [str(c) for c in X.columns]
    X = np.asarray(X, dtype=float)
    n_col = X.shape[1] if X.ndim == 2 else 1
    names = list(feature_names) if feature_names is not None else \
        [f"x{j + 1}" for j in range(n_col)]
    if len(names) != n_col:
        raise DataError(f"feature_names has {len(names)} names but X has {n_col} columns")
    tf = _TrialFit.fit(trial, X, t, y, lrn, pool, n_boot, random_state, names, foldid=foldid,
                       family=fam, scale=scale)
    Xq = None if X_query is None else new_X(X_query, names)[0]
    out = tf.summarize(Xq)
    if not given:
        out.info["default_feature_names"] = True
    return out


def pool_sites(summaries: Sequence[SiteSummary | str | Path], pooler: str | ITEPooler = "mvma",
               X_new: Any = None, **pooler_options: Any) -> pd.DataFrame:
    """Stage 2 from site summaries (objects or ``.json``/``.npz`` paths).

    Returns the same DataFrame as :meth:`TwoStageITE.predict`.  ``pooler_options``
    go to the pooler (e.g. ``method="fixed"`` for ``mvma``; ``random_state=s`` for
    ``bayes-mvma`` to reproduce ``TwoStageITE(random_state=s)``).  ``X_new`` may be
    omitted for the prediction-level poolers (the sites' query points are used).

    Multi-arm summaries of a treatment network (:class:`NetworkSiteSummary`, from
    :func:`fit_network_site` or ``TwoStageITE.site_summaries()`` on a network) are
    pooled with the network stage 2; ``reference=``, ``higher_is_better=``,
    ``random_state=`` (P(best)) and ``pairs="all"`` are then understood as in
    :meth:`TwoStageITE.fit` / :meth:`TwoStageITE.predict_pairs`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> sites = []
    >>> for k in range(3):
    ...     X = rng.normal(size=(80, 2)); t = rng.integers(0, 2, 80)
    ...     y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=80)
    ...     sites.append(fit_site(X, t, y, trial=f"site{k}", pooler="mvma"))
    >>> pool_sites(sites, "mvma", X_new=np.zeros((1, 2)), method="fixed").columns[:3].tolist()
    ['ite', 'se', 'ci_low']
    """
    sums = [s if not isinstance(s, (str, Path)) else SiteSummary.load(s) for s in summaries]
    if any(not isinstance(s, SiteSummary) for s in sums):   # multi-arm: a treatment network
        from ._network_federation import pool_sites_network

        return pool_sites_network(sums, pooler, X_new, **pooler_options)
    pool = get_pooler(pooler, **pooler_options)
    pool.fit(sums)
    names = sums[0].feature_names
    if X_new is None:
        if pool.needs != "predictions":
            raise ModelSpecificationError("pass X_new: the covariates to predict at")
        X, index = sums[0].X_query, None
    else:
        unnamed = [s.trial for s in sums if s.info.get("default_feature_names")]
        if (unnamed and isinstance(X_new, pd.DataFrame)
                and not set(names) <= set(map(str, X_new.columns))):
            raise ColumnNotFoundError(
                f"the site summaries of {', '.join(map(repr, unnamed))} were fitted on an "
                f"array without feature names (stored as {', '.join(names)}), so X_new's "
                "columns cannot be matched: refit those sites with fit_site(..., "
                "feature_names=[...]) or a DataFrame X, or pass X_new as an array in the "
                "sites' column order")
        X, index = new_X(X_new, names)
    out = pool.predict(X).to_frame()
    if index is not None:
        out.index = index
    return out


# --------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------
def _pair_family(fams) -> str:
    """The family a learner/pooler pair is checked for (the learner's when they share
    none, so that the message names the pooler that does not fit)."""
    return "continuous" if "continuous" in fams or not fams else sorted(fams)[0]


class TwoStageITE(ResultsMixin):
    """Two-stage IPD meta-analysis of individualised treatment effects.

    Stage 1 fits ``learner`` in every trial; stage 2 combines the trials with
    ``pooler``.  Learners: ``"ols"``, ``"lasso"``, ``"ridge"``, ``"elasticnet"``,
    ``"xgboost"``, ``"causal-forest"``, ``"bayes-lm"``, ``"bayes-lasso"``,
    ``"sklearn-s"``, ``"sklearn-t"``; for binary outcomes ``"logistic"``,
    ``"logistic-lasso"``, ``"logistic-ridge"``, ``"logistic-elasticnet"``,
    ``"bayes-logistic"`` and the tree/scikit-learn learners (or an
    :class:`ITELearner` instance).
    Poolers: ``"mvma"`` (a), ``"weighted-bootstrap"`` and ``"weighted-aux-ols"``
    (b) (and ``"weighted-forest"``, (b) weighted by the causal forest's own
    variance estimate: cheaper than B refits), ``"bayes-mvma"`` (c),
    ``"posterior-mix"`` (d) (or an
    :class:`ITEPooler` instance).  Infeasible pairs raise
    :class:`~ipdma.errors.InfeasibleMethodError`; see :func:`feasible_pairs`.

    Parameters
    ----------
    learner, pooler : str or instance
        Default pooler (``pooler=None``): ``"mvma"`` for the learners with
        coefficients and covariance (``ols``, ``logistic``), ``"bayes-mvma"``
        for the Bayesian learners, ``"weighted-aux-ols"`` for every other
        learner (see :func:`default_pooler`).
    n_boot : int, default 100
        Bootstrap resamples per trial (``weighted-bootstrap``).
    random_state : None, int, SeedSequence or Generator
        Trial l uses ``trial_seeds(random_state, K)[l]``.
    n_jobs : int, default 1
        Trials fitted in parallel (joblib processes); in :meth:`predict`, the
        per-trial predictions (e.g. of bootstrap refits) run on this many threads.
    learner_options, pooler_options : dict, optional
        Keyword arguments of the learner / pooler constructor.
    scale : str, optional
        ITE scale of the outcome family (inferred from the data: a 0/1 outcome
        is binary): ``"difference"`` (continuous); ``"rd"`` (binary, default:
        risk difference P(y=1 | x, t=1) - P(y=1 | x, t=0)) or ``"logor"``
        (conditional log odds ratio, learners with coefficients).  For a
        binary outcome :meth:`predict` also returns ``p0`` and ``p1``, the
        predicted risks under control and treatment.  Time to event
        (``IPD(time=, event=)``): ``"survdiff"`` (default; S(horizon | t=1) -
        S(horizon | t=0)), ``"rmstdiff"`` (RMST up to ``tau``) or ``"loghr"``;
        ``p0``/``p1`` are then the survival probabilities (RMSTs) per arm.
    horizon, tau : float, optional
        Time points of the survival scales (time to event only).
    progress : bool or None, default False
        Progress bar (tqdm, on stderr) over the per-trial stage-1 fits; ``None``
        shows it when stderr is a terminal.

    Notes
    -----
    ``fit(data, ..., foldid="fold")`` names a column of cross-validation fold ids
    (per trial, e.g. 1..10): the learners that cross-validate (lasso, ridge,
    elasticnet, xgboost) use these folds instead of random ones, so that
    ``lambda.min`` and the coefficients equal ``cv.glmnet(foldid = )``'s in R.
    Learners that do not cross-validate raise
    :class:`~ipdma.errors.ModelSpecificationError` when given fold ids.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_per_trial=50)
    >>> model = TwoStageITE("ols", "weighted-aux-ols").fit(sim.ipd())
    >>> pred = model.predict(sim.test)
    >>> list(pred.columns[:4])
    ['ite', 'se', 'ci_low', 'ci_high']
    """

    def __init__(self, learner: str | ITELearner = "ols", pooler: str | ITEPooler | None = None,
                 *,
                 n_boot: int = 100, random_state: Any = None, n_jobs: int = 1,
                 learner_options: dict | None = None, pooler_options: dict | None = None,
                 progress: bool | None = False, scale: str | None = None,
                 horizon: float | None = None, tau: float | None = None):
        self.learner = learner
        self.scale = scale
        self.horizon = horizon
        self.tau = tau
        self.pooler = pooler
        self.n_boot = int(n_boot)
        self.random_state = random_state
        self.n_jobs = int(n_jobs)
        self.learner_options = dict(learner_options or {})
        self.pooler_options = dict(pooler_options or {})
        self.progress = progress
        self.learner_ = get_learner(learner, **self.learner_options)
        if pooler is None:
            from ._defaults import default_pooler

            pooler = default_pooler(self.learner_)
        popts = dict(self.pooler_options)
        if isinstance(pooler, str) and "random_state" not in popts:
            import inspect

            from ._poolers import POOLERS

            cls = POOLERS.get(pooler)
            if cls is not None and "random_state" in inspect.signature(cls).parameters:
                popts["random_state"] = random_state
        self.pooler_ = get_pooler(pooler, **popts)
        fams = self.learner_.families & getattr(self.pooler_, "families",
                                                frozenset({"continuous"}))
        check_pair(self.learner_, self.pooler_,
                   family=_pair_family(fams or self.learner_.families))
        if self.n_boot < 2:
            raise ModelSpecificationError(f"n_boot must be at least 2, got {n_boot}")
        self.fits_: list[_TrialFit] | None = None

    @property
    def name(self) -> str:
        return f"{self.learner_.name}+{self.pooler_.name}"

    def fit(self, data: Any, *, trial: str | None = None, treatment: str | None = None,
            outcome: str | None = None, covariates: Sequence[str] | None = None,
            treated: Any = None, foldid: str | None = None, reference: str | None = None,
            higher_is_better: bool = True, X_query: Any = None,
            client: Any = None, network_stage1: str = "native") -> TwoStageITE:
        """Fit stage 1 in every trial (and stage 2 when it needs no query points).

        ``data`` is an :class:`ipdma.data.IPD` or a DataFrame with the column names.
        ``foldid`` names a column of cross-validation fold ids (see Notes).

        With more than two treatments the model is a treatment network (see
        docs/architecture.md, "Treatment networks in two-stage ITE"): ``reference``
        names the network reference (default: the IPD's reference treatment) and
        ``higher_is_better`` says which outcome values are desirable (for the best
        treatment and P(best)).  With two treatments ``reference`` names the control
        arm (the other one is ``treated``).
        ``X_query`` (covariates of the patients to be predicted, when known) lets
        the bootstrap refits of a flexible learner be predicted there as soon as
        they are fitted and then dropped (a (B, N) array per trial instead of B
        fitted models: far less memory); :meth:`predict` then answers for those
        rows, in any order or subset, with the same numbers as without it.
        ``client`` (a ``dask.distributed.Client``) runs the per-trial fits on its
        Dask cluster, with the same numbers as a local run.
        ``network_stage1`` (treatment networks): ``"native"`` fits the machine-learning
        learners on all arms of a trial (S-learners ``xgboost``/``sklearn-s`` with the
        treatment as a categorical feature, T-learner ``sklearn-t`` with one model per
        arm, ``causal-forest`` with a multi-valued treatment); ``"per-contrast"`` one
        two-arm fit per contrast (see
        :mod:`ipdma.ite._network_learners`).
        """
        from ._network_ite import fit_network_groups, network_data, treated_from_reference

        nd = network_data(data, trial=trial, treatment=treatment, outcome=outcome,
                          covariates=covariates, reference=reference, treated=treated,
                          foldid=foldid)
        if nd is not None:
            fit_network_groups(nd, {self.learner_.name: [self]},
                               trial_seeds(self.random_state, len(nd.trials)), self.n_jobs,
                               higher_is_better=higher_is_better, progress=self.progress,
                               desc=f"{self.name}: stage 1", network_stage1=network_stage1,
                               X_query=None if X_query is None else
                               new_X(X_query, nd.feature_names)[0], client=client)
            return self
        treated = treated_from_reference(data, treatment, reference, treated)
        d = prepare_ite_data(data, trial=trial, treatment=treatment, outcome=outcome,
                             covariates=covariates, treated=treated, foldid=foldid)
        d = _with_time_points(d, self.horizon, self.tau)
        Xq = None if X_query is None else new_X(X_query, d.feature_names)[0]
        _fit_groups(d, {self.learner_.name: [self]},
                    trial_seeds(self.random_state, len(d.trials)), self.n_jobs,
                    progress=self.progress, desc=f"{self.name}: stage 1", X_query=Xq,
                    client=client)
        return self

    def _set_fits(self, fits: list[_TrialFit], d: ITEData) -> TwoStageITE:
        self.fits_ = fits
        self.network_ = None
        self.data_ = d
        self.trials_ = list(d.trials)
        self.feature_names_ = list(d.feature_names)
        self.prediction_ = None
        #: stage-1 seconds of this pair alone (learner fits plus its bootstrap or
        #: auxiliary OLS), summed over trials; with :func:`fit_methods` the learner fits
        #: are shared between pairs but still counted in each pair's figure
        self.stage1_seconds_ = float(sum(f.seconds for f in fits))
        t0 = time.perf_counter()
        if self.pooler_.needs != "predictions":
            self.pooler_.fit(self.site_summaries())
        #: seconds of the stage-2 fit done in ``fit`` (poolers of coefficients/posteriors)
        self.stage2_seconds_ = time.perf_counter() - t0
        return self

    def _check_fitted(self) -> None:
        if self.fits_ is None and getattr(self, "network_", None) is None:
            raise NotFittedError("TwoStageITE is not fitted: call .fit(data) first")

    def _two_arm_only(self, what: str) -> None:
        if getattr(self, "network_", None) is not None:
            raise ModelSpecificationError(
                f"{what} is not available yet for a treatment network (more than two "
                "treatments); see predict(), predict_pairs(), summary() and plot()")

    def site_summaries(self, X_new: Any = None) -> list[SiteSummary]:
        """Per-trial stage-1 summaries (what each site would export); for a treatment
        network :class:`NetworkSiteSummary` objects (treatment blocks with their joint
        covariance, or predicted contrasts at ``X_new``)."""
        self._check_fitted()
        Xq = None if X_new is None else new_X(X_new, self.feature_names_)[0]
        if getattr(self, "network_", None) is not None:   # multi-arm summaries
            from ._network_federation import network_site_summaries

            return network_site_summaries(self, Xq)
        return [f.summarize(Xq) for f in self.fits_]

    def export_sites(self, directory: str | Path, X_new: Any = None,
                     fmt: str = "json") -> list[Path]:
        """Write one site-summary file per trial (``site_<trial>.json`` or ``.npz``)."""
        if fmt not in ("json", "npz"):
            raise ModelSpecificationError(f"fmt={fmt!r}: choose 'json' or 'npz'")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        return [s.save(directory / f"site_{re.sub(r'[^A-Za-z0-9_.-]', '_', s.trial)}.{fmt}")
                for s in self.site_summaries(X_new)]

    def predict(self, X_new: Any) -> pd.DataFrame:
        """Pooled ITE for new patients.

        Returns a DataFrame (one row per row of ``X_new``, same order and index) with
        ``ite`` and, where the pooler gives them, ``se``, ``ci_low``, ``ci_high``,
        ``pi_low``, ``pi_high`` (``tau2`` with random-effects weights), then one
        ``ite_<trial>`` column per trial.

        With more than two treatments: ``ite_<T>_vs_<REF>``, ``se_``, ``ci_low_``,
        ``ci_high_`` (and ``pi_low_``/``pi_high_`` with random effects) for every
        non-reference treatment T, ``best_treatment`` and ``p_best_<T>`` per
        treatment (every pair: :meth:`predict_pairs`).
        """
        self._check_fitted()
        if getattr(self, "network_", None) is not None:
            from ._network_ite import network_predict

            return network_predict(self, X_new)
        X, index = new_X(X_new, self.feature_names_)
        if self.pooler_.needs == "predictions":
            if self.n_jobs == 1 or len(self.fits_) == 1:
                sums = [f.summarize(X) for f in self.fits_]
            else:
                # threads: the per-trial (and bootstrap) predictions release the GIL in
                # numpy, XGBoost and scikit-learn; no copying of fitted models to workers
                from concurrent.futures import ThreadPoolExecutor

                workers = self.n_jobs if self.n_jobs > 0 else (os.cpu_count() or 1)
                with ThreadPoolExecutor(max_workers=workers) as ex:
                    sums = list(ex.map(lambda f: f.summarize(X), self.fits_))
            self.pooler_.fit(sums)
        pooled = self.pooler_.predict(X)
        out = pooled.to_frame()
        if index is not None:
            out.index = index
        self.prediction_ = pooled
        self.X_pred_ = X
        return out

    def predict_ite(self, X_new: Any) -> np.ndarray:
        """Pooled point ITEs only (numpy; with more than two treatments an (N, T-1)
        array, each non-reference treatment vs the network reference)."""
        if getattr(self, "network_", None) is not None:
            self.predict(X_new)
            return self.prediction_.mean.copy()
        return self.predict(X_new)["ite"].to_numpy()

    def predict_pairs(self, X_new: Any) -> pd.DataFrame:
        """Treatment networks: the ITE of every pair of treatments ``<j>_vs_<k>`` (with
        se, CI and PI columns), ``best_treatment`` and ``p_best_<T>``."""
        self._check_fitted()
        if getattr(self, "network_", None) is None:
            raise ModelSpecificationError(
                "predict_pairs() is for more than two treatments; use predict()")
        from ._network_ite import network_predict

        return network_predict(self, X_new, pairs="all")

    # ---------------------------------------------------------------- results protocol
    def to_frame(self) -> pd.DataFrame:
        """The last prediction (call :meth:`predict` first)."""
        if getattr(self, "prediction_", None) is None:
            raise NotFittedError("call .predict(X_new) before .to_frame()")
        return self.prediction_.to_frame()

    def trial_frame(self) -> pd.DataFrame:
        """One row per trial: n, arm sizes and the learner's tuned settings."""
        self._check_fitted()
        if getattr(self, "network_", None) is not None:
            return self.network_.trial_frame()
        rows = []
        for f in self.fits_:
            m = self.data_.trial == f.label
            row = {"trial": f.label, "n": f.n, "n_treated": int(self.data_.t[m].sum())}
            # any point will do for the info; refits kept as predictions know only theirs
            x0 = getattr(f.boot, "X_query", np.zeros((1, len(self.feature_names_))))[:1]
            s = f.summarize(x0) if f.needs == "predictions" else f.summarize()
            for k, v in s.info.items():
                row[k] = v if not isinstance(v, dict) else ", ".join(f"{a}={b}"
                                                                      for a, b in v.items())
            rows.append(row)
        return pd.DataFrame(rows).set_index("trial")

    @property
    def pooled_(self):
        """The stage-2 model as a full results object.

        For the ``"mvma"`` pooler: a :class:`ipdma.meta.MultivariateMetaResult` of the
        multivariate meta-analysis of the per-trial treatment coefficients (outcomes
        ``delta``, ``gamma[<covariate>]``; studies = trials), so that
        ``model.pooled_.summary()`` shows every pooled coefficient with SE, Psi, the
        between-trial SDs and correlations, I^2, the log-likelihood and Q (same numbers
        as ``rma.mv``; no refit).  Other poolers raise
        :class:`~ipdma.errors.ModelSpecificationError` (their results are in
        :meth:`summary` and the pooler object ``pooler_``).
        """
        self._check_fitted()
        self._two_arm_only("pooled_")
        fit = getattr(self.pooler_, "fit_", None)
        if self.pooler_.name != "mvma" or fit is None:
            raise ModelSpecificationError(
                f"pooled_ is the multivariate meta-analysis of the 'mvma' pooler; pooler "
                f"{self.pooler_.name!r} has no such model (see summary() and pooler_)")
        from ..meta._multivariate import MultivariateMetaResult, _prepare

        sums = self.pooler_.summaries_
        Y = np.vstack([s.coef for s in sums])
        S = np.stack([s.cov for s in sums])
        names = list(self.pooler_.coef_names_)
        trials = [str(s.trial) for s in sums]
        d = _prepare(Y, S, None, trials, names)
        return MultivariateMetaResult(y=Y, S=S, X=d.X, data=d, fit=fit, outcome_names=names,
                                      study_names=trials, mod_names=["intercept"],
                                      level=self.pooler_.level)

    def stage1_coefficients(self, se: bool = False) -> pd.DataFrame:
        """Full stage-1 coefficient vector of every trial's fit (one row per trial).

        Columns ``(Intercept)``, ``treatment``, the covariates and
        ``treatment:<covariate>`` (the learner's ``coef_`` order ``(1, t, x, t:x)``;
        ``lm(y ~ treatment * (x...))`` in R).  With ``se=True`` the standard errors
        (learners with a covariance, e.g. ``"ols"``) instead of the estimates.
        Learners without a coefficient vector (trees, forests) raise
        :class:`~ipdma.errors.ModelSpecificationError`.
        """
        self._check_fitted()
        self._two_arm_only("stage1_coefficients()")
        f = self.feature_names_
        cols = ["(Intercept)", "treatment", *f, *[f"treatment:{x}" for x in f]]
        rows = {}
        for fit in self.fits_:
            lr = fit.learner
            if se:
                V = getattr(lr, "vcov_", None)
                if V is None:
                    raise ModelSpecificationError(
                        f"learner {lr.name!r} has no coefficient covariance (use se=False)")
                vals = np.sqrt(np.diag(np.asarray(V, float)))
            else:
                c = getattr(lr, "coef_", None)
                if c is None:
                    raise ModelSpecificationError(
                        f"learner {lr.name!r} has no coefficient vector")
                vals = np.asarray(c, float).ravel()
            if len(vals) != len(cols):
                raise ModelSpecificationError(
                    f"learner {lr.name!r} has {len(vals)} coefficients, not the "
                    f"{len(cols)} of the (1, t, x, t:x) design")
            rows[fit.label] = vals
        return pd.DataFrame.from_dict(rows, orient="index", columns=cols).rename_axis("trial")

    def summary(self) -> Summary:
        self._check_fitted()
        if getattr(self, "network_", None) is not None:
            from ._network_ite import network_summary

            return network_summary(self)
        info = {"learner": self.learner_.name, "pooler": self.pooler_.name,
                "trials": len(self.trials_), "patients": len(self.data_.y),
                "covariates": ", ".join(self.feature_names_)}
        fam = self.data_.family
        if fam.name == "survival":                       # the scale and its time point
            info["scale"] = fam.check_scale(self.scale)
            info.update({k: v for k, v in (("horizon", fam.horizon), ("tau", fam.tau))
                         if v is not None})
        tables = {"Stage 1 (per trial)": self.trial_frame()}
        if hasattr(self.pooler_, "coef_frame"):
            tables["Stage 2: pooled treatment coefficients"] = self.pooler_.coef_frame()
        elif hasattr(self.pooler_, "theta_draws_"):
            d = self.pooler_.theta_draws_
            tables["Stage 2: posterior of the pooled coefficients"] = pd.DataFrame(
                {"mean": d.mean(0), "sd": d.std(0, ddof=1),
                 "q2.5": np.quantile(d, 0.025, 0), "q97.5": np.quantile(d, 0.975, 0)},
                index=(["delta"] + [f"gamma[{n}]" for n in self.feature_names_])
                if d.shape[1] == len(self.feature_names_) + 1 else
                _full_coef_names(self.feature_names_))
        notes = []
        if getattr(self, "prediction_", None) is not None:
            p = self.prediction_
            row = {"N": len(p.ite), "mean ITE": p.ite.mean(), "sd ITE": p.ite.std(ddof=1)}
            if p.se is not None:
                row["mean se"] = np.mean(p.se)
            if p.pi_low is not None:
                row["mean PI width"] = np.mean(p.pi_high - p.pi_low)
            tables["Last prediction"] = pd.DataFrame([row])
        else:
            notes.append("Call .predict(X_new) for individualised treatment effects.")
        return Summary(title=f"Two-stage ITE meta-analysis: {self.name}", info=info,
                       tables=tables, notes=notes)

    def plot(self, kind: str = "distribution", *, covariate: str | None = None,
             profile: int = 0, ax=None):
        """Plot the last prediction.

        ``kind="distribution"``: histogram of the pooled ITEs; ``"covariate"``: ITE
        (with CI) against ``covariate``; ``"trials"``: per-trial ITEs of patient
        ``profile`` with the pooled estimate and intervals (marker size = weight).
        """
        from ..plots import color_for, get_ax

        if getattr(self, "network_", None) is not None:
            from ._network_ite import network_plot

            return network_plot(self, kind, covariate=covariate, ax=ax)
        if getattr(self, "prediction_", None) is None:
            raise NotFittedError("call .predict(X_new) before .plot()")
        p = self.prediction_
        ax = get_ax(ax)
        if kind == "distribution":
            ax.hist(p.ite, bins=min(50, max(10, len(p.ite) // 20)), color=color_for(0),
                    alpha=0.8)
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel("predicted ITE")
            ax.set_ylabel("patients")
            ax.set_title(f"{self.name}: distribution of predicted ITEs")
        elif kind == "covariate":
            if covariate is None:
                covariate = self.feature_names_[0]
            if covariate not in self.feature_names_:
                raise ColumnNotFoundError(f"covariate {covariate!r} is not one of "
                                          f"{', '.join(self.feature_names_)}")
            x = self.X_pred_[:, self.feature_names_.index(covariate)]
            if p.ci_low is not None:
                ax.vlines(x, p.ci_low, p.ci_high, color=color_for(0), alpha=0.25, lw=1,
                          label=f"{int(self.pooler_.level * 100)}% CI")
            ax.scatter(x, p.ite, s=8, color=color_for(0), label="pooled ITE")
            ax.axhline(0, color="k", lw=0.8)
            ax.set_xlabel(covariate)
            ax.set_ylabel("predicted ITE")
            ax.legend(loc="best", frameon=False)
        elif kind == "trials":
            i = int(profile)
            K = len(p.trials)
            w = p.weights[i] if p.weights is not None else np.full(K, 1 / K)
            ypos = np.arange(K, 0, -1)
            ax.scatter(p.per_trial[i], ypos, s=110 * w / w.max() + 12, color=color_for(0),
                       marker="s", zorder=3, label="trial ITE (area = weight)")
            if p.per_trial_var is not None:
                sd = np.sqrt(p.per_trial_var[i])
                ax.hlines(ypos, p.per_trial[i] - 1.96 * sd, p.per_trial[i] + 1.96 * sd,
                          color=color_for(0))
            ax.scatter([p.ite[i]], [0], marker="D", color=color_for(3), zorder=3,
                       label="pooled")
            if p.ci_low is not None:
                ax.hlines(0, p.ci_low[i], p.ci_high[i], color=color_for(3), lw=2)
            if p.pi_low is not None:
                ax.hlines(-0.3, p.pi_low[i], p.pi_high[i], color=color_for(3), lw=1,
                          linestyle="--", label="prediction interval")
            ax.set_yticks([*list(ypos), 0])
            ax.set_yticklabels([f"trial {t}" for t in p.trials] + ["pooled"])
            ax.axvline(0, color="k", lw=0.8)
            ax.set_xlabel(f"ITE of patient {i}")
            ax.set_ylim(-0.8, K + 0.6)
            ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False,
                      fontsize="small")
        else:
            raise ModelSpecificationError(
                f"kind={kind!r}: choose 'distribution', 'covariate' or 'trials'")
        return ax

    def save(self, path, **kwargs):
        """Write the fitted model as a versioned JSON model file; see
        :func:`ipdma.serialize.save_model` and ``load_model``."""
        from ..serialize import save_model

        return save_model(self, path, **kwargs)

    def __repr__(self) -> str:
        return f"TwoStageITE(learner={self.learner_!r}, pooler={self.pooler_!r})"

    def export_calculator(self, path, **options):
        """Write a per-patient calculator page (one self-contained HTML file) for this
        model; see :func:`ipdma.calculator.export_calculator` for the options (pooler ``"mvma"``;
        other set-ups raise an error naming the exportable ones)."""
        from ..calculator import export_calculator

        return export_calculator(self, path, **options)


def parse_methods(methods: str | Sequence[str | tuple[str, str]],
                  family: str = "continuous") -> list[tuple[str, str]]:
    """``"all"``, ``"ols+mvma,xgboost+weighted-aux-ols"`` or a list of such names or
    ``(learner, pooler)`` tuples -> feasible ``(learner, pooler)`` pairs (order kept,
    duplicates removed).

    ``"all"`` means every feasible pair whose learner can run here (the causal forest
    needs the optional ``econml`` package: ``pip install 'ipdma[causal-forest]'``) for
    the outcome ``family`` (``"continuous"`` or ``"binary"``).

    Examples
    --------
    >>> parse_methods("ols+mvma, lasso+weighted-aux-ols")
    [('ols', 'mvma'), ('lasso', 'weighted-aux-ols')]
    >>> parse_methods([("ols", "mvma"), "ols+mvma", "bayes-lm+posterior-mix"])
    [('ols', 'mvma'), ('bayes-lm', 'posterior-mix')]
    """
    from ._learners import learner_available
    from ._poolers import feasible_pairs

    feasible = [tuple(p) for p in feasible_pairs(family=family)]
    listing = ", ".join(a + "+" + b for a, b in feasible)
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if list(methods) == ["all"]:
        return [p for p in feasible if learner_available(p[0])]
    pairs: list[tuple[str, str]] = []
    for m in methods:
        if isinstance(m, str):
            if "+" not in m:
                raise ModelSpecificationError(
                    f"method {m!r} is not of the form learner+pooler (e.g. 'ols+mvma'); "
                    f"feasible: {listing}")
            lrn, pool = (x.strip() for x in m.split("+", 1))
        elif isinstance(m, (tuple, list)) and len(m) == 2 and all(isinstance(x, str) for x in m):
            lrn, pool = m
        else:
            raise ModelSpecificationError(
                f"method {m!r}: give 'learner+pooler' strings or (learner, pooler) tuples")
        if (lrn, pool) not in feasible:
            raise InfeasibleMethodError(
                f"method '{lrn}+{pool}' is not a feasible learner+pooler pair for "
                f"{family} outcomes; feasible: {listing}")
        if (lrn, pool) not in pairs:
            pairs.append((lrn, pool))
    if not pairs:
        raise ModelSpecificationError("no methods given: use e.g. 'all' or 'ols+mvma'")
    return pairs


def fit_methods(data: Any, methods: str | Sequence[str | tuple[str, str]] = "all", *,
                n_boot: int = 100, random_state: Any = None, n_jobs: int = 1,
                learner_options: dict[str, dict] | None = None,
                pooler_options: dict[str, dict] | None = None, trial: str | None = None,
                treatment: str | None = None, outcome: str | None = None,
                covariates: Sequence[str] | None = None,
                treated: Any = None, progress: bool | None = False,
                foldid: str | None = None,
                scale: str | None = None, horizon: float | None = None,
                tau: float | None = None, reference: str | None = None,
                higher_is_better: bool = True, X_query: Any = None,
                client: Any = None, network_stage1: str = "native") -> dict[str, TwoStageITE]:
    """Fit several learner+pooler pairs at once, fitting each learner only once per trial.

    Stage 1 does not depend on the pooler, so every pair that shares a learner
    shares its per-trial fits (and the XGBoost tuning, MCMC run or bootstrap
    refits inside them).  Each returned model is identical to
    ``TwoStageITE(learner, pooler, n_boot=n_boot, random_state=random_state,
    learner_options=learner_options.get(learner),
    pooler_options=pooler_options.get(pooler)).fit(data)`` when ``random_state``
    is an int or a SeedSequence (a Generator is first turned into a
    SeedSequence by one draw).

    Parameters
    ----------
    data : IPD or DataFrame
        As for :meth:`TwoStageITE.fit` (with a DataFrame, pass the column names).
    methods : "all", str or sequence
        ``"all"`` (every feasible pair whose learner is installed), a
        comma-separated string ``"ols+mvma,xgboost+weighted-aux-ols"`` or a list
        of such names or ``(learner, pooler)`` tuples.
    n_boot, random_state : as for :class:`TwoStageITE`
    n_jobs : int, default 1
        (learner, trial) stage-1 jobs run in parallel (joblib; -1 all cores); the
        returned models keep it for :meth:`TwoStageITE.predict`.
    learner_options, pooler_options : dict of dict, optional
        Options per learner name / pooler name, e.g.
        ``{"xgboost": REDUCED_XGBOOST_GRID}``.
    progress : bool or None, default False
        Progress bar over the (learner, trial) stage-1 jobs (stderr; ``None``:
        only when stderr is a terminal).
    foldid : str, optional
        Column of cross-validation fold ids (per trial, e.g. 1..10), used by the
        learners that cross-validate (lasso, ridge, elasticnet, xgboost; the
        others do not use folds); at least one requested learner must.
    reference, higher_is_better : as for :meth:`TwoStageITE.fit` (treatment
        networks: the network reference and which outcome values are desirable;
        ``"all"`` then means every pair feasible for a network).
    X_query : DataFrame or array, optional
        Covariates of the patients the models will predict, when known: the
        bootstrap refits of flexible learners (XGBoost, scikit-learn, forests)
        are predicted there inside the stage-1 job and dropped, so that memory
        holds a (B, N) array per trial instead of B fitted models; ``predict``
        then accepts any rows of ``X_query`` and gives the same numbers as a
        fit without it.
    client : dask.distributed.Client, optional
        Run the (learner, trial) jobs on this Dask cluster instead of joblib
        (``pip install 'ipdma[dask]'``); same numbers as a local run.
    network_stage1 : {"native", "per-contrast"}, default "native"
        Treatment networks: how the machine-learning learners fit a trial (see
        :meth:`TwoStageITE.fit`).

    Returns
    -------
    dict
        ``"learner+pooler"`` -> fitted :class:`TwoStageITE`, in the order given.
        ``model.stage1_seconds_`` is each pair's own stage-1 cost.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_continuous
    >>> sim = make_ite_continuous(scenario=5, random_state=1, n_test_per_trial=20)
    >>> fits = fit_methods(sim.ipd(), "ols+mvma,ols+weighted-aux-ols", random_state=1)
    >>> sorted(fits)
    ['ols+mvma', 'ols+weighted-aux-ols']
    >>> fits["ols+mvma"].predict(sim.test)["ite"].shape   # 3 new trials x 20 patients
    (60,)
    """

    from ._network_ite import network_data, network_pairs, treated_from_reference

    nd = network_data(data, trial=trial, treatment=treatment, outcome=outcome,
                      covariates=covariates, reference=reference, treated=treated,
                      foldid=foldid)
    if nd is None:
        treated = treated_from_reference(data, treatment, reference, treated)
        d = prepare_ite_data(data, trial=trial, treatment=treatment, outcome=outcome,
                             covariates=covariates, treated=treated, foldid=foldid)
        d = _with_time_points(d, horizon, tau)
    else:
        d = nd
    pairs = parse_methods(methods, family=d.family.name)
    if nd is not None:
        pairs = network_pairs(methods, pairs, nd.family, scale)
    learner_options = dict(learner_options or {})
    pooler_options = dict(pooler_options or {})
    unknown = (set(learner_options) - {p[0] for p in pairs}) | \
        (set(pooler_options) - {p[1] for p in pairs})
    if unknown:
        raise ModelSpecificationError(
            f"options given for {', '.join(sorted(unknown))}, which no requested method uses")
    ss = _seed_sequence(random_state)
    models = {f"{lrn}+{pool}": TwoStageITE(lrn, pool, n_boot=n_boot, random_state=ss,
                                           n_jobs=n_jobs,
                                           learner_options=learner_options.get(lrn),
                                           pooler_options=pooler_options.get(pool),
                                           scale=scale, horizon=horizon, tau=tau)
              for lrn, pool in pairs}
    groups: dict[str, list[TwoStageITE]] = {}
    for (lrn, _), model in zip(pairs, models.values()):
        groups.setdefault(lrn, []).append(model)
    if nd is not None:
        from ._network_ite import fit_network_groups

        fit_network_groups(nd, groups, trial_seeds(ss, len(d.trials)), n_jobs,
                           higher_is_better=higher_is_better, progress=progress,
                           desc=f"stage 1 of {len(models)} method(s)",
                           network_stage1=network_stage1,
                           X_query=None if X_query is None else
                           new_X(X_query, nd.feature_names)[0], client=client)
        return models
    Xq = None if X_query is None else new_X(X_query, d.feature_names)[0]
    _fit_groups(d, groups, trial_seeds(ss, len(d.trials)), n_jobs, progress=progress,
                desc=f"stage 1 of {len(models)} method(s)", X_query=Xq, client=client)
    return models


def _stage1_job(lrn, i, tr, X, t, y, learner, seed, nb, aux, foldid, feature_names, fam,
                X_query=None, scale=None):
    """One (learner, trial) stage-1 job (module level: it runs in worker processes)."""
    try:
        return (lrn, i), _Stage1(tr, X, t, y, learner, seed, feature_names, n_boot=nb,
                                 aux=aux, foldid=foldid, family=fam, X_query=X_query,
                                 scale=scale)
    except DataError as exc:
        raise type(exc)(f"trial {tr!r}: {exc}") from exc


def _fit_groups(d: ITEData, groups: dict[str, list[TwoStageITE]],
                seeds: list[np.random.SeedSequence], n_jobs: int, *,
                progress: bool | None = False, desc: str = "stage 1",
                X_query: np.ndarray | None = None, client: Any = None) -> None:
    """Stage 1 once per (learner, trial) for each group of models sharing a learner
    (with the bootstrap or auxiliary OLS any of them needs), then stage 2 per model.

    ``X_query``: the points the models will predict at; bootstrap refits of
    fitted-model learners are predicted there in the worker and dropped.
    ``client``: a Dask client to run the jobs on (see ``_dask.run_jobs``).
    """
    import copy

    from ._dask import run_jobs, stage1_cost_rank

    fam = d.family
    for ms in groups.values():
        for m in ms:
            _check_family_pair(m, fam)
    trial_data = list(d.by_trial())
    folds = [None] * len(trial_data) if d.foldid is None else \
        [d.foldid[d.trial == tr] for tr, *_ in trial_data]
    if d.foldid is not None and not any(ms[0].learner_.cross_validates
                                        for ms in groups.values()):
        raise ModelSpecificationError(
            f"fold ids (column {d.foldid_col!r}) were given but none of the learners "
            f"({', '.join(groups)}) cross-validates; they apply to lasso, ridge, elasticnet "
            "and xgboost")
    jobs = []
    for lrn, ms in groups.items():
        need_boot = any(m.pooler_.variance == "bootstrap" for m in ms)
        need_aux = any(m.pooler_.variance == "aux-ols" for m in ms)
        use_folds = ms[0].learner_.cross_validates
        scales = {m.scale for m in ms}
        # the models of a group predict on one scale: only then can the worker predict
        # the bootstrap refits for all of them
        xq = X_query if need_boot and len(scales) == 1 else None
        for i, (tr, X, t, y) in enumerate(trial_data):
            jobs.append((lrn, i, tr, X, t, y, copy.deepcopy(ms[0].learner_), seeds[i],
                         ms[0].n_boot if need_boot else None, need_aux,
                         folds[i] if use_folds else None, d.feature_names, fam, xq,
                         ms[0].scale))

    # the costliest jobs first (a short tail on several workers); results as they
    # finish, so that the progress bar moves; order restored below
    jobs.sort(key=stage1_cost_rank, reverse=True)
    done = run_jobs(_stage1_job, jobs, n_jobs=n_jobs, client=client)
    stage1 = dict(progress_bar(done, show=progress, total=len(jobs), desc=desc, unit="fit"))
    for lrn, ms in groups.items():
        for m in ms:
            m._set_fits([_TrialFit(stage1[(lrn, i)], m.pooler_, m.scale)
                         for i in range(len(trial_data))], d)


def _with_time_points(d: ITEData, horizon, tau) -> ITEData:
    """ITEData whose survival family carries ``horizon``/``tau``."""
    if horizon is None and tau is None:
        return d
    if d.outcome_type != "survival":
        raise ModelSpecificationError(
            "horizon/tau apply to time-to-event outcomes only (IPD(time=, event=)); the "
            f"outcome is {d.outcome_type}")
    import dataclasses

    return dataclasses.replace(d, family_options={"horizon": horizon, "tau": tau})


def _full_coef_names(feature_names):
    from ._glm_learners import coef_names

    return coef_names(feature_names)


def _check_family_pair(model: TwoStageITE, fam) -> None:
    """The learner and pooler of ``model`` support the data's family, and its scale."""
    from ._poolers import feasible_pairs

    lrn, pool = model.learner_, model.pooler_
    for comp, kind in ((lrn, "learner"), (pool, "pooler")):
        fams = getattr(comp, "families", frozenset({"continuous"}))
        if fam.name not in fams:
            ok = ", ".join(f"{a}+{b}" for a, b in feasible_pairs(family=fam.name))
            raise ModelSpecificationError(
                f"{kind} {comp.name!r} supports {', '.join(sorted(fams))} outcomes only; the "
                f"outcome is {fam.name}. Methods for {fam.name} outcomes: {ok}")
    scale = fam.check_scale(model.scale)
    if scale in fam.coef_scales and "linear" not in lrn.provides:
        raise ModelSpecificationError(
            f"scale={scale!r} needs a learner with coefficients; learner {lrn.name!r} has "
            f"none: use scale={fam.default_scale!r}")


def pooled_from(model: TwoStageITE) -> PooledITE:
    """The last :class:`PooledITE` of a fitted model (arrays)."""
    if getattr(model, "prediction_", None) is None:
        raise NotFittedError("call .predict first")
    return model.prediction_

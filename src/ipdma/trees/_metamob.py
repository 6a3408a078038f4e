"""metaMOB: model-based recursive partitioning with between-trial heterogeneity.

A GLMM tree (Fokkema et al. 2018, ``glmertree::lmertree`` / ``glmertree``) with trial-level
random effects, as used for IPD meta-analysis by Huber, Benda & Friede (2022, metaMOB):

    y_ij = beta0_b + beta1_b T_ij + u0_j + u1_j T_ij + e_ij               (continuous)
    logit P(y_ij = 1) = beta0_b + beta1_b T_ij + u0_j + u1_j T_ij         (binary)

``b`` is the terminal node (subgroup) of patient ``i`` in trial ``j``; the node
effects are partitioned by the tree, the trial effects ``(u0_j, u1_j) ~ N(0, G)``
are global.  Fitting alternates (glmertree 0.2-6, ``joint = TRUE``):

1. offset ``r = 0`` (or the prediction of the null mixed model, ``ranefstart=True``);
2. grow a linear-model MOB tree of ``y ~ T | z`` with offset ``r``;
3. fit the LMM ``y ~ node + node:T + (random | trial)`` by REML (``y ~ T + ...``
   when the tree has a single node); for a binary outcome the tree is a logistic MOB
   tree (``glmtree``) and the mixed model a logistic GLMM fitted by the Laplace
   approximation (``glmer(family = binomial, nAGQ = 1)``, :class:`LogisticMixedModel`);
4. ``r :=`` the LMM prediction with the intercept and all node coefficients set to
   zero (``Z_j u_j`` plus global fixed terms such as fixed trial intercepts);
5. stop when the REML (binary: Laplace) log-likelihood changes by at most ``abstol``, or when it
   returns to within ``abstol`` of the value two iterations back and has increased
   (two-cycle guard), or after ``maxit`` iterations; otherwise go to 2.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from .._base import ResultsMixin, Summary, check_is_fitted
from ..errors import (
    BoundaryWarning,
    ColumnNotFoundError,
    ConvergenceWarning,
    DataError,
    DataWarning,
    ModelSpecificationError,
    OutcomeError,
    column_not_found,
)
from ._glmm import LogisticMixedModel
from ._lmm import LinearMixedModel, LMMResults, _single_thread_blas
from ._mob import level_codes
from ._nodemodels import LinearModel, LogisticModel

#: outcome family -> (tree node model, mixed model)
_FAMILY_MODELS = {"continuous": (LinearModel, LinearMixedModel),
                  "binary": (LogisticModel, LogisticMixedModel)}

__all__ = ["MetaMOB"]

_RANDOM = {
    "intercept": ("intercept",),
    "treatment": ("treatment",),
    "both": ("intercept", "treatment"),
}
_ALIASES = {"ri": "intercept", "rt": "treatment", "ri+rt": "both", "slope": "treatment",
            "intercept+treatment": "both"}


def _missing_column(name: str, data: pd.DataFrame, role: str) -> ColumnNotFoundError:
    return column_not_found(name, data.columns, role)


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or not (
        pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def _levels(s: pd.Series) -> list:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return list(s.cat.categories)
    return sorted(pd.unique(s.dropna()).tolist())


def _stopping_rule(ll: float, old: Sequence[float], it: int, maxit: int, abstol: float
                   ) -> tuple[bool, bool]:
    """glmertree's rule: ``(continue, converged)`` after iteration ``it`` with
    log-likelihood ``ll``; ``old`` holds the previous two values (latest first).

    Stop when ``|ll - old[0]| <= abstol`` (converged), or when ``ll`` is within
    ``abstol`` of ``old[1]`` and above ``old[0]`` (a two-cycle: the better state of the
    oscillation is kept), or when ``it == maxit`` (not converged).
    """
    settled = not abs(ll - old[0]) > abstol
    cycle = abs(ll - old[1]) < abstol and ll > old[0]
    converged = settled or cycle
    return (not converged and it < maxit), converged


class _MixedEffectsView:
    """The final MOB tree, except that ``effects()`` gives the mixed-model node effects."""

    def __init__(self, mm: MetaMOB) -> None:
        self._mm = mm

    def __getattr__(self, name):
        return getattr(self._mm.tree_, name)

    def effects(self, coef=None, level=0.95, terminal_only=True):
        return self._mm.node_effects(coef=coef, level=level)


def _combine(C: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``C @ beta``, NaN where a row uses a coefficient that was not estimable (a
    collinear column dropped from the mixed model, e.g. a node without treated patients)."""
    bad = np.isnan(beta)
    out = C @ np.where(bad, 0.0, beta)
    out[(C[:, bad] != 0).any(axis=1)] = np.nan
    return out


class MetaMOB(ResultsMixin):
    """MOB with trial random effects (metaMOB / GLMM tree, ``glmertree::lmertree`` and
    ``glmertree::glmertree(family = binomial)``).

    Parameters
    ----------
    family : {None, "continuous", "binary"}
        Outcome family. ``None`` infers it: an outcome taking only the values 0 and 1 is
        binary (logistic node models, logistic GLMM by the Laplace approximation, node
        effects as log odds ratios), anything else numeric is continuous (linear node
        models, LMM by REML). The supported families are listed in
        :attr:`families`.
    random : {"intercept", "treatment", "both"}
        Trial-level random effects: a random trial intercept (``(1 | trial)``, the
        GLMM-tree default), a random treatment effect (``(0 + T | trial)``), or both
        with an unstructured covariance (``(1 + T | trial)``, metaMOB RE/RE).
    fixed_trial_intercepts : bool
        Fixed trial intercepts (global trial dummies) instead of random ones; only with
        ``random="treatment"``. This is the metaMOB FE/RE variant
        (``y ~ T | (trial + (0 + T | trial)) | z``) that Huber et al. found most robust.
    alpha, bonferroni, minsize, maxdepth, trim, prune, numsplit, catsplit, dfsplit :
        Tree settings, passed to :class:`~ipdma.trees.MOB` in every iteration (partykit
        defaults: alpha 0.05, Bonferroni-adjusted tests, ``minsize = 10 x`` the number of
        node-model coefficients, trim 0.1).
    parm : str, int or sequence, optional
        Node-model coefficients whose instability is tested: names or 0-based
        positions (R's ``parm = 2`` is ``parm=1`` or the treatment name). Default: all.
    cluster_tests : bool
        Use per-trial sums of scores in the instability tests (glmertree's
        ``cluster = trial``). Off by default: with few trials it inflates the number
        of splits.
    maxit : int
        Maximum number of tree/LMM iterations (glmertree: 100).
    abstol : float
        Convergence tolerance on the change of the REML log-likelihood (glmertree: 0.001).
    ranefstart : bool
        Start from the predictions of the null mixed model (``y ~ (random | trial)``)
        instead of a zero offset; useful when partitioning variables are trial-level.
    reml : bool
        Fit the linear mixed models by REML (default, as glmertree) or ML. Binary
        outcomes are always fitted by maximum likelihood (Laplace approximation, as
        ``glmer`` with ``nAGQ = 1``).
    level : float
        Confidence level of the reported intervals (Wald, normal).

    Attributes
    ----------
    tree_ : MOB
        The tree of the last iteration (its node models are fitted with the final
        random-effect offset).
    lmm_ : LMMResults or GLMMResults
        The mixed model of the last iteration (a :class:`GLMMResults` for a binary
        outcome, also available as ``glmm_``).
    family_ : str
        The outcome family used ("continuous" or "binary").
    n_iter : int
        Number of iterations.
    converged : bool
        Whether the log-likelihood criterion was met before ``maxit``.
    loglik_ : float
        REML (or ML; binary: Laplace) log-likelihood of the final mixed model.
    history_ : DataFrame
        Per iteration: log-likelihood, number of terminal nodes and the splits.
    fitted_node_ : ndarray
        Terminal node of every row used in the fit.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MetaMOB
    >>> rng = np.random.default_rng(4)
    >>> trial = np.repeat([f"T{k}" for k in range(6)], 120)
    >>> n = trial.size
    >>> df = pd.DataFrame({"trial": trial, "trt": rng.integers(0, 2, n),
    ...                    "x1": rng.normal(size=n), "x2": rng.uniform(size=n)})
    >>> a = dict(zip(np.unique(trial), rng.normal(10, 1, 6)))      # trial intercepts
    >>> b = dict(zip(np.unique(trial), rng.normal(0, 0.6, 6)))     # trial effect deviations
    >>> df["y"] = (df.trial.map(a) + df.trt * (-0.5 + df.trial.map(b) - 2 * (df.x1 > 0.5))
    ...            + rng.normal(0, 1, n))
    >>> fit = MetaMOB(random="both").fit(df, outcome="y", treatment="trt",
    ...                                  partition=["x1", "x2"], trial="trial")
    >>> fit.node_effects()[["node", "n"]].values.tolist()
    [[2, 509], [3, 211]]
    >>> fit.node_effects()["estimate"].round(2).tolist()
    [-0.61, -2.55]

    A binary outcome (0/1) gives a logistic GLMM tree (``glmertree(family = binomial)``),
    with node effects as log odds ratios, odds ratios and risk differences:

    >>> eta = df.trial.map(a) - 10.3 + df.trt * (0.4 + df.trial.map(b) - 1.8 * (df.x1 > 0))
    >>> df["event"] = (np.random.default_rng(2).random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    >>> bfit = MetaMOB(random="both").fit(df, outcome="event", treatment="trt",
    ...                                   partition=["x1", "x2"], trial="trial")
    >>> bfit.family_, bfit.n_terminal
    ('binary', 2)
    >>> list(bfit.node_effects().columns[5:8])
    ['odds_ratio', 'or_ci_lower', 'or_ci_upper']
    """

    #: outcome families MetaMOB supports
    families = frozenset(_FAMILY_MODELS)
    _warm_start = True  # start each GLMM from the previous iteration's theta

    def __init__(self, random: str = "both", *, family: str | None = None,
                 fixed_trial_intercepts: bool = False,
                 alpha: float = 0.05, bonferroni: bool = True, minsize: int | None = None,
                 maxdepth: float = np.inf, trim: float = 0.1,
                 parm: str | int | Sequence[str | int] | None = None,
                 cluster_tests: bool = False, prune: str | None = None,
                 numsplit: str = "left", catsplit: str = "binary", dfsplit: bool = True,
                 maxit: int = 100, abstol: float = 0.001, ranefstart: bool = False,
                 reml: bool = True, level: float = 0.95) -> None:
        self.random = random
        self.family = family
        self.fixed_trial_intercepts = fixed_trial_intercepts
        self.alpha = alpha
        self.bonferroni = bonferroni
        self.minsize = minsize
        self.maxdepth = maxdepth
        self.trim = trim
        self.parm = parm
        self.cluster_tests = cluster_tests
        self.prune = prune
        self.numsplit = numsplit
        self.catsplit = catsplit
        self.dfsplit = dfsplit
        self.maxit = maxit
        self.abstol = abstol
        self.ranefstart = ranefstart
        self.reml = reml
        self.level = level
        self.tree_ = None
        self.lmm_ = None

    # ------------------------------------------------------------------ checks
    def _random_terms(self) -> tuple[str, ...]:
        key = str(self.random).lower().replace(" ", "")
        key = _ALIASES.get(key, key)
        if key not in _RANDOM:
            raise ModelSpecificationError(
                f"random must be 'intercept', 'treatment' or 'both', not {self.random!r}.")
        terms = _RANDOM[key]
        if self.fixed_trial_intercepts and "intercept" in terms:
            raise ModelSpecificationError(
                "fixed_trial_intercepts=True models the trial intercepts as fixed effects, so "
                f"they cannot also be random (random={self.random!r}); use "
                "random='treatment' with fixed trial intercepts (metaMOB FE/RE).")
        if int(self.maxit) < 1:
            raise ModelSpecificationError(f"maxit must be >= 1, not {self.maxit!r}.")
        if not float(self.abstol) > 0:
            raise ModelSpecificationError(f"abstol must be > 0, not {self.abstol!r}.")
        if not 0 < float(self.level) < 1:
            raise ModelSpecificationError(f"level must be in (0, 1), not {self.level!r}.")
        return terms

    def _tree_parm(self):
        """``parm`` with the treatment column name mapped to its coefficient name (a
        categorical treatment's coefficient is ``"<column>[<treated level>]"``)."""
        if self.parm is None:
            return None
        one = isinstance(self.parm, (str, int, np.integer))
        parm = [self.parm] if one else list(self.parm)
        parm = [self._trt_name if p == self._treatment else p for p in parm]
        return parm[0] if one else parm

    def _make_tree(self):
        from ._mob import MOB

        return MOB(_FAMILY_MODELS[self.family_][0](), alpha=self.alpha, bonferroni=self.bonferroni,
                   minsize=self.minsize, maxdepth=self.maxdepth, trim=self.trim,
                   parm=self._tree_parm(), prune=self.prune, numsplit=self.numsplit,
                   catsplit=self.catsplit, dfsplit=self.dfsplit, missing="error")

    # ------------------------------------------------------------------ design
    def _treatment_column(self, s: pd.Series, treated) -> tuple[np.ndarray, str, dict]:
        name = str(s.name)
        if _is_categorical(s):
            lv = _levels(s)
            if len(lv) != 2:
                raise DataError(
                    f"Treatment column {name!r} must have exactly 2 levels for metaMOB, found "
                    f"{len(lv)}: {lv[:6]}. Compare two treatments at a time (subset the data) "
                    "or code the treatment numerically.")
            if treated is None:
                treated = lv[1]
            elif treated not in lv:
                raise DataError(f"treated={treated!r} is not a level of {name!r} ({lv}).")
            coding = {"kind": "categorical", "treated": treated, "levels": lv}
            return (s == treated).to_numpy(float), f"{name}[{treated}]", coding
        if treated is not None:
            raise ModelSpecificationError(
                f"treated= is only used for a categorical treatment; {name!r} is numeric.")
        x = s.to_numpy(float)
        if np.unique(x).size < 2:
            raise DataError(f"Treatment column {name!r} takes a single value: no treatment "
                            "effect can be estimated.")
        return x, name, {"kind": "numeric"}

    def _regressor_columns(self, data: pd.DataFrame, levels: dict | None = None):
        cols, names, lev_out = [], [], {} if levels is None else levels
        for r in self._regressors:
            s = data[r]
            if _is_categorical(s):
                if levels is None:
                    lev_out[r] = _levels(s)
                lv = lev_out[r]
                codes = level_codes(s, lv)
                if (codes < 0).any():
                    raise DataError(f"Regressor {r!r} has levels not seen in the fit ({lv}).")
                for j, lvl in enumerate(lv[1:], start=1):
                    cols.append((codes == j).astype(float))
                    names.append(f"{r}[{lvl}]")
            else:
                cols.append(s.to_numpy(float))
                names.append(str(r))
        return cols, names, lev_out

    def _node_design(self, node: np.ndarray, R: np.ndarray, trial_codes: np.ndarray,
                     nodes: Sequence[int] | None = None):
        """Fixed-effects design of glmertree's LMM: ``(Intercept)``, ``.tree<k>`` for
        all but the first node, [trial dummies], ``.tree<k>:<regressor>``."""
        n = node.size
        nodes = np.unique(node) if nodes is None else np.asarray(nodes)
        cols, names = [np.ones(n)], ["(Intercept)"]
        if len(nodes) == 1:
            cols += list(R.T)
            names += self._reg_names
        else:
            for k in nodes[1:]:
                cols.append((node == k).astype(float))
                names.append(f".tree{k}")
        if self.fixed_trial_intercepts:
            for j, lv in enumerate(self.trials_[1:], start=1):
                cols.append((trial_codes == j).astype(float))
                names.append(f"{self._trial}[{lv}]")
        if len(nodes) > 1:
            for r, nm in zip(R.T, self._reg_names):
                for k in nodes:
                    cols.append((node == k) * r)
                    names.append(f".tree{k}:{nm}")
        return np.column_stack(cols), names

    def _random_design(self, trt: np.ndarray) -> np.ndarray:
        return np.column_stack([np.ones(trt.size) if t == "intercept" else trt
                                for t in self._terms])

    def _global_part(self, res: LMMResults, X: np.ndarray, names: list[str]) -> np.ndarray:
        """Fixed-effect contribution of global (non-node) terms: the trial dummies."""
        glob = np.array([nm.startswith(f"{self._trial}[") for nm in names])
        if not glob.any():
            return np.zeros(X.shape[0])
        b = np.nan_to_num(res.fe_params.to_numpy()[glob])
        return X[:, glob] @ b

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame, outcome: str, treatment: str,
            partition: Sequence[str] | str, trial: str = "trial", *,
            regressors: Sequence[str] | None = None, treated=None,
            weights: str | None = None, offset: str | None = None) -> MetaMOB:
        """Fit the metaMOB tree.

        Parameters
        ----------
        data : DataFrame
            One row per patient.
        outcome : str
            Outcome column: continuous, or binary coded 0/1 (see ``family``).
        treatment : str
            Treatment column: numeric (e.g. 0/1) or with two levels (``treated`` is
            coded 1; default the second level in sorted order, as R's factor coding).
        partition : list of str
            Candidate effect modifiers (partitioning variables).
        trial : str
            Trial (study) identifier; the random effects are per trial.
        regressors : list of str, optional
            Further node-model covariates besides the treatment (e.g. a prognostic
            score); they get node-specific coefficients too.
        treated : optional
            Level of a categorical treatment coded 1.
        weights : str, optional
            Column of positive case weights (used by the tree and as LMM prior weights).
        offset : str, optional
            Column of a known offset added to the linear predictor.

        Returns
        -------
        self
        """
        with _single_thread_blas():
            return self._fit(data, outcome, treatment, partition, trial, regressors=regressors,
                             treated=treated, weights=weights, offset=offset)

    def _fit(self, data, outcome, treatment, partition, trial, *, regressors, treated,
             weights, offset) -> MetaMOB:
        self._terms = self._random_terms()
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}.")
        partition = [partition] if isinstance(partition, str) else list(partition or [])
        regressors = [regressors] if isinstance(regressors, str) else list(regressors or [])
        if not partition:
            raise ModelSpecificationError("No partitioning variables: pass partition=[...].")
        for role, cols in (("Outcome", [outcome]), ("Treatment", [treatment]),
                           ("Trial", [trial]), ("Partitioning", partition),
                           ("Regressor", regressors),
                           ("Weights", [weights] if weights else []),
                           ("Offset", [offset] if offset else [])):
            for c in cols:
                if c not in data.columns:
                    raise _missing_column(c, data, role)
        for z in partition:
            if z in (outcome, treatment) or z in regressors:
                raise ModelSpecificationError(
                    f"Column {z!r} is both a partitioning variable and in the node model; "
                    "use it in one place only.")
        used = list(dict.fromkeys([outcome, treatment, trial, *regressors, *partition,
                                   *([weights] if weights else []),
                                   *([offset] if offset else [])]))
        df = data[used]
        miss = df.isna().any(axis=1).to_numpy()
        if miss.any():
            bad = {c: int(v) for c, v in df.isna().sum().items() if v}
            warnings.warn(f"MetaMOB: dropped {int(miss.sum())} of {len(df)} rows with missing "
                          f"values {bad} (complete-case analysis).", DataWarning, stacklevel=3)
            df = df.loc[~miss]
        df = df.reset_index(drop=True)
        if _is_categorical(df[outcome]):
            raise OutcomeError(f"Outcome column {outcome!r} must be numeric for metaMOB "
                               f"(dtype {df[outcome].dtype}); code a binary outcome 0/1.")
        y = df[outcome].to_numpy(float)
        if not np.all(np.isfinite(y)):
            raise OutcomeError(f"Outcome column {outcome!r} has non-finite values.")
        self.family_ = self._resolve_family(y, outcome)
        trial_codes, trial_levels = pd.factorize(df[trial], sort=True)
        trial_labels = df[trial].to_numpy()
        self._trial = trial
        self.trials_ = list(trial_levels)
        if len(trial_levels) < 2:
            raise ModelSpecificationError(
                f"Trial column {trial!r} has a single trial ({trial_levels[0]!r}): trial random "
                "effects cannot be estimated from one trial. Use plain MOB "
                "(ipdma.trees.MOB) for a single trial.")
        trt, trt_name, coding = self._treatment_column(df[treatment], treated)
        self._treatment, self._trt_name, self._trt_coding = treatment, trt_name, coding
        self._regressors = regressors
        extra, extra_names, self._reg_levels = self._regressor_columns(df)
        self._reg_names = [trt_name, *extra_names]
        R = np.column_stack([trt, *extra])
        if "treatment" in self._terms:
            per_trial = pd.Series(trt).groupby(trial_codes).nunique()
            if (per_trial < 2).all():
                raise DataError(
                    f"No trial has more than one value of {treatment!r}: a random treatment "
                    "effect per trial is not identifiable. Use random='intercept'.")
        w = None
        if weights:
            w = df[weights].to_numpy(float)
            if np.any(~np.isfinite(w)) or np.any(w <= 0):
                raise DataError(f"Weights column {weights!r} must be positive and finite.")
        user_off = df[offset].to_numpy(float) if offset else np.zeros(len(df))
        self._outcome, self._partition = outcome, partition

        # working frame for the tree: numeric node-model regressors
        work = pd.DataFrame({c: df[c] for c in partition})
        work[outcome] = y
        for nm, col in zip(self._reg_names, R.T):
            work[nm] = col
        reg_cols = list(self._reg_names)
        if weights:
            work["__weights__"] = w
        if self.cluster_tests:
            work["__cluster__"] = trial_codes
        Z = self._random_design(trt)
        binary = self.family_ == "binary"
        lmm = LogisticMixedModel(warn=False) if binary else LinearMixedModel(reml=self.reml,
                                                                             warn=False)
        fit_kw = dict(weights=w, random_names=[
            "(Intercept)" if t == "intercept" else trt_name for t in self._terms],
            group_name=trial)

        # initial offset
        if self.ranefstart:
            X0 = np.ones((len(df), 1))
            names0 = ["(Intercept)"]
            if self.fixed_trial_intercepts:
                X0 = np.column_stack([X0] + [(trial_codes == j).astype(float)
                                             for j in range(1, len(trial_levels))])
                names0 += [f"{trial}[{lv}]" for lv in trial_levels[1:]]
            r0 = lmm.fit(y, X0, Z, trial_labels, offset=user_off, fixed_names=names0, **fit_kw)
            ranef_off = (r0.linear_predictor if binary else r0.fittedvalues) - user_off
        else:
            ranef_off = np.zeros(len(df))

        old = [-np.inf, -np.inf]
        prev_theta = None
        prev_fit = None
        history = []
        it = 0
        converged = False
        while True:
            it += 1
            work["__offset__"] = ranef_off + user_off
            tree = self._make_tree().fit(
                work, outcome=outcome, regressors=reg_cols, partition=partition,
                weights="__weights__" if weights else None, offset="__offset__",
                cluster="__cluster__" if self.cluster_tests else None)
            node = np.asarray(tree.fitted_node_)
            X, names = self._node_design(node, R, trial_codes)
            if binary and prev_fit is not None and np.array_equal(node, prev_fit[0]):
                # same node assignment as the last iteration: the GLMM (which does not use
                # the tree's offset) is the same model, so its fit is reused
                res = prev_fit[1]
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DataWarning)
                    start = ({"theta": prev_theta} if binary and prev_theta is not None
                             and self._warm_start else None)
                    res = lmm.fit(y, X, Z, trial_labels, offset=user_off, fixed_names=names,
                                  start=start, **fit_kw)
            prev_fit = (node, res)
            if binary and not res.converged and prev_theta is not None:
                # a poor start can stall the Laplace optimiser: retry from the last fit's
                # variance parameters
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DataWarning)
                    res2 = lmm.fit(y, X, Z, trial_labels, offset=user_off, fixed_names=names,
                                   start={"theta": prev_theta}, **fit_kw)
                if res2.llf > res.llf:
                    res = res2
            prev_theta = res.theta
            ranef_off = res.fitted_random + self._global_part(res, X, names)
            ll = res.llf
            splits = "; ".join(nd.split.describe() for nd in tree.tree_.walk()
                               if nd.split is not None)
            history.append({"iteration": it, "loglik": ll, "n_terminal": tree.n_terminal,
                            "splits": splits})
            cont, converged = _stopping_rule(ll, old, it, self.maxit, self.abstol)
            old = [ll, old[0]]
            if not cont:
                break

        self.tree_, self.lmm_ = tree, res
        self.glmm_ = res if binary else None
        self._R, self._trial_codes, self._user_off = R, trial_codes, user_off
        self._X_names = names
        self._nodes = np.unique(node)
        self.fitted_node_ = node
        self.n_iter, self.converged, self.loglik_ = it, bool(converged), float(ll)
        self.history_ = pd.DataFrame(history)
        self.nobs_ = len(df)
        if not converged:
            change = (abs(history[-1]["loglik"] - history[-2]["loglik"])
                      if len(history) > 1 else np.inf)
            warnings.warn(
                f"MetaMOB did not converge in maxit = {self.maxit} iterations (last change in "
                f"log-likelihood {change:.3g} > abstol = {self.abstol}); increase maxit or "
                "inspect history_.", ConvergenceWarning, stacklevel=3)
        if res.dropped:
            warnings.warn(f"The final mixed model dropped collinear fixed effects "
                          f"{res.dropped} (e.g. a node coinciding with a set of trials).",
                          DataWarning, stacklevel=3)
        if res.singular:
            warnings.warn(
                f"boundary (singular) fit of the trial random effects ({self._random_label()}):"
                " a variance is ~0 or a correlation ~+-1. Estimates are valid but consider a "
                "simpler random-effects structure (see variance_components()).",
                BoundaryWarning, stacklevel=3)
        if not res.converged:
            warnings.warn(f"The final mixed model did not converge: {res.optimizer_message}",
                          ConvergenceWarning, stacklevel=3)
        return self

    def _resolve_family(self, y: np.ndarray, outcome: str) -> str:
        fam = self.family
        is01 = bool(np.all((y == 0) | (y == 1)))
        if fam is None:
            return "binary" if is01 and np.unique(y).size == 2 else "continuous"
        key = {"gaussian": "continuous", "binomial": "binary"}.get(str(fam).lower(),
                                                                  str(fam).lower())
        if key not in self.families:
            raise ModelSpecificationError(
                f"MetaMOB does not support family={fam!r}; supported outcome families: "
                f"{', '.join(sorted(self.families))}.")
        if key == "binary" and not is01:
            bad = np.unique(y[(y != 0) & (y != 1)])[:5].tolist()
            raise OutcomeError(
                f"family='binary' needs the outcome column {outcome!r} coded 0/1; found values "
                f"such as {bad}. Recode it (e.g. (df[{outcome!r}] == 'event').astype(int)).")
        return key

    # ------------------------------------------------------------------ results
    @property
    def n_terminal(self) -> int:
        """Number of terminal nodes (subgroups) of the final tree."""
        self._check()
        return len(self._nodes)

    def _check(self):
        check_is_fitted(self, "lmm_")

    def _random_label(self) -> str:
        parts = {("intercept",): "1", ("treatment",): f"0 + {self._treatment}",
                 ("intercept", "treatment"): f"1 + {self._treatment}"}
        re = f"({parts[self._terms]} | {self._trial})"
        return f"{self._trial} + {re}" if self.fixed_trial_intercepts else re

    def formula(self) -> str:
        """The model in glmertree's three-part notation."""
        self._check()
        lhs = " + ".join([self._treatment, *self._regressors])
        return f"{self._outcome} ~ {lhs} | {self._random_label()} | {' + '.join(self._partition)}"

    def _contrasts(self, reg: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the fixed effects giving node ``(Intercept)`` / ``reg`` coefficients."""
        names = self._X_names
        p = len(names)
        Ci, S = np.zeros((len(self._nodes), p)), np.zeros((len(self._nodes), p))
        for i, k in enumerate(self._nodes):
            Ci[i, 0] = 1.0
            if len(self._nodes) > 1:
                if i > 0:
                    Ci[i, names.index(f".tree{k}")] = 1.0
                S[i, names.index(f".tree{k}:{reg}")] = 1.0
            else:
                S[i, names.index(reg)] = 1.0
        return Ci, S

    def coef(self) -> pd.DataFrame:
        """Node coefficients from the final mixed model (rows: terminal nodes), as
        ``coef(lmertree)``. With fixed trial intercepts the intercept refers to the
        first (reference) trial."""
        self._check()
        beta = self.lmm_.fe_params.to_numpy()
        out = {}
        for j, reg in enumerate(self._reg_names):
            Ci, S = self._contrasts(reg)
            if j == 0:
                out["(Intercept)"] = _combine(Ci, beta)
            out[reg] = _combine(S, beta)
        return pd.DataFrame(out, index=pd.Index(self._nodes, name="node"))

    def node_effects(self, coef: str | None = None, level: float | None = None
                     ) -> pd.DataFrame:
        """Treatment effect (or ``coef``) in every terminal node, from the final LMM.

        Returns a DataFrame with node, n, coef, estimate, se, z, p_value, ci_lower,
        ci_upper and the node's rule. Intervals are Wald (normal) intervals from
        ``vcov`` of the mixed model, as ``confint(lmer, method = "Wald")``.

        For a binary outcome ``estimate`` is the node's log odds ratio (the coefficient of
        the final GLMM), and the table adds ``odds_ratio``, ``or_ci_lower``, ``or_ci_upper``
        (the exponentiated estimate and Wald interval) and the risk difference at the
        node's average baseline: ``p0 = expit(a)``, ``p1 = expit(a + estimate)``,
        ``risk_diff = p1 - p0``, where ``a`` is the mean over the node's patients of their
        fitted control-arm log-odds (node intercept, the node coefficients of further
        regressors at the patients' values, their trial's fixed intercept or
        random-intercept conditional mode, and any offset; no random treatment deviation,
        i.e. a typical trial). ``rd_se`` is the delta-method SE from the GLMM's fixed-effect
        covariance (the conditional modes are held fixed); ``rd_ci_lower``/``rd_ci_upper``
        the Wald interval. With ``coef`` other than the treatment only the log-odds-ratio
        columns are given.
        """
        self._check()
        level = self.level if level is None else level
        reg = self._trt_name if coef is None else coef
        if reg not in self._reg_names:
            raise ModelSpecificationError(
                f"coef {reg!r} is not a node-model coefficient ({self._reg_names}).")
        _, S = self._contrasts(reg)
        beta = self.lmm_.fe_params.to_numpy()
        est = _combine(S, beta)
        V = np.nan_to_num(self.lmm_.vcov.to_numpy())
        var = np.einsum("ij,jk,ik->i", S, V, S)
        se = np.sqrt(np.where(var >= 0, var, np.nan))  # NaN if vcov is not PSD (separation)
        se[np.isnan(est)] = np.nan
        q = stats.norm.ppf(0.5 + level / 2)
        counts = pd.Series(self.fitted_node_).value_counts()
        z = est / se
        out = pd.DataFrame({
            "node": self._nodes, "n": [int(counts.get(k, 0)) for k in self._nodes],
            "coef": reg, "estimate": est, "se": se, "z": z,
            "p_value": 2 * stats.norm.sf(np.abs(z)),
            "ci_lower": est - q * se, "ci_upper": est + q * se})
        if self.family_ == "binary":
            out.insert(5, "odds_ratio", np.exp(est))
            out.insert(6, "or_ci_lower", np.exp(est - q * se))
            out.insert(7, "or_ci_upper", np.exp(est + q * se))
            if reg == self._trt_name:
                rd = self._risk_differences(S, beta, V)
                for c in ("p0", "p1", "risk_diff", "rd_se"):
                    out[c] = rd[c]
                out["rd_ci_lower"] = rd["risk_diff"] - q * rd["rd_se"]
                out["rd_ci_upper"] = rd["risk_diff"] + q * rd["rd_se"]
        out["rule"] = [self._rule(k) for k in self._nodes]
        return out

    def _risk_differences(self, S: np.ndarray, beta: np.ndarray, V: np.ndarray) -> dict:
        """Risk difference of each terminal node at its average baseline log-odds, with a
        delta-method SE (see :meth:`node_effects`)."""
        node = self.fitted_node_
        R0 = self._R.copy()
        R0[:, 0] = 0.0                                   # control arm
        X0, _ = self._node_design(node, R0, self._trial_codes, nodes=self._nodes)
        b = np.nan_to_num(beta)
        extra = self._user_off.copy()
        if "intercept" in self._terms:
            k = self._terms.index("intercept")
            extra = extra + np.nan_to_num(self.lmm_.ranef.to_numpy()[:, k])[self._trial_codes]
        res = {c: np.full(len(self._nodes), np.nan) for c in ("p0", "p1", "risk_diff", "rd_se")}
        for i, k in enumerate(self._nodes):
            m = node == k
            cbar = X0[m].mean(axis=0)
            s = S[i]
            if np.isnan(beta[(cbar != 0) | (s != 0)]).any():
                continue
            a = float(cbar @ b + extra[m].mean())
            p0 = special.expit(a)
            p1 = special.expit(a + float(s @ b))
            g = p1 * (1 - p1) * (cbar + s) - p0 * (1 - p0) * cbar
            res["p0"][i], res["p1"][i] = p0, p1
            res["risk_diff"][i] = p1 - p0
            res["rd_se"][i] = float(np.sqrt(max(g @ V @ g, 0.0)))
        return res

    def _rule(self, node_id: int) -> str:
        nodes = self.tree_.nodes_
        parts = []
        nd = nodes[node_id]
        while nd.parent is not None:
            par = nodes[nd.parent]
            k = [c.id for c in par.children].index(nd.id)
            parts.append(par.split.labels()[k])
            nd = par
        return " & ".join(reversed(parts)) if parts else "all"

    def variance_components(self) -> pd.DataFrame:
        """Trial random-effect variances/covariances and the residual variance, in the
        layout of ``as.data.frame(VarCorr(lmer))`` (vcov: variance or covariance;
        sdcor: SD or correlation)."""
        self._check()
        return self.lmm_.varcorr()

    def random_effects(self, level: float | None = None) -> pd.DataFrame:
        """Per-trial BLUPs with conditional SDs and intervals (``ranef(condVar = TRUE)``)."""
        self._check()
        return self.lmm_.random_effects(alpha=1 - (self.level if level is None else level))

    def fixed_effects(self) -> pd.DataFrame:
        """All fixed effects of the final mixed model with SE and Wald intervals."""
        self._check()
        return self.lmm_.to_frame()

    def predict(self, data: pd.DataFrame, type: str = "response",
                random: bool = True) -> pd.Series | pd.DataFrame:
        """Predictions for (new) patients.

        Parameters
        ----------
        data : DataFrame
            Partitioning variables, and for ``type="response"`` the treatment, the other
            regressors and (if ``random``) the trial column.
        type : {"response", "node", "effect"}
            ``"node"``: terminal node; ``"effect"``: the node's treatment effect with SE and
            interval; ``"response"``: the expected outcome (binary: the probability of
            the event).
        random : bool
            Add the trial's random effects (zero for trials not in the fit) and, with fixed
            trial intercepts, its fixed intercept. ``False`` gives population-level
            predictions (reference trial for fixed trial intercepts).
        """
        self._check()
        node = np.asarray(self.tree_.apply(data))
        idx = data.index
        if type == "node":
            return pd.Series(node, index=idx, name="node")
        if type == "effect":
            tab = self.node_effects().set_index("node")
            out = tab.loc[node, ["estimate", "se", "ci_lower", "ci_upper"]]
            out.insert(0, "node", node)
            out.index = idx
            return out
        if type != "response":
            raise ModelSpecificationError(
                f"type must be 'response', 'node' or 'effect', not {type!r}.")
        for c in [self._treatment, *self._regressors] + ([self._trial] if random else []):
            if c not in data.columns:
                raise _missing_column(c, data, "Prediction")
        s = data[self._treatment]
        if self._trt_coding["kind"] == "categorical":
            unknown = ~s.isin(self._trt_coding["levels"])
            if unknown.any():
                raise DataError(f"Treatment values {sorted(set(s[unknown].astype(str)))} were "
                                f"not in the fit ({self._trt_coding['levels']}).")
            trt = (s == self._trt_coding["treated"]).to_numpy(float)
        else:
            trt = s.to_numpy(float)
        extra, _, _ = self._regressor_columns(data, levels=self._reg_levels)
        R = np.column_stack([trt, *extra])
        C = self.coef().loc[node].to_numpy()
        pred = C[:, 0] + np.sum(C[:, 1:] * R, axis=1)
        if random:
            codes = pd.Index(self.trials_).get_indexer(data[self._trial])
            known = codes >= 0
            if self.fixed_trial_intercepts:
                fe = self.lmm_.fe_params
                tri = np.array([0.0] + [fe.get(f"{self._trial}[{lv}]", 0.0)
                                        for lv in self.trials_[1:]])
                pred = pred + np.where(known, tri[np.maximum(codes, 0)], np.nan)
                if (~known).any():
                    warnings.warn(f"{int((~known).sum())} row(s) belong to trials not in the fit;"
                                  " with fixed trial intercepts their outcome is not predictable"
                                  " (NaN). Use random=False or type='effect'.", DataWarning,
                                  stacklevel=2)
            B = np.vstack([np.nan_to_num(self.lmm_.ranef.to_numpy()),
                           np.zeros((1, len(self._terms)))])
            Zn = self._random_design(trt)
            pred = pred + np.sum(Zn * B[np.where(known, codes, -1)], axis=1)
        if self.family_ == "binary":
            pred = special.expit(pred)
        return pd.Series(pred, index=idx, name="response")

    # ------------------------------------------------------------------ protocol
    def to_frame(self) -> pd.DataFrame:
        """Tidy node-effects table (see :meth:`node_effects`)."""
        return self.node_effects()

    def summary(self) -> Summary:
        self._check()
        binary = self.family_ == "binary"
        crit = "Laplace" if binary else "REML" if self.reml else "ML"
        info = {"Model": self.formula(),
                "Observations": self.nobs_, "Trials": len(self.trials_),
                "Terminal nodes": len(self._nodes),
                "Iterations": self.n_iter, "Converged": self.converged,
                f"{crit} log-likelihood": self.loglik_,
                "Tree depth (partykit depth())": self.depth(),
                "Tested coefficients": "all" if self.parm is None else str(self.parm),
                "Cluster-level tests": self.cluster_tests}
        ne = self.node_effects().set_index("node").drop(columns=["coef", "z"])
        if binary:
            lor = ne[["n", "estimate", "se", "p_value", "ci_lower", "ci_upper"]]
            eff = ne[["odds_ratio", "or_ci_lower", "or_ci_upper", "p0", "p1", "risk_diff",
                      "rd_ci_lower", "rd_ci_upper", "rule"]]
            tables = {f"Node treatment effects: log odds ratio ({self._trt_name}, "
                      f"{self.level:.0%} Wald CI)": lor,
                      "Odds ratio and risk difference at the node's average baseline": eff}
        else:
            tables = {f"Node treatment effects ({self._trt_name}, {self.level:.0%} Wald CI)":
                      ne}
        tables["Variance components"] = self.variance_components().fillna("")
        splits = pd.DataFrame([{"node": nd.id, "split": nd.split.describe(),
                                "p_value": nd.p_value}
                               for nd in self.tree_.tree_.walk() if nd.split is not None])
        if len(splits):
            tables["Splits"] = splits.set_index("node")
        notes = ["Node effects and intervals come from the final mixed model (Wald, normal)."]
        if binary:
            notes.append("Risk difference p1 - p0 at the mean fitted control-arm log-odds of "
                         "the node's patients (typical trial), delta-method CI.")
        if self.lmm_.singular:
            notes.append("Boundary (singular) random-effects fit.")
        if not self.converged:
            notes.append("The tree/mixed-model alternation did not converge.")
        title = ("metaMOB: generalized linear mixed-model tree (binomial, logit)" if binary
                 else "metaMOB: linear mixed-model tree")
        return Summary(title=title, info=info, tables=tables, notes=notes)

    def depth(self, root: bool = False) -> int:
        """Depth of the final tree: ``depth()`` is partykit's ``depth(tree)`` (split
        levels; a root-only tree has 0), ``depth(root=True)`` its ``root = TRUE``
        variant, which is ipdma's node depth (root = 1, as ``maxdepth``).  See
        :meth:`MOB.depth`."""
        self._check()
        return self.tree_.depth(root=root)

    def print_lines(self) -> list[str]:
        """The printout as lines. First exactly glmertree's ``print(lmertree)`` /
        ``print(glmertree)``: title, the final tree (as partykit prints it), the
        conditional modes of the random effects per trial; then what lme4's
        ``summary`` adds: the variance components (variances, SDs and correlations, as
        ``VarCorr``), the number of observations and groups, and the log-likelihood at
        full precision."""
        from ._rformat import format_r

        self._check()
        binary = self.family_ == "binary"
        title = "Generalized linear mixed model tree" if binary else "Linear mixed model tree"
        out = [title, *self.tree_.print_lines()[1:], "", "Random effects:",
               f"${self.lmm_.group_name}"]
        re = self.lmm_.ranef
        cols = [format_r(re[c].to_numpy(), digits=7) for c in re.columns]
        rn = [str(v) for v in re.index]
        wr = max(len(r) for r in rn)
        widths = [max(len(str(c)), *(len(v) for v in col)) for c, col in zip(re.columns, cols)]
        out.append(" " * wr + "".join(" " + str(c).rjust(w) for c, w in zip(re.columns, widths)))
        for i, r in enumerate(rn):
            out.append(r.ljust(wr) + "".join(" " + col[i].rjust(w)
                                             for col, w in zip(cols, widths)))
        out += ["", f"with conditional variances for \u201c{self.lmm_.group_name}\u201d ", "",
                "Variance components:"]
        vc = self.lmm_.varcorr()
        var_rows = vc[vc["var2"].isna()]
        cor_rows = vc[vc["var2"].notna()]
        names = list(self.lmm_.random_names)
        rows = []
        for _, r in var_rows.iterrows():
            grp, nm = str(r["grp"]), "" if pd.isna(r["var1"]) else str(r["var1"])
            corr = []
            if grp != "Residual" and nm in names:
                i = names.index(nm)
                for j in range(i):
                    hit = cor_rows[(cor_rows["var1"] == names[j]) & (cor_rows["var2"] == nm)]
                    corr.append(f"{float(hit['sdcor'].iloc[0]):.2f}" if len(hit) else "")
            rows.append((grp if nm == names[0] or grp == "Residual" else "", nm,
                         f"{r['vcov']:.6g}", f"{r['sdcor']:.6g}", " ".join(corr)))
        head = ("Groups", "Name", "Variance", "Std.Dev.", "Corr" if len(cor_rows) else "")
        table = [head, *rows]
        wd = [max(len(t[k]) for t in table) for k in range(5)]
        for t in table:
            out.append(" " + " ".join(t[k].ljust(wd[k]) for k in range(5)).rstrip())
        out.append(f"Number of obs: {self.nobs_}, groups: {self.lmm_.group_name}, "
                   f"{self.lmm_.n_groups}")
        crit = "Laplace" if binary else "REML" if self.reml else "ML"
        out += ["", f"log-likelihood ({crit}): {self.loglik_!r} "
                    f"(df = {int(self.lmm_.df_model)})"]
        return out

    def save(self, path, **kwargs):
        """Write the fitted model as a versioned JSON model file; see
        :func:`ipdma.serialize.save_model` and ``load_model``."""
        from ..serialize import save_model

        return save_model(self, path, **kwargs)

    def __str__(self) -> str:
        if self.lmm_ is None:
            return f"MetaMOB(random={self.random!r}) (not fitted)"
        return "\n".join(self.print_lines())

    __repr__ = __str__

    def export_calculator(self, path, **options):
        """Write a per-patient calculator page (one self-contained HTML file) for this
        model; see :func:`ipdma.calculator.export_calculator` for the options (the
        patient's subgroup and its node effect from the final mixed model)."""
        from ..calculator import export_calculator

        return export_calculator(self, path, **options)

    def plot(self, ax=None, kind: str = "tree", **kwargs):
        """Plot the fit.

        ``kind="tree"``: the final tree (MOB tree diagram, terminal panels with the
        mixed-model node effects; extra keyword arguments go to the diagram, e.g.
        ``terminal="outcome"``); ``"effects"``: forest plot
        of the node treatment effects with intervals; ``"ranef"``: caterpillar plot of
        the per-trial random effects. Returns the matplotlib Axes.
        """
        self._check()
        if kind == "tree":
            try:
                from ._treeplot import plot_tree
            except ImportError:  # tree diagram not available: fall back to the effects
                kind = "effects"
            else:
                # the MOB tree diagram, with the terminal panels showing the mixed model's
                # node effects and Wald intervals (not the last lmtree's OLS intervals)
                kwargs.setdefault("level", self.level)
                return plot_tree(_MixedEffectsView(self), ax=ax, **kwargs)
        if kind == "ranef":
            return self.lmm_.plot(ax=ax, alpha=1 - self.level)
        if kind != "effects":
            raise ModelSpecificationError(
                f"kind must be 'tree', 'effects' or 'ranef', not {kind!r}.")
        from ..plots import color_for, get_ax

        ne = self.node_effects()
        ax = get_ax(ax)
        pos = np.arange(len(ne))[::-1]
        ax.errorbar(ne["estimate"], pos, xerr=[ne["estimate"] - ne["ci_lower"],
                                               ne["ci_upper"] - ne["estimate"]],
                    fmt="s", color=color_for(0), capsize=3)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(pos, [f"[{k}] {r} (n={n})" for k, r, n in
                            zip(ne["node"], ne["rule"], ne["n"])])
        scale = "log odds ratio" if self.family_ == "binary" else "treatment effect"
        ax.set_xlabel(f"{scale} ({self._trt_name}), {self.level:.0%} CI")
        ax.set_title("metaMOB node effects")
        return ax

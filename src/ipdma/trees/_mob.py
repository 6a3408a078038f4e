"""Model-based recursive partitioning (MOB), a re-implementation of partykit's ``mob``/
``lmtree``/``glmtree`` (Zeileis, Hothorn & Hornik 2008) for subgroup identification.

In each node a parametric node model (e.g. ``y ~ trt``) is fitted; score-based
parameter-instability tests (sup-LM for numeric and ordered variables, chi-square LM for
unordered factors) select the partitioning variable; the split point minimises the summed
objective of the two children; recursion stops when no test is significant after
Bonferroni adjustment, or a size/depth rule fires. Optional post-pruning by AIC/BIC.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .._base import ResultsMixin, Summary, check_is_fitted, check_random_state
from ..errors import (
    ColumnNotFoundError,
    DataError,
    DataWarning,
    MissingDataError,
    ModelSpecificationError,
    OutcomeError,
    column_not_found,
)
from ._nodemodels import NodeFit, NodeModel, _too_few, get_node_model
from ._rformat import format_num, print_named_vector, r_character
from ._suplm import (
    _TestVar,
    adjust_pvalues,
    decorrelated_process,
    fluctuation_tests,
    suplm_lambda,
)

__all__ = ["MOB", "MOBNode", "MOBSplit", "PartitionVariable"]


# --------------------------------------------------------------------------------------
# data handling
# --------------------------------------------------------------------------------------
def _column_error(name: str, data: pd.DataFrame, role: str) -> ColumnNotFoundError:
    return column_not_found(name, data.columns, role)


def level_codes(s: pd.Series, levels: Sequence[Any]) -> np.ndarray:
    """Codes 0..len(levels)-1 of ``s`` in ``levels``; -1 for missing values and for values
    not among ``levels`` (unseen levels are masked first: pandas deprecates building a
    Categorical from values outside its categories)."""
    s = pd.Series(s)
    if isinstance(s.dtype, pd.CategoricalDtype):   # its own categories may hold more levels
        s = s.astype(object)
    known = s.isin(list(levels))
    return np.asarray(pd.Categorical(s.where(known), categories=levels).codes, dtype=np.int64)


@dataclass
class PartitionVariable:
    """How a partitioning variable is encoded: ``kind`` is ``"numeric"``, ``"ordered"``
    (ordered factor) or ``"nominal"`` (unordered factor, binary or multiway splits).

    Examples
    --------
    :class:`MOB` builds one per partitioning variable from its column; factors are encoded
    as level codes.

    >>> import pandas as pd
    >>> from ipdma.trees import PartitionVariable
    >>> PartitionVariable.from_series(pd.Series([3.5, 1.0, 2.0], name="age")).kind
    'numeric'
    >>> sex = PartitionVariable.from_series(pd.Series(["male", "female", "male"], name="sex"))
    >>> sex.kind, sex.levels
    ('nominal', ['female', 'male'])
    >>> sex.encode(pd.Series(["female", "male", "male"])).tolist()
    [0, 1, 1]
    >>> grade = pd.Series(pd.Categorical(["low", "high"], categories=["low", "mid", "high"],
    ...                                  ordered=True), name="grade")
    >>> PartitionVariable.from_series(grade).kind
    'ordered'
    """

    name: str
    kind: str
    levels: list | None = None

    @classmethod
    def from_series(cls, s: pd.Series) -> PartitionVariable:
        name = str(s.name)
        if isinstance(s.dtype, pd.CategoricalDtype):
            kind = "ordered" if s.cat.ordered else "nominal"
            return cls(name, kind, list(s.cat.categories))
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            return cls(name, "numeric")
        levels = sorted(pd.unique(s.dropna()).tolist(), key=str)
        return cls(name, "nominal", levels)

    def encode(self, s: pd.Series) -> np.ndarray:
        """Numeric values (float) or level codes (int, -1 for levels not seen in training)."""
        if self.kind == "numeric":
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                raise DataError(f"Partitioning variable {self.name!r} was numeric when the tree "
                                f"was fitted but has dtype {s.dtype} now.")
            return s.to_numpy(dtype=float)
        return level_codes(s, self.levels)


@dataclass
class MOBSplit:
    """A split of an inner node.

    Attributes
    ----------
    variable : str
        Partitioning variable.
    kind : {"numeric", "ordered", "nominal"}
    breaks : float or None
        Numeric variables: left child if value <= breaks. Ordered factors: the position
        (0-based) in ``levels`` of the last level that goes left.
    index : ndarray or None
        Nominal factors: child (0-based) of every level in ``levels``; -1 for levels that were
        absent from the node.
    levels : list or None
        Levels of a factor.

    Examples
    --------
    The split of an inner node is its ``split`` attribute:

    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MOB
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
    ...                    "trt": rng.integers(0, 2, n)})
    >>> df["y"] = 10 + df.trt * (0.2 + 1.5 * (df.x1 > 0)) + rng.normal(size=n)
    >>> tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x1", "x2"])
    >>> split = tree.tree_.split
    >>> split.variable, split.kind, split.n_kids
    ('x1', 'numeric', 2)
    >>> round(split.breaks, 3)
    0.014
    >>> split.labels()
    ['x1 <= 0.01375', 'x1 > 0.01375']
    >>> split.kid_of(np.array([-1.0, 0.5, np.nan])).tolist()    # child of each value
    [0, 1, -1]
    """

    variable: str
    kind: str
    breaks: float | None = None
    index: np.ndarray | None = None
    levels: list | None = None

    @property
    def n_kids(self) -> int:
        if self.index is not None:
            return int(self.index.max()) + 1
        return 2

    def kid_of(self, x: np.ndarray) -> np.ndarray:
        """Child (0-based) of encoded values ``x``; -1 where undefined (missing value or a
        level that did not occur in the node)."""
        if self.kind == "numeric":
            out = np.where(x <= self.breaks, 0, 1)
            out[np.isnan(x)] = -1
            return out
        if self.kind == "ordered":
            out = np.where(x <= self.breaks, 0, 1)
            out[x < 0] = -1
            return out
        out = np.full(len(x), -1, dtype=np.int64)
        ok = x >= 0
        out[ok] = self.index[x[ok]]
        return out

    def labels(self) -> list[str]:
        """Labels of the children, as partykit prints them (e.g. ``"x1 <= -0.03955"``)."""
        v = self.variable
        if self.kind == "numeric":
            b = r_character(round(float(self.breaks), 5))
            return [f"{v} <= {b}", f"{v} > {b}"]
        if self.kind == "ordered":
            lev = self.levels[int(self.breaks)]
            return [f"{v} <= {lev}", f"{v} > {lev}"]
        labs = []
        for kid in range(self.n_kids):
            labs.append(f"{v} in " + ", ".join(str(lv) for lv, k in zip(self.levels, self.index)
                                              if k == kid))
        return labs

    def describe(self) -> str:
        return " | ".join(self.labels())


@dataclass
class MOBNode:
    """A node of a fitted MOB tree.

    Attributes
    ----------
    id : int
        Node id (depth-first pre-order, root = 1), as partykit.
    depth : int
        Root has depth 1.
    parent : int or None
    children : list of MOBNode
    nobs : float
        Number of observations (sum of case weights).
    fit : NodeFit
        Node model fit (coefficients, vcov, objective, ...).
    tests : DataFrame or None
        Instability tests (variable, statistic, p_value adjusted, p_value_raw), or None
        when no test was run (node too small or at maximum depth).
    p_value : float
        Adjusted p-value of the selected (most unstable) variable; NaN if no test.
    split : MOBSplit or None
    stop_reason : str
        Why a terminal node was not split.

    Examples
    --------
    The root of a fitted tree is ``tree_``; ``nodes_`` holds every node by id:

    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MOB
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
    ...                    "trt": rng.integers(0, 2, n)})
    >>> df["y"] = 10 + df.trt * (0.2 + 1.5 * (df.x1 > 0)) + rng.normal(size=n)
    >>> tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x1", "x2"])
    >>> root = tree.tree_
    >>> root.id, root.terminal, root.nobs, [kid.id for kid in root.children]
    (1, False, 600.0, [2, 3])
    >>> root.tests[["variable", "selected"]].values.tolist()
    [['x1', True], ['x2', False]]
    >>> bool(root.p_value < 0.05)
    True
    >>> [(nd.id, nd.depth, nd.nobs) for nd in root.walk() if nd.terminal]
    [(2, 2, 305.0), (3, 2, 295.0)]
    >>> tree.nodes_[3].coef.round(2).tolist()       # (Intercept), trt
    [10.09, 1.71]
    >>> tree.nodes_[3].stop_reason
    'no significant instability (min adjusted p > alpha = 0.05)'
    """

    id: int
    depth: int
    parent: int | None
    nobs: float
    fit: NodeFit
    rows: np.ndarray = field(repr=False, default=None)
    tests: pd.DataFrame | None = None
    p_value: float = np.nan
    split: MOBSplit | None = None
    children: list[MOBNode] = field(default_factory=list)
    stop_reason: str = ""

    @property
    def terminal(self) -> bool:
        return not self.children

    @property
    def coef(self) -> pd.Series:
        return pd.Series(self.fit.coef, index=self.fit.coef_names, name=self.id)

    def walk(self):
        """Iterate over the subtree in pre-order."""
        yield self
        for c in self.children:
            yield from c.walk()


# --------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------
class MOB(ResultsMixin):
    """Model-based recursive partitioning (partykit's ``mob``/``lmtree``/``glmtree``).

    Parameters
    ----------
    node_model : {"linear", "logistic", "weibull"} or NodeModel
        Model fitted in every node: ``"linear"`` (OLS, as ``lmtree``), ``"logistic"``
        (binomial GLM, as ``glmtree(family = binomial)``), ``"weibull"``
        (:class:`WeibullModel`, Weibull AFT regression for a time-to-event outcome given
        by ``fit(..., time=, event=)``, as ``mob(..., fit = wbreg)``), or any
        :class:`NodeModel`.
    alpha : float
        Significance level of the (adjusted) instability tests; a node with min p > alpha
        is terminal.
    bonferroni : bool
        Adjust the p-values for the number of partitioning variables tested in the node
        (partykit's rule: ``1 - (1 - p)^m`` if p > 0.001, else ``min(1, m p)``).
    minsize : int or None
        Minimum number of observations (sum of weights) in a child. Default
        ``ceil(10 * p)`` with p the number of node-model coefficients, computed once at the
        root. Nodes with fewer than ``2 * minsize`` observations are not split.
    maxdepth : int or inf
        Maximum depth (root has depth 1, so ``maxdepth=2`` allows one split).
    trim : float
        Trimming of the sup-LM test: a fraction (< 0.5) or, if > 1, a number of observations;
        at least ``minsize`` observations are trimmed at either end.
    parm : str, int or sequence, optional
        Coefficients whose stability is tested: names (e.g. ``"trt"``) or 0-based positions.
        ``parm="trt"`` tests only the treatment effect, so purely prognostic variables do
        not split. Default: all coefficients (intercept included, as partykit).
    prune : {None, "AIC", "BIC"}
        Post-pruning: collapse inner nodes whose children are all terminal when that lowers
        the information criterion.
    breakties : bool
        Break ties of numeric partitioning variables at random in the tests (uses
        ``random_state``).
    numsplit : {"left", "center"}
        Numeric split point: the largest value going left, or the midpoint to the next value.
    catsplit : {"binary", "multiway"}
        Unordered factors: best binary partition of the levels, or one child per level.
    dfsplit : bool
        Count one degree of freedom per split in logLik/AIC/BIC and pruning.
    intercept : bool
        Add an intercept to the node model.
    missing : {"drop", "error"}
        Rows with missing values in the used columns: drop them with a
        :class:`~ipdma.errors.DataWarning`, or raise.
    random_state : None, int or Generator
        Only used with ``breakties=True``.

    Attributes
    ----------
    tree_ : MOBNode
        Root of the fitted tree.
    nodes_ : dict[int, MOBNode]
        All nodes by id.
    tests_ : DataFrame
        Instability tests of every node where they were run (node, variable, statistic,
        p_value (adjusted), p_value_raw, selected).
    coef_names_ : list of str
    fitted_node_ : ndarray
        Terminal node of every row of the training data (NaN-free rows).
    minsize_ : int
        Minimum node size actually used.

    Notes
    -----
    Correspondence with R: ``lmtree(y ~ trt | z1 + z2, data, parm = 2, ...)`` is
    ``MOB(parm="trt", ...).fit(data, "y", ["trt"], ["z1", "z2"])`` and ``glmtree(...,
    family = binomial)`` is ``MOB("logistic", ...)``. The tree (splits, node ids, node
    coefficients), the test statistics and p-values, logLik/AIC/BIC and the printout match
    partykit 1.2 (tested against R to 1e-10 for fits, 1e-8 for statistics). Differences:
    ``parm`` positions are 0-based (names are accepted); ordered factors always use the
    chi-square test (partykit's default ``ordinal = "chisq"``); ``vcov`` is always "opg";
    ``mtry`` (forests) is not offered; ``breakties`` uses numpy's generator, so its random
    tie-breaking differs from R's.

    The split search of :class:`LinearModel` scores all candidate cuts from cumulative
    sums of X'WX, X'Wr and r'Wr over the sorted variable (no refitting), which makes it
    orders of magnitude faster than partykit on large data (see
    ``benchmarks/bench_trees.py``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.trees import MOB
    >>> rng = np.random.default_rng(1)
    >>> n = 600
    >>> df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n),
    ...                    "trt": rng.integers(0, 2, n)})
    >>> df["y"] = 10 + df.trt * (0.2 + 1.5 * (df.x1 > 0)) + rng.normal(size=n)
    >>> tree = MOB(parm="trt").fit(df, outcome="y", regressors=["trt"],
    ...                            partition=["x1", "x2"])
    >>> tree.n_terminal
    2
    >>> eff = tree.predict(df.head(3), type="effect")
    >>> list(eff.columns)
    ['node', 'estimate', 'se', 'ci_lower', 'ci_upper']
    """

    def __init__(self, node_model: str | NodeModel = "linear", *, alpha: float = 0.05,
                 bonferroni: bool = True, minsize: int | None = None,
                 maxdepth: float = np.inf, trim: float = 0.1,
                 parm: str | int | Sequence[str | int] | None = None,
                 prune: str | None = None, breakties: bool = False, numsplit: str = "left",
                 catsplit: str = "binary", dfsplit: bool = True, intercept: bool = True,
                 missing: str = "drop", random_state=None):
        self.node_model = node_model
        self.alpha = alpha
        self.bonferroni = bonferroni
        self.minsize = minsize
        self.maxdepth = maxdepth
        self.trim = trim
        self.parm = parm
        self.prune = prune
        self.breakties = breakties
        self.numsplit = numsplit
        self.catsplit = catsplit
        self.dfsplit = dfsplit
        self.intercept = intercept
        self.missing = missing
        self.random_state = random_state
        self.tree_ = None

    # ---------------------------------------------------------------- validation
    def _check_params(self) -> None:
        if not (0 < float(self.alpha) <= 1):
            raise ModelSpecificationError(f"alpha must be in (0, 1], not {self.alpha!r}")
        if self.minsize is not None:
            if int(self.minsize) != self.minsize or self.minsize < 1:
                raise ModelSpecificationError(
                    f"minsize must be a positive integer (number of observations), not "
                    f"{self.minsize!r}")
        if not (self.maxdepth >= 1):
            raise ModelSpecificationError(f"maxdepth must be >= 1, not {self.maxdepth!r}")
        t = float(self.trim)
        if not (0 < t < 0.5 or t > 1):
            raise ModelSpecificationError(
                f"trim must be a fraction in (0, 0.5) or a number of observations > 1, not {t}")
        if self.prune is not None and str(self.prune).upper() not in ("AIC", "BIC"):
            raise ModelSpecificationError(
                f"prune must be None, 'AIC' or 'BIC', not {self.prune!r}")
        if self.numsplit not in ("left", "center", "centre"):
            raise ModelSpecificationError(
                f"numsplit must be 'left' or 'center', not {self.numsplit!r}")
        if self.catsplit not in ("binary", "multiway"):
            raise ModelSpecificationError(
                f"catsplit must be 'binary' or 'multiway', not {self.catsplit!r}")
        if self.missing not in ("drop", "error"):
            raise ModelSpecificationError(f"missing must be 'drop' or 'error', not {self.missing!r}")

    @staticmethod
    def _as_list(x, what: str) -> list[str]:
        if x is None:
            return []
        if isinstance(x, str):
            return [x]
        out = list(x)
        if len(set(out)) != len(out):
            raise ModelSpecificationError(f"{what} lists a column more than once: {out}")
        return out

    def _design(self, data: pd.DataFrame, regressors: list[str], levels=None):
        """Regressor matrix (intercept first) and coefficient names; categorical regressors
        get treatment (dummy) coding named ``"col[level]"``."""
        cols = []
        names = []
        if self.intercept:
            cols.append(np.ones(len(data)))
            names.append("(Intercept)")
        lev_out = {} if levels is None else levels
        for r in regressors:
            s = data[r]
            is_cat = (isinstance(s.dtype, pd.CategoricalDtype)
                      or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)))
            if is_cat:
                if levels is None:
                    lv = (list(s.cat.categories) if isinstance(s.dtype, pd.CategoricalDtype)
                          else sorted(pd.unique(s.dropna()).tolist(), key=str))
                    lev_out[r] = lv
                lv = lev_out[r]
                codes = level_codes(s, lv)
                if (codes < 0).any():
                    bad = sorted(set(s[codes < 0].astype(str)))[:5]
                    raise DataError(f"Regressor {r!r} has levels {bad} not seen when the tree "
                                    f"was fitted (known levels: {lv}).")
                for j, lvl in enumerate(lv[1:], start=1):
                    cols.append((codes == j).astype(float))
                    names.append(f"{r}[{lvl}]")
            else:
                cols.append(s.to_numpy(dtype=float))
                names.append(str(r))
        X = np.column_stack(cols) if cols else np.zeros((len(data), 0))
        return X, names, lev_out

    def _resolve_parm(self, coef_names: list[str]) -> list[str] | None:
        if self.parm is None:
            return None
        parm = [self.parm] if isinstance(self.parm, (str, int, np.integer)) else list(self.parm)
        out = []
        for p in parm:
            if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
                if not 0 <= p < len(coef_names):
                    raise ModelSpecificationError(
                        f"parm index {p} is out of range for the {len(coef_names)} node-model "
                        f"coefficients {coef_names} (indices are 0-based; R's parm = 2 is "
                        f"parm = 1 or parm = {coef_names[min(1, len(coef_names) - 1)]!r} here).")
                out.append(coef_names[p])
            else:
                if p not in coef_names:
                    close = difflib.get_close_matches(str(p), coef_names, n=1, cutoff=0.4)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise ModelSpecificationError(
                        f"parm names coefficient {p!r}, which is not in the node model "
                        f"(coefficients: {coef_names}).{hint}")
                out.append(p)
        return out

    # ---------------------------------------------------------------- fit
    def fit(self, data: pd.DataFrame, outcome: str | None = None,
            regressors: Sequence[str] | str | None = ("trt",),
            partition: Sequence[str] | str | None = None,
            weights: str | np.ndarray | None = None, offset: str | np.ndarray | None = None,
            cluster: str | np.ndarray | None = None, *, time: str | None = None,
            event: str | None = None) -> MOB:
        """Grow (and optionally prune) the tree.

        Parameters
        ----------
        data : DataFrame
            One row per patient.
        outcome : str
            Outcome column (0/1 for the logistic node model); default ``"y"``. Not used
            for a time-to-event outcome (give ``time`` and ``event`` instead).
        regressors : list of str
            Regressors of the node model (typically the treatment indicator); an intercept is
            added unless ``intercept=False``.
        partition : list of str
            Partitioning variables (numeric, ordered categorical, or unordered
            categorical/string columns). Default: all columns not used otherwise.
        weights : str or array, optional
            Case weights (column name or array); rows with weight 0 are not used.
        offset : str or array, optional
            Offset of the node model's linear predictor (``y - offset`` is modelled by the
            linear model); used by metaMOB/GLMM trees.
        cluster : str or array, optional
            Cluster identifier: the instability tests then use per-cluster sums of scores.
        time, event : str, optional
            Time-to-event outcome (node models of the ``"survival"`` family such as
            :class:`WeibullModel`): follow-up time (> 0) and event indicator (1 = event,
            0 = censored) columns, as ``Surv(time, event)`` in R. The node model then
            receives ``y`` as an (n, 2) array [time, event], and the default ``minsize`` is
            ``ceil(10 * p / 2)`` as partykit's for a two-column ``Surv`` response.

        Returns
        -------
        self
        """
        self._check_params()
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        model = get_node_model(self.node_model)
        regressors = self._as_list(regressors, "regressors")
        families = getattr(model, "families", None)
        survival = time is not None or event is not None
        if survival:
            if time is None or event is None:
                raise ModelSpecificationError(
                    "A time-to-event outcome needs both time= and event= (columns of the "
                    "follow-up time and of the 1/0 event indicator).")
            if outcome is not None:
                raise ModelSpecificationError(
                    "Pass either outcome= or time=/event=, not both.")
            if families is None or "survival" not in families:
                raise ModelSpecificationError(
                    f"The {model.name} node model does not handle time-to-event outcomes "
                    f"(families: {sorted(families or [])}; a node model for them declares "
                    "families = frozenset({'survival'})); use node_model=WeibullModel() with "
                    "time=/event=.")
            outcome_cols = [time, event]
            roles = ["Time", "Event"]
        else:
            outcome = "y" if outcome is None else outcome
            if families is not None and set(families) == {"survival"}:
                raise ModelSpecificationError(
                    f"The {model.name} node model needs a time-to-event outcome: pass time= "
                    "and event= (follow-up time and 1/0 event columns) instead of outcome=.")
            outcome_cols = [outcome]
            roles = ["Outcome"]
        for col, role in zip(outcome_cols, roles):
            if col not in data.columns:
                raise _column_error(col, data, role)
        for r in regressors:
            if r not in data.columns:
                raise _column_error(r, data, "Regressor")
        extra_cols = {}
        for role, v in (("weights", weights), ("offset", offset), ("cluster", cluster)):
            if isinstance(v, str):
                if v not in data.columns:
                    raise _column_error(v, data, role.capitalize())
                extra_cols[role] = v
        if partition is None:
            used = {*outcome_cols, *regressors, *extra_cols.values()}
            partition = [c for c in data.columns if c not in used]
        partition = self._as_list(partition, "partition")
        if not partition:
            raise ModelSpecificationError("No partitioning variables: pass partition=[...].")
        for z in partition:
            if z not in data.columns:
                raise _column_error(z, data, "Partitioning")
            if z in outcome_cols or z in regressors:
                raise ModelSpecificationError(
                    f"Column {z!r} is used both as a partitioning variable and in the node "
                    "model; use it in one place only.")

        n0 = len(data)
        arrays = {}
        for role, v in (("weights", weights), ("offset", offset), ("cluster", cluster)):
            if v is None or isinstance(v, str):
                continue
            a = np.asarray(v)
            if a.shape != (n0,):
                raise ModelSpecificationError(
                    f"{role} must be a column name or an array with one value per row "
                    f"({n0}), got shape {a.shape}")
            arrays[role] = a
        used_cols = [*outcome_cols, *regressors, *partition, *extra_cols.values()]
        df = data[list(dict.fromkeys(used_cols))]
        miss = np.array(df.isna().any(axis=1).to_numpy(), dtype=bool)
        for role, a in arrays.items():
            if role != "cluster":
                miss |= ~np.isfinite(a.astype(float))
            else:
                miss |= pd.isna(a)
        if miss.any():
            bad = df.columns[df.isna().any()].tolist()
            if self.missing == "error":
                raise MissingDataError(
                    f"{int(miss.sum())} rows have missing values (columns {bad}); impute or "
                    "drop them, or use missing='drop'.")
            warnings.warn(f"MOB: dropped {int(miss.sum())} of {n0} rows with missing values "
                          f"(columns {bad}).", DataWarning, stacklevel=2)
        keep = ~miss
        df = df.loc[keep]
        for col, role in zip(outcome_cols, roles):
            yc = df[col]
            if not (pd.api.types.is_numeric_dtype(yc) or pd.api.types.is_bool_dtype(yc)):
                raise OutcomeError(f"{role} column {col!r} must be numeric (dtype {yc.dtype}).")
        if survival:
            y = df[outcome_cols].to_numpy(dtype=float)
            model.check_outcome(y, name=(time, event))
        else:
            y = df[outcome].to_numpy(dtype=float)
            model.check_outcome(y, name=f"outcome column {outcome!r}")
        X, coef_names, reg_levels = self._design(df, regressors)
        w = (df[extra_cols["weights"]].to_numpy(dtype=float) if "weights" in extra_cols
             else arrays["weights"].astype(float)[keep] if "weights" in arrays
             else np.ones(len(df)))
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise DataError("weights must be finite and non-negative.")
        off = (df[extra_cols["offset"]].to_numpy(dtype=float) if "offset" in extra_cols
               else arrays["offset"].astype(float)[keep] if "offset" in arrays else None)
        clus = (df[extra_cols["cluster"]].to_numpy() if "cluster" in extra_cols
                else arrays["cluster"][keep] if "cluster" in arrays else None)
        pos = w > 0
        if not pos.all():
            # zero-weight rows do not enter any fit or test (as in partykit)
            df, y, X, w = df.loc[pos], y[pos], X[pos], w[pos]
            off = off[pos] if off is not None else None
            clus = clus[pos] if clus is not None else None
        n = len(y)
        _too_few(n, X.shape[1])

        specs = [PartitionVariable.from_series(df[z]) for z in partition]
        Z = [s.encode(df[s.name]) for s in specs]
        self.coef_names_ = coef_names
        self.parm_ = self._resolve_parm(coef_names)
        self._model = model
        self._specs = specs
        self._reg_levels = reg_levels
        self._regressors = regressors
        self._outcome = f"Surv({time}, {event})" if survival else outcome
        self._time, self._event = time, event
        self._partition = partition
        self._rng = check_random_state(self.random_state) if self.breakties else None
        self._data = dict(y=y, X=X, w=w, off=off if off is not None else np.zeros(n),
                          has_offset=off is not None, cluster=clus, Z=Z)
        self.minsize_ = None if self.minsize is None else int(self.minsize)
        self._id = 0
        # global stable sort orders of numeric partitioning variables
        orders = {}
        for j, s in enumerate(specs):
            if s.kind == "numeric":
                orders[j] = np.argsort(Z[j], kind="stable")
        root = self._grow(np.arange(n), orders, depth=1, parent=None)
        if self.prune is not None:
            self._prune(root, str(self.prune).upper(), n_total=float(w.sum()))
            self._renumber(root)
        self.tree_ = root
        self.nodes_ = {nd.id: nd for nd in root.walk()}
        fitted = np.zeros(n, dtype=np.int64)
        for nd in root.walk():
            if nd.terminal:
                fitted[nd.rows] = nd.id
        self.fitted_node_ = fitted
        rows = []
        for nd in root.walk():
            if nd.tests is not None:
                t = nd.tests.copy()
                t.insert(0, "node", nd.id)
                rows.append(t)
        self.tests_ = (pd.concat(rows, ignore_index=True) if rows else
                       pd.DataFrame(columns=["node", "variable", "statistic", "p_value",
                                             "p_value_raw", "selected"]))
        self.n_obs_ = n
        return self

    # ---------------------------------------------------------------- growing
    def _fit_node(self, rows: np.ndarray) -> NodeFit:
        d = self._data
        return self._model.fit(d["y"][rows], d["X"][rows], d["w"][rows], d["off"][rows],
                               coef_names=self.coef_names_)

    def _grow(self, rows: np.ndarray, orders: dict, depth: int, parent: int | None) -> MOBNode:
        self._id += 1
        nid = self._id
        d = self._data
        fit = self._fit_node(rows)
        w = d["w"][rows]
        nobs = float(w.sum())
        if self.minsize_ is None:
            # partykit: ceiling(10 * length(coef) / NCOL(y)); a Surv response has 2 columns
            ncol_y = d["y"].shape[1] if d["y"].ndim == 2 else 1
            self.minsize_ = int(np.ceil(10 * len(fit.coef) / ncol_y))
        node = MOBNode(id=nid, depth=depth, parent=parent, nobs=nobs, fit=fit, rows=rows)
        minsize = self.minsize_
        if nobs < 2 * minsize:
            node.stop_reason = f"fewer than 2 * minsize = {2 * minsize} observations"
            return node
        if depth >= self.maxdepth:
            node.stop_reason = f"maximum depth {self.maxdepth} reached"
            return node

        # ---- instability tests
        local = np.empty(len(d["y"]), dtype=np.int64)
        local[rows] = np.arange(len(rows))
        test_vars = []
        for j, spec in enumerate(self._specs):
            z = d["Z"][j][rows]
            if spec.kind == "numeric":
                if self.breakties:
                    uz = np.unique(z)
                    mm = np.min(np.diff(uz)) / 10 if len(uz) > 1 else 1.0
                    o = np.argsort(z + self._rng.uniform(-mm, mm, len(z)), kind="stable")
                else:
                    o = local[orders[j]]
                test_vars.append(_TestVar(spec.name, "numeric", order=o, sorted_values=z[o]))
            else:
                test_vars.append(_TestVar(spec.name, spec.kind, codes=z))
        W = None
        fail = ""
        names_nonaliased = [nm for nm, a in zip(fit.coef_names, fit.aliased) if not a]
        if fit.estfun.shape[1] == 0:
            fail = "no estimable coefficients"
        else:
            clus = d["cluster"][rows] if d["cluster"] is not None else None
            W = decorrelated_process(fit.estfun, w, nobs, clus)
            if W is None:
                fail = "score covariance (meat) not positive definite"
            elif self.parm_ is not None:
                miss = [p for p in self.parm_ if p not in names_nonaliased]
                if miss:
                    W = None
                    fail = f"coefficient(s) {miss} not estimable in this node"
                else:
                    W = W[:, [names_nonaliased.index(p) for p in self.parm_]]
        if W is None:
            node.stop_reason = f"instability tests failed: {fail}"
            node.tests = pd.DataFrame({"variable": [s.name for s in self._specs],
                                       "statistic": np.nan, "p_value": np.nan,
                                       "p_value_raw": np.nan, "selected": False})
            return node
        frm, to, lam = suplm_lambda(nobs, float(self.trim), minsize)
        stat, logp = fluctuation_tests(W, test_vars, w, nobs, frm, to, lam, caseweights=True)
        p_raw = np.exp(logp)
        p_adj = adjust_pvalues(p_raw) if self.bonferroni else p_raw
        best = int(np.nanargmin(logp)) if np.any(~np.isnan(logp)) else -1
        node.tests = pd.DataFrame({"variable": [s.name for s in self._specs],
                                   "statistic": stat, "p_value": p_adj, "p_value_raw": p_raw,
                                   "selected": np.arange(len(stat)) == best})
        if best < 0:
            node.stop_reason = "no partitioning variable varies in the node"
            return node
        node.p_value = float(p_adj[best])
        if node.p_value > self.alpha:
            node.stop_reason = f"no significant instability (min adjusted p > alpha = {self.alpha})"
            return node

        # ---- split search in the selected variable
        split = self._find_split(rows, best, test_vars[best], fit)
        if split is None:
            node.stop_reason = f"no admissible split in {self._specs[best].name!r}"
            return node
        node.split = split
        kid = split.kid_of(d["Z"][best][rows])
        mask = np.zeros(len(d["y"]), dtype=bool)
        for k in range(split.n_kids):
            sel = kid == k
            if not sel.any():
                continue
            mask[:] = False
            mask[rows[sel]] = True
            child_orders = {j: o[mask[o]] for j, o in orders.items()}
            node.children.append(self._grow(rows[sel], child_orders, depth + 1, nid))
        return node

    def _find_split(self, rows, j, tv: _TestVar, fit: NodeFit) -> MOBSplit | None:
        d = self._data
        spec = self._specs[j]
        y, X, w, off = d["y"][rows], d["X"][rows], d["w"][rows], d["off"][rows]
        minsize = self.minsize_
        model = self._model
        if spec.kind == "numeric":
            z = d["Z"][j][rows]
            order = np.argsort(z, kind="stable") if self.breakties else tv.order
            sv = z[order]
            last = np.flatnonzero(np.r_[sv[1:] != sv[:-1], True])  # last position of each value
            uz = sv[last]
            cw = np.cumsum(w[order])
            total = cw[-1]
            nl = cw[last]
            ok = (nl >= minsize) & (total - nl >= minsize)
            dev = np.full(len(uz), np.inf)
            if ok.any():
                dev[ok] = model.prefix_objectives(y, X, w, off, order, last[ok], parent=fit)
            if not np.isfinite(dev).any():
                return None
            b = int(np.argmin(dev))
            if self.numsplit in ("center", "centre"):
                brk = float(np.mean(uz[b:b + 2]))
            else:
                brk = float(uz[b])
            split = MOBSplit(spec.name, "numeric", breaks=brk)
            split._curve = (uz, dev)
            return split
        codes = tv.codes
        L = len(spec.levels)
        present = np.flatnonzero(np.bincount(codes, minlength=L) > 0)
        if spec.kind == "nominal" and self.catsplit == "multiway":
            index = np.full(L, -1, dtype=np.int64)
            index[present] = np.arange(len(present))
            return MOBSplit(spec.name, "nominal", index=index, levels=list(spec.levels))
        lw = np.bincount(codes, weights=w, minlength=L)[present]
        lp = len(present)
        if lp < 2:
            return None
        if spec.kind == "ordered":
            subsets = np.tri(lp, lp, dtype=bool)[:-1]  # row r: levels 0..r go left
        else:
            if lp > 20:
                raise ModelSpecificationError(
                    f"Partitioning factor {spec.name!r} has {lp} levels in a node: the binary "
                    f"split search would compare 2^{lp - 1} - 1 partitions. Merge levels, "
                    "make it an ordered categorical, or use catsplit='multiway'.")
            nsub = 2 ** (lp - 1) - 1
            ii = np.arange(1, nsub + 1)
            subsets = ((ii[:, None] >> np.arange(lp)[None, :]) & 1).astype(bool)
        nl = subsets.astype(float) @ lw
        total = lw.sum()
        ok = (nl >= minsize) & (total - nl >= minsize)
        dev = np.full(len(subsets), np.inf)
        if ok.any():
            if len(subsets) == 1:
                dev[:] = 1.0
            else:
                pcodes = np.searchsorted(present, codes)
                dev[ok] = model.subset_objectives(y, X, w, off, pcodes, subsets[ok], parent=fit)
        if not np.isfinite(dev).any():
            return None
        b = int(np.argmin(dev))
        if spec.kind == "ordered":
            return MOBSplit(spec.name, "ordered", breaks=int(present[b]),
                            levels=list(spec.levels))
        index = np.full(L, -1, dtype=np.int64)
        index[present] = np.where(subsets[b], 0, 1)
        return MOBSplit(spec.name, "nominal", index=index, levels=list(spec.levels))

    # ---------------------------------------------------------------- pruning
    def _prune(self, node: MOBNode, crit: str, n_total: float) -> None:
        for c in node.children:
            self._prune(c, crit, n_total)
        if node.children and all(c.terminal for c in node.children):
            k = len(self.coef_names_)
            penalty = 2.0 if crit == "AIC" else np.log(n_total)
            m = self._model
            own = m.criterion(node.fit.objective, k, node.nobs, penalty)
            kids = m.criterion(sum(c.fit.objective for c in node.children),
                               len(node.children) * k + int(self.dfsplit), node.nobs, penalty)
            if own < kids:
                node.children = []
                node.split = None
                node.stop_reason = f"pruned ({crit})"

    def _renumber(self, root: MOBNode) -> None:
        for i, nd in enumerate(root.walk(), start=1):
            nd.id = i
            for c in nd.children:
                c.parent = i

    # ---------------------------------------------------------------- prediction
    def _check_fitted(self):
        check_is_fitted(self, "tree_")

    def apply(self, data: pd.DataFrame) -> np.ndarray:
        """Terminal node id of every row of ``data``.

        Rows whose value cannot be routed (missing partitioning value, or a factor level not
        present in the node when it was split) go to the child with more observations; a
        :class:`~ipdma.errors.DataWarning` says how many.
        """
        self._check_fitted()
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
        Z = {}
        for s in self._specs:
            if s.name not in data.columns:
                raise _column_error(s.name, data, "Partitioning")
            Z[s.name] = s.encode(data[s.name])
        out = np.zeros(len(data), dtype=np.int64)
        n_undefined = 0

        def route(node: MOBNode, idx: np.ndarray):
            nonlocal n_undefined
            if node.terminal:
                out[idx] = node.id
                return
            kid = node.split.kid_of(Z[node.split.variable][idx])
            und = kid < 0
            if und.any():
                n_undefined += int(und.sum())
                kid[und] = int(np.argmax([c.nobs for c in node.children]))
            kid = np.minimum(kid, len(node.children) - 1)
            for k, c in enumerate(node.children):
                route(c, idx[kid == k])

        route(self.tree_, np.arange(len(data)))
        if n_undefined:
            warnings.warn(f"{n_undefined} row(s) had a missing or unseen value of a splitting "
                          "variable and were sent to the larger child node.", DataWarning,
                          stacklevel=2)
        return out

    def _coef_matrix(self, node_ids: np.ndarray) -> np.ndarray:
        ids = sorted(self.nodes_)
        C = np.array([self.nodes_[i].fit.coef for i in ids])
        pos = np.searchsorted(ids, node_ids)
        return C[pos]

    def predict(self, data: pd.DataFrame, type: str = "response", coef: str | None = None,
                level: float = 0.95, offset: str | np.ndarray | None = None
                ) -> pd.Series | pd.DataFrame:
        """Predictions for new patients.

        Parameters
        ----------
        data : DataFrame
            Must hold the partitioning variables (and the regressors for
            ``type="response"``).
        type : {"response", "node", "coef", "effect"}
            ``"node"``: terminal node ids; ``"response"``: the node model's prediction (mean
            outcome, or probability for the logistic model); ``"coef"``: all node
            coefficients; ``"effect"``: the coefficient ``coef`` (default: the first
            regressor, i.e. the treatment effect; a log odds ratio for the logistic model)
            of the patient's terminal node, with standard error and ``level`` confidence
            interval (t with the node's residual df for the linear model, normal
            otherwise).
        coef : str, optional
            Coefficient for ``type="effect"``.
        level : float
            Confidence level.
        offset : str or array, optional
            Offset added to the linear predictor for ``type="response"``.
        """
        self._check_fitted()
        node = self.apply(data)
        idx = data.index
        if type == "node":
            return pd.Series(node, index=idx, name="node")
        if type == "coef":
            return pd.DataFrame(self._coef_matrix(node), index=idx, columns=self.coef_names_)
        if type == "response":
            for r in self._regressors:
                if r not in data.columns:
                    raise _column_error(r, data, "Regressor")
            X, _, _ = self._design(data, self._regressors, levels=self._reg_levels)
            off = None
            if offset is not None:
                off = data[offset].to_numpy(float) if isinstance(offset, str) else np.asarray(
                    offset, float)
            pred = np.einsum("ij,ij->i", X, np.nan_to_num(self._coef_matrix(node)))
            if off is not None:
                pred = pred + off
            return pd.Series(self._model.inverse_link(pred), index=idx, name="response")
        if type == "effect":
            tab = self.effects(coef=coef, level=level)
            res = tab.set_index("node").loc[node].reset_index()
            res.index = idx
            return res[["node", "estimate", "se", "ci_lower", "ci_upper"]]
        raise ModelSpecificationError(
            f"type must be 'response', 'node', 'coef' or 'effect', not {type!r}")

    def _effect_coef(self, coef: str | None) -> str:
        if coef is None:
            cands = [c for c in self.coef_names_ if c != "(Intercept)"]
            if not cands:
                raise ModelSpecificationError(
                    "The node model has only an intercept; there is no treatment effect. "
                    "Pass coef='(Intercept)' to get the node means.")
            return cands[0]
        if coef not in self.coef_names_:
            close = difflib.get_close_matches(str(coef), self.coef_names_, n=1, cutoff=0.4)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelSpecificationError(
                f"coef {coef!r} is not a node-model coefficient ({self.coef_names_}).{hint}")
        return coef

    def effects(self, coef: str | None = None, level: float = 0.95,
                terminal_only: bool = True) -> pd.DataFrame:
        """Per-node estimate of one coefficient (default: the treatment effect) with
        standard error and confidence interval."""
        self._check_fitted()
        coef = self._effect_coef(coef)
        j = self.coef_names_.index(coef)
        rows = []
        for nd in self.tree_.walk():
            if terminal_only and not nd.terminal:
                continue
            est = nd.fit.coef[j]
            se = float(np.sqrt(nd.fit.vcov[j, j])) if np.isfinite(nd.fit.vcov[j, j]) else np.nan
            dfr = nd.fit.df_resid
            q = (stats.t.ppf(0.5 + level / 2, dfr) if self._model.inference == "t"
                 and np.isfinite(dfr) and dfr > 0 else stats.norm.ppf(0.5 + level / 2))
            rows.append({"node": nd.id, "n": nd.nobs, "coef": coef, "estimate": est, "se": se,
                         "ci_lower": est - q * se, "ci_upper": est + q * se})
        return pd.DataFrame(rows)

    def survival_effects(self, tau: float | None = None, level: float = 0.95,
                         coef: str | None = None) -> pd.DataFrame:
        """Treatment effect per terminal node for a time-to-event node model (e.g.
        :class:`WeibullModel`) on three scales, with delta-method ``level`` intervals:
        time ratio ``tr`` (exp of the treatment coefficient), hazard ratio ``hr``
        (``exp(-coef / scale)``, Weibull proportional hazards) and the difference in
        restricted mean survival time up to ``tau`` (treated minus control,
        ``rmst_diff``; also ``rmst_0``, ``rmst_1``).

        Parameters
        ----------
        tau : float, optional
            RMST horizon. Default: the smallest, over terminal nodes and treatment arms, of
            the largest follow-up time (event or censoring) in that node and arm, so that
            no RMST extrapolates beyond the follow-up of any arm of any node.
        level : float
            Confidence level.
        coef : str, optional
            Treatment coefficient (default: the first regressor).

        A tree read from a model file (:func:`ipdma.serialize.load_model`) gives the same
        table: the effects come from its node fits, the default ``tau`` and the event
        counts from the table stored in the file.
        """
        self._check_fitted()
        if not hasattr(self._model, "node_effects") or self._time is None:
            raise ModelSpecificationError(
                "survival_effects needs a time-to-event tree (MOB(WeibullModel()).fit(..., "
                "time=, event=)); use effects() for this tree.")
        name = self._effect_coef(coef)
        j = self.coef_names_.index(name)
        d = getattr(self, "_data", None)
        leaves = [nd for nd in self.tree_.walk() if nd.terminal]
        if d is None:     # read from a model file: node fits kept, patient rows not
            return self._survival_effects_loaded(leaves, j, tau, level)
        arm = d["X"][:, j]
        if tau is None:
            tau = min(float(d["y"][nd.rows[arm[nd.rows] == a], 0].max())
                      for nd in leaves for a in np.unique(arm[nd.rows]))
        tau = float(tau)
        if not (np.isfinite(tau) and tau > 0):
            raise ModelSpecificationError(f"tau must be a positive number, not {tau!r}")
        rows = []
        for nd in leaves:
            r = {"node": nd.id, "n": nd.nobs,
                 "events": float((d["w"][nd.rows] * d["y"][nd.rows, 1]).sum())}
            r.update(self._model.node_effects(nd.fit, j, tau, level))
            rows.append(r)
        return pd.DataFrame(rows)

    def _survival_effects_loaded(self, leaves, j: int, tau: float | None,
                                 level: float) -> pd.DataFrame:
        """:meth:`survival_effects` of a tree read from a model file: the effects come
        from the kept node fits (any tau, level, coef); the default tau and the event
        counts need the patient rows, so they come from the table stored in the file."""
        stored = getattr(self, "_survival_effects", None)
        if tau is None:
            if stored is None or "tau" not in stored:
                raise ModelSpecificationError(
                    "this tree was read from a model file without its subgroup-effects "
                    "table: the default tau needs the patient rows; pass tau=... (the "
                    "RMST horizon)")
            tau = float(stored["tau"].iloc[0])
        tau = float(tau)
        if not (np.isfinite(tau) and tau > 0):
            raise ModelSpecificationError(f"tau must be a positive number, not {tau!r}")
        events = {} if stored is None else dict(zip(stored["node"], stored["events"]))
        rows = []
        for nd in leaves:
            r = {"node": nd.id, "n": nd.nobs, "events": float(events.get(nd.id, np.nan))}
            r.update(self._model.node_effects(nd.fit, j, tau, level))
            rows.append(r)
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------- summaries
    @property
    def n_terminal(self) -> int:
        """Number of terminal nodes."""
        self._check_fitted()
        return sum(nd.terminal for nd in self.tree_.walk())

    @property
    def n_inner(self) -> int:
        self._check_fitted()
        return sum(not nd.terminal for nd in self.tree_.walk())

    def depth(self, root: bool = False) -> int:
        """Depth of the fitted tree, with partykit's convention.

        ``depth()`` equals partykit's ``depth(tree)``: the number of split levels
        on the longest path (a root-only tree has depth 0).  ``depth(root=True)``
        equals ``depth(tree, root = TRUE)``: the root level counts too, so it is the
        largest :attr:`MOBNode.depth` -- ipdma's node convention, where the root has
        depth 1 and ``maxdepth`` counts levels (``maxdepth=2`` allows one split).
        """
        self._check_fitted()
        deepest = max(nd.depth for nd in self.tree_.walk())
        return int(deepest if root else deepest - 1)

    @property
    def loglik(self) -> float:
        """Log-likelihood: sum over terminal nodes of the node models' log-likelihoods."""
        self._check_fitted()
        return float(sum(nd.fit.loglik for nd in self.tree_.walk() if nd.terminal))

    @property
    def df(self) -> int:
        """Degrees of freedom of :attr:`loglik`: node-model parameters of all terminal nodes
        plus one per split when ``dfsplit``."""
        self._check_fitted()
        return int(sum(nd.fit.df for nd in self.tree_.walk() if nd.terminal)
                   + int(self.dfsplit) * self.n_inner)

    @property
    def nobs(self) -> float:
        self._check_fitted()
        return float(sum(nd.nobs for nd in self.tree_.walk() if nd.terminal))

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df

    @property
    def objective(self) -> float:
        """Summed objective (e.g. RSS) over terminal nodes."""
        self._check_fitted()
        return float(sum(nd.fit.objective for nd in self.tree_.walk() if nd.terminal))

    def node_table(self) -> pd.DataFrame:
        """One row per node: structure, split, selected test, coefficients and standard
        errors, objective and log-likelihood."""
        self._check_fitted()
        rows = []
        for nd in self.tree_.walk():
            r = {"node": nd.id, "parent": nd.parent, "depth": nd.depth,
                 "terminal": nd.terminal, "n": nd.nobs,
                 "split_variable": nd.split.variable if nd.split else None,
                 "split": nd.split.describe() if nd.split else None,
                 "p_value": nd.p_value}
            if nd.tests is not None and nd.tests["selected"].any():
                sel = nd.tests[nd.tests["selected"]].iloc[0]
                r["test_variable"] = sel["variable"]
                r["statistic"] = sel["statistic"]
            else:
                r["test_variable"] = None
                r["statistic"] = np.nan
            for nm, c, v in zip(nd.fit.coef_names, nd.fit.coef, np.diag(nd.fit.vcov)):
                r[nm] = c
                r[f"se({nm})"] = np.sqrt(v) if np.isfinite(v) else np.nan
            if "log_scale" in nd.fit.extra:
                r["log_scale"] = nd.fit.extra["log_scale"]
                vf = nd.fit.extra.get("vcov_full")
                r["se(log_scale)"] = np.sqrt(vf[-1, -1]) if vf is not None else np.nan
            r["objective"] = nd.fit.objective
            r["loglik"] = nd.fit.loglik
            r["stop_reason"] = nd.stop_reason
            rows.append(r)
        out = pd.DataFrame(rows)
        out["parent"] = out["parent"].astype("Int64")
        return out

    def to_frame(self) -> pd.DataFrame:
        """Tidy node table (same as :meth:`node_table`); the tests are in ``tests_``."""
        return self.node_table()

    def summary(self, coef: str | None = None, level: float = 0.95) -> Summary:
        """Summary: settings and fit statistics, terminal-node effects with confidence
        intervals, and the instability tests of the inner nodes."""
        self._check_fitted()
        info = {"Node model": self._model.name,
                "Formula": self._formula(),
                "Observations": self.n_obs_,
                "Inner / terminal nodes": f"{self.n_inner} / {self.n_terminal}",
                "minsize": self.minsize_, "alpha": self.alpha,
                "Bonferroni": self.bonferroni,
                "Tested coefficients": "all" if self.parm_ is None else ", ".join(self.parm_),
                "Objective": self.objective,
                "logLik (df)": f"{self.loglik:.4f} ({self.df})",
                "AIC": self.aic, "BIC": self.bic}
        tables = {}
        try:
            eff = self.effects(coef=coef, level=level)
            tables[f"Terminal nodes: {eff['coef'].iloc[0]} ({level:.0%} CI)"] = eff.drop(
                columns="coef").set_index("node")
        except ModelSpecificationError:
            pass
        if getattr(self, "_time", None) is not None and hasattr(self._model, "node_effects"):
            try:
                se = self.survival_effects(level=level, coef=coef)
                tables[f"Terminal nodes: hazard ratio, time ratio, RMST difference up to "
                       f"tau = {se['tau'].iloc[0]:g} ({level:.0%} CI)"] = se[
                    ["node", "n", "events", "hr", "hr_lower", "hr_upper", "tr", "tr_lower",
                     "tr_upper", "rmst_diff", "rmst_diff_lower", "rmst_diff_upper"]
                ].set_index("node")
            except ModelSpecificationError:
                pass
        inner = self.tests_[self.tests_["node"].isin(
            [nd.id for nd in self.tree_.walk() if not nd.terminal])]
        if len(inner):
            tables["Parameter instability tests (inner nodes)"] = inner.set_index(
                ["node", "variable"])[["statistic", "p_value"]]
        splits = pd.DataFrame([{"node": nd.id, "split": nd.split.describe(),
                                "p_value": nd.p_value}
                               for nd in self.tree_.walk() if nd.split is not None])
        if len(splits):
            tables["Splits"] = splits.set_index("node")
        notes = ["p-values Bonferroni-adjusted over the partitioning variables."
                 if self.bonferroni else "p-values not adjusted for multiplicity."]
        return Summary(title="Model-based recursive partitioning (MOB)", tables=tables,
                       info=info, notes=notes)

    def _formula(self) -> str:
        lhs = " + ".join(self._regressors) if self._regressors else "1"
        return f"{self._outcome} ~ {lhs} | {' + '.join(self._partition)}"

    def print_lines(self) -> list[str]:
        """The tree printout as lines, formatted like partykit's ``print(lmtree)``."""
        self._check_fitted()
        m = self._model
        title = m.title if type(m).title != "Model-based recursive partitioning" else (
            f"Model-based recursive partitioning ({m.name})")
        out = [title, "", "Model formula:", self._formula(), "", "Fitted party:"]

        def terminal_lines(nd):
            return [f": n = {format_num(nd.nobs)}",
                    *print_named_vector(nd.fit.coef, nd.fit.coef_names)]

        root = self.tree_
        if root.terminal:
            tl = terminal_lines(root)
            out.append("[1] root" + tl[0])
            out.extend("    " + s for s in tl[1:])
            out[-1] = out[-1] + " "
        else:
            out.append("[1] root")

        def rec(nd, prefix):
            labs = nd.split.labels()
            kids = nd.children
            # partykit labels each child by the kid index of the split
            nxt = prefix + "|   "
            for i, c in enumerate(kids):
                lab = labs[i] if i < len(labs) else ""
                if c.terminal:
                    tl = terminal_lines(c)
                    out.append(f"{prefix}|   [{c.id}] {lab}{tl[0]}")
                    out.extend(f"{nxt}    {s}" for s in tl[1:])
                else:
                    out.append(f"{prefix}|   [{c.id}] {lab}")
                    rec(c, nxt)

        if not root.terminal:
            rec(root, "")
        n_in, n_te = self.n_inner, self.n_terminal
        wd = max(len(str(n_in)), len(str(n_te)))
        ks = [len(nd.fit.coef) for nd in root.walk() if nd.terminal]
        out += ["", f"Number of inner nodes:    {n_in:>{wd}}",
                f"Number of terminal nodes: {n_te:>{wd}}",
                f"Number of parameters per node: {format_num(float(np.mean(ks)))}",
                f"Objective function ({m.objective_name}): {format_num(self.objective)}"]
        return out

    def __str__(self) -> str:
        if self.tree_ is None:
            return f"{type(self).__name__}(node_model={self.node_model!r}) (not fitted)"
        return "\n".join(self.print_lines())

    def save(self, path, **kwargs):
        """Write the fitted model as a versioned JSON model file; see
        :func:`ipdma.serialize.save_model` and ``load_model``."""
        from ..serialize import save_model

        return save_model(self, path, **kwargs)

    def __repr__(self) -> str:
        return self.__str__()

    def plot(self, ax=None, terminal: str | None = None, coef: str | None = None,
             level: float = 0.95, **kwargs):
        """Tree diagram: inner nodes show the splitting variable and adjusted p-value, edges
        the split, terminal nodes n and (``terminal="effect"``) the treatment effect with
        CI, or (``terminal="outcome"``) the mean outcome by treatment arm with CI; for a
        time-to-event tree ``terminal="outcome"`` draws Kaplan-Meier curves by arm in every
        terminal node. Default: ``"outcome"`` (Kaplan-Meier) for a time-to-event tree,
        else ``"effect"``.

        Returns the matplotlib Axes.
        """
        from ._treeplot import plot_tree

        self._check_fitted()
        if terminal is None:
            terminal = "outcome" if getattr(self, "_time", None) is not None else "effect"
        return plot_tree(self, ax=ax, terminal=terminal, coef=coef, level=level, **kwargs)

    def export_calculator(self, path, **options):
        """Write a per-patient calculator page (one self-contained HTML file) for this
        model; see :func:`ipdma.calculator.export_calculator` for the options (the
        patient's subgroup is the terminal node reached by the split rules)."""
        from ..calculator import export_calculator

        return export_calculator(self, path, **options)

    # ---------------------------------------------------------------- diagnostics
    def split_search(self, variable: str, node: int = 1) -> pd.DataFrame:
        """Objective of every candidate split of ``variable`` in ``node`` (summed child
        objective, ``inf`` where a child would have fewer than ``minsize`` observations).

        For numeric variables the candidates are the distinct values (left: value <= cut).
        """
        self._check_fitted()
        if node not in self.nodes_:
            raise ModelSpecificationError(f"node {node} does not exist (nodes: {sorted(self.nodes_)})")
        names = [s.name for s in self._specs]
        if variable not in names:
            close = difflib.get_close_matches(variable, names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ModelSpecificationError(
                f"{variable!r} is not a partitioning variable ({names}).{hint}")
        j = names.index(variable)
        nd = self.nodes_[node]
        rows = nd.rows
        z = self._data["Z"][j][rows]
        spec = self._specs[j]
        if spec.kind != "numeric":
            raise ModelSpecificationError("split_search is available for numeric variables")
        tv = _TestVar(variable, "numeric", order=np.argsort(z, kind="stable"))
        tv.sorted_values = z[tv.order]
        saved = self.breakties
        self.breakties = False
        try:
            sp = self._find_split(rows, j, tv, nd.fit)
        finally:
            self.breakties = saved
        if sp is None:
            uz = np.unique(z)
            return pd.DataFrame({"cut": uz, "objective": np.inf})
        uz, dev = sp._curve
        return pd.DataFrame({"cut": uz, "objective": dev})

"""Study-level effect sizes for (network) meta-analysis, as R's ``escalc``/``pairwise``.

Every study is reduced to the contrasts of its arms against a *study baseline* (its
arm that comes first in the network's treatment order) with their within-study
covariance matrix.  For measures that are differences of arm-level quantities
(log odds, log risk, risk, mean, or an arm-level estimate given with its SE) the
contrasts of a multi-arm study share the baseline arm's variance as covariance; the
standardised mean difference uses the Gleser & Olkin (2009) covariance
``1/n_b + g_s g_t / (2 N)``.

Continuity correction (binary outcomes): ``incr`` (default 0.5) is added to the
events and the non-events of *every arm of a study in which some arm has 0 events or
0 non-events*; no other study is corrected.  This is netmeta ``pairwise(incr = 0.5)``
and metafor ``escalc(add = 1/2, to = "only0")`` applied per study.  For the risk
difference the point estimate uses the uncorrected proportions and only the variance
uses the corrected counts (a zero cell gives a finite RD but a zero variance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .._lazy import lazy_function
from ..errors import DataError, ModelSpecificationError, NetworkError, column_not_found

gammaln = lazy_function("scipy.special", "gammaln")   # imported when first used

__all__ = ["MEASURES", "ContrastData", "pairwise_contrasts"]

MEASURES = ("OR", "RR", "RD", "MD", "SMD")
_BINARY = ("OR", "RR", "RD")
_CONTINUOUS = ("MD", "SMD")


@dataclass
class ContrastData:
    """Contrast-level data of a network: one row per non-baseline arm of every study.

    Attributes
    ----------
    treatments : list of str
        Treatment order (reference first).  A study's baseline is its arm that comes
        first in this order.
    reference : str
    measure : str
        ``"OR"``, ``"RR"``, ``"RD"``, ``"MD"``, ``"SMD"`` or ``"TE"`` (given estimates).
    studies : list of str
        Study labels in order of first appearance.
    arms : dict
        Study -> its treatments in model order (the first is the baseline).
    study_idx, treat_idx, base_idx : ndarray of int
        Per contrast row: the study, the treatment and the baseline (indices into
        ``studies`` / ``treatments``).
    y : ndarray
        Contrast estimates (treatment vs baseline).
    blocks : list of ndarray
        Per study, the covariance matrix of its contrasts (rows ``rows[s]``).
    rows : list of ndarray
        Per study, the indices of its contrast rows.
    incr : dict
        Study -> continuity correction used (binary measures; 0 when none).
    """

    treatments: list[str]
    reference: str
    measure: str
    studies: list[str]
    arms: dict[str, list[str]]
    study_idx: np.ndarray
    treat_idx: np.ndarray
    base_idx: np.ndarray
    y: np.ndarray
    blocks: list[np.ndarray]
    rows: list[np.ndarray]
    incr: dict[str, float] = field(default_factory=dict)
    n_arm: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def k(self) -> int:
        """Number of contrast rows."""
        return int(self.y.size)

    @property
    def vi(self) -> np.ndarray:
        """Variances of the contrast rows."""
        out = np.empty(self.k)
        for r, B in zip(self.rows, self.blocks):
            out[r] = np.diag(B)
        return out

    def V(self) -> np.ndarray:
        """Dense (k, k) within-study covariance matrix (block diagonal)."""
        V = np.zeros((self.k, self.k))
        for r, B in zip(self.rows, self.blocks):
            V[np.ix_(r, r)] = B
        return V

    def design(self) -> np.ndarray:
        """(k, T-1) design on the basic parameters (each treatment vs the reference)."""
        T = len(self.treatments)
        X = np.zeros((self.k, T))
        X[np.arange(self.k), self.treat_idx] += 1.0
        X[np.arange(self.k), self.base_idx] -= 1.0
        return X[:, 1:]

    def design_label(self, study: str) -> str:
        return ":".join(self.arms[study])

    def to_frame(self) -> pd.DataFrame:
        """One row per contrast: study, treatment, baseline, design, yi, vi and its
        covariance with the study's other contrasts (equal for all of them unless the
        measure is SMD, then the first off-diagonal entry)."""
        cov = np.zeros(self.k)
        for r, B in zip(self.rows, self.blocks):
            if len(r) > 1:
                off = B[~np.eye(len(r), dtype=bool)].reshape(len(r), len(r) - 1)
                cov[r] = off[:, 0]
        st = [self.studies[i] for i in self.study_idx]
        return pd.DataFrame({
            "study": st,
            "treatment": [self.treatments[i] for i in self.treat_idx],
            "baseline": [self.treatments[i] for i in self.base_idx],
            "design": [self.design_label(s) for s in st],
            "yi": self.y, "vi": self.vi, "cov_within_study": cov,
        })

    def study_pairs(self) -> pd.DataFrame:
        """Every pair of arms of every study (multi-arm studies give all pairs): study,
        treat1, treat2 (treat1 later in the treatment order), TE (treat1 vs treat2) and
        its variance, from the study's contrasts and covariance."""
        out = []
        for s, (r, B) in enumerate(zip(self.rows, self.blocks)):
            arms = self.arms[self.studies[s]]
            m = len(arms)
            yfull = np.concatenate([[0.0], self.y[r]])
            Vf = np.zeros((m, m))
            Vf[1:, 1:] = B
            for a in range(m):
                for b in range(a + 1, m):
                    v = Vf[a, a] + Vf[b, b] - 2.0 * Vf[a, b]
                    out.append((self.studies[s], arms[b], arms[a], yfull[b] - yfull[a], v))
        return pd.DataFrame(out, columns=["study", "treat1", "treat2", "TE", "var"])


def _num(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    if col not in df.columns:
        raise column_not_found(col, df.columns, role)
    try:
        v = np.asarray(df[col].to_numpy(), dtype=float)
    except (TypeError, ValueError):
        v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{role} column {col!r} must be numeric and finite: row {df.index[i]!r} has "
            f"{df[col].iloc[i]!r} ({int(bad.sum())} such rows). Fix or drop those rows.")
    return v


def _labels(df: pd.DataFrame, col: str, role: str) -> np.ndarray:
    if col not in df.columns:
        raise column_not_found(col, df.columns, role)
    vals = df[col].tolist()
    for i, v in enumerate(vals):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            raise DataError(f"{role} column {col!r} is missing in row {df.index[i]!r}; every "
                            "row needs a label")
    return np.array([str(v).strip() for v in vals], dtype=object)


def _check_connected(labels: list[str], arms: dict[str, list[str]]) -> None:
    nbr: dict[str, set[str]] = {t: set() for t in labels}
    for a in arms.values():
        for t in a:
            nbr[t].update(a)
    comps, seen = [], set()
    for t in labels:
        if t in seen:
            continue
        comp, todo = [], [t]
        seen.add(t)
        while todo:
            u = todo.pop()
            comp.append(u)
            todo += [w for w in nbr[u] if w not in seen]
            seen.update(nbr[u])
        comps.append(sorted(comp))
    if len(comps) > 1:
        comps = sorted(comps, key=lambda c: (-len(c), c))
        raise NetworkError(
            f"the treatment network is disconnected: components {comps}. Relative effects "
            "between components are not identified; analyse them separately or add studies "
            "that link them.")


def _hedges_j(df: np.ndarray) -> np.ndarray:
    """Exact small-sample correction of Hedges' g (as metafor's ``.cmicalc``)."""
    return np.exp(gammaln(df / 2) - 0.5 * np.log(df / 2) - gammaln((df - 1) / 2))


def pairwise_contrasts(
    data: pd.DataFrame,
    *,
    study: str,
    treatment: str,
    events: str | None = None,
    n: str | None = None,
    mean: str | None = None,
    sd: str | None = None,
    te: str | None = None,
    se: str | None = None,
    treatment2: str | None = None,
    measure: str | None = None,
    incr: float = 0.5,
    reference: str | None = None,
    treatment_order: Sequence[str] | None = None,
) -> ContrastData:
    """Contrasts of every study's arms against its baseline arm, with their covariance.

    Give one of: ``events`` and ``n`` (binary; ``measure`` OR, RR or RD), ``mean``,
    ``sd`` and ``n`` (continuous; MD or SMD), or ``te`` and ``se``.  With ``te``/``se``
    and no ``treatment2`` each row is one *arm* with an arm-level estimate (e.g. a
    log odds or a mean) and its standard error; with ``treatment2`` each row is a
    *contrast* ``treatment`` vs ``treatment2`` (a multi-arm study must give all its
    pairs; the arm variances are then recovered from ``var_ij = v_i + v_j``, as netmeta
    does).

    Parameters
    ----------
    data : DataFrame
        One row per arm (or per contrast with ``treatment2``).
    study, treatment : str
        Column names.
    events, n, mean, sd, te, se, treatment2 : str, optional
        Column names (see above).
    measure : {"OR", "RR", "RD", "MD", "SMD"}, optional
        Effect measure; default OR for events, MD for means, ``"TE"`` for given
        estimates.  OR/RR are on the log scale.
    incr : float
        Continuity correction added to all cells of every arm of a study with a zero
        cell (0 events or 0 non-events in some arm); 0 switches it off.
    reference : str, optional
        Network reference; default the package rule
        (:func:`ipdma.data.choose_reference`: a control-like label, else the
        treatment in most studies).
    treatment_order : sequence of str, optional
        Order of the treatments (decides each study's baseline arm and the direction
        of the league table; no estimate depends on it).  Default: the reference, then
        the others sorted.

    Returns
    -------
    ContrastData

    Examples
    --------
    >>> import pandas as pd
    >>> from ipdma.meta import pairwise_contrasts
    >>> arms = pd.DataFrame({"study": [1, 1, 2, 2, 2], "trt": ["A", "B", "A", "B", "C"],
    ...                      "r": [10, 15, 0, 4, 6], "n": [50, 50, 40, 40, 40]})
    >>> cd = pairwise_contrasts(arms, study="study", treatment="trt", events="r", n="n",
    ...                         reference="A")
    >>> cd.to_frame()[["study", "treatment", "baseline", "yi"]].round(3)
      study treatment baseline     yi
    0     1         B        A  0.539
    1     2         B        A  2.301
    2     2         C        A  2.725
    >>> cd.incr
    {'1': 0.0, '2': 0.5}
    >>> cd.blocks[1].round(3)   # shared-arm covariance of the 3-arm study
    array([[2.274, 2.025],
           [2.025, 2.208]])
    """
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecificationError(
            f"data must be a pandas DataFrame, not {type(data).__name__}")
    if len(data) == 0:
        raise DataError("data has no rows")
    modes = {"binary": events is not None, "continuous": mean is not None,
             "given": te is not None}
    if sum(modes.values()) != 1:
        raise ModelSpecificationError(
            "give exactly one kind of input: events= and n= (binary), mean=, sd= and n= "
            "(continuous), or te= and se= (given estimates)")
    mode = next(k for k, v in modes.items() if v)
    if measure is not None:
        measure = str(measure).upper()
    if mode == "binary":
        if n is None:
            raise ModelSpecificationError("events= needs n= (the arm sizes)")
        measure = measure or "OR"
        if measure not in _BINARY:
            raise ModelSpecificationError(
                f"measure={measure!r} does not fit events/totals: choose one of {_BINARY}")
    elif mode == "continuous":
        if sd is None or n is None:
            raise ModelSpecificationError("mean= needs sd= and n=")
        measure = measure or "MD"
        if measure not in _CONTINUOUS:
            raise ModelSpecificationError(
                f"measure={measure!r} does not fit means/SDs: choose one of {_CONTINUOUS}")
    else:
        if se is None:
            raise ModelSpecificationError("te= needs se= (its standard errors)")
        measure = measure or "TE"
    if incr < 0 or not np.isfinite(incr):
        raise ModelSpecificationError(f"incr must be a finite number >= 0, not {incr!r}")

    df = data
    st = _labels(df, study, "study")
    tr = _labels(df, treatment, "treatment")
    tr2 = _labels(df, treatment2, "treatment2") if treatment2 is not None else None
    if tr2 is not None and mode != "given":
        raise ModelSpecificationError("treatment2= (contrast rows) goes with te= and se= only")

    studies = list(dict.fromkeys(st))
    arms_raw: dict[str, list[str]] = {}
    if tr2 is None:
        seen_keys: set = set()
        for i, key in enumerate(zip(st, tr)):
            if key in seen_keys:
                raise DataError(f"study {st[i]!r} has two rows for treatment {tr[i]!r} (row "
                                f"{data.index[i]!r}); give one row per arm")
            seen_keys.add(key)
        for s, t in zip(st, tr):
            arms_raw.setdefault(s, []).append(t)
    else:
        same = tr == tr2
        if same.any():
            i = int(np.flatnonzero(same)[0])
            raise DataError(f"row {data.index[i]!r} of study {st[i]!r} compares treatment "
                            f"{tr[i]!r} with itself")
        for s, a, b in zip(st, tr, tr2):
            lst = arms_raw.setdefault(s, [])
            lst += [x for x in (a, b) if x not in lst]
    for s, a in arms_raw.items():
        if len(a) < 2:
            raise NetworkError(f"study {s!r} has a single arm ({a[0]!r}); a contrast needs "
                               "two arms: drop the study or add its other arms")
    labels = sorted({t for a in arms_raw.values() for t in a})
    from ..data import choose_reference

    reference = choose_reference(labels, arms_raw, reference)
    if treatment_order is not None:
        order = [str(t) for t in treatment_order]
        missing = [t for t in labels if t not in order]
        if missing:
            raise ModelSpecificationError(
                f"treatment_order (--treatment-order) lacks treatment(s) {missing}; list every "
                "treatment once")
        order = [t for t in order if t in labels]
        order = [reference] + [t for t in order if t != reference]
    else:
        order = [reference] + [t for t in labels if t != reference]
    _check_connected(labels, arms_raw)
    pos = {t: i for i, t in enumerate(order)}
    arms = {s: sorted(a, key=pos.__getitem__) for s, a in arms_raw.items()}

    y_all, rows, blocks, sidx, tidx, bidx = [], [], [], [], [], []
    incr_used: dict[str, float] = {}
    n_arm: dict[tuple[str, str], float] = {}
    row_of_study = {s: np.flatnonzero(st == s) for s in studies}
    if mode == "binary":
        x = _num(df, events, "events")
        nn = _num(df, n, "n")
        bad = (nn <= 0) | (x < 0) | (x > nn)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"study {st[i]!r}, treatment {tr[i]!r}: events = {x[i]:g} and "
                            f"n = {nn[i]:g}; need n > 0 and 0 <= events <= n")
    elif mode == "continuous":
        mu = _num(df, mean, "mean")
        sdv = _num(df, sd, "sd")
        nn = _num(df, n, "n")
        bad = (nn < 2) | (sdv <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"study {st[i]!r}, treatment {tr[i]!r}: sd = {sdv[i]:g}, n = "
                            f"{nn[i]:g}; need sd > 0 and n >= 2")
    else:
        tev = _num(df, te, "te")
        sev = _num(df, se, "se")
        bad = sev <= 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"study {st[i]!r}: se = {sev[i]:g} in column {se!r}; standard "
                            "errors must be > 0")
        nn = None

    if tr2 is None and measure != "SMD":
        return _arm_based(st, tr, studies, arms, order, reference, measure, mode, incr,
                          x if mode == "binary" else None, nn,
                          mu if mode == "continuous" else None,
                          sdv if mode == "continuous" else None,
                          tev if mode == "given" else None, sev if mode == "given" else None)
    # SMD (the covariance is not arm-decomposable) and contrast rows: study by study
    for s in studies:
        ri = row_of_study[s]
        a = arms[s]
        m = len(a)
        if tr2 is None:
            by_t = {tr[i]: i for i in ri}
            ii = np.array([by_t[t] for t in a])
            if nn is not None:
                for t, i in zip(a, ii):
                    n_arm[(s, t)] = float(nn[i])
        if tr2 is None:   # standardised mean differences (Gleser & Olkin covariance)
            ms, sds, ns = mu[ii], sdv[ii], nn[ii]
            N = ns.sum()
            dfp = N - m
            sp = np.sqrt(np.sum((ns - 1) * sds**2) / dfp)
            yc = _hedges_j(np.array(dfp)) * (ms[1:] - ms[0]) / sp
            B = 1.0 / ns[0] + np.outer(yc, yc) / (2 * N)
            B[np.diag_indices(m - 1)] += 1.0 / ns[1:]
        else:
            yc, B = _from_contrast_rows(s, a, tr[ri], tr2[ri], tev[ri], sev[ri])
        B = 0.5 * (B + B.T)
        start = len(y_all)
        y_all.extend(np.atleast_1d(yc).tolist())
        rows.append(np.arange(start, start + m - 1))
        blocks.append(np.atleast_2d(B))
        sidx += [studies.index(s)] * (m - 1)
        tidx += [pos[t] for t in a[1:]]
        bidx += [pos[a[0]]] * (m - 1)
    return ContrastData(
        treatments=order, reference=reference, measure=measure, studies=studies, arms=arms,
        study_idx=np.array(sidx, dtype=int), treat_idx=np.array(tidx, dtype=int),
        base_idx=np.array(bidx, dtype=int), y=np.array(y_all, dtype=float), blocks=blocks,
        rows=rows, incr=incr_used, n_arm=n_arm)


def _arm_based(st, tr, studies, arms, order, reference, measure, mode, incr, x, nn, mu, sdv,
               tev, sev) -> ContrastData:
    """Vectorised effect sizes for measures that are differences of arm-level quantities
    (arm log odds / log risk / risk / mean / given estimate): contrasts vs the study's
    baseline arm, covariance = the baseline arm's variance."""
    pos = {t: i for i, t in enumerate(order)}
    scode = {s: i for i, s in enumerate(studies)}
    sc = np.array([scode[s] for s in st])
    tp = np.array([pos[t] for t in tr])
    o = np.lexsort((tp, sc))
    sc, tp = sc[o], tp[o]
    first = np.r_[True, sc[1:] != sc[:-1]]
    start = np.flatnonzero(first)
    base_row = start[np.cumsum(first) - 1]
    incr_used: dict[str, float] = {}
    if mode == "binary":
        xs, ns = x[o], nn[o]
        zero_arm = (xs == 0) | (xs == ns)
        zero_study = np.maximum.reduceat(zero_arm.astype(int), start) > 0
        c = np.where(zero_study, float(incr), 0.0)[sc]
        incr_used = {s: float(v) for s, v in zip(studies, np.where(zero_study, float(incr), 0.0))}
        with np.errstate(divide="ignore", invalid="ignore"):
            if measure == "OR":
                ya = np.log((xs + c) / (ns - xs + c))
                va = 1.0 / (xs + c) + 1.0 / (ns - xs + c)
            elif measure == "RR":
                ya = np.log((xs + c) / (ns + 2 * c))
                va = 1.0 / (xs + c) - 1.0 / (ns + 2 * c)
            else:
                ya = xs / ns
                pc = (xs + c) / (ns + 2 * c)
                va = pc * (1 - pc) / (ns + 2 * c)
        bad = ~(np.isfinite(ya) & np.isfinite(va) & (va > 0))
        if bad.any():
            s = studies[sc[np.flatnonzero(bad)[0]]]
            raise DataError(
                f"study {s!r} has an arm with 0 events or 0 non-events and incr = {incr:g}, "
                f"so its {measure} or its variance is not finite/positive: use incr > 0 or "
                "drop the study")
    elif mode == "continuous":
        ya, va = mu[o], sdv[o] ** 2 / nn[o]
    else:
        ya, va = tev[o], sev[o] ** 2
    keep = ~first
    y = (ya - ya[base_row])[keep]
    vi = (va + va[base_row])[keep]
    vb = va[base_row][keep]
    sidx, tidx, bidx = sc[keep], tp[keep], tp[base_row][keep]
    counts = np.bincount(sidx, minlength=len(studies))
    bounds = np.r_[0, np.cumsum(counts)]
    rows = [np.arange(bounds[i], bounds[i + 1]) for i in range(len(studies))]
    blocks = []
    for r in rows:
        B = np.full((r.size, r.size), vb[r[0]])
        B[np.diag_indices(r.size)] = vi[r]
        blocks.append(B)
    n_arm = {}
    if nn is not None:
        n_arm = {(studies[a], order[b]): float(v) for a, b, v in zip(sc, tp, nn[o])}
    return ContrastData(
        treatments=order, reference=reference, measure=measure, studies=studies, arms=arms,
        study_idx=sidx, treat_idx=tidx, base_idx=bidx, y=y, blocks=blocks, rows=rows,
        incr=incr_used, n_arm=n_arm)


def _from_contrast_rows(s, arms, t1, t2, te, se):
    """Contrasts vs the study baseline and their covariance from pairwise rows."""
    m = len(arms)
    pos = {t: i for i, t in enumerate(arms)}
    npair = m * (m - 1) // 2
    seen = {}
    for a, b, e, v in zip(t1, t2, te, se**2):
        i, j = pos[a], pos[b]
        key = (min(i, j), max(i, j))
        if key in seen:
            raise DataError(f"study {s!r} gives the comparison {arms[key[0]]!r} vs "
                            f"{arms[key[1]]!r} twice; give each pair once")
        # store as effect of the later arm vs the earlier one
        seen[key] = (e if i > j else -e, v)
    if len(seen) != npair:
        raise DataError(f"study {s!r} has {m} arms ({', '.join(arms)}) but {len(seen)} of its "
                        f"{npair} pairwise comparisons: a multi-arm study must give all pairs "
                        "(or give arm-level rows without treatment2)")
    if m == 2:
        e, v = seen[(0, 1)]
        return np.array([e]), np.array([[v]])
    # arm variances from var_ij = v_i + v_j (least squares; exact for 3 arms)
    A = np.zeros((npair, m))
    rhs = np.zeros(npair)
    for r, ((i, j), (_, v)) in enumerate(seen.items()):
        A[r, i] = A[r, j] = 1.0
        rhs[r] = v
    va = np.linalg.lstsq(A, rhs, rcond=None)[0]
    if np.any(va <= 0):
        raise DataError(f"the standard errors of multi-arm study {s!r} are inconsistent: "
                        "no positive arm variances v_i satisfy se_ij^2 = v_i + v_j; check them")
    yc = np.array([seen[(0, j)][0] for j in range(1, m)])
    for (i, j), (e, _) in seen.items():
        if i > 0 and abs((yc[j - 1] - yc[i - 1]) - e) > 1e-6 * max(1.0, abs(e)):
            raise DataError(
                f"the estimates of multi-arm study {s!r} are inconsistent: "
                f"{arms[j]!r} vs {arms[i]!r} is {e:.6g} but the contrasts against "
                f"{arms[0]!r} give {yc[j - 1] - yc[i - 1]:.6g}")
    return yc, np.diag(va[1:]) + va[0]

"""Data preparation for the risk-based IPD network meta-regression.

Everything that turns a user DataFrame into the arrays both engines use lives
here, so that the Bayesian and the likelihood engines fit exactly the same
model.  The rows are put into a canonical order (trial, treatment, risk,
outcome) and treatments and trials into sorted order with the reference
first, so results do not depend on the order of rows or arms in the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import (
    MissingDataError,
    ModelSpecificationError,
    NetworkError,
    OutcomeError,
    column_not_found,
)


def _check_column(df: pd.DataFrame, col: str, role: str) -> None:
    if col not in df.columns:
        raise column_not_found(col, df.columns, role)


def logit(p):
    p = np.asarray(p, dtype=float)
    return np.log(p) - np.log1p(-p)


def expit(x):
    x = np.asarray(x, dtype=float)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class NMRDesign:
    """Arrays describing the fitted model (canonical row order)."""

    trials: list[str]
    treatments: list[str]          # reference first, others sorted
    reference: str
    trial_idx: np.ndarray          # (n,) int
    trt_idx: np.ndarray            # (n,) int, 0 = reference
    y: np.ndarray                  # (n,) float 0/1
    x: np.ndarray | None           # (n,) centred risk covariate (None: no risk term)
    x_raw: np.ndarray | None       # (n,) uncentred covariate (logit risk or probability)
    risk_logit: np.ndarray | None  # (n,) logit-scale risk score as supplied
    centre_trial: np.ndarray | None  # (J,) centre used per trial
    centre_pred: float | None      # centre used for predictions
    arms: dict[str, list[str]]
    baseline: list[int]            # per trial: treatment index of its baseline arm
    # random-effects structure: one random contrast per non-baseline arm
    re_arm_trial: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    re_arm_trt: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    re_row: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # (n,) arm idx or -1
    re_chol: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (A, A) block chol
    source_index: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    # rows expanded from aggregate (arm-level) data; their risk term is evaluated at the
    # trial's mean risk when given, and left out (x = 0) otherwise
    is_ad: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    ad_trials: list[str] = field(default_factory=list)
    # time-to-event outcomes (``family="survival"``): follow-up times, ``y`` = event 0/1;
    # the trial intercepts are replaced by trial-stratified baseline hazards
    time: np.ndarray | None = None
    family: str = "binary"

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def n_trials(self) -> int:
        return len(self.trials)

    @property
    def n_treatments(self) -> int:
        return len(self.treatments)

    @property
    def has_risk(self) -> bool:
        return self.x is not None

    def param_names(self) -> list[str]:
        names = [] if self.family == "survival" else [f"u[{t}]" for t in self.trials]
        names += [f"d[{t}]" for t in self.treatments[1:]]
        if self.has_risk:
            names += ["g0"] + [f"gamma[{t}]" for t in self.treatments[1:]]
        return names

    def design_matrix(self) -> np.ndarray:
        """Fixed-effects design: trial intercepts, treatment dummies, risk, risk x treatment."""
        n, J, T = self.n, self.n_trials, self.n_treatments
        # filled in place (one allocation; the blocks as np.hstack of dense dummies would
        # cost more than a small Cox fit)
        c0 = 0 if self.family == "survival" else J
        out = np.zeros((n, c0 + (T - 1) * (2 if self.has_risk else 1)
                        + (1 if self.has_risk else 0)))
        rows = np.arange(n)
        if c0:
            out[rows, self.trial_idx] = 1.0
        m = self.trt_idx > 0
        rm, tm = rows[m], self.trt_idx[m]
        out[rm, c0 + tm - 1] = 1.0
        if self.has_risk:
            out[:, c0 + T - 1] = self.x
            out[rm, c0 + T - 1 + tm] = self.x[m]
        return out


def prepare(
    data: pd.DataFrame,
    *,
    trial: str,
    treatment: str,
    outcome: str,
    risk: str | None,
    reference: str | None,
    centring: str | float,
    risk_scale: str,
    ad: np.ndarray | None = None,
) -> NMRDesign:
    """Validate ``data`` and build the canonical :class:`NMRDesign`.

    ``ad`` (bool per row) marks rows expanded from aggregate arm counts: their ``risk``
    may be NaN (risk term left out for them), and the prediction centre (overall
    mean) is computed from the IPD rows only."""
    if not isinstance(data, pd.DataFrame):
        raise ModelSpecificationError(
            f"data must be a pandas DataFrame or an ipdma.data.IPD, not {type(data).__name__}"
        )
    cols = [(trial, "trial"), (treatment, "treatment"), (outcome, "outcome")]
    if risk is not None:
        cols.append((risk, "risk"))
    for c, role in cols:
        _check_column(data, c, role)
    used = [c for c, _ in cols]
    df = data[used].copy()
    ad = np.zeros(len(df), bool) if ad is None else np.asarray(ad, bool)
    miss = (df.drop(columns=[risk]) if risk is not None else df).isna().any(axis=1)
    if risk is not None:
        miss = miss | (df[risk].isna() & ~ad)
    if miss.any():
        bad = df.columns[df.isna().any()].tolist()
        raise MissingDataError(
            f"{int(miss.sum())} rows have missing values in {bad}: stage 2 needs complete "
            "cases; drop or impute them first (e.g. data.dropna(subset=[...]))."
        )
    yv = pd.to_numeric(df[outcome], errors="coerce")
    if yv.isna().any() or not np.isin(yv.to_numpy(), [0, 1]).all():
        vals = sorted(pd.unique(df[outcome].astype(str)))[:6]
        raise OutcomeError(
            f"outcome column {outcome!r} must be binary 0/1 (found values {vals}); "
            "recode it, e.g. (df[col] == 'event').astype(int)."
        )
    y = yv.to_numpy(dtype=float)
    tr = df[trial].astype(str).to_numpy()
    tt = df[treatment].astype(str).to_numpy()
    trials = sorted(pd.unique(tr).tolist())
    labels = sorted(pd.unique(tt).tolist())
    arms = {j: sorted(pd.unique(tt[tr == j]).tolist()) for j in trials}
    treatments = network_treatments(reference, labels, arms, treatment)
    reference = treatments[0]

    if risk is not None:
        r = pd.to_numeric(df[risk], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(r[~ad])):
            raise ModelSpecificationError(
                f"risk column {risk!r} must be numeric and finite (logit-scale risk score)."
            )
        r_missing = ~np.isfinite(r)          # aggregate rows without a mean risk
        r = np.where(r_missing, 0.0, r)
    else:
        r = np.zeros(len(df))
        r_missing = np.zeros(len(df), bool)

    # canonical order: trial, treatment, risk, outcome (stable)
    t_pos = {t: i for i, t in enumerate(treatments)}
    trial_idx = np.searchsorted(np.array(trials, dtype=object), tr).astype(int)
    trt_lookup = np.array([t_pos[t] for t in labels], dtype=int)
    trt_idx = trt_lookup[np.searchsorted(np.array(labels, dtype=object), tt)]
    order = np.lexsort((y, r, trt_idx, trial_idx))
    trial_idx, trt_idx, y, r = trial_idx[order], trt_idx[order], y[order], r[order]
    ad, r_missing = ad[order], r_missing[order]

    x = x_raw = centre_trial = centre_pred = risk_logit = None
    if risk is not None:
        risk_logit = r
        if risk_scale == "logit":
            x_raw = r
        elif risk_scale == "probability":
            x_raw = expit(r)
        else:  # pragma: no cover - validated by the estimator
            raise ModelSpecificationError(f"unknown risk_scale {risk_scale!r}")
        J = len(trials)
        has = ~r_missing
        sums = np.bincount(trial_idx[has], weights=x_raw[has], minlength=J)
        counts = np.bincount(trial_idx[has], minlength=J)
        overall = float(x_raw[~ad].mean())
        if isinstance(centring, str) and centring == "trial":
            with np.errstate(invalid="ignore", divide="ignore"):
                centre_trial = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
            centre_pred = overall
        elif isinstance(centring, str) and centring == "global":
            centre_trial = np.full(J, overall)
            centre_pred = overall
        else:
            c = float(centring)
            centre_trial = np.full(J, c)
            centre_pred = c
        x = x_raw - centre_trial[trial_idx]
        x[r_missing] = 0.0        # aggregate rows without a mean risk: risk term left out

    baseline = [min(t_pos[t] for t in arms[j]) for j in trials]
    design = NMRDesign(
        trials=trials, treatments=treatments, reference=reference, trial_idx=trial_idx,
        trt_idx=trt_idx, y=y, x=x, x_raw=x_raw, risk_logit=risk_logit,
        centre_trial=centre_trial, centre_pred=centre_pred, arms=arms, baseline=baseline,
        source_index=np.asarray(data.index)[order], is_ad=ad,
        ad_trials=sorted({trials[j] for j in np.unique(trial_idx[ad])}),
    )
    _random_structure(design, t_pos)
    return design


def label_codes(values) -> tuple[np.ndarray, list[str]] | None:
    """Integer codes of a label column and its labels as sorted strings (the labels of
    :func:`prepare`, which reads trial and treatment labels as ``str``), or None when the
    column has missing values or float labels (left to the pandas path).

    Examples
    --------
    >>> codes, labels = label_codes(np.array(["b", "a", "b", "c"], dtype=object))
    >>> codes.tolist(), labels
    ([1, 0, 1, 2], ['a', 'b', 'c'])
    """
    codes, uniq = pd.factorize(values)
    kind = getattr(getattr(uniq, "dtype", None), "kind", "O")
    if (len(codes) and codes.min() < 0) or kind in "fc":
        return None
    labels, inv = np.unique(np.array([str(u) for u in uniq], dtype=object),
                            return_inverse=True)
    return inv.reshape(-1)[codes], labels.tolist()


def network_treatments(reference: str | None, labels: list[str],
                       arms: dict[str, list[str]], treatment: str) -> list[str]:
    """The treatments with the network reference first (``reference=None``: the
    package-wide rule of :func:`ipdma.data.choose_reference`, a control-like label, else
    the most connected), after checking that every trial has two arms and that the
    network is connected; errors name the column, trial or label at fault."""
    if reference is None:
        from ..data import choose_reference

        reference = choose_reference(labels, arms)
    reference = str(reference)
    if reference not in labels:
        raise NetworkError(
            f"reference treatment {reference!r} is not in column {treatment!r} "
            f"(treatments: {labels}); pass one of these as reference=."
        )
    for j, a in arms.items():
        if len(a) < 2:
            raise NetworkError(
                f"trial {j!r} has a single arm ({a[0]!r}); stage 2 uses randomised "
                "comparisons only: drop the trial or add its other arms."
            )
    treatments = [reference] + [t for t in labels if t != reference]
    _check_connected(treatments, arms)
    return treatments


def design_from_codes(tr: np.ndarray, trials: list[str], tt: np.ndarray, labels: list[str],
                      arms: dict[str, list[str]], y: np.ndarray, r: np.ndarray | None, *,
                      reference: str | None, centring: str | float, treatment: str,
                      extra_keys: tuple = ()) -> NMRDesign:
    """:func:`prepare` on validated arrays (logit risk scale, IPD only): trial and treatment
    codes into the sorted ``trials`` / ``labels``, their ``arms``, outcome ``y`` and risk
    ``r`` (None: no risk term).  ``extra_keys`` are further (least significant) keys of the
    canonical row order (e.g. the follow-up time).  ``source_index`` of the result holds
    row positions."""
    treatments = network_treatments(reference, labels, arms, treatment)
    reference = treatments[0]
    t_pos = {t: i for i, t in enumerate(treatments)}
    trt_idx = np.array([t_pos[t] for t in labels], dtype=int)[tt]
    trial_idx = np.asarray(tr, dtype=int)
    rr = np.zeros(len(y)) if r is None else r
    # canonical order: trial, treatment, risk, outcome, then extra keys (stable)
    order = np.lexsort((*extra_keys, y, rr, trt_idx, trial_idx))
    trial_idx, trt_idx, y, rr = trial_idx[order], trt_idx[order], y[order], rr[order]
    x = x_raw = centre_trial = centre_pred = None
    if r is not None:
        x_raw = rr
        J = len(trials)
        sums = np.bincount(trial_idx, weights=x_raw, minlength=J)
        counts = np.bincount(trial_idx, minlength=J)
        overall = float(x_raw.mean())
        if isinstance(centring, str) and centring == "trial":
            centre_trial = sums / np.maximum(counts, 1)
            centre_pred = overall
        elif isinstance(centring, str) and centring == "global":
            centre_trial = np.full(J, overall)
            centre_pred = overall
        else:
            centre_trial = np.full(J, float(centring))
            centre_pred = float(centring)
        x = x_raw - centre_trial[trial_idx]
    baseline = [min(t_pos[t] for t in arms[j]) for j in trials]
    design = NMRDesign(
        trials=trials, treatments=treatments, reference=reference, trial_idx=trial_idx,
        trt_idx=trt_idx, y=y, x=x, x_raw=x_raw, risk_logit=None if r is None else rr,
        centre_trial=centre_trial, centre_pred=centre_pred, arms=arms, baseline=baseline,
        source_index=order, is_ad=np.zeros(len(y), bool), ad_trials=[],
    )
    _random_structure(design, t_pos)
    return design


def _check_connected(treatments: list[str], arms: dict[str, list[str]]) -> None:
    parent = {t: t for t in treatments}

    def find(a: str) -> str:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a in arms.values():
        for t in a[1:]:
            parent[find(t)] = find(a[0])
    comps: dict[str, list[str]] = {}
    for t in treatments:
        comps.setdefault(find(t), []).append(t)
    if len(comps) > 1:
        groups = sorted(comps.values(), key=lambda g: (-len(g), g))
        raise NetworkError(
            f"the treatment network is disconnected: components {groups}. Relative effects "
            "between components are not identified; analyse the components separately or "
            "add trials that link them."
        )


def _random_structure(d: NMRDesign, t_pos: dict[str, int]) -> None:
    """One random contrast per non-baseline arm; the contrasts of a multi-arm trial have
    covariance tau^2 (I + J) / 2 (Lu & Ades), factorised once as a block Cholesky."""
    arm_trial, arm_trt = [], []
    for j, name in enumerate(d.trials):
        for t in sorted(t_pos[a] for a in d.arms[name]):
            if t != d.baseline[j]:
                arm_trial.append(j)
                arm_trt.append(t)
    A = len(arm_trial)
    arm_trial_a = np.array(arm_trial, dtype=int)
    arm_trt_a = np.array(arm_trt, dtype=int)
    table = np.full((d.n_trials, d.n_treatments), -1, dtype=int)
    table[arm_trial_a, arm_trt_a] = np.arange(A)
    re_row = table[d.trial_idx, d.trt_idx]
    chol = np.zeros((A, A))
    factors: dict[int, np.ndarray] = {}          # one factorisation per block size
    start = 0
    for m in np.bincount(arm_trial_a, minlength=d.n_trials).tolist():
        # the arms of trial j are consecutive (arm_trial is in trial order)
        if m:
            if m not in factors:
                factors[m] = np.linalg.cholesky(0.5 * (np.eye(m) + np.ones((m, m))))
            chol[start:start + m, start:start + m] = factors[m]
            start += m
    d.re_arm_trial, d.re_arm_trt, d.re_row, d.re_chol = arm_trial_a, arm_trt_a, re_row, chol

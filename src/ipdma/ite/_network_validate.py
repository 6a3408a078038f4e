"""Validation of two-stage ITE models of a treatment network (more than two treatments).

Leave-one-trial-out (LOTO) predictions, calibration for benefit per contrast and
:func:`~ipdma.ite.compare_methods` on a network.  :func:`~ipdma.ite.loto_predictions`
and :func:`~ipdma.ite.compare_methods` switch to this module when the treatment column
has more than two treatments.

LOTO on a network
    Stage 1 of a trial does not depend on the other trials, so every trial is fitted
    once and fold ``i`` re-runs only the network stage 2 on the other trials' fits.  The
    held-out trial's patients get the ITE of every pair of treatments that the other
    trials still connect (``ite_<j>_vs_<k>``, ``se_<j>_vs_<k>``, ``j`` after ``k`` in the
    network's treatment order, the network reference first).  When removing a trial
    disconnects the network or removes a treatment, each connected part of the rest is
    pooled on its own and the pairs across parts are missing (NaN; a
    :class:`~ipdma.errors.DataWarning` names the trial and the pairs).

Calibration for benefit per contrast
    A contrast ``j`` vs ``k`` is validated on the patients of the trials that randomised
    both arms (arms ``j`` and ``k`` only, ``t = 1`` for arm ``j``), with that contrast's
    LOTO prediction: :func:`~ipdma.ite.calibration_for_benefit`,
    :func:`~ipdma.ite.tau_risk` and, for a binary outcome,
    :func:`~ipdma.ite.c_for_benefit` with these patients.  Contrasts that no trial
    randomises directly have no observed benefit and are not scored on observed outcomes.

Aggregation ("overall")
    The overall scores stack the comparisons of all contrasts: each (trial, contrast)
    is its own stratum (the role the trial plays for two treatments), so observed
    benefits are always within-trial, within-contrast differences; a patient of a shared
    arm of a multi-arm trial enters once per contrast of that arm.  ``tau_risk`` overall
    is therefore the comparison-weighted mean of the per-contrast values; calibration
    and c-for-benefit are computed on the stacked comparisons.  With true ITEs, ``mae``
    (median absolute error) and ``rmse`` per contrast use every patient; overall they
    pool the contrasts of every treatment vs the network reference (the basic
    parameters, from which every other pair follows), and ``best_correct`` is the share
    of patients whose predicted best treatment (LOTO) is the true one.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, DataWarning, ModelSpecificationError
from ._network_ite import NetworkFit, NetworkITEData, network_data

__all__ = ["network_calibration_for_benefit", "network_loto_predictions"]


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def as_network_data(data: Any, *, reference: str | None = None,
                    **columns: Any) -> NetworkITEData | None:
    """:class:`NetworkITEData` for data with more than two treatments, else None."""
    if isinstance(data, NetworkITEData):
        if reference is None or str(reference) == data.reference:
            return data
        if str(reference) not in data.treatments:
            raise DataError(f"reference={reference!r} is not a treatment label; the "
                            f"treatments are {', '.join(data.treatments)}")
        others = [t for t in data.treatments if t != str(reference)]
        return dataclasses.replace(data, treatments=[str(reference), *others])
    return network_data(data, reference=reference, **columns)


def _pairs(treatments: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair (j, k), j after k in ``treatments`` (the network reference first)."""
    return [(treatments[j], treatments[k]) for j in range(1, len(treatments))
            for k in range(j)]


def _components(stage1) -> list[list[str]]:
    parent: dict[str, str] = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for s in stage1:
        for a in s.arms[1:]:
            parent[find(a)] = find(s.arms[0])
    comps: dict[str, list[str]] = {}
    for a in list(parent):
        comps.setdefault(find(a), []).append(a)
    return list(comps.values())


# --------------------------------------------------------------------------------------
# leave-one-trial-out
# --------------------------------------------------------------------------------------
def _fold_predict(model, stage1, d: NetworkITEData, X: np.ndarray, treatments: list[str]):
    """Pooled means (N, Tc-1) and covariances of the basic contrasts of ``treatments``
    (its first the fold's reference) from ``stage1`` at ``X``."""
    fold_d = dataclasses.replace(d, treatments=treatments)
    fit = NetworkFit(model, stage1, fold_d, n_draws=2)     # P(best) is not used here
    pred = fit.predict(X)
    return pred.mean, pred.cov


def loto_from_network(model, d: NetworkITEData) -> pd.DataFrame:
    """LOTO predictions of a network model fitted on ``d`` (see the module docstring)."""
    net = model.network_
    trts = list(d.treatments)
    pairs = _pairs(trts)
    N = len(d.y)
    est = {p: np.full(N, np.nan) for p in pairs}
    se = {p: np.full(N, np.nan) for p in pairs}
    for s in net.stage1:
        held = d.trial == s.label
        rest = [r for r in net.stage1 if r.label != s.label]
        X = d.X[held]
        done: set[tuple[str, str]] = set()
        for comp in _components(rest):
            comp_t = [t for t in trts if t in comp]
            if len(comp_t) < 2:
                continue
            part = [r for r in rest if r.arms[0] in comp]
            mean, cov = _fold_predict(model, part, d, X, comp_t)
            n = len(X)
            full = np.hstack([np.zeros((n, 1)), mean])
            fcov = np.zeros((n, len(comp_t), len(comp_t)))
            fcov[:, 1:, 1:] = cov
            pos = {t: i for i, t in enumerate(comp_t)}
            for a, b in pairs:
                if a in pos and b in pos:
                    i, j = pos[a], pos[b]
                    est[(a, b)][held] = full[:, i] - full[:, j]
                    var = fcov[:, i, i] + fcov[:, j, j] - 2 * fcov[:, i, j]
                    se[(a, b)][held] = np.sqrt(np.clip(var, 0, None))
                    done.add((a, b))
        own = [(a, b) for a, b in pairs if a in s.arms and b in s.arms]
        lost = [f"{a}_vs_{b}" for a, b in own if (a, b) not in done]
        if lost:
            warnings.warn(
                f"leave-one-trial-out: without trial {s.label!r} the other trials do not "
                f"connect {', '.join(lost)}, so its patients have no prediction of "
                "these contrasts (NaN; they are left out of the calibration of those "
                "contrasts)", DataWarning, stacklevel=3)
    out = pd.DataFrame({"trial": d.trial, "treatment": d.arm,
                        **({"time": d.y[:, 0], "event": d.y[:, 1]} if d.y.ndim == 2
                           else {"y": d.y})})
    cols = {}
    for a, b in pairs:
        cols[f"ite_{a}_vs_{b}"] = est[(a, b)]
    for a, b in pairs:
        cols[f"se_{a}_vs_{b}"] = se[(a, b)]
    return pd.concat([out, pd.DataFrame(cols)], axis=1)


def _check_loto_network(d: NetworkITEData) -> None:
    if len(d.trials) < 3:
        raise DataError(f"leave-one-trial-out validation needs at least 3 trials, got "
                        f"{len(d.trials)}")


def _fit_network_model(model, d: NetworkITEData, higher_is_better: bool,
                       network_stage1: str = "native"):
    from ._network_ite import fit_network_groups
    from ._twostage import trial_seeds

    fit_network_groups(d, {model.learner_.name: [model]},
                       trial_seeds(model.random_state, len(d.trials)), model.n_jobs,
                       higher_is_better=higher_is_better, progress=model.progress,
                       desc=f"{model.name}: stage 1", network_stage1=network_stage1)
    return model


def network_loto_predictions(d: NetworkITEData, method: Any = "ols+mvma", *,
                             n_boot: int = 100, random_state: Any = None, n_jobs: int = 1,
                             higher_is_better: bool = True) -> pd.DataFrame:
    """Leave-one-trial-out ITEs of every pair of treatments for a treatment network.

    Called by :func:`~ipdma.ite.loto_predictions` when the data have more than two
    treatments; one row per patient (data order) with ``trial``, ``treatment``, ``y``
    and ``ite_<j>_vs_<k>`` / ``se_<j>_vs_<k>`` for every pair (j after k in the
    network's treatment order, the network reference first).

    Examples
    --------
    >>> from ipdma.datasets import make_ite_network
    >>> from ipdma.ite import loto_predictions
    >>> sim = make_ite_network(random_state=1, n_test=10)
    >>> oof = loto_predictions(sim.ipd(), "ols+mvma", random_state=0)
    >>> oof.columns.tolist()[:6]
    ['trial', 'treatment', 'y', 'ite_B_vs_A', 'ite_C_vs_A', 'ite_C_vs_B']
    >>> bool(oof.filter(like="ite_").notna().all().all())
    True
    """
    from ._validation import _parse_method, _template

    _check_loto_network(d)
    _, spec = _parse_method(method)
    model = _template(spec, n_boot, random_state)
    if isinstance(spec, tuple):
        model.n_jobs = int(n_jobs)
    _fit_network_model(model, d, higher_is_better)
    return loto_from_network(model, d)


# --------------------------------------------------------------------------------------
# calibration for benefit per contrast
# --------------------------------------------------------------------------------------
def _contrast_rows(loto: pd.DataFrame, a: str, b: str) -> pd.DataFrame | None:
    """The patients of arms a and b in the trials that randomised both, with the LOTO
    prediction of a vs b (rows without a prediction dropped)."""
    arms = loto.groupby("trial")["treatment"].agg(lambda s: set(map(str, s)))
    trials = [tr for tr, s in arms.items() if a in s and b in s]
    if not trials:
        return None
    m = loto["trial"].isin(trials) & loto["treatment"].astype(str).isin([a, b])
    col = f"ite_{a}_vs_{b}"
    ys = [c for c in ("y", "time", "event") if c in loto.columns]
    sub = loto.loc[m, ["trial", "treatment", *ys, col]].rename(columns={col: "ite"})
    sub = sub[sub["ite"].notna()]
    if sub.empty:
        return None
    sub = sub.assign(t=(sub["treatment"].astype(str) == a).astype(float),
                     contrast=f"{a}_vs_{b}")
    return sub


def _treatments_of(loto: pd.DataFrame) -> list[str]:
    """Network treatment order from the ``ite_<j>_vs_<k>`` columns."""
    names = [c[4:] for c in loto.columns if c.startswith("ite_")]
    first = names[0].split("_vs_")[1]
    return [first, *[n.split("_vs_")[0] for n in names if n.endswith(f"_vs_{first}")]]


def network_calibration_for_benefit(loto: pd.DataFrame, *, method: str = "groups",
                                    n_groups: int = 5) -> dict[str, dict[str, Any]]:
    """Calibration for benefit per contrast of a network's LOTO predictions.

    ``loto`` is the frame of :func:`~ipdma.ite.loto_predictions` on a treatment network.
    Each contrast ``j`` vs ``k`` that some trial randomises is calibrated on those
    trials' patients of arms ``j`` and ``k`` (``t = 1`` for ``j``) with
    :func:`~ipdma.ite.calibration_for_benefit`; ``"overall"`` stacks all contrasts with
    one stratum per (trial, contrast) (see the module docstring).  Returns
    ``{"<j>_vs_<k>": {"intercept", "slope", "rmse", "table", "n", "trials"}, ...,
    "overall": {...}}``.

    Examples
    --------
    >>> from ipdma.datasets import make_ite_network
    >>> from ipdma.ite import loto_predictions, network_calibration_for_benefit
    >>> sim = make_ite_network(random_state=1, n_test=10)
    >>> oof = loto_predictions(sim.ipd(), "ols+weighted-aux-ols", random_state=0)
    >>> cal = network_calibration_for_benefit(oof, n_groups=4)
    >>> list(cal)
    ['B_vs_A', 'C_vs_A', 'C_vs_B', 'D_vs_A', 'D_vs_B', 'D_vs_C', 'overall']
    >>> sorted(cal["overall"])
    ['intercept', 'n', 'rmse', 'slope', 'table', 'trials']
    """
    from ._validation import calibration_for_benefit

    out: dict[str, dict[str, Any]] = {}
    stacked = []
    for a, b in _pairs(_treatments_of(loto)):
        sub = _contrast_rows(loto, a, b)
        if sub is None:
            continue
        cal = calibration_for_benefit(sub["y"].to_numpy(float), sub["t"].to_numpy(),
                                      sub["ite"].to_numpy(float),
                                      sub["trial"].astype(str).to_numpy(), method=method,
                                      n_groups=n_groups)
        cal.update(n=len(sub), trials=int(sub["trial"].nunique()))
        out[f"{a}_vs_{b}"] = cal
        stacked.append(sub)
    if not stacked:
        raise DataError("no contrast of the network is randomised within a trial with "
                        "leave-one-trial-out predictions: nothing to calibrate")
    allc = pd.concat(stacked, ignore_index=True)
    strata = (allc["trial"].astype(str) + "|" + allc["contrast"]).to_numpy()
    cal = calibration_for_benefit(allc["y"].to_numpy(float), allc["t"].to_numpy(),
                                  allc["ite"].to_numpy(float), strata, method=method,
                                  n_groups=n_groups)
    cal.update(n=len(allc), trials=int(allc["trial"].nunique()))
    out["overall"] = cal
    return out


# --------------------------------------------------------------------------------------
# compare_methods on a network
# --------------------------------------------------------------------------------------
def _truth_matrix(true_ite: Any, d: NetworkITEData) -> np.ndarray:
    """(n, T-1) true ITEs of each treatment vs the network reference."""
    ref, others = d.reference, d.treatments[1:]
    if isinstance(true_ite, pd.DataFrame):
        cols = {}
        for t in d.treatments[1:]:
            for stem in (f"true_ite_{t}_vs_{ref}", f"ite_{t}_vs_{ref}", t):
                if stem in true_ite.columns:
                    cols[t] = true_ite[stem].to_numpy(float)
                    break
        if len(cols) < len(others):
            # vs another reference: rebuild from the columns true_ite_<T>_vs_<R>
            found = [c for c in true_ite.columns if str(c).startswith("true_ite_")]
            base = {str(c)[9:].split("_vs_")[0]: true_ite[c].to_numpy(float) for c in found}
            rs = {str(c).split("_vs_")[1] for c in found}
            if len(rs) == 1:
                r = rs.pop()
                base[r] = np.zeros(len(true_ite))
                if set(d.treatments) <= set(base):
                    return np.column_stack([base[t] - base[ref] for t in others])
            raise DataError(
                "true_ite: give a column true_ite_<T>_vs_<REF> for every treatment T vs the "
                f"network reference {ref!r} (missing: "
                f"{', '.join(t for t in others if t not in cols)})")
        M = np.column_stack([cols[t] for t in others])
    else:
        M = np.asarray(true_ite, dtype=float)
        if M.ndim == 1:
            M = M[:, None]
        if M.shape[1] != len(others):
            raise DataError(f"true_ite has {M.shape[1]} columns; a network of "
                            f"{len(d.treatments)} treatments needs {len(others)} (each "
                            f"treatment vs {ref!r}: {', '.join(others)})")
    if len(M) != len(d.y):
        raise DataError(f"true_ite has {len(M)} rows for {len(d.y)} patients")
    return M


def _scores(sub: pd.DataFrame, binary: bool, calibration: str, n_groups: int,
            strata: np.ndarray, survival: dict | None = None) -> dict[str, float]:
    from ._validation import c_for_benefit, calibration_for_benefit, tau_risk

    if survival is not None:
        from ._network_survival import survival_contrast_scores

        return survival_contrast_scores(sub, strata, n_groups=n_groups, **survival)

    y, t, ite = (sub[c].to_numpy(float) for c in ("y", "t", "ite"))
    cal = calibration_for_benefit(y, t, ite, strata, method=calibration, n_groups=n_groups)
    row = {"tau_risk": tau_risk(y, t, ite, strata), "calib_intercept": cal["intercept"],
           "calib_slope": cal["slope"], "calib_rmse": cal["rmse"]}
    if binary:
        row["c_for_benefit"] = c_for_benefit(y, t, -ite, trial=strata).c
    return row, cal


def _fitted_on_network(model, d: NetworkITEData) -> bool:
    """Whether ``model`` is a network fit on exactly the data ``d``."""
    fd = getattr(model, "data_", None)
    if getattr(model, "network_", None) is None or not isinstance(fd, NetworkITEData):
        return False
    return (list(fd.trials) == list(d.trials) and set(fd.treatments) == set(d.treatments)
            and list(fd.feature_names) == list(d.feature_names)
            and all(np.array_equal(getattr(fd, a), getattr(d, a))
                    for a in ("X", "arm", "y", "trial")))


def network_compare_methods(d: NetworkITEData, methods, *, calibration: str, n_groups: int,
                            rank_by: str | None, true_ite: Any, n_boot: int,
                            random_state: Any, n_jobs: int, learner_options, pooler_options,
                            progress, client, higher_is_better: bool,
                            scale: str | None = None, horizon: float | None = None,
                            tau: float | None = None,
                            network_stage1: str = "native"):
    """:func:`~ipdma.ite.compare_methods` for a treatment network (see the module
    docstring for the per-contrast metrics and how they are aggregated)."""
    from ._twostage import fit_methods
    from ._validation import MethodComparison, _parse_method, _template

    binary = d.outcome_type == "binary"
    surv = None
    if d.outcome_type == "survival":
        from ._network_survival import survival_compare_setup

        d, methods, rank_by, surv, extra_kw = survival_compare_setup(
            d, methods, rank_by, scale, horizon, tau)
    if methods is None:
        methods = ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols",
                   "ridge+weighted-aux-ols"] if not binary else \
            ["logistic+weighted-aux-ols", "logistic-lasso+weighted-aux-ols",
             "logistic-ridge+weighted-aux-ols"]
    if rank_by is None:
        rank_by = "c_for_benefit" if binary else "tau_risk"
    truth = None if true_ite is None else _truth_matrix(true_ite, d)
    valid = {"tau_risk", "calib_rmse", "mae", "rmse"} | ({"c_for_benefit"} if binary else set())
    if surv is not None:
        valid = {"c_for_benefit", "calib_rmse", "mae", "rmse"}
    if truth is not None:
        valid.add("best_correct")
    if rank_by not in valid or (rank_by in ("mae", "rmse") and truth is None):
        raise ModelSpecificationError(f"rank_by={rank_by!r}: choose one of {sorted(valid)} "
                                      "(mae/rmse/best_correct need true_ite; c_for_benefit "
                                      "a binary outcome)")
    _check_loto_network(d)
    parsed = [_parse_method(m) for m in methods]
    pairs = [spec for _, spec in parsed if isinstance(spec, tuple)]
    shared = fit_methods(d, pairs, n_boot=n_boot, random_state=random_state, n_jobs=n_jobs,
                         learner_options=learner_options, pooler_options=pooler_options,
                         progress=progress, higher_is_better=higher_is_better,
                         client=client, network_stage1=network_stage1,
                         **(extra_kw if surv is not None else {})) \
        if pairs else {}
    rows, per, cals, preds = [], [], {}, {}
    trts = list(d.treatments)
    for name, spec in parsed:
        if isinstance(spec, tuple):
            model = shared[f"{spec[0]}+{spec[1]}"]
        elif _fitted_on_network(spec, d):
            model = spec
        else:
            model = _template(spec, n_boot, random_state)
            model.progress = progress
            _fit_network_model(model, d, higher_is_better, network_stage1)
        if binary and model.network_.scale != "rd":
            raise ModelSpecificationError(
                f"method {name!r} predicts on the {model.network_.scale!r} scale; calibration "
                "for benefit compares predicted with observed risk differences: use a "
                "pooler that predicts risk differences (e.g. 'logistic+weighted-aux-ols') or "
                "scale='rd'")
        oof = loto_from_network(model, d)
        stacked, cal_m = [], {}
        for a, b in _pairs(trts):
            key = f"{a}_vs_{b}"
            row = {"method": name, "contrast": key}
            sub = _contrast_rows(oof, a, b)
            if sub is not None:
                sc, cal = _scores(sub, binary, calibration, n_groups,
                                  sub["trial"].astype(str).to_numpy(),
                                  _surv_scale(surv, model))
                row.update(n=len(sub), trials=int(sub["trial"].nunique()), **sc)
                cal_m[key] = cal
                stacked.append(sub)
            else:
                row.update(n=0, trials=0)
            if truth is not None:
                ia = trts.index(a)
                ib = trts.index(b)
                tv = (truth[:, ia - 1] if ia else 0.0) - (truth[:, ib - 1] if ib else 0.0)
                e = oof[f"ite_{key}"].to_numpy(float) - tv
                e = e[np.isfinite(e)]
                row["mae"] = float(np.median(np.abs(e))) if len(e) else np.nan
                row["rmse"] = float(np.sqrt(np.mean(e ** 2))) if len(e) else np.nan
            per.append(row)
        if not stacked:
            raise DataError("no contrast of the network is randomised within a trial with "
                            "leave-one-trial-out predictions: nothing to validate")
        allc = pd.concat(stacked, ignore_index=True)
        strata = (allc["trial"].astype(str) + "|" + allc["contrast"]).to_numpy()
        sc, cal = _scores(allc, binary, calibration, n_groups, strata,
                          _surv_scale(surv, model))
        cal.update(n=len(allc), trials=int(allc["trial"].nunique()))
        cal_m["overall"] = cal
        row = {"method": name, **sc}
        if truth is not None:
            basic = np.column_stack([oof[f"ite_{t}_vs_{trts[0]}"].to_numpy(float)
                                     for t in trts[1:]])
            e = (basic - truth).ravel()
            e = e[np.isfinite(e)]
            row["mae"] = float(np.median(np.abs(e)))
            row["rmse"] = float(np.sqrt(np.mean(e ** 2)))
            ok = np.isfinite(basic).all(1)
            from ._network import best_treatment

            hib = model.network_.higher_is_better      # survival: depends on the scale
            pb = best_treatment(trts, basic[ok], higher_is_better=hib)
            tb = best_treatment(trts, truth[ok], higher_is_better=hib)
            row["best_correct"] = float(np.mean(pb == tb)) if ok.any() else np.nan
        rows.append(row)
        cals[name] = cal_m
        preds[name] = oof
    ascending = rank_by not in ("c_for_benefit", "best_correct")
    table = pd.DataFrame(rows).set_index("method").sort_values(rank_by, kind="stable",
                                                                ascending=ascending)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    if surv is None:
        table.insert(2, "tau_risk_diff", table["tau_risk"] - table["tau_risk"].min())
    per_contrast = pd.DataFrame(per).set_index(["method", "contrast"])
    per_contrast = per_contrast.loc[list(table.index)]
    return MethodComparison(table, {k: v["overall"] for k, v in cals.items()}, preds, rank_by,
                            calibration, per_contrast=per_contrast, contrast_calibration=cals)


def _surv_scale(surv: dict | None, model) -> dict | None:
    """The time-to-event scoring options of ``model`` (its own scale)."""
    if surv is None:
        return None
    return {**surv, "scale": model.network_.scale}


def cli_compare_network(args, model, ipd, out):
    """``ipdma ite --compare`` on a treatment network: writes comparison.csv (overall) and
    comparison_contrasts.csv (per contrast); returns (files, table, text)."""
    from ._twostage import parse_methods
    from ._validation import compare_methods

    fam = ipd.family
    if args.compare_methods:
        pairs = parse_methods(args.compare_methods, family=fam.name)
        if args.compare_methods.strip() == "all":       # the pairs that run on a network
            from ._network_ite import network_pairs

            pairs = network_pairs("all", pairs, fam, model.network_.scale)
        methods = [f"{a}+{b}" for a, b in pairs]
    elif fam.name == "survival":
        methods = ["cox+mvma", "cox+weighted-aux-ols", "cox-lasso+weighted-aux-ols",
                   "weibull+mvma"]
    elif fam.name == "binary":
        methods = ["logistic+weighted-aux-ols", "logistic-lasso+weighted-aux-ols",
                   "logistic-ridge+weighted-aux-ols"]
    else:
        methods = ["ols+mvma", "ols+weighted-aux-ols", "lasso+weighted-aux-ols",
                   "ridge+weighted-aux-ols"]
    if model.name not in methods:
        methods.append(model.name)
    # the fitted model enters as it is: its stage-1 fits are reused by the folds
    methods = [model if m == model.name else m for m in methods]
    cmp = compare_methods(model.data_, methods, n_boot=args.n_boot, random_state=args.seed,
                          n_jobs=args.n_jobs, progress=None,
                          higher_is_better=not args.lower_is_better,
                          network_stage1=getattr(args, "network_stage1", None) or "native",
                          **({"scale": model.network_.scale, "horizon": args.horizon,
                              "tau": args.tau} if fam.name == "survival" else {}))
    files = {"comparison": str(out / "comparison.csv"),
             "comparison_contrasts": str(out / "comparison_contrasts.csv")}
    cmp.table.to_csv(files["comparison"])
    cmp.per_contrast.to_csv(files["comparison_contrasts"])
    return files, cmp.table, str(cmp.summary())

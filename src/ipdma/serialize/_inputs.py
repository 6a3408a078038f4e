"""``model_inputs``: what a fitted model needs per patient, with the development data's
ranges (for calculators, input forms and out-of-range warnings)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelSpecificationError, NotFittedError

__all__ = ["model_inputs"]


def _num(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    if not np.isfinite(v):
        return None
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _numeric_entry(name: str, x: np.ndarray, role: str, **extra: Any) -> dict:
    x = np.asarray(x, float)
    miss = int(np.isnan(x).sum())
    x = x[~np.isnan(x)]
    vals = np.unique(x)
    binary = vals.size <= 2 and set(vals.tolist()) <= {0.0, 1.0}
    entry: dict[str, Any] = {"name": str(name), "role": role,
                             "kind": "binary" if binary else "numeric",
                             "levels": [0, 1] if binary else None}
    if x.size:
        entry.update(min=_num(x.min()), max=_num(x.max()), median=_num(np.median(x)))
        if binary or vals.size <= 10:
            u, c = np.unique(x, return_counts=True)
            entry["mode"] = _num(u[np.argmax(c)])
        else:
            entry["mode"] = None
    else:
        entry.update(min=None, max=None, median=None, mode=None)
    entry.update(unit=None, n=int(x.size), n_missing=miss)
    entry.update(extra)
    return entry


def _factor_entry(name: str, levels: list, counts: np.ndarray | None, role: str,
                  ordered: bool = False, **extra: Any) -> dict:
    levels = [v.item() if isinstance(v, np.generic) else v for v in levels]
    entry: dict[str, Any] = {"name": str(name), "role": role,
                             "kind": "ordered" if ordered else "categorical",
                             "levels": list(levels), "min": None, "max": None,
                             "median": None, "mode": None, "unit": None}
    if counts is not None and len(counts) and np.sum(counts) > 0:
        entry["mode"] = levels[int(np.argmax(counts))]
        entry["counts"] = [int(c) for c in counts]
        if ordered:
            cum = np.cumsum(counts) / np.sum(counts)
            entry["median"] = levels[int(np.searchsorted(cum, 0.5))]
            nz = np.flatnonzero(np.asarray(counts) > 0)
            entry["min"], entry["max"] = levels[int(nz[0])], levels[int(nz[-1])]
    entry.update(extra)
    return entry


# --------------------------------------------------------------------------- per model
def _risk_model_inputs(m) -> list[dict]:
    spec = m._spec
    from ..prognosis import SurvivalRiskModel

    if isinstance(m, SurvivalRiskModel):        # its development design matrix
        X = getattr(m, "_X", None)
        if X is None:
            raise NotFittedError("the development data of this SurvivalRiskModel are not "
                                 "available (loaded from JSON)")
    else:
        completed = getattr(m, "_completed", None)
        use = getattr(m, "_use", None)
        if completed is None or use is None:
            raise NotFittedError("the development data of this RiskModel are not available "
                                 "(loaded from JSON): its inputs are stored in the model "
                                 "file")
        X = completed[0][use]
    out, j = [], 0
    for col in spec.covariates:
        if col in spec.levels:
            lev = list(spec.levels[col])
            B = X[:, j:j + len(lev) - 1]
            ok = ~np.isnan(B).any(axis=1)
            counts = np.r_[int((B[ok].sum(axis=1) == 0).sum()), B[ok].sum(axis=0)]
            out.append(_factor_entry(col, lev, counts, "covariate",
                                     reference=lev[0]))
            j += len(lev) - 1
        else:
            out.append(_numeric_entry(col, X[:, j], "covariate"))
            j += 1
    return out


def _ite_inputs(model) -> list[dict]:
    X = model.data_.X
    if X is None or len(X) == 0:
        raise NotFittedError("the development data of this TwoStageITE are not available")
    out = []
    cats = set(model.data_.covariate_cols or [])
    for j, f in enumerate(model.feature_names_):
        extra = {}
        if "[" in f and f.endswith("]") and f.split("[", 1)[0] in cats:
            extra = {"covariate": f.split("[", 1)[0], "level": f.split("[", 1)[1][:-1]}
        out.append(_numeric_entry(f, X[:, j], "covariate", **extra))
    return out


def _mob_partition_inputs(tree) -> list[dict]:
    data = getattr(tree, "_data", None)
    if data is None:
        raise NotFittedError("the development data of this tree are not available")
    out = []
    w = data["w"]
    for spec, z in zip(tree._specs, data["Z"], strict=True):
        if spec.kind == "numeric":
            out.append(_numeric_entry(spec.name, z, "partition"))
        else:
            codes = np.asarray(z)
            counts = np.array([w[codes == k].sum() for k in range(len(spec.levels))])
            out.append(_factor_entry(spec.name, list(spec.levels), counts, "partition",
                                     ordered=spec.kind == "ordered"))
    return out


def _mob_regressor_inputs(tree) -> list[dict]:
    X = tree._data["X"]
    names = list(tree.coef_names_)
    out = []
    for r in tree._regressors:
        if r in names:
            out.append(_numeric_entry(r, X[:, names.index(r)], "regressor"))
        else:
            lev = list((tree._reg_levels or {}).get(r, []))
            cols = [names.index(f"{r}[{v}]") for v in lev[1:] if f"{r}[{v}]" in names]
            counts = None
            if cols and len(cols) == len(lev) - 1:
                B = X[:, cols]
                counts = np.r_[(B.sum(axis=1) == 0).sum(), B.sum(axis=0)]
            out.append(_factor_entry(r, lev, counts, "regressor"))
    return out


def _metamob_inputs(mm) -> list[dict]:
    out = _mob_partition_inputs(mm.tree_)
    coding = mm._trt_coding
    trt = np.asarray(mm._R)[:, 0]
    if coding.get("kind") == "categorical":
        lev = list(coding["levels"])
        treated = coding["treated"]
        n1 = int(trt.sum())
        counts = [n1 if v == treated else len(trt) - n1 for v in lev]
        out.append(_factor_entry(mm._treatment, lev, np.array(counts), "treatment",
                                 treated=treated))
    else:
        out.append(_numeric_entry(mm._treatment, trt, "treatment"))
    R = np.asarray(mm._R)
    names = list(mm._reg_names)
    for r in mm._regressors:
        cols = [k for k, nm in enumerate(names) if nm == r or nm.startswith(f"{r}[")]
        if len(cols) == 1 and names[cols[0]] == r:
            out.append(_numeric_entry(r, R[:, cols[0]], "regressor"))
        else:
            lev = list((mm._reg_levels or {}).get(r, []))
            out.append(_factor_entry(r, lev, None, "regressor"))
    codes = np.asarray(mm._trial_codes)
    counts = np.bincount(codes[codes >= 0], minlength=len(mm.trials_))
    out.append(_factor_entry(mm._trial, list(mm.trials_), counts, "trial"))
    return out


def model_inputs(model: Any) -> list[dict]:
    """The per-patient inputs of a fitted model, with development-data summaries.

    One dict per input column, in the model's order, with keys

    * ``name``: the column name; ``role``: ``"covariate"`` (RiskModel, TwoStageITE),
      ``"partition"`` / ``"regressor"`` (MOB, MetaMOB), ``"treatment"``, ``"trial"``
      (MetaMOB) or ``"risk score"`` (a RiskNMR without stage-1 model);
    * ``kind``: ``"numeric"``, ``"binary"`` (numeric 0/1), ``"categorical"`` or
      ``"ordered"``; ``levels``: the levels of a factor in the model's coding order
      (the first is the reference level of a dummy-coded covariate), ``[0, 1]`` for a
      binary column, else None;
    * ``min``, ``max``, ``median`` (numeric and ordered), ``mode`` (binary, factors and
      numeric columns with at most 10 distinct values), from the development data;
      ``counts`` per level (factors); ``n``, ``n_missing`` (numeric);
    * ``unit``: None (ipdma does not know units; a calculator may fill them in).

    A TwoStageITE reports its model columns (a dummy-coded factor as one 0/1 column per
    non-reference level, with ``covariate`` and ``level``).  A model loaded from a file
    returns the inputs stored in the file.

    Parameters
    ----------
    model : RiskNMRResult, RiskModel, TwoStageITE, MOB or MetaMOB

    Returns
    -------
    list of dict

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from ipdma.prognosis import RiskModel
    >>> from ipdma.serialize import model_inputs
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"age": rng.normal(50, 10, 300).round(),
    ...                    "sex": rng.choice(["f", "m"], 300)})
    >>> df["y"] = rng.binomial(1, 1 / (1 + np.exp(-(-3 + 0.05 * df.age))))
    >>> m = RiskModel("glm").fit(df, outcome="y", covariates=["age", "sex"])
    >>> [(i["name"], i["kind"], i["levels"]) for i in model_inputs(m)]
    [('age', 'numeric', None), ('sex', 'categorical', ['f', 'm'])]
    """
    stored = getattr(model, "_model_inputs", None)
    if stored is not None:
        return [dict(e) for e in stored]
    from ..ite import TwoStageITE
    from ..nmr import RiskNMRResult
    from ..prognosis import RiskModel, SurvivalRiskModel
    from ..trees import MOB, MetaMOB

    if isinstance(model, (RiskModel, SurvivalRiskModel)):
        return _risk_model_inputs(model)
    if isinstance(model, RiskNMRResult):
        rm = getattr(model, "risk_model", None)
        if rm is not None:
            return model_inputs(rm)
        d = model.design
        if not d.has_risk:
            return []
        r = d.risk_logit[~d.is_ad] if d.is_ad.size else d.risk_logit
        return [_numeric_entry(model.columns["risk"], r, "risk score", scale="logit")]
    if isinstance(model, TwoStageITE):
        model._check_fitted()
        return _ite_inputs(model)
    if isinstance(model, MetaMOB):
        model._check()
        return _metamob_inputs(model)
    if isinstance(model, MOB):
        model._check_fitted()
        return _mob_partition_inputs(model) + _mob_regressor_inputs(model)
    raise ModelSpecificationError(f"model_inputs: no inputs for a {type(model).__name__}")

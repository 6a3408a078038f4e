"""Calculator spec of a TwoStageITE on a treatment network (more than two treatments,
pooler ``mvma``, or the weighted poolers ``weighted-aux-ols`` / ``weighted-bootstrap`` with
a linear stage-1 learner): every non-reference contrast with SE, CI and PI, the best
treatment and P(best).  P(best) is seeded Monte Carlo in Python; the page repeats it with
the same standard-normal draws, exported with the model (``pbest.z``).

The weighted poolers pool every trial's predicted contrasts at the new patient (a
per-patient network GLS, common effect or generalised DerSimonian-Laird tau^2): the page
gets each trial's contrast predictor (the linear learner's coefficients, or the linear
predictors of both arms for a binary outcome on the risk-difference scale), the
covariance source (the auxiliary full-interaction model, or the covariance of the
bootstrap refits' coefficients) and the trial's design rows onto the basic contrasts
(:mod:`ipdma.calculator._spec_network_weighted`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ._inputs import covariate_inputs
from ._spec import (
    FORMAT,
    VERSION,
    _display_rows,
    _f64,
    _level_constants,
    _pct,
    _stored_inputs,
    provenance,
)

__all__ = ["EXPORTABLE_NETWORK_ITE", "network_ite_spec", "pbest_normal_draws"]

#: network TwoStageITE set-ups the calculator exports exactly
EXPORTABLE_NETWORK_ITE = ("pooler 'mvma' (learner 'ols' or 'logistic'; REML, ML or fixed; "
                          "structure 'consistency' or 'delta'); poolers 'weighted-aux-ols' "
                          "and 'weighted-bootstrap' (heterogeneity 'fixed' or 'DL') with a "
                          "linear learner: 'ols', 'lasso', 'ridge', 'elasticnet', 'bayes-lm', "
                          "'bayes-lasso' (continuous), 'logistic', 'logistic-lasso', "
                          "'logistic-ridge', 'logistic-elasticnet' (binary; "
                          "'weighted-bootstrap' on the log-odds-ratio scale only), "
                          "'xgboost' (continuous, 'weighted-aux-ols')")


def pbest_normal_draws(model) -> tuple[np.ndarray, list[str]]:
    """The standard-normal draws of the network ``predict``'s P(best) (the same for every
    patient: seeded by the model's ``random_state``) and the canonical treatment order
    in which they are used (natural label order)."""
    from .._base import check_random_state
    from ..ite._network_ite import _natural_key
    from ..ite._twostage import _seed_sequence

    net = model.network_
    ss = _seed_sequence(model.random_state)
    seed = int(np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 2**31 - 1),
                                      pool_size=ss.pool_size).generate_state(1)[0])
    T1 = len(net.treatments) - 1
    z = check_random_state(seed).standard_normal((int(net.n_draws), T1))
    return z, sorted(net.treatments, key=_natural_key)


def network_ite_spec(model, *, data: pd.DataFrame | None = None,
                     treatments: Sequence[str] | None = None,
                     higher_is_better: bool | None = None, title: str | None = None,
                     units: Mapping[str, str] | None = None,
                     labels: Mapping[str, str] | None = None, outcome_label: str | None = None,
                     data_label: str | None = None) -> dict:
    """Spec of a fitted network :class:`ipdma.ite.TwoStageITE` (pooler ``mvma``, or
    ``weighted-aux-ols`` / ``weighted-bootstrap`` with a linear learner)."""
    net = model.network_
    weighted = net.spec["kind"] in ("aux-ols", "bootstrap")
    if net.spec["kind"] != "coef" and not weighted:
        raise ModelSpecificationError(
            f"TwoStageITE({model.name!r}) on a treatment network cannot be exported to a "
            f"calculator: pooler {net.spec['name']!r} (Bayesian network pooling) is not "
            f"exported. Exportable for networks: {EXPORTABLE_NETWORK_ITE}")
    if treatments is not None and list(treatments) != list(net.treatments):
        raise ModelSpecificationError(
            f"treatments: the network's treatments are {net.treatments} (reference first); "
            "they are taken from the model")
    if higher_is_better is not None and bool(higher_is_better) != net.higher_is_better:
        raise ModelSpecificationError(
            "higher_is_better is fixed when the network model is fitted "
            f"(higher_is_better={net.higher_is_better}); refit to change it")
    p = net.pooled
    trts = list(net.treatments)
    T = len(trts)
    feats = list(model.feature_names_)
    level = float(net.spec["level"])
    consts = _level_constants(level)
    random = net.spec["heterogeneity"] != "fixed" if weighted else net.spec["method"] != "fixed"
    if random:
        # prediction intervals: t_{K-2} quantile as the network pooler (normal with K <= 2
        # trials or pi_df="normal")
        pi_df = net._pi_df(net.spec.get("pi_df", "riley") == "riley")
        if pi_df is not None:
            from scipy import stats

            consts["q_pi"] = float(stats.t.ppf(0.5 + level / 2, pi_df))
    z, canon = pbest_normal_draws(model)
    # canonical basic contrasts = A @ full, full = F @ basic (as _p_best_chunked)
    F = np.vstack([np.zeros((1, T - 1)), np.eye(T - 1)])
    pos = [trts.index(t) for t in canon]
    A = np.zeros((T - 1, T))
    for i, t in enumerate(pos[1:]):
        A[i, t] += 1.0
        A[i, pos[0]] -= 1.0
    mdl: dict[str, Any] = {
        "features": [{"input": f, "kind": "numeric"} for f in feats],
        "scale": net.scale,
        "pbest": {"n": int(z.shape[0]), "z": _f64(z.ravel()), "canon_map": (A @ F).tolist(),
                  "canon_index": [canon.index(t) for t in trts]},
    }
    if weighted:
        from ._spec_network_weighted import weighted_network_part

        mdl.update(weighted_network_part(model))
        mdl["tau2"] = True if random else None
    else:
        t2 = np.zeros(p.coef.shape[1])
        t2[: len(p.tau2)] = p.tau2
        mdl.update({"coef": p.coef.tolist(), "vcov": p.vcov.tolist(),
                    "tau2": None if net.spec["method"] == "fixed" else t2.tolist()})
    X = model.data_.X if len(getattr(model.data_, "X", [])) else np.empty((0, len(feats)))
    if data is None and len(X):
        data = pd.DataFrame(X, columns=feats)
    inputs = covariate_inputs(data, feats, units=units, labels=labels,
                              summaries=_stored_inputs(model) if data is None else None)
    ref = trts[0]
    eff = {"logor": "log odds ratio", "difference": "difference in mean outcome"}.get(
        net.scale, net.scale)
    lvl = _pct(level)
    outputs = [{"label": f"Effect vs {ref}: {eff} ({lvl} CI)",
                "keys": ["ite", "ci_low", "ci_high"], "fmt": "num", "ref_blank": True},
               {"label": "SE", "keys": ["se"], "fmt": "num", "ref_blank": True}]
    if mdl["tau2"] is not None:
        outputs.append({"label": f"{lvl} prediction interval (new trial)",
                        "keys": ["ite", "pi_low", "pi_high"], "fmt": "num",
                        "ref_blank": True})
    outputs.append({"label": "P(best)", "keys": ["p_best"], "fmt": "prob"})
    sub = _display_rows(X, inputs)
    mean = net.predict(sub).mean if weighted else p.predict_basic(sub)[0]
    series = [{"name": f"{t} vs {ref}", "color": k + 1, "type": "points",
               "x": np.round(sub[:, 0], 5).tolist(), "y": np.round(mean[:, k], 6).tolist()}
              for k, t in enumerate(trts[1:])]
    out_name = outcome_label or "outcome"
    hib = net.higher_is_better
    if weighted:
        het = net.spec["heterogeneity"]
        how = (f"{net.spec['name']}, heterogeneity {het}: the trials' predicted effects "
               "pooled for this patient")
        method = (f"TwoStageITE({model.learner_.name!r}, {net.spec['name']!r}, "
                  f"heterogeneity={het!r})")
    else:
        how = f"{model.name}, {net.spec['method']}"
        method = (f"TwoStageITE({model.learner_.name!r}, 'mvma', "
                  f"method={net.spec['method']!r}, structure={net.spec['structure']!r})")
    return {
        "format": FORMAT, "version": VERSION, "kind": "ite-network", "family": net.family.name,
        "title": title or f"Treatment calculator: {T} treatments vs {ref}",
        "outcome": {"name": out_name, "higher_is_better": hib, "scale": net.scale},
        "higher_is_better": hib, "treatments": trts, "reference": ref, "inputs": inputs,
        "model": mdl, "constants": consts, "row_label": "Treatment", "outputs": outputs,
        "recommend_text": "Best predicted treatment: {treatment}.",
        "plot": {"title": f"Predicted effect vs {ref}", "xlabel": feats[0], "ylabel": eff,
                 "xfmt": "num", "yfmt": "num", "x_input": feats[0],
                 "xlim": [float(sub[:, 0].min()), float(sub[:, 0].max())],
                 "ylim": [float(min(mean.min(), 0)), float(max(mean.max(), 0))],
                 "series": series, "marker_colors": list(range(1, T))},
        "notes": [
            f"Each effect is the predicted {eff} of the treatment vs {ref} for a patient "
            f"with these characteristics, from a two-stage IPD network meta-analysis of "
            f"{len(model.trials_)} trials ({how}).",
            f"The best treatment has the best predicted outcome ({'higher' if hib else 'lower'}"
            f" {out_name} is better, {ref} = 0); P(best) is the share of "
            f"{int(z.shape[0])} draws from the normal distribution of the effects in which "
            "the treatment is best (the same draws as the model's predict).",
            "The confidence interval covers the average effect for such patients"
            + ("; the prediction interval adds the between-trial heterogeneity."
               if mdl["tau2"] is not None else "."),
        ],
        "provenance": provenance(
            f"{method}, treatments {', '.join(trts)}",
            data_label or f"{len(model.trials_)} trials"),
    }

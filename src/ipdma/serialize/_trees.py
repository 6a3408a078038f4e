"""State of fitted :class:`ipdma.trees.MOB` and :class:`ipdma.trees.MetaMOB` trees.

The tree is written as it is held (nodes, split rules, partitioning-variable encodings,
node-model fits with coefficients and covariances, instability tests), without the
patient rows: each node's row indices and score contributions and the tree's data
arrays are left out, so ``predict``, ``effects``, ``node_table`` and ``summary`` work
on the loaded tree; what needs the training rows (plots, ``split_search``) does not.
A time-to-event tree keeps its ``survival_effects()`` table at the default tau
(``_survival_effects`` of the loaded tree): the loaded tree's ``survival_effects()``
computes the effects from its node fits (any tau, level) and takes the default tau and
the event counts from that table.

MetaMOB additionally keeps, per patient, the terminal node, the treatment and
regressor values, the trial code and the offset (no outcomes, no partitioning
covariates): ``node_effects`` (node sizes and the binary risk differences at each
node's average baseline) is computed from them.
"""

from __future__ import annotations

from typing import Any

from ..errors import ModelFileError
from ._codec import decode, encode

__all__ = ["metamob_from_state", "metamob_state", "mob_from_state", "mob_state"]

_MOB_DROP = ("_data", "fitted_node_", "_rng", "model_file_", "_model_inputs")
#: what a loaded tree gets from its file, never written into the state
_LOADED = ("model_file_", "_model_inputs")
_MM_RESULT_DROP = {"_codes", "fitted_fixed", "fitted_random", "fittedvalues", "resid",
                   "weights", "linear_predictor", "_vcov_args"}


def _node_fit(state: dict) -> dict:
    """A node fit without its per-patient parts (score contributions, residuals)."""
    state.pop("estfun", None)
    extra = state.get("extra")
    if isinstance(extra, dict) and "residuals" in extra:
        state["extra"] = {k: v for k, v in extra.items() if k != "residuals"}
    return state


def _exclusions() -> dict:
    from ..trees import MOB, MetaMOB, MOBNode, MOBSplit, NodeFit
    from ..trees._lmm import LMMResults

    out = {MOBNode: {"rows"}, NodeFit: _node_fit, MOBSplit: {"_curve"}, MOB: set(_MOB_DROP),
           LMMResults: _MM_RESULT_DROP, MetaMOB: set(_LOADED)}
    try:
        from ..trees._glmm import GLMMResults

        out[GLMMResults] = _MM_RESULT_DROP
    except ImportError:  # pragma: no cover
        pass
    return out


def mob_state(model) -> dict[str, Any]:
    state = {"estimator": encode(model, exclude=_exclusions())}
    if getattr(model, "_time", None) is not None and hasattr(model._model, "node_effects"):
        # a time-to-event tree: its subgroup effects on the HR / time-ratio / RMST scales
        # (default tau) need the training rows, so they are kept as a table
        state["survival_effects"] = encode(model.survival_effects(), "survival_effects")
    return state


def mob_from_state(state: dict):
    from ..trees import MOB

    tree = decode(state["estimator"])
    if not isinstance(tree, MOB):
        raise ModelFileError(f"the state holds a {type(tree).__name__}, not a MOB")
    tree._rng = None
    if state.get("survival_effects") is not None:
        tree._survival_effects = decode(state["survival_effects"])
    return tree


def metamob_state(model) -> dict[str, Any]:
    for res in (model.lmm_, getattr(model, "glmm_", None)):
        if res is not None and hasattr(res, "_vcov_args"):
            res.vcov  # noqa: B018 - the lazy GLMM covariance, computed before its data go
    return {"estimator": encode(model, exclude=_exclusions())}


def metamob_from_state(state: dict):
    from ..trees import MetaMOB

    mm = decode(state["estimator"])
    if not isinstance(mm, MetaMOB):
        raise ModelFileError(f"the state holds a {type(mm).__name__}, not a MetaMOB")
    if mm.tree_ is not None:
        mm.tree_._rng = None
    return mm

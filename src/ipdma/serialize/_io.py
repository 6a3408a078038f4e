"""``save_model`` / ``load_model``: fitted models as versioned JSON files (never pickle)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import DataError, ModelFileError, ModelSpecificationError, NotFittedError
from ._codec import DecodeError, NotEncodable, decode, encode
from ._inputs import model_inputs

__all__ = ["FORMAT", "FORMAT_VERSION", "KINDS", "load_model", "read_model_header",
           "save_model"]

#: value of the ``format`` field of every model file
FORMAT = "ipdma-model"
#: the model-file version this ipdma writes (and the newest it reads)
FORMAT_VERSION = 1

_REQUIRED = ("format", "format_version", "ipdma_version", "created", "kind", "provenance",
             "state")


# --------------------------------------------------------------------------- kinds
def _kind_of(model: Any) -> str:
    from ..ite import TwoStageITE
    from ..nmr import RiskNMRResult
    from ..prognosis import RiskModel
    from ..trees import MOB, MetaMOB

    if isinstance(model, RiskNMRResult):
        return "risk-nmr"
    if isinstance(model, RiskModel):
        return "risk-model"
    if isinstance(model, TwoStageITE):
        return "two-stage-ite"
    if isinstance(model, MetaMOB):
        return "metamob"
    if isinstance(model, MOB):
        return "mob"
    from ..nmr import RiskNMR

    if isinstance(model, RiskNMR):
        raise ModelSpecificationError(
            "save the fitted result: res = RiskNMR(...).fit(...); save_model(res, path, "
            "risk_model=stage1_model)")
    raise ModelSpecificationError(
        f"save_model cannot write a {type(model).__name__}: model files hold a fitted "
        f"{', '.join(_KIND_CLASSES.values())}")


_KIND_CLASSES = {"risk-nmr": "RiskNMRResult (with its RiskModel)", "risk-model": "RiskModel",
                 "two-stage-ite": "TwoStageITE", "mob": "MOB", "metamob": "MetaMOB"}


def _state_writers() -> dict[str, Callable]:
    from ._ite import ite_state
    from ._risknmr import risknmr_state
    from ._trees import metamob_state, mob_state

    return {"risk-nmr": risknmr_state, "risk-model": lambda m: {"risk_model": m.to_dict()},
            "two-stage-ite": ite_state, "mob": mob_state, "metamob": metamob_state}


def _state_readers() -> dict[str, Callable]:
    from ._ite import ite_from_state
    from ._risknmr import risknmr_from_state
    from ._trees import metamob_from_state, mob_from_state

    def risk_model(state):
        from ..prognosis import RiskModel

        return RiskModel.from_dict(state["risk_model"])

    return {"risk-nmr": risknmr_from_state, "risk-model": risk_model,
            "two-stage-ite": ite_from_state, "mob": mob_from_state,
            "metamob": metamob_from_state}


#: model kinds this ipdma reads and writes
KINDS = tuple(_KIND_CLASSES)


# --------------------------------------------------------------------------- provenance
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _random_state(rs: Any) -> Any:
    if rs is None or isinstance(rs, (int, str)):
        return rs
    try:
        import numpy as np

        if isinstance(rs, np.integer):
            return int(rs)
    except ImportError:  # pragma: no cover
        pass
    return f"<{type(rs).__name__}>"


def _provenance(model: Any, kind: str, data_file: str | Path | None,
                extra: Mapping[str, Any] | None, risk_model: Any = None) -> dict:
    prov: dict[str, Any] = {"data": None}
    if data_file is not None:
        p = Path(data_file)
        prov["data"] = {"file": p.name, "sha256": _sha256(p) if p.is_file() else None}
    if kind == "risk-nmr":
        m = model.model
        prov.update(method=f"RiskNMR(engine={m.engine!r}, effects={m.effects!r})",
                    options={k: v for k, v in encode(dict(vars(m))).items()
                             if not isinstance(v, dict)},
                    n_trials=len(model.trials), n_patients=int(model.design.n),
                    n_events=int(model.design.y.sum()),
                    treatments=list(model.treatments), reference=model.reference,
                    random_state=_random_state(m.random_state))
        if risk_model is not None:
            prov["stage1"] = {"method": f"{type(risk_model).__name__}({risk_model.method!r})",
                              "covariates": list(risk_model.covariates_),
                              "n_patients": getattr(risk_model, "n_", None)}
    elif kind == "risk-model":
        prov.update(method=f"RiskModel({model.method!r})",
                    options=model.to_dict()["params"],
                    n_trials=len(getattr(model, "_trial_labels", []) or []) or None,
                    n_patients=getattr(model, "n_", None),
                    random_state=_random_state(model.random_state))
    elif kind == "two-stage-ite":
        opts = {"learner": model.learner_.name, "pooler": model.pooler_.name,
                "n_boot": model.n_boot, "scale": model.scale,
                "learner_options": encode(model.learner_options),
                "pooler_options": encode(model.pooler_options)}
        prov.update(method=f"TwoStageITE({model.learner_.name!r}, {model.pooler_.name!r})",
                    options=opts, n_trials=len(model.trials_),
                    n_patients=int(sum(f.n for f in model.fits_)
                                   if model.fits_ is not None
                                   else sum(s.n for s in model.network_.stage1)),
                    random_state=_random_state(model.random_state))
    else:
        tree = model.tree_ if kind == "metamob" else model
        opts = {k: v for k, v in encode({k: v for k, v in vars(model).items()
                                         if not k.startswith("_") and not k.endswith("_")
                                         and isinstance(v, (int, float, str, bool,
                                                            type(None), list, tuple))}).items()}
        prov.update(method=("MetaMOB" if kind == "metamob" else "MOB")
                    + f"({getattr(tree._model, 'name', type(tree._model).__name__)!r})",
                    options=opts,
                    n_trials=len(model.trials_) if kind == "metamob" else None,
                    n_patients=int(model.nobs_ if kind == "metamob" else model.n_obs_),
                    random_state=_random_state(getattr(model, "random_state", None)))
    if extra:
        prov.update(encode(dict(extra)))
    return prov


# --------------------------------------------------------------------------- save
def save_model(model: Any, path: str | Path, *, risk_model: Any = None,
               data_file: str | Path | None = None,
               provenance: Mapping[str, Any] | None = None,
               horizon: float | None = None, tau: float | None = None) -> Path:
    """Write a fitted model as one versioned JSON file (never pickle).

    Parameters
    ----------
    model : RiskNMRResult, RiskModel, TwoStageITE, MOB or MetaMOB
        A fitted model.  A :class:`~ipdma.nmr.RiskNMRResult` is written together with
        its stage-1 :class:`~ipdma.prognosis.RiskModel` (``risk_model=``, or the
        result's ``risk_model`` attribute), so that the loaded model goes from patient
        covariates to predictions (:func:`predict_from_covariates`).
    path : str or Path
        Output file; must end in ``.json`` and its folder must exist.
    risk_model : RiskModel, optional
        Stage 1 of a RiskNMR.
    data_file : str or Path, optional
        The data the model was fitted on: its name and SHA-256 go to ``provenance``.
    provenance : mapping, optional
        Further provenance entries (JSON-able), e.g. ``{"command": "..."}``.
    horizon, tau : float, optional
        Time-to-event RiskNMR with ``engine="bayes"`` and the Cox model only: the horizon
        and RMST truncation time at which the file keeps every posterior draw's baseline
        cumulative hazard (default: the model's horizon; tau = horizon).  The loaded
        model predicts at these times.

    Returns
    -------
    Path
        The written file.

    Notes
    -----
    The file is one JSON document ``{"format": "ipdma-model", "format_version": 1,
    "ipdma_version", "created", "kind", "provenance", "inputs", "state"}``; see
    ``docs/architecture.md`` ("Model files").  Floats are written with Python's
    shortest round-trip representation, so the loaded model predicts bit for bit as
    the original.  No patient rows are stored, except for MetaMOB (see the docs).

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, pathlib
    >>> from ipdma.trees import MOB
    >>> from ipdma.serialize import save_model, load_model
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=400), "trt": rng.integers(0, 2, 400)})
    >>> df["y"] = df.trt * (df.x > 0) + rng.normal(size=400)
    >>> tree = MOB(parm="trt").fit(df, "y", ["trt"], ["x"])
    >>> p = save_model(tree, pathlib.Path(tempfile.mkdtemp()) / "tree.json")
    >>> bool((load_model(p).predict(df) == tree.predict(df)).all())
    True
    """
    path = check_model_path(path, "path")
    kind = _kind_of(model)
    if kind == "risk-nmr":
        risk_model = risk_model if risk_model is not None else getattr(model, "risk_model",
                                                                      None)
        _check_risk_model(model, risk_model)
    elif risk_model is not None:
        raise ModelSpecificationError("risk_model= goes with a RiskNMR result only")
    _check_fitted(model, kind)
    from .. import __version__

    times = {}
    if horizon is not None or tau is not None:
        if kind != "risk-nmr" or getattr(model, "family", None) != "survival":
            raise ModelSpecificationError("horizon= / tau= go with a time-to-event RiskNMR "
                                          "result only")
        times = {"horizon": horizon, "tau": tau}
    try:
        state = (_state_writers()[kind](model, risk_model, **times) if kind == "risk-nmr"
                 else _state_writers()[kind](model))
    except NotEncodable as exc:
        raise ModelSpecificationError(
            f"this {type(model).__name__} cannot be written to a model file: {exc}"
        ) from None
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "ipdma_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "kind": kind,
        "class": f"{type(model).__module__.split('._')[0]}.{type(model).__name__}",
        "provenance": _provenance(model, kind, data_file, provenance, risk_model),
        "inputs": encode(_inputs(model, kind, risk_model)),
        "state": state,
    }
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ipdma-model-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _inputs(model: Any, kind: str, risk_model: Any) -> list[dict]:
    if getattr(model, "_model_inputs", None) is not None or kind != "risk-nmr" \
            or risk_model is None:
        return model_inputs(model)
    return model_inputs(risk_model)


def check_model_path(path: str | Path, option: str = "--save-model") -> Path:
    """Check before computing that ``path`` can take a model file: ``.json`` suffix,
    existing folder, not a folder itself.  Creates nothing."""
    p = Path(path)
    if p.suffix.lower() != ".json":
        raise ModelSpecificationError(
            f"{option} {str(p)!r}: a model file is JSON, give a path ending in .json "
            f"(e.g. {str(p.with_suffix('.json'))!r})")
    if p.is_dir():
        raise DataError(f"{option} {str(p)!r} is a folder: give a file path such as "
                        f"{str(p / 'model.json')!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"{option} {str(p)!r}: the folder {str(parent)!r} does not exist; "
                        "create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{option} {str(p)!r}: no write permission in {str(parent)!r}")
    return p


def _check_fitted(model: Any, kind: str) -> None:
    attr = {"risk-nmr": "_theta_draws", "risk-model": "coef_", "two-stage-ite": "fits_",
            "mob": "tree_", "metamob": "lmm_"}[kind]
    if kind == "two-stage-ite" and getattr(model, "network_", None) is not None:
        return                           # a treatment network: fitted as ``network_``
    if getattr(model, attr, None) is None:
        raise NotFittedError(f"this {type(model).__name__} is not fitted: call .fit(...) "
                             "before saving it")


def _check_risk_model(res: Any, risk_model: Any) -> None:
    if risk_model is None:
        return
    from ..prognosis import RiskModel, SurvivalRiskModel

    want = SurvivalRiskModel if getattr(res, "family", None) == "survival" else RiskModel
    if not isinstance(risk_model, want):
        raise ModelSpecificationError(
            f"risk_model must be a fitted ipdma.prognosis.{want.__name__}, not "
            f"{type(risk_model).__name__}")
    if getattr(risk_model, "coef_", None) is None:
        raise NotFittedError("risk_model is not fitted: call RiskModel(...).fit(...) first")
    if not res.design.has_risk:
        raise ModelSpecificationError("risk_model= needs a RiskNMR fitted with a risk term "
                                      "(risk= in fit)")


# --------------------------------------------------------------------------- load
def read_model_header(path: str | Path) -> dict:
    """The checked model file without its state: format, version, kind, provenance,
    inputs (for listing or displaying a model file without loading it)."""
    doc = _read(path)
    return {k: v for k, v in doc.items() if k != "state"}


def _read(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"model file {str(p)!r} does not exist"
                             + (" (it is a folder)" if p.is_dir() else ""))
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(f"{str(p)!r} is not an ipdma model file: it is not a text (JSON) "
                             "file") from None
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{str(p)!r} is not valid JSON (line {exc.lineno}, column "
                             f"{exc.colno}: {exc.msg}); the file is corrupt or truncated, "
                             "write it again with save_model / --save-model") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        hint = (" (a stage-1 risk model: load it with RiskModel.from_json)"
                if found == "ipdma.prognosis.RiskModel" else "")
        raise ModelFileError(f"{str(p)!r} is not an ipdma model file (format {found!r}, "
                             f"expected {FORMAT!r}){hint}")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise ModelFileError(f"{str(p)!r} lacks the field(s) {missing} of an ipdma model file; "
                             "the file is incomplete, write it again")
    ver = doc["format_version"]
    if not isinstance(ver, int) or isinstance(ver, bool) or ver < 1:
        raise ModelFileError(f"{str(p)!r} has an invalid format_version {ver!r}")
    if ver > FORMAT_VERSION:
        from .. import __version__

        raise ModelFileError(
            f"{str(p)!r} is model-file format version {ver}, written by ipdma "
            f"{doc.get('ipdma_version')}; this ipdma ({__version__}) reads versions up to "
            f"{FORMAT_VERSION}: upgrade ipdma to load it")
    if doc["kind"] not in KINDS:
        raise ModelFileError(f"{str(p)!r} holds a model of kind {doc['kind']!r}, which this "
                             f"ipdma cannot load (kinds: {', '.join(KINDS)})")
    if not isinstance(doc["state"], dict):
        raise ModelFileError(f"{str(p)!r}: the field 'state' must be an object")
    return doc


def load_model(path: str | Path, kind: str | None = None) -> Any:
    """Load a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
    kind : str, optional
        Expected kind (``"risk-nmr"``, ``"risk-model"``, ``"two-stage-ite"``, ``"mob"``,
        ``"metamob"``); another kind raises :class:`~ipdma.errors.ModelFileError`.

    Returns
    -------
    The fitted model (:class:`~ipdma.nmr.RiskNMRResult` with its ``risk_model``,
    :class:`~ipdma.prognosis.RiskModel`, :class:`~ipdma.ite.TwoStageITE`,
    :class:`~ipdma.trees.MOB` or :class:`~ipdma.trees.MetaMOB`); its ``predict`` gives
    the original's numbers.  ``model_file_`` holds the file's header (provenance,
    inputs).

    Raises
    ------
    ModelFileError
        Missing, corrupt or truncated file, not an ipdma model file, a newer format
        version, an unknown kind, missing fields or a malformed state.
    """
    doc = _read(path)
    if kind is not None and doc["kind"] != kind:
        raise ModelFileError(f"{str(path)!r} holds a {doc['kind']!r} model, not a {kind!r} "
                             "model")
    try:
        model = _state_readers()[doc["kind"]](doc["state"])
        inputs = decode(doc.get("inputs"))
    except ModelFileError:
        raise
    except DecodeError as exc:
        raise ModelFileError(f"{str(path)!r}: the model state is malformed ({exc}); the file "
                             "is corrupt or was edited, write it again") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else \
            f"{type(exc).__name__}: {exc}"
        raise ModelFileError(f"{str(path)!r}: the {doc['kind']!r} model state is incomplete "
                             f"or malformed ({what}); write the file again") from None
    header = {k: v for k, v in doc.items() if k != "state"}
    rm = getattr(model, "risk_model", None) if doc["kind"] == "risk-nmr" else None
    if rm is not None and inputs is not None:
        rm._model_inputs = inputs
    try:
        model.model_file_ = header
        model._model_inputs = inputs
    except AttributeError:  # pragma: no cover - every supported class takes attributes
        pass
    return model

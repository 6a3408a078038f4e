"""A restricted JSON codec for the state of fitted ipdma objects (never pickle).

:func:`encode` turns a value into plain JSON data; :func:`decode` inverts it.  Only
these values are representable:

* ``None``, ``bool``, ``int``, ``str``; ``float`` (non-finite values as a tagged
  string, finite values as JSON numbers written with Python's shortest round-trip
  ``repr``, so that they read back bit for bit);
* ``list``, ``tuple``, ``dict`` (any encodable keys), ``set``/``frozenset``;
* NumPy scalars and arrays (numeric, boolean, string and object arrays), pandas
  ``Index``/``Series``/``DataFrame`` (categorical columns included);
* NumPy ``Generator``/``SeedSequence`` (their state);
* an XGBoost ``Booster`` (as XGBoost's own JSON model, ``save_raw("json")``);
* instances of ipdma classes, by their ``__dict__`` -- rebuilt with
  ``cls.__new__(cls)`` and no code of the file is ever run: the class must live in a
  module of ``ipdma`` (``ALLOWED_MODULES``) and is looked up by name only.

Anything else (functions, scikit-learn estimators, JAX arrays, ArviZ objects, ...)
raises :class:`NotEncodable` naming where it sits in the object, e.g.
``fits_[0].learner.model_``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ALLOWED_MODULES", "NotEncodable", "decode", "encode"]

#: modules whose classes may be rebuilt from a model file
ALLOWED_MODULES = ("ipdma.ite.", "ipdma.trees.", "ipdma.families.", "ipdma.meta.",
                   "ipdma.prognosis.", "ipdma.nmr.", "ipdma.survival.", "ipdma.serialize.")

_TAG = "__t"


class NotEncodable(TypeError):
    """A value of the object cannot be written to a model file."""

    def __init__(self, where: str, value: Any):
        self.where = where
        self.value_type = f"{type(value).__module__}.{type(value).__qualname__}"
        super().__init__(f"{where or '<object>'} is a {self.value_type}, which cannot be "
                         "written to a JSON model file")


class DecodeError(ValueError):
    """The state in a model file is malformed."""


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return {_TAG: "float", "v": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _float_list(a: np.ndarray) -> list:
    out = a.astype(float).ravel().tolist()
    if not np.isfinite(a).all():
        out = [v if math.isfinite(v) else ("nan" if math.isnan(v) else
                                           ("inf" if v > 0 else "-inf")) for v in out]
    return out


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _allowed(module: str) -> bool:
    return any(module.startswith(p) for p in ALLOWED_MODULES)


def _ndarray(a: np.ndarray, where: str) -> dict:
    kind = a.dtype.kind
    if kind == "f":
        return {_TAG: "nd", "dtype": a.dtype.str, "shape": list(a.shape), "data": _float_list(a)}
    if kind in "iub":
        return {_TAG: "nd", "dtype": a.dtype.str, "shape": list(a.shape),
                "data": a.ravel().tolist()}
    if kind == "c":
        return {_TAG: "nd", "dtype": a.dtype.str, "shape": list(a.shape),
                "re": _float_list(a.real), "im": _float_list(a.imag)}
    if kind in "US":
        return {_TAG: "nd", "dtype": a.dtype.str, "shape": list(a.shape),
                "data": [str(v) for v in a.ravel().tolist()]}
    if kind == "O":
        return {_TAG: "nd", "dtype": "O", "shape": list(a.shape),
                "data": [_encode(v, f"{where}[{i}]") for i, v in enumerate(a.ravel().tolist())]}
    raise NotEncodable(where, a)


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _array(a: np.ndarray, where: str) -> dict:
    """An array written once per object: a second occurrence of the same array is a
    reference, and a view of another array (a reshape, a transposition, a slice) is
    written as its base array plus offset, shape and strides, so that shared memory is
    stored once and read back shared."""
    ctx = _CTX[-1] if _CTX else None
    if ctx is None or a.dtype.kind == "O":
        return _ndarray(a, where)
    if id(a) in ctx.arrays:
        return {_TAG: "ref", "id": ctx.arrays[id(a)]}
    root = _root(a)
    # a view is written through its base only when it covers most of it (never drags a
    # large base -- e.g. a data matrix -- into the file for a small slice of it)
    if root is not a and root.dtype == a.dtype and root.flags.c_contiguous \
            and a.dtype.kind in "fiub" and root.nbytes <= 2 * a.nbytes:
        base = _array(root, where)
        offset = a.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        out = {_TAG: "view", "base": base, "offset": int(offset), "shape": list(a.shape),
               "strides": list(a.strides)}
    else:
        out = _ndarray(a, where)
    ctx.arrays[id(a)] = ctx.n
    ctx.keep.append(a)
    out["id"] = ctx.n
    ctx.n += 1
    return out


def _view(base: np.ndarray, offset: int, shape: tuple, strides: tuple) -> np.ndarray:
    """``base``'s memory seen with ``shape``/``strides`` from byte ``offset``, bounds
    checked (a file cannot address memory outside the array it was read into)."""
    if not isinstance(base, np.ndarray) or not base.flags.c_contiguous:
        raise DecodeError("an array view refers to a base that is not an array")
    lo = offset + sum((n - 1) * st for n, st in zip(shape, strides) if st < 0 and n > 0)
    hi = offset + sum((n - 1) * st for n, st in zip(shape, strides) if st > 0 and n > 0)
    if any(n < 0 for n in shape) or (0 not in shape and (lo < 0 or
                                                         hi + base.itemsize > base.nbytes)):
        raise DecodeError("an array view addresses memory outside its base array")
    return np.ndarray(shape, dtype=base.dtype, buffer=base, offset=offset, strides=strides)


def _column(s: pd.Series | pd.Index, where: str) -> dict:
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.dtype
        codes = (s.cat.codes if isinstance(s, pd.Series) else pd.Series(s.codes)).to_numpy()
        return {"cat": _encode(list(cat.categories), where), "ordered": bool(cat.ordered),
                "codes": codes.astype(int).tolist()}
    arr = s.to_numpy()
    if arr.dtype.kind in "fiub":
        return {"dtype": str(s.dtype), "values": _ndarray(arr, where)}
    return {"dtype": str(s.dtype), "values": _ndarray(np.asarray(arr, dtype=object), where)}


def _uncolumn(d: dict):
    if "cat" in d:
        cats = _decode(d["cat"])
        return pd.Categorical.from_codes(d["codes"], categories=cats, ordered=d["ordered"])
    vals = _decode(d["values"])
    if d["dtype"] in ("object", "O"):
        return vals
    try:
        return pd.array(vals, dtype=d["dtype"]) if vals.dtype.kind == "O" else \
            vals.astype(d["dtype"], copy=False)
    except (TypeError, ValueError):
        return vals


class _Ctx:
    """Per-call state: arrays already written (shared or reshaped views are written once)
    and attributes left out per class."""

    def __init__(self, exclude=None):
        self.exclude = {k: (v if callable(v) else set(v)) for k, v in (exclude or {}).items()}
        self.arrays: dict[tuple, int] = {}
        self.n = 0
        self.keep: list = []   # keeps the memo's arrays alive (ids stay unique)


_CTX: list[_Ctx] = []


def encode(obj: Any, where: str = "", *, exclude: dict[type, Any] | None = None) -> Any:
    """JSON-ready data for ``obj`` (see the module docstring).

    ``exclude`` maps a class to attribute names left out of its instances (they read
    back as absent), or to a function ``state -> state`` (the instance's ``__dict__``
    copy, returned pruned).  Arrays that share memory with an array already written (the same
    array, or a reshaped view of it) are written once and read back as views.
    """
    _CTX.append(_Ctx(exclude))
    try:
        return _encode(obj, where)
    finally:
        _CTX.pop()


def _encode(obj: Any, where: str = "") -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return _float(float(obj))
    if isinstance(obj, list):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return {_TAG: "tuple", "v": [_encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, (set, frozenset)):
        items = sorted(obj, key=repr)
        return {_TAG: "frozenset" if isinstance(obj, frozenset) else "set",
                "v": [_encode(v, where) for v in items]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and k != _TAG for k in obj):
            return {k: _encode(v, f"{where}.{k}" if where else k) for k, v in obj.items()}
        return {_TAG: "dict", "items": [[_encode(k, where), _encode(v, f"{where}[{k!r}]")]
                                        for k, v in obj.items()]}
    if isinstance(obj, np.ndarray):
        return _array(obj, where)
    if isinstance(obj, pd.DataFrame):
        return {_TAG: "frame", "columns": _encode(list(obj.columns), where),
                "index": _encode(obj.index, where),
                "data": [_column(obj.iloc[:, j], f"{where}[{c!r}]")
                         for j, c in enumerate(obj.columns)],
                "attrs": _encode(dict(obj.attrs), where)}
    if isinstance(obj, pd.Series):
        return {_TAG: "series", "name": _encode(obj.name, where), "index": _encode(obj.index, where),
                "data": _column(obj, where)}
    if isinstance(obj, pd.MultiIndex):
        return {_TAG: "multiindex", "tuples": _encode(list(obj), where),
                "names": _encode(list(obj.names), where)}
    if isinstance(obj, pd.RangeIndex):
        return {_TAG: "range", "start": obj.start, "stop": obj.stop, "step": obj.step,
                "name": _encode(obj.name, where)}
    if isinstance(obj, pd.Index):
        return {_TAG: "index", "name": _encode(obj.name, where), "data": _column(obj, where)}
    if isinstance(obj, np.random.Generator):
        bg = obj.bit_generator
        return {_TAG: "generator", "bit_generator": type(bg).__name__,
                "state": _encode(bg.state, where)}
    if isinstance(obj, np.random.SeedSequence):
        return {_TAG: "seedseq", "entropy": _encode(obj.entropy, where),
                "spawn_key": list(obj.spawn_key), "pool_size": obj.pool_size,
                "n_children_spawned": obj.n_children_spawned}
    if isinstance(obj, np.dtype):
        return {_TAG: "dtype", "v": obj.str}
    cls = type(obj)
    if cls.__module__.startswith("xgboost") and cls.__name__ == "Booster":
        return {_TAG: "xgb", "json": bytes(obj.save_raw("json")).decode("utf-8")}
    if _allowed(cls.__module__) and (hasattr(obj, "__dict__") or dataclasses.is_dataclass(obj)):
        state = dict(vars(obj))
        ctx = _CTX[-1] if _CTX else None
        if ctx is not None:
            for klass, names in ctx.exclude.items():
                if isinstance(obj, klass):
                    if callable(names):
                        state = names(state)
                        continue
                    for k in names:
                        state.pop(k, None)
        return {_TAG: "obj", "cls": _class_path(cls),
                "state": {k: _encode(v, f"{where}.{k}" if where else k)
                          for k, v in state.items()}}
    raise NotEncodable(where, obj)


def _load_class(path: str) -> type:
    module, _, qual = path.partition(":")
    if not _allowed(module) or not qual or "__" in qual:
        raise DecodeError(f"class {path!r} is not an ipdma class that a model file may hold")
    try:
        obj: Any = importlib.import_module(module)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        raise DecodeError(f"class {path!r} does not exist in this version of ipdma") from None
    if not isinstance(obj, type):
        raise DecodeError(f"{path!r} is not a class")
    if not _allowed(obj.__module__) or _class_path(obj) != path:
        raise DecodeError(f"class {path!r} is not an ipdma class that a model file may hold")
    return obj


def _nd(d: dict) -> np.ndarray:
    """The array of an ``nd`` entry, owning its memory (as the array that was written:
    a view is written as a ``view`` entry)."""
    dtype = np.dtype(d["dtype"])
    shape = tuple(d["shape"])
    if dtype.kind == "c":
        out = np.asarray(_floats(d["re"]), float) + 1j * np.asarray(_floats(d["im"]), float)
        out = out.astype(dtype)
    elif dtype.kind == "O":
        out = np.empty(len(d["data"]), dtype=object)
        out[:] = [_decode(v) for v in d["data"]]
    elif dtype.kind == "f":
        out = np.asarray(_floats(d["data"]), dtype=float).astype(dtype, copy=False)
    else:
        out = np.asarray(d["data"], dtype=dtype)
    out = out.reshape(shape)
    return out.copy() if out.base is not None else out


def _floats(vals: list) -> list:
    if any(isinstance(v, str) for v in vals):
        return [float(v) for v in vals]
    return vals


_DCTX: list[dict] = []


def decode(data: Any) -> Any:
    """Inverse of :func:`encode`."""
    _DCTX.append({})
    try:
        return _decode(data)
    finally:
        _DCTX.pop()


def _decode(data: Any) -> Any:
    if isinstance(data, list):
        return [_decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    tag = data.get(_TAG)
    if tag is None:
        return {k: _decode(v) for k, v in data.items()}
    try:
        return _decode_tagged(tag, data)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise DecodeError(f"malformed {tag!r} entry ({type(exc).__name__}: {exc})") from None


def _decode_tagged(tag: str, d: dict) -> Any:
    if tag == "float":
        return float(d["v"])
    if tag == "tuple":
        return tuple(_decode(v) for v in d["v"])
    if tag in ("set", "frozenset"):
        vals = [_decode(v) for v in d["v"]]
        return frozenset(vals) if tag == "frozenset" else set(vals)
    if tag == "dict":
        return {_hashable(_decode(k)): _decode(v) for k, v in d["items"]}
    if tag in ("nd", "view"):
        if tag == "nd":
            a = _nd(d)
        else:
            a = _view(_decode(d["base"]), int(d["offset"]), tuple(int(v) for v in d["shape"]),
                      tuple(int(v) for v in d["strides"]))
        if "id" in d:
            _DCTX[-1][d["id"]] = a
        return a
    if tag == "ref":
        if not _DCTX or d["id"] not in _DCTX[-1]:
            raise DecodeError(f"array reference {d['id']!r} to an array not read before")
        return _DCTX[-1][d["id"]]
    if tag == "frame":
        cols = _decode(d["columns"])
        index = _decode(d["index"])
        data = {j: _uncolumn(c) for j, c in enumerate(d["data"])}
        df = pd.DataFrame(data, index=index)
        df.columns = pd.Index(cols) if cols else df.columns
        df.attrs.update(_decode(d.get("attrs", {})))
        return df
    if tag == "series":
        return pd.Series(_uncolumn(d["data"]), index=_decode(d["index"]), name=_decode(d["name"]))
    if tag == "multiindex":
        return pd.MultiIndex.from_tuples(_decode(d["tuples"]), names=_decode(d["names"]))
    if tag == "range":
        return pd.RangeIndex(d["start"], d["stop"], d["step"], name=_decode(d["name"]))
    if tag == "index":
        return pd.Index(_uncolumn(d["data"]), name=_decode(d["name"]))
    if tag == "generator":
        bg_cls = getattr(np.random, d["bit_generator"], None)
        if bg_cls is None or not isinstance(bg_cls, type):
            raise DecodeError(f"unknown bit generator {d['bit_generator']!r}")
        bg = bg_cls()
        bg.state = _decode(d["state"])
        return np.random.Generator(bg)
    if tag == "seedseq":
        return np.random.SeedSequence(_decode(d["entropy"]), spawn_key=tuple(d["spawn_key"]),
                                      pool_size=d["pool_size"],
                                      n_children_spawned=d["n_children_spawned"])
    if tag == "dtype":
        return np.dtype(d["v"])
    if tag == "xgb":
        from .._optional import import_optional

        xgb = import_optional("xgboost")
        booster = xgb.Booster()
        booster.load_model(bytearray(d["json"].encode("utf-8")))
        return booster
    if tag == "obj":
        cls = _load_class(d["cls"])
        obj = cls.__new__(cls)
        state = {k: _decode(v) for k, v in d["state"].items()}
        setter = getattr(obj, "__ipdma_setstate__", None)
        if callable(setter):
            setter(state)
        else:
            obj.__dict__.update(state)
        return obj
    raise DecodeError(f"unknown entry type {tag!r}")


def _hashable(k: Any) -> Any:
    if isinstance(k, list):
        return tuple(_hashable(v) for v in k)
    return k

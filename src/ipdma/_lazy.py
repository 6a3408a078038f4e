"""A module imported on first attribute access (keeps ``import ipdma`` and the CLI fast).

``stats = lazy_module("scipy.stats")`` at the top of a module costs nothing; the
first ``stats.norm`` imports scipy.stats (about 1 s of CPU on a loaded machine) only in
the code paths that use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_function", "lazy_module"]


class _LazyModule:
    __slots__ = ("_mod", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._mod: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        mod = self._mod
        if mod is None:
            mod = self._mod = importlib.import_module(self._name)
        return getattr(mod, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy_module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it on first attribute access.

    Examples
    --------
    >>> from ipdma._lazy import lazy_module
    >>> m = lazy_module("json")
    >>> m.dumps([1])
    '[1]'
    """
    return _LazyModule(name)


class _LazyFunction:
    __slots__ = ("_attr", "_fn", "_module")

    def __init__(self, module: str, attr: str) -> None:
        self._module = module
        self._attr = attr
        self._fn: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        fn = self._fn
        if fn is None:
            fn = self._fn = getattr(importlib.import_module(self._module), self._attr)
        return fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<lazy function {self._module}.{self._attr}>"


def lazy_function(module: str, attr: str) -> Any:
    """A stand-in for the callable ``module.attr`` that imports ``module`` on first call.

    Replaces ``from scipy.special import gammaln`` at the top of a module without
    importing scipy.special until ``gammaln`` is called.

    Examples
    --------
    >>> from ipdma._lazy import lazy_function
    >>> dumps = lazy_function("json", "dumps")
    >>> dumps([1])
    '[1]'
    """
    return _LazyFunction(module, attr)

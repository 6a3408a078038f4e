"""A module imported on first attribute access (keeps ``import ipdma`` and the CLI fast).

``stats = lazy_module("scipy.stats")`` at the top of a module costs nothing; the
first ``stats.norm`` imports scipy.stats (about 1 s of CPU on a loaded machine) only in
the code paths that use it.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


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

"""Optional dependencies: which install extra provides which module, and one import helper.

``pip install ipdma`` gives the core (numpy, scipy, pandas, scikit-learn, matplotlib,
statsmodels) and every method that needs nothing more. Heavier parts are extras:

=================  ==========================  =============================================
extra              modules                     needed by
=================  ==========================  =============================================
``bayes``          jax, numpyro, arviz         Bayesian engines and learners (NumPyro/JAX),
                                               ArviZ output, the NMR ML random-effects fit
                                               (JAX derivatives)
``xgboost``        xgboost                     the XGBoost learner (CPU build on Linux)
``parquet``        pyarrow                     Parquet result stores of ``ipdma.simstudy``
``dask``           dask, distributed           running on a Dask cluster
``causal-forest``  econml                      the causal-forest learner
``all``            all of the above
=================  ==========================  =============================================

Modules are imported where they are used (``import ipdma`` stays fast); a missing one
raises :class:`ipdma.errors.MissingDependencyError` naming the extra to install.

**JAX compilation cache.** The first import of JAX through :func:`import_optional` turns
on JAX's persistent compilation cache, so a new process reuses the compiled samplers of
earlier ones (a cold Bayesian NMR fit spends most of its time compiling). The cache lives
in ``$IPDMA_CACHE_DIR/jax`` (default: ``$XDG_CACHE_HOME/ipdma/jax``, i.e.
``~/.cache/ipdma/jax``); set ``IPDMA_JAX_CACHE=0`` to turn it off. It holds compiled XLA
programs only, never data.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["EXTRAS", "import_optional", "is_available", "jax_cache_dir"]

#: top-level module -> install extra that provides it
EXTRAS: dict[str, str] = {
    "jax": "bayes",
    "jaxlib": "bayes",
    "numpyro": "bayes",
    "arviz": "bayes",
    "xgboost": "xgboost",
    "pyarrow": "parquet",
    "dask": "dask",
    "distributed": "dask",
    "econml": "causal-forest",
}


def is_available(module: str) -> bool:
    """Whether ``module`` (e.g. ``"xgboost"``) can be imported, without importing it.

    Examples
    --------
    >>> from ipdma._optional import is_available
    >>> is_available("numpy"), is_available("no_such_module_here")
    (True, False)
    """
    return importlib.util.find_spec(module.split(".")[0]) is not None


def import_optional(module: str, *, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`~ipdma.errors.MissingDependencyError`.

    Parameters
    ----------
    module : str
        Module to import, e.g. ``"jax.numpy"``.
    purpose : str, optional
        What needs it, for the message (e.g. ``"engine='bayes'"``).

    Examples
    --------
    >>> from ipdma._optional import import_optional
    >>> import_optional("numpy").__name__
    'numpy'
    >>> import_optional("no_such_module_here", purpose="the demo")
    Traceback (most recent call last):
    ...
    ipdma.errors.MissingDependencyError: the demo needs the Python package \
'no_such_module_here', which is not installed: install it with pip
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        what = purpose or "this feature"
        extra = EXTRAS.get(top)
        # 'all' holds every extra but the causal forest (EconML pulls numba, shap, ...)
        how = (f"pip install 'ipdma[{extra}]'" + (
               " (or 'ipdma[all]' for every optional part)" if extra != "causal-forest"
               else " (not part of 'ipdma[all]')") if extra else "install it with pip")
        raise MissingDependencyError(
            f"{what} needs the Python package {top!r}, which is not installed: {how}") from exc
    if module.split(".")[0] == "jax":
        _configure_jax()
    return mod


def jax_cache_dir() -> Path | None:
    """Folder of JAX's persistent compilation cache, or None when turned off.

    Examples
    --------
    >>> import os
    >>> from ipdma._optional import jax_cache_dir
    >>> os.environ["IPDMA_JAX_CACHE"] = "0"; jax_cache_dir() is None
    True
    >>> del os.environ["IPDMA_JAX_CACHE"]
    """
    if os.environ.get("IPDMA_JAX_CACHE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    base = os.environ.get("IPDMA_CACHE_DIR")
    if base:
        return Path(base) / "jax"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "ipdma" / "jax"


_JAX_CONFIGURED = False


def _configure_jax() -> None:
    global _JAX_CONFIGURED
    if _JAX_CONFIGURED:
        return
    _JAX_CONFIGURED = True
    path = jax_cache_dir()
    if path is None:
        return
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user (or JAX's env vars) chose one
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    # cache every program that took more than 0.1 s to compile (JAX's default is 1 s,
    # which leaves out most of the small samplers)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)

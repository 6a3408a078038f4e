"""Running the stage-1 jobs of :mod:`ipdma.ite` on one machine (joblib) or a Dask cluster.

Every (learner, trial) stage-1 job carries its own seed (:func:`trial_seeds`), so
where a job runs does not change its numbers: a fit on a Dask cluster equals the
local one.  The Dask objects come from the ``dask`` extra
(``pip install 'ipdma[dask]'``) through :func:`ipdma._optional.import_optional`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from .._optional import import_optional
from ..errors import ModelSpecificationError

__all__ = ["dask_client", "run_jobs", "stage1_cost_rank"]


def _distributed():
    return import_optional("dask.distributed", purpose="running on a Dask cluster")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, dask_local: int | None = None):
    """A Dask client for the duration of a ``with`` block, or ``None`` without either.

    ``scheduler`` is the address of a running scheduler (``tcp://host:8786``);
    ``dask_local=N`` starts a ``LocalCluster`` of N single-threaded worker
    processes on this machine (closed at the end of the block).  These are the
    CLI's ``--scheduler`` and ``--dask-local``.

    Examples
    --------
    >>> with dask_client() as client:     # neither given: run locally
    ...     print(client)
    None
    """
    if scheduler is not None and dask_local is not None:
        raise ModelSpecificationError("give either scheduler= or dask_local=, not both")
    if scheduler is None and dask_local is None:
        yield None
        return
    dd = _distributed()
    cluster = None
    if dask_local is not None:
        n = int(dask_local)
        if n < 1:
            raise ModelSpecificationError(f"dask_local must be at least 1, got {dask_local}")
        cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1")
        client = dd.Client(cluster)
    else:
        try:
            client = dd.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ModelSpecificationError(
                f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _check_client(client: Any) -> None:
    if not (hasattr(client, "submit") and hasattr(client, "scatter")):
        raise ModelSpecificationError(
            f"client must be a dask.distributed.Client, got {type(client).__name__}")


def run_jobs(fn: Callable[..., Any], jobs: Sequence[tuple], *, n_jobs: int = 1,
             client: Any = None) -> Iterator[Any]:
    """``fn(*job)`` for every job, results as they finish (any order).

    ``client`` (a ``dask.distributed.Client``) runs them on its cluster; otherwise
    ``n_jobs`` joblib processes (1: in this process, in order).
    """
    if client is not None:
        _check_client(client)
        as_completed = _distributed().as_completed
        jobs = _scatter_shared(client, jobs)
        futures = [client.submit(fn, *job, pure=False) for job in jobs]
        return _results(as_completed(futures))
    if n_jobs == 1:
        return (fn(*job) for job in jobs)
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(fn)(*job) for job in jobs)


#: arguments at least this large (bytes) go to the workers once (``client.scatter``)
SCATTER_BYTES = 32_768


def _nbytes(obj: Any) -> int:
    nb = getattr(obj, "nbytes", None)     # numpy arrays
    if isinstance(nb, int):
        return nb
    mem = getattr(obj, "memory_usage", None)   # pandas DataFrame / Series
    if callable(mem):
        try:
            m = mem(deep=False)
            return int(getattr(m, "sum", lambda: m)())
        except Exception:   # pragma: no cover - an object with another memory_usage
            return 0
    return 0


def _scatter_shared(client: Any, jobs: Sequence[tuple]) -> list[tuple]:
    """Jobs whose large array arguments are replaced by futures of data sent once.

    The same object in several jobs (the query points of every job, one trial's data
    in the jobs of every learner) is scattered once and shared, instead of being
    serialised into each task: less traffic through the scheduler, which is the serial
    part of a cluster run.  Arguments are matched by identity, so the numbers are
    those of the local run.
    """
    sent: dict[int, Any] = {}
    out = []
    for job in jobs:
        new = []
        for arg in job:
            if _nbytes(arg) >= SCATTER_BYTES:
                fut = sent.get(id(arg))
                if fut is None:
                    fut = sent[id(arg)] = client.scatter(arg, hash=False)
                arg = fut
            new.append(arg)
        out.append(tuple(new))
    return out


def stage1_cost_rank(job: tuple) -> tuple[int, int]:
    """A rough order of the cost of a stage-1 job ``(lrn, i, tr, X, t, y, learner, seed,
    n_boot, ...)``: B refits of a flexible learner, then MCMC, then cross-validation or
    cheap refits, then a single fit; larger trials first within a kind.  Sorting the
    jobs by it (costliest first) leaves short jobs for the end, so that workers finish
    together; each job carries its own seed, so the order does not change the numbers.
    """
    learner, n_boot = job[6], job[8]
    provides = getattr(learner, "provides", frozenset())
    if n_boot is not None and "linear" not in provides:
        kind = 3
    elif "posterior" in provides:
        kind = 2
    elif n_boot is not None or getattr(learner, "cross_validates", False):
        kind = 1
    else:
        kind = 0
    return kind, len(job[5])


def _results(futures: Iterable[Any]) -> Iterator[Any]:
    for fut in futures:
        yield fut.result()   # a failed job re-raises its exception here

"""Running a simulation study: seeding, cells, execution back-ends, resumption."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._optional import import_optional
from ..errors import ModelSpecificationError
from ._design import ITEMethod, Scenario, fit_predict_shared, stable_key
from ._metrics import METRICS, ite_metrics
from ._store import ResultStore

__all__ = ["SimulationStudy", "cell_seeds", "run_cell"]

_DATA_STREAM = 0
_METHOD_STREAM = 1


def cell_seeds(seed: int, scenario: object, rep: int,
               methods: Sequence[ITEMethod]) -> tuple[np.random.SeedSequence,
                                                      dict[str, np.random.SeedSequence]]:
    """The random streams of one (scenario, replicate) cell.

    All streams derive from the single ``SeedSequence(seed)`` through a spawn
    key built from the scenario's id, the replicate and (for methods) the
    method's ``seed_key`` (the learner of an :class:`ITEMethod`, else its name)
    — not from the order of execution — so any cell, or any one method of a
    cell, can be rerun alone and gives identical numbers.  Methods with one
    learner share a stream, so their stage-1 fits are the same and are
    computed once.

    Returns the data stream and a dict of method name -> stream.

    Examples
    --------
    >>> from ipdma.simstudy import cell_seeds, ite_methods
    >>> methods = ite_methods("ols+mvma,ols+weighted-aux-ols")
    >>> data, per_method = cell_seeds(2026, scenario=5, rep=0, methods=methods)
    >>> data.entropy, data.spawn_key          # (scenario, replicate, data stream)
    (2026, (5, 0, 0))
    >>> list(per_method)
    ['ols+mvma', 'ols+weighted-aux-ols']
    >>> per_method["ols+mvma"].spawn_key == per_method["ols+weighted-aux-ols"].spawn_key
    True
    """
    base = (stable_key(scenario), int(rep))
    data = np.random.SeedSequence(seed, spawn_key=(*base, _DATA_STREAM))
    per_method = {m.name: np.random.SeedSequence(
        seed, spawn_key=(*base, _METHOD_STREAM, stable_key(getattr(m, "seed_key", m.name))))
        for m in methods}
    return data, per_method


def run_cell(scenario: Scenario, rep: int, methods: Sequence[ITEMethod],
             seed: int) -> pd.DataFrame:
    """Simulate one data set and evaluate every method on it.

    A method that raises is recorded with its error message (metrics NaN);
    it does not stop the cell.  Returns one row per method.

    Examples
    --------
    >>> from ipdma.simstudy import ite_methods, ite_scenarios, run_cell
    >>> scenario = ite_scenarios("5", n_test_per_trial=20)[0]
    >>> methods = ite_methods("ols+mvma,ols+weighted-aux-ols")
    >>> rows = run_cell(scenario, rep=0, methods=methods, seed=1)
    >>> rows[["scenario", "replicate", "method", "error"]].values.tolist()
    [['5', 0, 'ols+mvma', ''], ['5', 0, 'ols+weighted-aux-ols', '']]
    >>> list(rows.columns[5:9])
    ['mae', 'bias', 'rmse', 'r2']
    >>> rows["mae"].equals(run_cell(scenario, 0, methods, seed=1)["mae"])  # reproducible
    True
    """
    data_seq, method_seqs = cell_seeds(seed, scenario.id, rep, methods)
    rows: list[dict[str, Any]] = []
    evaluate = getattr(scenario, "metrics", None)
    try:
        sim = scenario.simulate(data_seq)
        truth = None if evaluate else np.asarray(sim.test["ite_true"], dtype=float)
        data_error = None
    except Exception as exc:  # recorded, not fatal
        sim, truth = None, None
        data_error = f"data generation failed: {type(exc).__name__}: {exc}"
    def score(pred):
        return evaluate(pred, sim) if evaluate else ite_metrics(pred, truth)

    shared = _shared_results(methods, sim, method_seqs) if data_error is None else {}
    for m in methods:
        row: dict[str, Any] = {"scenario": str(scenario.id), "replicate": int(rep),
                               "method": m.name, "learner": getattr(m, "learner", ""),
                               "pooler": getattr(m, "pooler", "")}
        t0 = time.perf_counter()
        if data_error is not None:
            row.update(dict.fromkeys(METRICS, np.nan), fit_time=np.nan, error=data_error)
        elif m.name in shared:
            pred, seconds = shared[m.name]
            row.update(score(pred))
            row["error"] = ""
            row["fit_time"] = seconds
        else:
            try:
                pred = m.fit_predict(sim, method_seqs[m.name])
                row.update(score(pred))
                row["error"] = ""
            except Exception as exc:  # recorded, not fatal
                row.update(dict.fromkeys(METRICS, np.nan))
                last = traceback.extract_tb(exc.__traceback__)[-1]
                row["error"] = (f"{type(exc).__name__}: {exc} "
                                f"(at {Path(last.filename).name}:{last.lineno})")
            row["fit_time"] = time.perf_counter() - t0
        rows.append(row)
    # scenario-specific metrics (e.g. per contrast of a treatment network) follow METRICS
    extra = list(dict.fromkeys(k for r in rows for k in r if k not in (
        "scenario", "replicate", "method", "learner", "pooler", *METRICS, "fit_time",
        "error")))
    return pd.DataFrame(rows, columns=["scenario", "replicate", "method", "learner", "pooler",
                                       *METRICS, *extra, "fit_time", "error"])


def _shared_results(methods: Sequence[ITEMethod], sim, method_seqs) -> dict:
    """Predictions of the :class:`ITEMethod` s that share a learner, fitted together.

    A group that fails is left out: its methods then run one by one, so each
    records its own result or error (the numbers are the same either way).
    """
    groups: dict[tuple, list[ITEMethod]] = {}
    for m in methods:
        if isinstance(m, ITEMethod):
            groups.setdefault(m.share_key, []).append(m)
    out: dict = {}
    for ms in groups.values():
        if len(ms) < 2:
            continue
        try:
            out.update(fit_predict_shared(ms, sim, method_seqs[ms[0].name]))
        except Exception:  # each method then runs alone and records its error
            continue
    return out


class SimulationStudy:
    """A simulation study: scenarios x methods x replicates, with its metrics.

    Parameters
    ----------
    scenarios : sequence of Scenario
        E.g. :func:`ipdma.simstudy.ite_scenarios` ``("1-16")``.
    methods : sequence of ITEMethod
        E.g. :func:`ipdma.simstudy.ite_methods` ``("all")``. Any object with a
        unique ``name`` and ``fit_predict(sim, seed_sequence) -> DataFrame``
        (column ``ite``, optionally ``ci_low``/``ci_high``/``pi_low``/``pi_high``)
        can serve as a method.
    n_reps : int
        Replicates per scenario.
    seed : int
        The study's master seed; every cell's streams derive from it.
    store_format : {"parquet", "csv"}

    Examples
    --------
    >>> from ipdma.simstudy import SimulationStudy, ite_scenarios, ite_methods
    >>> study = SimulationStudy(ite_scenarios("1-2"), ite_methods("ols+mvma"), n_reps=2, seed=1)
    >>> res = study.run("results/", n_jobs=1, progress=False)  # doctest: +SKIP
    >>> res.table("mae")  # doctest: +SKIP
    """

    def __init__(self, scenarios: Sequence[Scenario], methods: Sequence[ITEMethod],
                 n_reps: int = 100, seed: int = 2026, store_format: str = "parquet") -> None:
        if n_reps < 1:
            raise ModelSpecificationError(f"n_reps must be at least 1, not {n_reps}")
        ids = [str(s.id) for s in scenarios]
        if len(set(ids)) != len(ids):
            raise ModelSpecificationError(f"scenario ids must be unique, got {ids}")
        names = [m.name for m in methods]
        if len(set(names)) != len(names):
            raise ModelSpecificationError(f"method names must be unique, got {names}")
        if not scenarios or not methods:
            raise ModelSpecificationError("a study needs at least one scenario and one method")
        self.scenarios = list(scenarios)
        self.methods = list(methods)
        self.n_reps = int(n_reps)
        self.seed = int(seed)
        self.store_format = store_format

    def config(self) -> dict:
        return {
            "seed": self.seed,
            "n_reps": self.n_reps,
            "scenarios": {str(s.id): {"generator": getattr(s.generator, "__name__",
                                                           str(s.generator)),
                                      **{k: v for k, v in dict(s.params).items()}}
                          for s in self.scenarios},
            "methods": [m.name for m in self.methods],
        }

    def run_cell(self, scenario: object, rep: int) -> pd.DataFrame:
        """Run one (scenario, replicate) cell alone, in this process (no store)."""
        sc = {str(s.id): s for s in self.scenarios}.get(str(scenario))
        if sc is None:
            raise ModelSpecificationError(
                f"scenario {scenario!r} is not in this study: {[s.id for s in self.scenarios]}")
        return run_cell(sc, rep, self.methods, self.seed)

    def _pending(self, store: ResultStore, retry_failed: bool = False
                 ) -> Iterator[tuple[Scenario, int, list[ITEMethod]]]:
        # replicate-major: every scenario gets replicate r before any gets r + 1, so a
        # study stopped early (or time-boxed) covers all scenarios evenly
        for rep in range(self.n_reps):
            for sc in self.scenarios:
                done = store.done_methods(sc.id, rep)
                if retry_failed:
                    done -= store.failed_methods(sc.id, rep)
                todo = [m for m in self.methods if m.name not in done]
                if todo:
                    yield sc, rep, todo

    def run(self, out: str | Path, *, n_jobs: int = 1, scheduler: str | None = None,
            dask_local: int | None = None, progress: bool = True, retry_failed: bool = False):
        """Run every unfinished cell and return the :class:`SimulationResults`.

        Results are written cell by cell to ``out``; rerunning on the same
        folder resumes, computing only the cells (and methods) not yet stored.

        Parameters
        ----------
        out : path
            The result store folder.
        n_jobs : int
            Local worker processes through joblib (-1: all cores).
        scheduler : str, optional
            Address of an existing Dask scheduler (``tcp://host:port``).
        dask_local : int, optional
            Start a Dask ``LocalCluster`` with this many single-threaded workers.
        progress : bool
            Show a progress bar with ETA on stderr.
        retry_failed : bool
            Also recompute the methods stored with an error (e.g. after a fix);
            their random streams are unchanged, so a method that now succeeds gives
            the numbers it would have given in the first run.
        """
        from ._summary import SimulationResults

        if scheduler is not None and dask_local is not None:
            raise ModelSpecificationError("give either scheduler= or dask_local=, not both")
        store = ResultStore(out, self.store_format)
        store.check_or_write_config(self.config())
        pending = list(self._pending(store, retry_failed))
        if pending:
            if scheduler is not None or dask_local is not None:
                results = _run_dask(pending, self.seed, scheduler, dask_local)
            else:
                results = _run_joblib(pending, self.seed, n_jobs)
            _consume(results, store, len(pending), progress)
        return SimulationResults.from_store(store)


def _merge_and_write(store: ResultStore, sc_id: object, rep: int, rows: pd.DataFrame) -> None:
    old = store.read_cell(sc_id, rep)
    if old is not None:
        rows = pd.concat([old[~old["method"].isin(rows["method"])], rows], ignore_index=True)
    store.write_cell(sc_id, rep, rows.sort_values("method", kind="stable"))


def _consume(results, store: ResultStore, total: int, progress: bool) -> None:
    from .._base import progress_bar

    for sc_id, rep, rows in progress_bar(results, show=None if progress else False,
                                         total=total, desc="simulation cells"):
        _merge_and_write(store, sc_id, rep, rows)


def _task(scenario: Scenario, rep: int, methods: list[ITEMethod], seed: int):
    return scenario.id, rep, run_cell(scenario, rep, methods, seed)


def _run_joblib(pending, seed: int, n_jobs: int):
    if n_jobs == 1:
        for sc, rep, methods in pending:
            yield _task(sc, rep, methods, seed)
        return
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=n_jobs, return_as="generator_unordered", backend="loky")
    yield from par(delayed(_task)(sc, rep, methods, seed) for sc, rep, methods in pending)


def _run_dask(pending, seed: int, scheduler: str | None, dask_local: int | None):
    try:
        _mod = import_optional("dask.distributed")
        Client, LocalCluster, as_completed = _mod.Client, _mod.LocalCluster, _mod.as_completed
    except ImportError:  # pragma: no cover - depends on the environment
        raise ModelSpecificationError(
            "running on Dask needs dask.distributed: pip install 'ipdma[dask]'") from None
    cluster = None
    if dask_local is not None:
        cluster = LocalCluster(n_workers=int(dask_local), threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [client.submit(_task, sc, rep, methods, seed, pure=False)
                   for sc, rep, methods in pending]
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()

"""Scenarios, methods and their parsing from command-line strings."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ModelSpecificationError
from ..ite import parse_methods

__all__ = [
    "ITEMethod",
    "Scenario",
    "ite_methods",
    "ite_scenarios",
    "parse_methods",
    "parse_scenarios",
    "stable_key",
]


def stable_key(name: object) -> int:
    """A process-independent integer key for a scenario or method name.

    Integers map to themselves; other names to their CRC-32, so the same name
    gets the same random stream in every process and every run.
    """
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        return int(name)
    return zlib.crc32(str(name).encode("utf-8"))


@dataclass(frozen=True)
class Scenario:
    """One data-generating scenario.

    Parameters
    ----------
    id : int or str
        Scenario identifier; it also keys the scenario's random streams, so a
        scenario keeps its numbers when others are added or removed.
    generator : callable
        ``generator(random_state=..., **params)`` returning a simulated object
        with ``.ipd()``, ``.columns`` (dict with ``covariates``) and ``.test``
        (DataFrame of new patients with the covariates and ``ite_true``).
    params : dict
        Keyword arguments passed to the generator (recorded in results).
    metrics : callable, optional
        ``metrics(pred, sim) -> dict`` scoring a method's predictions; default
        :func:`ipdma.simstudy.ite_metrics` against ``sim.test["ite_true"]`` (the
        treatment-network scenarios use :func:`ipdma.simstudy.network_metrics`).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.datasets import make_ite_continuous
    >>> from ipdma.simstudy import Scenario
    >>> sc = Scenario("small", make_ite_continuous, {"scenario": 5, "n_test_per_trial": 20})
    >>> sim = sc.simulate(np.random.SeedSequence(1))
    >>> sim.test.shape                        # 3 new trials x 20 patients
    (60, 13)
    >>> sim.columns["covariates"]
    ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8']
    >>> sim.test.equals(sc.simulate(np.random.SeedSequence(1)).test)  # same seed, same data
    True
    """

    id: int | str
    generator: Callable[..., Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Callable[..., dict] | None = None

    def simulate(self, seed_seq: np.random.SeedSequence):
        return self.generator(random_state=np.random.default_rng(seed_seq), **dict(self.params))


@dataclass(frozen=True)
class ITEMethod:
    """A learner + pooler pair of :class:`ipdma.ite.TwoStageITE`.

    ``options`` are passed to ``TwoStageITE`` (e.g. ``{"n_boot": 100}``).

    Examples
    --------
    >>> import numpy as np
    >>> from ipdma.simstudy import ITEMethod, ite_scenarios
    >>> method = ITEMethod("ols", "mvma")
    >>> method.name, method.seed_key
    ('ols+mvma', 'ols')
    >>> sim = ite_scenarios("5", n_test_per_trial=20)[0].simulate(np.random.SeedSequence(1))
    >>> pred = method.fit_predict(sim, np.random.SeedSequence(2))
    >>> len(pred), list(pred.columns[:6])
    (60, ['ite', 'se', 'ci_low', 'ci_high', 'pi_low', 'pi_high'])
    """

    learner: str
    pooler: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.learner}+{self.pooler}"

    @property
    def seed_key(self) -> str:
        """Methods with the same learner draw the same stream (and may share stage 1)."""
        return self.learner

    @property
    def share_key(self) -> tuple:
        """Methods with equal keys share their stage-1 fits (:func:`ipdma.ite.fit_methods`)."""
        opts = {k: v for k, v in dict(self.options).items() if k != "pooler_options"}
        return (self.learner, repr(sorted(opts.items())))

    def fit_predict(self, sim, seed_seq: np.random.SeedSequence) -> pd.DataFrame:
        """Fit on ``sim.ipd()`` and predict the ITE of ``sim.test``'s patients."""
        from ..ite import TwoStageITE

        model = TwoStageITE(learner=self.learner, pooler=self.pooler, random_state=seed_seq,
                            **dict(self.options))
        covs = list(sim.columns["covariates"])
        # the test patients are known: bootstrap refits are predicted there and dropped
        model.fit(sim.ipd(), X_query=sim.test[covs])
        return _predict(model, sim.test[covs])


def _predict(model, X: pd.DataFrame) -> pd.DataFrame:
    """Predictions of a fitted model; for a treatment network every pair of treatments."""
    if getattr(model, "network_", None) is not None:
        return model.predict_pairs(X)
    return model.predict(X)


def fit_predict_shared(methods: Sequence[ITEMethod], sim, seed_seq: np.random.SeedSequence
                       ) -> dict[str, tuple[pd.DataFrame, float]]:
    """Fit methods sharing one learner together; each result equals its ``fit_predict``.

    Returns ``name -> (predictions, seconds)`` where ``seconds`` is the method's
    own cost (its share of stage 1 counted in full, as if it ran alone).
    """
    import time

    from ..ite import fit_methods

    first = methods[0]
    opts = dict(first.options)
    opts.pop("pooler_options", None)
    lopts = opts.pop("learner_options", None)
    popts = {m.pooler: dict(m.options["pooler_options"]) for m in methods
             if m.options.get("pooler_options")}
    covs = list(sim.columns["covariates"])
    fits = fit_methods(sim.ipd(), [(m.learner, m.pooler) for m in methods],
                       random_state=seed_seq, X_query=sim.test[covs],
                       learner_options={first.learner: dict(lopts)} if lopts else None,
                       pooler_options=popts or None, **opts)
    out = {}
    for m in methods:
        model = fits[m.name]
        t0 = time.perf_counter()
        pred = _predict(model, sim.test[covs])
        out[m.name] = (pred, model.stage1_seconds_ + model.stage2_seconds_
                       + time.perf_counter() - t0)
    return out


def ite_scenarios(ids: Sequence[int] | str = "1-16", *, outcome: str = "continuous",
                  **params: Any) -> list[Scenario]:
    """The 16 scenarios of :func:`ipdma.datasets.make_ite_continuous` (or a subset).

    ``ids`` is a list of scenario numbers or a string such as ``"1-4,9"``; ``params`` go
    to every scenario's generator. ``outcome="binary"`` gives the logistic analogue
    (:func:`ipdma.datasets.make_ite_binary`, true ITEs on the risk-difference scale);
    ``outcome="survival"`` the time-to-event design
    (:func:`ipdma.datasets.make_survival_trials`, scenarios 1-4, true ITEs = differences
    in S(2); run its methods with ``horizon=2.0``); ``outcome="network"`` the
    treatment-network design (:func:`ipdma.simstudy.make_network_scenario` on
    :func:`ipdma.datasets.make_ite_network`, scenarios 1-4 of
    :data:`ipdma.simstudy.NETWORK_SCENARIOS`, scored per contrast and by the share of
    correct best-treatment calls, :func:`ipdma.simstudy.network_metrics`).

    Examples
    --------
    >>> from ipdma.simstudy import ite_scenarios
    >>> [sc.id for sc in ite_scenarios("1-3,9")]
    [1, 2, 3, 9]
    >>> len(ite_scenarios())
    16
    >>> ite_scenarios([5], n_test_per_trial=20)[0].params
    {'scenario': 5, 'n_test_per_trial': 20}
    >>> ite_scenarios("5", outcome="binary")[0].generator.__name__
    'make_ite_binary'
    >>> ite_scenarios("1-4", outcome="network")[0].metrics.__name__
    'network_metrics'
    """
    from ..datasets import make_ite_binary, make_ite_continuous, make_survival_trials

    generators = {"continuous": make_ite_continuous, "binary": make_ite_binary,
                  "survival": make_survival_trials}
    if outcome not in (*generators, "network"):
        raise ModelSpecificationError(
            f"outcome must be one of {', '.join(map(repr, [*generators, 'network']))}, got "
            f"{outcome!r}")
    if isinstance(ids, str):
        ids = parse_scenarios(ids)
    if outcome == "network":
        from ._network import NETWORK_SCENARIOS, make_network_scenario, network_metrics

        bad = [i for i in ids if int(i) not in NETWORK_SCENARIOS.index]
        if bad:
            raise ModelSpecificationError(
                f"the treatment-network design (make_ite_network) has scenarios 1-4; "
                f"{', '.join(map(str, bad))} do not exist: use e.g. --scenarios 1-4")
        return [Scenario(int(i), make_network_scenario, {"scenario": int(i), **params},
                         metrics=network_metrics) for i in ids]
    if outcome == "survival":
        from ..datasets import SURVIVAL_SCENARIOS

        bad = [i for i in ids if int(i) not in SURVIVAL_SCENARIOS.index]
        if bad:
            raise ModelSpecificationError(
                f"the time-to-event design (make_survival_trials) has scenarios 1-4; "
                f"{', '.join(map(str, bad))} do not exist: use e.g. --scenarios 1-4")
    return [Scenario(int(i), generators[outcome], {"scenario": int(i), **params}) for i in ids]


def ite_methods(spec: str | Sequence[str] = "all", *, family: str = "continuous",
                learner_options: Mapping[str, Mapping[str, Any]] | None = None,
                **options: Any) -> list[ITEMethod]:
    """ITE methods from ``"all"`` or names like ``"ols+mvma,xgboost+weighted-aux-ols"``.

    ``family`` (``"continuous"``, ``"binary"``, ``"survival"`` or ``"network"``: a
    continuous outcome with more than two treatments) decides which pairs are feasible
    and what ``"all"`` means; ``options`` go to every :class:`ipdma.ite.TwoStageITE`
    (e.g. ``n_boot=20``);
    ``learner_options`` maps a learner name to its own options, e.g.
    ``{"xgboost": ipdma.ite.REDUCED_XGBOOST_GRID}``.

    Examples
    --------
    >>> from ipdma.simstudy import ite_methods
    >>> [m.name for m in ite_methods("ols+mvma,ols+weighted-aux-ols")]
    ['ols+mvma', 'ols+weighted-aux-ols']
    >>> ite_methods("ols+mvma", n_boot=50)[0].options
    {'n_boot': 50}
    >>> len(ite_methods("all")) > 2
    True
    >>> ite_methods("logistic+mvma", family="binary")[0].name
    'logistic+mvma'
    """
    learner_options = dict(learner_options or {})
    methods = []
    pairs = parse_methods(spec, family="continuous" if family == "network" else family)
    if family == "network":
        from ..families import get_family
        from ..ite._network_ite import network_pairs

        pairs = network_pairs(spec, pairs, get_family("continuous"), None)
    for lrn, pool in pairs:
        opts = dict(options)
        if lrn in learner_options:
            opts["learner_options"] = dict(learner_options[lrn])
        methods.append(ITEMethod(lrn, pool, opts))
    return methods


def parse_scenarios(spec: str) -> list[int]:
    """``"1-4,7,9-10"`` -> ``[1, 2, 3, 4, 7, 9, 10]`` (order kept, duplicates removed).

    Examples
    --------
    >>> from ipdma.simstudy import parse_scenarios
    >>> parse_scenarios("1-4,7,9-10")
    [1, 2, 3, 4, 7, 9, 10]
    >>> parse_scenarios("5, 2-3, 5")
    [5, 2, 3]
    """
    out: list[int] = []
    for part in str(spec).replace(" ", "").split(","):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ModelSpecificationError(
                f"cannot read scenario list {spec!r} at {part!r}: use numbers and ranges such "
                "as '1-16' or '1,3,5-7'")
        lo = int(m.group(1))
        hi = int(m.group(2) or lo)
        if hi < lo:
            raise ModelSpecificationError(f"scenario range {part!r} runs backwards: write "
                                          f"'{hi}-{lo}'")
        out.extend(i for i in range(lo, hi + 1) if i not in out)
    if not out:
        raise ModelSpecificationError("no scenarios given: use e.g. --scenarios 1-16")
    return out



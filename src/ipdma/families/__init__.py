"""Outcome families: the outcome's likelihood, link, score and ITE scales in one protocol.

:class:`OutcomeFamily` is the plug-in point shared by :mod:`ipdma.data`
(``IPD.family``), :mod:`ipdma.ite` (learners and poolers declare the families
they support in ``families``), :mod:`ipdma.trees` (node-model scores),
:mod:`ipdma.prognosis` and :mod:`ipdma.nmr`.  :class:`ContinuousFamily` and
:class:`BinaryFamily` exist, and :class:`SurvivalFamily` (two outcome columns:
time and event; baselines :class:`StepBaseline` and :class:`WeibullBaseline`);
counts would be a further subclass (see :class:`OutcomeFamily`).
"""

from ._families import (
    FAMILIES,
    BinaryFamily,
    ContinuousFamily,
    OutcomeFamily,
    _register_survival,
    check_family,
    get_family,
)
from ._survival import StepBaseline, SurvivalFamily, WeibullBaseline, baseline_from_dict

_register_survival()

__all__ = ["FAMILIES", "BinaryFamily", "ContinuousFamily", "OutcomeFamily", "StepBaseline",
           "SurvivalFamily", "WeibullBaseline", "baseline_from_dict", "check_family",
           "get_family"]

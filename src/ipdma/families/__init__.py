"""Outcome families: the outcome's likelihood, link, score and ITE scales in one protocol.

:class:`OutcomeFamily` is the plug-in point shared by :mod:`ipdma.data`
(``IPD.family``), :mod:`ipdma.ite` (learners and poolers declare the families
they support in ``families``), :mod:`ipdma.trees` (node-model scores),
:mod:`ipdma.prognosis` and :mod:`ipdma.nmr`.  :class:`ContinuousFamily` and
:class:`BinaryFamily` exist now; time-to-event (two outcome columns: time and
event) and counts are further subclasses (see :class:`OutcomeFamily`).
"""

from ._families import (
    FAMILIES,
    BinaryFamily,
    ContinuousFamily,
    OutcomeFamily,
    check_family,
    get_family,
)

__all__ = ["FAMILIES", "BinaryFamily", "ContinuousFamily", "OutcomeFamily", "check_family",
           "get_family"]

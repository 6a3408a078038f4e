"""The IPD container, its validation and the treatment network.

:class:`IPD` validates patient-level data from several trials once, so every
method downstream can rely on complete, finite, consistently labelled data;
:class:`Network` describes which treatments are compared in which trials;
:func:`describe` tabulates arms, covariate missingness and the network.
"""

from ._describe import Description, describe
from ._io import DEFAULT_NA_VALUES, read_csv
from ._ipd import IPD, choose_reference
from ._network import Network
from ._validation import EVENT_LABELS, NON_EVENT_LABELS

__all__ = [
    "DEFAULT_NA_VALUES",
    "EVENT_LABELS",
    "IPD",
    "NON_EVENT_LABELS",
    "Description",
    "Network",
    "choose_reference",
    "describe",
    "read_csv",
]

"""Neuron expertise: average precision of output values per relation (SPEC §3) and other identification methods."""

from relneurons.expertise.average_precision import (
    DEFAULT_CHUNK_BYTES,
    average_precision,
    average_precision_subsets,
)
from relneurons.expertise.scorers import MODEL_SCORERS, SCORERS

__all__ = [
    "MODEL_SCORERS",
    "SCORERS",
    "DEFAULT_CHUNK_BYTES",
    "average_precision",
    "average_precision_subsets",
]

"""Neuron expertise: average precision of output values per relation (SPEC §3)."""

from relneurons.expertise.average_precision import (
    DEFAULT_CHUNK_BYTES,
    average_precision,
    average_precision_subsets,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "average_precision",
    "average_precision_subsets",
]

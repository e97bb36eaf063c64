"""relneurons: find the neurons of a language model that carry a relation, and switch them off.

Pipeline: data -> model -> activations -> expertise -> intervention -> experiments -> report.
"""

__version__ = "0.1.0"

from .data import is_correct, split_relation
from .errors import RelneuronsError
from .expertise import average_precision
from .intervention import deactivate
from .model import count_neurons, load_model

__all__ = [
    "RelneuronsError", "__version__", "average_precision", "count_neurons", "deactivate",
    "is_correct", "load_model", "split_relation",
]

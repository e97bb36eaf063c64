"""relneurons: find the neurons of a language model that carry a relation, and switch them off.

Pipeline: data -> model -> activations -> expertise -> intervention -> experiments -> report.

The public names below are loaded on first use (module `__getattr__`), so that
`import relneurons` and the command line's `--help` do not pay for torch,
transformers or pandas; `relneurons.load_model` etc. work as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import RelneuronsError  # light (standard library only)

__version__ = "0.1.0"

__all__ = [
    "ExperimentResult",
    "RelneuronsError",
    "Session",
    "__version__",
    "average_precision",
    "count_neurons",
    "deactivate",
    "is_correct",
    "load_model",
    "split_relation",
]

if TYPE_CHECKING:  # static analysers and IDEs see the real objects
    from .api import ExperimentResult, Session
    from .data import is_correct, split_relation
    from .expertise import average_precision
    from .intervention import deactivate
    from .model import count_neurons, load_model


def __getattr__(name: str):
    # Plain relative imports (not importlib.import_module): one branch per submodule; add new public names here.
    if name in ("ExperimentResult", "Session"):  # the notebook API (relneurons/api.py)
        from . import api as module
    elif name in ("is_correct", "split_relation"):
        from . import data as module
    elif name == "average_precision":
        from . import expertise as module
    elif name == "deactivate":
        from . import intervention as module
    elif name in ("count_neurons", "load_model"):
        from . import model as module
    else:
        raise AttributeError(f"module 'relneurons' has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

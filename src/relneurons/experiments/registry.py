"""Every experiment by name, in the order `relneurons run` and the report use.

Each value is `run(study, **options)`; the options of experiment NAME are the
keys of the configuration section [NAME] (see pipeline/config.py), except for
the core experiments, whose few options live in [experiments].
"""

from __future__ import annotations

from .amplify import amplify
from .concepts import concepts
from .core import CORE
from .frequency import frequency
from .methods import methods
from .multilingual import multilingual
from .neuron_types import types
from .stability import stability
from .templates import templates

EXPERIMENTS = {**CORE}
EXPERIMENTS["multilingual"] = multilingual
EXPERIMENTS["concepts"] = concepts
EXPERIMENTS["templates"] = templates
EXPERIMENTS["types"] = types
EXPERIMENTS["frequency"] = frequency
EXPERIMENTS["amplify"] = amplify
EXPERIMENTS["stability"] = stability
EXPERIMENTS["methods"] = methods

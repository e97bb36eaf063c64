"""`ExperimentSpec`: the one declaration of an experiment, from which everything else that names it is derived.

The configuration schema of its options (pipeline/config.py), the `--opt` checks and the choices and help of
`relneurons experiment` (cli), the run order (pipeline/run.py) and the report's sections and titles
(report/html.py) all read `experiments.registry.SPECS`. Nothing here imports an experiment module: the run
function and the typed summary are dotted paths ("relneurons.experiments.core:intra") resolved on use, so the
command line can list and check experiments without loading torch or pandas.

An experiment's options are a frozen dataclass whose fields are declared with `option(...)`: the field's
default is the one default of that option (presets only override it), its metadata hold the TOML types, a
range check and a help line. The function keywords are the field names; the configuration keys are the same
names, except where `option(key=...)` keeps an older name of the shared [experiments] section (k_sweep).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..expertise.config import IdentifyConfig, k_value  # noqa: F401 - k_value: checks of options and keys


@dataclass(frozen=True)
class Key:
    """One configuration key: its TOML type(s) and an optional check returning an error text or None."""

    types: tuple[type, ...]
    check: Callable[[Any], str | None] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this key ("must be of type int", "must be >= 1"), or None."""
        if not _type_ok(value, self.types):
            return f"must be of type {' or '.join(t.__name__ for t in self.types)}"
        return self.check(value) if self.check else None


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if float in types and isinstance(value, int):
        return True
    if list in types and isinstance(value, tuple):  # Python callers pass tuples where TOML gives lists
        return True
    return isinstance(value, types)


def option(
    default: Any,
    *,
    check: Callable[[Any], str | None] | None = None,
    types: tuple[type, ...] | None = None,
    help: str = "",
) -> Any:  # noqa: A002 - the word users read
    """A field of an options dataclass: `default` (a list default is copied for every instance), the accepted TOML
    types (inferred from the default unless given), `check` (value -> error text or None) and a one-line `help`.
    The field's name is the configuration key and the Python keyword alike."""
    if types is None:
        types = {bool: (bool,), int: (int,), float: (float,), str: (str,), list: (list,), tuple: (list,)}[type(default)]
    meta = {"types": types, "check": check, "help": help}
    if isinstance(default, (list, tuple)):
        frozen = tuple(default)
        return dataclasses.field(default_factory=lambda: list(frozen), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ---------------------------------------------------------------- checks shared by options and configuration keys


def positive(v) -> str | None:
    return None if v >= 1 else "must be >= 1"


def at_least(minimum: int, meaning: str = "") -> Callable[[Any], str | None]:
    """`v >= minimum`, with what the bound means ("0 = all") in the message."""
    extra = f" ({meaning})" if meaning else ""
    return lambda v: None if v >= minimum else f"must be >= {minimum}{extra}"


def force_value(v) -> str | None:
    """What is wrong with a deactivation value, or None: "zero", "median" (of the positives) or a number as text."""
    if v in FORCE_CHOICES:
        return None
    try:
        float(v)
    except (TypeError, ValueError):
        return 'must be "zero", "median" or a number written as a string'
    return None


def choice(*choices) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


def resolve(dotted: str) -> Any:
    """ "package.module:name" -> the object (the import happens here, on use)."""
    module, _, name = dotted.partition(":")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: what the report, the configuration, the CLI and the run know about it."""

    name: str  # folder results/<name>, stage name, configuration section, CLI choice
    title: str  # report heading
    short: str  # report table of contents
    ref: str  # where in the paper ("§4.2.1, Fig. 3"); "" for our own additions
    run: str  # "module:function": run(study, **options), writes results/<name>/
    options: type | None = None  # frozen dataclass of option(...) fields; None: no options
    section: str = ""  # configuration section of the options: "" = [<name>]; "experiments" for the core's shared keys
    summary: str | None = None  # "module:Class" of the typed summary.json, None when it is a plain dict
    report: str = ""  # "module:function" building its report section (template sections/<name>.html.j2); "": generic

    @property
    def config_section(self) -> str:
        return self.section or self.name

    def fields(self) -> tuple[dataclasses.Field, ...]:
        return dataclasses.fields(self.options) if self.options else ()

    def keys(self) -> dict[str, Key]:
        """Option (configuration key and keyword) -> Key, in declaration order."""
        return {f.name: Key(f.metadata["types"], f.metadata["check"]) for f in self.fields()}

    def defaults(self) -> dict[str, Any]:
        """Option -> default value (lists as lists: what TOML gives)."""
        return dataclasses.asdict(self.options()) if self.options else {}

    def help(self) -> dict[str, str]:
        return {f.name: f.metadata["help"] for f in self.fields()}

    def validate(self, options: Mapping[str, Any], source: str = "") -> dict[str, Any]:
        """The options checked, with the defaults of those not given: the keyword options of the run function.

        The one check of an experiment's options, whatever gives them (a configuration section, `--opt`,
        `Session.run`): an unknown key is named with a "did you mean" and the known ones; a bad value with its
        option and what it must be. `source` says where they came from ("--opt", a file) for the message."""
        from ..errors import ConfigError, did_you_mean

        keys = self.keys()
        where = f"{source}: " if source else ""
        for key, value in options.items():
            if key not in keys:
                known = ", ".join(keys) or "none"
                raise ConfigError(
                    f"{where}experiment {self.name} has no option {key!r}{did_you_mean(key, keys)}; its options: {known}"
                )
            problem = keys[key].problem(value)
            if problem:
                raise ConfigError(f"{where}{self.config_section}.{key} = {value!r} {problem}")
        values = {**self.defaults(), **options}
        if self.options:
            self.options(**values)  # the rules between options, in the dataclass's __post_init__
        return values

    def function(self) -> Callable:
        return resolve(self.run)

    def summary_type(self) -> type | None:
        return resolve(self.summary) if self.summary else None

    def summary_problem(self) -> str | None:
        """Why the declared summary type cannot be this experiment's, or None: it must be a dataclass whose
        `experiment` field defaults to this spec's name (read_summary refuses another experiment's summary)."""
        if not self.summary:
            return None
        try:
            cls = self.summary_type()
        except (ImportError, AttributeError) as exc:
            return f"declares the summary {self.summary!r}, which cannot be imported: {exc}"
        declared = {f.name: f.default for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if declared.get("experiment") != self.name:
            return (
                f"declares the summary {self.summary!r}, whose `experiment` field is "
                f"{declared.get('experiment', 'missing')!r}, not {self.name!r}"
            )
        return None


FORCE_CHOICES = ("zero", "median")


@dataclass(frozen=True)
class StudyConfig:
    """The settings every experiment of a study shares; its defaults are those of `relneurons experiment`."""

    k: float = IdentifyConfig.k  # count or fraction of the neuron set: identify's top-k unless a study chooses another
    seeds: int = 10  # random baselines
    n_boot: int = 2000
    max_det: int = 100  # validated P_det prompts evaluated per relation (seeded subsample)
    force: str = "zero"  # zero, median (of the positives), or a number
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        problem = force_value(self.force)
        if problem:
            raise ConfigError(f"option force {problem}, got {self.force!r}")
        for name in ("seeds", "n_boot", "max_det", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"option {name} must be >= 1, got {getattr(self, name)!r}")


class LazyExperiments(Mapping):
    """name -> run function, in registry order; a module is imported when its experiment is first looked up."""

    def __init__(self, specs: tuple[ExperimentSpec, ...]) -> None:
        self._specs = {s.name: s for s in specs}

    def __getitem__(self, name: str) -> Callable:
        return self._specs[name].function()

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

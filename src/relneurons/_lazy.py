"""Packages whose public names are imported on first use (PEP 562 style), so that a light submodule beside heavy ones
(a configuration dataclass, a list of choices) imports without torch or pandas: importing `pkg.sub` runs `pkg`'s
`__init__`, which then only records where each name lives.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Mapping
from importlib import import_module


class LazyPackage(types.ModuleType):
    """A package module that imports `_lazy_where[name]` when `name` is first looked up."""

    _lazy_where: dict[str, str]

    def __getattr__(self, name: str):  # only called when the name is not bound yet
        where = self.__dict__.get("_lazy_where", {})
        if name in where:
            value = getattr(import_module(f"{self.__name__}.{where[name]}"), name)
            self.__dict__[name] = value  # later lookups skip this method
            return value
        if not name.startswith("__"):  # a submodule, as an eagerly importing package would have bound it
            try:
                return import_module(f"{self.__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self.__name__}.{name}":
                    raise
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        # Once a submodule is loaded the import system binds it to its name; where the package exports a function of
        # that same name (activations.collect, expertise.average_precision), the function keeps the name, as it did
        # when the package imported it eagerly.
        where = self.__dict__.get("_lazy_where", {})
        if (
            isinstance(value, types.ModuleType)
            and where.get(name) == name
            and value.__name__ == f"{self.__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self.__dict__.get("_lazy_where", {})})


def lazy_package(name: str, where: Mapping[str, Iterable[str]]) -> list[str]:
    """Make package `name` import each of `where[submodule]`'s names from that submodule on first use.

    Call it from the package's `__init__` as `__all__ = lazy_package(__name__, {...})`.
    """
    package = sys.modules[name]
    package.__class__ = LazyPackage
    package.__dict__["_lazy_where"] = {export: module for module, exports in where.items() for export in exports}
    return sorted(package.__dict__["_lazy_where"])

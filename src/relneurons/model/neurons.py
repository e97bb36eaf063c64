"""Neuron sets as data: which linear maps' output units are the neurons, and global index <-> (layer, module, unit).

Torch-free, so that an activation store, the report and the explorer can read a neuron set (saved in a store's
manifest) without loading a model library; model/sites.py finds the sites in a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import NeuronError


@dataclass(frozen=True)
class Site:
    """One linear map whose output units are neurons."""

    layer: int
    path: str  # full module path, e.g. "model.layers.3.mlp.gate_proj"
    module: str  # path relative to its layer, e.g. "mlp.gate_proj"
    role: str  # one of the roles in NEURON_SETS
    width: int  # number of output units
    offset: int  # global index of unit 0 in the canonical all-sites enumeration


@dataclass(frozen=True)
class NeuronSet:
    """The sites of one neuron set, with the mapping global index <-> (layer, module, unit).

    Columns of activation stores follow this set's order: site by site, unit by unit.
    """

    name: str
    sites: tuple[Site, ...]
    n_all: int  # size of the canonical enumeration (upper bound of global indices)

    def to_json(self) -> dict:
        """Plain description for manifests: rebuilds the set without the model."""
        return {
            "name": self.name,
            "n_all": self.n_all,
            "sites": [[s.layer, s.path, s.module, s.role, s.width, s.offset] for s in self.sites],
        }

    @classmethod
    def from_json(cls, data: dict) -> NeuronSet:
        return cls(data["name"], tuple(Site(*row) for row in data["sites"]), data["n_all"])

    @property
    def size(self) -> int:
        return sum(s.width for s in self.sites)

    @cached_property
    def global_ids(self) -> np.ndarray:
        """Global index of every column, shape [size], int64."""
        if not self.sites:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(s.offset, s.offset + s.width) for s in self.sites])

    @cached_property
    def _site_starts(self) -> np.ndarray:
        return np.array([s.offset for s in self.sites], dtype=np.int64)

    def locate(self, global_ids: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(site position in `sites`, unit within site) for each global id; NeuronError if outside the set."""
        ids = np.asarray(global_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            return ids.copy(), ids.copy()
        pos = np.searchsorted(self._site_starts, ids, side="right") - 1
        widths = np.array([s.width for s in self.sites], dtype=np.int64)
        unit = ids - self._site_starts[np.clip(pos, 0, None)]
        bad = (pos < 0) | (unit >= widths[np.clip(pos, 0, None)])
        if bad.any():
            first = int(ids[bad][0])
            raise NeuronError(
                f"neuron {first} is not in the {self.name!r} neuron set of this model "
                f"(global indices run 0..{self.n_all - 1}; {int(bad.sum())} of {ids.size} ids are outside the set)"
            )
        return pos, unit

    def describe(self, global_ids: np.ndarray | list[int]) -> dict[str, np.ndarray]:
        """Readable names: columns layer, module, unit (arrays aligned with `global_ids`)."""
        pos, unit = self.locate(global_ids)
        return {
            "layer": np.array([self.sites[p].layer for p in pos], dtype=np.int64),
            "module": np.array([self.sites[p].module for p in pos], dtype=object),
            "unit": unit,
        }

    def columns(self, global_ids: np.ndarray | list[int]) -> np.ndarray:
        """Column position (in this set's order) of each global id."""
        pos, unit = self.locate(global_ids)
        col_starts = np.concatenate([[0], np.cumsum([s.width for s in self.sites])[:-1]]).astype(np.int64)
        return col_starts[pos] + unit

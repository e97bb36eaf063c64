"""Setting neurons' outputs: a context manager that validates, counts and always cleans up.

Hooks are global state on the model; the only way to install them here is
`with deactivate(...)`, which removes every handle on exit, exceptions included.
A forward hook on the site's linear map overwrites the chosen output units at
every position of every forward call, so prompt tokens and generated tokens are
edited alike, with or without the KV cache.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from ..errors import NeuronError
from ..model.generation import execution_device
from ..model.sites import NeuronSet, Site, neuron_set


@dataclass(frozen=True)
class InterventionReport:
    """What an intervention touched."""

    n_units: int
    n_sites: int


def as_neuron_ids(neurons, n_all: int) -> np.ndarray:
    """Validate global neuron ids: 1-D integers, in range, no duplicates."""
    ids = np.asarray(neurons.detach().cpu().numpy() if isinstance(neurons, torch.Tensor) else neurons)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise NeuronError(f"neurons must be a 1-D sequence of integer global indices, got dtype {ids.dtype} and shape {ids.shape}")
    ids = ids.astype(np.int64)
    bad = (ids < 0) | (ids >= n_all)
    if bad.any():
        raise NeuronError(f"neuron index {int(ids[bad][0])} is out of range: this model has {n_all} neurons (0..{n_all - 1})")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise NeuronError(f"neuron index {int(unique[counts > 1][0])} is given more than once")
    return ids


def _per_site(nset: NeuronSet, ids: np.ndarray, values: np.ndarray) -> dict[Site, tuple[np.ndarray, np.ndarray]]:
    """Group (unit, value) pairs by site, units sorted."""
    pos, unit = nset.locate(ids)
    grouped: dict[Site, tuple[np.ndarray, np.ndarray]] = {}
    for p in np.unique(pos):
        sel = pos == p
        order = np.argsort(unit[sel], kind="stable")
        grouped[nset.sites[p]] = (unit[sel][order], values[sel][order])
    return grouped


def _setter(units: torch.Tensor, values: torch.Tensor):
    """One edit for every row: overwrite the chosen units in place."""

    def hook(module, args, output):
        output[..., units] = values.to(output.dtype)
        return output

    return hook


def _module(model, site: Site):
    try:
        return model.get_submodule(site.path)
    except AttributeError as exc:
        raise NeuronError(f"site {site.path!r} not found in {type(model).__name__}") from exc


def _device(module) -> torch.device:
    return execution_device(module)  # not the parameters' device: "meta" for a module offloaded by accelerate


def _values(ids: np.ndarray, value) -> np.ndarray:
    vals = np.broadcast_to(np.asarray(value, dtype=np.float64), ids.shape) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)
    if vals.shape != ids.shape:
        raise NeuronError(f"value must be one number or one per neuron: got {vals.shape[0]} values for {ids.size} neurons")
    return vals


@contextmanager
def _hooks(modules_and_hooks) -> Iterator[int]:
    """Register (module, hook) pairs; yield how many; always remove them."""
    handles = []
    try:
        for module, hook in modules_and_hooks:
            handles.append(module.register_forward_hook(hook))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def deactivate(model, neurons, value: float | Sequence[float] | np.ndarray = 0.0) -> Iterator[InterventionReport]:
    """Force the outputs of `neurons` (global indices) to `value` (0 = deactivate) inside the block.

    `value` is one number for all neurons or one per neuron (e.g. each neuron's
    median output on the positives, the "self-conditioning" of Cuadros et al.).
    Yields an InterventionReport with the number of units and sites set.
    """
    everything = neuron_set(model, "all")
    ids = as_neuron_ids(neurons, everything.n_all)
    vals = _values(ids, value)
    pairs = []
    for site, (units, site_values) in _per_site(everything, ids, vals).items():
        module = _module(model, site)
        device = _device(module)
        pairs.append((module, _setter(torch.as_tensor(units, device=device),
                                      torch.as_tensor(site_values, dtype=torch.float32, device=device))))
    with _hooks(pairs) as n_sites:
        yield InterventionReport(n_units=int(ids.size), n_sites=n_sites)


@dataclass(frozen=True)
class Condition:
    """A named intervention: neurons (global indices) forced to value(s); no neurons = the original model."""

    name: str
    neurons: np.ndarray
    value: float | np.ndarray = 0.0


class ConditionBatch:
    """Many conditions in one batch: each row of the batch carries its own condition.

    Per site, a table mask[c, unit] / value[c, unit] holds every condition's
    edit (row 0 = no edit); the hook picks each batch row's line with
    `torch.where`, so the 12x12 inter-relation matrix, random seeds and the k
    sweep run as large mixed batches instead of one generate() per condition.
    """

    def __init__(self) -> None:
        self._rows: torch.Tensor | None = None  # (B,) table line per batch row

    def select(self, condition_per_row: Sequence[int]) -> None:
        """Condition index (into the conditions given to `conditions()`) of each row of the next batches."""
        self._rows = torch.as_tensor(np.asarray(condition_per_row, dtype=np.int64) + 1)

    def hook_for(self, mask: torch.Tensor, values: torch.Tensor):
        def hook(module, args, output):
            if self._rows is None:
                raise RuntimeError("ConditionBatch.select() must be called before running the model")
            rows = self._rows.to(output.device)
            m, v = mask[rows], values[rows].to(output.dtype)  # (B, W)
            if output.ndim == 3:
                m, v = m[:, None, :], v[:, None, :]
            return torch.where(m, v, output)

        return hook


@contextmanager
def conditions(model, conds: Sequence[Condition]) -> Iterator[ConditionBatch]:
    """Install per-row conditions; call `.select(condition index per row)` before each batch."""
    everything = neuron_set(model, "all")
    per_site: dict[Site, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for c, cond in enumerate(conds):
        ids = as_neuron_ids(cond.neurons, everything.n_all)
        for site, (units, vals) in _per_site(everything, ids, _values(ids, cond.value)).items():
            per_site.setdefault(site, []).append((c, units, vals))
    batch = ConditionBatch()
    pairs = []
    for site, edits in per_site.items():
        module = _module(model, site)
        mask = torch.zeros((len(conds) + 1, site.width), dtype=torch.bool)
        values = torch.zeros((len(conds) + 1, site.width), dtype=torch.float32)
        for c, units, vals in edits:
            mask[c + 1, units] = True
            values[c + 1, units] = torch.as_tensor(vals, dtype=torch.float32)
        device = _device(module)
        pairs.append((module, batch.hook_for(mask.to(device), values.to(device))))
    with _hooks(pairs):
        yield batch

"""Setting neurons' outputs: a context manager that validates, counts and always cleans up.

Hooks are global state on the model; the only way to install them here is
`with deactivate(...)`, which removes every handle on exit, exceptions included.
A forward hook on the site's linear map overwrites the chosen output units at
every position of every forward call, so prompt tokens and generated tokens are
edited alike, with or without the KV cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NeuronError
from ..model.generation import execution_device
from ..model.sites import NeuronSet, Site, forward_hooks, neuron_set


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
        raise NeuronError(
            f"neurons must be a 1-D sequence of integer global indices, got dtype {ids.dtype} and shape {ids.shape}"
        )
    ids = ids.astype(np.int64)
    bad = (ids < 0) | (ids >= n_all)
    if bad.any():
        raise NeuronError(
            f"neuron index {int(ids[bad][0])} is out of range: this model has {n_all} neurons (0..{n_all - 1})"
        )
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
    vals = (
        np.broadcast_to(np.asarray(value, dtype=np.float64), ids.shape)
        if np.ndim(value) == 0
        else np.asarray(value, dtype=np.float64)
    )
    if vals.shape != ids.shape:
        raise NeuronError(
            f"value must be one number or one per neuron: got {vals.shape[0]} values for {ids.size} neurons"
        )
    return vals


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
        pairs.append(
            (
                module,
                _setter(
                    torch.as_tensor(units, device=device),
                    torch.as_tensor(site_values, dtype=torch.float32, device=device),
                ),
            )
        )
    with forward_hooks(pairs) as n_sites:
        yield InterventionReport(n_units=int(ids.size), n_sites=n_sites)


@dataclass(frozen=True)
class Condition:
    """A named intervention: neurons (global indices) forced to value(s); no neurons = the original model."""

    name: str
    neurons: np.ndarray
    value: float | np.ndarray = 0.0
    keep_bos: bool = False  # leave the BOS position of the prompt unedited (forcing up: amplify's force_bos = false)


class _SiteTable:
    """One site's edits under every condition, over the union of the units any condition sets there.

    mask[c, j] / values[c, j]: condition c-1 sets unit units[j] to that value (row 0 = no edit). Kept in
    numpy, to plan each batch cheaply, and on the site's device, to apply the plan."""

    def __init__(
        self, n_conditions: int, edits: list[tuple[int, np.ndarray, np.ndarray]], device: torch.device
    ) -> None:
        self.units = np.unique(np.concatenate([units for _, units, _ in edits]))
        self.mask = np.zeros((n_conditions + 1, self.units.size), dtype=bool)
        self.values = np.zeros((n_conditions + 1, self.units.size), dtype=np.float32)
        for c, units, vals in edits:
            columns = np.searchsorted(self.units, units)
            self.mask[c + 1, columns] = True
            self.values[c + 1, columns] = vals
        self.device = device

    def plan(self, rows: np.ndarray):
        """What the hook does for a batch whose row i carries condition line rows[i]: None (no row edits this
        site), ("set", units, values) when every row gets the same edit, else ("where", units, mask, values)."""
        mask, values = self.mask[rows], self.values[rows]  # (B, U)
        used = mask.any(axis=0)
        if not used.any():
            return None
        units, mask, values = self.units[used], mask[:, used], values[:, used]
        if (mask == mask[0]).all() and (values == values[0]).all():
            return "set", *(torch.as_tensor(a, device=self.device) for a in (units[mask[0]], values[0][mask[0]]))
        return "where", *(torch.as_tensor(a, device=self.device) for a in (units, mask, values))


class ConditionBatch:
    """Many conditions in one batch: each row of the batch carries its own condition.

    Rows are sorted by condition before batching (see `generate_pairs`), so most batches carry one
    condition: `select` then plans, per site, the plain in-place setter of `deactivate` (or nothing,
    for the original model or a site the condition does not touch). Only a batch whose rows edit a site
    differently picks each row's edit with `torch.where`, on the columns some row sets (a few units of
    the site's thousands), written back in place. Every plan writes the same values, so the generations
    do not depend on which conditions share a batch.
    """

    def __init__(self, tables: list[_SiteTable], keep_bos: np.ndarray | None = None) -> None:
        self._tables = tables
        self._plans: list | None = None
        self._keep_bos = keep_bos if keep_bos is not None else np.zeros(0, dtype=bool)  # per condition
        self._keep: tuple[torch.Tensor, torch.Tensor] | None = None

    def select(self, condition_per_row: Sequence[int], bos_positions: Sequence[int] | None = None) -> None:
        """Condition index (into the conditions given to `conditions()`) of each row of the next batches, and the
        position of each row's BOS token in the padded prompt (-1: none), used by conditions with `keep_bos`."""
        conds = np.asarray(condition_per_row, dtype=np.int64)
        self._plans = [table.plan(conds + 1) for table in self._tables]
        self._keep = None
        if bos_positions is not None and self._keep_bos.any():
            positions = np.asarray(bos_positions, dtype=np.int64)
            rows = np.flatnonzero(self._keep_bos[conds] & (positions >= 0))
            if rows.size:
                self._keep = (torch.as_tensor(rows), torch.as_tensor(positions[rows]))

    def hook_for(self, site: int):
        def hook(module, args, output):
            if self._plans is None:
                raise RuntimeError("ConditionBatch.select() must be called before running the model")
            plan = self._plans[site]
            if plan is None:
                return None
            # the prompt pass (more than one position) of rows whose BOS is kept: save the BOS outputs, restore after
            keep = self._keep if self._keep is not None and output.ndim == 3 and output.shape[1] > 1 else None
            saved = output[keep[0].to(output.device), keep[1].to(output.device)].clone() if keep is not None else None
            if plan[0] == "set":
                _setter(plan[1], plan[2])(module, args, output)
            else:
                _, units, mask, values = plan
                if mask.shape[0] != output.shape[0]:
                    raise RuntimeError(
                        f"ConditionBatch: {mask.shape[0]} rows selected for a batch of {output.shape[0]}"
                    )
                shape = (mask.shape[0],) + (1,) * (output.ndim - 2) + (mask.shape[1],)
                output[..., units] = torch.where(
                    mask.view(shape), values.to(output.dtype).view(shape), output[..., units]
                )
            if keep is not None:
                output[keep[0].to(output.device), keep[1].to(output.device)] = saved
            return output

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
    modules = [_module(model, site) for site in per_site]
    batch = ConditionBatch(
        [_SiteTable(len(conds), edits, _device(module)) for module, edits in zip(modules, per_site.values())],
        keep_bos=np.array([c.keep_bos for c in conds], dtype=bool),
    )
    with forward_hooks([(module, batch.hook_for(i)) for i, module in enumerate(modules)]):
        yield batch

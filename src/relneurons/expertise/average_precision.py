"""Average precision (AP) of neuron output values, vectorised over neurons (paper §2.2).

A neuron's expertise for a relation is the AP of its output values (scores)
against labels (positive = prompt of the relation, negative = prompt of another
relation). The value is exactly scikit-learn's
``sklearn.metrics.average_precision_score(labels, scores[:, j])``:

    AP = sum_k (R_k - R_{k-1}) * P_k          (sklearn's step-function integral)
       = (1 / n_pos) * sum_{i positive} precision(end of i's tie group)

where, sorting the scores in descending order, the precision of example i is

    precision(i) = #{positives with score >= s_i} / #{examples with score >= s_i}.

Tie rule (the one sklearn uses): examples with equal scores form one threshold,
so every example of a tie group gets the precision at the *end* of its group.
Equality is IEEE equality: ``-0.0 == 0.0`` is one group, ``+inf`` ties with
``+inf``. (sklearn refuses infinite scores; here they are ordinary values at the
ends of the order, and the result equals sklearn's on any order-preserving
finite relabelling of the scores.) NaN scores are an error.

Many relations over one pool
----------------------------
In the pipeline every relation's examples are a subset of one pool of prompts
(its positives plus negatives drawn from the other relations). Restricting the
pool's descending order to a subset gives the subset's order, and the pool's tie
groups restricted to the subset are the subset's tie groups. So each neuron
column is sorted ONCE and every relation costs only linear passes. Per chunk of
neurons:

1. sort (relation independent): one float64 sort of keys that carry the row
   number in their low mantissa bits gives the order; tie groups are runs of
   equal scores; every row gets the sorted position of its group's end;
2. counts (all relations at once): each relation's (#positives, #members)
   counters are bit fields of int64 words, so gathering a small per-row table
   in sorted order and one cumulative sum per word counts every relation
   exactly (integers, no carries);
3. read-out: per positive example, its relation's two counters at its group
   end, divided in float64 and averaged per relation (a plain row sum, so the
   result does not depend on the chunk size).

Design notes (all measured on the 2-core development CPU, 6,000-prompt pool).
Sorting a neuron's column: ``numpy.sort`` of the float64 keys ~30-36 us,
``numpy.argsort`` of float32 ~82 us, ``torch.sort`` ~280 us, batched
``torch.searchsorted`` ~335 us; everything else of a chunk costs ~170 us per
neuron, so with torch.sort the sort would dominate. On CPU tensors the single
sort call therefore goes through numpy (in place, on the same memory); on other
devices it is ``torch.sort``; everything else is one torch code path. Every choice
that depends on the device (the sort, the chunk size, worker threads) asks one
predicate, `_cpu_engine`, so tests run the accelerator branch on CPU tensors by
patching it. float64 keys are used
for float32 data (a float32 has no spare bits for the row number; 16-bit data
would fit float32 keys, but the pipeline's activations are float32 means).
On CPU, chunks are spread over ``torch.get_num_threads()`` worker threads that
run torch single-threaded: torch's own intra-op threads stalled 10-100x on the
shared machine whenever another process held a core.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from relneurons.errors import InputError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "average_precision",
    "average_precision_subsets",
    "working_set_bytes",
]

#: Default budget for the working tensors of one chunk of neurons (bytes).
DEFAULT_CHUNK_BYTES = 256 * 2**20

#: Bits usable in one int64 counter word (the sign bit is left clear).
_WORD_BITS = 63

#: Bytes of working tensors per (neuron, pool row) besides the counter words,
#: and per (neuron, positive entry): five int64/float64 buffers, one of them the
#: entries' group ends when a row is positive in two subsets.
_BYTES_PER_CELL = 64
_BYTES_PER_ENTRY = 40

#: Extra bytes per cell off the CPU branch: torch.sort returns new values and
#: indices (16 B, measured with the branch forced on CPU tensors) and the CUDA
#: sort keeps scratch buffers of about that size again (an allowance; the CUDA
#: test in tests/expertise/test_average_precision.py measures the peak).
_SORT_BYTES_PER_CELL = 32

#: CPU chunks hold about this many (neuron, pool row) cells: larger chunks were
#: measured slower (cache), smaller ones pay more per-operation overhead
#: (flat optimum at 16-32 neurons for a 6,000-prompt pool).
_CPU_CHUNK_CELLS = 2**17


# --------------------------------------------------------------------------- API


def average_precision(
    scores,
    labels,
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """AP of every neuron's scores against one set of labels.

    Args:
        scores: ``[n_examples, n_neurons]`` torch tensor (any device) or numpy
            array, any float dtype (float16, bfloat16, float32, float64).
        labels: ``[n_examples]`` bool or 0/1 values (tensor or array).
        chunk_size: neurons processed at once (default: bounded by
            `DEFAULT_CHUNK_BYTES`).
        device: where to compute (default: the device of `scores`).

    Returns:
        ``[n_neurons]`` float64 numpy array; entry j equals
        ``sklearn.metrics.average_precision_score(labels, scores[:, j])``
        (ties handled as sklearn does: precision at the end of the tie group).
        All-positive labels give 1.0.

    Raises:
        InputError: wrong shapes, labels other than 0/1, no positive label,
            NaN scores.
    """
    values = _as_scores(scores)
    positive = _as_labels(labels, "labels", values.shape[0])
    if not positive.any():
        raise InputError("labels has no positive example: AP is undefined")
    members = np.arange(values.shape[0], dtype=np.int64)
    result = _subsets_ap(values, [(members, positive)], chunk_size, device)
    return result[0]


def average_precision_subsets(
    scores,
    subsets: Sequence[tuple],
    *,
    chunk_size: int | None = None,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """AP of every neuron for many subsets (relations) of one pool of examples.

    Each column is sorted once over the pool and the order is reused for every
    subset, so a subset costs linear passes instead of a sort.

    Args:
        scores: ``[n_pool, n_neurons]`` tensor or array, any float dtype.
        subsets: sequence of ``(members, positive)`` pairs: ``members`` is a
            ``[n_r]`` integer index array into the pool rows (no duplicates),
            ``positive`` a ``[n_r]`` bool (or 0/1) array, the labels of those
            rows for this subset.
        chunk_size: neurons processed at once (default: working tensors bounded
            by about `DEFAULT_CHUNK_BYTES`).
        device: where to compute (default: the device of `scores`).

    Returns:
        ``[n_subsets, n_neurons]`` float64 numpy array; row r equals
        ``average_precision(scores[members_r], positive_r)``.

    Raises:
        InputError: malformed subsets (bad indices, duplicates, length
            mismatch, no positive), wrong shapes, NaN scores.
    """
    values = _as_scores(scores)
    checked = _as_subsets(subsets, values.shape[0])
    return _subsets_ap(values, checked, chunk_size, device)


def working_set_bytes(subsets: Sequence[tuple], n_pool: int, *, device: str | torch.device = "cpu") -> int:
    """Bytes of working tensors `average_precision_subsets` holds at once, whatever the number of neurons.

    The relation plan plus, per worker (threads on CPU, one elsewhere), one
    chunk of neurons at the per-cell estimates used to size the chunks. The
    scores and the ``[n_subsets, n_neurons]`` result are the caller's to count.
    """
    device = torch.device(device)
    checked = _as_subsets(subsets, n_pool)
    if not checked:
        return 0
    plan = _make_plan(checked, n_pool, torch.device("cpu"))
    n_entries = plan.shift_m.numel()
    workers = torch.get_num_threads() if _cpu_engine(device) else 1
    plan_bytes = 8 * (plan.table.numel() + plan.internal.numel() + 4 * n_entries)
    return plan_bytes + workers * _chunk_neurons(None, n_pool, plan, device) * _neuron_bytes(n_pool, plan, device)


# ------------------------------------------------------------------ validation


def _as_scores(scores) -> torch.Tensor:
    """`scores` as a 2-D torch tensor (numpy is wrapped without a copy)."""
    if isinstance(scores, torch.Tensor):
        tensor = scores
    else:
        array = np.asarray(scores)
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        with warnings.catch_warnings():  # read-only arrays (memmaps): never written to here
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.as_tensor(array)
    if tensor.ndim != 2:
        raise InputError(f"scores must be 2-D [n_examples, n_neurons], got shape {tuple(tensor.shape)}")
    if tensor.is_complex():
        raise InputError(f"scores must hold real numbers, got dtype {tensor.dtype}")
    if not tensor.is_floating_point():  # bool / integer scores
        tensor = tensor.to(torch.float64)
    return tensor


def _to_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        if values.dtype == torch.bfloat16:
            values = values.float()
        return values.numpy()
    return np.asarray(values)


def _as_labels(labels, name: str, length: int) -> np.ndarray:
    """`labels` as a 1-D bool numpy array of `length`; only 0/1 values accepted."""
    array = _to_numpy(labels)
    if array.ndim != 1:
        raise InputError(f"{name} must be 1-D, got shape {array.shape}")
    if array.shape[0] != length:
        raise InputError(f"{name} has {array.shape[0]} entries but {length} were expected (one per example / member)")
    if array.dtype == np.bool_:
        return array
    if not (np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise InputError(f"{name} must be bool or 0/1, got dtype {array.dtype}")
    bad = (array != 0) & (array != 1)
    if bad.any():
        raise InputError(f"{name} must contain only 0/1 (or bool) values; found {array[bad][0].item()!r}")
    return array == 1


def _as_subsets(subsets, n_pool: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validated ``(members int64, positive bool)`` pairs."""
    if isinstance(subsets, (str, bytes)) or not isinstance(subsets, Sequence):
        raise InputError("subsets must be a sequence of (members, positive) pairs")
    checked = []
    for i, pair in enumerate(subsets):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"subsets[{i}] must be a (members, positive) pair")
        members = _to_numpy(pair[0])
        if members.ndim != 1 or not (np.issubdtype(members.dtype, np.integer) or members.size == 0):
            raise InputError(
                f"subsets[{i}] members must be a 1-D integer index array,"
                f" got shape {members.shape} dtype {members.dtype}"
            )
        members = members.astype(np.int64, copy=False)
        if members.size and (members.min() < 0 or members.max() >= n_pool):
            raise InputError(f"subsets[{i}] members must index the {n_pool} pool rows (0..{n_pool - 1})")
        if np.unique(members).size != members.size:
            raise InputError(f"subsets[{i}] members contain duplicate rows")
        positive = _as_labels(pair[1], f"subsets[{i}] positive", members.size)
        if not positive.any():
            raise InputError(f"subsets[{i}] has no positive example: AP is undefined")
        checked.append((members, positive))
    return checked


# ------------------------------------------------------------------ plan


@dataclass(frozen=True)
class _Plan:
    """Relation-side tensors, built once: packed counters and their read-out.

    Each subset gets two counters (#positives, #members), bit fields of an
    int64 word; ``table[k, i]`` holds, for word k, the sum of the fields that
    internal row i adds (``1 << shift_m`` per subset it is a member of,
    ``1 << shift_p`` per subset it is a positive of). A cumulative sum of a
    table row in sorted order gives all counters of that word at once, without
    carries (each field is wide enough for its total).

    Entry e is one (subset, positive row) pair. Entries are ordered by word,
    then subset, so ``word_bounds[k]`` and ``subset_bounds[r]`` are slices.
    Rows are renumbered (``internal[pool_row]``) so that entry rows come first:
    when no row is positive in two subsets, entry e is internal row e and
    ``rows`` is None.
    """

    internal: torch.Tensor  # [N] int64, internal number of each pool row
    table: torch.Tensor  # [K, N] int64, by internal row
    rows: torch.Tensor | None  # [E] internal row of entry e; None: row e
    shift_m: torch.Tensor  # [E] int64
    mask_m: torch.Tensor  # [E] int64
    shift_p: torch.Tensor  # [E] int64
    mask_p: torch.Tensor  # [E] int64
    word_bounds: tuple[tuple[int, int], ...]  # [K] entry slices
    subset_bounds: tuple[tuple[int, int], ...]  # [R] entry slices, in subset order
    n_pos: torch.Tensor  # [R] float64


def _make_plan(subsets: list[tuple[np.ndarray, np.ndarray]], n_pool: int, device: torch.device) -> _Plan:
    """Pack each subset's two counters into int64 words and lay out the entries."""
    entry_rows = [members[positive] for members, positive in subsets]
    fields = _assign_fields([(m.size, rows.size) for (m, _), rows in zip(subsets, entry_rows)])
    by_word = sorted(range(len(subsets)), key=lambda r: fields[r][0])
    flat_rows = np.concatenate([entry_rows[r] for r in by_word])
    internal = _internal_rows(flat_rows, n_pool)
    n_words = 1 + max(word for word, _, _ in fields)
    table = np.zeros((n_words, n_pool), dtype=np.int64)
    shift_m, mask_m, shift_p, mask_p = [], [], [], []
    subset_bounds: list[tuple[int, int]] = [(0, 0)] * len(subsets)
    start = 0
    for r in by_word:
        (members, _), rows = subsets[r], entry_rows[r]
        k, base, bits_m = fields[r]
        table[k, internal[members]] += np.int64(1) << base
        table[k, internal[rows]] += np.int64(1) << (base + bits_m)
        subset_bounds[r] = (start, start + rows.size)
        start += rows.size
        shift_m.append(np.full(rows.size, base))
        mask_m.append(np.full(rows.size, (1 << bits_m) - 1))
        shift_p.append(np.full(rows.size, base + bits_m))
        mask_p.append(np.full(rows.size, (1 << rows.size.bit_length()) - 1))
    rows = internal[flat_rows]
    word_bounds = []
    for k in range(n_words):
        spans = [subset_bounds[r] for r in by_word if fields[r][0] == k]
        word_bounds.append((spans[0][0], spans[-1][1]))

    def tensor(array):
        return torch.as_tensor(np.asarray(array, dtype=np.int64), device=device)

    return _Plan(
        internal=tensor(internal),
        table=tensor(table),
        rows=None if np.array_equal(rows, np.arange(rows.size)) else tensor(rows),
        shift_m=tensor(np.concatenate(shift_m)),
        mask_m=tensor(np.concatenate(mask_m)),
        shift_p=tensor(np.concatenate(shift_p)),
        mask_p=tensor(np.concatenate(mask_p)),
        word_bounds=tuple(word_bounds),
        subset_bounds=tuple(subset_bounds),
        n_pos=torch.tensor([float(rows.size) for rows in entry_rows], device=device),
    )


def _assign_fields(sizes: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """First-fit packing: per subset ``(word, shift of #members, bits of #members)``.

    A subset with n members and p positives needs ``n.bit_length()`` bits for
    #members (low field) and ``p.bit_length()`` for #positives (just above).
    """
    free: list[int] = []
    fields = []
    for n_members, n_positive in sizes:
        need = n_members.bit_length() + n_positive.bit_length()
        word = next((k for k, bits in enumerate(free) if bits >= need), None)
        if word is None:
            word = len(free)
            free.append(_WORD_BITS)
        fields.append((word, _WORD_BITS - free[word], n_members.bit_length()))
        free[word] -= need
    return fields


def _internal_rows(entry_rows: np.ndarray, n_pool: int) -> np.ndarray:
    """``internal[pool_row]``: distinct entry rows first (in entry order), then the rest."""
    first = np.unique(entry_rows, return_index=True)[1]
    leading = entry_rows[np.sort(first)]
    rest = np.setdiff1d(np.arange(n_pool), leading, assume_unique=True)
    internal = np.empty(n_pool, dtype=np.int64)
    internal[np.concatenate([leading, rest])] = np.arange(n_pool)
    return internal


class _Workspace:
    """Named buffers reused from chunk to chunk: no fresh pages per operation
    (allocating ~1 MB tensors per step was measurably slower on CPU)."""

    def __init__(self, device: torch.device):
        self.device = device
        self._flat: dict[str, torch.Tensor] = {}
        self._arange = torch.arange(0, device=device)

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        numel = math.prod(shape)
        flat = self._flat.get(name)
        if flat is None or flat.dtype != dtype or flat.numel() < numel:
            flat = torch.empty(numel, dtype=dtype, device=self.device)
            self._flat[name] = flat
        return flat[:numel].view(shape)

    def arange(self, n: int) -> torch.Tensor:
        """0..n-1 (int64), kept for reuse."""
        if self._arange.numel() < n:
            self._arange = torch.arange(n, device=self.device)
        return self._arange[:n]


# ------------------------------------------------------------------ core


def _subsets_ap(
    scores: torch.Tensor,
    subsets: list[tuple[np.ndarray, np.ndarray]],
    chunk_size: int | None,
    device,
) -> np.ndarray:
    """[n_subsets, n_neurons] AP, looping over chunks of neurons."""
    n_pool, n_neurons = scores.shape
    if n_pool > 2**_FREE_BITS:
        raise InputError(f"scores has {n_pool} rows; at most 2**{_FREE_BITS} are supported")
    device = torch.device(device) if device is not None else scores.device
    result = np.zeros((len(subsets), n_neurons), dtype=np.float64)
    if not subsets or n_neurons == 0:
        return result
    plan = _make_plan(subsets, n_pool, device)
    step = _chunk_neurons(chunk_size, n_pool, plan, device)
    if chunk_size is None and _cpu_engine(device):
        # a narrow input (one block of a memory-capped run): one chunk per worker
        step = min(step, -(-n_neurons // torch.get_num_threads()))
    starts = range(0, n_neurons, step)
    scores = scores.detach()
    local = threading.local()

    def run(start: int) -> None:
        if not hasattr(local, "workspace"):
            local.workspace = _Workspace(device)
        stop = min(start + step, n_neurons)
        columns = scores[:, start:stop]
        exact = _float32_exact(columns)
        # Row-wise copy (as float64), read later through its transposed view:
        # measured ~4x faster on CPU than reading the strided columns directly.
        block = local.workspace.get("block", (n_pool, stop - start), torch.float64)
        block.copy_(columns)
        ap = _chunk_ap(block.t(), exact, plan, local.workspace, start)
        result[:, start:stop] = ap.T.cpu().numpy()

    cpu = _cpu_engine(device)
    workers = min(torch.get_num_threads(), len(starts)) if cpu else 1
    if workers <= 1:
        # single-threaded torch on CPU too: its intra-op threads stall on a shared machine (see below)
        with _torch_threads(1) if cpu else contextlib.nullcontext():
            for start in starts:
                run(start)
        return result
    # CPU: chunks go to `workers` threads, each running torch single-threaded.
    # Measured on the shared 2-core development machine: torch's own
    # intra-op threads stalled 10-100x whenever another process held a core,
    # while independent chunk workers degrade gracefully and use both cores
    # when they are free.
    with _torch_threads(1), ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, start) for start in starts]:
            future.result()  # re-raises the first failing chunk's error, in order
    return result


@contextmanager
def _torch_threads(count: int):
    """Set torch's intra-op thread count for the block (threads started inside inherit it)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _chunk_neurons(chunk_size: int | None, n_pool: int, plan: _Plan, device) -> int:
    """Neurons per chunk: `chunk_size`, or what fits `DEFAULT_CHUNK_BYTES`."""
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        return int(chunk_size)
    step = DEFAULT_CHUNK_BYTES // _neuron_bytes(n_pool, plan, device)
    if _cpu_engine(device):
        step = min(step, _CPU_CHUNK_CELLS // n_pool)
    return max(1, step)


def _neuron_bytes(n_pool: int, plan: _Plan, device) -> int:
    """Working-tensor bytes one neuron of a chunk costs (the estimate chunks are sized by)."""
    cell = _BYTES_PER_CELL + 8 * plan.table.shape[0] + (0 if _cpu_engine(device) else _SORT_BYTES_PER_CELL)
    return n_pool * cell + plan.shift_m.numel() * _BYTES_PER_ENTRY


def _chunk_ap(chunk: torch.Tensor, exact: bool, plan: _Plan, workspace: _Workspace, first_column: int) -> torch.Tensor:
    """``[C, R]`` AP of a ``[C, N]`` float64 chunk of scores for every subset of `plan`.

    `exact`: every score is exactly a float32 value (see `_sort_descending`).
    """
    order, is_start = _sort_descending(chunk, exact, plan, workspace, first_column)
    group_end = _group_end_of_rows(order, is_start, workspace)
    precision = _entry_precision(order, group_end, plan, workspace)
    # Per-subset row sums (not a matmul): the result must not depend on C.
    sums = [precision[:, start:stop].sum(dim=1) for start, stop in plan.subset_bounds]
    return torch.stack(sums, dim=1) / plan.n_pos


#: Low mantissa bits of a float64 made from a float32 that are always zero.
_FREE_BITS = 29

#: Where +-inf go in the float64 keys: above every finite float32, below inf.
_INF_STAND_IN = 2.0**128


def _sort_descending(
    chunk: torch.Tensor, exact: bool, plan: _Plan, workspace: _Workspace, first_column: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort a ``[C, N]`` float64 chunk of scores per row, descending.

    Returns ``order`` [C, N] int64 (internal row at each sorted position) and
    ``is_start`` [C*N + 1] bool: ``is_start[c*N + i]`` is True when sorted
    position i of row c starts a tie group (the extra last element is True).

    Fast path (values float32 holds exactly: float16, bfloat16, float32 and
    such float64): key = float64(0.0 - value) with the internal row number
    written into the 29 low mantissa bits, which are zero for a float32. The
    keys are distinct, so one value sort of them yields the permutation;
    distinct scores keep their order and equal scores (including -0.0 and 0.0:
    0.0 - x canonicalises zeros) share the bits above the row number. Other
    float64 data is argsorted directly.
    """
    n_chunk, n_pool = chunk.shape
    if exact:
        keys = _float_keys(chunk, plan, workspace, clamp_infinities=False)
        if _has_nan_end(keys):
            # +-inf with row bits became NaN: redo with +-inf -> -+2**128, then
            # any NaN left was in the data.
            keys = _float_keys(chunk, plan, workspace, clamp_infinities=True)
            if _has_nan_end(keys):
                _raise_on_nan(keys, first_column)
        bits = keys.view(torch.int64)
        order = workspace.get("order", (n_chunk, n_pool), torch.int64)
        torch.bitwise_and(bits, 2**_FREE_BITS - 1, out=order)
        code = bits.bitwise_right_shift_(_FREE_BITS)  # the keys are not needed any more
    else:
        values = chunk.contiguous()
        pool_order = _argsort_rows_descending(values)
        code = torch.gather(values, 1, pool_order)
        _raise_on_nan(code, first_column)
        order = plan.internal[pool_order].contiguous()
    is_start = workspace.get("is_start", (n_chunk * n_pool + 1,), torch.bool)
    starts = is_start[:-1].view(n_chunk, n_pool)
    starts[:, 0] = True
    is_start[-1] = True
    torch.ne(code[:, 1:], code[:, :-1], out=starts[:, 1:])
    return order, is_start


def _float_keys(chunk: torch.Tensor, plan: _Plan, workspace: _Workspace, clamp_infinities: bool) -> torch.Tensor:
    """Sorted ``[C, N]`` float64 keys ``(0.0 - value) | internal row`` (see `_sort_descending`).

    +-inf would turn into NaN once the row bits are set; with
    `clamp_infinities` they first become -+2**128, beyond every float32 and
    still finite with the row bits set.
    """
    keys = workspace.get("keys", tuple(chunk.shape), torch.float64)
    zero = torch.zeros((), dtype=chunk.dtype, device=chunk.device)
    torch.sub(zero, chunk, out=keys)
    if clamp_infinities:
        keys.clamp_(-_INF_STAND_IN, _INF_STAND_IN)  # NaN stays NaN
    keys.view(torch.int64).bitwise_or_(plan.internal)
    return _sort_rows(keys)


def _float32_exact(columns: torch.Tensor) -> bool:
    """True when every value of `columns` is exactly a float32 value."""
    if columns.dtype in (torch.float16, torch.bfloat16, torch.float32):
        return True
    return bool(torch.equal(columns.to(torch.float32).to(columns.dtype), columns))


def _has_nan_end(keys: torch.Tensor) -> bool:
    """Whether a row of ascending-sorted `keys` holds NaN, read at both ends of the rows.

    numpy puts every NaN last; ``torch.sort`` on CUDA can put NaNs with the sign
    bit set first (and +inf data becomes such a NaN once the row bits are set).
    """
    return bool(torch.isnan(keys[:, 0]).any() or torch.isnan(keys[:, -1]).any())


def _raise_on_nan(values: torch.Tensor, first_column: int) -> None:
    """InputError naming the first column (row of `values`) with a NaN."""
    nan_rows = torch.isnan(values).any(dim=1)
    if bool(nan_rows.any()):
        column = first_column + int(nan_rows.nonzero()[0, 0])
        raise InputError(f"scores column {column} contains NaN: AP is undefined")


def _cpu_engine(device: torch.device) -> bool:
    """The CPU branch: numpy sorts (measured ~8x faster than torch.sort there), chunks of
    `_CPU_CHUNK_CELLS` spread over worker threads. Elsewhere: torch.sort, one chunk at a
    time within `DEFAULT_CHUNK_BYTES`. (Tests patch this to run the other branch on CPU.)"""
    return torch.device(device).type == "cpu"


def _sort_rows(keys: torch.Tensor) -> torch.Tensor:
    """Rows of float64 `keys` sorted ascending: numpy in place (NaN last), or torch.sort (see `_has_nan_end`)."""
    if _cpu_engine(keys.device):
        keys.numpy().sort(axis=1)
        return keys
    return torch.sort(keys, dim=1).values


def _argsort_rows_descending(values: torch.Tensor) -> torch.Tensor:
    """Row-wise argsort, descending (float64 fallback; numpy on CPU as in `_sort_rows`)."""
    if _cpu_engine(values.device):
        return torch.from_numpy(np.argsort(np.negative(values.numpy()), axis=1))
    return torch.argsort(values, dim=1, descending=True)


def _group_end_of_rows(order: torch.Tensor, is_start: torch.Tensor, workspace: _Workspace) -> torch.Tensor:
    """``[C, N]``: for internal row j of chunk row c, ``1 + c*N + p`` where p is the
    sorted position (in row c) of the end of j's tie group.

    Tie groups are numbered 1, 2, ... over the flattened sorted chunk (each row
    starts a group, so groups never span rows); the cumulative group sizes are
    one past each group's flat end. (The +1 matches the leading 0 of the
    counts buffer in `_entry_precision`.)
    """
    n_chunk, n_pool = order.shape
    size = n_chunk * n_pool
    if int(torch.count_nonzero(is_start)) == size + 1:  # no ties: one group per element
        past_end = workspace.arange(size + 1)[1:].view(n_chunk, n_pool)
    else:
        # int32 ids: measured ~2x faster cumsum/bincount than int64
        id_type = torch.int32 if size < 2**31 - 1 else torch.int64
        group = workspace.get("group", (size,), id_type)
        torch.cumsum(is_start[:-1], 0, dtype=id_type, out=group)
        group_past_end = torch.bincount(group).cumsum_(0)
        past_end = workspace.get("past_end", (n_chunk, n_pool), torch.int64)
        torch.index_select(group_past_end, 0, group, out=past_end.view(-1))
    group_end = workspace.get("group_end", (n_chunk, n_pool), torch.int64)
    return group_end.scatter_(1, order, past_end)


def _entry_precision(order: torch.Tensor, group_end: torch.Tensor, plan: _Plan, workspace: _Workspace) -> torch.Tensor:
    """``[C, E]`` float64: #positives / #members with score >= the entry's score.

    Gather each word's table in sorted order and cumulate it along each row
    (exact int64 counts of every subset), read each entry's word at the
    tie-group end of its row and unpack the entry's two fields. Few, large
    operations: per-operation overhead dominates small chunks on CPU.
    """
    n_chunk, n_pool = order.shape
    n_words, n_entries = plan.table.shape[0], plan.shift_m.numel()
    size = n_chunk * n_pool
    # Word k's counts are counts[1 + k*size : 1 + (k+1)*size]; `group_end` is
    # 1-based, so word k is read through the window counts[k*size :].
    counts = workspace.get("counts", (1 + n_words * size,), torch.int64)
    for k in range(n_words):
        torch.index_select(plan.table[k], 0, order.view(-1), out=counts[1 + k * size : 1 + (k + 1) * size])
    counts[1:].view(n_words, n_chunk, n_pool).cumsum_(dim=2)
    ends = group_end if plan.rows is None else group_end.index_select(1, plan.rows)
    packed = workspace.get("packed", (n_chunk, n_entries), torch.int64)
    for k, (start, stop) in enumerate(plan.word_bounds):
        window = counts[k * size : 1 + (k + 1) * size].view(1, -1).expand(n_chunk, -1)
        torch.gather(window, 1, ends[:, start:stop], out=packed[:, start:stop])
    n_members = workspace.get("n_members", (n_chunk, n_entries), torch.int64)
    torch.bitwise_right_shift(packed, plan.shift_m, out=n_members).bitwise_and_(plan.mask_m)
    n_positive = packed.bitwise_right_shift_(plan.shift_p).bitwise_and_(plan.mask_p)
    # Explicit float64 copies into reused buffers: div_ by an int64 tensor
    # converts it into a fresh temporary (measured ~3x the cost of this copy).
    members = workspace.get("members", (n_chunk, n_entries), torch.float64).copy_(n_members)
    precision = workspace.get("precision", (n_chunk, n_entries), torch.float64)
    return precision.copy_(n_positive).div_(members)

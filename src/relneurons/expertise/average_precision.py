"""Average precision (AP) of neuron output values, vectorised over neurons (SPEC §3).

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
column is sorted ONCE and every relation costs only linear passes:

1. per chunk of neurons (relation independent): sort each column, find for every
   pool row the position of the end of its tie group (``group_end``);
2. for all relations together: gather a packed table of per-row membership
   counters in sorted order and take one cumulative sum; the counters of a
   relation (#positives, #members) are bit fields of an int64 word, so several
   relations share one pass and the counts stay exact integers;
3. per positive example: read its relation's two counters at its ``group_end``,
   divide in float64, and average per relation.

Design note (CPU sort). Measured on the 2-core development CPU at N = 6,000
rows: ``numpy.sort`` of packed int64 (value, row) keys 52 us/neuron,
``numpy.argsort`` of float32 82 us, ``torch.sort`` of float32 284 us, batched
``torch.searchsorted`` 335 us. The sort dominates on CPU, so on CPU tensors the
(single) sort call goes through numpy (SIMD sort); on other devices it is
``torch.sort``. Everything else is one torch code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from relneurons.errors import InputError

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "average_precision",
    "average_precision_subsets",
]

#: Default budget for the working tensors of one chunk of neurons (bytes).
DEFAULT_CHUNK_BYTES = 256 * 2**20

#: Bits usable in one int64 counter word (the sign bit is left clear).
_WORD_BITS = 63

#: Rough bytes of working tensors per (neuron, pool row) besides the counters.
_BYTES_PER_CELL = 96

#: Chunks above this many neurons are no faster on CPU (cache); memory allows more.
_MAX_CPU_CHUNK = 256


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


# ------------------------------------------------------------------ validation


def _as_scores(scores) -> torch.Tensor:
    """`scores` as a 2-D torch tensor (numpy is wrapped without a copy)."""
    if isinstance(scores, torch.Tensor):
        tensor = scores
    else:
        array = np.asarray(scores)
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        tensor = torch.as_tensor(array)
    if tensor.ndim != 2:
        raise InputError(
            f"scores must be 2-D [n_examples, n_neurons], got shape {tuple(tensor.shape)}"
        )
    if tensor.is_complex():
        raise InputError(f"scores must hold real numbers, got dtype {tensor.dtype}")
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
        raise InputError(
            f"{name} has {array.shape[0]} entries but {length} were expected"
            " (one per example / member)"
        )
    if array.dtype == np.bool_:
        return array
    if not (np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise InputError(f"{name} must be bool or 0/1, got dtype {array.dtype}")
    bad = (array != 0) & (array != 1)
    if bad.any():
        raise InputError(
            f"{name} must contain only 0/1 (or bool) values; found {array[bad][0]!r}"
        )
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
        if members.ndim != 1 or not (
            np.issubdtype(members.dtype, np.integer) or members.size == 0
        ):
            raise InputError(
                f"subsets[{i}] members must be a 1-D integer index array,"
                f" got shape {members.shape} dtype {members.dtype}"
            )
        members = members.astype(np.int64, copy=False)
        if members.size and (members.min() < 0 or members.max() >= n_pool):
            raise InputError(
                f"subsets[{i}] members must index the {n_pool} pool rows (0..{n_pool - 1})"
            )
        if np.unique(members).size != members.size:
            raise InputError(f"subsets[{i}] members contain duplicate rows")
        positive = _as_labels(pair[1], f"subsets[{i}] positive", members.size)
        if not positive.any():
            raise InputError(f"subsets[{i}] has no positive example: AP is undefined")
        checked.append((members, positive))
    return checked


# ------------------------------------------------------------------ counters


@dataclass(frozen=True)
class _Plan:
    """Relation-side tensors, built once: packed counters and their read-out.

    ``table[k, row]`` holds, for word k, the sum of the bit fields that pool
    row `row` adds: ``1 << shift_m`` for each subset it is a member of and
    ``1 << shift_p`` for each subset it is a positive of. A cumulative sum of
    the table in sorted order gives every subset's (#positives, #members)
    counts at once, without carries (each field is wide enough for its total).
    Entry e is one (subset, positive row) pair.
    """

    table: torch.Tensor  # [K, n_pool] int64
    rows: torch.Tensor  # [E] int64, pool row of entry e
    word: torch.Tensor  # [E] int64
    shift_p: torch.Tensor  # [E] int64
    mask_p: torch.Tensor  # [E] int64
    shift_m: torch.Tensor  # [E] int64
    mask_m: torch.Tensor  # [E] int64
    segments: torch.Tensor  # [E, R] float64, 1.0 where entry e belongs to subset r
    n_pos: torch.Tensor  # [R] float64


def _make_plan(
    subsets: list[tuple[np.ndarray, np.ndarray]], n_pool: int, device: torch.device
) -> _Plan:
    """Pack each subset's two counters into int64 words (first fit)."""
    free_bits: list[int] = []
    table_cols: list[np.ndarray] = []
    rows, word, shift_p, mask_p, shift_m, mask_m, seg = [], [], [], [], [], [], []
    for r, (members, positive) in enumerate(subsets):
        n_pos = int(positive.sum())
        bits_m, bits_p = members.size.bit_length(), n_pos.bit_length()
        k = next((k for k, free in enumerate(free_bits) if free >= bits_m + bits_p), None)
        if k is None:
            k = len(free_bits)
            free_bits.append(_WORD_BITS)
            table_cols.append(np.zeros(n_pool, dtype=np.int64))
        base = _WORD_BITS - free_bits[k]
        free_bits[k] -= bits_m + bits_p
        table_cols[k][members] += np.int64(1) << base
        pos_rows = members[positive]
        table_cols[k][pos_rows] += np.int64(1) << (base + bits_m)
        count = pos_rows.size
        rows.append(pos_rows)
        word.append(np.full(count, k))
        shift_m.append(np.full(count, base))
        mask_m.append(np.full(count, (1 << bits_m) - 1))
        shift_p.append(np.full(count, base + bits_m))
        mask_p.append(np.full(count, (1 << bits_p) - 1))
        seg.append(np.full(count, r))
    n_sub = len(subsets)
    seg_idx = np.concatenate(seg) if seg else np.zeros(0, dtype=np.int64)
    segments = np.zeros((seg_idx.size, n_sub), dtype=np.float64)
    segments[np.arange(seg_idx.size), seg_idx] = 1.0
    n_pos = np.array([p.sum() for _, p in subsets], dtype=np.float64)

    def t(parts):
        array = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return torch.as_tensor(array.astype(np.int64), device=device)

    table = np.stack(table_cols) if table_cols else np.zeros((0, n_pool), dtype=np.int64)
    return _Plan(
        table=torch.as_tensor(table, device=device),
        rows=t(rows),
        word=t(word),
        shift_p=t(shift_p),
        mask_p=t(mask_p),
        shift_m=t(shift_m),
        mask_m=t(mask_m),
        segments=torch.as_tensor(segments, device=device),
        n_pos=torch.as_tensor(n_pos, device=device),
    )


# ------------------------------------------------------------------ core


def _subsets_ap(
    scores: torch.Tensor,
    subsets: list[tuple[np.ndarray, np.ndarray]],
    chunk_size: int | None,
    device,
) -> np.ndarray:
    """[n_subsets, n_neurons] AP, looping over chunks of neurons."""
    n_pool, n_neurons = scores.shape
    if n_pool >= 2**31:
        raise InputError(f"scores has {n_pool} rows; at most 2**31 - 1 are supported")
    device = torch.device(device) if device is not None else scores.device
    result = np.zeros((len(subsets), n_neurons), dtype=np.float64)
    if not subsets or n_neurons == 0:
        return result
    plan = _make_plan(subsets, n_pool, device)
    step = _chunk_neurons(chunk_size, n_pool, plan.table.shape[0], device)
    for start in range(0, n_neurons, step):
        stop = min(start + step, n_neurons)
        values = _chunk_values(scores[:, start:stop], device, start)
        result[:, start:stop] = _chunk_ap(values, plan).T.cpu().numpy()
    return result


def _chunk_neurons(chunk_size: int | None, n_pool: int, n_words: int, device) -> int:
    """Neurons per chunk: `chunk_size`, or what fits `DEFAULT_CHUNK_BYTES`."""
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        return int(chunk_size)
    per_neuron = max(1, n_pool) * (_BYTES_PER_CELL + 8 * n_words)
    step = max(1, DEFAULT_CHUNK_BYTES // per_neuron)
    if torch.device(device).type == "cpu":
        step = min(step, _MAX_CPU_CHUNK)
    return step


def _chunk_values(chunk: torch.Tensor, device, first_column: int) -> torch.Tensor:
    """``[C, N]`` float32/float64 copy of a ``[N, C]`` score chunk, NaN-checked.

    float16/bfloat16 (and float64 that float32 holds exactly) become float32,
    which keeps every value and every tie; other float64 stays float64. Adding
    0.0 turns -0.0 into +0.0 so both zeros get the same sort key.
    """
    values = chunk.to(device).t()
    if not values.is_floating_point():
        values = values.to(torch.float64)
    if values.dtype == torch.float64:
        narrow = values.to(torch.float32)
        if torch.equal(narrow.to(torch.float64), values):
            values = narrow
    elif values.dtype != torch.float32:
        values = values.to(torch.float32)
    values = values.contiguous() + 0.0
    nan_rows = torch.isnan(values).any(dim=1)
    if bool(nan_rows.any()):
        column = first_column + int(nan_rows.nonzero()[0, 0])
        raise InputError(f"scores column {column} contains NaN: AP is undefined")
    return values


def _chunk_ap(values: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """``[C, R]`` AP of a ``[C, N]`` chunk for every subset of `plan`."""
    n_chunk, n_pool = values.shape
    order, is_end = _sort_descending(values)
    group_end = _group_end_of_rows(order, is_end)  # flat index c*N + end position
    counts = plan.table[:, order]  # [K, C, N]: counters in sorted order
    counts.cumsum_(dim=2)
    flat = group_end.index_select(1, plan.rows) + plan.word * (n_chunk * n_pool)
    packed = torch.take(counts, flat)  # [C, E]
    n_members = (packed >> plan.shift_m) & plan.mask_m
    n_positive = (packed >> plan.shift_p) & plan.mask_p
    precision = n_positive.to(torch.float64) / n_members.to(torch.float64)
    return (precision @ plan.segments) / plan.n_pos


def _sort_descending(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: ``order`` [C, N] int64 (descending scores) and ``is_end`` [C, N] bool.

    ``is_end[c, i]`` is True when sorted position i is the last of its tie group.
    float32 rows are sorted as int64 keys ``(order-preserving int32 of the value
    << 32) | row``: one value-only sort that also yields the permutation (and is
    the fastest CPU sort measured). float64 rows use an argsort.
    """
    n_pool = values.shape[1]
    if values.dtype == torch.float32:
        bits = values.view(torch.int32)
        ascending = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # int order == float order
        keys = ((~ascending).to(torch.int64) << 32) | torch.arange(
            n_pool, device=values.device
        )
        keys = _sort_rows(keys)
        order = keys & 0xFFFFFFFF
        code = keys >> 32
    else:
        order = _argsort_rows_descending(values)
        code = torch.gather(values, 1, order)
    is_end = torch.ones(values.shape, dtype=torch.bool, device=values.device)
    torch.ne(code[:, 1:], code[:, :-1], out=is_end[:, :-1])
    return order, is_end


def _sort_rows(keys: torch.Tensor) -> torch.Tensor:
    """Rows of int64 `keys` sorted ascending.

    CPU: numpy's SIMD sort, in place (measured ~5x faster than torch.sort on
    CPU); other devices: torch.sort.
    """
    if keys.device.type == "cpu":
        keys.numpy().sort(axis=1)
        return keys
    return torch.sort(keys, dim=1).values


def _argsort_rows_descending(values: torch.Tensor) -> torch.Tensor:
    """Row-wise argsort, descending (float64 fallback; numpy on CPU)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.argsort(np.negative(values.numpy()), axis=1))
    return torch.argsort(values, dim=1, descending=True)


def _group_end_of_rows(order: torch.Tensor, is_end: torch.Tensor) -> torch.Tensor:
    """``[C, N]``: for pool row j of chunk row c, ``c*N + end of j's tie group``.

    Tie groups are numbered over the flattened chunk (a row's last element is
    always a group end, so groups never span rows); group g ends at the g-th
    True of ``is_end``.
    """
    n_chunk, n_pool = order.shape
    flat_end = is_end.view(-1)
    if bool(flat_end.all()):  # no ties anywhere: each element is its own group
        end_sorted = torch.arange(n_chunk * n_pool, device=order.device)
    else:
        ends = flat_end.nonzero().squeeze(1)
        group = torch.cumsum(flat_end, 0) - flat_end.to(torch.int64)  # groups closed before
        end_sorted = ends[group]
    group_end = torch.empty_like(order)
    group_end.scatter_(1, order, end_sorted.view(n_chunk, n_pool))
    return group_end

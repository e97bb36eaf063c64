"""Seeded evaluation / identification splits of a relation (§3.2).

P_eva is ``n_eval`` random samples; P_det is every other sample whose subject
is not an evaluation subject, so no subject is seen on both sides. The split
depends only on the set of samples and the seed, not on the order of the file.
"""

from __future__ import annotations

import numbers
import zlib
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from relneurons.data.relations import Relation, Sample, sample_pair
from relneurons.errors import DataError, InputError

__all__ = ["relation_rng", "split", "split_relation"]

T = TypeVar("T")


def relation_rng(seed: int, relation: str) -> np.random.Generator:
    """A generator seeded by (seed, relation name): a relation's draws do not depend on the other relations."""
    return np.random.default_rng([seed, zlib.crc32(relation.encode())])


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def split_relation(samples: Sequence[T], n_eval: int = 50, seed: int = 0) -> tuple[list[T], list[T]]:
    """Return ``(eval_samples, det_samples)``, holding the caller's own items.

    ``samples`` are Samples, (subject, object) tuples or LRE dicts. A copy is
    sorted by (subject, object) before a ``numpy.random.default_rng(seed)``
    permutation, so shuffling the input does not change the result. Eval
    samples come in permutation order, det samples in canonical order.
    """
    n_eval = _check_int(n_eval, "n_eval", 1)
    seed = _check_int(seed, "seed", 0)
    items = list(samples)
    if len(items) < n_eval + 1:
        raise InputError(
            f"only {len(items)} samples, but n_eval={n_eval} needs at least {n_eval + 1} "
            f"({n_eval} to evaluate and at least 1 to identify neurons); lower n_eval"
        )
    keyed = sorted(((sample_pair(item), item) for item in items), key=lambda pair: pair[0])
    order = np.random.default_rng(seed).permutation(len(keyed))
    eval_idx = {int(i) for i in order[:n_eval]}
    eval_samples = [keyed[int(i)][1] for i in order[:n_eval]]
    eval_subjects = {keyed[i][0][0] for i in eval_idx}
    det_samples = [
        item for i, ((subject, _), item) in enumerate(keyed) if i not in eval_idx and subject not in eval_subjects
    ]
    if not det_samples:
        raise InputError(
            f"all {len(items) - n_eval} samples left after taking {n_eval} for evaluation share a subject "
            "with an evaluation sample, so none is left to identify neurons; lower n_eval"
        )
    return eval_samples, det_samples


def split(relation: Relation, n_eval: int = 50, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """``split_relation`` of a loaded relation, with errors that name it and its file."""
    n_eval = _check_int(n_eval, "n_eval", 1)  # a bad argument is not a data problem
    seed = _check_int(seed, "seed", 0)
    try:
        return split_relation(relation.samples, n_eval=n_eval, seed=seed)
    except InputError as exc:
        raise DataError(f"cannot split relation {relation.name!r} ({relation.path}): {exc}") from None

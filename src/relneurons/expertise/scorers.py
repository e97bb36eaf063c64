"""Identification methods: named scores of how specific each neuron is to a relation's prompts.

An activation-based scorer is a function

    scorer(positives: float[n_pos, n_neurons], negatives: float[n_neg, n_neurons]) -> float64[n_neurons]

of the neurons' token-mean outputs on the relation's prompts (E+_r) and on the
other relations' prompts (E-_r); higher means more specific to the positives.
`SCORERS` maps each name to its function: adding a method is one function and
one line in `BUILTIN_SCORERS`, or, from another package, one entry point of the
group `relneurons.scorers` (plugins.py, docs/extending.md). Scorers that need the model itself (gradients) are listed in
`MODEL_SCORERS` with their own signature (see `attribution.py`).

    ap               average precision of the outputs (the paper, §2.2; the exact engine of identify)
    mean_diff        standardised mean difference (Cohen's d with the pooled standard deviation)
    activation_rate  share of positives minus share of negatives whose output exceeds the neuron's
                     median over all the examples (positives and negatives together)

Why the median for `activation_rate`: the stored outputs are token means of
gate/up/down projections, signed and with neuron-specific offsets, so a fixed
threshold such as 0 (right for post-activation values, as in activation
probability methods for language neurons) marks many neurons as always or
never "active". The median of the pooled examples puts every neuron's
threshold inside its own range; "exceeds" is strict (a value equal to the
median is not active), so a constant neuron scores 0.

`top_columns` ranks every neuron of a store for many example sets at once,
block by block (the AP engine sorts each column once for all of them), so
resampled identification reads the store once and runs no forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InputError, did_you_mean
from ..plugins import PluginError
from .average_precision import average_precision, average_precision_subsets
from .config import check_scorers, plugin_scorers  # noqa: F401 - names without torch

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

__all__ = [
    "BUILTIN_SCORERS",
    "MODEL_SCORERS",
    "SCORERS",
    "activation_rate",
    "ap",
    "check_scorers",
    "mean_diff",
    "top_columns",
]


def _groups(positives, negatives) -> tuple[np.ndarray, np.ndarray]:
    """Both groups as 2-D float64 arrays with the same neurons; InputError naming what is wrong."""
    pos, neg = np.asarray(positives), np.asarray(negatives)
    for name, array in (("positives", pos), ("negatives", neg)):
        if array.ndim != 2:
            raise InputError(f"{name} must be 2-D [n_examples, n_neurons], got shape {array.shape}")
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
            raise InputError(f"{name} must hold real numbers, got dtype {array.dtype}")
        if array.shape[0] == 0:
            raise InputError(
                f"{name} is empty: a neuron's specificity needs at least one positive and one negative example"
            )
    if pos.shape[1] != neg.shape[1]:
        raise InputError(f"positives have {pos.shape[1]} neurons but negatives have {neg.shape[1]}")
    pos, neg = pos.astype(np.float64), neg.astype(np.float64)
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise InputError("activations contain NaN: the scores are undefined")
    return pos, neg


def ap(positives, negatives) -> np.ndarray:
    """Average precision of each neuron's outputs (positives labelled 1), exactly as `identify` computes it."""
    pos, neg = _groups(positives, negatives)
    labels = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    return average_precision(np.concatenate([pos, neg]), labels)


def _sum_of_squares(x: np.ndarray) -> np.ndarray:
    """Per column sum of squared deviations from the mean; exactly 0 for a constant column
    (float rounding of the mean would otherwise leave a tiny positive value and an enormous d)."""
    ss = ((x - x.mean(axis=0)) ** 2).sum(axis=0)
    return np.where(x.max(axis=0) == x.min(axis=0), 0.0, ss)


def mean_diff(positives, negatives) -> np.ndarray:
    """(mean_pos - mean_neg) / pooled sd, pooled sd = sqrt((SS_pos + SS_neg) / max(n_pos + n_neg - 2, 1)).

    Zero pooled variance (both groups constant): +inf when the positives' value
    is higher (perfect separation ranks first), -inf when lower, 0 when equal.
    """
    pos, neg = _groups(positives, negatives)
    diff = pos.mean(axis=0) - neg.mean(axis=0)
    sd = np.sqrt((_sum_of_squares(pos) + _sum_of_squares(neg)) / max(len(pos) + len(neg) - 2, 1))
    d = np.zeros_like(diff)
    spread = sd > 0
    d[spread] = diff[spread] / sd[spread]
    d[~spread & (diff > 0)], d[~spread & (diff < 0)] = np.inf, -np.inf
    return d


def activation_rate(positives, negatives) -> np.ndarray:
    """Share of positives minus share of negatives with output > the neuron's median over all the examples."""
    pos, neg = _groups(positives, negatives)
    threshold = np.median(np.concatenate([pos, neg]), axis=0)
    return (pos > threshold).mean(axis=0) - (neg > threshold).mean(axis=0)


#: The built-in activation-based scorers (keys: config.SCORER_NAMES).
BUILTIN_SCORERS: dict[str, Scorer] = {
    "ap": ap,
    "mean_diff": mean_diff,
    "activation_rate": activation_rate,
}


class _Scorers(Mapping):
    """Activation-based scorers by name (higher = more specific to the positives): the built-ins, then the plugins
    of the `relneurons.scorers` entry point group. A plugin is imported when its scorer is first looked up; its
    output is checked (one finite-or-infinite float per neuron), so a wrong plugin fails with its name."""

    def _names(self) -> list[str]:
        return [*BUILTIN_SCORERS, *(p.name for p in plugin_scorers())]

    def __getitem__(self, name: str) -> Scorer:
        if name in BUILTIN_SCORERS:
            return BUILTIN_SCORERS[name]
        plugin = next((p for p in plugin_scorers() if p.name == name), None)
        if plugin is None:
            raise KeyError(name)
        return _checked(plugin, plugin.load("scorer"))

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def _checked(plugin, fn) -> Scorer:
    if not callable(fn):
        raise PluginError(f"{plugin.describe('scorer')} is not a function but {type(fn).__name__}")

    def score(positives, negatives) -> np.ndarray:
        out = np.asarray(fn(positives, negatives), dtype=np.float64)
        n = np.shape(positives)[1]
        if out.shape != (n,) or np.isnan(out).any():
            raise PluginError(
                f"{plugin.describe('scorer')} returned shape {out.shape}"
                f"{' with NaN' if out.shape == (n,) else ''}: a scorer returns one number per neuron ({n}), no NaN"
            )
        return out

    score.__name__ = score.__qualname__ = plugin.name
    return score


SCORERS: Mapping[str, Scorer] = _Scorers()

#: Scorers that need the model (backward passes); their signature is in their module.
MODEL_SCORERS: dict[str, str] = {
    "attribution": "relneurons.expertise.attribution.attribution_scores"
}  # MODEL_SCORER_NAMES


def _top(scores: np.ndarray, columns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score, column) pairs, highest score first, ties by lower column (as identify.rank_descending)."""
    order = np.lexsort((columns, -scores))[:k]
    return scores[order], columns[order]


def top_columns(
    read_block: Callable[[int, int], np.ndarray],
    n_neurons: int,
    subsets: Sequence[tuple[np.ndarray, np.ndarray]],
    k: int,
    scorer: str = "ap",
    block: int = 16384,
) -> list[np.ndarray]:
    """Columns of the k highest-scoring neurons for each example set, best first.

    `read_block(start, stop)` returns the pool's activations of neurons
    [start, stop) as [n_pool, stop - start] (e.g. `ActivationStore.columns`);
    each subset is (members: pool rows, positive: bool per member), as in
    `average_precision_subsets`. For `ap` every block is scored for all subsets
    with one sort per column; other scorers are called per subset.
    """
    if scorer not in SCORERS:
        raise ConfigError(
            f"unknown activation scorer {scorer!r}{did_you_mean(scorer, SCORERS)}; scorers: {', '.join(SCORERS)}"
        )
    score = SCORERS[scorer]  # a plugin is imported here, once
    best = [(np.zeros(0), np.zeros(0, np.int64)) for _ in subsets]
    for start in range(0, n_neurons, block):
        stop = min(start + block, n_neurons)
        values = read_block(start, stop)
        if scorer == "ap":
            scores = average_precision_subsets(values, list(subsets))
        else:
            scores = (
                np.stack(
                    [
                        score(values[m[p]], values[m[~p]])
                        for m, p in ((np.asarray(m), np.asarray(p, bool)) for m, p in subsets)
                    ]
                )
                if len(subsets)
                else np.zeros((0, stop - start))
            )
        columns = np.arange(start, stop, dtype=np.int64)
        for i, (kept_scores, kept_columns) in enumerate(best):
            best[i] = _top(np.r_[kept_scores, scores[i]], np.r_[kept_columns, columns], k)
    return [columns for _, columns in best]

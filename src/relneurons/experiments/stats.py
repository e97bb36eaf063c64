"""Uncertainty for accuracies measured on small prompt sets (issue 4, "Uncertainty").

The paper reports bare accuracies on 50-prompt sets; here every accuracy and
every relative drop gets a seeded 95% percentile-bootstrap interval over
prompts, and the relation-k vs random-k comparison gets a paired test on the
same prompts.

Resampling contract (so results are reproducible and checkable): with
``rng = numpy.random.default_rng(seed)``, bootstrap replicate ``b`` uses the
prompt indices in row ``b`` of ``rng.integers(0, n, size=(n_boot, n))``, drawn
in blocks of whole rows (one block whenever ``n_boot * n <= 2**22``). The
interval is ``numpy.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])``
(linear interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from scipy.stats import binomtest

from relneurons.errors import InputError

__all__ = [
    "accuracy_ci",
    "bootstrap_ci",
    "bootstrap_drop_ci",
    "mcnemar_exact",
    "paired_permutation_test",
    "relative_drop",
]

#: Most index cells drawn at once by the bootstrap (bounds memory for large n).
_BLOCK_CELLS = 2**22

#: Exact sign-flip enumeration is used up to this many non-zero differences.
_EXACT_MAX_NONZERO = 16


# ----------------------------------------------------------------- validation

def _vector(x: np.ndarray, name: str) -> np.ndarray:
    """1-D float64 copy of `x`; bool/int 0-1 or real values, no NaN."""
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (one value per prompt), got shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name} must be boolean or numeric, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    if np.isnan(out).any():
        raise InputError(f"{name} contains NaN")
    return out


def bool_vector(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (one value per prompt), got shape {arr.shape}")
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise InputError(f"{name} must be boolean (correct / wrong per prompt)")
        arr = arr.astype(bool)
    return arr


def _check_boot(n_boot: int, level: float) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise InputError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be in (0, 1), got {level!r}")


def _index_blocks(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[np.ndarray]:
    """Resampling indices, shape [rows, n] per block, n_boot rows in total."""
    rows = max(1, _BLOCK_CELLS // max(n, 1))
    done = 0
    while done < n_boot:
        m = min(rows, n_boot - done)
        yield rng.integers(0, n, size=(m, n))
        done += m


def _interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    if replicates.size == 0:
        return (math.nan, math.nan)
    lo, hi = np.quantile(replicates, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return (float(lo), float(hi))


# ----------------------------------------------------------------- accuracies

def bootstrap_ci(correct: np.ndarray, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `correct` (shape [n_prompts]).

    Prompts are resampled with replacement; each replicate is the mean of the
    resample. An empty array gives (nan, nan).
    """
    _check_boot(n_boot, level)
    x = _vector(correct, "correct")
    n = x.size
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    reps = np.concatenate([x[idx].mean(axis=1) for idx in _index_blocks(rng, n, n_boot)])
    return _interval(reps, level)


def accuracy_ci(correct: np.ndarray, n_boot: int = 2000, seed: int = 0,
                level: float = 0.95) -> tuple[float, float, float]:
    """(accuracy, low, high): the mean of `correct` and its bootstrap interval (NaN if empty)."""
    x = _vector(correct, "correct")
    acc = float(x.mean()) if x.size else math.nan
    return (acc, *bootstrap_ci(x, n_boot=n_boot, seed=seed, level=level))


def relative_drop(acc_orig: float, acc_deact: float) -> float:
    """(acc_orig - acc_deact) / acc_orig, the paper's Fig. 4 cell; NaN when acc_orig == 0 (or NaN).

    Negative values are improvements (the paper's "neuron interference").
    """
    acc_orig = float(acc_orig)
    acc_deact = float(acc_deact)
    if math.isnan(acc_orig) or math.isnan(acc_deact) or acc_orig == 0.0:
        return math.nan
    return (acc_orig - acc_deact) / acc_orig


def bootstrap_drop_ci(orig: np.ndarray, deact: np.ndarray, n_boot: int = 2000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float, float]:
    """(drop, low, high) for the relative drop of accuracy from `orig` to `deact`.

    `orig[i]` / `deact[i]` say whether prompt i is answered correctly by the
    original / deactivated model (bool, shape [n_prompts], same prompts). Prompts
    are resampled jointly (the pair of outcomes of a prompt stays together), so
    the interval reflects the paired design. A resample whose original accuracy
    is 0 has no drop and is skipped; the quantiles are taken over the remaining
    replicates. If the observed original accuracy is 0 (or there are no
    prompts) the drop is undefined: (nan, nan, nan), never a division error.
    """
    _check_boot(n_boot, level)
    o = bool_vector(orig, "orig")
    d = bool_vector(deact, "deact")
    if o.shape != d.shape:
        raise InputError(f"orig and deact must cover the same prompts, got {o.size} and {d.size}")
    n = o.size
    if n == 0 or not o.any():
        return (math.nan, math.nan, math.nan)
    point = relative_drop(o.mean(), d.mean())
    rng = np.random.default_rng(seed)
    reps = []
    for idx in _index_blocks(rng, n, n_boot):
        a0 = o[idx].mean(axis=1)
        a1 = d[idx].mean(axis=1)
        keep = a0 > 0
        reps.append((a0[keep] - a1[keep]) / a0[keep])
    return (point, *_interval(np.concatenate(reps), level))


# ----------------------------------------------------------------- paired tests

def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Exact two-sided McNemar test of two conditions on the same prompts.

    `a`, `b`: bool [n_prompts], correctness under condition A (e.g. relation-k
    off) and B (e.g. random-k off). Returns (b01, b10, p) with
    b01 = #(A wrong, B right), b10 = #(A right, B wrong); under H0 each
    discordant prompt is equally likely either way, so
    p = binomtest(b01, b01 + b10, 0.5, two-sided). No discordant pair: p = 1.
    """
    x = bool_vector(a, "a")
    y = bool_vector(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a and b must cover the same prompts, got {x.size} and {y.size}")
    b01 = int(np.sum(~x & y))
    b10 = int(np.sum(x & ~y))
    if b01 + b10 == 0:
        return (b01, b10, 1.0)
    p = binomtest(b01, b01 + b10, 0.5, alternative="two-sided").pvalue
    return (b01, b10, float(min(1.0, p)))


def paired_permutation_test(a: np.ndarray, b: np.ndarray, n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided sign-flip permutation test of mean(a - b) = 0 on paired values.

    Typical use: `a` = a relation-k run's per-prompt correctness (0/1), `b` =
    the per-prompt mean correctness over the random seeds. Statistic
    T = |sum(s * d)| (equivalently |mean|) with d = a - b and signs s. With at most 16
    non-zero differences every sign pattern is enumerated (exact p); otherwise
    p = (1 + #{T_perm >= T_obs}) / (1 + n_perm) with seeded random signs.
    All differences zero (or no prompts): p = 1.
    """
    x = _vector(a, "a")
    y = _vector(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a and b must cover the same prompts, got {x.size} and {y.size}")
    if int(n_perm) != n_perm or n_perm < 1:
        raise InputError(f"n_perm must be a positive integer, got {n_perm!r}")
    d = x - y
    d = d[d != 0]  # zero differences are unchanged by a sign flip; they only scale T
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= _EXACT_MAX_NONZERO:
        codes = np.arange(2 ** d.size, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((codes >> np.arange(d.size)) & 1)
        stats = np.abs(signs @ d)
        return float(np.mean(stats >= observed - tol))
    rng = np.random.default_rng(seed)
    hits = 0
    rows = max(1, _BLOCK_CELLS // d.size)
    done = 0
    while done < n_perm:
        m = min(rows, n_perm - done)
        signs = rng.choice(np.array([-1.0, 1.0]), size=(m, d.size))
        hits += int(np.sum(np.abs(signs @ d) >= observed - tol))
        done += m
    return (1 + hits) / (1 + n_perm)

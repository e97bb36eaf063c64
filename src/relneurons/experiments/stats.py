"""Uncertainty for accuracies measured on small prompt sets, and the tests the report's claims rest on.

The paper reports bare accuracies on 50-prompt sets; here every accuracy and
every relative drop gets a seeded 95% percentile-bootstrap interval over
prompts, the relation-k vs original comparison a paired test on the same
prompts, the relation-k vs random-k comparison `relation_vs_random`, which
treats each random neuron set as one replicate, the specificity test of the
inter matrix (`specificity_test`, in specificity.py) and the multiplicity
adjustment (`adjust`, in multiplicity.py). docs/method.md, "What the tests
mean", says what each test's null and unit of replication are.

Units of replication: prompts of one triple written with several templates are
not independent. Every function taking per-prompt outcomes takes `clusters`
(one label per prompt, e.g. the triple's subject); with it, whole clusters are
resampled or sign-flipped. Without it (None) the results are those of the
prompt-level procedures, unchanged.

Resampling contract (so results are reproducible and checkable): with
``rng = numpy.random.default_rng(seed)``, bootstrap replicate ``b`` uses the
indices in row ``b`` of ``rng.integers(0, m, size=(n_boot, m))``, drawn in
blocks of whole rows (one block whenever ``n_boot * m <= 2**22``). Without
clusters m = n prompts and the indices are prompts; with clusters m = number of
distinct labels, index j is the j-th label in ``numpy.unique`` order, and a
replicate's accuracy is (correct prompts of the drawn clusters) / (prompts of
the drawn clusters), each cluster counted as often as it is drawn. The
interval is ``numpy.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])``
(linear interpolation).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from relneurons.errors import InputError

from .multiplicity import adjust
from .specificity import SpecificityTest, specificity_test

__all__ = [
    "accuracy_ci",
    "bootstrap_ci",
    "bootstrap_drop_ci",
    "mcnemar_exact",
    "paired_permutation_test",
    "adjust",
    "random_sets_for_holm",
    "relation_vs_random",
    "RelationVsRandom",
    "specificity_test",
    "SpecificityTest",
    "relative_drop",
    "triple_clusters",
]

#: Most index cells drawn at once by the bootstrap (bounds memory for large n).
_BLOCK_CELLS = 2**22

#: Exact sign-flip enumeration is used up to this many non-zero differences.
_EXACT_MAX_NONZERO = 16

#: From this many random sets on, `relation_vs_random` gives a p-value (the exact rank test): its smallest p is
#: 1 / (n_sets + 1), which is below 0.05 only from 20 sets on (with 19 it is exactly 0.05, never "p < 0.05").
RANK_MIN_SETS = 20


def random_sets_for_holm(n_tests: int, alpha: float = 0.05) -> int:
    """Fewest random sets with which a relation below every set survives Holm over `n_tests` relations: Holm's
    first step needs n_tests x 1 / (n_sets + 1) < alpha (strictly, as the report's "p < 0.05"), so
    n_sets = floor(n_tests / alpha): 120 for 6 relations, 240 for 12."""
    return max(RANK_MIN_SETS, math.floor(n_tests / alpha + 1e-9))


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


def _cluster_codes(clusters: np.ndarray | None, n: int) -> np.ndarray | None:
    """Cluster index 0..m-1 of every prompt (labels in numpy.unique order), or None without clusters."""
    if clusters is None:
        return None
    arr = np.asarray(clusters)
    if arr.ndim != 1 or arr.size != n:
        raise InputError(f"clusters must give one label per prompt ({n} prompts), got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise InputError("clusters contains NaN; give every prompt the label of its triple")
    try:
        _, codes = np.unique(arr, return_inverse=True)
    except TypeError as err:
        raise InputError(f"clusters labels must be comparable (ints or strings of one type): {err}") from None
    return codes.reshape(-1)


def _cluster_sums(x: np.ndarray, codes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(per-unit sums of x, per-unit prompt counts): the prompts themselves without clusters."""
    if codes is None:
        return x, np.ones(x.size)
    m = int(codes.max()) + 1 if codes.size else 0
    return np.bincount(codes, weights=x, minlength=m), np.bincount(codes, minlength=m).astype(np.float64)


def triple_clusters(prompts) -> np.ndarray | None:
    """Triple index of every row of `prompts` (a DataFrame with subject and object) when some triple has
    several prompts (templates), else None: with one prompt per triple the prompt-level procedures apply unchanged."""
    if not {"subject", "object"} <= set(prompts.columns):
        return None
    codes = prompts.groupby(["subject", "object"], sort=False, dropna=False).ngroup().to_numpy()
    return codes if np.unique(codes).size < codes.size else None


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


def bootstrap_ci(
    correct: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95, clusters: np.ndarray | None = None
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `correct` (shape [n_prompts]).

    Prompts (or, with `clusters`, whole clusters) are resampled with
    replacement; each replicate is the mean over the resampled prompts. An
    empty array gives (nan, nan).
    """
    _check_boot(n_boot, level)
    x = _vector(correct, "correct")
    codes = _cluster_codes(clusters, x.size)
    n = x.size
    if n == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    if codes is None:
        reps = np.concatenate([x[idx].mean(axis=1) for idx in _index_blocks(rng, n, n_boot)])
    else:
        sums, sizes = _cluster_sums(x, codes)
        reps = np.concatenate(
            [sums[idx].sum(axis=1) / sizes[idx].sum(axis=1) for idx in _index_blocks(rng, sums.size, n_boot)]
        )
    return _interval(reps, level)


def accuracy_ci(
    correct: np.ndarray, n_boot: int = 2000, seed: int = 0, level: float = 0.95, clusters: np.ndarray | None = None
) -> tuple[float, float, float]:
    """(accuracy, low, high): the mean of `correct` and its bootstrap interval (NaN if empty)."""
    x = _vector(correct, "correct")
    acc = float(x.mean()) if x.size else math.nan
    return (acc, *bootstrap_ci(x, n_boot=n_boot, seed=seed, level=level, clusters=clusters))


def relative_drop(acc_orig: float, acc_deact: float) -> float:
    """(acc_orig - acc_deact) / acc_orig, the paper's Fig. 4 cell; NaN when acc_orig == 0 (or NaN).

    Negative values are improvements (the paper's "neuron interference").
    """
    acc_orig = float(acc_orig)
    acc_deact = float(acc_deact)
    if math.isnan(acc_orig) or math.isnan(acc_deact) or acc_orig == 0.0:
        return math.nan
    return (acc_orig - acc_deact) / acc_orig


def bootstrap_drop_ci(
    orig: np.ndarray,
    deact: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    clusters: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(drop, low, high) for the relative drop of accuracy from `orig` to `deact`.

    `orig[i]` / `deact[i]` say whether prompt i is answered correctly by the
    original / deactivated model (bool, shape [n_prompts], same prompts). Prompts
    are resampled jointly (the pair of outcomes of a prompt stays together), so
    the interval reflects the paired design; with `clusters` whole clusters are
    resampled (module contract). A resample whose original accuracy
    is 0 has no drop and is skipped; the quantiles are taken over the remaining
    replicates. If the observed original accuracy is 0 (or there are no
    prompts) the drop is undefined: (nan, nan, nan), never a division error.
    """
    _check_boot(n_boot, level)
    o = bool_vector(orig, "orig")
    d = bool_vector(deact, "deact")
    if o.shape != d.shape:
        raise InputError(f"orig and deact must cover the same prompts, got {o.size} and {d.size}")
    codes = _cluster_codes(clusters, o.size)
    n = o.size
    if n == 0 or not o.any():
        return (math.nan, math.nan, math.nan)
    point = relative_drop(o.mean(), d.mean())
    rng = np.random.default_rng(seed)
    reps = []
    if codes is not None:
        o_sums, sizes = _cluster_sums(o.astype(np.float64), codes)
        d_sums, _ = _cluster_sums(d.astype(np.float64), codes)
    for idx in _index_blocks(rng, n if codes is None else sizes.size, n_boot):
        if codes is None:
            a0 = o[idx].mean(axis=1)
            a1 = d[idx].mean(axis=1)
        else:
            total = sizes[idx].sum(axis=1)
            a0 = o_sums[idx].sum(axis=1) / total
            a1 = d_sums[idx].sum(axis=1) / total
        keep = a0 > 0
        reps.append((a0[keep] - a1[keep]) / a0[keep])
    return (point, *_interval(np.concatenate(reps), level))


# ----------------------------------------------------------------- paired tests


def mcnemar_exact(
    a: np.ndarray, b: np.ndarray, clusters: np.ndarray | None = None, n_perm: int = 10000, seed: int = 0
) -> tuple[int, int, float]:
    """Exact two-sided McNemar test of two conditions on the same prompts.

    `a`, `b`: bool [n_prompts], correctness under condition A (e.g. relation-k
    off) and B (e.g. random-k off). Returns (b01, b10, p) with
    b01 = #(A wrong, B right), b10 = #(A right, B wrong); under H0 each
    discordant prompt is equally likely either way, so
    p = binomtest(b01, b01 + b10, 0.5, two-sided). No discordant pair: p = 1.

    With `clusters` the prompts of one cluster are not independent, so the unit
    is the cluster: p is the two-sided sign-flip test (`paired_permutation_test`
    rules: exact up to 16 non-zero clusters, else `n_perm` seeded flips) of the
    per-cluster discordance sums #(A wrong, B right) - #(A right, B wrong).
    With one prompt per cluster and at most 16 discordant prompts this is the
    exact binomial test again.
    """
    x = bool_vector(a, "a")
    y = bool_vector(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a and b must cover the same prompts, got {x.size} and {y.size}")
    codes = _cluster_codes(clusters, x.size)
    b01 = int(np.sum(~x & y))
    b10 = int(np.sum(x & ~y))
    if codes is not None:
        _check_perm(n_perm)
        per_cluster, _ = _cluster_sums((~x & y).astype(np.float64) - (x & ~y).astype(np.float64), codes)
        return (b01, b10, _sign_flip_p(per_cluster, n_perm, seed))
    if b01 + b10 == 0:
        return (b01, b10, 1.0)
    p = binomtest(b01, b01 + b10, 0.5, alternative="two-sided").pvalue
    return (b01, b10, float(min(1.0, p)))


def _check_perm(n_perm: int) -> None:
    if int(n_perm) != n_perm or n_perm < 1:
        raise InputError(f"n_perm must be a positive integer, got {n_perm!r}")


def paired_permutation_test(
    a: np.ndarray, b: np.ndarray, n_perm: int = 10000, seed: int = 0, clusters: np.ndarray | None = None
) -> float:
    """Two-sided sign-flip permutation test of mean(a - b) = 0 on paired values.

    Typical use: `a` = condition A's per-prompt correctness (0/1), `b` = condition
    B's on the same prompts. Statistic
    T = |sum(s * d)| (equivalently |mean|) with d = a - b and signs s. With at most 16
    non-zero differences every sign pattern is enumerated (exact p); otherwise
    p = (1 + #{T_perm >= T_obs}) / (1 + n_perm) with seeded random signs.
    All differences zero (or no prompts): p = 1. With `clusters`, d is summed
    per cluster and whole clusters are flipped.

    Not for relation-k vs random-k: one random set is one draw, and the per-prompt
    mean over a few sets hides their variation (use `relation_vs_random`).
    """
    x = _vector(a, "a")
    y = _vector(b, "b")
    if x.shape != y.shape:
        raise InputError(f"a and b must cover the same prompts, got {x.size} and {y.size}")
    _check_perm(n_perm)
    codes = _cluster_codes(clusters, x.size)
    return _sign_flip_p(_cluster_sums(x - y, codes)[0], n_perm, seed)


def _sign_flip_p(d: np.ndarray, n_perm: int, seed: int) -> float:
    """Two-sided sign-flip p of sum(d) = 0 (see `paired_permutation_test`)."""
    d = d[d != 0]  # zero differences are unchanged by a sign flip; they only scale T
    if d.size == 0:
        return 1.0
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if d.size <= _EXACT_MAX_NONZERO:
        codes = np.arange(2**d.size, dtype=np.int64)[:, None]
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


# ----------------------------------------------------------------- relation vs random sets


@dataclass(frozen=True)
class RelationVsRandom:
    """Relation-k against random-k sets on the same prompts (see `relation_vs_random`)."""

    p_value: float  # one-sided exact rank p when n_sets >= RANK_MIN_SETS, else nan (no test can reach 0.05)
    percentile: float  # % of random sets below the relation's accuracy (ties count half)
    n_sets: int
    n_prompts: int
    n_clusters: int
    acc_relation: float
    acc_random: tuple[float, ...]  # one accuracy per random set
    acc_random_mean: float
    acc_random_sd: float  # over sets (ddof 1); nan for one set
    random_low: float  # the lowest random set's accuracy
    random_high: float  # the highest
    diff: float  # acc_relation - acc_random_mean
    diff_low: float  # bootstrap interval (level) of diff, resampling random sets and prompts / clusters
    diff_high: float
    method: str  # "rank" or "none"
    reason: str  # why the method was chosen or why there is no p
    p_rank: float = math.nan  # the exact rank p at any number of sets: (1 + #{random <= relation}) / (n_sets + 1)


def relation_vs_random(
    relation: np.ndarray,
    random: np.ndarray,
    clusters: np.ndarray | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> RelationVsRandom:
    """Is the relation's top-k set more harmful than a random set of the same size?

    `relation`: bool [n_prompts], correctness with the relation's set off;
    `random`: bool [n_sets, n_prompts], correctness with each random set off, on
    the same prompts; `clusters`: optional label per prompt (its triple).

    A random set is one draw, so the sets (not the prompts) are the replicates
    and the null is "the relation set is one more random set" (the paper's §4.2
    design compares against random sets of equal size). Under that null the
    n_sets + 1 sets are exchangeable, so the rank p
    ``(1 + #{random <= relation}) / (n_sets + 1)`` is exact whatever the
    distribution of set effects (ties count against the relation). It cannot go
    below 1 / (n_sets + 1): 0.25 with 3 sets, 0.048 with 20. `p_rank` always
    holds it; `p_value` holds it from `RANK_MIN_SETS` sets on and is nan below
    (`reason` says how many sets would allow a p): a model-based test (the t
    prediction interval used before) exceeded 5% false positives on skewed and
    mixed set effects that 3-10 sets cannot reveal (docs/method.md, "What the
    tests mean"; benchmarks/relation_vs_random_calibration.py).

    The p-value is conditional on these prompts. `diff_low`/`diff_high` add
    both sources of variation: each bootstrap replicate resamples the random
    sets (with replacement) and the prompts, or whole clusters (module
    contract, plus: after a block's index rows, ``rng.integers(0, n_sets,
    size=(rows, n_sets))`` draws its sets). `random_low`/`random_high` are the
    lowest and highest random set's accuracy. No prompts: everything nan.
    """
    _check_boot(n_boot, level)
    rel = bool_vector(relation, "relation")
    rnd = np.asarray(random)
    if rnd.ndim != 2 or rnd.shape[1] != rel.size:
        raise InputError(
            f"random must have shape [n_sets, n_prompts] = [*, {rel.size}] (one row per random set, "
            f"same prompts as relation), got {rnd.shape}"
        )
    if rnd.shape[0] < 1:
        raise InputError("random needs at least one random set (row); run more random seeds")
    if rnd.dtype != bool:
        if rnd.size and not np.isin(rnd, (0, 1)).all():
            raise InputError("random must be boolean (correct / wrong per set and prompt)")
        rnd = rnd.astype(bool)
    codes = _cluster_codes(clusters, rel.size)
    n_sets, n = rnd.shape
    n_clusters = int(codes.max()) + 1 if codes is not None and codes.size else n
    if n == 0:
        nan = math.nan
        return RelationVsRandom(
            nan, nan, n_sets, 0, 0, nan, (nan,) * n_sets, nan, nan, nan, nan, nan, nan, nan, "none", "no prompts"
        )
    acc_rel = float(rel.mean())
    accs = rnd.mean(axis=1)
    mean = float(accs.mean())
    sd = float(accs.std(ddof=1)) if n_sets > 1 else math.nan
    below, ties = int(np.sum(accs < acc_rel)), int(np.sum(accs == acc_rel))
    percentile = 100.0 * (below + 0.5 * ties) / n_sets
    rank_p = (1 + below + ties) / (n_sets + 1)
    if n_sets >= RANK_MIN_SETS:
        p, method, reason = rank_p, "rank", f"{n_sets} random sets: exact rank test (smallest p 1/{n_sets + 1})"
    else:
        p, method = math.nan, "none"
        reason = (
            f"{n_sets} random set{'s' if n_sets != 1 else ''}: the exact rank p cannot go below "
            f"1/{n_sets + 1} = {1 / (n_sets + 1):.2f}; {RANK_MIN_SETS} or more sets allow p < 0.05"
        )
    rel_sums, sizes = _cluster_sums(rel.astype(np.float64), codes)
    set_sums = np.stack([_cluster_sums(row.astype(np.float64), codes)[0] for row in rnd])  # [n_sets, units]
    rng = np.random.default_rng(seed)
    reps = []
    for idx in _index_blocks(rng, sizes.size, n_boot):
        drawn = rng.integers(0, n_sets, size=(idx.shape[0], n_sets))
        weights = np.stack([np.bincount(row, minlength=n_sets) for row in drawn]) / n_sets  # [rows, n_sets]
        random_units = weights @ set_sums  # [rows, units]: mean over the drawn sets, per unit
        rand = np.take_along_axis(random_units, idx, axis=1).sum(axis=1)
        reps.append((rel_sums[idx].sum(axis=1) - rand) / sizes[idx].sum(axis=1))
    diff_low, diff_high = _interval(np.concatenate(reps), level)
    return RelationVsRandom(
        float(p),
        percentile,
        n_sets,
        n,
        n_clusters,
        acc_rel,
        tuple(float(a) for a in accs),
        mean,
        sd,
        float(accs.min()),
        float(accs.max()),
        acc_rel - mean,
        diff_low,
        diff_high,
        method,
        reason,
        p_rank=float(rank_p),
    )

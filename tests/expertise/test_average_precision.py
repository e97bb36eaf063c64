"""Average precision per neuron vs scikit-learn (the independent reference, paper §2.2)."""

from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score

from relneurons.errors import InputError
from relneurons.expertise import average_precision, average_precision_subsets

TOL = 1e-12

ap_module = importlib.import_module("relneurons.expertise.average_precision")


def sklearn_ap(scores, labels) -> np.ndarray:
    """Reference: sklearn per column (scores as float64 numpy)."""
    scores = _np64(scores)
    labels = np.asarray(labels).astype(int)
    return np.array([average_precision_score(labels, scores[:, j]) for j in range(scores.shape[1])])


def _np64(scores) -> np.ndarray:
    if isinstance(scores, torch.Tensor):
        return scores.detach().to(torch.float64).cpu().numpy()
    return np.asarray(scores, dtype=np.float64)


def slow_ap(column, labels) -> float:
    """Plain-Python AP from the definition: mean over positives of the precision
    at the end of their tie group (#pos with score >= s / #examples with score >= s)."""
    column = [float(v) for v in column]
    labels = [bool(v) for v in labels]
    total = 0.0
    n_pos = 0
    for s, is_pos in zip(column, labels):
        if not is_pos:
            continue
        n_pos += 1
        at_least = [lab for v, lab in zip(column, labels) if v >= s]
        total += sum(at_least) / len(at_least)
    return total / n_pos


def dense_ranks(scores: np.ndarray) -> np.ndarray:
    """Order-preserving finite relabelling (ties kept), so sklearn accepts +-inf data."""
    return np.column_stack([rankdata(scores[:, j], method="dense") for j in range(scores.shape[1])])


def random_labels(rng, n, frac=0.2):
    labels = rng.random(n) < frac
    labels[rng.integers(n)] = True
    return labels


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("n_examples, n_neurons, seed", [(40, 5, 0), (257, 31, 1), (1000, 17, 2)])
def test_random_scores_match_sklearn(n_examples, n_neurons, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_examples, n_neurons)).astype(np.float32)
    labels = random_labels(rng, n_examples)
    got = average_precision(scores, labels)
    assert got.shape == (n_neurons,) and got.dtype == np.float64
    np.testing.assert_allclose(got, sklearn_ap(scores, labels), rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_float16_rounded_heavy_ties_match_sklearn():
    rng = np.random.default_rng(3)
    scores = (rng.standard_normal((3000, 12)) * 1e-5).astype(np.float16).astype(np.float32)
    assert len(np.unique(scores[:, 0])) < 1500  # really tie-heavy
    labels = random_labels(rng, 3000)
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)


def test_three_distinct_values_match_sklearn():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 3, (500, 9)).astype(np.float32)
    labels = random_labels(rng, 500, 0.3)
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)


def test_all_equal_column_gives_positive_fraction():
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    scores = np.column_stack([np.full(10, 0.7), np.zeros(10), np.full(10, -3.0)])
    got = average_precision(scores, labels)
    np.testing.assert_allclose(got, sklearn_ap(scores, labels), rtol=0, atol=TOL)
    np.testing.assert_allclose(got, 0.3, rtol=0, atol=TOL)


def test_single_positive_and_single_negative():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((60, 6))
    one_pos = np.zeros(60, dtype=bool)
    one_pos[17] = True
    one_neg = ~one_pos
    for labels in (one_pos, one_neg):
        np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)


def test_all_positive_gives_one():
    scores = np.random.default_rng(6).standard_normal((20, 4))
    np.testing.assert_array_equal(average_precision(scores, np.ones(20, dtype=bool)), 1.0)


def test_signed_zeros_are_one_tie_group():
    labels = np.array([1, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    # -0.0 and 0.0 interleaved so that splitting them would change the AP.
    zeros = np.array([-0.0, 0.0, 0.0, -0.0, 0.0, -0.0, -0.0, 0.0])
    mixed = np.array([1.0, -0.0, 0.0, 2.0, 0.0, -1.0, -0.0, 0.0])
    for dtype in (np.float32, np.float64):
        scores = np.column_stack([zeros, mixed]).astype(dtype)
        got = average_precision(scores, labels)
        np.testing.assert_allclose(got, sklearn_ap(scores, labels), rtol=0, atol=TOL)
        np.testing.assert_allclose(got[0], 3 / 8, rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_infinities_and_extreme_magnitudes(dtype):
    rng = np.random.default_rng(7)
    pool = np.array([np.inf, -np.inf, 1e300, -1e300, 1e-300, -1e-300, 3e38, -3e38, 1e-45, 0.0, 1.0])
    if dtype == np.float32:
        with np.errstate(over="ignore"):
            pool = pool.astype(np.float32)  # 1e300 -> inf, 1e-300 -> 0: still tie-heavy
    scores = rng.choice(pool, (200, 8)).astype(dtype)
    scores[:, 0] = np.inf  # whole column one tie group
    scores[:100, 1] = -np.inf
    labels = random_labels(rng, 200, 0.3)
    got = average_precision(scores, labels)
    want = sklearn_ap(dense_ranks(scores.astype(np.float64)), labels)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    np.testing.assert_allclose(got[0], labels.mean(), rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # sklearn's own sum
def test_huge_and_tiny_finite_values_match_sklearn_directly():
    rng = np.random.default_rng(8)
    pool = np.array([1e300, -1e300, 1e-300, -1e-300, 5e-324, 1e308, -1e308, 0.5, 0.0])
    scores = rng.choice(pool, (150, 5))
    labels = random_labels(rng, 150, 0.4)
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_torch_float_dtypes(dtype):
    rng = np.random.default_rng(9)
    scores = torch.from_numpy(rng.standard_normal((400, 10))).to(dtype)
    labels = torch.from_numpy(random_labels(rng, 400))
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels.numpy()), rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_dtypes_and_label_kinds(dtype):
    rng = np.random.default_rng(10)
    scores = rng.standard_normal((300, 7)).astype(dtype)
    labels = random_labels(rng, 300)
    want = sklearn_ap(scores, labels)
    for lab in (labels, labels.astype(np.int64), labels.astype(np.float32), torch.from_numpy(labels)):
        np.testing.assert_allclose(average_precision(scores, lab), want, rtol=0, atol=TOL)


def test_torch_and_numpy_inputs_agree_exactly():
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((500, 20)).astype(np.float32)
    labels = random_labels(rng, 500)
    a = average_precision(scores, labels)
    b = average_precision(torch.from_numpy(scores), torch.from_numpy(labels).to(torch.int32))
    c = average_precision(torch.from_numpy(scores).requires_grad_(), labels, device="cpu")
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_read_only_array_is_accepted_without_warning(recwarn):
    rng = np.random.default_rng(23)
    scores = rng.standard_normal((40, 3))
    labels = random_labels(rng, 40)
    scores.flags.writeable = False
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_row_order_does_not_matter():
    rng = np.random.default_rng(12)
    scores = rng.integers(-3, 4, (300, 11)).astype(np.float32)
    labels = random_labels(rng, 300)
    perm = rng.permutation(300)
    np.testing.assert_allclose(
        average_precision(scores, labels),
        average_precision(scores[perm], labels[perm]),
        rtol=0,
        atol=TOL,
    )


def test_one_neuron_and_no_neurons():
    rng = np.random.default_rng(13)
    scores = rng.standard_normal((50, 1))
    labels = random_labels(rng, 50)
    got = average_precision(scores, labels)
    assert got.shape == (1,)
    np.testing.assert_allclose(got, sklearn_ap(scores, labels), rtol=0, atol=TOL)
    assert average_precision(np.zeros((50, 0)), labels).shape == (0,)
    empty = average_precision_subsets(np.zeros((50, 0)), [(np.arange(50), labels)])
    assert empty.shape == (1, 0)
    assert average_precision_subsets(scores, []).shape == (0, 1)


def test_integer_scores_are_accepted():
    rng = np.random.default_rng(14)
    scores = rng.integers(-5, 5, (80, 4))
    labels = random_labels(rng, 80)
    np.testing.assert_allclose(average_precision(scores, labels), sklearn_ap(scores, labels), rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunk_sizes_give_identical_results(dtype):
    rng = np.random.default_rng(15)
    scores = rng.standard_normal((200, 23)).astype(np.float16).astype(dtype)
    if dtype == np.float64:
        scores[:, ::2] += 1e-12  # not float32-exact: the float64 path
    labels = random_labels(rng, 200)
    whole = average_precision(scores, labels, chunk_size=23)
    for chunk in (1, 3, 7, 22, 100, None):
        np.testing.assert_array_equal(average_precision(scores, labels, chunk_size=chunk), whole)
    np.testing.assert_allclose(whole, sklearn_ap(scores, labels), rtol=0, atol=TOL)


# --------------------------------------------------------------------------- subsets


def overlapping_subsets(rng, n_pool, n_subsets):
    subsets = []
    for _ in range(n_subsets):
        members = rng.choice(n_pool, int(rng.integers(2, n_pool)), replace=False)
        positive = rng.random(members.size) < 0.3
        positive[0] = True
        subsets.append((members, positive))
    return subsets


@pytest.mark.parametrize("kind", ["normal", "float16", "012", "float64"])
def test_subsets_match_direct_calls_and_slow_reference(kind):
    rng = np.random.default_rng(16)
    n_pool, n_neurons = 120, 9
    scores = rng.standard_normal((n_pool, n_neurons))
    if kind == "float16":
        scores = scores.astype(np.float16)
    elif kind == "012":
        scores = rng.integers(0, 3, (n_pool, n_neurons)).astype(np.float32)
    elif kind == "normal":
        scores = scores.astype(np.float32)
    subsets = overlapping_subsets(rng, n_pool, 6)
    got = average_precision_subsets(scores, subsets, chunk_size=4)
    assert got.shape == (6, n_neurons) and got.dtype == np.float64
    for r, (members, positive) in enumerate(subsets):
        direct = average_precision(scores[members], positive)
        assert np.abs(got[r] - direct).max() <= TOL
        np.testing.assert_allclose(got[r], sklearn_ap(scores[members], positive), rtol=0, atol=TOL)
        for j in range(0, n_neurons, 4):
            column = scores[members, j].astype(np.float64)
            assert abs(got[r, j] - slow_ap(column, positive)) <= TOL


def test_pipeline_shaped_subsets_match_sklearn():
    """12 relations: positives of r plus 4x negatives drawn from the others."""
    rng = np.random.default_rng(17)
    n_rel, n_pos = 12, 25
    relation = np.repeat(np.arange(n_rel), n_pos)
    scores = (rng.standard_normal((relation.size, 40)) * 0.1).astype(np.float16).astype(np.float32)
    subsets = []
    for r in range(n_rel):
        pos = np.flatnonzero(relation == r)
        neg = rng.choice(np.flatnonzero(relation != r), 4 * n_pos, replace=False)
        subsets.append((np.concatenate([pos, neg]), np.r_[np.ones(n_pos, bool), np.zeros(4 * n_pos, bool)]))
    got = average_precision_subsets(torch.from_numpy(scores), subsets, chunk_size=16)
    want = np.stack([sklearn_ap(scores[m], p) for m, p in subsets])
    assert np.abs(got - want).max() <= TOL


def test_subsets_rows_in_many_or_no_subsets_and_torch_indices():
    rng = np.random.default_rng(18)
    scores = rng.integers(0, 4, (30, 5)).astype(np.float32)
    everyone = np.arange(30)
    subsets = [
        (everyone, everyone % 2 == 0),
        (torch.arange(5, 25), torch.arange(5, 25) % 2 == 0),  # same rows positive again
        (np.array([29, 0, 3]), np.array([1, 0, 1])),
        (np.array([7]), np.array([True])),  # one member, positive
    ]
    got = average_precision_subsets(scores, subsets)
    for r, (members, positive) in enumerate(subsets):
        members, positive = np.asarray(members), np.asarray(positive).astype(bool)
        np.testing.assert_allclose(got[r], sklearn_ap(scores[members], positive), rtol=0, atol=TOL)
    np.testing.assert_array_equal(got[3], 1.0)


def test_counter_fields_at_power_of_two_sizes():
    """Subsets whose sizes sit at bit-width edges (n = 2**k - 1, 2**k), packed together."""
    rng = np.random.default_rng(24)
    scores = rng.integers(0, 5, (300, 7)).astype(np.float32)
    subsets = []
    sizes = [(1, 1), (2, 1), (63, 63), (64, 64), (127, 1), (128, 128), (255, 100), (256, 256), (300, 150)]
    for n_members, n_positive in sizes:
        members = rng.choice(300, n_members, replace=False)
        positive = np.zeros(n_members, dtype=bool)
        positive[rng.choice(n_members, n_positive, replace=False)] = True
        subsets.append((members, positive))
    got = average_precision_subsets(scores, subsets)
    for r, (members, positive) in enumerate(subsets):
        np.testing.assert_allclose(got[r], sklearn_ap(scores[members], positive), rtol=0, atol=TOL)


def test_subsets_chunking_is_exact():
    rng = np.random.default_rng(19)
    scores = rng.standard_normal((90, 37)).astype(np.float16)
    subsets = overlapping_subsets(rng, 90, 5)
    whole = average_precision_subsets(scores, subsets, chunk_size=37)
    for chunk in (1, 5, 36, None):
        np.testing.assert_array_equal(average_precision_subsets(scores, subsets, chunk_size=chunk), whole)


# --------------------------------------------------------------------------- code paths


def test_torch_sort_path_matches_numpy_sort_path(monkeypatch):
    """The non-CPU branch (torch.sort / torch.argsort) must give the same values."""
    rng = np.random.default_rng(20)
    ties = rng.integers(-2, 3, (150, 6)).astype(np.float32)
    ties[:5, 0] = np.inf
    ties[5:9, 1] = -np.inf
    wide = rng.choice(np.array([1e300, -1e-300, 0.0, -0.0, 2.5]), (150, 6))  # float64 path
    labels = random_labels(rng, 150, 0.3)
    subsets = overlapping_subsets(rng, 150, 4)
    expected = [
        average_precision(ties, labels),
        average_precision(wide, labels),
        average_precision_subsets(ties, subsets, chunk_size=4),
    ]
    monkeypatch.setattr(ap_module, "_cpu_engine", lambda device: False)
    got = [
        average_precision(ties, labels),
        average_precision(wide, labels),
        average_precision_subsets(ties, subsets, chunk_size=4),
    ]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    ties[7, 2] = np.nan
    with pytest.raises(InputError, match="scores column 2 contains NaN"):
        average_precision(ties, labels)
    wide[7, 4] = np.nan
    with pytest.raises(InputError, match="scores column 4 contains NaN"):
        average_precision(wide, labels)


def _cuda_like_sort(keys, dim=1):
    """torch.sort as CUDA may order it: NaNs with the sign bit set first, other NaNs last (bits kept)."""
    assert dim == 1
    keys = keys.numpy()
    nan = np.isnan(keys)
    place = np.where(nan, np.where(np.signbit(keys), 0, 2), 1)  # negative NaN, number, positive NaN
    order = np.lexsort((np.where(nan, 0.0, keys), place), axis=1)
    values = np.take_along_axis(keys, order, axis=1)
    return torch.return_types.sort((torch.from_numpy(values), torch.from_numpy(order)))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_nan_is_found_when_the_device_sort_puts_it_first(monkeypatch, sign):
    rng = np.random.default_rng(25)
    scores = rng.integers(-2, 3, (60, 5)).astype(np.float32)
    scores[:7, 0] = np.inf  # +inf: a negative NaN once the row bits are set, so first in this order
    scores[7:9, 1] = -np.inf
    labels = random_labels(rng, 60, 0.3)
    monkeypatch.setattr(ap_module, "_cpu_engine", lambda device: False)
    monkeypatch.setattr(torch, "sort", _cuda_like_sort)
    got = average_precision(scores, labels)
    np.testing.assert_allclose(got, sklearn_ap(dense_ranks(scores.astype(np.float64)), labels), rtol=0, atol=TOL)
    scores[11, 3] = np.copysign(np.nan, sign)
    assert np.signbit(scores[11, 3]) == (sign < 0)
    with pytest.raises(InputError, match="scores column 3 contains NaN"):
        average_precision(scores, labels)
    with pytest.raises(InputError, match="scores column 3 contains NaN"):
        average_precision_subsets(scores, overlapping_subsets(rng, 60, 3), chunk_size=2)


def test_device_branch_chunks_within_its_budget_and_matches_sklearn(monkeypatch):
    """The accelerator branch run on CPU tensors: chunks sized by the byte budget (several here), one worker."""
    rng = np.random.default_rng(26)
    scores = rng.standard_normal((700, 90)).astype(np.float16).astype(np.float32)  # ties
    scores[:, 5] = rng.standard_normal(700)  # float32 values without ties
    subsets = overlapping_subsets(rng, 700, 7)
    cpu = average_precision_subsets(scores, subsets)
    monkeypatch.setattr(ap_module, "_cpu_engine", lambda device: False)
    monkeypatch.setattr(ap_module, "DEFAULT_CHUNK_BYTES", 4 * 2**20)
    widths, threads, real_chunk_ap = [], set(), ap_module._chunk_ap

    def spy(chunk, *args):
        widths.append(chunk.shape[0])
        threads.add(threading.get_ident())
        return real_chunk_ap(chunk, *args)

    monkeypatch.setattr(ap_module, "_chunk_ap", spy)
    got = average_precision_subsets(torch.from_numpy(scores), subsets)
    np.testing.assert_array_equal(got, cpu)
    for r, (members, positive) in enumerate(subsets):
        np.testing.assert_allclose(got[r], sklearn_ap(scores[members], positive), rtol=0, atol=TOL)
    assert len(widths) > 1 and sum(widths) == 90 and threads == {threading.get_ident()}
    per_neuron_floor = 700 * 16  # torch.sort's values and indices alone
    assert max(widths) * per_neuron_floor <= 4 * 2**20
    assert max(widths) == ap_module._chunk_neurons(
        None, 700, ap_module._make_plan(ap_module._as_subsets(subsets, 700), 700, torch.device("cpu")), "cuda"
    )


def _peak_tensor_bytes(fn) -> int:
    """Peak of the bytes torch allocates on the CPU while `fn` runs, from torch.profiler's memory events."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    current = peak = 0
    for event in sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("engine", ["cpu", "device"])
@pytest.mark.parametrize("ties", [False, True])
def test_working_set_estimate_bounds_the_measured_peak(monkeypatch, engine, ties):
    """`working_set_bytes` (what identify's memory budget counts) against torch's own allocation record."""
    rng = np.random.default_rng(27)
    scores = rng.standard_normal((2000, 240)).astype(np.float32)
    if ties:
        scores = np.round(scores * 2)
    subsets = overlapping_subsets(rng, 2000, 8)  # rows positive in several subsets: the largest entry layout
    monkeypatch.setattr(ap_module, "DEFAULT_CHUNK_BYTES", 6 * 2**20)
    if engine == "device":
        monkeypatch.setattr(ap_module, "_cpu_engine", lambda device: False)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # one worker, in this thread: the profiler sees every allocation
    try:
        estimate = ap_module.working_set_bytes(subsets, 2000, device="cpu")
        peak = _peak_tensor_bytes(lambda: average_precision_subsets(torch.from_numpy(scores), subsets))
    finally:
        torch.set_num_threads(before)
    assert peak <= estimate <= 1.6 * peak, (peak, estimate)


def test_thread_count_does_not_change_results_and_is_restored():
    rng = np.random.default_rng(21)
    scores = rng.standard_normal((300, 70)).astype(np.float16).astype(np.float32)
    subsets = overlapping_subsets(rng, 300, 5)
    before = torch.get_num_threads()
    parallel = average_precision_subsets(scores, subsets, chunk_size=8)
    assert torch.get_num_threads() == before
    torch.set_num_threads(1)
    try:
        serial = average_precision_subsets(scores, subsets, chunk_size=8)
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(parallel, serial)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(22)
    scores = torch.from_numpy(rng.standard_normal((400, 33)).astype(np.float16))
    subsets = overlapping_subsets(rng, 400, 5)
    cpu = average_precision_subsets(scores, subsets)
    gpu = average_precision_subsets(scores.cuda(), subsets)
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=TOL)
    on_gpu = average_precision_subsets(scores, subsets, device="cuda")
    np.testing.assert_allclose(on_gpu, cpu, rtol=0, atol=TOL)
    nan = scores.clone()
    nan[3, 7] = -float("nan")
    with pytest.raises(InputError, match="scores column 7 contains NaN"):
        average_precision_subsets(nan.cuda(), subsets)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_working_set_estimate_bounds_the_peak():
    """The CUDA sort's scratch buffers are an allowance in the estimate: measured here."""
    rng = np.random.default_rng(28)
    scores = torch.from_numpy(rng.standard_normal((6000, 3000)).astype(np.float32)).cuda()
    subsets = overlapping_subsets(rng, 6000, 12)
    estimate = ap_module.working_set_bytes(subsets, 6000, device="cuda")
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    average_precision_subsets(scores, subsets)
    peak = torch.cuda.max_memory_allocated() - base
    print(f"CUDA AP working set: peak {peak / 2**20:.0f} MiB, estimate {estimate / 2**20:.0f} MiB")
    assert peak <= estimate, (peak, estimate)


# --------------------------------------------------------------------------- errors


def test_no_positive_is_an_error():
    scores = np.zeros((5, 2))
    with pytest.raises(InputError, match="labels has no positive example: AP is undefined"):
        average_precision(scores, np.zeros(5, dtype=bool))
    with pytest.raises(InputError, match=r"subsets\[1\] has no positive example"):
        average_precision_subsets(scores, [([0, 1], [1, 0]), ([2, 3], [0, 0])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_is_an_error_naming_the_column(dtype):
    scores = np.ones((6, 5), dtype=dtype)
    scores[:, 0] = np.inf  # +-inf must not hide or be mistaken for a NaN
    scores[2, 3] = np.nan
    if dtype == np.float64:
        scores[:, 1] = 1e300  # float64 path
    labels = np.array([1, 0, 0, 1, 0, 0])
    with pytest.raises(InputError, match="scores column 3 contains NaN"):
        average_precision(scores, labels)
    with pytest.raises(InputError, match="scores column 3 contains NaN"):
        average_precision(scores, labels, chunk_size=2)
    scores[:, 1] = 1e300 if dtype == np.float64 else 3e38
    scores[4, 1] = np.nan
    with pytest.raises(InputError, match="scores column 1 contains NaN"):
        average_precision(scores, labels)


def test_shape_and_label_errors():
    scores = np.zeros((4, 3))
    with pytest.raises(InputError, match="labels has 3 entries but 4"):
        average_precision(scores, [1, 0, 0])
    with pytest.raises(InputError, match="scores must be 2-D"):
        average_precision(np.zeros(4), [1, 0, 0, 0])
    with pytest.raises(InputError, match="labels must be 1-D"):
        average_precision(scores, np.ones((4, 1)))
    with pytest.raises(InputError, match=r"labels must contain only 0/1.*found 2"):
        average_precision(scores, [1, 0, 2, 0])
    with pytest.raises(InputError, match="chunk_size must be a positive integer"):
        average_precision(scores, [1, 0, 0, 0], chunk_size=0)
    with pytest.raises(InputError, match="scores must hold real numbers"):
        average_precision(np.zeros((4, 3), dtype=complex), [1, 0, 0, 0])
    assert issubclass(InputError, ValueError)


def test_subset_errors():
    scores = np.zeros((4, 3))
    with pytest.raises(InputError, match=r"subsets\[0\] members must index the 4 pool rows"):
        average_precision_subsets(scores, [([0, 4], [1, 0])])
    with pytest.raises(InputError, match=r"subsets\[0\] members contain duplicate rows"):
        average_precision_subsets(scores, [([1, 1], [1, 0])])
    with pytest.raises(InputError, match=r"subsets\[0\] positive has 3 entries but 2"):
        average_precision_subsets(scores, [([0, 1], [1, 0, 0])])
    with pytest.raises(InputError, match=r"subsets\[0\] positive must contain only 0/1"):
        average_precision_subsets(scores, [([0, 1], [1, 2])])
    with pytest.raises(InputError, match=r"subsets\[0\] members must be a 1-D integer"):
        average_precision_subsets(scores, [([0.5, 1.0], [1, 0])])
    with pytest.raises(InputError, match=r"subsets\[0\] must be a \(members, positive\) pair"):
        average_precision_subsets(scores, [np.arange(2)])


# --------------------------------------------------------------------------- property


_values = st.sampled_from([-2.0, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 1e-30, -1e30])


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    n_examples=st.integers(1, 12),
    n_neurons=st.integers(1, 3),
    as_float16=st.booleans(),
)
def test_property_matches_sklearn_on_tie_heavy_inputs(data, n_examples, n_neurons, as_float16):
    flat = data.draw(st.lists(_values, min_size=n_examples * n_neurons, max_size=n_examples * n_neurons))
    scores = np.array(flat, dtype=np.float64).reshape(n_examples, n_neurons)
    if as_float16:
        with np.errstate(over="ignore"):
            scores = scores.astype(np.float16)
    labels = np.array(data.draw(st.lists(st.booleans(), min_size=n_examples, max_size=n_examples)))
    labels[data.draw(st.integers(0, n_examples - 1))] = True
    got = average_precision(scores, labels, chunk_size=data.draw(st.integers(1, 3)))
    # -1e30 is -inf in float16, which sklearn refuses: compare on dense ranks.
    want = sklearn_ap(dense_ranks(scores.astype(np.float64)), labels)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)

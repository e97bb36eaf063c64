"""Benchmark: per-neuron average precision (paper §2.2) against scikit-learn.

Scores are float16-rounded (so ties occur), stored as float32 like the
pipeline's activations. N = --n-examples prompts (default 2,500).

* single relation: the N prompts, --pos-frac (20%) of them positive;
  `average_precision(scores, labels)`.
* 12-relation workload: the N prompts are the pool, split into --relations
  relations (P = N / 12 positives each); relation r's examples are its P
  positives + 4P negatives drawn from the other relations (20% positive, as
  in the paper's §2.2). Project code: `average_precision_subsets` (one sort per neuron
  over the pool). `--subset-size S` instead sizes each relation's examples
  (P = S * pos_frac, pool = 12 P), e.g. S = 2,500 gives a 6,000-prompt pool.

Measured in the same run, interleaved over --rounds (medians, so that load
from other processes hits all contenders alike), per (neuron, relation):
(a) the scikit-learn loop (a few neurons, scaled), (b) a per-relation-sort
vectorized torch baseline written here, (c) the project implementation.

    python benchmarks/bench_average_precision.py                      # ~30 s
    python benchmarks/bench_average_precision.py --subset-size 2500   # 6,000-prompt pool
    python benchmarks/bench_average_precision.py --neurons 16384 --rounds 9
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch
from sklearn.metrics import average_precision_score

from relneurons.expertise import average_precision, average_precision_subsets

LLAMA2_7B_FFN_NEURONS = 835_584


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-examples", type=int, default=2500, help="prompts (N): the pool")
    parser.add_argument("--pos-frac", type=float, default=0.2, help="fraction of positives per relation")
    parser.add_argument(
        "--subset-size", type=int, default=None, help="examples per relation instead (pool = R * S * pos_frac)"
    )
    parser.add_argument("--relations", type=int, default=12)
    parser.add_argument("--neurons", type=int, default=4096, help="neurons for the project code")
    parser.add_argument("--baseline-neurons", type=int, default=256, help="neurons for the torch baseline")
    parser.add_argument("--sklearn-neurons", type=int, default=24, help="neurons for the sklearn loop")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=None, help="project chunk size (default: its own)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tie-free", action="store_true", help="plain float32 scores (no float16 rounding): ~no ties")
    return parser.parse_args()


def make_workload(args, rng):
    """Pool scores [n_pool, neurons], the R (members, positive) subsets, single-relation labels."""
    if args.subset_size is not None:
        n_pool = args.relations * round(args.subset_size * args.pos_frac)
    else:
        n_pool = args.n_examples
    relation = rng.permutation(np.arange(n_pool) % args.relations)
    ratio = round((1 - args.pos_frac) / args.pos_frac)  # 4 negatives per positive at 20%
    scores = rng.standard_normal((n_pool, args.neurons), dtype=np.float32)
    if not args.tie_free:
        scores = scores.astype(np.float16).astype(np.float32)  # ties, as float16 activations would have
    subsets = []
    for r in range(args.relations):
        positives = np.flatnonzero(relation == r)
        negatives = rng.choice(np.flatnonzero(relation != r), ratio * positives.size, replace=False)
        members = np.concatenate([positives, negatives])
        labels = np.r_[np.ones(positives.size, dtype=bool), np.zeros(negatives.size, dtype=bool)]
        shuffle = rng.permutation(members.size)
        subsets.append((members[shuffle], labels[shuffle]))
    single_labels = np.zeros(n_pool, dtype=bool)
    single_labels[rng.choice(n_pool, round(n_pool * args.pos_frac), replace=False)] = True
    return torch.from_numpy(scores), subsets, single_labels


# ------------------------------------------------------------------ contenders


def sklearn_loop(scores: np.ndarray, subsets) -> np.ndarray:
    """(a) scikit-learn, one call per (relation, neuron)."""
    out = np.empty((len(subsets), scores.shape[1]))
    for r, (members, labels) in enumerate(subsets):
        rows = scores[members]
        for j in range(scores.shape[1]):
            out[r, j] = average_precision_score(labels, rows[:, j])
    return out


def torch_per_relation_sort(scores: torch.Tensor, subsets, chunk: int = 256) -> np.ndarray:
    """(b) Vectorized torch baseline: for each relation, sort its own examples.

    Per relation and chunk of neurons: torch.sort descending, labels in sorted
    order, cumulative true positives, tie-group ends by a reverse cummin, and
    AP = mean over positives of TP/(rank+1) at the group end.
    """
    out = np.empty((len(subsets), scores.shape[1]))
    for r, (members, labels) in enumerate(subsets):
        rows = scores[torch.as_tensor(members)]
        lab = torch.as_tensor(labels, dtype=torch.float64)
        n = rows.shape[0]
        arange = torch.arange(n)
        for start in range(0, scores.shape[1], chunk):
            block = rows[:, start : start + chunk].t().to(torch.float64)
            values, order = torch.sort(block, dim=1, descending=True)
            sorted_lab = lab[order]
            tp = sorted_lab.cumsum(dim=1)
            is_end = torch.ones_like(values, dtype=torch.bool)
            is_end[:, :-1] = values[:, 1:] != values[:, :-1]
            end = torch.where(is_end, arange, n).flip(1).cummin(dim=1).values.flip(1)
            precision = tp.gather(1, end) / (end + 1)
            out[r, start : start + chunk] = ((precision * sorted_lab).sum(1) / lab.sum()).numpy()
    return out


# ------------------------------------------------------------------ timing


def timed(fn, *args, **kwargs):
    """(wall seconds, CPU seconds of the whole process, result)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    scores, subsets, single_labels = make_workload(args, rng)
    n_rel = len(subsets)
    scores_np = scores.numpy()
    sk_cols = slice(0, args.sklearn_neurons)
    base_cols = slice(0, args.baseline_neurons)

    single = scores  # single relation: the N prompts with their own 20% positive labels
    sizes = sorted({m.size for m, _ in subsets})

    print("bench_average_precision")
    print(
        f"  CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"torch threads: {torch.get_num_threads()}, numpy {np.__version__}"
    )
    print(
        f"  single relation: N={single.shape[0]} examples, {single_labels.mean():.0%} positive; "
        f"{n_rel}-relation workload: pool of {scores.shape[0]} prompts, each relation its positives "
        f"+ 4x negatives from the others ({'/'.join(map(str, sizes))} examples, 20% positive)"
    )
    print(
        f"  neurons timed: sklearn {args.sklearn_neurons}, torch baseline {args.baseline_neurons}, "
        f"project {args.neurons}; scores {'float32 (tie-free)' if args.tie_free else 'float16-rounded (float32)'}; "
        f"{args.rounds} interleaved rounds"
    )

    # warm-up (thread pools, allocator, first-call overheads)
    average_precision_subsets(scores[:, :64], subsets, chunk_size=args.chunk_size)
    torch_per_relation_sort(scores[:, :8], subsets[:1])

    cost = {key: [] for key in ("sk", "base", "proj", "sk1", "proj1")}
    cpu = {key: [] for key in cost}

    def record(key, units, fn, *fn_args, **fn_kwargs):
        wall, cpu_s, result = timed(fn, *fn_args, **fn_kwargs)
        cost[key].append(wall / units)
        cpu[key].append(cpu_s / units)
        return result

    for _ in range(args.rounds):
        sk = record("sk", args.sklearn_neurons * n_rel, sklearn_loop, scores_np[:, sk_cols], subsets)
        base = record("base", args.baseline_neurons * n_rel, torch_per_relation_sort, scores[:, base_cols], subsets)
        proj = record(
            "proj", args.neurons * n_rel, average_precision_subsets, scores, subsets, chunk_size=args.chunk_size
        )
        single_subset = [(np.arange(single.shape[0]), single_labels)]  # sklearn on the same N x neurons
        sk1 = record("sk1", args.sklearn_neurons, sklearn_loop, single.numpy()[:, sk_cols], single_subset)
        proj1 = record("proj1", args.neurons, average_precision, single, single_labels, chunk_size=args.chunk_size)
    med = {key: statistics.median(values) for key, values in cost.items()}
    med_cpu = {key: statistics.median(values) for key, values in cpu.items()}

    diff_proj = np.abs(proj[:, sk_cols] - sk).max()
    diff_base = np.abs(base[:, sk_cols] - sk).max()
    diff_proj1 = np.abs(proj1[sk_cols] - sk1[0]).max()
    us = 1e6
    print()
    print("single relation (per neuron):")
    print(f"  (a) sklearn loop            {med['sk1'] * us:9.1f} us")
    print(f"  (c) average_precision       {med['proj1'] * us:9.2f} us   (a)/(c) = {med['sk1'] / med['proj1']:.0f}x")
    print(f"  max |(c) - sklearn|         {diff_proj1:.2e}")
    print()
    print(f"{n_rel}-relation workload (per neuron x relation):")
    print(f"  (a) sklearn loop            {med['sk'] * us:9.1f} us")
    print(f"  (b) torch per-relation sort {med['base'] * us:9.2f} us")
    print(f"  (c) project (one sort/pool) {med['proj'] * us:9.2f} us")
    print(f"  (a)/(c) = {med['sk'] / med['proj']:.0f}x   (goal >= 100x)")
    print(f"  (b)/(c) = {med['base'] / med['proj']:.1f}x")
    print(f"  max |(c) - sklearn| = {diff_proj:.2e}   (goal <= 1e-9);  max |(b) - sklearn| = {diff_base:.2e}")
    print(f"  per-round (a)/(c): {', '.join(f'{s / p:.0f}x' for s, p in zip(cost['sk'], cost['proj']))}")
    print(
        f"  process CPU time: (a) {med_cpu['sk'] * us:.1f} us, (b) {med_cpu['base'] * us:.1f} us, "
        f"(c) {med_cpu['proj'] * us:.2f} us -> (a)/(c) = {med_cpu['sk'] / med_cpu['proj']:.0f}x"
    )
    total = med["proj"] * LLAMA2_7B_FFN_NEURONS * n_rel
    print()
    print(
        f"Llama-2-7B extrapolation: {LLAMA2_7B_FFN_NEURONS:,} FFN neurons x {n_rel} relations, "
        f"pool of {scores.shape[0]} prompts, this CPU, {torch.get_num_threads()} threads:"
    )
    print(
        f"  project ~ {total:,.0f} s ({total / 60:.1f} min); sklearn loop would take ~ "
        f"{med['sk'] * LLAMA2_7B_FFN_NEURONS * n_rel / 3600:,.1f} h"
    )


if __name__ == "__main__":
    main()

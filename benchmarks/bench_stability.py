"""Benchmark: the cost of resampled identification as a ratio to one identification.

On a real store (no model, no forward pass), interleaved over --rounds (medians, so that load from other
processes hits both alike): (a) one identification of every ranked relation (all validated P_det, the
example sets of `identify`), (b) B half-samples (`expertise.stability.resampled_topk`, which scores every
block for all B x R example sets with one sort per column). Prints seconds and the ratio (b)/(a).

    python benchmarks/bench_stability.py --store runs/quick/store --identify runs/quick/identify --resamples 20

Measured on the Gemma 3 270M quick store (6 relations, 346 stored rows, 85,248 FFN neurons, k = 307), 2-core
CPU shared with other jobs (load about 20): (a) 3.3-3.9 s, (b) 38.7 s for B = 20, a ratio of about 10-12.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from relneurons.activations.store import ActivationStore
from relneurons.expertise.stability import half_samples, resampled_topk, validated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--identify", required=True)
    parser.add_argument("--resamples", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    store = ActivationStore(args.store)
    summary = json.loads((Path(args.identify) / "summary.json").read_text())
    relations, k, ratio = list(summary["relations"]), int(summary["k"]), int(summary["config"]["negative_ratio"])
    contenders = {
        "one identification": [validated(store.prompts)],
        f"B = {args.resamples} half-samples": half_samples(store.prompts, args.resamples, 0),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, subsets in contenders.items():
            start = time.perf_counter()
            resampled_topk(store, subsets, relations, k, negative_ratio=ratio, seed=0)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in medians.items():
        print(f"{name}: {seconds:.2f} s (median of {args.rounds})")
    one, many = medians.values()
    print(f"ratio: {many / one:.1f} identifications")


if __name__ == "__main__":
    main()

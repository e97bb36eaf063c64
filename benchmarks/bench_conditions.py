"""Condition batching: the inter-relation matrix as mixed batches vs one generate() per condition.

Workload: P_eva prompts of R relations, evaluated under 1 + R conditions (original, and each relation's
top-k switched off, k random here: the cost does not depend on which neurons), as in Fig. 4. Both
methods use the same batch size; outputs are compared. Measured in one run, alternating.

    python benchmarks/bench_conditions.py                      # 4 relations x 20 prompts, 5 conditions
    python benchmarks/bench_conditions.py --relations 12 --prompts 50   # the paper's 13 x 600
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from relneurons.data import PAPER_RELATIONS, build_prompts, load_relations, resolve_data_dir, split
from relneurons.intervention import Condition, deactivate
from relneurons.intervention.evaluate import generate_pairs
from relneurons.model import greedy_generate, load_model, make_policy, neuron_set

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "lre"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else None)
    parser.add_argument("--relations", type=int, default=4)
    parser.add_argument("--prompts", type=int, default=20, help="P_eva prompts per relation")
    parser.add_argument("--k", type=int, default=307)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    relations = load_relations(list(PAPER_RELATIONS[: args.relations]), resolve_data_dir(args.data))
    texts = [p.text for r in relations for p in build_prompts(r, split(r)[0][: args.prompts], (0,))]
    model, tokenizer = load_model(args.model, device="cpu")
    policy = make_policy(tokenizer, model.config.model_type)
    ffn = neuron_set(model, "ffn").global_ids
    rng = np.random.default_rng(0)
    catalogue = {"original": Condition("original", np.zeros(0, np.int64))}
    for r in relations:
        catalogue[r.name] = Condition(r.name, np.sort(rng.choice(ffn, args.k, replace=False)))

    def batched() -> dict[str, list[str]]:
        rows = [(t, c) for c in catalogue for t in texts]
        out = generate_pairs(
            model,
            tokenizer,
            policy,
            [t for t, _ in rows],
            [c for _, c in rows],
            catalogue,
            batch_size=args.batch_size,
            progress=False,
        )
        return {c: out[i * len(texts) : (i + 1) * len(texts)] for i, c in enumerate(catalogue)}

    def one_by_one() -> dict[str, list[str]]:
        result = {}
        for name, cond in catalogue.items():
            with deactivate(model, cond.neurons):
                result[name] = greedy_generate(model, tokenizer, texts, batch_size=args.batch_size, policy=policy)
        return result

    best = {"batched": float("inf"), "per condition": float("inf")}
    outputs = {}
    for _ in range(args.repeats):
        for name, fn in (("batched", batched), ("per condition", one_by_one)):
            start = time.perf_counter()
            outputs[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    pairs = len(texts) * len(catalogue)
    same = sum(a == b for c in catalogue for a, b in zip(outputs["batched"][c], outputs["per condition"][c]))
    print(
        f"model {args.model}: {len(texts)} P_eva prompts x {len(catalogue)} conditions = {pairs} generations, "
        f"batch {args.batch_size}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"one generate() per condition : {best['per condition']:7.1f} s   {pairs / best['per condition']:6.1f} prompt-conditions/s"
    )
    print(
        f"condition-batched            : {best['batched']:7.1f} s   {pairs / best['batched']:6.1f} prompt-conditions/s"
    )
    print(f"speed-up (ratio)             : {best['per condition'] / best['batched']:.2f}x")
    print(f"identical generations        : {same} / {pairs}")


if __name__ == "__main__":
    main()

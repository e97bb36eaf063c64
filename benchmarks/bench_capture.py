"""Capture overhead: validation + activation capture vs plain greedy 2-token generation.

Same model, same prompts, same batches, measured in one run (alternating
repeats, best of each), so the ratio is what the hooks and the copy-out cost.

    python benchmarks/bench_capture.py [--model gemma3-270m] [--prompts 192] [--batch-size 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from relneurons.activations.capture import capture_batch, capturing
from relneurons.data import build_prompts, load_relations, resolve_data_dir, split
from relneurons.model import generate_batch, load_model, neuron_set, pad_left
from relneurons.model.tokenization import make_policy, token_ids

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "lre"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else None)
    parser.add_argument("--prompts", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", default="ffn")
    args = parser.parse_args()

    relations = load_relations(["company_hq", "landmark_country", "star_constellation"], resolve_data_dir(args.data))
    texts = [p.text for r in relations for p in build_prompts(r, split(r)[1], (0,))][: args.prompts]
    model, tokenizer = load_model(args.model, device="cpu")
    policy = make_policy(tokenizer, model.config.model_type)
    encoded = sorted(token_ids(tokenizer, policy, texts), key=len)
    batches = [encoded[i : i + args.batch_size] for i in range(0, len(encoded), args.batch_size)]
    nset = neuron_set(model, args.set)

    def plain() -> None:
        for seqs in batches:
            generate_batch(model, pad_left(seqs, policy.pad_token_id), 2)

    def captured() -> None:
        with capturing(model, nset) as cap:
            for seqs in batches:
                capture_batch(model, cap, seqs, policy, 2)

    plain()  # warm-up
    best = {"plain": float("inf"), "capture": float("inf")}
    for _ in range(args.repeats):
        for name, fn in (("plain", plain), ("capture", captured)):
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    n = len(texts)
    print(
        f"model {args.model}, {n} prompts, batch {args.batch_size}, neuron set {args.set} ({nset.size:,} neurons), "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"plain greedy 2 tokens      : {n / best['plain']:7.1f} prompts/s")
    print(f"validation + capture       : {n / best['capture']:7.1f} prompts/s")
    print(f"capture overhead (ratio)   : {best['capture'] / best['plain']:.3f}x  (goal <= 1.10)")


if __name__ == "__main__":
    main()

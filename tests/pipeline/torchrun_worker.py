"""Worker of tests/pipeline/test_distributed.py, run once alone and once under torchrun (2 processes, gloo).

    python tests/pipeline/torchrun_worker.py MODEL_FOLDER LRE_DIR OUT [--oom-above N]

Collects a store with a tiny random model (every text kept), then generates
three conditions over its texts through the generation cache, and (process 0)
writes the generations as JSON. `--oom-above N` makes the model raise an
out-of-memory error for batches of more than N rows (a fake, to test halving).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from relneurons import parallel
from relneurons.activations import CollectConfig, collect
from relneurons.intervention import Condition
from relneurons.intervention.evaluate import GenerationCache, generate_pairs
from relneurons.model import load_model, make_policy, neuron_set

RELATIONS = ("company_hq", "star_constellation", "landmark_country")


def fake_oom(model, limit: int) -> None:
    real = model.forward

    def forward(*args, **kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is not None and ids.shape[0] > limit:
            raise torch.OutOfMemoryError(f"fake: CUDA out of memory (batch of {ids.shape[0]} > {limit})")
        return real(*args, **kwargs)

    model.forward = forward


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("lre")
    parser.add_argument("out")
    parser.add_argument("--oom-above", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    args = parser.parse_args()
    out = Path(args.out)
    if args.oom_above:
        collect_module = sys.modules[
            "relneurons.activations.collect"
        ]  # the package exports a function of the same name
        real_load = collect_module.load_model

        def load(*a, **k):
            model, tokenizer = real_load(*a, **k)
            fake_oom(model, args.oom_above)
            return model, tokenizer

        collect_module.load_model = load
    config = CollectConfig(
        model=args.model,
        data_dir=args.lre,
        relations=RELATIONS,
        templates=(0,),
        max_prompts_per_relation=8,
        keep_all=True,
        chunk_prompts=4,
        batch_size=args.batch_size,
        device="cpu",
    )
    store = collect(config, out / "store", progress=False)

    model, tokenizer = load_model(args.model, device="cpu")
    if args.oom_above:
        fake_oom(model, args.oom_above)
    policy = make_policy(tokenizer, model.config.model_type)
    ids = neuron_set(model, "ffn").global_ids
    rng = np.random.default_rng(0)
    catalogue = {
        "original": Condition("original", np.zeros(0, np.int64)),
        "a": Condition("a", np.sort(rng.choice(ids, 80, replace=False))),
        "b": Condition("b", np.sort(rng.choice(ids, 80, replace=False)), value=3.0),
    }
    texts = store.prompts["text"].tolist()
    pairs = [(t, c) for c in catalogue for t in texts]
    cache = GenerationCache(out / "results" / "generations.parquet", {"test": "torchrun"})
    first = generate_pairs(
        model,
        tokenizer,
        policy,
        [t for t, _ in pairs[:40]],
        [c for _, c in pairs[:40]],
        catalogue,
        max_new_tokens=3,
        batch_size=args.batch_size,
        cache=cache,
        progress=False,
    )
    every = generate_pairs(
        model,
        tokenizer,
        policy,
        [t for t, _ in pairs],
        [c for _, c in pairs],
        catalogue,
        max_new_tokens=3,
        batch_size=args.batch_size,
        cache=cache,
        progress=False,
    )
    assert every[:40] == first
    if parallel.is_main():
        (out / "generations.json").write_text(json.dumps({"world": parallel.world(), "generations": every}))
    print(f"worker {parallel.rank()} of {parallel.world()} done", file=sys.stderr)


if __name__ == "__main__":
    main()

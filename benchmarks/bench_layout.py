"""How to lay a CPU study out: threads per process, batch size, processes, measured in one run.

The paper preset's generations (intra's random sets, inter, the sweep) are 2-token generations of one condition
per batch. On a small CPU the same work can run as one process with every core's threads, with a larger batch,
or as several single-threaded processes (what `torchrun --nproc-per-node N` does: OMP_NUM_THREADS=1 each, the
batches shared). This script times `generate_pairs` on the same P_eva prompts under one random set of k FFN
neurons in each layout, interleaved round by round, and prints each layout's rate as a ratio to the first
(one process, torch's threads, batch 32), plus whether every layout generated the same text for every prompt.

    python benchmarks/bench_layout.py                  # 384 prompts, 2 rounds, ~2 min on a quiet 2-core CPU
    python benchmarks/bench_layout.py --prompts 128 --rounds 1

A worker process is this script with --worker: it loads the model, generates its share (every n-th prompt)
and prints one JSON line; model loading is outside the timed part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "lre"


def worker(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from relneurons.data import PAPER_RELATIONS, build_prompts, load_relations, resolve_data_dir, split
    from relneurons.intervention import Condition
    from relneurons.intervention.evaluate import generate_pairs, random_neurons
    from relneurons.model import load_model, make_policy, neuron_set

    model, tokenizer = load_model(args.model, "float32", device="cpu")
    policy = make_policy(tokenizer, model.config.model_type)
    ffn = neuron_set(model, "ffn")
    relations = load_relations(list(PAPER_RELATIONS), resolve_data_dir(args.data))
    texts = [p.text for r in relations for p in build_prompts(r, split(r)[0], (0,), "? Answer:")][: args.prompts]
    mine = texts[args.shard :: args.shards]
    name = f"random:{args.seed}"
    catalogue = {name: Condition(name, random_neurons(ffn.global_ids, args.k, args.seed))}
    start = time.perf_counter()
    generations = generate_pairs(
        model, tokenizer, policy, mine, [name] * len(mine), catalogue, batch_size=args.batch_size, progress=False
    )
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "generations": dict(zip(mine, generations))}))


def run_layout(script_args: list[str], threads: int, batch: int, processes: int) -> tuple[float, dict]:
    """Wall seconds of the slowest of `processes` workers started together, and their generations."""
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    launched = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", *script_args, "--threads", str(threads)]
            + ["--batch-size", str(batch), "--shard", str(i), "--shards", str(processes)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(processes)
    ]
    results = []
    for proc in launched:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a worker failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return max(r["seconds"] for r in results), {t: g for r in results for t, g in r["generations"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--prompts", type=int, default=384, help="P_eva prompts (template 0), in relation order")
    parser.add_argument("--k", type=int, default=3000, help="neurons in the random set (the paper's k)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shards", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    common = ["--model", args.model, "--data", args.data, "--prompts", str(args.prompts), "--k", str(args.k)]
    common += ["--seed", str(args.seed)]
    cores = args.cores
    layouts = {
        f"1 process x {cores} threads, batch 32": (cores, 32, 1),
        f"1 process x {cores} threads, batch 64": (cores, 64, 1),
        f"{cores} processes x 1 thread, batch 32": (1, 32, cores),
        f"{cores} processes x 1 thread, batch 64": (1, 64, cores),
    }
    times: dict[str, list[float]] = {name: [] for name in layouts}
    texts: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, layout in layouts.items():
            seconds, texts[name] = run_layout(common, *layout)
            times[name].append(seconds)
    first = next(iter(layouts))
    base = statistics.median(times[first])
    print(f"{args.prompts} P_eva prompts of {args.model}, one random set of {args.k} FFN neurons, {args.rounds} rounds")
    for name in layouts:
        seconds = statistics.median(times[name])
        differ = sum(texts[name][t] != texts[first][t] for t in texts[first])
        print(
            f"{name:<40} {args.prompts / seconds:6.1f} gen/s  ratio {base / seconds:.2f}  "
            f"generations differing from the first layout: {differ}/{len(texts[first])}"
        )


if __name__ == "__main__":
    main()

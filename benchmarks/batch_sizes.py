"""Do greedy generations depend on the batch size? The prompts of a run, generated at several batch sizes.

    python benchmarks/batch_sizes.py RUN --device cuda --sizes 1 7 16

Takes the texts of RUN/results/intra/generations.csv that ran under the `original` condition (the quick study's
P_eva and P_det prompts), generates 2 new tokens for each with `generate_pairs` (the study's code path: length-sorted
batches, left padding, the condition hooks installed) at each batch size, and reports how many generations differ
from the first size's and from the run's own (made at the run's batch size). A batch size changes the padding and
the shapes the kernels see, so float rounding, and with it a near-tied argmax, may change; on the CPU in float32
the sizes agreed in the tests. The last line is a one-line summary (benchmarks/gpu_check.sh prints it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def differences(texts: list[str], first: list[str], other: list[str]) -> list[tuple[str, str, str]]:
    """(text, first generation, other generation) for every prompt where the two differ."""
    return [(t, a, b) for t, a, b in zip(texts, first, other) if a != b]


def summary(device: str, sizes: list[int], by_size: dict[int, list[str]], run: list[str], run_size: str) -> str:
    """One line: per batch size, how many generations differ from the first size's and from the run's own."""
    n = len(run)

    def count(a: list[str], b: list[str]) -> int:
        return sum(x != y for x, y in zip(a, b))

    base = by_size[sizes[0]]
    versus_first = ", ".join(f"{size} vs {sizes[0]}: {count(base, by_size[size])}/{n} differ" for size in sizes[1:])
    versus_run = ", ".join(f"{size}: {count(run, by_size[size])}" for size in sizes)
    return f"batch sizes on {device}: {versus_first}; differ from the run's own (batch {run_size}): {versus_run} of {n}"


def run_texts(run: Path) -> tuple[list[str], list[str]]:
    """Texts and generations of the run's `original` rows (each text once)."""
    table = pd.read_csv(
        Path(run) / "results" / "intra" / "generations.csv",
        keep_default_na=False,
        dtype={"generation": str, "text": str},
    )
    original = table[table["condition"] == "original"].drop_duplicates("text")
    return original["text"].tolist(), original["generation"].tolist()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder with results/intra/generations.csv")
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 7, 16])
    parser.add_argument("--show", type=int, default=5, help="differences printed per batch size")
    args = parser.parse_args(argv)

    from relneurons.intervention import Condition
    from relneurons.intervention.evaluate import generate_pairs
    from relneurons.model import load_model, make_policy

    texts, generated = run_texts(args.run)
    config = (Path(args.run) / "config.toml").read_text() if (Path(args.run) / "config.toml").is_file() else ""
    run_size = next((line.split("=")[1].strip() for line in config.splitlines() if line.startswith("batch_size")), "?")
    model, tokenizer = load_model(args.model, args.dtype, device=args.device)
    policy = make_policy(tokenizer, model.config.model_type)
    catalogue = {"original": Condition("original", np.zeros(0, np.int64))}
    by_size = {}
    for size in args.sizes:
        by_size[size] = generate_pairs(
            model, tokenizer, policy, texts, ["original"] * len(texts), catalogue, batch_size=size, progress=False
        )
        for text, first, other in differences(texts, by_size[args.sizes[0]], by_size[size])[: args.show]:
            print(f"  batch {size} vs {args.sizes[0]}: {text!r}: {first!r} -> {other!r}")
        for text, first, other in differences(texts, generated, by_size[size])[: args.show]:
            print(f"  batch {size} vs the run: {text!r}: {first!r} -> {other!r}")
    print(summary(args.device, args.sizes, by_size, generated, run_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())

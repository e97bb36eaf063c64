"""How much the templates of one triple agree on Gemma 3 270M (feeds experiments/calibration.py).

For a seeded sample of 40 triples per relation, every LRE `prompt_templates` entry + "? Answer:" is answered
greedily (2 new tokens, robust rule) by the original model; per relation with >= 2 templates and some correct
answers, prints the accuracy and the one-way ANOVA intraclass correlation of correctness across templates.
Not a timing benchmark; ~2-5 min on 2 CPU cores.

    python benchmarks/within_triple_correlation.py [--model gemma3-270m] [--triples 40]
"""

from __future__ import annotations

import argparse
import random

import numpy as np

from relneurons.data import is_correct, load_relations, resolve_data_dir
from relneurons.model import greedy_generate, load_model

RELATIONS = [
    "company_hq",
    "landmark_country",
    "person_occupation",
    "product_company",
    "star_constellation",
    "company_ceo",
]


def icc(table: np.ndarray) -> float:
    """One-way ANOVA ICC(1) of a [triples, templates] 0/1 table."""
    k = table.shape[1]
    ms_between = k * table.mean(axis=1).var(ddof=1)
    ms_within = ((table - table.mean(axis=1, keepdims=True)) ** 2).sum() / (table.shape[0] * (k - 1))
    return float((ms_between - ms_within) / (ms_between + (k - 1) * ms_within))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--triples", type=int, default=40)
    args = parser.parse_args()
    model, tokenizer = load_model(args.model, "float32", "cpu")
    for relation in load_relations(RELATIONS, resolve_data_dir()):
        samples = list(relation.samples)
        random.Random(0).shuffle(samples)
        samples = samples[: args.triples]
        templates = relation.prompt_templates
        texts = [t.format(s.subject) + "? Answer:" for s in samples for t in templates]
        answers = greedy_generate(model, tokenizer, texts, 2, batch_size=32)
        correct = np.array(
            [is_correct(a, s.object, "robust") for a, s in zip(answers, [s for s in samples for _ in templates])],
            dtype=float,
        ).reshape(len(samples), len(templates))
        value = icc(correct) if len(templates) > 1 and 0 < correct.mean() < 1 else float("nan")
        print(
            f"{relation.name:22s} templates {len(templates)}  accuracy {correct.mean():.3f}  ICC {value:.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

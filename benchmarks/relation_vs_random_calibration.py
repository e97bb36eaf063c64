"""False-positive rate and power of the relation-vs-random tests on simulated studies (issue 11).

Old test (retired): two-sided sign-flip permutation test of the relation set's per-prompt correctness against
the per-prompt mean of the random sets (`paired_permutation_test`), counted as "p < 0.05" and as "below random
and p < 0.05" (the report's headline). New test: `relation_vs_random` (one-sided, the random sets as
replicates). Studies are simulated by `relneurons.experiments.calibration` with the between-set variation and
within-triple correlation measured on Gemma 3 270M. Not a timing benchmark; seeded, ~1-3 min on 2 cores.

    python benchmarks/relation_vs_random_calibration.py [--studies 2000]
"""

from __future__ import annotations

import argparse
import math

from relneurons.experiments.calibration import rejection_rates

SCENARIOS = [  # (label, options)
    ("null, 3 sets, 1 template", {"n_sets": 3}),
    ("null, 5 sets, 1 template", {"n_sets": 5}),
    ("null, 10 sets, 1 template", {"n_sets": 10}),
    ("null, 5 sets, 3 templates", {"n_sets": 5, "n_templates": 3}),
    ("null, 20 sets, 1 template", {"n_sets": 20}),
    ("effect 0.45 -> 0.10, 3 sets", {"n_sets": 3, "acc_random": 0.45, "acc_relation": 0.10}),
    ("effect 0.45 -> 0.10, 5 sets", {"n_sets": 5, "acc_random": 0.45, "acc_relation": 0.10}),
    ("effect 0.45 -> 0.10, 10 sets", {"n_sets": 10, "acc_random": 0.45, "acc_relation": 0.10}),
    ("effect 0.45 -> 0.30, 5 sets", {"n_sets": 5, "acc_random": 0.45, "acc_relation": 0.30}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies per scenario")
    args = parser.parse_args()
    print(f"{'scenario':32s} {'new':>7s} {'old p<.05':>10s} {'old below&p<.05':>16s}   ({args.studies} studies, "
          f"MC s.e. at 5%: {math.sqrt(0.05 * 0.95 / args.studies):.3f})")
    for i, (label, options) in enumerate(SCENARIOS):
        rates = rejection_rates(args.studies, seed=100 + i, old=True, **options)
        print(f"{label:32s} {rates['new']:7.3f} {rates['old_two_sided']:10.3f} {rates['old_below_random']:16.3f}", flush=True)


if __name__ == "__main__":
    main()

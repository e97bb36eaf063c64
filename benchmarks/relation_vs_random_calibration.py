"""False-positive rate and power of the relation-vs-random test over a panel of nulls (docs/method.md).

Studies are simulated per prompt by `relneurons.experiments.calibration.simulate_study`: 25 P_eva triples x 2
templates = 50 prompts (within-triple correlation as measured on Gemma 3 270M), the random sets' accuracy drawn
uniformly from 0.2-0.5 per study, and the random sets' effects distributed as each scenario of
`calibration.SCENARIOS` says. Under the null the relation set is drawn exactly like the random sets.

For every scenario x number of sets it prints the share of null studies with p < 0.05:
  new   `relation_vs_random` (the exact rank p from 20 sets on; "no p" below, by design),
  rank  the rank p at its smallest value 1/(n_sets + 1) (must stay <= that level: it is exact at any n_sets),
  t     the retired t prediction-interval test, which assumed normal set accuracies;
and the power of `relation_vs_random` against a large effect (random sets at 0.45, the relation's set at 0.10).
A rate passes when it is <= 0.05 + 2 Monte Carlo standard errors. Not a timing benchmark; seeded.

    python benchmarks/relation_vs_random_calibration.py [--studies 5000]   # a few minutes on 2 cores
"""

from __future__ import annotations

import argparse
import math

from relneurons.experiments.calibration import SCENARIOS, rejection_rates
from relneurons.experiments.stats import RANK_MIN_SETS

SET_COUNTS = (3, 5, 10, 20)
PANEL = {"n_triples": 25, "n_templates": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=5000, help="simulated studies per cell (>= 5000 for the docs)")
    args = parser.parse_args()
    limit = 0.05 + 2 * math.sqrt(0.05 * 0.95 / args.studies)
    print(f"{args.studies} null studies per cell; pass: rate <= 0.05 + 2 s.e. = {limit:.3f}")
    print(f"{'scenario':13s} {'sets':>4s} {'new':>13s} {'rank at 1/(n+1)':>18s} {'retired t':>14s}")
    for i, scenario in enumerate(SCENARIOS):
        for n_sets in SET_COUNTS:
            r = rejection_rates(
                args.studies,
                seed=1000 * i + n_sets,
                base_accuracy=(0.2, 0.5),
                scenario=scenario,
                n_sets=n_sets,
                **PANEL,
            )
            new = f"{r['new']:.3f} ok" if n_sets >= RANK_MIN_SETS else "no p"
            if n_sets >= RANK_MIN_SETS and r["new"] > limit:
                new = f"{r['new']:.3f} FAIL"
            level = 1 / (n_sets + 1)
            rank_ok = "ok" if r["rank_at_min"] <= level + 2 * math.sqrt(level * (1 - level) / args.studies) else "FAIL"
            t_ok = "ok" if r["t"] <= limit else "FAIL"
            print(
                f"{scenario:13s} {n_sets:4d} {new:>13s} {r['rank_at_min']:9.3f}/{level:.3f} {rank_ok:>4s} "
                f"{r['t']:9.3f} {t_ok:>4s}",
                flush=True,
            )
    print(f"\npower, random sets at 0.45 and the relation's set at 0.10 ({args.studies // 5} studies per cell):")
    for i, scenario in enumerate(SCENARIOS):
        cells = []
        for n_sets in SET_COUNTS:
            r = rejection_rates(
                args.studies // 5,
                seed=50_000 + 1000 * i + n_sets,
                scenario=scenario,
                n_sets=n_sets,
                acc_random=0.45,
                acc_relation=0.10,
                **PANEL,
            )
            cells.append(f"{n_sets} sets: {r['new']:.3f}" if n_sets >= RANK_MIN_SETS else f"{n_sets} sets: no p")
        print(f"{scenario:13s} " + ", ".join(cells), flush=True)


if __name__ == "__main__":
    main()

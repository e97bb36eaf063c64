"""False-positive rate of the clustered McNemar test and coverage of the cluster bootstrap.

Studies are simulated by `relneurons.experiments.calibration.simulate_paired`: triples written with several
templates, one model before and after an intervention, correctness correlated within a triple, and a share
`rho` of the intervention's effect shared by the triple's templates. Per scenario, the share of studies with
McNemar p < 0.05 (under the null: the false-positive rate; with an effect: the power) and the share whose 95%
bootstrap interval of acc_original - acc_intervention covers the true difference, for the clustered
procedures (`mcnemar_exact` / `bootstrap_ci` with `clusters`: whole triples flipped / resampled) and the naive
ones (the same calls without clusters: prompts as independent). Not a timing benchmark; seeded, ~3-7 min on
2 cores.

    python benchmarks/clustered_paired_calibration.py [--studies 2000]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from relneurons.experiments.calibration import paired_calibration, simulate_paired

SCENARIOS = [  # (triples, templates, rho, acc_original, acc_intervention)
    (50, (1, 1), 0.9, 0.5, 0.5),
    (50, (2, 2), 0.0, 0.5, 0.5),
    (50, (2, 2), 0.5, 0.5, 0.5),
    (50, (2, 2), 0.9, 0.5, 0.5),
    (50, (4, 4), 0.0, 0.5, 0.5),
    (50, (4, 4), 0.5, 0.5, 0.5),
    (50, (4, 4), 0.9, 0.5, 0.5),
    (50, (1, 4), 0.0, 0.5, 0.5),
    (50, (1, 4), 0.5, 0.5, 0.5),
    (50, (1, 4), 0.9, 0.5, 0.5),
    (20, (1, 4), 0.9, 0.5, 0.5),
    (10, (1, 4), 0.9, 0.5, 0.5),
    (50, (1, 1), 0.9, 0.5, 0.35),
    (200, (1, 4), 0.9, 0.5, 0.35),
    (100, (1, 4), 0.9, 0.5, 0.35),
    (50, (1, 4), 0.9, 0.5, 0.35),
    (20, (1, 4), 0.9, 0.5, 0.35),
    (10, (1, 4), 0.9, 0.5, 0.35),
]


def _icc(table: np.ndarray) -> float:
    """One-way ANOVA ICC(1) of a [triples, templates] table."""
    k = table.shape[1]
    ms_between = k * table.mean(axis=1).var(ddof=1)
    ms_within = ((table - table.mean(axis=1, keepdims=True)) ** 2).sum() / (table.shape[0] * (k - 1))
    return float((ms_between - ms_within) / (ms_between + (k - 1) * ms_within))


def _print_iccs(n_studies: int = 500) -> None:
    """What rho means: within-triple ICC of correctness and of the discordance, 50 triples x 2 templates."""
    rng = np.random.default_rng(0)
    for rho in (0.0, 0.5, 0.9):
        corr, disc = [], []
        for _ in range(n_studies):
            s = simulate_paired(rng, templates=(2, 2), rho=rho)
            corr.append(_icc(s.original.reshape(50, 2).astype(np.float64)))
            disc.append(_icc((s.original.astype(np.float64) - s.intervention).reshape(50, 2)))
        print(f"rho {rho:.1f}: ICC of correctness {np.nanmean(corr):.2f}, of the discordance {np.nanmean(disc):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies per scenario")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap replicates (bootstrap_ci's default)")
    parser.add_argument("--perm", type=int, default=10000, help="random sign flips (mcnemar_exact's default)")
    args = parser.parse_args()
    _print_iccs()
    se_fpr = math.sqrt(0.05 * 0.95 / args.studies)
    print(f"{args.studies} studies per scenario; Monte Carlo s.e. {se_fpr:.4f} at 5% and at 95%")
    print(
        f"{'triples':>7s} {'templates':>9s} {'rho':>4s} {'acc orig->int':>13s} {'discord.':>8s} | "
        f"{'p<.05 clustered':>15s} {'naive':>6s} | {'coverage clustered':>18s} {'naive':>6s}"
    )
    for i, (triples, templates, rho, acc0, acc1) in enumerate(SCENARIOS):
        r = paired_calibration(
            args.studies,
            seed=200 + i,
            n_triples=triples,
            templates=templates,
            rho=rho,
            acc_original=acc0,
            acc_intervention=acc1,
            n_boot=args.boot,
            n_perm=args.perm,
        )
        span = f"{templates[0]}" if templates[0] == templates[1] else f"{templates[0]}-{templates[1]}"
        print(
            f"{triples:7d} {span:>9s} {rho:4.1f} {acc0:6.2f}->{acc1:4.2f} {r['discordant']:8.3f} | "
            f"{r['reject_clustered']:15.3f} {r['reject_naive']:6.3f} | "
            f"{r['cover_clustered']:18.3f} {r['cover_naive']:6.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

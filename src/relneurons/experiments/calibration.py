"""Simulated intra studies, for measuring how often a relation-vs-random test says p < 0.05 (issue 11).

A study: `n_triples` P_eva triples, each written with `n_templates` templates,
evaluated with `n_sets` random neuron sets off and with the relation's set off.
Prompt i of triple c under set s is correct with probability
sigmoid(mu_s + a_c + e_i): a set effect mu_s ~ N(logit(acc), SET_SD), shared by
all of that set's prompts (a random set is one draw: some sets hurt more); a
triple effect a_c ~ N(0, TRIPLE_SD) shared by the triple's templates (the
within-triple correlation) and a prompt effect e_i ~ N(0, PROMPT_SD) shared by
all sets (the same prompts are easy or hard whatever is switched off). Under
the null the relation's set is drawn like the random ones; under an effect its
mu is set to give another accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .stats import paired_permutation_test, relation_vs_random

#: Gemma 3 270M, landmark_country, k = 307 (0.36% of the FFN neurons), 50 P_eva prompts: 3 random sets gave
#: accuracies 0.40, 0.42, 0.24 (issue 11): mean 0.353, sd 0.099 over sets.
MEASURED_SET_ACCURACIES = (0.40, 0.42, 0.24)
#: Within-triple agreement measured on Gemma 3 270M (original model, LRE prompt_templates, 40 seeded triples per
#: relation, benchmarks/within_triple_correlation.py): intraclass correlation of correctness across the 2
#: templates of a triple 0.81 (company_hq) and 0.87 (product_company).
MEASURED_TEMPLATE_ICC = (0.81, 0.87)
#: Logit-scale spreads that reproduce both: a large triple effect (the templates of a triple mostly agree), a
#: small prompt effect, and set effects giving the between-set sd (checked by
#: tests/experiments/test_stats_calibration.py: ICC ~0.86, rms between-set sd ~0.10 over 3 sets).
TRIPLE_SD = 12.0
PROMPT_SD = 0.5
SET_SD = 3.4


def _centre(acc: float, spread: float) -> float:
    """Logit-scale centre whose mean accuracy over N(0, spread) prompt effects is about `acc` (probit approximation)."""
    return math.log(acc / (1 - acc)) * math.sqrt(1 + math.pi * spread**2 / 8)


@dataclass(frozen=True)
class SimulatedStudy:
    relation: np.ndarray  # bool [n_prompts]
    random: np.ndarray  # bool [n_sets, n_prompts]
    clusters: np.ndarray  # int [n_prompts], the triple


def simulate_study(rng: np.random.Generator, n_sets: int = 3, n_triples: int = 50, n_templates: int = 1,
                   acc_random: float = 0.353, acc_relation: float | None = None, set_sd: float = SET_SD,
                   triple_sd: float = TRIPLE_SD, prompt_sd: float = PROMPT_SD) -> SimulatedStudy:
    """One simulated intra comparison; `acc_relation` None is the null (the relation set is one more random set).

    `acc_random` / `acc_relation` are the expected accuracies over prompts (before the set effect)."""
    clusters = np.repeat(np.arange(n_triples), n_templates)
    prompt = rng.normal(0, triple_sd, n_triples)[clusters] + rng.normal(0, prompt_sd, clusters.size)
    spread = math.hypot(triple_sd, prompt_sd)
    mus = rng.normal(_centre(acc_random, spread), set_sd, n_sets + 1)
    if acc_relation is not None:
        mus[0] = _centre(acc_relation, spread)
    p = 1 / (1 + np.exp(-(mus[:, None] + prompt[None, :])))
    correct = rng.random(p.shape) < p
    return SimulatedStudy(correct[0], correct[1:], clusters)


def rejection_rates(n_studies: int, seed: int = 0, alpha: float = 0.05, old: bool = False, **options) -> dict[str, float]:
    """Share of simulated studies with p < alpha: the new test, and (old=True) the retired sign-flip test
    against the per-prompt mean of the random sets (two-sided, and "below random and p < alpha")."""
    rng = np.random.default_rng(seed)
    new = old_two = old_below = 0
    for _ in range(n_studies):
        s = simulate_study(rng, **options)
        clusters = s.clusters if options.get("n_templates", 1) > 1 else None
        new += relation_vs_random(s.relation, s.random, clusters, n_boot=1).p_value < alpha
        if old:
            mean = s.random.mean(axis=0)
            p = paired_permutation_test(s.relation.astype(float), mean, n_perm=2000, seed=0)
            old_two += p < alpha
            old_below += (p < alpha) and s.relation.mean() < mean.mean()
    out = {"new": new / n_studies}
    if old:
        out.update(old_two_sided=old_two / n_studies, old_below_random=old_below / n_studies)
    return out

"""Simulated intra studies, for measuring how often a relation-vs-random test says p < 0.05 when it should not.

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

`simulate_paired` / `paired_calibration` do the same for the clustered paired
procedures (`mcnemar_exact` and the bootstrap with `clusters`): one model
before and after an intervention on triples written with several templates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import brentq
from scipy.stats import t as t_dist

from relneurons.errors import InputError

from .stats import bootstrap_ci, mcnemar_exact, relation_vs_random

#: Gemma 3 270M, landmark_country, k = 307 (0.36% of the FFN neurons), 50 P_eva prompts: 3 random sets gave
#: accuracies 0.40, 0.42, 0.24: mean 0.353, sd 0.099 over sets.
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


#: The panel of nulls `relation_vs_random` is calibrated on: how the random sets' effects (logit scale, shared by
#: all of a set's prompts) are distributed. Each is one line of `set_effects`; the relation set is drawn the same
#: way under the null. "few-flip" is a different kind: every set starts from the same per-prompt outcomes and
#: breaks a Poisson(1.5) number of the correct prompts, so set accuracies are discrete and tie often.
SCENARIOS = {
    "normal": "N(0, SET_SD): the case the t prediction interval assumes",
    "skewed": "left-skewed: -SET_SD * LogNormal(0, 1.25) / its sd (most sets harmless, a few very harmful)",
    "mixture 10%": "10% of sets harmful (logit -8), the rest N(0, 0.5)",
    "mixture 20%": "20% of sets harmful (logit -8), the rest N(0, 0.5)",
    "mixture 33%": "33% of sets harmful (logit -8), the rest N(0, 0.5)",
    "t3": "heavy tails: SET_SD * t(3) / sqrt(3)",
    "few-flip": "every set breaks Poisson(1.5) of the original model's correct prompts",
}


def set_effects(rng: np.random.Generator, scenario: str, n: int, set_sd: float = SET_SD) -> np.ndarray:
    """`n` logit-scale set effects of a `SCENARIOS` scenario (not "few-flip", which has no logit effect)."""
    if scenario == "normal":
        return rng.normal(0, set_sd, n)
    if scenario == "skewed":
        sigma = 1.25
        sd = math.sqrt((math.exp(sigma**2) - 1) * math.exp(sigma**2))
        return -set_sd * rng.lognormal(0, sigma, n) / sd
    if scenario.startswith("mixture "):
        share = float(scenario.split()[1].rstrip("%")) / 100
        return np.where(rng.random(n) < share, -8.0, 0.0) + rng.normal(0, 0.5, n)
    if scenario == "t3":
        return set_sd * rng.standard_t(3, n) / math.sqrt(3)
    raise InputError(f"unknown scenario {scenario!r}; use one of {sorted(SCENARIOS)}")


@dataclass(frozen=True)
class SimulatedStudy:
    relation: np.ndarray  # bool [n_prompts]
    random: np.ndarray  # bool [n_sets, n_prompts]
    clusters: np.ndarray  # int [n_prompts], the triple


def simulate_study(
    rng: np.random.Generator,
    n_sets: int = 3,
    n_triples: int = 50,
    n_templates: int = 1,
    acc_random: float = 0.353,
    acc_relation: float | None = None,
    set_sd: float = SET_SD,
    triple_sd: float = TRIPLE_SD,
    prompt_sd: float = PROMPT_SD,
    scenario: str = "normal",
) -> SimulatedStudy:
    """One simulated intra comparison; `acc_relation` None is the null (the relation set is one more random set).

    `acc_random` / `acc_relation` are the expected accuracies over prompts (before the set effect); `scenario`
    (`SCENARIOS`) says how the set effects are distributed."""
    clusters = np.repeat(np.arange(n_triples), n_templates)
    prompt = rng.normal(0, triple_sd, n_triples)[clusters] + rng.normal(0, prompt_sd, clusters.size)
    spread = math.hypot(triple_sd, prompt_sd)
    if scenario == "few-flip":
        base = rng.random(clusters.size) < 1 / (1 + np.exp(-(_centre(acc_random, spread) + prompt)))
        correct = np.tile(base, (n_sets + 1, 1))
        for row in correct:
            right = np.flatnonzero(row)
            row[rng.choice(right, min(right.size, rng.poisson(1.5)), replace=False)] = False
        if acc_relation is not None:
            correct[0] = rng.random(clusters.size) < 1 / (1 + np.exp(-(_centre(acc_relation, spread) + prompt)))
        return SimulatedStudy(correct[0], correct[1:], clusters)
    mus = _centre(acc_random, spread) + set_effects(rng, scenario, n_sets + 1, set_sd)
    if acc_relation is not None:
        mus[0] = _centre(acc_relation, spread)
    p = 1 / (1 + np.exp(-(mus[:, None] + prompt[None, :])))
    correct = rng.random(p.shape) < p
    return SimulatedStudy(correct[0], correct[1:], clusters)


def t_prediction_p(relation: np.ndarray, random: np.ndarray) -> float:
    """The retired model-based test, kept to show why it was retired: one-sided prediction-interval t-test,
    t = (mean_random - acc_relation) / (sd_random * sqrt(1 + 1/n_sets)), n_sets - 1 df (rank p when sd is 0)."""
    accs = np.asarray(random, dtype=np.float64).mean(axis=1)
    acc = float(np.mean(relation))
    n = accs.size
    sd = float(accs.std(ddof=1))
    if sd == 0:
        return (1 + int(np.sum(accs <= acc))) / (n + 1)
    return float(t_dist.sf((accs.mean() - acc) / (sd * math.sqrt(1 + 1 / n)), n - 1))


def rejection_rates(
    n_studies: int, seed: int = 0, alpha: float = 0.05, base_accuracy: tuple[float, float] | None = None, **options
) -> dict[str, float]:
    """Share of `n_studies` simulated studies (`simulate_study` with `options`) that reject:

    new: `relation_vs_random`'s p_value < alpha (nan, "no p", never rejects);
    rank_at_min: its rank p at its smallest possible value 1 / (n_sets + 1), so the null rate must be at most that;
    t: the retired t prediction-interval test (`t_prediction_p`) < alpha.
    `base_accuracy` (low, high) draws each study's accuracy of the random sets uniformly from that range."""
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(("new", "rank_at_min", "t"), 0)
    for _ in range(n_studies):
        if base_accuracy is not None:
            options["acc_random"] = float(rng.uniform(*base_accuracy))
        s = simulate_study(rng, **options)
        clusters = s.clusters if options.get("n_templates", 1) > 1 else None
        result = relation_vs_random(s.relation, s.random, clusters, n_boot=1)
        counts["new"] += result.p_value < alpha
        counts["rank_at_min"] += result.p_rank <= 1 / (result.n_sets + 1) + 1e-12
        counts["t"] += t_prediction_p(s.relation, s.random) < alpha
    return {k: v / n_studies for k, v in counts.items()}


# ----------------------------------------------------------------- paired, clustered (original vs intervention)

#: Logit-scale spreads of `simulate_paired`: triples differ a lot, prompts a little, and the intervention moves
#: each prompt's logit by an effect of sd PAIRED_EFFECT_SD, a share `rho` of whose variance is shared by the
#: triple's templates. With 2 templates: correctness ICC 0.62 / 0.72 / 0.81 at rho 0 / 0.5 / 0.9 (Gemma 3 270M:
#: 0.81-0.87, MEASURED_TEMPLATE_ICC), ICC of the discordance original - intervention 0.00 / 0.23 / 0.48, and
#: ~18% of prompts discordant (benchmarks/clustered_paired_calibration.py prints them). The discordance ICC
#: of a real intervention was not measured (one template per triple in the quick and full runs): rho is swept.
PAIRED_TRIPLE_SD = 10.0
PAIRED_PROMPT_SD = 0.5
PAIRED_EFFECT_SD = 4.0

_NODES, _WEIGHTS = hermegauss(64)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _mean_accuracy(centre: float, sd: float) -> float:
    """E[sigmoid(centre + sd * Z)], Z ~ N(0, 1), by Gauss-Hermite quadrature (exact to ~1e-12 here)."""
    return float(_WEIGHTS @ (1 / (1 + np.exp(-(centre + sd * _NODES)))))


def _exact_centre(acc: float, sd: float) -> float:
    """Logit-scale centre whose population accuracy over N(0, sd) logit effects is exactly `acc`."""
    return brentq(lambda c: _mean_accuracy(c, sd) - acc, -60.0, 60.0, xtol=1e-12)


@dataclass(frozen=True)
class PairedStudy:
    original: np.ndarray  # bool [n_prompts], correct before the intervention
    intervention: np.ndarray  # bool [n_prompts], correct with it, same prompts
    clusters: np.ndarray  # int [n_prompts], the triple


def simulate_paired(
    rng: np.random.Generator,
    n_triples: int = 50,
    templates: tuple[int, int] = (1, 4),
    rho: float = 0.9,
    acc_original: float = 0.5,
    acc_intervention: float = 0.5,
    triple_sd: float = PAIRED_TRIPLE_SD,
    prompt_sd: float = PAIRED_PROMPT_SD,
    effect_sd: float = PAIRED_EFFECT_SD,
) -> PairedStudy:
    """One study of `n_triples` triples with templates[0]..templates[1] templates each (uniform).

    Prompt i of triple c is correct under condition k (0 original, 1 intervention) with probability
    sigmoid(mu_k + a_c + e_i + effect_sd * (sqrt(rho) u_ck + sqrt(1 - rho) v_ik)), all terms N(0, 1) scaled
    by their sd: `rho` is the correlation, between two templates of a triple, of the condition effect, so it
    sets how much discordant pairs of one triple go the same way. mu_k gives population accuracy exactly
    `acc_original` / `acc_intervention`, so the true accuracy difference is known; equal accuracies are the
    null, under which the two conditions are exchangeable.
    """
    lo, hi = templates
    if not 1 <= lo <= hi:
        raise InputError(f"templates must be (fewest, most) with 1 <= fewest <= most, got {templates!r}")
    if not 0.0 <= rho <= 1.0:
        raise InputError(f"rho (share of the effect shared by a triple's templates) must be in [0, 1], got {rho!r}")
    sizes = rng.integers(lo, hi + 1, n_triples)
    clusters = np.repeat(np.arange(n_triples), sizes)
    n = clusters.size
    base = rng.normal(0, triple_sd, n_triples)[clusters] + rng.normal(0, prompt_sd, n)
    sd = math.sqrt(triple_sd**2 + prompt_sd**2 + effect_sd**2)
    mus = np.array([_exact_centre(acc_original, sd), _exact_centre(acc_intervention, sd)])
    effect = math.sqrt(rho) * rng.normal(0, 1, (2, n_triples))[:, clusters] + math.sqrt(1 - rho) * rng.normal(
        0, 1, (2, n)
    )
    p = 1 / (1 + np.exp(-(mus[:, None] + base[None, :] + effect_sd * effect)))
    correct = rng.random(p.shape) < p
    return PairedStudy(correct[0], correct[1], clusters)


def paired_calibration(
    n_studies: int,
    seed: int = 0,
    alpha: float = 0.05,
    level: float = 0.95,
    n_boot: int = 2000,
    n_perm: int = 10000,
    acc_original: float = 0.5,
    acc_intervention: float = 0.5,
    **options,
) -> dict[str, float]:
    """Over `n_studies` simulated studies: the share with McNemar p < alpha and the share whose bootstrap
    interval of acc_original - acc_intervention covers the true difference, clustered by triple and naive
    (prompts as independent: the exact binomial McNemar and the prompt bootstrap), plus the mean share of
    discordant prompts. With unequal accuracies the rejection shares are power. `n_boot` / `n_perm` default to
    those of `bootstrap_ci` / `mcnemar_exact`; the tests pass fewer to stay fast."""
    rng = np.random.default_rng(seed)
    truth = acc_original - acc_intervention
    counts = dict.fromkeys(("reject_clustered", "reject_naive", "cover_clustered", "cover_naive"), 0)
    discordant = 0.0
    for i in range(n_studies):
        s = simulate_paired(rng, acc_original=acc_original, acc_intervention=acc_intervention, **options)
        diff = s.original.astype(np.float64) - s.intervention.astype(np.float64)
        discordant += float(np.mean(diff != 0))
        for name, clusters in (("clustered", s.clusters), ("naive", None)):
            counts[f"reject_{name}"] += mcnemar_exact(s.original, s.intervention, clusters, n_perm, seed=i)[2] < alpha
            lo, hi = bootstrap_ci(diff, n_boot=n_boot, seed=i, level=level, clusters=clusters)
            counts[f"cover_{name}"] += lo <= truth <= hi
    return {**{k: v / n_studies for k, v in counts.items()}, "discordant": discordant / n_studies}

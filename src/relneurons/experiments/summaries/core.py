"""The summaries of the core study (§4–5.1, App. J): layers, overlap, intra, inter, sweep, cumulativity, errors,
and the functions that compute their headline numbers from the experiments' tables."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import pandas as pd

from ...errors import InputError
from ..error_analysis import ERROR_CATEGORIES
from .base import SUMMARY_VERSION, TESTS_VERSION


@dataclass(frozen=True)
class RelationTest:
    """Relation-k vs random-k and vs original on one relation's prompts of one split (a row of intra/tests)."""

    relation: str
    split: str
    n: int  # prompts
    n_clusters: int  # triples (= n with one template)
    acc_original: float
    acc_random: float  # mean over the random sets
    acc_relation: float
    percentile: float  # % of random sets less accurate than the relation set (ties half)
    p_relation_vs_random: float  # stats.relation_vs_random: exact rank p, one-sided; nan below 20 random sets
    n_random_sets: int
    random_low: float  # the lowest random set's accuracy
    random_high: float  # the highest
    diff: float  # acc_relation - acc_random
    diff_low: float  # 95% bootstrap interval resampling random sets and prompts (whole triples with several templates)
    diff_high: float
    test: str  # rank or none (why: stats.relation_vs_random's reason)
    p_relation_vs_original: float  # exact McNemar (cluster sign-flip with several templates)
    p_rank: float = math.nan  # the exact rank p at any number of random sets (never below 1 / (n_random_sets + 1))
    p_relation_vs_random_holm: float = math.nan  # Holm over the relations of this split (one family)
    p_relation_vs_original_holm: float = math.nan


@dataclass(frozen=True)
class IntraSummary:
    k: int
    k_text: str
    rule: str
    random_seeds: list[int]  # the seeds of the random sets (each is one replicate)
    n_relations: int  # on P_eva
    relation_below_random: int  # P_eva: acc_relation < acc_random
    relation_below_random_p05: int  # ... and Holm-adjusted p_relation_vs_random < 0.05 (none below 20 random sets)
    tests: list[RelationTest]
    experiment: str = "intra"
    version: int = TESTS_VERSION


@dataclass(frozen=True)
class OwnVsOther:
    relation: str
    own_drop: float  # relative drop when its own top-k are off (nan: original accuracy 0)
    own_low: float
    own_high: float
    other_drop: float  # mean of the defined drops when another relation's top-k are off
    n_other: int  # how many other relations' drops were defined


@dataclass(frozen=True)
class SpecificityRank:
    """One relation's own set among every relation's set, by the drop each causes on it (1 = own hurts most)."""

    relation: str
    own_drop: float
    other_drop: float  # mean of the defined drops the other relations' sets cause on it
    n_sets: int  # defined drops in its row
    rank: float  # ties take the worst rank; nan when the own drop is undefined
    rank_p: float  # rank / n_sets: never below 1 / n_sets, so it describes, it cannot carry a claim alone


@dataclass(frozen=True)
class Specificity:
    """The specificity test of one split's inter matrix (stats.specificity_test): own-set drop minus other-set drop,
    p by permuting which set belongs to which relation."""

    split: str
    statistic: float  # mean own drop - mean other drop
    p_value: float  # one-sided permutation p (nan: no test, see reason)
    method: str
    n_relations: int
    reason: str = ""
    relations: list[SpecificityRank] = field(default_factory=list)


@dataclass(frozen=True)
class InterSummary:
    """Own vs other drop, one rule: relations whose own drop and mean other drop are both defined are compared."""

    k: int
    k_text: str
    n_relations: int
    undefined_cells: int
    compared: int  # relations with both drops defined
    own_drop_exceeds_mean_other: int  # of `compared`
    mean_own_drop: float  # over `compared`
    mean_other_drop: float  # over `compared`
    relations: list[OwnVsOther] = field(default_factory=list)
    specificity: list[Specificity] = field(default_factory=list)  # one per split, P_eva first
    experiment: str = "inter"
    version: int = TESTS_VERSION


@dataclass(frozen=True)
class OverlapSummary:
    """How much the relations' top-k sets share (Fig. 2); each unordered pair of distinct relations counts once."""

    k: int
    k_text: str
    n_relations: int
    pairs: int  # unordered pairs of distinct relations
    max_overlap: int  # the largest |top-k(a) ∩ top-k(b)| over the pairs (0 when there is none)
    max_pair: list[str]  # [a, b] of the largest, the first in the relations' order on ties; [] without pairs
    mean_overlap: float  # mean shared neurons over the pairs (nan without pairs)
    pairs_sharing_none: int
    experiment: str = "overlap"
    version: int = SUMMARY_VERSION


@dataclass(frozen=True)
class LayerPeak:
    """Where one relation's top-k neurons lie (Fig. 1)."""

    relation: str
    total: int  # its top-k neurons counted (0: none; then peak_layer is -1 and first_half nan)
    peak_layer: int  # the layer holding most of them (the lowest on ties)
    peak_count: int
    first_half: float  # share in the first half of the layers (layer < n_layers / 2)


@dataclass(frozen=True)
class LayersSummary:
    k: int
    k_text: str
    n_layers: int
    first_half_layers: int  # layers 0..first_half_layers-1 are the first half (ceil(n_layers / 2))
    mean_first_half: float  # mean of `first_half` over the relations with neurons (nan: none)
    relations: list[LayerPeak] = field(default_factory=list)
    experiment: str = "layers"
    version: int = SUMMARY_VERSION


@dataclass(frozen=True)
class CumulativityRange:
    """One deactivation range (a, b], pooled over relations: a row of cumulativity/summary_table (Fig. 6)."""

    a: int
    b: int
    macro: float  # mean cumulativity over the relations with total > 0 (nan: none)
    n_relations: int  # relations in `macro`
    micro: float  # 1 - affected / total, pooled over prompts (nan when total is 0)
    total: int  # prompts right with the top-a off and wrong with the top-b off
    affected: int  # of `total`, also wrong with only ranks a+1..b off


@dataclass(frozen=True)
class CumulativitySummary:
    ks: list[int]
    ranges: list[CumulativityRange] = field(default_factory=list)  # consecutive (a, b] of `ks`, a ascending
    experiment: str = "cumulativity"
    version: int = SUMMARY_VERSION


@dataclass(frozen=True)
class ErrorShare:
    category: str  # error_analysis.ERROR_CATEGORIES (others after them)
    count: int  # broken prompts in this category, pooled over relations
    share: float  # count / broken prompts (nan when none broke)


@dataclass(frozen=True)
class ErrorsSummary:
    """What the model says instead on the prompts its own top-k broke (App. J), pooled over relations."""

    k: int
    k_text: str
    new_tokens: int  # greedy tokens regenerated for each broken prompt
    broken_prompts: int  # P_eva prompts right with the original model, wrong with the relation's top-k off
    categories: list[ErrorShare] = field(default_factory=list)
    experiment: str = "errors"
    version: int = SUMMARY_VERSION


@dataclass(frozen=True)
class SweepPoint:
    """One relation's top-k off at one k (Fig. 5): P_eva accuracy of the relation itself and of the others."""

    k: int  # 0: the original model
    own: float  # the relation's own accuracy (nan: not evaluated)
    own_low: float  # its 95% bootstrap interval
    own_high: float
    other: float  # mean accuracy of the other relations (nan: none evaluated)
    n_other: int  # other relations in `other`


@dataclass(frozen=True)
class SweepRelation:
    relation: str
    points: list[SweepPoint] = field(default_factory=list)  # by increasing k, k = 0 first


@dataclass(frozen=True)
class SweepSummary:
    """Own vs other accuracy as k grows; the headline compares k = 0 (the original model) with the largest k,
    over the relations whose accuracies are defined at both."""

    ks: list[int]  # the k > 0 swept, increasing
    n_neurons: int  # size of the neuron set (k as a fraction of it)
    k_max: int  # the largest k swept (0: none)
    n_relations: int
    own_compared: int  # relations with their own accuracy defined at k = 0 and at k_max
    own_original: float  # mean own accuracy over `own_compared` at k = 0 (nan: none)
    own_at_max: float  # ... at k_max
    other_compared: int  # relations with the other relations' mean accuracy defined at k = 0 and at k_max
    other_original: float
    other_at_max: float
    relations: list[SweepRelation] = field(default_factory=list)
    experiment: str = "sweep"
    version: int = SUMMARY_VERSION


def relation_tests_table(tests: list[RelationTest]) -> pd.DataFrame:
    """Tests as a table (the columns of intra/tests.parquet, in field order)."""
    return pd.DataFrame([asdict(t) for t in tests], columns=[f.name for f in fields(RelationTest)])


def intra_summary(tests: pd.DataFrame, k: int, k_text: str, rule: str, random_seeds: list[int]) -> IntraSummary:
    """From an intra tests table (`relation_tests_table`)."""
    names = [f.name for f in fields(RelationTest)]
    tests = [
        RelationTest(**{n: (v.item() if hasattr(v, "item") else v) for n, v in zip(names, row)})
        for row in tests[names].itertuples(index=False, name=None)
    ]
    eva = [t for t in tests if t.split == "P_eva"]
    below = [t for t in eva if t.acc_relation < t.acc_random]
    return IntraSummary(
        k=k,
        k_text=k_text,
        rule=rule,
        random_seeds=list(random_seeds),
        n_relations=len(eva),
        relation_below_random=len(below),
        relation_below_random_p05=sum(t.p_relation_vs_random_holm < 0.05 for t in below),
        tests=tests,
    )


def inter_summary(
    table: pd.DataFrame, relations: list[str], k: int, k_text: str, specificity: list[Specificity] | None = None
) -> InterSummary:
    """From an inter table (evaluated, deactivated, drop, drop_low, drop_high) and its specificity tests."""
    rows = []
    for r in relations:
        own = table[(table.evaluated == r) & (table.deactivated == r)]
        other = table[(table.evaluated == r) & (table.deactivated != r)]["drop"].dropna()
        first = own.iloc[0] if len(own) else None
        rows.append(
            OwnVsOther(
                relation=r,
                own_drop=float(first["drop"]) if first is not None else math.nan,
                own_low=float(first["drop_low"]) if first is not None else math.nan,
                own_high=float(first["drop_high"]) if first is not None else math.nan,
                other_drop=float(other.mean()) if len(other) else math.nan,
                n_other=int(len(other)),
            )
        )
    both = [o for o in rows if not (math.isnan(o.own_drop) or math.isnan(o.other_drop))]
    return InterSummary(
        k=k,
        k_text=k_text,
        n_relations=len(relations),
        undefined_cells=int(table["drop"].isna().sum()),
        compared=len(both),
        own_drop_exceeds_mean_other=sum(o.own_drop > o.other_drop for o in both),
        mean_own_drop=float(np.mean([o.own_drop for o in both])) if both else math.nan,
        mean_other_drop=float(np.mean([o.other_drop for o in both])) if both else math.nan,
        relations=rows,
        specificity=list(specificity or []),
    )


def overlap_summary(matrix: pd.DataFrame, k: int, k_text: str) -> OverlapSummary:
    """From a square, symmetric overlap matrix (`tables.overlap_matrix`: relations as index and columns)."""
    values = matrix.to_numpy()
    n = len(values)
    if values.shape != (n, n) or list(matrix.index) != list(matrix.columns) or not np.array_equal(values, values.T):
        raise InputError(
            "overlap matrix must be square and symmetric with the same relations as rows and columns "
            "(build it with experiments.tables.overlap_matrix)"
        )
    rows, cols = np.triu_indices(n, 1)  # row-major, so argmax is the first largest pair in the relations' order
    upper = values[rows, cols]
    best = int(upper.argmax()) if upper.size else None
    return OverlapSummary(
        k=k,
        k_text=k_text,
        n_relations=n,
        pairs=int(upper.size),
        max_overlap=int(upper[best]) if best is not None else 0,
        max_pair=[str(matrix.index[rows[best]]), str(matrix.index[cols[best]])] if best is not None else [],
        mean_overlap=float(upper.mean()) if upper.size else math.nan,
        pairs_sharing_none=int((upper == 0).sum()),
    )


def layers_summary(table: pd.DataFrame, n_layers: int, k: int, k_text: str) -> LayersSummary:
    """From a layer-distribution table (relation, layer, count: `tables.layer_distribution`); relations in
    first-appearance order, layers missing from the table count 0."""
    half = math.ceil(n_layers / 2)
    peaks = []
    for relation, part in table.groupby("relation", sort=False):
        counts = part.groupby("layer")["count"].sum().reindex(range(n_layers), fill_value=0).to_numpy()
        total = int(counts.sum())
        peak = int(counts.argmax()) if total else -1  # argmax: the first (lowest) layer on ties
        peaks.append(
            LayerPeak(
                relation=str(relation),
                total=total,
                peak_layer=peak,
                peak_count=int(counts[peak]) if total else 0,
                first_half=float(counts[:half].sum() / total) if total else math.nan,
            )
        )
    shares = [p.first_half for p in peaks if p.total]
    return LayersSummary(
        k=k,
        k_text=k_text,
        n_layers=int(n_layers),
        first_half_layers=half,
        mean_first_half=float(np.mean(shares)) if shares else math.nan,
        relations=peaks,
    )


def cumulativity_summary(summary_table: pd.DataFrame, ks: list[int]) -> CumulativitySummary:
    """From `cumulativity.summarise_cumulativity`'s table (one row per range (a, b])."""
    names = [f.name for f in fields(CumulativityRange)]
    ranges = [
        CumulativityRange(
            a=int(a),
            b=int(b),
            macro=float(macro),
            n_relations=int(n),
            micro=float(micro),
            total=int(total),
            affected=int(affected),
        )
        for a, b, macro, n, micro, total, affected in summary_table.sort_values(["a", "b"])[names].itertuples(
            index=False, name=None
        )
    ]
    return CumulativitySummary(ks=[int(k) for k in ks], ranges=ranges)


def errors_summary(table: pd.DataFrame, k: int, k_text: str, new_tokens: int) -> ErrorsSummary:
    """From an error table (`error_analysis.error_table`: relation, category, count, total per relation)."""
    broken = int(table.drop_duplicates("relation")["total"].sum()) if len(table) else 0
    pooled = table.groupby("category", sort=False)["count"].sum()
    categories = list(ERROR_CATEGORIES) + [str(c) for c in pooled.index if c not in ERROR_CATEGORIES]
    return ErrorsSummary(
        k=k,
        k_text=k_text,
        new_tokens=int(new_tokens),
        broken_prompts=broken,
        categories=[
            ErrorShare(c, int(pooled.get(c, 0)), int(pooled.get(c, 0)) / broken if broken else math.nan)
            for c in categories
        ],
    )


def sweep_summary(table: pd.DataFrame, relations: list[str], n_neurons: int) -> SweepSummary:
    """From a sweep table (deactivated, evaluated, k, accuracy, ci_low, ci_high; k = 0: the original model)."""
    table = table.assign(deactivated=table["deactivated"].astype(str), evaluated=table["evaluated"].astype(str))
    all_k = sorted(int(k) for k in table["k"].unique())
    ks = [k for k in all_k if k > 0]
    top = ks[-1] if ks else 0
    rows = []
    for r in relations:
        points = []
        for k, at in table[table["deactivated"] == r].groupby("k", sort=True):
            own = at[at["evaluated"] == r]
            other = at.loc[at["evaluated"] != r, "accuracy"].dropna()
            first = own.iloc[0] if len(own) else None
            points.append(
                SweepPoint(
                    k=int(k),
                    own=float(own["accuracy"].mean()) if len(own) else math.nan,
                    own_low=float(first["ci_low"]) if first is not None and "ci_low" in own else math.nan,
                    own_high=float(first["ci_high"]) if first is not None and "ci_high" in own else math.nan,
                    other=float(other.mean()) if len(other) else math.nan,
                    n_other=int(len(other)),
                )
            )
        rows.append(SweepRelation(relation=str(r), points=points))

    def pairs(attr: str) -> list[tuple[float, float]]:
        """(k = 0, k = top) values of `attr` for the relations where both are defined."""
        out = []
        for rel in rows:
            at = {p.k: getattr(p, attr) for p in rel.points}
            if top and not (math.isnan(at.get(0, math.nan)) or math.isnan(at.get(top, math.nan))):
                out.append((at[0], at[top]))
        return out

    own, other = pairs("own"), pairs("other")
    return SweepSummary(
        ks=ks,
        n_neurons=int(n_neurons),
        k_max=top,
        n_relations=len(relations),
        own_compared=len(own),
        own_original=float(np.mean([a for a, _ in own])) if own else math.nan,
        own_at_max=float(np.mean([b for _, b in own])) if own else math.nan,
        other_compared=len(other),
        other_original=float(np.mean([a for a, _ in other])) if other else math.nan,
        other_at_max=float(np.mean([b for _, b in other])) if other else math.nan,
        relations=rows,
    )

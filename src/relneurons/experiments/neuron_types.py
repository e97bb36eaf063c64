"""Neuron types (paper App. G, Fig. 24-29): identification with other neuron sets than the store's.

For each set (`all`, `self_attn`, `up_proj`, `gate_proj`, `down_proj`, or `ffn`)
every neuron is scored with the same example sets as the main identification
(the identification folder's examples.parquet), ranked by AP, and its top-k is
switched off for every relation's P_eva (an inter-relation matrix per set).

Where the activations come from: a neuron's AP depends only on its activations
over the examples, not on the set it is ranked in. Neurons of the store's set
therefore take their AP from the identification folder (ap/<relation>.parquet,
computed from the same examples); neurons outside it (e.g. attention neurons of
an FFN store) are captured here as token means over the store's kept texts
(`capture_means`, no generation), cached as .npy under OUT/.cache/ so a rerun
reuses them, and scored with `average_precision_subsets` in column blocks.
Ties in AP are broken by the lower global index, as in `identify`, so the
ranking of the store's own set equals the main one.

k per set: by default the same fraction of the set as the study's k is of the
store's set (the paper used 3,000 for every set; a fraction keeps the share of
neurons switched off the same for sets of different size); option `k` gives a
count or a fraction for every set instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .. import io
from ..activations.capture import capture_means
from ..errors import ConfigError, DataError, did_you_mean
from ..expertise.average_precision import average_precision_subsets
from ..expertise.identify import rank_descending, resolve_k
from ..model.sites import NEURON_SETS, NeuronSet, neuron_set
from ..model.tokenization import token_ids
from ..plots import figures
from .common import prompt_pairs
from .core import inter_figure, inter_table
from .output import experiment as _experiment
from .output import write_table as _write
from .study import Study
from .summaries import SetResult, TypesSummary, write_summary

BLOCK = 16384  # neurons scored per step (memory: rows x BLOCK float32 plus the AP working set)


def check_sets(sets) -> list[str]:
    """The option `sets` as a list of known neuron-set names (ConfigError naming the bad one)."""
    if isinstance(sets, str) or not sets:
        raise ConfigError(
            f"option sets of experiment types must be a non-empty list of neuron sets "
            f"({', '.join(NEURON_SETS)}), got {sets!r}"
        )
    for name in sets:
        if name not in NEURON_SETS:
            raise ConfigError(
                f"option sets of experiment types: unknown neuron set {name!r}{did_you_mean(str(name), NEURON_SETS)}; "
                f"choose from {', '.join(NEURON_SETS)}"
            )
    if len(set(sets)) != len(sets):
        raise ConfigError(f"option sets of experiment types lists a set twice: {list(sets)}")
    return list(sets)


def module_type(module: str) -> str:
    """A neuron's type: the last part of its module path ("mlp.gate_proj" -> "gate_proj", "self_attn.q_proj" -> "q_proj")."""
    return module.rsplit(".", 1)[-1]


def set_k(study: Study, nset: NeuronSet, k: float) -> int:
    """k for one set: option k (count or fraction), or 0 = the study's k as a fraction of the store's set."""
    return resolve_k(study.k / study.nset.size if k == 0 else k, nset.size)


# ------------------------------------------------------------------ scores


def identify_ap(study: Study) -> tuple[np.ndarray, np.ndarray]:
    """(global ids of the store's set, ascending; AP [relations, neurons]) from the identification folder."""
    ids, rows = None, []
    for relation in study.relations:
        table = pd.read_parquet(
            study.identify_dir / "ap" / f"{relation}.parquet", columns=["global_index", "ap"]
        ).sort_values("global_index")
        if ids is None:
            ids = table["global_index"].to_numpy()
        elif not np.array_equal(ids, table["global_index"].to_numpy()):
            raise DataError(
                f"{study.identify_dir}/ap: the AP tables of {study.relations[0]} and {relation} cover different neurons"
            )
        rows.append(table["ap"].to_numpy(np.float64))
    return ids, np.stack(rows)


def example_subsets(study: Study) -> list[tuple[np.ndarray, np.ndarray]]:
    """(act_rows, positive) per ranked relation: the examples of the main identification."""
    path = study.identify_dir / "examples.parquet"
    if not path.is_file():
        raise DataError(f"{path} does not exist; run `relneurons identify` again (it writes the example sets)")
    examples = pd.read_parquet(path)
    groups = dict(tuple(examples.groupby("relation", sort=False)))
    missing = [r for r in study.relations if r not in groups]
    if missing:
        raise DataError(f"{path} has no examples for {', '.join(missing)}; the identification folder is incomplete")
    return [(groups[r]["act_row"].to_numpy(), groups[r]["positive"].to_numpy(bool)) for r in study.relations]


def block_ap(matrix: np.ndarray, subsets) -> np.ndarray:
    """AP [relations, neurons] of the columns of `matrix` [rows, neurons], BLOCK columns at a time (bounded memory)."""
    out = np.empty((len(subsets), matrix.shape[1]), np.float64)
    for start in range(0, matrix.shape[1], BLOCK):
        stop = min(start + BLOCK, matrix.shape[1])
        out[:, start:stop] = average_precision_subsets(np.ascontiguousarray(matrix[:, start:stop]), subsets)
    return out


def rank_set(ids: np.ndarray, ap: np.ndarray, nset: NeuronSet) -> np.ndarray:
    """AP of the neurons of `nset`, in its column order, from (ascending `ids`, `ap` [relations, len(ids)])."""
    pos = np.searchsorted(ids, nset.global_ids)
    pos = np.clip(pos, 0, len(ids) - 1)
    if len(ids) == 0 or not np.array_equal(ids[pos], nset.global_ids):
        raise DataError(f"no scores for some neurons of the {nset.name!r} set")
    return ap[:, pos]


# --------------------------------------------------------------- activations


def extra_set(study: Study, sets: dict[str, NeuronSet]) -> NeuronSet | None:
    """The sites the requested sets need that the store did not record, as one NeuronSet (None: nothing to capture)."""
    stored = {s.path for s in study.nset.sites}
    sites = {s.path: s for nset in sets.values() for s in nset.sites if s.path not in stored}
    if not sites:
        return None
    chosen = tuple(sorted(sites.values(), key=lambda s: s.offset))
    return NeuronSet("extra", chosen, next(iter(sets.values())).n_all)


def kept_texts(study: Study) -> list[str]:
    """The text of every stored activation row, in row order."""
    prompts = study.store.prompts
    kept = prompts[prompts["act_row"] >= 0].drop_duplicates("act_row").sort_values("act_row")
    if not np.array_equal(kept["act_row"].to_numpy(), np.arange(study.store.n_rows)):
        raise DataError(
            f"{study.store.folder}: prompts.parquet does not name a text for every activation row; collect again"
        )
    return kept["text"].tolist()


def captured(study: Study, extra: NeuronSet) -> tuple[np.ndarray, Path]:
    """Token means [store rows, extra.size] of the extra sites over the store's kept texts; cached under OUT/.cache/ (hidden: the report lists only experiment folders)."""
    texts = kept_texts(study)
    key = hashlib.sha256(
        json.dumps(
            {
                "store": study.store.identity,
                "runtime": study.runtime,
                "sites": [[s.path, s.width] for s in extra.sites],
                "texts": hashlib.sha256("\x1e".join(texts).encode()).hexdigest(),
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    path = study.out / ".cache" / f"types-{key}.npy"
    if path.is_file():
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        if array.shape == (len(texts), extra.size) and array.dtype == np.float32:
            return array, path
    model, tokenizer, policy = study.model
    bar = tqdm(
        total=len(texts), desc=f"capture {len(extra.sites)} more sites", unit="prompt", disable=not study.progress
    )
    means = capture_means(
        model,
        extra,
        token_ids(tokenizer, policy, texts),
        policy,
        batch_size=study.config.batch_size,
        progress=bar.update,
    )
    bar.close()
    io.write_npy(path, means)
    return means, path


# ---------------------------------------------------------------- results


def composition(topk: pd.DataFrame, nsets: dict[str, NeuronSet]) -> pd.DataFrame:
    """Per set and relation, how many top-k neurons each module type holds (every type of the set, zeros included),
    with the count expected if the k neurons were drawn uniformly from the set."""
    rows = []
    for name, group in topk.groupby("set", sort=False):
        widths = pd.Series({}, dtype=float)
        for site in nsets[name].sites:
            t = module_type(site.module)
            widths[t] = widths.get(t, 0) + site.width
        share = widths / widths.sum()
        for relation, part in group.groupby("relation", sort=False):
            counts = part["type"].value_counts()
            for t in share.index:
                rows.append(
                    {
                        "set": name,
                        "relation": relation,
                        "type": t,
                        "count": int(counts.get(t, 0)),
                        "k": len(part),
                        "expected_if_random": float(share[t] * len(part)),
                    }
                )
    return pd.DataFrame(rows)


@_experiment("types")
def types(study: Study, folder: Path, *, sets: list[str], k: float) -> pd.DataFrame:
    """App. G: identification with other neuron sets; type composition of the top-k; inter matrix per set."""
    sets = check_sets(sets)
    if isinstance(k, bool) or not k >= 0:
        raise ConfigError(
            f"option k of experiment types must be 0 (the study's fraction) or a positive count/fraction, got {k!r}"
        )
    subsets = example_subsets(study)
    model = study.model[0]
    nsets = {name: neuron_set(model, name) for name in sets}
    if nsets[sets[0]].n_all != study.nset.n_all:
        raise DataError(
            f"the model has {nsets[sets[0]].n_all} neurons in all, the store's neuron set says {study.nset.n_all}"
        )
    extra = extra_set(study, nsets)
    if extra is not None and study.config.force == "median":
        raise ConfigError(
            f"force = median needs stored activations of every neuron switched off; the sets {', '.join(sets)} "
            f"reach beyond the store's {study.nset.name} set (use force = zero or a number)"
        )

    ids, ap = identify_ap(study)
    cache = None
    if extra is not None:
        matrix, cache = captured(study, extra)
        ids, ap = np.concatenate([ids, extra.global_ids]), np.concatenate([ap, block_ap(matrix, subsets)], axis=1)
        order = np.argsort(ids, kind="stable")
        ids, ap = ids[order], ap[:, order]

    ks, top = {}, []
    for name, nset in nsets.items():
        ks[name] = set_k(study, nset, k)
        scores = rank_set(ids, ap, nset)
        names = nset.describe(nset.global_ids)
        for r, relation in enumerate(study.relations):
            chosen = rank_descending(scores[r])[: ks[name]]
            top.append(
                pd.DataFrame(
                    {
                        "set": name,
                        "relation": relation,
                        "rank": np.arange(1, len(chosen) + 1),
                        "global_index": nset.global_ids[chosen],
                        "layer": names["layer"][chosen],
                        "module": names["module"][chosen],
                        "unit": names["unit"][chosen],
                        "ap": scores[r, chosen],
                    }
                )
            )
    topk = pd.concat(top, ignore_index=True)
    topk["type"] = topk["module"].map(module_type)
    _write(folder, "topk", topk)
    comp = composition(topk, nsets)
    _write(folder, "composition", comp)
    for name in sets:
        part = comp[comp["set"] == name]
        if part["type"].nunique() > 1:
            figures.plot_type_composition(
                part, folder / f"composition_{name}", title=f"Neuron types in the top-{ks[name]:,} of the {name!r} set"
            )

    conditions = {
        name: {
            r: study.ids_condition(f"types-{name}-{r}", g["global_index"].to_numpy())
            for r, g in topk[topk["set"] == name].groupby("relation", sort=False)
        }
        for name in sets
    }
    conds = ["original"] + [c for per_set in conditions.values() for c in per_set.values()]
    judged = study.judge(
        pd.concat(
            [
                prompt_pairs(g.reset_index(drop=True), conds, "P_eva")
                for _, g in study.eval_prompts.groupby("relation", sort=False)
            ],
            ignore_index=True,
        ),
        desc="types",
    )
    tables, per_set = [], {}
    for name in sets:
        table = inter_table(study, judged, conditions[name]).assign(set=name)
        k_text = f"{name} set, k = {ks[name]:,} ({ks[name] / nsets[name].size:.2%} of {nsets[name].size:,})"
        part = comp[comp["set"] == name].groupby("type", sort=False)
        per_set[name] = SetResult(
            n_neurons=nsets[name].size,
            k=ks[name],
            k_text=k_text,
            types={t: int(c) for t, c in part["count"].sum().items()},
            expected_if_random={t: float(e) for t, e in part["expected_if_random"].sum().items()},
            **inter_figure(table, study.relations, folder / f"inter_{name}", k_text),
        )
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    _write(folder, "inter", table)
    write_summary(
        folder,
        TypesSummary(
            sets=per_set,
            store_set=study.nset.name,
            study_k=study.k,
            k_rule=(
                f"the study's k as a fraction of the store's {study.nset.name} set ({study.k:,} / {study.nset.size:,} = "
                f"{study.k / study.nset.size:.4%}) applied to every set"
            )
            if k == 0
            else f"option k = {k} for every set",
            examples="the main identification's examples.parquet",
            captured_sites=len(extra.sites) if extra is not None else 0,
            captured_neurons=extra.size if extra is not None else 0,
            activation_cache=str(cache) if cache is not None else "",
        ),
    )
    return table

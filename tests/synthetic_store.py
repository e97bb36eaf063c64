"""A synthetic activation store (made-up activations with planted signal), for unit tests only."""

import numpy as np
import pandas as pd
from tiny_models import CONFIGS

from relneurons.activations.store import StoreWriter
from relneurons.model import build_on_meta, neuron_set

RELATIONS = {"alpha": 30, "beta": 25, "gamma": 4}  # gamma: too few validated prompts


def synthetic_store(folder, seed=0):
    """Texts of 3 relations; ~70% answered correctly; neuron 5 fires for alpha, neuron 7 for beta."""
    rng = np.random.default_rng(seed)
    nset = neuron_set(build_on_meta(CONFIGS["llama"]()), "ffn")
    rows = [(rel, f"{rel}-s{i}", "obj", "{} is", f"{rel} prompt {i}") for rel, n in RELATIONS.items() for i in range(n)]
    table = pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"])
    table["text_id"] = np.arange(len(table))
    correct = rng.random(len(table)) < 0.7
    correct[table["relation"].eq("gamma").to_numpy()] = [True, True, False, False]
    means = rng.normal(size=(len(table), nset.size)).astype(np.float32)
    means[:, 5] += 3 * table["relation"].eq("alpha").to_numpy()
    means[:, 7] += 3 * table["relation"].eq("beta").to_numpy()
    means[:, 9] = np.round(means[:, 9])  # heavy ties
    writer = StoreWriter(folder, {"n_neurons": nset.size, "test": True}, table, chunk_texts=16)
    for c in range(writer.n_chunks):
        ids = list(writer.chunk_range(c))
        writer.write_chunk(
            c, pd.DataFrame({"text_id": ids, "generation": "obj", "kept": correct[ids]}), means[ids][correct[ids]]
        )

    def mark(prompts):
        prompts["correct"] = correct[prompts["text_id"].to_numpy()]
        return prompts

    return writer.finish({"neuron_set": nset.to_json()}, mark), means[correct], nset

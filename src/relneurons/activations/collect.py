"""`relneurons collect`: build P_det prompts, validate them and capture activations in one pass."""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import parallel
from ..data import build_prompts, is_correct, load_relations, resolve_data_dir, split
from ..data.splits import relation_rng
from ..model.batching import Shrinking, release_memory
from ..model.generation import upcasts_logits
from ..model.loading import load_model, model_fingerprint
from ..model.sites import neuron_set
from ..model.tokenization import check_context, make_policy, token_ids
from .capture import capture_batch, capturing
from .config import CollectConfig  # declared without torch (the command line reads its defaults); re-exported
from .store import ActivationStore, StoreWriter

_CHUNK_BYTES = 256 * 2**20  # activation rows held in memory before a chunk is written


def detection_prompts(config: CollectConfig) -> tuple[pd.DataFrame, dict[str, str]]:
    """P_det prompts of every relation (one row per prompt) and the data files' hashes."""
    relations = load_relations(config.relations, resolve_data_dir(config.data_dir))
    rows = []
    for relation in relations:
        _, det = split(relation, n_eval=config.n_eval, seed=config.seed)
        prompts = build_prompts(relation, det, config.templates, config.suffix)
        if config.max_prompts_per_relation is not None and len(prompts) > config.max_prompts_per_relation:
            keep = np.sort(
                relation_rng(config.seed, relation.name).choice(
                    len(prompts), config.max_prompts_per_relation, replace=False
                )
            )
            prompts = [prompts[i] for i in keep]
        rows.extend(asdict(p) for p in prompts)
    table = pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"])
    table["text_id"] = pd.factorize(table["text"])[0].astype(np.int64)  # a text runs once, whatever uses it
    return table, {r.name: r.sha256 for r in relations}


def _table_hash(table: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    for row in table[["relation", "subject", "object", "template", "text"]].itertuples(index=False):
        digest.update("\x1f".join(row).encode() + b"\x1e")
    return digest.hexdigest()


def versions() -> dict[str, str]:
    import transformers

    from .. import __version__

    return {
        "relneurons": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def collect(
    config: CollectConfig, out: str | Path, *, progress: bool = True, model: tuple | None = None
) -> ActivationStore:
    """Validate every P_det prompt and store the activations of the kept ones; resumes an interrupted run.

    `model`: an already loaded (model, tokenizer) of `config.model` (a notebook session loads it once);
    None loads it here. The store's identity records `config.model`'s fingerprint, so pass that model.

    Under torchrun, process r captures the chunks i with i % world == r (the same
    chunks and batches as one process would run), and process 0 merges them.
    """
    started = time.time()
    parallel.init()
    data_dir = resolve_data_dir(config.data_dir)
    table, data_hashes = detection_prompts(replace(config, data_dir=str(data_dir)))
    own_model = model is None
    if model is not None:
        model, tokenizer = model
    else:
        with parallel.main_first("load the model"):  # a first load may convert the model into the shared cache
            model, tokenizer = load_model(
                config.model,
                config.dtype,
                parallel.local_device(config.device),
                max_memory=config.max_memory,
                offload_folder=config.offload_folder,
            )
    nset = neuron_set(model, config.neuron_set)
    policy = make_policy(
        tokenizer,
        getattr(model.config, "model_type", ""),
        config.bos,
        config.mean_bos,
        config.chat,
        config.chat_positions,
    )
    settings = asdict(config)
    for local in ("device", "data_dir", "max_memory", "offload_folder"):  # do not change the result
        settings.pop(local)
    identity = {
        **settings,
        "model_fingerprint": model_fingerprint(config.model),
        "model_dtype": str(model.dtype),
        "n_neurons": nset.size,
        "prompts_sha256": _table_hash(table),
        "data_sha256": data_hashes,
        "add_bos": policy.add_bos,
    }
    if policy.chat is not None:  # the template's text around each prompt: a changed template is another store
        identity["chat_template"] = {"before": policy.chat.before, "after": policy.chat.after}
    if upcasts_logits(model):  # validation's argmax reads float32 logits (generation.float32_logits), not bfloat16 ones
        identity["logits"] = "float32"
    chunk = config.chunk_prompts or max(
        config.batch_size, (_CHUNK_BYTES // (4 * nset.size)) // config.batch_size * config.batch_size
    )
    texts = table.drop_duplicates("text_id").sort_values("text_id")["text"].tolist()
    objects = table.groupby("text_id")["object"].agg(list)
    encoded = token_ids(tokenizer, policy, texts)
    check_context(model, encoded, config.max_new_tokens, texts)  # before the store folder exists
    with parallel.main_first("open the store"):  # process 0 writes the manifest, the others check it
        writer = StoreWriter(Path(out), identity, table, chunk)

    mine = parallel.share(range(writer.n_chunks))
    todo = [i for i in mine if not writer.done(i)]
    total = sum(len(writer.chunk_range(i)) for i in mine)
    bar = tqdm(
        total=total,
        desc="validate+capture" + (f" [{parallel.rank()}/{parallel.world()}]" if parallel.world() > 1 else ""),
        unit="prompt",
        disable=not progress or not parallel.is_main(),
        initial=total - sum(len(writer.chunk_range(i)) for i in todo),
    )
    sizer = Shrinking(config.batch_size, what="validate+capture")

    def run_part(capture, part: list[int]) -> list[tuple[str, torch.Tensor]]:
        result = capture_batch(model, capture, [encoded[i] for i in part], policy, config.max_new_tokens)
        return [
            (tokenizer.decode(result.new_tokens[row].tolist(), skip_special_tokens=True), result.means[row])
            for row in range(len(part))
        ]

    with capturing(model, nset) as capture:
        for index in todo:
            ids = list(writer.chunk_range(index))
            order = sorted(ids, key=lambda i: len(encoded[i]))  # little padding per batch
            generation: dict[int, str] = {}
            means: dict[int, torch.Tensor] = {}
            for start in range(0, len(order), config.batch_size):
                part = order[start : start + config.batch_size]
                for i, (text, mean) in zip(part, sizer.run(part, lambda p: run_part(capture, p))):
                    generation[i], means[i] = text, mean
                bar.update(len(part))
            kept = [config.keep_all or any(is_correct(generation[i], o, config.rule) for o in objects[i]) for i in ids]
            rows = [means[i] for i, k in zip(ids, kept) if k]
            matrix = torch.stack(rows).numpy() if rows else np.zeros((0, nset.size), np.float32)
            writer.write_chunk(
                index, pd.DataFrame({"text_id": ids, "generation": [generation[i] for i in ids], "kept": kept}), matrix
            )
    bar.close()
    if own_model:  # let go of it now: a split model's hooks hold it in reference cycles until some later collection
        del model, run_part
        release_memory()

    def with_correctness(prompts: pd.DataFrame) -> pd.DataFrame:
        # per prompt: a text shared by two objects may be right for one of them only
        prompts["correct"] = [is_correct(g, o, config.rule) for g, o in zip(prompts["generation"], prompts["object"])]
        return prompts

    parallel.barrier("every chunk of the store captured")
    if parallel.is_main():
        writer.finish(
            {
                "data_dir": str(data_dir),
                "versions": versions(),
                "machine": platform.platform(),
                "seconds": round(time.time() - started, 1),
                "neuron_set": nset.to_json(),
            },
            with_correctness,
        )
    parallel.barrier("the store merged")
    return ActivationStore(Path(out))

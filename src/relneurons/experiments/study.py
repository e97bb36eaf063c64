"""What every controlled-generation experiment needs: model, store, rankings, P_eva, conditions, judging.

A `Study` is opened from an activation store (which fixes the model, data
settings and neuron set) and an identification folder (which fixes the
rankings). Conditions are named by what they switch off, so the generation
cache can be shared by all experiments:
    original                  nothing
    rel:<relation>:<lo>-<hi>  the relation's neurons of rank lo+1..hi (top-k = 0-k)
    random:<seed>:<k>         k neurons drawn from the set with that seed
    ids:<label>:<hash>        explicit global ids registered with `Study.ids_condition` (other neuron
                              sets, concept neurons); the hash of the ids keeps cached generations honest
    forced:<label>:<hash>     explicit global ids forced to explicit values (`Study.forced_condition`, amplification);
                              the hash covers ids and values
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import io, parallel
from ..activations.store import ActivationStore
from ..data import build_prompts, is_correct, load_relations, resolve_data_dir, split
from ..errors import ConfigError, DataError
from ..expertise.identify import resolve_k
from ..intervention.evaluate import GenerationCache, generate_pairs, random_neurons
from ..intervention.hooks import Condition
from ..model.loading import default_device, load_model, model_fingerprint
from ..model.tokenization import make_policy
from .conditions import ConditionName
from .spec import FORCE_CHOICES, StudyConfig  # noqa: F401 - declared where the CLI reads its defaults without torch
from .stats import accuracy_ci, triple_clusters


@dataclass
class Study:
    store: ActivationStore
    identify_dir: Path
    out: Path
    config: StudyConfig
    data_dir: str | None = None
    device: str | None = None
    progress: bool = True
    max_memory: str | dict | None = None  # with device "auto" (device_map), see load_model
    offload_folder: str | None = None
    _model: tuple | None = field(default=None, repr=False)
    _explicit: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _forced: dict[str, tuple[np.ndarray, np.ndarray, bool]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        parallel.init()
        self.identify_dir, self.out = Path(self.identify_dir), Path(self.out)
        summary = self.identify_dir / "summary.json"
        if not summary.is_file():
            raise DataError(f"{self.identify_dir} has no summary.json; run `relneurons identify` first")
        self.summary = io.read_json(summary)
        recorded = self.summary.get("store_sha256")  # older folders recorded only the path
        if (
            recorded != self.store.identity_sha256
            if recorded
            else Path(self.summary["store"]).resolve() != self.store.folder.resolve()
        ):
            raise DataError(
                f"{self.identify_dir} was computed from the store {self.summary['store']}, not {self.store.folder}"
            )
        self.nset = self.store.neuron_set
        self.k = resolve_k(self.config.k, self.nset.size)
        self.out.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ inputs
    @property
    def settings(self) -> dict:
        return self.store.identity

    @property
    def relations(self) -> list[str]:
        """Relations with a neuron ranking (skipped ones have none)."""
        return list(self.summary["relations"])

    @property
    def rule(self) -> str:
        return self.settings["rule"]

    @property
    def model_dtype(self) -> str | None:
        """The dtype the store's activations were computed in ("float32", ...): every later stage runs the model in it,
        whatever the device, so that rankings, forcing values and generations come from the same numbers."""
        recorded = self.settings.get("model_dtype")  # stores before it was recorded: the requested dtype
        return str(recorded).removeprefix("torch.") if recorded else self.settings.get("dtype")

    @cached_property
    def runtime(self) -> dict:
        """What decides a generation besides the store and the condition: the model's dtype and the device type,
        and for a model not in float32 that its argmax reads float32 logits (`generation.float32_logits`). Part of
        every cache identity, so that one results folder never mixes float16 and float32 generations."""
        device = parallel.local_device(self.device) or default_device()
        runtime = {"dtype": self.model_dtype, "device": "auto" if device == "auto" else torch.device(device).type}
        if self.model_dtype not in (None, "float32"):  # float32 models: the identity of every earlier cache
            runtime["logits"] = "float32"
        return runtime

    @cached_property
    def model(self):
        """(model, tokenizer, policy), loaded in the store's dtype on first use and checked against the store's model."""
        with parallel.main_first("load the model"):  # a first load may convert the model into the shared cache
            model, tokenizer = load_model(
                self.settings["model"],
                self.model_dtype,
                parallel.local_device(self.device),
                max_memory=self.max_memory,
                offload_folder=self.offload_folder,
            )
        return self.checked_model(model, tokenizer)

    def checked_model(self, model, tokenizer) -> tuple:
        """(model, tokenizer, policy) for a loaded model, after checking it is the store's (weights, dtype); also
        for a model loaded elsewhere (relneurons.Session hands its own in)."""
        name = self.settings["model"]
        # after loading: a Hub model's fingerprint is its commit in the local cache, which the load fills
        if model_fingerprint(name) != self.settings["model_fingerprint"]:
            raise DataError(
                f"the model {name!r} is not the one the store {self.store.folder} was collected with (weights differ)"
            )
        if self.model_dtype and str(model.dtype) != f"torch.{self.model_dtype}":
            raise DataError(
                f"the store {self.store.folder} was collected in {self.model_dtype} but the model loaded in "
                f"{str(model.dtype).removeprefix('torch.')}; evaluate on a device that runs {self.model_dtype}, "
                "or collect again with --dtype / model.dtype set to the dtype you evaluate in"
            )
        policy = make_policy(
            tokenizer,
            getattr(model.config, "model_type", ""),
            self.settings["bos"],
            self.settings.get("mean_bos", True),
            self.settings.get("chat", False),
            self.settings.get("chat_positions", "content"),
        )
        recorded = self.settings.get("chat_template")
        if policy.chat is not None and recorded != {"before": policy.chat.before, "after": policy.chat.after}:
            raise DataError(
                f"the chat template of {name!r} is not the one the store {self.store.folder} was collected with "
                "(its text around the prompt differs); collect again"
            )
        return model, tokenizer, policy

    @cached_property
    def eval_prompts(self) -> pd.DataFrame:
        """P_eva: the held-out triples of every ranked relation, with the store's templates and suffix."""
        s = self.settings
        relations = load_relations(
            s["relations"], resolve_data_dir(self.data_dir or self.store.manifest.get("data_dir"))
        )
        templates = s["templates"] if isinstance(s["templates"], str) else tuple(s["templates"])
        rows = []
        for relation in relations:
            if relation.name not in self.relations:
                continue
            evaluation, _ = split(relation, n_eval=s["n_eval"], seed=s["seed"])
            rows.extend(asdict(p) for p in build_prompts(relation, evaluation, templates, s["suffix"]))
        return pd.DataFrame(rows, columns=["relation", "subject", "object", "template", "text"])

    @cached_property
    def det_prompts(self) -> pd.DataFrame:
        """Validated P_det (the positives), at most max_det per relation (seeded)."""
        prompts = self.store.prompts
        valid = prompts[prompts["correct"] & prompts["relation"].isin(self.relations)]
        parts = [
            g.sample(min(len(g), self.config.max_det), random_state=self.config.seed).sort_index()
            for _, g in valid.groupby("relation", sort=False)
        ]
        return pd.concat(parts)[["relation", "subject", "object", "template", "text"]] if parts else valid

    @cached_property
    def _rankings(self) -> dict[str, np.ndarray]:
        out = {}
        for relation in self.relations:
            table = pd.read_parquet(self.identify_dir / "ap" / f"{relation}.parquet", columns=["global_index", "rank"])
            out[relation] = table.sort_values("rank")["global_index"].to_numpy()
        return out

    def ranked(self, relation: str, lo: int, hi: int) -> np.ndarray:
        """Global ids of the relation's neurons of rank lo+1..hi."""
        return np.sort(self._rankings[relation][lo:hi])

    # -------------------------------------------------------------- conditions
    @staticmethod
    def rel(relation: str, lo: int, hi: int) -> str:
        return str(ConditionName.relation(relation, lo, hi))

    @staticmethod
    def rnd(seed: int, k: int) -> str:
        return str(ConditionName.random(seed, k))

    def ids_condition(self, label: str, ids) -> str:
        """Register a condition that switches off explicit global ids (any neuron set); return its name.

        The name ends in a hash of the ids, so a cached generation is reused only for
        exactly the same neurons, whatever produced them.
        """
        if ":" in label:
            raise ValueError(f"condition label {label!r} must not contain ':'")
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        name = str(ConditionName("ids", label, hashlib.sha256(ids.tobytes()).hexdigest()[:12]))
        self._explicit[name] = ids
        return name

    def forced_condition(self, label: str, ids, values, keep_bos: bool = False) -> str:
        """Register a condition forcing explicit global ids to explicit values (one, or one per id); return its name.

        For forcing *up* (amplification) as well as down; `config.force` does not apply. The name ends in a
        hash of the ids, of the float32 values the hooks apply and (when set) of `keep_bos` (the prompt's BOS
        position is left unedited), so a cached generation is reused only for exactly the same edit.
        """
        if ":" in label:
            raise ValueError(f"condition label {label!r} must not contain ':'")
        ids = np.asarray(ids, dtype=np.int64)
        values = np.broadcast_to(np.asarray(values, dtype=np.float32), ids.shape)
        if np.unique(ids).size != ids.size:
            raise ValueError(f"condition {label!r}: neuron ids must be distinct")
        order = np.argsort(ids)
        ids, values = ids[order], np.ascontiguousarray(values[order])
        digest = hashlib.sha256(ids.tobytes() + values.tobytes() + (b"keep_bos" if keep_bos else b""))
        name = str(ConditionName("forced", label, digest.hexdigest()[:12]))
        self._forced[name] = (ids, values, keep_bos)
        return name

    def condition(self, name: str) -> Condition:
        if name == "original":
            return Condition(name, np.zeros(0, np.int64))
        parsed = ConditionName.parse(name)
        kind = parsed.kind
        if kind == "forced":
            if name not in self._forced:
                raise KeyError(f"condition {name!r} was not registered with Study.forced_condition")
            ids, values, keep_bos = self._forced[name]
            return Condition(name, ids, values, keep_bos=keep_bos)
        if kind == "ids":
            if name not in self._explicit:
                raise KeyError(f"condition {name!r} was not registered with Study.ids_condition")
            ids = self._explicit[name]
            if self.config.force == "median" and not np.isin(ids, self.nset.global_ids).all():
                raise ConfigError(
                    f"force = median needs activations of every neuron switched off; {parsed.label!r} has neurons outside "
                    f"the store's {self.nset.name} set (use force = zero or a number)"
                )
            return Condition(name, ids, self._force_values(ids, None))
        if kind == "rel":
            ids, source = self.ranked(parsed.label, *parsed.ranks), parsed.label
        else:
            seed, k = parsed.seed_and_size
            ids, source = random_neurons(self.nset.global_ids, k, self.config.seed * 1000 + seed), None
        return Condition(name, ids, self._force_values(ids, source))

    def _force_values(self, ids: np.ndarray, relation: str | None):
        if self.config.force == "zero":
            return 0.0
        if self.config.force != "median":
            return float(self.config.force)
        # self-conditioning: each neuron's median output on the positives of the relation (all kept rows for random sets)
        return np.median(self.positive_outputs(ids, relation), axis=0)

    def positive_outputs(self, ids: np.ndarray, relation: str | None) -> np.ndarray:
        """Stored mean outputs [n_positives, len(ids)] of neurons `ids` on the validated prompts of `relation`
        (every kept validated prompt when None): the rows that forcing values (median, quantiles) come from."""
        prompts = self.store.prompts
        rows = prompts.loc[
            prompts["correct"] & (prompts["act_row"] >= 0) & ((prompts["relation"] == relation) if relation else True),
            "act_row",
        ]
        return self.store.rows(np.unique(rows.to_numpy()))[:, self.nset.columns(ids)]

    # ------------------------------------------------------------------ running
    @cached_property
    def cache(self) -> GenerationCache:
        # the rankings depend on the examples, not on k: a new k reuses every generation it can
        ranking = {key: v for key, v in self.summary["config"].items() if key not in ("k", "block", "memory_gb")}
        identity = {
            "store": self.settings,
            "rankings": json.dumps(ranking, sort_keys=True),
            "force": self.config.force,
            "seed": self.config.seed,
            "runtime": self.runtime,
        }
        return GenerationCache(self.out / "generations.parquet", json.loads(json.dumps(identity, default=str)))

    def judge(self, pairs: pd.DataFrame, max_new_tokens: int = 2, desc: str = "generate") -> pd.DataFrame:
        """Add `generation` and `correct` to pairs with columns text, object, condition (condition-batched, cached)."""
        model, tokenizer, policy = self.model
        catalogue = {name: self.condition(name) for name in dict.fromkeys(pairs["condition"])}
        generations = generate_pairs(
            model,
            tokenizer,
            policy,
            pairs["text"].tolist(),
            pairs["condition"].tolist(),
            catalogue,
            max_new_tokens=max_new_tokens,
            batch_size=self.config.batch_size,
            cache=self.cache,
            progress=self.progress,
            desc=desc,
        )
        out = pairs.assign(generation=generations)
        out["correct"] = [is_correct(g, o, self.rule) for g, o in zip(out["generation"], out["object"])]
        return out

    def accuracy_rows(self, judged: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        """Accuracy with a seeded 95% bootstrap interval per group (whole triples resampled when a group
        holds several templates of a triple)."""
        rows = []
        for key, group in judged.groupby(by, sort=False):
            acc, low, high = accuracy_ci(
                group["correct"].to_numpy(), self.config.n_boot, self.config.seed, clusters=triple_clusters(group)
            )
            rows.append(
                {
                    **dict(zip(by, key if isinstance(key, tuple) else (key,))),
                    "n": len(group),
                    "accuracy": acc,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
        return pd.DataFrame(rows)

    def k_text(self, k: int | None = None) -> str:
        k = self.k if k is None else k
        return f"k = {k:,} ({k / self.nset.size:.2%} of {self.nset.size:,} {self.nset.name} neurons)"

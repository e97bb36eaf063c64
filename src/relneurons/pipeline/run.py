"""`relneurons run`: the whole study in one run folder, stage by stage, cached by each stage's inputs.

    RUN/config.toml           the configuration as resolved (TOML)
    RUN/manifest.json         config, versions, model and data hashes, seeds, times, machine, and per stage its
                              time, peak RSS (`pipeline.resources`), batch shrinks after out-of-memory
                              errors and the folder's disk use after it
    RUN/logs/run.log          what the run printed about its stages
    RUN/stages/<stage>.json   marker: the stage's input key, written when the stage is complete
    RUN/store/                collect (the activation store)
    RUN/identify/             identify (AP tables, top-k)
    RUN/results/<experiment>/ experiments (tables, figures, summary.json); results/generations.parquet is their cache
    RUN/report.html           the report

A stage whose marker holds its current input key is skipped. A stage whose
inputs changed is redone; its folder is cleared first when the old content
cannot be reused (another store, other examples). So rerunning the same
configuration redoes nothing, and changing k redoes the top-k lists (not the
AP) and the experiments, reusing cached generations. An experiment's key holds
its summary's type and version, so a run folder written by an older relneurons
gets its summaries rewritten in the current layout the next time it is run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .. import io, parallel
from ..activations.collect import CollectConfig, collect, versions
from ..activations.store import ActivationStore
from ..data import PAPER_RELATIONS
from ..errors import DataError
from ..experiments import registry
from ..experiments.study import Study, StudyConfig
from ..expertise.identify import IdentifyConfig, identify
from ..model.batching import recording_shrinks, resolve_batch_size
from . import resources
from .config import to_dataclass

log = logging.getLogger("relneurons.run")


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def collect_key(collect_cfg: CollectConfig) -> str:
    """The collect stage's key: every setting that changes the store, not where it is computed. Without chat
    the chat settings are left out (chat_positions means nothing then), so run folders collected before chat
    existed keep their key and resume instead of collecting again."""
    placement = ("device", "data_dir", "max_memory", "offload_folder")
    chat = () if collect_cfg.chat else ("chat", "chat_positions")
    return _key("collect", {k: v for k, v in collect_cfg.__dict__.items() if k not in placement + chat})


def collect_config(config: dict, batch_size: int) -> CollectConfig:
    """The collect stage's settings: the configuration's keys (pipeline.config.to_dataclass), the paper's relations
    named in full (the store records the list), and the batch size the run chose."""
    relations = config["data"]["relations"]
    return to_dataclass(
        config,
        CollectConfig,
        relations=PAPER_RELATIONS if relations == "paper" else tuple(relations),
        batch_size=batch_size,
    )


def file_stamp(value: str) -> list | None:
    """(name, size, mtime) of the file or every file under the folder an option names, so that editing a
    counts file, corpus or language pack reruns the experiment; None when the option is not a path."""
    path = Path(value).expanduser()
    if not path.exists():
        return None
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [
        [str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files
    ]


def experiment_options(config: dict, name: str) -> dict:
    """Keyword options of experiment `name` from the configuration section its spec names (its own, or
    [experiments] for the core's k_sweep and error_tokens), checked by the spec; defaults for keys the section lacks."""
    spec = registry.BY_NAME[name]
    section = config.get(spec.config_section, {})
    return spec.validate({key: section[key] for key in spec.keys() if key in section})


def _toml(config: dict) -> str:
    """A small TOML writer for our flat two-level configuration (strings, numbers, lists)."""

    def value(v):
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v).lower() if isinstance(v, bool) else repr(v)

    return "\n".join(
        f"[{section}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in table.items()) for section, table in config.items()
    )


def _machine() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def source() -> dict | None:
    """The git commit of the relneurons source that runs, when it runs from a git checkout (an editable install),
    and whether that checkout had uncommitted changes; None for an installed wheel or without git."""
    import subprocess

    here = Path(__file__).resolve().parents[1]  # the relneurons package

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(here), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return {"commit": commit, "dirty": bool(status)}


class Run:
    """One run folder: stage markers, timings and the manifest."""

    def __init__(self, folder: Path, config: dict, quiet: bool) -> None:
        self.folder, self.config, self.quiet = folder, config, quiet
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "logs").mkdir(exist_ok=True)
        handlers = []
        if parallel.is_main():  # under torchrun, process 0 speaks and writes for all
            handler = logging.FileHandler(folder / "logs" / "run.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            handlers.append(handler)
            if not quiet:  # the stage lines on the console too
                console = logging.StreamHandler(sys.stdout)
                console.setFormatter(logging.Formatter("%(message)s"))
                handlers.append(console)
        log.handlers = handlers
        log.propagate = False  # these handlers only, not again through a `relneurons` handler (the CLI's)
        log.setLevel(logging.INFO)
        self.timings: dict[str, dict] = {}
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def say(self, text: str) -> None:
        if not parallel.is_main():
            return
        log.info(text)

    def marker(self, stage: str) -> dict | None:
        path = self.folder / "stages" / f"{stage}.json"
        return io.read_json(path) if path.is_file() else None

    def stage(
        self, number: int, total: int, stage: str, key: str, work, clear: list[Path] = (), everyone: bool = True
    ) -> None:
        """Run `work()` unless the stage's marker holds `key`; clear `clear` first when an old, other key is there.

        Under torchrun, `work()` runs in every process (it shares its work out) or,
        with `everyone=False`, in process 0 while the others wait; process 0 alone
        clears folders and writes markers. Work done by process 0 alone runs on every
        available core (torchrun gives each process one thread), and the others wait
        for it at a `long` barrier (the gloo group, not NCCL's watchdog).
        """
        done = self.marker(stage)
        parallel.barrier(f"{stage}: marker read")  # before process 0 may change it
        if done and done["key"] == key:
            self.say(f"[{number}/{total}] {stage}: cached")
            self.timings[stage] = {"status": "cached", "seconds": done["seconds"], "key": key}
            return
        pending = self.folder / "stages" / f"{stage}.pending"
        if parallel.is_main():
            old = pending.read_text() if pending.is_file() else (done or {}).get("key")
            if old and old != key:
                for path in clear:
                    shutil.rmtree(path, ignore_errors=True)
            io.write_bytes(pending, key.encode())
        parallel.barrier(f"{stage}: start")
        self.say(f"[{number}/{total}] {stage}: running")
        start = time.time()
        with resources.RssSampler() as rss, recording_shrinks() as shrinks:
            if everyone:
                work()
            elif parallel.is_main():
                with parallel.all_cores():
                    work()
        mine = {"peak_rss_bytes": rss.peak, "max_rss_bytes": resources.max_rss_bytes(), "batch_shrinks": shrinks}
        if not parallel.is_main():  # process 0 writes the manifest: the others hand it their numbers as files
            io.write_json(self._rank_file(stage, parallel.rank()), mine)
        parallel.barrier(f"{stage}: finished", long=not everyone)
        seconds = round(time.time() - start, 1)
        usage = {}
        if parallel.is_main():
            io.write_json(
                self.folder / "stages" / f"{stage}.json",
                {"key": key, "seconds": seconds, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")},
            )
            pending.unlink()
            usage = self._usage(stage, mine)
        parallel.barrier(f"{stage}: marked")
        self.timings[stage] = {"status": "ran", "seconds": seconds, "key": key, **usage}
        self.say(f"[{number}/{total}] {stage}: done in {seconds:.0f} s")

    def _rank_file(self, stage: str, rank: int) -> Path:
        return self.folder / "stages" / f"{stage}.rank-{rank:05d}.json"

    def _usage(self, stage: str, mine: dict) -> dict:
        """What the manifest records of a stage that ran besides its time: process 0's peak RSS during the stage
        (sampled, `pipeline.resources`) and its kernel-recorded peak since it started, under torchrun the same for
        every process by rank; every batch shrink after an out-of-memory error (with its process under torchrun);
        the run folder's disk use after the stage."""
        ranks = [mine]
        for rank in range(1, parallel.world()):
            path = self._rank_file(stage, rank)
            ranks.append(io.read_json(path))
            path.unlink()
        usage = {name: mine[name] for name in ("peak_rss_bytes", "max_rss_bytes")}
        if len(ranks) > 1:
            usage.update({f"{name}_by_rank": [r[name] for r in ranks] for name in usage})
            usage["batch_shrinks"] = [{**s, "rank": rank} for rank, r in enumerate(ranks) for s in r["batch_shrinks"]]
        else:
            usage["batch_shrinks"] = mine["batch_shrinks"]
        return {**usage, "disk_bytes": resources.disk_bytes(self.folder)}

    def write_manifest(self, finished: bool) -> None:
        if not parallel.is_main():
            return
        store_manifest = self.folder / "store" / "manifest.json"
        identity = io.read_json(store_manifest)["identity"] if store_manifest.is_file() else {}
        io.write_json(
            self.folder / "manifest.json",
            {
                "config": self.config,
                "versions": versions(),
                "source": source(),
                "machine": _machine(),
                "model": {
                    "name": self.config["model"]["name"],
                    "fingerprint": identity.get("model_fingerprint"),
                    "dtype": identity.get("model_dtype"),
                },
                "data_sha256": identity.get("data_sha256"),
                "seeds": {
                    "data": self.config["data"]["seed"],
                    "random_neurons": self.config["experiments"]["random_seeds"],
                },
                "started": self.started,
                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds") if finished else None,
                "stages": self.timings,
            },
        )


#: Below this share of validated P_det prompts, a run in which no relation survives blames the prompt style
#: (SmolLM2-135M validates 0% with the paper's "? Answer:") and calibrates; above it, min_positives.
_STYLE_PROBLEM_RATE = 0.05


def check_survivors(config: dict, collect_cfg: CollectConfig, store: ActivationStore) -> None:
    """DataError naming a prompt style that would work when no relation has enough validated prompts (a model that
    answers the paper's style with a new line, as SmolLM2-135M does), instead of a study of nothing."""
    from ..expertise.identify import example_sets

    min_positives = config["neurons"]["min_positives"]
    examples, _ = example_sets(
        store.prompts, config["neurons"]["negative_ratio"], min_positives, config["data"]["seed"]
    )
    if len(examples):
        return
    from .calibrate import Style, no_survivors_error

    prompts = store.prompts
    validated = int(prompts["correct"].sum())
    if validated >= _STYLE_PROBLEM_RATE * len(
        prompts
    ):  # the style works; the relations are just too small for min_positives
        most = int(prompts.groupby("relation")["correct"].sum().max())
        raise DataError(
            f"no relation in {store.folder} has enough validated prompts (min_positives = {min_positives}; the most "
            f"any relation has is {most}): lower neurons.min_positives, or collect more prompts per relation "
            "(data.max_prompts_per_relation = 0 takes all)"
        )
    templates = (
        collect_cfg.templates if isinstance(collect_cfg.templates, str) else json.dumps(list(collect_cfg.templates))
    )
    used = Style(collect_cfg.suffix, templates, collect_cfg.bos, collect_cfg.chat)
    raise DataError(
        no_survivors_error(
            collect_cfg.model,
            used,
            validated,
            len(prompts),
            min_positives,
            n_eval=collect_cfg.n_eval,
            data_dir=collect_cfg.data_dir,
            relations=collect_cfg.relations,
            seed=collect_cfg.seed,
            calibrate_now=parallel.world() == 1,
            rule=collect_cfg.rule,
            dtype=collect_cfg.dtype,
            device=collect_cfg.device,
            batch_size=collect_cfg.batch_size,
        )
    )


def run_study(config: dict, out: str | Path | None = None, *, quiet: bool = False) -> Path:
    """Run every stage of the configured study; return the run folder."""
    from ..report.html import build_report

    parallel.init()
    folder = Path(out or config["run"]["out"])
    run = Run(folder, config, quiet)
    if parallel.is_main():
        io.write_bytes(folder / "config.toml", _toml(config).encode())
    batch = resolve_batch_size(config["run"]["batch_size"])  # "auto": the cap, halved on out-of-memory errors
    collect_cfg = collect_config(config, batch)
    n, e = config["neurons"], config["experiments"]
    names = [name for name in registry.EXPERIMENTS if name in e["run"]]
    total = 3 + len(names)

    k_collect = collect_key(collect_cfg)
    run.stage(
        1,
        total,
        "collect",
        k_collect,
        lambda: collect(collect_cfg, folder / "store", progress=not quiet),
        clear=[folder / "store"],
    )
    store = ActivationStore(folder / "store")
    run.write_manifest(False)
    check_survivors(config, collect_cfg, store)

    ident = to_dataclass(config, IdentifyConfig)
    k_ap = _key("ap", k_collect, n["negative_ratio"], n["min_positives"], config["data"]["seed"])
    # clearing on an AP-key change only: a new k reuses the AP blocks
    if (run.marker("identify") or {}).get("ap_key") not in (None, k_ap) and parallel.is_main():
        shutil.rmtree(folder / "identify", ignore_errors=True)
    run.stage(
        2,
        total,
        "identify",
        _key("identify", k_ap, n["k"]),
        lambda: identify(store.folder, folder / "identify", ident, progress=not quiet),
        everyone=False,
    )
    marker = run.marker("identify")
    if parallel.is_main():
        io.write_json(folder / "stages" / "identify.json", {**marker, "ap_key": k_ap})

    study_cfg = to_dataclass(config, StudyConfig, batch_size=batch)
    k_results = _key("results", k_ap, e["force"], config["data"]["seed"])
    if parallel.is_main():
        if (run.marker("results") or {}).get("key") not in (None, k_results):
            shutil.rmtree(folder / "results", ignore_errors=True)
        io.write_json(folder / "stages" / "results.json", {"key": k_results, "seconds": 0})
    parallel.barrier("results folder ready")
    study = Study(
        store,
        folder / "identify",
        folder / "results",
        study_cfg,
        data_dir=collect_cfg.data_dir,
        device=collect_cfg.device,
        progress=not quiet,
        max_memory=collect_cfg.max_memory,
        offload_folder=collect_cfg.offload_folder,
    )
    for i, name in enumerate(names, start=3):
        options = experiment_options(config, name)
        settings = {
            "k": n["k"],
            "seeds": e["random_seeds"],
            "n_boot": config["bootstrap"]["n_boot"],
            "max_det": e["max_det"],
            "options": options,
        }
        files = {key: stamp for key, v in options.items() if isinstance(v, str) and (stamp := file_stamp(v))}
        if files:  # only then: keys of runs without file options stay as they were
            settings["files"] = files
        summary = registry.BY_NAME[name].summary_type()
        if summary is not None:  # a new summary layout reruns the stage (generations come from the cache)
            settings["summary"] = [registry.BY_NAME[name].summary, getattr(summary, "version", None)]
        run.stage(
            i,
            total,
            name,
            _key(name, k_results, settings),
            lambda name=name, options=options: registry.EXPERIMENTS[name](study, **options),
        )
        run.write_manifest(False)

    run.stage(
        total,
        total,
        "report",
        _key("report", [t["key"] for t in run.timings.values()]),
        lambda: build_report(folder),
        everyone=False,
    )
    run.write_manifest(True)
    return folder

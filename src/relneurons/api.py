"""`relneurons.Session`: a study from Python (a notebook), the model loaded once, every step returning objects.

    session = relneurons.Session("gemma3-270m", "runs/nb")   # folder None: a temporary folder, deleted with the session
    prompts = session.collect(relations=["landmark_country", "person_pro_sport"], max_prompts_per_relation=40)
    top = session.identify(k=100)                              # DataFrame: relation, rank, global_index, layer, module, unit, ap
    study = session.study(seeds=1, max_det=5)                  # the experiments' shared settings (k: identify's)
    result = session.run("intra", study)                       # ExperimentResult: table, summary, figures, folder

A thin facade over the command line's stages (`activations.collect`, `expertise.identify`,
the experiments registry run on an `experiments.study.Study`, the per-experiment context
this session builds): the folder has a run folder's layout (store/, identify/, results/), so
a session on a folder reuses what an earlier session or `relneurons run` computed there:
the store's captured chunks, identification's AP blocks and the cached generations.
The name differs from `experiments.study.Study` on purpose: that one is the context one
experiment runs in, this one is the whole study a user drives.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from matplotlib.figure import Figure

from . import io
from .activations.collect import CollectConfig, collect
from .activations.store import ActivationStore
from .errors import ConfigError, DataError, did_you_mean
from .experiments.study import Study, StudyConfig
from .expertise.identify import IdentifyConfig, identify, load_topk
from .model.loading import DEFAULT_MODEL, load_model

if TYPE_CHECKING:
    from .experiments.spec import ExperimentSpec

__all__ = ["ExperimentResult", "Session"]


def _registry() -> Mapping[str, ExperimentSpec]:
    """The experiments' specs by name (plugins included): the one place this module reads the registry."""
    from .experiments import registry

    return registry.BY_NAME


@dataclass
class ExperimentResult:
    """What one experiment produced: the table it returned, its typed summary (the dataclass its spec declares; a
    dict for an experiment without one), and the matplotlib Figures its PNG and SVG files were written from."""

    name: str
    table: pd.DataFrame
    summary: Any
    folder: Path
    figures: dict[str, Figure] = field(default_factory=dict)  # file stem (e.g. "intra") -> Figure


class Session:
    """One study driven from Python: collect -> identify -> run(experiment), on one loaded model.

    `model`: an embedded alias ("gemma3-270m"), a Hub id, a folder or a .gguf, as for `relneurons run`.
    `folder`: where the store, identification and results go (a run folder's layout, reused when it
    holds them already); None uses a temporary folder that lives as long as the session.
    `data_dir`: the LRE data (None: $RELNEURONS_DATA, else the cache). `seed` fixes the P_eva/P_det split,
    the prompt subsample, the negatives and the random neuron sets.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        folder: str | Path | None = None,
        *,
        data_dir: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="relneurons-session-") if folder is None else None
        self.folder = Path(self._tmp.name if self._tmp else folder)
        self.model_name, self.data_dir, self.device, self.dtype = model, data_dir, device, dtype
        self.seed, self.progress = seed, progress
        self._studies: dict[StudyConfig, Study] = {}

    def __repr__(self) -> str:
        return f"Session(model={self.model_name!r}, folder={str(self.folder)!r})"

    @staticmethod
    def experiments() -> list[str]:
        """Every experiment `run` accepts (plugins included), in the order `relneurons run` runs them."""
        return list(_registry())

    # ------------------------------------------------------------------ model and stages
    @cached_property
    def model(self) -> tuple:
        """(model, tokenizer), loaded on first use and shared by every step."""
        return load_model(self.model_name, self.dtype, self.device)

    @property
    def store(self) -> ActivationStore:
        """The activation store in FOLDER/store (collected by `collect`, here or in an earlier session)."""
        return ActivationStore(self.folder / "store")

    def collect(self, relations: list[str] | tuple[str, ...] | None = None, **options) -> pd.DataFrame:
        """Build and validate P_det and capture activations (resumed, or reused when FOLDER/store holds them).

        `relations`: names or relation files (None: the paper's 12); `options`: any field of
        `activations.CollectConfig` (n_eval, max_prompts_per_relation, templates, batch_size, ...).
        Returns one row per prompt: relation, subject, object, template, text, generation, correct, act_row.
        """
        for fixed in ("model", "dtype", "device", "data_dir", "seed"):
            if fixed in options:
                raise ConfigError(f"collect option {fixed!r} is the session's; give it to relneurons.Session(...)")
        if isinstance(options.get("templates"), list):  # as the configuration file gives them
            options["templates"] = tuple(options["templates"])
        config = CollectConfig(
            model=self.model_name,
            dtype=self.dtype,
            device=self.device,
            data_dir=self.data_dir,
            seed=self.seed,
            relations=tuple(relations) if relations is not None else None,
            **options,
        )
        store = collect(config, self.folder / "store", progress=self.progress, model=self.model)
        self._studies.clear()
        return store.prompts

    def identify(self, **options) -> pd.DataFrame:
        """Score every neuron for every relation (AP blocks reused when cached) and return the top-k neurons.

        `options`: fields of `expertise.IdentifyConfig` (k as a count or a fraction, negative_ratio, min_positives).
        Returns relation, rank, global_index, layer, module, unit, ap (readable names from the store's neuron set).
        """
        if "seed" in options:
            raise ConfigError("identify option 'seed' is the session's; give it to relneurons.Session(...)")
        identify(
            self.folder / "store",
            self.folder / "identify",
            IdentifyConfig(seed=self.seed, **options),
            progress=self.progress,
        )
        self._studies.clear()
        return load_topk(self.folder / "identify")

    def ap(self, relation: str) -> pd.DataFrame:
        """Every neuron's AP for `relation` with its rank (global_index, layer, module, unit, ap, rank)."""
        path = self.folder / "identify" / "ap" / f"{relation}.parquet"
        if not path.is_file():
            raise DataError(
                f"{path} does not exist: {relation!r} has no ranking; run Session.identify() first "
                "(a relation with fewer than min_positives validated prompts is skipped)"
            )
        return pd.read_parquet(path)

    def study(self, **settings) -> Study:
        """The experiment context (`experiments.study.Study`) that `run` hands to experiments, on the session's model.

        `settings`: fields of `StudyConfig` (seeds, n_boot, max_det, force, batch_size; k: identification's
        when not given), defaults as `relneurons experiment`'s. One Study per settings, kept until `identify`.
        """
        if "seed" in settings:
            raise ConfigError("study setting 'seed' is the session's; give it to relneurons.Session(...)")
        if "k" not in settings:
            path = self.folder / "identify" / "summary.json"
            if not path.is_file():
                raise DataError(f"{path.parent} holds no identification; run Session.identify() first")
            settings = {"k": io.read_json(path)["k"], **settings}
        config = StudyConfig(**settings, seed=self.seed)
        if config not in self._studies:
            study = Study(
                self.store,
                self.folder / "identify",
                self.folder / "results",
                config,
                data_dir=self.data_dir,
                device=self.device,
                progress=self.progress,
            )
            study.model = self._checked_model(study)  # the loaded model instead of a second load (a cached_property)
            self._studies[config] = study
        return self._studies[config]

    def _checked_model(self, study: Study) -> tuple:
        """(model, tokenizer, policy) of the session: the store must name the session's model; `Study.checked_model`
        then checks its weights and dtype as for a model the study loads itself."""
        settings = study.settings
        if settings["model"] != self.model_name:
            raise DataError(
                f"{self.folder / 'store'} was collected with the model {settings['model']!r}, not this session's "
                f"{self.model_name!r}; open relneurons.Session({settings['model']!r}, ...) or use another folder"
            )
        return study.checked_model(*self.model)

    def run(self, name: str, study: Study | None = None, **options) -> ExperimentResult:
        """Run experiment `name` (see `Session.experiments()`) and return its table, summary and figures.

        `study`: the shared settings, from `session.study(seeds=..., ...)` (None: `session.study()`); `options`:
        the experiment's own (the keys of its [name] configuration section, e.g. k_sweep=(100, 1000) for sweep).
        Generations are cached in FOLDER/results: a rerun, or another experiment on the same conditions, generates nothing.
        """
        specs = _registry()
        if name not in specs:
            raise ConfigError(
                f"unknown experiment {name!r}{did_you_mean(name, specs)}; experiments: {', '.join(specs)}"
            )
        spec = specs[name]
        options = spec.validate(options)  # the check of the configuration file and --opt, before any work
        if study is None:
            study = self.study()
        elif not any(study is mine for mine in self._studies.values()):
            raise ConfigError("run(name, study): pass a study made by this session's study() since its last identify()")
        from .plots.figures import collect_figures

        with collect_figures() as figures:
            table = spec.function()(study, **options)
        folder = study.out / name
        summary_path = folder / "summary.json"
        if spec.summary and summary_path.is_file():
            from .experiments.summaries import read_summary

            summary = read_summary(folder, spec.summary_type())
        else:
            summary = io.read_json(summary_path) if summary_path.is_file() else {}
        return ExperimentResult(name, table, summary, folder, dict(sorted(figures.items())))

    def close(self) -> None:
        """Delete the temporary folder (a session opened with folder=None); a given folder is kept."""
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

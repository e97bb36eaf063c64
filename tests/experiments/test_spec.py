"""The experiment specs (experiments/registry.py) are the one list: configuration sections, run order, CLI choices,
`--opt` checks and report sections are derived from them and agree, in the same order."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from importlib import resources

import click
import pytest

from relneurons.cli import cli
from relneurons.errors import ConfigError
from relneurons.experiments.registry import BY_NAME, EXPERIMENTS, NAMES, NEURON_SETS, SPECS
from relneurons.experiments.spec import ExperimentSpec, LazyExperiments, option, resolve
from relneurons.pipeline import config as cfg
from relneurons.pipeline.run import experiment_options as run_options
from relneurons.report import html


def test_every_experiment_is_declared_once_and_the_paper_preset_runs_them_all():
    assert len(set(NAMES)) == len(NAMES) and len(NAMES) >= 15
    assert NAMES[:7] == ("layers", "overlap", "intra", "inter", "sweep", "cumulativity", "errors")  # the core first
    text = (resources.files("relneurons") / "resources" / "presets" / "paper.toml").read_text()
    assert 'run = "all"' in text and cfg.load_config("paper")["experiments"]["run"] == list(NAMES)


def test_every_summary_type_declares_its_experiment():
    """read_summary refuses a summary of another experiment by its `experiment` field: each spec's must be its own."""
    for spec in SPECS:
        assert spec.summary_problem() is None, spec.name
    bad = dataclasses.replace(BY_NAME["intra"], summary="relneurons.experiments.summaries:InterSummary")
    assert "whose `experiment` field is 'inter', not 'intra'" in bad.summary_problem()


def test_config_cli_report_and_run_order_are_the_specs():
    own_sections = [s.name for s in SPECS if s.options and s.config_section == s.name]
    assert [s for s in cfg.SCHEMA if s in NAMES] == own_sections  # the experiments' sections, in registry order
    assert list(cfg.EXPERIMENT_OPTIONS) == own_sections
    shared = [k for s in SPECS if s.config_section == "experiments" for k in s.keys()]
    assert set(shared) == {"k_sweep", "error_tokens"} and set(shared) <= set(cfg.SCHEMA["experiments"])

    names_param = next(p for p in cli.commands["experiment"].params if p.name == "names")
    assert isinstance(names_param.type, click.Choice)
    assert tuple(names_param.type.choices) == (*NAMES, "all")
    from relneurons.cli import _experiments_epilog

    epilog = _experiments_epilog()
    positions = [epilog.index(f"  {name} ") for name in NAMES]
    assert positions == sorted(positions)  # the help lists every experiment, in order

    # every report section template belongs to a spec whose builder resolves, and every builder has its template
    folder = resources.files("relneurons.report").joinpath("templates", "sections")
    templates = {p.name.removesuffix(".html.j2") for p in folder.iterdir() if p.name.endswith(".html.j2")} - {"generic"}
    assert templates == {s.name for s in SPECS if s.report}  # one template per declared section, and no other
    assert all(s.report for s in SPECS if s.ref)  # every experiment of the paper has its own section
    assert all(callable(resolve(s.report)) for s in SPECS if s.report)
    assert list(EXPERIMENTS) == list(NAMES)  # the run order (pipeline/run.py iterates EXPERIMENTS)


def test_report_sections_follow_the_registry(tmp_path):
    """Folders written in another order come out in the registry's order; unknown folders follow, generically."""
    for name in ["methods", "zzz_mine", "layers", "errors", "sweep"]:
        (tmp_path / "results" / name).mkdir(parents=True)
    page = html.render_report(tmp_path)
    found = [page.index(f'id="exp-{n}"') for n in ["layers", "sweep", "errors", "methods", "zzz_mine"]]
    assert found == sorted(found)
    assert f"4. {BY_NAME['sweep'].title}" in page and BY_NAME["sweep"].ref in page  # layers, sweep, errors, ...


def test_run_function_and_summary_resolve_lazily_and_defaults_live_in_the_spec():
    """The dotted paths point at the experiment functions; the functions declare their options without defaults
    (keyword-only), and the decorated run fills them from the spec: one place for every default."""
    for spec in SPECS:
        fn = spec.function()
        assert EXPERIMENTS[spec.name] is fn and fn.experiment_name == spec.name
        params = inspect.signature(fn.__wrapped__).parameters
        for f in spec.fields():
            assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY, (spec.name, f.name)
            assert params[f.name].default is inspect.Parameter.empty, (spec.name, f.name)
        if spec.summary:
            assert dataclasses.is_dataclass(spec.summary_type())
    from relneurons.model.sites import NEURON_SETS as SITES

    assert set(NEURON_SETS) == set(SITES)


def test_the_decorated_run_fills_the_spec_defaults(tmp_path, monkeypatch):
    """A stand-in experiment under a declared name receives every default, given options win, lists are fresh."""
    from types import SimpleNamespace

    from relneurons.experiments.output import experiment

    seen = []

    @experiment("multilingual")
    def fake(study, folder, *, languages, packs, random_sets):
        seen.append((list(languages), packs))
        languages.append("xx")  # must not leak into the next call's default

    study = SimpleNamespace(out=tmp_path)
    fake(study)
    fake(study, packs="ours")
    fake(study, languages=["de"])
    assert seen == [(["de", "es", "fr", "zh", "ja"], ""), (["de", "es", "fr", "zh", "ja"], "ours"), (["de"], "")]
    assert (tmp_path / "multilingual").is_dir()


def test_run_options_come_from_the_section_the_spec_names():
    config = cfg.load_config(
        "quick", overrides=["experiments.k_sweep=[5, 7]", "experiments.error_tokens=4", "stability.core=0.8"]
    )
    assert run_options(config, "sweep") == run_options(config, "cumulativity") == {"k_sweep": [5, 7]}
    assert run_options(config, "errors") == {"error_tokens": 4}
    assert run_options(config, "intra") == {"det_random_sets": 0}
    assert run_options(config, "layers") == {}
    assert run_options(config, "stability")["core"] == 0.8
    assert run_options(config, "multilingual") == {
        "languages": ["de", "es", "fr", "zh", "ja"],
        "packs": "",
        "random_sets": 3,
    }


def test_defaults_fill_what_a_preset_or_file_leaves_out(tmp_path):
    """Presets only override: a section left out entirely takes every option's default."""
    path = tmp_path / "study.toml"
    path.write_text("[stability]\nresamples = 6\n")
    config = cfg.load_config("quick", path)
    assert config["stability"]["resamples"] == 6
    assert config["stability"]["core"] == BY_NAME["stability"].defaults()["core"]
    for spec in SPECS:
        for key, value in spec.defaults().items():
            assert key in config[spec.config_section]
            assert type(config[spec.config_section][key]) is type(value)
    assert load_twice_equal()


def load_twice_equal() -> bool:
    return cfg.load_config("paper") == cfg.validate(cfg.load_config("paper"), "again")


@pytest.mark.parametrize(
    "name, item, needles",
    [
        ("sweep", "k_sweep=[0]", ["experiments.k_sweep = [0]", "positive counts"]),
        ("errors", "error_tokenz=3", ["experiment errors has no option 'error_tokenz'", "did you mean 'error_tokens'"]),
        ("layers", "k=3", ["experiment layers has no option 'k'", "its options: none"]),
        ("types", 'sets=["mlp"]', ["types.sets", "ffn"]),
        ("stability", "resamples=1", ["stability.resamples = 1", "must be >= 2 (a Jaccard needs two resamples)"]),
        ("nosuch", "a=1", ["unknown experiment 'nosuch'"]),
    ],
)
def test_opt_checks_come_from_the_spec(name, item, needles):
    with pytest.raises(ConfigError) as info:
        cfg.experiment_options(name, [item])
    for needle in needles:
        assert needle in str(info.value)


def test_a_new_experiment_is_one_spec():
    """What the registry derives for a new spec: keys, defaults, kwargs, list defaults never shared."""

    @dataclasses.dataclass(frozen=True)
    class Opts:
        n: int = option(3, check=lambda v: None if v > 0 else "must be > 0", help="how many")
        words: list[str] = option(("a", "b"))

    spec = ExperimentSpec("demo", "A demo", "Demo", "", "relneurons.experiments.core:layers", Opts)
    assert list(spec.keys()) == ["n", "words"] and spec.keys()["n"].types == (int,)
    assert spec.defaults() == {"n": 3, "words": ["a", "b"]}
    assert spec.validate({"words": ["c"]}) == {"n": 3, "words": ["c"]}
    assert spec.validate({"words": ("c",)}) == {"n": 3, "words": ("c",)}  # Python callers may pass a tuple
    with pytest.raises(ConfigError, match=r"demo.n = 0 must be > 0"):
        spec.validate({"n": 0})
    with pytest.raises(ConfigError, match=r"demo.words = 3 must be of type list"):
        spec.validate({"words": 3})
    with pytest.raises(
        ConfigError, match=r"experiment demo has no option 'word' \(did you mean 'words'\?\); its options: n, words"
    ):
        spec.validate({"word": ["c"]})
    first, second = Opts(), Opts()
    first.words.append("z")
    assert second.words == ["a", "b"]
    lazy = LazyExperiments((spec,))
    assert list(lazy) == ["demo"] and len(lazy) == 1


def test_the_registry_imports_no_experiment_code():
    """The CLI reads the specs at start: no torch, pandas, matplotlib or scipy behind them."""
    probe = (
        "import json, sys; import relneurons.experiments.registry as r; r.SPECS[0].keys(); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'transformers', 'pandas', 'matplotlib', 'scipy', 'pyarrow'})))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_experiment_command_defaults_are_the_study_config():
    from relneurons.experiments.spec import StudyConfig

    params = {p.name: p.default for p in cli.commands["experiment"].params}
    assert (params["seeds"], params["n_boot"], params["max_det"], params["force"], params["batch_size"]) == (
        StudyConfig.seeds,
        StudyConfig.n_boot,
        StudyConfig.max_det,
        StudyConfig.force,
        StudyConfig.batch_size,
    )
    assert float(params["k"]) == StudyConfig.k
    assert params["ks"] is None and params["tokens"] is None  # the shortcuts fall back to the specs' defaults


@pytest.mark.parametrize(
    "args, needle",
    [
        (["sweep", "--ks", "0,5"], "experiments.k_sweep = [0, 5]"),
        (["cumulativity", "--opt", "k_sweep=[]"], "experiments.k_sweep = []"),
        (["errors", "--opt", "tokens=3"], "did you mean 'error_tokens'"),
    ],
)
def test_experiment_command_checks_shortcuts_and_opt_with_the_spec(tmp_path, capsys, args, needle):
    from relneurons.cli import main

    with pytest.raises(SystemExit) as info:
        main(
            ["experiment", *args, "--store", str(tmp_path), "--identify", str(tmp_path), "--out", str(tmp_path / "out")]
        )
    assert info.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "out").exists()

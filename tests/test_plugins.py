"""Plugins from outside the package: a scorer and an experiment registered through entry points.

The plugin is a real installed distribution as Python sees one: a folder on sys.path holding the module and its
`.dist-info` (METADATA, entry_points.txt), written by the test. It runs in a real tiny study (`relneurons run`'s
path: configuration, collect, identify, experiments, report) beside the built-ins, and a second, broken entry
point is left out by name without breaking them.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from faults.tiny_study import answering_relations, save_model, tiny_overrides

from relneurons import plugins
from relneurons.cli import main
from relneurons.errors import ConfigError
from relneurons.experiments import registry
from relneurons.expertise.config import check_scorers
from relneurons.pipeline.config import load_config
from relneurons.pipeline.run import run_study  # imported before the plugin is installed, as in a notebook
from relneurons.report.html import render_report

PLUGIN = '''
"""A third-party plugin, as a user would write it."""
from dataclasses import dataclass

import numpy as np

from relneurons.experiments.output import experiment, write_table
from relneurons.experiments.spec import ExperimentSpec, option, positive


def spread(positives, negatives):
    """Mean of the positives minus mean of the negatives."""
    return positives.mean(axis=0) - negatives.mean(axis=0)


@dataclass(frozen=True)
class ProbeOptions:
    top: int = option(3, check=positive, help="neurons listed per relation")


@experiment("probe")
def probe(study, folder, *, top):
    import pandas as pd

    rows = [
        {"relation": r, "rank": i + 1, "global_index": int(g)}
        for r in study.relations
        for i, g in enumerate(study.ranked(r, 0, study.k)[:top])
    ]
    table = pd.DataFrame(rows)
    write_table(folder, "probe", table)
    return table


SPEC = ExperimentSpec("probe", "A probe from a plugin", "Probe", "", "tinyplug:probe", ProbeOptions)
'''

ENTRY_POINTS = """
[relneurons.scorers]
spread = tinyplug:spread

[relneurons.experiments]
probe = tinyplug:SPEC
broken = tinyplug_missing:SPEC
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The plugin installed on sys.path for one test; the registry reads the entry points again before and after."""
    site = tmp_path / "site"
    (site / "tinyplug-0.1.dist-info").mkdir(parents=True)
    (site / "tinyplug.py").write_text(textwrap.dedent(PLUGIN))
    (site / "tinyplug-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (site / "tinyplug-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    registry.forget_plugins()
    yield site
    registry.forget_plugins()
    sys.modules.pop("tinyplug", None)


def test_without_the_plugin_its_names_are_unknown():
    registry.forget_plugins()
    assert "probe" not in registry.NAMES
    with pytest.raises(ConfigError, match="unknown scorer 'spread'"):
        check_scorers(["ap", "spread"])


def test_the_plugin_is_seen_like_a_builtin_and_a_broken_one_is_left_out_by_name(plugin, capsys):
    assert registry.NAMES[-1] == "probe" and "layers" in registry.NAMES  # the built-ins first, in their order
    assert [p.name for p in plugins.plugins(plugins.EXPERIMENT_GROUP)] == ["broken", "probe"]
    (problem,) = registry.PLUGIN_PROBLEMS
    assert "plugin experiment 'broken' (tinyplug_missing:SPEC, from tinyplug 0.1) cannot be loaded" in problem
    assert "ModuleNotFoundError" in problem
    assert check_scorers(["ap", "spread"]) == ["ap", "spread"]

    with pytest.raises(SystemExit):
        main(["experiment", "--help"])
    help_text = capsys.readouterr().out
    assert "probe         A probe from a plugin" in help_text and "top=3: neurons listed per relation" in help_text
    assert "activation_rate, spread, attribution" in help_text  # the scorers the methods experiment can compare
    assert "Left out: plugin experiment 'broken'" in help_text

    with pytest.raises(SystemExit) as exited:
        main(["experiment", "probe", "--opt", "top=0", "--store", ".", "--identify", ".", "--out", "x"])
    assert exited.value.code == 2 and "probe.top = 0 must be >= 1" in capsys.readouterr().err


def test_a_wrong_plugin_scorer_fails_with_its_name(plugin):
    import numpy as np
    import tinyplug

    from relneurons.expertise.scorers import SCORERS

    tinyplug.spread = lambda pos, neg: np.zeros(3)  # one number too few
    with pytest.raises(ConfigError, match=r"plugin scorer 'spread' \(tinyplug:spread, from tinyplug 0.1\) returned"):
        SCORERS["spread"](np.ones((2, 4)), np.zeros((3, 4)))


def test_plugin_scorer_and_experiment_run_in_a_real_study_and_reach_the_report(plugin, tmp_path, lre_dir):
    model = save_model(tmp_path / "model")
    relations = answering_relations(model, lre_dir, tmp_path / "relations")
    out = tmp_path / "run"
    overrides = tiny_overrides(
        model,
        relations,
        lre_dir,
        out,
        'experiments.run=["methods", "probe"]',
        f"methods.scorers={json.dumps(['ap', 'spread'])}",
        "methods.max_eval=4",
        "probe.top=2",
    )
    run_study(load_config("quick", overrides=overrides), quiet=True)

    import pandas as pd

    methods = pd.read_csv(out / "results" / "methods" / "methods.csv")
    assert {"ap", "spread"} <= set(methods["method"])  # the plugin's scorer picked its own top-k and was evaluated
    probe = pd.read_csv(out / "results" / "probe" / "probe.csv")
    assert (probe.groupby("relation").size() == 2).all() and set(probe["relation"]) == {Path(r).stem for r in relations}
    page = render_report(out)
    assert 'id="exp-probe"' in page and "A probe from a plugin" in page  # the generic section of an experiment

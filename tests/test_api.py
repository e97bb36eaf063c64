"""relneurons.Session on a tiny real model (random weights, see tests/faults/tiny_study.py): each step's types,
the readable neuron names, the loaded-model path of collect, and cache reuse by a second session."""

from __future__ import annotations

import dataclasses
import importlib
import io
import sys

import numpy as np
import pandas as pd
import pytest
from faults.tiny_study import N_EVAL, answering_relations, save_model
from matplotlib.figure import Figure

import relneurons
from relneurons.activations import ActivationStore, CollectConfig, collect
from relneurons.errors import ConfigError, DataError
from relneurons.plots.figures import save_figure

OPTIONS = {"templates": (0,), "n_eval": N_EVAL, "batch_size": 4, "chunk_prompts": 8}
STUDY = {"seeds": 2, "n_boot": 50, "max_det": 6, "batch_size": 4}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, lre_dir):
    root = tmp_path_factory.mktemp("api")
    model = save_model(root / "model")
    return model, answering_relations(model, lre_dir, root / "relations"), lre_dir


def _session(tiny, folder) -> relneurons.Session:
    model, _, lre_dir = tiny
    return relneurons.Session(model, folder, data_dir=str(lre_dir), device="cpu", progress=False)


def _steps(session, relations) -> tuple:
    prompts = session.collect(relations, **OPTIONS)
    top = session.identify(k=8, min_positives=3)
    study = session.study(**STUDY)
    return prompts, top, session.run("layers", study), session.run("intra", study)


def test_public_name_is_lazy_and_light():
    import subprocess

    code = (
        "import sys, relneurons; assert 'torch' not in sys.modules; relneurons.Session; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_each_step_returns_the_documented_objects(tiny, tmp_path):
    _, relations, _ = tiny
    session = _session(tiny, tmp_path / "study")
    prompts, top, layers, intra = _steps(session, relations)

    assert isinstance(prompts, pd.DataFrame)
    assert {"relation", "subject", "object", "template", "text", "generation", "correct", "act_row"} <= set(
        prompts.columns
    )
    assert prompts["correct"].sum() >= 3  # the tiny model answers its own relations

    assert list(top.columns) == ["relation", "rank", "global_index", "layer", "module", "unit", "ap"]
    assert (top.groupby("relation")["rank"].apply(list) == [list(range(1, 9))] * top["relation"].nunique()).all()
    names = session.store.neuron_set.describe(top["global_index"].to_numpy())
    for column in ("layer", "module", "unit"):  # readable names are the store's neuron set's, row by row
        assert top[column].tolist() == list(names[column])
    ap = session.ap(top["relation"].iloc[0])
    assert ap.sort_values("rank")["global_index"].head(8).tolist() == top["global_index"].head(8).tolist()

    for result, name in ((layers, "layers"), (intra, "intra")):
        assert isinstance(result, relneurons.ExperimentResult) and result.name == name
        assert isinstance(result.table, pd.DataFrame) and len(result.table)
        assert dataclasses.is_dataclass(result.summary) and result.summary.experiment == name  # the typed summary
        assert result.folder == tmp_path / "study" / "results" / name
        assert name in result.figures and all(isinstance(f, Figure) for f in result.figures.values())
        # the Figure the PNG was written from: drawn again, the same bytes
        again = io.BytesIO()
        result.figures[name].savefig(again, format="png", dpi=100, bbox_inches="tight")
        assert again.getvalue() == (result.folder / f"{name}.png").read_bytes()
    # a real figure: restyled and saved again, the change is in the file
    figure = intra.figures["intra"]
    figure.axes[0].set_ylabel("share answered correctly (restyled)")
    save_figure(figure, tmp_path / "restyled")
    assert "restyled" in (tmp_path / "restyled.svg").read_text()
    # the table returned is the one written
    pd.testing.assert_frame_equal(
        intra.table.reset_index(drop=True), pd.read_parquet(intra.folder / "intra.parquet"), check_dtype=False
    )
    assert set(intra.table["condition"]) == {"original", "random", "relation"}
    sweep = session.run("sweep", session.study(**STUDY), k_sweep=[4, 8])  # the experiment's own options pass through
    assert sweep.summary.ks == [4, 8] and "sweep" in sweep.figures

    with pytest.raises(ConfigError, match="unknown experiment 'nope'.*intra"):
        session.run("nope")
    with pytest.raises(ConfigError, match="'seed' is the session's"):
        session.collect(relations, seed=3)
    study = session.study(**STUDY)
    assert study.k == 8 and study.config.seeds == 2 and session.study(**STUDY) is study  # one Study per settings
    assert session.study(**STUDY, k=4).k == 4
    session.identify(k=8, min_positives=3)  # new rankings: studies made before are not this session's any more
    with pytest.raises(ConfigError, match="made by this session's study"):
        session.run("layers", study)


def test_collect_with_the_loaded_model_equals_collect_loading_it(tiny, tmp_path):
    model, relations, lre_dir = tiny
    session = _session(tiny, tmp_path / "session")
    session.collect(relations, **OPTIONS)
    alone = collect(
        CollectConfig(model=model, device="cpu", data_dir=str(lre_dir), relations=tuple(relations), **OPTIONS),
        tmp_path / "alone",
        progress=False,
    )
    ours = session.store
    assert ours.identity == alone.identity
    pd.testing.assert_frame_equal(ours.prompts, alone.prompts)
    rows = np.arange(alone.n_rows)
    np.testing.assert_array_equal(ours.rows(rows), alone.rows(rows))


def test_a_second_session_on_the_folder_recomputes_nothing(tiny, tmp_path, monkeypatch):
    _, relations, _ = tiny
    folder = tmp_path / "study"
    first = _steps(_session(tiny, folder), relations)
    computed = [p for p in (folder / "store" / "chunks").iterdir()] + sorted(
        (folder / "identify" / "blocks").glob("*.npy")
    )
    computed.append(folder / "results" / "generations.parquet")
    stamps = {p: p.stat().st_mtime_ns for p in computed}

    calls = {"capture": 0, "generate": 0}
    collect_module = importlib.import_module("relneurons.activations.collect")  # the module, not the function
    evaluate_module = importlib.import_module("relneurons.intervention.evaluate")

    def counting(module, name, key):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[key] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(collect_module, "capture_batch", "capture")
    counting(evaluate_module, "generate_batch", "generate")
    second = _steps(_session(tiny, folder), relations)

    assert calls == {"capture": 0, "generate": 0}
    assert {p: p.stat().st_mtime_ns for p in computed} == stamps
    for a, b in zip(first[:2], second[:2]):
        pd.testing.assert_frame_equal(a, b)
    for a, b in zip(first[2:], second[2:]):
        pd.testing.assert_frame_equal(a.table, b.table)


def test_without_a_folder_the_session_uses_a_temporary_one(tiny):
    _, relations, _ = tiny
    with _session(tiny, None) as session:
        folder = session.folder
        session.collect(relations, **OPTIONS)
        assert isinstance(session.store, ActivationStore) and folder.is_dir()
        with pytest.raises(DataError, match="run Session.identify"):
            session.run("layers")
    assert not folder.exists()


def test_a_store_of_another_model_is_refused(tiny, tmp_path):
    _, relations, lre_dir = tiny
    _steps(_session(tiny, tmp_path / "study"), relations)
    other = relneurons.Session(
        save_model(tmp_path / "other-model"), tmp_path / "study", data_dir=str(lre_dir), device="cpu", progress=False
    )
    with pytest.raises(DataError, match="collected with the model"):
        other.run("layers")


@pytest.mark.parametrize(
    "options, opt",
    [({"resamples": 1}, "resamples=1"), ({"resample": 7}, "resample=7"), ({"core": 0.1}, "core=0.1")],
)
def test_session_run_checks_options_as_the_command_line_does(tmp_path, capsys, options, opt):
    """One check for every entry point: Session.run's ConfigError is the CLI's error line, word for word (a bad
    value, an unknown key, a rule between options), raised before any model or store is touched."""
    from relneurons.cli import main

    with pytest.raises(ConfigError) as raised:
        relneurons.Session("no-such-model", tmp_path / "s").run("stability", **options)
    assert not (tmp_path / "s").exists()
    with pytest.raises(SystemExit) as exited:
        main(["experiment", "stability", "--opt", opt, "--store", ".", "--identify", ".", "--out", str(tmp_path / "x")])
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == f"relneurons: error: {raised.value}"

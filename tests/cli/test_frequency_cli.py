"""`relneurons frequency count` and the frequency experiment's options on the command line."""

import gzip

import pandas as pd
import pytest

from relneurons.cli import main
from relneurons.data import load_relations
from relneurons.errors import ConfigError
from relneurons.pipeline.config import experiment_options, preset, validate


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_count_writes_the_csv_for_the_chosen_relations(capsys, tmp_path, lre_dir):
    sample = load_relations(["star_constellation"], lre_dir)[0].samples[0]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt.gz").write_bytes(gzip.compress(f"{sample.subject} is a star of {sample.object}.\n".encode()))
    out = tmp_path / "counts.csv"
    code, stdout, err = run(
        capsys,
        "frequency",
        "count",
        str(corpus),
        "--out",
        str(out),
        "--relations",
        "star_constellation",
        "--data",
        str(lre_dir),
        "--quiet",
    )
    assert code == 0, err
    table = pd.read_csv(out)
    assert list(table.columns) == ["relation", "subject", "object", "count"] and set(table["relation"]) == {
        "star_constellation"
    }
    assert table.loc[(table.subject == sample.subject) & (table.object == sample.object), "count"].tolist() == [1]
    assert "1 documents in 1 files" in stdout


def test_count_errors_are_one_line_and_write_nothing(capsys, tmp_path, lre_dir):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"body": "x"}\n')
    out = tmp_path / "counts.csv"
    code, _, err = run(
        capsys, "frequency", "count", str(bad), "--out", str(out), "-r", "star_constellation", "--data", str(lre_dir)
    )
    assert code == 2 and "c.jsonl, line 1: no text field 'text'" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_frequency_options_are_checked_and_in_both_presets():
    assert experiment_options("frequency", ["counts=facts.csv"]) == {"counts": "facts.csv"}
    with pytest.raises(ConfigError, match="no option 'count'.*did you mean 'counts'"):
        experiment_options("frequency", ["count=facts.csv"])
    for name in ("quick", "paper"):
        assert validate(preset(name), name)["frequency"] == {"counts": "", "corpus": ""}

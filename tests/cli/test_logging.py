"""Library modules log through `logging` (no print); the command line shows those messages on stderr."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import pytest
from synthetic_store import synthetic_store

import relneurons
from relneurons.cli import main

SOURCE = Path(relneurons.__file__).parent


def print_calls(path: Path) -> list[int]:
    """Lines with a call of the builtin print (names in code, not in strings or comments)."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        if t.type in (tokenize.NAME, tokenize.OP)
    ]
    return [
        t.start[0]
        for i, t in enumerate(tokens[:-1])
        if t.string == "print" and tokens[i + 1].string == "(" and (i == 0 or tokens[i - 1].string not in (".", "def"))
    ]


def test_the_scan_finds_a_print(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('x = "print(1)"  # print(2)\nprint(3)\nlog.print(4)\n')
    assert print_calls(sample) == [2]


def test_library_modules_do_not_print():
    found = {
        str(p.relative_to(SOURCE)): lines
        for p in sorted(SOURCE.rglob("*.py"))
        if p.relative_to(SOURCE).parts[0] != "cli" and (lines := print_calls(p))
    }
    assert found == {}, f"print() in library modules (use logging.getLogger(__name__)): {found}"


def test_cli_shows_a_library_warning_on_stderr(tmp_path, capsys):
    store, _, _ = synthetic_store(tmp_path / "store")  # relation gamma has too few validated prompts
    with pytest.raises(SystemExit) as info:
        main(
            [
                "identify",
                str(store.folder),
                "--out",
                str(tmp_path / "id"),
                "--k",
                "5",
                "--min-positives",
                "5",
                "--quiet",
            ]
        )
    out = capsys.readouterr()
    assert info.value.code == 0
    assert "relneurons: skipping relation gamma: 2 validated prompts" in out.err
    assert "skipping relation" not in out.out  # stdout: the command's results only


def test_library_use_logs_instead_of_printing(tmp_path, capsys, caplog):
    from relneurons.expertise.identify import IdentifyConfig, identify

    store, _, _ = synthetic_store(tmp_path / "store")
    with caplog.at_level("WARNING", logger="relneurons"):
        identify(store.folder, tmp_path / "id", IdentifyConfig(k=5, min_positives=5), progress=False)
    assert [r.getMessage() for r in caplog.records if r.name == "relneurons.expertise.identify"] == [
        "skipping relation gamma: 2 validated prompts, fewer than min_positives = 5"
    ]
    assert "skipping" not in capsys.readouterr().out


@pytest.mark.parametrize("quiet", [False, True])
def test_stage_lines_go_to_the_run_log_and_unless_quiet_to_stdout(tmp_path, capsys, quiet):
    import logging

    from relneurons.pipeline.run import Run

    run = Run(tmp_path / "run", {}, quiet=quiet)
    run.say("[1/9] collect: running")
    for handler in logging.getLogger("relneurons.run").handlers:
        handler.flush()
    out = capsys.readouterr()
    assert out.out == ("" if quiet else "[1/9] collect: running\n") and out.err == ""
    assert (tmp_path / "run" / "logs" / "run.log").read_text().rstrip().endswith("[1/9] collect: running")

"""The report's templates: all compile, autoescaping is on, and none switches it off for run text."""

from __future__ import annotations

import re
from importlib import resources

from relneurons.report.html import environment


def _templates() -> list[str]:
    root = resources.files("relneurons.report").joinpath("templates")
    names = []
    for entry in root.iterdir():
        if entry.is_dir():
            names += [f"{entry.name}/{p.name}" for p in entry.iterdir() if p.name.endswith(".j2")]
        elif entry.name.endswith(".j2"):
            names.append(entry.name)
    return sorted(names)


def test_every_template_compiles():
    names = _templates()
    assert "page.html.j2" in names and "sections/generic.html.j2" in names
    for name in names:
        environment().get_template(name)


def test_autoescaping_is_on_and_never_switched_off():
    env = environment()
    assert env.from_string("{{ x }}").render(x="<b>&</b>") == "&lt;b&gt;&amp;&lt;/b&gt;"
    root = resources.files("relneurons.report").joinpath("templates")
    for name in _templates():
        text = root.joinpath(*name.split("/")).read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|autoescape\s+false", text), f"{name} marks text safe"


def test_building_a_report_loads_no_model_library(small_run):
    """The report reads summaries and tables only: `relneurons report` must not pay for importing torch."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom relneurons.experiments.registry import SPECS\nfrom relneurons.report.html import render_report\n"
        "[spec.summary_type() for spec in SPECS]\nrender_report(sys.argv[1])\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\nassert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(small_run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

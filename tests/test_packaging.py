"""Every data file the package reads at run time (templates, CSS, presets, language packs...) ships in the wheel.

An editable install reads them from the source tree, so a folder missing from `[tool.setuptools.package-data]`
would pass every other test and break only for users who `pip install relneurons`. This checks the globs of
pyproject.toml (with setuptools' meaning: relative to the package folder, `**` recursive) cover every non-Python
file of src/relneurons.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "relneurons"


def _data_files() -> set[Path]:
    return {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file()
        and p.suffix not in (".py", ".pyc")
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
    }


def test_package_data_globs_cover_every_data_file():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["relneurons"]
    shipped = {p for pattern in globs for p in PACKAGE.glob(pattern) if p.is_file()}
    missing = sorted(str(p.relative_to(PACKAGE)) for p in _data_files() - shipped)
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"


def test_the_report_templates_and_static_files_are_data_files():
    """The check above is not vacuous: the report's jinja2 templates and its CSS are among the files it covers."""
    names = {p.relative_to(PACKAGE).as_posix() for p in _data_files()}
    assert "report/templates/page.html.j2" in names and "report/static/report.css" in names

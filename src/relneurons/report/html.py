"""The run report: one self-contained HTML file (``RUN/report.html``), rendered from jinja2 templates.

`build_report(run_dir)` reads a run folder (manifest, activation store, identification summary,
``results/<experiment>/`` tables, summaries and figures) and writes ``report.html`` beside it, atomically.
The page opens from disk with no server and no network: figures are embedded as base64 PNG data URIs and the
stylesheet and the small optional script (static/report.css, static/report.js, package resources) are inlined.

The page (templates/page.html.j2) holds the study settings and per-relation prompt counts (sections/overview.py),
then one section per result folder, in the order of the experiment specs (experiments/registry.py). A spec's
`report` names the function that turns its folder into the template context (sections/*.py); its template is
templates/sections/<name>.html.j2. Folders without one, and any section whose builder or template fails on odd
tables, are shown generically (summary, figures, tables) with a note, so a damaged run still gets a report.
Headline numbers are read from the typed summaries (`experiments.summaries`), never recomputed here.

Every text taken from the run is escaped by jinja2's autoescaping; builders pass `Markup` only for markup they
assemble themselves. The output depends only on the folder's contents (no build timestamp): rebuilding gives
the same bytes.
"""

from __future__ import annotations

import functools
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from .. import io
from ..errors import DataError, RelneuronsError
from ..experiments import registry
from ..experiments.spec import resolve
from . import format as fmt
from .reader import RunFolder, Section
from .sections import generic, overview

__all__ = ["build_report", "render_report"]

log = logging.getLogger(__name__)

#: Experiment folders in the registry's order; folders of other names follow, shown generically.


def _lines(value: Any) -> Markup:
    """Escaped text whose line breaks show as a dim ↵ (generations often run over several lines)."""
    return escape(value).replace("\r", "").replace("\n", Markup('<span class="nl">↵</span>'))


@functools.cache
def environment() -> jinja2.Environment:
    """The templates of report/templates with autoescaping, and the number formats of `report.format` as filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("relneurons.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        f2=fmt.f2,
        fp=fmt.fp,
        pct=fmt.pct,
        count=fmt.count,
        ci=fmt.ci,
        with_ci=fmt.with_ci,
        seconds=fmt.seconds,
        number=fmt.number,
        jsonish=fmt.jsonish,
        lines=_lines,
    )
    env.globals.update(plural=fmt.plural, NA=fmt.NA, Markup=Markup)
    return env


@functools.cache
def _static(name: str) -> Markup:
    """A stylesheet or script shipped in report/static, inlined as it is (it is ours, not the run's)."""
    return Markup(resources.files("relneurons.report").joinpath("static", name).read_text(encoding="utf-8"))


def _section(run: RunFolder, name: str, number: int) -> str:
    """One experiment's <section>: its builder and template, or the generic view when it has none or they fail."""
    s = Section(run, name)
    spec = s.spec
    env = environment()
    body = None
    if spec is not None and spec.report:
        try:
            context = resolve(spec.report)(s)
            body = env.get_template(f"sections/{name}.html.j2").render(s=s, **context)
        except Exception as exc:  # noqa: BLE001 - one odd table must not lose the whole report
            log.debug("report section %s failed", name, exc_info=True)
            s.notes.add(
                f"This section could not be drawn from its tables ({type(exc).__name__}: {exc}); showing the raw files."
            )
            s.used_png, s.used_tables = set(), {"summary"}
    if body is None:
        body = env.get_template("sections/generic.html.j2").render(s=s, **generic.context(s))
    title, ref = (spec.title, spec.ref) if spec else (name.replace("_", " ").capitalize(), "")
    return env.get_template("section.html.j2").render(
        s=s,
        number=number,
        title=title,
        ref=ref,
        body=Markup(body),
        other_figures=s.other_figures(),
        other_tables=s.other_tables(),
    )


def render_report(run_dir: str | Path) -> str:
    """The report of the run folder `run_dir` as one HTML string (see the module doc)."""
    root = Path(run_dir)
    run = RunFolder(root)
    names = run.experiments()
    sections = [Markup(_section(run, name, i + 3)) for i, name in enumerate(names)]
    versions = run.manifest.get("versions") if isinstance(run.manifest.get("versions"), dict) else {}
    return (
        environment()
        .get_template("page.html.j2")
        .render(
            run=run,
            css=_static("report.css"),
            js=_static("report.js"),
            sections=sections,
            toc=[(name, registry.BY_NAME[name].short if name in registry.BY_NAME else name) for name in names],
            explorer=(root / "explorer.html").is_file(),
            generator=f"relneurons {versions['relneurons']}" if versions.get("relneurons") else "relneurons",
            settings=overview.settings(run),
            prompts=overview.prompts(run),
            tests=overview.tests(run),
        )
        + "\n"
    )


#: What a run folder holds; a folder with none of them gets no report (nothing is written into it).
RUN_FOLDER_MARKS = ("manifest.json", "results", "store", "identify")


def build_report(run_dir: str | Path) -> Path:
    """Write `run_dir/report.html` (atomically, with the neuron explorer beside it) and return its path."""
    root = Path(run_dir)
    if not root.is_dir():
        raise DataError(f"run folder {root} does not exist")
    if not any((root / name).exists() for name in RUN_FOLDER_MARKS):
        raise DataError(
            f"{root} is not a run folder (it has none of {', '.join(RUN_FOLDER_MARKS)}); give the folder "
            "that relneurons run wrote"
        )
    from .explorer import write_explorer

    try:  # a page beside the report; a store or AP table it cannot read must not cost the report itself
        write_explorer(root)
    except (RelneuronsError, OSError, KeyError, ValueError) as exc:
        log.warning("neuron explorer not written: %s", exc)
    target = root / "report.html"
    io.write_bytes(target, render_report(root).encode("utf-8"))
    return target

"""The self-contained HTML run report (report/html.py), on a small hand-made run folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from relneurons.errors import DataError
from relneurons.report import build_report

from .conftest import EVIL_GENERATION, ODD

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_BLOCKS = {
    "td",
    "th",
    "tr",
    "li",
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "caption",
    "table",
    "section",
    "nav",
    "header",
    "figcaption",
    "summary",
    "details",
    "br",
    "span",
}
_URL_ATTRS = {"src", "href", "srcset", "action", "data", "poster", "xlink:href", "background", "formaction"}


class _Checker(HTMLParser):
    """Strict-ish well-formedness (every element closed in order), plus text, URL attributes and heatmap cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.text: list[str] = []
        self.cells: list[tuple[str, dict]] = []  # (heatmap, attrs) of each grid cell
        self._heatmap: list[str | None] = []
        self._cell: dict | None = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in _BLOCKS:
            self.text.append(" ")
        self.urls += [v or "" for k, v in attrs if k in _URL_ATTRS]
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "td" and "cell" in (a.get("class") or "").split():
            self._cell = {**a, "text": ""}
            self.cells.append((self._heatmap[-1] if self._heatmap else None, self._cell))
        if tag not in _VOID:
            self.stack.append(tag)
            self._heatmap.append(a.get("data-heatmap") or (self._heatmap[-1] if self._heatmap else None))

    def handle_startendtag(self, tag, attrs):
        self.urls += [v or "" for k, v in attrs if k in _URL_ATTRS]

    def handle_endtag(self, tag):
        if tag in _BLOCKS:
            self.text.append(" ")
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        self._heatmap.pop()
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if not self._skip:
            self.text.append(data)


def _parse(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    return checker


def _text(checker: _Checker) -> str:
    return re.sub(r"\s+", " ", "".join(checker.text))


def _pngs(run: Path) -> list[Path]:
    return sorted(run.glob("results/*/*.png"))


# ----------------------------------------------------------------- content


def test_report_is_self_contained_and_states_key_numbers(small_run):
    path = build_report(small_run)
    assert path == small_run / "report.html" and path.is_file()
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    checker = _parse(page)
    assert not checker.errors, checker.errors[:5]
    assert not checker.stack, f"unclosed elements: {checker.stack}"

    # self-contained: no online resource, every figure embedded
    remote = [u for u in checker.urls if re.match(r"\s*(https?:)?//", u, re.I)]
    assert not remote, remote
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page, re.I) and "@import" not in page
    pngs = _pngs(small_run)
    assert len(pngs) == 8
    assert page.count("data:image/png;base64,") >= len(pngs)
    for png in pngs:
        assert f'data-figure="{png.relative_to(small_run).as_posix()}"' in page, png

    text = _text(checker)
    # header: model, k both ways, rule, seeds, versions, timings, start/end
    for expected in (
        "tiny-model",
        "k = 307 (0.36% of 85,248 ffn neurons)",
        "robust",
        "3 random-k sets (seeds 0, 1, 2), sampling seed 0",
        "relneurons 9.9.9",
        "35.1 s",
        "2 min 5 s",
        "2030-01-02T03:04:05Z",
        "2030-01-02T03:10:05Z (6 min 0 s)",
    ):
        assert expected in text, expected
    # prompt counts: P_det, validated count and %, positives/negatives, skipped reason
    assert re.search(r"company_hq 40 10 25% 10 15 20 used", text), text[:3000]
    assert "tiny_rel (only 2 validated prompts (< 5))" in text
    # intra: headline and per-relation numbers with intervals, p-values to 3 decimals
    assert (
        "Harmful beyond random: deactivating its own top-k lowered P_eva accuracy below the mean of 3 random sets for "
        "1 of 2 relations. With 3 random sets this describes and tests nothing: a relation set's exact rank p cannot "
        "go below 1/4 = 0.25"
    ) in text
    assert "company_hq: P_eva original 0.20 [0.05, 0.40], random 0.20, relation 0.25 [0.10, 0.45]" in text
    # per relation: percentile among the random sets, p, interval, how many sets
    assert ("percentile 0 among 3 random sets, rank p 0.250, relation − random -0.65 [-0.75, -0.55]") in text
    assert "< 0.001" in text and "[0.55, 0.95]" in text  # p vs original; the random sets' prediction interval
    # inter: own drop with interval; undefined cells
    assert "own drop 37.5% [0.0%, 75.0%]" in text
    assert "2 cells undefined" in text and "own drop n/a" in text
    # the inter headline is the summary's (one rule: relations with both drops defined)
    assert "Over the 1 relation whose own and mean other drops are defined" in text and "1 of 1 relations" in text
    # overlap, layers, sweep, cumulativity, errors
    assert "The largest overlap between two different relations is 12 neurons (3.9% of k)" in text
    assert "peak at layer 1 (150 of 307, 49%)" in text
    assert "At the largest k = 300" in text and "own accuracy went from 0.60 to 0.15" in text
    assert "micro 0.75 (1 affected of 4)" in text
    assert "4 prompts broke" in text and "other 75%" in text
    # unknown experiment: summary, first 50 table rows, p to 3 decimals, its figure
    assert "Novel probe" in text and "first 50 of 60 rows" in text and "r49" in text and "r50" not in text
    assert "0.042" in text


def test_heatmaps_are_grids_with_tooltips_and_na_cells(small_run):
    checker = _parse(build_report(small_run).read_text(encoding="utf-8"))
    inter = [a for hm, a in checker.cells if hm == "inter"]
    overlap = [a for hm, a in checker.cells if hm == "overlap"]
    assert len(inter) == 4 and len(overlap) == 4
    na = [a for a in inter if "na" in a["class"].split()]
    assert len(na) == 2 and all(a["text"] == "n/a" for a in na)
    assert all("drop n/a" in a["title"] for a in na)
    good = next(a for a in inter if a["text"] == "38")
    assert f"evaluated: {ODD}" in good["title"] and "drop 37.5% [0.0%, 75.0%]" in good["title"]
    assert "accuracy 0.80 → 0.50 (n = 20)" in good["data-tip"]
    assert all(a.get("title") and a.get("tabindex") == "0" for a in inter + overlap)
    # plain-image fallback kept next to each grid
    page = (small_run / "report.html").read_text(encoding="utf-8")
    for name in ("overlap", "inter"):
        grid = page.index(f'data-heatmap="{name}"')
        assert page.index(f'data-figure="results/{name}/{name}.png"') > grid


def test_text_from_the_run_is_escaped(small_run):
    page = build_report(small_run).read_text(encoding="utf-8")
    assert "star<b>bold</b>" not in page
    assert "star&lt;b&gt;bold&lt;/b&gt;&amp;co" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    assert EVIL_GENERATION not in page
    assert page.count("<script>") == 1  # only the report's own


def test_a_chat_run_states_its_template_and_the_positions_averaged(small_run):
    manifest = small_run / "store" / "manifest.json"
    store = json.loads(manifest.read_text())
    store["identity"].update(
        chat=True,
        chat_positions="content",
        add_bos=False,
        bos="auto",
        chat_template={"before": "<|user|>\n", "after": "<|end|>\n<|assistant|>\n"},
    )
    manifest.write_text(json.dumps(store))
    text = _text(_parse(build_report(small_run).read_text(encoding="utf-8")))
    assert "chat template" in text and "BOS token" not in text
    assert "'<|user|>\\n{prompt}<|end|>\\n<|assistant|>\\n'" in text  # the frame as Python writes it
    assert "token means over the prompt's tokens only (the template's left out)" in text


def test_rebuild_is_byte_identical_and_atomic(small_run):
    first = build_report(small_run).read_bytes()
    second = build_report(small_run).read_bytes()
    assert first == second
    assert not [p for p in small_run.iterdir() if p.name.endswith(".tmp")]


def test_missing_pieces_still_build(small_run):
    shutil.rmtree(small_run / "results" / "inter")
    shutil.rmtree(small_run / "results" / "sweep")
    shutil.rmtree(small_run / "store")
    (small_run / "identify" / "summary.json").unlink()
    (small_run / "results" / "intra" / "intra.parquet").write_bytes(b"not a parquet file")
    (small_run / "results" / "intra" / "intra.csv").unlink()
    page = build_report(small_run).read_text(encoding="utf-8")
    checker = _parse(page)
    assert not checker.errors and not checker.stack
    text = _text(checker)
    assert 'id="exp-inter"' not in page and 'id="exp-sweep"' not in page
    assert 'id="exp-layers"' in page and 'id="exp-cumulativity"' in page
    assert "store/manifest.json not found." in text and "identify/summary.json not found." in text
    assert "results/intra/intra.parquet could not be read" in text
    # the k statement falls back to the experiments' own summaries
    assert "k = 307 (0.36% of 85,248 ffn neurons)" in text


def test_a_failing_section_falls_back_to_the_raw_files(small_run, monkeypatch):
    """A builder that cannot handle a folder (a table of an unforeseen shape) costs its headline, not the report:
    the section says so and shows the folder's summary, figures and tables generically."""
    import relneurons.report.sections.layers as layers_section

    def broken(s):
        s.figure("layers")  # used before failing: the fallback must still show it
        raise KeyError("peak")

    monkeypatch.setattr(layers_section, "build", broken)
    page = build_report(small_run).read_text(encoding="utf-8")
    checker = _parse(page)
    assert not checker.errors and not checker.stack
    text = _text(checker)
    section = text[text.index("Layer distribution") : text.index("Overlap between")]
    assert "could not be drawn from its tables (KeyError: 'peak'); showing the raw files" in section
    assert "Table layers" in section and 'data-figure="results/layers/layers.png"' in page
    assert "peak at layer" not in section  # the builder's sentences are gone, not half there
    assert 'id="exp-intra"' in page and "own drop 37.5% [0.0%, 75.0%]" in text  # the other sections are untouched


def test_empty_and_absent_run_folders(tmp_path):
    with pytest.raises(DataError, match="is not a run folder"):  # nothing of a run: refused, nothing written
        build_report(tmp_path)
    assert not any(tmp_path.iterdir())
    (tmp_path / "results").mkdir()  # a run folder with no results yet: a report that says so
    page = build_report(tmp_path).read_text(encoding="utf-8")
    assert "manifest.json not found." in page and "No experiment results found" in page
    assert not _parse(page).errors
    with pytest.raises(DataError, match="does not exist"):
        build_report(tmp_path / "nope")


# ----------------------------------------------------------------- browser

_CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.environ.get("RELNEURONS_SKIP_BROWSER") == "1":
        pytest.skip("RELNEURONS_SKIP_BROWSER=1: headless Chromium check skipped")
    pytest.fail(
        "chromium not found: install it with `apt-get install chromium` "
        "(or set RELNEURONS_SKIP_BROWSER=1 to skip the browser test)"
    )


def _browse(exe: str, page: Path, profile: Path, *args: str) -> tuple[str, list[str]]:
    """Run headless Chromium on `page`; return (stdout, console messages)."""
    profile.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            exe,
            *_CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[(:]", line)]
    return done.stdout, console


def _check_in_browser(exe: str, page: Path, work: Path) -> tuple[str, list[str]]:
    """Problems seen when loading `page`: console messages, script not run to its end. Returns (dom, problems)."""
    dom, console = _browse(exe, page, work / "profile-dom", "--dump-dom")
    problems = [f"console: {line}" for line in console]
    if 'data-ready="1"' not in dom:
        problems.append("the report's script did not run to its end (body lacks data-ready=1)")
    return dom, problems


def test_browser_check_catches_script_errors(tmp_path):
    exe = _chromium()
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();"
        "document.body.dataset.ready='1';</script></body></html>"
    )
    _, problems = _check_in_browser(exe, broken, tmp_path)
    assert any("undefinedFunction" in p for p in problems), problems
    assert any("data-ready" in p for p in problems), problems


def test_report_in_headless_chromium(small_run, tmp_path):
    exe = _chromium()
    report = build_report(small_run)
    dom, problems = _check_in_browser(exe, report, tmp_path)
    assert not problems, problems
    for png in _pngs(small_run):
        assert f'data-figure="{png.relative_to(small_run).as_posix()}"' in dom, png
    for name in ("overlap", "inter"):
        assert f'data-heatmap="{name}"' in dom
    assert dom.count('class="cell') == 8

    shot = tmp_path / "report.png"
    _, console = _browse(exe, report, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2400")
    assert not console, console
    assert shot.is_file() and shot.stat().st_size > 50_000
    image = mpimg.imread(shot)
    assert image.shape[:2] == (2400, 1280)
    assert image.std() > 0.05  # text and figures, not a blank page


def test_stage_timings_follow_the_run_order(small_run):
    """manifest.json may hold the stages sorted by name; the report lists them as `relneurons run` ran them."""
    manifest = json.loads((small_run / "manifest.json").read_text())
    manifest["stages"] = {
        name: {"seconds": 1.0, "status": "ran"} for name in ("intra", "collect", "report", "layers", "identify")
    }
    (small_run / "manifest.json").write_text(json.dumps(manifest))
    text = _text(_parse(build_report(small_run).read_text(encoding="utf-8")))
    timings = text[text.index("Stage timings") :]
    positions = [timings.index(f" {name} ran") for name in ("collect", "identify", "layers", "intra", "report")]
    assert positions == sorted(positions)

"""TRANSITIONAL (issue 13): the f-string sections not yet moved to templates/sections/. Delete with the last.

The run report: one self-contained HTML file (``RUN/report.html``).

`build_report(run_dir)` reads a run folder (manifest, activation store,
identification summary, ``results/<experiment>/`` tables and figures) and
writes ``report.html`` beside them, atomically. The file opens from disk with
no server and no network: figures are embedded as base64 PNG data URIs, the
CSS and the (small, optional) script are inline, no fonts or resources are
fetched.

What it shows: the study settings (model, neuron set, k stated both as a count
and as a fraction, correctness rule, templates, seeds, versions, per-stage
timings), per-relation prompt counts, then one section per experiment present,
in the order of the experiment specs (experiments/registry.py), each with its figure, a caption, the key numbers (with
intervals) and the tables themselves. The headline numbers of intra and inter
(relation vs random sets, own vs other drop) are read from their typed
summaries (`experiments.summaries`), never recomputed here; a summary of another
version gives a note asking to rerun the experiment. Settings come from what
the run folder holds: the store identity, manifest.json's sectioned config and
its seeds.
The two heatmaps (overlap, inter-relation drop) are drawn as HTML grids whose
cells carry their values as tooltips (``title``; works without script) and,
with script, in a read-out line under the grid; the matplotlib PNG is kept
below each grid as a plain image. Folders the report does not know are shown
generically (summary, tables, figures).

Missing pieces never crash the build: an absent experiment folder is simply
not shown, a missing or unreadable store / identify / manifest file or table
gives a visible note. Every text taken from the run (relation names,
generations, configuration values) is HTML-escaped. The output depends only on
the run folder's contents (no build timestamp), so rebuilding gives the same
bytes.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import numbers
import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relneurons import io
from relneurons.errors import DataError
from relneurons.experiments.registry import SPECS
from relneurons.experiments.summaries import IntraSummary, read_summary



#: Experiment folders in the registry's order (experiments/registry.py SPECS), with their titles and paper
#: references; folders of other names follow, shown generically.
EXPERIMENT_ORDER = tuple(spec.name for spec in SPECS)
_TITLES = {spec.name: (spec.title, spec.ref) for spec in SPECS}
_SHORT = {spec.name: spec.short for spec in SPECS}

_GENERIC_MAX_ROWS = 50
_CELL_MAX_CHARS = 300
_NA = "n/a"
_NA_COLOR = "#d9d9d9"

# ----------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    """HTML-escape any value's text (quotes included, safe in attributes)."""
    return html.escape(str(value), quote=True)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _f2(value: Any) -> str:
    """Accuracy-like number, 2 decimals; NaN -> n/a."""
    return _NA if _missing(value) else f"{float(value):.2f}"


def _fp(value: Any) -> str:
    """p-value, 3 decimals (< 0.001 below that); NaN -> n/a."""
    if _missing(value):
        return _NA
    value = float(value)
    return "< 0.001" if 0 <= value < 0.001 else f"{value:.3f}"


def _pct(value: Any, digits: int = 1) -> str:
    """A fraction shown as a percentage."""
    return _NA if _missing(value) else f"{float(value) * 100:.{digits}f}%"


def _int(value: Any) -> str:
    return _NA if _missing(value) else f"{int(value):,}"


def _ci(low: Any, high: Any, fmt: Callable[[Any], str] = _f2) -> str:
    """'[low, high]', or '' when the interval is absent."""
    if _missing(low) and _missing(high):
        return ""
    return f"[{fmt(low)}, {fmt(high)}]"


def _with_ci(value: Any, low: Any, high: Any, fmt: Callable[[Any], str] = _f2) -> str:
    interval = _ci(low, high, fmt) if not _missing(value) else ""
    return f"{fmt(value)} {interval}".strip()


def _seconds(value: Any) -> str:
    if _missing(value):
        return _NA
    s = float(value)
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _number(value: Any) -> str:
    """A number of unknown meaning, for generic tables and summaries."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if abs(int(value)) >= 10000 else str(int(value))
    v = float(value)
    if math.isnan(v):
        return _NA
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v.is_integer() and abs(v) < 1e15:
        return _number(int(v))
    if abs(v) < 0.01:
        return f"{v:.2g}"
    return f"{v:.2f}" if abs(v) < 1000 else f"{v:,.0f}"


def _text(value: Any, limit: int = _CELL_MAX_CHARS) -> str:
    """Free text (a prompt, a generation) escaped, shortened, with line breaks shown as a dim ↵."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _e(text).replace("\r", "").replace("\n", '<span class="nl">↵</span>')


def _is_p_column(column: str) -> bool:
    col = column.lower()
    return col.startswith("p_") or col in ("p", "pvalue") or col.endswith("_p") or col.endswith("p_value")


def _column_formatter(column: str, series: pd.Series) -> Callable[[Any], str]:
    """How to show one column of a generic table: p-values to 3 decimals, accuracies etc. to 2,
    whole-number float columns as integers, tiny values with 2 significant digits."""
    if pd.api.types.is_bool_dtype(series):
        return lambda v: _NA if _missing(v) else ("yes" if v else "no")
    if pd.api.types.is_numeric_dtype(series):
        if _is_p_column(column):
            return _fp
        values = pd.to_numeric(series, errors="coerce").dropna()
        values = values[np.isfinite(values)]
        if pd.api.types.is_integer_dtype(series) or (len(values) and (values == values.round()).all()):
            return lambda v: _e(_number(v))
        small = len(values) and values.abs().max() < 0.01
        return lambda v: _NA if _missing(v) else (f"{float(v):.2g}" if small else _e(_number(v) if abs(float(v)) >= 1000 else f"{float(v):.2f}"))

    def fmt(v: Any) -> str:
        if _missing(v):
            return _NA
        if isinstance(v, (list, tuple, dict, np.ndarray)):
            v = json.dumps(v if not isinstance(v, np.ndarray) else v.tolist(), default=str)
        return _text(v)

    return fmt


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


# ----------------------------------------------------------------- loading


class _Notes:
    """Problems met while reading the run folder, shown in the report."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _read_json(path: Path, notes: _Notes | None, root: Path) -> Any:
    if not path.is_file():
        if notes is not None:
            notes.add(f"{_rel(path, root)} not found.")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if notes is not None:
            notes.add(f"{_rel(path, root)} could not be read ({type(exc).__name__}: {exc}).")
        return None


def _read_table(folder: Path, name: str, notes: _Notes | None = None, root: Path | None = None) -> pd.DataFrame | None:
    """`<name>.parquet`, else `<name>.csv`, else None (with a note if `notes`)."""
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            try:
                return reader(path)
            except Exception as exc:  # noqa: BLE001 - a corrupt table must not stop the report
                if notes is not None:
                    notes.add(f"{_rel(path, root or folder)} could not be read ({type(exc).__name__}: {exc}).")
                return None
    if notes is not None:
        notes.add(f"{_rel(folder / (name + '.parquet'), root or folder)} not found.")
    return None


def _has(df: pd.DataFrame | None, columns: Iterable[str]) -> bool:
    return df is not None and not df.empty and all(c in df.columns for c in columns)


def _order(values: Iterable[Any], preferred: Sequence[str] = ()) -> list[str]:
    """Distinct values as strings: those in `preferred` first (in its order), then first appearance."""
    seen = list(dict.fromkeys(str(v) for v in values))
    first = [p for p in preferred if p in seen]
    return first + [v for v in seen if v not in first]


# ----------------------------------------------------------------- HTML pieces


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    return None


def _img(path: Path, root: Path, alt: str) -> str:
    data = path.read_bytes()
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    return (f'<img class="plot" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}"{dims} '
            f'alt="{_e(alt)}" data-figure="{_e(_rel(path, root))}">')


def _figure(path: Path, root: Path, caption: str, alt: str | None = None) -> str:
    """A <figure> with the embedded PNG; `caption` is already HTML."""
    return (f'<figure>{_img(path, root, alt or path.stem)}'
            f'<figcaption>{caption}<span class="file">{_e(_rel(path, root))}</span></figcaption></figure>')


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(rows: Sequence[Sequence[str]], header: Sequence[str], *, numeric: Sequence[bool] | None = None,
           cls: str = "", caption: str = "") -> str:
    """A table from already-escaped cell strings."""
    numeric = numeric or [False] * len(header)
    head = "".join(f'<th{" class=num" if n else ""} scope="col">{h}</th>' for h, n in zip(header, numeric))
    body = "".join("<tr>" + "".join(f'<td class={"num" if n else "txt"}>{c}</td>' for c, n in zip(row, numeric)) + "</tr>"
                   for row in rows)
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="tablewrap"><table class="data {cls}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _generic_table(df: pd.DataFrame, max_rows: int = _GENERIC_MAX_ROWS) -> str:
    shown = df.head(max_rows)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    formats = [_column_formatter(str(c), df[c]) for c in df.columns]
    rows = [[f(v) for f, v in zip(formats, row)] for row in shown.itertuples(index=False, name=None)]
    caption = f"first {max_rows} of {len(df):,} rows" if len(df) > max_rows else ""
    return _table(rows, [_e(c) for c in df.columns], numeric=numeric, caption=caption)


def _details(summary: str, body: str, open_: bool = False) -> str:
    return f'<details{" open" if open_ else ""}><summary>{summary}</summary>{body}</details>'


def _kv(pairs: Sequence[tuple[str, str]], cls: str = "kv") -> str:
    """Key/value table; keys and values already escaped."""
    rows = "".join(f'<tr><th scope="row">{k}</th><td>{v}</td></tr>' for k, v in pairs)
    return f'<table class="{cls}"><tbody>{rows}</tbody></table>'


def _jsonish(value: Any) -> str:
    """A config / summary value as short escaped text."""
    if isinstance(value, str):
        return _e(value)
    if isinstance(value, float) and math.isnan(value):
        return _NA
    if isinstance(value, (bool, int, float)) or value is None:
        return _e(json.dumps(value))
    return f"<code>{_e(json.dumps(value, default=str, sort_keys=True))}</code>"


# ----------------------------------------------------------------- run context


class _Run:
    """Everything read once from the run folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes = _Notes()
        self.manifest = _read_json(root / "manifest.json", self.notes, root) or {}
        self.store = _read_json(root / "store" / "manifest.json", self.notes, root) or {}
        self.identify = _read_json(root / "identify" / "summary.json", self.notes, root) or {}
        self.prompts = _read_table(root / "store", "prompts", self.notes, root)
        if not isinstance(self.manifest, dict):
            self.manifest = {}
        if not isinstance(self.store, dict):
            self.store = {}
        if not isinstance(self.identify, dict):
            self.identify = {}
        self.config = self.manifest.get("config") if isinstance(self.manifest.get("config"), dict) else {}
        self.settings = _config_settings(self.config)
        identity = self.store.get("identity")
        self.identity = identity if isinstance(identity, dict) else {}
        self.results = root / "results"

    def get(self, key: str, default: Any = None) -> Any:
        """A setting from the store identity, else the run configuration."""
        for source in (self.identity, self.settings):
            if key in source and source[key] is not None:
                return source[key]
        return default

    @property
    def model(self) -> str:
        return str(self.get("model", "unknown model"))

    @property
    def relations(self) -> list[str]:
        for source in (self.identity.get("relations"), self.settings.get("relations"),
                       list((self.identify.get("relations") or {}).keys())):
            if isinstance(source, list) and source:
                return [str(r) for r in source]
        return []

    @property
    def k_text(self) -> str | None:
        k, n = self.identify.get("k"), self.identify.get("n_neurons") or self.identity.get("n_neurons")
        name = self.identify.get("neuron_set") or self.identity.get("neuron_set") or ""
        if isinstance(k, (int, float)) and isinstance(n, (int, float)) and n:
            return f"k = {int(k):,} ({k / n:.2%} of {int(n):,} {name} neurons)".replace("  ", " ")
        for exp in ("intra", "inter", "layers"):
            summary = _read_json(self.results / exp / "summary.json", None, self.root)
            if isinstance(summary, dict) and summary.get("k_text"):
                return str(summary["k_text"])
        if "k" in self.settings:
            k = self.settings["k"]
            return f"k = {k:.2%} of the neuron set" if isinstance(k, float) and k < 1 else f"k = {k}"
        return None

    @property
    def k(self) -> int | None:
        k = self.identify.get("k")
        return int(k) if isinstance(k, (int, float)) else None


    def summary(self, experiment: str, cls: type, notes: _Notes) -> Any:
        """The experiment's typed summary (`experiments.summaries`), or None with a note saying what to rerun."""
        if not (self.results / experiment / "summary.json").is_file():
            return None
        try:
            return read_summary(self.results / experiment, cls)
        except DataError as exc:
            notes.add(str(exc).replace(str(self.root), "RUN"))
            return None

    @property
    def random_seeds(self) -> list[int] | None:
        """The seeds of the random-k sets: the intra summary's, else the count the manifest records."""
        try:
            return list(read_summary(self.results / "intra", IntraSummary).random_seeds)
        except DataError:
            pass
        recorded = self.manifest.get("seeds")
        n = recorded.get("random_neurons") if isinstance(recorded, dict) else self.settings.get("random_seeds")
        return list(range(int(n))) if isinstance(n, (int, float)) and not isinstance(n, bool) else None


#: Where the report finds a setting in the run's config (manifest.json "config" = config.toml's sections).
_CONFIG_PLACES = {"model": ("model", "name"), "dtype": ("model", "dtype"), "relations": ("data", "relations"),
                  "templates": ("data", "templates"), "suffix": ("data", "suffix"), "rule": ("data", "rule"),
                  "seed": ("data", "seed"), "n_eval": ("data", "n_eval"), "k": ("neurons", "k"),
                  "neuron_set": ("neurons", "set"), "random_seeds": ("experiments", "random_seeds"),
                  "n_boot": ("bootstrap", "n_boot")}


def _config_settings(config: dict) -> dict:
    """Flat settings from the sectioned config the pipeline writes (empty values are unset)."""
    out = {}
    for name, (section, key) in _CONFIG_PLACES.items():
        part = config.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if value is not None and value != "":
            out[name] = value
    return out


# ----------------------------------------------------------------- header sections


def _duration(start: Any, end: Any) -> str | None:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return _seconds((b - a).total_seconds())


def _settings(run: _Run) -> str:
    m, idn = run.manifest, run.identity
    pairs: list[tuple[str, str]] = [("model", _e(run.model))]
    if idn.get("model_fingerprint"):
        pairs.append(("model file", f'<code class="hash">{_e(idn["model_fingerprint"])}</code>'))
    if idn.get("model_dtype") or run.get("dtype"):
        pairs.append(("dtype", _e(idn.get("model_dtype") or run.get("dtype"))))
    nset = run.identify.get("neuron_set") or idn.get("neuron_set") or run.settings.get("neuron_set")
    n_neurons = run.identify.get("n_neurons") or idn.get("n_neurons")
    if nset is not None:
        size = f" ({int(n_neurons):,} neurons)" if isinstance(n_neurons, (int, float)) else ""
        pairs.append(("neuron set", _e(f"{nset}{size}")))
    if run.k_text:
        pairs.append(("k", _e(run.k_text)))
    rule = run.get("rule")
    if rule is not None:
        pairs.append(("correctness rule", _e(rule)))
    templates = run.get("templates")
    if templates is not None:
        text = ", ".join(f"#{t}" for t in templates) if isinstance(templates, list) else str(templates)
        pairs.append(("templates", _e(text) + ' <span class="dim">(texts per relation in section 2)</span>'))
    if run.get("suffix") is not None:
        pairs.append(("prompt suffix", f"<code>{_e(repr(run.get('suffix')))}</code>"))
    if idn.get("add_bos") is not None:  # the rest of the prompt style (relneurons calibrate), and what the token means average
        pairs.append(("BOS token", _e(f"{'added' if idn['add_bos'] else 'none'} (bos = {idn.get('bos', 'auto')}); "
                                      f"{'in' if idn.get('mean_bos', True) else 'left out of'} the token means")))
    if idn.get("max_new_tokens") is not None:
        pairs.append(("new tokens judged", _e(idn["max_new_tokens"])))
    if idn.get("n_eval") is not None:
        pairs.append(("P_eva prompts per relation", _e(idn["n_eval"])))
    seeds = []
    random_seeds = run.random_seeds
    if random_seeds:
        listed = ", ".join(map(str, random_seeds)) if len(random_seeds) <= 5 else f"{random_seeds[0]}–{random_seeds[-1]}"
        seeds.append(f"{_plural(len(random_seeds), 'random-k set')} (seeds {listed})")
    if run.get("seed") is not None:
        seeds.append(f"sampling seed {run.get('seed')}")
    if seeds:
        pairs.append(("seeds", _e(", ".join(seeds))))
    if run.relations:
        pairs.append(("relations", _e(f"{len(run.relations)}: " + ", ".join(run.relations))))
    versions = m.get("versions")
    if isinstance(versions, dict) and versions:
        pairs.append(("versions", _e(", ".join(f"{k} {v}" for k, v in sorted(versions.items())))))
    if m.get("machine") or run.store.get("machine"):
        machine = m.get("machine") or run.store.get("machine")
        if isinstance(machine, dict):  # run manifests record the machine as fields
            machine = ", ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in machine.items())
        pairs.append(("machine", _e(machine)))
    if m.get("started") is not None:
        pairs.append(("started", _e(m["started"])))
    if m.get("finished") is not None:
        dur = _duration(m.get("started"), m["finished"])
        pairs.append(("finished", _e(m["finished"]) + (f" ({_e(dur)})" if dur else "")))

    stages = m.get("stages")
    stage_html = ""
    if isinstance(stages, dict) and stages:
        rows, total = [], 0.0
        for name, info in stages.items():
            info = info if isinstance(info, dict) else {"status": info}
            sec = info.get("seconds")
            if isinstance(sec, (int, float)) and not math.isnan(sec):
                total += float(sec)
            rows.append([_e(name), _e(info.get("status", "")), _e(_seconds(sec))])
        rows.append(["<b>total</b>", "", f"<b>{_e(_seconds(total))}</b>"])
        stage_html = _table(rows, ["stage", "status", "time"], numeric=[False, False, True], cls="compact")
    else:
        stage_html = _note("No per-stage timings in manifest.json.")

    config_html = ""
    if run.config:
        config_html = _details("Full configuration (as resolved)",
                               _kv([(_e(k), _jsonish(v)) for k, v in sorted(run.config.items())], cls="kv small"))
    return (f'<section id="settings"><h2>Study settings</h2><div class="cols">'
            f'<div>{_kv(pairs)}</div><div><h3>Stage timings</h3>{stage_html}</div></div>{config_html}</section>')


def _prompt_counts(run: _Run) -> str:
    parts = []
    positives = run.identify.get("relations") if isinstance(run.identify.get("relations"), dict) else {}
    skipped = run.identify.get("skipped") if isinstance(run.identify.get("skipped"), dict) else {}
    prompts = run.prompts
    counts = None
    if _has(prompts, ["relation", "correct"]):
        counts = prompts.groupby(prompts["relation"].astype(str), sort=False)["correct"].agg(["size", "sum"])
    elif prompts is not None:
        parts.append(_note("store/prompts.parquet lacks the relation / correct columns; P_det counts unavailable."))
    eva = None
    intra = _read_table(run.results / "intra", "intra") if (run.results / "intra").is_dir() else None
    if _has(intra, ["relation", "split", "condition", "n"]):
        sel = intra[(intra["split"] == "P_eva") & (intra["condition"] == "original")]
        eva = dict(zip(sel["relation"].astype(str), sel["n"]))
    relations = _order(list(run.relations) + (list(counts.index) if counts is not None else [])
                       + list(positives) + list(skipped))
    if not relations:
        parts.append(_note("No relations found (store and identify summaries missing)."))
        return f'<section id="prompts"><h2>Prompts per relation</h2>{"".join(parts)}</section>'

    rows = []
    templates = {}
    if _has(prompts, ["relation", "template"]):
        templates = {str(r): list(dict.fromkeys(g["template"].astype(str))) for r, g in prompts.groupby("relation", sort=False)}
    for r in relations:
        if counts is not None and r in counts.index:
            size, correct = int(counts.loc[r, "size"]), int(counts.loc[r, "sum"])
            det = [_int(size), _int(correct), _pct(correct / size if size else float("nan"), 0)]
        else:
            det = [_NA, _NA, _NA]
        pos = positives.get(r, {}) if isinstance(positives.get(r), dict) else {}
        status = "skipped (see below)" if r in skipped else ("used" if pos else "")  # the reason is listed under the table
        rows.append([_e(r), *[_e(x) for x in det], _e(_int(pos.get("positives"))), _e(_int(pos.get("negatives"))),
                     _e(_int(eva.get(r)) if eva and r in eva else _NA), _e(status),
                     "<br>".join(f"<code>{_e(t)}</code>" for t in templates.get(r, []))])
    header = ["relation", "P_det prompts", "validated (correct)", "%", "positives", "negatives", "P_eva prompts", "status", "templates"]
    intro = ("<p>P_det: the prompts the neurons were identified on; <i>validated</i> = the original model answers them "
             f"correctly under the <b>{_e(run.get('rule', '?'))}</b> rule. Positives are the validated prompts of the "
             "relation, negatives the prompts of other relations used against them (per relation). P_eva: held-out "
             "prompts used to measure accuracy.</p>")
    skipped_html = ""
    if skipped:
        skipped_html = "<p><b>Skipped relations:</b> " + "; ".join(f"{_e(r)} ({_e(why)})" for r, why in skipped.items()) + ".</p>"
    table = _table(rows, header, numeric=[False, True, True, True, True, True, True, False, False])
    return f'<section id="prompts"><h2>Prompts per relation</h2>{intro}{"".join(parts)}{table}{skipped_html}</section>'


# ----------------------------------------------------------------- experiments


class _Section:
    """Collects the pieces of one experiment's section."""

    def __init__(self, run: _Run, name: str) -> None:
        self.run, self.name = run, name
        self.folder = run.results / name
        self.notes = _Notes()
        self.body: list[str] = []
        self.used_png: set[str] = set()
        self.used_tables: set[str] = {"summary"}
        self.summary = _read_json(self.folder / "summary.json", None, run.root)

    def table(self, name: str, required: Sequence[str] = (), optional: bool = False) -> pd.DataFrame | None:
        """A table of this experiment; a missing one gives a note unless `optional`."""
        self.used_tables.add(name)
        if optional and not any((self.folder / f"{name}{ext}").is_file() for ext in (".parquet", ".csv")):
            return None
        df = _read_table(self.folder, name, self.notes, self.run.root)
        if df is not None and required and not _has(df, required):
            missing = [c for c in required if c not in df.columns]
            self.notes.add(f"{name}: " + (f"lacks columns {missing}." if missing else "empty."))
            return None
        return df

    def figure(self, stem: str, caption: str) -> str:
        path = self.folder / f"{stem}.png"
        if not path.is_file():
            return ""
        self.used_png.add(path.name)
        return _figure(path, self.run.root, caption, alt=f"{self.name}: {stem}")

    def rest(self) -> str:
        """Figures not shown yet, and a list of the other files in the folder."""
        out = []
        for png in sorted(self.folder.glob("*.png")):
            if png.name not in self.used_png:
                self.used_png.add(png.name)
                out.append(_figure(png, self.run.root, f"Figure {_e(png.stem)}."))
        others = sorted(p.name for p in self.folder.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.suffix in (".parquet", ".csv") and p.stem not in self.used_tables)
        if others:
            out.append(f'<p class="files">Also in this folder: {", ".join(f"<code>{_e(o)}</code>" for o in others)}.</p>')
        return "".join(out)


def _kline(run: _Run, summary: Any) -> str:
    if isinstance(summary, dict) and summary.get("k_text"):
        return str(summary["k_text"])
    return run.k_text or "k = ?"


def _layers(s: _Section) -> None:
    df = s.table("layers", ["relation", "layer", "count"])
    k_text = _kline(s.run, s.summary)
    s.body.append(s.figure("layers", f"Number of each relation's top-k neurons in each layer of the model, one line per relation; "
                                     f"{_e(k_text)}."))
    if df is None:
        return
    df = df.assign(relation=df["relation"].astype(str))
    relations = _order(df["relation"], s.run.relations)
    n_layers = int(df["layer"].max()) + 1
    lines, early = [], []
    for r in relations:
        part = df[df["relation"] == r].sort_values("layer")
        total = int(part["count"].sum())
        if total == 0:
            lines.append(f"{_e(r)}: no neurons")
            continue
        peak = part.loc[part["count"].idxmax()]
        first = int(part[part["layer"] < n_layers / 2]["count"].sum())
        early.append(first / total)
        lines.append(f"<b>{_e(r)}</b>: peak at layer {int(peak['layer'])} ({int(peak['count']):,} of {total:,}, "
                     f"{peak['count'] / total:.0%}); {first / total:.0%} in the first half")
    key = ""
    if early:
        key = (f"<p>On average <b>{np.mean(early):.0%}</b> of a relation's top-k neurons lie in the first half of the "
               f"model's {n_layers} layers (layers 0–{math.ceil(n_layers / 2) - 1}).</p>")
    s.body.append(key + "<ul class='keys'>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")
    wide = df.pivot_table(index="relation", columns="layer", values="count", aggfunc="sum", fill_value=0)
    wide = wide.reindex(relations)
    rows = [[_e(r)] + [_int(v) for v in wide.loc[r]] for r in relations]
    s.body.append(_details("Counts per layer", _table(rows, ["relation"] + [_e(c) for c in wide.columns],
                                                      numeric=[False] + [True] * len(wide.columns), cls="compact")))


def _generic(s: _Section) -> None:
    summary = s.summary
    if isinstance(summary, dict) and summary:
        s.body.append(_kv([(_e(k), _jsonish(v)) for k, v in sorted(summary.items())], cls="kv small"))
    elif summary is not None:
        s.body.append(f"<pre>{_e(json.dumps(summary, indent=2, default=str))}</pre>")
    for png in sorted(s.folder.glob("*.png")):
        s.used_png.add(png.name)
        s.body.append(_figure(png, s.run.root, f"Figure <code>{_e(png.stem)}</code>."))
    stems = sorted({p.stem for p in s.folder.iterdir() if p.is_file() and p.suffix in (".parquet", ".csv")
                    and not p.name.startswith(".")})
    for stem in stems:
        s.used_tables.add(stem)
        df = _read_table(s.folder, stem, s.notes, s.run.root)
        if df is not None:
            s.body.append(_details(f"Table <code>{_e(stem)}</code> ({len(df):,} rows)", _generic_table(df), open_=len(df) <= 15))


_RENDERERS: dict[str, Callable[[_Section], None]] = {
    "layers": _layers,
}


def _experiment(run: _Run, name: str, number: int) -> str:
    s = _Section(run, name)
    title, ref = _TITLES.get(name, (name.replace("_", " ").capitalize(), ""))
    renderer = _RENDERERS.get(name, _generic)
    try:
        renderer(s)
    except Exception as exc:  # noqa: BLE001 - one bad table must not lose the whole report
        s.notes.add(f"This section could not be drawn from its tables ({type(exc).__name__}: {exc}); showing the raw files.")
        s.body = []
        s.used_png, s.used_tables = set(), {"summary"}
        _generic(s)
    else:
        s.body.append(s.rest())
    notes = "".join(_note(n) for n in s.notes.items)
    ref_html = f' <span class="ref">{_e(ref)}</span>' if ref else ""
    return (f'<section id="exp-{_e(name)}" class="experiment" data-experiment="{_e(name)}">'
            f"<h2>{number}. {_e(title)}{ref_html}</h2>{notes}{''.join(s.body)}</section>")


def _experiments(run: _Run) -> list[str]:
    if not run.results.is_dir():
        return []
    present = sorted(p.name for p in run.results.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = [n for n in EXPERIMENT_ORDER if n in present]
    return known + [n for n in present if n not in known]



"""The neuron explorer: one sortable, filterable table of every relation's top neurons (RUN/explorer.html).

For the top `top` neurons (by AP rank) of each ranked relation: layer, module,
unit, the neuron's AP for every relation (a heat row), its selection frequency
across resamples (results/stability/frequency.parquet, when the stability
experiment ran; "—" otherwise) and the stored P_det prompts on which its mean
output is highest and lowest (texts from the store's prompts, values from its
rows). The page is self-contained: inline CSS and script, no server, no
network; every text from the run is escaped. Without script the table is still
all there, only sorting and filtering need it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..activations.store import ActivationStore

__all__ = ["ExplorerData", "explorer_data", "render_explorer", "write_explorer"]

_e = html.escape


@dataclass(frozen=True)
class ExplorerData:
    """`table`: one row per (relation, top neuron): relation, rank, global_index, layer, module, unit,
    ap_<relation> for every relation, frequency (NaN: unknown), most and least (lists of (text, relation, value))."""

    relations: list[str]
    table: pd.DataFrame
    has_frequency: bool
    top: int
    examples: int


def explorer_data(
    store: ActivationStore,
    identify_dir: str | Path,
    stability_dir: str | Path | None = None,
    top: int = 20,
    examples: int = 3,
) -> ExplorerData:
    """Gather the explorer's rows from a store, its identification folder and (optionally) the stability results."""
    if top < 1 or examples < 0:
        raise ValueError(f"top must be >= 1 and examples >= 0, got top={top}, examples={examples}")
    identify_dir = Path(identify_dir)
    relations = list(io.read_json(identify_dir / "summary.json")["relations"])
    ap = {
        r: pd.read_parquet(
            identify_dir / "ap" / f"{r}.parquet", columns=["global_index", "layer", "module", "unit", "ap", "rank"]
        ).set_index("global_index")
        for r in relations
    }
    parts = []
    for relation in relations:
        best = ap[relation].sort_values(["rank", "global_index"]).head(top).reset_index()
        parts.append(best.assign(relation=relation)[["relation", "rank", "global_index", "layer", "module", "unit"]])
    table = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["relation", "rank", "global_index", "layer", "module", "unit"])
    )
    for relation in relations:
        table[f"ap_{relation}"] = ap[relation]["ap"].reindex(table["global_index"]).to_numpy(dtype=float)

    frequency_file = Path(stability_dir) / "frequency.parquet" if stability_dir else None
    has_frequency = bool(frequency_file and frequency_file.is_file())
    if has_frequency:
        freq = pd.read_parquet(frequency_file, columns=["relation", "global_index", "frequency"]).set_index(
            ["relation", "global_index"]
        )
        # a neuron no resample selected is absent from the table: it was selected 0 times
        keys = pd.MultiIndex.from_arrays([table["relation"], table["global_index"]])
        table["frequency"] = freq["frequency"].reindex(keys).fillna(0.0).to_numpy(dtype=float)
    else:
        table["frequency"] = math.nan

    prompts = store.prompts
    kept = prompts[prompts["act_row"] >= 0].sort_values("act_row")
    texts, owners, rows = kept["text"].tolist(), kept["relation"].tolist(), kept["act_row"].to_numpy()
    most, least = {}, {}
    nset = store.neuron_set
    for gid in dict.fromkeys(table["global_index"].tolist()):
        column = int(nset.columns([gid])[0])
        values = store.columns(column, column + 1)[rows, 0].astype(float)
        order = np.argsort(values, kind="stable")  # ties: the earlier stored prompt first

        def pick(idx, values=values):
            return [(texts[i], owners[i], float(values[i])) for i in idx]

        most[gid] = pick(order[::-1][:examples] if examples else [])
        least[gid] = pick(order[:examples])
    table["most"] = [most[g] for g in table["global_index"]]
    table["least"] = [least[g] for g in table["global_index"]]
    return ExplorerData(relations, table, has_frequency, top, examples)


def _heat(ap: float) -> str:
    """Background of an AP cell: white (0) to dark blue (1); AP 0.5 is chance on balanced classes."""
    if math.isnan(ap):
        return "background:#d9d9d9"
    t = min(max(ap, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * t) for c in (8, 48, 107))
    return f"background:rgb({r},{g},{b});color:{'#fff' if t > 0.55 else '#111'}"


def _number(v: float, fmt: str) -> tuple[str, str]:
    """(data-v, shown text) of a number; NaN sorts last and shows "—"."""
    return ("", "\u2014") if math.isnan(v) else (repr(float(v)), format(v, fmt))


def _prompts(items: list[tuple[str, str, float]]) -> str:
    if not items:
        return "\u2014"
    return (
        "<ol>"
        + "".join(
            f'<li><span class="v">{v:+.3g}</span> {_e(text)} <span class="r">{_e(rel)}</span></li>'
            for text, rel, v in items
        )
        + "</ol>"
    )


def _th(key: str, title: str, kind: str) -> str:
    """A column head; kind num/text sorts (click or Enter), none does not."""
    cls = ' class="ap"' if key.startswith("ap_") else ""
    tab = "" if kind == "none" else ' tabindex="0"'
    tip = f' title="AP for {_e(title)}"' if key.startswith("ap_") else ""
    return f'<th data-k="{_e(key)}" data-type="{kind}"{cls}{tab}{tip}>{_e(title)}</th>'


def render_fragment(data: ExplorerData) -> str:
    """The explorer as an HTML fragment (controls, table, style and script), for a page of its own or the report."""
    rels = data.relations
    head = [
        ("relation", "relation", "text"),
        ("rank", "rank", "num"),
        ("neuron", "neuron", "text"),
        ("layer", "layer", "num"),
        ("module", "module", "text"),
        ("unit", "unit", "num"),
    ]
    head += [(f"ap_{r}", r, "num") for r in rels]
    head += [
        ("frequency", "selection freq.", "num"),
        ("most", "most active on", "none"),
        ("least", "least active on", "none"),
    ]
    ths = "".join(_th(*h) for h in head)
    body = []
    for r in data.table.to_dict("records"):
        name = f"L{r['layer']} {r['module']}[{r['unit']}]"
        cells = [
            f'<td data-k="relation" data-v="{_e(r["relation"])}">{_e(r["relation"])}</td>',
            f'<td data-k="rank" data-v="{int(r["rank"])}">{int(r["rank"])}</td>',
            f'<td data-k="neuron" data-v="{_e(name)}" title="global index {int(r["global_index"])}">{_e(name)}</td>',
            f'<td data-k="layer" data-v="{int(r["layer"])}">{int(r["layer"])}</td>',
            f'<td data-k="module" data-v="{_e(str(r["module"]))}">{_e(str(r["module"]))}</td>',
            f'<td data-k="unit" data-v="{int(r["unit"])}">{int(r["unit"])}</td>',
        ]
        for relation in rels:
            v = float(r[f"ap_{relation}"])
            dv, shown = _number(v, ".2f")
            cells.append(
                f'<td data-k="ap_{_e(relation)}" data-v="{dv}" class="ap" style="{_heat(v)}" '
                f'title="AP for {_e(relation)}: {shown}">{shown}</td>'
            )
        dv, shown = _number(float(r["frequency"]), ".0%")
        cells.append(f'<td data-k="frequency" data-v="{dv}">{shown}</td>')
        cells.append(f'<td data-k="most" class="p">{_prompts(r["most"])}</td>')
        cells.append(f'<td data-k="least" class="p">{_prompts(r["least"])}</td>')
        body.append(
            f'<tr data-relation="{_e(r["relation"])}" data-gid="{int(r["global_index"])}">{"".join(cells)}</tr>'
        )
    options = "".join(f'<option value="{_e(r)}">{_e(r)}</option>' for r in rels)
    note = (
        "selection frequency: share of the stability experiment's resamples whose top-k held the neuron"
        if data.has_frequency
        else "selection frequency: \u2014 (the stability experiment did not run)"
    )
    return (
        f'<section id="neuron-explorer"><style>{_CSS}</style>'
        f'<p class="nx-note">Top {data.top} neurons of each relation by AP rank; AP cells: white 0 \u2192 blue 1. '
        f"Prompts: the {data.examples} stored P_det prompts with the highest / lowest mean output (value, prompt, its relation). "
        f"{_e(note)}. Click a column head to sort.</p>"
        f'<div class="nx-controls"><label>relation <select id="nx-relation"><option value="">all</option>{options}</select></label> '
        f'<label>search <input id="nx-search" type="search" placeholder="layer, module, prompt text"></label> '
        f'<span id="nx-count">{len(body)} of {len(body)} neurons</span></div>'
        f'<div class="nx-wrap"><table id="nx-table"><thead><tr>{ths}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
        f"<script>{_JS}</script></section>"
    )


def render_explorer(data: ExplorerData, title: str = "Neuron explorer") -> str:
    """A complete page around `render_fragment`."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title></head>\n<body><h1>{_e(title)}</h1>"
        '<p><a href="report.html">\u2190 the run report</a></p>\n'
        f'{render_fragment(data)}\n<script>document.body.dataset.ready = "1";</script></body></html>\n'
    )


def write_explorer(run_dir: str | Path, top: int = 20, examples: int = 3) -> Path | None:
    """Write RUN/explorer.html atomically from the run's store, identify/ and results/stability/; None (and no file)
    when the run has no identification or store yet."""
    root = Path(run_dir)
    if not (root / "identify" / "summary.json").is_file() or not (root / "store" / "manifest.json").is_file():
        return None
    store = ActivationStore(root / "store")
    data = explorer_data(store, root / "identify", root / "results" / "stability", top, examples)
    target = root / "explorer.html"
    model = store.identity.get("model", "")
    io.write_bytes(
        target, render_explorer(data, f"Neuron explorer: {model}" if model else "Neuron explorer").encode("utf-8")
    )
    return target


_CSS = """
#neuron-explorer{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;font-size:12.5px;color:#1a1a1a}
#neuron-explorer .nx-note{color:#555;max-width:70em}
#neuron-explorer .nx-controls{margin:8px 0;display:flex;gap:14px;align-items:center;flex-wrap:wrap}
#neuron-explorer .nx-wrap{overflow-x:auto}
#nx-table{border-collapse:collapse}
#nx-table th{position:sticky;top:0;background:#f2f2f2;border-bottom:2px solid #999;padding:4px 6px;text-align:left;white-space:nowrap}
#nx-table th[tabindex]{cursor:pointer}
#nx-table th[aria-sort=ascending]::after{content:" \\25b2"}
#nx-table th[aria-sort=descending]::after{content:" \\25bc"}
#nx-table th.ap{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;font-size:11px}
#nx-table td{border-bottom:1px solid #e3e3e3;padding:3px 6px;vertical-align:top}
#nx-table td.ap{text-align:center;font-size:10.5px;min-width:2.6em}
#nx-table td.p{font-size:11.5px;max-width:26em}
#nx-table td.p ol{margin:0;padding-left:1.2em}
#nx-table td.p .v{font-family:"DejaVu Sans Mono",monospace;color:#555}
#nx-table td.p .r{color:#777;font-size:10.5px}
"""

_JS = """
(function () {
  var table = document.getElementById("nx-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var select = document.getElementById("nx-relation");
  var search = document.getElementById("nx-search");
  var count = document.getElementById("nx-count");
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function value(row, key) {
    var cell = row.querySelector('td[data-k="' + key + '"]');
    return cell ? cell.getAttribute("data-v") : "";
  }
  function sortBy(key, descending) {
    var head = heads.filter(function (th) { return th.getAttribute("data-k") === key; })[0];
    if (!head || head.getAttribute("data-type") === "none") { return; }
    var numeric = head.getAttribute("data-type") === "num";
    var keyed = rows.map(function (row, i) { return { row: row, v: value(row, key), i: i }; });
    keyed.sort(function (a, b) {
      var empty = (a.v === "") - (b.v === "");
      if (empty) { return empty; }  /* no value: last, either direction */
      var c = numeric ? parseFloat(a.v) - parseFloat(b.v) : (a.v < b.v ? -1 : a.v > b.v ? 1 : 0);
      return (descending ? -c : c) || a.i - b.i;
    });
    rows = keyed.map(function (k) { return k.row; });
    rows.forEach(function (row) { body.appendChild(row); });
    heads.forEach(function (th) { th.removeAttribute("aria-sort"); });
    head.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  function filter() {
    var relation = select.value, text = search.value.toLowerCase(), shown = 0;
    rows.forEach(function (row) {
      var ok = (!relation || row.getAttribute("data-relation") === relation) &&
               (!text || row.textContent.toLowerCase().indexOf(text) >= 0);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + rows.length + " neurons";
  }
  heads.forEach(function (th) {
    function go() { sortBy(th.getAttribute("data-k"), th.getAttribute("aria-sort") === "ascending"); }
    th.addEventListener("click", go);
    th.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { go(); } });
  });
  select.addEventListener("change", filter);
  search.addEventListener("input", filter);
  filter();
})();
"""

"""The neuron explorer (report/explorer.py) on a tiny real-model study: rows against the AP tables and the store's rows
(plain numpy), escaping, and sorting / filtering in headless Chromium (the page's own click and change handlers)."""

from __future__ import annotations

import math
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_study import tiny_study

from relneurons import io
from relneurons.activations.store import ActivationStore
from relneurons.report.explorer import explorer_data, write_explorer

from .test_html import _check_in_browser, _chromium

TOP, EXAMPLES = 5, 2


@pytest.fixture(scope="module")
def run(tmp_path_factory, lre_dir) -> Path:
    """A run folder layout (store/, identify/) of the tiny study."""
    root = tmp_path_factory.mktemp("explorer")
    tiny_study(root, lre_dir, k=20)
    return root


def _copy(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    for name in ("store", "identify"):
        shutil.copytree(run / name, out / name)
    return out


def test_rows_are_the_ap_tables_and_the_store_rows(run, tmp_path):
    store = ActivationStore(run / "store")
    data = explorer_data(store, run / "identify", tmp_path / "no-stability", top=TOP, examples=EXAMPLES)
    relations = list(io.read_json(run / "identify" / "summary.json")["relations"])
    assert data.relations == relations and len(relations) == 3 and not data.has_frequency
    table = data.table
    assert len(table) == TOP * len(relations) and table["frequency"].isna().all()
    ap = {r: pd.read_parquet(run / "identify" / "ap" / f"{r}.parquet") for r in relations}
    kept = store.prompts[store.prompts["act_row"] >= 0]
    everything = store.rows(kept["act_row"].to_numpy())  # every neuron, one row per kept prompt
    for relation in relations:
        part = table[table["relation"] == relation]
        want = ap[relation].sort_values("rank").head(TOP)
        assert part["global_index"].tolist() == want["global_index"].tolist()
        assert part["rank"].tolist() == list(range(1, TOP + 1))
        assert part[["layer", "module", "unit"]].values.tolist() == want[["layer", "module", "unit"]].values.tolist()
        for other in relations:
            expected = ap[other].set_index("global_index").loc[part["global_index"], "ap"].to_numpy()
            np.testing.assert_array_equal(part[f"ap_{other}"].to_numpy(), expected)
        for row in part.itertuples():
            column = everything[:, int(store.neuron_set.columns([row.global_index])[0])]
            high, low = np.argsort(-column)[:EXAMPLES], np.argsort(column)[:EXAMPLES]
            assert [t for t, _, _ in row.most] == kept["text"].to_numpy()[high].tolist()
            assert [t for t, _, _ in row.least] == kept["text"].to_numpy()[low].tolist()
            assert [r for _, r, _ in row.most] == kept["relation"].to_numpy()[high].tolist()
            np.testing.assert_allclose([v for _, _, v in row.most], column[high])
            assert row.most[0][2] >= row.least[0][2]


def test_selection_frequency_comes_from_the_stability_results(run, tmp_path):
    store = ActivationStore(run / "store")
    first = explorer_data(store, run / "identify", None, top=TOP, examples=0).table.iloc[0]
    stability = tmp_path / "stability"
    stability.mkdir()
    io.write_table(
        stability / "frequency.parquet",
        pd.DataFrame({"relation": [first["relation"]], "global_index": [first["global_index"]], "frequency": [0.85]}),
    )
    data = explorer_data(store, run / "identify", stability, top=TOP, examples=0)
    assert data.has_frequency and data.table["frequency"].iloc[0] == 0.85
    assert (data.table["frequency"].iloc[1:] == 0).all()  # listed by no resample: selected 0 times
    assert data.table["most"].map(len).eq(0).all()


def test_page_escapes_run_texts_and_needs_no_network(run, tmp_path):
    folder = _copy(run, tmp_path)
    prompts = pd.read_parquet(folder / "store" / "prompts.parquet")
    prompts["text"] = '<script>alert(1)</script> & "q" ' + prompts["text"]
    io.write_table(folder / "store" / "prompts.parquet", prompts)
    page = write_explorer(folder, top=TOP).read_text()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;q&quot;" in page
    assert "http://" not in page and "https://" not in page and "src=" not in page
    assert write_explorer(tmp_path / "empty") is None and not (tmp_path / "empty" / "explorer.html").exists()


class _Rows(HTMLParser):
    """Body rows of the explorer table in DOM order: (relation, global id, hidden, {column: data-v})."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, int, bool, dict]] = []
        self.count = ""
        self._in_count = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-gid" in a:
            self.rows.append((a["data-relation"], int(a["data-gid"]), "hidden" in a, {}))
        elif tag == "td" and self.rows and "data-v" in a:
            self.rows[-1][3][a["data-k"]] = a["data-v"]
        self._in_count = a.get("id") == "nx-count"

    def handle_data(self, data):
        if self._in_count:
            self.count += data


def _dom_rows(dom: str) -> _Rows:
    parser = _Rows()
    parser.feed(dom)
    return parser


def test_sorting_and_filtering_in_headless_chromium(run, tmp_path):
    exe = _chromium()
    folder = _copy(run, tmp_path)
    page = write_explorer(folder, top=TOP)
    relations = list(io.read_json(folder / "identify" / "summary.json")["relations"])
    data = explorer_data(ActivationStore(folder / "store"), folder / "identify", None, top=TOP, examples=0).table

    dom, problems = _check_in_browser(exe, page, tmp_path / "plain")
    assert not problems, problems
    plain = _dom_rows(dom)
    assert [gid for _, gid, _, _ in plain.rows] == data["global_index"].tolist() and not any(
        h for _, _, h, _ in plain.rows
    )
    assert plain.count.strip() == f"{len(data)} of {len(data)} neurons"

    # the user's actions, through the page's own handlers: pick a relation, click a column head twice (descending)
    chosen, column = relations[1], f"ap_{relations[2]}"
    actions = (
        f'<script>var s = document.getElementById("nx-relation"); s.value = "{chosen}";'
        's.dispatchEvent(new Event("change"));'
        f"var th = document.querySelector('th[data-k=\"{column}\"]'); th.click(); th.click();</script></body>"
    )
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.read_text().replace("</body>", actions, 1))
    dom, problems = _check_in_browser(exe, clicked, tmp_path / "clicked")
    assert not problems, problems
    seen = _dom_rows(dom)
    visible = [(rel, gid) for rel, gid, hidden, _ in seen.rows if not hidden]
    expected = data[data["relation"] == chosen].sort_values(column, ascending=False, kind="stable")
    assert visible == list(zip(expected["relation"], expected["global_index"]))
    everything = data.sort_values(column, ascending=False, kind="stable")
    assert [gid for _, gid, _, _ in seen.rows] == everything["global_index"].tolist()  # hidden rows are sorted too
    assert seen.count.strip() == f"{TOP} of {len(data)} neurons"
    assert re.findall(r'<th data-k="([^"]+)"[^>]*aria-sort="([a-z]+)"', dom) == [(column, "descending")]
    values = [float(v[column]) for _, _, h, v in seen.rows if not h]
    assert values == sorted(values, reverse=True) and not any(math.isnan(v) for v in values)


def test_the_explorer_loads_no_model_library(run, tmp_path):
    """The explorer reads the store (its neuron set from the manifest, the rows from disk) and the AP tables:
    `relneurons report` must not pay for importing torch."""
    import subprocess
    import sys

    out = _copy(run, tmp_path)
    code = (
        "import sys\nfrom relneurons.report.explorer import write_explorer\nwrite_explorer(sys.argv[1])\n"
        "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\nassert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "explorer.html").is_file()

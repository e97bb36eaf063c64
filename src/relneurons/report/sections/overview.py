"""The sections every report has: the study's settings and the prompts per relation first, every test of the run
(adjusted for multiplicity) last."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from markupsafe import Markup

from ...experiments import registry
from ...experiments.multiplicity import run_tests
from .. import format as fmt
from ..elements import Table
from ..reader import RunFolder, has, order, read_table

#: Stages in the order `relneurons run` runs them (the manifest may store them sorted by name); others follow.


def _stage_order() -> dict[str, int]:
    """Stages in run order: collect, identify, the experiments (plugins included), report."""
    return {name: i for i, name in enumerate(("collect", "identify", *registry.NAMES, "report"))}


def _duration(start: Any, end: Any) -> str | None:
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return fmt.seconds((b - a).total_seconds())


def settings(run: RunFolder) -> dict[str, Any]:
    """Model, neuron set, k, prompt style, seeds, versions, machine, times; the stage timings; the full config."""
    m, idn = run.manifest, run.identity
    pairs: list[tuple[str, Any]] = [("model", run.model)]
    if idn.get("model_fingerprint"):
        pairs.append(("model file", Markup('<code class="hash">%s</code>') % idn["model_fingerprint"]))
    if idn.get("model_dtype") or run.get("dtype"):
        pairs.append(("dtype", idn.get("model_dtype") or run.get("dtype")))
    nset = run.identify.get("neuron_set") or idn.get("neuron_set") or run.settings.get("neuron_set")
    n_neurons = run.identify.get("n_neurons") or idn.get("n_neurons")
    if nset is not None:
        pairs.append(
            ("neuron set", f"{nset} ({int(n_neurons):,} neurons)" if isinstance(n_neurons, (int, float)) else nset)
        )
    if run.k_text:
        pairs.append(("k", run.k_text))
    if run.get("rule") is not None:
        pairs.append(("correctness rule", run.get("rule")))
    templates = run.get("templates")
    if templates is not None:
        text = ", ".join(f"#{t}" for t in templates) if isinstance(templates, list) else str(templates)
        pairs.append(("templates", Markup('%s <span class="dim">(texts per relation in section 2)</span>') % text))
    if run.get("suffix") is not None:
        pairs.append(("prompt suffix", Markup("<code>%s</code>") % repr(run.get("suffix"))))
    chat = idn.get("chat_template") if idn.get("chat") else None
    if isinstance(chat, dict):  # the prompt as the user turn of the model's chat template (docs/method.md)
        averaged = (
            "every token of the chat"
            if idn.get("chat_positions") == "all"
            else "the prompt's tokens only (the template's left out)"
        )
        frame = f"{chat.get('before', '')}{{prompt}}{chat.get('after', '')}"
        pairs.append(
            (
                "chat template",
                Markup("<code>%s</code><br>token means over %s; the BOS as the template writes it")
                % (repr(frame), averaged),
            )
        )
    elif (
        idn.get("add_bos") is not None
    ):  # the rest of the prompt style (relneurons calibrate), and what the token means average
        pairs.append(
            (
                "BOS token",
                f"{'added' if idn['add_bos'] else 'none'} (bos = {idn.get('bos', 'auto')}); "
                f"{'in' if idn.get('mean_bos', True) else 'left out of'} the token means",
            )
        )
    if idn.get("max_new_tokens") is not None:
        pairs.append(("new tokens judged", idn["max_new_tokens"]))
    if idn.get("n_eval") is not None:
        pairs.append(("P_eva prompts per relation", idn["n_eval"]))
    seeds = []
    random_seeds = run.random_seeds
    if random_seeds:
        listed = (
            ", ".join(map(str, random_seeds)) if len(random_seeds) <= 5 else f"{random_seeds[0]}–{random_seeds[-1]}"
        )
        seeds.append(f"{fmt.plural(len(random_seeds), 'random-k set')} (seeds {listed})")
    if run.get("seed") is not None:
        seeds.append(f"sampling seed {run.get('seed')}")
    if seeds:
        pairs.append(("seeds", ", ".join(seeds)))
    if run.relations:
        pairs.append(("relations", f"{len(run.relations)}: " + ", ".join(run.relations)))
    versions = m.get("versions")
    if isinstance(versions, dict) and versions:
        pairs.append(("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))))
    source = m.get("source")
    if isinstance(source, dict) and source.get("commit"):
        pairs.append(
            (
                "source",
                f"commit {str(source['commit'])[:12]}" + (" with uncommitted changes" if source.get("dirty") else ""),
            )
        )
    machine = m.get("machine") or run.store.get("machine")
    if machine:
        if isinstance(machine, dict):  # run manifests record the machine as fields
            machine = ", ".join(
                f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in machine.items()
            )
        pairs.append(("machine", machine))
    if m.get("started") is not None:
        pairs.append(("started", m["started"]))
    if m.get("finished") is not None:
        dur = _duration(m.get("started"), m["finished"])
        pairs.append(("finished", f"{m['finished']}" + (f" ({dur})" if dur else "")))

    stages = None
    if isinstance(m.get("stages"), dict) and m["stages"]:
        rows, total = [], 0.0
        for name, info in sorted(
            m["stages"].items(), key=lambda item: _stage_order().get(item[0], len(_stage_order()))
        ):
            info = info if isinstance(info, dict) else {"status": info}
            sec = info.get("seconds")
            if isinstance(sec, (int, float)) and not math.isnan(sec):
                total += float(sec)
            rows.append([name, info.get("status", ""), fmt.seconds(sec)])
        rows.append([Markup("<b>total</b>"), "", Markup("<b>%s</b>") % fmt.seconds(total)])
        stages = Table(["stage", "status", "time"], rows, [False, False, True], cls="compact")
    config = [(k, fmt.jsonish(v)) for k, v in sorted(run.config.items())]
    return {"pairs": pairs, "stages": stages, "config": config}


def prompts(run: RunFolder) -> dict[str, Any]:
    """Per relation: P_det prompts and how many were validated, the examples identification used, P_eva size,
    and the templates; plus the relations identification skipped, with why."""
    notes: list[str] = []
    identify = run.identify
    positives = identify.get("relations") if isinstance(identify.get("relations"), dict) else {}
    skipped = identify.get("skipped") if isinstance(identify.get("skipped"), dict) else {}
    prompts_df = run.prompts
    counts = None
    if has(prompts_df, ["relation", "correct"]):
        counts = prompts_df.groupby(prompts_df["relation"].astype(str), sort=False)["correct"].agg(["size", "sum"])
    elif prompts_df is not None:
        notes.append("store/prompts.parquet lacks the relation / correct columns; P_det counts unavailable.")
    eva = {}
    intra = read_table(run.results / "intra", "intra") if (run.results / "intra").is_dir() else None
    if has(intra, ["relation", "split", "condition", "n"]):
        sel = intra[(intra["split"] == "P_eva") & (intra["condition"] == "original")]
        eva = dict(zip(sel["relation"].astype(str), sel["n"]))
    relations = order(
        list(run.relations) + (list(counts.index) if counts is not None else []) + list(positives) + list(skipped)
    )
    if not relations:
        notes.append("No relations found (store and identify summaries missing).")
        return {"notes": notes, "table": None, "skipped": {}}
    templates = {}
    if has(prompts_df, ["relation", "template"]):
        templates = {
            str(r): list(dict.fromkeys(g["template"].astype(str)))
            for r, g in prompts_df.groupby("relation", sort=False)
        }
    rows = []
    for r in relations:
        if counts is not None and r in counts.index:
            size, correct = int(counts.loc[r, "size"]), int(counts.loc[r, "sum"])
            det = [fmt.count(size), fmt.count(correct), fmt.pct(correct / size if size else float("nan"), 0)]
        else:
            det = [fmt.NA] * 3
        pos = positives.get(r) if isinstance(positives.get(r), dict) else {}
        status = (
            "skipped (see below)" if r in skipped else ("used" if pos else "")
        )  # the reason is listed under the table
        rows.append(
            [
                r,
                *det,
                fmt.count(pos.get("positives")),
                fmt.count(pos.get("negatives")),
                fmt.count(eva[r]) if r in eva else fmt.NA,
                status,
                Markup("<br>").join(Markup("<code>%s</code>") % t for t in templates.get(r, [])),
            ]
        )
    header = [
        "relation",
        "P_det prompts",
        "validated (correct)",
        "%",
        "positives",
        "negatives",
        "P_eva prompts",
        "status",
        "templates",
    ]
    table = Table(header, rows, [False, True, True, True, True, True, True, False, False])
    return {"notes": notes, "table": table, "skipped": skipped}


#: The tables whose p_* columns are tests: every experiment's tests, inter's specificity, stability's core vs
#: top-k and top-|core| comparisons, multilingual's drops (McNemar per language).
TEST_TABLES = ("tests", "specificity", "stability", "drops")


def tests(run: RunFolder) -> dict[str, Any]:
    """Every test of the run (`multiplicity.run_tests`): Holm within experiment x split x kind of test, BH across
    the run; the tests tables of every experiment and inter's specificity table."""
    tables = {}
    for name in run.experiments():
        folder = run.results / name
        for stem in TEST_TABLES:
            if any((folder / f"{stem}{ext}").is_file() for ext in (".parquet", ".csv")):
                tables[name if stem == "tests" else f"{name} ({stem})"] = read_table(folder, stem)
    table = run_tests(tables)
    if table.empty:
        return {"table": None}
    tested = table.dropna(subset=["p"])
    rows = [
        [r.experiment, r.family, r.test.replace("_", " "), r.label, fmt.fp(r.p), fmt.fp(r.p_holm), fmt.fp(r.p_bh)]
        for r in table.itertuples(index=False)
    ]
    return {
        "table": Table(
            ["experiment", "split", "test", "of", "p", "Holm (family)", "BH (run)"],
            rows,
            [False, False, False, False, True, True, True],
        ),
        "n": len(tested),
        "untested": len(table) - len(tested),
        "bh05": int((tested["p_bh"] < 0.05).sum()),
        "holm05": int((tested["p_holm"] < 0.05).sum()),
        "raw05": int((tested["p"] < 0.05).sum()),
    }

"""A complete study on a tiny random model, fast enough to run many times in a test.

A random model answers nothing right, so identify would skip every relation.
`answering_relations` writes two relation files whose objects are the tiny
model's own greedy answers (found by a first collection with keep_all), so the
whole pipeline (collect, identify, every core experiment, report) runs on it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tiny_models import save_tiny_folder

SUBJECTS = {
    "tiny_city": [
        "Acme",
        "Bolt",
        "Crux",
        "Dyna",
        "Echo",
        "Fizz",
        "Gaia",
        "Hexa",
        "Ibis",
        "Jolt",
        "Kilo",
        "Lumo",
        "Mira",
        "Nova",
    ],
    "tiny_color": [
        "Oryx",
        "Pike",
        "Quil",
        "Rook",
        "Sora",
        "Tusk",
        "Umbra",
        "Vex",
        "Wren",
        "Xeno",
        "Yarn",
        "Zinc",
        "Ajax",
        "Brio",
    ],
}
TEMPLATES = {"tiny_city": "The headquarters of {} are in the city of", "tiny_color": "The colour of {} is"}
N_EVAL = 4


def _write(folder: Path, objects: dict[str, list[str]]) -> list[str]:
    paths = []
    for name, subjects in SUBJECTS.items():
        doc = {
            "name": name,
            "prompt_templates": [TEMPLATES[name]],
            "prompt_templates_zs": [],
            "properties": {"relation_type": "factual", "domain_name": "thing", "range_name": "answer"},
            "samples": [{"subject": s, "object": o} for s, o in zip(subjects, objects[name])],
        }
        path = folder / f"{name}.json"
        path.write_text(json.dumps(doc, indent=1))
        paths.append(str(path))
    return paths


def answering_relations(model: str, lre_dir: Path, folder: Path) -> list[str]:
    """Two relation files (paths) whose every object is what `model` answers."""
    from relneurons.activations import CollectConfig, collect

    folder.mkdir(parents=True, exist_ok=True)
    paths = _write(folder, {name: ["placeholder"] * len(s) for name, s in SUBJECTS.items()})
    answers: dict[str, list[str]] = {}
    for name, path in zip(SUBJECTS, paths):
        # n_eval=1 puts all but one sample in P_det; the held-out one is asked separately below
        config = CollectConfig(
            model=model,
            device="cpu",
            data_dir=str(lre_dir),
            relations=(path,),
            templates=(0,),
            n_eval=1,
            keep_all=True,
            batch_size=4,
        )
        prompts = collect(config, folder / f".probe-{name}", progress=False).prompts
        by_subject = dict(zip(prompts["subject"], prompts["generation"]))
        missing = [s for s in SUBJECTS[name] if s not in by_subject]
        if missing:
            from relneurons.model import greedy_generate, load_model

            lm, tok = load_model(model, device="cpu")
            texts = [TEMPLATES[name].format(s) + "? Answer:" for s in missing]
            by_subject.update(zip(missing, greedy_generate(lm, tok, texts, 2)))
        answers[name] = [by_subject[s].strip() or "none" for s in SUBJECTS[name]]
    return _write(folder, answers)


def tiny_overrides(model: str, relations: list[str], lre_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        f"model.name={json.dumps(model)}",
        'model.device="cpu"',
        f"data.dir={json.dumps(str(lre_dir))}",
        f"data.relations={json.dumps(relations)}",
        "data.templates=[0]",
        f"data.n_eval={N_EVAL}",
        "data.max_prompts_per_relation=0",
        "neurons.k=8",
        "neurons.min_positives=3",
        'experiments.run=["layers", "overlap", "intra", "inter", "sweep", "cumulativity", "errors"]',
        "experiments.k_sweep=[4, 8]",
        "experiments.random_seeds=2",
        "experiments.max_det=6",
        "experiments.error_tokens=3",
        "bootstrap.n_boot=50",
        "run.batch_size=8",
        f"run.out={json.dumps(str(out))}",
        *extra,
    ]


def tables(folder: Path) -> dict[str, bytes]:
    """Every table a run wrote (parquet and csv), by relative path, as bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.suffix in (".parquet", ".csv") and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def save_model(folder: Path, arch: str = "llama") -> str:
    return str(save_tiny_folder(folder, arch))

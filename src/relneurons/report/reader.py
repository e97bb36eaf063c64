"""Reading a run folder for the report: every file is read once, and a missing or unreadable one becomes a
visible note instead of an exception (a report of a half-finished or damaged run is still a report).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DataError
from ..experiments import registry
from ..experiments.spec import ExperimentSpec
from ..experiments.summaries import IntraSummary, read_summary


class Notes:
    """Problems met while reading, shown at the top of the page or of the section they concern."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def read_json(path: Path, notes: Notes | None, root: Path) -> Any:
    if not path.is_file():
        if notes is not None:
            notes.add(f"{relative(path, root)} not found.")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if notes is not None:
            notes.add(f"{relative(path, root)} could not be read ({type(exc).__name__}: {exc}).")
        return None


def read_table(folder: Path, name: str, notes: Notes | None = None, root: Path | None = None) -> pd.DataFrame | None:
    """`<name>.parquet`, else `<name>.csv`, else None (with a note if `notes`)."""
    for suffix, reader in ((".parquet", pd.read_parquet), (".csv", pd.read_csv)):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            try:
                return reader(path)
            except Exception as exc:  # noqa: BLE001 - a corrupt table must not stop the report
                if notes is not None:
                    notes.add(f"{relative(path, root or folder)} could not be read ({type(exc).__name__}: {exc}).")
                return None
    if notes is not None:
        notes.add(f"{relative(folder / (name + '.parquet'), root or folder)} not found.")
    return None


def has(df: pd.DataFrame | None, columns: Iterable[str]) -> bool:
    """`df` exists, is not empty and has all `columns`."""
    return df is not None and not df.empty and all(c in df.columns for c in columns)


def order(values: Iterable[Any], preferred: Sequence[str] = ()) -> list[str]:
    """Distinct values as strings: those in `preferred` first (in its order), then by first appearance."""
    seen = list(dict.fromkeys(str(v) for v in values))
    first = [p for p in preferred if p in seen]
    return first + [v for v in seen if v not in first]


@dataclass(frozen=True)
class Figure:
    """A PNG of the run, embedded as a data URI (the report opens from disk, offline)."""

    src: str
    width: int | None
    height: int | None
    alt: str
    path: str  # relative to the run folder: shown under the caption, and the tests' handle

    @classmethod
    def read(cls, path: Path, root: Path, alt: str) -> Figure:
        data = path.read_bytes()
        size = None
        if len(data) >= 24 and data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            size = struct.unpack(">II", data[16:24])
        return cls(
            f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}",
            size[0] if size else None,
            size[1] if size else None,
            alt,
            relative(path, root),
        )


#: Where the report finds a setting in the run's config (manifest.json "config" = config.toml's sections).
_CONFIG_PLACES = {
    "model": ("model", "name"),
    "dtype": ("model", "dtype"),
    "relations": ("data", "relations"),
    "templates": ("data", "templates"),
    "suffix": ("data", "suffix"),
    "rule": ("data", "rule"),
    "seed": ("data", "seed"),
    "n_eval": ("data", "n_eval"),
    "k": ("neurons", "k"),
    "neuron_set": ("neurons", "set"),
    "random_seeds": ("experiments", "random_seeds"),
    "n_boot": ("bootstrap", "n_boot"),
}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class RunFolder:
    """Everything the report reads once from a run folder: manifests, the identify summary, the prompts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.notes = Notes()
        self.manifest = _dict(read_json(root / "manifest.json", self.notes, root))
        self.store = _dict(read_json(root / "store" / "manifest.json", self.notes, root))
        self.identify = _dict(read_json(root / "identify" / "summary.json", self.notes, root))
        self.prompts = read_table(root / "store", "prompts", self.notes, root)
        self.config = _dict(self.manifest.get("config"))
        self.settings = {}
        for name, (section, key) in _CONFIG_PLACES.items():
            value = _dict(self.config.get(section)).get(key)
            if value is not None and value != "":
                self.settings[name] = value
        self.identity = _dict(self.store.get("identity"))
        self.results = root / "results"

    def get(self, key: str, default: Any = None) -> Any:
        """A setting from the store identity, else the run configuration."""
        for source in (self.identity, self.settings):
            if source.get(key) is not None:
                return source[key]
        return default

    @property
    def model(self) -> str:
        return str(self.get("model", "unknown model"))

    @property
    def relations(self) -> list[str]:
        for source in (
            self.identity.get("relations"),
            self.settings.get("relations"),
            list(_dict(self.identify.get("relations")).keys()),
        ):
            if isinstance(source, list) and source:
                return [str(r) for r in source]
        return []

    @property
    def k(self) -> int | None:
        k = self.identify.get("k")
        return int(k) if isinstance(k, (int, float)) else None

    @property
    def k_text(self) -> str | None:
        """'k = 307 (0.36% of 85,248 ffn neurons)': from identify, else an experiment summary, else the config."""
        k, n = self.identify.get("k"), self.identify.get("n_neurons") or self.identity.get("n_neurons")
        name = self.identify.get("neuron_set") or self.identity.get("neuron_set") or ""
        if isinstance(k, (int, float)) and isinstance(n, (int, float)) and n:
            return f"k = {int(k):,} ({k / n:.2%} of {int(n):,} {name} neurons)".replace("  ", " ")
        for exp in ("intra", "inter", "layers"):
            summary = read_json(self.results / exp / "summary.json", None, self.root)
            if isinstance(summary, dict) and summary.get("k_text"):
                return str(summary["k_text"])
        if "k" in self.settings:
            k = self.settings["k"]
            return f"k = {k:.2%} of the neuron set" if isinstance(k, float) and k < 1 else f"k = {k}"
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

    def experiments(self) -> list[str]:
        """Result folders present: the specs' order first, then unknown folders by name."""
        if not self.results.is_dir():
            return []
        present = sorted(p.name for p in self.results.iterdir() if p.is_dir() and not p.name.startswith("."))
        known = [n for n in registry.BY_NAME if n in present]
        return known + [n for n in present if n not in known]


class Section:
    """One experiment's folder as its section builder sees it: its spec, summary, tables and figures.

    It remembers which figures and tables the builder used, so that the rest of the folder can be listed
    under the section (nothing the run wrote goes unseen).
    """

    def __init__(self, run: RunFolder, name: str) -> None:
        self.run, self.name = run, name
        self.spec: ExperimentSpec | None = registry.BY_NAME.get(name)
        self.folder = run.results / name
        self.notes = Notes()
        self.used_png: set[str] = set()
        self.used_tables: set[str] = {"summary"}
        self.summary = self._summary()

    def _summary(self) -> Any:
        """The typed summary when the spec declares one (None, with a note saying what to rerun, when it is of
        another version), else the plain summary.json (None when absent)."""
        kind = self.spec.summary_type() if self.spec else None
        if kind is None or not (self.folder / "summary.json").is_file():
            return read_json(self.folder / "summary.json", None, self.run.root)
        try:
            return read_summary(self.folder, kind)
        except DataError as exc:
            self.notes.add(str(exc).replace(str(self.run.root), "RUN"))
            return None

    @property
    def k_text(self) -> str:
        """The k line of this experiment: its summary's (typed or a plain dict), else the run's."""
        summary = self.summary
        text = summary.get("k_text") if isinstance(summary, dict) else getattr(summary, "k_text", None)
        return str(text) if text else (self.run.k_text or "k = ?")

    def typed_summary(self, kind: type) -> Any:
        """The typed summary, or None with a note that the headline numbers are missing (a summary of another
        version already has its note from `_summary`)."""
        if isinstance(self.summary, kind):
            return self.summary
        if not (self.folder / "summary.json").is_file():
            self.notes.add(
                f"results/{self.name}/summary.json not found: the headline numbers are missing; rerun the "
                f"{self.name} experiment."
            )
        return None

    def table(self, name: str, required: Sequence[str] = (), optional: bool = False) -> pd.DataFrame | None:
        """A table of this experiment; a missing one (unless `optional`) or one without `required` columns gives
        a note and None."""
        self.used_tables.add(name)
        if optional and not any((self.folder / f"{name}{ext}").is_file() for ext in (".parquet", ".csv")):
            return None
        df = read_table(self.folder, name, self.notes, self.run.root)
        if df is not None and required and not has(df, required):
            missing = [c for c in required if c not in df.columns]
            self.notes.add(f"{name}: " + (f"lacks columns {missing}." if missing else "empty."))
            return None
        return df

    def figure(self, stem: str) -> Figure | None:
        """`<stem>.png` of this folder, or None when the run has none."""
        path = self.folder / f"{stem}.png"
        if not path.is_file():
            return None
        self.used_png.add(path.name)
        return Figure.read(path, self.run.root, f"{self.name}: {stem}")

    def other_figures(self) -> list[Figure]:
        """The figures no builder used, by name."""
        out = []
        for png in sorted(self.folder.glob("*.png")):
            if png.name not in self.used_png:
                self.used_png.add(png.name)
                out.append(Figure.read(png, self.run.root, png.stem))
        return out

    def table_names(self) -> list[str]:
        """Stems of every table in the folder (Parquet or CSV)."""
        return sorted(
            {
                p.stem
                for p in self.folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix in (".parquet", ".csv")
            }
        )

    def other_tables(self) -> list[str]:
        return [t for t in self.table_names() if t not in self.used_tables]

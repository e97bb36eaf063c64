"""Per-fact corpus counts as a CSV file: relation, subject, object, count (App. E).

However the counts were obtained (WIMBD/ElasticSearch over Dolma as in the
paper, infini-gram, or `relneurons frequency count` over a local corpus), the
experiment reads them from one CSV with a header row and at least the columns
``relation, subject, object, count`` (others are ignored). `read_counts` checks
every row and names the file and line of the first problem.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from relneurons import io
from relneurons.data.corpus import CorpusStats, count_facts
from relneurons.data.relations import Relation
from relneurons.errors import DataError

__all__ = ["COUNT_COLUMNS", "count_relations", "read_counts", "write_counts"]

COUNT_COLUMNS = ("relation", "subject", "object", "count")


def read_counts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The counts CSV as a DataFrame (relation, subject, object: str; count: int64), every row checked."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"counts file {path} does not exist; write one with `relneurons frequency count CORPUS --out {path}` "
            f"or give a CSV with columns {', '.join(COUNT_COLUMNS)}"
        )
    rows: list[tuple[str, str, str, int]] = []
    seen: dict[tuple[str, str, str], int] = {}
    try:
        with open(
            path, encoding="utf-8-sig", newline=""
        ) as handle:  # -sig: tolerate a BOM written by spreadsheet tools
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{path}: empty file; expected a header row {','.join(COUNT_COLUMNS)}")
            header = [h.strip() for h in header]
            missing = [c for c in COUNT_COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"{path}, line 1: missing column(s) {', '.join(missing)}; the header must name "
                    f"{', '.join(COUNT_COLUMNS)} (found {', '.join(header) or 'nothing'})"
                )
            where = [header.index(c) for c in COUNT_COLUMNS]
            for fields in reader:
                line = reader.line_num
                if not fields or all(not f.strip() for f in fields):
                    continue
                if len(fields) != len(header):
                    raise DataError(
                        f"{path}, line {line}: {len(fields)} fields, the header has {len(header)} "
                        "(quote values containing commas)"
                    )
                relation, subject, obj, count = (fields[i] for i in where)
                for column, value in (("relation", relation), ("subject", subject), ("object", obj)):
                    if not value.strip():
                        raise DataError(f"{path}, line {line}: empty {column}")
                text = count.strip()
                if not (text.isascii() and text.isdigit()):
                    raise DataError(f"{path}, line {line}: count {count!r} is not a non-negative integer")
                key = (relation, subject, obj)
                if key in seen:
                    raise DataError(
                        f"{path}, line {line}: duplicate fact {key} (first on line {seen[key]}); "
                        "give each (relation, subject, object) once"
                    )
                seen[key] = line
                rows.append((relation, subject, obj, int(text)))
    except UnicodeDecodeError:
        raise DataError(f"{path}, line {_first_bad_line(path)}: not UTF-8; save the file as UTF-8") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV ({exc})") from None
    table = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    return table.astype({"count": "int64"})


def _first_bad_line(path: Path) -> int:
    """The number of the first line that is not valid UTF-8 (read again, line by line, only on error)."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def write_counts(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write a counts table as CSV atomically (columns in COUNT_COLUMNS order)."""
    io.write_table(Path(path), table[list(COUNT_COLUMNS)])


def count_relations(
    relations: Sequence[Relation], corpus: str | os.PathLike[str], progress: bool = False, **options
) -> tuple[pd.DataFrame, CorpusStats]:
    """Count every distinct fact of `relations` in `corpus` (one pass); options go to `count_facts`."""
    facts = pd.DataFrame(
        [(r.name, s.subject, s.object) for r in relations for s in r.samples], columns=["relation", "subject", "object"]
    ).drop_duplicates(ignore_index=True)
    counts, stats = count_facts(list(zip(facts["subject"], facts["object"])), corpus, progress=progress, **options)
    return facts.assign(count=pd.Series(counts, dtype="int64")), stats

"""Fact frequency: how many documents of a local corpus mention both the subject and the object of a fact (App. E).

The paper counts, in Dolma, the documents that contain both the subject and the
object of each fact. `count_facts` does the same over a corpus on disk, in one
streamed pass for all facts:

* Corpus: a file or a folder (searched recursively, in sorted order) of plain
  text (``.txt``, ``.text``) or JSON Lines (``.jsonl``, ``.ndjson``) files, each
  optionally gzip-compressed (``.gz``). In a folder, files with other suffixes
  are skipped and counted as skipped.
* Document: a JSONL record (its text field, ``text`` by default); in a text
  file, by default a paragraph (a run of non-blank lines), or with
  ``document="line"`` one line, or with ``document="file"`` the whole file.
* Match: case-insensitive (NFKC + casefold), whitespace runs count as one space
  (so a name wrapped over two lines of a paragraph still matches), and a name
  must stand as a whole word where its script separates words with spaces:
  ``Paris`` is not found in ``Parisian``, while ``東京`` is found in ``東京都``
  (the same script rule as the correctness check).
* One Aho-Corasick automaton (pyahocorasick) over every distinct subject and
  object finds all names of a text in one scan; per document only the set of
  names found is kept, so facts sharing names cost nothing extra.

Memory is bounded by design: text is read in pieces of at most `chunk_bytes`
bytes (a piece carries the last max-name-length + 1 characters of the one
before, so no match is lost at a cut), and a document is reduced to the set of
names it contains. A JSONL record must be parsed whole: records longer than
`max_record_bytes` are refused with an error naming the file and line.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick

from relneurons.data.correctness import _no_space_script, _word_char
from relneurons.data.names import DEFAULT_DOCUMENT, DEFAULT_TEXT_FIELD, DOCUMENT_MODES
from relneurons.errors import DataError, InputError

__all__ = ["DOCUMENT_MODES", "CorpusStats", "FactCounter", "corpus_files", "count_facts"]

TEXT_SUFFIXES = (".txt", ".text")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CHUNK_BYTES = 1 << 16
MAX_RECORD_BYTES = 64 << 20
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The matching form of a text: NFKC, casefolded, whitespace runs as one space (not stripped)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold())


def _needs_boundary(char: str) -> bool:
    """A name edge needs a word boundary beside it when it is a word character of a script with spaces."""
    return _word_char(char) and not _no_space_script(char)


def _is_boundary(char: str) -> bool:
    return not _needs_boundary(char)


@dataclass
class CorpusStats:
    files: int = 0
    skipped_files: list[str] = field(default_factory=list)
    documents: int = 0
    documents_with_a_name: int = 0
    bytes_read: int = 0


class FactCounter:
    """Counts documents containing both names of each (subject, object) pair; feed documents, read `counts`."""

    def __init__(self, pairs: Sequence[tuple[str, str]]):
        keys = [(fold(s).strip(), fold(o).strip()) for s, o in pairs]
        for (s, o), (key_s, key_o) in zip(pairs, keys):
            if not key_s or not key_o:
                raise InputError(
                    f"fact ({s!r}, {o!r}) has an empty subject or object; every name needs a visible character"
                )
        names = sorted({n for pair in keys for n in pair})
        ids = {name: i for i, name in enumerate(names)}
        self.automaton = ahocorasick.Automaton()
        for name, i in ids.items():
            self.automaton.add_word(name, (i, len(name), _needs_boundary(name[0]), _needs_boundary(name[-1])))
        self.automaton.make_automaton()
        self.max_len = max((len(n) for n in names), default=0)
        # per subject id: (pair index, object id) of every pair with that subject
        self._by_subject: dict[int, list[tuple[int, int]]] = {}
        for index, (s, o) in enumerate(keys):
            self._by_subject.setdefault(ids[s], []).append((index, ids[o]))
        self.counts = [0] * len(pairs)
        self.stats = CorpusStats()

    # ---------------------------------------------------------------- matching
    def _scan(self, window: str, at_start: bool, at_end: bool, found: set[int]) -> None:
        """Add to `found` the names standing as whole words in `window`.

        A match touching the window's first (last) character is accepted only when
        the window starts (ends) the document: otherwise its neighbour lies outside
        the window, and the next window, which overlaps this one, decides.
        """
        last = len(window) - 1
        for end, (name_id, length, left, right) in self.automaton.iter(window):
            if name_id in found:
                continue
            start = end - length + 1
            if start == 0:
                if not at_start:
                    continue
            elif left and not _is_boundary(window[start - 1]):
                continue
            if end == last:
                if not at_end:
                    continue
            elif right and not _is_boundary(window[end + 1]):
                continue
            found.add(name_id)

    def add_text(self, text: str) -> None:
        """Count one whole document given as a string."""
        self.add_pieces([text])

    def add_pieces(self, pieces: Iterable[str]) -> None:
        """Count one document given as consecutive pieces of text (memory: one piece plus an overlap)."""
        found: set[int] = set()
        tail, at_start, pending = "", True, None
        keep = self.max_len + 1
        for piece in pieces:
            if pending is not None:  # scan the previous window now that we know it is not the last
                self._scan(pending, at_start, False, found)
                at_start = at_start and len(pending) <= keep  # the next window still begins the document
                tail = pending[-keep:]
            pending = fold(tail + piece) if tail else fold(piece)
            if at_start:
                pending = pending.lstrip()
        if pending is not None:
            self._scan(pending.rstrip(), at_start, True, found)
        self._close(found)

    def _close(self, found: set[int]) -> None:
        self.stats.documents += 1
        if not found:
            return
        self.stats.documents_with_a_name += 1
        for name_id in found:
            for index, obj in self._by_subject.get(name_id, ()):
                if obj in found:
                    self.counts[index] += 1


# -------------------------------------------------------------------- reading


def corpus_files(path: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """(files to read, files skipped) of a corpus file or folder."""
    path = Path(path)
    if path.is_file():
        if _kind(path) is None:
            raise InputError(
                f"corpus file {path} has an unknown type; use .txt/.text or .jsonl/.ndjson, optionally .gz"
            )
        return [path], []
    if not path.is_dir():
        raise InputError(f"corpus {path} does not exist; give a text/JSONL file or a folder of them")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    keep = [p for p in files if _kind(p) is not None]
    if not keep:
        raise InputError(f"corpus folder {path} has no .txt/.text/.jsonl/.ndjson files (optionally .gz)")
    return keep, [p for p in files if _kind(p) is None]


def _kind(path: Path) -> str | None:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


class _Reader:
    """UTF-8 text pieces of a file (gunzipped if .gz), read as bytes and decoded here, so that an
    undecodable byte is reported on its own line; knows its line number and the bytes read from disk."""

    def __init__(self, path: Path, chunk_bytes: int):
        self.path, self.chunk_bytes, self.line = path, chunk_bytes, 1
        self.raw = open(path, "rb")
        self.binary = gzip.GzipFile(fileobj=self.raw) if path.name.lower().endswith(".gz") else self.raw
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")

    def readline(self, limit: int | None = None) -> str:
        """At most `limit` (default chunk_bytes) bytes of one line, decoded; '' only at the end of the file."""
        try:
            while True:
                data = self.binary.readline(limit or self.chunk_bytes)
                piece = self.decoder.decode(data, final=not data)
                if piece or not data:  # a piece may end inside a character: read on
                    break
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{self.path}, line {self.line}: not UTF-8 ({exc.reason}); convert the file to UTF-8"
            ) from None
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip
            raise DataError(f"{self.path}, line {self.line}: cannot read ({exc})") from None
        if piece.endswith("\n"):
            self.line += 1
        return piece

    def close(self) -> None:
        self.binary.close()
        self.raw.close()


def _text_documents(reader: _Reader, mode: str) -> Iterator[Iterator[str]]:
    """Documents of a text file, each as an iterator of pieces; a document must be consumed before the next.

    A whitespace-only line separates paragraphs (and is no document in line mode).
    """

    def rest_of_line(piece: str) -> Iterator[str]:
        yield piece
        while not piece.endswith("\n"):
            piece = reader.readline()
            if not piece:
                return
            yield piece

    def document(first: str) -> Iterator[str]:
        if mode == "file":
            piece = first
            while piece:
                yield piece
                piece = reader.readline()
            return
        yield from rest_of_line(first)
        while mode == "paragraph":  # lines up to a blank one
            piece = reader.readline()
            if not piece.strip():
                return
            yield from rest_of_line(piece)

    while True:
        piece = reader.readline()
        if not piece:
            return
        if mode == "file" or piece.strip():
            yield document(piece)


def _jsonl_documents(reader: _Reader, text_field: str, max_record_bytes: int) -> Iterator[str]:
    while True:
        number = reader.line
        record = reader.readline(max_record_bytes)
        if not record:
            return
        if not record.endswith("\n") and reader.readline(1):  # neither a whole line nor the file's last one
            raise DataError(
                f"{reader.path}, line {number}: a record longer than {max_record_bytes:,} bytes; "
                "split it into smaller records (max_record_bytes bounds memory)"
            )
        if not record.strip():
            continue
        try:
            doc = json.loads(record)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{reader.path}, line {number}: not valid JSON ({exc.msg}); each line must be one JSON object"
            ) from None
        if not isinstance(doc, dict) or text_field not in doc:
            keys = ", ".join(map(repr, list(doc)[:8])) if isinstance(doc, dict) else type(doc).__name__
            raise DataError(
                f"{reader.path}, line {number}: no text field {text_field!r} (found {keys}); "
                "name the field with text_field / --text-field"
            )
        text = doc[text_field]
        if not isinstance(text, str):
            raise DataError(
                f"{reader.path}, line {number}: field {text_field!r} is {type(text).__name__}, not a string"
            )
        yield text


def count_facts(
    facts: Sequence[tuple[str, str]],
    corpus: str | os.PathLike[str],
    document: str = DEFAULT_DOCUMENT,
    text_field: str = DEFAULT_TEXT_FIELD,
    chunk_bytes: int = CHUNK_BYTES,
    max_record_bytes: int = MAX_RECORD_BYTES,
    progress: bool = False,
) -> tuple[list[int], CorpusStats]:
    """For each (subject, object) in `facts`, the number of documents of `corpus` containing both.

    One pass over the corpus for all facts; see the module docstring for what a
    document and a match are. Returns (counts in the order of `facts`, statistics).
    """
    if document not in DOCUMENT_MODES:
        raise InputError(f"document must be one of {', '.join(DOCUMENT_MODES)}, got {document!r}")
    if chunk_bytes < 1 or max_record_bytes < 1:
        raise InputError("chunk_bytes and max_record_bytes must be >= 1")
    files, skipped = corpus_files(corpus)
    counter = FactCounter(facts)
    counter.stats.skipped_files = [str(p) for p in skipped]
    total = sum(p.stat().st_size for p in files)
    from tqdm.auto import tqdm

    with tqdm(total=total, unit="B", unit_scale=True, desc="counting", disable=not progress) as bar:
        for path in files:
            reader = _Reader(path, chunk_bytes)
            try:
                if _kind(path) == "jsonl":
                    docs: Iterable = ([text] for text in _jsonl_documents(reader, text_field, max_record_bytes))
                else:
                    docs = _text_documents(reader, document)
                for pieces in docs:
                    counter.add_pieces(pieces)
                    bar.update(counter.stats.bytes_read + reader.raw.tell() - bar.n)  # compressed bytes for .gz
            finally:
                reader.close()
            counter.stats.files += 1
            counter.stats.bytes_read += path.stat().st_size
            bar.update(counter.stats.bytes_read - bar.n)
    return counter.counts, counter.stats

"""The fact-frequency counter on hand-made corpora with known counts, and its bounded-memory design."""

import gzip
import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relneurons.data import corpus as corpus_mod
from relneurons.data.corpus import FactCounter, corpus_files, count_facts, fold
from relneurons.errors import DataError, InputError

FACTS = [
    ("Paris", "France"),
    ("Eiffel Tower", "France"),
    ("Tokyo", "Japan"),
    ("Osaka", "Japan"),
    ("東京", "日本"),
    ("München", "Deutschland"),
]

TEXT = """Paris is the capital of France.
It is big. Paris, Paris, France!

Parisian cafés are common in France.

THE EIFFEL
TOWER is in paris, FRANCE.
\t
Tokyo (Japan) and Osaka-Japan.
"""
# paragraphs (lines: 1, 2 and 5 have Paris+France; the tab line is blank): 1 Paris+France; 2 Parisian only (no Paris); 3 Eiffel Tower (wrapped) + Paris + France; 4 Tokyo, Osaka, Japan
TEXT_COUNTS = {"paragraph": [2, 1, 1, 1, 0, 0], "line": [3, 0, 1, 1, 0, 0], "file": [1, 1, 1, 1, 0, 0]}

RECORDS = [
    {"text": "東京都は日本の首都です。", "id": 1},  # no-space script: 東京 inside 東京都 counts
    {"text": "MÜNCHEN liegt in Deutschland.", "id": 2},  # case folding beyond ASCII
    {"text": "ＰＡＲＩＳ, France", "id": 3},  # full-width letters (NFKC)
    {"text": "Comparison: France vs Japan", "id": 4},  # 'Paris' inside 'Comparison' does not count
    {"text": "", "id": 5},
]
RECORD_COUNTS = [1, 0, 0, 0, 1, 1]


def write_text(path, text):
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


@pytest.mark.parametrize("document", ["paragraph", "line", "file"])
def test_text_documents_have_the_hand_counted_frequencies(tmp_path, document):
    path = write_text(tmp_path / "c.txt", TEXT)
    counts, stats = count_facts(FACTS, path, document=document)
    assert counts == TEXT_COUNTS[document]
    assert stats.documents == {"paragraph": 4, "line": 6, "file": 1}[document]


def test_jsonl_records_are_documents_with_unicode_case_and_scripts(tmp_path):
    path = write_text(tmp_path / "c.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n\n")
    counts, stats = count_facts(FACTS, path)
    assert counts == RECORD_COUNTS
    assert stats.documents == len(RECORDS)


def test_gzip_and_folders_give_the_same_counts_as_plain_files(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    write_text(folder / "a.txt.gz", TEXT)
    write_text(folder / "sub" / "b.jsonl.gz", "\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS))
    write_text(folder / "notes.md", "Paris France")  # not a corpus file: skipped, and said so
    write_text(folder / ".hidden.txt", "Paris France")
    counts, stats = count_facts(FACTS, folder)
    assert counts == [a + b for a, b in zip(TEXT_COUNTS["paragraph"], RECORD_COUNTS)]
    assert stats.files == 2 and [p.endswith("notes.md") for p in stats.skipped_files] == [True]


def test_a_name_inside_a_longer_word_does_not_count_but_punctuation_is_a_boundary():
    counter = FactCounter([("Rome", "Italy"), ("Ford", "Detroit"), ("AT&T", "Dallas")])
    for text in (
        "Romeo went to Italy",
        "Fordham is not in Detroit",
        "Rome's Italy",
        "(Ford) Detroit.",
        "at&t—dallas",
        "xAT&T Dallas",
    ):
        counter.add_text(text)
    assert counter.counts == [1, 1, 1]


def test_a_fact_counts_once_per_document_and_each_relation_sharing_a_pair_gets_it():
    counter = FactCounter([("Paris", "France"), ("Paris", "France"), ("France", "Paris")])
    counter.add_text("Paris France Paris France")
    assert counter.counts == [1, 1, 1]


def test_empty_names_are_refused():
    with pytest.raises(InputError, match="empty subject or object"):
        FactCounter([("  ", "France")])


# ------------------------------------------------------------------ streaming

ALPHABET = "ab ,.-é\n"
NAMES = ["ab", "ba", "a b", "aba", "é", "b-a", "abab"]


def reference_found(text):
    """Slow reference: a regex per name over the whole folded text, word boundaries by lookaround."""
    folded = fold(text).strip()
    return {n for n in NAMES if re.search(r"(?<![^\W_])" + re.escape(fold(n)) + r"(?![^\W_])", folded)}


def found_by_counter(pieces):
    counter = FactCounter([(n, n) for n in NAMES])  # a pair (n, n) counts iff n is found
    counter.add_pieces(pieces)
    return {n for n, c in zip(NAMES, counter.counts) if c}


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=60), st.integers(1, 9))
def test_any_cut_into_pieces_finds_what_the_whole_text_and_a_regex_find(text, size):
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    assert found_by_counter(pieces) == found_by_counter([text]) == reference_found(text)


def test_a_file_far_larger_than_the_buffers_streams_in_bounded_pieces(tmp_path, monkeypatch):
    """One 3 MB line (no newline to stop at) read with 256-character pieces: no read and no scanned window is
    larger than a piece plus the overlap, and the counts match a count over the text held whole."""
    rng = random.Random(0)
    words = ["filler", "Paris", "France", "Tokyo", "Japan", "Parisian", "Osaka"]
    text = " ".join(rng.choice(words) for _ in range(450_000))  # ~3 MB, names cut at every piece boundary
    path = write_text(tmp_path / "big.txt", text)
    chunk = 256
    reads, windows = [], []
    real_readline, real_scan = corpus_mod._Reader.readline, FactCounter._scan
    monkeypatch.setattr(
        corpus_mod._Reader,
        "readline",
        lambda self, limit=None: reads.append(len(piece := real_readline(self, limit))) or piece,
    )
    monkeypatch.setattr(FactCounter, "_scan", lambda self, w, *a: windows.append(len(w)) or real_scan(self, w, *a))
    facts = [("Paris", "France"), ("Tokyo", "Osaka"), ("Parisian", "Japan"), ("Kyoto", "Japan")]
    for document in ("file", "line"):
        reads.clear()
        windows.clear()
        counts, stats = count_facts(facts, path, document=document, chunk_bytes=chunk)
        assert counts == [1, 1, 1, 0] and stats.documents == 1
        assert max(reads) <= chunk and len(reads) > len(text) // chunk
        assert max(windows) <= chunk + len("parisian") + 1
    whole = FactCounter(facts)
    whole.add_text(text)
    assert whole.counts == [1, 1, 1, 0]


def test_many_documents_stream_with_counts_matching_a_direct_count(tmp_path):
    rng = random.Random(1)
    paragraphs = [
        " ".join(rng.choice(["Paris", "France", "Tokyo", "Japan", "x"]) for _ in range(rng.randint(1, 6)))
        for _ in range(3000)
    ]
    path = write_text(tmp_path / "many.txt.gz", "\n\n".join(paragraphs))
    counts, stats = count_facts([("Paris", "France"), ("Tokyo", "Japan")], path, chunk_bytes=7)
    expected = [
        sum({"Paris", "France"} <= set(p.split()) for p in paragraphs),
        sum({"Tokyo", "Japan"} <= set(p.split()) for p in paragraphs),
    ]
    assert counts == expected and stats.documents == 3000


# --------------------------------------------------------------------- errors


def test_bad_corpora_are_named_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Paris France\nok\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"bad.txt, line 3: not UTF-8"):
        count_facts(FACTS, bad)
    jsonl = write_text(tmp_path / "c.jsonl", '{"text": "a"}\n{"body": "Paris France"}\n')
    with pytest.raises(DataError, match=r"c.jsonl, line 2: no text field 'text' \(found 'body'\)"):
        count_facts(FACTS, jsonl)
    body = write_text(tmp_path / "d.jsonl", '{"body": "Paris, France"}\n')
    assert count_facts(FACTS, body, text_field="body")[0][0] == 1
    for content, message in (
        ('{"text": "a"}\n{"text": ', r"line 2: not valid JSON"),
        ('{"text": 3}\n', r"line 1: field 'text' is int, not a string"),
        ('["Paris"]\n', r"line 1: no text field 'text' \(found list\)"),
    ):
        with pytest.raises(DataError, match=message):
            count_facts(FACTS, write_text(tmp_path / "e.jsonl", content))
    with pytest.raises(DataError, match=r"line 2: a record longer than 14 bytes"):
        count_facts(
            FACTS, write_text(tmp_path / "f.jsonl", '{"text":""}\n{"text": "Paris France"}\n'), max_record_bytes=14
        )
    truncated = tmp_path / "t.txt.gz"
    rng = random.Random(2)
    payload = "\n".join(
        " ".join(rng.choice(["Paris", "France", "x", "y"]) for _ in range(20)) for _ in range(500)
    ).encode()
    truncated.write_bytes(gzip.compress(payload)[:-100])
    with pytest.raises(DataError, match=r"t.txt.gz, line \d+: cannot read"):
        count_facts(FACTS, truncated)


def test_bad_corpus_paths_and_options_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        corpus_files(tmp_path / "missing")
    with pytest.raises(InputError, match="unknown type"):
        corpus_files(write_text(tmp_path / "c.csv", "Paris,France"))
    with pytest.raises(InputError, match="no .txt"):
        corpus_files(tmp_path)
    with pytest.raises(InputError, match="document must be one of"):
        count_facts(FACTS, write_text(tmp_path / "c.txt", "x"), document="page")

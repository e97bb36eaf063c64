"""The per-fact counts CSV: round trip, tolerated variations, and one clear error per kind of bad file."""

import pandas as pd
import pytest

from relneurons.data import load_relations
from relneurons.data.fact_counts import count_relations, read_counts, write_counts
from relneurons.errors import DataError


def csv(tmp_path, text, name="counts.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_round_trip_keeps_quoted_names_unicode_and_counts(tmp_path):
    table = pd.DataFrame(
        {
            "relation": ["company_hq", "star_constellation"],
            "subject": ['Foo, Inc. "X"', "天狼星"],
            "object": ["Paris", "Canis Major"],
            "count": [12, 0],
        }
    )
    write_counts(tmp_path / "c.csv", table)
    back = read_counts(tmp_path / "c.csv")
    pd.testing.assert_frame_equal(back, table.astype({"count": "int64"}))


def test_extra_columns_any_order_a_bom_and_blank_lines_are_fine(tmp_path):
    path = csv(
        tmp_path,
        "\ufeffcount,source,object,subject,relation\n 7 ,dolma,France,Paris,capital\n\n3,x,Japan,Tokyo,capital\n",
    )
    back = read_counts(path)
    assert back.to_dict("records") == [
        {"relation": "capital", "subject": "Paris", "object": "France", "count": 7},
        {"relation": "capital", "subject": "Tokyo", "object": "Japan", "count": 3},
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("relation,subject,count\nr,s,1\n", r"line 1: missing column\(s\) object"),
        ("relation,subject,object,count\nr,s,o,1\nr,s,o2,2.5\n", r"line 3: count '2.5' is not a non-negative integer"),
        ("relation,subject,object,count\nr,s,o,-1\n", r"line 2: count '-1' is not a non-negative integer"),
        ("relation,subject,object,count\nr,s,o,\n", r"line 2: count '' is not a non-negative integer"),
        (
            "relation,subject,object,count\nr,s,o,1\nq,s,o,1\nr,s,o,4\n",
            r"line 4: duplicate fact \('r', 's', 'o'\) \(first on line 2\)",
        ),
        ("relation,subject,object,count\nr,,o,1\n", r"line 2: empty subject"),
        ("relation,subject,object,count\nr,s,o,1,extra\n", r"line 2: 5 fields, the header has 4"),
        ("", r"empty file"),
    ],
)
def test_bad_files_name_the_file_line_and_fix(tmp_path, text, message):
    path = csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as info:
        read_counts(path)
    assert str(path) in str(info.value)


def test_non_utf8_is_named_with_its_line(tmp_path):
    path = csv(tmp_path, "relation,subject,object,count\nr,Zürich,CH,1\nr,Genève,CH,2\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"counts.csv, line 2: not UTF-8"):
        read_counts(path)


def test_a_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(DataError, match="relneurons frequency count"):
        read_counts(tmp_path / "nope.csv")


def test_count_relations_counts_every_distinct_fact_of_the_relations(tmp_path, lre_dir):
    relations = load_relations(["star_constellation"], lre_dir)
    facts = {(s.subject, s.object) for s in relations[0].samples}
    subject, obj = sorted(facts)[0]
    (tmp_path / "c.txt").write_text(f"{subject.upper()} lies in {obj}.\n\n{subject} alone.\n")
    table, stats = count_relations(relations, tmp_path / "c.txt")
    assert len(table) == len(facts) and set(table["relation"]) == {"star_constellation"}
    hit = table[(table["subject"] == subject) & (table["object"] == obj)]["count"]
    assert hit.tolist() == [1] and stats.documents == 2

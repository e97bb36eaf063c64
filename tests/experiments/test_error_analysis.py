"""Error categories on hand-written generations (experiments/error_analysis.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from relneurons.errors import InputError
from relneurons.experiments import ERROR_CATEGORIES, ERROR_TABLE_COLUMNS, classify_error, error_table, error_table_wide

CEO = "Panasonic Corporation's CEO is? Answer:"
HQ = "Pagan Federation is headquartered in the city of? Answer:"
POS = "Damon Huard plays in the position of a? Answer:"
COUNTRY = "Namba Station is in the country of? Answer:"


@pytest.mark.parametrize(
    ("prompt", "generation", "expected"),
    [
        # the paper's Tables 4, 5, 6 (20-token regenerations)
        (CEO, "Panasonic Corporation's CEO is:\nPanasonic Corporation's CEO", "repeats_prompt"),
        (
            HQ,
            "The Pagan Federation is a British organisation that represents the interests of Pagans and other Ne",
            "starts_with_the",
        ),
        (POS, "A.\nDamon Huard plays in the position of a?\nAnswer: A.", "starts_with_a"),
        # leading whitespace is ignored; "The" is a whole, case-sensitive word
        (HQ, "  \n The river Thames", "starts_with_the"),
        (HQ, "the river Thames", "other"),
        (HQ, "Theodore Roosevelt was", "other"),
        (HQ, "Then he moved", "other"),
        # "A." is the option label, not the article
        (POS, " A. B. C.", "starts_with_a"),
        (POS, "A football player", "other"),
        (POS, "a. quarterback", "other"),
        # repeats: first three words, case-insensitive
        (CEO, "PANASONIC CORPORATION'S CEO", "repeats_prompt"),
        (CEO, "Panasonic Corporation's", "repeats_prompt"),  # two-word generation: both words
        (CEO, "Panasonic", "other"),  # one shared word is not a repeat
        # a prompt that starts with "The", echoed: a repeat, not a "The" answer
        (
            "The headquarters of Cadillac are in the city of? Answer:",
            "The headquarters of Cadillac are in the city of Detroit",
            "repeats_prompt",
        ),
        # 60% rule: 28 of 32 word characters lie in runs shared with the prompt
        (COUNTRY, "Well, Namba Station is in the country of", "repeats_prompt"),
        # 12 of 25 characters (namba station) shared: 48% < 60%
        (COUNTRY, "Osaka Japan and Namba Station", "other"),
        (COUNTRY, "", "other"),
        (COUNTRY, "Japan", "other"),
    ],
)
def test_classify_error(prompt, generation, expected):
    assert classify_error(prompt, generation) == expected


def test_classify_error_rejects_non_strings():
    with pytest.raises(InputError):
        classify_error(CEO, None)  # type: ignore[arg-type]


def test_error_table_percentages_and_examples():
    df = pd.DataFrame(
        [
            ("company_hq", HQ, "Pagan Federation is headquartered in London"),  # repeat
            ("company_hq", HQ, "The Pagan Federation is a British organisation"),  # The
            ("company_hq", HQ, "Pagan Federation is headquartered in the city"),  # repeat
            ("company_hq", HQ, "Birmingham"),  # other
            ("person_sport_position", POS, "A.\nDamon Huard"),  # A.
        ],
        columns=["relation", "prompt", "generation"],
    )
    table = error_table(df)
    assert list(table.columns) == ERROR_TABLE_COLUMNS
    assert table[["relation", "category", "count", "total"]].values.tolist() == [
        ["company_hq", "repeats_prompt", 2, 4],
        ["company_hq", "starts_with_the", 1, 4],
        ["company_hq", "starts_with_a", 0, 4],
        ["company_hq", "other", 1, 4],
        ["person_sport_position", "repeats_prompt", 0, 1],
        ["person_sport_position", "starts_with_the", 0, 1],
        ["person_sport_position", "starts_with_a", 1, 1],
        ["person_sport_position", "other", 0, 1],
    ]
    assert table["percent"].tolist() == pytest.approx([50, 25, 0, 25, 0, 0, 100, 0])
    first = table.iloc[0]
    assert [first.example_1, first.example_2] == [
        "Pagan Federation is headquartered in London",
        "Pagan Federation is headquartered in the city",
    ]
    assert pd.isna(first.example_3)
    assert table.loc[2, ["example_1", "example_2", "example_3"]].isna().all()
    assert table.loc[1, "example_1"] == "The Pagan Federation is a British organisation"

    wide = error_table_wide(table)
    assert list(wide.columns) == ["relation", *ERROR_CATEGORIES, "total"]
    assert wide["relation"].tolist() == ["company_hq", "person_sport_position"]
    assert wide.iloc[0][list(ERROR_CATEGORIES)].tolist() == pytest.approx([50, 25, 0, 25])
    assert wide["total"].tolist() == [4, 1]


def test_error_table_missing_columns():
    with pytest.raises(InputError, match="generation"):
        error_table(pd.DataFrame({"relation": ["r"], "prompt": ["p"]}))

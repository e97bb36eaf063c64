"""Correctness rules: hand-written cases for 'paper' and 'robust'."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relneurons.data import RULES, is_correct
from relneurons.errors import ConfigError, InputError

PAPER_CASES = [
    # (generated, object, expected)
    (" Paris", "Paris", True),
    ("Paris", "Paris", True),
    ("Jap", "Japan", True),
    ("\nA", "Asia", True),  # the junk the literal rule accepts (paper §2.1; docs/method.md)
    ("Paris is", "Paris", False),  # longer than the object: not a prefix
    ("paris", "Paris", False),  # case-sensitive
    ("Paris.", "Paris", False),  # punctuation counts
    ("Japanese", "Japan", False),
    ("", "Paris", False),  # empty generation counts as wrong
    (" \n ", "Paris", False),
    ("USA", ["United States", "USA"], True),
    ("Japanese", ["Japan", "Nippon"], False),
    ("東京", "東京都", True),
]

ROBUST_CASES = [
    # the SPEC examples
    ("Paris is", "Paris", True),
    ("Japanese", "Japan", False),
    ("\nA", "Asia", False),
    ("東京都", "東京", True),
    # whitespace, case, width
    (" Paris", "Paris", True),
    ("\n\nparis", "Paris", True),
    ("PARIS", "Paris", True),
    ("ＰＡＲＩＳ", "Paris", True),  # full-width, folded by NFKC
    ("Straße", "STRASSE", True),  # casefold
    ("Bon Jovi", "Bon Jovi ", True),  # stray space in the LRE object
    # trailing punctuation of the generation
    ("Paris.", "Paris", True),
    ('Paris!"', "Paris", True),
    ("Paris, France", "Paris", True),
    ("Tokyo-based", "Tokyo", True),  # '-' is a word boundary
    ('"Paris', "Paris", False),  # only trailing punctuation is ignored
    # prefixes and the length floor min(3, len(object))
    ("Asi", "Asia", True),
    ("As", "Asia", False),
    ("St.", "St. Louis", False),  # 'st' is too short
    ("St. L", "St. Louis", True),
    ("Parisian", "Paris", False),
    ("Lyon", "Paris", False),
    ("", "Paris", False),
    ("...", "Paris", False),
    ("19467", "1946", False),
    ("1946 in", "1946", True),
    # short objects
    ("EU", "EU", True),
    ("eu.", "EU", True),
    ("E", "EU", False),
    ("EUR", "EU", False),
    ("EU member", "EU", True),
    ("A", "A", True),
    ("a,", "A", True),
    ("An", "A", False),
    ("B", "A", False),
    ("A.", "A.", True),  # the exact answer is right even if it ends in punctuation
    ("Inc", "Inc.", True),
    # aliases
    ("USA", ["United States", "USA"], True),
    ("united", ["United States", "USA"], True),
    ("Japanese", ["Japan", "Nippon"], False),
    # scripts without spaces
    ("北京市", "北京", True),
    ("北京", "北京", True),
    ("北", "北京", False),  # 1 character < min(3, 2)
    ("東京", "東京都", False),  # 2 characters < min(3, 3)
    ("ドイツ語です", "ドイツ語", True),
    ("ドイ", "ドイツ語", False),
    ("กรุงเทพมหานคร", "กรุงเทพ", True),  # Thai
]


@pytest.mark.parametrize(("generated", "obj", "expected"), PAPER_CASES)
def test_paper_rule(generated, obj, expected):
    assert is_correct(generated, obj, rule="paper") is expected


@pytest.mark.parametrize(("generated", "obj", "expected"), ROBUST_CASES)
def test_robust_rule(generated, obj, expected):
    assert is_correct(generated, obj, rule="robust") is expected


def test_robust_is_the_default():
    assert RULES[0] == "robust"
    assert is_correct("Paris is", "Paris") is True
    assert is_correct("\nA", "Asia") is False


def test_unknown_rule():
    with pytest.raises(ConfigError, match=r"unknown correctness rule 'papr' \(did you mean 'paper'\?\).*robust, paper"):
        is_correct("Paris", "Paris", rule="papr")


@pytest.mark.parametrize(("generated", "obj"), [("Paris", []), (None, "Paris"), ("Paris", ["Paris", 3])])
def test_bad_inputs(generated, obj):
    with pytest.raises(InputError):
        is_correct(generated, obj)


words = st.text(alphabet=st.characters(categories=["Lu", "Ll", "Nd"]), min_size=1, max_size=12)


@given(words)
def test_exact_answer_is_right_under_both_rules(word):
    assert is_correct(word, word, rule="paper")
    assert is_correct(word, word, rule="robust")


@given(words, words)
def test_object_then_new_word_is_right(obj, rest):
    assert is_correct(f"{obj} {rest}", obj)

"""Is a 2-token generation a correct answer? (§2.1 step 3; docs/method.md)

The paper counts a generation correct when it is a prefix of the object. Taken
literally that accepts junk (``"\\nA"`` is a "prefix" of ``"Asia"``), so the
default rule, "robust", normalises both sides and asks for a real match; the
literal rule stays available as "paper" so reports can say which was used.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from relneurons.errors import ConfigError, InputError, did_you_mean

__all__ = ["RULES", "is_correct", "normalise"]

#: Correctness rules, default first.
RULES = ("robust", "paper")

#: Unicode-name prefixes of scripts written without spaces between words; after an
#: object in one of these, any continuation may be the next word (東京都 for 東京).
_NO_SPACE_SCRIPTS = (
    "CJK ",
    "IDEOGRAPHIC",
    "HIRAGANA",
    "KATAKANA",
    "THAI",
    "LAO ",
    "KHMER",
    "MYANMAR",
    "TIBETAN",
    "YI ",
)
_MIN_LEN = 3


def normalise(text: str) -> str:
    """NFKC + casefold + strip, so that width, case and spacing do not matter."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _strip_trailing_punct(text: str) -> str:
    """Drop trailing punctuation (and whitespace around it): ``"Paris ."`` -> ``"Paris"``."""
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[:end]


def _no_space_script(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_NO_SPACE_SCRIPTS)


def _word_char(char: str) -> bool:
    """Letters, digits and combining marks continue a word; anything else ends it."""
    return char.isalnum() or unicodedata.category(char).startswith("M")


def _paper(generated: str, obj: str) -> bool:
    gen = generated.strip()
    return bool(gen) and obj.startswith(gen)


def _robust(generated: str, obj: str) -> bool:
    full, target = normalise(generated), normalise(obj)
    if target and full == target:  # the exact answer, even one ending in punctuation ("A.")
        return True
    gen = _strip_trailing_punct(full)
    core = _strip_trailing_punct(target)  # "Inc." needs 3 characters, not 4
    if not core or len(gen) < min(_MIN_LEN, len(core)):
        return False
    if target.startswith(gen):
        return True
    if not gen.startswith(target):
        return False
    rest = gen[len(target) :]
    return not _word_char(rest[0]) or _no_space_script(target[-1])


def is_correct(generated: str, obj: str | Sequence[str], rule: str = "robust") -> bool:
    """Whether ``generated`` answers with ``obj`` (or any of several aliases).

    Rules:

    - ``"paper"``: the literal rule of the paper, ``obj.startswith(generated.strip())``,
      case-sensitive. An empty (or all-whitespace) generation counts as wrong:
      the empty string is a prefix of every object, so counting it would make a
      model that emits only newlines look perfect.
    - ``"robust"`` (default): both sides NFKC-normalised, case-folded and
      stripped, trailing punctuation of the generation dropped; the generation
      must be at least ``min(3, len(object))`` characters; correct iff the
      object starts with it, or it starts with the object followed by a word
      boundary (``"Paris is"`` right for ``"Paris"``, ``"Japanese"`` wrong for
      ``"Japan"``), or it starts with an object whose last character is of a
      script written without spaces (``"東京都"`` right for ``"東京"``).
    """
    if rule not in RULES:
        raise ConfigError(
            f"unknown correctness rule {rule!r}{did_you_mean(rule, RULES)}; choose one of {', '.join(RULES)}"
        )
    if not isinstance(generated, str):
        raise InputError(f"generated must be a string, got {type(generated).__name__}")
    aliases = [obj] if isinstance(obj, str) else list(obj)
    if not aliases or not all(isinstance(a, str) for a in aliases):
        raise InputError(f"obj must be a string or a non-empty list of strings, got {obj!r}")
    check = _paper if rule == "paper" else _robust
    return any(check(generated, alias) for alias in aliases)

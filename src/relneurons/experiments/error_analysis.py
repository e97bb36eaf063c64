"""Error analysis of prompts broken by deactivation (paper App. J, Tables 3-6).

The paper regenerates 20 tokens for prompts answered correctly by the original
model and wrongly with the relation's neurons off, and sorts the answers into
"Repeat Prompt", "Answer with 'The'", "Answer with 'A.'" (its Tables 4-6 show
one example each, classified by how the answer *starts*: "[Pan]asonic
Corporation's CEO is:...", "[The] Pagan Federation is a British ...",
"[A.]\\nDamon Huard plays in the position of a?..."). The paper did this by
hand; here the rule is explicit. On the generation with leading whitespace
removed, the first rule that holds wins:

1. ``starts_with_a``: it starts with the two characters ``A.`` (capital A, then
   a full stop), the multiple-choice option label of the paper's Table 6. The
   article "A" ("A football player") is *not* this category. Checked first
   because the paper's own "A." example goes on to repeat the prompt.
2. ``repeats_prompt``: with words = maximal runs of letters/digits (apostrophe
   joins, as in "Corporation's") compared case-insensitively, either
   (a) its first three words (all of them if it has exactly two) occur as
       consecutive words of the prompt, or
   (b) at least 60% of its word characters lie in runs of >= 2 consecutive
       words that also occur consecutively in the prompt.
   Checked before "The" so that echoing a prompt that itself begins with
   "The" (e.g. "The headquarters of Cadillac are ...") counts as a repeat.
3. ``starts_with_the``: its first word is exactly ``The`` (case-sensitive, as
   in the paper; "Then", "Theo" and "the" are not).
4. ``other``.
"""

from __future__ import annotations

import re

import pandas as pd

from relneurons.errors import InputError

__all__ = [
    "ERROR_CATEGORIES",
    "ERROR_TABLE_COLUMNS",
    "classify_error",
    "error_table",
    "error_table_wide",
]

#: The categories, in Table 3's column order, then "other".
ERROR_CATEGORIES = ("repeats_prompt", "starts_with_the", "starts_with_a", "other")

#: Columns of `error_table` (one row per relation and category).
ERROR_TABLE_COLUMNS = ["relation", "category", "count", "total", "percent", "example_1", "example_2", "example_3"]

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")
_THE = re.compile(r"The(?!\w)")
#: Words at the start that must match for rule 2(a), and the character share for 2(b).
_LEAD_WORDS = 3
_COVER_SHARE = 0.6


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _repeats_prompt(prompt_words: list[str], gen_words: list[str]) -> bool:
    if len(gen_words) >= 2:
        lead = tuple(gen_words[:_LEAD_WORDS])
        if lead in _ngrams(prompt_words, len(lead)):
            return True
    total_chars = sum(len(w) for w in gen_words)
    if total_chars == 0:
        return False
    bigrams = _ngrams(prompt_words, 2)
    covered = [False] * len(gen_words)
    for i in range(len(gen_words) - 1):
        if (gen_words[i], gen_words[i + 1]) in bigrams:
            covered[i] = covered[i + 1] = True
    share = sum(len(w) for w, c in zip(gen_words, covered) if c) / total_chars
    return share >= _COVER_SHARE


def classify_error(prompt: str, generation: str) -> str:
    """Category of a wrong answer: one of ERROR_CATEGORIES (rule in the module docstring)."""
    if not isinstance(prompt, str) or not isinstance(generation, str):
        raise InputError("prompt and generation must be strings")
    gen = generation.lstrip()
    if gen.startswith("A."):
        return "starts_with_a"
    if _repeats_prompt(_words(prompt), _words(gen)):
        return "repeats_prompt"
    if _THE.match(gen):
        return "starts_with_the"
    return "other"


def error_table(df: pd.DataFrame) -> pd.DataFrame:
    """Table 3 in long form: share of each error category per relation, with examples.

    Input columns: relation, prompt, generation (one row per broken prompt).
    Output ERROR_TABLE_COLUMNS: every relation (first-appearance order) x every
    category of ERROR_CATEGORIES, count, total (broken prompts of the
    relation), percent = 100 * count / total, and example_1..example_3 = the
    first generations of that category in input order (missing, i.e.
    `pandas.isna`, when there are fewer).
    """
    missing = {"relation", "prompt", "generation"} - set(df.columns)
    if missing:
        raise InputError(f"error table input lacks columns {sorted(missing)}")
    cats = [classify_error(p, g) for p, g in zip(df["prompt"], df["generation"])]
    work = pd.DataFrame(
        {"relation": df["relation"].to_numpy(), "category": cats, "generation": df["generation"].to_numpy()}
    )
    rows = []
    for relation, part in work.groupby("relation", sort=False):
        total = len(part)
        for cat in ERROR_CATEGORIES:
            gens = part.loc[part["category"] == cat, "generation"].tolist()
            examples = (gens + [None] * 3)[:3]
            rows.append((relation, cat, len(gens), total, 100.0 * len(gens) / total, *examples))
    return pd.DataFrame(rows, columns=ERROR_TABLE_COLUMNS)


def error_table_wide(table: pd.DataFrame) -> pd.DataFrame:
    """Table 3's layout: relation, one percent column per category, total."""
    wide = table.pivot(index="relation", columns="category", values="percent")
    order = list(dict.fromkeys(table["relation"]))
    wide = wide.reindex(index=order, columns=list(ERROR_CATEGORIES))
    totals = table.drop_duplicates("relation").set_index("relation")["total"].reindex(order)
    wide["total"] = totals.astype(int)
    wide.columns.name = None
    return wide.reset_index()

"""`relneurons calibrate`: which prompt style lets a model answer, before a whole study is spent on it.

The paper's style ("<template>? Answer:", the LRE `prompt_templates`, the
tokenizer's BOS) suits the models of the paper; others answer it with a new
line (SmolLM2-135M validates 0% of P_det with it, so every relation is
skipped). A style is (suffix, template set, BOS, chat); calibration validates a
small seeded sample of P_det prompts per relation under every style, with the
model loaded once, and reports each style's validation rate. An instruct model
is also asked in its own format when its tokenizer has a chat template: the
filled template (suffix "" or the paper's) is the user turn and the answer
starts in the assistant turn (model/tokenization.py, docs/method.md). A style is
four configuration keys (`Style.overrides`), all part of the store identity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd

from ..activations.config import CollectConfig
from ..data import (
    DEFAULT_SUFFIX,
    PAPER_RELATIONS,
    build_prompts,
    is_correct,
    load_relations,
    resolve_data_dir,
    select_templates,
    split,
)
from ..data.splits import relation_rng
from ..errors import ConfigError

SUFFIXES = (DEFAULT_SUFFIX, " ", "", ":")
TEMPLATE_SETS = ("standard", "zs")  # the LRE prompt_templates (the paper's P_det) and prompt_templates_zs
BOS_CHOICES = ("always", "never")
CHAT_SUFFIXES = ("", DEFAULT_SUFFIX)  # the user turn: the relation prompt without, and with, the paper's answer cue


@dataclass(frozen=True)
class Style:
    """How a prompt is written: suffix after the filled template, template set, BOS token, and whether the result is
    the user turn of the model's chat template (the template then writes the BOS: bos "auto")."""

    suffix: str = DEFAULT_SUFFIX
    templates: str = "standard"
    bos: str = "auto"
    chat: bool = False

    def overrides(self) -> list[str]:
        """The `relneurons run --set` overrides that select this style."""
        return [
            f"data.suffix={json.dumps(self.suffix)}",
            f"data.templates={json.dumps(self.templates)}",
            f"data.bos={json.dumps(self.bos)}",
            f"data.chat={json.dumps(self.chat)}",
        ]

    def describe(self) -> str:
        if self.chat:
            return f"chat template (user turn: templates {self.templates}, suffix {self.suffix!r})"
        return f"suffix {self.suffix!r}, templates {self.templates}, BOS {self.bos}"


PAPER_STYLE = Style()


def styles(
    suffixes: Sequence[str] = SUFFIXES, template_sets: Sequence[str] = TEMPLATE_SETS, bos: Sequence[str] = BOS_CHOICES
) -> list[Style]:
    """Every combination of plain prompts, the paper's suffix first, then the chat styles (`chat_styles`)."""
    return [Style(s, t, b) for s, t, b in product(suffixes, template_sets, bos)] + chat_styles(
        template_sets=template_sets
    )


def chat_styles(suffixes: Sequence[str] = CHAT_SUFFIXES, template_sets: Sequence[str] = TEMPLATE_SETS) -> list[Style]:
    """The prompt as the user turn of the model's chat template, for every suffix and template set."""
    return [Style(s, t, "auto", True) for s, t in product(suffixes, template_sets)]


def calibration_prompts(
    data_dir=None,
    relations: Sequence[str] | None = None,
    n: int = 20,
    seed: int = 0,
    n_eval: int = CollectConfig.n_eval,
    template_set: str = "standard",
    suffix: str = DEFAULT_SUFFIX,
) -> pd.DataFrame:
    """A seeded sample of at most `n` P_det prompts per relation (one template drawn per sampled triple).

    The triples and template positions depend on the seed and relation only, so every
    suffix and BOS setting is measured on the same triples.
    """
    if n < 1:
        raise ConfigError(f"option n (prompts per relation) must be >= 1, got {n}")
    rows = []
    for relation in load_relations(tuple(relations or PAPER_RELATIONS), resolve_data_dir(data_dir)):
        _, det = split(relation, n_eval=n_eval, seed=seed)
        rng = relation_rng(seed, relation.name)
        chosen = np.sort(rng.choice(len(det), min(n, len(det)), replace=False)) if det else []
        draws = rng.random(len(chosen))
        if not select_templates_or_none(relation, template_set):
            continue  # the relation has no template of this set
        for i, u in zip(chosen, draws):
            options = build_prompts(relation, [det[i]], template_set, suffix)
            prompt = options[int(u * len(options))]
            rows.append(
                {"relation": relation.name, "subject": prompt.subject, "object": prompt.object, "text": prompt.text}
            )
    return pd.DataFrame(rows, columns=["relation", "subject", "object", "text"])


def select_templates_or_none(relation, template_set: str) -> list[str]:
    try:
        return select_templates(relation, template_set)
    except ConfigError:
        return []


def calibrate(
    model: str,
    data_dir=None,
    *,
    relations: Sequence[str] | None = None,
    n: int = 20,
    seed: int = 0,
    n_eval: int = CollectConfig.n_eval,
    candidates: Sequence[Style] | None = None,
    rule: str = CollectConfig.rule,
    dtype: str | None = None,
    device: str | None = None,
    max_new_tokens: int = CollectConfig.max_new_tokens,
    batch_size: int = CollectConfig.batch_size,
    loaded=None,
    echo=print,
) -> pd.DataFrame:
    """Validation rate of every prompt style on `n` seeded P_det prompts per relation; the model is loaded once.

    Returns one row per style (suffix, templates, bos, chat, n_prompts, n_correct, rate,
    relations_nonzero: relations with at least one validated prompt), best rate first,
    and prints it as a table through `echo` (None: silent), with one line on why the chat
    styles were not tried when they were not. `loaded` = (model, tokenizer) reuses a
    model already in memory.
    """
    from ..errors import DataError
    from ..model.generation import greedy_generate
    from ..model.loading import load_model
    from ..model.tokenization import has_chat_template, make_policy

    candidates = list(candidates or styles())
    # every input is read and checked before the model loads (a bad relation file fails in a second, not after it)
    prompt_sets = {
        (s.templates, s.suffix): calibration_prompts(
            data_dir, relations, n, seed, n_eval, template_set=s.templates, suffix=s.suffix
        )
        for s in candidates
    }
    if not any(len(p) for p in prompt_sets.values()):
        raise ConfigError(
            "no relation has a template of any prompt style tried (prompt_templates or prompt_templates_zs): "
            "check the relation files' templates"
        )
    lm, tokenizer = loaded or load_model(model, dtype, device)
    model_type = getattr(lm.config, "model_type", "")
    if tokenizer.bos_token_id is None:  # no BOS to add: "always" cannot be tried
        candidates = [s for s in candidates if s.bos != "always"]
    skipped = None  # why the chat styles were not tried
    if any(s.chat for s in candidates) and not has_chat_template(tokenizer):
        skipped = "this model's tokenizer has no chat template (a base model?)"
    rows = []
    for style in candidates:
        if style.chat and skipped:
            continue
        prompts = prompt_sets[style.templates, style.suffix]
        try:
            policy = make_policy(tokenizer, model_type, style.bos, chat=style.chat)
            generated = greedy_generate(
                lm, tokenizer, prompts["text"].tolist(), max_new_tokens, batch_size=batch_size, policy=policy
            )
        except (ConfigError, DataError) as exc:
            if not style.chat:
                raise
            skipped = str(exc)  # the template cannot frame these prompts (tokenization.chat_frame, chat_texts)
            continue
        correct = np.array([is_correct(g, o, rule) for g, o in zip(generated, prompts["object"])], dtype=bool)
        per_relation = pd.Series(correct).groupby(prompts["relation"].to_numpy()).sum()
        rows.append(
            {
                "suffix": style.suffix,
                "templates": style.templates,
                "bos": style.bos,
                "chat": style.chat,
                "n_prompts": len(correct),
                "n_correct": int(correct.sum()),
                "rate": float(correct.mean()) if len(correct) else 0.0,
                "relations_nonzero": int((per_relation > 0).sum()),
            }
        )
    table = (
        pd.DataFrame(rows)
        .sort_values(["rate", "relations_nonzero"], ascending=False, kind="stable")
        .reset_index(drop=True)
    )
    if echo is not None:
        echo(format_table(table, model))
        if skipped:
            echo(f"chat styles left out: {skipped}")
    return table


def format_table(table: pd.DataFrame, model: str) -> str:
    lines = [
        f"validation rate of each prompt style on {model} (best first):",
        f"  {'suffix':12s} {'templates':9s} {'bos':6s} {'chat':4s} {'rate':>6s} {'correct':>9s} {'relations':>9s}",
    ]
    for row in table.itertuples(index=False):
        chat = "yes" if getattr(row, "chat", False) else "no"
        lines.append(
            f"  {json.dumps(row.suffix):12s} {row.templates:9s} {row.bos:6s} {chat:4s} {row.rate:6.1%} "
            f"{row.n_correct:4d}/{row.n_prompts:<4d} {row.relations_nonzero:9d}"
        )
    return "\n".join(lines)


def best_style(table: pd.DataFrame) -> Style | None:
    """The style with the highest validation rate (None when no style validates any prompt)."""
    if table.empty or table["rate"].iloc[0] <= 0:
        return None
    top = table.iloc[0]
    return Style(top["suffix"], top["templates"], top["bos"], bool(top.get("chat", False)))


def no_survivors_error(
    model: str,
    used: Style,
    validated: int,
    total: int,
    min_positives: int,
    *,
    data_dir=None,
    relations: Sequence[str] | None = None,
    seed: int = 0,
    n: int = 10,
    calibrate_now: bool = True,
    **options,
) -> str:
    """The one-line message of a run in which no relation has `min_positives` validated prompts: which style would work.

    With `calibrate_now`, a quick calibration (n prompts per relation) names the best style and
    its --set overrides; otherwise, and when no style validates anything, it names the command.
    """
    head = (
        f"no relation survived validation: {validated} of {total} P_det prompts were answered correctly with the style "
        f"{used.describe()} (each relation needs min_positives = {min_positives})"
    )
    command = f"`relneurons calibrate --model {model}`"
    if not calibrate_now:
        return (
            f"{head}; run {command} to see which prompt style this model answers, then rerun with its --set overrides"
        )
    table = calibrate(model, data_dir, relations=relations, n=n, seed=seed, echo=None, **options)
    best = best_style(table)
    if best is None:
        return (
            f"{head}; no prompt style of {command} validated any of {int(table['n_prompts'].max())} sampled prompts per style, "
            "so this model may not know these facts (try a larger model)"
        )
    rate = table["rate"].iloc[0]
    return (
        f"{head}; the style {best.describe()} validates {rate:.0%} of a {n}-prompt sample per relation: rerun with "
        + " ".join(f"--set '{o}'" for o in best.overrides())
        + f" (all styles: {command})"
    )

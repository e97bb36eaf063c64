"""Condition names: what a generation was made under, as the cache of generations keys it.

A condition is written `original`, `rel:<relation>:<lo>-<hi>` (the relation's neurons of rank lo+1..hi off),
`random:<seed>:<k>` (k random neurons of the set, drawn with that seed), `ids:<label>:<hash>` (explicit neurons) or
`forced:<label>:<hash>` (explicit neurons forced to explicit values). Those strings are the keys of every
results/generations.parquet written so far, so they are built and read here only, and `str(ConditionName.parse(s))
== s` for each of them: a cache made by an earlier version stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConditionName"]

KINDS = ("original", "rel", "random", "ids", "forced")
#: The kind as tables name it (a relation's own neurons are the "relation" condition).
_KIND_NAMES = {"rel": "relation"}


@dataclass(frozen=True)
class ConditionName:
    """A parsed condition name: its kind and its two fields (relation and rank range, seed and size, label and
    hash); `str()` gives the name back."""

    kind: str
    label: str = ""  # relation (rel), seed (random), label (ids, forced)
    detail: str = ""  # "lo-hi" (rel), k (random), hash (ids, forced)

    @classmethod
    def relation(cls, relation: str, lo: int, hi: int) -> ConditionName:
        return cls("rel", relation, f"{lo}-{hi}")

    @classmethod
    def random(cls, seed: int, k: int) -> ConditionName:
        return cls("random", str(seed), str(k))

    @classmethod
    def parse(cls, name: str) -> ConditionName:
        """The condition a name stands for; ValueError naming it when it is none of the documented forms."""
        if name == "original":
            return cls("original")
        parts = name.split(":")
        if len(parts) != 3 or parts[0] not in KINDS[1:] or not all(parts[1:]):
            raise ValueError(f"{name!r} is not a condition name (original, rel:R:LO-HI, random:SEED:K, ids:L:H, ...)")
        parsed = cls(*parts)
        if parsed.kind == "rel":
            _ = parsed.ranks  # checks LO-HI
        if parsed.kind == "random" and not (parsed.label.isdigit() and parsed.detail.isdigit()):
            raise ValueError(f"{name!r}: a random condition is random:SEED:K with whole numbers")
        return parsed

    def __str__(self) -> str:
        return "original" if self.kind == "original" else f"{self.kind}:{self.label}:{self.detail}"

    @property
    def kind_name(self) -> str:
        """original / relation / random / ids / forced: the kind as the result tables name it."""
        return _KIND_NAMES.get(self.kind, self.kind)

    @property
    def ranks(self) -> tuple[int, int]:
        """(lo, hi) of a relation condition: its neurons of rank lo+1..hi."""
        lo, sep, hi = self.detail.partition("-")
        if self.kind != "rel" or not sep or not (lo.isdigit() and hi.isdigit()):
            raise ValueError(f"{str(self)!r} is not a relation condition rel:R:LO-HI")
        return int(lo), int(hi)

    @property
    def seed_and_size(self) -> tuple[int, int]:
        """(seed, k) of a random condition."""
        if self.kind != "random":
            raise ValueError(f"{str(self)!r} is not a random condition random:SEED:K")
        return int(self.label), int(self.detail)

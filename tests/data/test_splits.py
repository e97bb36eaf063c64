"""Seeded evaluation / identification splits."""

from __future__ import annotations

import random

import pytest

from relneurons.data import Sample, load_relation, split, split_relation
from relneurons.errors import InputError


@pytest.fixture(scope="module")
def occupation(lre_dir):
    return load_relation("person_occupation", lre_dir)


@pytest.fixture(scope="module")
def instrument(lre_dir):
    # person_plays_instrument.json has subjects with several objects.
    return load_relation("person_plays_instrument", lre_dir)


def repeated_subjects() -> list[tuple[str, str]]:
    """60 samples over 20 subjects, 3 objects each."""
    return [(f"person {i}", f"thing {j}") for i in range(20) for j in range(3)]


def test_same_seed_same_split(occupation):
    assert split(occupation, seed=3) == split(occupation, seed=3)


def test_different_seed_different_split(occupation):
    assert split(occupation, seed=0)[0] != split(occupation, seed=1)[0]


def test_input_order_does_not_matter(instrument):
    samples = list(instrument.samples)
    shuffled = samples[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != samples
    assert split_relation(shuffled, 50, seed=5) == split_relation(samples, 50, seed=5)


def test_eval_size_and_no_subject_overlap(instrument):
    eval_s, det_s = split(instrument, n_eval=50, seed=0)
    assert len(eval_s) == 50
    assert {s.subject for s in eval_s}.isdisjoint({s.subject for s in det_s})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_det_is_every_non_eval_subject_sample(instrument, seed):
    eval_s, det_s = split(instrument, n_eval=50, seed=seed)
    eval_subjects = set()
    for s in eval_s:
        eval_subjects.add(s.subject)
    expected = []
    for s in instrument.samples:
        if s not in eval_s and s.subject not in eval_subjects:
            expected.append(s)
    assert sorted(det_s, key=lambda s: (s.subject, s.object)) == sorted(expected, key=lambda s: (s.subject, s.object))
    # Every sample is either in eval, in det, or dropped for sharing an eval subject.
    dropped = [s for s in instrument.samples if s not in eval_s and s.subject in eval_subjects]
    assert len(eval_s) + len(det_s) + len(dropped) == len(instrument.samples)


def test_counts_add_up_with_repeated_subjects():
    samples = repeated_subjects()
    eval_s, det_s = split_relation(samples, n_eval=10, seed=0)
    eval_subjects = {s for s, _ in eval_s}
    dropped = [p for p in samples if p not in eval_s and p[0] in eval_subjects]
    assert len(eval_s) == 10
    assert len(eval_s) + len(det_s) + len(dropped) == 60
    assert dropped  # with 3 objects per subject, eval subjects must lose samples from det
    assert all(p[0] not in eval_subjects for p in det_s)


def test_returns_callers_own_items():
    dicts = [{"subject": f"s{i:02d}", "object": f"o{i}"} for i in range(30)]
    eval_s, det_s = split_relation(dicts, n_eval=5, seed=1)
    assert all(any(item is d for d in dicts) for item in eval_s + det_s)
    as_tuples = [(d["subject"], d["object"]) for d in dicts]
    as_samples = [Sample(*t) for t in as_tuples]
    t_eval, _ = split_relation(as_tuples, n_eval=5, seed=1)
    s_eval, _ = split_relation(as_samples, n_eval=5, seed=1)
    assert [(d["subject"], d["object"]) for d in eval_s] == t_eval == [(s.subject, s.object) for s in s_eval]


def test_too_few_samples():
    samples = [(f"s{i}", "o") for i in range(50)]
    with pytest.raises(InputError, match=r"only 50 samples.*at least 51"):
        split_relation(samples, n_eval=50)


def test_no_det_left_is_an_error():
    samples = [("same", f"o{i}") for i in range(10)]
    with pytest.raises(InputError, match="share a subject"):
        split_relation(samples, n_eval=3)


@pytest.mark.parametrize("kwargs", [{"n_eval": 0}, {"n_eval": 2.5}, {"n_eval": True}, {"seed": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(InputError):
        split_relation(repeated_subjects(), **kwargs)


def test_bad_sample_shape():
    with pytest.raises(InputError, match="not a Sample"):
        split_relation(["just a string"] * 5, n_eval=1)

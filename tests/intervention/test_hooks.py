import numpy as np
import pytest
import torch
from tiny_models import CONFIGS, random_prompts, tiny_model

from relneurons.errors import NeuronError
from relneurons.intervention import deactivate
from relneurons.model import generate_batch, neuron_set, pad_left


def _observe(model, paths, store):
    """Plain torch hooks that record clones of each site's output (independent of the code under test)."""
    handles = []
    for path in paths:

        def hook(module, args, output, path=path):
            store.setdefault(path, []).append(output.detach().clone())

        handles.append(model.get_submodule(path).register_forward_hook(hook))
    return handles


def _observed_run(model, paths, intervention, run):
    """Run `run(handle)` inside `intervention` (a context manager installing the code under test) with plain hooks
    registered before it (they see the unedited outputs) and inside it (they see the edited ones).
    Returns (raw, edited, handle)."""
    raw, edited = {}, {}
    before = _observe(model, paths, raw)
    try:
        with intervention as handle:
            after = _observe(model, paths, edited)
            try:
                run(handle)
            finally:
                for h in after:
                    h.remove()
    finally:
        for h in before:
            h.remove()
    return raw, edited, handle


def _chosen(model, seed=0, per_set=7):
    nset = neuron_set(model, "all")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(nset.global_ids, size=per_set * len(nset.sites) // 2, replace=False)), nset


@pytest.mark.parametrize("arch", sorted(CONFIGS))
@pytest.mark.parametrize("use_cache", [True, False])
def test_chosen_units_read_zero_everywhere_and_others_untouched(arch, use_cache):
    model = tiny_model(arch)
    ids, nset = _chosen(model)
    paths = [s.path for s in nset.sites]
    batch = pad_left(random_prompts(3, seed=1), 0)
    raw, edited, report = _observed_run(
        model,
        paths,
        deactivate(model, ids),
        lambda _: generate_batch(model, batch, max_new_tokens=3, use_cache=use_cache),
    )
    assert report.n_units == len(ids)
    pos, unit = nset.locate(ids)
    for p, site in enumerate(nset.sites):
        units = unit[pos == p]
        keep = np.setdiff1d(np.arange(site.width), units)
        assert len(edited[site.path]) == 3  # prompt pass + 2 generation steps
        for r, e in zip(raw[site.path], edited[site.path]):
            assert torch.all(e[..., units] == 0)
            assert torch.equal(e[..., keep], r[..., keep])


@pytest.mark.parametrize("arch", ["llama", "gpt2", "gpt_neox", "gemma3"])
def test_hooks_change_outputs_and_are_gone_afterwards(arch):
    model = tiny_model(arch)
    ids, nset = _chosen(model, per_set=20)
    batch = pad_left(random_prompts(4, seed=2), 0)
    with torch.no_grad():
        base = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
        ).logits
        with deactivate(model, ids):
            off = model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
            ).logits
        again = model(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, position_ids=batch.position_ids
        ).logits
    assert not torch.allclose(base, off)
    assert torch.equal(base, again)
    assert all(not m._forward_hooks for m in model.modules())


def test_hooks_removed_on_exception():
    model = tiny_model("llama")
    with pytest.raises(KeyError):
        with deactivate(model, [0, 1, 400]):
            raise KeyError("boom")
    assert all(not m._forward_hooks for m in model.modules())


def test_forcing_to_per_neuron_values():
    model = tiny_model("llama")
    nset = neuron_set(model, "ffn")
    ids = nset.global_ids[[3, 60, 100]]
    values = [1.5, -2.0, 0.25]
    seen = {}
    with deactivate(model, ids, value=values):
        handles = _observe(model, [s.path for s in nset.sites], seen)
        model(input_ids=torch.tensor([[1, 5, 6, 7]]))
        for h in handles:
            h.remove()
    pos, unit = nset.locate(ids)
    for p, u, v in zip(pos, unit, values):
        assert torch.all(seen[nset.sites[p].path][0][..., u] == v)


@pytest.mark.parametrize(
    "neurons, value, message",
    [
        ([10**9], 0.0, "out of range"),
        ([-1], 0.0, "out of range"),
        ([3, 3], 0.0, "more than once"),
        ([1.5], 0.0, "integer"),
        ([1, 2], [1.0, 2.0, 3.0], "one per neuron"),
    ],
)
def test_bad_neuron_ids(neurons, value, message):
    model = tiny_model("llama")
    with pytest.raises(NeuronError, match=message):
        with deactivate(model, neurons, value=value):
            pass
    assert all(not m._forward_hooks for m in model.modules())


def test_keep_bos_leaves_each_rows_bos_position_unedited():
    """conditions() with keep_bos: on the prompt pass the BOS position of each row (where the padded row's prompt
    starts) keeps its original outputs, every other position is forced; decoding steps are forced everywhere."""
    from relneurons.intervention.hooks import Condition, conditions

    model = tiny_model("llama")
    ids, nset = _chosen(model)
    prompts = [[1, 5, 6, 7], [1, 8, 9], [1, 10, 11, 12]]  # BOS = 1, rows of different lengths
    batch = pad_left(prompts, 0)
    width = max(map(len, prompts))
    bos = [width - len(p) for p in prompts]
    paths = [s.path for s in nset.sites]

    def run(chosen):
        chosen.select([0, 0, 1], bos)  # rows 0 and 1 keep their BOS, row 2 (another condition) does not
        generate_batch(model, batch, max_new_tokens=2)

    raw, edited, _ = _observed_run(
        model, paths, conditions(model, [Condition("up", ids, 7.0, keep_bos=True), Condition("all", ids, 7.0)]), run
    )
    pos, unit = nset.locate(ids)
    for p, site in enumerate(nset.sites):
        units = unit[pos == p]
        if not units.size:
            continue
        prompt_raw, prompt_edit = raw[site.path][0], edited[site.path][0]
        for row in (0, 1):
            assert torch.equal(prompt_edit[row, bos[row]], prompt_raw[row, bos[row]])  # BOS untouched
            later = prompt_edit[row, bos[row] + 1 :, :][..., units]
            assert torch.all(later == 7.0)
        assert torch.all(prompt_edit[2, bos[2], units] == 7.0)  # no keep_bos: BOS forced
        for step in edited[site.path][1:]:  # decoding: one position, always forced
            assert torch.all(step[..., units] == 7.0)

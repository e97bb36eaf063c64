"""`collect` lets go of the model it loaded: a model split by accelerate (device_map="auto") is held in reference
cycles by its hooks, so without an explicit collection it would stay in memory beside the study's own copy."""

import gc
import sys
import weakref

from tiny_models import save_tiny_folder

from relneurons.activations import CollectConfig, collect
from relneurons.model import load_model

collect_module = sys.modules["relneurons.activations.collect"]  # the package exports a function of that name


def _split_budget(folder, offload) -> dict:
    """A CPU budget that splits the tiny model between cpu and disk (as tests/model/test_device_map.py's fixture)."""
    plain, _ = load_model(folder, device="cpu")
    size = sum(p.numel() * p.element_size() for p in plain.parameters())
    for fraction in (0.8, 0.7, 0.9, 0.6):
        split, _ = load_model(folder, device="auto", max_memory={"cpu": int(fraction * size)}, offload_folder=offload)
        if set(split.hf_device_map.values()) == {"cpu", "disk"}:
            return {"cpu": int(fraction * size)}
    raise AssertionError(f"no CPU budget split the tiny model between cpu and disk ({split.hf_device_map})")


def test_the_model_collect_loaded_is_gone_when_it_returns(tmp_path, lre_dir, monkeypatch):
    folder = str(save_tiny_folder(tmp_path / "model"))
    budget = _split_budget(folder, str(tmp_path / "offload"))
    gc.collect()
    loaded = []

    def load(*args, **kwargs):
        model, tokenizer = load_model(*args, **kwargs)
        loaded.append((weakref.ref(next(model.parameters())), set(model.hf_device_map.values())))
        return model, tokenizer

    monkeypatch.setattr(collect_module, "load_model", load)
    config = CollectConfig(
        model=folder,
        device="auto",
        max_memory=budget,
        offload_folder=str(tmp_path / "offload"),
        data_dir=str(lre_dir),
        relations=("company_hq",),
        templates=(0,),
        max_prompts_per_relation=4,
        keep_all=True,
        batch_size=2,
    )
    gc.disable()  # only the release in collect may free the cycles
    try:
        collect(config, tmp_path / "store", progress=False)
        [(parameter, places)] = loaded
        assert places == {"cpu", "disk"}  # really split, hooks and all
        assert parameter() is None
    finally:
        gc.enable()

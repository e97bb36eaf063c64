"""Neuron sites: which linear maps of a model hold "neurons", found from its module graph.

A neuron is one output unit of a linear map (paper §2.2, Table 1). We never look at the
model's name: the decoder layers are the `ModuleList` whose length is the
config's layer count, and inside each layer a module is a site when its path
relative to the layer matches a row of `ROLE_PATTERNS` and it is a linear map
(`nn.Linear` or GPT-2's `Conv1D`). Adding an architecture is one row here.

Global neuron indices are positions in the canonical enumeration of *all*
sites (layers in order, modules in the model's own order, units in order), so
a neuron keeps its index whichever neuron set it is looked at through.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, ModelError, NeuronError, did_you_mean
from .names import NEURON_SETS  # declared without torch (the command line checks --set with it)
from .neurons import NeuronSet, Site  # torch-free: stores and reports read neuron sets without a model

# (regex on the module path relative to its decoder layer, role). First match wins.
ROLE_PATTERNS: tuple[tuple[str, str], ...] = (
    # Llama, Mistral, Qwen2/3, Gemma 1/2/3, OLMo, ...
    (r"(.+\.)?gate_proj", "gate"),
    (r"(.+\.)?up_proj", "up"),
    (r"(.+\.)?down_proj", "down"),
    (r"(.+\.)?q_proj", "q"),
    (r"(.+\.)?k_proj", "k"),
    (r"(.+\.)?v_proj", "v"),
    (r"(.+\.)?(o_proj|out_proj)", "o"),
    # GPT-2 (Conv1D): c_proj is "down" under mlp and "o" under attn
    (r"(.+\.)?mlp\.c_fc", "up"),
    (r"(.+\.)?mlp\.c_proj", "down"),
    (r"(.+\.)?attn\.c_attn", "qkv"),
    (r"(.+\.)?attn\.c_proj", "o"),
    # GPT-NeoX / Pythia
    (r"(.+\.)?dense_h_to_4h", "up"),
    (r"(.+\.)?dense_4h_to_h", "down"),
    (r"(.+\.)?attention\.query_key_value", "qkv"),
    (r"(.+\.)?attention\.dense", "o"),
    # OPT-style
    (r"(.+\.)?fc1", "up"),
    (r"(.+\.)?fc2", "down"),
)

_LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layer", "num_layers")


def _output_width(module: nn.Module) -> int | None:
    """Output units of a linear map, or None if the module is not one."""
    if isinstance(module, nn.Linear):
        return module.out_features
    # GPT-2's Conv1D: y = x @ W + b with W of shape [in, out]; `nf` is out.
    nf = getattr(module, "nf", None)
    weight = getattr(module, "weight", None)
    if isinstance(nf, int) and isinstance(weight, torch.Tensor) and weight.ndim == 2:
        return nf
    return None


def _layer_count(config) -> int | None:
    for cfg in (config, getattr(config, "text_config", None)):
        if cfg is None:
            continue
        for key in _LAYER_COUNT_KEYS:
            value = getattr(cfg, key, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


def _find_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The decoder layer list: the shallowest ModuleList as long as the config's layer count."""
    n_layers = _layer_count(getattr(model, "config", None))
    candidates = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.ModuleList) and len(mod) > 0 and (n_layers is None or len(mod) == n_layers)
    ]
    if not candidates:
        raise ModelError(
            f"{type(model).__name__}: no list of decoder layers found "
            f"(looked for a ModuleList of length {n_layers} = the config's layer count)"
        )
    candidates.sort(key=lambda item: (item[0].count("."), -len(item[1])))
    return candidates[0]


def _role(relative_path: str) -> str | None:
    for pattern, role in ROLE_PATTERNS:
        if re.fullmatch(pattern, relative_path):
            return role
    return None


def find_sites(model: nn.Module) -> tuple[Site, ...]:
    """Every neuron site of `model` in canonical order (works on the meta device)."""
    layers_path, layers = _find_layers(model)
    sites: list[Site] = []
    offset = 0
    for index, layer in enumerate(layers):
        for rel, module in layer.named_modules():
            role = _role(rel) if rel else None
            width = _output_width(module) if role else None
            if role is None or width is None:
                continue
            sites.append(Site(index, f"{layers_path}.{index}.{rel}", rel, role, width, offset))
            offset += width
    if not any(s.role in NEURON_SETS["ffn"] for s in sites):
        raise ModelError(
            f"{type(model).__name__}: no recognisable FFN modules in its decoder layers ({layers_path}); "
            "supported module names are gate_proj/up_proj/down_proj (Llama family), mlp.c_fc/mlp.c_proj (GPT-2), "
            "dense_h_to_4h/dense_4h_to_h (GPT-NeoX), fc1/fc2; add a row to ROLE_PATTERNS in relneurons/model/sites.py"
        )
    return tuple(sites)


def neuron_set(model: nn.Module, name: str = "ffn") -> NeuronSet:
    """The named neuron set of `model` (see NEURON_SETS)."""
    if name not in NEURON_SETS:
        raise NeuronError(
            f"unknown neuron set {name!r}{did_you_mean(name, NEURON_SETS)}; choose one of {', '.join(NEURON_SETS)}"
        )
    sites = find_sites(model)
    chosen = tuple(s for s in sites if s.role in NEURON_SETS[name])
    if not chosen:
        roles = sorted({s.role for s in sites})
        raise NeuronError(f"{type(model).__name__} has no sites in neuron set {name!r} (its roles: {', '.join(roles)})")
    n_all = sites[-1].offset + sites[-1].width
    return NeuronSet(name, chosen, n_all)


_neuron_set = neuron_set  # count_neurons' documented keyword `neuron_set` shadows the function


def count_neurons(model_or_config, neuron_set: str = "ffn", *, neuron_set_name: str | None = None) -> int:
    """Neurons in a set, from a model, a config, or a name/path (built on the meta device, no weights).

    `neuron_set_name` is the old name of `neuron_set`, still accepted with a DeprecationWarning.
    """
    if neuron_set_name is not None:
        warnings.warn(
            "count_neurons(neuron_set_name=...) is deprecated; use neuron_set=...", DeprecationWarning, stacklevel=2
        )
        if neuron_set not in ("ffn", neuron_set_name):
            raise InputError(
                f"count_neurons got neuron_set={neuron_set!r} and neuron_set_name={neuron_set_name!r}; "
                "give neuron_set only"
            )
        neuron_set = neuron_set_name
    from transformers import PretrainedConfig

    from .loading import build_on_meta, config_of

    model = model_or_config
    if isinstance(model, (str, Path)):
        model = config_of(str(model))
    if isinstance(model, PretrainedConfig):
        model = build_on_meta(model)
    return _neuron_set(model, neuron_set).size


@contextmanager
def forward_hooks(modules_and_hooks: Iterable[tuple[nn.Module, object]]) -> Iterator[int]:
    """Register (module, forward hook) pairs; yield how many; always remove them, exceptions included.

    Hooks are global state on the model: capture, attribution and interventions install theirs only here.
    """
    handles = []
    try:
        for module, hook in modules_and_hooks:
            handles.append(module.register_forward_hook(hook))
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()

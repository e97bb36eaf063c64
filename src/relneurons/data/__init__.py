"""Relation data: locating LRE, loading relations, splits, prompts, correctness (paper §2.1; docs/method.md).

Names are imported on first use (relneurons._lazy), so that the light `data.names` (the prompt options' defaults
and choices, read by the command line) imports without pandas.
"""

from relneurons._lazy import lazy_package

__all__ = lazy_package(
    __name__,
    {
        "correctness": ("RULES", "is_correct"),
        "lre": (
            "DATA_ENV",
            "LRE_COMMIT",
            "LRE_URL_ENV",
            "data_hashes",
            "download_lre",
            "file_sha256",
            "resolve_data_dir",
        ),
        "names": ("DEFAULT_SUFFIX", "TEMPLATE_CHOICES"),
        "prompts": ("Prompt", "build_prompts", "select_templates"),
        "relations": ("PAPER_RELATIONS", "Relation", "Sample", "load_relation", "load_relations", "registry"),
        "splits": ("split", "split_relation"),
    },
)

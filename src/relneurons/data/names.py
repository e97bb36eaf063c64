"""The prompt options' names and defaults, importable without pandas (the command line and the configuration check
them before any data is read)."""

from __future__ import annotations

DEFAULT_SUFFIX = "? Answer:"
#: Named template selections: the LRE ``prompt_templates`` ("icl", alias "standard": the paper's P_det/P_eva),
#: the LRE ``prompt_templates_zs`` ("zs": the paper's P_eva-2 wording), both lists ("all": not the paper's design).
TEMPLATE_CHOICES = ("icl", "standard", "zs", "all")
#: The paper's P_det/P_eva templates: the LRE ``prompt_templates``.
DEFAULT_TEMPLATES = "icl"

#: What a document of a plain-text corpus is (fact frequency, App. E; a JSONL record is always one), the default first.
DOCUMENT_MODES = ("paragraph", "line", "file")
DEFAULT_DOCUMENT = DOCUMENT_MODES[0]
DEFAULT_TEXT_FIELD = "text"  # the text field of JSONL records

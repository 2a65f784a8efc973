"""Where downloads live on disk, and GGUF split-file naming.

``models_dir/<model_id>/<variant_id>/`` holds a variant's files; ``.partial`` inside it holds
unfinished ones; ``models_dir/.quarantine`` holds files that failed verification.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

MARKER_NAME = ".roost-download.json"
PARTIAL_DIR = ".partial"
QUARANTINE_DIR = ".quarantine"

_SPLIT_GGUF = re.compile(r"^(?P<stem>.+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.gguf$")
_SAFE_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]*$")


def variant_dir(models_dir: Path, model_id: str, variant_id: str) -> Path:
    """``models_dir/model_id/variant_id``; both ids must be plain names (no ``/`` or ``..``)."""
    for label, value in (("model id", model_id), ("variant id", variant_id)):
        if not _SAFE_COMPONENT.match(value) or value in {".", ".."}:
            raise ValueError(f"invalid {label} {value!r}: use letters, digits, '.', '_', '-'")
    return models_dir / model_id / variant_id


def split_gguf_parts(file_name: str) -> list[str] | None:
    """All part names of a split GGUF (``x-00001-of-00003.gguf`` → three names), else None.

    Works for any part given and keeps a leading folder (``Q4/x-00002-of-00002.gguf``).
    """
    folder, _, base = file_name.rpartition("/")
    match = _SPLIT_GGUF.match(base)
    if match is None:
        return None
    count = int(match["count"])
    prefix = f"{folder}/" if folder else ""
    return [f"{prefix}{match['stem']}-{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]


def expand_gguf_files(files: Sequence[str]) -> list[str]:
    """``files`` with every split GGUF expanded to all its parts, in order, without repeats."""
    names: list[str] = []
    for name in files:
        for part in split_gguf_parts(name) or [name]:
            if part not in names:
                names.append(part)
    return names


def is_first_split_part(file_name: str) -> bool:
    """True for ``*-00001-of-N.gguf`` (the file engines are given for a split model)."""
    match = _SPLIT_GGUF.match(Path(file_name).name)
    return match is not None and int(match["index"]) == 1


def is_later_split_part(file_name: str) -> bool:
    """True for parts 2..N of a split GGUF (not models in their own right)."""
    match = _SPLIT_GGUF.match(Path(file_name).name)
    return match is not None and int(match["index"]) > 1

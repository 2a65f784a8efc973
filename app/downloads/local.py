"""What a model on disk is: :class:`LocalModel`, and the checks that recognise one.

A GGUF model is a file starting with the magic bytes ``GGUF`` (for a split GGUF, its first
part ``*-00001-of-N.gguf``); an MLX model is a directory with ``config.json`` and at least
one ``*.safetensors`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from app.downloads.layout import is_later_split_part, split_gguf_parts

GGUF_MAGIC = b"GGUF"

ModelFormat = Literal["gguf", "mlx"]
ModelSource = Literal["hf-cache", "llama.cpp", "lmstudio", "ollama", "imported", "roost"]


@dataclass(frozen=True)
class LocalModel:
    """A model found on disk.

    ``path`` is the GGUF file (the first part of a split GGUF) or the MLX directory;
    ``size_bytes`` counts every part / every file in the directory.
    """

    path: Path
    format: ModelFormat
    source: ModelSource
    name: str
    size_bytes: int


def has_gguf_magic(path: Path) -> bool:
    """True when ``path`` is a readable file whose first four bytes are ``GGUF``."""
    try:
        with path.open("rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def is_mlx_dir(path: Path) -> bool:
    """True for a directory holding ``config.json`` and at least one ``*.safetensors``."""
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def gguf_size_bytes(path: Path) -> int:
    """Bytes of a GGUF model: the file, or all present parts of a split GGUF."""
    parts = split_gguf_parts(path.name)
    if parts is None:
        return path.stat().st_size
    return sum(p.stat().st_size for p in (path.with_name(n) for n in parts) if p.is_file())


def dir_size_bytes(path: Path) -> int:
    """Bytes of all regular files under ``path`` (symlinks followed, as the HF cache uses)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def is_model_gguf(path: Path) -> bool:
    """A GGUF file that is a model in its own right: not a later split part, not a projector."""
    name = path.name.lower()
    return (
        name.endswith(".gguf")
        and not is_later_split_part(path.name)
        and not name.startswith("mmproj")  # vision projectors load beside a model, not alone
        and has_gguf_magic(path)
    )

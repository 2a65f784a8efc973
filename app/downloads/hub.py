"""Download a model variant from the Hugging Face Hub (or a mirror) into Roost's models dir.

Layout: ``models_dir/<model_id>/<variant_id>/<file names as in the repo>``; for MLX the
snapshot's files go in that directory. Next to them:

- ``.partial/<name>.incomplete`` (+ ``.etag``): bytes of unfinished files, kept on failure
  and cancel so the next call resumes with a Range request (see ``_transfer``);
- ``.roost-download.json``: repo, commit and each finished file's size, etag and sha256, so
  a repeated pull skips finished files without re-hashing them.

A file whose sha256 is wrong moves to ``models_dir/.quarantine/<model>/<variant>/`` and the
call fails; a later call starts that file from zero and never reuses the quarantined bytes.

The hub protocol is huggingface_hub's: ``hf_hub_url`` + ``get_hf_file_metadata`` (HEAD
``/resolve``) for size, etag (the LFS sha256) and commit; ``HfApi.model_info`` to list an MLX
snapshot; its session, headers, token handling and errors for every request. The transfer
itself is Roost's (``_transfer``), because ``hf_hub_download`` no longer keeps partial files
between calls.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url

# Public and documented, but re-exported lazily in a way mypy cannot see.
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from app.downloads._errors_map import hub_errors
from app.downloads._transfer import PartialFile, RemoteFile, fetch
from app.downloads._variant import (
    FreeBytes,
    check_disk,
    is_complete,
    read_marker,
    reject,
    remove_if_empty,
    variant_lock,
    write_marker,
)
from app.downloads.errors import (
    DownloadError,
    DownloadNotFoundError,
)
from app.downloads.layout import (
    PARTIAL_DIR,
    expand_gguf_files,
    variant_dir,
)
from app.downloads.progress import ProgressCallback, ProgressTracker

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 3
DEFAULT_MLX_PATTERNS: tuple[str, ...] = (
    "*.json",
    "*.safetensors",
    "*.jinja",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "*.py",
)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def disk_free_bytes(path: Path) -> int:
    """Free bytes on the filesystem holding ``path`` (``shutil.disk_usage``)."""
    return shutil.disk_usage(path).free


def resolve_endpoint(endpoint: str | None = None) -> str:
    """``endpoint``, else ``$HF_ENDPOINT`` (read now, not at import), else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def default_timeout_s() -> float:
    """``$HF_HUB_DOWNLOAD_TIMEOUT`` seconds when set, else 10 s."""
    raw = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


def download_gguf(
    *,
    repo_id: str,
    files: Sequence[str],
    models_dir: Path,
    model_id: str,
    variant_id: str,
    revision: str = "main",
    sha256: Mapping[str, str] | None = None,
    sizes: Mapping[str, int] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float | None = None,
    retries: int = DEFAULT_RETRIES,
    free_bytes: FreeBytes = disk_free_bytes,
) -> Path:
    """Download a GGUF variant (one file, or every part of a split GGUF); return the first file.

    ``files`` are paths in the repo; naming only ``x-00001-of-00003.gguf`` brings all three
    parts. ``sha256`` maps file names to expected hex digests (when absent, the hub's LFS
    sha256 is checked); ``sizes`` (bytes) are used only where the hub reports none.
    ``token`` (else ``$HF_TOKEN`` / the stored login) opens gated repos; ``endpoint`` (else
    ``$HF_ENDPOINT``) selects a mirror. ``timeout_s`` is the per-read timeout in seconds;
    ``retries`` counts resumptions after a lost connection. ``progress`` receives
    :class:`~app.downloads.progress.DownloadProgress`; setting ``cancel`` stops the transfer
    and keeps the partial bytes. ``free_bytes(dir)`` is the disk check (injectable for tests).
    """
    names = expand_gguf_files(files)
    if not names:
        raise DownloadError(f"No GGUF file named for {model_id}/{variant_id}.")
    ep = resolve_endpoint(endpoint)
    timeout = timeout_s if timeout_s is not None else default_timeout_s()
    remotes: list[RemoteFile] = []
    pinned = revision
    for name in names:
        remote, commit = _describe_file(
            repo_id, name, pinned, ep, token, timeout, (sha256 or {}).get(name), sizes
        )
        pinned = commit  # every part from the same commit, even if `main` moves meanwhile
        remotes.append(remote)
    target = _download_files(
        remotes,
        repo_id=repo_id,
        commit=pinned,
        fmt="gguf",
        models_dir=models_dir,
        model_id=model_id,
        variant_id=variant_id,
        progress=progress,
        cancel=cancel or threading.Event(),
        timeout_s=timeout,
        retries=retries,
        free_bytes=free_bytes,
    )
    return target / names[0]


def download_mlx(
    *,
    repo_id: str,
    models_dir: Path,
    model_id: str,
    variant_id: str,
    revision: str = "main",
    allow_patterns: Sequence[str] = DEFAULT_MLX_PATTERNS,
    sha256: Mapping[str, str] | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    timeout_s: float | None = None,
    retries: int = DEFAULT_RETRIES,
    free_bytes: FreeBytes = disk_free_bytes,
) -> Path:
    """Download an MLX snapshot (repo files matching ``allow_patterns``); return its directory.

    The file list comes from ``HfApi.model_info`` at ``revision``; all files are fetched
    from the commit it names. Other arguments are as for :func:`download_gguf`.
    """
    ep = resolve_endpoint(endpoint)
    timeout = timeout_s if timeout_s is not None else default_timeout_s()
    with hub_errors(repo_id, revision, None):
        info = HfApi(endpoint=ep, token=token).model_info(
            repo_id, revision=revision, files_metadata=True, timeout=timeout
        )
    commit = info.sha or revision
    listed = [s.rfilename for s in info.siblings or []]
    names = [n for n in listed if _matches(n, allow_patterns)]
    if not names:
        raise DownloadNotFoundError(
            f"No file in {repo_id}@{revision} matches {list(allow_patterns)}.",
            "Check the repository name and the file patterns in the catalog.",
        )
    if not any(n == "config.json" for n in names) or not any(
        n.endswith(".safetensors") for n in names
    ):
        raise DownloadNotFoundError(
            f"{repo_id}@{revision} does not look like an MLX model: it needs config.json "
            "and *.safetensors files.",
            "Check that the repository is an MLX conversion (e.g. from mlx-community).",
        )
    remotes = [
        _describe_file(repo_id, n, commit, ep, token, timeout, (sha256 or {}).get(n), None)[0]
        for n in names
    ]
    return _download_files(
        remotes,
        repo_id=repo_id,
        commit=commit,
        fmt="mlx",
        models_dir=models_dir,
        model_id=model_id,
        variant_id=variant_id,
        progress=progress,
        cancel=cancel or threading.Event(),
        timeout_s=timeout,
        retries=retries,
        free_bytes=free_bytes,
    )


def _matches(name: str, patterns: Sequence[str]) -> bool:
    """``allow_patterns`` as huggingface_hub reads them (fnmatch; ``dir/`` means ``dir/*``)."""
    return any(fnmatch.fnmatch(name, p + "*" if p.endswith("/") else p) for p in patterns)


def _describe_file(
    repo_id: str,
    name: str,
    revision: str,
    endpoint: str,
    token: str | None,
    timeout_s: float,
    expected_sha256: str | None,
    sizes: Mapping[str, int] | None,
) -> tuple[RemoteFile, str]:
    """HEAD ``/resolve`` for one file → (what to fetch, the commit it resolved to)."""
    url = hf_hub_url(repo_id, name, revision=revision, endpoint=endpoint)
    with hub_errors(repo_id, revision, name):
        meta = get_hf_file_metadata(url, token=token, timeout=timeout_s, endpoint=endpoint)
    if meta.commit_hash is None or meta.etag is None:
        raise DownloadError(
            f"{endpoint} did not answer like a Hugging Face hub (no commit or ETag for {name}).",
            "Check HF_ENDPOINT: it must point to the hub or a hub-compatible mirror.",
        )
    size = meta.size
    catalog_size = (sizes or {}).get(name)
    if size is None:
        size = catalog_size
    elif catalog_size is not None and catalog_size != size:
        logger.warning("%s: hub reports %d bytes, the catalog %d", name, size, catalog_size)
    hub_sha = meta.etag.lower() if _SHA256_HEX.fullmatch(meta.etag.lower()) else None
    headers = build_hf_headers(token=token)
    headers["Accept-Encoding"] = "identity"  # sizes and ranges are of the raw bytes
    if _origin(meta.location) != _origin(url):
        headers.pop("authorization", None)  # never send the token to a CDN
    remote = RemoteFile(
        name=name,
        url=meta.location,
        size=size,
        etag=meta.etag,
        sha256=(expected_sha256 or hub_sha or None),
        sha256_source="catalog" if expected_sha256 else "hub",
        headers=headers,
    )
    return remote, meta.commit_hash


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _download_files(
    remotes: list[RemoteFile],
    *,
    repo_id: str,
    commit: str,
    fmt: Literal["gguf", "mlx"],
    models_dir: Path,
    model_id: str,
    variant_id: str,
    progress: ProgressCallback | None,
    cancel: threading.Event,
    timeout_s: float,
    retries: int,
    free_bytes: FreeBytes,
) -> Path:
    """Fetch every file not yet complete into the variant directory; return that directory."""
    target = variant_dir(models_dir, model_id, variant_id)
    partial_root = target / PARTIAL_DIR
    partial_root.mkdir(parents=True, exist_ok=True)
    with variant_lock(partial_root, model_id, variant_id):
        marker = read_marker(target)
        marker.update({"repo_id": repo_id, "revision": commit, "format": fmt})
        records: dict[str, Any] = marker.setdefault("files", {})
        todo: list[RemoteFile] = []
        needed = 0
        for remote in remotes:
            if is_complete(target, remote, records, models_dir, model_id, variant_id):
                continue
            todo.append(remote)
            partial = PartialFile(partial_root / f"{remote.name}.incomplete")
            needed += (remote.size or 0) - partial.resumable_bytes(remote.etag, remote.size)
        check_disk(target, needed, free_bytes)
        total = sum(r.size or 0 for r in remotes)
        tracker = ProgressTracker(progress, total, len(remotes))
        for remote in remotes:
            if remote not in todo:
                tracker.start_file(remote.name, remote.size or 0)
                tracker.end_file()
        for remote in todo:
            partial = PartialFile(partial_root / f"{remote.name}.incomplete")
            digest = fetch(
                remote,
                partial,
                tracker=tracker,
                cancel=cancel,
                timeout_s=timeout_s,
                retries=retries,
            )
            if remote.sha256 is not None and digest != remote.sha256.lower():
                reject(partial.path, remote, digest, models_dir, model_id, variant_id)
            dest = target / remote.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(partial.path, dest)
            partial.discard()
            records[remote.name] = {
                "size": dest.stat().st_size,
                "etag": remote.etag,
                "sha256": digest,
            }
            write_marker(target, marker)
        write_marker(target, marker)
        tracker.finish()
    remove_if_empty(partial_root)
    logger.info(
        "downloaded %s/%s from %s@%s into %s", model_id, variant_id, repo_id, commit, target
    )
    return target

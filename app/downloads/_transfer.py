"""One file's resumable transfer: GET with Range into a partial file, hashing as it goes.

Why Roost owns the partial file instead of leaving it to ``hf_hub_download``: since
huggingface_hub 1.x (PR #4228) ``hf_hub_download`` writes to a process-unique
``<etag>.<uuid>.incomplete`` file and deletes it when a download fails, so a second call
starts again from byte 0. Resume across calls (a cancel, a crash, a lost connection) is a
core promise for multi-gigabyte models, so the bytes go to ``<variant>/.partial/<name>.incomplete``
next to a ``.etag`` sidecar, and each attempt asks the server for ``Range: bytes=<have>-``.
The HTTP session, headers (token, user agent) and error classification are huggingface_hub's
(``get_session``, ``hf_raise_for_status``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from huggingface_hub import get_session, hf_raise_for_status

from app.downloads.errors import (
    DownloadCancelledError,
    DownloadError,
    DownloadInterruptedError,
    DownloadTimeoutError,
)
from app.downloads.progress import ProgressTracker

logger = logging.getLogger(__name__)

_HASH_READ_BYTES = 1024 * 1024
_MAX_BACKOFF_S = 4.0


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: ``name`` in the repo, the ``url`` to GET, ``size`` in bytes.

    ``etag`` identifies the remote content (a partial file with another etag is discarded);
    ``sha256`` is the expected digest (hex) or ``None``; ``sha256_source`` says where that
    expectation came from ("catalog" or "hub") for error messages.
    """

    name: str
    url: str
    size: int | None
    etag: str
    sha256: str | None
    sha256_source: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartialFile:
    """Where a file's bytes accumulate until it is complete and verified."""

    path: Path

    @property
    def etag_path(self) -> Path:
        return self.path.with_name(self.path.name + ".etag")

    def resumable_bytes(self, etag: str, size: int | None) -> int:
        """Bytes on disk that belong to the remote content ``etag`` (0 when none or stale)."""
        try:
            have = self.path.stat().st_size
            recorded = self.etag_path.read_text().strip()
        except FileNotFoundError:
            return 0
        if recorded != etag or (size is not None and have > size):
            return 0
        return have

    def prepare(self, etag: str, size: int | None) -> int:
        """Keep resumable bytes or start empty; returns the bytes kept."""
        have = self.resumable_bytes(etag, size)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if have == 0:
            self.path.write_bytes(b"")
            self.etag_path.write_text(etag)
        return have

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.etag_path.unlink(missing_ok=True)


class _ShortReadError(Exception):
    """The server closed the body before ``size`` bytes arrived."""


def fetch(
    remote: RemoteFile,
    partial: PartialFile,
    *,
    tracker: ProgressTracker,
    cancel: threading.Event,
    timeout_s: float,
    retries: int,
) -> str:
    """Bring ``partial`` up to the remote file's full size; returns its sha256 (hex).

    Bytes already in ``partial`` (same etag) are hashed from disk and not fetched again.
    Connection losses and read timeouts are retried ``retries`` times, each retry resuming
    where the last stopped (the count resets whenever an attempt made progress). The partial
    file is kept on every failure, so a later call resumes.
    """
    have = partial.prepare(remote.etag, remote.size)
    hasher = hashlib.sha256()
    _hash_prefix(partial.path, have, hasher, cancel)
    tracker.start_file(remote.name, have)
    failures = 0
    while remote.size is None or have < remote.size:
        if cancel.is_set():
            raise _cancelled(remote.name, have)
        before = have
        try:
            _stream_once(remote, partial, have, hasher, tracker, cancel, timeout_s)
        except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as err:
            failure: BaseException | None = err
        else:
            failure = None
        # What reached the file is what counts (writes and hash updates go together).
        have = partial.path.stat().st_size
        if failure is None:
            if remote.size is None or have >= remote.size:
                break  # without an advertised size, the end of the body is the end of file
            failure = _ShortReadError(f"body ended at byte {have}")
        # An attempt that made progress starts the count afresh, so a flaky but moving
        # connection is not given up on; ``retries=0`` still fails on the first loss.
        failures = 1 if have > before else failures + 1
        if failures > retries:
            raise _transfer_failure(remote, have, timeout_s, failure) from failure
        delay = min(0.25 * 2**failures, _MAX_BACKOFF_S)
        logger.warning(
            "%s: transfer stopped at %d bytes (%s); resuming in %.2f s",
            remote.name,
            have,
            type(failure).__name__,
            delay,
        )
        if cancel.wait(delay):
            raise _cancelled(remote.name, have) from failure
    tracker.end_file()
    return hasher.hexdigest()


def _hash_prefix(path: Path, n_bytes: int, hasher: hashlib._Hash, cancel: threading.Event) -> None:
    """Feed the first ``n_bytes`` of ``path`` to ``hasher`` (the resumed part of a file)."""
    if n_bytes == 0:
        return
    with path.open("rb") as fh:
        left = n_bytes
        while left > 0:
            if cancel.is_set():
                raise _cancelled(path.name, n_bytes)
            block = fh.read(min(_HASH_READ_BYTES, left))
            if not block:
                raise DownloadError(f"The partial file {path} shrank while being read.")
            hasher.update(block)
            left -= len(block)


def _stream_once(
    remote: RemoteFile,
    partial: PartialFile,
    have: int,
    hasher: hashlib._Hash,
    tracker: ProgressTracker,
    cancel: threading.Event,
    timeout_s: float,
) -> None:
    """One GET from byte ``have``, appending to the partial file and feeding ``hasher``."""
    headers = dict(remote.headers)
    if have > 0:
        headers["Range"] = f"bytes={have}-"
    with get_session().stream(
        "GET", remote.url, headers=headers, timeout=timeout_s, follow_redirects=True
    ) as response:
        hf_raise_for_status(response)
        skip = 0
        if have > 0 and response.status_code == 200:
            skip = have  # the server ignored Range: drop the bytes we already have
            logger.info("%s: server ignored the Range header; skipping %d bytes", remote.name, have)
        elif have > 0:
            _check_content_range(remote.name, response.headers.get("Content-Range"), have)
        with partial.path.open("ab") as fh:
            # No chunk_size: re-chunking would hold back up to one chunk that a dropped
            # connection then loses; chunks arrive as the network delivers them.
            for chunk in response.iter_bytes():
                if cancel.is_set():
                    raise _cancelled(remote.name, have)
                if skip:
                    dropped = min(skip, len(chunk))
                    skip -= dropped
                    chunk = chunk[dropped:]
                if not chunk:
                    continue
                if remote.size is not None and have + len(chunk) > remote.size:
                    raise DownloadError(
                        f"The server sent more than the {remote.size} bytes it announced "
                        f"for {remote.name}.",
                        "The mirror may be serving a different file; try again later.",
                    )
                fh.write(chunk)
                hasher.update(chunk)
                have += len(chunk)
                tracker.advance(len(chunk))


def _check_content_range(name: str, content_range: str | None, have: int) -> None:
    """A 206 must start at the byte we asked for, or the file would be spliced wrongly."""
    start = None
    if content_range and content_range.startswith("bytes "):
        start_text = content_range[len("bytes ") :].split("-", 1)[0]
        start = int(start_text) if start_text.isdigit() else None
    if start != have:
        raise DownloadError(
            f"The server answered a resume of {name} from byte {have} with "
            f"Content-Range {content_range!r}.",
            "The server's range support looks broken; delete the partial download and retry.",
        )


def _cancelled(name: str, have: int) -> DownloadCancelledError:
    return DownloadCancelledError(
        f"Download of {name} cancelled after {have} bytes.",
        "Run the same download again to resume from where it stopped.",
    )


def _transfer_failure(
    remote: RemoteFile, have: int, timeout_s: float, err: BaseException
) -> DownloadError:
    if isinstance(err, httpx2.TimeoutException):
        return DownloadTimeoutError(
            f"The server sent no data for {timeout_s:g} s while downloading {remote.name} "
            f"({have} of {remote.size} bytes received).",
            "Check the network (or the mirror in HF_ENDPOINT) and run the download again; "
            "it resumes from the bytes already received.",
        )
    return DownloadInterruptedError(
        f"The connection was lost while downloading {remote.name} "
        f"({have} of {remote.size} bytes received): {err or type(err).__name__}.",
        "Run the download again; it resumes from the bytes already received.",
    )

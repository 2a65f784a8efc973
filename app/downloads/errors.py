"""Download errors, all :class:`~app.core.errors.RoostError` so the CLI and UI can show them.

Hierarchy::

    RoostError
    └── DownloadError              base for everything in ``app.downloads``
        ├── DownloadAuthError      401/403: the repo is gated or private and no (valid) token
        ├── DownloadNotFoundError  the repo, revision or a file does not exist on the hub
        ├── DownloadTimeoutError   the server stopped sending for longer than the timeout
        ├── DownloadInterruptedError  the connection kept failing; partial bytes are kept
        ├── DownloadCancelledError the caller set the cancel event; partial bytes are kept
        ├── InsufficientDiskError  not enough free space for the bytes still to fetch
        ├── ChecksumMismatchError  a finished file's sha256 is wrong; it was quarantined
        ├── ModelImportError       a local model cannot be imported, or the registry is broken
        └── LocalModelNotFoundError  ``remove_model`` found nothing to remove

A file that is not a GGUF (bad magic) raises :class:`~app.core.errors.ModelFileError`.
"""

from __future__ import annotations

from pathlib import Path

from app.core.errors import RoostError


class DownloadError(RoostError):
    """A model download failed."""


class DownloadAuthError(DownloadError):
    """The repository is gated or private and the request had no token with access."""


class DownloadNotFoundError(DownloadError):
    """The repository, revision or file does not exist."""


class DownloadTimeoutError(DownloadError):
    """The server sent nothing for longer than the read timeout."""


class DownloadInterruptedError(DownloadError):
    """The transfer failed after its retries; the bytes received so far are kept for resume."""


class DownloadCancelledError(DownloadError):
    """The download was cancelled; the bytes received so far are kept for resume."""


class InsufficientDiskError(DownloadError):
    """Not enough free disk space for the bytes still to download."""

    def __init__(self, message: str, hint: str, *, needed_bytes: int, free_bytes: int) -> None:
        super().__init__(message, hint)
        self.needed_bytes = needed_bytes
        self.free_bytes = free_bytes


class ChecksumMismatchError(DownloadError):
    """A downloaded file's sha256 differs from the expected one; the file was quarantined."""

    def __init__(self, message: str, hint: str, *, file_name: str, quarantine_path: Path) -> None:
        super().__init__(message, hint)
        self.file_name = file_name
        self.quarantine_path = quarantine_path


class ModelImportError(DownloadError):
    """A local model cannot be imported, or the import registry cannot be read."""


class LocalModelNotFoundError(DownloadError):
    """No downloaded model variant exists at the given place."""

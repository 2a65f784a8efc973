"""Model downloads (huggingface_hub), resume, verification, disk checks, imports, discovery.

Imports only ``app.core``. Public API:

- :func:`download_gguf`, :func:`download_mlx` (``hub``) → local path;
  progress as :class:`DownloadProgress`; errors under :class:`DownloadError`.
- :func:`discover_models` (``discover``) → list of :class:`LocalModel`.
- :func:`import_model`, :func:`remove_import`, :func:`list_imports`, :func:`remove_model`
  (``imports``).
"""

from __future__ import annotations

from app.downloads.discover import discover_models
from app.downloads.errors import (
    ChecksumMismatchError,
    DownloadAuthError,
    DownloadCancelledError,
    DownloadError,
    DownloadInterruptedError,
    DownloadNotFoundError,
    DownloadTimeoutError,
    InsufficientDiskError,
    LocalModelNotFoundError,
    ModelImportError,
)
from app.downloads.hub import DEFAULT_MLX_PATTERNS, download_gguf, download_mlx
from app.downloads.imports import (
    default_registry_file,
    import_model,
    list_imports,
    remove_import,
    remove_model,
)
from app.downloads.local import LocalModel
from app.downloads.progress import DownloadProgress

__all__ = [
    "DEFAULT_MLX_PATTERNS",
    "ChecksumMismatchError",
    "DownloadAuthError",
    "DownloadCancelledError",
    "DownloadError",
    "DownloadInterruptedError",
    "DownloadNotFoundError",
    "DownloadProgress",
    "DownloadTimeoutError",
    "InsufficientDiskError",
    "LocalModel",
    "LocalModelNotFoundError",
    "ModelImportError",
    "default_registry_file",
    "discover_models",
    "download_gguf",
    "download_mlx",
    "import_model",
    "list_imports",
    "remove_import",
    "remove_model",
]

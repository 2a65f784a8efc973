"""Find models already on disk: the Hugging Face cache, llama.cpp, LM Studio, Ollama, imports
and Roost's own downloads.

Every base directory is a keyword argument whose default is read from the environment at call
time, so tests point each source at a temporary directory. A source that cannot be read is
logged and skipped: discovery never fails as a whole. A file reachable from two sources is
reported once, by the first of: roost, imported, hf-cache, llama.cpp, lmstudio, ollama.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from huggingface_hub import scan_cache_dir
from huggingface_hub.errors import CacheNotFound

from app.downloads.imports import list_imports
from app.downloads.local import (
    LocalModel,
    ModelSource,
    dir_size_bytes,
    gguf_size_bytes,
    has_gguf_magic,
    is_mlx_dir,
    is_model_gguf,
)

logger = logging.getLogger(__name__)

OLLAMA_MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
_OLLAMA_DEFAULT_REGISTRY = "registry.ollama.ai"


def _home() -> Path:
    return Path.home()


def _cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else _home() / ".cache"


def default_hf_cache_dir() -> Path:
    """``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``."""
    if hub_cache := os.environ.get("HF_HUB_CACHE"):
        return Path(hub_cache).expanduser()
    if hf_home := os.environ.get("HF_HOME"):
        return Path(hf_home).expanduser() / "hub"
    return _cache_home() / "huggingface" / "hub"


def default_llama_cache_dir() -> Path:
    """``$LLAMA_CACHE``, else llama.cpp's per-platform cache directory."""
    if env := os.environ.get("LLAMA_CACHE"):
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return _home() / "Library" / "Caches" / "llama.cpp"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", _home())) / "llama.cpp"
    return _cache_home() / "llama.cpp"


def default_lmstudio_dirs() -> list[Path]:
    """LM Studio's current (``~/.lmstudio/models``) and older (``~/.cache/lm-studio/models``)."""
    return [_home() / ".lmstudio" / "models", _home() / ".cache" / "lm-studio" / "models"]


def default_ollama_dir() -> Path:
    """``$OLLAMA_MODELS``, else ``~/.ollama/models``."""
    env = os.environ.get("OLLAMA_MODELS")
    return Path(env).expanduser() if env else _home() / ".ollama" / "models"


def discover_models(
    *,
    models_dir: Path | None = None,
    registry_file: Path | None = None,
    hf_cache_dir: Path | None = None,
    llama_cache_dir: Path | None = None,
    lmstudio_dirs: Sequence[Path] | None = None,
    ollama_dir: Path | None = None,
) -> list[LocalModel]:
    """Every model found in all sources, deduplicated by real path.

    ``models_dir`` (Roost's downloads) and ``registry_file`` (imports) are skipped when None;
    the others default to the standard locations (see the ``default_*`` functions).
    """
    scans: list[tuple[str, Callable[[], list[LocalModel]]]] = []
    if models_dir is not None:
        scans.append(("roost", lambda: find_roost_models(models_dir)))
    if registry_file is not None:
        scans.append(("imported", lambda: _existing(list_imports(registry_file))))
    scans += [
        ("hf-cache", lambda: find_hf_cache_models(hf_cache_dir or default_hf_cache_dir())),
        (
            "llama.cpp",
            lambda: find_llama_cache_models(llama_cache_dir or default_llama_cache_dir()),
        ),
        ("lmstudio", lambda: find_lmstudio_models(lmstudio_dirs or default_lmstudio_dirs())),
        ("ollama", lambda: find_ollama_models(ollama_dir or default_ollama_dir())),
    ]
    found: list[LocalModel] = []
    seen: set[Path] = set()
    for source, scan in scans:
        try:
            models = scan()
        except (OSError, ValueError) as err:
            logger.warning("could not scan %s models: %s", source, err)
            continue
        for model in models:
            key = model.path.resolve()
            if key not in seen:
                seen.add(key)
                found.append(model)
    return found


def find_roost_models(models_dir: Path) -> list[LocalModel]:
    """Variants in ``models_dir/<model>/<variant>/`` (one GGUF model or an MLX directory)."""
    models: list[LocalModel] = []
    for variant in _subdirs(models_dir, depth=2):
        label = f"{variant.parent.name}/{variant.name}"
        if is_mlx_dir(variant):
            models.append(LocalModel(variant, "mlx", "roost", label, dir_size_bytes(variant)))
            continue
        models += [_gguf(p, "roost", label) for p in _model_ggufs(variant)]
    return models


def find_hf_cache_models(cache_dir: Path) -> list[LocalModel]:
    """GGUF files and MLX snapshots in a Hugging Face hub cache (``scan_cache_dir``)."""
    if not cache_dir.is_dir():
        return []
    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    for warning in info.warnings:
        logger.debug("hf cache: %s", warning)
    models: list[LocalModel] = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            snap = revision.snapshot_path
            if is_mlx_dir(snap):
                size = dir_size_bytes(snap)
                models.append(LocalModel(snap, "mlx", "hf-cache", repo.repo_id, size))
                continue
            for path in _model_ggufs(snap):
                models.append(_gguf(path, "hf-cache", f"{repo.repo_id}/{_rel(path, snap)}"))
    return models


def find_llama_cache_models(cache_dir: Path) -> list[LocalModel]:
    """GGUF files that ``llama-server -hf`` / ``-mu`` downloaded into llama.cpp's cache."""
    if not cache_dir.is_dir():
        return []
    return [_gguf(p, "llama.cpp", p.stem) for p in _model_ggufs(cache_dir)]


def find_lmstudio_models(roots: Iterable[Path]) -> list[LocalModel]:
    """GGUF files and MLX directories under LM Studio's ``<publisher>/<repo>/`` folders."""
    models: list[LocalModel] = []
    for root in roots:
        if not root.is_dir():
            continue
        models += [_gguf(p, "lmstudio", _rel(p, root)) for p in _model_ggufs(root)]
        for config in sorted(root.rglob("config.json")):
            folder = config.parent
            if is_mlx_dir(folder) and not _hidden(folder, root):
                name = _rel(folder, root)
                models.append(LocalModel(folder, "mlx", "lmstudio", name, dir_size_bytes(folder)))
    return models


def find_ollama_models(models_root: Path) -> list[LocalModel]:
    """Ollama models: each manifest's ``application/vnd.ollama.image.model`` layer is a GGUF blob.

    ``manifests/<registry>/<namespace>/<model>/<tag>`` names the model
    (``registry.ollama.ai/library/llama3/8b`` → ``llama3:8b``); the blob is
    ``blobs/sha256-<hex>``. Blobs that are not GGUF (other formats) are skipped.
    """
    manifests = models_root / "manifests"
    if not manifests.is_dir():
        return []
    models: list[LocalModel] = []
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        parts = manifest.relative_to(manifests).parts
        if len(parts) != 4:
            continue
        try:
            layers = json.loads(manifest.read_text()).get("layers", [])
        except (OSError, ValueError, AttributeError):
            logger.debug("unreadable ollama manifest %s", manifest)
            continue
        for layer in layers:
            if not isinstance(layer, dict) or layer.get("mediaType") != OLLAMA_MODEL_MEDIA_TYPE:
                continue
            digest = str(layer.get("digest", ""))
            blob = models_root / "blobs" / digest.replace(":", "-", 1)
            if not digest.startswith("sha256:") or not has_gguf_magic(blob):
                continue
            name = _ollama_name(*parts)
            models.append(LocalModel(blob, "gguf", "ollama", name, blob.stat().st_size))
    return models


def _ollama_name(registry: str, namespace: str, model: str, tag: str) -> str:
    if registry == _OLLAMA_DEFAULT_REGISTRY:
        return f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
    return f"{registry}/{namespace}/{model}:{tag}"


def _model_ggufs(root: Path) -> list[Path]:
    """GGUF models under ``root``, outside hidden folders (``.partial``, ``.cache``)."""
    return [p for p in sorted(root.rglob("*.gguf")) if not _hidden(p, root) and is_model_gguf(p)]


def _gguf(path: Path, source: ModelSource, name: str) -> LocalModel:
    return LocalModel(path, "gguf", source, name, gguf_size_bytes(path))


def _existing(models: list[LocalModel]) -> list[LocalModel]:
    present = [m for m in models if m.path.exists()]
    for m in models:
        if m not in present:
            logger.warning("imported model %s is missing (%s)", m.name, m.path)
    return present


def _subdirs(root: Path, depth: int) -> list[Path]:
    """Non-hidden directories exactly ``depth`` levels below ``root``."""
    level = [root] if root.is_dir() else []
    for _ in range(depth):
        level = [
            c
            for d in level
            for c in sorted(d.iterdir())
            if c.is_dir() and not c.name.startswith(".")
        ]
    return level


def _hidden(path: Path, root: Path) -> bool:
    """True when a folder between ``root`` and ``path`` is hidden (``.partial``, ``.cache``)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts[:-1])


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()

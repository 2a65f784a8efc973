"""``roost pull MODEL[:variant]``: download a verified model (resumable, checksummed)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.catalog.catalog import CatalogModel, Variant, load_catalog
from app.catalog.resolve import variant_path
from app.cli._format import gib
from app.core.paths import default_paths
from app.downloads import DownloadProgress, download_gguf, download_mlx


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pull", help="download a catalog model (resumes, verifies sha256)")
    p.add_argument("model", help="catalog id[:variant], e.g. qwen3.6-27b or qwen3.6-27b:mlx-4bit")
    p.add_argument("--token", help="Hugging Face token for gated repos (default: HF_TOKEN)")
    p.set_defaults(run=run)


class DownloadBar:
    """One-line progress: bytes, rate, ETA."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, p: DownloadProgress) -> None:
        now = time.monotonic()
        done = p.bytes_done >= p.bytes_total > 0
        if now - self.last < 0.2 and not done:
            return
        self.last = now
        eta = f"{p.eta_s:4.0f}s" if p.eta_s is not None else "   ?"
        sys.stderr.write(
            f"\r  {p.file_name[:40]:40s} {gib(p.bytes_done)} / {gib(p.bytes_total)} "
            f"{p.rate_bps / 2**20:6.1f} MiB/s ETA {eta}"
        )
        if done:
            sys.stderr.write("\n")
        sys.stderr.flush()


def pull_variant(
    entry: CatalogModel, variant: Variant, models_dir: Path, token: str | None = None
) -> Path:
    """Download ``variant`` of ``entry`` into the models directory; returns its path."""
    if variant.format == "mlx":
        return download_mlx(
            repo_id=variant.repo,
            models_dir=models_dir,
            model_id=entry.id,
            variant_id=variant.id,
            revision=variant.revision or "main",
            token=token,
            progress=DownloadBar(),
        )
    return download_gguf(
        repo_id=variant.repo,
        files=[f.name for f in variant.files],
        models_dir=models_dir,
        model_id=entry.id,
        variant_id=variant.id,
        revision=variant.revision or "main",
        sha256={f.name: f.sha256 for f in variant.files if f.sha256},
        sizes={f.name: f.size_bytes for f in variant.files if f.size_bytes},
        token=token,
        progress=DownloadBar(),
    )


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    entry = catalog.get(args.model)
    variant = entry.variant(args.model.split(":", 1)[1] if ":" in args.model else None)
    models_dir = default_paths().models_dir
    if entry.embedded:
        print(f"{entry.id} is embedded in Roost; nothing to download.")
        return 0
    existing = variant_path(models_dir, entry, variant)
    if existing:
        print(f"{entry.id}:{variant.id} is already on disk: {existing}")
        return 0
    size = variant.total_bytes
    print(f"Downloading {entry.id}:{variant.id} from {variant.repo} ({gib(size)})")
    path = pull_variant(entry, variant, models_dir, args.token)
    print(f"Done: {path}")
    return 0

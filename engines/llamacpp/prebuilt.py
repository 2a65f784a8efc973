"""Optional prebuilt llama.cpp: download an official release archive with a pinned checksum.

Faster than building for online users. A release is only installed when its sha256 is pinned:
an archive whose checksum differs is deleted and reported, never run. Downloads resume from a
``.part`` file. No release is pinned in this checkout (``PINNED_RELEASES`` is empty): the
checksums could not be verified from the offline workplace it was written in, and an
unverified pin would defeat the point. The mechanism is tested against a local server.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from engines.errors import EngineBuildCancelled, EngineBuildFailed, EngineNotInstalled
from engines.llamacpp.build import BINARIES, BuildProgress, BuiltEngine, ProgressFn


@dataclass(frozen=True)
class PrebuiltRelease:
    """One downloadable archive for one platform and backend."""

    key: str  # e.g. "linux-x86_64-cpu"
    version: str  # llama.cpp release tag
    url: str
    sha256: str


PINNED_RELEASES: dict[str, PrebuiltRelease] = {}


def platform_key(backend: str) -> str:
    return f"{platform.system().lower()}-{platform.machine().lower()}-{backend}"


def pinned_release(
    backend: str, table: dict[str, PrebuiltRelease] | None = None
) -> PrebuiltRelease:
    table = PINNED_RELEASES if table is None else table
    key = platform_key(backend)
    if key not in table:
        raise EngineNotInstalled(
            f"No prebuilt llama.cpp is pinned for {key}.",
            hint="Build it instead: `roost engines install llama.cpp`.",
        )
    return table[key]


def _download(url: str, dest: Path, progress: ProgressFn, cancel: threading.Event) -> None:
    part = dest.with_suffix(dest.suffix + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=30) as r:
        if r.status_code == 416:  # already complete
            part.rename(dest)
            return
        if r.status_code not in (200, 206):
            raise EngineBuildFailed(f"Download of {url} failed: HTTP {r.status_code}.")
        if r.status_code == 200:
            have = 0  # server ignored the range: start over
        total = have + int(r.headers.get("content-length", 0) or 0)
        with part.open("ab" if have else "wb") as fh:
            for chunk in r.iter_bytes(1 << 16):
                if cancel.is_set():
                    raise EngineBuildCancelled("The llama.cpp download was cancelled.")
                fh.write(chunk)
                have += len(chunk)
                if total:
                    progress(BuildProgress("download", 100.0 * have / total))
    part.rename(dest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install_prebuilt(
    cache_dir: Path,
    release: PrebuiltRelease,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> BuiltEngine:
    """Download, verify, unpack and smoke-test ``release`` into ``cache_dir``."""
    report = progress or (lambda _p: None)
    cancel = cancel or threading.Event()
    target = cache_dir / f"prebuilt-{release.version}-{release.key}"
    if (target / "manifest.json").exists():
        report(BuildProgress("cached", 100.0))
        return BuiltEngine(target, release.version, release.key.rsplit("-", 1)[-1])
    downloads = cache_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = downloads / f"{release.version}-{release.key}.zip"
    if not archive.exists():
        _download(release.url, archive, report, cancel)
    actual = _sha256(archive)
    if actual != release.sha256:
        archive.unlink()
        raise EngineBuildFailed(
            f"The llama.cpp archive's sha256 is {actual}, expected {release.sha256}; "
            "it was deleted and not run.",
            hint="Try again later or build from source (`roost engines install llama.cpp`).",
        )
    staging = cache_dir / f"{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = Path(info.filename).name
            if info.is_dir() or not name or ".." in Path(info.filename).parts:
                continue
            if name in BINARIES or name.endswith((".so", ".dylib", ".dll", ".metal")):
                out = staging / "bin" / name
                out.write_bytes(zf.read(info))
                out.chmod(out.stat().st_mode | stat.S_IXUSR)
    server = staging / "bin" / "llama-server"
    if not server.exists():
        raise EngineBuildFailed(f"The archive {release.url} holds no llama-server.")
    smoke = subprocess.run(
        [str(server), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "LD_LIBRARY_PATH": str(staging / "bin")},
    )
    if smoke.returncode != 0:
        raise EngineBuildFailed(f"The downloaded llama-server does not run: {smoke.stderr[-300:]}")
    backend = release.key.rsplit("-", 1)[-1]
    manifest = {
        "version": release.version,
        "backend": backend,
        "source": release.url,
        "sha256": release.sha256,
        "installed_at": time.time(),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    report(BuildProgress("done", 100.0))
    return BuiltEngine(target, release.version, backend)

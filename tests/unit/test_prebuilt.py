"""Prebuilt llama.cpp download: checksum pinned, resume, refusal of a wrong archive."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from engines.errors import EngineBuildFailed, EngineNotInstalled
from engines.llamacpp.prebuilt import (
    PrebuiltRelease,
    install_prebuilt,
    pinned_release,
    platform_key,
)
from tests.range_server import RangeServer

SCRIPT = "#!/bin/sh\necho 'version: 9999 (test build)'\n"


def _archive(tmp_path: Path, padding: int = 200_000) -> tuple[Path, str]:
    path = tmp_path / "llama-bin.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("build/bin/llama-server", SCRIPT)
        zf.writestr("build/bin/llama-bench", SCRIPT)
        zf.writestr("build/bin/README.md", "x" * padding)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_install_verified_archive(tmp_path: Path) -> None:
    archive, sha = _archive(tmp_path)
    with RangeServer({"/rel/llama.zip": archive}) as server:
        release = PrebuiltRelease("linux-x86_64-cpu", "b9999", server.url("/rel/llama.zip"), sha)
        built = install_prebuilt(tmp_path / "cache", release)
        again = install_prebuilt(tmp_path / "cache", release)
        assert len(server.requests) == 1, "the second install is served from the cache"
    assert built.server.exists()
    assert again.directory == built.directory
    assert (built.directory / "manifest.json").exists()


def test_wrong_checksum_is_deleted_and_not_run(tmp_path: Path) -> None:
    archive, _ = _archive(tmp_path)
    with RangeServer({"/rel/llama.zip": archive}) as server:
        release = PrebuiltRelease("k-cpu", "b1", server.url("/rel/llama.zip"), "0" * 64)
        with pytest.raises(EngineBuildFailed, match="sha256"):
            install_prebuilt(tmp_path / "cache", release)
    assert not list((tmp_path / "cache" / "downloads").glob("*.zip"))
    assert not list((tmp_path / "cache").glob("prebuilt-*"))


def test_interrupted_download_resumes(tmp_path: Path) -> None:
    archive, sha = _archive(tmp_path)
    cache = tmp_path / "cache"
    (cache / "downloads").mkdir(parents=True)
    part = cache / "downloads" / "b2-k-cpu.zip.part"
    done = archive.read_bytes()[:100_000]
    part.write_bytes(done)
    with RangeServer({"/rel/llama.zip": archive}) as server:
        release = PrebuiltRelease("k-cpu", "b2", server.url("/rel/llama.zip"), sha)
        install_prebuilt(cache, release)
        assert server.requests[0][1] == "bytes=100000-"
        assert server.bytes_served == archive.stat().st_size - len(done)


def test_no_pin_no_download() -> None:
    with pytest.raises(EngineNotInstalled, match="No prebuilt"):
        pinned_release("cpu", {})
    key = platform_key("cpu")
    fake = PrebuiltRelease(key, "b1", "http://127.0.0.1:9/x.zip", "0" * 64)
    assert pinned_release("cpu", {key: fake}) is fake

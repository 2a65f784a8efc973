"""Interruption, resume, cancel, checksums, timeouts and the disk check, on the local hub."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.downloads import (
    ChecksumMismatchError,
    DownloadCancelledError,
    DownloadInterruptedError,
    DownloadProgress,
    DownloadTimeoutError,
    InsufficientDiskError,
    download_gguf,
)
from tests.hub_server import HubServer

REPO = "org/tiny-GGUF"
SIZE = 1_000_000


def gguf_bytes(n: int) -> bytes:
    return b"GGUF" + os.urandom(n - 4)


@pytest.fixture(autouse=True)
def _isolated_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture
def data() -> bytes:
    return gguf_bytes(SIZE)


def pull(hub: HubServer, models_dir: Path, **kwargs: Any) -> Path:
    kwargs.setdefault("files", ["m.gguf"])
    return download_gguf(
        repo_id=REPO,
        models_dir=models_dir,
        model_id="m",
        variant_id="q4",
        endpoint=hub.endpoint,
        **kwargs,
    )


def partial_file(models_dir: Path, name: str = "m.gguf") -> Path:
    return models_dir / "m" / "q4" / ".partial" / f"{name}.incomplete"


def test_interrupted_download_resumes_without_refetching(
    hub: HubServer, tmp_path: Path, data: bytes
) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    hub.interrupt("m.gguf", after_bytes=400_000)
    with pytest.raises(DownloadInterruptedError, match="400000 of 1000000 bytes") as err:
        pull(hub, tmp_path, retries=0)
    assert "resumes from the bytes already received" in err.value.hint
    kept = partial_file(tmp_path).stat().st_size
    assert kept == 400_000
    assert not (tmp_path / "m" / "q4" / "m.gguf").exists()

    hub.clear_log()
    path = pull(hub, tmp_path, retries=0)
    assert path.read_bytes() == data
    assert hub.bytes_served("m.gguf") == SIZE - kept
    assert [r.range for r in hub.requests if r.method == "GET"] == ["bytes=400000-"]
    assert not partial_file(tmp_path).exists()


def test_lost_connection_is_resumed_within_one_call(
    hub: HubServer, tmp_path: Path, data: bytes
) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    hub.interrupt("m.gguf", after_bytes=300_000, times=2)
    path = pull(hub, tmp_path, retries=3)
    assert path.read_bytes() == data
    assert hub.bytes_served("m.gguf") == SIZE  # every byte sent once
    assert [r.range for r in hub.requests if r.method == "GET"] == [
        None,
        "bytes=300000-",
        "bytes=600000-",
    ]


def test_cancel_keeps_partial_and_a_later_call_resumes(tmp_path: Path, data: bytes) -> None:
    with HubServer(throttle_s=0.01, chunk_bytes=32 * 1024) as hub:
        hub.add_repo(REPO, {"m.gguf": data})
        cancel = threading.Event()

        def on_progress(p: DownloadProgress) -> None:
            if p.bytes_done >= 200_000:
                cancel.set()

        with pytest.raises(DownloadCancelledError, match="cancelled"):
            pull(hub, tmp_path, cancel=cancel, progress=on_progress)
        kept = partial_file(tmp_path).stat().st_size
        assert 200_000 <= kept < SIZE

        hub.clear_log()
        hub.throttle_s = 0.0
        reports: list[DownloadProgress] = []
        path = pull(hub, tmp_path, progress=reports.append)
        assert path.read_bytes() == data
        assert hub.bytes_served("m.gguf") == SIZE - kept
        assert reports[0].bytes_done == kept  # resumed bytes count as done from the start
        assert reports[-1].bytes_done == SIZE


def test_wrong_content_is_quarantined_not_installed(
    hub: HubServer, tmp_path: Path, data: bytes
) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    hub.corrupt("m.gguf")
    with pytest.raises(ChecksumMismatchError, match="failed verification") as err:
        pull(hub, tmp_path)
    assert "from the hub" in err.value.message
    quarantined = err.value.quarantine_path
    assert quarantined.is_file()
    assert quarantined.is_relative_to(tmp_path / ".quarantine" / "m" / "q4")
    assert not (tmp_path / "m" / "q4" / "m.gguf").exists()
    assert not partial_file(tmp_path).exists()

    # A later call fetches afresh; the quarantined bytes are neither reused nor touched.
    hub.corrupt("m.gguf", on=False)
    hub.clear_log()
    before = quarantined.read_bytes()
    assert pull(hub, tmp_path).read_bytes() == data
    assert hub.bytes_served("m.gguf") == SIZE
    assert quarantined.read_bytes() == before


def test_catalog_checksum_is_checked(hub: HubServer, tmp_path: Path, data: bytes) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    with pytest.raises(ChecksumMismatchError, match=r"expected 0{64} \(from the catalog\)"):
        pull(hub, tmp_path, sha256={"m.gguf": "0" * 64})
    good = hashlib.sha256(data).hexdigest()
    assert pull(hub, tmp_path, sha256={"m.gguf": good.upper()}).read_bytes() == data


def test_slow_server_times_out_clearly(tmp_path: Path, data: bytes) -> None:
    with HubServer(throttle_s=2.0) as hub:
        hub.add_repo(REPO, {"m.gguf": data})
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError, match=r"sent no data for 0\.3 s"):
            pull(hub, tmp_path, timeout_s=0.3, retries=0)
        assert time.monotonic() - started < 2.0


def test_timeout_from_environment(
    tmp_path: Path, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0.2")
    with HubServer(throttle_s=2.0) as hub:
        hub.add_repo(REPO, {"m.gguf": data})
        with pytest.raises(DownloadTimeoutError, match=r"0\.2 s"):
            pull(hub, tmp_path, retries=0)


def test_not_enough_disk_names_both_sizes(hub: HubServer, tmp_path: Path, data: bytes) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    hub.interrupt("m.gguf", after_bytes=250_000)
    with pytest.raises(DownloadInterruptedError):
        pull(hub, tmp_path, retries=0)
    hub.clear_log()
    with pytest.raises(InsufficientDiskError) as err:
        pull(hub, tmp_path, free_bytes=lambda _path: 123_456)
    assert err.value.needed_bytes == SIZE - 250_000  # only what is still missing
    assert err.value.free_bytes == 123_456
    assert "750000 bytes" in err.value.message
    assert "123456 bytes" in err.value.message
    assert hub.bytes_served() == 0


def test_changed_remote_file_discards_stale_partial(
    hub: HubServer, tmp_path: Path, data: bytes
) -> None:
    hub.add_repo(REPO, {"m.gguf": data})
    hub.interrupt("m.gguf", after_bytes=100_000)
    with pytest.raises(DownloadInterruptedError):
        pull(hub, tmp_path, retries=0)
    new = gguf_bytes(SIZE)
    hub.add_repo(REPO, {"m.gguf": new})  # a new commit replaces the file
    hub.clear_log()
    assert pull(hub, tmp_path).read_bytes() == new
    assert hub.bytes_served("m.gguf") == SIZE


def test_server_ignoring_range_still_resumes_correctly(tmp_path: Path, data: bytes) -> None:
    with HubServer(ignore_range=True) as hub:
        hub.add_repo(REPO, {"m.gguf": data})
        hub.interrupt("m.gguf", after_bytes=500_000)
        with pytest.raises(DownloadInterruptedError):
            pull(hub, tmp_path, retries=0)
        reports: list[DownloadProgress] = []
        path = pull(hub, tmp_path, progress=reports.append)
        assert path.read_bytes() == data
        done = [r.bytes_done for r in reports]
        assert done == sorted(done)
        assert done[-1] == SIZE

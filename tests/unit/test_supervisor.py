"""Supervisor logic with an injected process factory (the real one is in tests/integration)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from app.catalog.resolve import ResolvedModel
from app.core.errors import EngineError, PlanError
from app.core.paths import RoostPaths
from app.runtime.supervisor import Supervisor, describe_change
from engines.base import EngineDriver, LaunchSpec, LoadState
from engines.errors import EngineStartFailed, OutOfMemory
from engines.process import EngineProcess, sweep_orphans
from tests.specs import GIB, dense_spec, machine


def _paths(tmp_path: Path) -> RoostPaths:
    return RoostPaths(tmp_path / "c", tmp_path / "d", tmp_path / "k", tmp_path / "l")


class ScriptedProcess:
    """Stands in for EngineProcess: fails with the scripted errors, then becomes ready."""

    failures: ClassVar[list[BaseException]] = []
    launched: ClassVar[list[LaunchSpec]] = []

    def __init__(self, driver: EngineDriver, spec: LaunchSpec, run_dir: Path, log_dir: Path):
        self.driver, self.spec = driver, spec
        self.running = False
        self.pidfile = run_dir / "x.pid.json"

    def start(self) -> None:
        ScriptedProcess.launched.append(self.spec)
        self.running = True

    def wait_ready(self, timeout: float = 0, on_progress: object = None) -> None:
        if ScriptedProcess.failures:
            self.running = False
            raise ScriptedProcess.failures.pop(0)

    def stop(self, grace: float = 0) -> None:
        self.running = False

    def is_running(self) -> bool:
        return self.running

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"


@pytest.fixture
def resolved(tmp_path: Path) -> ResolvedModel:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    return ResolvedModel(spec=dense_spec(weights=14 * GIB), path=model)


def test_out_of_memory_retries_with_a_smaller_plan(tmp_path: Path, resolved: ResolvedModel) -> None:
    events: list[str] = []
    ScriptedProcess.failures = [OutOfMemory("oom"), OutOfMemory("oom")]
    ScriptedProcess.launched = []
    sup = Supervisor(
        _paths(tmp_path), machine([16], 64), driver=None,  # type: ignore[arg-type]
        process_factory=ScriptedProcess,  # type: ignore[arg-type]
        port_factory=lambda: 9999, on_event=events.append,
    )  # fmt: skip
    running = sup.start(resolved)
    layers = [s.gpu_layers for s in ScriptedProcess.launched]
    contexts = [s.context for s in ScriptedProcess.launched]
    assert len(layers) == 3
    assert layers[2] < layers[0] or contexts[2] < contexts[0], "each retry asks for less"
    assert running.margin_bytes == sup.margin_bytes + 2 * GIB
    assert len(running.changes) == 2
    assert all("out of memory" in e for e in events)


def test_out_of_memory_gives_up_with_a_clear_error(tmp_path: Path, resolved: ResolvedModel) -> None:
    ScriptedProcess.failures = [OutOfMemory("The engine ran out of memory", hint="smaller")] * 4
    sup = Supervisor(
        _paths(tmp_path), machine([16], 64), driver=None,  # type: ignore[arg-type]
        process_factory=ScriptedProcess, port_factory=lambda: 9999,  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(EngineError, match="ran out of memory"):
        sup.start(resolved)
    assert not sup.models


def test_model_that_does_not_fit_is_refused_before_launch(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    big = ResolvedModel(spec=dense_spec(weights=200 * GIB), path=model)
    ScriptedProcess.launched = []
    sup = Supervisor(
        _paths(tmp_path), machine([8], 16), driver=None,  # type: ignore[arg-type]
        process_factory=ScriptedProcess,  # type: ignore[arg-type]
    )  # fmt: skip
    with pytest.raises(PlanError, match="does not fit"):
        sup.start(big)
    assert ScriptedProcess.launched == []


def test_describe_change() -> None:
    spec = dense_spec()
    from app.planner.advise import advise

    a = advise(spec, machine([24], 64))
    b = advise(spec, machine([12], 64))
    text = describe_change(a, b)
    assert "GPU layers" in text


class SleepDriver:
    """A real process that never becomes ready: enough to test process-group handling."""

    name = "sleeper"

    def command(self, spec: LaunchSpec) -> list[str]:
        code = (
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "time.sleep(60)"
        )
        return [sys.executable, "-c", code]

    def health_url(self, spec: LaunchSpec) -> str:
        return f"http://127.0.0.1:{spec.port}/health"

    def load_progress(self, log_tail: list[str]) -> float:
        return 0.0

    def classify_failure(self, log_tail: str, exit_code: int | None) -> EngineStartFailed:
        return EngineStartFailed("sleeper failed")


def _spec(port: int = 1) -> LaunchSpec:
    return LaunchSpec(model_path=Path("x"), model_alias="x", port=port)


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    import psutil

    proc = EngineProcess(SleepDriver(), _spec(), tmp_path / "run", tmp_path / "log")
    proc.start()
    assert proc.pid is not None
    parent = psutil.Process(proc.pid)
    deadline = 50
    while not parent.children() and deadline:
        deadline -= 1
        psutil.wait_procs([], timeout=0.1)
    children = parent.children(recursive=True)
    assert children, "the fake engine started a child"
    proc.stop(grace=1.0)
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive
    assert not proc.pidfile.exists()


def test_wait_ready_times_out_with_a_clear_error(tmp_path: Path) -> None:
    proc = EngineProcess(SleepDriver(), _spec(), tmp_path / "run", tmp_path / "log")
    proc.start()
    states: list[LoadState] = []
    with pytest.raises(EngineStartFailed, match="did not become ready"):
        proc.wait_ready(timeout=0.5, on_progress=states.append)
    assert states
    assert not proc.is_running()


def test_sweep_kills_orphans_of_a_dead_roost(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    cmd = " ".join(orphan.args)  # type: ignore[arg-type]
    dead_owner = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_owner.wait()
    (run_dir / "x.pid.json").write_text(
        json.dumps({"pid": orphan.pid, "owner": dead_owner.pid, "cmd": cmd})
    )
    (run_dir / "broken.pid.json").write_text("{not json")
    killed = sweep_orphans(run_dir)
    assert killed == [orphan.pid]
    assert orphan.wait(timeout=5) != 0
    assert not list(run_dir.iterdir())


def test_sweep_spares_processes_of_a_live_roost(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "x.pid.json").write_text(
            json.dumps({"pid": child.pid, "owner": os.getppid(), "cmd": ""})
        )
        assert sweep_orphans(run_dir) == []
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()

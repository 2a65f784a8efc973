"""ModelPool: load on demand, one load per model, idle unload, swapping when memory is short."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.catalog.resolve import ResolvedModel
from app.core.errors import CatalogError
from app.core.paths import RoostPaths
from app.planner.types import PlanGoal
from app.runtime.model_pool import ModelPool
from app.runtime.supervisor import Supervisor
from engines.base import LaunchSpec
from engines.errors import EngineCrashed
from tests.specs import GIB, dense_spec, machine


class FakeProcess:
    """Shaped like EngineProcess; 'loading' takes ``delay`` seconds."""

    delay = 0.0
    started: list[str] = []  # noqa: RUF012 - shared by the test on purpose

    def __init__(self, driver: object, spec: LaunchSpec, run_dir: Path, log_dir: Path) -> None:
        self.spec, self.running = spec, False
        self.pidfile = run_dir / "x"

    def start(self) -> None:
        FakeProcess.started.append(self.spec.model_alias)
        self.running = True

    def wait_ready(self, timeout: float = 0, on_progress: object = None) -> None:
        time.sleep(FakeProcess.delay)

    def stop(self, grace: float = 0) -> None:
        self.running = False

    def is_running(self) -> bool:
        return self.running

    def crash_error(self) -> EngineCrashed:
        return EngineCrashed(f"The engine serving {self.spec.model_alias} stopped (signal 9).")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.port}"


def _pool(tmp_path: Path, vram: float, clock: list[float] | None = None) -> ModelPool:
    FakeProcess.started = []
    paths = RoostPaths(tmp_path / "c", tmp_path / "d", tmp_path / "k", tmp_path / "l")
    sup = Supervisor(
        paths, machine([vram], 32), driver=None,  # type: ignore[arg-type]
        process_factory=FakeProcess, port_factory=iter(range(9000, 9100)).__next__,  # type: ignore[arg-type]
    )  # fmt: skip
    models = {
        name: ResolvedModel(
            spec=dense_spec(weights=w * GIB).model_copy(update={"id": name}),
            path=tmp_path / f"{name}.gguf",
        )
        for name, w in (("small", 4), ("big", 14), ("other", 4))
    }

    def resolve(name: str) -> ResolvedModel:
        if name not in models:
            raise CatalogError(f"Unknown model {name!r}.")
        return models[name]

    now = clock if clock is not None else [0.0]
    return ModelPool(
        sup, resolve, goal_for=lambda r: PlanGoal(context=8192), ttl_s=60, clock=lambda: now[0]
    )


def test_loads_on_first_request_and_reuses(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 24)
    a = pool.acquire("small")
    pool.release("small")
    b = pool.acquire("small")
    assert a is b
    assert FakeProcess.started == ["small"]
    with pytest.raises(CatalogError):
        pool.acquire("nope")


def test_concurrent_requests_share_one_load(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 24)
    FakeProcess.delay = 0.3
    try:
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(pool.acquire("small"))) for _ in range(5)
        ]
        for t in threads:
            t.start()
        time.sleep(0.1)
        assert pool.is_loading("small")
        for t in threads:
            t.join()
    finally:
        FakeProcess.delay = 0.0
    assert FakeProcess.started == ["small"], "waiting clients get the same load"
    assert len({id(r) for r in results}) == 1


def test_idle_models_unload_after_ttl(tmp_path: Path) -> None:
    clock = [0.0]
    pool = _pool(tmp_path, 24, clock)
    pool.acquire("small")
    clock[0] = 100.0
    assert pool.reap_idle() == [], "a model with a request in flight stays"
    pool.release("small")
    clock[0] = 130.0
    assert pool.reap_idle() == []
    clock[0] = 200.0
    assert pool.reap_idle() == ["small"]
    assert pool.loaded() == {}


def test_switching_unloads_when_only_one_fits(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 16)  # 4 + 14 GiB cannot share 16 GiB; 4 + 4 can
    pool.acquire("small")
    pool.release("small")
    pool.acquire("other")
    pool.release("other")
    assert set(pool.loaded()) == {"small", "other"}
    pool.acquire("big")
    assert set(pool.loaded()) == {"big"}
    assert FakeProcess.started == ["small", "other", "big"]


def test_crashed_model_is_restarted_on_next_request(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 24)
    first = pool.acquire("small")
    pool.release("small")
    first.process.running = False  # type: ignore[attr-defined]
    second = pool.acquire("small")
    assert second.process.is_running()
    assert FakeProcess.started == ["small", "small"]

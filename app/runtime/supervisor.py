"""The runtime supervisor: plan → engine process, readiness, restarts, out-of-memory retry.

Factories are injected (``process_factory``, ``port_factory``) so tests can substitute them;
by default real ``EngineProcess`` objects run real engines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.catalog.resolve import ResolvedModel
from app.core.atomic import write_atomic
from app.core.errors import EngineError, ModelFileError, PlanError
from app.core.paths import RoostPaths
from app.hardware.profile import HardwareProfile
from app.planner.advise import DEFAULT_MARGIN_BYTES, Calibration, advise
from app.planner.types import PlacementPlan, PlanGoal
from app.runtime.launch import launch_spec
from engines.base import EngineDriver, LaunchSpec, LoadState, free_port
from engines.errors import CorruptModelFile, EngineFailure, OutOfMemory, PortInUse
from engines.process import EngineProcess, sweep_orphans

log = logging.getLogger(__name__)

ProcessFactory = Callable[[EngineDriver, LaunchSpec, Path, Path], EngineProcess]
# Each out-of-memory retry asks the planner for a plan with this much more left free.
OOM_STEP_BYTES = 1024**3
MAX_OOM_RETRIES = 3
MAX_RESTARTS = 3
RESTART_WINDOW_S = 600.0


@dataclass
class RunningModel:
    """A model being served: its plan, process and address."""

    model_id: str
    resolved: ResolvedModel
    goal: PlanGoal
    plan: PlacementPlan
    process: EngineProcess
    margin_bytes: int
    restarts: list[float] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.process.url


def describe_change(old: PlacementPlan, new: PlacementPlan) -> str:
    """One sentence saying how ``new`` differs from ``old``."""
    parts = []
    if new.gpu_layers != old.gpu_layers:
        parts.append(f"GPU layers {old.gpu_layers} → {new.gpu_layers}")
    if new.n_cpu_moe != old.n_cpu_moe:
        parts.append(f"layers with experts in RAM {old.n_cpu_moe} → {new.n_cpu_moe}")
    if new.context != old.context:
        parts.append(f"context {old.context} → {new.context}")
    if new.kv_type != old.kv_type:
        parts.append(f"KV cache {old.kv_type} → {new.kv_type}")
    return ", ".join(parts) or "same placement with more memory left free"


class Supervisor:
    """Starts, watches, restarts and stops engine processes for models."""

    def __init__(
        self,
        paths: RoostPaths,
        hw: HardwareProfile,
        driver: EngineDriver,
        process_factory: ProcessFactory = EngineProcess,
        port_factory: Callable[[], int] = free_port,
        margin_bytes: int = DEFAULT_MARGIN_BYTES,
        on_event: Callable[[str], None] | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self.calibration = calibration
        self.paths, self.hw, self.driver = paths, hw, driver
        self.process_factory, self.port_factory = process_factory, port_factory
        self.margin_bytes = margin_bytes
        self.on_event = on_event or (lambda msg: log.info("%s", msg))
        self.models: dict[str, RunningModel] = {}
        self._lock = threading.RLock()
        swept = sweep_orphans(paths.run_dir)
        if swept:
            self.on_event(f"stopped {len(swept)} engine process(es) left by an earlier run")

    # -- helpers ---------------------------------------------------------------------
    def _template_file(self, resolved: ResolvedModel) -> Path | None:
        entry = resolved.entry
        if entry is None or not entry.chat_template or resolved.spec.has_chat_template:
            return None
        path = self.paths.data_dir / "templates" / f"{entry.id}.jinja"
        if not path.exists() or path.read_text() != entry.chat_template:
            write_atomic(path, entry.chat_template)
        return path

    def _plan(self, resolved: ResolvedModel, goal: PlanGoal, margin: int) -> PlacementPlan:
        plan = advise(resolved.spec, self.hw, goal, margin, self.calibration)
        if not plan.fits:
            raise PlanError(f"{resolved.spec.id} does not fit this machine. {plan.reason}")
        return plan

    def _launch(
        self,
        resolved: ResolvedModel,
        plan: PlacementPlan,
        on_progress: Callable[[LoadState], None] | None,
        timeout: float,
    ) -> EngineProcess:
        if resolved.path is None:
            raise ModelFileError(f"{resolved.spec.id} is not on disk.", hint="`roost pull` it.")
        for _attempt in range(3):
            spec = launch_spec(
                plan, resolved.path, resolved.spec.id, self.port_factory(),
                self._template_file(resolved),
            )  # fmt: skip
            process = self.process_factory(
                self.driver, spec, self.paths.run_dir, self.paths.log_dir
            )
            process.start()
            try:
                process.wait_ready(timeout=timeout, on_progress=on_progress)
                return process
            except PortInUse:
                process.stop()
                continue  # another program took the port between choosing and binding
            except BaseException:
                process.stop()
                raise
        raise EngineError("Could not find a free port for the engine.")

    # -- public API ------------------------------------------------------------------
    def start(
        self,
        resolved: ResolvedModel,
        goal: PlanGoal | None = None,
        on_progress: Callable[[LoadState], None] | None = None,
        timeout: float = 600.0,
    ) -> RunningModel:
        """Plan, launch and wait until ready; out of memory → smaller plan, retried."""
        goal = goal or PlanGoal()
        model_id = resolved.spec.id
        with self._lock:
            if model_id in self.models and self.models[model_id].process.is_running():
                return self.models[model_id]
        margin = self.margin_bytes
        plan = self._plan(resolved, goal, margin)
        changes: list[str] = []
        for attempt in range(MAX_OOM_RETRIES + 1):
            try:
                process = self._launch(resolved, plan, on_progress, timeout)
                break
            except OutOfMemory as exc:
                if attempt == MAX_OOM_RETRIES:
                    raise _engine_error(exc) from exc
                margin += OOM_STEP_BYTES
                smaller = self._plan(resolved, goal, margin)
                change = describe_change(plan, smaller)
                self.on_event(f"{model_id}: out of memory at load, retrying with {change}")
                changes.append(change)
                plan = smaller
            except CorruptModelFile as exc:
                raise ModelFileError(exc.message, hint=exc.hint) from exc
            except EngineFailure as exc:
                raise _engine_error(exc) from exc
        running = RunningModel(model_id, resolved, goal, plan, process, margin, changes=changes)
        with self._lock:
            self.models[model_id] = running
        return running

    def ensure_running(self, model_id: str) -> RunningModel:
        """Restart a crashed model (at most MAX_RESTARTS in RESTART_WINDOW_S)."""
        with self._lock:
            running = self.models[model_id]
            if running.process.is_running():
                return running
            crash = running.process.crash_error()
            now = time.monotonic()
            running.restarts = [t for t in running.restarts if now - t < RESTART_WINDOW_S]
            if len(running.restarts) >= MAX_RESTARTS:
                running.process.stop()
                del self.models[model_id]
                raise EngineError(
                    f"{crash.message} It crashed {MAX_RESTARTS} times in "
                    f"{RESTART_WINDOW_S / 60:.0f} minutes, so Roost stopped restarting it.",
                    hint=crash.hint,
                )
            self.on_event(f"{crash.message} Restarting.")
            running.process.stop()
            del self.models[model_id]
        restarted = self.start(running.resolved, running.goal)
        restarted.restarts = [*running.restarts, now]
        return restarted

    def stop(self, model_id: str) -> None:
        with self._lock:
            running = self.models.pop(model_id, None)
        if running:
            running.process.stop()

    def stop_all(self) -> None:
        for model_id in list(self.models):
            self.stop(model_id)


def _engine_error(exc: EngineFailure) -> EngineError:
    tail = exc.log_tail.strip().splitlines()[-3:] if exc.log_tail else []
    detail = ("\n    " + "\n    ".join(tail)) if tail else ""
    return EngineError(f"{exc.message}{detail}", hint=exc.hint)

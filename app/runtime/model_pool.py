"""Which models are loaded: load on demand, unload when idle, make room when memory is short.

The gateway asks ``acquire(name)`` for every request. A model that is not loaded is loaded with
the planner's plan; concurrent requests for a model that is loading wait for that one load.
Models idle for longer than the TTL are unloaded by ``reap_idle``; when loading a model would
overflow a device together with the loaded ones, the least recently used are unloaded first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from app.catalog.resolve import ResolvedModel
from app.planner.advise import advise
from app.planner.types import PlacementPlan, PlanGoal
from app.runtime.supervisor import RunningModel, Supervisor

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 15 * 60.0


@dataclass
class _Slot:
    running: RunningModel
    last_used: float
    in_flight: int = 0


def _fits_together(plans: list[PlacementPlan]) -> bool:
    """True when every device can hold all ``plans`` at once."""
    used: dict[str, int] = {}
    budget: dict[str, int] = {}
    for plan in plans:
        for d in plan.devices:
            used[d.device] = used.get(d.device, 0) + d.total_bytes
            budget[d.device] = d.budget_bytes
    return all(used[k] <= budget[k] for k in used)


class ModelPool:
    """Loaded models by id, with on-demand loading and idle unloading."""

    def __init__(
        self,
        supervisor: Supervisor,
        resolve: Callable[[str], ResolvedModel],
        goal_for: Callable[[ResolvedModel], PlanGoal] | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.supervisor, self.resolve = supervisor, resolve
        self.goal_for = goal_for or (lambda _r: PlanGoal())
        self.ttl_s, self.clock = ttl_s, clock
        self._slots: dict[str, _Slot] = {}
        self._loading: dict[str, Future[RunningModel]] = {}
        self._lock = threading.Lock()

    def loaded(self) -> dict[str, RunningModel]:
        with self._lock:
            return {k: s.running for k, s in self._slots.items()}

    def is_loading(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._loading

    def peek(self, name: str) -> ResolvedModel | None:
        """``resolve(name)`` when it is already known (never blocks), else None."""
        cached = getattr(self.resolve, "cached", None)
        result: ResolvedModel | None = cached(name) if callable(cached) else None
        return result

    def acquire_nowait(self, model_id: str) -> RunningModel | None:
        """The running model if it is loaded and running (never blocks on a load)."""
        with self._lock:
            slot = self._slots.get(model_id)
            if slot is None or not slot.running.process.is_running():
                return None
            slot.last_used = self.clock()
            slot.in_flight += 1
            return slot.running

    def acquire(self, name: str) -> RunningModel:
        """The running model for ``name`` (id or alias), loading it if needed (blocking)."""
        resolved = self.resolve(name)
        model_id = resolved.spec.id
        with self._lock:
            slot = self._slots.get(model_id)
            if slot and slot.running.process.is_running():
                slot.last_used = self.clock()
                slot.in_flight += 1
                return slot.running
            future = self._loading.get(model_id)
            owner = future is None
            if owner:
                future = Future()
                self._loading[model_id] = future
        assert future is not None
        if owner:
            self._load(model_id, resolved, future)
        running = future.result()
        with self._lock:
            slot = self._slots.get(model_id)
            if slot:
                slot.in_flight += 1
                slot.last_used = self.clock()
        return running

    def release(self, model_id: str) -> None:
        with self._lock:
            slot = self._slots.get(model_id)
            if slot:
                slot.in_flight = max(0, slot.in_flight - 1)
                slot.last_used = self.clock()

    def _load(self, model_id: str, resolved: ResolvedModel, future: Future[RunningModel]) -> None:
        try:
            with self._lock:
                old = self._slots.pop(model_id, None)
            if old is not None:  # crashed: restart through the supervisor's policy
                running = self.supervisor.ensure_running(model_id)
            else:
                self._make_room(resolved)
                running = self.supervisor.start(resolved, self.goal_for(resolved))
            with self._lock:
                self._slots[model_id] = _Slot(running, self.clock())
            future.set_result(running)
        except BaseException as exc:
            future.set_exception(exc)
        finally:
            with self._lock:
                self._loading.pop(model_id, None)

    def _make_room(self, resolved: ResolvedModel) -> None:
        """Unload least-recently-used idle models until the new one fits beside the rest."""
        sup = self.supervisor
        new_plan = advise(resolved.spec, sup.hw, self.goal_for(resolved), sup.margin_bytes)
        while True:
            with self._lock:
                others = sorted(self._slots.items(), key=lambda kv: kv[1].last_used)
                plans = [s.running.plan for _, s in others]
            if not others or _fits_together([*plans, new_plan]):
                return
            victim, _slot = others[0]
            log.info("unloading %s to make room for %s", victim, resolved.spec.id)
            self.unload(victim)

    def unload(self, model_id: str) -> None:
        with self._lock:
            self._slots.pop(model_id, None)
        self.supervisor.stop(model_id)

    def reap_idle(self) -> list[str]:
        """Unload models idle for longer than the TTL; returns their ids."""
        now = self.clock()
        with self._lock:
            idle = [
                k
                for k, s in self._slots.items()
                if s.in_flight == 0 and now - s.last_used > self.ttl_s
            ]
        for model_id in idle:
            self.unload(model_id)
        return idle

    def shutdown(self) -> None:
        for model_id in list(self.loaded()):
            self.unload(model_id)

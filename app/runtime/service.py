"""Wiring shared by `roost serve`, `roost run` and the GUI: a supervisor and a model pool."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.catalog.catalog import Catalog
from app.catalog.resolve import ResolvedModel, resolve_model, variant_path
from app.core.errors import ModelFileError
from app.core.paths import RoostPaths
from app.core.settings import RoostSettings
from app.hardware.profile import HardwareProfile
from app.planner.advise import Calibration
from app.planner.types import PlanGoal
from app.runtime.model_pool import ModelPool
from app.runtime.supervisor import Supervisor
from engines.base import EngineDriver


class CachedResolver:
    """Resolves model names once (reading a GGUF header costs ~0.1 s), then from memory."""

    def __init__(self, catalog: Catalog, models_dir: Path) -> None:
        self.catalog, self.models_dir = catalog, models_dir
        self._cache: dict[str, ResolvedModel] = {}
        self._lock = threading.Lock()

    def cached(self, name: str) -> ResolvedModel | None:
        """A previous answer for ``name`` (no I/O), or None."""
        with self._lock:
            return self._cache.get(name)

    def __call__(self, name: str) -> ResolvedModel:
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and (hit.path is None or hit.path.exists()):
            return hit
        resolved = resolve_model(name, self.catalog, self.models_dir)
        if resolved.path is None:
            raise ModelFileError(
                f"{resolved.spec.id} is in the catalog but not downloaded.",
                hint=f"Run `roost pull {resolved.spec.id}`.",
            )
        with self._lock:
            self._cache[name] = resolved
        return resolved


def gateway_goal(slots: int) -> Callable[[ResolvedModel], PlanGoal]:
    def goal(resolved: ResolvedModel) -> PlanGoal:
        entry = resolved.entry
        return PlanGoal(parallel=slots, target_context=entry.recommended_context if entry else None)

    return goal


def build_supervisor(
    paths: RoostPaths,
    settings: RoostSettings,
    hw: HardwareProfile,
    driver: EngineDriver,
    on_event: Callable[[str], None] | None = None,
) -> Supervisor:
    """A supervisor with the user's safety margin and calibration."""
    return Supervisor(
        paths,
        hw,
        driver,
        margin_bytes=settings.safety_margin_bytes,
        on_event=on_event,
        calibration=Calibration.from_values(
            settings.gpu_bandwidth_efficiency, settings.cpu_bandwidth_efficiency
        ),
    )


def build_pool(
    paths: RoostPaths,
    settings: RoostSettings,
    hw: HardwareProfile,
    driver: EngineDriver,
    catalog: Catalog,
    on_event: Callable[[str], None] | None = None,
) -> ModelPool:
    return ModelPool(
        build_supervisor(paths, settings, hw, driver, on_event),
        CachedResolver(catalog, paths.models_dir),
        goal_for=gateway_goal(settings.gateway_slots),
        ttl_s=settings.idle_unload_s,
    )


def model_listing(catalog: Catalog, models_dir: Path) -> Callable[[], list[dict[str, Any]]]:
    """`/v1/models` rows: every catalog model with whether it is on disk."""

    def rows() -> list[dict[str, Any]]:
        out = []
        for entry in catalog.models:
            on_disk = any(variant_path(models_dir, entry, v) for v in entry.variants)
            out.append(
                {
                    "id": entry.id,
                    "name": entry.name,
                    "aliases": entry.aliases,
                    "downloaded": on_disk or entry.embedded,
                    "created": 0,
                }
            )
        return out

    return rows

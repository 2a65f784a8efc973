"""The advisor: model spec + hardware + goal in, a complete plan with predicted speed out."""

from __future__ import annotations

from dataclasses import dataclass

from app.catalog.spec import ModelSpec
from app.hardware.profile import HardwareProfile
from app.planner.devices import machine_devices
from app.planner.placement import plan_llamacpp
from app.planner.speed import predict_speed
from app.planner.types import PlacementPlan, PlanGoal

DEFAULT_MARGIN_BYTES = 512 * 1024**2


@dataclass(frozen=True)
class Calibration:
    """Measured fractions of peak bandwidth per device kind (from ``roost calibrate``)."""

    efficiency: dict[str, float]

    @classmethod
    def from_values(cls, gpu: float | None, cpu: float | None) -> Calibration | None:
        """Calibration from stored settings; None when nothing was measured."""
        eff: dict[str, float] = {}
        if gpu:
            eff.update(cuda=gpu, metal=gpu, vulkan=gpu)
        if cpu:
            eff["cpu"] = cpu
        return cls(eff) if eff else None


def advise(
    spec: ModelSpec,
    hw: HardwareProfile,
    goal: PlanGoal | None = None,
    margin_bytes: int = DEFAULT_MARGIN_BYTES,
    calibration: Calibration | None = None,
) -> PlacementPlan:
    """Plan ``spec`` on ``hw`` for llama.cpp and predict its speed."""
    goal = goal or PlanGoal()
    gpus, cpu = machine_devices(hw, margin_bytes, calibration.efficiency if calibration else None)
    plan = plan_llamacpp(spec, gpus, cpu, goal)
    plan.threads = max(1, hw.cpu.physical_cores)
    if plan.fits:
        plan.speed = predict_speed(spec, plan, gpus, cpu, goal)
    return plan


def rank_key(plan: PlacementPlan, score: float | None) -> tuple[int, float, float]:
    """Sort key, best first: fits at all, then agentic score, then generation speed."""
    usable = plan.fits and plan.speed is not None and plan.speed.generation_tps >= 5
    speed = plan.speed.generation_tps if plan.speed else 0.0
    return (0 if usable else 1 if plan.fits else 2, -(score or 0.0), -speed)

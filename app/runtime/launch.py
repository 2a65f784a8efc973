"""A plan becomes a ``LaunchSpec``: the planner's decisions as engine arguments."""

from __future__ import annotations

from pathlib import Path

from app.planner.types import PlacementPlan
from engines.base import LaunchSpec


def launch_spec(
    plan: PlacementPlan,
    model_path: Path,
    alias: str,
    port: int,
    chat_template_file: Path | None = None,
    host: str = "127.0.0.1",
) -> LaunchSpec:
    """Arguments for llama-server that carry out ``plan`` exactly."""
    return LaunchSpec(
        model_path=model_path,
        model_alias=alias,
        host=host,
        port=port,
        context=plan.context,
        gpu_layers=plan.gpu_layers,
        n_cpu_moe=plan.n_cpu_moe,
        tensor_split=tuple(plan.tensor_split),
        kv_type=plan.kv_type,
        flash_attention=plan.flash_attention if plan.kv_type != "f16" else None,
        threads=plan.threads or None,
        parallel=plan.parallel,
        chat_template_file=chat_template_file,
    )

"""MLX on Apple Silicon: does the model fit the Metal working-set budget at this context?

mlx-lm keeps all weights in unified memory, a full f16 KV cache for global-attention layers,
a rotating cache of the window size for sliding-window layers and a fixed state for recurrent
layers. Weights + cache + a working allowance must stay under the Metal budget
(recommendedMaxWorkingSetSize, raised by ``iogpu.wired_limit_mb``).
"""

from __future__ import annotations

from app.catalog.spec import ModelSpec
from app.planner.devices import GIB, Device
from app.planner.memory import kv_bytes_per_token, layer_cells
from app.planner.types import DeviceUse, PlacementPlan, PlanGoal

# Activations and MLX's buffer cache during prefill of a 2048-token step.
MLX_WORKING_BYTES = 1 * GIB


def mlx_cache_bytes(spec: ModelSpec, ctx: int, goal: PlanGoal) -> int:
    """f16 KV cache plus recurrent state at ``ctx`` tokens (bytes)."""
    kv = sum(
        layer_cells(layer, spec, ctx, goal) * kv_bytes_per_token(layer, "f16")
        for layer in spec.layers
    )
    return int(kv) + sum(layer.recurrent_state_bytes * goal.parallel for layer in spec.layers)


def plan_mlx(spec: ModelSpec, weights_bytes: int, metal: Device, goal: PlanGoal) -> PlacementPlan:
    """Fit verdict for an MLX build of ``spec`` whose files total ``weights_bytes``."""
    ctx = goal.context or goal.target_context or min(spec.context_length or 32768, 65536)
    cache = mlx_cache_bytes(spec, ctx, goal)
    use = DeviceUse(
        device="metal",
        budget_bytes=metal.budget_bytes,
        weights_bytes=weights_bytes,
        kv_bytes=cache,
        compute_bytes=MLX_WORKING_BYTES,
    )
    per_token = mlx_cache_bytes(spec, ctx + 1024, goal) - cache
    spare = metal.budget_bytes - weights_bytes - MLX_WORKING_BYTES
    max_ctx = ctx
    if per_token > 0 and spare > 0:
        max_ctx = max(0, int(spare / (per_token / 1024)) // 256 * 256)
    max_ctx = min(max_ctx, spec.context_length or max_ctx) if spare > 0 else 0
    fits = use.fits
    margin = use.headroom_bytes / GIB
    reason = (
        f"Fits the Metal budget at {ctx} tokens with {margin:.1f} GiB to spare."
        if fits
        else f"Over the Metal budget by {-margin:.1f} GiB at {ctx} tokens."
    )
    return PlacementPlan(
        model_id=spec.id,
        engine="mlx",
        verdict="full_gpu" if fits else "does_not_fit",
        reason=reason,
        context=ctx,
        max_context=max_ctx,
        n_layers=spec.n_layers,
        gpu_layers=spec.n_layers + 1 if fits else 0,
        devices=[use],
        confidence=spec.confidence,
    )

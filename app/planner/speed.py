"""Predicted generation and prompt-processing speed of a placement.

Generation (decode) is memory-bound: each token streams every weight it touches once, plus the
KV cache written so far. A token passes every layer in turn, so the time adds across devices:

    t_token = sum over devices d of  bytes_d / (efficiency_d * peak_bandwidth_d)
              + per-layer launch cost * layers_d

bytes_d counts a block's dense weights, its routed experts times (experts used / experts)
for MoE models, the output head, and the KV cache read at the given depth. ``efficiency_d``
is a calibratable fraction of peak (devices.DEFAULT_EFFICIENCY, or ``roost calibrate``).

Prompt processing is compute-bound: 2 FLOPs per active weight per token at the device's
effective FLOP rate; blocks whose weights live in RAM are streamed over PCIe to the GPU once
per micro-batch (llama.cpp offloads large batches), which bounds hybrid prompt speed.
"""

from __future__ import annotations

from app.catalog.spec import ModelSpec
from app.planner.devices import MOE_LAYER_FACTOR, PER_LAYER_SECONDS, Device
from app.planner.memory import kv_bytes_per_token, layer_cells
from app.planner.types import PlacementPlan, PlanGoal, SpeedPrediction

# PCIe 4.0 x16 moves about 25 GB/s in practice; used when RAM-resident weights feed the GPU.
PCIE_BYTES_PER_S = 25e9
# Bits per weight when the parameter count is unknown (Q4_K_M averages ~4.85).
_FALLBACK_BITS_PER_WEIGHT = 4.85
# Agent prompts are 15-25k tokens; generation is also predicted at this depth.
AGENT_DEPTH = 16384


def _active_layer_bytes(spec: ModelSpec, index: int) -> tuple[float, float]:
    """(dense bytes, active expert bytes) one token reads from block ``index``."""
    layer = spec.layers[index]
    dense = layer.weight_bytes - layer.expert_bytes
    return dense, layer.expert_bytes * spec.expert_fraction_active()


def _params_per_byte(spec: ModelSpec) -> float:
    if spec.params_total and spec.weight_bytes:
        return spec.params_total / spec.weight_bytes
    return 8 / _FALLBACK_BITS_PER_WEIGHT


def _device_of(plan: PlacementPlan, gpus: list[Device], cpu: Device) -> list[Device]:
    """Device of each block under ``plan`` (same rule as memory.breakdown)."""
    n = plan.n_layers
    first_gpu = n - min(plan.gpu_layers, n) if gpus else n
    order: list[Device] = []
    for use in plan.devices:
        if use.device != "cpu":
            order.extend([next(g for g in gpus if g.name == use.device)] * use.layers)
    return [cpu] * first_gpu + order


def predict_speed(
    spec: ModelSpec,
    plan: PlacementPlan,
    gpus: list[Device],
    cpu: Device,
    goal: PlanGoal,
    depth: int = AGENT_DEPTH,
) -> SpeedPrediction:
    """Tokens/s for generation (empty context and at ``depth``) and prompt processing."""
    layer_devices = _device_of(plan, gpus, cpu)
    per_device: dict[str, float] = {}
    kv_at_depth: dict[str, float] = {}
    launch = 0.0
    by_name = {d.name: d for d in [*gpus, cpu]}
    for i, dev in enumerate(layer_devices):
        dense, experts = _active_layer_bytes(spec, i)
        expert_dev = cpu if i < plan.n_cpu_moe else dev
        per_device[dev.name] = per_device.get(dev.name, 0.0) + dense
        per_device[expert_dev.name] = per_device.get(expert_dev.name, 0.0) + experts
        layer = spec.layers[i]
        cells = layer_cells(layer, spec, min(depth, plan.context), goal)
        kv_at_depth[dev.name] = kv_at_depth.get(dev.name, 0.0) + cells * kv_bytes_per_token(
            layer, plan.kv_type
        )
        launch += PER_LAYER_SECONDS[dev.kind] * (MOE_LAYER_FACTOR if layer.expert_bytes else 1.0)
    out_dev = gpus[-1] if gpus and plan.gpu_layers > plan.n_layers else cpu
    per_device[out_dev.name] = per_device.get(out_dev.name, 0.0) + spec.output_read_bytes

    def token_seconds(with_kv: bool) -> float:
        t = launch
        for name, b in per_device.items():
            total = b + (kv_at_depth.get(name, 0.0) if with_kv else 0.0)
            t += total / by_name[name].effective_bandwidth
        return t

    tg = 1.0 / token_seconds(False)
    tg_depth = 1.0 / token_seconds(True)

    # Prompt processing of one micro-batch.
    ppb = _params_per_byte(spec)
    batch = goal.ubatch
    t_batch = 0.0
    main = gpus[0] if gpus and plan.gpu_layers > 0 else cpu
    ram_weights = 0.0
    for i, dev in enumerate(layer_devices):
        dense, experts = _active_layer_bytes(spec, i)
        layer = spec.layers[i]
        # A batch touches most experts, so all expert weights are read for it.
        touched = dense + layer.expert_bytes
        on_cpu = dev.kind == "cpu" or i < plan.n_cpu_moe
        compute_dev = main if (on_cpu and main.is_gpu) else dev
        flops = 2 * (dense + experts) * ppb * batch
        t_batch += flops / compute_dev.flops
        if on_cpu and main.is_gpu:
            ram_weights += touched if dev.kind == "cpu" else layer.expert_bytes
    t_batch += 2 * spec.output_read_bytes * ppb * batch / out_dev.flops
    t_batch += ram_weights / PCIE_BYTES_PER_S
    pp = batch / t_batch if t_batch > 0 else 0.0

    basis = (
        "decode: bytes per token / (efficiency x peak bandwidth) summed over devices; "
        f"prompt: 2 FLOP per active weight, batch {batch}"
    )
    return SpeedPrediction(
        generation_tps=round(tg, 2),
        generation_tps_at_depth=round(tg_depth, 2),
        depth_tokens=min(depth, plan.context),
        prompt_tps=round(pp, 1),
        bytes_per_token={k: int(v) for k, v in per_device.items()},
        basis=basis,
    )

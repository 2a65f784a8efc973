"""Memory breakdown of a llama.cpp placement: weights, KV cache, recurrent state, compute.

The model of llama.cpp followed here (src/llama-model.cpp, llama-kv-cache.cpp):
- ``-ngl N`` offloads the *last* N blocks; ``N = n_layers + 1`` also offloads the output head.
- The input embedding table stays in host memory; a tied output head is duplicated on the GPU.
- ``--n-cpu-moe K`` keeps the routed-expert tensors of the first K blocks in RAM.
- Several GPUs share the offloaded blocks in order, in proportion to the tensor split.
- A block's KV cache lives on the block's device. Full-attention layers hold ``n_ctx`` cells,
  sliding-window layers ``min(n_ctx, n_swa * n_seq + n_ubatch)``, recurrent layers a fixed
  per-sequence state.
- Compute buffers (flash attention on): the device computing the output holds the logits of a
  micro-batch (``n_ubatch * n_vocab * 4`` bytes); every device holds activations of a few
  ``n_ubatch x n_embd`` f32 tensors. Without flash attention the KQ matrix
  (``n_ubatch * n_ctx * n_head * 4``) is added.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.catalog.spec import LayerSpec, ModelSpec
from app.planner.devices import Device
from app.planner.types import KV_BYTES_PER_ELEMENT, DeviceUse, PlanGoal

# f32 activation tensors alive at once per device while a micro-batch passes a block.
_ACTIVATION_TENSORS = 8
# Host-side staging buffer when the CPU only feeds the GPUs.
_HOST_STAGING_TENSORS = 4


def layer_cells(layer: LayerSpec, spec: ModelSpec, ctx: int, goal: PlanGoal) -> int:
    """KV cells a layer holds at context ``ctx`` shared by ``goal.parallel`` sequences.

    Roost starts llama-server with ``--ctx-size ctx --kv-unified``: all slots share one
    cache of ``ctx`` cells, so one conversation may use the whole context. A sliding-window
    layer needs only the window per sequence plus one micro-batch.
    """
    if layer.kind == "recurrent":
        return 0
    if layer.kind == "swa" and spec.sliding_window:
        return min(ctx, spec.sliding_window * goal.parallel + goal.ubatch)
    return ctx


def kv_bytes_per_token(layer: LayerSpec, kv_type: str) -> float:
    """Bytes one token adds to this layer's cache."""
    return layer.kv_elements_per_token() * KV_BYTES_PER_ELEMENT[kv_type]


def layer_kv_bytes(layer: LayerSpec, spec: ModelSpec, ctx: int, goal: PlanGoal, kv: str) -> int:
    return int(layer_cells(layer, spec, ctx, goal) * kv_bytes_per_token(layer, kv))


def total_kv_bytes(spec: ModelSpec, ctx: int, goal: PlanGoal, kv: str) -> int:
    """KV cache plus recurrent state for the whole model (bytes)."""
    kv_total = sum(layer_kv_bytes(layer, spec, ctx, goal, kv) for layer in spec.layers)
    return kv_total + sum(layer.recurrent_state_bytes * goal.parallel for layer in spec.layers)


def compute_bytes(spec: ModelSpec, ctx: int, goal: PlanGoal, with_output: bool) -> int:
    """Compute buffer (bytes) of a device that runs blocks, and the output head if asked.

    Matches llama.cpp's graph reservation: a micro-batch of activations (residual stream and
    FFN intermediates, f32) plus logits for one output per sequence. Measured on this
    machine for Gemma 3 270M at n_ubatch 512, 4 slots: 28.3 MiB reported, 29.6 MiB here.
    """
    embd = max(spec.n_embd, 1)
    ffn = spec.n_ff or 4 * embd
    act = goal.ubatch * 4 * (_ACTIVATION_TENSORS * embd + 3 * ffn)
    if not goal.flash_attention:
        act += goal.ubatch * ctx * max(spec.n_head, 1) * 4
    logits = goal.parallel * (spec.n_vocab or 150_000) * 4 if with_output else 0
    return act + logits


@dataclass(frozen=True)
class Layout:
    """A candidate placement: which blocks and experts go where."""

    gpu_layers: int
    n_cpu_moe: int
    split: tuple[float, ...]
    ctx: int
    kv: str


def _gpu_of_layer(index: int, first_gpu_layer: int, n_layers: int, split: tuple[float, ...]) -> int:
    """Which GPU (position in ``split``) holds block ``index`` (>= first_gpu_layer)."""
    offloaded = n_layers - first_gpu_layer
    position = (index - first_gpu_layer + 0.5) / max(offloaded, 1)
    acc = 0.0
    total = sum(split)
    for gpu, share in enumerate(split):
        acc += share / total
        if position < acc:
            return gpu
    return len(split) - 1


def per_layer_kv(spec: ModelSpec, ctx: int, goal: PlanGoal, kv_type: str) -> list[int]:
    """KV bytes of every layer at ``ctx`` (bytes)."""
    return [layer_kv_bytes(layer, spec, ctx, goal, kv_type) for layer in spec.layers]


def breakdown(
    spec: ModelSpec,
    layout: Layout,
    gpus: list[Device],
    cpu: Device,
    goal: PlanGoal,
    kv_per_layer: list[int] | None = None,
) -> list[DeviceUse]:
    """Memory each device holds under ``layout``: GPUs in order, then the CPU.

    Sums are kept in plain lists (this runs thousands of times per advice table) and turned
    into ``DeviceUse`` records at the end.
    """
    n_dev = len(gpus) + 1
    host_i = n_dev - 1
    weights, kv, state, layers = [0] * n_dev, [0] * n_dev, [0] * n_dev, [0] * n_dev
    n = spec.n_layers
    ngl = min(layout.gpu_layers, n + 1) if gpus else 0
    first_gpu = n - min(ngl, n)
    layer_kv = kv_per_layer or per_layer_kv(spec, layout.ctx, goal, layout.kv)
    for i, layer in enumerate(spec.layers):
        if i < first_gpu:
            target = host_i
            weights[host_i] += layer.weight_bytes
        else:
            target = _gpu_of_layer(i, first_gpu, n, layout.split)
            moved = layer.expert_bytes if i < layout.n_cpu_moe else 0
            weights[target] += layer.weight_bytes - moved
            weights[host_i] += moved
        kv[target] += layer_kv[i]
        state[target] += layer.recurrent_state_bytes * goal.parallel
        layers[target] += 1
    weights[host_i] += spec.token_embd_bytes
    output_on_gpu = bool(gpus) and ngl > n
    out_i = len(gpus) - 1 if output_on_gpu else host_i
    weights[out_i] += spec.output_bytes
    if output_on_gpu and spec.tied_embeddings:
        weights[out_i] += spec.token_embd_bytes
    compute, overhead = [0] * n_dev, [0] * n_dev
    for g_i, g in enumerate(gpus):
        if layers[g_i] or g_i == out_i:
            overhead[g_i] = g.overhead_bytes
            compute[g_i] = compute_bytes(spec, layout.ctx, goal, g_i == out_i)
    overhead[host_i] = cpu.overhead_bytes
    if layers[host_i] or out_i == host_i:
        compute[host_i] = compute_bytes(spec, layout.ctx, goal, out_i == host_i)
    else:
        compute[host_i] = goal.ubatch * max(spec.n_embd, 1) * 4 * _HOST_STAGING_TENSORS
    devices = [*gpus, cpu]
    return [
        DeviceUse(
            device="cpu" if i == host_i else devices[i].name,
            budget_bytes=devices[i].budget_bytes,
            weights_bytes=weights[i],
            kv_bytes=kv[i],
            recurrent_bytes=state[i],
            compute_bytes=compute[i],
            overhead_bytes=overhead[i],
            layers=layers[i],
        )
        for i in range(n_dev)
    ]

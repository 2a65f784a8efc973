"""Build a ``ModelSpec`` from catalog facts when the model file is not on disk.

With architecture numbers and the variant's file size the layer table is reconstructed
(``confidence="catalog"``): the bytes of the embedding and output head follow from vocab x
width at the file's average bits per weight, the rest is shared evenly across blocks, routed
experts take their share of each block, and the layer kinds follow the SWA / hybrid pattern.
With only a parameter count and a file size, shapes are estimated from typical transformer
proportions (``confidence="estimated"``) and the spec says so.
"""

from __future__ import annotations

import math

from app.catalog.catalog import Architecture, CatalogModel, Variant
from app.catalog.spec import LayerKind, LayerSpec, ModelSpec
from app.core.errors import CatalogError

# Q4_K_M averages ~4.85 bits per weight; used only when the file size is unknown.
_Q4KM_BITS = 4.85
_F32 = 4


def _layer_kind(arch: Architecture, i: int) -> LayerKind:
    if arch.full_attention_interval:
        return "attention" if (i + 1) % arch.full_attention_interval == 0 else "recurrent"
    if arch.sliding_window and arch.swa_pattern:
        return "attention" if (i + 1) % arch.swa_pattern == 0 else "swa"
    return "attention"


def _recurrent_state_bytes(arch: Architecture) -> int:
    """Gated-DeltaNet state per sequence (f32): conv state + k_dim x v_dim per value head.

    Follows llama.cpp's n_embd_r()/n_embd_s() for qwen3next/qwen35: conv rows
    (d_conv - 1) x (2 * k_heads * k_dim + v_heads * v_dim) and state v_heads * k_dim * v_dim.
    """
    kh, vh = arch.linear_num_key_heads, arch.linear_num_value_heads
    kd, vd = arch.linear_key_head_dim, arch.linear_value_head_dim
    if not (kh and vh and kd and vd):
        return 0
    conv = ((arch.linear_conv_kernel or 4) - 1) * (2 * kh * kd + vh * vd)
    return (conv + vh * kd * vd) * _F32


def _params_from_architecture(a: Architecture) -> float:
    """Parameter count implied by the shapes (0 when they are not known)."""
    if not (a.n_layers and a.n_embd and a.vocab_size):
        return 0.0
    d = a.n_embd
    heads = a.n_head or d // (a.head_dim or 128)
    head_dim = a.head_dim or d // heads
    kv = a.n_head_kv or heads
    attn = d * head_dim * (2 * heads + 2 * kv)
    if a.n_experts and a.expert_ffn_dim:
        ffn = 3 * d * a.expert_ffn_dim * (a.n_experts + (a.n_shared_experts or 0))
    else:
        ffn = 3 * d * (a.ffn_dim or 4 * d)
    return float(a.n_layers * (attn + ffn) + 2 * a.vocab_size * d)


def _estimated_shape(params: float) -> tuple[int, int]:
    """(layers, width) typical for a dense decoder of ``params`` weights (12 L d^2 ~ params)."""
    layers = 24 if params < 2e9 else 32 if params < 10e9 else 48 if params < 20e9 else 64
    width = int(math.sqrt(params / (12 * layers)) // 128 * 128) or 1024
    return layers, width


def spec_from_catalog(model: CatalogModel, variant: Variant | None = None) -> ModelSpec:
    """A planner-ready spec from the catalog entry (bytes from the variant's file size)."""
    variant = variant or model.variant()
    a = model.architecture
    params = (model.params_total_b or 0) * 1e9 or _params_from_architecture(a)
    size = variant.total_bytes or int(params * _Q4KM_BITS / 8)
    if not size:
        raise CatalogError(
            f"{model.id}: neither the file size nor the parameter count is known, "
            "so its memory need cannot be estimated."
        )
    notes: list[str] = []
    known = a.n_layers and a.n_embd and a.n_head_kv and (a.head_dim or a.n_head)
    if known:
        confidence = "catalog"
        n_layers, n_embd = int(a.n_layers or 0), int(a.n_embd or 0)
        n_head = a.n_head or max(n_embd // (a.head_dim or 128), 1)
        n_head_kv = int(a.n_head_kv or n_head)
        head_k = a.head_dim or n_embd // n_head
        head_v = a.head_dim_v or head_k
    else:
        confidence = "estimated"
        n_layers, n_embd = _estimated_shape(params or size * 8 / _Q4KM_BITS)
        n_head = n_embd // 128
        n_head_kv, head_k, head_v = max(n_head // 4, 1), 128, 128
        notes.append("architecture numbers unknown: shapes estimated from size, lower confidence")
    if not params:
        params = size * 8 / _Q4KM_BITS
        notes.append("parameter count estimated from the file size")
    bytes_per_param = size / params
    vocab = a.vocab_size or 150_000
    embd_bytes = int(vocab * n_embd * bytes_per_param)
    out_bytes = embd_bytes
    block_bytes = max(size - embd_bytes - out_bytes, size // 2) // n_layers

    expert_bytes = 0
    if a.n_experts and a.n_experts > 1:
        if a.expert_ffn_dim:
            expert_params = a.n_experts * 3 * n_embd * a.expert_ffn_dim
            expert_bytes = int(expert_params * bytes_per_param)
        elif model.params_active_b and a.n_experts_used:
            inactive = (params - model.params_active_b * 1e9) / n_layers
            share = 1 - a.n_experts_used / a.n_experts
            expert_bytes = int(inactive / share * bytes_per_param)
        expert_bytes = min(expert_bytes, int(block_bytes * 0.97))

    state = _recurrent_state_bytes(a)
    layers = []
    for i in range(n_layers):
        kind = _layer_kind(a, i) if known else "attention"
        layers.append(
            LayerSpec(
                kind=kind,
                weight_bytes=block_bytes,
                expert_bytes=expert_bytes,
                n_head_kv=0 if kind == "recurrent" else n_head_kv,
                head_dim_k=0 if kind == "recurrent" else head_k,
                head_dim_v=0 if kind == "recurrent" else head_v,
                recurrent_state_bytes=state if kind == "recurrent" else 0,
            )
        )
    return ModelSpec(
        id=model.id,
        name=model.name,
        architecture=a.gguf_arch or "unknown",
        quantization=variant.quant,
        file_size_bytes=size,
        context_length=a.context_length or 0,
        n_embd=n_embd,
        n_head=n_head,
        n_vocab=vocab,
        n_ff=a.ffn_dim or 0,
        sliding_window=a.sliding_window,
        n_experts=a.n_experts or 0,
        n_experts_used=a.n_experts_used or 0,
        params_total=int(params),
        token_embd_bytes=embd_bytes,
        output_bytes=out_bytes,
        layers=layers,
        confidence=confidence,
        notes=notes,
    )

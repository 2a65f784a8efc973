"""Hand-built model specs and machines for planner tests (sizes in bytes)."""

from __future__ import annotations

from app.catalog.spec import LayerSpec, ModelSpec
from app.hardware.profile import AppleSiliconInfo, CpuInfo, GpuInfo, HardwareProfile

GIB = 1024**3


def dense_spec(n_layers: int = 64, weights: float = 16 * GIB, kv_heads: int = 8) -> ModelSpec:
    """A 27B-class dense model: 64 blocks, GQA 8 KV heads of 128."""
    per = int(weights * 0.95 / n_layers)
    return ModelSpec(
        id="dense",
        architecture="llama",
        context_length=131072,
        n_embd=5120,
        n_head=40,
        n_vocab=152064,
        params_total=int(27e9),
        token_embd_bytes=int(weights * 0.025),
        output_bytes=int(weights * 0.025),
        layers=[
            LayerSpec(weight_bytes=per, n_head_kv=kv_heads, head_dim_k=128, head_dim_v=128)
            for _ in range(n_layers)
        ],
    )


def moe_spec(weights: float = 20 * GIB) -> ModelSpec:
    """A 35B-A3B-class MoE: 40 blocks, 256 experts of which 8 are used, 95% expert bytes."""
    n = 40
    per = int(weights * 0.97 / n)
    return ModelSpec(
        id="moe",
        architecture="qwen3moe",
        context_length=262144,
        n_embd=2048,
        n_head=32,
        n_vocab=151936,
        n_experts=256,
        n_experts_used=8,
        params_total=int(35e9),
        token_embd_bytes=int(weights * 0.015),
        output_bytes=int(weights * 0.015),
        layers=[
            LayerSpec(
                weight_bytes=per,
                expert_bytes=int(per * 0.95),
                n_head_kv=4,
                head_dim_k=128,
                head_dim_v=128,
            )
            for _ in range(n)
        ],
    )


def hybrid_spec() -> ModelSpec:
    """Qwen3.6-27B-like: 64 blocks, 3 Gated-DeltaNet per full-attention block, 4 KV heads of 256."""
    layers = []
    for i in range(64):
        if (i + 1) % 4 == 0:
            layers.append(
                LayerSpec(weight_bytes=250_000_000, n_head_kv=4, head_dim_k=256, head_dim_v=256)
            )
        else:
            layers.append(
                LayerSpec(
                    kind="recurrent", weight_bytes=250_000_000, recurrent_state_bytes=9_000_000
                )
            )
    return ModelSpec(
        id="hybrid",
        architecture="qwen35",
        context_length=262144,
        n_embd=5120,
        n_head=24,
        n_vocab=248320,
        token_embd_bytes=800_000_000,
        output_bytes=800_000_000,
        layers=layers,
    )


def swa_spec() -> ModelSpec:
    """Gemma-3-like: every 6th block global, the others a 1024-token window."""
    layers = [
        LayerSpec(
            kind="attention" if (i + 1) % 6 == 0 else "swa",
            weight_bytes=300_000_000,
            n_head_kv=8,
            head_dim_k=128,
            head_dim_v=128,
        )
        for i in range(48)
    ]
    return ModelSpec(
        id="swa",
        architecture="gemma3",
        context_length=131072,
        n_embd=3840,
        n_head=16,
        n_vocab=262144,
        sliding_window=1024,
        token_embd_bytes=700_000_000,
        tied_embeddings=True,
        layers=layers,
    )


def machine(
    vram_gib: list[float] | None = None, ram_gib: float = 64, bw: float = 936
) -> HardwareProfile:
    """A PC with the given GPUs (GiB free each) and RAM."""
    gpus = [
        GpuInfo(
            vendor="nvidia",
            index=i,
            name=f"GPU {i}",
            vram_total_bytes=int(v * GIB),
            vram_free_bytes=int(v * GIB),
            bandwidth_gbps=bw,
            compute_capability="8.6",
        )
        for i, v in enumerate(vram_gib or [])
    ]
    return HardwareProfile(
        source="test",
        cpu=CpuInfo(
            physical_cores=8,
            logical_cores=16,
            features=["avx2", "fma"],
            ram_total_bytes=int(ram_gib * GIB),
            ram_available_bytes=int(ram_gib * GIB * 0.9),
            ram_bandwidth_gbps=60,
        ),
        gpus=gpus,
    )


def mac(memory_gib: float = 128, budget_gib: float = 107.52, bw: float = 546) -> HardwareProfile:
    return HardwareProfile(
        source="test-mac",
        cpu=CpuInfo(
            physical_cores=16,
            logical_cores=16,
            features=["neon", "dotprod"],
            ram_total_bytes=int(memory_gib * GIB),
            ram_available_bytes=int(memory_gib * GIB * 0.8),
            ram_bandwidth_gbps=bw,
        ),
        apple=AppleSiliconInfo(
            chip="Apple M4 Max",
            unified_memory_bytes=int(memory_gib * GIB),
            metal_budget_bytes=int(budget_gib * GIB),
            bandwidth_gbps=bw,
        ),
    )

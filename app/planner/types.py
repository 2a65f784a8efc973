"""Plan types: what the planner is asked (``PlanGoal``) and what it answers (``PlacementPlan``).

Sizes are bytes, speeds tokens/s, context sizes tokens.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

KvType = Literal["f16", "q8_0", "q4_0"]
Verdict = Literal["full_gpu", "hybrid", "cpu_only", "does_not_fit"]

# Bytes per cache element as llama.cpp stores them (q8_0: 34 bytes per 32, q4_0: 18 per 32).
KV_BYTES_PER_ELEMENT: dict[str, float] = {"f16": 2.0, "q8_0": 1.0625, "q4_0": 0.5625}


class PlanGoal(BaseModel):
    """What the user asked for; ``None`` lets the planner choose."""

    context: int | None = Field(None, description="Pinned context size (tokens)")
    kv_type: KvType | None = None
    parallel: int = Field(1, description="Parallel sequences (server slots)")
    ubatch: int = Field(512, description="Physical batch size (tokens)")
    flash_attention: bool = True
    target_context: int | None = Field(
        None, description="Preferred context when not pinned (catalog recommendation)"
    )


class DeviceUse(BaseModel):
    """Memory one device would hold under a plan."""

    device: str = Field(description="'cpu', 'cuda:0', 'metal'...")
    budget_bytes: int
    weights_bytes: int = 0
    kv_bytes: int = 0
    recurrent_bytes: int = 0
    compute_bytes: int = 0
    overhead_bytes: int = 0
    layers: int = 0

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.kv_bytes
            + self.recurrent_bytes
            + self.compute_bytes
            + self.overhead_bytes
        )

    @property
    def headroom_bytes(self) -> int:
        return self.budget_bytes - self.total_bytes

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.budget_bytes


class SpeedPrediction(BaseModel):
    """Predicted speeds with the numbers behind them."""

    generation_tps: float = Field(description="Decode tokens/s at an empty context")
    generation_tps_at_depth: float = Field(description="Decode tokens/s with a full agent prompt")
    depth_tokens: int = 0
    prompt_tps: float = Field(description="Prompt-processing tokens/s (batch of ubatch)")
    bytes_per_token: dict[str, int] = Field(
        default_factory=dict, description="Bytes read per generated token, per device"
    )
    basis: str = ""


class PlacementPlan(BaseModel):
    """How to run one model on one machine, and what to expect."""

    model_id: str
    engine: Literal["llama.cpp", "mlx"] = "llama.cpp"
    verdict: Verdict
    reason: str
    context: int = 0
    max_context: int = Field(0, description="Largest context that fits with this placement")
    kv_type: KvType = "f16"
    flash_attention: bool = True
    n_layers: int = 0
    gpu_layers: int = Field(
        0, description="llama.cpp -ngl: last N blocks (N = n_layers+1 adds output)"
    )
    n_cpu_moe: int = Field(0, description="Blocks whose routed experts stay in RAM")
    tensor_split: list[float] = Field(default_factory=list)
    threads: int = 0
    parallel: int = 1
    devices: list[DeviceUse] = Field(default_factory=list)
    speed: SpeedPrediction | None = None
    tradeoffs: list[str] = Field(default_factory=list)
    confidence: str = "exact"
    notes: list[str] = Field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.verdict != "does_not_fit"

    @property
    def total_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices)

    @property
    def gpu_bytes(self) -> int:
        return sum(d.total_bytes for d in self.devices if d.device != "cpu")

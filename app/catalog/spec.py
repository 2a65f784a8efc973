"""``ModelSpec``: the numbers the planner needs about one model file, whatever their origin.

A spec comes from reading a GGUF header (``confidence="exact"``), from the catalog's
architecture numbers (``"catalog"``), or from parameter count and file size alone
(``"estimated"``). Sizes are bytes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

LayerKind = Literal["attention", "swa", "recurrent"]
Confidence = Literal["exact", "catalog", "estimated"]


class LayerSpec(BaseModel):
    """One repeating block (``blk.N``)."""

    kind: LayerKind = "attention"
    weight_bytes: int = Field(description="All tensors of the block, experts included")
    expert_bytes: int = Field(default=0, description="Part of weight_bytes in routed experts")
    n_head_kv: int = 0
    head_dim_k: int = 0
    head_dim_v: int = 0
    recurrent_state_bytes: int = Field(
        default=0, description="Per-sequence recurrent/linear-attention state, context-independent"
    )

    def kv_elements_per_token(self) -> int:
        """K plus V elements one token adds to this layer's cache (0 for recurrent layers)."""
        if self.kind == "recurrent":
            return 0
        return self.n_head_kv * (self.head_dim_k + self.head_dim_v)


class ModelSpec(BaseModel):
    id: str
    name: str = ""
    architecture: str = "unknown"
    quantization: str = "unknown"
    file_size_bytes: int = 0
    context_length: int = Field(default=0, description="Trained context length (tokens)")
    n_embd: int = 0
    n_head: int = 0
    n_vocab: int = 0
    n_ff: int = Field(default=0, description="Dense FFN width (feed_forward_length), 0 unknown")
    sliding_window: int | None = None
    n_experts: int = 0
    n_experts_used: int = 0
    params_total: int | None = None
    token_embd_bytes: int = Field(
        default=0, description="Input embedding table; llama.cpp keeps it in host memory"
    )
    output_bytes: int = Field(
        default=0, description="Output head and final norm (on the GPU when every layer is)"
    )
    tied_embeddings: bool = Field(
        default=False, description="No output.weight: the output head reuses token_embd"
    )
    layers: list[LayerSpec] = Field(default_factory=list)
    has_chat_template: bool = Field(
        default=False, description="The GGUF carries tokenizer.chat_template (False: unknown)"
    )
    confidence: Confidence = "exact"
    notes: list[str] = Field(default_factory=list)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1 and any(layer.expert_bytes for layer in self.layers)

    @property
    def layer_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def expert_bytes(self) -> int:
        return sum(layer.expert_bytes for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        """All weights: repeating layers plus embedding and output."""
        return self.layer_bytes + self.token_embd_bytes + self.output_bytes

    @property
    def output_read_bytes(self) -> int:
        """Bytes the output head reads per generated token (a tied head reads token_embd)."""
        return self.output_bytes + (self.token_embd_bytes if self.tied_embeddings else 0)

    def expert_fraction_active(self) -> float:
        """Share of routed-expert bytes read per token (experts used / experts)."""
        if self.n_experts <= 1:
            return 1.0
        return min(1.0, self.n_experts_used / self.n_experts)

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
        return counts

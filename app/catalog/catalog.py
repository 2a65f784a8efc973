"""``models_catalog.yaml``: the curated list of verified models, its schema and loader.

Every fact in the catalog is optional unless the planner cannot work without it: a fact
nobody could confirm stays empty (``None``) and is shown as unknown, never invented.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import CatalogError

CATALOG_FILE = "models_catalog.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Architecture(_Strict):
    """Numbers the planner needs; any may be unknown (``None``)."""

    gguf_arch: str | None = Field(None, description="general.architecture in the GGUF")
    n_layers: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    n_head_kv: int | None = None
    head_dim: int | None = Field(None, description="Key head size (value size if equal)")
    head_dim_v: int | None = None
    vocab_size: int | None = None
    context_length: int | None = Field(None, description="Native trained context (tokens)")
    # Sliding-window attention: `swa_pattern` N means every N-th layer is full attention.
    sliding_window: int | None = None
    swa_pattern: int | None = None
    # Hybrid recurrent/linear attention: every N-th layer is full attention, the rest linear.
    full_attention_interval: int | None = None
    linear_num_key_heads: int | None = None
    linear_num_value_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel: int | None = None
    # Mixture of experts.
    n_experts: int | None = None
    n_experts_used: int | None = None
    n_shared_experts: int | None = None
    expert_ffn_dim: int | None = Field(None, description="moe_intermediate_size")
    ffn_dim: int | None = Field(None, description="intermediate_size of dense FFN layers")
    first_dense_layers: int | None = Field(None, description="Leading layers with a dense FFN")


class Sampling(_Strict):
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    presence_penalty: float | None = None
    repeat_penalty: float | None = None


class Score(_Strict):
    benchmark: str = Field(description="e.g. terminal-bench-2")
    score: float = Field(description="Percent of tasks solved")
    setting: str = Field("", description="Harness / budget the figure was measured with")
    source: str = Field(description="Where the figure was published")


class VariantFile(_Strict):
    name: str
    size_bytes: int | None = None
    sha256: str | None = None


class Variant(_Strict):
    id: str = Field(description="e.g. gguf-q4_k_m, mlx-4bit, mlx-8bit")
    format: Literal["gguf", "mlx"]
    quant: str
    repo: str
    revision: str | None = None
    files: list[VariantFile] = Field(default_factory=list)
    size_bytes: int | None = Field(None, description="Total download size")
    notes: str = ""

    @property
    def total_bytes(self) -> int | None:
        if self.size_bytes is not None:
            return self.size_bytes
        sizes = [f.size_bytes for f in self.files]
        return sum(s for s in sizes if s is not None) if sizes and None not in sizes else None


class CatalogModel(_Strict):
    id: str
    name: str
    family: str = ""
    aliases: list[str] = Field(default_factory=list)
    params_total_b: float | None = Field(None, description="Total parameters, billions")
    params_active_b: float | None = Field(None, description="Active per token (MoE), billions")
    embedded: bool = Field(False, description="Ships inside Roost (no download)")
    agent_grade: bool = True
    architecture: Architecture = Field(default_factory=Architecture)
    recommended_context: int | None = None
    sampling: Sampling = Field(default_factory=Sampling)
    chat_template: str | None = Field(None, description="Jinja template when the file has none")
    scores: list[Score] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list, description="Model card / config URLs")
    notes: str = ""

    def variant(self, variant_id: str | None = None) -> Variant:
        """The named variant, or the first GGUF one."""
        for v in self.variants:
            if (variant_id is None and v.format == "gguf") or v.id == variant_id:
                return v
        known = ", ".join(v.id for v in self.variants) or "none"
        raise CatalogError(f"{self.id} has no variant {variant_id or 'gguf'} (has: {known})")

    def best_score(self, benchmark: str = "terminal-bench-2") -> Score | None:
        scores = [s for s in self.scores if s.benchmark == benchmark]
        return max(scores, key=lambda s: s.score) if scores else None


class Catalog(_Strict):
    schema_version: int = 1
    models: list[CatalogModel]

    @cached_property
    def _index(self) -> dict[str, CatalogModel]:
        index: dict[str, CatalogModel] = {}
        for m in self.models:
            for key in (m.id, *m.aliases):
                index[key.lower()] = m
        return index

    def get(self, name: str) -> CatalogModel:
        """Look a model up by id or alias (case-insensitive); unknown → CatalogError."""
        key = name.lower().split(":", 1)[0]
        if key in self._index:
            return self._index[key]
        import difflib

        close = difflib.get_close_matches(key, list(self._index), n=3, cutoff=0.5)
        hint = f"Did you mean: {', '.join(close)}?" if close else "See `roost models`."
        raise CatalogError(f"Unknown model {name!r}.", hint=hint)

    @property
    def embedded_model(self) -> CatalogModel:
        for m in self.models:
            if m.embedded:
                return m
        raise CatalogError("The catalog has no embedded default model.")


def default_catalog_path() -> Path:
    """The catalog next to the package (checkout) or installed as package data."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / CATALOG_FILE, here.parent / CATALOG_FILE):
        if candidate.exists():
            return candidate
    raise CatalogError(f"{CATALOG_FILE} not found next to the Roost package.")


def load_catalog(path: Path | None = None) -> Catalog:
    """Parse and validate the catalog; malformed files raise CatalogError with the location."""
    path = path or default_catalog_path()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"Cannot read catalog {path}: {exc}") from exc
    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CatalogError(
            f"Catalog {path} is invalid at {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from exc
    ids = [m.id for m in catalog.models]
    if len(ids) != len(set(ids)):
        raise CatalogError(f"Catalog {path} has duplicate model ids.")
    return catalog

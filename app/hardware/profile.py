"""The ``HardwareProfile``: everything the planner needs to know about a machine.

JSON-serialisable and loadable, so a profile can be saved, edited, shared, or built from a
preset for a machine the user does not have. All sizes are bytes, bandwidths GB/s (1e9 B/s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from app.core.errors import SettingsError

# Where a figure came from: read from the device, looked up in a table of known parts,
# or a documented per-platform default.
Source = Literal["measured", "table", "estimate", "calibrated", "preset", "unknown"]


class ProbeResult(BaseModel):
    """Outcome of one probe: ``ok`` False carries the reason, the profile stays usable."""

    name: str
    ok: bool
    reason: str = ""


class CpuInfo(BaseModel):
    model_name: str = "unknown CPU"
    arch: str = ""
    physical_cores: int = 1
    logical_cores: int = 1
    features: list[str] = Field(
        default_factory=list, description="ISA features relevant to llama.cpp (avx2, fma, ...)"
    )
    ram_total_bytes: int = 0
    ram_available_bytes: int = 0
    ram_bandwidth_gbps: float = 0.0
    ram_bandwidth_source: Source = "unknown"
    ram_bandwidth_note: str = ""


class GpuInfo(BaseModel):
    vendor: Literal["nvidia", "amd", "intel", "apple", "other"]
    index: int = 0
    name: str
    uuid: str = ""
    vram_total_bytes: int
    vram_free_bytes: int
    vram_used_bytes: int = 0
    driver_version: str = ""
    cuda_version: str = ""
    compute_capability: str = ""
    memory_bus_width_bits: int | None = None
    max_memory_clock_mhz: int | None = None
    bandwidth_gbps: float = 0.0
    bandwidth_source: Source = "unknown"
    bandwidth_note: str = ""
    pcie_generation: int | None = Field(
        default=None, description="current PCIe link generation (drops when the GPU idles)"
    )
    pcie_width: int | None = Field(default=None, description="current PCIe link width (lanes)")
    pcie_max_generation: int | None = None
    pcie_max_width: int | None = None
    best_effort: bool = Field(
        default=False, description="True when detected without a vendor library (AMD, Intel)"
    )


class AppleSiliconInfo(BaseModel):
    chip: str
    unified_memory_bytes: int
    performance_cores: int = 0
    efficiency_cores: int = 0
    gpu_cores: int | None = None
    metal_budget_bytes: int = Field(description="Memory the GPU may wire (working-set budget)")
    metal_budget_source: Source = "estimate"
    metal_budget_note: str = ""
    wired_limit_mb: int | None = Field(
        default=None, description="iogpu.wired_limit_mb when the user has set it"
    )
    bandwidth_gbps: float = 0.0
    bandwidth_source: Source = "unknown"
    bandwidth_note: str = ""


class HardwareProfile(BaseModel):
    """One machine. ``source`` says whether it was detected, loaded or taken from a preset."""

    schema_version: int = 1
    source: str = "detected"
    os: str = ""
    cpu: CpuInfo = Field(default_factory=CpuInfo)
    gpus: list[GpuInfo] = Field(default_factory=list)
    apple: AppleSiliconInfo | None = None
    probes: list[ProbeResult] = Field(default_factory=list)

    @property
    def nvidia_gpus(self) -> list[GpuInfo]:
        return [g for g in self.gpus if g.vendor == "nvidia"]

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str, origin: str = "profile") -> HardwareProfile:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise SettingsError(
                f"{origin} is not a valid hardware profile: {exc.error_count()} error(s), "
                f"first: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}",
                hint="Save one with `roost doctor --json > FILE` and edit it.",
            ) from exc

    @classmethod
    def load(cls, path: Path) -> HardwareProfile:
        try:
            text = path.read_text()
        except OSError as exc:
            raise SettingsError(f"Cannot read hardware profile {path}: {exc}") from exc
        profile = cls.from_json(text, origin=str(path))
        if profile.source == "detected":
            profile.source = f"file:{path}"
        return profile

"""Named machines to advise on without owning them: ``roost advise --hardware rtx4090``.

GPU and chip figures come from ``known_parts`` so presets and detection agree. What a preset
assumes about a running desktop (documented rough figures, not measurements):

- A GPU that drives the display has ~768 MiB in use before any model: ~300 MiB the driver
  reserves plus the compositor and a browser. A second, headless GPU: 256 MiB (driver).
- RAM available = total - 6 GiB (OS, desktop session, browser, editor).
- Macs use the same Metal working-set rule as detection without Metal (apple.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.errors import SettingsError
from app.hardware.apple import default_metal_budget_bytes
from app.hardware.known_parts import GIB, lookup_apple_chip, lookup_gpu
from app.hardware.profile import AppleSiliconInfo, CpuInfo, GpuInfo, HardwareProfile

MIB = 1024**2
DISPLAY_GPU_USED_BYTES = 768 * MIB
HEADLESS_GPU_USED_BYTES = 256 * MIB
DESKTOP_RAM_IN_USE_BYTES = 6 * GIB

_X86_AVX2 = ["avx", "avx2", "fma", "f16c"]
_ZEN4_PLUS = [*_X86_AVX2, "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"]
_APPLE_M4 = ["neon", "dotprod", "i8mm", "fp16", "bf16", "sme"]
_APPLE_M3 = ["neon", "dotprod", "i8mm", "fp16", "bf16"]


def _cpu(
    model: str,
    physical: int,
    logical: int,
    features: list[str],
    ram_gib: int,
    gbps: float,
    note: str,
) -> CpuInfo:
    return CpuInfo(
        model_name=model,
        arch="arm64" if model.startswith("Apple") else "x86_64",
        physical_cores=physical,
        logical_cores=logical,
        features=list(features),
        ram_total_bytes=ram_gib * GIB,
        ram_available_bytes=ram_gib * GIB - DESKTOP_RAM_IN_USE_BYTES,
        ram_bandwidth_gbps=gbps,
        ram_bandwidth_source="preset",
        ram_bandwidth_note=note,
    )


def _nvidia(
    index: int, name: str, vram_gib: int, cc: str, pcie: tuple[int, int], display: bool
) -> GpuInfo:
    known = lookup_gpu(name, vram_gib * GIB)
    if known is None:  # a preset naming a part the table lacks is a programming error
        raise LookupError(f"preset GPU {name} is not in known_parts")
    total = vram_gib * GIB
    used = DISPLAY_GPU_USED_BYTES if display else HEADLESS_GPU_USED_BYTES
    return GpuInfo(
        vendor="nvidia",
        index=index,
        name=f"NVIDIA {known.name}",
        vram_total_bytes=total,
        vram_free_bytes=total - used,
        vram_used_bytes=used,
        compute_capability=cc,
        memory_bus_width_bits=known.bus_width_bits,
        bandwidth_gbps=known.bandwidth_gbps,
        bandwidth_source="table",
        bandwidth_note=f"{known.name} spec ({known.memory_type})",
        pcie_generation=pcie[0],
        pcie_width=pcie[1],
        pcie_max_generation=pcie[0],
        pcie_max_width=pcie[1],
    )


def _mac(chip: str, gpu_cores: int, p_cores: int, e_cores: int, ram_gib: int) -> HardwareProfile:
    known = lookup_apple_chip(chip, gpu_cores, ram_gib * GIB)
    if known is None:
        raise LookupError(f"preset chip {chip} is not in known_parts")
    memory = ram_gib * GIB
    return HardwareProfile(
        os="Darwin",
        cpu=_cpu(
            chip,
            p_cores + e_cores,
            p_cores + e_cores,
            _APPLE_M4 if "M4" in chip else _APPLE_M3,
            ram_gib,
            known.bandwidth_gbps,
            f"unified memory, {known.name} spec",
        ),
        apple=AppleSiliconInfo(
            chip=chip,
            unified_memory_bytes=memory,
            performance_cores=p_cores,
            efficiency_cores=e_cores,
            gpu_cores=gpu_cores,
            metal_budget_bytes=default_metal_budget_bytes(memory),
            metal_budget_source="preset",
            metal_budget_note="macOS default working set (see apple.py)",
            bandwidth_gbps=known.bandwidth_gbps,
            bandwidth_source="table",
            bandwidth_note=f"{known.name} spec",
        ),
    )


def _rtx3060() -> HardwareProfile:
    return HardwareProfile(
        os="Linux",
        cpu=_cpu("AMD Ryzen 7 5700X 8-Core Processor", 8, 16, _X86_AVX2, 64, 51.2, "DDR4-3200 ×2"),
        gpus=[_nvidia(0, "RTX 3060", 12, "8.6", (4, 16), display=True)],
    )


def _rtx4090() -> HardwareProfile:
    return HardwareProfile(
        os="Linux",
        cpu=_cpu(
            "AMD Ryzen 9 7950X 16-Core Processor", 16, 32, _ZEN4_PLUS, 64, 89.6, "DDR5-5600 ×2"
        ),
        gpus=[_nvidia(0, "RTX 4090", 24, "8.9", (4, 16), display=True)],
    )


def _rtx5090() -> HardwareProfile:
    return HardwareProfile(
        os="Linux",
        cpu=_cpu(
            "AMD Ryzen 9 9950X 16-Core Processor", 16, 32, _ZEN4_PLUS, 96, 89.6, "DDR5-5600 ×2"
        ),
        gpus=[_nvidia(0, "RTX 5090", 32, "12.0", (5, 16), display=True)],
    )


def _two_rtx3090() -> HardwareProfile:
    return HardwareProfile(
        os="Linux",
        cpu=_cpu(
            "AMD Ryzen 9 5950X 16-Core Processor", 16, 32, _X86_AVX2, 128, 51.2, "DDR4-3200 ×2"
        ),
        gpus=[
            _nvidia(0, "RTX 3090", 24, "8.6", (4, 8), display=True),
            _nvidia(1, "RTX 3090", 24, "8.6", (4, 8), display=False),
        ],
    )


def _cpu_laptop() -> HardwareProfile:
    return HardwareProfile(
        os="Linux",
        cpu=_cpu(
            "12th Gen Intel(R) Core(TM) i5-1235U",
            10,
            12,
            [*_X86_AVX2, "avx_vnni"],
            16,
            51.2,
            "DDR4-3200 ×2",
        ),
    )


@dataclass(frozen=True)
class Preset:
    """A named machine: ``build()`` returns a fresh profile each time."""

    name: str
    description: str
    build: Callable[[], HardwareProfile]


PRESETS: tuple[Preset, ...] = (
    Preset("rtx3060-12gb", "desktop: RTX 3060 12 GB, 8-core Ryzen, 64 GB DDR4", _rtx3060),
    Preset("rtx4090", "desktop: RTX 4090 24 GB, 16-core Ryzen, 64 GB DDR5", _rtx4090),
    Preset("rtx5090", "desktop: RTX 5090 32 GB, 16-core Ryzen, 96 GB DDR5", _rtx5090),
    Preset(
        "2x-rtx3090", "workstation: 2× RTX 3090 24 GB, 16-core Ryzen, 128 GB DDR4", _two_rtx3090
    ),
    Preset("m4-16gb", "Mac mini M4 (10-core GPU), 16 GB", lambda: _mac("Apple M4", 10, 4, 6, 16)),
    Preset(
        "m4-max-128gb",
        "MacBook Pro M4 Max (40-core GPU), 128 GB",
        lambda: _mac("Apple M4 Max", 40, 12, 4, 128),
    ),
    Preset(
        "m3-ultra-512gb",
        "Mac Studio M3 Ultra (80-core GPU), 512 GB",
        lambda: _mac("Apple M3 Ultra", 80, 24, 8, 512),
    ),
    Preset("cpu-laptop-16gb", "laptop: no GPU, 10-core Intel, 16 GB DDR4", _cpu_laptop),
)


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) for every preset."""
    return [(p.name, p.description) for p in PRESETS]


def preset_names() -> list[str]:
    """The preset names, in listing order."""
    return [p.name for p in PRESETS]


def load_preset(name: str) -> HardwareProfile:
    """The preset called ``name`` (case-insensitive) with ``source="preset:NAME"``."""
    for p in PRESETS:
        if p.name == name.strip().lower():
            profile = p.build()
            profile.source = f"preset:{p.name}"
            profile.probes = []
            return profile
    raise SettingsError(
        f"Unknown hardware preset {name!r}.",
        hint="Presets: " + ", ".join(preset_names()),
    )

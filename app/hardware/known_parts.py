"""Tables of known GPUs and Apple chips: memory size and peak memory bandwidth.

Bandwidths are vendor peak figures in GB/s (1e9 B/s): bus width / 8 × per-pin data rate. Where
``public_speed_measurements.json`` (``peak_bandwidth_gbps``) lists a part, its figure is used
and agrees with the vendor's. A part whose figure we are not sure of is left out rather than
guessed: a lookup miss makes the probe fall back to what the device reports.

Lookup is by fuzzy name: ``"NVIDIA GeForce RTX 4090"`` → RTX 4090. A name matches an entry when
it holds all of the entry's key tokens and has no variant token (``ti``, ``super``, ``laptop``,
``max``, ...) that the entry lacks, so an RTX 3060 Ti is never taken for an RTX 3060, nor a
laptop part for the desktop one. Among matches the most specific wins; parts sold with several
memory sizes (RTX 3060 8/12 GB, A100 40/80 GB) are told apart by the memory size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3
# Relative difference between reported and marketed VRAM still taken as the same part.
VRAM_TOLERANCE = 0.15


@dataclass(frozen=True)
class KnownGpu:
    """A discrete GPU: ``vram_gib`` as marketed (GiB), ``bandwidth_gbps`` peak (GB/s)."""

    key: str
    vendor: str
    name: str
    vram_gib: float
    bandwidth_gbps: float
    bus_width_bits: int | None = None
    memory_type: str = ""


@dataclass(frozen=True)
class AppleChip:
    """An Apple Silicon chip (or one GPU-core variant of it): peak unified-memory GB/s."""

    key: str
    name: str
    bandwidth_gbps: float
    gpu_cores: tuple[int, ...]
    # Memory sizes (GiB) this variant is sold with, where that tells variants apart.
    memory_gib: tuple[int, ...] = ()


def _nv(key: str, name: str, gib: float, gbps: float, bus: int, mem: str) -> KnownGpu:
    return KnownGpu(key, "nvidia", name, gib, gbps, bus, mem)


def _amd(key: str, name: str, gib: float, gbps: float, bus: int, mem: str) -> KnownGpu:
    return KnownGpu(key, "amd", name, gib, gbps, bus, mem)


def _intel(key: str, name: str, gib: float, gbps: float, bus: int, mem: str) -> KnownGpu:
    return KnownGpu(key, "intel", name, gib, gbps, bus, mem)


# Vendor specification sheets. Tuples, so the tables cannot be changed at run time.
KNOWN_GPUS: tuple[KnownGpu, ...] = (
    # GeForce 20 / 30 series
    _nv("rtx 2080 ti", "GeForce RTX 2080 Ti", 11, 616, 352, "GDDR6"),
    _nv("titan rtx", "TITAN RTX", 24, 672, 384, "GDDR6"),
    _nv("rtx 3050", "GeForce RTX 3050 8GB", 8, 224, 128, "GDDR6"),
    _nv("rtx 3060", "GeForce RTX 3060 12GB", 12, 360, 192, "GDDR6"),
    _nv("rtx 3060", "GeForce RTX 3060 8GB", 8, 240, 128, "GDDR6"),
    # The later GDDR6X RTX 3060 Ti reaches 608 GB/s; the table keeps the common GDDR6 card.
    _nv("rtx 3060 ti", "GeForce RTX 3060 Ti", 8, 448, 256, "GDDR6"),
    _nv("rtx 3070", "GeForce RTX 3070", 8, 448, 256, "GDDR6"),
    _nv("rtx 3070 ti", "GeForce RTX 3070 Ti", 8, 608, 256, "GDDR6X"),
    _nv("rtx 3080", "GeForce RTX 3080 10GB", 10, 760, 320, "GDDR6X"),
    _nv("rtx 3080", "GeForce RTX 3080 12GB", 12, 912, 384, "GDDR6X"),
    _nv("rtx 3080 ti", "GeForce RTX 3080 Ti", 12, 912, 384, "GDDR6X"),
    _nv("rtx 3090", "GeForce RTX 3090", 24, 936, 384, "GDDR6X"),
    _nv("rtx 3090 ti", "GeForce RTX 3090 Ti", 24, 1008, 384, "GDDR6X"),
    # GeForce 40 series
    _nv("rtx 4060", "GeForce RTX 4060", 8, 272, 128, "GDDR6"),
    _nv("rtx 4060 ti", "GeForce RTX 4060 Ti 8GB", 8, 288, 128, "GDDR6"),
    _nv("rtx 4060 ti", "GeForce RTX 4060 Ti 16GB", 16, 288, 128, "GDDR6"),
    _nv("rtx 4070", "GeForce RTX 4070", 12, 504, 192, "GDDR6X"),
    _nv("rtx 4070 super", "GeForce RTX 4070 SUPER", 12, 504, 192, "GDDR6X"),
    _nv("rtx 4070 ti", "GeForce RTX 4070 Ti", 12, 504, 192, "GDDR6X"),
    _nv("rtx 4070 ti super", "GeForce RTX 4070 Ti SUPER", 16, 672, 256, "GDDR6X"),
    _nv("rtx 4080", "GeForce RTX 4080", 16, 716.8, 256, "GDDR6X"),
    _nv("rtx 4080 super", "GeForce RTX 4080 SUPER", 16, 736, 256, "GDDR6X"),
    _nv("rtx 4090", "GeForce RTX 4090", 24, 1008, 384, "GDDR6X"),
    # GeForce 50 series (GDDR7)
    _nv("rtx 5060", "GeForce RTX 5060", 8, 448, 128, "GDDR7"),
    _nv("rtx 5060 ti", "GeForce RTX 5060 Ti 8GB", 8, 448, 128, "GDDR7"),
    _nv("rtx 5060 ti", "GeForce RTX 5060 Ti 16GB", 16, 448, 128, "GDDR7"),
    _nv("rtx 5070", "GeForce RTX 5070", 12, 672, 192, "GDDR7"),
    _nv("rtx 5070 ti", "GeForce RTX 5070 Ti", 16, 896, 256, "GDDR7"),
    _nv("rtx 5080", "GeForce RTX 5080", 16, 960, 256, "GDDR7"),
    _nv("rtx 5090", "GeForce RTX 5090", 32, 1792, 512, "GDDR7"),
    # Workstation
    _nv("rtx a4000", "RTX A4000", 16, 448, 256, "GDDR6"),
    _nv("rtx a5000", "RTX A5000", 24, 768, 384, "GDDR6"),
    _nv("rtx a6000", "RTX A6000", 48, 768, 384, "GDDR6"),
    _nv("rtx 6000 ada", "RTX 6000 Ada Generation", 48, 960, 384, "GDDR6"),
    _nv("rtx pro 6000 blackwell", "RTX PRO 6000 Blackwell", 96, 1792, 512, "GDDR7"),
    # Data centre
    _nv("t4", "Tesla T4", 16, 320, 256, "GDDR6"),
    _nv("p40", "Tesla P40", 24, 346, 384, "GDDR5"),
    _nv("v100", "Tesla V100 16GB", 16, 900, 4096, "HBM2"),
    _nv("v100", "Tesla V100 32GB", 32, 900, 4096, "HBM2"),
    _nv("v100s", "Tesla V100S", 32, 1134, 4096, "HBM2"),
    _nv("a10", "A10", 24, 600, 384, "GDDR6"),
    _nv("a10g", "A10G", 24, 600, 384, "GDDR6"),
    _nv("a40", "A40", 48, 696, 384, "GDDR6"),
    _nv("a100", "A100 40GB", 40, 1555, 5120, "HBM2"),
    _nv("a100 pcie", "A100 80GB PCIe", 80, 1935, 5120, "HBM2e"),
    _nv("a100", "A100 80GB SXM", 80, 2039, 5120, "HBM2e"),
    _nv("l4", "L4", 24, 300, 192, "GDDR6"),
    _nv("l40", "L40", 48, 864, 384, "GDDR6"),
    _nv("l40s", "L40S", 48, 864, 384, "GDDR6"),
    _nv("h100 pcie", "H100 PCIe", 80, 2000, 5120, "HBM2e"),
    _nv("h100", "H100 SXM", 80, 3350, 5120, "HBM3"),
    _nv("h100 nvl", "H100 NVL", 94, 3900, 6144, "HBM3"),
    _nv("h200", "H200", 141, 4800, 6144, "HBM3e"),
    _nv("h200 nvl", "H200 NVL", 141, 4800, 6144, "HBM3e"),
    # AMD
    _amd("rx 6700 xt", "Radeon RX 6700 XT", 12, 384, 192, "GDDR6"),
    _amd("rx 6800", "Radeon RX 6800", 16, 512, 256, "GDDR6"),
    _amd("rx 6800 xt", "Radeon RX 6800 XT", 16, 512, 256, "GDDR6"),
    _amd("rx 6900 xt", "Radeon RX 6900 XT", 16, 512, 256, "GDDR6"),
    _amd("rx 6950 xt", "Radeon RX 6950 XT", 16, 576, 256, "GDDR6"),
    _amd("rx 7600", "Radeon RX 7600", 8, 288, 128, "GDDR6"),
    _amd("rx 7700 xt", "Radeon RX 7700 XT", 12, 432, 192, "GDDR6"),
    _amd("rx 7800 xt", "Radeon RX 7800 XT", 16, 624, 256, "GDDR6"),
    _amd("rx 7900 gre", "Radeon RX 7900 GRE", 16, 576, 256, "GDDR6"),
    _amd("rx 7900 xt", "Radeon RX 7900 XT", 20, 800, 320, "GDDR6"),
    _amd("rx 7900 xtx", "Radeon RX 7900 XTX", 24, 960, 384, "GDDR6"),
    _amd("rx 9070", "Radeon RX 9070", 16, 640, 256, "GDDR6"),
    _amd("rx 9070 xt", "Radeon RX 9070 XT", 16, 640, 256, "GDDR6"),
    _amd("pro w7900", "Radeon PRO W7900", 48, 864, 384, "GDDR6"),
    _amd("mi300x", "Instinct MI300X", 192, 5300, 8192, "HBM3"),
    # Intel
    _intel("a380", "Arc A380", 6, 186, 96, "GDDR6"),
    _intel("a580", "Arc A580", 8, 512, 256, "GDDR6"),
    _intel("a750", "Arc A750", 8, 512, 256, "GDDR6"),
    _intel("a770", "Arc A770 16GB", 16, 560, 256, "GDDR6"),
    _intel("a770", "Arc A770 8GB", 8, 512, 256, "GDDR6"),
    _intel("b570", "Arc B570", 10, 380, 160, "GDDR6"),
    _intel("b580", "Arc B580", 12, 456, 192, "GDDR6"),
)

# Apple's published unified-memory bandwidth per chip. M3 Max and M4 Max come in two GPU
# variants with different memory buses; the memory sizes each is sold with tell them apart.
APPLE_CHIPS: tuple[AppleChip, ...] = (
    AppleChip("m1", "Apple M1", 68.25, (7, 8)),
    AppleChip("m1 pro", "Apple M1 Pro", 200, (14, 16)),
    AppleChip("m1 max", "Apple M1 Max", 400, (24, 32)),
    AppleChip("m1 ultra", "Apple M1 Ultra", 800, (48, 64)),
    AppleChip("m2", "Apple M2", 100, (8, 10)),
    AppleChip("m2 pro", "Apple M2 Pro", 200, (16, 19)),
    AppleChip("m2 max", "Apple M2 Max", 400, (30, 38)),
    AppleChip("m2 ultra", "Apple M2 Ultra", 800, (60, 76)),
    AppleChip("m3", "Apple M3", 100, (8, 10)),
    AppleChip("m3 pro", "Apple M3 Pro", 150, (14, 18)),
    AppleChip("m3 max", "Apple M3 Max (30-core GPU)", 300, (30,), (36, 96)),
    AppleChip("m3 max", "Apple M3 Max (40-core GPU)", 400, (40,), (48, 64, 128)),
    AppleChip("m3 ultra", "Apple M3 Ultra", 819, (60, 80)),
    AppleChip("m4", "Apple M4", 120, (8, 10)),
    AppleChip("m4 pro", "Apple M4 Pro", 273, (16, 20)),
    AppleChip("m4 max", "Apple M4 Max (32-core GPU)", 410, (32,), (36,)),
    AppleChip("m4 max", "Apple M4 Max (40-core GPU)", 546, (40,), (48, 64, 128)),
    AppleChip("m5", "Apple M5", 153, (10,)),
)

# Tokens that name a variant: a name carrying one only matches entries that carry it too.
_VARIANT_TOKENS = frozenset(
    {"ti", "super", "laptop", "mobile", "max", "q", "xt", "xtx", "gre", "nvl", "d", "pro", "ultra"}
)
# Vendor and marketing words that say nothing about which part it is.
_NOISE_TOKENS = frozenset(
    {"nvidia", "geforce", "tesla", "quadro", "amd", "ati", "radeon", "apple", "intel", "r", "tm"}
    | {"graphics", "gpu", "corporation", "generation", "edition", "workstation", "instinct"}
)
_GB_IN_NAME = re.compile(r"(\d+)\s*gb\b")
_CORES_IN_NAME = re.compile(r"(\d+)\s*-?\s*core\s+gpu")


def name_tokens(name: str) -> set[str]:
    """Lower-case tokens of a device name, minus vendor words and memory sizes ("24gb")."""
    text = _CORES_IN_NAME.sub(" ", _GB_IN_NAME.sub(" ", name.lower()))
    return {t for t in re.split(r"[^a-z0-9]+", text) if t and t not in _NOISE_TOKENS}


def _gib_in_name(name: str) -> float | None:
    m = _GB_IN_NAME.search(name.lower())
    return float(m.group(1)) if m else None


def _matches(key: str, tokens: set[str]) -> bool:
    want = set(key.split())
    return want <= tokens and (tokens & _VARIANT_TOKENS) <= want


def lookup_gpu(name: str, vram_bytes: int | None = None) -> KnownGpu | None:
    """The known GPU ``name`` denotes, or None.

    ``vram_bytes`` (as the device reports it) picks between memory variants; a part whose
    memory is more than 15% off every matching entry is treated as unknown (ECC and driver
    reservations hide up to ~7% of a card's memory). Without it a
    memory size written in the name ("A100-SXM4-40GB") is used.
    """
    tokens = name_tokens(name)
    found = [g for g in KNOWN_GPUS if _matches(g.key, tokens)]
    if not found:
        return None
    gib = vram_bytes / GIB if vram_bytes else _gib_in_name(name)
    if gib:
        found = [g for g in found if abs(g.vram_gib - gib) <= VRAM_TOLERANCE * g.vram_gib]
        if not found:
            return None
    return min(found, key=lambda g: (-len(g.key.split()), abs(g.vram_gib - (gib or g.vram_gib))))


def lookup_apple_chip(
    name: str, gpu_cores: int | None = None, memory_bytes: int | None = None
) -> AppleChip | None:
    """The Apple chip ``name`` ("Apple M4 Max") denotes, or None.

    Where a chip has variants, ``gpu_cores`` (or a "40-core GPU" in the name) picks one, else
    the memory size (bytes) it is sold with; still ambiguous → the slower variant (conservative).
    """
    tokens = name_tokens(name)
    found = [c for c in APPLE_CHIPS if _matches(c.key, tokens)]
    if not found:
        return None
    if gpu_cores is None and (m := _CORES_IN_NAME.search(name.lower())):
        gpu_cores = int(m.group(1))
    if gpu_cores is not None and (by_cores := [c for c in found if gpu_cores in c.gpu_cores]):
        found = by_cores
    elif memory_bytes:
        gib = round(memory_bytes / GIB)
        found = [c for c in found if gib in c.memory_gib] or found
    return min(found, key=lambda c: c.bandwidth_gbps)

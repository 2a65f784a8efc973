"""Tables of known parts: fuzzy lookup and agreement with the published figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.hardware.known_parts import APPLE_CHIPS, KNOWN_GPUS, lookup_apple_chip, lookup_gpu

GIB = 1024**3
HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data" / "public_speed_measurements.json"
if not SHARED.exists():  # a checkout of the project repo sits next to shared/
    SHARED = HERE.parents[3] / "shared" / "data" / "public_speed_measurements.json"

REQUIRED_NVIDIA = [
    "RTX 3060 12GB", "RTX 3060 Ti", "RTX 3070", "RTX 3080", "RTX 3080 Ti", "RTX 3090",
    "RTX 3090 Ti", "RTX 4060", "RTX 4060 Ti 16GB", "RTX 4070", "RTX 4070 Ti", "RTX 4080",
    "RTX 4090", "RTX 5060 Ti 16GB", "RTX 5070", "RTX 5070 Ti", "RTX 5080", "RTX 5090",
    "A100 40GB", "A100 80GB PCIe", "A100-SXM4-80GB", "H100 PCIe", "H100 80GB HBM3", "H200",
    "L4", "L40S", "RTX A6000", "RTX 6000 Ada Generation", "Tesla T4", "Tesla V100-SXM2-16GB",
]  # fmt: skip


@pytest.mark.parametrize("name", REQUIRED_NVIDIA)
def test_required_nvidia_parts_are_known(name: str) -> None:
    known = lookup_gpu("NVIDIA " + name)
    assert known is not None, name
    assert known.vram_gib > 0
    assert known.bandwidth_gbps > 0


@pytest.mark.parametrize(
    ("name", "vram_gib", "expected"),
    [
        ("NVIDIA GeForce RTX 4090", 23.99, "GeForce RTX 4090"),
        ("NVIDIA GeForce RTX 3060", 12, "GeForce RTX 3060 12GB"),
        ("NVIDIA GeForce RTX 3060", 8, "GeForce RTX 3060 8GB"),
        ("NVIDIA GeForce RTX 3060 Ti", 8, "GeForce RTX 3060 Ti"),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", 16, "GeForce RTX 4070 Ti SUPER"),
        ("NVIDIA GeForce RTX 4060 Ti", 16, "GeForce RTX 4060 Ti 16GB"),
        ("NVIDIA A100-SXM4-80GB", 80, "A100 80GB SXM"),
        ("NVIDIA A100-PCIE-40GB", 40, "A100 40GB"),
        ("NVIDIA A100 80GB PCIe", 80, "A100 80GB PCIe"),
        ("NVIDIA H100 PCIe", 79.6, "H100 PCIe"),
        ("NVIDIA H100 80GB HBM3", 79.6, "H100 SXM"),
        ("NVIDIA H100 NVL", 93.6, "H100 NVL"),
        ("NVIDIA L40S", 45, "L40S"),
        ("Tesla T4", 15, "Tesla T4"),
        ("NVIDIA RTX A6000", 48, "RTX A6000"),
        ("NVIDIA RTX 6000 Ada Generation", 48, "RTX 6000 Ada Generation"),
        ("AMD Radeon RX 7900 XTX", 24, "Radeon RX 7900 XTX"),
        ("Intel(R) Arc(TM) A770 Graphics", 16, "Arc A770 16GB"),
    ],
)
def test_fuzzy_lookup(name: str, vram_gib: float, expected: str) -> None:
    known = lookup_gpu(name, int(vram_gib * GIB))
    assert known is not None
    assert known.name == expected


@pytest.mark.parametrize(
    "name",
    [
        "NVIDIA GeForce RTX 4090 Laptop GPU",  # 16 GB, 576 GB/s: not the desktop card
        "NVIDIA GeForce RTX 3080 Ti Laptop GPU",
        "NVIDIA GeForce RTX 4090 D",
        "Quadro RTX 6000",
        "NVIDIA Mystery 9000",
    ],
)
def test_unknown_variants_are_not_matched(name: str) -> None:
    assert lookup_gpu(name) is None


def test_vram_far_from_every_variant_means_unknown() -> None:
    assert lookup_gpu("NVIDIA GeForce RTX 4090", 48 * GIB) is None  # e.g. a modded card


def test_apple_lookup() -> None:
    chip = lookup_apple_chip("Apple M4 Max")
    assert chip is not None
    assert chip.bandwidth_gbps == 410
    chip = lookup_apple_chip("Apple M4 Max", gpu_cores=40)
    assert chip is not None
    assert chip.bandwidth_gbps == 546
    chip = lookup_apple_chip("Apple M3 Max", memory_bytes=128 * GIB)
    assert chip is not None
    assert chip.bandwidth_gbps == 400
    chip = lookup_apple_chip("Apple M4 Pro")
    assert chip is not None
    assert chip.bandwidth_gbps == 273
    chip = lookup_apple_chip("Apple M4")
    assert chip is not None
    assert chip.bandwidth_gbps == 120
    assert lookup_apple_chip("Intel(R) Core(TM) i9-9980HK") is None


def test_every_chip_and_gpu_entry_is_sane() -> None:
    for gpu in KNOWN_GPUS:
        assert gpu.vram_gib > 0, gpu
        assert gpu.bandwidth_gbps > 0, gpu
        assert lookup_gpu(gpu.name, int(gpu.vram_gib * GIB)) == gpu, gpu.name
        if gpu.bus_width_bits and gpu.memory_type.startswith("GDDR"):
            gbps_per_pin = gpu.bandwidth_gbps * 8 / gpu.bus_width_bits
            assert 7 <= gbps_per_pin <= 32, gpu.name  # GDDR5 ~7 ... GDDR7 28-32
    for chip in APPLE_CHIPS:
        assert chip.bandwidth_gbps > 0
        assert chip.gpu_cores


def test_tables_agree_with_the_published_peak_bandwidths() -> None:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    peaks: dict[str, float] = json.loads(SHARED.read_text())["peak_bandwidth_gbps"]
    for name, gbps in peaks.items():
        known = lookup_apple_chip(name) if name.startswith("Apple") else lookup_gpu(name)
        assert known is not None, name
        assert known.bandwidth_gbps == gbps, name

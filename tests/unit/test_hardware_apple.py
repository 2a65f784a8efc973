"""Apple Silicon probe with fake sysctl / system_profiler / Metal readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.hardware.apple import default_metal_budget_bytes, metal_budget, probe_apple

GIB = 1024**3
HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data" / "public_speed_measurements.json"
if not SHARED.exists():  # a checkout of the project repo sits next to shared/
    SHARED = HERE.parents[3] / "shared" / "data" / "public_speed_measurements.json"

# "apple_gpu_working_set" in public_speed_measurements.json (GiB: the M4 16 GB figure is
# exactly 2/3 of 16 GiB, so the figures are read as GiB).
OBSERVED_WORKING_SET_GIB = {
    "M4 16 GB": (16, 10.67),
    "M3 16 GB": (16, 11.84),
    "128 GiB Mac": (128, 107.52),
}
# The documented rule (2/3 up to 36 GiB, 3/4 above) is conservative: never above an observed
# figure, and within 12% below it (newer macOS releases allow up to ~0.84 of RAM).
BUDGET_TOLERANCE_BELOW = 0.12


def _sysctl(values: dict[str, str]):  # type: ignore[no-untyped-def]
    return values.get


M4_MAX_128 = {
    "machdep.cpu.brand_string": "Apple M4 Max",
    "hw.memsize": str(128 * GIB),
    "hw.perflevel0.physicalcpu": "12",
    "hw.perflevel1.physicalcpu": "4",
    "iogpu.wired_limit_mb": "0",
}
M3_16 = {
    "machdep.cpu.brand_string": "Apple M3",
    "hw.memsize": str(16 * GIB),
    "hw.perflevel0.physicalcpu": "4",
    "hw.perflevel1.physicalcpu": "4",
    "iogpu.wired_limit_mb": "0",
}
M4_MAX_PROFILER = json.dumps(
    {"SPDisplaysDataType": [{"sppci_model": "Apple M4 Max", "sppci_cores": "40"}]}
)


def test_m4_max_128gb() -> None:
    info, probe = probe_apple(_sysctl(M4_MAX_128), lambda: M4_MAX_PROFILER, lambda: None)
    assert probe.ok
    assert info is not None
    assert info.chip == "Apple M4 Max"
    assert info.unified_memory_bytes == 128 * GIB
    assert (info.performance_cores, info.efficiency_cores, info.gpu_cores) == (12, 4, 40)
    assert info.bandwidth_gbps == 546
    assert info.bandwidth_source == "table"
    assert info.metal_budget_bytes == 96 * GIB  # 3/4
    assert info.metal_budget_source == "estimate"
    assert info.wired_limit_mb is None


def test_m4_max_without_system_profiler_uses_the_memory_size() -> None:
    # 128 GB is only sold with the 40-core GPU.
    info, probe = probe_apple(_sysctl(M4_MAX_128), lambda: None, lambda: None)
    assert info is not None
    assert info.gpu_cores == 40
    assert info.bandwidth_gbps == 546
    assert probe.ok


def test_m4_max_36gb_is_the_32_core_variant() -> None:
    values = {**M4_MAX_128, "hw.memsize": str(36 * GIB)}
    info, _ = probe_apple(_sysctl(values), lambda: None, lambda: None)
    assert info is not None
    assert info.gpu_cores == 32
    assert info.bandwidth_gbps == 410
    assert info.metal_budget_bytes == 24 * GIB  # 2/3 of 36 GiB


def test_m3_16gb() -> None:
    info, probe = probe_apple(_sysctl(M3_16), lambda: None, lambda: None)
    assert probe.ok
    assert info is not None
    assert info.bandwidth_gbps == 100
    assert info.gpu_cores == 8  # not reported: the smaller variant, noted
    assert "GPU cores not reported" in probe.reason
    assert info.metal_budget_bytes == pytest.approx(16 * GIB * 2 / 3, abs=1)


def test_wired_limit_sets_the_budget() -> None:
    values = {**M4_MAX_128, "iogpu.wired_limit_mb": str(120 * 1024)}
    info, _ = probe_apple(_sysctl(values), lambda: M4_MAX_PROFILER, lambda: None)
    assert info is not None
    assert info.wired_limit_mb == 120 * 1024
    assert info.metal_budget_bytes == 120 * GIB
    assert info.metal_budget_source == "measured"


def test_wired_limit_on_a_16gb_mac() -> None:
    values = {**M3_16, "iogpu.wired_limit_mb": "14336"}
    info, _ = probe_apple(_sysctl(values), lambda: None, lambda: None)
    assert info is not None
    assert info.metal_budget_bytes == 14 * GIB


def test_metal_reading_wins() -> None:
    metal = int(107.52 * GIB)
    values = {**M4_MAX_128, "iogpu.wired_limit_mb": str(100 * 1024)}
    info, _ = probe_apple(_sysctl(values), lambda: None, lambda: metal)
    assert info is not None
    assert info.metal_budget_bytes == metal
    assert info.metal_budget_source == "measured"


def test_not_a_mac() -> None:
    info, probe = probe_apple(_sysctl({}), lambda: None, lambda: None)
    assert info is None
    assert not probe.ok
    assert probe.reason


def test_unknown_apple_chip_gets_an_estimate() -> None:
    values = {**M3_16, "machdep.cpu.brand_string": "Apple M9 Hyper"}
    info, probe = probe_apple(_sysctl(values), lambda: None, lambda: None)
    assert info is not None
    assert info.bandwidth_source == "estimate"
    assert info.bandwidth_gbps > 0
    assert "not in the chip table" in probe.reason


def test_broken_system_profiler_output_is_ignored() -> None:
    info, _ = probe_apple(_sysctl(M4_MAX_128), lambda: "{not json", lambda: None)
    assert info is not None
    assert info.gpu_cores == 40


@pytest.mark.parametrize("machine", sorted(OBSERVED_WORKING_SET_GIB))
def test_default_budget_against_public_observations(machine: str) -> None:
    ram_gib, observed_gib = OBSERVED_WORKING_SET_GIB[machine]
    budget_gib = default_metal_budget_bytes(ram_gib * GIB) / GIB
    assert budget_gib <= observed_gib + 0.01
    assert budget_gib >= observed_gib * (1 - BUDGET_TOLERANCE_BELOW)


def test_observations_match_the_shared_data() -> None:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    rows = json.loads(SHARED.read_text())["apple_gpu_working_set"]
    for row in rows:
        if "machine" in row:
            value = row.get("recommended_max_working_set_gb") or row.get(
                "recommended_max_working_set_gib"
            )
            assert OBSERVED_WORKING_SET_GIB[row["machine"]][1] == value


def test_metal_budget_priority() -> None:
    assert metal_budget(16 * GIB, None, None)[1] == "estimate"
    assert metal_budget(16 * GIB, 8192, None) == (
        8 * GIB,
        "measured",
        metal_budget(16 * GIB, 8192, None)[2],
    )
    # A wired limit above RAM is clamped to RAM.
    assert metal_budget(16 * GIB, 64 * 1024, None)[0] == 16 * GIB

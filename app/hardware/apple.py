"""Apple Silicon: chip, unified memory, core counts, GPU cores, Metal budget, bandwidth.

Readers are injectable (``sysctl`` by name, ``system_profiler`` JSON text, the Metal working
set) so the probe runs against fakes on Linux.

The Metal budget is the memory the GPU may wire (Metal's ``recommendedMaxWorkingSetSize``).
In order of preference it is read from Metal (pyobjc's ``Metal`` module, when installed), taken
from ``iogpu.wired_limit_mb`` when the user has set it (the working set tracks that sysctl), or
estimated by the commonly cited macOS default: 2/3 of RAM up to 36 GiB, 3/4 above. That rule
matches llama.cpp's ``ggml_metal_init: recommendedMaxWorkingSetSize`` lines seen for 16 GiB
(11453.25 MB = 2/3), 64 GiB (51539.61 MB = 3/4) and an M4 Max 128 GiB (103079.22 MB = 3/4).
Some newer macOS releases allow more: public_speed_measurements.json lists 11.84 GiB on an M3
16 GB (0.74) and 107.52 GiB on a 128 GiB Mac (0.84). The rule is kept because it never exceeds
a published figure (an over-estimate means a Metal out-of-memory failure at load time, an
under-estimate only a slightly smaller plan); reading Metal or setting the sysctl beats it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from app.hardware._commands import read_sysctl, run_command
from app.hardware.known_parts import GIB, lookup_apple_chip
from app.hardware.profile import AppleSiliconInfo, ProbeResult, Source

log = logging.getLogger(__name__)

MIB = 1024**2
SMALL_MAC_LIMIT_BYTES = 36 * GIB
SMALL_MAC_BUDGET_FRACTION = 2 / 3
LARGE_MAC_BUDGET_FRACTION = 3 / 4
# An Apple chip missing from the table: the slowest current base chip's figure (M2/M3).
UNKNOWN_CHIP_BANDWIDTH_GBPS = 100.0

Sysctl = Callable[[str], str | None]


def default_metal_budget_bytes(memory_bytes: int) -> int:
    """macOS's default GPU working set (bytes): 2/3 of RAM up to 36 GiB, 3/4 above."""
    fraction = (
        SMALL_MAC_BUDGET_FRACTION
        if memory_bytes <= SMALL_MAC_LIMIT_BYTES
        else LARGE_MAC_BUDGET_FRACTION
    )
    return int(memory_bytes * fraction)


def metal_budget(
    memory_bytes: int, wired_limit_mb: int | None, metal_bytes: int | None
) -> tuple[int, Source, str]:
    """The Metal working-set budget (bytes), its source and a note."""
    if metal_bytes:
        return metal_bytes, "measured", "Metal recommendedMaxWorkingSetSize"
    if wired_limit_mb and wired_limit_mb > 0:
        limit = min(wired_limit_mb * MIB, memory_bytes)
        return limit, "measured", f"sysctl iogpu.wired_limit_mb = {wired_limit_mb}"
    budget = default_metal_budget_bytes(memory_bytes)
    share = "2/3" if memory_bytes <= SMALL_MAC_LIMIT_BYTES else "3/4"
    return budget, "estimate", f"macOS default: {share} of RAM (Metal not readable from Python)"


def gpu_cores_from_system_profiler(text: str | None) -> int | None:
    """``sppci_cores`` from ``system_profiler SPDisplaysDataType -json`` output."""
    if not text:
        return None
    try:
        data = json.loads(text)
        for display in data.get("SPDisplaysDataType", []):
            cores = display.get("sppci_cores")
            if cores is not None:
                return int(cores)
    except (ValueError, TypeError, AttributeError) as exc:
        log.debug("system_profiler output not understood: %s", exc)
    return None


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value else None
    except ValueError:
        return None


def _read_system_profiler() -> str | None:
    return run_command(["system_profiler", "SPDisplaysDataType", "-json"], timeout_s=30.0)


def _read_metal_working_set() -> int | None:
    try:
        import Metal  # pyobjc-framework-Metal, macOS only
    except ImportError:
        return None
    try:
        device: Any = Metal.MTLCreateSystemDefaultDevice()
        return int(device.recommendedMaxWorkingSetSize()) if device is not None else None
    except Exception as exc:  # a foreign binding: any failure means "not readable"
        log.debug("Metal working set not readable: %s", exc)
        return None


def probe_apple(
    sysctl: Sysctl = read_sysctl,
    system_profiler: Callable[[], str | None] = _read_system_profiler,
    metal_working_set: Callable[[], int | None] = _read_metal_working_set,
) -> tuple[AppleSiliconInfo | None, ProbeResult]:
    """This Mac's Apple Silicon facts (bytes, GB/s), or None with the reason."""
    brand = sysctl("machdep.cpu.brand_string") or ""
    memory = _int(sysctl("hw.memsize"))
    if not brand.startswith("Apple") or not memory:
        return None, ProbeResult(name="apple", ok=False, reason="not an Apple Silicon Mac")
    notes: list[str] = []
    gpu_cores = gpu_cores_from_system_profiler(system_profiler())
    chip = lookup_apple_chip(brand, gpu_cores, memory)
    if gpu_cores is None and chip is not None:
        gpu_cores = min(chip.gpu_cores)
        if len(chip.gpu_cores) > 1:
            notes.append(f"GPU cores not reported; assumed {gpu_cores} ({chip.name})")
    wired = _int(sysctl("iogpu.wired_limit_mb"))
    budget, budget_source, budget_note = metal_budget(memory, wired, metal_working_set())
    bandwidth: float
    bw_source: Source
    if chip is not None:
        bandwidth, bw_source, bw_note = chip.bandwidth_gbps, "table", f"{chip.name} spec"
    else:
        bandwidth, bw_source = UNKNOWN_CHIP_BANDWIDTH_GBPS, "estimate"
        bw_note = f"{brand} is not in the chip table; assumed a base chip's bandwidth"
        notes.append(bw_note)
    info = AppleSiliconInfo(
        chip=brand,
        unified_memory_bytes=memory,
        performance_cores=_int(sysctl("hw.perflevel0.physicalcpu")) or 0,
        efficiency_cores=_int(sysctl("hw.perflevel1.physicalcpu")) or 0,
        gpu_cores=gpu_cores,
        metal_budget_bytes=budget,
        metal_budget_source=budget_source,
        metal_budget_note=budget_note,
        wired_limit_mb=wired if wired and wired > 0 else None,
        bandwidth_gbps=bandwidth,
        bandwidth_source=bw_source,
        bandwidth_note=bw_note,
    )
    return info, ProbeResult(name="apple", ok=True, reason="; ".join(notes))

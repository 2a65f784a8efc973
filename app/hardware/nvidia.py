"""NVIDIA GPUs through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` package).

The NVML module is a parameter so tests pass a fake shaped like pynvml. Every per-GPU call
fails soft: a field NVML will not report is left empty (or taken from the table of known
parts) and named in the probe's reason.

Peak bandwidth (GB/s) = bus width / 8 × max memory clock × 2 / 1e9. NVML's memory "clock" is
not the DRAM command clock: for GDDR5/6/6X it already folds in GDDR's extra transfers per clock,
so that ×2 gives the per-pin data rate (RTX 3090: 9751 MHz reported, 19.5 Gbps pins, 384 bit →
936 GB/s), and for HBM2/HBM2e/HBM3 the same ×2 holds (A100 40GB: 1215 MHz × 2 × 5120 bit / 8
= 1555 GB/s). Source: NVIDIA developer forum, "RTX 3090 & A100 memory frequency" (NVIDIA's
answer). GDDR7 (RTX 50 series) is assumed to follow the same convention; this was not checked
on a card. Every computed figure is cross-checked against ``known_parts``: when they differ by
more than 25% the table wins and the note says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from app.hardware.known_parts import lookup_gpu
from app.hardware.profile import GpuInfo, ProbeResult, Source

log = logging.getLogger(__name__)

DATA_TRANSFERS_PER_REPORTED_CLOCK = 2
# Computed vs table disagreement above which the table is believed (relative to the table).
TABLE_TOLERANCE = 0.25
# Unknown part with no bus width/clock: assume an entry-level discrete card (128-bit GDDR6 at
# 16 Gbps = 256 GB/s), so the planner never divides by a zero bandwidth.
UNKNOWN_GPU_BANDWIDTH_GBPS = 256.0


def computed_bandwidth_gbps(bus_width_bits: int, max_memory_clock_mhz: int) -> float:
    """Peak GB/s from NVML's memory bus width (bits) and max memory clock (MHz)."""
    return bus_width_bits / 8 * max_memory_clock_mhz * 1e6 * DATA_TRANSFERS_PER_REPORTED_CLOCK / 1e9


def choose_bandwidth(
    name: str, vram_bytes: int | None, bus_width_bits: int | None, max_memory_clock_mhz: int | None
) -> tuple[float, Source, str]:
    """The GPU's peak bandwidth (GB/s), its source and a note, from NVML figures and the table."""
    known = lookup_gpu(name, vram_bytes)
    computed = (
        computed_bandwidth_gbps(bus_width_bits, max_memory_clock_mhz)
        if bus_width_bits and max_memory_clock_mhz
        else None
    )
    if computed and known:
        off = abs(computed - known.bandwidth_gbps) / known.bandwidth_gbps
        if off > TABLE_TOLERANCE:
            return (
                known.bandwidth_gbps,
                "table",
                f"NVML bus width × clock gives {computed:.0f} GB/s, {off:.0%} off the "
                f"{known.name} spec; using the spec",
            )
        return (
            round(computed, 1),
            "measured",
            f"{bus_width_bits}-bit × {max_memory_clock_mhz} MHz; {known.name} spec "
            f"{known.bandwidth_gbps:g} GB/s",
        )
    if computed:
        return round(computed, 1), "measured", f"{bus_width_bits}-bit × {max_memory_clock_mhz} MHz"
    if known:
        return (
            known.bandwidth_gbps,
            "table",
            f"NVML did not report bus width/clock; {known.name} spec",
        )
    return (
        UNKNOWN_GPU_BANDWIDTH_GBPS,
        "estimate",
        "unknown part and NVML reported no bus width/clock: assumed an entry-level card",
    )


def cuda_version_string(version: int) -> str:
    """NVML's CUDA driver version integer (12040) as "12.4"."""
    return f"{version // 1000}.{version % 1000 // 10}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _init_failure_reason(nvml: Any, exc: Exception) -> str:
    if isinstance(exc, getattr(nvml, "NVMLError_LibraryNotFound", ())):
        return "no NVIDIA driver: the NVML library (libnvidia-ml) was not found"
    if isinstance(exc, getattr(nvml, "NVMLError_DriverNotLoaded", ())):
        return "the NVIDIA driver is installed but not loaded (reboot or load the kernel module)"
    if isinstance(exc, getattr(nvml, "NVMLError_NoPermission", ())):
        return "no permission to talk to the NVIDIA driver"
    if isinstance(exc, getattr(nvml, "NVMLError_LibRmVersionMismatch", ())):
        return "NVML and the NVIDIA kernel driver versions differ (reboot after a driver update)"
    return f"NVML failed to start: {exc}"


def _import_pynvml() -> Any:
    import pynvml

    return pynvml


def probe_nvidia(nvml: Any | None = None) -> tuple[list[GpuInfo], ProbeResult]:
    """All NVIDIA GPUs (sizes in bytes, bandwidth GB/s) and the probe's outcome.

    ``nvml`` defaults to the real ``pynvml``. No library or no driver → no GPUs and a
    ProbeResult with ok=False saying why; zero GPUs with a working driver → ok=True.
    """
    if nvml is None:
        try:
            nvml = _import_pynvml()
        except ImportError as exc:
            return [], ProbeResult(
                name="nvidia", ok=False, reason=f"nvidia-ml-py (pynvml) is not installed: {exc}"
            )
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        reason = _init_failure_reason(nvml, exc)
        log.info("NVIDIA probe: %s", reason)
        return [], ProbeResult(name="nvidia", ok=False, reason=reason)
    try:
        return _read_gpus(nvml)
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError as exc:
            log.debug("nvmlShutdown: %s", exc)


def _read_gpus(nvml: Any) -> tuple[list[GpuInfo], ProbeResult]:
    problems: list[str] = []

    def soft(what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except nvml.NVMLError as exc:
            problems.append(f"{what}: {exc}")
            return None

    try:
        count = int(nvml.nvmlDeviceGetCount())
    except nvml.NVMLError as exc:
        return [], ProbeResult(name="nvidia", ok=False, reason=f"cannot count GPUs: {exc}")
    driver = soft("driver version", nvml.nvmlSystemGetDriverVersion)
    cuda = soft("CUDA version", nvml.nvmlSystemGetCudaDriverVersion)
    gpus: list[GpuInfo] = []
    for index in range(count):
        handle = soft(f"GPU {index} handle", nvml.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            continue
        gpus.append(_read_gpu(nvml, index, handle, soft, _text(driver or ""), cuda, problems))
    reason = "; ".join(problems) if problems else ("" if count else "NVML found no NVIDIA GPU")
    return gpus, ProbeResult(name="nvidia", ok=True, reason=reason)


def _read_gpu(
    nvml: Any,
    index: int,
    handle: Any,
    soft: Callable[..., Any],
    driver: str,
    cuda: int | None,
    problems: list[str],
) -> GpuInfo:
    p = f"GPU {index} "
    name = _text(soft(p + "name", nvml.nvmlDeviceGetName, handle) or f"NVIDIA GPU {index}")
    mem = soft(p + "memory", nvml.nvmlDeviceGetMemoryInfo, handle)
    if mem is not None:
        total, free, used = int(mem.total), int(mem.free), int(mem.used)
    else:
        known = lookup_gpu(name)
        total = int(known.vram_gib * 1024**3) if known else 0
        free, used = total, 0
        if known:
            problems.append(f"{p}VRAM size taken from the {known.name} spec; free VRAM unknown")
    cc = soft(p + "compute capability", nvml.nvmlDeviceGetCudaComputeCapability, handle)
    bus = soft(p + "memory bus width", nvml.nvmlDeviceGetMemoryBusWidth, handle)
    clock = soft(
        p + "max memory clock", nvml.nvmlDeviceGetMaxClockInfo, handle, nvml.NVML_CLOCK_MEM
    )
    gbps, source, note = choose_bandwidth(name, total or None, bus or None, clock or None)
    if source != "measured":
        log.info("GPU %d %s bandwidth %s GB/s (%s): %s", index, name, gbps, source, note)
    return GpuInfo(
        vendor="nvidia",
        index=index,
        name=name,
        uuid=_text(soft(p + "UUID", nvml.nvmlDeviceGetUUID, handle) or ""),
        vram_total_bytes=total,
        vram_free_bytes=free,
        vram_used_bytes=used,
        driver_version=driver,
        cuda_version=cuda_version_string(int(cuda)) if cuda else "",
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else "",
        memory_bus_width_bits=bus or None,
        max_memory_clock_mhz=clock or None,
        bandwidth_gbps=gbps,
        bandwidth_source=source,
        bandwidth_note=note,
        pcie_generation=soft(p + "PCIe gen", nvml.nvmlDeviceGetCurrPcieLinkGeneration, handle),
        pcie_width=soft(p + "PCIe width", nvml.nvmlDeviceGetCurrPcieLinkWidth, handle),
        pcie_max_generation=soft(
            p + "max PCIe gen", nvml.nvmlDeviceGetMaxPcieLinkGeneration, handle
        ),
        pcie_max_width=soft(p + "max PCIe width", nvml.nvmlDeviceGetMaxPcieLinkWidth, handle),
    )

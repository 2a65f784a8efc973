"""``roost doctor``'s human-readable report of a ``HardwareProfile``: plain, aligned text."""

from __future__ import annotations

from app.hardware.profile import GpuInfo, HardwareProfile

GIB = 1024**3
_LABEL_WIDTH = 16


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def _row(label: str, value: str) -> str:
    return f"  {label:<{_LABEL_WIDTH}} {value}"


def _why(source: str, note: str) -> str:
    return f"({source}: {note})" if note else f"({source})"


def _bandwidth(gbps: float, source: str, note: str) -> str:
    return f"{gbps:g} GB/s {_why(source, note)}"


def _gpu_lines(gpu: GpuInfo) -> list[str]:
    title = f"GPU {gpu.index}  {gpu.name}"
    if gpu.best_effort:
        title += "  (best effort, no vendor library)"
    lines = [title]
    lines.append(
        _row("VRAM", f"{_gib(gpu.vram_total_bytes)} total, {_gib(gpu.vram_free_bytes)} free")
    )
    lines.append(
        _row("bandwidth", _bandwidth(gpu.bandwidth_gbps, gpu.bandwidth_source, gpu.bandwidth_note))
    )
    bus = [f"{gpu.memory_bus_width_bits}-bit"] if gpu.memory_bus_width_bits else []
    if gpu.max_memory_clock_mhz:
        bus.append(f"max clock {gpu.max_memory_clock_mhz} MHz")
    if bus:
        lines.append(_row("memory bus", ", ".join(bus)))
    if gpu.driver_version or gpu.cuda_version:
        lines.append(
            _row("driver / CUDA", f"{gpu.driver_version or '?'} / {gpu.cuda_version or '?'}")
        )
    if gpu.compute_capability:
        lines.append(_row("compute cap.", gpu.compute_capability))
    if gpu.pcie_generation or gpu.pcie_max_generation:
        now = f"gen {gpu.pcie_generation or '?'} x{gpu.pcie_width or '?'}"
        peak = f"gen {gpu.pcie_max_generation or '?'} x{gpu.pcie_max_width or '?'}"
        lines.append(_row("PCIe", f"{now} now, {peak} max"))
    if gpu.uuid:
        lines.append(_row("UUID", gpu.uuid))
    return lines


def format_report(profile: HardwareProfile) -> str:
    """The profile as an aligned plain-text report (sizes GiB, bandwidths GB/s)."""
    cpu = profile.cpu
    out = [
        f"Roost hardware report (source: {profile.source}{', ' + profile.os if profile.os else ''})"
    ]
    out += [
        "",
        "CPU",
        _row("model", cpu.model_name),
        _row("architecture", cpu.arch or "?"),
        _row("cores", f"{cpu.physical_cores} physical, {cpu.logical_cores} logical"),
        _row("features", " ".join(cpu.features) or "none detected"),
        "",
        "RAM",
        _row("total", _gib(cpu.ram_total_bytes)),
        _row("available", _gib(cpu.ram_available_bytes)),
        _row(
            "bandwidth",
            _bandwidth(cpu.ram_bandwidth_gbps, cpu.ram_bandwidth_source, cpu.ram_bandwidth_note),
        ),
        "",
    ]
    if profile.gpus:
        for gpu in profile.gpus:
            out += [*_gpu_lines(gpu), ""]
    elif profile.apple is None:
        out += ["GPUs", _row("none", "no usable GPU detected: models run on the CPU"), ""]
    a = profile.apple
    if a is not None:
        cores = f"{a.performance_cores} performance + {a.efficiency_cores} efficiency CPU"
        if a.gpu_cores:
            cores += f", {a.gpu_cores} GPU"
        budget = _why(a.metal_budget_source, a.metal_budget_note)
        out += [
            "Apple Silicon",
            _row("chip", a.chip),
            _row("unified memory", _gib(a.unified_memory_bytes)),
            _row("cores", cores),
            _row("Metal budget", f"{_gib(a.metal_budget_bytes)} {budget}"),
            _row("wired limit", f"{a.wired_limit_mb} MB" if a.wired_limit_mb else "not set"),
            _row("bandwidth", _bandwidth(a.bandwidth_gbps, a.bandwidth_source, a.bandwidth_note)),
            "",
        ]
    if profile.probes:
        out.append("Probes")
        for p in profile.probes:
            status = "ok  " if p.ok else "FAIL"
            out.append(f"  {status} {p.name}" + (f": {p.reason}" if p.reason else ""))
    return "\n".join(out).rstrip() + "\n"

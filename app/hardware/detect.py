"""One ``HardwareProfile`` for this machine, or for a saved file or a preset (``--hardware``).

Every probe fails soft: a probe that cannot run (no NVIDIA driver, not a Mac, a tool missing)
leaves its part of the profile empty and records why in ``profile.probes``.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.core.errors import SettingsError
from app.hardware.apple import probe_apple
from app.hardware.cpu import normalise_arch, probe_cpu
from app.hardware.nvidia import probe_nvidia
from app.hardware.other_gpus import OtherGpuScan, probe_other_gpus
from app.hardware.presets import PRESETS, load_preset, preset_names
from app.hardware.profile import (
    AppleSiliconInfo,
    CpuInfo,
    GpuInfo,
    HardwareProfile,
    ProbeResult,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


def _guarded(name: str, probe: Callable[[], T], fallback: Callable[[ProbeResult], T]) -> T:
    """Run ``probe``; an unexpected exception becomes a failed ProbeResult, not a crash."""
    try:
        return probe()
    except Exception as exc:  # a probe bug must not stop `roost doctor` or the planner
        log.exception("hardware probe %s failed", name)
        return fallback(ProbeResult(name=name, ok=False, reason=f"{type(exc).__name__}: {exc}"))


def _no_apple(failed: ProbeResult) -> tuple[AppleSiliconInfo | None, ProbeResult]:
    return None, failed


def _no_nvidia(failed: ProbeResult) -> tuple[list[GpuInfo], ProbeResult]:
    return [], failed


def _no_other_gpus(failed: ProbeResult) -> OtherGpuScan:
    return OtherGpuScan(probe=failed)


def _add_apple(profile: HardwareProfile) -> None:
    apple, probe = _guarded("apple", lambda: probe_apple(), _no_apple)
    profile.probes.append(probe)
    if apple is not None:
        profile.apple = apple
        # Unified memory: the CPU reads the same memory at the chip's bandwidth.
        profile.cpu.ram_bandwidth_gbps = apple.bandwidth_gbps
        profile.cpu.ram_bandwidth_source = apple.bandwidth_source
        profile.cpu.ram_bandwidth_note = f"unified memory ({apple.bandwidth_note})"


def _add_gpus(profile: HardwareProfile, nvml: Any | None, linux: bool) -> None:
    nv_gpus, nv_probe = _guarded("nvidia", lambda: probe_nvidia(nvml), _no_nvidia)
    scan = _guarded("amd/intel", probe_other_gpus, _no_other_gpus) if linux else None
    if scan is not None and not nv_probe.ok and scan.nvidia_cards:
        nv_probe.reason += (
            f" (but {scan.nvidia_cards} NVIDIA card(s) are on the PCI bus: "
            "install or repair the NVIDIA driver)"
        )
    profile.probes.append(nv_probe)
    profile.gpus = list(nv_gpus)
    if scan is not None:
        profile.probes.append(scan.probe)
        profile.gpus += scan.gpus


def detect_hardware(*, nvml: Any | None = None) -> HardwareProfile:
    """Probe this machine: CPU/RAM, NVIDIA (NVML), AMD/Intel (sysfs), Apple Silicon.

    Sizes are bytes, bandwidths GB/s. ``nvml`` replaces the pynvml module (tests).
    """
    system = platform.system()
    cpu, cpu_probes = _guarded("cpu", probe_cpu, lambda failed: (CpuInfo(), [failed]))
    profile = HardwareProfile(
        os=f"{system} {platform.release()}".strip(), cpu=cpu, probes=list(cpu_probes)
    )
    if system == "Darwin":
        if normalise_arch(platform.machine()) == "arm64":
            _add_apple(profile)
    else:
        _add_gpus(profile, nvml, linux=system == "Linux")
    log.info(
        "hardware: %s, %d GPU(s)%s",
        profile.cpu.model_name,
        len(profile.gpus),
        f", {profile.apple.chip}" if profile.apple else "",
    )
    return profile


def resolve_hardware(arg: str | None) -> HardwareProfile:
    """The profile the CLI's ``--hardware`` names: None → detect; a file → load; a preset.

    Raises SettingsError (with the preset names) for anything else, and for a file that is
    not a valid profile.
    """
    if arg is None:
        return detect_hardware()
    path = Path(arg).expanduser()
    if path.is_file():
        return HardwareProfile.load(path)
    if arg.strip().lower() in {p.name for p in PRESETS}:
        return load_preset(arg)
    looks_like_path = "/" in arg or "\\" in arg or arg.endswith(".json")
    raise SettingsError(
        f"No hardware profile file {arg!r}."
        if looks_like_path
        else f"{arg!r} is neither a hardware profile file nor a preset.",
        hint="Presets: "
        + ", ".join(preset_names())
        + ". Or save this machine's profile with `roost doctor --json > FILE`.",
    )

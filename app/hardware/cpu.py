"""CPU: model, cores and the ISA features llama.cpp uses; RAM size (bytes) via psutil.

Readers are injectable (they take text or a sysctl callable) so tests feed sample data.
RAM bandwidth comes from ``ram.py``.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from app.hardware._commands import read_sysctl, read_text
from app.hardware.profile import CpuInfo, ProbeResult
from app.hardware.ram import ram_bandwidth, read_dmidecode_memory

log = logging.getLogger(__name__)

Sysctl = Callable[[str], str | None]

_X86_FLAGS = {
    "avx": "avx",
    "avx2": "avx2",
    "avx512f": "avx512f",
    "avx512bw": "avx512bw",
    "avx512vl": "avx512vl",
    "avx512_vnni": "avx512_vnni",
    "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni",
    "fma": "fma",
    "f16c": "f16c",
    "amx_tile": "amx",
    "amx_int8": "amx_int8",
    "amx_bf16": "amx_bf16",
}
# /proc/cpuinfo "Features" on arm64 → the names llama.cpp's system_info uses.
_ARM_FLAGS = {
    "asimd": "neon",
    "neon": "neon",
    "asimddp": "dotprod",
    "i8mm": "i8mm",
    "sve": "sve",
    "sve2": "sve2",
    "asimdhp": "fp16",
    "bf16": "bf16",
    "sme": "sme",
}
_MAC_ARM_SYSCTL = {
    "hw.optional.neon": "neon",
    "hw.optional.AdvSIMD": "neon",
    "hw.optional.arm.FEAT_DotProd": "dotprod",
    "hw.optional.arm.FEAT_I8MM": "i8mm",
    "hw.optional.arm.FEAT_FP16": "fp16",
    "hw.optional.arm.FEAT_BF16": "bf16",
    "hw.optional.arm.FEAT_SME": "sme",
}
_MAC_X86_SYSCTL = {
    "hw.optional.avx1_0": "avx",
    "hw.optional.avx2_0": "avx2",
    "hw.optional.fma": "fma",
    "hw.optional.avx512f": "avx512f",
    "hw.optional.avx512bw": "avx512bw",
    "hw.optional.avx512vl": "avx512vl",
    "hw.optional.avx512vnni": "avx512_vnni",
}
# Tokens of machdep.cpu.features / leaf7_features on Intel Macs.
_MAC_X86_TOKENS = {
    "AVX1.0": "avx",
    "AVX2": "avx2",
    "FMA": "fma",
    "F16C": "f16c",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512VL": "avx512vl",
    "AVX512VNNI": "avx512_vnni",
}
_FEATURE_ORDER = tuple(dict.fromkeys([*_X86_FLAGS.values(), *_ARM_FLAGS.values()]))


@dataclass(frozen=True)
class CpuinfoFacts:
    """What /proc/cpuinfo says. ``physical_cores`` is None when it has no core topology."""

    model_name: str
    logical_cores: int
    physical_cores: int | None
    features: list[str]


def _ordered(features: Iterable[str]) -> list[str]:
    have = set(features)
    return [f for f in _FEATURE_ORDER if f in have]


def x86_features(flags: Iterable[str]) -> list[str]:
    """llama.cpp-relevant features among x86 /proc/cpuinfo ``flags``."""
    return _ordered(_X86_FLAGS[f] for f in flags if f in _X86_FLAGS)


def arm_features(flags: Iterable[str]) -> list[str]:
    """llama.cpp-relevant features among arm /proc/cpuinfo ``Features``."""
    return _ordered(_ARM_FLAGS[f] for f in flags if f in _ARM_FLAGS)


def parse_proc_cpuinfo(text: str) -> CpuinfoFacts:
    """Model, logical/physical core counts and features from /proc/cpuinfo text."""
    blocks = [b for b in re.split(r"\n\s*\n", text) if "processor" in b]
    model = ""
    features: list[str] = []
    cores: set[tuple[str, str]] = set()
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip().lower()] = value.strip()
        model = model or fields.get("model name", "") or fields.get("cpu model", "")
        if "flags" in fields and not features:
            features = x86_features(fields["flags"].split())
        elif "features" in fields and not features:
            features = arm_features(fields["features"].split())
        if "physical id" in fields and "core id" in fields:
            cores.add((fields["physical id"], fields["core id"]))
    if not model and blocks:
        # arm64 kernels name no model; the implementer/part ids are all there is.
        first = {
            k.strip().lower(): v.strip()
            for k, _, v in (ln.partition(":") for ln in blocks[0].splitlines())
        }
        if "cpu implementer" in first:
            part = first.get("cpu part", "?")
            model = f"ARM CPU (implementer {first['cpu implementer']}, part {part})"
    if not model:
        hw = re.search(r"^(?:Hardware|Model)\s*:\s*(.+)$", text, re.MULTILINE)
        model = hw.group(1).strip() if hw else ""
    return CpuinfoFacts(
        model_name=model,
        logical_cores=len(blocks),
        physical_cores=len(cores) or None,
        features=features,
    )


def features_from_sysctl(sysctl: Sysctl, arch: str) -> list[str]:
    """llama.cpp-relevant features on macOS from ``hw.optional.*`` (and machdep on Intel)."""
    found: list[str] = []
    table = _MAC_ARM_SYSCTL if arch == "arm64" else _MAC_X86_SYSCTL
    for name, feature in table.items():
        if (sysctl(name) or "").strip() == "1":
            found.append(feature)
    if arch != "arm64":
        tokens = " ".join(
            sysctl(n) or "" for n in ("machdep.cpu.features", "machdep.cpu.leaf7_features")
        ).split()
        found += [_MAC_X86_TOKENS[t] for t in tokens if t in _MAC_X86_TOKENS]
    return _ordered(found)


def normalise_arch(machine: str) -> str:
    """``platform.machine()`` spelled one way: x86_64, arm64, or as given."""
    m = machine.lower()
    if m in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if m in ("arm64", "aarch64", "armv8l"):
        return "arm64"
    return m


def probe_cpu(
    *,
    system: str | None = None,
    machine: str | None = None,
    read_cpuinfo: Callable[[], str | None] = lambda: read_text(Path("/proc/cpuinfo")),
    sysctl: Sysctl = read_sysctl,
    read_dmidecode: Callable[[], str | None] = read_dmidecode_memory,
) -> tuple[CpuInfo, list[ProbeResult]]:
    """CPU model, cores, features, RAM total/available (bytes) and bandwidth (GB/s)."""
    system = system or platform.system()
    arch = normalise_arch(machine or platform.machine())
    probes: list[ProbeResult] = []
    model, features, cpuinfo_physical = "", [], None
    if system == "Linux":
        text = read_cpuinfo()
        if text:
            facts = parse_proc_cpuinfo(text)
            model, features, cpuinfo_physical = (
                facts.model_name,
                facts.features,
                facts.physical_cores,
            )
            probes.append(ProbeResult(name="cpuinfo", ok=True))
        else:
            probes.append(ProbeResult(name="cpuinfo", ok=False, reason="/proc/cpuinfo unreadable"))
    elif system == "Darwin":
        model = sysctl("machdep.cpu.brand_string") or ""
        features = features_from_sysctl(sysctl, arch)
        reason = "" if model else "sysctl machdep.cpu.brand_string not readable"
        probes.append(ProbeResult(name="cpu-sysctl", ok=bool(model), reason=reason))
    model = model or platform.processor() or "unknown CPU"

    logical = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False) or cpuinfo_physical or logical
    vm = psutil.virtual_memory()
    dmi = read_dmidecode() if system == "Linux" else None
    gbps, source, note = ram_bandwidth(system, arch, dmi)
    log.debug("CPU %s: %d/%d cores, RAM %.1f GB/s (%s)", model, physical, logical, gbps, source)
    return (
        CpuInfo(
            model_name=model,
            arch=arch,
            physical_cores=physical,
            logical_cores=logical,
            features=features,
            ram_total_bytes=vm.total,
            ram_available_bytes=vm.available,
            ram_bandwidth_gbps=gbps,
            ram_bandwidth_source=source,
            ram_bandwidth_note=note,
        ),
        probes,
    )

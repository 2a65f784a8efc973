"""CPU and RAM probes: /proc/cpuinfo and dmidecode parsing on sample text, and this machine."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from app.hardware.cpu import features_from_sysctl, parse_proc_cpuinfo, probe_cpu
from app.hardware.detect import detect_hardware
from app.hardware.ram import DEFAULT_RAM_BANDWIDTH_GBPS, parse_dmidecode_memory, ram_bandwidth

# Two logical CPUs per core (hyper-threading): 4 processors, 2 cores.
X86_CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
siblings\t: 4
core id\t\t: 0
cpu cores\t: 2
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512bw \
avx512vl avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 1
flags\t\t: fpu sse avx avx2

processor\t: 2
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 0

processor\t: 3
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
core id\t\t: 1
"""

# An older AVX-only x86 CPU.
X86_OLD_CPUINFO = """\
processor\t: 0
model name\t: Intel(R) Core(TM) i7-2600K CPU @ 3.40GHz
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx
"""

# arm64 (Neoverse V1, e.g. Graviton3): no model name, no core topology.
ARM_CPUINFO = """\
processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs \
paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs \
paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer\t: 0x41
CPU part\t: 0xd40
"""

# Raspberry Pi 4 (Cortex-A72): NEON but no dot product.
RPI_CPUINFO = """\
processor\t: 0
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU part\t: 0xd08

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""

DMIDECODE_DESKTOP = """\
# dmidecode 3.5
Handle 0x0040, DMI type 17, 92 bytes
Memory Device
\tData Width: 64 bits
\tSize: 32 GB
\tLocator: DIMM 0
\tBank Locator: P0 CHANNEL A
\tType: DDR5
\tSpeed: 5600 MT/s
\tConfigured Memory Speed: 5600 MT/s

Handle 0x0041, DMI type 17, 92 bytes
Memory Device
\tData Width: 64 bits
\tSize: No Module Installed
\tLocator: DIMM 1
\tBank Locator: P0 CHANNEL A

Handle 0x0042, DMI type 17, 92 bytes
Memory Device
\tData Width: 64 bits
\tSize: 32 GB
\tLocator: DIMM 0
\tBank Locator: P0 CHANNEL B
\tType: DDR5
\tSpeed: 5600 MT/s
\tConfigured Memory Speed: 5600 MT/s
"""

DMIDECODE_UNLABELLED = """\
Memory Device
\tData Width: 64 bits
\tSize: 16 GB
\tLocator: Slot1
\tType: DDR4
\tSpeed: 3200 MT/s
\tConfigured Memory Speed: 2933 MT/s
Memory Device
\tData Width: 64 bits
\tSize: 16 GB
\tLocator: Slot2
\tType: DDR4
\tConfigured Memory Speed: 2933 MT/s
Memory Device
\tData Width: 64 bits
\tSize: 16 GB
\tLocator: Slot3
\tType: DDR4
\tConfigured Memory Speed: 2933 MT/s
"""

# What dmidecode prints as a normal user.
DMIDECODE_NO_ROOT = (
    "# dmidecode 3.5\n/sys/firmware/dmi/tables/smbios_entry_point: Permission denied\n"
)


def test_x86_cpuinfo() -> None:
    facts = parse_proc_cpuinfo(X86_CPUINFO)
    assert facts.model_name == "Intel(R) Xeon(R) Platinum 8480+"
    assert facts.logical_cores == 4
    assert facts.physical_cores == 2
    assert facts.features == [
        "avx",
        "avx2",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx_vnni",
        "fma",
        "f16c",
        "amx",
        "amx_int8",
        "amx_bf16",
    ]


def test_old_x86_cpuinfo_has_avx_only() -> None:
    facts = parse_proc_cpuinfo(X86_OLD_CPUINFO)
    assert facts.features == ["avx"]
    assert facts.physical_cores is None  # no topology lines: the caller falls back
    assert facts.logical_cores == 1


def test_arm_cpuinfo() -> None:
    facts = parse_proc_cpuinfo(ARM_CPUINFO)
    assert facts.logical_cores == 2
    assert facts.physical_cores is None
    assert facts.features == ["neon", "dotprod", "i8mm", "sve", "fp16", "bf16"]
    assert "0x41" in facts.model_name
    assert "0xd40" in facts.model_name


def test_raspberry_pi_cpuinfo() -> None:
    facts = parse_proc_cpuinfo(RPI_CPUINFO)
    assert facts.features == ["neon"]
    assert "0xd08" in facts.model_name


def test_mac_sysctl_features() -> None:
    apple = {
        "hw.optional.neon": "1",
        "hw.optional.arm.FEAT_DotProd": "1",
        "hw.optional.arm.FEAT_I8MM": "1",
        "hw.optional.arm.FEAT_BF16": "1",
        "hw.optional.arm.FEAT_FP16": "1",
        "hw.optional.arm.FEAT_SME": "0",
    }
    assert features_from_sysctl(apple.get, "arm64") == ["neon", "dotprod", "i8mm", "fp16", "bf16"]
    intel = {
        "hw.optional.avx1_0": "1",
        "hw.optional.avx2_0": "1",
        "hw.optional.fma": "1",
        "machdep.cpu.features": "FPU SSE AVX1.0 F16C",
        "machdep.cpu.leaf7_features": "AVX2 BMI2",
    }
    assert features_from_sysctl(intel.get, "x86_64") == ["avx", "avx2", "fma", "f16c"]


def test_dmidecode_with_channel_labels() -> None:
    config = parse_dmidecode_memory(DMIDECODE_DESKTOP)
    assert config is not None
    assert (config.channels, config.speed_mts, config.memory_type) == (2, 5600, "DDR5")
    assert config.bandwidth_gbps == pytest.approx(89.6)


def test_dmidecode_unlabelled_dimms_count_as_two_channels() -> None:
    config = parse_dmidecode_memory(DMIDECODE_UNLABELLED)
    assert config is not None
    assert config.channels == 2
    assert config.speed_mts == 2933
    assert config.bandwidth_gbps == pytest.approx(2 * 8 * 2933e6 / 1e9)


def test_ram_bandwidth_from_dmidecode_is_marked_measured() -> None:
    gbps, source, note = ram_bandwidth("Linux", "x86_64", DMIDECODE_DESKTOP)
    assert (gbps, source) == (89.6, "measured")
    assert "DDR5-5600" in note


@pytest.mark.parametrize(
    ("system", "arch", "key"),
    [
        ("Linux", "x86_64", "x86_64"),
        ("Darwin", "x86_64", "x86_64-darwin"),
        ("Linux", "arm64", "arm64"),
    ],
)
def test_ram_bandwidth_default_is_an_explained_estimate(system: str, arch: str, key: str) -> None:
    gbps, source, note = ram_bandwidth(system, arch, DMIDECODE_NO_ROOT)
    assert source == "estimate"
    assert gbps == DEFAULT_RAM_BANDWIDTH_GBPS[key]
    assert note


def test_probe_cpu_with_injected_readers() -> None:
    cpu, probes = probe_cpu(
        system="Linux",
        machine="aarch64",
        read_cpuinfo=lambda: ARM_CPUINFO,
        read_dmidecode=lambda: DMIDECODE_DESKTOP,
    )
    assert cpu.arch == "arm64"
    assert "dotprod" in cpu.features
    assert cpu.ram_bandwidth_gbps == 89.6
    assert probes[0].ok


def test_probe_cpu_without_cpuinfo_fails_soft() -> None:
    cpu, probes = probe_cpu(
        system="Linux", machine="x86_64", read_cpuinfo=lambda: None, read_dmidecode=lambda: None
    )
    assert not probes[0].ok
    assert "cpuinfo" in probes[0].reason
    assert cpu.ram_total_bytes > 0
    assert cpu.ram_bandwidth_source == "estimate"


# -- this machine -------------------------------------------------------------------------------


def _meminfo_total_bytes() -> int:
    text = Path("/proc/meminfo").read_text()
    m = re.search(r"^MemTotal:\s+(\d+)\s+kB", text, re.MULTILINE)
    assert m
    return int(m.group(1)) * 1024


def _independent_physical_cores() -> int:
    """Unique (physical id, core id) pairs; without them (arm64, some VMs) sysfs core ids;
    failing that, one core per logical CPU."""
    text = Path("/proc/cpuinfo").read_text()
    pairs: set[tuple[str, str]] = set()
    phys = core = None
    for line in [*text.splitlines(), ""]:
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
        elif not line.strip():
            if phys is not None and core is not None:
                pairs.add((phys, core))
            phys = core = None
    if pairs:
        return len(pairs)
    cpus = Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology")
    ids = {
        ((t / "physical_package_id").read_text(), (t / "core_id").read_text())
        for t in cpus
        if (t / "core_id").exists()
    }
    return len(ids) or (os.cpu_count() or 1)


linux_only = pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="needs Linux /proc")


@linux_only
def test_this_machine_ram_matches_proc_meminfo() -> None:
    profile = detect_hardware()
    expected = _meminfo_total_bytes()
    assert abs(profile.cpu.ram_total_bytes - expected) <= 0.01 * expected
    assert 0 < profile.cpu.ram_available_bytes <= profile.cpu.ram_total_bytes


@linux_only
def test_this_machine_core_counts() -> None:
    profile = detect_hardware()
    assert profile.cpu.logical_cores == os.cpu_count()
    assert profile.cpu.physical_cores == _independent_physical_cores()
    assert profile.cpu.physical_cores <= profile.cpu.logical_cores


@linux_only
def test_this_machine_probes_fail_soft() -> None:
    profile = detect_hardware()
    assert profile.cpu.model_name
    assert profile.cpu.arch
    assert profile.cpu.ram_bandwidth_gbps > 0
    assert {p.name for p in profile.probes} >= {"cpuinfo", "nvidia"}
    for p in profile.probes:
        assert p.ok or p.reason, f"probe {p.name} failed without a reason"

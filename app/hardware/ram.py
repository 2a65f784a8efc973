"""RAM bandwidth: the peak DRAM figure in GB/s (1e9 B/s).

Read from the SMBIOS memory tables (``dmidecode -t memory``: type, speed, slot labels) where
they can be read, which usually needs root; otherwise a documented per-platform default marked
``estimate``. The parser takes text so tests feed sample output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.hardware._commands import run_command
from app.hardware.profile import Source

# Defaults when the memory configuration cannot be read, GB/s. Deliberately conservative (a
# too-high figure over-promises CPU-offload speed; `roost calibrate` measures the real one):
# - x86-64: dual-channel DDR4-3200 = 2 × 8 B × 3200 MT/s = 51.2 GB/s, rounded down to 50.
#   A DDR5-5600 dual-channel desktop reaches 89.6 and servers far more.
# - Intel Macs: dual-channel DDR4-2666 = 42.7 GB/s, rounded down to 40.
# - arm64 outside Apple: boards range from ~17 GB/s (Raspberry Pi 5, 32-bit LPDDR4X-4267) to
#   hundreds (Graviton, Grace); 25 GB/s assumes a modest LPDDR board.
# - Apple Silicon: replaced by the chip's unified-memory figure (known_parts) in detect.
DEFAULT_RAM_BANDWIDTH_GBPS = {"x86_64": 50.0, "x86_64-darwin": 40.0, "arm64": 25.0}


@dataclass(frozen=True)
class MemoryConfig:
    """DRAM as the SMBIOS tables describe it."""

    memory_type: str
    speed_mts: int
    channels: int
    channel_width_bits: int

    @property
    def bandwidth_gbps(self) -> float:
        """Peak GB/s: channels × width/8 bytes × MT/s."""
        return self.channels * self.channel_width_bits / 8 * self.speed_mts * 1e6 / 1e9


_CHANNEL_RE = re.compile(r"channel\s*([a-z0-9]+)|dimm_?([a-z])\d|cpu\d+_dimm_([a-z])", re.I)


def parse_dmidecode_memory(text: str) -> MemoryConfig | None:
    """The memory configuration from ``dmidecode -t memory`` output, or None.

    Channels are counted from the slot labels ("ChannelA-DIMM0", "DIMM_A1", "P0 CHANNEL B");
    unlabelled 64-bit DIMMs count as at most two channels (a desktop board), unlabelled narrow
    devices (soldered LPDDR, 16/32-bit) each as a channel of their own width.
    """
    populated: list[dict[str, str]] = []
    for dev in text.split("Memory Device")[1:]:
        fields = {
            k.strip(): v.strip()
            for k, sep, v in (ln.partition(":") for ln in dev.splitlines())
            if sep
        }
        size = fields.get("Size", "")
        if not size or "No Module" in size or size.startswith("0"):
            continue
        populated.append(fields)
    if not populated:
        return None
    speeds = []
    for f in populated:
        for key in ("Configured Memory Speed", "Configured Clock Speed", "Speed"):
            m = re.match(r"(\d+)\s*(MT/s|MHz)", f.get(key, ""))
            if m:
                speeds.append(int(m.group(1)))
                break
    if not speeds:
        return None
    widths = [
        int(m.group(1)) for f in populated if (m := re.match(r"(\d+)", f.get("Data Width", "")))
    ]
    width = min(widths) if widths else 64
    labels = set()
    for f in populated:
        m = _CHANNEL_RE.search(f"{f.get('Bank Locator', '')} {f.get('Locator', '')}")
        if m:
            labels.add(next(g for g in m.groups() if g).upper())
    if labels:
        channels = len(labels)
    elif width >= 64:
        channels = min(len(populated), 2)
    else:
        channels = len(populated)
    return MemoryConfig(
        memory_type=populated[0].get("Type", "DRAM"),
        speed_mts=min(speeds),
        channels=channels,
        channel_width_bits=min(width, 64),
    )


def ram_bandwidth(system: str, arch: str, dmidecode_text: str | None) -> tuple[float, Source, str]:
    """Peak RAM bandwidth (GB/s), where the figure came from, and a note for the report."""
    config = parse_dmidecode_memory(dmidecode_text) if dmidecode_text else None
    if config is not None:
        return (
            round(config.bandwidth_gbps, 1),
            "measured",
            f"from SMBIOS: {config.channels} channel(s) × {config.channel_width_bits}-bit "
            f"{config.memory_type}-{config.speed_mts}",
        )
    if arch == "arm64" and system == "Darwin":
        key = "arm64"
        why = "Apple Silicon: replaced by the chip's unified-memory bandwidth"
    elif arch == "arm64":
        key = "arm64"
        why = "memory configuration not readable; assumed a modest LPDDR board"
    elif system == "Darwin":
        key = "x86_64-darwin"
        why = "memory configuration not readable; assumed dual-channel DDR4-2666"
    else:
        key = "x86_64"
        why = (
            "memory layout not readable (dmidecode missing or not root); assumed "
            "dual-channel DDR4-3200, 51.2 rounded down; `roost calibrate` measures it"
        )
    return DEFAULT_RAM_BANDWIDTH_GBPS[key], "estimate", why


def read_dmidecode_memory() -> str | None:
    """``dmidecode -t memory`` output, or None (not installed, or not root)."""
    return run_command(["dmidecode", "-t", "memory"])

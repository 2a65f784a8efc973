"""AMD and Intel GPUs, best effort, from Linux sysfs (no vendor library needed).

``/sys/class/drm/cardN/device`` gives the PCI vendor and device ids; amdgpu adds
``mem_info_vram_total``/``mem_info_vram_used`` (bytes). The marketing name comes from the
device's ``product_name`` file where the driver writes one, else from the system's pci.ids.
Bandwidth comes from the table of known parts; VRAM of Intel Arc cards too (i915 exposes no
size). Integrated GPUs (Intel iGPUs, AMD APUs with a small carve-out) are skipped: they share
system RAM and its bandwidth, so offloading to them does not add memory.
NVIDIA cards seen here are only counted, to explain an NVML failure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from app.hardware._commands import read_text
from app.hardware.known_parts import GIB, KnownGpu, lookup_gpu
from app.hardware.profile import GpuInfo, ProbeResult, Source

log = logging.getLogger(__name__)

VENDORS: dict[str, Literal["amd", "intel", "nvidia"]] = {
    "0x1002": "amd",
    "0x8086": "intel",
    "0x10de": "nvidia",
}
# amdgpu VRAM below this is an APU carve-out, not a discrete card.
MIN_DISCRETE_VRAM_BYTES = 2 * GIB
# Unknown discrete card: an entry-level 128-bit GDDR6 at 16 Gbps.
UNKNOWN_GPU_BANDWIDTH_GBPS = 256.0
PCI_IDS_PATHS = (
    Path("/usr/share/hwdata/pci.ids"),
    Path("/usr/share/misc/pci.ids"),
    Path("/usr/share/pci.ids"),
)


@dataclass
class OtherGpuScan:
    """What sysfs showed: AMD/Intel GPUs, the probe outcome, NVIDIA cards present."""

    gpus: list[GpuInfo] = field(default_factory=list)
    probe: ProbeResult = field(default_factory=lambda: ProbeResult(name="amd/intel", ok=True))
    nvidia_cards: int = 0


def pci_device_name(pci_ids: str, vendor_id: str, device_id: str) -> str | None:
    """The device's name in pci.ids text ("Navi 31 [Radeon RX 7900 XT/7900 XTX]"), or None."""
    vendor, device = vendor_id.lower().removeprefix("0x"), device_id.lower().removeprefix("0x")
    in_vendor = False
    for line in pci_ids.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            in_vendor = line[:4].lower() == vendor
        elif in_vendor and not line.startswith("\t\t") and line[1:5].lower() == device:
            return line[5:].strip()
    return None


def name_candidates(name: str) -> list[str]:
    """The names a pci.ids entry stands for: "Navi 31 [Radeon RX 7900 XT/7900 XTX]" →
    ["Radeon RX 7900 XT", "Radeon RX 7900 XTX"]; a plain name → [name]."""
    m = re.search(r"\[([^\]]+)\]", name)
    if not m:
        return [name]
    parts = [p.strip() for p in m.group(1).split("/") if p.strip()]
    first = parts[0]
    digit = re.search(r"\S*\d", first)
    prefix = first[: digit.start()] if digit else ""
    return [first] + [p if not p[0].isdigit() else prefix + p for p in parts[1:]]


def _known(name: str, vram_bytes: int | None) -> tuple[str, KnownGpu | None]:
    """The best table match among the name's alternatives: closest in VRAM when known."""
    candidates = name_candidates(name)
    found = [(c, k) for c in candidates if (k := lookup_gpu(c, vram_bytes)) is not None]
    if not found:
        return candidates[0], None
    if vram_bytes:
        return min(found, key=lambda ck: abs(ck[1].vram_gib * GIB - vram_bytes))
    return found[0]


def _int_file(path: Path) -> int | None:
    text = read_text(path)
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def _read_pci_ids() -> str | None:
    for path in PCI_IDS_PATHS:
        text = read_text(path)
        if text:
            return text
    return None


def probe_other_gpus(
    drm_root: Path = Path("/sys/class/drm"),
    read_pci_ids: Callable[[], str | None] = _read_pci_ids,
) -> OtherGpuScan:
    """AMD/Intel discrete GPUs (bytes, GB/s; ``best_effort`` set) seen in sysfs."""
    scan = OtherGpuScan()
    if not drm_root.is_dir():
        scan.probe = ProbeResult(name="amd/intel", ok=False, reason=f"{drm_root} not present")
        return scan
    cards = sorted(
        (p for p in drm_root.iterdir() if re.fullmatch(r"card\d+", p.name)),
        key=lambda p: int(p.name[4:]),
    )
    skipped: list[str] = []
    pci_ids: str | None = None
    for card in cards:
        dev = card / "device"
        vendor_id = (read_text(dev / "vendor") or "").strip().lower()
        vendor = VENDORS.get(vendor_id)
        if vendor is None:
            continue
        if vendor == "nvidia":
            scan.nvidia_cards += 1
            continue
        device_id = (read_text(dev / "device") or "").strip()
        name = (read_text(dev / "product_name") or "").strip()
        if not name:
            pci_ids = pci_ids if pci_ids is not None else (read_pci_ids() or "")
            name = pci_device_name(pci_ids, vendor_id, device_id) or ""
        name = name or f"{vendor.upper()} GPU {device_id}"
        total = _int_file(dev / "mem_info_vram_total")
        used = _int_file(dev / "mem_info_vram_used") or 0
        display, known = _known(name, total)
        if total is None and known is not None and vendor == "intel":
            total, used = int(known.vram_gib * GIB), 0
        if not total or total < MIN_DISCRETE_VRAM_BYTES:
            skipped.append(f"{card.name} {name} (integrated or VRAM unknown)")
            continue
        gbps: float
        source: Source
        if known is not None:
            gbps, source, note = known.bandwidth_gbps, "table", f"{known.name} spec"
        else:
            gbps, source = UNKNOWN_GPU_BANDWIDTH_GBPS, "estimate"
            note = "not in the table of known parts: assumed an entry-level card"
        scan.gpus.append(
            GpuInfo(
                vendor=vendor,
                index=len(scan.gpus),
                name=display,
                vram_total_bytes=total,
                vram_free_bytes=max(0, total - used),
                vram_used_bytes=used,
                bandwidth_gbps=gbps,
                bandwidth_source=source,
                bandwidth_note=note,
                best_effort=True,
            )
        )
    scan.probe = ProbeResult(
        name="amd/intel", ok=True, reason="skipped " + "; ".join(skipped) if skipped else ""
    )
    return scan

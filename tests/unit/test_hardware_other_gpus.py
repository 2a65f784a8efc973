"""AMD/Intel best-effort probe over a fake /sys/class/drm tree."""

from __future__ import annotations

from pathlib import Path

from app.hardware.other_gpus import name_candidates, pci_device_name, probe_other_gpus

GIB = 1024**3
PCI_IDS = """\
# pci.ids excerpt
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t15bf  Phoenix1
\t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]
\t\t1002 0e3b  Radeon RX 7900 XTX
8086  Intel Corporation
\t56a0  DG2 [Arc A770]
\t46a6  Alder Lake-P GT2 [Iris Xe Graphics]
10de  NVIDIA Corporation
\t2684  AD102 [GeForce RTX 4090]
"""


def _card(root: Path, n: int, vendor: str, device: str, **files: str) -> None:
    dev = root / f"card{n}" / "device"
    dev.mkdir(parents=True)
    (dev / "vendor").write_text(vendor + "\n")
    (dev / "device").write_text(device + "\n")
    for name, text in files.items():
        (dev / name).write_text(text + "\n")
    (root / f"card{n}-DP-1").mkdir()  # connector entries are not cards


def test_pci_ids_lookup_and_alternatives() -> None:
    name = pci_device_name(PCI_IDS, "0x1002", "0x744c")
    assert name == "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert name_candidates(name) == [
        "Radeon RX 7900 XT",
        "Radeon RX 7900 XTX",
        "Radeon RX 7900 GRE",
        "Radeon RX 7900M",
    ]
    assert pci_device_name(PCI_IDS, "0x8086", "0x56a0") == "DG2 [Arc A770]"
    assert pci_device_name(PCI_IDS, "0x1002", "0xffff") is None


def test_amd_intel_and_nvidia_cards(tmp_path: Path) -> None:
    _card(
        tmp_path, 0, "0x1002", "0x744c",
        mem_info_vram_total=str(24 * GIB), mem_info_vram_used=str(GIB),
    )  # fmt: skip
    _card(tmp_path, 1, "0x8086", "0x46a6")  # integrated Iris Xe
    _card(tmp_path, 2, "0x8086", "0x56a0")  # Arc A770, no VRAM file (i915)
    _card(tmp_path, 3, "0x10de", "0x2684")
    _card(tmp_path, 4, "0x1002", "0x15bf", mem_info_vram_total=str(512 * 1024**2))  # APU
    scan = probe_other_gpus(tmp_path, lambda: PCI_IDS)
    assert scan.nvidia_cards == 1
    amd, intel = scan.gpus
    assert amd.vendor == "amd"
    assert amd.name == "Radeon RX 7900 XTX"
    assert amd.vram_total_bytes == 24 * GIB
    assert amd.vram_free_bytes == 23 * GIB
    assert amd.bandwidth_gbps == 960
    assert amd.bandwidth_source == "table"
    assert amd.best_effort
    assert intel.vendor == "intel"
    assert intel.vram_total_bytes == 16 * GIB
    assert intel.bandwidth_gbps == 560
    assert intel.index == 1
    assert scan.probe.ok
    assert "card1" in scan.probe.reason
    assert "card4" in scan.probe.reason


def test_product_name_file_wins_and_unknown_cards_get_an_estimate(tmp_path: Path) -> None:
    _card(
        tmp_path, 0, "0x1002", "0x1234",
        product_name="Radeon Mystery 9999", mem_info_vram_total=str(16 * GIB),
    )  # fmt: skip
    scan = probe_other_gpus(tmp_path, lambda: None)
    (gpu,) = scan.gpus
    assert gpu.name == "Radeon Mystery 9999"
    assert gpu.bandwidth_source == "estimate"
    assert gpu.bandwidth_gbps > 0


def test_no_drm_directory(tmp_path: Path) -> None:
    scan = probe_other_gpus(tmp_path / "missing", lambda: None)
    assert scan.gpus == []
    assert not scan.probe.ok
    assert "not present" in scan.probe.reason

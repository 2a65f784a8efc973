"""Profiles: JSON round trip, presets, resolve_hardware, the doctor report."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import SettingsError
from app.hardware.detect import detect_hardware, resolve_hardware
from app.hardware.presets import list_presets, load_preset, preset_names
from app.hardware.profile import HardwareProfile
from app.hardware.report import format_report
from tests.fakes.fake_pynvml import FakeNvml, rtx_3090

GIB = 1024**3
REQUIRED_PRESETS = {
    "rtx3060-12gb",
    "rtx4090",
    "rtx5090",
    "2x-rtx3090",
    "m4-max-128gb",
    "m3-ultra-512gb",
    "cpu-laptop-16gb",
}


def test_round_trip_of_a_detected_profile() -> None:
    profile = detect_hardware()
    again = HardwareProfile.from_json(profile.to_json())
    assert again == profile


@pytest.mark.parametrize("name", preset_names())
def test_round_trip_of_every_preset(name: str) -> None:
    profile = load_preset(name)
    assert HardwareProfile.from_json(profile.to_json()) == profile


def test_required_presets_exist_with_descriptions() -> None:
    listed = dict(list_presets())
    assert set(listed) >= REQUIRED_PRESETS
    assert all(desc and "\n" not in desc for desc in listed.values())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_sensible(name: str) -> None:
    p = load_preset(name)
    assert p.source == f"preset:{name}"
    cpu = p.cpu
    assert 0 < cpu.physical_cores <= cpu.logical_cores
    assert 0 < cpu.ram_available_bytes < cpu.ram_total_bytes
    assert cpu.ram_bandwidth_gbps > 0
    assert cpu.features
    for g in p.gpus:
        assert g.vram_total_bytes > 0
        assert 0 < g.vram_free_bytes < g.vram_total_bytes
        assert g.bandwidth_gbps > 0
        assert g.compute_capability
    if p.apple is not None:
        a = p.apple
        assert a.unified_memory_bytes == cpu.ram_total_bytes
        assert 0 < a.metal_budget_bytes < a.unified_memory_bytes
        assert a.bandwidth_gbps > 0
        assert a.gpu_cores
    # A GPU preset has a GPU, a Mac preset Apple Silicon, the laptop neither.
    if name.startswith(("rtx", "2x-")):
        assert p.gpus
        assert p.apple is None
    elif name.startswith("m"):
        assert p.apple is not None
        assert not p.gpus
    else:
        assert not p.gpus
        assert p.apple is None


def test_preset_figures() -> None:
    assert load_preset("rtx3060-12gb").gpus[0].vram_total_bytes == 12 * GIB
    assert load_preset("rtx5090").cpu.ram_total_bytes == 96 * GIB
    two = load_preset("2x-rtx3090")
    assert [g.vram_total_bytes for g in two.gpus] == [24 * GIB, 24 * GIB]
    assert two.gpus[1].vram_free_bytes > two.gpus[0].vram_free_bytes  # no display on GPU 1
    mac = load_preset("m4-max-128gb").apple
    assert mac is not None
    assert mac.gpu_cores == 40
    assert mac.bandwidth_gbps == 546
    ultra = load_preset("m3-ultra-512gb").apple
    assert ultra is not None
    assert ultra.unified_memory_bytes == 512 * GIB


def test_presets_are_fresh_objects() -> None:
    a = load_preset("rtx4090")
    a.gpus[0].vram_free_bytes = 0
    assert load_preset("rtx4090").gpus[0].vram_free_bytes > 0


def test_resolve_none_detects() -> None:
    assert resolve_hardware(None).source == "detected"


def test_resolve_preset_is_case_insensitive() -> None:
    assert resolve_hardware("RTX4090").source == "preset:rtx4090"


def test_resolve_file(tmp_path: Path) -> None:
    path = tmp_path / "box.json"
    path.write_text(load_preset("2x-rtx3090").to_json())
    profile = resolve_hardware(str(path))
    assert len(profile.gpus) == 2
    assert profile.source == "preset:2x-rtx3090"  # a saved preset keeps saying what it is
    detected = detect_hardware()
    path.write_text(detected.to_json())
    assert resolve_hardware(str(path)).source == f"file:{path}"


def test_resolve_bad_name_lists_presets() -> None:
    with pytest.raises(SettingsError) as err:
        resolve_hardware("rtx9999")
    assert "rtx9999" in err.value.message
    for name in REQUIRED_PRESETS:
        assert name in err.value.hint


def test_resolve_missing_file() -> None:
    with pytest.raises(SettingsError, match="No hardware profile file"):
        resolve_hardware("/nonexistent/box.json")


@pytest.mark.parametrize(
    "text",
    ["{not json", '{"cpu": {"physical_cores": "many"}}', "[]", ""],
)
def test_resolve_broken_file_is_a_clear_settings_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(SettingsError) as err:
        resolve_hardware(str(path))
    assert str(path) in err.value.message
    assert "not a valid hardware profile" in err.value.message


def test_detect_with_a_fake_nvml_puts_gpus_in_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("platform.system", lambda: "Linux")
    profile = detect_hardware(nvml=FakeNvml([rtx_3090(), rtx_3090()]))
    assert [g.name for g in profile.nvidia_gpus] == ["NVIDIA GeForce RTX 3090"] * 2
    nv = next(p for p in profile.probes if p.name == "nvidia")
    assert nv.ok


def test_a_crashing_probe_fails_soft(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(nvml: object = None) -> None:
        raise RuntimeError("probe bug")

    monkeypatch.setattr("platform.system", lambda: "Linux")
    monkeypatch.setattr("app.hardware.detect.probe_nvidia", boom)
    profile = detect_hardware()
    nv = next(p for p in profile.probes if p.name == "nvidia")
    assert not nv.ok
    assert "probe bug" in nv.reason
    assert profile.gpus == [] or all(g.vendor != "nvidia" for g in profile.gpus)


def test_report_of_a_gpu_preset() -> None:
    text = format_report(load_preset("2x-rtx3090"))
    for expected in ("CPU", "RAM", "GPU 0", "GPU 1", "RTX 3090", "936 GB/s (table", "avx2"):
        assert expected in text
    # Labels line up: every indented "label value" row has its value in the same column.
    columns = {
        len(line) - len(line[2:].split("  ", 1)[1].lstrip())
        for line in text.splitlines()
        if line.startswith("  ") and "  " in line[2:]
    }
    assert len(columns) == 1


def test_report_of_a_mac_and_of_failed_probes() -> None:
    mac = format_report(load_preset("m4-max-128gb"))
    assert "Apple Silicon" in mac
    assert "Metal budget" in mac
    assert "96.0 GiB" in mac
    profile = detect_hardware(nvml=FakeNvml(init_error=None, gpus=[]))
    profile.probes.append(
        profile.probes[0].model_copy(update={"name": "x", "ok": False, "reason": "because"})
    )
    text = format_report(profile)
    assert "FAIL x: because" in text
    assert "Probes" in text

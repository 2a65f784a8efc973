"""NVIDIA probe against a fake pynvml shaped like the real one (no GPU on the test machine)."""

from __future__ import annotations

import ctypes.util
import inspect
from typing import Any

import pynvml
import pytest

from app.hardware import nvidia
from app.hardware.nvidia import (
    choose_bandwidth,
    computed_bandwidth_gbps,
    cuda_version_string,
    probe_nvidia,
)
from tests.fakes import fake_pynvml as fake
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml, a100_40gb, rtx_3090

MIB = 1024**2


def test_fake_has_the_real_pynvml_shape() -> None:
    for name, member in inspect.getmembers(FakeNvml):
        if name.startswith("nvml"):
            real = getattr(pynvml, name)
            fake_params = list(inspect.signature(member).parameters)[1:]  # drop self
            assert fake_params == list(inspect.signature(real).parameters), name
        elif name.startswith(("NVMLError", "NVML_")):
            assert hasattr(pynvml, name), name
    assert fake.NVML_CLOCK_MEM == pynvml.NVML_CLOCK_MEM
    assert fake.NVML_ERROR_NOT_SUPPORTED == pynvml.NVML_ERROR_NOT_SUPPORTED
    # NVMLError(code) returns the code's subclass, in both.
    assert type(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)).__name__ == (
        type(fake.NVMLError(fake.NVML_ERROR_NOT_SUPPORTED)).__name__
    )
    assert isinstance(fake.NVMLError_LibraryNotFound(), fake.NVMLError)


def test_no_gpus() -> None:
    nvml = FakeNvml([])
    gpus, probe = probe_nvidia(nvml)
    assert gpus == []
    assert probe.ok
    assert "no NVIDIA GPU" in probe.reason
    assert nvml.shutdown_calls == 1


def test_one_gpu_reads_every_field() -> None:
    nvml = FakeNvml([FakeGpu()])
    gpus, probe = probe_nvidia(nvml)
    assert probe.ok
    assert probe.reason == ""
    (g,) = gpus
    assert g.vendor == "nvidia"
    assert g.index == 0
    assert g.name == "NVIDIA GeForce RTX 4090"
    assert g.uuid.startswith("GPU-")
    assert g.vram_total_bytes == 24564 * MIB
    assert g.vram_used_bytes == 500 * MIB
    assert g.vram_free_bytes == (24564 - 500) * MIB
    assert g.driver_version == "550.54.14"
    assert g.cuda_version == "12.4"
    assert g.compute_capability == "8.9"
    assert g.memory_bus_width_bits == 384
    assert g.max_memory_clock_mhz == 10501
    # 384 / 8 × 10501 MHz × 2 = 1008.1 GB/s, within 25% of the 1008 GB/s spec → measured.
    assert g.bandwidth_gbps == pytest.approx(1008.1, abs=0.1)
    assert g.bandwidth_source == "measured"
    assert (g.pcie_generation, g.pcie_width) == (1, 16)
    assert (g.pcie_max_generation, g.pcie_max_width) == (4, 16)
    assert not g.best_effort
    assert nvml.shutdown_calls == 1


def test_two_gpus_keep_their_order_and_figures() -> None:
    nvml = FakeNvml([rtx_3090(uuid="GPU-a"), rtx_3090(uuid="GPU-b", used_mib=5000)])
    gpus, probe = probe_nvidia(nvml)
    assert probe.ok
    assert [g.index for g in gpus] == [0, 1]
    assert [g.uuid for g in gpus] == ["GPU-a", "GPU-b"]
    assert gpus[1].vram_free_bytes == (24576 - 5000) * MIB
    for g in gpus:
        assert g.bandwidth_gbps == pytest.approx(936, rel=0.01)
        assert g.compute_capability == "8.6"


def test_library_missing() -> None:
    gpus, probe = probe_nvidia(FakeNvml(init_error=fake.NVMLError_LibraryNotFound))
    assert gpus == []
    assert not probe.ok
    assert "NVML library" in probe.reason
    assert "not found" in probe.reason


def test_driver_not_loaded() -> None:
    gpus, probe = probe_nvidia(FakeNvml(init_error=fake.NVMLError_DriverNotLoaded))
    assert gpus == []
    assert not probe.ok
    assert "not loaded" in probe.reason


def test_other_init_error_is_reported_with_nvml_text() -> None:
    gpus, probe = probe_nvidia(FakeNvml(init_error=fake.NVMLError_Unknown))
    assert gpus == []
    assert not probe.ok
    assert "Unknown Error" in probe.reason


def test_pynvml_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise ImportError("No module named 'pynvml'")

    monkeypatch.setattr(nvidia, "_import_pynvml", missing)
    gpus, probe = probe_nvidia()
    assert gpus == []
    assert not probe.ok
    assert "nvidia-ml-py" in probe.reason


@pytest.mark.skipif(
    ctypes.util.find_library("nvidia-ml") is not None, reason="an NVIDIA driver is installed"
)
def test_real_pynvml_without_a_driver_says_so() -> None:
    gpus, probe = probe_nvidia()
    assert gpus == []
    assert not probe.ok
    assert "libnvidia-ml" in probe.reason


def test_bus_width_not_supported_falls_back_to_the_table() -> None:
    gpu = rtx_3090(fail={"nvmlDeviceGetMemoryBusWidth": fake.NVMLError_NotSupported})
    (g,), probe = probe_nvidia(FakeNvml([gpu]))
    assert probe.ok
    assert "memory bus width: Not Supported" in probe.reason
    assert g.memory_bus_width_bits is None
    assert g.bandwidth_gbps == 936
    assert g.bandwidth_source == "table"
    # Everything else was still read.
    assert g.vram_total_bytes == 24576 * MIB
    assert g.compute_capability == "8.6"


def test_each_failing_field_fails_soft() -> None:
    every = [
        "nvmlDeviceGetUUID",
        "nvmlDeviceGetCudaComputeCapability",
        "nvmlDeviceGetMaxClockInfo",
        "nvmlDeviceGetCurrPcieLinkGeneration",
        "nvmlDeviceGetCurrPcieLinkWidth",
        "nvmlDeviceGetMaxPcieLinkGeneration",
        "nvmlDeviceGetMaxPcieLinkWidth",
    ]
    gpu = rtx_3090(fail=dict.fromkeys(every, fake.NVMLError_NotSupported))
    (g,), probe = probe_nvidia(FakeNvml([gpu]))
    assert probe.ok
    assert g.uuid == ""
    assert g.compute_capability == ""
    assert g.pcie_generation is None
    assert g.pcie_max_width is None
    assert g.bandwidth_source == "table"
    assert g.bandwidth_gbps == 936


def test_memory_info_failure_uses_the_table_size() -> None:
    gpu = rtx_3090(fail={"nvmlDeviceGetMemoryInfo": fake.NVMLError_GpuIsLost})
    (g,), probe = probe_nvidia(FakeNvml([gpu]))
    assert g.vram_total_bytes == 24 * 1024**3
    assert "GPU is lost" in probe.reason


def test_a_gpu_whose_handle_fails_is_skipped() -> None:
    nvml = FakeNvml([rtx_3090(), rtx_3090()])
    real = nvml.nvmlDeviceGetHandleByIndex

    def flaky(index: int) -> Any:
        if index == 0:
            raise fake.NVMLError_GpuIsLost()
        return real(index)

    nvml.nvmlDeviceGetHandleByIndex = flaky  # type: ignore[method-assign]
    gpus, probe = probe_nvidia(nvml)
    assert [g.index for g in gpus] == [1]
    assert "GPU 0 handle" in probe.reason


def test_system_calls_failing_leave_driver_fields_empty() -> None:
    nvml = FakeNvml([FakeGpu()])

    def not_there() -> int:
        raise fake.NVMLError_FunctionNotFound()

    nvml.nvmlSystemGetCudaDriverVersion = not_there  # type: ignore[method-assign]
    (g,), probe = probe_nvidia(nvml)
    assert g.cuda_version == ""
    assert g.driver_version == "550.54.14"
    assert "CUDA version" in probe.reason


def test_hbm_computed_bandwidth_matches_the_spec() -> None:
    (g,), _ = probe_nvidia(FakeNvml([a100_40gb()]))
    assert g.bandwidth_gbps == pytest.approx(1555, rel=0.001)
    assert g.bandwidth_source == "measured"


def test_computed_bandwidth_far_from_the_table_uses_the_table() -> None:
    # A clock reported under another convention (e.g. GDDR7 at the 1750 MHz command clock).
    gpu = FakeGpu(
        name="NVIDIA GeForce RTX 5090", total_mib=32607, bus_width_bits=512, max_mem_clock_mhz=1750
    )
    (g,), _ = probe_nvidia(FakeNvml([gpu]))
    assert g.bandwidth_gbps == 1792
    assert g.bandwidth_source == "table"
    assert "off the" in g.bandwidth_note


def test_unknown_part_uses_the_computed_figure_or_an_estimate() -> None:
    gbps, source, _ = choose_bandwidth("NVIDIA Mystery GPU", 8 * 1024**3, 256, 7000)
    assert (gbps, source) == (448.0, "measured")
    gbps, source, _ = choose_bandwidth("NVIDIA Mystery GPU", 8 * 1024**3, None, None)
    assert source == "estimate"
    assert gbps > 0


@pytest.mark.parametrize(
    ("bus", "clock", "spec"),
    [
        (384, 9751, 936),  # RTX 3090, GDDR6X
        (192, 7501, 360),  # RTX 3060 12GB, GDDR6
        (384, 10501, 1008),  # RTX 4090, GDDR6X
        (5120, 1215, 1555),  # A100 40GB, HBM2
        (4096, 877, 900),  # V100, HBM2
        (256, 5001, 320),  # T4, GDDR6
    ],
)
def test_bandwidth_formula_against_known_nvml_clocks(bus: int, clock: int, spec: float) -> None:
    assert computed_bandwidth_gbps(bus, clock) == pytest.approx(spec, rel=0.01)


def test_cuda_version_string() -> None:
    assert cuda_version_string(12040) == "12.4"
    assert cuda_version_string(11080) == "11.8"
    assert cuda_version_string(12090) == "12.9"

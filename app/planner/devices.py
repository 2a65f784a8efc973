"""Devices the planner can place work on, derived from a ``HardwareProfile``.

Each device has a memory budget (bytes it may fill), a peak bandwidth (GB/s), the fraction of
that peak a decode step reaches, and a compute rate for prompt processing.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.hardware.profile import GpuInfo, HardwareProfile

GIB = 1024**3

# Memory a CUDA context takes on each GPU before any model tensor (driver, cuBLAS workspace):
# about 300-500 MiB on recent drivers; free VRAM is read before the engine starts.
CUDA_CONTEXT_BYTES = 400 * 1024**2
# Memory the engine process itself needs in RAM (binary, tokenizer, bookkeeping).
PROCESS_BYTES = 200 * 1024**2
# Memory left to macOS and apps when a Mac's RAM outside the Metal budget is counted.
MAC_OS_RESERVE_BYTES = 4 * GIB

# Effective fraction of peak bandwidth reached by llama.cpp decode on each kind of device.
# Fitted by a grid search to the 18 full-offload rows of
# ../shared/data/public_speed_measurements.json (tests/unit/test_speed_public.py checks them):
# CUDA 0.85 of peak plus 60 us per block, Metal 0.70 plus 100 us per block. CPU decode ~0.6 of
# the DRAM peak (threads rarely saturate every channel) is a documented default, not fitted.
# `roost calibrate` replaces them with figures measured on the user's machine.
DEFAULT_EFFICIENCY = {"cuda": 0.85, "metal": 0.7, "vulkan": 0.7, "cpu": 0.6}
# Fixed time per offloaded block per generated token (kernel launches, synchronisation), s.
PER_LAYER_SECONDS = {"cuda": 60e-6, "metal": 100e-6, "vulkan": 80e-6, "cpu": 10e-6}
# A MoE block launches about twice the kernels of a dense one (router, top-k, gathered
# matmuls, shared expert): reported 30B-A3B decode speeds sit well below the bandwidth bound.
# An assumption, not fitted: the public rows hold no MoE model.
MOE_LAYER_FACTOR = 2.0

# Effective prompt-processing FLOP/s per GB/s of bandwidth, by NVIDIA compute capability major
# and minor: llama.cpp's quantized matmuls (MMQ / cuBLAS) on Ada reach ~185 TFLOP/s on an
# RTX 4090 (pp512 of a 7B ~14k t/s), Ampere consumer parts ~70 on an RTX 3090 (~5k t/s).
# Rough (about 2x): prompt speed is reported as an estimate.
_CUDA_FLOPS_PER_BYTE = {"7": 50.0, "8.0": 120.0, "8.6": 72.0, "8.7": 72.0, "8.9": 185.0}
_CUDA_FLOPS_PER_BYTE_DEFAULT = 150.0
# Apple GPUs: M2 Ultra pp512 1238 t/s and M4 Max 885 t/s for a 7B -> ~21 FLOP per byte.
_METAL_FLOPS_PER_BYTE = 21.0
# CPU: llama.cpp's quantized matmuls run as int8 dot products: ops per cycle per core at
# AVX2 (32 int8 MACs x 2 ops), AVX-512 twice that, NEON dotprod like AVX2, at an assumed 3 GHz
# with 60% reached. Measured here: Gemma 3 270M pp512 = 419 tokens/s on 2 AVX2 cores
# (225 GFLOP/s) against 230 GFLOP/s from this rule.
_CPU_ASSUMED_HZ = 3.0e9


@dataclass(frozen=True)
class Device:
    """One place to put tensors. ``kind`` is cuda, metal, vulkan or cpu."""

    name: str
    kind: str
    budget_bytes: int
    overhead_bytes: int
    bandwidth_gbps: float
    efficiency: float
    flops: float

    @property
    def is_gpu(self) -> bool:
        return self.kind != "cpu"

    @property
    def effective_bandwidth(self) -> float:
        """Bytes/s a decode step streams from this device's memory."""
        return self.bandwidth_gbps * 1e9 * self.efficiency


def _cuda_flops(gpu: GpuInfo) -> float:
    cc = gpu.compute_capability
    per_byte = _CUDA_FLOPS_PER_BYTE.get(cc) or _CUDA_FLOPS_PER_BYTE.get(cc.split(".")[0])
    return gpu.bandwidth_gbps * 1e9 * (per_byte or _CUDA_FLOPS_PER_BYTE_DEFAULT)


def _cpu_flops(hw: HardwareProfile) -> float:
    feats = set(hw.cpu.features)
    if "avx512f" in feats or "avx512bw" in feats:
        per_cycle = 128.0
    elif feats & {"avx2", "dotprod", "asimddp", "i8mm"}:
        per_cycle = 64.0
    else:
        per_cycle = 16.0
    return max(hw.cpu.physical_cores, 1) * _CPU_ASSUMED_HZ * per_cycle * 0.6


def machine_devices(
    hw: HardwareProfile,
    margin_bytes: int,
    efficiency: dict[str, float] | None = None,
) -> tuple[list[Device], Device]:
    """The GPUs (in engine order) and the CPU of ``hw`` with their budgets (bytes)."""
    eff = {**DEFAULT_EFFICIENCY, **(efficiency or {})}
    gpus: list[Device] = []
    if hw.apple is not None:
        a = hw.apple
        gpus.append(
            Device(
                name="metal",
                kind="metal",
                budget_bytes=max(0, a.metal_budget_bytes - margin_bytes),
                overhead_bytes=0,
                bandwidth_gbps=a.bandwidth_gbps if a.bandwidth_gbps > 0 else 100.0,
                efficiency=eff["metal"],
                flops=a.bandwidth_gbps * 1e9 * _METAL_FLOPS_PER_BYTE,
            )
        )
        # RAM outside the Metal budget holds what the GPU does not.
        ram_budget = a.unified_memory_bytes - a.metal_budget_bytes - MAC_OS_RESERVE_BYTES
        cpu_bw = a.bandwidth_gbps
    else:
        for i, g in enumerate(hw.gpus):
            if g.vendor not in ("nvidia", "amd", "intel") or g.vram_total_bytes <= 0:
                continue
            kind = "cuda" if g.vendor == "nvidia" else "vulkan"
            gpus.append(
                Device(
                    name=f"{kind}:{i}",
                    kind=kind,
                    budget_bytes=max(0, g.vram_free_bytes - margin_bytes),
                    overhead_bytes=CUDA_CONTEXT_BYTES if kind == "cuda" else 256 * 1024**2,
                    # A hand-edited profile may say 0; never divide by it.
                    bandwidth_gbps=g.bandwidth_gbps if g.bandwidth_gbps > 0 else 100.0,
                    efficiency=eff[kind],
                    flops=_cuda_flops(g) if kind == "cuda" else g.bandwidth_gbps * 1e9 * 40,
                )
            )
        ram_budget = hw.cpu.ram_available_bytes
        cpu_bw = hw.cpu.ram_bandwidth_gbps
    cpu = Device(
        name="cpu",
        kind="cpu",
        budget_bytes=max(0, ram_budget - margin_bytes),
        overhead_bytes=PROCESS_BYTES,
        bandwidth_gbps=cpu_bw if cpu_bw > 0 else 40.0,
        efficiency=eff["cpu"],
        flops=_cpu_flops(hw),
    )
    return gpus, cpu

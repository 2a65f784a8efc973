"""``roost calibrate``: measure decode speed on this machine and derive bandwidth efficiency.

Runs ``llama-bench`` (generation only) on an installed model with the plan's GPU layers,
then inverts the speed model: efficiency = bytes read per token / (time per token - launch
cost) / peak bandwidth. The result replaces the default fraction of peak for that device kind.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from app.catalog.spec import ModelSpec
from app.core.errors import EngineError
from app.hardware.profile import HardwareProfile
from app.planner.devices import PER_LAYER_SECONDS, machine_devices

BENCH_TOKENS = 64


@dataclass(frozen=True)
class CalibrationResult:
    device_kind: str
    generation_tps: float
    bytes_per_token: int
    effective_gbps: float
    peak_gbps: float
    efficiency: float


def run_llama_bench(bench: Path, model: Path, gpu_layers: int, threads: int) -> float:
    """Generation tokens/s measured by llama-bench (``-p 0 -n BENCH_TOKENS``, 3 repetitions)."""
    cmd = [
        str(bench), "-m", str(model), "-p", "0", "-n", str(BENCH_TOKENS), "-r", "3",
        "-ngl", str(gpu_layers), "-t", str(threads), "-o", "json",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise EngineError(f"llama-bench failed: {done.stderr.strip()[-400:]}")
    try:
        rows = json.loads(done.stdout)
        return float(rows[0]["avg_ts"])
    except (json.JSONDecodeError, LookupError, ValueError) as exc:
        raise EngineError(f"llama-bench printed no result: {exc}") from exc


def derive_efficiency(spec: ModelSpec, hw: HardwareProfile, tps: float) -> CalibrationResult:
    """Fraction of peak bandwidth that ``tps`` implies for the device holding the model."""
    gpus, cpu = machine_devices(hw, 0)
    device = gpus[0] if gpus else cpu
    active = sum(
        (layer.weight_bytes - layer.expert_bytes)
        + layer.expert_bytes * spec.expert_fraction_active()
        for layer in spec.layers
    )
    bytes_per_token = int(active + spec.output_read_bytes)
    launch = spec.n_layers * PER_LAYER_SECONDS[device.kind]
    seconds = max(1.0 / tps - launch, 1e-6)
    effective = bytes_per_token / seconds / 1e9
    efficiency = min(1.0, max(0.02, effective / device.bandwidth_gbps))
    return CalibrationResult(
        device.kind, tps, bytes_per_token, effective, device.bandwidth_gbps, efficiency
    )

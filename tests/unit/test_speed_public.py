"""The speed predictor against published llama.cpp figures (../shared/data).

Each full-offload row is predicted from the device's peak bandwidth and the model file alone;
the tolerance is stated per row (none off by more than 2x) and for the median (25%). The
partial-offload sweep has no published CPU bandwidth, so its CPU-only row calibrates the CPU
and the other rows are predicted from that.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from app.catalog.spec import LayerSpec, ModelSpec
from app.hardware.profile import CpuInfo, GpuInfo, HardwareProfile
from app.planner.advise import Calibration, advise
from app.planner.devices import machine_devices
from app.planner.memory import Layout, breakdown
from app.planner.placement import plan_llamacpp
from app.planner.speed import predict_speed
from app.planner.types import PlanGoal
from tests.specs import GIB, mac

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data" / "public_speed_measurements.json"
if not SHARED.exists():  # a checkout of the project repo sits next to shared/
    SHARED = HERE.parents[3] / "shared" / "data" / "public_speed_measurements.json"
MODELS = json.loads((HERE.parent / "data" / "public_rows_models.json").read_text())

MEDIAN_TOLERANCE = 0.25
ROW_TOLERANCE = 2.0  # no row off by more than 2x


def _data() -> dict[str, object]:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    data: dict[str, object] = json.loads(SHARED.read_text())
    return data


def _bandwidth(device: str, data: dict[str, object]) -> float:
    table = {**MODELS["peak_bandwidth_gbps_spec_sheets"], **data["peak_bandwidth_gbps"]}  # type: ignore[dict-item]
    return float(table[device])


def _model(name: str) -> ModelSpec:
    m = MODELS["models"][name]
    size = m["size_gib"] * GIB
    vocab_bytes = m["n_vocab"] * m["n_embd"] * size / (m["params_b"] * 1e9)
    per_layer = int((size - 2 * vocab_bytes) / m["n_layers"])
    return ModelSpec(
        id=name,
        context_length=4096,
        n_embd=m["n_embd"],
        n_head=32,
        n_vocab=m["n_vocab"],
        params_total=int(m["params_b"] * 1e9),
        token_embd_bytes=int(vocab_bytes),
        output_bytes=int(vocab_bytes),
        layers=[
            LayerSpec(weight_bytes=per_layer, n_head_kv=8, head_dim_k=128, head_dim_v=128)
            for _ in range(m["n_layers"])
        ],
    )


def _machine(device: str, bw: float) -> HardwareProfile:
    if device.startswith("Apple"):
        return mac(192, 150, bw)
    gpu = GpuInfo(
        vendor="nvidia",
        name=device,
        vram_total_bytes=32 * GIB,
        vram_free_bytes=32 * GIB,
        bandwidth_gbps=bw,
        compute_capability="8.9",
    )
    cpu = CpuInfo(
        physical_cores=16, ram_total_bytes=64 * GIB, ram_available_bytes=60 * GIB,
        ram_bandwidth_gbps=80,
    )  # fmt: skip
    return HardwareProfile(cpu=cpu, gpus=[gpu])


def full_offload_rows() -> list[tuple[str, str, float]]:
    rows = []
    for source in _data()["rows"]:  # type: ignore[attr-defined]
        for r in source["results"]:
            if "device" not in r or ("note" in r and "full offload" not in r["note"]):
                continue
            if "tg8192" in r.get("note", "") or "no-kv-offload" in r.get("note", ""):
                continue
            rows.append((r["device"], r.get("model", source.get("model")), r["tg"]))
    return rows


def test_generation_speed_matches_public_rows() -> None:
    data = _data()
    errors = []
    report = []
    for device, model, measured in full_offload_rows():
        plan = advise(
            _model(model), _machine(device, _bandwidth(device, data)), PlanGoal(context=4096)
        )
        assert plan.verdict == "full_gpu", (device, model)
        assert plan.speed is not None
        predicted = plan.speed.generation_tps
        ratio = predicted / measured
        errors.append(abs(ratio - 1))
        report.append(
            f"{device:32s} {model:20s} measured {measured:6.1f} predicted {predicted:6.1f}"
        )
        assert 1 / ROW_TOLERANCE <= ratio <= ROW_TOLERANCE, report[-1]
    assert len(errors) >= 15
    median = statistics.median(errors)
    print("\n".join(report))
    print(f"median error {median:.1%}, worst {max(errors):.1%} over {len(errors)} rows")
    assert median <= MEDIAN_TOLERANCE


def test_partial_offload_sweep_adds_time_across_devices() -> None:
    data = _data()
    sweep = next(s for s in data["rows"] if s.get("model") == "14B Q4_K_M")  # type: ignore[attr-defined]
    bw = _bandwidth("NVIDIA GeForce RTX 5060 Ti 16GB", data)
    spec = _model("14B Q4_K_M")
    base = _machine("NVIDIA GeForce RTX 5060 Ti 16GB", bw)
    results = {r["ngl"]: r["tg"] for r in sweep["results"]}
    # Calibrate the unknown CPU from the CPU-only row: efficiency that reproduces it.
    cpu_only = advise(spec, base.model_copy(update={"gpus": []}), PlanGoal(context=4096))
    assert cpu_only.speed is not None
    eff = 0.6 * results[0] / cpu_only.speed.generation_tps
    calibration = Calibration({"cpu": eff})
    gpus, cpu = machine_devices(base, 0, calibration.efficiency)
    goal = PlanGoal(context=4096)
    for ngl, measured in results.items():
        if ngl == 0:
            continue
        # The sweep forces -ngl; lay the model out that way and predict.
        layout = Layout(min(ngl, spec.n_layers + 1), 0, (1.0,), 4096, "f16")
        plan = plan_llamacpp(spec, gpus, cpu, goal).model_copy(
            update={
                "gpu_layers": layout.gpu_layers,
                "devices": breakdown(spec, layout, gpus, cpu, goal),
            }
        )
        speed = predict_speed(spec, plan, gpus, cpu, goal)
        ratio = speed.generation_tps / measured
        assert 0.7 <= ratio <= 1.3, (ngl, measured, speed.generation_tps)

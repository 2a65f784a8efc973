"""llama.cpp's own measurements feed the planner: llama-fit-params and llama-bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.catalog.resolve import ResolvedModel
from app.hardware.detect import detect_hardware
from app.planner.advise import Calibration, advise
from app.planner.types import PlanGoal
from app.runtime.calibrate import derive_efficiency, run_llama_bench
from app.runtime.fit_check import measure_fit, record_fit

pytestmark = [pytest.mark.engine, pytest.mark.slow]


def test_fit_params_measures_the_plan(
    llama_server_binary: Path, embedded_model: ResolvedModel, tmp_path: Path
) -> None:
    assert embedded_model.path is not None
    plan = advise(embedded_model.spec, detect_hardware(), PlanGoal(context=8192))
    rows = measure_fit(llama_server_binary.with_name("llama-fit-params"), embedded_model.path, plan)
    assert rows, "llama-fit-params printed a memory breakdown"
    host = rows[0]
    # The model's weights as llama.cpp counts them: within 10% of the file's tensor bytes.
    assert host.model == pytest.approx(embedded_model.spec.weight_bytes, rel=0.1)
    assert host.context > 0
    record = tmp_path / "fit.jsonl"
    record_fit(record, plan, rows)
    entry = json.loads(record.read_text())
    assert entry["model"] == plan.model_id
    assert entry["measured"][0]["model"] == host.model


def test_calibration_from_a_real_decode(
    llama_server_binary: Path, embedded_model: ResolvedModel
) -> None:
    assert embedded_model.path is not None
    hw = detect_hardware()
    tps = run_llama_bench(llama_server_binary.with_name("llama-bench"), embedded_model.path, 0, 2)
    assert tps > 1
    result = derive_efficiency(embedded_model.spec, hw, tps)
    assert result.device_kind == "cpu"
    assert 0.02 <= result.efficiency <= 1.0
    calibrated = advise(
        embedded_model.spec,
        hw,
        PlanGoal(context=4096),
        calibration=Calibration({"cpu": result.efficiency}),
    )
    assert calibrated.speed is not None
    # With the measured efficiency, the predictor reproduces the measurement it came from.
    assert calibrated.speed.generation_tps == pytest.approx(tps, rel=0.15)

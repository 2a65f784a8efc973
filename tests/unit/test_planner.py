"""Placement planner: budgets, monotonicity, MoE experts in RAM, context before layers."""

from __future__ import annotations

import itertools

import pytest

from app.catalog.spec import ModelSpec
from app.planner.advise import advise
from app.planner.devices import machine_devices
from app.planner.memory import layer_cells, total_kv_bytes
from app.planner.mlx import plan_mlx
from app.planner.types import PlanGoal
from tests.specs import GIB, dense_spec, hybrid_spec, mac, machine, moe_spec, swa_spec

SPECS = [
    dense_spec(),
    moe_spec(),
    hybrid_spec(),
    swa_spec(),
    dense_spec(n_layers=32, weights=4.5 * GIB),
]
VRAMS = [[], [4], [8], [12], [16], [24], [32], [48], [12, 12], [24, 24], [24, 8]]
RAMS = [8, 16, 32, 64, 128]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_plan_never_exceeds_device_budgets(spec: ModelSpec) -> None:
    for vram, ram in itertools.product(VRAMS, RAMS):
        for goal in (PlanGoal(), PlanGoal(context=65536), PlanGoal(kv_type="q4_0", parallel=4)):
            plan = advise(spec, machine(vram, ram), goal)
            if not plan.fits:
                assert plan.verdict == "does_not_fit"
                assert "GiB" in plan.reason
                continue
            for use in plan.devices:
                assert use.total_bytes <= use.budget_bytes, (vram, ram, goal, use)
            assert plan.context >= 4096
            assert plan.max_context >= plan.context


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_more_vram_never_predicts_slower_generation(spec: ModelSpec) -> None:
    for ram in (32, 64):
        previous = 0.0
        for gib in [2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 48, 80]:
            plan = advise(spec, machine([gib], ram))
            speed = plan.speed.generation_tps if plan.speed else 0.0
            assert speed >= previous * 0.999, f"{spec.id}: {gib} GiB slower than less VRAM"
            previous = speed


def test_moe_on_12gb_gpu_keeps_experts_in_ram() -> None:
    spec = moe_spec()
    plan = advise(spec, machine([12], 64))
    assert plan.verdict == "hybrid"
    assert plan.gpu_layers == spec.n_layers + 1, "attention and shared weights stay on the GPU"
    assert 0 < plan.n_cpu_moe <= spec.n_layers
    gpu = plan.devices[0]
    assert gpu.kv_bytes > 0
    assert gpu.total_bytes <= gpu.budget_bytes
    # The same model on the same GPU with experts in RAM beats moving whole layers.
    dense_like = spec.model_copy(
        update={"layers": [layer.model_copy(update={"expert_bytes": 0}) for layer in spec.layers]}
    )
    layered = advise(dense_like, machine([12], 64))
    assert layered.gpu_layers < spec.n_layers
    assert plan.speed
    assert layered.speed
    assert plan.speed.generation_tps > 2 * layered.speed.generation_tps


def test_context_shrinks_before_layers_move() -> None:
    spec = dense_spec()  # ~16 GiB of weights, 256 KiB of KV per token
    hw = machine([22], 64)
    free = advise(spec, hw, PlanGoal(target_context=131072))
    assert free.verdict == "full_gpu"
    assert free.gpu_layers == spec.n_layers + 1
    assert 32768 <= free.context < 131072
    assert any("context reduced" in t for t in free.tradeoffs)
    pinned = advise(spec, hw, PlanGoal(context=131072))
    assert pinned.context == 131072, "a pinned context is never changed"
    assert pinned.gpu_layers <= spec.n_layers, "with the context pinned, layers move instead"


def test_kv_quantised_before_context_drops_below_target() -> None:
    spec = dense_spec()
    hw = machine([24], 64)
    plan = advise(spec, hw, PlanGoal(target_context=65536))
    # f16 at 64k = 16 GiB cache: does not fit with 16 GiB weights; q8_0 halves it.
    assert plan.verdict == "full_gpu"
    assert (plan.kv_type, plan.context) != ("f16", 65536)
    assert plan.context >= 32768


def test_no_gpu_runs_on_cpu_and_too_small_does_not_fit() -> None:
    spec = dense_spec()
    cpu_plan = advise(spec, machine([], 64))
    assert cpu_plan.verdict == "cpu_only"
    assert cpu_plan.gpu_layers == 0
    small = advise(spec, machine([], 8))
    assert small.verdict == "does_not_fit"
    assert "Needs about" in small.reason


def test_two_gpus_split_layers() -> None:
    spec = dense_spec(weights=30 * GIB)
    plan = advise(spec, machine([24, 24], 64))
    assert plan.verdict == "full_gpu"
    assert plan.tensor_split == pytest.approx([0.5, 0.5])
    gpu_layers = [d.layers for d in plan.devices if d.device != "cpu"]
    assert sum(gpu_layers) == spec.n_layers
    assert min(gpu_layers) > 0


def test_kv_sizes_match_llama_cpp() -> None:
    # Qwen3.6-27B: 16 attention layers x 4 KV heads x (256 + 256) x 2 bytes = 64 KiB per token.
    spec = hybrid_spec()
    goal = PlanGoal()
    per_token = total_kv_bytes(spec, 2048, goal, "f16") - total_kv_bytes(spec, 1024, goal, "f16")
    assert per_token / 1024 == pytest.approx(64 * 1024)
    # q8_0 stores 34 bytes per 32 elements.
    q8 = total_kv_bytes(spec, 2048, goal, "q8_0") - total_kv_bytes(spec, 1024, goal, "q8_0")
    assert q8 / per_token == pytest.approx(1.0625 / 2)


def test_swa_cache_uses_window_cells() -> None:
    # llama.cpp measured here for Gemma 3 270M (window 512), --ctx-size 8192, 4 unified slots:
    # the SWA cache has 512 * 4 + 512 = 2560 cells and the global cache 8192 cells.
    spec = swa_spec().model_copy(update={"sliding_window": 512})
    goal = PlanGoal(parallel=4)
    swa = spec.layers[0]
    glob = spec.layers[5]
    assert layer_cells(glob, spec, 8192, goal) == 8192
    assert layer_cells(swa, spec, 8192, goal) == 2560
    assert layer_cells(swa, spec, 2000, goal) == 2000


def test_recurrent_state_does_not_grow_with_context() -> None:
    spec = hybrid_spec()
    goal = PlanGoal()
    attention_only = sum(
        layer.kv_elements_per_token() * 2 for layer in spec.layers if layer.kind == "attention"
    )
    grow = total_kv_bytes(spec, 65536, goal, "f16") - total_kv_bytes(spec, 32768, goal, "f16")
    assert grow == attention_only * 32768


def test_tied_output_is_duplicated_on_gpu() -> None:
    spec = swa_spec()
    plan = advise(spec, machine([48], 64))
    gpu = plan.devices[0]
    assert gpu.weights_bytes == spec.layer_bytes + spec.token_embd_bytes
    cpu = plan.devices[-1]
    assert cpu.weights_bytes == spec.token_embd_bytes


def test_apple_metal_budget() -> None:
    spec = dense_spec(weights=60 * GIB)
    big = advise(spec, mac(128, 107.52))
    assert big.verdict == "full_gpu"
    assert big.devices[0].device == "metal"
    small = advise(spec, mac(64, 48))
    assert small.verdict in ("hybrid", "does_not_fit")


def test_mlx_fit_and_headroom() -> None:
    spec = hybrid_spec()
    gpus, _ = machine_devices(mac(64, 48), 512 * 1024**2)
    fits = plan_mlx(spec, 17 * GIB, gpus[0], PlanGoal(context=32768))
    assert fits.verdict == "full_gpu"
    assert fits.engine == "mlx"
    assert fits.max_context >= 32768
    assert "to spare" in fits.reason
    over = plan_mlx(spec, 60 * GIB, gpus[0], PlanGoal(context=32768))
    assert over.verdict == "does_not_fit"
    assert "Over the Metal budget" in over.reason


def test_tied_output_head_is_read_every_token() -> None:
    spec = swa_spec()
    untied = spec.model_copy(update={"tied_embeddings": False})
    tied = advise(spec, machine([], 64))
    plain = advise(untied, machine([], 64))
    assert tied.speed is not None
    assert plain.speed is not None
    # The tied head streams the whole embedding table per token: slower than no head at all.
    assert tied.speed.generation_tps < plain.speed.generation_tps
    assert tied.speed.bytes_per_token["cpu"] - plain.speed.bytes_per_token["cpu"] == (
        spec.token_embd_bytes
    )

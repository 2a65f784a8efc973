"""``roost advise [MODEL]``: will it fit, how would it be placed, how fast would it run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.catalog.catalog import CatalogModel, load_catalog
from app.catalog.resolve import resolve_entry, resolve_model
from app.cli._format import gib, table
from app.core.paths import default_paths
from app.core.settings import load_settings
from app.hardware.detect import resolve_hardware
from app.hardware.profile import HardwareProfile
from app.planner.advise import Calibration, advise, rank_key
from app.planner.devices import machine_devices
from app.planner.mlx import plan_mlx
from app.planner.types import PlacementPlan, PlanGoal
from app.runtime.engine_install import find_llama_server
from app.runtime.fit_check import measure_fit, record_fit
from engines.errors import EngineFailure


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("advise", help="plan a model (or every catalog model) on this machine")
    p.add_argument("model", nargs="?", help="catalog id[:variant], alias, .gguf path or URL")
    p.add_argument("--hardware", help="saved profile file or preset name (see `roost presets`)")
    p.add_argument("--ctx", type=int, help="pin the context size (tokens)")
    p.add_argument("--kv", choices=["f16", "q8_0", "q4_0"], help="pin the KV cache type")
    p.add_argument("--parallel", type=int, default=1, help="parallel sequences (slots)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--measure",
        action="store_true",
        help="also ask llama.cpp (llama-fit-params) for the memory need of a local model",
    )
    p.set_defaults(run=run)


def _goal(args: argparse.Namespace, entry: CatalogModel | None) -> PlanGoal:
    return PlanGoal(
        context=args.ctx,
        kv_type=args.kv,
        parallel=args.parallel,
        target_context=entry.recommended_context if entry else None,
    )


def _mlx_plan(
    entry: CatalogModel, spec_plan: PlacementPlan, hw: HardwareProfile
) -> dict[str, object]:
    out: dict[str, object] = {}
    gpus, _ = machine_devices(hw, 512 * 1024**2)
    for variant in entry.variants:
        if variant.format != "mlx" or not gpus:
            continue
        size = variant.total_bytes
        if size is None:
            out[variant.id] = "size unknown"
            continue
        spec = resolve_entry(entry, entry.variant(), default_paths().models_dir, False).spec
        plan = plan_mlx(spec, size, gpus[0], PlanGoal(context=spec_plan.context or None))
        out[variant.id] = plan.reason
    return out


def run(args: argparse.Namespace) -> int:
    hw = resolve_hardware(args.hardware)
    catalog = load_catalog()
    paths = default_paths()
    models_dir = paths.models_dir
    settings = load_settings(paths.settings_file)
    # Calibration measured this machine; it does not describe a preset or a saved profile.
    calibration = (
        Calibration.from_values(
            settings.gpu_bandwidth_efficiency, settings.cpu_bandwidth_efficiency
        )
        if args.hardware is None
        else None
    )
    margin = settings.safety_margin_bytes
    if args.model:
        resolved = resolve_model(args.model, catalog, models_dir)
        plan = advise(resolved.spec, hw, _goal(args, resolved.entry), margin, calibration)
        mlx = _mlx_plan(resolved.entry, plan, hw) if resolved.entry and hw.apple else {}
        if args.json:
            data = plan.model_dump(mode="json")
            data["mlx"] = mlx
            data["hardware"] = hw.source
            print(json.dumps(data, indent=2))
        else:
            print(format_plan(plan, hw, mlx))
        if args.measure:
            print(_measured(plan, resolved.path, settings.llama_server_path))
        return 0

    rows: list[tuple[CatalogModel, PlacementPlan]] = []
    for entry in catalog.models:
        resolved = resolve_entry(entry, entry.variant(), models_dir, assemble_embedded=False)
        rows.append((entry, advise(resolved.spec, hw, _goal(args, entry), margin, calibration)))
    rows.sort(key=lambda r: rank_key(r[1], _score(r[0])))
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for _, p in rows], indent=2))
        return 0
    print(f"Hardware: {hw.source}")
    print(format_table(rows))
    best = next((e for e, p in rows if p.fits and e.agent_grade), None)
    if best:
        print(f"\nRecommended: {best.id} — `roost advise {best.id}` for the full plan.")
    return 0


def _measured(plan: PlacementPlan, path: Path | None, configured: str | None) -> str:
    if path is None or not plan.fits:
        return "llama.cpp check: needs a model file on disk and a plan that fits."
    paths = default_paths()
    try:
        server = find_llama_server(configured, paths.engine_cache_dir)
    except EngineFailure as exc:
        return f"llama.cpp check skipped: {exc.message}"
    rows = measure_fit(server.with_name("llama-fit-params"), path, plan)
    if not rows:
        return "llama.cpp check: llama-fit-params printed no memory breakdown."
    record_fit(paths.data_dir / "fit_records.jsonl", plan, rows)
    predicted = sum(d.total_bytes - d.overhead_bytes for d in plan.devices)
    measured = sum(r.total for r in rows)
    lines = ["", "llama.cpp's own fit (llama-fit-params, same arguments):"]
    lines += [
        f"  {r.device}: {gib(r.total)} = model {gib(r.model)} + context {gib(r.context)} "
        f"+ compute {gib(r.compute)}"
        for r in rows
    ]
    lines.append(
        f"  Roost predicted {gib(predicted)} (excluding process overhead), llama.cpp "
        f"{gib(measured)}; recorded in {paths.data_dir / 'fit_records.jsonl'}"
    )
    return "\n".join(lines)


def _score(entry: CatalogModel) -> float | None:
    best = entry.best_score()
    return best.score if best else None


def format_table(rows: list[tuple[CatalogModel, PlacementPlan]]) -> str:
    headers = ["model", "verdict", "VRAM", "RAM", "ctx", "gen t/s", "prompt t/s", "TB2", "basis"]
    body = []
    for entry, p in rows:
        ram = next((d.total_bytes for d in p.devices if d.device == "cpu"), 0)
        score = _score(entry)
        body.append(
            [
                entry.id,
                p.verdict.replace("_", " "),
                gib(p.gpu_bytes) if p.fits else "-",
                gib(ram) if p.fits else "-",
                str(p.context) if p.fits else "-",
                f"{p.speed.generation_tps:.1f}" if p.speed else "-",
                f"{p.speed.prompt_tps:.0f}" if p.speed else "-",
                f"{score:.1f}%" if score is not None else "unknown",
                p.confidence,
            ]
        )
    return table(headers, body)


def format_plan(plan: PlacementPlan, hw: HardwareProfile, mlx: dict[str, object]) -> str:
    lines = [
        f"Model:     {plan.model_id}  (numbers: {plan.confidence})",
        f"Hardware:  {hw.source}",
        f"Verdict:   {plan.verdict.replace('_', ' ')} — {plan.reason}",
    ]
    if plan.fits:
        lines += [
            f"Context:   {plan.context} tokens (largest that fits: {plan.max_context}), "
            f"KV cache {plan.kv_type}, flash attention {'on' if plan.flash_attention else 'off'}",
            f"Placement: -ngl {plan.gpu_layers} of {plan.n_layers} layers"
            + (f", experts of {plan.n_cpu_moe} layers in RAM" if plan.n_cpu_moe else "")
            + (f", tensor split {plan.tensor_split}" if plan.tensor_split else "")
            + f", {plan.threads} threads",
        ]
    rows = [
        [
            d.device,
            gib(d.weights_bytes),
            gib(d.kv_bytes + d.recurrent_bytes),
            gib(d.compute_bytes + d.overhead_bytes),
            gib(d.total_bytes),
            gib(d.budget_bytes),
            str(d.layers),
        ]
        for d in plan.devices
    ]
    lines += [
        "",
        table(["device", "weights", "KV+state", "compute", "total", "budget", "layers"], rows),
    ]
    if plan.speed:
        s = plan.speed
        lines += [
            "",
            f"Predicted: {s.generation_tps:.1f} tokens/s generation "
            f"({s.generation_tps_at_depth:.1f} at {s.depth_tokens} tokens of context), "
            f"~{s.prompt_tps:.0f} tokens/s prompt processing (rough)",
        ]
    for t in plan.tradeoffs:
        lines.append(f"Trade-off: {t}")
    for n in plan.notes:
        lines.append(f"Note:      {n}")
    for variant, text in mlx.items():
        lines.append(f"MLX {variant}: {text}")
    return "\n".join(lines)

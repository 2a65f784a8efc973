"""``roost calibrate``: measure this machine's decode speed and store what it implies."""

from __future__ import annotations

import argparse

from app.catalog.catalog import load_catalog
from app.catalog.resolve import resolve_model
from app.core.errors import ModelFileError
from app.core.paths import default_paths
from app.core.settings import load_settings, save_settings
from app.hardware.detect import detect_hardware
from app.planner.advise import advise
from app.runtime.calibrate import derive_efficiency, run_llama_bench
from app.runtime.engine_install import find_llama_server


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("calibrate", help="measure decode speed, store effective bandwidth")
    p.add_argument("model", nargs="?", default="gemma-3-270m", help="an installed model")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    settings = load_settings(paths.settings_file)
    hw = detect_hardware()
    resolved = resolve_model(args.model, load_catalog(), paths.models_dir)
    if resolved.path is None:
        raise ModelFileError(f"{args.model} is not on disk.", hint=f"`roost pull {args.model}`")
    plan = advise(resolved.spec, hw)
    bench = find_llama_server(settings.llama_server_path, paths.engine_cache_dir).with_name(
        "llama-bench"
    )
    print(f"Measuring {resolved.spec.id} with -ngl {plan.gpu_layers} ...")
    tps = run_llama_bench(bench, resolved.path, plan.gpu_layers, plan.threads)
    result = derive_efficiency(resolved.spec, hw, tps)
    if result.device_kind == "cpu":
        settings.cpu_bandwidth_efficiency = result.efficiency
    else:
        settings.gpu_bandwidth_efficiency = result.efficiency
    save_settings(settings, paths.settings_file)
    print(
        f"{result.generation_tps:.1f} tokens/s x {result.bytes_per_token / 2**20:.0f} MiB per "
        f"token = {result.effective_gbps:.1f} GB/s effective of {result.peak_gbps:.0f} GB/s peak "
        f"({result.device_kind}): efficiency {result.efficiency:.2f} saved to "
        f"{paths.settings_file}"
    )
    return 0

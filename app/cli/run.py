"""``roost run [MODEL]``: plan, install the engine if needed, launch, answer, serve.

With no model: the best catalog model that is on disk and fits, else the embedded default.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

import httpx

from app.catalog.catalog import Catalog, load_catalog
from app.catalog.resolve import ResolvedModel, resolve_entry, resolve_model, variant_path
from app.cli._progress import BuildBar
from app.cli.pull import pull_variant
from app.core.errors import EngineError, ModelFileError
from app.core.paths import RoostPaths, default_paths
from app.core.settings import load_settings
from app.hardware.detect import detect_hardware
from app.hardware.profile import HardwareProfile
from app.planner.advise import advise, rank_key
from app.planner.types import PlanGoal
from app.runtime.engine_install import choose_backend, find_llama_server, install_llama_cpp
from app.runtime.service import build_supervisor
from app.runtime.supervisor import RunningModel
from engines.base import LoadState
from engines.errors import EngineFailure, EngineNotInstalled
from engines.llamacpp.driver import LlamaCppDriver


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="start a model and serve it on a local endpoint")
    p.add_argument("model", nargs="?", help="catalog id[:variant], alias or .gguf path")
    p.add_argument("--yes", "-y", action="store_true", help="install/download without asking")
    p.add_argument("--ctx", type=int, help="pin the context size (tokens)")
    p.add_argument("--parallel", type=int, default=1, help="parallel slots")
    p.add_argument("--prompt", help="send this prompt once the model is ready, print the answer")
    p.add_argument("--once", action="store_true", help="exit after --prompt instead of serving")
    p.set_defaults(run=run)


def pick_default(catalog: Catalog, paths: RoostPaths, hw: HardwareProfile) -> ResolvedModel:
    """Best catalog model on disk that fits, else the embedded default."""
    candidates = []
    for entry in catalog.models:
        if entry.embedded:
            continue
        for variant in entry.variants:
            if variant.format == "gguf" and variant_path(paths.models_dir, entry, variant):
                resolved = resolve_entry(entry, variant, paths.models_dir)
                plan = advise(resolved.spec, hw)
                score = entry.best_score()
                if plan.fits:
                    candidates.append((rank_key(plan, score.score if score else None), resolved))
    if candidates:
        return min(candidates, key=lambda c: c[0])[1]
    embedded = catalog.embedded_model
    return resolve_entry(embedded, embedded.variant(), paths.models_dir)


def _ask(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def ensure_engine(paths: RoostPaths, hw: HardwareProfile, yes: bool) -> LlamaCppDriver:
    settings = load_settings(paths.settings_file)
    try:
        return LlamaCppDriver(find_llama_server(settings.llama_server_path, paths.engine_cache_dir))
    except EngineNotInstalled:
        backend = choose_backend(hw)
        if not _ask(f"llama.cpp is not installed. Build it now ({backend}, ~7 min)?", yes):
            raise EngineError(
                "llama.cpp is not installed.", hint="Run `roost engines install llama.cpp`."
            ) from None
        print(f"Building llama.cpp ({backend})...", file=sys.stderr)
        try:
            built = install_llama_cpp(paths.engine_cache_dir, backend, BuildBar(sys.stderr))
        except EngineFailure as exc:
            raise EngineError(exc.message, hint=exc.hint) from exc
        return LlamaCppDriver(built.server)


def _print_progress(state: LoadState) -> None:
    sys.stderr.write(f"\r  loading model: {state.progress * 100:3.0f}% ({state.detail})   ")
    sys.stderr.flush()


def ask_model(base_url: str, alias: str, prompt: str, out: object = sys.stdout) -> str:
    """Stream one chat answer from the engine and print it as it arrives."""
    body = {
        "model": alias,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": 128,
    }
    text = []
    with (
        httpx.Client(timeout=120) as client,
        client.stream("POST", f"{base_url}/v1/chat/completions", json=body) as response,
    ):
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            text.append(delta)
            print(delta, end="", flush=True, file=out)  # type: ignore[call-overload]
    print(file=out)  # type: ignore[call-overload]
    return "".join(text)


def _summary(running: RunningModel) -> str:
    plan = running.plan
    where = (
        "all layers on the GPU"
        if plan.verdict == "full_gpu"
        else f"{plan.gpu_layers}/{plan.n_layers} layers on GPU"
        if plan.verdict == "hybrid"
        else "CPU only"
    )
    speed = f", ~{plan.speed.generation_tps:.0f} tokens/s predicted" if plan.speed else ""
    return f"{running.model_id}: {where}, context {plan.context}, KV {plan.kv_type}{speed}"


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    hw = detect_hardware()
    catalog = load_catalog()
    if args.model:
        resolved = resolve_model(args.model, catalog, paths.models_dir)
    else:
        resolved = pick_default(catalog, paths, hw)
    if resolved.path is None and resolved.entry is not None and resolved.variant is not None:
        if not _ask(f"{resolved.spec.id} is not on disk. Download it now?", args.yes):
            raise ModelFileError(
                f"{resolved.spec.id} is not on disk.",
                hint=f"Download it: `roost pull {args.model}`.",
            )
        pull_variant(resolved.entry, resolved.variant, paths.models_dir)
        resolved = resolve_entry(resolved.entry, resolved.variant, paths.models_dir)
    if resolved.path is None:
        raise ModelFileError(f"{resolved.spec.id} is not on disk.")
    driver = ensure_engine(paths, hw, args.yes)
    settings = load_settings(paths.settings_file)
    supervisor = build_supervisor(
        paths, settings, hw, driver, on_event=lambda m: print(m, file=sys.stderr)
    )
    goal = PlanGoal(
        context=args.ctx,
        parallel=args.parallel,
        target_context=resolved.entry.recommended_context if resolved.entry else None,
    )
    started = time.monotonic()
    try:
        running = supervisor.start(resolved, goal, on_progress=_print_progress)
        print(file=sys.stderr)
        print(f"Ready in {time.monotonic() - started:.1f} s — {_summary(running)}")
        for change in running.changes:
            print(f"  adjusted after out-of-memory: {change}")
        print(f"Endpoint: {running.base_url}/v1  (model name: {running.model_id})")
        if args.prompt:
            print(f"\n> {args.prompt}")
            ask_model(running.base_url, running.model_id, args.prompt)
            if args.once:
                return 0
        print("Serving; press Ctrl-C to stop.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        while not stop.wait(1.0):
            supervisor.ensure_running(running.model_id)
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop_all()
        print("Stopped.", file=sys.stderr)
    return 0

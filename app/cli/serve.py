"""``roost serve``: the local OpenAI/Anthropic-compatible endpoint, models loaded on demand."""

from __future__ import annotations

import argparse
import sys
import threading

from app.catalog.catalog import load_catalog
from app.cli.run import ensure_engine
from app.core.errors import SettingsError
from app.core.paths import default_paths
from app.core.settings import RoostSettings, load_settings
from app.gateway.app import create_app
from app.gateway.auth import ApiKeyStore
from app.gateway.records import RequestLog
from app.gateway.server import LOOPBACK, GatewayServer
from app.gateway.snippets import tool_snippets
from app.gateway.state import ExportConfig, GatewayState
from app.hardware.detect import detect_hardware
from app.runtime.service import build_pool, model_listing


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="serve the local endpoint (models load on demand)")
    p.add_argument("--export", action="store_true", help="listen beyond loopback (needs the key)")
    p.add_argument("--host", help="interface to bind when exported (default from settings)")
    p.add_argument("--port", type=int, help="port (default from settings)")
    p.add_argument("--yes", "-y", action="store_true", help="build llama.cpp without asking")
    p.set_defaults(run=run)


def export_config(settings: RoostSettings, exported: bool, keys: ApiKeyStore) -> ExportConfig:
    return ExportConfig(
        exported=exported,
        api_key=keys.get() if exported else None,
        cors_origins=list(settings.cors_origins),
    )


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    settings = load_settings(paths.settings_file)
    exported = args.export or settings.export_enabled
    host = (args.host or settings.export_host) if exported else LOOPBACK
    if args.host and not exported:
        raise SettingsError(
            f"Binding {args.host} exposes the endpoint.",
            hint="Add --export (it needs the API key).",
        )
    port = args.port or settings.gateway_port
    hw = detect_hardware()
    catalog = load_catalog()
    driver = ensure_engine(paths, hw, args.yes)
    pool = build_pool(paths, settings, hw, driver, catalog, lambda m: print(m, file=sys.stderr))
    keys = ApiKeyStore(paths.config_dir / "api_key")
    state = GatewayState(
        pool=pool,
        list_models=model_listing(catalog, paths.models_dir),
        log=RequestLog(paths.log_dir / "requests.jsonl"),
        export=export_config(settings, exported, keys),
        slots=settings.gateway_slots,
        queue_limit=settings.gateway_queue,
    )
    server = GatewayServer(create_app(state), host, port)
    stop = threading.Event()

    def reap() -> None:
        while not stop.wait(30):
            for model_id in pool.reap_idle():
                print(f"unloaded {model_id} (idle)", file=sys.stderr)

    threading.Thread(target=reap, daemon=True).start()
    model = catalog.embedded_model.id
    where = f"EXPORTED on {host}" if exported else "loopback only"
    print(f"Roost endpoint: {server.url}/v1  ({where})")
    if exported:
        print(f"API key: {state.export.api_key}  (file {keys.path}, user-only)")
    print(f"Models load on first request, e.g. model={model}. Press Ctrl-C to stop.\n")
    for tool, snippet in tool_snippets(server.url, model, state.export.api_key).items():
        print(f"# {tool}\n{snippet}\n")
    try:
        server.run()
    finally:
        stop.set()
        pool.shutdown()
    return 0

"""``roost endpoint``: the export toggle, the API key and configuration for external tools."""

from __future__ import annotations

import argparse

from app.core.paths import default_paths
from app.core.settings import load_settings, save_settings
from app.gateway.auth import ApiKeyStore
from app.gateway.server import LOOPBACK
from app.gateway.snippets import tool_snippets


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("endpoint", help="export toggle, API key, snippets for external tools")
    esub = p.add_subparsers(dest="endpoint_command", required=True)
    exp = esub.add_parser("export", help="expose the endpoint beyond loopback (with a key)")
    exp.add_argument("state", choices=["on", "off", "status"])
    exp.add_argument("--host", help="interface to bind when exported (default 0.0.0.0)")
    esub.add_parser("rotate-key", help="replace the API key (old clients stop working)")
    cfg = esub.add_parser("config", help="print configuration for external tools")
    cfg.add_argument("--model", default="gemma-3-270m")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    settings = load_settings(paths.settings_file)
    keys = ApiKeyStore(paths.config_dir / "api_key")
    if args.endpoint_command == "rotate-key":
        keys.rotate()
        print(f"New API key written to {keys.path} (user-only). Restart `roost serve`.")
        return 0
    exported = settings.export_enabled
    host = settings.export_host if exported else LOOPBACK
    base = f"http://{LOOPBACK if host == '0.0.0.0' else host}:{settings.gateway_port}"
    if args.endpoint_command == "config":
        for tool, snippet in tool_snippets(
            base, args.model, keys.get() if exported else None
        ).items():
            print(f"# {tool}\n{snippet}\n")
        return 0
    if args.state in ("on", "off"):
        settings.export_enabled = args.state == "on"
        if args.host:
            settings.export_host = args.host
        save_settings(settings, paths.settings_file)
        if settings.export_enabled:
            keys.get()
    exported = settings.export_enabled
    print(f"export: {'on' if exported else 'off'}")
    print(f"listens on: {settings.export_host if exported else LOOPBACK}:{settings.gateway_port}")
    if exported:
        print(f"API key: {keys.get()}  (file {keys.path}, user-only)")
    print(f"CORS origins: {', '.join(settings.cors_origins) or 'none (CORS off)'}")
    if args.state != "status":
        print("Takes effect when `roost serve` starts.")
    return 0

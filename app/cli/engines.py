"""``roost engines``: list engines, and ``roost engines install llama.cpp|mlx`` (one click)."""

from __future__ import annotations

import argparse
import sys

from app.cli._progress import BuildBar
from app.core.errors import EngineError
from app.core.paths import default_paths
from app.core.settings import load_settings
from app.hardware.detect import detect_hardware
from app.runtime.engine_install import (
    choose_backend,
    find_llama_server,
    install_llama_cpp,
    managed_builds,
)
from engines.errors import EngineFailure
from engines.llamacpp.build import BACKENDS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("engines", help="list or install inference engines")
    esub = p.add_subparsers(dest="engines_command")
    esub.add_parser("list", help="installed and available engines (default)")
    inst = esub.add_parser("install", help="install an engine (llama.cpp is built from source)")
    inst.add_argument("engine", choices=["llama.cpp", "mlx"])
    inst.add_argument("--backend", choices=BACKENDS, help="llama.cpp backend (default: detected)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = default_paths()
    if getattr(args, "engines_command", None) == "install":
        if args.engine == "mlx":
            from app.cli.engines_mlx import install_mlx

            code: int = install_mlx(paths)
            return code
        backend = args.backend or choose_backend(detect_hardware())
        print(f"Installing llama.cpp ({backend} backend); this takes several minutes...")
        try:
            built = install_llama_cpp(paths.engine_cache_dir, backend, BuildBar(sys.stderr))
        except EngineFailure as exc:
            raise EngineError(exc.message, hint=exc.hint) from exc
        print(f"llama.cpp ready: {built.server}")
        return 0
    settings = load_settings(paths.settings_file)
    print("llama.cpp:")
    try:
        active = find_llama_server(settings.llama_server_path, paths.engine_cache_dir)
        print(f"  in use:   {active}")
    except EngineFailure as exc:
        print(f"  not installed — {exc.hint}")
    for build in managed_builds(paths.engine_cache_dir):
        print(
            f"  managed:  {build.backend:7s} llama-cpp-python {build.version} sdist  {build.server}"
        )
    print(f"  backend for this machine: {choose_backend(detect_hardware())}")
    return 0

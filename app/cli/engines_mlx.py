"""The MLX engine from the CLI: `roost engines install mlx` and `roost convert`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.catalog.catalog import load_catalog
from app.catalog.resolve import resolve_model
from app.core.errors import EngineError, ModelFileError
from app.core.paths import RoostPaths, default_paths
from engines.errors import EngineFailure
from engines.mlx.convert import convert_gguf_to_mlx
from engines.mlx.install import InstallProgress, install_mlx_env, locate_mlx_python


def mlx_env_dir(paths: RoostPaths) -> Path:
    return paths.engine_cache_dir / "mlx-env"


def _show(p: InstallProgress) -> None:
    sys.stderr.write(f"\r  {p.stage:8s} {p.percent:5.1f}%")
    sys.stderr.flush()


def install_mlx(paths: RoostPaths) -> int:
    """Install mlx + mlx-lm into Roost's MLX engine environment (idempotent)."""
    print("Installing the MLX engine (mlx, mlx-lm) into its own environment...")
    try:
        python = install_mlx_env(mlx_env_dir(paths), progress=_show)
    except EngineFailure as exc:
        raise EngineError(exc.message, hint=exc.hint) from exc
    print(f"\nMLX ready: {python}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("convert", help="convert a GGUF model to MLX (gemma3 for now)")
    p.add_argument("model", help="catalog id, alias or .gguf path")
    p.add_argument("--bits", type=int, choices=[16, 8, 4], default=16)
    p.set_defaults(run=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    paths = default_paths()
    resolved = resolve_model(args.model, load_catalog(), paths.models_dir)
    if resolved.path is None:
        raise ModelFileError(f"{resolved.spec.id} is not on disk.", hint="`roost pull` it first.")
    python = locate_mlx_python(mlx_env_dir(paths))
    if python is None:
        raise EngineError("The MLX engine is not installed.", hint="`roost engines install mlx`")
    out = paths.models_dir / resolved.spec.id / f"mlx-from-gguf-{args.bits}bit"
    print(f"Converting {resolved.path} → {out} ...")
    try:
        convert_gguf_to_mlx(python, resolved.path, out, bits=args.bits)
    except EngineFailure as exc:
        raise EngineError(exc.message, hint=exc.hint) from exc
    print(f"Done: {out}")
    return 0

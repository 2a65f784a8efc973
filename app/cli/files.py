"""``roost rm`` and ``roost import``: remove downloaded models, register local files."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.catalog.catalog import load_catalog
from app.catalog.inspect import inspect_gguf
from app.cli._format import gib
from app.core.paths import default_paths
from app.downloads import default_registry_file, import_model, remove_import, remove_model


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rm = sub.add_parser("rm", help="delete a downloaded model variant (or forget an import)")
    rm.add_argument("model", help="catalog id[:variant], or the name/path of an imported model")
    rm.set_defaults(run=run_rm)
    imp = sub.add_parser("import", help="register a local GGUF file or MLX directory")
    imp.add_argument("path", type=Path)
    imp.add_argument("--name", help="name to use for it (default: from the file)")
    imp.set_defaults(run=run_import)


def run_rm(args: argparse.Namespace) -> int:
    paths = default_paths()
    if remove_import(args.model, default_registry_file(paths)):
        print(f"Forgot the import {args.model} (the file itself is left alone).")
        return 0
    entry = load_catalog().get(args.model)
    variant = entry.variant(args.model.split(":", 1)[1] if ":" in args.model else None)
    freed = remove_model(paths.models_dir, entry.id, variant.id)
    print(
        f"Removed {entry.id}:{variant.id}, freed {gib(freed)}." if freed else "Nothing to remove."
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    paths = default_paths()
    model = import_model(
        args.path.expanduser().resolve(), default_registry_file(paths), name=args.name
    )
    print(f"Imported {model.name} ({model.format}, {gib(model.size_bytes)}) from {model.path}")
    if model.format == "gguf":
        spec = inspect_gguf(model.path)
        print(
            f"  {spec.architecture}, {spec.n_layers} layers, {spec.quantization}; "
            f"`roost advise {model.path}` for a plan"
        )
    return 0

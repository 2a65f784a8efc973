"""``roost models``: the verified catalog and what is on disk."""

from __future__ import annotations

import argparse
import json

from app.catalog.catalog import load_catalog
from app.catalog.resolve import variant_path
from app.cli._format import gib, table
from app.core.paths import default_paths
from app.downloads import default_registry_file, discover_models


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="list catalog models and which are on disk")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    models_dir = default_paths().models_dir
    rows, data = [], []
    for m in catalog.models:
        for v in m.variants:
            path = variant_path(models_dir, m, v)
            score = m.best_score()
            on_disk = "embedded" if m.embedded else ("yes" if path else "no")
            rows.append(
                [
                    f"{m.id}:{v.id}",
                    f"{m.params_total_b:g}B" if m.params_total_b else "unknown",
                    v.quant,
                    gib(v.total_bytes),
                    f"{score.score:.1f}%" if score else "unknown",
                    on_disk,
                ]
            )
            data.append(
                {
                    "model": m.id,
                    "variant": v.id,
                    "repo": v.repo,
                    "on_disk": bool(path),
                    "path": str(path) if path else None,
                    "size_bytes": v.total_bytes,
                }
            )
    local = discover_models(
        models_dir=models_dir, registry_file=default_registry_file(default_paths())
    )
    if args.json:
        print(json.dumps({"catalog": data, "local": [
            {"name": m.name, "path": str(m.path), "format": m.format, "source": m.source,
             "size_bytes": m.size_bytes} for m in local]}, indent=2))  # fmt: skip
        return 0
    print(table(["model:variant", "params", "quant", "size", "TB2", "on disk"], rows))
    print(f"\nModels directory: {models_dir}")
    if local:
        print("\nAlso on this machine (use the path with `roost advise` / `roost run`):")
        found = [[m.name, m.format, m.source, gib(m.size_bytes), str(m.path)] for m in local]
        print(table(["name", "format", "found in", "size", "path"], found))
    return 0

"""``roost presets``: machines to advise on without having them (`--hardware NAME`)."""

from __future__ import annotations

import argparse

from app.hardware.presets import list_presets


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("presets", help="list hardware presets for --hardware")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    rows = list_presets()
    width = max(len(name) for name, _ in rows)
    for name, description in rows:
        print(f"{name.ljust(width)}  {description}")
    return 0

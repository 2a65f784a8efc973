"""``roost doctor``: what this machine has, as a report or as a JSON profile."""

from __future__ import annotations

import argparse

from app.hardware.detect import resolve_hardware
from app.hardware.report import format_report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="detect hardware (CPU, RAM, GPUs, Apple Silicon)")
    p.add_argument("--json", action="store_true", help="print the HardwareProfile as JSON")
    p.add_argument("--hardware", help="a saved profile file or a preset name instead of detecting")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    profile = resolve_hardware(args.hardware)
    print(profile.to_json() if args.json else format_report(profile))
    return 0

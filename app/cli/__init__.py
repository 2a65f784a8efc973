"""The ``roost`` command: every GUI action has a twin here.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args)``.
Errors derived from ``RoostError`` are printed as text for people (message + hint), exit 1.
"""

from __future__ import annotations

import argparse
import sys

from app.cli import (
    advise,
    calibrate,
    doctor,
    endpoint,
    engines,
    files,
    logs,
    models,
    presets,
    pull,
    run,
    serve,
)
from app.core.errors import RoostError
from app.core.logs import configure_logging
from app.core.paths import default_paths

_COMMANDS = (
    doctor,
    presets,
    models,
    advise,
    pull,
    files,
    engines,
    run,
    serve,
    endpoint,
    logs,
    calibrate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roost", description="Run open-weight coding models on your own machine."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(default_paths().log_dir, verbose=args.verbose)
    try:
        code: int = args.run(args)
    except RoostError as err:
        print(f"roost: {err.user_text()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `roost doctor --json | head`
        sys.stderr.close()
        return 0
    return code

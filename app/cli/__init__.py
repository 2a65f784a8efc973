"""The ``roost`` command: every GUI action has a twin here.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and ``run(args)``.
Only the chosen command's module is imported, so `roost doctor` does not pay for the web
stack. Errors derived from ``RoostError`` are printed as text for people (message + hint).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from app.core.errors import RoostError
from app.core.logs import configure_logging
from app.core.paths import default_paths

# command -> (module, one-line help for the overview)
COMMANDS: dict[str, tuple[str, str]] = {
    "doctor": ("app.cli.doctor", "detect hardware (CPU, RAM, GPUs, Apple Silicon)"),
    "presets": ("app.cli.presets", "list hardware presets for --hardware"),
    "models": ("app.cli.models", "list catalog models and which are on disk"),
    "advise": ("app.cli.advise", "plan a model (or every catalog model) on this machine"),
    "pull": ("app.cli.pull", "download a catalog model (resumes, verifies sha256)"),
    "rm": ("app.cli.files", "delete a downloaded model variant (or forget an import)"),
    "import": ("app.cli.files", "register a local GGUF file or MLX directory"),
    "engines": ("app.cli.engines", "list or install inference engines"),
    "run": ("app.cli.run", "start a model and serve it on a local endpoint"),
    "serve": ("app.cli.serve", "serve the local endpoint (models load on demand)"),
    "endpoint": ("app.cli.endpoint", "export toggle, API key, snippets for external tools"),
    "logs": ("app.cli.logs", "recent requests served by the endpoint"),
    "convert": ("app.cli.engines_mlx", "convert a GGUF model to MLX (gemma3 for now)"),
    "calibrate": ("app.cli.calibrate", "measure decode speed, store effective bandwidth"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, just that command gets its real arguments."""
    parser = argparse.ArgumentParser(
        prog="roost", description="Run open-weight coding models on your own machine."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    loaded: set[str] = set()
    for name, (module_name, help_text) in COMMANDS.items():
        if only is not None and name != only and COMMANDS[only][0] != module_name:
            sub.add_parser(name, help=help_text)
        elif module_name not in loaded:
            importlib.import_module(module_name).add_parser(sub)
            loaded.add(module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)
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

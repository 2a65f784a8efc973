#!/usr/bin/env python3
"""Set-up and run Roost from a checkout, idempotently.

    python3 packaging/bootstrap.py run    # install into .venv, then run the main job
    python3 packaging/bootstrap.py test   # install with dev tools, then ruff, mypy, pytest

Creates ``.venv`` next to ``pyproject.toml`` on first use and reinstalls only when
``pyproject.toml`` changed (a stamp file holds its hash). Extra arguments after ``test``
go to pytest; after ``run`` they replace the main job's ``roost`` arguments.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def _run(*cmd: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may run on an older Python
        sys.exit(f"Roost needs Python >= 3.11; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".roost-installed{'-' + extras if extras else ''}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    spec = f".[{extras}]" if extras else "."
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", spec)
    stamp.write_text(digest)


def main_job(args: list[str]) -> int:
    ensure_venv("")
    roost = BIN / "roost"
    if args:
        return _run(roost, *args, check=False)
    steps = (
        ["doctor"],
        ["models"],
        ["advise"],
        ["advise", "gemma-3-270m"],
        ["run", "--yes", "--once", "--prompt", "In one sentence, what is a unit test?"],
    )
    for step in steps:
        code = _run(roost, *step, check=False)
        if code:
            return code
    return 0


def tests(args: list[str]) -> int:
    ensure_venv("dev")
    env_ok = _run(BIN / "ruff", "check", ".", check=False)
    env_ok |= _run(BIN / "ruff", "format", "--check", ".", check=False)
    env_ok |= _run(BIN / "mypy", check=False)
    code = _run(BIN / "python", "-m", "pytest", *args, check=False)
    return code or env_ok


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    action, rest = sys.argv[1], sys.argv[2:]
    return main_job(rest) if action == "run" else tests(rest)


if __name__ == "__main__":
    sys.exit(main())

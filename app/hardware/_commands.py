"""Running the small OS tools the probes read (sysctl, dmidecode, system_profiler), softly."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

# A probe must never hang `roost doctor`: each tool gets a few seconds.
COMMAND_TIMEOUT_S = 10.0


def run_command(args: list[str], timeout_s: float = COMMAND_TIMEOUT_S) -> str | None:
    """Stdout of ``args`` when it exits 0, else None (missing tool, error, timeout)."""
    if shutil.which(args[0]) is None:
        return None
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("%s failed: %s", args[0], exc)
        return None
    if done.returncode != 0:
        log.debug("%s exited %d: %s", args[0], done.returncode, done.stderr.strip()[:200])
        return None
    return done.stdout


def read_sysctl(name: str) -> str | None:
    """``sysctl -n NAME`` as a stripped string, or None where the name does not exist."""
    out = run_command(["sysctl", "-n", name])
    if out is None:
        return None
    out = out.strip()
    return out or None


def read_text(path: Path) -> str | None:
    """A small file's text, or None when it cannot be read."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None

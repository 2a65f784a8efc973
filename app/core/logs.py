"""Logging set-up: diagnostics go to a rotating file the GUI can show, not to stdout."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


def configure_logging(log_dir: Path, verbose: bool = False) -> Path:
    """Send Roost's logs to ``log_dir/roost.log``; with ``verbose`` also to stderr."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "roost.log"
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if verbose:
        root.addHandler(logging.StreamHandler())
    return log_file

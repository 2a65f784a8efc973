"""Terminal progress bars for builds and downloads (one line, redrawn in place)."""

from __future__ import annotations

import time
from typing import TextIO

from engines.llamacpp.build import BuildProgress


class BuildBar:
    """Callable progress sink for engine builds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()
        self.stage = ""

    def __call__(self, p: BuildProgress) -> None:
        elapsed = time.monotonic() - self.start
        filled = int(p.percent / 5)
        bar = "#" * filled + "." * (20 - filled)
        end = "\n" if p.stage in ("done", "cached") else ""
        self.out.write(f"\r  {p.stage:9s} [{bar}] {p.percent:5.1f}%  {elapsed:5.0f}s{end}")
        self.out.flush()

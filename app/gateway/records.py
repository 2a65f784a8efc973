"""Per-request records: a bounded in-memory log the GUI shows, mirrored to a JSONL file."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

MAX_RECORDS = 1000
MAX_FILE_BYTES = 5_000_000


@dataclass
class RequestRecord:
    """One request: tokens, cache reuse, latency and outcome (times in seconds)."""

    endpoint: str
    model: str
    started: float = field(default_factory=time.time)
    status: int = 0
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    ttft_s: float | None = None
    duration_s: float = 0.0
    tokens_per_s: float | None = None
    error: str = ""


class RequestLog:
    """Thread-safe bounded log of recent requests."""

    def __init__(self, file: Path | None = None, maxlen: int = MAX_RECORDS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.file = file

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if self.file is not None:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                if self.file.exists() and self.file.stat().st_size > MAX_FILE_BYTES:
                    self.file.replace(self.file.with_suffix(".old.jsonl"))
                with self.file.open("a") as fh:
                    fh.write(json.dumps(asdict(record)) + "\n")

    def recent(self, n: int = 100) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)[-n:]


def read_log_file(file: Path, n: int = 50) -> list[dict[str, object]]:
    """Last ``n`` records from a JSONL log (for `roost logs` when no gateway runs)."""
    if not file.exists():
        return []
    out: list[dict[str, object]] = []
    for line in file.read_text().splitlines()[-n:]:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out

"""The engine driver interface (after Ollama's llm/server.go: load, ping, wait, close).

Drivers make no decisions: the planner decides, a ``LaunchSpec`` carries the decision, the
driver turns it into a command line and knows how to tell ready, loading and broken apart.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from engines.errors import EngineStartFailed


@dataclass(frozen=True)
class LaunchSpec:
    """Everything needed to start one model server. Sizes in tokens."""

    model_path: Path
    model_alias: str
    port: int
    host: str = "127.0.0.1"
    context: int = 8192
    gpu_layers: int | None = None
    n_cpu_moe: int = 0
    tensor_split: tuple[float, ...] = ()
    kv_type: str = "f16"
    flash_attention: bool | None = None
    threads: int | None = None
    parallel: int = 1
    chat_template_file: Path | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadState:
    """What a health probe saw: ``ready``, or loading with a 0-1 ``progress`` estimate."""

    ready: bool
    progress: float = 0.0
    detail: str = ""


class EngineDriver(Protocol):
    """One kind of engine (llama.cpp, MLX)."""

    @property
    def name(self) -> str:
        """Short engine name used in logs and file names."""
        ...

    def command(self, spec: LaunchSpec) -> list[str]:
        """The argv that serves ``spec``."""
        ...

    def health_url(self, spec: LaunchSpec) -> str:
        """URL answering 200 once the model is loaded."""
        ...

    def load_progress(self, log_tail: list[str]) -> float:
        """0-1 estimate of load progress from the process output so far."""
        ...

    def classify_failure(self, log_tail: str, exit_code: int | None) -> EngineStartFailed:
        """Typed error (out of memory, bad file, port in use...) for a failed start."""
        ...


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (bind to port 0 and ask the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port

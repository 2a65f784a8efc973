"""The llama.cpp driver: ``llama-server`` command line, readiness, and failure classes."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from engines.base import LaunchSpec
from engines.errors import (
    CorruptModelFile,
    EngineNotInstalled,
    EngineStartFailed,
    OutOfMemory,
    PortInUse,
    UnsupportedModel,
)

# llama-server writes free text only; these are its own messages (tools/server, src/).
_FAILURES: tuple[tuple[type[EngineStartFailed], re.Pattern[str], str, str], ...] = (
    (
        PortInUse,
        re.compile(r"couldn't bind HTTP server socket|Address already in use", re.I),
        "The engine's port is already in use.",
        "Roost picks another free port on retry.",
    ),
    (
        CorruptModelFile,
        re.compile(
            r"not within the file bounds|invalid magic|failed to read (?:magic|key|tensor)"
            r"|corrupted or incomplete|GGUF file version \d+ is|tensor .* has invalid",
            re.I,
        ),
        "The model file is truncated, corrupt or not a GGUF file.",
        "Delete it and download it again (`roost rm` then `roost pull`).",
    ),
    (
        UnsupportedModel,
        re.compile(r"unknown model architecture|unsupported model architecture", re.I),
        "This llama.cpp build does not support the model's architecture.",
        "Update the engine (`roost engines install llama.cpp`) or choose another model.",
    ),
    (
        OutOfMemory,
        re.compile(
            r"out of memory|failed to allocate|cudaMalloc failed|unable to allocate"
            r"|alloc_buffer: failed|failed to create context|insufficient memory",
            re.I,
        ),
        "The engine ran out of memory while loading the model.",
        "Use a smaller context, fewer GPU layers or a smaller model.",
    ),
)


@dataclass(frozen=True)
class LlamaCppDriver:
    """Serves GGUF models with a ``llama-server`` binary."""

    server: Path
    name: str = "llama.cpp"

    def command(self, spec: LaunchSpec) -> list[str]:
        cmd = [
            str(self.server),
            "--model", str(spec.model_path),
            "--alias", spec.model_alias,
            "--host", spec.host,
            "--port", str(spec.port),
            "--ctx-size", str(spec.context),
            "--parallel", str(spec.parallel),
            "--kv-unified",  # slots share the cache: one conversation may use all of it
            "--jinja",
            "--metrics",
            "--no-webui",
            # The planner already placed layers: llama.cpp's own --fit must not move them.
            "--fit", "off",
        ]  # fmt: skip
        if spec.gpu_layers is not None:
            cmd += ["--n-gpu-layers", str(spec.gpu_layers)]
        if spec.n_cpu_moe:
            cmd += ["--n-cpu-moe", str(spec.n_cpu_moe)]
        if spec.tensor_split:
            cmd += ["--tensor-split", ",".join(f"{s:g}" for s in spec.tensor_split)]
        if spec.kv_type != "f16":
            cmd += ["--cache-type-k", spec.kv_type, "--cache-type-v", spec.kv_type]
        if spec.flash_attention is not None:
            cmd += ["--flash-attn", "on" if spec.flash_attention else "off"]
        if spec.threads:
            cmd += ["--threads", str(spec.threads)]
        if spec.chat_template_file:
            cmd += ["--chat-template-file", str(spec.chat_template_file)]
        return cmd + list(spec.extra_args)

    def health_url(self, spec: LaunchSpec) -> str:
        return f"http://{spec.host}:{spec.port}/health"

    def load_progress(self, log_tail: list[str]) -> float:
        """Rough load progress from llama-server's log phases."""
        text = "\n".join(log_tail[-60:])
        for marker, value in (
            ("model loaded", 1.0),
            ("sched_reserve", 0.9),
            ("llama_kv_cache", 0.8),
            ("llama_context", 0.7),
            ("load_tensors", 0.5),
            ("print_info", 0.3),
            ("loading model", 0.1),
        ):
            if marker in text:
                return value
        return 0.0

    def classify_failure(self, log_tail: str, exit_code: int | None) -> EngineStartFailed:
        for cls, pattern, message, hint in _FAILURES:
            if pattern.search(log_tail):
                return cls(message, hint=hint, log_tail=log_tail)
        return EngineStartFailed(
            f"llama-server exited (code {exit_code}) before the model was ready.",
            hint="See the engine log for details.",
            log_tail=log_tail,
        )


def locate_llama_server(configured: str | None, managed: list[Path]) -> Path:
    """The binary to use: configured path, then ``PATH``, then a Roost-managed build."""
    if configured:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        raise EngineNotInstalled(
            f"The configured llama-server {configured} does not exist.",
            hint="Fix `llama_server_path` in the settings or remove it.",
        )
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path)
    for candidate in managed:
        if candidate.is_file():
            return candidate
    raise EngineNotInstalled(
        "llama.cpp is not installed.",
        hint="Run `roost engines install llama.cpp` (builds it, ~7 minutes on 2 cores).",
    )

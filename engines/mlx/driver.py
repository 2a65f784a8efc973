"""The MLX driver: an ``mlx_lm`` server process, its readiness, and its failure classes.

The process is mlx-lm's own HTTP server started through ``serve.py`` (same flags as
``python -m mlx_lm server``), which loads the model before opening the port: ``/health``
answering 200 therefore means the model is loaded, and a model that cannot load makes the
process exit with its traceback and one summary line that ``classify_failure`` reads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from engines.base import LaunchSpec
from engines.errors import (
    CorruptModelFile,
    EngineStartFailed,
    OutOfMemory,
    PortInUse,
    UnsupportedModel,
)
from engines.mlx.serve import FAILED_MARK, LOADED_MARK, LOADING_MARK

SERVE_SCRIPT = Path(__file__).with_name("serve.py")

_REINSTALL = "Reinstall the MLX engine (`roost engines install mlx`)."
_REFETCH = "Delete the model folder and download or convert it again."

# mlx / mlx-lm / Python messages (mlx_lm/utils.py, mlx/nn/layers/base.py, mlx's loaders).
_FAILURES: tuple[tuple[type[EngineStartFailed], re.Pattern[str], str, str], ...] = (
    (
        EngineStartFailed,
        re.compile(r"No module named '?(?:mlx|mlx_lm|transformers)\b", re.I),
        "The MLX engine environment is incomplete.",
        _REINSTALL,
    ),
    (
        PortInUse,
        re.compile(r"Address already in use|\[Errno (?:98|48)\]", re.I),
        "The engine's port is already in use.",
        "Roost picks another free port on retry.",
    ),
    (
        OutOfMemory,
        re.compile(
            r"out of memory|Insufficient Memory|MemoryError|std::bad_alloc|Unable to allocate"
            r"|\[metal::malloc\]|greater than the maximum allowed buffer size",
            re.I,
        ),
        "The MLX engine ran out of memory while loading the model.",
        "Choose a smaller model or a smaller quantization (4-bit), or close other apps.",
    ),
    (
        UnsupportedModel,
        re.compile(
            r"Model type \S+ not supported|custom module .* to build its architecture"
            r"|unsupported compressed-tensors format|Cannot infer the quantization mode"
            r"|Unsupported (?:modelopt )?quant",
            re.I,
        ),
        "This MLX (mlx-lm) version does not support the model's architecture.",
        "Update the MLX engine or choose another model.",
    ),
    (
        CorruptModelFile,
        re.compile(
            r"No safetensors found|config\.json|invalid data offsets|corrupt file"
            r"|\[load_safetensors\]|\[load\]|Missing \d+ parameters|parameters not in model"
            r"|Expected shape|HFValidationError|LocalEntryNotFoundError|RepositoryNotFound"
            r"|JSONDecodeError|HeaderTooLarge|tokenizer(?:_config)?\.json|Can't load tokenizer",
            re.I,
        ),
        "The MLX model folder is incomplete or damaged.",
        _REFETCH,
    ),
)


def check_model_dir(path: Path) -> None:
    """Raise ``CorruptModelFile`` unless ``path`` looks like an MLX model folder.

    A folder needs ``config.json`` (valid JSON with a ``model_type``) and at least one
    ``model*.safetensors`` file, which is what ``mlx_lm.load`` reads.
    """
    if not path.is_dir():
        raise CorruptModelFile(
            f"The MLX model folder {path} does not exist.",
            hint="MLX models are folders (config.json + safetensors); " + _REFETCH,
        )
    config = path / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptModelFile(
            f"The MLX model folder {path} has no readable config.json ({exc}).", hint=_REFETCH
        ) from exc
    if not isinstance(data, dict) or not data.get("model_type"):
        raise CorruptModelFile(f"{config} does not name a model_type.", hint=_REFETCH)
    if not any(path.glob("model*.safetensors")):
        raise CorruptModelFile(f"The MLX model folder {path} has no weights.", hint=_REFETCH)


def kv_bits(kv_type: str) -> int | None:
    """KV-cache bits for a llama.cpp-style cache type (``q8_0`` → 8); None for float types."""
    match = re.fullmatch(r"q(\d)(?:_\d)?", kv_type.lower())
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class MlxDriver:
    """Serves MLX model folders with ``mlx_lm`` from a Roost-managed engine environment."""

    python: Path
    name: str = "mlx"

    def command(self, spec: LaunchSpec) -> list[str]:
        """argv for ``spec``; raises ``CorruptModelFile`` for a folder that cannot load."""
        check_model_dir(spec.model_path)
        cmd = [
            str(self.python), str(SERVE_SCRIPT),
            "--model", str(spec.model_path),
            "--host", spec.host,
            "--port", str(spec.port),
            # mlx-lm's default answer length is 512 tokens; Roost's limit is the context.
            "--max-tokens", str(spec.context),
            "--log-level", "INFO",
        ]  # fmt: skip
        if spec.parallel > 1:
            cmd += ["--decode-concurrency", str(spec.parallel)]
            cmd += ["--prompt-concurrency", str(spec.parallel)]
        bits = kv_bits(spec.kv_type)
        if bits is not None:
            cmd += ["--kv-bits", str(bits)]
        if spec.chat_template_file:
            cmd += ["--chat-template-file", str(spec.chat_template_file)]
        return cmd + list(spec.extra_args)

    def health_url(self, spec: LaunchSpec) -> str:
        return f"http://{spec.host}:{spec.port}/health"

    def load_progress(self, log_tail: list[str]) -> float:
        """Rough progress: interpreter start 0, loading weights 0.2, loaded 0.9."""
        text = "\n".join(log_tail[-40:])
        for marker, value in (("Starting httpd", 1.0), (LOADED_MARK, 0.9), (LOADING_MARK, 0.2)):
            if marker in text:
                return value
        return 0.0

    def classify_failure(self, log_tail: str, exit_code: int | None) -> EngineStartFailed:
        summary = [line for line in log_tail.splitlines() if FAILED_MARK in line]
        # The launcher's summary line names the load error; read it before the whole tail.
        for text in ([summary[-1]] if summary else []) + [log_tail]:
            for cls, pattern, message, hint in _FAILURES:
                if pattern.search(text):
                    return cls(message, hint=hint, log_tail=log_tail)
        if exit_code == -9:
            return OutOfMemory(
                "The MLX engine was killed by the system while loading (usually out of memory).",
                hint="Choose a smaller model or a smaller quantization, or close other apps.",
                log_tail=log_tail,
            )
        return EngineStartFailed(
            f"The MLX engine exited (code {exit_code}) before the model was ready.",
            hint="See the engine log for details.",
            log_tail=log_tail,
        )

"""GGUF → MLX conversion from Roost's side: runs ``convert_gguf.py`` in the engine environment.

The converter imports mlx, so it runs as a subprocess of the MLX engine environment's Python.
It reports ``PROGRESS <stage> <0-1>`` lines and exits with a code that says what went wrong;
this module turns those into progress callbacks and typed errors.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from engines.errors import (
    CorruptModelFile,
    EngineBuildCancelled,
    EngineFailure,
    OutOfMemory,
    UnsupportedModel,
)

log = logging.getLogger(__name__)

CONVERT_SCRIPT = Path(__file__).with_name("convert_gguf.py")
MARKER = "roost_conversion.json"
EXIT_UNSUPPORTED = 3  # these two match convert_gguf.py
EXIT_CORRUPT = 4

ConvertProgress = Callable[[str, float], None]


class ConversionFailed(EngineFailure):
    """The GGUF → MLX converter failed for a reason other than the model file itself."""


def converted(out_dir: Path, bits: int) -> bool:
    """True when ``out_dir`` holds a finished conversion made with ``bits``."""
    try:
        data = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        isinstance(data, dict) and data.get("bits") == bits and (out_dir / "config.json").exists()
    )


def convert_gguf_to_mlx(
    env_python: Path,
    gguf: Path,
    out_dir: Path,
    *,
    bits: int = 16,
    chat_template_file: Path | None = None,
    progress: ConvertProgress | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Convert ``gguf`` into the MLX model folder ``out_dir``; returns ``out_dir``.

    ``bits`` 16 keeps the GGUF's weights exactly (dequantized to bfloat16: ~2 bytes per
    parameter); 8 or 4 re-quantize with MLX (smaller, but a second rounding on top of the
    GGUF's own). Takes ~30 s for a 270M model on 2 CPU cores. An ``out_dir`` already holding
    a conversion with the same ``bits`` returns at once. ``progress(stage, fraction 0-1)``.
    Raises ``UnsupportedModel`` (architecture the converter does not know),
    ``CorruptModelFile``, ``OutOfMemory``, ``EngineBuildCancelled`` or ``ConversionFailed``.
    """
    if converted(out_dir, bits):
        return out_dir
    report = progress or (lambda _stage, _fraction: None)
    cancel = cancel or threading.Event()
    cmd = [str(env_python), str(CONVERT_SCRIPT), "--gguf", str(gguf), "--out", str(out_dir)]
    cmd += ["--bits", str(bits)]
    if chat_template_file:
        cmd += ["--chat-template-file", str(chat_template_file)]
    log.info("converting %s to MLX: %s", gguf, " ".join(cmd))
    tail: collections.deque[str] = collections.deque(maxlen=60)
    error = ""
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    watcher = threading.Thread(target=_kill_on_cancel, args=(proc, cancel), daemon=True)
    watcher.start()
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        tail.append(line)
        if line.startswith("PROGRESS "):
            _, stage, fraction = [*line.split(), "", "0"][:3]
            with contextlib.suppress(ValueError):
                report(stage, float(fraction))
        elif line.startswith("ERROR "):
            error = line.removeprefix("ERROR ")
    code = proc.wait()
    text = "\n".join(tail)
    if cancel.is_set():
        raise EngineBuildCancelled("The GGUF to MLX conversion was cancelled.")
    if code == 0 and converted(out_dir, bits):
        return out_dir
    if code == EXIT_UNSUPPORTED:
        raise UnsupportedModel(
            f"This model cannot be converted to MLX: {error}",
            hint="Use the llama.cpp engine for it, or download an MLX build of the model.",
            log_tail=text,
        )
    if code == EXIT_CORRUPT:
        raise CorruptModelFile(
            f"The GGUF file cannot be read: {error}",
            hint="Delete it and download it again.",
            log_tail=text,
        )
    if code == -signal.SIGKILL or "MemoryError" in text or "Unable to allocate" in text:
        raise OutOfMemory(
            "The conversion ran out of memory.",
            hint="Converting needs about twice the model's bfloat16 size in free memory.",
            log_tail=text,
        )
    raise ConversionFailed(
        f"The GGUF to MLX conversion failed (exit {code}): {error or text[-300:]}",
        hint="See the log lines for details.",
        log_tail=text,
    )


def _kill_on_cancel(proc: subprocess.Popen[str], cancel: threading.Event) -> None:
    while proc.poll() is None:
        if cancel.wait(0.2):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            return

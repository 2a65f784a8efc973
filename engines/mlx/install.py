"""The Roost-managed MLX engine environment: a venv with pinned ``mlx`` and ``mlx-lm``.

Roost's own environment never imports mlx. The engine lives in its own virtual environment
(``<data_dir>/engines/mlx-env``), created with Roost's Python and filled by pip: on Apple
Silicon ``mlx`` (Metal), on Linux ``mlx[cpu]`` (or a CUDA build). ``gguf`` and a pinned
``transformers`` come along for the GGUF → MLX converter. A stamp file records what was
installed, so a second install with the same pins returns at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.errors import EngineBuildCancelled, EngineBuildFailed, EngineNotInstalled

log = logging.getLogger(__name__)

MLX_VERSION = "0.32.4"
MLX_LM_VERSION = "0.32.2"
# The converter uses transformers' GGUF tokenizer builders; pinned with mlx-lm's own range.
TRANSFORMERS_VERSION = "5.23.0"
GGUF_VERSION = "0.19.0"
BACKENDS = ("metal", "cpu", "cuda12", "cuda13")
STAMP = "roost-engine.json"
_CHECK = "import mlx.core, mlx_lm, gguf, transformers; print(mlx.core.__version__)"


@dataclass(frozen=True)
class InstallProgress:
    """One progress report: ``stage`` (venv, pip, verify, cached, done), 0-100, pip's line."""

    stage: str
    percent: float
    line: str = ""


ProgressFn = Callable[[InstallProgress], None]


def default_backend() -> str:
    """``metal`` on Apple Silicon, ``cpu`` on Linux; raises where MLX has no wheels."""
    system, machine = platform.system(), platform.machine().lower()
    if system == "Darwin" and machine == "arm64":
        return "metal"
    if system == "Linux" and machine in ("x86_64", "amd64", "aarch64", "arm64"):
        return "cpu"
    raise EngineNotInstalled(
        f"MLX does not run on {system} {machine}.",
        hint="MLX needs a Mac with Apple Silicon, or Linux; use the llama.cpp engine here.",
    )


def requirements(backend: str) -> list[str]:
    """The pinned pip requirements for ``backend`` (one of ``BACKENDS``)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown MLX backend {backend!r}; expected one of {BACKENDS}")
    mlx = f"mlx=={MLX_VERSION}" if backend == "metal" else f"mlx[{backend}]=={MLX_VERSION}"
    return [
        mlx,
        f"mlx-lm=={MLX_LM_VERSION}",
        f"transformers=={TRANSFORMERS_VERSION}",
        f"gguf=={GGUF_VERSION}",
    ]


def env_python(env_dir: Path) -> Path:
    """Where the interpreter of the environment at ``env_dir`` is (or will be)."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def read_stamp(env_dir: Path) -> dict[str, object] | None:
    """The stamp of a finished install, or None."""
    try:
        data = json.loads((env_dir / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def locate_mlx_python(env_dir: Path) -> Path | None:
    """The engine environment's Python if a finished install is there, else None."""
    python = env_python(env_dir)
    if read_stamp(env_dir) is not None and python.is_file():
        return python
    return None


class _Pip:
    """Runs install steps, streams output to a log and to progress, honours cancel."""

    def __init__(self, log_file: Path, progress: ProgressFn, cancel: threading.Event) -> None:
        self.log_file, self.progress, self.cancel = log_file, progress, cancel

    def run(self, cmd: list[str], stage: str, start: float, end: float) -> str:
        """Run ``cmd``; progress moves from ``start`` towards ``end`` percent; returns stdout."""
        self._check_cancel()
        percent, lines = start, []
        with self.log_file.open("a") as logf:
            logf.write(f"\n$ {' '.join(cmd)}\n")
            logf.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
                env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"},
            )
            watcher = threading.Thread(target=self._watch_cancel, args=(proc,), daemon=True)
            watcher.start()
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                logf.write(raw)
                lines.append(line)
                if line.startswith(("Collecting", "Downloading", "Installing", "Successfully")):
                    percent = min(end, percent + (end - percent) * 0.15)
                    self.progress(InstallProgress(stage, percent, line.strip()))
            code = proc.wait()
        self._check_cancel()
        if code != 0:
            raise EngineBuildFailed(
                f"The MLX engine {stage} step failed (exit {code}). Full log: {self.log_file}",
                hint="Check the internet connection (pip needs PyPI) and the free disk space.",
                log_tail="\n".join(lines[-30:]),
            )
        return "\n".join(lines)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise EngineBuildCancelled("The MLX engine install was cancelled.")

    def _watch_cancel(self, proc: subprocess.Popen[str]) -> None:
        while proc.poll() is None:
            if self.cancel.wait(0.2):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                return


def _python_runs(python: Path) -> bool:
    if not python.is_file():
        return False
    try:
        return subprocess.run([str(python), "-c", "pass"], timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def install_mlx_env(
    env_dir: Path,
    backend: str | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Create (or reuse) the MLX engine environment at ``env_dir``; returns its Python.

    Needs PyPI: the download is ~100-200 MB (mlx, mlx-lm, transformers, numpy) and takes
    one to a few minutes; an environment whose stamp matches the pins returns at once.
    Raises ``EngineNotInstalled`` (no MLX for this platform), ``EngineBuildFailed`` (pip
    failed; the log path is in the message) or ``EngineBuildCancelled``.
    """
    report = progress or (lambda _p: None)
    cancel = cancel or threading.Event()
    backend = backend or default_backend()
    wanted = requirements(backend)
    python = env_python(env_dir)
    stamp = read_stamp(env_dir)
    if stamp and stamp.get("requirements") == wanted and python.is_file():
        report(InstallProgress("cached", 100.0))
        return python
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    log_file = env_dir.with_name(env_dir.name + ".log")
    log_file.write_text(f"MLX engine install {wanted} started {time.ctime()}\n")
    pip = _Pip(log_file, report, cancel)
    (env_dir / STAMP).unlink(missing_ok=True)
    if not _python_runs(python):
        shutil.rmtree(env_dir, ignore_errors=True)
        report(InstallProgress("venv", 0.0, f"creating {env_dir}"))
        pip.run([sys.executable, "-m", "venv", str(env_dir)], "venv", 0.0, 5.0)
    report(InstallProgress("pip", 5.0, "installing " + " ".join(wanted)))
    pip.run(
        [str(python), "-m", "pip", "install", "--no-input", "--progress-bar", "off", *wanted],
        "pip",
        5.0,
        90.0,
    )
    report(InstallProgress("verify", 90.0))
    version = pip.run([str(python), "-c", _CHECK], "verify", 90.0, 99.0).strip().splitlines()
    stamp_data = {
        "requirements": wanted,
        "backend": backend,
        "mlx_version": version[-1] if version else "?",
        "python": sys.version.split()[0],
        "installed_at": time.time(),
    }
    (env_dir / STAMP).write_text(json.dumps(stamp_data, indent=2))
    report(InstallProgress("done", 100.0))
    log.info("MLX engine environment ready in %s (%s)", env_dir, ", ".join(wanted))
    return python

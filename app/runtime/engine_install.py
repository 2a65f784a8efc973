"""Which llama.cpp to use and how to get one: configured path, PATH, or a managed build."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

from app.hardware.profile import HardwareProfile
from engines.llamacpp.build import (
    BuildRequest,
    BuiltEngine,
    ProgressFn,
    build_llama_cpp,
    list_builds,
    native_cpu_signature,
)
from engines.llamacpp.driver import locate_llama_server


def choose_backend(hw: HardwareProfile) -> str:
    """CUDA with an NVIDIA GPU and nvcc, Metal on Apple Silicon, Vulkan with its SDK, else CPU."""
    if hw.apple is not None or (sys.platform == "darwin" and hw.cpu.arch == "arm64"):
        return "metal"
    if hw.nvidia_gpus and shutil.which("nvcc"):
        return "cuda"
    if any(g.vendor in ("amd", "intel") for g in hw.gpus) and shutil.which("glslc"):
        return "vulkan"
    return "cpu"


def llama_cpp_cache(engine_cache_dir: Path) -> Path:
    return engine_cache_dir / "llama.cpp"


def managed_builds(engine_cache_dir: Path) -> list[BuiltEngine]:
    """Finished managed builds, GPU backends first."""
    order = {"cuda": 0, "metal": 0, "vulkan": 1, "cpu": 2}
    builds = list_builds(llama_cpp_cache(engine_cache_dir))
    return sorted(builds, key=lambda b: order.get(b.backend, 3))


def find_llama_server(configured: str | None, engine_cache_dir: Path) -> Path:
    """Configured path, then PATH, then a managed build; EngineNotInstalled otherwise."""
    return locate_llama_server(configured, [b.server for b in managed_builds(engine_cache_dir)])


def install_llama_cpp(
    engine_cache_dir: Path,
    backend: str,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> BuiltEngine:
    """Build (or reuse the cached build of) llama.cpp for ``backend``."""
    request = BuildRequest(backend=backend, cpu_signature=native_cpu_signature())
    return build_llama_cpp(llama_cpp_cache(engine_cache_dir), request, progress, cancel)

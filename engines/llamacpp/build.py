"""Managed llama.cpp build: ``llama-server`` compiled from the pinned llama-cpp-python sdist.

The sdist of ``llama-cpp-python`` vendors a recent llama.cpp (``vendor/llama.cpp``); it is
fetched with pip, unpacked, configured with CMake for one backend and built. Results are
cached under ``cache_dir/<version>-<backend>-<flags hash>/`` with a manifest, so a second
install is instant and a different backend or CPU gets its own build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.errors import EngineBuildCancelled, EngineBuildFailed

log = logging.getLogger(__name__)

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
BINARIES = ("llama-server", "llama-bench", "llama-fit-params")
BACKENDS = ("cpu", "cuda", "metal", "vulkan")

# Every build: static, no network features (no curl/openssl, no web UI download), no tests.
_COMMON_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
)
_BACKEND_FLAGS = {
    "cpu": ("-DGGML_NATIVE=ON",),
    "cuda": ("-DGGML_NATIVE=ON", "-DGGML_CUDA=ON", "-DCMAKE_CUDA_ARCHITECTURES=native"),
    "metal": ("-DGGML_METAL=ON", "-DGGML_METAL_EMBED_LIBRARY=ON"),
    "vulkan": ("-DGGML_NATIVE=ON", "-DGGML_VULKAN=ON"),
}
_PROGRESS = re.compile(r"^\[\s*(\d+)%\]")


@dataclass(frozen=True)
class BuildProgress:
    """One progress report: ``stage`` (download, unpack, configure, build, verify), 0-100."""

    stage: str
    percent: float
    line: str = ""


ProgressFn = Callable[[BuildProgress], None]


def native_cpu_signature() -> str:
    """What a ``GGML_NATIVE`` build depends on: the CPU's ISA flag set (hashed)."""
    text = ""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags = sorted(set(line.split(":", 1)[1].split()))
            return hashlib.sha256(" ".join(flags).encode()).hexdigest()[:12]
    return f"{platform.machine()}-{platform.processor()}"


@dataclass(frozen=True)
class BuildRequest:
    backend: str = "cpu"
    version: str = LLAMA_CPP_PYTHON_VERSION
    cpu_signature: str = ""
    jobs: int = 0

    def flags(self) -> tuple[str, ...]:
        return _COMMON_FLAGS + _BACKEND_FLAGS[self.backend]

    def key(self) -> str:
        """Cache key: version, backend and a hash of flags (+ CPU features for native builds)."""
        material = json.dumps([self.flags(), self.cpu_signature, sys.platform])
        return f"{self.version}-{self.backend}-{hashlib.sha256(material.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class BuiltEngine:
    directory: Path
    version: str
    backend: str

    @property
    def server(self) -> Path:
        return self.directory / "bin" / "llama-server"

    def binary(self, name: str) -> Path:
        return self.directory / "bin" / name


def cached_build(cache_dir: Path, request: BuildRequest) -> BuiltEngine | None:
    """The finished build for ``request`` if the cache has one (manifest + binaries)."""
    directory = cache_dir / request.key()
    manifest = directory / "manifest.json"
    if not manifest.exists():
        return None
    built = BuiltEngine(directory, request.version, request.backend)
    if all(built.binary(b).exists() for b in BINARIES):
        return built
    return None


def list_builds(cache_dir: Path) -> list[BuiltEngine]:
    """Every finished build in the cache."""
    out = []
    for manifest in sorted(cache_dir.glob("*/manifest.json")):
        try:
            data = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        out.append(BuiltEngine(manifest.parent, data.get("version", "?"), data.get("backend", "?")))
    return out


class _Runner:
    """Runs build steps, streams their output to a log and to progress, honours cancel."""

    def __init__(self, log_file: Path, progress: ProgressFn, cancel: threading.Event) -> None:
        self.log_file, self.progress, self.cancel = log_file, progress, cancel

    def run(self, cmd: list[str], stage: str, cwd: Path | None = None) -> None:
        if self.cancel.is_set():
            raise EngineBuildCancelled("The llama.cpp install was cancelled.")
        with self.log_file.open("a") as logf:
            logf.write(f"\n$ {' '.join(cmd)}\n")
            logf.flush()
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            watcher = threading.Thread(target=self._watch_cancel, args=(proc,), daemon=True)
            watcher.start()
            assert proc.stdout is not None
            for line in proc.stdout:
                logf.write(line)
                match = _PROGRESS.match(line)
                if match:
                    self.progress(BuildProgress(stage, float(match.group(1)), line.strip()))
            code = proc.wait()
        if self.cancel.is_set():
            raise EngineBuildCancelled("The llama.cpp install was cancelled.")
        if code != 0:
            tail = "".join(self.log_file.read_text().splitlines(keepends=True)[-30:])
            raise EngineBuildFailed(
                f"llama.cpp {stage} step failed (exit {code}). Full log: {self.log_file}",
                hint="Check that a C++ compiler and CMake are installed "
                "(Debian: apt-get install build-essential cmake).",
                log_tail=tail,
            )

    def _watch_cancel(self, proc: subprocess.Popen[str]) -> None:
        while proc.poll() is None:
            if self.cancel.wait(0.2):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 15)
                return


def _fetch_sdist(version: str, dest: Path, runner: _Runner) -> Path:
    existing = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if existing:
        return existing[0]
    dest.mkdir(parents=True, exist_ok=True)
    runner.run(
        [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--quiet", "-d", str(dest), f"llama-cpp-python=={version}",
        ],
        "download",
    )  # fmt: skip
    found = sorted(dest.glob(f"llama_cpp_python-{version}.tar.gz"))
    if not found:
        raise EngineBuildFailed(f"pip did not produce the llama-cpp-python {version} sdist.")
    return found[0]


def _unpack(sdist: Path, dest: Path) -> Path:
    """Extract only ``vendor/llama.cpp`` from the sdist; returns the source directory."""
    source = dest / "llama.cpp"
    if (source / "CMakeLists.txt").exists():
        return source
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        prefix = f"{sdist.name.removesuffix('.tar.gz')}/vendor/llama.cpp/"
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                member.name = "llama.cpp/" + member.name[len(prefix) :]
                members.append(member)
        tar.extractall(tmp, members=members, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return source


def build_llama_cpp(
    cache_dir: Path,
    request: BuildRequest,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> BuiltEngine:
    """Build (or reuse) llama.cpp for ``request``; progress and cancel are optional.

    Takes ~7 minutes on 2 cores for the CPU backend; a cached build returns at once.
    """
    report = progress or (lambda _p: None)
    cancel = cancel or threading.Event()
    done = cached_build(cache_dir, request)
    if done:
        report(BuildProgress("cached", 100.0))
        return done
    if shutil.which("cmake") is None:
        raise EngineBuildFailed(
            "CMake is not installed, so llama.cpp cannot be built.",
            hint="Install CMake and a C++ compiler "
            "(Debian: apt-get install cmake build-essential).",
        )
    work = cache_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    log_file = cache_dir / f"{request.key()}.log"
    log_file.write_text(f"llama.cpp build {request.key()} started {time.ctime()}\n")
    runner = _Runner(log_file, report, cancel)
    report(BuildProgress("download", 0.0))
    sdist = _fetch_sdist(request.version, cache_dir / "sdist", runner)
    report(BuildProgress("unpack", 0.0))
    source = _unpack(sdist, work / f"src-{request.version}")
    build_dir = work / f"build-{request.key()}"
    report(BuildProgress("configure", 0.0))
    runner.run(["cmake", "-S", str(source), "-B", str(build_dir), *request.flags()], "configure")
    jobs = request.jobs or os.cpu_count() or 2
    runner.run(
        ["cmake", "--build", str(build_dir), "-j", str(jobs), "--target", *BINARIES], "build"
    )
    target = cache_dir / request.key()
    staging = cache_dir / f"{request.key()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    for name in BINARIES:
        shutil.copy2(build_dir / "bin" / name, staging / "bin" / name)
    report(BuildProgress("verify", 0.0))
    smoke = subprocess.run(
        [str(staging / "bin" / "llama-server"), "--version"], capture_output=True, text=True
    )
    if smoke.returncode != 0:
        raise EngineBuildFailed(
            f"The built llama-server does not run: {smoke.stderr.strip()[-300:]}",
            hint=f"See the build log {log_file}.",
        )
    manifest = {
        "version": request.version,
        "backend": request.backend,
        "flags": list(request.flags()),
        "cpu_signature": request.cpu_signature,
        "llama_server_version": (smoke.stdout + smoke.stderr).strip()[:400],
        "built_at": time.time(),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    shutil.rmtree(build_dir, ignore_errors=True)
    report(BuildProgress("done", 100.0))
    log.info("llama.cpp %s built in %s", request.key(), target)
    return BuiltEngine(target, request.version, request.backend)

"""A supervised engine process: own process group, output tail, readiness, clean stop.

Every started process writes a pidfile; ``sweep_orphans`` at start-up kills engine processes
that a crashed Roost left behind (their recorded command line must still match).
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
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from engines.base import EngineDriver, LaunchSpec, LoadState
from engines.errors import EngineCrashed, EngineStartFailed

log = logging.getLogger(__name__)

TAIL_LINES = 200


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def sweep_orphans(run_dir: Path) -> list[int]:
    """Kill engine process groups recorded in ``run_dir`` whose owner is gone; returns pids."""
    killed = []
    for pidfile in run_dir.glob("*.pid.json"):
        try:
            data = json.loads(pidfile.read_text())
            pid, owner = int(data["pid"]), int(data.get("owner", 0))
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            pidfile.unlink(missing_ok=True)
            continue
        if owner and _alive(owner) and owner != os.getpid():
            continue  # another live Roost owns it
        recorded = data.get("cmd", "")
        current = _cmdline(pid)
        if _alive(pid) and (not current or current == recorded):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            killed.append(pid)
        pidfile.unlink(missing_ok=True)
    return killed


class EngineProcess:
    """One running engine for one ``LaunchSpec``."""

    def __init__(
        self, driver: EngineDriver, spec: LaunchSpec, run_dir: Path, log_dir: Path
    ) -> None:
        self.driver, self.spec = driver, spec
        self.run_dir, self.log_dir = run_dir, log_dir
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._ready = False
        self.log_file = log_dir / f"{driver.name}-{spec.port}.log"

    # -- life cycle -------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = self.driver.command(self.spec)
        log.info("starting %s: %s", self.driver.name, " ".join(cmd))
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.spec.env},
            start_new_session=True,  # own process group: stop() kills children too
        )
        self.pidfile.write_text(
            json.dumps({"pid": self._proc.pid, "owner": os.getpid(), "cmd": " ".join(cmd)})
        )
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    @property
    def pidfile(self) -> Path:
        return self.run_dir / f"{self.driver.name}-{self.spec.port}.pid.json"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def url(self) -> str:
        return f"http://{self.spec.host}:{self.spec.port}"

    def _read_output(self) -> None:
        assert self._proc is not None
        assert self._proc.stdout is not None
        with self.log_file.open("ab") as logf:
            for raw in self._proc.stdout:
                logf.write(raw)
                logf.flush()
                self._tail.append(raw.decode(errors="replace").rstrip("\n"))

    def tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._tail)[-lines:])

    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_ready(
        self, timeout: float = 300.0, on_progress: Callable[[LoadState], None] | None = None
    ) -> None:
        """Poll health until ready; a process that exits raises a classified error."""
        deadline = time.monotonic() + timeout
        url = self.driver.health_url(self.spec)
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self.exit_code()
                if code is not None:
                    self._join_reader()
                    raise self.driver.classify_failure(self.tail(80), code)
                state = self._probe(client, url)
                if on_progress:
                    on_progress(state)
                if state.ready:
                    self._ready = True
                    return
                time.sleep(0.1)
        self.stop()
        raise EngineStartFailed(
            f"{self.driver.name} did not become ready within {timeout:.0f} s.",
            hint=f"See {self.log_file}.",
            log_tail=self.tail(),
        )

    def _probe(self, client: httpx.Client, url: str) -> LoadState:
        try:
            response = client.get(url)
        except httpx.HTTPError:
            return LoadState(False, self.driver.load_progress(list(self._tail)), "starting")
        if response.status_code == 200:
            return LoadState(True, 1.0, "ready")
        return LoadState(False, self.driver.load_progress(list(self._tail)), "loading")

    def healthy(self) -> bool:
        """True when the process runs and answers its health check."""
        if not self.is_running():
            return False
        try:
            return httpx.get(self.driver.health_url(self.spec), timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def crash_error(self) -> EngineCrashed:
        """Error describing why a process that was ready has gone."""
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)  # reap it, so the exit status is known
        code = self.exit_code()
        self._join_reader()
        cause = self.driver.classify_failure(self.tail(80), code)
        how = f"exit code {code}" if code is not None and code >= 0 else f"signal {-(code or 0)}"
        return EngineCrashed(
            f"The {self.driver.name} engine serving {self.spec.model_alias} stopped ({how}).",
            hint=cause.hint or "Roost restarts it on the next request.",
            log_tail=self.tail(),
        )

    def _join_reader(self) -> None:
        if self._reader:
            self._reader.join(timeout=2.0)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace`` seconds; remove the pidfile."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group
        self._join_reader()
        self.pidfile.unlink(missing_ok=True)

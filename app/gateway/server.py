"""Serving the gateway with uvicorn: in the foreground (`roost serve`) or a thread (GUI)."""

from __future__ import annotations

import asyncio
import threading
import time

import uvicorn
from fastapi import FastAPI

from app.core.errors import EngineError

LOOPBACK = "127.0.0.1"


class GatewayServer:
    """One uvicorn server for the gateway app."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = LOOPBACK if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}"

    def run(self) -> None:
        """Serve until interrupted (blocking)."""
        self.server.run()
        if not self.server.started:
            raise EngineError(
                f"The endpoint could not listen on {self.host}:{self.port}.",
                hint="Another program may use the port; set `gateway_port` in the settings.",
            )

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; returns once listening."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve()), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EngineError(f"The endpoint could not listen on {self.host}:{self.port}.")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)

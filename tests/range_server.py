"""A local HTTP file server for tests: Range requests, byte counting, redirects, tokens.

``RangeServer({"/m.gguf": path})`` serves files on 127.0.0.1 in a thread::

    with RangeServer({"/m.gguf": path}) as server:
        inspect_gguf(server.url("/m.gguf"))
        server.bytes_served  # body bytes written to clients

``ignore_range=True`` answers every GET with 200 and the whole file (as some servers do);
``redirects`` maps a path to another served path (302); ``token`` demands
``Authorization: Bearer <token>`` (401 otherwise). Unknown paths get 404.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 64 * 1024


class RangeServer:
    def __init__(
        self,
        files: dict[str, Path],
        *,
        ignore_range: bool = False,
        redirects: dict[str, str] | None = None,
        token: str | None = None,
    ) -> None:
        self.files = files
        self.ignore_range = ignore_range
        self.redirects = redirects or {}
        self.token = token
        self.bytes_served = 0
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_served += n

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

            def do_GET(self) -> None:
                range_header = self.headers.get("Range")
                with server._lock:
                    server.requests.append((self.path, range_header))
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._empty(401)
                    return
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path = server.files.get(self.path)
                if path is None:
                    self._empty(404)
                    return
                size = path.stat().st_size
                match = _RANGE.match(range_header or "")
                if server.ignore_range or match is None:
                    self._send(path, 200, 0, size, size)
                    return
                start_s, end_s = match.groups()
                if start_s:
                    start = int(start_s)
                    end = min(int(end_s), size - 1) if end_s else size - 1
                else:  # suffix range: the last N bytes
                    start, end = max(0, size - int(end_s)), size - 1
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(path, 206, start, end + 1, size)

            def _empty(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, path: Path, status: int, start: int, stop: int, size: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(stop - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
                self.send_header("Accept-Ranges", "none" if server.ignore_range else "bytes")
                self.end_headers()
                with path.open("rb") as fh:
                    fh.seek(start)
                    left = stop - start
                    try:
                        while left > 0:
                            block = fh.read(min(_CHUNK, left))
                            self.wfile.write(block)
                            server._count(len(block))
                            left -= len(block)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client stopped reading early, as it may

        return Handler

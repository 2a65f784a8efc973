"""A local server that speaks enough of the Hugging Face Hub protocol for the real client.

``HubServer`` serves in-memory repos on 127.0.0.1 (a free port) in a thread::

    with HubServer() as hub:
        hub.add_repo("org/model", {"m.gguf": data, "config.json": b"{}"})
        hf_hub_download("org/model", "m.gguf", endpoint=hub.endpoint, local_dir=tmp)

Routes (as read from huggingface_hub's ``file_download``/``hf_api``/``utils/_http``):

- ``HEAD|GET /{repo}/resolve/{revision}/{path}``: ``X-Repo-Commit``, ``ETag`` (git blob sha1,
  or the sha256 for LFS files), ``X-Linked-Etag``/``X-Linked-Size`` for LFS files
  (``*.gguf``, ``*.safetensors``, ``*.bin``), ``Content-Length``, ``Accept-Ranges``;
  ``Range: bytes=a-[b]`` → 206 with ``Content-Range`` (416 past the end).
- ``GET /api/models/{repo}[/revision/{revision}]``: ``id``, ``sha``, ``siblings`` with
  ``rfilename``, ``size``, ``blobId`` and ``lfs {sha256, size, pointerSize}``.
- ``GET /api/models/{repo}/tree/{revision}[/{path}]``: the file list ``snapshot_download`` uses.
- Errors carry ``X-Error-Code`` like the hub: ``RepoNotFound`` / ``RevisionNotFound`` /
  ``EntryNotFound`` (404) and ``GatedRepo`` (401 without a token, 403 with a wrong one).

Knobs: :meth:`interrupt` (close the connection after N body bytes, for the next K GETs of a
file), :meth:`corrupt` (serve different bytes of the same length under the true checksum
headers), ``throttle_s`` (sleep before each ``chunk_bytes`` of body), ``ignore_range`` (answer
every GET with 200 and the whole file, as some mirrors do), and a request log with the body
bytes sent per request (:meth:`bytes_served`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

_LFS_SUFFIXES = (".gguf", ".safetensors", ".bin")
_REPO = r"(?P<repo>[^/]+/[^/]+)"
_RESOLVE = re.compile(rf"^/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_INFO = re.compile(rf"^/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?$")
_TREE = re.compile(rf"^/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?$")
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class HubRepo:
    """One repo: file path → content; ``token`` makes it gated (requests need that token)."""

    repo_id: str
    files: dict[str, bytes]
    token: str | None = None

    @property
    def sha(self) -> str:
        """A stable 40-hex commit id derived from the content."""
        digest = hashlib.sha1(usedforsecurity=False)
        for name in sorted(self.files):
            digest.update(name.encode() + b"\0" + self.files[name])
        return digest.hexdigest()

    def is_lfs(self, name: str) -> bool:
        return name.endswith(_LFS_SUFFIXES)

    def etag(self, name: str) -> str:
        data = self.files[name]
        if self.is_lfs(name):
            return hashlib.sha256(data).hexdigest()
        header = f"blob {len(data)}\0".encode()
        return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()

    def blob_id(self, name: str) -> str:
        header = f"blob {len(self.files[name])}\0".encode()
        return hashlib.sha1(header + self.files[name], usedforsecurity=False).hexdigest()


@dataclass
class RequestRecord:
    """One request as the server saw it; ``bytes_sent`` counts body bytes only."""

    method: str
    path: str
    range: str | None
    authorization: str | None
    status: int = 0
    bytes_sent: int = 0


@dataclass
class _Interrupt:
    after_bytes: int
    times: int


@dataclass
class _State:
    repos: dict[str, HubRepo] = field(default_factory=dict)
    interrupts: dict[str, _Interrupt] = field(default_factory=dict)
    corrupted: set[str] = field(default_factory=set)
    log: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class HubServer:
    """The server; use as a context manager. ``endpoint`` is its base URL."""

    def __init__(
        self, *, throttle_s: float = 0.0, chunk_bytes: int = 64 * 1024, ignore_range: bool = False
    ) -> None:
        self.throttle_s = throttle_s
        self.chunk_bytes = chunk_bytes
        self.ignore_range = ignore_range
        self._state = _State()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubServer:
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

    # -- set-up and knobs -------------------------------------------------------------------

    def add_repo(
        self, repo_id: str, files: dict[str, bytes], *, token: str | None = None
    ) -> HubRepo:
        repo = HubRepo(repo_id, dict(files), token)
        with self._state.lock:
            self._state.repos[repo_id] = repo
        return repo

    def interrupt(self, file_name: str, after_bytes: int, times: int = 1) -> None:
        """Close the connection after ``after_bytes`` body bytes, for the next ``times`` GETs."""
        with self._state.lock:
            self._state.interrupts[file_name] = _Interrupt(after_bytes, times)

    def corrupt(self, file_name: str, on: bool = True) -> None:
        """Serve other bytes (same length) for ``file_name`` while advertising the true sha256."""
        with self._state.lock:
            if on:
                self._state.corrupted.add(file_name)
            else:
                self._state.corrupted.discard(file_name)

    # -- what happened ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._state.lock:
            return list(self._state.log)

    def bytes_served(self, file_name: str | None = None) -> int:
        """Body bytes sent for resolve GETs (of ``file_name`` when given)."""
        total = 0
        for rec in self.requests:
            match = _RESOLVE.match(rec.path)
            if rec.method == "GET" and match and (file_name in (None, match["file"])):
                total += rec.bytes_sent
        return total

    def clear_log(self) -> None:
        with self._state.lock:
            self._state.log.clear()

    # -- the handler ------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self
        state = self._state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output quiet

            def do_HEAD(self) -> None:
                self._dispatch("HEAD")

            def do_GET(self) -> None:
                self._dispatch("GET")

            def _dispatch(self, method: str) -> None:
                path = unquote(urlsplit(self.path).path)
                record = RequestRecord(
                    method, path, self.headers.get("Range"), self.headers.get("Authorization")
                )
                with state.lock:
                    state.log.append(record)
                if match := _RESOLVE.match(path):
                    self._resolve(record, match["repo"], match["rev"], match["file"])
                elif match := _TREE.match(path):
                    self._tree(record, match["repo"], match["rev"], match["path"])
                elif match := _INFO.match(path):
                    self._info(record, match["repo"], match["rev"])
                else:
                    self._error(record, 404, "", "Not found")

            # routes

            def _repo(self, record: RequestRecord, repo_id: str, rev: str | None) -> HubRepo | None:
                repo = state.repos.get(repo_id)
                if repo is None:
                    self._error(record, 404, "RepoNotFound", "Repository not found")
                    return None
                if repo.token is not None:
                    auth = self.headers.get("Authorization")
                    if auth is None:
                        msg = f"Access to model {repo_id} is restricted. You must be authenticated."
                        self._error(record, 401, "GatedRepo", msg)
                        return None
                    if auth != f"Bearer {repo.token}":
                        msg = (
                            f"Access to model {repo_id} is restricted and you are not in the list."
                        )
                        self._error(record, 403, "GatedRepo", msg)
                        return None
                if rev not in (None, "main", repo.sha):
                    self._error(record, 404, "RevisionNotFound", "Invalid rev id")
                    return None
                return repo

            def _info(self, record: RequestRecord, repo_id: str, rev: str | None) -> None:
                repo = self._repo(record, repo_id, rev)
                if repo is None:
                    return
                siblings = []
                for name, data in sorted(repo.files.items()):
                    sibling: dict[str, object] = {
                        "rfilename": name,
                        "size": len(data),
                        "blobId": repo.blob_id(name),
                    }
                    if repo.is_lfs(name):
                        sibling["lfs"] = {
                            "sha256": repo.etag(name),
                            "size": len(data),
                            "pointerSize": 134,
                        }
                    siblings.append(sibling)
                body = {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": repo.sha,
                    "private": False,
                    "gated": "manual" if repo.token else False,
                    "disabled": False,
                    "tags": [],
                    "siblings": siblings,
                }
                self._json(record, body)

            def _tree(self, record: RequestRecord, repo_id: str, rev: str, sub: str | None) -> None:
                repo = self._repo(record, repo_id, rev)
                if repo is None:
                    return
                prefix = f"{sub.rstrip('/')}/" if sub else ""
                entries: list[dict[str, object]] = []
                folders: set[str] = set()
                for name, data in sorted(repo.files.items()):
                    if not name.startswith(prefix):
                        continue
                    parts = name.split("/")
                    for depth in range(1, len(parts)):
                        folders.add("/".join(parts[:depth]))
                    entry: dict[str, object] = {
                        "type": "file",
                        "path": name,
                        "size": len(data),
                        "oid": repo.blob_id(name),
                    }
                    if repo.is_lfs(name):
                        entry["lfs"] = {
                            "oid": repo.etag(name),
                            "size": len(data),
                            "pointerSize": 134,
                        }
                    entries.append(entry)
                for folder in sorted(folders):
                    if folder.startswith(prefix):
                        entries.append({"type": "directory", "path": folder, "oid": "0" * 40})
                self._json(record, entries)

            def _resolve(self, record: RequestRecord, repo_id: str, rev: str, name: str) -> None:
                repo = self._repo(record, repo_id, rev)
                if repo is None:
                    return
                if name not in repo.files:
                    self._error(
                        record, 404, "EntryNotFound", f"{name} does not exist", commit=repo.sha
                    )
                    return
                data = repo.files[name]
                with state.lock:
                    if name in state.corrupted:
                        data = bytes(b ^ 0xFF for b in data)
                size = len(data)
                start, stop, status = 0, size, 200
                range_header = self.headers.get("Range")
                if range_header and not server.ignore_range and (m := _RANGE.match(range_header)):
                    start = int(m[1])
                    stop = min(int(m[2]) + 1, size) if m[2] else size
                    if start >= size:
                        record.status = 416
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                record.status = status
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(stop - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("X-Repo-Commit", repo.sha)
                self.send_header("ETag", f'"{repo.etag(name)}"')
                if repo.is_lfs(name):
                    self.send_header("X-Linked-Etag", f'"{repo.etag(name)}"')
                    self.send_header("X-Linked-Size", str(size))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
                self.end_headers()
                if self.command == "GET":
                    self._body(record, name, data[start:stop])

            # writing

            def _body(self, record: RequestRecord, name: str, body: bytes) -> None:
                limit = len(body)
                with state.lock:
                    cut = state.interrupts.get(name)
                    if cut is not None and cut.times > 0:
                        cut.times -= 1
                        limit = min(limit, cut.after_bytes)
                sent = 0
                try:
                    while sent < limit:
                        if server.throttle_s:
                            time.sleep(server.throttle_s)
                        block = body[sent : min(sent + server.chunk_bytes, limit)]
                        self.wfile.write(block)
                        self.wfile.flush()
                        sent += len(block)
                        with state.lock:
                            record.bytes_sent = sent
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return
                if limit < len(body):
                    self.close_connection = True  # the client sees a truncated body

            def _json(self, record: RequestRecord, body: object) -> None:
                raw = json.dumps(body).encode()
                record.status = 200
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(raw)

            def _error(
                self,
                record: RequestRecord,
                status: int,
                code: str,
                message: str,
                commit: str | None = None,
            ) -> None:
                raw = json.dumps({"error": message}).encode()
                record.status = status
                self.send_response(status)
                if code:
                    self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(raw)

        return Handler

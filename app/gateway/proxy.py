"""Forwarding to the engine: admission, on-demand loading, streaming pass-through, records.

Streams are passed through chunk by chunk as the engine flushes them (no buffering). When the
client disconnects, the generator is cancelled and the upstream connection is closed, which
stops generation in llama-server. An engine that dies mid-stream ends the stream with a clean
error event; the next request restarts it through the supervisor.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.core.errors import CatalogError, EngineError, ModelFileError, PlanError, RoostError
from app.gateway.errors import GatewayError, error_response, sse_error_event
from app.gateway.records import RequestRecord
from app.gateway.state import GatewayState
from app.runtime.supervisor import RunningModel

_UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=600.0, write=60.0, pool=10.0)


def map_roost_error(exc: RoostError) -> GatewayError:
    """Core errors → HTTP status and a message that says what to do."""
    text = f"{exc.message} {exc.hint}".strip()
    if isinstance(exc, CatalogError):
        return GatewayError(404, text, code="model_not_found", param="model")
    if isinstance(exc, ModelFileError):
        return GatewayError(404, text, code="model_not_available", param="model")
    if isinstance(exc, PlanError):
        return GatewayError(400, text, code="model_does_not_fit", param="model")
    if isinstance(exc, EngineError):
        return GatewayError(503, text, code="engine_failed", retry_after=5)
    return GatewayError(500, text, code="internal_error")


def _engine_error(status: int, body: bytes) -> GatewayError:
    """An engine's 4xx/5xx answer in our error shape (context too long keeps its numbers)."""
    try:
        detail = json.loads(body).get("error", {})
    except (json.JSONDecodeError, AttributeError):
        detail = {}
    message = detail.get("message") or body.decode(errors="replace")[:300] or "engine error"
    if detail.get("type") == "exceed_context_size_error":
        n_ctx = detail.get("n_ctx")
        return GatewayError(
            400,
            f"The prompt has {detail.get('n_prompt_tokens')} tokens but the model's context "
            f"is {n_ctx} tokens. Shorten the conversation or load the model with a larger "
            "context (`--ctx`).",
            code="context_length_exceeded",
            param="messages",
        )
    if status >= 500:
        return GatewayError(502, f"The engine failed: {message}", code="engine_error")
    return GatewayError(status, message, code=str(detail.get("type") or "invalid_request"))


def _note_usage(record: RequestRecord, data: dict[str, Any]) -> None:
    usage = data.get("usage") or {}
    if usage:
        record.prompt_tokens = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        record.completion_tokens = usage.get("completion_tokens") or usage.get("output_tokens") or 0
        details = usage.get("prompt_tokens_details") or {}
        record.cached_tokens = details.get("cached_tokens") or usage.get(
            "cache_read_input_tokens", 0
        )
    timings = data.get("timings") or {}
    if timings:
        record.tokens_per_s = timings.get("predicted_per_second")
        record.cached_tokens = record.cached_tokens or timings.get("cache_n", 0)
        record.prompt_tokens = record.prompt_tokens or (
            timings.get("prompt_n", 0) + timings.get("cache_n", 0)
        )
        record.completion_tokens = record.completion_tokens or timings.get("predicted_n", 0)


def _scan_sse(record: RequestRecord, chunk: bytes, carry: bytearray) -> None:
    """Pick usage/timings out of SSE lines without holding the stream back.

    Token chunks carry neither, so they cost one substring search; only the final chunks
    (and a line split across reads) are parsed.
    """
    if not carry and b'"usage"' not in chunk and b'"timings"' not in chunk:
        if not chunk.endswith(b"\n"):
            carry.extend(chunk[chunk.rfind(b"\n") + 1 :])
        return
    carry.extend(chunk)
    *lines, rest = bytes(carry).split(b"\n")
    carry[:] = rest
    for line in lines:
        if line.startswith(b"data: {") and (b'"usage"' in line or b'"timings"' in line):
            try:
                _note_usage(record, json.loads(line[6:]))
            except json.JSONDecodeError:
                continue


async def forward(
    state: GatewayState, path: str, body: dict[str, Any], anthropic: bool = False
) -> Response:
    """Admit, load on demand and forward ``body`` to the engine's ``path``."""
    name = body["model"]
    record = RequestRecord(endpoint=path, model=name, stream=bool(body.get("stream")))
    started = time.monotonic()
    # Fast path (model known and loaded) stays on the event loop; loads go to a thread.
    resolved = state.pool.peek(name)
    if resolved is None:
        try:
            resolved = await anyio.to_thread.run_sync(state.pool.resolve, name)
        except RoostError as exc:
            return _finish_error(state, record, map_roost_error(exc), anthropic)
    model_id = resolved.spec.id
    record.model = model_id
    gate = state.admission(model_id)
    try:
        await gate.enter()
    except GatewayError as busy:
        refusal = busy
        if state.pool.is_loading(model_id):
            refusal = GatewayError(503, f"{model_id} is loading; retry soon.", "model_loading", 5)
        return _finish_error(state, record, refusal, anthropic)
    running = state.pool.acquire_nowait(model_id)
    if running is None:
        try:
            running = await anyio.to_thread.run_sync(state.pool.acquire, name)
        except RoostError as exc:
            gate.leave()
            return _finish_error(state, record, map_roost_error(exc), anthropic)
    upstream = {**body, "model": running.model_id}
    if record.stream:
        return StreamingResponse(
            _stream(state, running, path, upstream, record, started, anthropic, gate),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        return await _plain(state, running, path, upstream, record, anthropic)
    finally:
        gate.leave()
        state.pool.release(running.model_id)
        record.duration_s = time.monotonic() - started
        state.log.add(record)


def _finish_error(
    state: GatewayState, record: RequestRecord, err: GatewayError, anthropic: bool
) -> Response:
    record.status, record.error = err.status, err.message
    state.log.add(record)
    return error_response(err, anthropic)


async def _plain(
    state: GatewayState,
    running: RunningModel,
    path: str,
    body: dict[str, Any],
    record: RequestRecord,
    anthropic: bool,
) -> Response:
    assert state.http is not None
    url = f"{running.base_url}{path}"
    try:
        try:
            r = await state.http.post(url, json=body, timeout=_UPSTREAM_TIMEOUT)
        except (httpx.RemoteProtocolError, httpx.ConnectError):
            if not running.process.is_running():
                raise
            # A keep-alive socket closed under us before the engine read the request.
            r = await state.http.post(url, json=body, timeout=_UPSTREAM_TIMEOUT)
    except httpx.HTTPError:
        err = _crashed(running)
        record.status, record.error = err.status, err.message
        return error_response(err, anthropic)
    record.status = r.status_code
    if r.status_code >= 400:
        err = _engine_error(r.status_code, r.content)
        record.status, record.error = err.status, err.message
        return error_response(err, anthropic)
    data = r.json()
    _note_usage(record, data)
    return JSONResponse(data, status_code=r.status_code)


def _crashed(running: RunningModel) -> GatewayError:
    return GatewayError(
        503,
        f"The engine serving {running.model_id} stopped while answering. "
        "It is restarted on the next request.",
        code="engine_crashed",
        retry_after=2,
    )


async def _stream(
    state: GatewayState,
    running: RunningModel,
    path: str,
    body: dict[str, Any],
    record: RequestRecord,
    started: float,
    anthropic: bool,
    gate: Any,
) -> AsyncIterator[bytes]:
    assert state.http is not None
    carry = bytearray()
    url = f"{running.base_url}{path}"
    try:
        for attempt in (1, 2):
            try:
                async with state.http.stream(
                    "POST", url, json=body, timeout=_UPSTREAM_TIMEOUT
                ) as r:
                    record.status = r.status_code
                    if r.status_code >= 400:
                        err = _engine_error(r.status_code, await r.aread())
                        record.error = err.message
                        yield sse_error_event(err, anthropic)
                        return
                    async for chunk in r.aiter_raw():
                        if record.ttft_s is None:
                            record.ttft_s = time.monotonic() - started
                        _scan_sse(record, chunk, carry)
                        yield chunk
                return
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                # Retry once, only when nothing was streamed yet and the engine is alive:
                # a keep-alive socket closed under us before the engine read the request.
                alive = running.process.is_running()
                if attempt == 2 or record.ttft_s is not None or not alive:
                    raise
    except httpx.HTTPError:
        err = _crashed(running)
        record.status, record.error = err.status, err.message
        yield sse_error_event(err, anthropic)
    finally:
        gate.leave()
        state.pool.release(running.model_id)
        record.duration_s = time.monotonic() - started
        state.log.add(record)

"""A stand-in engine speaking llama-server's HTTP API, for the gateway's fast unit tests.

It answers like llama-server (usage, timings, SSE chunks) so the gateway's pass-through,
records and error mapping can be tested without sockets through httpx.ASGITransport.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.catalog.resolve import ResolvedModel
from app.catalog.spec import ModelSpec
from app.core.errors import CatalogError


@dataclass
class EngineStats:
    active: int = 0
    peak: int = 0
    requests: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def fake_engine(stats: EngineStats, delay: float = 0.0, tokens: int = 5) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        stats.bodies.append(body)
        stats.requests += 1
        stats.active += 1
        stats.peak = max(stats.peak, stats.active)
        try:
            text = json.dumps(body["messages"])
            if "TOO LONG" in text:
                return JSONResponse(
                    {"error": {"type": "exceed_context_size_error", "message": "too long",
                               "n_prompt_tokens": 9000, "n_ctx": 4096}},
                    status_code=400,
                )  # fmt: skip
            usage = {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens,
                     "prompt_tokens_details": {"cached_tokens": 6}}  # fmt: skip
            timings = {"predicted_per_second": 50.0, "cache_n": 6, "prompt_n": 4}
            if not body.get("stream"):
                await asyncio.sleep(delay)
                return JSONResponse({
                    "id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "hello " * tokens}}],
                    "usage": usage, "timings": timings,
                })  # fmt: skip
        finally:
            if not body.get("stream"):
                stats.active -= 1

        async def events() -> AsyncIterator[bytes]:
            try:
                for i in range(tokens):
                    await asyncio.sleep(delay / max(tokens, 1))
                    chunk = {"choices": [{"index": 0, "delta": {"content": f"t{i} "}}],
                             "model": body["model"], "object": "chat.completion.chunk"}  # fmt: skip
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                         "usage": usage, "timings": timings}  # fmt: skip
                yield f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode()
            finally:
                stats.active -= 1

        return StreamingResponse(events(), media_type="text/event-stream")

    async def messages(request: Request) -> Response:
        body = await request.json()
        stats.bodies.append(body)
        return JSONResponse({
            "id": "m", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 3, "output_tokens": 1},
        })  # fmt: skip

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
        ]
    )


@dataclass
class FakeRunning:
    model_id: str
    base_url: str = "http://engine"


class FakePool:
    """Shaped like runtime.ModelPool for the gateway: resolve, acquire, release, loaded."""

    def __init__(self, models: list[str]) -> None:
        self.models = models
        self.acquired: list[str] = []
        self.in_use = 0

    def resolve(self, name: str) -> ResolvedModel:
        if name not in self.models:
            raise CatalogError(f"Unknown model {name!r}.", hint=f"Did you mean: {self.models[0]}?")
        return ResolvedModel(spec=ModelSpec(id=name))

    def peek(self, name: str) -> ResolvedModel | None:
        return None

    def acquire_nowait(self, model_id: str) -> FakeRunning | None:
        return None

    def acquire(self, name: str) -> FakeRunning:
        self.acquired.append(name)
        self.in_use += 1
        return FakeRunning(name)

    def release(self, model_id: str) -> None:
        self.in_use -= 1

    def loaded(self) -> dict[str, Any]:
        return {m: object() for m in set(self.acquired)}

    def is_loading(self, model_id: str) -> bool:
        return False

"""The gateway ASGI app: OpenAI- and Anthropic-compatible routes over the model pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from app.gateway.auth import key_matches, presented_key
from app.gateway.errors import GatewayError, error_response
from app.gateway.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    EmbeddingRequest,
    MessagesRequest,
    read_body,
)
from app.gateway.proxy import forward
from app.gateway.state import GatewayState


class GuardMiddleware:
    """API key when exported; CORS preflights from unlisted origins refused."""

    def __init__(self, app: ASGIApp, state: GatewayState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        anthropic = scope["path"].startswith("/v1/messages")
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and origin not in self.state.export.cors_origins:
            err = GatewayError(403, f"Origin {origin} is not allowed.", "cors_refused")
            await error_response(err, anthropic)(scope, receive, send)
            return
        export = self.state.export
        if export.exported and scope["method"] != "OPTIONS":
            key = presented_key(headers)
            if not export.api_key or not key or not key_matches(key, export.api_key):
                err = GatewayError(
                    401,
                    "This endpoint is exported and needs its API key "
                    "(Authorization: Bearer KEY or x-api-key). `roost endpoint export status` "
                    "shows it.",
                    "invalid_api_key",
                )
                await error_response(err, anthropic)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _body_doc(shape: type[Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": shape.model_json_schema()}},
        }
    }


def create_app(state: GatewayState) -> FastAPI:
    """The gateway for ``state``; serve with uvicorn (see server.py)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # llama-server closes idle keep-alive connections after 5 s; expiring ours sooner
        # avoids sending a request on a socket the engine is closing.
        limits = httpx.Limits(
            max_connections=256, max_keepalive_connections=64, keepalive_expiry=2.0
        )
        owned = state.http is None
        if owned:
            state.http = httpx.AsyncClient(limits=limits)
        try:
            yield
        finally:
            if owned and state.http is not None:
                await state.http.aclose()

    app = FastAPI(title="Roost local endpoint", version="1", lifespan=lifespan)
    app.state.gateway = state
    if state.export.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.export.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
        )
    app.add_middleware(GuardMiddleware, state=state)

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> Response:
        return error_response(exc, request.url.path.startswith("/v1/messages"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        err = GatewayError(exc.status_code, str(exc.detail), code="http_error")
        return error_response(err, request.url.path.startswith("/v1/messages"))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        err = GatewayError(400, f"Invalid request: {where}: {first['msg']}", "invalid_request")
        return error_response(err, request.url.path.startswith("/v1/messages"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        loaded = state.pool.loaded()
        return {"status": "ok", "loaded": sorted(loaded)}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        loaded = state.pool.loaded()
        data = []
        for m in state.list_models():
            data.append({**m, "object": "model", "owned_by": "roost", "loaded": m["id"] in loaded})
        return {"object": "list", "data": data}

    async def _openai(request: Request, path: str, shape: type[Any]) -> Response:
        body = await read_body(request, shape, state.max_body_bytes)
        return await forward(state, path, body)

    @app.post("/v1/chat/completions", openapi_extra=_body_doc(ChatCompletionRequest))
    async def chat(request: Request) -> Response:
        return await _openai(request, "/v1/chat/completions", ChatCompletionRequest)

    @app.post("/v1/completions", openapi_extra=_body_doc(CompletionRequest))
    async def completions(request: Request) -> Response:
        return await _openai(request, "/v1/completions", CompletionRequest)

    @app.post("/v1/embeddings", openapi_extra=_body_doc(EmbeddingRequest))
    async def embeddings(request: Request) -> Response:
        return await _openai(request, "/v1/embeddings", EmbeddingRequest)

    @app.post("/v1/messages", openapi_extra=_body_doc(MessagesRequest))
    async def messages(request: Request) -> Response:
        body = await read_body(request, MessagesRequest, state.max_body_bytes)
        return await forward(state, "/v1/messages", body, anthropic=True)

    @app.get("/roost/requests")
    async def requests_log(n: int = 100) -> JSONResponse:
        from dataclasses import asdict

        return JSONResponse([asdict(r) for r in state.log.recent(max(1, min(n, 1000)))])

    return app

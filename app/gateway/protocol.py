"""Request shapes: enough to validate and document (OpenAPI), permissive about extra fields.

Bodies are forwarded as the client sent them; validation only rejects what no engine could
serve (no model, no messages, wrong types), with OpenAI-style 400 errors.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.gateway.errors import GatewayError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessage(_Open):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None


class CompletionRequest(_Open):
    model: str = Field(min_length=1)
    prompt: str | list[str]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)


class EmbeddingRequest(_Open):
    model: str = Field(min_length=1)
    input: str | list[str]


class AnthropicMessage(_Open):
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[AnthropicMessage] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None


async def read_body(request: Request, shape: type[BaseModel], limit: int) -> dict[str, Any]:
    """The JSON body, size-limited and validated against ``shape``; GatewayError otherwise."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise GatewayError(413, f"Request body is over {limit // 2**20} MiB.", "body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > limit:
            raise GatewayError(413, f"Request body is over {limit // 2**20} MiB.", "body_too_large")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GatewayError(400, f"The body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "The body must be a JSON object.", "invalid_json")
    try:
        shape.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GatewayError(
            400, f"Invalid request: {where}: {first['msg']}", "invalid_request", param=where
        ) from None
    return data

"""Errors as clients expect them: OpenAI's error JSON, or Anthropic's on ``/v1/messages``.

This is the one place where errors become HTTP for people (the CLI/UI is the other).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    502: "server_error",
    503: "service_unavailable",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
}


class GatewayError(Exception):
    """An error with its HTTP status; ``code`` is a stable machine-readable reason."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        retry_after: float | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.retry_after, self.param = retry_after, param


def error_body(err: GatewayError, anthropic: bool = False) -> dict[str, Any]:
    if anthropic:
        kind = _ANTHROPIC_TYPES.get(err.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": err.message}}
    kind = _OPENAI_TYPES.get(err.status, "server_error")
    return {"error": {"message": err.message, "type": kind, "param": err.param, "code": err.code}}


def error_response(err: GatewayError, anthropic: bool = False) -> JSONResponse:
    headers = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(err.retry_after)))
    return JSONResponse(error_body(err, anthropic), status_code=err.status, headers=headers)


def sse_error_event(err: GatewayError, anthropic: bool = False) -> bytes:
    """A server-sent event that ends a broken stream cleanly."""
    import json

    body = json.dumps(error_body(err, anthropic))
    if anthropic:
        return f"event: error\ndata: {body}\n\n".encode()
    return f"data: {body}\n\ndata: [DONE]\n\n".encode()

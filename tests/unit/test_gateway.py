"""Gateway over a fake engine, without sockets (httpx.ASGITransport both ways)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.gateway.app import create_app
from app.gateway.auth import ApiKeyStore
from app.gateway.records import RequestLog
from app.gateway.state import ExportConfig, GatewayState
from tests.fake_engine import EngineStats, FakePool, fake_engine

MODEL = "gemma-3-270m"


def _gateway(
    stats: EngineStats,
    export: ExportConfig | None = None,
    delay: float = 0.0,
    slots: int = 4,
    queue: int = 8,
    tokens: int = 5,
) -> tuple[httpx.AsyncClient, GatewayState]:
    pool = FakePool([MODEL, "qwen3.6-27b"])
    state = GatewayState(
        pool=pool,  # type: ignore[arg-type]
        list_models=lambda: [{"id": MODEL}, {"id": "qwen3.6-27b"}],
        log=RequestLog(),
        export=export or ExportConfig(),
        slots=slots,
        queue_limit=queue,
        max_body_bytes=64 * 1024,
    )
    engine = fake_engine(stats, delay=delay, tokens=tokens)
    state.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=engine))
    app = create_app(state)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return client, state


def _chat(stream: bool = False, content: str = "hi", model: str = MODEL) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}


async def test_chat_non_streaming_passes_through_and_records() -> None:
    stats = EngineStats()
    client, state = _gateway(stats)
    r = await client.post("/v1/chat/completions", json=_chat())
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"].startswith("hello")
    record = state.log.recent()[-1]
    assert (record.model, record.status, record.prompt_tokens) == (MODEL, 200, 10)
    assert record.cached_tokens == 6
    assert record.completion_tokens == 5


async def test_streaming_passes_every_event_through() -> None:
    stats = EngineStats()
    client, state = _gateway(stats, tokens=4)
    chunks = []
    async with client.stream("POST", "/v1/chat/completions", json=_chat(stream=True)) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
    text = b"".join(chunks).decode()
    assert text.count("data: ") == 6
    assert text.rstrip().endswith("data: [DONE]")
    # (httpx's ASGITransport collects the body; chunk timing is checked over real sockets
    # in tests/integration/test_gateway_engine.py.)
    record = state.log.recent()[-1]
    assert record.stream
    assert record.ttft_s is not None
    assert record.completion_tokens == 4


async def test_unknown_model_lists_close_names() -> None:
    client, _ = _gateway(EngineStats())
    r = await client.post("/v1/chat/completions", json=_chat(model="gemma-3-27"))
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found"
    assert "Did you mean" in err["message"]
    assert err["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"model": MODEL}).encode(), "messages"),
        (json.dumps({"model": MODEL, "messages": []}).encode(), "messages"),
        (json.dumps({"model": MODEL, "messages": [{"role": "wizard"}]}).encode(), "role"),
    ],
)
async def test_malformed_bodies_get_openai_errors(body: bytes, needle: str) -> None:
    client, _ = _gateway(EngineStats())
    r = await client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert needle in r.json()["error"]["message"]


async def test_body_too_large() -> None:
    client, _ = _gateway(EngineStats())
    r = await client.post("/v1/chat/completions", json=_chat(content="x" * 100_000))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


async def test_context_too_long_names_the_context_size() -> None:
    client, _ = _gateway(EngineStats())
    r = await client.post("/v1/chat/completions", json=_chat(content="TOO LONG"))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded"
    assert "4096" in err["message"]


async def test_anthropic_messages_and_anthropic_errors() -> None:
    client, _ = _gateway(EngineStats())
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    r = await client.post("/v1/messages", json=body)
    assert r.status_code == 200
    assert r.json()["content"][0]["text"] == "hi"
    r = await client.post("/v1/messages", json={**body, "model": "nope"})
    assert r.status_code == 404
    assert r.json()["type"] == "error"
    assert r.json()["error"]["type"] == "not_found_error"


async def test_overload_gets_429_with_retry_after_and_engine_never_exceeds_slots() -> None:
    stats = EngineStats()
    client, _ = _gateway(stats, delay=0.3, slots=4, queue=4)
    results = await asyncio.gather(
        *[client.post("/v1/chat/completions", json=_chat()) for _ in range(20)]
    )
    codes = [r.status_code for r in results]
    assert set(codes) <= {200, 429}
    assert codes.count(200) == 8
    assert all("Retry-After" in r.headers for r in results if r.status_code == 429)
    assert stats.peak <= 4
    assert all(
        r.json()["error"]["type"] == "rate_limit_error" for r in results if r.status_code == 429
    )


async def test_models_list_shows_loaded_state() -> None:
    client, _ = _gateway(EngineStats())
    await client.post("/v1/chat/completions", json=_chat())
    data = (await client.get("/v1/models")).json()["data"]
    loaded = {m["id"]: m["loaded"] for m in data}
    assert loaded == {MODEL: True, "qwen3.6-27b": False}


async def test_loopback_default_needs_no_key() -> None:
    client, _ = _gateway(EngineStats())
    assert (await client.get("/health")).status_code == 200


async def test_exported_endpoint_needs_the_key(tmp_path: Path) -> None:
    key = ApiKeyStore(tmp_path / "key").get()
    client, _ = _gateway(EngineStats(), ExportConfig(exported=True, api_key=key))
    assert (await client.get("/v1/models")).status_code == 401
    wrong = {"Authorization": "Bearer roost-wrong"}
    assert (await client.get("/v1/models", headers=wrong)).status_code == 401
    r = await client.post("/v1/chat/completions", json=_chat(), headers=wrong)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    good = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/models", headers=good)).status_code == 200
    assert (await client.get("/v1/models", headers={"x-api-key": key})).status_code == 200


def test_key_file_is_user_only_and_rotates(tmp_path: Path) -> None:
    store = ApiKeyStore(tmp_path / "sub" / "api_key")
    first = store.get()
    assert (tmp_path / "sub" / "api_key").stat().st_mode & 0o777 == 0o600
    assert store.get() == first
    (tmp_path / "sub" / "api_key").chmod(0o644)
    assert store.get() == first
    assert (tmp_path / "sub" / "api_key").stat().st_mode & 0o777 == 0o600
    assert store.rotate() != first


async def test_cors_preflight_from_unlisted_origin_is_refused() -> None:
    client, _ = _gateway(EngineStats(), ExportConfig(cors_origins=["http://ok.example"]))
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    r = await client.options("/v1/chat/completions", headers=pre)
    assert r.status_code == 403
    ok = {"Origin": "http://ok.example", "Access-Control-Request-Method": "POST"}
    r = await client.options("/v1/chat/completions", headers=ok)
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == "http://ok.example"


async def test_cors_is_off_by_default() -> None:
    client, _ = _gateway(EngineStats())
    pre = {"Origin": "http://any.example", "Access-Control-Request-Method": "POST"}
    assert (await client.options("/v1/chat/completions", headers=pre)).status_code == 403
    r = await client.get("/health", headers={"Origin": "http://any.example"})
    assert "access-control-allow-origin" not in r.headers

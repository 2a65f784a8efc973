"""The gateway's OpenAPI schema is served, and fuzzing it (bounded) never yields a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.gateway.app import create_app
from app.gateway.records import RequestLog
from app.gateway.state import ExportConfig, GatewayState
from tests.fake_engine import EngineStats, FakePool, fake_engine

pytestmark = pytest.mark.slow


def _app() -> object:
    state = GatewayState(
        pool=FakePool(["gemma-3-270m"]),  # type: ignore[arg-type]
        list_models=lambda: [{"id": "gemma-3-270m"}],
        log=RequestLog(),
        export=ExportConfig(),
    )
    state.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake_engine(EngineStats())))
    return create_app(state)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text

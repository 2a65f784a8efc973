"""The gateway's state, held on ``app.state`` (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.gateway.admission import Admission
from app.gateway.records import RequestLog
from app.runtime.model_pool import ModelPool

MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass
class ExportConfig:
    """Loopback-only unless exported; exported requires ``api_key``."""

    exported: bool = False
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)


@dataclass
class GatewayState:
    pool: ModelPool
    list_models: Callable[[], list[dict[str, Any]]]
    log: RequestLog
    export: ExportConfig
    slots: int = 4
    queue_limit: int = 8
    max_body_bytes: int = MAX_BODY_BYTES
    admissions: dict[str, Admission] = field(default_factory=dict)
    http: httpx.AsyncClient | None = None

    def admission(self, model_id: str) -> Admission:
        gate = self.admissions.get(model_id)
        if gate is None:
            gate = Admission(model_id, self.slots, self.queue_limit)
            self.admissions[model_id] = gate
        return gate

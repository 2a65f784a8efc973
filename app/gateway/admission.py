"""Admission control: at most ``slots`` requests per model run, a few wait, the rest get 429.

Overload must never reach the engine: it only ever sees as many concurrent requests as it has
slots, so it never answers 5xx for load and never ends up unhealthy.
"""

from __future__ import annotations

import asyncio

from app.gateway.errors import GatewayError

# Seconds a queued request may wait for a slot before it is answered 429.
QUEUE_WAIT_S = 60.0


class Admission:
    """One model's gate: ``slots`` running, ``queue_limit`` waiting."""

    def __init__(self, model_id: str, slots: int, queue_limit: int) -> None:
        self.model_id = model_id
        self.slots = max(1, slots)
        self.queue_limit = max(0, queue_limit)
        self._sem = asyncio.Semaphore(self.slots)
        self.waiting = 0
        self.active = 0

    def _busy(self, retry_after: float) -> GatewayError:
        return GatewayError(
            429,
            f"{self.model_id} is busy: {self.active} requests running on {self.slots} slots "
            f"and {self.waiting} queued. Retry shortly.",
            code="model_overloaded",
            retry_after=retry_after,
        )

    async def enter(self) -> None:
        """Take a slot, waiting in the bounded queue; raises GatewayError(429) when full."""
        if self.active < self.slots and not self.waiting:
            await self._sem.acquire()
            self.active += 1
            return
        if self.waiting >= self.queue_limit:
            raise self._busy(retry_after=2.0)
        self.waiting += 1
        try:
            await asyncio.wait_for(self._sem.acquire(), timeout=QUEUE_WAIT_S)
        except TimeoutError:
            raise self._busy(retry_after=5.0) from None
        finally:
            self.waiting -= 1
        self.active += 1

    def leave(self) -> None:
        self.active -= 1
        self._sem.release()

"""The API key for an exported endpoint: generated per install, user-only file, rotatable."""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from app.core.atomic import write_atomic

KEY_PREFIX = "roost-"


class ApiKeyStore:
    """Reads, creates and rotates the key file (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self) -> str:
        """The current key, created on first use."""
        if self.path.exists():
            key = self.path.read_text().strip()
            if key:
                self._tighten()
                return key
        return self.rotate()

    def rotate(self) -> str:
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        write_atomic(self.path, key + "\n", mode=0o600)
        return key

    def _tighten(self) -> None:
        mode = stat.S_IMODE(os.stat(self.path).st_mode)
        if mode & 0o077:
            os.chmod(self.path, 0o600)


def presented_key(headers: dict[str, str]) -> str:
    """The key a client sent: ``Authorization: Bearer`` (OpenAI) or ``x-api-key`` (Anthropic)."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get("x-api-key", "").strip()


def key_matches(presented: str, expected: str) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(presented.encode(), expected.encode())

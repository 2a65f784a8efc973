"""Test-wide set-up: every test writes under a temporary ROOST_HOME, never the real one.

Managed engine builds are the exception: they take minutes, so tests share the user's
engine cache (``ROOST_ENGINE_CACHE``) exactly as repeated `roost` runs do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import platformdirs
import pytest

os.environ.setdefault(
    "ROOST_ENGINE_CACHE", str(Path(platformdirs.user_cache_dir("roost")) / "engines")
)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="roost-test-"))
os.environ["ROOST_HOME"] = str(_SESSION_HOME)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def session_home() -> Path:
    """The ROOST_HOME shared by the whole test session."""
    return _SESSION_HOME

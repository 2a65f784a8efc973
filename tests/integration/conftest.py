"""Fixtures for tests that run real engines: the managed llama.cpp build and the embedded model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from app.catalog.catalog import load_catalog
from app.catalog.resolve import ResolvedModel, resolve_entry
from app.core.paths import default_paths
from app.runtime.engine_install import install_llama_cpp
from engines.llamacpp.driver import LlamaCppDriver


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """The Roost-managed CPU build (built once, ~7 min; cached outside the repo)."""
    cache = Path(os.environ["ROOST_ENGINE_CACHE"])
    return install_llama_cpp(cache, "cpu").server


@pytest.fixture(scope="session")
def llama_driver(llama_server_binary: Path) -> LlamaCppDriver:
    return LlamaCppDriver(llama_server_binary)


@pytest.fixture(scope="session")
def embedded_model() -> ResolvedModel:
    catalog = load_catalog()
    entry = catalog.embedded_model
    resolved = resolve_entry(entry, entry.variant(), default_paths().models_dir)
    assert resolved.path is not None
    return resolved


def _engine_children() -> list[psutil.Process]:
    me = psutil.Process()
    return [p for p in me.children(recursive=True) if "llama-server" in " ".join(p.cmdline())]


@pytest.fixture(autouse=True, scope="module")
def no_engine_left_behind() -> Iterator[None]:
    """After each module: no llama-server child process and no pidfile remain."""
    yield
    leftovers = _engine_children()
    for p in leftovers:
        p.kill()
    assert not leftovers, f"engine processes left behind: {[p.pid for p in leftovers]}"
    run_dir = default_paths().run_dir
    assert not list(run_dir.glob("*.pid.json")) if run_dir.exists() else True

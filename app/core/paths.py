"""Where Roost keeps its files (per-user directories from platformdirs).

``ROOST_HOME`` overrides all of them with one directory (tests and portable installs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class RoostPaths:
    """The directories Roost writes to."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def engines_dir(self) -> Path:
        return self.data_dir / "engines"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def engine_cache_dir(self) -> Path:
        """Managed engine builds; ``$ROOST_ENGINE_CACHE`` overrides (tests share one build)."""
        override = os.environ.get("ROOST_ENGINE_CACHE")
        return Path(override) if override else self.cache_dir / "engines"


def default_paths() -> RoostPaths:
    """Per-user directories, or all under ``$ROOST_HOME`` when it is set."""
    home = os.environ.get("ROOST_HOME")
    if home:
        base = Path(home)
        return RoostPaths(base / "config", base / "data", base / "cache", base / "logs")
    return RoostPaths(
        config_dir=Path(platformdirs.user_config_dir("roost")),
        data_dir=Path(platformdirs.user_data_dir("roost")),
        cache_dir=Path(platformdirs.user_cache_dir("roost")),
        log_dir=Path(platformdirs.user_log_dir("roost")),
    )

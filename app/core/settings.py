"""One settings model for the settings file, environment variables (``ROOST_*``) and CLI flags.

Precedence: CLI flags (passed as init kwargs) > environment > settings file > defaults.
The file carries a ``schema_version`` so later versions can migrate it, and is written
atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.core.atomic import write_atomic
from app.core.errors import SettingsError

SCHEMA_VERSION = 1


class RoostSettings(BaseSettings):
    """User settings."""

    model_config = SettingsConfigDict(env_prefix="ROOST_", extra="ignore")

    schema_version: int = SCHEMA_VERSION
    llama_server_path: str | None = Field(
        default=None, description="Use this llama-server binary instead of PATH or a managed build"
    )
    default_context: int | None = Field(
        default=None, description="Context size in tokens; unset = the planner chooses"
    )
    safety_margin_bytes: int = Field(
        default=512 * 1024**2, description="Memory kept free on each device (bytes)"
    )
    gpu_bandwidth_efficiency: float | None = Field(
        default=None, description="Calibrated fraction of peak GPU bandwidth reached at decode"
    )
    cpu_bandwidth_efficiency: float | None = Field(
        default=None, description="Calibrated fraction of peak RAM bandwidth reached at decode"
    )
    gateway_port: int = Field(default=11480, ge=1, le=65535, description="The local endpoint")
    export_enabled: bool = Field(
        default=False, description="Listen beyond loopback (requires the API key)"
    )
    export_host: str = Field(default="0.0.0.0", description="Interface to bind when exported")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS")
    idle_unload_s: float = Field(default=900.0, description="Unload a model idle this long (s)")
    gateway_slots: int = Field(default=4, ge=1, description="Parallel requests per model")
    gateway_queue: int = Field(default=8, ge=0, description="Requests waiting per model")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)


def load_settings(path: Path, **overrides: Any) -> RoostSettings:
    """Read the settings file (missing = defaults), then apply env and ``overrides``."""
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SettingsError(
                f"The settings file {path} cannot be read: {exc}",
                hint="Fix or delete the file; Roost will recreate it with defaults.",
            ) from exc
        if not isinstance(data, dict):
            raise SettingsError(f"The settings file {path} is not a JSON object.")
    file_values = {k: v for k, v in data.items() if k in RoostSettings.model_fields}
    env_values = RoostSettings().model_dump(exclude_unset=True)
    try:
        return RoostSettings(**{**file_values, **env_values, **overrides})
    except ValidationError as exc:
        raise SettingsError(f"Invalid setting in {path}: {exc}") from exc


def save_settings(settings: RoostSettings, path: Path) -> None:
    """Write the settings atomically, user-readable only."""
    write_atomic(path, settings.model_dump_json(indent=2) + "\n", mode=0o600)

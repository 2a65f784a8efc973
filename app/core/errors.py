"""Typed errors that carry user-facing text and a hint.

Hierarchy::

    RoostError                  base: ``message`` (what happened) and ``hint`` (what to do)
    ├── HardwareProbeError      a hardware probe could not run (probes normally fail soft)
    ├── ModelFileError          a model file is missing, truncated, corrupt or not GGUF
    ├── CatalogError            models_catalog.yaml is malformed or names an unknown model
    ├── PlanError               no placement exists (e.g. the model does not fit)
    ├── SettingsError           a settings or profile file cannot be read
    └── EngineError             an engine failed to install, start or serve

Errors are turned into text for people in exactly two places: the CLI/UI
(``str(err)`` plus the hint) and the HTTP gateway (OpenAI-style error JSON).
"""

from __future__ import annotations


class RoostError(Exception):
    """Base class: ``message`` is for the user, ``hint`` says what to do next."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def user_text(self) -> str:
        """Message and hint as one paragraph for a person."""
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class HardwareProbeError(RoostError):
    """A hardware probe could not run."""


class ModelFileError(RoostError):
    """A model file is missing, truncated, corrupt or not a GGUF file."""


class CatalogError(RoostError):
    """The catalog is malformed or does not know a model."""


class PlanError(RoostError):
    """No placement exists for the request."""


class SettingsError(RoostError):
    """A settings or hardware-profile file cannot be read or written."""


class EngineError(RoostError):
    """An engine failed to install, start or serve."""

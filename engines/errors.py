"""Engine errors. ``engines`` never imports ``app``; the runtime maps these onto app errors.

Hierarchy::

    EngineFailure               base: ``message`` and ``hint`` for people
    ├── EngineNotInstalled      no binary / package for this engine
    ├── EngineBuildFailed       the managed build failed (log path in the message)
    ├── EngineBuildCancelled    the user cancelled an install
    ├── EngineStartFailed       the process exited or never became ready
    │   ├── OutOfMemory         it could not allocate its buffers
    │   ├── UnsupportedModel    unknown architecture / not supported by this build
    │   ├── CorruptModelFile    the model file is truncated or damaged
    │   └── PortInUse           the port was taken
    └── EngineCrashed           a ready process died
"""

from __future__ import annotations


class EngineFailure(Exception):
    def __init__(self, message: str, hint: str = "", log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log_tail = log_tail


class EngineNotInstalled(EngineFailure):
    pass


class EngineBuildFailed(EngineFailure):
    pass


class EngineBuildCancelled(EngineFailure):
    pass


class EngineStartFailed(EngineFailure):
    pass


class OutOfMemory(EngineStartFailed):
    pass


class UnsupportedModel(EngineStartFailed):
    pass


class CorruptModelFile(EngineStartFailed):
    pass


class PortInUse(EngineStartFailed):
    pass


class EngineCrashed(EngineFailure):
    pass

"""A stand-in for ``pynvml`` (nvidia-ml-py) for machines without an NVIDIA GPU.

Shaped like the real module: the same function names and signatures, the same constants, and
an ``NVMLError`` whose ``__new__`` maps an error code to a per-code subclass
(``NVMLError_NotSupported``...), exactly as pynvml's ``_extractNVMLErrorsAsClasses`` builds
them. Return shapes follow pynvml 12+: names and UUIDs are ``str``, memory info an object with
``.total/.free/.used`` (bytes), compute capability a ``(major, minor)`` tuple, the CUDA driver
version an int such as 12040. tests/unit/test_hardware_nvidia.py checks the shape against the
installed pynvml.

A ``FakeNvml`` instance is what the probe receives as its ``nvml`` module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_CLOCK_VIDEO = 3

_ERROR_TEXT = {
    NVML_ERROR_UNINITIALIZED: "Uninitialized",
    NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
    NVML_ERROR_NOT_SUPPORTED: "Not Supported",
    NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
    NVML_ERROR_NOT_FOUND: "Not Found",
    NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
    NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
    NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
    NVML_ERROR_GPU_IS_LOST: "GPU is lost",
    NVML_ERROR_LIB_RM_VERSION_MISMATCH: "RM has detected an NVML/RM version mismatch.",
    NVML_ERROR_UNKNOWN: "Unknown Error",
}


class NVMLError(Exception):
    """pynvml's base error: ``NVMLError(code)`` returns the code's subclass."""

    _valClassMapping: ClassVar[dict[int, type[NVMLError]]] = {}
    value: int

    def __new__(cls, value: int = NVML_ERROR_UNKNOWN) -> NVMLError:  # subclasses take none
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __str__(self) -> str:
        return _ERROR_TEXT.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    __hash__ = Exception.__hash__


def _error_class(name: str, value: int) -> type[NVMLError]:
    def new(typ: type[NVMLError], *args: Any) -> NVMLError:
        return NVMLError.__new__(typ, value)

    cls = type(name, (NVMLError,), {"__new__": new})
    NVMLError._valClassMapping[value] = cls
    return cls


NVMLError_Uninitialized = _error_class("NVMLError_Uninitialized", NVML_ERROR_UNINITIALIZED)
NVMLError_InvalidArgument = _error_class("NVMLError_InvalidArgument", NVML_ERROR_INVALID_ARGUMENT)
NVMLError_NotSupported = _error_class("NVMLError_NotSupported", NVML_ERROR_NOT_SUPPORTED)
NVMLError_NoPermission = _error_class("NVMLError_NoPermission", NVML_ERROR_NO_PERMISSION)
NVMLError_NotFound = _error_class("NVMLError_NotFound", NVML_ERROR_NOT_FOUND)
NVMLError_DriverNotLoaded = _error_class("NVMLError_DriverNotLoaded", NVML_ERROR_DRIVER_NOT_LOADED)
NVMLError_LibraryNotFound = _error_class("NVMLError_LibraryNotFound", NVML_ERROR_LIBRARY_NOT_FOUND)
NVMLError_FunctionNotFound = _error_class(
    "NVMLError_FunctionNotFound", NVML_ERROR_FUNCTION_NOT_FOUND
)
NVMLError_GpuIsLost = _error_class("NVMLError_GpuIsLost", NVML_ERROR_GPU_IS_LOST)
NVMLError_LibRmVersionMismatch = _error_class(
    "NVMLError_LibRmVersionMismatch", NVML_ERROR_LIB_RM_VERSION_MISMATCH
)
NVMLError_Unknown = _error_class("NVMLError_Unknown", NVML_ERROR_UNKNOWN)

MIB = 1024**2


@dataclass
class c_nvmlMemory_t:  # pynvml's ctypes structure name
    """What ``nvmlDeviceGetMemoryInfo`` returns: bytes."""

    total: int
    free: int
    used: int


@dataclass
class FakeGpu:
    """One GPU as NVML would report it. ``fail`` maps a pynvml function name to the error
    class it raises for this GPU, e.g. ``{"nvmlDeviceGetMemoryBusWidth": NVMLError_NotSupported}``.
    """

    name: str = "NVIDIA GeForce RTX 4090"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    total_mib: int = 24564
    used_mib: int = 500
    compute_capability: tuple[int, int] = (8, 9)
    bus_width_bits: int = 384
    max_mem_clock_mhz: int = 10501
    max_graphics_clock_mhz: int = 3105
    pcie_current: tuple[int, int] = (1, 16)  # generation drops when idle
    pcie_max: tuple[int, int] = (4, 16)
    fail: dict[str, type[NVMLError]] = field(default_factory=dict)


# Inside FakeNvml the name NVMLError is the class attribute; annotations use this alias.
_ErrorClass = type[NVMLError]


@dataclass(frozen=True)
class _Handle:
    index: int


class FakeNvml:
    """The pynvml API over a list of ``FakeGpu``; ``init_error`` makes ``nvmlInit`` raise."""

    NVMLError = NVMLError
    NVMLError_Uninitialized = NVMLError_Uninitialized
    NVMLError_InvalidArgument = NVMLError_InvalidArgument
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_NoPermission = NVMLError_NoPermission
    NVMLError_NotFound = NVMLError_NotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_FunctionNotFound = NVMLError_FunctionNotFound
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_LibRmVersionMismatch = NVMLError_LibRmVersionMismatch
    NVMLError_Unknown = NVMLError_Unknown
    NVML_CLOCK_GRAPHICS = NVML_CLOCK_GRAPHICS
    NVML_CLOCK_SM = NVML_CLOCK_SM
    NVML_CLOCK_MEM = NVML_CLOCK_MEM
    NVML_CLOCK_VIDEO = NVML_CLOCK_VIDEO

    def __init__(
        self,
        gpus: list[FakeGpu] | None = None,
        *,
        init_error: _ErrorClass | None = None,
        driver_version: str = "550.54.14",
        cuda_driver_version: int = 12040,
    ) -> None:
        self.gpus = list(gpus or [])
        self.init_error = init_error
        self.driver_version = driver_version
        self.cuda_driver_version = cuda_driver_version
        self.initialized = False
        self.shutdown_calls = 0

    # -- library ---------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.init_error()
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._check()
        self.initialized = False
        self.shutdown_calls += 1

    def _check(self) -> None:
        if not self.initialized:
            raise NVMLError_Uninitialized()

    def _gpu(self, handle: _Handle, function: str) -> FakeGpu:
        self._check()
        gpu = self.gpus[handle.index]
        if function in gpu.fail:
            raise gpu.fail[function]()
        return gpu

    # -- system ----------------------------------------------------------------------------
    def nvmlSystemGetDriverVersion(self) -> str:
        self._check()
        return self.driver_version

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._check()
        return self.cuda_driver_version

    def nvmlDeviceGetCount(self) -> int:
        self._check()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        self._check()
        if not 0 <= index < len(self.gpus):
            raise NVMLError_InvalidArgument()
        return _Handle(index)

    # -- device ----------------------------------------------------------------------------
    def nvmlDeviceGetName(self, handle: _Handle) -> str:
        return self._gpu(handle, "nvmlDeviceGetName").name

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:
        return self._gpu(handle, "nvmlDeviceGetUUID").uuid

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle, version: int | None = None) -> Any:
        gpu = self._gpu(handle, "nvmlDeviceGetMemoryInfo")
        total, used = gpu.total_mib * MIB, gpu.used_mib * MIB
        return c_nvmlMemory_t(total=total, free=total - used, used=used)

    def nvmlDeviceGetCudaComputeCapability(self, handle: _Handle) -> tuple[int, int]:
        return self._gpu(handle, "nvmlDeviceGetCudaComputeCapability").compute_capability

    def nvmlDeviceGetMemoryBusWidth(self, device: _Handle) -> int:
        return self._gpu(device, "nvmlDeviceGetMemoryBusWidth").bus_width_bits

    def nvmlDeviceGetMaxClockInfo(self, handle: _Handle, type: int) -> int:
        gpu = self._gpu(handle, "nvmlDeviceGetMaxClockInfo")
        return gpu.max_mem_clock_mhz if type == NVML_CLOCK_MEM else gpu.max_graphics_clock_mhz

    def nvmlDeviceGetCurrPcieLinkGeneration(self, handle: _Handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkGeneration").pcie_current[0]

    def nvmlDeviceGetCurrPcieLinkWidth(self, handle: _Handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetCurrPcieLinkWidth").pcie_current[1]

    def nvmlDeviceGetMaxPcieLinkGeneration(self, handle: _Handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetMaxPcieLinkGeneration").pcie_max[0]

    def nvmlDeviceGetMaxPcieLinkWidth(self, handle: _Handle) -> int:
        return self._gpu(handle, "nvmlDeviceGetMaxPcieLinkWidth").pcie_max[1]


# Real figures as NVML reports them (nvidia-smi -q "Max Clocks: Memory", bus width), for tests.
def rtx_3090(**kw: Any) -> FakeGpu:
    """RTX 3090: 9751 MHz × 384 bit → 936 GB/s."""
    base: dict[str, Any] = {
        "name": "NVIDIA GeForce RTX 3090",
        "total_mib": 24576,
        "compute_capability": (8, 6),
        "bus_width_bits": 384,
        "max_mem_clock_mhz": 9751,
    }
    return FakeGpu(**{**base, **kw})


def a100_40gb(**kw: Any) -> FakeGpu:
    """A100 40GB (HBM2): 1215 MHz × 5120 bit → 1555 GB/s."""
    base: dict[str, Any] = {
        "name": "NVIDIA A100-PCIE-40GB",
        "total_mib": 40960,
        "compute_capability": (8, 0),
        "bus_width_bits": 5120,
        "max_mem_clock_mhz": 1215,
    }
    return FakeGpu(**{**base, **kw})

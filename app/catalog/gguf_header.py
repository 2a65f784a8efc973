"""Read a GGUF file's metadata and tensor table without loading its weights.

One parser (:func:`read_gguf_header`) works over any :class:`RangeReader` — something that can
return ``n`` bytes at an ``offset``. Two readers exist: :class:`LocalFileReader` for files on
disk and :class:`HttpRangeReader` for remote files (HTTP ``Range`` requests through ``httpx``,
following redirects, with an optional bearer token for gated Hugging Face repos).

The parser asks for the header in growing chunks (2 MiB first, then doubling), so a remote
header costs a few requests and a few megabytes however large the weights are. Format constants
come from the ``gguf`` package. Layout (GGUF v2/v3)::

    magic "GGUF" · version u32 · n_tensors u64 · n_kv u64
    n_kv × (key string, value type u32, value)
    n_tensors × (name string, n_dims u32, dims u64 × n_dims, ggml type u32, offset u64)
    padding to general.alignment · tensor data (offsets are relative to its start)
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import httpx
from gguf import (
    GGML_QUANT_SIZES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUF_MAGIC,
    GGMLQuantizationType,
    GGUFValueType,
    Keys,
)

from app.core.errors import ModelFileError

log = logging.getLogger(__name__)

FIRST_CHUNK_BYTES = 2 * 1024 * 1024
MAX_HEADER_BYTES = 1024 * 1024 * 1024  # no real header is near this; a corrupt length would be
SUPPORTED_VERSIONS = (2, 3)
_MAGIC = struct.pack("<I", GGUF_MAGIC)  # b"GGUF"
_REDOWNLOAD_HINT = "The file looks incomplete or damaged; download it again."
# struct codes of the fixed-size GGUF value types
_SCALAR_FORMATS = MappingProxyType(
    {
        GGUFValueType.UINT8: "B",
        GGUFValueType.INT8: "b",
        GGUFValueType.UINT16: "H",
        GGUFValueType.INT16: "h",
        GGUFValueType.UINT32: "I",
        GGUFValueType.INT32: "i",
        GGUFValueType.FLOAT32: "f",
        GGUFValueType.BOOL: "?",
        GGUFValueType.UINT64: "Q",
        GGUFValueType.INT64: "q",
        GGUFValueType.FLOAT64: "d",
    }
)


class RangeReader(Protocol):
    """A byte source: ``read(offset, n)`` returns up to ``n`` bytes (fewer only at the end)."""

    source: str

    def read(self, offset: int, n: int) -> bytes: ...

    def size(self) -> int | None:
        """Total size in bytes, or None while unknown."""
        ...

    def close(self) -> None: ...


class LocalFileReader:
    """A :class:`RangeReader` over a file on disk."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        try:
            self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise ModelFileError(f"{path} does not exist.", "Check the path.") from None
        except IsADirectoryError:
            raise ModelFileError(f"{path} is a directory, not a GGUF file.") from None
        except OSError as exc:
            raise ModelFileError(f"Cannot open {path}: {exc.strerror}.") from exc
        self._size = os.fstat(self._fh.fileno()).st_size

    def read(self, offset: int, n: int) -> bytes:
        self._fh.seek(offset)
        return self._fh.read(n)

    def size(self) -> int | None:
        return self._size

    def close(self) -> None:
        self._fh.close()


class HttpRangeReader:
    """A :class:`RangeReader` over an HTTP(S) URL using ``Range`` requests.

    Servers that ignore ``Range`` (200 with the whole body) are read as a stream that is
    closed as soon as the wanted bytes have arrived. ``bytes_received`` counts body bytes read.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.source = url
        self.bytes_received = 0
        headers = {"Accept-Encoding": "identity", "User-Agent": "roost"}
        if token:
            # httpx drops Authorization on redirects to another host (e.g. a CDN).
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._owns_client = client is None
        self._client = client or httpx.Client(follow_redirects=True, timeout=timeout_s)
        self._size: int | None = None
        self._warned_no_range = False

    def size(self) -> int | None:
        return self._size

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def read(self, offset: int, n: int) -> bytes:
        if n <= 0:
            return b""
        headers = {**self._headers, "Range": f"bytes={offset}-{offset + n - 1}"}
        try:
            with self._client.stream("GET", self.source, headers=headers) as resp:
                if resp.status_code == 416:  # the range starts past the end of the file
                    self._size = _content_range_total(resp.headers.get("content-range"))
                    return b""
                if resp.status_code == 206:
                    self._size = _content_range_total(resp.headers.get("content-range"))
                    return self._take(resp, skip=0, n=n)
                if resp.status_code == 200:
                    length = resp.headers.get("content-length")
                    self._size = int(length) if length and length.isdigit() else None
                    if not self._warned_no_range:
                        log.info("%s ignores Range requests; streaming from the start", self.source)
                        self._warned_no_range = True
                    return self._take(resp, skip=offset, n=n)
                raise _http_status_error(self.source, resp.status_code)
        except httpx.HTTPError as exc:
            raise ModelFileError(
                f"Could not read {self.source}: {exc}",
                "Check the URL and your network connection.",
            ) from exc

    def _take(self, resp: httpx.Response, *, skip: int, n: int) -> bytes:
        """Bytes ``[skip, skip + n)`` of the body; stops reading once they have arrived."""
        out = bytearray()
        seen = 0
        for chunk in resp.iter_raw():
            self.bytes_received += len(chunk)
            start = max(0, skip - seen)
            seen += len(chunk)
            if start < len(chunk):
                out += chunk[start : start + n - len(out)]
            if len(out) >= n:
                break
        return bytes(out)


def _content_range_total(value: str | None) -> int | None:
    """``bytes 0-99/1234`` or ``bytes */1234`` → 1234."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _http_status_error(url: str, status: int) -> ModelFileError:
    if status in (401, 403):
        hint = "The repository may be gated or private: accept its licence and pass a token."
    elif status == 404:
        hint = "Check the URL (for Hugging Face use .../resolve/<revision>/<file>.gguf)."
    else:
        hint = "The server refused the request; try again later."
    return ModelFileError(f"HTTP {status} while reading {url}.", hint)


def open_reader(source: str | Path, *, token: str | None = None) -> RangeReader:
    """A reader for a local path or an ``http(s)://`` URL."""
    text = str(source)
    if text.startswith(("http://", "https://")):
        return HttpRangeReader(text, token=token)
    return LocalFileReader(Path(source))


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table. ``shape`` is in ggml order (fastest dimension first)."""

    name: str
    shape: tuple[int, ...]
    ggml_type: GGMLQuantizationType
    offset: int  # bytes, relative to the start of the tensor data
    n_bytes: int

    @property
    def n_elements(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True)
class GGUFHeader:
    """Everything before the tensor data. Sizes and offsets are bytes."""

    source: str
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    alignment: int
    data_offset: int  # absolute offset of the tensor data
    file_size: int | None  # None when a server did not say
    header_bytes: int = 0  # bytes parsed (the header's own length)

    @property
    def data_bytes(self) -> int:
        """Bytes the tensor data needs: end of the furthest tensor."""
        return max((t.offset + t.n_bytes for t in self.tensors), default=0)


def tensor_nbytes(shape: tuple[int, ...], ggml_type: GGMLQuantizationType) -> int:
    """Bytes a tensor of ``shape`` takes in ``ggml_type`` (from ``gguf.GGML_QUANT_SIZES``)."""
    block_size, type_size = GGML_QUANT_SIZES[ggml_type]
    n = prod(shape)
    return n // block_size * type_size


class _Cursor:
    """Sequential reads over a RangeReader, fetching the header in growing chunks."""

    def __init__(self, reader: RangeReader, first_chunk: int) -> None:
        self.reader = reader
        self.buf = bytearray()
        self.pos = 0
        self.endian = "<"
        self._next_chunk = first_chunk

    def _ensure(self, n: int) -> None:
        need = self.pos + n
        while len(self.buf) < need:
            size = self.reader.size()
            if need > MAX_HEADER_BYTES or (size is not None and need > size):
                raise self.truncated(need)
            want = max(need - len(self.buf), self._next_chunk)
            self._next_chunk *= 2
            data = self.reader.read(len(self.buf), want)
            if not data:
                raise self.truncated(need)
            self.buf += data

    def truncated(self, need: int) -> ModelFileError:
        size = self.reader.size()
        have = size if size is not None else len(self.buf)
        return ModelFileError(
            f"{self.reader.source} is truncated or damaged: its GGUF header needs at least {need} "
            f"bytes but the file has only {have}.",
            _REDOWNLOAD_HINT,
        )

    def prefix(self, n: int) -> bytes:
        """The first ``n`` bytes or fewer (a short file is not an error here)."""
        if not self.buf:
            self.buf += self.reader.read(0, self._next_chunk)
            self._next_chunk *= 2
        return bytes(self.buf[:n])

    def take(self, n: int) -> bytes:
        self._ensure(n)
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def unpack(self, fmt: str, count: int = 1) -> tuple[Any, ...]:
        full = f"{self.endian}{count}{fmt}"
        n = struct.calcsize(full)
        self._ensure(n)
        values = struct.unpack_from(full, self.buf, self.pos)
        self.pos += n
        return values

    def u32(self) -> int:
        return int(self.unpack("I")[0])

    def u64(self) -> int:
        return int(self.unpack("Q")[0])

    def string(self) -> str:
        return self.take(self.u64()).decode("utf-8", errors="replace")

    def strings(self, count: int) -> list[str]:
        """``count`` strings; a tight loop because vocabularies hold 100k+ of them."""
        length = struct.Struct(f"{self.endian}Q")
        out = []
        for _ in range(count):
            if self.pos + 8 > len(self.buf):
                self._ensure(8)
            (n,) = length.unpack_from(self.buf, self.pos)
            self.pos += 8
            if self.pos + n > len(self.buf):
                self._ensure(n)
            out.append(self.buf[self.pos : self.pos + n].decode("utf-8", errors="replace"))
            self.pos += n
        return out


def _value_type(cur: _Cursor, raw: int, key: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise ModelFileError(
            f"{cur.reader.source} is damaged: metadata key {key!r} has unknown type {raw}.",
            _REDOWNLOAD_HINT,
        ) from None


def _read_value(cur: _Cursor, vtype: GGUFValueType, key: str) -> Any:
    if vtype == GGUFValueType.STRING:
        return cur.string()
    if vtype == GGUFValueType.ARRAY:
        item_type = _value_type(cur, cur.u32(), key)
        count = cur.u64()
        if item_type in _SCALAR_FORMATS:
            return list(cur.unpack(_SCALAR_FORMATS[item_type], count))
        if item_type == GGUFValueType.STRING:
            return cur.strings(count)
        return [_read_value(cur, item_type, key) for _ in range(count)]
    return cur.unpack(_SCALAR_FORMATS[vtype])[0]


def _check_magic(cur: _Cursor) -> None:
    source = cur.reader.source
    head = cur.prefix(16)
    if not head:
        raise ModelFileError(f"{source} is empty (0 bytes).", _REDOWNLOAD_HINT)
    if head[:4] != _MAGIC:
        hint = "Pick a .gguf model file."
        if head.lstrip().startswith((b"<", b"{")):
            hint = "This looks like a web page or JSON, not the file itself; use a direct link."
        elif head.startswith(b"PK"):
            hint = "This is a zip archive; extract the .gguf file from it first."
        raise ModelFileError(f"{source} is not a GGUF file (starts with {head[:8]!r}).", hint)


def read_gguf_header(reader: RangeReader, *, first_chunk: int = FIRST_CHUNK_BYTES) -> GGUFHeader:
    """Parse the metadata and tensor table available from ``reader``.

    Reads only the header (starting with ``first_chunk`` bytes and doubling as needed) and
    checks that the tensor data fits in the file. Raises :class:`ModelFileError` for a file that
    is not GGUF, has an unsupported version, or is truncated.
    """
    source = reader.source
    cur = _Cursor(reader, first_chunk)
    _check_magic(cur)
    cur.take(4)
    version_bytes = cur.take(4)
    version = struct.unpack("<I", version_bytes)[0]
    if version & 0xFFFF == 0 and struct.unpack(">I", version_bytes)[0] in SUPPORTED_VERSIONS:
        cur.endian = ">"  # big-endian GGUF (e.g. for s390x)
        version = struct.unpack(">I", version_bytes)[0]
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(
            f"{source} is GGUF version {version}; Roost reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}.",
            "Convert the model again with a recent llama.cpp, or update Roost.",
        )
    n_tensors, n_kv = cur.unpack("Q", 2)
    if n_tensors > 10_000_000 or n_kv > 10_000_000:
        raise ModelFileError(f"{source} has a damaged GGUF header.", _REDOWNLOAD_HINT)

    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = _read_value(cur, _value_type(cur, cur.u32(), key), key)

    tensors: list[TensorInfo] = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.u32()
        shape = tuple(int(d) for d in cur.unpack("Q", n_dims)) if n_dims else ()
        raw_type = cur.u32()
        offset = cur.u64()
        try:
            ggml_type = GGMLQuantizationType(raw_type)
        except ValueError:
            raise ModelFileError(
                f"{source}: tensor {name!r} uses ggml type {raw_type}, unknown to this version "
                "of the gguf package.",
                "Update Roost (and its gguf dependency).",
            ) from None
        tensors.append(TensorInfo(name, shape, ggml_type, offset, tensor_nbytes(shape, ggml_type)))

    alignment = int(metadata.get(Keys.General.ALIGNMENT, GGUF_DEFAULT_ALIGNMENT)) or 1
    data_offset = -(-cur.pos // alignment) * alignment
    header = GGUFHeader(
        source=source,
        version=version,
        metadata=metadata,
        tensors=tensors,
        alignment=alignment,
        data_offset=data_offset,
        file_size=reader.size(),
        header_bytes=cur.pos,
    )
    _check_data_fits(header)
    return header


def _check_data_fits(header: GGUFHeader) -> None:
    expected = header.data_offset + header.data_bytes
    if header.file_size is not None and header.file_size < expected:
        raise ModelFileError(
            f"{header.source} is truncated: its tensors need {expected} bytes but the file "
            f"has only {header.file_size} ({expected - header.file_size} bytes missing).",
            _REDOWNLOAD_HINT,
        )


def read_header(
    source: str | Path, *, token: str | None = None, first_chunk: int = FIRST_CHUNK_BYTES
) -> GGUFHeader:
    """Open ``source`` (a path or an ``http(s)://`` URL) and parse its GGUF header."""
    reader = open_reader(source, token=token)
    try:
        return read_gguf_header(reader, first_chunk=first_chunk)
    finally:
        reader.close()

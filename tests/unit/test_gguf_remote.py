"""Remote inspection over HTTP Range requests against a local server (tests/range_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog.gguf_header import FIRST_CHUNK_BYTES, HttpRangeReader, read_gguf_header
from app.catalog.inspect import inspect_gguf
from app.core.errors import ModelFileError
from tests.gguf_factory import write_dense, write_hybrid
from tests.range_server import RangeServer


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dense model of ~13 MB (large vocabulary), so the header is a small part of it."""
    return write_dense(tmp_path_factory.mktemp("remote") / "big.gguf", n_vocab=65536).path


def test_remote_equals_local_and_reads_only_the_header(big_model: Path) -> None:
    size = big_model.stat().st_size
    assert size > 6 * FIRST_CHUNK_BYTES
    local = inspect_gguf(big_model)
    with RangeServer({"/m/big.gguf": big_model}) as server:
        remote = inspect_gguf(server.url("/m/big.gguf"))
    assert remote == local
    assert remote.file_size_bytes == size
    assert server.bytes_served <= FIRST_CHUNK_BYTES
    assert server.bytes_served < size / 6
    assert all(rng and rng.startswith("bytes=") for _, rng in server.requests)


def test_header_larger_than_first_chunk_grows(big_model: Path) -> None:
    with RangeServer({"/big.gguf": big_model}) as server:
        reader = HttpRangeReader(server.url("/big.gguf"))
        header = read_gguf_header(reader, first_chunk=4096)
        reader.close()
    assert header.header_bytes > 4096
    assert len(server.requests) > 2
    assert server.bytes_served == reader.bytes_received
    assert server.bytes_served < 4 * header.data_offset


def test_server_that_ignores_range(big_model: Path) -> None:
    size = big_model.stat().st_size
    with RangeServer({"/big.gguf": big_model}, ignore_range=True) as server:
        spec = inspect_gguf(server.url("/big.gguf"))
    assert spec == inspect_gguf(big_model)
    # the stream is dropped once the header has arrived (socket buffers add a little)
    assert server.bytes_served < size / 2


def test_server_that_ignores_range_with_a_growing_header(big_model: Path) -> None:
    with RangeServer({"/big.gguf": big_model}, ignore_range=True) as server:
        reader = HttpRangeReader(server.url("/big.gguf"))
        header = read_gguf_header(reader, first_chunk=4096)
        reader.close()
    assert header.tensors[0].name == "token_embd.weight"
    assert header.file_size == big_model.stat().st_size


def test_404(tmp_path: Path) -> None:
    with (
        RangeServer({}) as server,
        pytest.raises(ModelFileError, match=r"HTTP 404 while reading http://127\.0\.0\.1") as info,
    ):
        inspect_gguf(server.url("/missing.gguf"))
    assert "resolve" in info.value.hint


def test_redirect_is_followed(tmp_path: Path) -> None:
    path = write_hybrid(tmp_path / "h.gguf").path
    with RangeServer(
        {"/cdn/h.gguf": path}, redirects={"/repo/resolve/main/h.gguf": "/cdn/h.gguf"}
    ) as s:
        spec = inspect_gguf(s.url("/repo/resolve/main/h.gguf"))
    assert spec == inspect_gguf(path).model_copy(update={"id": "h"})
    assert spec.kind_counts() == {"recurrent": 6, "attention": 2}


def test_bearer_token(tmp_path: Path) -> None:
    path = write_hybrid(tmp_path / "h.gguf").path
    with RangeServer({"/h.gguf": path}, token="secret") as server:
        with pytest.raises(ModelFileError, match="HTTP 401") as info:
            inspect_gguf(server.url("/h.gguf"))
        assert "gated" in info.value.hint
        assert inspect_gguf(server.url("/h.gguf"), token="secret").n_layers == 8


def test_remote_truncated_download(tmp_path: Path) -> None:
    path = write_dense(tmp_path / "m.gguf").path
    with path.open("r+b") as fh:
        fh.truncate(path.stat().st_size - 500)
    with RangeServer({"/m.gguf": path}) as server, pytest.raises(ModelFileError, match="truncated"):
        inspect_gguf(server.url("/m.gguf"))


def test_remote_truncated_header(tmp_path: Path) -> None:
    path = write_dense(tmp_path / "m.gguf").path
    with path.open("r+b") as fh:
        fh.truncate(100)
    with RangeServer({"/m.gguf": path}) as server, pytest.raises(ModelFileError, match="truncated"):
        inspect_gguf(server.url("/m.gguf"))


def test_remote_not_gguf_and_empty(tmp_path: Path) -> None:
    page = tmp_path / "page.gguf"
    page.write_text("<html>not a model</html>")
    empty = tmp_path / "empty.gguf"
    empty.touch()
    with RangeServer({"/page.gguf": page, "/empty.gguf": empty}) as server:
        with pytest.raises(ModelFileError, match="not a GGUF file"):
            inspect_gguf(server.url("/page.gguf"))
        with pytest.raises(ModelFileError, match="is empty"):
            inspect_gguf(server.url("/empty.gguf"))


def test_connection_refused() -> None:
    with RangeServer({}) as server:
        url = server.url("/m.gguf")
    with pytest.raises(ModelFileError, match="Could not read") as info:
        inspect_gguf(url)
    assert "network" in info.value.hint


def test_remote_split(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf", split_max_tensors=15)
    shards = {f"/m-{i:05d}-of-00003.gguf": tmp_path / f"m-{i:05d}-of-00003.gguf" for i in (1, 2, 3)}
    local = inspect_gguf(tmp_path / "m-00001-of-00003.gguf")
    with RangeServer(shards) as server:
        remote = inspect_gguf(server.url("/m-00001-of-00003.gguf"))
    assert remote == local
    assert remote.params_total == written.params

"""The GGUF header parser: agreement with gguf.GGUFReader, and clear errors for bad files."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from gguf import GGUFReader

from app.catalog.gguf_header import LocalFileReader, read_gguf_header, read_header
from app.core.errors import ModelFileError
from tests.gguf_factory import WrittenModel, write_dense, write_hybrid, write_moe, write_swa

FACTORIES: dict[str, Callable[[Path], WrittenModel]] = {
    "dense": write_dense,
    "moe": write_moe,
    "swa": write_swa,
    "hybrid": write_hybrid,
}


@pytest.mark.parametrize("kind", FACTORIES)
def test_parser_matches_gguf_reader(tmp_path: Path, kind: str) -> None:
    written = FACTORIES[kind](tmp_path / f"{kind}.gguf")
    ours = read_header(written.path)
    theirs = GGUFReader(written.path)

    assert ours.version == 3
    assert ours.data_offset == theirs.data_offset
    assert ours.file_size == written.path.stat().st_size
    fields = {k: f for k, f in theirs.fields.items() if not k.startswith("GGUF.")}
    assert set(ours.metadata) == set(fields)
    for key, field in fields.items():
        assert ours.metadata[key] == field.contents(), key
    assert len(ours.tensors) == len(theirs.tensors) == written.n_tensors
    for mine, ref in zip(ours.tensors, theirs.tensors, strict=True):
        assert mine.name == ref.name
        assert mine.ggml_type == ref.tensor_type
        assert list(mine.shape) == [int(d) for d in ref.shape]
        assert mine.n_elements == ref.n_elements
        assert mine.n_bytes == ref.n_bytes
        assert ours.data_offset + mine.offset == ref.data_offset


def test_sizes_match_what_the_writer_wrote(tmp_path: Path) -> None:
    written = write_moe(tmp_path / "moe.gguf")
    header = read_header(written.path)
    assert sum(t.n_bytes for t in header.tensors) == (
        sum(written.layer_bytes.values()) + written.token_embd_bytes + written.output_bytes
    )
    assert sum(t.n_elements for t in header.tensors) == written.params
    assert header.data_offset + header.data_bytes <= written.path.stat().st_size


def test_reads_only_the_header_in_growing_chunks(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf")
    reads: list[tuple[int, int]] = []

    class Recording(LocalFileReader):
        def read(self, offset: int, n: int) -> bytes:
            reads.append((offset, n))
            return super().read(offset, n)

    reader = Recording(written.path)
    header = read_gguf_header(reader, first_chunk=256)
    reader.close()
    assert header.header_bytes > 256
    assert reads[0] == (0, 256)
    sizes = [n for _, n in reads]
    assert sizes == sorted(sizes)  # each request at least as big as the one before
    assert sum(sizes) < 4 * header.data_offset  # doubling: never much past the header


def _cut(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)


def test_truncated_header(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf")
    _cut(written.path, 300)
    with pytest.raises(
        ModelFileError, match=r"truncated or damaged: its GGUF header needs at least \d+ bytes"
    ) as info:
        read_header(written.path)
    assert "300" in info.value.message
    assert "download it again" in info.value.hint


def test_truncated_tensor_data_names_expected_and_actual(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf")
    expected = read_header(written.path)
    need = expected.data_offset + expected.data_bytes
    _cut(written.path, need - 1000)
    with pytest.raises(ModelFileError) as info:
        read_header(written.path)
    message = info.value.message
    assert "truncated" in message
    assert f"need {need} bytes" in message
    assert f"has only {need - 1000}" in message
    assert "1000 bytes missing" in message


def test_text_file_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("hello world, this is text")
    with pytest.raises(ModelFileError, match=r"is not a GGUF file \(starts with b'hello wo'\)"):
        read_header(path)


def test_html_page_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_text("<!DOCTYPE html><html>login</html>")
    with pytest.raises(ModelFileError, match="not a GGUF file") as info:
        read_header(path)
    assert "web page" in info.value.hint


def test_zip_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.gguf", b"GGUF")
    with pytest.raises(ModelFileError, match=r"not a GGUF file \(starts with b'PK") as info:
        read_header(path)
    assert "zip" in info.value.hint


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.touch()
    with pytest.raises(ModelFileError, match=r"is empty \(0 bytes\)"):
        read_header(path)


def test_three_byte_file_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GGU")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read_header(path)


@pytest.mark.parametrize("version", [1, 4, 99])
def test_unsupported_version(tmp_path: Path, version: int) -> None:
    written = write_dense(tmp_path / "m.gguf")
    with written.path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", version))
    with pytest.raises(ModelFileError, match=f"GGUF version {version}; Roost reads versions 2, 3"):
        read_header(written.path)


def test_version_2_is_read(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf")
    with written.path.open("r+b") as fh:
        fh.seek(4)
        fh.write(struct.pack("<I", 2))  # v2 and v3 share the layout on little-endian
    assert read_header(written.path).version == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        read_header(tmp_path / "nope.gguf")
    with pytest.raises(ModelFileError, match="is a directory"):
        read_header(tmp_path)


def test_damaged_value_type(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf")
    data = bytearray(written.path.read_bytes())
    # first KV pair: key length (u64) + key bytes, then the value type (u32)
    key_len = struct.unpack_from("<Q", data, 24)[0]
    struct.pack_into("<I", data, 24 + 8 + key_len, 77)
    written.path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="unknown type 77"):
        read_header(written.path)

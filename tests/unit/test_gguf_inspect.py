"""inspect_gguf on synthetic GGUFs: every number must equal what the factory wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.catalog.inspect import inspect_gguf
from app.catalog.spec import ModelSpec
from app.core.errors import ModelFileError
from tests.gguf_factory import (
    SSM_CONV_KERNEL,
    SSM_DT_RANK,
    SSM_GROUPS,
    SSM_INNER,
    SSM_STATE,
    WrittenModel,
    write_dense,
    write_hybrid,
    write_moe,
    write_swa,
)


def _assert_bytes(spec: ModelSpec, written: WrittenModel) -> None:
    assert [layer.weight_bytes for layer in spec.layers] == written.per_layer(spec.n_layers)
    assert [layer.expert_bytes for layer in spec.layers] == written.experts_per_layer(spec.n_layers)
    assert spec.token_embd_bytes == written.token_embd_bytes
    assert spec.output_bytes == written.output_bytes
    assert spec.params_total == written.params
    assert spec.file_size_bytes == written.path.stat().st_size
    assert spec.confidence == "exact"


def test_dense(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "tiny-llama.gguf")
    spec = inspect_gguf(written.path)
    _assert_bytes(spec, written)
    assert spec.id == "tiny-llama"
    assert spec.name == "synthetic llama"
    assert spec.architecture == "llama"
    assert spec.quantization == "F16"
    assert spec.kind_counts() == {"attention": 4}
    assert spec.n_embd == 64
    assert spec.n_head == 8
    assert spec.n_ff == 128
    assert spec.n_vocab == 96  # from the token list: llama files have no vocab_size key
    assert spec.context_length == 4096
    assert spec.sliding_window is None
    assert not spec.tied_embeddings
    assert spec.has_chat_template
    assert not spec.is_moe
    for layer in spec.layers:
        assert (layer.n_head_kv, layer.head_dim_k, layer.head_dim_v) == (2, 8, 8)  # 64 / 8
        assert layer.recurrent_state_bytes == 0
    assert spec.notes == []


def test_moe(tmp_path: Path) -> None:
    written = write_moe(tmp_path / "moe.gguf")
    spec = inspect_gguf(written.path)
    _assert_bytes(spec, written)
    assert spec.architecture == "qwen3moe"
    assert spec.is_moe
    assert (spec.n_experts, spec.n_experts_used) == (8, 2)
    assert spec.expert_fraction_active() == 0.25
    # 3 routed expert tensors of 8 x 32 x 64 in Q8_0 (34 bytes per 32 values); shexp excluded
    assert [layer.expert_bytes for layer in spec.layers] == [3 * 8 * 32 * 64 // 32 * 34] * 3
    for layer in spec.layers:
        assert (layer.n_head_kv, layer.head_dim_k, layer.head_dim_v) == (2, 32, 32)
    assert spec.tied_embeddings
    assert spec.n_vocab == 128
    assert not spec.has_chat_template
    # no general.file_type: the type with the most bytes, with a note saying so
    assert spec.quantization == "F16"
    assert any("general.file_type missing" in note for note in spec.notes)


def test_gemma3_sliding_window_every_sixth_layer_global(tmp_path: Path) -> None:
    written = write_swa(tmp_path / "g3.gguf", n_layers=12)
    spec = inspect_gguf(written.path)
    _assert_bytes(spec, written)
    assert spec.sliding_window == 512
    kinds = [layer.kind for layer in spec.layers]
    assert [i for i, k in enumerate(kinds) if k == "attention"] == [5, 11]
    assert spec.kind_counts() == {"swa": 10, "attention": 2}
    assert spec.quantization == "Q8_0"
    for layer in spec.layers:
        assert (layer.n_head_kv, layer.head_dim_k, layer.head_dim_v) == (1, 32, 32)
        assert layer.kv_elements_per_token() == 64


def test_gemma2_alternates(tmp_path: Path) -> None:
    spec = inspect_gguf(write_swa(tmp_path / "g2.gguf", arch="gemma2", n_layers=6).path)
    assert [layer.kind for layer in spec.layers] == ["swa", "attention"] * 3


def test_sliding_window_pattern_array_wins(tmp_path: Path) -> None:
    pattern = [True, False, False, True, True]
    spec = inspect_gguf(write_swa(tmp_path / "p.gguf", n_layers=5, pattern=pattern).path)
    assert [layer.kind == "swa" for layer in spec.layers] == pattern


def test_sliding_window_pattern_period_overrides_the_default(tmp_path: Path) -> None:
    spec = inspect_gguf(write_swa(tmp_path / "p.gguf", n_layers=6, pattern=3).path)
    assert [layer.kind for layer in spec.layers] == ["swa", "swa", "attention"] * 2


def test_unknown_swa_architecture_counts_full_attention_with_a_note(tmp_path: Path) -> None:
    spec = inspect_gguf(write_swa(tmp_path / "x.gguf", arch="mystery", n_layers=4).path)
    assert spec.kind_counts() == {"attention": 4}
    assert spec.sliding_window is None
    assert any("pattern of 'mystery' is unknown" in note for note in spec.notes)


# Per llama_hparams: n_embd_r = (d_conv - 1) * (d_inner + 2 * n_group * d_state),
# n_embd_s = d_state * d_inner, both f32.
STATE_BYTES = 4 * (
    (SSM_CONV_KERNEL - 1) * (SSM_INNER + 2 * SSM_GROUPS * SSM_STATE) + SSM_STATE * SSM_INNER
)


def test_qwen35_hybrid(tmp_path: Path) -> None:
    written = write_hybrid(tmp_path / "q35.gguf")
    spec = inspect_gguf(written.path)
    _assert_bytes(spec, written)
    assert SSM_INNER == SSM_STATE * SSM_DT_RANK
    assert STATE_BYTES == 5632
    kinds = [layer.kind for layer in spec.layers]
    assert kinds == ["recurrent"] * 3 + ["attention"] + ["recurrent"] * 3 + ["attention"]
    for layer in spec.layers:
        if layer.kind == "recurrent":
            assert layer.recurrent_state_bytes == STATE_BYTES
            assert layer.kv_elements_per_token() == 0
            assert layer.n_head_kv == 0
        else:
            assert layer.recurrent_state_bytes == 0
            assert (layer.n_head_kv, layer.head_dim_k, layer.head_dim_v) == (2, 32, 32)
    assert spec.context_length == 262144
    assert spec.notes == []


def test_qwen3next_default_interval_is_four(tmp_path: Path) -> None:
    spec = inspect_gguf(write_hybrid(tmp_path / "n.gguf", arch="qwen3next", interval=None).path)
    assert spec.kind_counts() == {"recurrent": 6, "attention": 2}
    assert any("default 4" in note for note in spec.notes)


def test_interval_two(tmp_path: Path) -> None:
    spec = inspect_gguf(write_hybrid(tmp_path / "i2.gguf", n_layers=6, interval=2).path)
    assert [layer.kind for layer in spec.layers] == ["recurrent", "attention"] * 3


@pytest.mark.parametrize("kv_per_layer", [False, True])
def test_generic_hybrid_found_from_tensor_names(tmp_path: Path, kv_per_layer: bool) -> None:
    written = write_hybrid(
        tmp_path / "g.gguf", arch="granitehybrid", interval=None, kv_per_layer=kv_per_layer
    )
    spec = inspect_gguf(written.path)
    _assert_bytes(spec, written)
    assert [layer.kind == "recurrent" for layer in spec.layers] == [
        (i + 1) % 4 != 0 for i in range(8)
    ]
    assert [layer.recurrent_state_bytes for layer in spec.layers] == [
        0 if (i + 1) % 4 == 0 else STATE_BYTES for i in range(8)
    ]
    assert [layer.n_head_kv for layer in spec.layers] == [0, 0, 0, 2] * 2


def _shards(path: Path, count: int) -> list[Path]:
    return [path.with_name(f"{path.stem}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]


def test_split_gguf_adds_every_shard(tmp_path: Path) -> None:
    whole = inspect_gguf(write_dense(tmp_path / "one" / "m.gguf").path)
    written = write_dense(tmp_path / "split" / "m.gguf", split_max_tensors=15)
    shards = _shards(written.path, 3)
    assert all(p.exists() for p in shards)

    for given in (shards[0], shards[2]):  # any shard names the whole model
        spec = inspect_gguf(given)
        assert spec.id == "m"
        assert spec.file_size_bytes == sum(p.stat().st_size for p in shards)
        assert spec.model_dump(exclude={"file_size_bytes"}) == whole.model_dump(
            exclude={"file_size_bytes"}
        )
        _assert_bytes_split(spec, written)


def _assert_bytes_split(spec: ModelSpec, written: WrittenModel) -> None:
    assert [layer.weight_bytes for layer in spec.layers] == written.per_layer(spec.n_layers)
    assert spec.token_embd_bytes == written.token_embd_bytes
    assert spec.output_bytes == written.output_bytes
    assert spec.params_total == written.params


def test_split_gguf_missing_shard(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf", split_max_tensors=15)
    shards = _shards(written.path, 3)
    shards[1].unlink()
    with pytest.raises(ModelFileError, match=r"Shard 2 of 3 \(m-00002-of-00003.gguf\) is missing"):
        inspect_gguf(shards[0])


def test_renamed_split_shard(tmp_path: Path) -> None:
    written = write_dense(tmp_path / "m.gguf", split_max_tensors=15)
    renamed = tmp_path / "renamed.gguf"
    _shards(written.path, 3)[0].rename(renamed)
    with pytest.raises(ModelFileError, match="one part of a 3-part GGUF"):
        inspect_gguf(renamed)


def test_model_id_override(tmp_path: Path) -> None:
    spec = inspect_gguf(write_dense(tmp_path / "m.gguf").path, model_id="my-model")
    assert spec.id == "my-model"

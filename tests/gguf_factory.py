"""Small synthetic GGUF files written with the real ``gguf.GGUFWriter``.

Each factory returns a :class:`WrittenModel` that records what was written — the byte size of
every tensor comes from the numpy array handed to the writer (``array.nbytes``), not from
``GGML_QUANT_SIZES``, so tests compare the inspector against an independent count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType
from gguf.quants import quantize

F16 = "f16"
F32 = "f32"
Q8_0 = "q8_0"


@dataclass
class WrittenModel:
    """What a factory wrote. Byte counts are the tensor data sizes, without padding."""

    path: Path
    layer_bytes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    expert_bytes: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    token_embd_bytes: int = 0
    output_bytes: int = 0
    params: int = 0
    n_tensors: int = 0

    def per_layer(self, n_layers: int) -> list[int]:
        return [self.layer_bytes[i] for i in range(n_layers)]

    def experts_per_layer(self, n_layers: int) -> list[int]:
        return [self.expert_bytes[i] for i in range(n_layers)]


class ModelWriter:
    """Adds tensors to a GGUFWriter and keeps the books for :class:`WrittenModel`."""

    def __init__(self, path: Path, arch: str, split_max_tensors: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
        self.arch = arch
        self.written = WrittenModel(path=path)

    def tensor(self, name: str, shape: tuple[int, ...], kind: str = F16) -> None:
        """Add a zero tensor. ``shape`` is numpy order (the ggml shape reversed)."""
        values = np.zeros(shape, dtype=np.float32)
        if kind == Q8_0:
            data = quantize(values, GGMLQuantizationType.Q8_0)
            self.writer.add_tensor(name, data, raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            data = values.astype(np.float16 if kind == F16 else np.float32)
            self.writer.add_tensor(name, data)
        w = self.written
        w.n_tensors += 1
        w.params += int(np.prod(shape))
        if name.startswith("blk."):
            layer = int(name.split(".")[1])
            w.layer_bytes[layer] += data.nbytes
            if "_exps." in name:
                w.expert_bytes[layer] += data.nbytes
        elif name.startswith("token_embd."):
            w.token_embd_bytes += data.nbytes
        else:
            w.output_bytes += data.nbytes

    def finish(self) -> WrittenModel:
        self.writer.write_header_to_file()
        self.writer.write_kv_data_to_file()
        self.writer.write_tensors_to_file()
        self.writer.close()
        return self.written


def _common(mw: ModelWriter, *, n_layers: int, n_embd: int, n_head: int, ctx: int) -> None:
    w = mw.writer
    w.add_name(f"synthetic {mw.arch}")
    w.add_block_count(n_layers)
    w.add_embedding_length(n_embd)
    w.add_head_count(n_head)
    w.add_context_length(ctx)
    w.add_layer_norm_rms_eps(1e-6)


def _attention(mw: ModelWriter, il: int, n_embd: int, q_dim: int, kv_dim: int) -> None:
    mw.tensor(f"blk.{il}.attn_norm.weight", (n_embd,), F32)
    mw.tensor(f"blk.{il}.attn_q.weight", (q_dim, n_embd))
    mw.tensor(f"blk.{il}.attn_k.weight", (kv_dim, n_embd))
    mw.tensor(f"blk.{il}.attn_v.weight", (kv_dim, n_embd))
    mw.tensor(f"blk.{il}.attn_output.weight", (n_embd, q_dim))


def _dense_ffn(mw: ModelWriter, il: int, n_embd: int, n_ff: int) -> None:
    mw.tensor(f"blk.{il}.ffn_norm.weight", (n_embd,), F32)
    mw.tensor(f"blk.{il}.ffn_gate.weight", (n_ff, n_embd))
    mw.tensor(f"blk.{il}.ffn_up.weight", (n_ff, n_embd))
    mw.tensor(f"blk.{il}.ffn_down.weight", (n_embd, n_ff))


def _vocab_and_output(mw: ModelWriter, n_vocab: int, n_embd: int, tied: bool) -> None:
    mw.tensor("token_embd.weight", (n_vocab, n_embd))
    mw.tensor("output_norm.weight", (n_embd,), F32)
    if not tied:
        mw.tensor("output.weight", (n_vocab, n_embd), Q8_0)


def write_dense(path: Path, split_max_tensors: int = 0, n_vocab: int = 96) -> WrittenModel:
    """llama-style: 4 layers, 8 heads of 8, GQA with 2 KV heads, vocab from the token list.

    A large ``n_vocab`` makes a file of many megabytes (embedding and output tables).
    """
    n_layers, n_embd, n_head, n_head_kv, n_ff = 4, 64, 8, 2, 128
    mw = ModelWriter(path, "llama", split_max_tensors)
    _common(mw, n_layers=n_layers, n_embd=n_embd, n_head=n_head, ctx=4096)
    w = mw.writer
    w.add_head_count_kv(n_head_kv)
    w.add_feed_forward_length(n_ff)
    w.add_file_type(LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"t{i}" for i in range(n_vocab)])
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    _vocab_and_output(mw, n_vocab, n_embd, tied=False)
    head_dim = n_embd // n_head
    for il in range(n_layers):
        _attention(mw, il, n_embd, n_embd, n_head_kv * head_dim)
        _dense_ffn(mw, il, n_embd, n_ff)
    return mw.finish()


def write_moe(path: Path) -> WrittenModel:
    """qwen3moe-style: 3 layers, 8 experts (2 used) in Q8_0, a shared expert, tied output."""
    n_layers, n_embd, n_head, n_head_kv, head_dim = 3, 64, 4, 2, 32
    n_expert, n_ff_exp, n_vocab = 8, 32, 128
    mw = ModelWriter(path, "qwen3moe")
    _common(mw, n_layers=n_layers, n_embd=n_embd, n_head=n_head, ctx=32768)
    w = mw.writer
    w.add_head_count_kv(n_head_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_expert_count(n_expert)
    w.add_expert_used_count(2)
    w.add_expert_feed_forward_length(n_ff_exp)
    _vocab_and_output(mw, n_vocab, n_embd, tied=True)
    for il in range(n_layers):
        _attention(mw, il, n_embd, n_head * head_dim, n_head_kv * head_dim)
        mw.tensor(f"blk.{il}.attn_q_norm.weight", (head_dim,), F32)
        mw.tensor(f"blk.{il}.attn_k_norm.weight", (head_dim,), F32)
        mw.tensor(f"blk.{il}.ffn_norm.weight", (n_embd,), F32)
        mw.tensor(f"blk.{il}.ffn_gate_inp.weight", (n_expert, n_embd), F32)
        mw.tensor(f"blk.{il}.ffn_gate_exps.weight", (n_expert, n_ff_exp, n_embd), Q8_0)
        mw.tensor(f"blk.{il}.ffn_up_exps.weight", (n_expert, n_ff_exp, n_embd), Q8_0)
        mw.tensor(f"blk.{il}.ffn_down_exps.weight", (n_expert, n_embd, n_ff_exp), Q8_0)
        mw.tensor(f"blk.{il}.ffn_gate_shexp.weight", (n_ff_exp, n_embd))
        mw.tensor(f"blk.{il}.ffn_up_shexp.weight", (n_ff_exp, n_embd))
        mw.tensor(f"blk.{il}.ffn_down_shexp.weight", (n_embd, n_ff_exp))
    return mw.finish()


def write_swa(
    path: Path, arch: str = "gemma3", n_layers: int = 12, pattern: list[bool] | int | None = None
) -> WrittenModel:
    """gemma3-style: 4 heads, 1 KV head of 32, sliding window 512.

    ``pattern`` is written as sliding_window_pattern: a per-layer array or a period.
    """
    n_embd, n_head, head_dim, n_ff, n_vocab = 64, 4, 32, 128, 64
    mw = ModelWriter(path, arch)
    _common(mw, n_layers=n_layers, n_embd=n_embd, n_head=n_head, ctx=32768)
    w = mw.writer
    w.add_head_count_kv(1)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_feed_forward_length(n_ff)
    w.add_sliding_window(512)
    if pattern is not None:
        w.add_sliding_window_pattern(pattern)
    w.add_file_type(LlamaFileType.MOSTLY_Q8_0)
    w.add_token_list([f"t{i}" for i in range(n_vocab)])
    _vocab_and_output(mw, n_vocab, n_embd, tied=True)
    for il in range(n_layers):
        _attention(mw, il, n_embd, n_head * head_dim, head_dim)
        _dense_ffn(mw, il, n_embd, n_ff)
    return mw.finish()


# Hybrid geometry (Gated DeltaNet): shared with the test's expected state size.
SSM_CONV_KERNEL, SSM_STATE, SSM_GROUPS, SSM_DT_RANK = 4, 16, 2, 4
SSM_INNER = SSM_STATE * SSM_DT_RANK


def write_hybrid(
    path: Path,
    arch: str = "qwen35",
    n_layers: int = 8,
    interval: int | None = 4,
    kv_per_layer: bool = False,
) -> WrittenModel:
    """qwen35-style: every ``interval``-th layer is full attention, the rest Gated DeltaNet.

    With ``interval=None`` the file has no full_attention_interval key, so only the tensor
    names say which layers are recurrent (recurrent where ``(i + 1) % 4 != 0`` still).
    ``kv_per_layer`` writes head_count_kv as a per-layer array, 0 on recurrent layers
    (granitehybrid/lfm2 style).
    """
    n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab = 64, 4, 2, 32, 128, 64
    mw = ModelWriter(path, arch)
    _common(mw, n_layers=n_layers, n_embd=n_embd, n_head=n_head, ctx=262144)
    w = mw.writer
    full = [(il + 1) % (interval or 4) == 0 for il in range(n_layers)]
    w.add_head_count_kv([n_head_kv if f else 0 for f in full] if kv_per_layer else n_head_kv)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_feed_forward_length(n_ff)
    if interval is not None:
        w.add_full_attention_interval(interval)
    w.add_ssm_conv_kernel(SSM_CONV_KERNEL)
    w.add_ssm_state_size(SSM_STATE)
    w.add_ssm_group_count(SSM_GROUPS)
    w.add_ssm_time_step_rank(SSM_DT_RANK)
    w.add_ssm_inner_size(SSM_INNER)
    w.add_file_type(LlamaFileType.MOSTLY_F16)
    w.add_token_list([f"t{i}" for i in range(n_vocab)])
    _vocab_and_output(mw, n_vocab, n_embd, tied=False)
    key_dim = SSM_STATE * SSM_GROUPS
    conv_dim = 2 * key_dim + SSM_INNER
    for il in range(n_layers):
        if full[il]:
            _attention(mw, il, n_embd, n_head * head_dim * 2, n_head_kv * head_dim)
            mw.tensor(f"blk.{il}.attn_q_norm.weight", (head_dim,), F32)
            mw.tensor(f"blk.{il}.attn_k_norm.weight", (head_dim,), F32)
        else:
            mw.tensor(f"blk.{il}.attn_norm.weight", (n_embd,), F32)
            mw.tensor(f"blk.{il}.attn_qkv.weight", (conv_dim, n_embd))
            mw.tensor(f"blk.{il}.attn_gate.weight", (SSM_INNER, n_embd))
            mw.tensor(f"blk.{il}.ssm_conv1d.weight", (conv_dim, SSM_CONV_KERNEL), F32)
            mw.tensor(f"blk.{il}.ssm_dt.bias", (SSM_DT_RANK,), F32)
            mw.tensor(f"blk.{il}.ssm_a", (SSM_DT_RANK,), F32)
            mw.tensor(f"blk.{il}.ssm_ba.weight", (2 * SSM_DT_RANK, n_embd))
            mw.tensor(f"blk.{il}.ssm_norm.weight", (SSM_STATE,), F32)
            mw.tensor(f"blk.{il}.ssm_out.weight", (n_embd, SSM_INNER))
        _dense_ffn(mw, il, n_embd, n_ff)
    return mw.finish()

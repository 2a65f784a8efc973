# mypy: ignore-errors
"""GGUF → MLX conversion, run by the MLX engine environment's Python (it imports mlx).

Usage::

    python convert_gguf.py --gguf MODEL.gguf --out DIR [--chat-template-file F] [--bits 16]

Steps: read the GGUF with the ``gguf`` package, dequantize every tensor (K-quants included)
to bfloat16 under Hugging Face names, undo llama.cpp's export transforms, write an HF-style
staging folder (``config.json``, safetensors, tokenizer rebuilt from the GGUF vocabulary),
then let ``mlx_lm.convert`` write ``DIR``: ``--bits 16`` (default) keeps the GGUF's weights
exactly, in bfloat16; ``8`` or ``4`` re-quantize with MLX (a second rounding: on Gemma 3 270M
Q4_K_M, 8-bit moved 14 % and 4-bit 35 % of greedy next-token choices).

Progress goes to stdout as ``PROGRESS <stage> <0-1>`` lines. Failures exit with
``EXIT_UNSUPPORTED`` (architecture) or ``EXIT_CORRUPT`` (unreadable file) after a line
``ERROR <message>``. Supported architectures: ``gemma3`` (text).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local: never ask the hub
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

EXIT_UNSUPPORTED = 3
EXIT_CORRUPT = 4
SHARD_BYTES = 2 * 1024**3  # staging shard size, bytes of bfloat16
SUPPORTED = ("gemma3",)

# llama.cpp tensor name (after ``blk.N.``) → Hugging Face Gemma 3 name (after ``layers.N.``).
_GEMMA3_LAYER = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
_GEMMA3_GLOBAL = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


class ConversionError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def progress(stage: str, fraction: float) -> None:
    print(f"PROGRESS {stage} {fraction:.3f}", flush=True)


# -- GGUF reading --------------------------------------------------------------------------
def field_value(reader, key: str, default=None):
    """A metadata value: scalar, string, or list (strings decoded as UTF-8)."""
    import gguf

    field = reader.fields.get(key)
    if field is None:
        return default
    kind = field.types[0]
    if kind == gguf.GGUFValueType.ARRAY:
        inner = field.types[-1]
        if inner == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    value = field.parts[field.data[0]]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(value).decode("utf-8", errors="replace")
    return value.tolist()[0]


def gemma3_name(gguf_name: str) -> tuple[str, bool]:
    """HF name for a gemma3 tensor and whether it is an RMSNorm weight (stored as 1 + w)."""
    if gguf_name in _GEMMA3_GLOBAL:
        return _GEMMA3_GLOBAL[gguf_name], gguf_name == "output_norm.weight"
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[3] == "weight" and parts[2] in _GEMMA3_LAYER:
        is_norm = parts[2].endswith("norm")
        return f"model.layers.{parts[1]}.{_GEMMA3_LAYER[parts[2]]}.weight", is_norm
    raise ConversionError(f"unexpected gemma3 tensor {gguf_name}", EXIT_UNSUPPORTED)


def dequantized(tensor):
    """The tensor as a float32 numpy array in HF (row-major, out × in) order."""
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    shape = tuple(int(d) for d in reversed(tensor.shape.tolist()))
    if tensor.tensor_type in (GGMLQuantizationType.F32, GGMLQuantizationType.F16):
        data = np.asarray(tensor.data, dtype=np.float32)
    elif tensor.tensor_type == GGMLQuantizationType.BF16:
        raw = np.asarray(tensor.data).view(np.uint16).astype(np.uint32) << 16
        data = raw.view(np.float32)
    else:
        data = quants.dequantize(tensor.data, tensor.tensor_type)
    return data.reshape(shape)


def gemma3_config(reader, arch: str, vocab_size: int, tokens: list[str]) -> dict:
    """``config.json`` for mlx-lm's / transformers' ``gemma3_text`` from GGUF metadata."""

    def meta(key: str, default=None):
        return field_value(reader, f"{arch}.{key}", default)

    hidden = int(meta("embedding_length"))
    layers = int(meta("block_count"))
    heads = int(meta("attention.head_count"))
    head_dim = int(meta("attention.key_length", hidden // heads))
    window = int(meta("attention.sliding_window", 0) or 0)
    pattern = meta("attention.sliding_window_pattern", 6 if window else 1)
    if isinstance(pattern, list):  # per-layer flags: the period is the first global layer + 1
        pattern = next((i + 1 for i, swa in enumerate(pattern) if not swa), len(pattern))
    # llama.cpp (and gemma_pytorch) scale queries by 1/sqrt(head_dim), except on the 27B.
    scalar = hidden // heads if layers == 62 else head_dim
    config = {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": int(meta("feed_forward_length")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(meta("attention.head_count_kv", heads)),
        "head_dim": head_dim,
        # Stored as float32 (9.99999997e-07): print it as the 1e-06 it was.
        "rms_norm_eps": float(f"{meta('attention.layer_norm_rms_epsilon', 1e-6):.6g}"),
        "vocab_size": vocab_size,
        "rope_theta": float(meta("rope.freq_base", 1_000_000.0)),
        "rope_local_base_freq": float(meta("rope.freq_base_swa", 10_000.0)),
        "query_pre_attn_scalar": scalar,
        "sliding_window": window or int(meta("context_length", 32768)),
        "sliding_window_pattern": int(pattern),
        "layer_types": [
            "full_attention" if (i + 1) % int(pattern) == 0 else "sliding_attention"
            for i in range(layers)
        ],
        "max_position_embeddings": int(meta("context_length", 32768)),
        "hidden_activation": "gelu_pytorch_tanh",
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": True,
    }
    if (softcap := meta("final_logit_softcapping")) is not None:
        config["final_logit_softcapping"] = float(softcap)
    if meta("rope.scaling.type") == "linear" and meta("rope.scaling.factor"):
        config["rope_scaling"] = {
            "rope_type": "linear",
            "factor": float(meta("rope.scaling.factor")),
        }
    specials = {
        "bos_token_id": field_value(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": field_value(reader, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": field_value(reader, "tokenizer.ggml.padding_token_id"),
    }
    # Chat turns end with <end_of_turn>; without it as a stop id generation runs on.
    eos = [specials["eos_token_id"]] if specials["eos_token_id"] is not None else []
    if "<end_of_turn>" in tokens:
        eos.append(tokens.index("<end_of_turn>"))
    specials["eos_token_id"] = eos
    config.update({k: v for k, v in specials.items() if v is not None})
    return config


# -- writing -------------------------------------------------------------------------------
def write_weights(reader, staging: Path) -> tuple[int, bool]:
    """Dequantized bfloat16 safetensors shards in ``staging``; returns (vocab rows, has lm_head)."""
    import mlx.core as mx

    total = sum(int(t.n_elements) * 2 for t in reader.tensors)
    shards = max(1, -(-total // SHARD_BYTES))
    shard, size, index, vocab, has_head = {}, 0, 0, 0, False
    weight_map: dict[str, str] = {}

    def flush() -> None:
        nonlocal shard, size, index
        if not shard:
            return
        index += 1
        name = f"model-{index:05d}-of-{shards:05d}.safetensors"
        mx.save_safetensors(str(staging / name), shard, metadata={"format": "mlx"})
        weight_map.update(dict.fromkeys(shard, name))
        shard, size = {}, 0

    for done, tensor in enumerate(reader.tensors):
        hf_name, is_norm = gemma3_name(tensor.name)
        try:
            array = dequantized(tensor)
        except (ValueError, NotImplementedError) as exc:
            raise ConversionError(f"cannot dequantize {tensor.name}: {exc}", EXIT_CORRUPT) from exc
        if is_norm:
            array = array - 1.0  # llama.cpp stores Gemma3RMSNorm's (1 + w); mlx-lm adds the 1
        if hf_name == "model.embed_tokens.weight":
            vocab = array.shape[0]
        has_head = has_head or hf_name == "lm_head.weight"
        shard[hf_name] = mx.array(array).astype(mx.bfloat16)
        mx.eval(shard[hf_name])
        size += array.size * 2
        if size >= SHARD_BYTES:
            flush()
        progress("weights", (done + 1) / len(reader.tensors))
    flush()
    (staging / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1)
    )
    return vocab, has_head


def write_tokenizer(reader, arch: str, tokens: list[str], staging: Path, template: str | None):
    """Tokenizer files rebuilt from the GGUF vocabulary (transformers' own GGUF builders)."""
    from transformers import GemmaTokenizer
    from transformers.integrations.gguf import gguf_tokenizer_mapping as mapping

    def tok(key: str):
        return field_value(reader, f"tokenizer.ggml.{key}")

    spec = {
        "tokenizer_type": tok("model"),
        "pre_tokenizer_type": tok("pre"),
        "tokens": tokens,
        "scores": tok("scores"),
        "token_type": tok("token_type"),
        "add_prefix_space": bool(tok("add_space_prefix")),
    }
    if tok("merges"):
        spec["merges"] = tok("merges")
    built = mapping.select_tokenizer_builder(arch, spec["tokenizer_type"])(spec)
    built = mapping.add_gguf_special_tokens(built, spec)
    built = mapping.set_split_regex(built, spec)

    def token(key: str, fallback: str) -> str:
        index = tok(key)
        return tokens[index] if index is not None and 0 <= index < len(tokens) else fallback

    tokenizer = GemmaTokenizer(
        tokenizer_object=built.backend_tokenizer,
        bos_token=token("bos_token_id", "<bos>"),
        eos_token=token("eos_token_id", "<eos>"),
        unk_token=token("unknown_token_id", "<unk>"),
        pad_token=token("padding_token_id", "<pad>"),
        add_bos_token=bool(tok("add_bos_token") if tok("add_bos_token") is not None else True),
        add_eos_token=bool(tok("add_eos_token") or False),
    )
    template = template or field_value(reader, "tokenizer.chat_template")
    if template:
        tokenizer.chat_template = template
    tokenizer.save_pretrained(str(staging))


def convert(gguf_path: Path, out: Path, template: str | None, bits: int, group_size: int) -> None:
    import gguf

    started = time.monotonic()
    progress("read", 0.0)
    try:
        reader = gguf.GGUFReader(str(gguf_path))
    except (ValueError, OSError, IndexError) as exc:
        raise ConversionError(
            f"{gguf_path} is not a readable GGUF file: {exc}", EXIT_CORRUPT
        ) from exc
    arch = field_value(reader, "general.architecture", "?")
    if arch not in SUPPORTED:
        raise ConversionError(
            f"GGUF architecture {arch} is not supported by the MLX converter "
            f"(supported: {', '.join(SUPPORTED)})",
            EXIT_UNSUPPORTED,
        )
    tokens = field_value(reader, "tokenizer.ggml.tokens") or []
    staging = out.with_name(out.name + ".staging")
    partial = out.with_name(out.name + ".partial")
    for path in (staging, partial):
        shutil.rmtree(path, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write_mlx_model(reader, arch, tokens, staging, partial, template, bits, group_size)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (partial / "roost_conversion.json").write_text(
        json.dumps(
            {"source": gguf_path.name, "source_bytes": gguf_path.stat().st_size,
             "architecture": arch, "bits": bits, "group_size": group_size if bits < 16 else None,
             "seconds": round(time.monotonic() - started, 1)},
            indent=2,
        )
    )  # fmt: skip
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    progress("done", 1.0)


def write_mlx_model(reader, arch, tokens, staging, partial, template, bits, group_size) -> None:
    """HF-style staging folder from the GGUF, then ``mlx_lm.convert`` into ``partial``."""
    vocab, has_head = write_weights(reader, staging)
    config = gemma3_config(reader, arch, vocab, tokens)
    config["tie_word_embeddings"] = not has_head
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    gen = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if k in config}
    (staging / "generation_config.json").write_text(json.dumps(gen, indent=2))
    progress("tokenizer", 0.0)
    write_tokenizer(reader, arch, tokens, staging, template)
    progress("quantize", 0.0)
    from mlx_lm.convert import convert as mlx_convert

    quantize = bits in (4, 8)
    mlx_convert(
        str(staging),
        str(partial),
        quantize=quantize,
        q_bits=bits if quantize else None,
        q_group_size=group_size if quantize else None,
        dtype="bfloat16",
    )
    (partial / "README.md").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert a GGUF model to an MLX model folder.")
    parser.add_argument("--gguf", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--chat-template-file", type=Path)
    parser.add_argument("--bits", type=int, choices=(4, 8, 16), default=16)
    parser.add_argument("--group-size", type=int, default=64)
    args = parser.parse_args(argv)
    template = args.chat_template_file.read_text() if args.chat_template_file else None
    if not args.gguf.is_file():
        print(f"ERROR {args.gguf} does not exist", flush=True)
        return EXIT_CORRUPT
    try:
        convert(args.gguf, args.out, template, args.bits, args.group_size)
    except ConversionError as exc:
        print(f"ERROR {exc}", flush=True)
        return exc.code
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``inspect_gguf``: a GGUF file's header (local or remote) → an exact :class:`ModelSpec`.

What is read from the metadata, following llama.cpp's loader (``src/llama-model.cpp``,
``src/models/*.cpp``, ``src/llama-hparams.cpp``):

- ``{arch}.attention.head_count_kv`` / ``head_count`` may be one number or one per layer.
- Head sizes: ``{arch}.attention.key_length`` / ``value_length``, defaulting to
  ``n_embd / n_head``; SWA layers use ``key_length_swa`` / ``value_length_swa`` when present.
- Sliding-window layers, only when ``{arch}.attention.sliding_window`` > 0:
  ``{arch}.attention.sliding_window_pattern`` as a per-layer array (true = SWA) wins; else a
  period ``n`` (the key as a number, or the architecture's built-in period, e.g. gemma3 6,
  gemma2 2) marks layer ``i`` as SWA unless ``i % n == n - 1`` (``i % n == 0`` for the
  "dense first" architectures). An unknown architecture is treated as all full attention.
- Recurrent layers: ``{arch}.attention.recurrent_layers`` (per-layer array); else
  ``{arch}.full_attention_interval`` (qwen3next/qwen35/qwen35moe default 4): layer ``i`` is
  recurrent unless ``(i + 1) % interval == 0``; mamba/rwkv are recurrent throughout; otherwise a
  block with ``ssm_*``/``time_mix_*``/``shortconv.*`` tensors and no attention K tensor is
  recurrent (a block with both, e.g. falcon-h1, is attention plus a recurrent state).
- Per-sequence recurrent state per layer = 4 bytes (f32) × (``n_embd_r`` + ``n_embd_s``), as in
  ``llama_hparams``: by default ``n_embd_r = (conv_kernel - 1) × (inner_size + 2 × group_count ×
  state_size)`` and ``n_embd_s = state_size × inner_size``; RWKV uses ``token_shift_count × n_embd``
  and ``n_embd × wkv.head_size``; LFM2 ``n_embd × (shortconv.l_cache - 1)``; Kimi KDA its heads.
- Routed experts are the ``blk.N.*_exps.*`` tensors; shared experts (``*_shexp``) are not.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gguf import Keys, LlamaFileType

from app.catalog.gguf_header import GGUFHeader, TensorInfo, read_header
from app.catalog.spec import LayerSpec, ModelSpec
from app.core.errors import ModelFileError

log = logging.getLogger(__name__)

STATE_DTYPE_BYTES = 4  # llama.cpp keeps recurrent state in f32
# Built-in SWA period and "dense first" flag per architecture (load_swa_pattern calls).
_SWA_PERIODS = MappingProxyType(
    {
        "gemma2": (2, False),
        "gemma3": (6, False),
        "gemma3n": (5, False),
        "gemma-embedding": (6, False),
        "gpt-oss": (2, False),
        "cohere2": (4, False),
        "cohere2moe": (4, True),
        "llama4": (4, False),
        "olmo2": (4, False),
        "exaone4": (4, False),
        "exaone-moe": (4, False),
        "afmoe": (4, False),
        "mellum": (4, False),
        "muse-glimmer": (4, False),
        "plamo3": (8, False),
        "smallthinker": (4, True),
        "laguna": (4, True),
        "modern-bert": (3, True),
    }
)
_INTERVAL_DEFAULTS = MappingProxyType({"qwen3next": 4, "qwen35": 4, "qwen35moe": 4})
_ALL_RECURRENT = frozenset({"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})
_BLOCK = re.compile(r"^blk\.(\d+)\.")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf(?=$|\?)")
_EXPERT = re.compile(r"_(?:ch)?exps\.")
_STATE_TENSOR = re.compile(r"\.(?:ssm_|time_mix_|shortconv\.)")
_ATTN_K_TENSOR = re.compile(r"\.(?:attn_k|attn_k_b|attn_kv_a_mqa)\.")


def inspect_gguf(
    path_or_url: str | Path, *, token: str | None = None, model_id: str | None = None
) -> ModelSpec:
    """Read a GGUF header (file path or ``http(s)://`` URL) and return its exact ModelSpec.

    Only the header is read: a few megabytes whatever the model size. Split files
    (``*-00001-of-0000N.gguf``) are read shard by shard. ``token`` is sent as a bearer token
    to remote servers (gated Hugging Face repos). Sizes in the spec are bytes.
    """
    given = read_header(path_or_url, token=token)
    headers = _all_shards(given, path_or_url, token)
    return spec_from_headers(headers, model_id=model_id or _default_id(path_or_url))


def _default_id(path_or_url: str | Path) -> str:
    """File name without ``.gguf`` and without a ``-00001-of-00003`` split suffix."""
    text = str(path_or_url)
    if text.startswith(("http://", "https://")):
        name = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    else:
        name = Path(path_or_url).name
    return _SPLIT.sub("", name).removesuffix(".gguf")


def _all_shards(given: GGUFHeader, source: str | Path, token: str | None) -> list[GGUFHeader]:
    """Every shard's header, first shard first (``split.count`` and the file-name pattern)."""
    count = int(given.metadata.get(Keys.Split.LLM_KV_SPLIT_COUNT, 1) or 1)
    if count <= 1:
        return [given]
    text = str(source)
    match = _SPLIT.search(text)
    if match is None:
        raise ModelFileError(
            f"{source} is one part of a {count}-part GGUF but its name does not end in "
            f"'-0000N-of-{count:05d}.gguf'.",
            "Keep the shard files with their original names in one folder.",
        )
    headers = []
    for no in range(1, count + 1):
        name = f"{text[: match.start()]}-{no:05d}-of-{count:05d}.gguf{text[match.end() :]}"
        if name == text:
            headers.append(given)
            continue
        if not name.startswith(("http://", "https://")) and not Path(name).exists():
            raise ModelFileError(
                f"Shard {no} of {count} ({Path(name).name}) is missing next to {source}.",
                "Download every part of the split model into the same folder.",
            )
        headers.append(read_header(name, token=token))
    return headers


def spec_from_headers(headers: list[GGUFHeader], *, model_id: str) -> ModelSpec:
    """Build the spec from parsed headers (first shard first). Sizes are bytes."""
    md = headers[0].metadata
    notes: list[str] = []
    arch = str(md.get(Keys.General.ARCHITECTURE, ""))
    if not arch:
        raise ModelFileError(f"{headers[0].source} has no general.architecture key.")
    tensors = [t for h in headers for t in h.tensors]

    def key(template: str, default: Any = None) -> Any:
        return md.get(template.format(arch=arch), default)

    blocks: dict[int, list[TensorInfo]] = {}
    token_embd_bytes = output_bytes = 0
    for t in tensors:
        match = _BLOCK.match(t.name)
        if match:
            blocks.setdefault(int(match.group(1)), []).append(t)
        elif t.name.startswith("token_embd."):
            token_embd_bytes += t.n_bytes
        else:
            output_bytes += t.n_bytes

    block_count = key(Keys.LLM.BLOCK_COUNT)
    n_layers = max(int(block_count or 0), max(blocks, default=-1) + 1)
    if block_count is None:
        notes.append(f"{arch}.block_count missing; counted {n_layers} blocks from tensor names")
    elif n_layers != block_count:
        notes.append(f"block_count is {block_count} but tensors name {n_layers} blocks")
    if key(Keys.LLM.NEXTN_PREDICT_LAYERS):
        notes.append("the last block(s) are multi-token-prediction layers, counted as layers")

    n_embd = int(key(Keys.LLM.EMBEDDING_LENGTH, 0))
    n_head_arr = _per_layer(key(Keys.Attention.HEAD_COUNT), n_layers, 0)
    n_head = next((n for n in n_head_arr if n), 0)  # first attention layer's count
    n_head_kv_arr = _per_layer(key(Keys.Attention.HEAD_COUNT_KV), n_layers, n_head)
    default_head = n_embd // n_head if n_head else 0
    head_k = int(key(Keys.Attention.KEY_LENGTH, default_head))
    head_v = int(key(Keys.Attention.VALUE_LENGTH, default_head))
    head_k_swa = int(key(Keys.Attention.KEY_LENGTH_SWA, head_k))
    head_v_swa = int(key(Keys.Attention.VALUE_LENGTH_SWA, head_v))
    window = int(key(Keys.Attention.SLIDING_WINDOW, 0) or 0)
    swa = _swa_layers(md, arch, n_layers, window, notes)
    recurrent = _recurrent_layers(md, arch, n_layers, blocks, notes)
    state_bytes = STATE_DTYPE_BYTES * _state_elements(md, arch, n_embd, n_head)

    layers = []
    for il in range(n_layers):
        block = blocks.get(il, [])
        has_state = recurrent[il] or any(_STATE_TENSOR.search(t.name) for t in block)
        attention = not recurrent[il]
        layers.append(
            LayerSpec(
                kind="recurrent" if recurrent[il] else "swa" if swa[il] else "attention",
                weight_bytes=sum(t.n_bytes for t in block),
                expert_bytes=sum(t.n_bytes for t in block if _EXPERT.search(t.name)),
                n_head_kv=n_head_kv_arr[il] if attention else 0,
                head_dim_k=(head_k_swa if swa[il] else head_k) if attention else 0,
                head_dim_v=(head_v_swa if swa[il] else head_v) if attention else 0,
                recurrent_state_bytes=state_bytes if has_state else 0,
            )
        )
    if any(recurrent) and not state_bytes:
        notes.append("recurrent layers found but their state size is unknown (0 used)")

    file_size = 0
    for h in headers:
        if h.file_size is None:
            notes.append(f"{h.source}: size not reported; computed from the header")
        file_size += h.file_size if h.file_size is not None else h.data_offset + h.data_bytes

    tensor_names = {t.name for t in tensors}
    n_vocab = key(Keys.LLM.VOCAB_SIZE) or len(md.get(Keys.Tokenizer.LIST, ()))
    if not n_vocab and "token_embd.weight" in tensor_names:
        n_vocab = next(t.shape[-1] for t in tensors if t.name == "token_embd.weight")
    context_length = int(key(Keys.LLM.CONTEXT_LENGTH, 0))
    if not context_length:
        notes.append(f"{arch}.context_length missing")
    n_ff = _per_layer(key(Keys.LLM.FEED_FORWARD_LENGTH), n_layers, 0)
    spec = ModelSpec(
        id=model_id,
        name=str(md.get(Keys.General.NAME) or model_id),
        architecture=arch,
        quantization=_quantization(md, tensors, notes),
        file_size_bytes=file_size,
        context_length=context_length,
        n_embd=n_embd,
        n_head=n_head,
        n_vocab=int(n_vocab),
        n_ff=max(n_ff, default=0),
        sliding_window=window if any(swa) else None,
        n_experts=int(key(Keys.LLM.EXPERT_COUNT, 0)),
        n_experts_used=int(key(Keys.LLM.EXPERT_USED_COUNT, 0)),
        params_total=sum(t.n_elements for t in tensors),
        token_embd_bytes=token_embd_bytes,
        output_bytes=output_bytes,
        tied_embeddings="output.weight" not in tensor_names,
        layers=layers,
        confidence="exact",
        notes=notes,
        has_chat_template=_has_chat_template(md),
    )
    log.debug("inspected %s: %s, %d layers", headers[0].source, arch, n_layers)
    return spec


def _per_layer(value: Any, n_layers: int, default: int) -> list[int]:
    """A per-layer list from a scalar, a per-layer array, or nothing."""
    if value is None:
        return [default] * n_layers
    if isinstance(value, list):
        values = [int(v) for v in value][:n_layers]
        return values + [values[-1] if values else default] * (n_layers - len(values))
    return [int(value)] * n_layers


def _swa_layers(
    md: dict[str, Any], arch: str, n_layers: int, window: int, notes: list[str]
) -> list[bool]:
    if window <= 0:
        return [False] * n_layers
    pattern = md.get(Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=arch))
    if isinstance(pattern, list):
        flags = [bool(v) for v in pattern[:n_layers]]
        return flags + [False] * (n_layers - len(flags))
    period, dense_first = _SWA_PERIODS.get(arch, (None, False))
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        period = pattern
    if period is None:
        notes.append(
            f"sliding_window={window} but the SWA layer pattern of '{arch}' is unknown; "
            "all layers counted as full attention"
        )
        return [False] * n_layers
    if period == 0:
        return [True] * n_layers
    if dense_first:
        return [il % period != 0 for il in range(n_layers)]
    return [il % period < period - 1 for il in range(n_layers)]


def _recurrent_layers(
    md: dict[str, Any],
    arch: str,
    n_layers: int,
    blocks: dict[int, list[TensorInfo]],
    notes: list[str],
) -> list[bool]:
    explicit = md.get(f"{arch}.attention.recurrent_layers")
    if explicit is not None:
        flags = [bool(v) for v in explicit] if isinstance(explicit, list) else [bool(explicit)]
        flags = flags[:n_layers] if len(flags) > 1 else flags * n_layers
        return flags + [False] * (n_layers - len(flags))
    interval = md.get(Keys.LLM.FULL_ATTENTION_INTERVAL.format(arch=arch))
    if interval is None and arch in _INTERVAL_DEFAULTS:
        interval = _INTERVAL_DEFAULTS[arch]
        notes.append(f"{arch}.full_attention_interval missing; llama.cpp's default {interval} used")
    if interval:
        return [(il + 1) % int(interval) != 0 for il in range(n_layers)]
    if arch in _ALL_RECURRENT:
        return [True] * n_layers
    flags = []
    for il in range(n_layers):
        names = [t.name for t in blocks.get(il, [])]
        has_state = any(_STATE_TENSOR.search(n) for n in names)
        flags.append(has_state and not any(_ATTN_K_TENSOR.search(n) for n in names))
    return flags


def _state_elements(md: dict[str, Any], arch: str, n_embd: int, n_head: int) -> int:
    """``n_embd_r() + n_embd_s()`` of llama_hparams: state elements per layer and sequence."""

    def key(template: str) -> int:
        return int(md.get(template.format(arch=arch), 0) or 0)

    wkv_head_size = key("{arch}.wkv.head_size")
    if wkv_head_size:  # RWKV: token shift + wkv state
        shift = int(md.get(f"{arch}.token_shift_count", 2))
        return shift * n_embd + n_embd * wkv_head_size
    l_cache = key("{arch}.shortconv.l_cache")
    if l_cache:  # LFM2 short convolution
        return n_embd * (l_cache - 1)
    d_conv = key(Keys.SSM.CONV_KERNEL)
    kda_head = key("{arch}.kda.head_dim")
    if kda_head:  # Kimi delta attention
        return 3 * (d_conv - 1 if d_conv > 0 else 3) * n_head * kda_head + kda_head**2 * n_head
    d_inner = key(Keys.SSM.INNER_SIZE)
    d_state = key(Keys.SSM.STATE_SIZE)
    n_group = key(Keys.SSM.GROUP_COUNT)
    conv = (d_conv - 1 if d_conv > 0 else 0) * (d_inner + 2 * n_group * d_state)
    return conv + d_state * d_inner


def _quantization(md: dict[str, Any], tensors: list[TensorInfo], notes: list[str]) -> str:
    file_type = md.get(Keys.General.FILE_TYPE)
    if file_type is not None:
        try:
            ftype = LlamaFileType(int(file_type))
        except ValueError:
            ftype = LlamaFileType.GUESSED
        if ftype != LlamaFileType.GUESSED:
            return "F32" if ftype == LlamaFileType.ALL_F32 else ftype.name.removeprefix("MOSTLY_")
    by_type: Counter[str] = Counter()
    for t in tensors:
        if len(t.shape) >= 2:
            by_type[t.ggml_type.name] += t.n_bytes
    if not by_type:
        return "unknown"
    name = by_type.most_common(1)[0][0]
    notes.append(f"general.file_type missing; quantization is the most common tensor type ({name})")
    return name


def _has_chat_template(md: dict[str, Any]) -> bool:
    return any(
        k == Keys.Tokenizer.CHAT_TEMPLATE or k.startswith(Keys.Tokenizer.CHAT_TEMPLATE + ".")
        for k in md
    )

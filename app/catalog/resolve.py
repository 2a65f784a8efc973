"""Turn what the user typed (catalog id, alias, local path or URL) into a ``ModelSpec``.

Prefers exact numbers: a GGUF on disk (or remote header) is inspected; otherwise the spec is
built from the catalog's architecture numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.catalog.catalog import Catalog, CatalogModel, Variant
from app.catalog.catalog_spec import spec_from_catalog
from app.catalog.embedded import ensure_embedded_model
from app.catalog.inspect import inspect_gguf
from app.catalog.spec import ModelSpec


@dataclass(frozen=True)
class ResolvedModel:
    spec: ModelSpec
    entry: CatalogModel | None = None
    variant: Variant | None = None
    path: Path | None = None
    url: str | None = None


def variant_path(models_dir: Path, model: CatalogModel, variant: Variant) -> Path | None:
    """Where a downloaded variant lives (first file for split GGUFs), if it is complete."""
    if model.embedded:
        candidate = models_dir / "embedded" / variant.files[0].name if variant.files else None
        return candidate if candidate and candidate.exists() else None
    base = models_dir / model.id / variant.id
    if variant.format == "mlx":
        return base if (base / "config.json").exists() else None
    if not variant.files:
        return None
    first = base / variant.files[0].name
    return first if all((base / f.name).exists() for f in variant.files) else None


def resolve_model(
    name: str, catalog: Catalog, models_dir: Path, assemble_embedded: bool = True
) -> ResolvedModel:
    """Resolve ``name`` (``id[:variant]``, alias, ``.gguf`` path or ``http(s)://`` URL)."""
    if name.startswith(("http://", "https://")):
        return ResolvedModel(spec=inspect_gguf(name), url=name)
    as_path = Path(name).expanduser()
    if name.endswith(".gguf") or as_path.is_file():
        return ResolvedModel(spec=inspect_gguf(as_path), path=as_path)
    entry = catalog.get(name)
    variant_id = name.split(":", 1)[1] if ":" in name else None
    variant = entry.variant(variant_id)
    return resolve_entry(entry, variant, models_dir, assemble_embedded)


def resolve_entry(
    entry: CatalogModel, variant: Variant, models_dir: Path, assemble_embedded: bool = True
) -> ResolvedModel:
    """Spec for a catalog variant: inspected from disk when present, else from the catalog."""
    path = variant_path(models_dir, entry, variant)
    if path is None and entry.embedded and assemble_embedded:
        path = ensure_embedded_model(models_dir)
    if path is not None and variant.format == "gguf":
        spec = inspect_gguf(path)
        spec = spec.model_copy(update={"id": entry.id, "name": entry.name})
        return ResolvedModel(spec=spec, entry=entry, variant=variant, path=path)
    return ResolvedModel(spec=spec_from_catalog(entry, variant), entry=entry, variant=variant)

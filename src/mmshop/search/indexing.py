"""Product embeddings from a SearchEncoder and building / updating a ProductIndex folder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.data.catalog import Catalog
from mmshop.errors import DataError
from mmshop.index.config import IndexConfig
from mmshop.index.metadata import MetadataStore
from mmshop.index.store import ProductIndex
from mmshop.search.config import EmbeddingConfig
from mmshop.search.encoder import SearchEncoder


def mix_embeddings(
    image: np.ndarray, text: np.ndarray, image_mask: np.ndarray, config: EmbeddingConfig
) -> np.ndarray:
    """Product vectors per ``config``; rows without a usable image use their text embedding."""
    mask = np.asarray(image_mask, dtype=bool)[:, None]
    if config.source == "text":
        out = text
    elif config.source == "image":
        out = np.where(mask, image, text)
    else:
        w = config.image_weight
        out = np.where(mask, w * image + (1.0 - w) * text, text)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def product_embeddings(
    encoder: SearchEncoder,
    catalog: Catalog,
    config: EmbeddingConfig | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One vector per product of ``catalog`` and a note of how many lacked a photo."""
    config = config or EmbeddingConfig()
    emb = encoder.encode_catalog(catalog, cache_dir, progress)
    vectors = mix_embeddings(emb["image"], emb["text"], emb["image_mask"], config)
    notes = {"without_image": int((~emb["image_mask"]).sum()), "products": len(vectors)}
    return vectors, notes


def default_filter_fields(catalog: Catalog) -> list[str]:
    """The catalogue's categorical and numeric columns."""
    return [*catalog.roles.categorical, *catalog.roles.numeric]


def _titles(encoder: SearchEncoder, catalog: Catalog) -> list[str]:
    from mmshop.search.encoder import text_view

    return text_view(catalog, encoder.config.text_columns).texts()


def _model_ref(model_dir: Path, index_dir: Path) -> dict[str, str]:
    model_dir = model_dir.resolve()
    try:
        relative = os.path.relpath(model_dir, index_dir.resolve().parent)
    except ValueError:  # different drives on Windows
        relative = str(model_dir)
    return {"model_path": str(model_dir), "model_path_relative": relative}


def build_index(
    model_dir: str | Path,
    catalog: Catalog,
    out: str | Path,
    embedding: EmbeddingConfig | None = None,
    index: IndexConfig | None = None,
    filter_fields: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    encoder: SearchEncoder | None = None,
) -> ProductIndex:
    """Embed every product with the saved model at ``model_dir`` and write the index to ``out``.

    The folder records the model's version and path; it is written atomically, so an
    interrupted build leaves no half-written index (and keeps a previous one intact).
    """
    model_dir, out = Path(model_dir), Path(out)
    encoder = encoder or SearchEncoder.load(model_dir)
    if encoder.version is None:
        raise DataError(f"the search model at {model_dir} must be saved before indexing")
    embedding = embedding or EmbeddingConfig()
    if not catalog.roles.id:
        raise DataError(f"catalogue {catalog.source} has no id column to name indexed products")
    fields = list(default_filter_fields(catalog) if filter_fields is None else filter_fields)
    vectors, notes = product_embeddings(encoder, catalog, embedding, cache_dir, progress)
    info = {
        "model_version": encoder.version,
        **_model_ref(model_dir, out),
        "embedding": embedding.to_dict(),
        "text_columns": encoder.config.text_columns,
        "catalog": catalog.source,
        **notes,
    }
    built = ProductIndex.build(
        catalog.ids(),
        vectors,
        _titles(encoder, catalog),
        catalog.df,
        MetadataStore.infer_kinds(catalog.df, fields),
        index or IndexConfig(),
        info,
    )
    built.save(out)
    return built


def update_index(
    searcher_index: ProductIndex,
    encoder: SearchEncoder,
    catalog: Catalog,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> None:
    """Add or replace ``catalog``'s products in an open index (no rebuild)."""
    config = EmbeddingConfig.from_dict(searcher_index.info.get("embedding", {}))
    vectors, _ = product_embeddings(encoder, catalog, config, cache_dir, progress)
    searcher_index.upsert(catalog.ids(), vectors, _titles(encoder, catalog), catalog.df)

"""The items a recommender ranks: ids, attributes and one L2-normalised embedding per item.

Where the embeddings come from, best first:

1. the engine's multimodal model: :func:`from_predictor` (``MultimodalPredictor.embed``: the
   fused photo + title + attribute embedding of a trained tagger), or :func:`from_search_encoder`
   (a search model's product vectors, photo and title in one space);
2. the cheap fallback for a catalogue without a trained model, :func:`attribute_embeddings`:
   one-hot attribute values plus a TF-IDF + truncated-SVD projection of the titles
   (scikit-learn; seconds on a laptop);
3. optionally, for shops with purchase history, :func:`interaction_embeddings`: a truncated SVD
   of the item x customer matrix (items bought by the same people end up close), which can be
   concatenated with either of the above via :func:`combine`.

Saved as ``items.json`` (ids, attributes, provenance) + ``embeddings.safetensors``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop import __version__
from mmshop.errors import DataError, ModelLoadError, QueryError
from mmshop.models.io import check_format, read_json, verify_model_dir, write_model_dir

FORMAT = "mmshop.items"


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class ItemCatalogue:
    """Item ids (unique, as text), an attribute table in the same order, and embeddings."""

    def __init__(
        self,
        ids: Sequence[Any],
        embeddings: np.ndarray,
        attributes: pd.DataFrame | None = None,
        source: str = "custom",
    ) -> None:
        self.ids = [str(i) for i in ids]
        if len(set(self.ids)) != len(self.ids):
            dup = pd.Series(self.ids)[pd.Series(self.ids).duplicated()].iloc[0]
            raise DataError(f"item_id: duplicate item id '{dup}' in the catalogue")
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(self.ids):
            raise DataError(
                f"embeddings must be [items, dim] with {len(self.ids)} rows, got {emb.shape}"
            )
        if not np.isfinite(emb).all():
            raise DataError("embeddings contain NaN or infinite values")
        self.embeddings = normalise(emb)
        attrs = attributes if attributes is not None else pd.DataFrame(index=range(len(self.ids)))
        if len(attrs) != len(self.ids):
            raise DataError(f"attributes have {len(attrs)} rows for {len(self.ids)} items")
        self.attributes = attrs.reset_index(drop=True)
        self.source = source
        self.index = {item: i for i, item in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def position(self, item_id: Any) -> int:
        try:
            return self.index[str(item_id)]
        except KeyError:
            raise QueryError(f"item_id: unknown item '{item_id}'") from None

    def attribute(self, column: str) -> pd.Series | None:
        return self.attributes[column] if column in self.attributes.columns else None

    # ------------------------------------------------------------------ io
    def save(self, path: str | Path) -> Path:
        from safetensors.numpy import save_file

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": 1,
                "mmshop_version": __version__,
                "source": self.source,
                "ids": self.ids,
                "attributes": json.loads(self.attributes.to_json(orient="split", index=False)),
            }
            (tmp / "items.json").write_text(json.dumps(meta), encoding="utf-8")
            save_file({"embeddings": self.embeddings}, str(tmp / "embeddings.safetensors"))

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> ItemCatalogue:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        path = Path(path)
        verify_model_dir(path, required=("items.json", "embeddings.safetensors"))
        meta = read_json(path / "items.json")
        check_format(meta, path, FORMAT)
        try:
            emb = load_file(str(path / "embeddings.safetensors"))["embeddings"]
            split = meta["attributes"]
            attrs = pd.DataFrame(split["data"], columns=split["columns"])
            return cls(meta["ids"], emb, attrs, meta.get("source", "custom"))
        except (KeyError, SafetensorError, DataError) as exc:
            raise ModelLoadError(f"{path} is not a valid item catalogue: {exc}") from exc


def _ids(df: pd.DataFrame, id_column: str) -> list[str]:
    if id_column not in df.columns:
        raise DataError(f"column '{id_column}' is missing (columns: {list(df.columns)})")
    return [str(v) for v in df[id_column].tolist()]


def attribute_embeddings(
    df: pd.DataFrame,
    id_column: str = "id",
    columns: Sequence[str] | None = None,
    text_column: str | None = "productDisplayName",
    dim: int = 64,
    seed: int = 0,
) -> ItemCatalogue:
    """The cheap fallback: one-hot attributes (each column weighted equally) + title TF-IDF SVD."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = _ids(df, id_column)
    if columns is None:
        columns = [
            c
            for c in df.columns
            if c not in (id_column, text_column) and df[c].dtype == object and df[c].nunique() < 500
        ]
    parts: list[np.ndarray] = []
    for col in columns:
        if col not in df.columns:
            raise DataError(f"column '{col}' is missing (columns: {list(df.columns)})")
        onehot = pd.get_dummies(df[col].astype(str).where(df[col].notna(), "<missing>"))
        parts.append(onehot.to_numpy(dtype=np.float32) / np.sqrt(max(1, len(columns))))
    if text_column and text_column in df.columns:
        texts = df[text_column].fillna("").astype(str).tolist()
        if any(t.strip() for t in texts):
            tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit_transform(
                texts
            )
            k = max(1, min(dim, tfidf.shape[1] - 1, len(ids) - 1))
            svd = TruncatedSVD(n_components=k, random_state=seed) if k > 1 else None
            dense = svd.fit_transform(tfidf) if svd is not None else tfidf.toarray()[:, :1]
            parts.append(normalise(dense))
    if not parts:
        raise DataError("no attribute or text column to build item embeddings from")
    keep = [c for c in df.columns if c != id_column]
    return ItemCatalogue(ids, np.hstack(parts), df[keep].reset_index(drop=True), "attributes")


def interaction_embeddings(
    item_ids: Sequence[str],
    interactions: pd.DataFrame,
    user_column: str = "user_id",
    item_column: str = "item_id",
    dim: int = 64,
    seed: int = 0,
) -> np.ndarray:
    """``[items, dim]`` truncated SVD of the (IDF-weighted) item x customer matrix.

    Items that never occur in ``interactions`` get zero vectors.
    """
    from scipy import sparse
    from sklearn.decomposition import TruncatedSVD

    index = {str(i): n for n, i in enumerate(item_ids)}
    rows = interactions[item_column].astype(str).map(index)
    keep = rows.notna().to_numpy()
    users, user_codes = np.unique(
        interactions.loc[keep, user_column].astype(str).to_numpy(), return_inverse=True
    )
    r = rows[keep].to_numpy(dtype=np.int64)
    matrix = sparse.csr_matrix(
        (np.ones(len(r), dtype=np.float32), (r, user_codes)), shape=(len(item_ids), len(users))
    )
    matrix.data[:] = 1.0  # repeated interactions count once
    per_user = np.asarray(matrix.sum(axis=0)).ravel()
    idf = np.log1p(len(item_ids) / np.maximum(per_user, 1.0)).astype(np.float32)
    matrix = matrix @ sparse.diags(idf)
    k = max(1, min(dim, min(matrix.shape) - 1))
    out = TruncatedSVD(n_components=k, random_state=seed).fit_transform(matrix)
    return normalise(out)


def combine(catalogue: ItemCatalogue, extra: np.ndarray, weight: float = 1.0) -> ItemCatalogue:
    """Concatenate another view (e.g. interaction embeddings) onto the item embeddings."""
    extra = normalise(extra) * float(weight)
    emb = np.hstack([catalogue.embeddings, extra])
    source = f"{catalogue.source}+interactions"
    return ItemCatalogue(catalogue.ids, emb, catalogue.attributes, source)


def from_predictor(
    predictor: Any, rows: Any, id_column: str = "id", attributes: pd.DataFrame | None = None
) -> ItemCatalogue:
    """Item embeddings from a trained ``MultimodalPredictor`` (fused photo + text + attributes)."""
    df = rows.df if hasattr(rows, "df") else pd.DataFrame(rows)
    ids = _ids(df, id_column)
    emb = predictor.embed(rows)
    attrs = attributes if attributes is not None else df.drop(columns=[id_column])
    return ItemCatalogue(ids, emb, attrs, "predictor")


def from_search_encoder(encoder: Any, catalog: Any, id_column: str = "id") -> ItemCatalogue:
    """Item embeddings from a trained search model (``mmshop.search``: photo + title vectors)."""
    from mmshop.search.indexing import product_embeddings

    emb, _ = product_embeddings(encoder, catalog, progress=False)
    df = catalog.df
    return ItemCatalogue(_ids(df, id_column), emb, df.drop(columns=[id_column]), "search")

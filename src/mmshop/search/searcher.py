"""Searcher: text, photo and "more like this" product search over a saved index."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmshop.data.catalog import Catalog
from mmshop.errors import DataError, ModelLoadError, QueryError
from mmshop.index.metadata import Filters
from mmshop.index.store import ProductIndex, SearchHit, check_k
from mmshop.index.vector import faiss_module
from mmshop.models.io import read_json
from mmshop.search.encoder import SearchEncoder
from mmshop.search.indexing import update_index
from mmshop.search.zeroshot import DEFAULT_TEMPLATE, zero_shot_probs

MODES = ("vector", "hybrid", "lexical")
MAX_QUERY_CHARS = 1000
MAX_QUERY_IMAGE_BYTES = 10_000_000


@contextlib.contextmanager
def query_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op threads in torch and FAISS, then restore the previous counts.

    One query is a chain of tiny operations: splitting each over threads only adds
    synchronisation, and on a busy machine a thread that waits for a descheduled peer can
    make a 1 ms query take 100+ ms. ``None`` leaves the settings alone.
    """
    if n is None:
        yield
        return
    faiss = faiss_module()
    old_torch, old_faiss = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(n)
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old_torch)
        faiss.omp_set_num_threads(old_faiss)


def _resolve_model(index_dir: Path, info: dict[str, Any]) -> Path:
    candidates = []
    if info.get("model_path_relative"):
        candidates.append(index_dir.resolve().parent / info["model_path_relative"])
    if info.get("model_path"):
        candidates.append(Path(info["model_path"]))
    for path in candidates:
        if path.is_dir():
            return path
    raise ModelLoadError(
        f"the search model of index {index_dir} was not found (looked in "
        f"{[str(c) for c in candidates]}); pass the model folder explicitly"
    )


class Searcher:
    """Queries a :class:`ProductIndex` with a :class:`SearchEncoder` of the same version.

    >>> s = Searcher.open("index/")
    >>> s.search_text("navy blue formal shirt", k=10, filters={"masterCategory": "Apparel"})
    >>> s.search_image("photo.jpg", k=5); s.similar("1234", k=5)
    """

    def __init__(
        self,
        index: ProductIndex,
        encoder: SearchEncoder,
        path: Path | None = None,
        query_threads: int | None = 1,
    ) -> None:
        if encoder.version is not None and index.model_version not in (None, encoder.version):
            from mmshop.index.store import ModelVersionMismatch

            raise ModelVersionMismatch(
                f"index was built with model version {index.model_version}, the encoder is "
                f"version {encoder.version}; rebuild the index with this model"
            )
        if encoder.dim != index.dim:
            raise ModelLoadError(
                f"index holds {index.dim}-d vectors but the model makes {encoder.dim}-d ones"
            )
        self.index = index
        self.encoder = encoder
        self.path = path
        self.query_threads = query_threads

    def threads(self) -> contextlib.AbstractContextManager[None]:
        """Context in which queries run (``query_threads`` intra-op threads)."""
        return query_threads(self.query_threads)

    @classmethod
    def open(
        cls,
        index_dir: str | Path,
        model_dir: str | Path | None = None,
        query_threads: int | None = 1,
    ) -> Searcher:
        """Open an index folder and the model it records (or ``model_dir``); versions must match.

        ``query_threads``: intra-op threads per query (1 is fastest for single queries)."""
        index_dir = Path(index_dir)
        if not index_dir.is_dir():
            raise ModelLoadError(f"index folder not found: {index_dir}")
        if not (index_dir / "index.json").is_file():
            raise ModelLoadError(f"{index_dir} is not an mmshop index (no index.json)")
        info = read_json(index_dir / "index.json").get("info", {})
        model = Path(model_dir) if model_dir else _resolve_model(index_dir, info)
        encoder = SearchEncoder.load(model)
        index = ProductIndex.load(index_dir, model_version=encoder.version)
        return cls(index, encoder, index_dir, query_threads)

    # ------------------------------------------------------------------ queries
    def _text(self, query: Any) -> str:
        if not isinstance(query, str) or not query.strip():
            raise QueryError("the text query is empty; type what you are looking for")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"the text query is too long ({len(query)} > {MAX_QUERY_CHARS} chars)")
        return query.strip()

    def encode_query(self, query: str) -> np.ndarray:
        """The query's text embedding ``[D]``."""
        text = self._text(query)
        with self.threads():
            return self.encoder.encode_texts([text])[0]

    def search_text(
        self, query: str, k: int = 10, filters: Filters | None = None, mode: str = "vector"
    ) -> list[SearchHit]:
        """Products matching a text query. ``mode``: vector, hybrid (vector + BM25 by RRF)
        or lexical (BM25 only)."""
        text = self._text(query)
        check_k(k)
        if mode not in MODES:
            raise QueryError(f"mode must be one of {list(MODES)}, got {mode!r}")
        if mode == "lexical":
            return self.index.search_lexical(text, k, filters)
        with self.threads():
            vector = self.encoder.encode_texts([text])[0]
            if mode == "hybrid":
                return self.index.search_hybrid(vector, text, k, filters)
            return self.index.search(vector, k, filters)

    def search_texts(self, queries: Sequence[str], k: int = 10) -> list[list[SearchHit]]:
        """Unfiltered vector search for many text queries at once (one encoder pass, one
        FAISS call): the same answers as :meth:`search_text` per query, cheaper per query."""
        texts = [self._text(q) for q in queries]
        check_k(k)
        if not texts:
            return []
        with self.threads():
            return self.index.search_many(self.encoder.encode_texts(texts), k)

    def image_vector(self, image: str | Path | bytes) -> np.ndarray:
        """The embedding of a query photo (path or bytes); unusable images are QueryErrors."""
        if isinstance(image, bytes | bytearray):
            size = len(image)
        else:
            path = Path(image)
            if not path.is_file():
                raise QueryError(f"query image not found: {path}")
            size = path.stat().st_size
        if size > MAX_QUERY_IMAGE_BYTES:
            raise QueryError(
                f"query image is too large: {size} bytes > {MAX_QUERY_IMAGE_BYTES} allowed"
            )
        try:
            with self.threads():
                return self.encoder.encode_image_input(image)
        except DataError as exc:
            raise QueryError(f"cannot use the query image: {exc}") from exc

    def search_image(
        self, image: str | Path | bytes, k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Products that look like a photo (file path or encoded bytes)."""
        check_k(k)
        vector = self.image_vector(image)
        with self.threads():
            return self.index.search(vector, k, filters)

    def similar(
        self, product_id: str, k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Products nearest to an indexed product (the product itself is left out)."""
        check_k(k)
        vector = self.index.vector_of(str(product_id))
        with self.threads():
            return self.index.search(vector, k, filters, exclude=[str(product_id)])

    def similar_many(self, product_ids: Sequence[str], k: int = 10) -> list[list[SearchHit]]:
        """Unfiltered :meth:`similar` for many indexed products in one FAISS call."""
        check_k(k)
        ids = [str(p) for p in product_ids]
        if not ids:
            return []
        vectors = np.stack([self.index.vector_of(p) for p in ids])
        with self.threads():
            return self.index.search_many(vectors, k, exclude=ids)

    def zero_shot(
        self,
        labels: Sequence[str],
        image: str | Path | bytes | None = None,
        product_ids: Sequence[str] | None = None,
        template: str = DEFAULT_TEMPLATE,
    ) -> list[dict[str, float]]:
        """Label probabilities for a photo, or for indexed products (their stored vectors)."""
        if (image is None) == (product_ids is None):
            raise QueryError("give either an image or product_ids to classify")
        if image is not None:
            vectors = self.image_vector(image)[None]
        else:
            vectors = np.stack([self.index.vector_of(str(p)) for p in product_ids or []])
        probs = zero_shot_probs(self.encoder, vectors, labels, template)
        return [{str(lb): float(p) for lb, p in zip(labels, row, strict=True)} for row in probs]

    # ------------------------------------------------------------------ maintenance
    def add(self, catalog: Catalog, cache_dir: str | Path | None = None) -> int:
        """Add or replace the catalogue's products (embedded with this model); no rebuild."""
        update_index(self.index, self.encoder, catalog, cache_dir)
        return len(catalog)

    def delete(self, product_ids: Sequence[str]) -> int:
        return self.index.delete([str(p) for p in product_ids])

    def save(self, path: str | Path | None = None) -> Path:
        """Write the (changed) index back, atomically."""
        target = Path(path) if path else self.path
        if target is None:
            raise QueryError("no index folder to save to; pass a path")
        return self.index.save(target)

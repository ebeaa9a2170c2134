"""ProductIndex: vectors + product ids + filterable attributes + titles, saved as one folder.

Folder layout (written atomically, sha256 manifest checked on load): ``index.json`` (format,
dimension, index config, the model version that made the vectors, counts), ``vectors.faiss``
(``faiss.write_index``), ``vectors.npy`` (raw float32 vectors, for exact re-scoring, filtered
brute force and "similar to product X"), ``ids.json`` (slot -> product id), ``alive.npy``
(tombstones), ``texts.json`` (titles for BM25 and display) and ``metadata/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.errors import ConfigError, ModelLoadError, QueryError
from mmshop.index.config import IndexConfig
from mmshop.index.lexical import LexicalIndex, reciprocal_rank_fusion
from mmshop.index.metadata import Filters, MetadataStore
from mmshop.index.vector import VectorIndex, as_matrix
from mmshop.models.io import check_format, read_json, verify_model_dir, write_model_dir
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.product_index"
FORMAT_VERSION = 1
MAX_K = 1000


class ModelVersionMismatch(ModelLoadError):
    """The index was built with a different model than the one used to query it."""


@dataclass
class SearchHit:
    """One result: product id, score (higher is better), rank (1-based), title and fields."""

    id: str
    score: float
    rank: int
    title: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    vector_rank: int | None = None
    lexical_rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_k(k: Any) -> int:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


class ProductIndex:
    """Products' vectors in a FAISS index with ids, tombstones, attributes and titles.

    Build with :meth:`build`; change with :meth:`add`, :meth:`upsert`, :meth:`delete` (no
    rebuild: new vectors are appended, old slots are tombstoned); :meth:`compact` drops
    tombstones; :meth:`save` / :meth:`load` for the folder.
    """

    def __init__(
        self,
        dim: int,
        config: IndexConfig | None = None,
        fields: Mapping[str, str] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.dim = int(dim)
        self.config = config or IndexConfig()
        self.info: dict[str, Any] = dict(info or {})
        self.vector = VectorIndex(self.dim, self.config)
        self.vectors = np.zeros((0, self.dim), dtype=np.float32)
        self.ids: list[str] = []
        self.alive = np.zeros(0, dtype=bool)
        self.texts: list[str] = []
        self.metadata = MetadataStore(fields or {})
        self._slot: dict[str, int] = {}
        self._lexical: LexicalIndex | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        attributes: pd.DataFrame | None = None,
        fields: Mapping[str, str] | None = None,
        config: IndexConfig | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> ProductIndex:
        """An index of ``vectors`` (normalised inside) for products ``ids``."""
        x = np.asarray(vectors, dtype=np.float32)
        if x.ndim != 2:
            raise ConfigError(f"vectors must be [N, D], got shape {x.shape}")
        self = cls(x.shape[1], config, fields, info)
        self.vector.train(_normalise(x))
        self.add(ids, x, texts, attributes)
        return self

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.metadata.kinds)

    @property
    def model_version(self) -> str | None:
        return self.info.get("model_version")

    def add(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        attributes: pd.DataFrame | None = None,
    ) -> None:
        """Append new products; an id already in the index is an error (use :meth:`upsert`)."""
        ids = [str(i) for i in ids]
        x = _normalise(as_matrix(vectors, self.dim)) if len(ids) else self.vectors[:0]
        if len(x) != len(ids):
            raise ConfigError(f"{len(ids)} ids but {len(x)} vectors")
        texts = list(texts) if texts is not None else [""] * len(ids)
        if len(texts) != len(ids):
            raise ConfigError(f"{len(ids)} ids but {len(texts)} texts")
        dup = [i for i in ids if i in self._slot]
        seen: set[str] = set()
        dup += [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        if dup:
            raise ConfigError(f"product id(s) already in the index: {sorted(set(dup))[:5]}")
        attributes = attributes if attributes is not None else pd.DataFrame(index=range(len(ids)))
        if len(attributes) != len(ids):
            raise ConfigError(f"{len(ids)} ids but {len(attributes)} attribute rows")
        start = len(self.ids)
        self.vector.add(x)
        self.vectors = np.concatenate([self.vectors, x]) if len(self.vectors) else x.copy()
        self.ids.extend(ids)
        self.alive = np.concatenate([self.alive, np.ones(len(ids), dtype=bool)])
        self.texts.extend(str(t) if isinstance(t, str) else "" for t in texts)
        self.metadata.append(attributes.reset_index(drop=True))
        self._slot.update({pid: start + i for i, pid in enumerate(ids)})
        self._lexical = None

    def delete(self, ids: Sequence[str], missing_ok: bool = False) -> int:
        """Tombstone products; returns how many were deleted. Unknown ids are an error."""
        unknown = [str(i) for i in ids if str(i) not in self._slot]
        if unknown and not missing_ok:
            raise QueryError(f"product id(s) not in the index: {unknown[:5]}")
        n = 0
        for pid in ids:
            slot = self._slot.pop(str(pid), None)
            if slot is not None:
                self.alive[slot] = False
                n += 1
        return n

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        attributes: pd.DataFrame | None = None,
    ) -> None:
        """Add products, replacing those whose id is already indexed."""
        self.delete([i for i in ids if str(i) in self._slot])
        self.add(ids, vectors, texts, attributes)

    def compact(self) -> None:
        """Rebuild the FAISS index from the live vectors only (drops tombstoned slots)."""
        keep = np.flatnonzero(self.alive)
        vectors, ids = self.vectors[keep], [self.ids[i] for i in keep]
        texts = [self.texts[i] for i in keep]
        metadata = self.metadata.take(keep)
        fresh = ProductIndex(self.dim, self.config, self.fields, self.info)
        fresh.vector.train(vectors)
        fresh.add(ids, vectors, texts)
        fresh.metadata = metadata
        self.__dict__.update(fresh.__dict__)

    # ------------------------------------------------------------------ queries
    def slot(self, product_id: str) -> int:
        try:
            return self._slot[str(product_id)]
        except KeyError:
            raise QueryError(f"product id '{product_id}' is not in the index") from None

    def vector_of(self, product_id: str) -> np.ndarray:
        return self.vectors[self.slot(product_id)].copy()

    def allowed(self, filters: Filters | None, exclude: Sequence[str] = ()) -> np.ndarray | None:
        """bool mask of searchable slots, or None when every slot is searchable."""
        mask = None
        if filters:
            mask = self.metadata.mask(filters) & self.alive
        elif len(self._slot) != len(self.alive):  # some slots are tombstoned
            mask = self.alive.copy()
        if exclude:
            mask = self.alive.copy() if mask is None else mask
            for pid in exclude:
                if str(pid) in self._slot:
                    mask[self._slot[str(pid)]] = False
        return mask

    def search_slots(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k ``(scores, slots)`` for one query vector; always ``min(k, allowed)`` results."""
        return self._search_slots(as_matrix(query, self.dim), k, allowed)

    def _search_slots(
        self, q: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            if self.config.kind == "ivfpq" and self.config.rerank:
                return self._rerank(q, self.vector.search(q, k * 4)[1][0], k)
            scores, slots = self.vector.search(q, k)
            return scores[0], slots[0]
        n_allowed = int(allowed.sum())
        k = min(k, n_allowed)
        if k == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        if self.config.kind != "flat" and n_allowed <= self.config.brute_force_limit:
            return self._exact(q[0], np.flatnonzero(allowed), k)
        depth = k * 4 if self.config.kind == "ivfpq" and self.config.rerank else k
        scores, slots = self.vector.search(q, depth, allowed)
        found = slots[0][slots[0] >= 0]
        if len(found) < k:  # an approximate index ran dry: answer exactly instead
            return self._exact(q[0], np.flatnonzero(allowed), k)
        if depth != k:
            return self._rerank(q, found, k)
        return scores[0], slots[0]

    def _exact(
        self, q: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        scores = self.vectors[candidates] @ q
        if len(candidates) > k:
            top = np.argpartition(-scores, k - 1)[:k]
            candidates, scores = candidates[top], scores[top]
        order = np.argsort(-scores, kind="stable")
        return scores[order].astype(np.float32), candidates[order].astype(np.int64)

    def _rerank(self, q: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        slots = slots[slots >= 0]
        if self.alive.size and not self.alive.all():
            slots = slots[self.alive[slots]]
        return self._exact(q[0], slots, min(k, len(slots)))

    def _hits(self, scores: np.ndarray, slots: np.ndarray) -> list[SearchHit]:
        keep = np.asarray(slots) >= 0
        slots = np.asarray(slots)[keep]
        scores = np.asarray(scores)[keep].tolist()
        fields = self.metadata.rows(slots)
        return [
            SearchHit(self.ids[s], score, rank, self.texts[s], row)
            for rank, (s, score, row) in enumerate(
                zip(slots.tolist(), scores, fields, strict=True), start=1
            )
        ]

    def search(
        self,
        query: np.ndarray,
        k: int = 10,
        filters: Filters | None = None,
        exclude: Sequence[str] = (),
    ) -> list[SearchHit]:
        """Nearest products to a query vector, restricted by ``filters`` (top-k stays filled)."""
        k = check_k(k)
        q = _normalise(as_matrix(query, self.dim))
        scores, slots = self._search_slots(q, k, self.allowed(filters, exclude))
        return self._hits(scores, slots)

    def search_many(
        self, queries: np.ndarray, k: int = 10, exclude: Sequence[str | None] | None = None
    ) -> list[list[SearchHit]]:
        """Unfiltered nearest products for many query vectors ``[B, D]`` in one FAISS call.

        ``exclude[i]`` (a product id or None) is left out of answer ``i``. Answers equal
        :meth:`search` per row; one call scans the vectors once for the whole batch, which is
        what makes concurrent queries cheap (a flat scan is bound by memory bandwidth).
        """
        k = check_k(k)
        q = _normalise(as_matrix(queries, self.dim))
        skip = list(exclude) if exclude is not None else [None] * len(q)
        if len(skip) != len(q):
            raise QueryError(f"{len(q)} queries but {len(skip)} exclude entries")
        tombstones = len(self._slot) != len(self.alive)
        if tombstones or (self.config.kind == "ivfpq" and self.config.rerank):
            return [
                self.search(row, k, None, [e] if e else ()) for row, e in zip(q, skip, strict=True)
            ]
        if not len(q):
            return []
        depth = k + (1 if any(e is not None for e in skip) else 0)
        scores, slots = self.vector.search(q, depth)
        answers = []
        for row, pid in enumerate(skip):
            s, sl = scores[row], slots[row]
            if pid is not None:
                keep = sl != self._slot.get(str(pid), -2)
                s, sl = s[keep], sl[keep]
            answers.append(self._hits(s[:k], sl[:k]))
        return answers

    @property
    def lexical(self) -> LexicalIndex:
        if self._lexical is None:
            self._lexical = LexicalIndex(self.texts)
        return self._lexical

    def search_lexical(
        self, text: str, k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 matches of ``text`` against titles (only products sharing a query term)."""
        k = check_k(k)
        allowed = self.allowed(filters)
        slots = self.lexical.search(text, k, self.alive if allowed is None else allowed)
        scores = self.lexical.scores(text)[slots] if len(slots) else np.zeros(0, np.float32)
        return self._hits(scores, slots)

    def search_hybrid(
        self,
        query: np.ndarray,
        text: str,
        k: int = 10,
        filters: Filters | None = None,
        depth: int = 100,
    ) -> list[SearchHit]:
        """Vector and BM25 rankings (``depth`` each) fused by reciprocal rank."""
        k = check_k(k)
        allowed = self.allowed(filters)
        depth = max(depth, k)
        q = _normalise(as_matrix(query, self.dim))
        _, vec_slots = self.search_slots(q, depth, allowed)
        vec_slots = [int(s) for s in vec_slots if s >= 0]
        lex_slots = [
            int(s)
            for s in self.lexical.search(
                text, depth, allowed if allowed is not None else self.alive
            )
        ]
        fused = reciprocal_rank_fusion([vec_slots, lex_slots], k, self.config.rrf_k)
        vec_rank = {s: r for r, s in enumerate(vec_slots, start=1)}
        lex_rank = {s: r for r, s in enumerate(lex_slots, start=1)}
        hits = self._hits(
            np.array([score for _, score in fused], np.float32),
            np.array([slot for slot, _ in fused], np.int64),
        )
        for hit, (slot, _) in zip(hits, fused, strict=True):
            hit.vector_rank, hit.lexical_rank = vec_rank.get(slot), lex_rank.get(slot)
        return hits

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the folder atomically: an interrupted save leaves the old folder untouched."""

        def write(tmp: Path) -> None:
            self.vector.save(tmp / "vectors.faiss")
            np.save(tmp / "vectors.npy", self.vectors, allow_pickle=False)
            np.save(tmp / "alive.npy", self.alive, allow_pickle=False)
            atomic_write_text(tmp / "ids.json", json.dumps(self.ids, ensure_ascii=False))
            atomic_write_text(tmp / "texts.json", json.dumps(self.texts, ensure_ascii=False))
            self.metadata.save(tmp / "metadata")
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "dim": self.dim,
                "config": self.config.to_dict(),
                "info": self.info,
                "slots": len(self.ids),
                "products": len(self),
                "saved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            atomic_write_text(tmp / "index.json", json.dumps(meta, indent=2, default=str))

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path, model_version: str | None = None) -> ProductIndex:
        """Open a saved index; with ``model_version`` a different model version is refused."""
        path = Path(path)
        if not path.exists():
            raise ModelLoadError(f"index folder not found: {path}")
        try:
            verify_model_dir(path, required=("index.json", "vectors.faiss", "vectors.npy"))
        except ModelLoadError as exc:
            raise ModelLoadError(f"index folder {path} is missing or corrupt: {exc}") from exc
        meta = read_json(path / "index.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        stored = meta.get("info", {}).get("model_version")
        if model_version is not None and stored != model_version:
            raise ModelVersionMismatch(
                f"index {path} was built with model version {stored}, but the model in use is "
                f"version {model_version}; rebuild the index with this model (mmshop index ...)"
            )
        try:
            config = IndexConfig.from_dict(meta["config"])
            dim = int(meta["dim"])
        except (KeyError, ConfigError, ValueError) as exc:
            raise ModelLoadError(
                f"{path}/index.json is not a valid index description: {exc}"
            ) from exc
        self = cls(dim, config, None, meta.get("info"))
        self.vector = VectorIndex.load(path / "vectors.faiss", dim, config)
        try:
            self.vectors = np.load(path / "vectors.npy", allow_pickle=False)
            self.alive = np.load(path / "alive.npy", allow_pickle=False)
            self.ids = [str(i) for i in read_json(path / "ids.json")]
            self.texts = [str(t) for t in read_json(path / "texts.json")]
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"index folder {path} is corrupt: {exc}") from exc
        self.metadata = MetadataStore.load(path / "metadata")
        n = len(self.ids)
        sizes = {len(self.vectors), len(self.alive), len(self.texts), self.metadata.size}
        if sizes != {n} or self.vector.ntotal != n or self.vectors.shape[1:] != (dim,):
            raise ModelLoadError(f"index folder {path} is corrupt: its files disagree on size")
        self._slot = {pid: s for s, pid in enumerate(self.ids) if self.alive[s]}
        return self


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)

"""On-disk feature cache: decode and tokenize a catalogue once, then train from arrays.

Layout of ``root/<key>/``: ``meta.json`` (format, key, shapes, dtypes, ids, problems),
``image.u8`` (raw uint8 ``[N,H,W,3]``, memory-mapped) and one ``.npy`` file per other array.
The key hashes the catalogue fingerprint, each processor's cache state and the format version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.tabular import TabularProcessor, tabular_mask
from mmshop.data.processors.text import TextProcessor, nonempty
from mmshop.errors import DataError, MmshopError
from mmshop.utils.io import atomic_directory, atomic_write_text

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
_NPY_ARRAYS = (
    "image_mask",
    "text",
    "text_mask",
    "text_attention_mask",
    "tabular_cat",
    "tabular_num",
    "tabular_mask",
)
_DTYPES = {
    "image_mask": np.bool_,
    "text": np.int32,
    "text_mask": np.bool_,
    "text_attention_mask": np.bool_,
    "tabular_cat": np.int64,
    "tabular_num": np.float32,
    "tabular_mask": np.bool_,
}


@dataclass
class CachedArrays:
    """Per-row model inputs for a whole catalogue (row order = catalogue order).

    Masks are always bool ``[N]`` arrays (all False for an absent modality). Missing or
    undecodable images are stored as blank (pad-value) images with ``image_mask`` False.
    ``text_attention_mask`` (bool ``[N,L]``) is set when a pretrained tokenizer made ``text``
    (its pad id need not be 0). ``embeddings`` holds precomputed outputs of frozen encoders
    (float32 ``[N,D]`` per modality, see :mod:`mmshop.models.cascade`); it is never cached here.
    """

    image: np.ndarray | None = None  # uint8 [N,H,W,3] (np.memmap when loaded from disk)
    image_mask: np.ndarray | None = None
    text: np.ndarray | None = None  # int32 [N,L]
    text_mask: np.ndarray | None = None
    tabular_cat: np.ndarray | None = None  # int64 [N,C]
    tabular_num: np.ndarray | None = None  # float32 [N,2K]
    ids: list[str] = field(default_factory=list)
    key: str = ""
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (row id, column, reason)
    tabular_mask: np.ndarray | None = None
    text_attention_mask: np.ndarray | None = None  # bool [N,L]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    modality_keys: dict[str, str] = field(default_factory=dict)  # content key per modality

    def __post_init__(self) -> None:
        present = [
            a for a in (self.image, self.text, self.tabular_cat, self.tabular_num) if a is not None
        ]
        n = len(self.ids) if self.ids or not present else len(present[0])
        if not self.ids:
            self.ids = [str(i) for i in range(n)]
        if self.tabular_cat is not None and self.tabular_num is None:
            self.tabular_num = np.zeros((n, 0), dtype=np.float32)
        if self.tabular_num is not None and self.tabular_cat is None:
            self.tabular_cat = np.zeros((n, 0), dtype=np.int64)
        for name in ("image", "text", "tabular_cat", "tabular_num", *_NPY_ARRAYS):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise DataError(f"CachedArrays.{name} has {len(arr)} rows, expected {n}")
        for modality, emb in self.embeddings.items():
            if emb.ndim != 2 or len(emb) != n:
                raise DataError(
                    f"CachedArrays.embeddings['{modality}'] has shape {emb.shape}, "
                    f"expected ({n}, D)"
                )
        self.image_mask = _mask(self.image_mask, n, self.image is not None)
        default_text = None
        if self.text_attention_mask is not None:
            default_text = self.text_attention_mask.any(axis=1)
        elif self.text is not None:
            default_text = self.text.any(axis=1)
        self.text_mask = _mask(self.text_mask, n, default_text)
        default_tab = None
        if self.tabular_cat is not None and self.tabular_num is not None:
            default_tab = tabular_mask(self.tabular_cat, self.tabular_num)
        self.tabular_mask = _mask(self.tabular_mask, n, default_tab)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def modalities(self) -> list[str]:
        """Modalities with arrays, in contract order."""
        out = []
        if self.image is not None:
            out.append("image")
        if self.text is not None:
            out.append("text")
        if self.tabular_cat is not None:
            out.append("tabular")
        return out


def _mask(mask: np.ndarray | None, n: int, default: Any) -> np.ndarray:
    if mask is not None:
        return np.asarray(mask, dtype=bool).reshape(n)
    if isinstance(default, np.ndarray):
        return default.astype(bool)
    return np.full(n, bool(default), dtype=bool)


# ---------------------------------------------------------------------- computing arrays
def _state(proc: Any) -> Any:
    if proc is None:
        return None
    for attr in ("cache_state", "to_dict"):
        fn = getattr(proc, attr, None)
        if callable(fn):
            return fn()
    raise TypeError(f"{type(proc).__name__} has neither cache_state() nor to_dict()")


def _active(catalog: Any, image: Any, text: Any, tabular: Any) -> tuple[Any, Any, Any]:
    """Drop processors for modalities the catalogue does not have."""
    roles = catalog.roles
    image = image if image is not None and getattr(roles, "image", None) else None
    text = text if text is not None and getattr(roles, "text", None) else None
    if tabular is not None and not (tabular.categorical or tabular.numeric):
        tabular = None
    return image, text, tabular


def _row_ids(catalog: Any) -> list[str]:
    id_col = getattr(catalog.roles, "id", None)
    if id_col and id_col in catalog.df.columns:
        return [str(v) for v in catalog.df[id_col].tolist()]
    return [str(i) for i in range(len(catalog))]


def decode_images(
    processor: ImageProcessor,
    paths: Sequence[str | Path | None],
    out: np.ndarray,
    progress: bool = False,
    num_threads: int = 2,
    on_error: Callable[[int, str], None] | None = None,
) -> np.ndarray:
    """Decode ``paths`` into ``out`` (uint8 ``[N,H,W,3]``) in a thread pool; return the mask.

    ``None`` paths and files raising DataError get a blank image and mask False;
    ``on_error(row, message)`` is called for the latter.
    """
    n = len(paths)
    mask = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    blank = processor.blank()

    def work(rows: range) -> int:
        for i in rows:
            path = paths[i]
            if path is None:
                out[i] = blank
                continue
            try:
                out[i] = processor.load(path)
                mask[i] = True
            except DataError as exc:
                out[i] = blank
                errors[i] = str(exc)
        return len(rows)

    chunk = 64
    chunks = [range(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    with tqdm(total=n, desc="decoding images", unit="img", disable=not progress) as bar:
        if num_threads <= 1:
            for rows in chunks:
                bar.update(work(rows))
        else:
            with ThreadPoolExecutor(max_workers=num_threads) as pool:
                for fut in as_completed([pool.submit(work, rows) for rows in chunks]):
                    bar.update(fut.result())
    if on_error is not None:
        for i in sorted(errors):
            on_error(i, errors[i])
    return mask


def encode_catalog(
    catalog: Any,
    image: ImageProcessor | None = None,
    text: TextProcessor | None = None,
    tabular: TabularProcessor | None = None,
    progress: bool = False,
    num_threads: int = 2,
    _image_out: Callable[[tuple[int, ...]], np.ndarray] | None = None,
) -> CachedArrays:
    """Compute every array for ``catalog`` in memory (no disk cache), e.g. for prediction."""
    image, text, tabular = _active(catalog, image, text, tabular)
    n = len(catalog)
    ids = _row_ids(catalog)
    arrays: dict[str, Any] = {}
    problems: list[tuple[str, str, str]] = []
    if image is not None:
        h, w = image.config.size
        shape = (n, h, w, 3)
        out = _image_out(shape) if _image_out else np.empty(shape, dtype=np.uint8)
        column = str(catalog.roles.image)
        paths = [catalog.image_path(i) for i in range(n)]
        arrays["image_mask"] = decode_images(
            image,
            paths,
            out,
            progress=progress,
            num_threads=num_threads,
            on_error=lambda i, msg: problems.append((ids[i], column, msg)),
        )
        arrays["image"] = out
    if text is not None:
        texts = list(catalog.texts())
        encoded = encode_texts(text, texts)
        arrays.update(encoded)
        attention = encoded.get("text_attention_mask")
        tokens = attention if attention is not None else encoded["text"]
        arrays["text_mask"] = nonempty(texts) & tokens.any(axis=1)
    if tabular is not None:
        cat, num = tabular.transform(catalog.df)
        arrays.update(tabular_cat=cat, tabular_num=num, tabular_mask=tabular_mask(cat, num))
    key = cache_key(catalog, image, text, tabular)
    modality_keys = {}  # what each modality's arrays depend on (keys precomputed embeddings)
    if image is not None:
        modality_keys["image"] = cache_key(catalog, image, None, None)
    if text is not None:
        modality_keys["text"] = cache_key(catalog, None, text, None)
    return CachedArrays(ids=ids, key=key, problems=problems, modality_keys=modality_keys, **arrays)


def encode_texts(text: Any, texts: list[str]) -> dict[str, np.ndarray]:
    """``text.encode_arrays(texts)`` when the processor has it (ids + attention mask), else ids."""
    encode_arrays = getattr(text, "encode_arrays", None)
    if callable(encode_arrays):
        return dict(encode_arrays(texts))
    return {"text": text.encode(texts)}


def cache_key(catalog: Any, image: Any, text: Any, tabular: Any) -> str:
    """sha256 of the catalogue fingerprint, processor states and the cache format."""
    image, text, tabular = _active(catalog, image, text, tabular)
    payload = {
        "format": CACHE_FORMAT,
        "catalog": str(catalog.fingerprint),
        "rows": len(catalog),
        "image": _state(image),
        "text": _state(text),
        "tabular": _state(tabular),
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- the disk cache
class FeatureCache:
    """Builds :class:`CachedArrays` once per (catalogue, processors) and reloads them from disk.

    ``hits`` / ``misses`` count builds served from disk / computed.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()
        self.hits = 0
        self.misses = 0

    def key(
        self,
        catalog: Any,
        image: ImageProcessor | None,
        text: TextProcessor | None,
        tabular: TabularProcessor | None,
    ) -> str:
        return cache_key(catalog, image, text, tabular)

    def path(self, key: str) -> Path:
        return self.root / key

    def build(
        self,
        catalog: Any,
        image: ImageProcessor | None,
        text: TextProcessor | None,
        tabular: TabularProcessor | None,
        progress: bool = True,
        num_threads: int = 2,
    ) -> CachedArrays:
        """Load the arrays for this key from disk, or compute and store them atomically."""
        key = self.key(catalog, image, text, tabular)
        target = self.path(key)
        if target.exists():
            try:
                arrays = self.load(key)
                self.hits += 1
                return arrays
            except Exception as exc:  # any damage: rebuild rather than crash
                log.warning("feature cache %s is unusable (%s); rebuilding", target, exc)
        self.misses += 1
        with atomic_directory(target) as tmp:
            image_file = tmp / "image.u8"

            def image_out(shape: tuple[int, ...]) -> np.ndarray:
                if int(np.prod(shape)) == 0:
                    image_file.touch()
                    return np.zeros(shape, dtype=np.uint8)
                return np.memmap(image_file, dtype=np.uint8, mode="w+", shape=shape)

            arrays = encode_catalog(
                catalog, image, text, tabular, progress, num_threads, _image_out=image_out
            )
            if arrays.key != key:  # pragma: no cover - processors changed during the build
                raise MmshopError("processor state changed while building the feature cache")
            _write(tmp, arrays)
            del arrays
        return self.load(key)

    def load(self, key: str) -> CachedArrays:
        """Open a stored cache entry; raises if it is missing, incomplete or inconsistent."""
        directory = self.path(key)
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            raise MmshopError(f"cache entry {directory} has a different format or key")
        n = int(meta["rows"])
        ids = [str(i) for i in meta["ids"]]
        if len(ids) != n:
            raise MmshopError(f"cache entry {directory}: ids do not match row count")
        arrays: dict[str, Any] = {}
        if meta.get("image_shape") is not None:
            shape = tuple(int(s) for s in meta["image_shape"])
            path = directory / "image.u8"
            expected = int(np.prod(shape))
            if shape[0] != n or path.stat().st_size != expected:
                raise MmshopError(f"cache entry {directory}: image.u8 has the wrong size")
            if expected == 0:
                arrays["image"] = np.zeros(shape, dtype=np.uint8)
            else:
                arrays["image"] = np.memmap(path, dtype=np.uint8, mode="r", shape=shape)
        for name, spec in meta["arrays"].items():
            if name not in _DTYPES:
                raise MmshopError(f"cache entry {directory}: unknown array '{name}'")
            arr = np.load(directory / f"{name}.npy", allow_pickle=False)
            if list(arr.shape) != spec["shape"] or arr.dtype != np.dtype(_DTYPES[name]):
                raise MmshopError(f"cache entry {directory}: {name}.npy does not match meta.json")
            arrays[name] = arr
        problems = [(str(a), str(b), str(c)) for a, b, c in meta["problems"]]
        modality_keys = {str(k): str(v) for k, v in meta.get("modality_keys", {}).items()}
        return CachedArrays(
            ids=ids, key=key, problems=problems, modality_keys=modality_keys, **arrays
        )


def _write(directory: Path, arrays: CachedArrays) -> None:
    specs = {}
    for name in _NPY_ARRAYS:
        if name == "image_mask" and arrays.image is None:
            continue
        if name in ("text_mask", "text_attention_mask") and arrays.text is None:
            continue
        if name == "tabular_mask" and arrays.tabular_cat is None:
            continue
        arr = getattr(arrays, name)
        if arr is None:
            continue
        arr = np.ascontiguousarray(arr, dtype=_DTYPES[name])
        np.save(directory / f"{name}.npy", arr, allow_pickle=False)
        specs[name] = {"shape": list(arr.shape), "dtype": str(arr.dtype)}
    image_shape = None
    if arrays.image is not None:
        image_shape = list(arrays.image.shape)
        if isinstance(arrays.image, np.memmap):
            arrays.image.flush()
        else:
            arrays.image.tofile(directory / "image.u8")
    meta = {
        "format": CACHE_FORMAT,
        "key": arrays.key,
        "rows": len(arrays),
        "ids": arrays.ids,
        "problems": [list(p) for p in arrays.problems],
        "modality_keys": arrays.modality_keys,
        "image_shape": image_shape,
        "arrays": specs,
    }
    atomic_write_text(directory / "meta.json", json.dumps(meta))

"""SearchEncoder: a trained image-text alignment model with its processors, saved as plain files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mmshop import __version__
from mmshop.data.cache import CachedArrays, FeatureCache, cache_key, encode_texts
from mmshop.data.catalog import Catalog
from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.text import TextProcessor, nonempty
from mmshop.data.roles import ColumnRoles
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.models.io import (
    MANIFEST,
    check_format,
    load_weights,
    read_json,
    save_weights,
    verify_model_dir,
    write_model_dir,
)
from mmshop.models.spec import InputSpec
from mmshop.search.config import AlignConfig
from mmshop.search.model import TwoTowerModel, build_two_tower
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.search_encoder"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """Where decoded images are cached (``$MMSHOP_CACHE_DIR/features`` or ``~/.cache``)."""
    import os

    env = os.environ.get("MMSHOP_CACHE_DIR")
    return (Path(env) if env else Path.home() / ".cache" / "mmshop") / "features"


def load_text_processor(directory: Path) -> Any:
    """The built-in WordPiece processor or a pretrained checkpoint's tokenizer, as saved."""
    from mmshop.data.processors.hf_text import STATE_FILE, HFTextProcessor

    if (directory / STATE_FILE).is_file():
        return HFTextProcessor.load(directory)
    return TextProcessor.load(directory)


def text_max_length(text: Any) -> int:
    """Token length of either kind of text processor."""
    config = getattr(text, "config", None)
    return int(config.max_length if config is not None else text.max_length)


def model_version(path: str | Path) -> str:
    """A short hash identifying a saved model folder's exact contents (its manifest)."""
    manifest = Path(path) / MANIFEST
    try:
        return hashlib.sha256(manifest.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is not a saved mmshop model (no {MANIFEST})") from None


def text_view(catalog: Catalog, text_columns: Sequence[str]) -> Catalog:
    """``catalog`` seen as id + image + the given text columns only (no re-validation)."""
    columns = list(text_columns) or list(catalog.roles.text)
    if not columns:
        raise DataError(f"catalogue {catalog.source} has no text column to align with images")
    absent = [c for c in columns if c not in catalog.df.columns]
    if absent:
        raise DataError(f"catalogue {catalog.source} lacks text column(s) {absent}")
    if not catalog.roles.image:
        raise DataError(f"catalogue {catalog.source} has no image column to align with text")
    df = catalog.df
    for c in columns:
        if c not in catalog.roles.text:
            df = df.copy() if df is catalog.df else df
            df[c] = df[c].map(lambda v: "" if v is None or v != v else str(v).strip())
    roles = ColumnRoles(
        id=catalog.roles.id, image=catalog.roles.image, text=columns, split=catalog.roles.split
    )
    return Catalog(
        df, roles, catalog.root, catalog.report, catalog.source, catalog.labels, catalog.strict
    )


def pair_arrays(
    view: Catalog,
    image: ImageProcessor,
    text: TextProcessor,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> CachedArrays:
    """Decoded images (disk cache keyed by catalogue + image settings only) and token ids.

    Tokenizing titles takes well under a second, so text is encoded in memory: a new tokenizer
    never forces the images to be decoded again.
    """
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    images = FeatureCache(root).build(view, image, None, None, progress=progress)
    texts = view.texts()
    encoded = encode_texts(text, texts)
    attention = encoded.get("text_attention_mask")
    tokens = attention if attention is not None else encoded["text"]
    return CachedArrays(
        image=images.image,
        image_mask=images.image_mask,
        text=encoded["text"],
        text_attention_mask=attention,
        text_mask=nonempty(texts) & tokens.any(axis=1),
        ids=images.ids,
        key=images.key,
        problems=images.problems,
        modality_keys={  # what precomputed (cascade) embeddings of each side depend on
            "image": images.modality_keys.get("image") or images.key,
            "text": cache_key(view, None, text, None),
        },
    )


class SearchEncoder:
    """Image and text towers in one space: ``encode_texts``, ``encode_images``, ``save``/``load``.

    Train one with :meth:`fit` (see :mod:`mmshop.search.align`).
    """

    def __init__(
        self,
        config: AlignConfig,
        image: ImageProcessor,
        text: Any,
        model: TwoTowerModel,
        training_info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.image = image
        self.text = text
        self.model = model
        self.training_info: dict[str, Any] = dict(training_info or {})
        self.version: str | None = None  # set when saved or loaded

    # ------------------------------------------------------------------ building
    @staticmethod
    def input_spec(image: ImageProcessor, text: Any) -> InputSpec:
        return InputSpec(
            image_size=tuple(image.config.size),
            vocab_size=text.vocab_size,
            max_length=text_max_length(text),
        )

    @classmethod
    def fit(
        cls,
        train: Catalog,
        val: Catalog | None = None,
        *,
        config: AlignConfig | None = None,
        overrides: Mapping[str, Any] | None = None,
        work_dir: str | Path | None = None,
        progress: bool = True,
    ) -> SearchEncoder:
        """Train the towers on ``train`` (early stopping on ``val`` retrieval MRR@10)."""
        from mmshop.search.align import train_alignment

        config = config or AlignConfig()
        if overrides:
            config = config.replace(dict(overrides))
        return train_alignment(cls, train, val, config, work_dir, progress)

    @property
    def text_columns(self) -> list[str]:
        return list(self.config.text_columns)

    # ------------------------------------------------------------------ encoding
    @property
    def dim(self) -> int:
        return int(self.model.embed_dim)

    @torch.inference_mode()
    def encode_token_ids(
        self,
        ids: np.ndarray,
        batch_size: int | None = None,
        attention: np.ndarray | None = None,
    ) -> np.ndarray:
        """Normalised text embeddings ``[N, D]`` for token ids (and attention mask, for
        pretrained tokenizers) from the text processor."""
        if self.model.training:
            self.model.eval()
        out = np.zeros((len(ids), self.dim), dtype=np.float32)
        step = batch_size or self.config.eval_batch_size
        for s in range(0, len(ids), step):
            batch = {"text": torch.from_numpy(np.asarray(ids[s : s + step], dtype=np.int64))}
            if attention is not None:
                batch["text_attention_mask"] = torch.from_numpy(
                    np.asarray(attention[s : s + step], dtype=np.int64)
                )
            out[s : s + step] = self.model.encode_text(batch).numpy()
        return out

    def encode_texts(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Normalised text embeddings ``[N, D]`` (float32); empty texts are an error."""
        texts = list(texts)
        empty = ~nonempty(texts)
        if empty.any():
            raise DataError(f"empty text query at position {int(np.flatnonzero(empty)[0])}")
        encoded = encode_texts(self.text, texts)
        return self.encode_token_ids(
            encoded["text"], batch_size, encoded.get("text_attention_mask")
        )

    @torch.inference_mode()
    def encode_images(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Normalised image embeddings ``[N, D]`` for uint8 ``[N, H, W, 3]`` decoded images."""
        if self.model.training:
            self.model.eval()
        images = np.asarray(images) if not isinstance(images, np.ndarray) else images
        if images.ndim == 3:
            images = images[None]
        step = batch_size or self.config.eval_batch_size
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for s in range(0, len(images), step):
            x = self.image.to_tensor(np.asarray(images[s : s + step]))
            out[s : s + len(x)] = self.model.encode_image({"image": x}).numpy()
        return out

    def encode_image_input(self, image: str | Path | bytes) -> np.ndarray:
        """One normalised image embedding ``[D]`` from a file path or encoded bytes."""
        if isinstance(image, bytes | bytearray):
            pixels = self.image.load_bytes(bytes(image), name="query image")
        else:
            pixels = self.image.load(Path(image))
        return self.encode_images(pixels[None])[0]

    def arrays(
        self, catalog: Catalog, cache_dir: str | Path | None = None, progress: bool = True
    ) -> CachedArrays:
        """Decoded images and token ids of ``catalog`` (cached on disk by content hash)."""
        root = cache_dir or self.config.cache_dir
        view = text_view(catalog, self.config.text_columns)
        return pair_arrays(view, self.image, self.text, root, progress)

    def encode_catalog(
        self, catalog: Catalog, cache_dir: str | Path | None = None, progress: bool = True
    ) -> dict[str, np.ndarray]:
        """``{"image", "text", "image_mask", "text_mask"}`` embeddings for every product."""
        arrays = self.arrays(catalog, cache_dir, progress)
        assert arrays.image is not None and arrays.text is not None
        return {
            "image": self.encode_images(arrays.image),
            "text": self.encode_token_ids(arrays.text, None, arrays.text_attention_mask),
            "image_mask": np.asarray(arrays.image_mask, dtype=bool),
            "text_mask": np.asarray(arrays.text_mask, dtype=bool),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write config.json, model.safetensors, processor JSON and a manifest (atomically)."""
        spec = self.input_spec(self.image, self.text)

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "mmshop_version": __version__,
                "config": self.config.to_dict(),
                "input_spec": spec.to_dict(),
                "embed_dim": self.dim,
            }
            atomic_write_text(tmp / "config.json", json.dumps(meta, indent=2))
            save_weights(self.model, tmp / "model.safetensors")
            atomic_write_text(tmp / "image_processor.json", json.dumps(self.image.to_dict()))
            self.text.save(tmp / "text")
            info = json.dumps(self.training_info, indent=2, default=str)
            atomic_write_text(tmp / "training.json", info)

        path = write_model_dir(Path(path), write)
        self.version = model_version(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> SearchEncoder:
        """Load a saved encoder; a tampered, partial or foreign folder is a ModelLoadError."""
        path = Path(path)
        verify_model_dir(path, required=("config.json", "model.safetensors"))
        meta = read_json(path / "config.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        try:
            config = AlignConfig.from_dict(meta["config"])
            spec = InputSpec.from_dict(meta["input_spec"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/config.json is not a valid search config: {exc}") from exc
        image = ImageProcessor.from_dict(read_json(path / "image_processor.json"))
        text = load_text_processor(path / "text")
        if cls.input_spec(image, text) != spec:
            raise ModelLoadError(f"{path}: processors do not match the saved input spec")
        model = build_two_tower(config.replace({"text_init": None}), spec)
        load_weights(model, path / "model.safetensors")
        model.eval()
        info = path / "training.json"
        self = cls(config, image, text, model, read_json(info) if info.exists() else {})
        self.version = model_version(path)
        return self

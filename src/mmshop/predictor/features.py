"""The fitted processors of a predictor: fit on training rows, turn any catalogue into arrays."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.data.cache import CachedArrays, FeatureCache
from mmshop.data.catalog import Catalog
from mmshop.data.processors.hf_text import HFTextProcessor
from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.labels import LabelEncoder
from mmshop.data.processors.tabular import TabularProcessor
from mmshop.data.processors.text import TextProcessor
from mmshop.data.roles import ColumnRoles
from mmshop.errors import ConfigError, DataError
from mmshop.models.multimodal import MultimodalModel  # noqa: F401  (registers encoders)
from mmshop.models.spec import InputSpec
from mmshop.predictor.config import PredictorConfig
from mmshop.registry import ENCODERS
from mmshop.utils.io import atomic_write_text

TextProcessors = TextProcessor | HFTextProcessor


def encoder_processor(config: PredictorConfig, modality: str, base: Any) -> Any:
    """The processor the configured encoder of ``modality`` brings (a pretrained checkpoint's
    tokenizer or image settings), or None for encoders that use the built-in processors."""
    component = config.model.encoders.get(modality)
    if component is None:
        return None
    make = getattr(ENCODERS.get(component.name), "make_processor", None)
    return make(component.options, base) if callable(make) else None


def _text_processor(train: Catalog, config: PredictorConfig) -> TextProcessors:
    pretrained = encoder_processor(config, "text", config.text)
    if pretrained is not None:
        if config.tokenizer_file:
            raise ConfigError(
                "tokenizer_file cannot be combined with a pretrained text encoder: it uses "
                "its checkpoint's own tokenizer"
            )
        return pretrained
    if config.tokenizer_file:
        return TextProcessor.from_tokenizer_file(config.tokenizer_file, config.text)
    return TextProcessor(config.text).fit(train.texts())


def default_cache_dir() -> Path:
    """``$MMSHOP_CACHE_DIR`` or ``~/.cache/mmshop``."""
    env = os.environ.get("MMSHOP_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "mmshop"


@dataclass
class FeatureProcessors:
    """Processors for each used modality, the label encoder, and the input columns they read."""

    roles: ColumnRoles
    labels: LabelEncoder
    image: ImageProcessor | None = None
    text: TextProcessors | None = None
    tabular: TabularProcessor | None = None

    @classmethod
    def fit(cls, train: Catalog, config: PredictorConfig) -> FeatureProcessors:
        roles = train.roles
        use = set(config.modalities)
        image = None
        if roles.image and "image" in use:
            image = encoder_processor(config, "image", config.image) or ImageProcessor(config.image)
        text = None
        if roles.text and "text" in use:
            text = _text_processor(train, config)
        tabular = None
        if (roles.categorical or roles.numeric) and "tabular" in use:
            tabular = TabularProcessor(list(roles.categorical), list(roles.numeric)).fit(train.df)
        if image is None and text is None and tabular is None:
            raise DataError(
                f"no input column to learn from for modalities {config.modalities}: "
                f"image={roles.image!r}, text={roles.text}, categorical={roles.categorical}, "
                f"numeric={roles.numeric}"
            )
        labels = LabelEncoder().fit(train.df, list(config.labels))
        used = ColumnRoles(
            id=roles.id,
            image=roles.image if image else None,
            text=list(roles.text) if text else [],
            categorical=list(roles.categorical) if tabular else [],
            numeric=list(roles.numeric) if tabular else [],
        )
        return cls(roles=used, labels=labels, image=image, text=text, tabular=tabular)

    def input_spec(self) -> InputSpec:
        return InputSpec(
            image_size=tuple(self.image.config.size) if self.image else None,
            vocab_size=self.text.vocab_size if self.text else None,
            max_length=self.text.max_length if self.text else None,
            cardinalities=list(self.tabular.cardinalities) if self.tabular else [],
            num_numeric=self.tabular.num_features if self.tabular else 0,
            num_classes={lb: self.labels.num_classes(lb) for lb in self.labels.labels},
        )

    def prediction_roles(self) -> ColumnRoles:
        """Roles to open a new catalogue with (labels are not required there)."""
        return ColumnRoles(
            id=self.roles.id,
            image=self.roles.image,
            text=list(self.roles.text),
            categorical=list(self.roles.categorical),
            numeric=list(self.roles.numeric),
        )

    def arrays(
        self, catalog: Catalog, cache_dir: Path | None = None, progress: bool = True
    ) -> CachedArrays:
        """Decode and tokenize ``catalog`` once (cached on disk by content hash)."""
        if self.tabular is not None:
            absent = [
                c for c in [*self.roles.categorical, *self.roles.numeric] if c not in catalog.df
            ]
            if absent:  # read absent attribute columns as missing, without touching the caller's
                catalog = copy.copy(catalog)
                catalog.df = catalog.df.assign(**{column: np.nan for column in absent})
        cache = FeatureCache(Path(cache_dir) if cache_dir else default_cache_dir() / "features")
        return cache.build(catalog, self.image, self.text, self.tabular, progress=progress)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "roles": self.roles.to_dict(),
            "labels": self.labels.to_dict(),
            "image": self.image.to_dict() if self.image else None,
            "tabular": self.tabular.to_dict() if self.tabular else None,
            "text": {"kind": getattr(self.text, "kind", "wordpiece")} if self.text else None,
        }
        atomic_write_text(directory / "processors.json", json.dumps(state, indent=2))
        if self.text is not None:
            self.text.save(directory / "text")

    @classmethod
    def load(cls, directory: Path) -> FeatureProcessors:
        from mmshop.models.io import read_json

        state = read_json(directory / "processors.json")
        return cls(
            roles=ColumnRoles.from_dict(state["roles"]),
            labels=LabelEncoder.from_dict(state["labels"]),
            image=ImageProcessor.from_dict(state["image"]) if state["image"] else None,
            text=_load_text(directory / "text", state["text"]),
            tabular=TabularProcessor.from_dict(state["tabular"]) if state["tabular"] else None,
        )


def _load_text(directory: Path, state: Any) -> TextProcessors | None:
    """``state`` is None (no text), ``True`` (older saves) or ``{"kind": ...}``."""
    if not state:
        return None
    kind = state.get("kind", "wordpiece") if isinstance(state, dict) else "wordpiece"
    return (
        HFTextProcessor.load(directory)
        if kind == HFTextProcessor.kind
        else TextProcessor.load(directory)
    )

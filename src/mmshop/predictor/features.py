"""The fitted processors of a predictor: fit on training rows, turn any catalogue into arrays."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmshop.data.cache import CachedArrays, FeatureCache
from mmshop.data.catalog import Catalog
from mmshop.data.processors.image import ImageProcessor
from mmshop.data.processors.labels import LabelEncoder
from mmshop.data.processors.tabular import TabularProcessor
from mmshop.data.processors.text import TextProcessor
from mmshop.data.roles import ColumnRoles
from mmshop.errors import DataError
from mmshop.models.spec import InputSpec
from mmshop.predictor.config import PredictorConfig
from mmshop.utils.io import atomic_write_text


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
    text: TextProcessor | None = None
    tabular: TabularProcessor | None = None

    @classmethod
    def fit(cls, train: Catalog, config: PredictorConfig) -> FeatureProcessors:
        roles = train.roles
        use = set(config.modalities)
        image = ImageProcessor(config.image) if roles.image and "image" in use else None
        text = None
        if roles.text and "text" in use:
            if config.tokenizer_file:
                text = TextProcessor.from_tokenizer_file(config.tokenizer_file, config.text)
            else:
                text = TextProcessor(config.text).fit(train.texts())
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
            max_length=self.text.config.max_length if self.text else None,
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
            if absent:
                df = catalog.df.copy()
                for column in absent:
                    df[column] = np.nan
                catalog.df = df
        cache = FeatureCache(Path(cache_dir) if cache_dir else default_cache_dir() / "features")
        return cache.build(catalog, self.image, self.text, self.tabular, progress=progress)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "roles": self.roles.to_dict(),
            "labels": self.labels.to_dict(),
            "image": self.image.to_dict() if self.image else None,
            "tabular": self.tabular.to_dict() if self.tabular else None,
            "text": self.text is not None,
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
            text=TextProcessor.load(directory / "text") if state["text"] else None,
            tabular=TabularProcessor.from_dict(state["tabular"]) if state["tabular"] else None,
        )

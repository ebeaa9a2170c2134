"""Configs of cross-modal search: the alignment run and how product embeddings are made."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.data.processors.image import ImageProcessorConfig
from mmshop.data.processors.text import TextProcessorConfig
from mmshop.errors import ConfigError
from mmshop.models.config import ComponentConfig
from mmshop.training.trainer import TrainerConfig

LOSS_NAMES = ("clip", "siglip")
EMBEDDING_SOURCES = ("image", "text", "mix")
NEGATIVES = ("batch", "bank")


def _trainer() -> TrainerConfig:
    return TrainerConfig(epochs=10, lr=2e-3, monitor="mrr@10", mode="max", patience=3)


@dataclass
class AlignConfig(ConfigBase):
    """Two towers (any registered image / text encoder), projections and the contrastive loss.

    ``text_columns`` are the columns joined into each product's text (empty: the catalogue's
    text columns). ``caption_columns`` (e.g. ``articleType``) give extra captions: with
    probability ``caption_prob`` a training row is paired with one of them, formatted with a
    random ``caption_templates`` entry, which teaches the text tower category words.
    ``group_same_text`` makes rows with identical text positives of each other (no false
    negatives from duplicate titles). ``lock_text`` freezes the text encoder and drops the text
    projection, so the image side is trained into the (pretrained) text encoder's space; a
    frozen pretrained text encoder then runs once per title, not once per step.
    ``negatives``: ``batch`` (CLIP's in-batch negatives) or ``bank`` (locked text with the
    ``clip`` loss only: each image is contrasted with every distinct training text).
    ``text_init`` optionally points at a saved search model whose text tower weights are loaded
    before training (e.g. for a locked-text run on a previously trained text tower).
    """

    image: ImageProcessorConfig = field(default_factory=ImageProcessorConfig)
    text: TextProcessorConfig = field(default_factory=lambda: TextProcessorConfig(max_length=24))
    text_columns: list[str] = field(default_factory=list)
    image_encoder: ComponentConfig = field(
        default_factory=lambda: ComponentConfig("cnn", {"width": 32})
    )
    text_encoder: ComponentConfig = field(
        default_factory=lambda: ComponentConfig(
            "transformer", {"dim": 256, "layers": 2, "heads": 4}
        )
    )
    embed_dim: int = 256
    proj_hidden: int = 0
    loss: str = "clip"
    temperature: float = 0.07
    logit_bias: float = -10.0
    max_logit_scale: float = 100.0
    lock_text: bool = False
    negatives: str = "batch"
    text_init: str | None = None
    tokenizer_file: str | None = None
    caption_columns: list[str] = field(default_factory=list)
    caption_prob: float = 0.0
    caption_templates: list[str] = field(default_factory=lambda: ["{}", "a photo of {}"])
    group_same_text: bool = True
    batch_size: int = 256
    eval_batch_size: int = 512
    val_fraction: float = 0.1
    cache_dir: str | None = None
    trainer: TrainerConfig = field(default_factory=_trainer)

    def validate(self) -> None:
        if self.loss not in LOSS_NAMES:
            raise ConfigError(f"loss must be one of {list(LOSS_NAMES)}, got {self.loss!r}")
        if not isinstance(self.embed_dim, int) or self.embed_dim < 2:
            raise ConfigError(f"embed_dim must be an integer >= 2, got {self.embed_dim!r}")
        if not isinstance(self.proj_hidden, int) or self.proj_hidden < 0:
            raise ConfigError(f"proj_hidden must be an integer >= 0, got {self.proj_hidden!r}")
        if not 0 < self.temperature <= 10:
            raise ConfigError(f"temperature must be in (0, 10], got {self.temperature}")
        if not self.max_logit_scale >= 1.0 / self.temperature:
            raise ConfigError(
                f"max_logit_scale ({self.max_logit_scale}) must be >= 1/temperature "
                f"({1.0 / self.temperature:.3g})"
            )
        if self.negatives not in NEGATIVES:
            raise ConfigError(f"negatives must be one of {list(NEGATIVES)}, got {self.negatives!r}")
        if self.negatives == "bank" and not (self.lock_text and self.loss == "clip"):
            raise ConfigError(
                "negatives='bank' needs lock_text=True and loss='clip' (the bank holds fixed "
                "text embeddings)"
            )
        if not 0.0 <= self.caption_prob < 1.0:
            raise ConfigError(f"caption_prob must be in [0, 1), got {self.caption_prob}")
        if self.caption_prob > 0 and not self.caption_columns:
            raise ConfigError("caption_prob > 0 needs caption_columns")
        if not self.caption_templates or any("{}" not in t for t in self.caption_templates):
            raise ConfigError(
                f"caption_templates must be non-empty and each contain '{{}}', "
                f"got {self.caption_templates}"
            )
        if self.batch_size < 2 or self.eval_batch_size < 1:
            raise ConfigError("batch_size must be >= 2 (contrastive) and eval_batch_size >= 1")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")


@dataclass
class EmbeddingConfig(ConfigBase):
    """What vector represents a product in the index.

    ``source``: ``image`` (photo embedding), ``text`` (title embedding) or ``mix``
    (``image_weight * image + (1 - image_weight) * text``, re-normalised). A product without a
    usable photo falls back to its text embedding.
    """

    source: str = "image"
    image_weight: float = 0.9

    def validate(self) -> None:
        if self.source not in EMBEDDING_SOURCES:
            raise ConfigError(
                f"embedding source must be one of {list(EMBEDDING_SOURCES)}, got {self.source!r}"
            )
        if not 0.0 <= self.image_weight <= 1.0:
            raise ConfigError(f"image_weight must be in [0, 1], got {self.image_weight}")

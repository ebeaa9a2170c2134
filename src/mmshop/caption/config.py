"""CaptionConfig: columns, vocabulary, model size, decoding and training settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.data.processors.image import ImageProcessorConfig
from mmshop.errors import ConfigError
from mmshop.training.trainer import TrainerConfig

MAX_BEAMS = 10


def _trainer() -> TrainerConfig:
    return TrainerConfig(
        epochs=12, lr=2e-3, warmup_ratio=0.05, patience=2, monitor="val_loss", mode="min"
    )


@dataclass
class CaptionConfig(ConfigBase):
    """Settings of a :class:`~mmshop.caption.TitleGenerator` (keys are public API).

    ``max_minutes`` caps the training time (epochs are planned from a measured step time,
    and an epoch stops early if the budget runs out); ``None`` means no cap.
    """

    title_column: str = "productDisplayName"
    type_column: str | None = "articleType"  # for attr_acc in evaluate(); None: not scored
    colour_column: str | None = "baseColour"
    image: ImageProcessorConfig = field(default_factory=ImageProcessorConfig)
    min_count: int = 2  # words seen fewer times in training titles become <unk>
    max_vocab: int = 10_000
    max_len: int = 24  # generated words, end token included
    cnn_width: int = 32  # CompactCNN stem width; image tokens have 8 * cnn_width channels
    dim: int = 192
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    label_smoothing: float = 0.1
    batch_size: int = 64
    eval_batch_size: int = 256
    val_fraction: float = 0.1  # held out of train when no val catalogue is given
    beams: int = 3
    length_penalty: float = 0.6  # GNMT alpha; 0 ranks beams by total log-probability
    max_minutes: float | None = None
    cache_dir: str | None = None  # decoded images; default $MMSHOP_CACHE_DIR/features
    trainer: TrainerConfig = field(default_factory=_trainer)

    def validate(self) -> None:
        if not isinstance(self.title_column, str) or not self.title_column:
            raise ConfigError("title_column must name the catalogue's title column")
        for name in ("min_count", "max_vocab", "max_len", "cnn_width", "dim", "layers", "heads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if self.max_vocab < 8:
            raise ConfigError(f"max_vocab must be >= 8, got {self.max_vocab}")
        if self.max_len < 2:
            raise ConfigError(f"max_len must be >= 2, got {self.max_len}")
        if self.dim % self.heads:
            raise ConfigError(f"dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.ff_mult < 1:
            raise ConfigError(f"ff_mult must be >= 1, got {self.ff_mult}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("batch_size and eval_batch_size must be >= 1")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        if not 1 <= self.beams <= MAX_BEAMS:
            raise ConfigError(f"beams must be in 1..{MAX_BEAMS}, got {self.beams}")
        if not 0.0 <= self.length_penalty <= 2.0:
            raise ConfigError(f"length_penalty must be in [0, 2], got {self.length_penalty}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"max_minutes must be > 0 or null, got {self.max_minutes}")

"""PredictorConfig: everything a MultimodalPredictor run depends on, as one validated dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.data.processors.image import ImageProcessorConfig
from mmshop.data.processors.text import TextProcessorConfig
from mmshop.errors import ConfigError
from mmshop.models.config import MODALITIES, ModelConfig
from mmshop.training.trainer import TrainerConfig


@dataclass
class PredictorConfig(ConfigBase):
    """Labels to learn, processors, model and trainer settings.

    ``modalities`` limits which inputs are used (e.g. ``["text"]`` for a text-only model).
    ``class_weight_power`` 0 disables class weighting; 0.5 weights classes by 1/sqrt(frequency).
    ``tokenizer_file`` uses a given ``tokenizer.json`` instead of building one on the catalogue.
    """

    labels: list[str] = field(default_factory=list)
    modalities: list[str] = field(default_factory=lambda: list(MODALITIES))
    image: ImageProcessorConfig = field(default_factory=ImageProcessorConfig)
    text: TextProcessorConfig = field(default_factory=TextProcessorConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    batch_size: int = 128
    eval_batch_size: int = 512
    class_weight_power: float = 0.5
    label_smoothing: float = 0.05
    val_fraction: float = 0.1
    cache_dir: str | None = None
    tokenizer_file: str | None = None

    def validate(self) -> None:
        if not self.labels:
            raise ConfigError("labels: give at least one label column to learn")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"labels: duplicate names in {self.labels}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities:
            raise ConfigError(f"modalities: {bad or 'empty'}; valid: {list(MODALITIES)}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("batch_size and eval_batch_size must be >= 1")
        if not 0.0 <= self.class_weight_power <= 1.0:
            raise ConfigError(
                f"class_weight_power must be in [0, 1], got {self.class_weight_power}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")

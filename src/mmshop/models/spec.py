"""What the data looks like to a model: filled from fitted processors, saved with the model."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError


@dataclass
class InputSpec(ConfigBase):
    """Sizes every component needs to build itself; empty fields mean that modality is absent."""

    image_size: tuple[int, int] | None = None
    vocab_size: int | None = None
    max_length: int | None = None
    cardinalities: list[int] = field(default_factory=list)
    num_numeric: int = 0
    num_classes: dict[str, int] = field(default_factory=dict)

    def validate(self) -> None:
        if self.image_size is not None and (len(self.image_size) != 2 or min(self.image_size) < 8):
            raise ConfigError(f"image_size must be (height, width) >= 8, got {self.image_size}")
        if (self.vocab_size is None) != (self.max_length is None):
            raise ConfigError("vocab_size and max_length must be given together")
        for name, n in self.num_classes.items():
            if n < 1:
                raise ConfigError(f"num_classes['{name}'] must be >= 1, got {n}")

    @property
    def modalities(self) -> list[str]:
        out = []
        if self.image_size is not None:
            out.append("image")
        if self.vocab_size is not None:
            out.append("text")
        if self.cardinalities or self.num_numeric:
            out.append("tabular")
        return out

"""Model configuration: which encoder, fusion and head to build, with their options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

MODALITIES = ("image", "text", "tabular")


@dataclass
class ComponentConfig(ConfigBase):
    """A registered component by name plus keyword options for its constructor."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError("component 'name' must be a non-empty string")
        if not isinstance(self.options, dict):
            raise ConfigError(f"component '{self.name}' options must be a dict")


def _default_encoders() -> dict[str, ComponentConfig]:
    return {
        "image": ComponentConfig("cnn", {"width": 32}),
        "text": ComponentConfig("transformer", {"dim": 128, "layers": 2, "heads": 4}),
        "tabular": ComponentConfig("mlp", {"dim": 64}),
    }


@dataclass
class ModelConfig(ConfigBase):
    """Encoders per modality, one fusion, one head. Modalities absent from the data are skipped."""

    encoders: dict[str, ComponentConfig] = field(default_factory=_default_encoders)
    fusion: ComponentConfig = field(
        default_factory=lambda: ComponentConfig("attention", {"dim": 256})
    )
    head: ComponentConfig = field(
        default_factory=lambda: ComponentConfig("classification", {"hidden": 256})
    )
    modality_dropout: float = 0.1

    def validate(self) -> None:
        for key in self.encoders:
            if key not in MODALITIES:
                raise ConfigError(f"encoders: unknown modality '{key}'; valid: {list(MODALITIES)}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"modality_dropout must be in [0, 1), got {self.modality_dropout}")

"""SentimentConfig: which columns a review sentiment model reads and how labels are made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
TEXT_ENCODERS = ("auto", "builtin")
MODES = ("frozen", "lora", "full")
LANGUAGES = ("auto", "en", "zh")


@dataclass
class SentimentConfig(ConfigBase):
    """Review sentiment settings.

    Labels come from ``label_column`` (values mapped through ``label_map`` when given, e.g.
    ``{"0": "negative", "1": "positive"}``) or, with ``rating_column``, from a star rating:
    ``<= negative_max`` negative, ``>= positive_min`` positive, in between neutral.
    ``extra_labels`` are further columns learnt jointly (e.g. a "recommended" flag).
    Context: ``categorical`` / ``numeric`` columns and an optional ``image`` column.
    ``text_encoder``: ``"auto"`` (MiniLM for English when the ``minilm`` extra is installed,
    else the built-in encoder on a tokenizer trained on the reviews), ``"builtin"``, or any
    ``hf:PATH`` checkpoint; ``mode`` applies to a pretrained one. ``overrides`` are passed to
    :class:`mmshop.predictor.MultimodalPredictor` (``{"trainer.epochs": 3}``).
    """

    text_columns: list[str] = field(default_factory=lambda: ["review"])
    label_column: str | None = "label"
    rating_column: str | None = None
    negative_max: float = 2.0
    positive_min: float = 4.0
    label_map: dict[str, str] = field(default_factory=dict)
    extra_labels: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    numeric: list[str] = field(default_factory=list)
    image: str | None = None
    language: str = "auto"
    text_encoder: str = "auto"
    mode: str = "frozen"
    max_length: int = 128
    max_chars: int = 20_000
    negative_class: str = NEGATIVE
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.text_columns or not all(isinstance(c, str) and c for c in self.text_columns):
            raise ConfigError(
                f"text_columns: give at least one column name, got {self.text_columns}"
            )
        if (self.label_column is None) == (self.rating_column is None):
            raise ConfigError("give exactly one of label_column and rating_column")
        if self.negative_max >= self.positive_min:
            raise ConfigError(
                f"negative_max ({self.negative_max}) must be < positive_min ({self.positive_min})"
            )
        if not isinstance(self.label_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.label_map.items()
        ):
            raise ConfigError(f"label_map must map strings to class names, got {self.label_map!r}")
        inputs = [*self.text_columns, *self.categorical, *self.numeric]
        inputs += [self.image] if self.image else []
        dupes = sorted({c for c in inputs if inputs.count(c) > 1})
        if dupes:
            raise ConfigError(f"column(s) {dupes} are given more than one input role")
        targets = [self.label_column or self.rating_column, *self.extra_labels]
        clash = sorted(set(targets) & set(inputs))
        if clash:
            raise ConfigError(f"column(s) {clash} cannot be both an input and a label")
        if self.language not in LANGUAGES:
            raise ConfigError(f"language must be one of {list(LANGUAGES)}, got {self.language!r}")
        if not isinstance(self.text_encoder, str) or not (
            self.text_encoder in TEXT_ENCODERS or self.text_encoder.startswith("hf:")
        ):
            raise ConfigError(
                f"text_encoder must be 'auto', 'builtin' or 'hf:PATH', got {self.text_encoder!r}"
            )
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {list(MODES)}, got {self.mode!r}")
        if self.max_length < 8:
            raise ConfigError(f"max_length must be >= 8, got {self.max_length}")
        if self.max_chars < 1:
            raise ConfigError(f"max_chars must be >= 1, got {self.max_chars}")
        if not isinstance(self.overrides, dict):
            raise ConfigError("overrides must be a mapping of config keys to values")

    @property
    def target(self) -> str:
        """Name of the sentiment label column in the frames the model trains on."""
        return "sentiment"

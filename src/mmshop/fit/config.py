"""Validated settings of the fit model and the body-measurement size model."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError
from mmshop.training.trainer import TrainerConfig


def _fit_trainer() -> TrainerConfig:
    return TrainerConfig(
        epochs=6, lr=1e-2, weight_decay=5e-2, patience=2, monitor="macro_auc", progress=False
    )


def _size_trainer() -> TrainerConfig:
    return TrainerConfig(
        epochs=10, lr=3e-3, weight_decay=1e-4, patience=2, monitor="accuracy", progress=False
    )


@dataclass
class FitConfig(ConfigBase):
    """Fit model (small / fit / large for a customer, an item and a size).

    ``dim``: width of the customer and item embeddings; ``body_dim``: width of the body
    encoder (the engine's tabular MLP). ``user_dropout`` / ``item_dropout``: share of training
    rows whose customer / item id is hidden, so the cold-start paths (body only, category
    prior) are trained too. ``min_user_rows`` / ``min_item_rows``: ids seen fewer times in
    training are treated as new. ``val_fraction``: the latest share of training rows (by
    review date when known) held out for early stopping and for the class offsets that
    maximise macro-F1 (``calibrate``).
    """

    dim: int = 16
    body_dim: int = 32
    dropout: float = 0.1
    user_dropout: float = 0.5
    item_dropout: float = 0.3
    min_user_rows: int = 1
    min_item_rows: int = 1
    batch_size: int = 256
    eval_batch_size: int = 8192
    val_fraction: float = 0.1
    calibrate: bool = True
    trainer: TrainerConfig = field(default_factory=_fit_trainer)

    def validate(self) -> None:
        for name in ("dim", "body_dim", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("min_user_rows", "min_item_rows"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("dropout", "user_dropout", "item_dropout"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        if not isinstance(self.val_fraction, int | float) or not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"calibrate must be true or false, got {self.calibrate!r}")


@dataclass
class BodySizeConfig(ConfigBase):
    """Body-measurement size model (height, weight, age, ... -> a size label).

    ``sizes``: the size labels from smallest to largest (the order defines "within one size").
    """

    sizes: list[str] = field(
        default_factory=lambda: ["XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL"]
    )
    hidden: int = 64
    dropout: float = 0.1
    batch_size: int = 512
    val_fraction: float = 0.1
    trainer: TrainerConfig = field(default_factory=_size_trainer)

    def validate(self) -> None:
        if len(self.sizes) < 2 or len(set(self.sizes)) != len(self.sizes):
            raise ConfigError(f"sizes must be >= 2 distinct labels, got {self.sizes!r}")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise ConfigError(f"hidden must be an integer >= 1, got {self.hidden!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"val_fraction must be in (0, 0.5), got {self.val_fraction!r}")

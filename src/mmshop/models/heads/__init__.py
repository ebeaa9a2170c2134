"""Task heads: ``forward(fused) -> dict`` of named outputs, registered in HEADS."""

from mmshop.models.heads.classification import MultiTaskClassificationHead

__all__ = ["MultiTaskClassificationHead"]

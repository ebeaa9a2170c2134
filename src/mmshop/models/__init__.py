"""Models: encoders, fusions, heads and the MultimodalModel that composes them."""

from mmshop.models.config import ComponentConfig, ModelConfig
from mmshop.models.multimodal import MultimodalModel, build_model
from mmshop.models.spec import InputSpec

__all__ = ["ComponentConfig", "InputSpec", "ModelConfig", "MultimodalModel", "build_model"]

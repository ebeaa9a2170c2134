"""Generic training: multi-task losses, lr schedules, seeding and a resumable trainer."""

from mmshop.training.contrastive import ClipLoss, SigLipLoss
from mmshop.training.losses import MultiTaskCrossEntropy, balanced_class_weights
from mmshop.training.schedules import warmup_cosine
from mmshop.training.seed import seed_everything, set_threads
from mmshop.training.trainer import Trainer, TrainerConfig, TrainHistory, to_device

__all__ = [
    "ClipLoss",
    "MultiTaskCrossEntropy",
    "SigLipLoss",
    "TrainHistory",
    "Trainer",
    "TrainerConfig",
    "balanced_class_weights",
    "seed_everything",
    "set_threads",
    "to_device",
    "warmup_cosine",
]

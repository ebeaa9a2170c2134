"""Reproducibility and CPU-thread helpers."""

from __future__ import annotations

import random

import numpy as np
import torch

from mmshop.errors import ConfigError


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_threads(n: int | None) -> None:
    """Limit torch's intra-op CPU threads to ``n``; ``None`` leaves the default."""
    if n is None:
        return
    if n < 1:
        raise ConfigError(f"num_threads must be >= 1, got {n}")
    torch.set_num_threads(int(n))

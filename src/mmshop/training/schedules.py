"""Learning-rate schedules."""

from __future__ import annotations

import math

import torch

from mmshop.errors import ConfigError


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_steps: int,
    min_ratio: float = 0.05,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup to each group's lr over ``warmup_steps``, then cosine decay.

    Call ``scheduler.step()`` once per optimizer step. Step ``s < warmup_steps`` uses
    ``(s + 1) / warmup_steps`` of the base lr; afterwards the factor falls along a half cosine
    from 1 to ``min_ratio`` at ``total_steps`` and stays there.
    """
    if total_steps < 1:
        raise ConfigError(f"total_steps must be >= 1, got {total_steps}")
    if warmup_steps < 0:
        raise ConfigError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if not 0.0 <= min_ratio <= 1.0:
        raise ConfigError(f"min_ratio must be in [0, 1], got {min_ratio}")
    decay_steps = max(1, total_steps - warmup_steps)

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / decay_steps)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

"""Running a trained MultimodalModel over cached arrays, batch by batch."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import torch

from mmshop.data.cache import CachedArrays
from mmshop.data.dataset import BatchIterator
from mmshop.data.processors.image import ImageProcessor
from mmshop.models.multimodal import MultimodalModel


@torch.inference_mode()
def run_model(
    model: MultimodalModel,
    arrays: CachedArrays,
    image_processor: ImageProcessor | None,
    batch_size: int = 512,
    drop_modalities: Collection[str] = (),
    want_embeddings: bool = False,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Return class probabilities per label (``[N, C]`` float32) and optionally embeddings."""
    was_training = model.training
    model.eval()
    probs: dict[str, list[np.ndarray]] = {}
    embeddings: list[np.ndarray] = []
    batches = BatchIterator(
        arrays,
        None,
        batch_size=batch_size,
        shuffle=False,
        image_processor=image_processor,
        augment=False,
        drop_modalities=drop_modalities,
    )
    try:
        for batch in batches:
            out = model(batch)
            for label, logits in out["logits"].items():
                probs.setdefault(label, []).append(torch.softmax(logits.float(), -1).numpy())
            if want_embeddings:
                embeddings.append(out["embedding"].float().numpy())
    finally:
        model.train(was_training)
    joined = {label: np.concatenate(parts) for label, parts in probs.items()}
    emb = np.concatenate(embeddings) if want_embeddings and embeddings else None
    return joined, emb

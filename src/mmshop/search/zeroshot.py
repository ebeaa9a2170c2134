"""Zero-shot attribute classification: compare image embeddings with prompted label texts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.data.catalog import Catalog
from mmshop.errors import ConfigError, DataError
from mmshop.evaluation.metrics import classification_metrics
from mmshop.search.encoder import SearchEncoder

DEFAULT_TEMPLATE = "a photo of {}"


def label_embeddings(
    encoder: SearchEncoder, labels: Sequence[str], template: str = DEFAULT_TEMPLATE
) -> np.ndarray:
    """Normalised text embeddings ``[L, D]`` of ``template.format(label)``."""
    if "{}" not in template:
        raise ConfigError(f"template must contain '{{}}', got {template!r}")
    labels = [str(x) for x in labels]
    if not labels or len(set(labels)) != len(labels):
        raise ConfigError("zero-shot needs a non-empty list of distinct labels")
    return encoder.encode_texts([template.format(label) for label in labels])


def zero_shot_probs(
    encoder: SearchEncoder,
    image_embeds: np.ndarray,
    labels: Sequence[str],
    template: str = DEFAULT_TEMPLATE,
) -> np.ndarray:
    """Softmax over labels (at the model's learned temperature): ``[N, L]`` float32."""
    text = label_embeddings(encoder, labels, template)
    log_scale = min(float(encoder.model.logit_scale.item()), encoder.model.max_log_scale)
    scale = float(np.exp(log_scale))
    logits = scale * np.asarray(image_embeds, dtype=np.float32) @ text.T
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def evaluate_zero_shot(
    encoder: SearchEncoder,
    catalog: Catalog,
    column: str,
    template: str = DEFAULT_TEMPLATE,
    labels: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Accuracy and macro-F1 of zero-shot ``column`` prediction from product photos.

    ``labels`` defaults to the distinct values of ``column`` in ``catalog``; rows without a
    usable photo or without a value are skipped.
    """
    if column not in catalog.df.columns:
        raise DataError(f"column '{column}' is not in catalogue {catalog.source}")
    values = catalog.df[column].astype("string").str.strip()
    labels = sorted(set(values.dropna())) if labels is None else [str(x) for x in labels]
    emb = encoder.encode_catalog(catalog, cache_dir, progress)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index.get(v, -100) if isinstance(v, str) else -100 for v in values])
    keep = emb["image_mask"] & (y >= 0)
    probs = zero_shot_probs(encoder, emb["image"][keep], labels, template)
    m = classification_metrics(y[keep], probs.argmax(1), labels)
    return {
        "column": column,
        "template": template,
        "labels": len(labels),
        "n": int(keep.sum()),
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
    }

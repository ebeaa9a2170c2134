import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmshop.errors import ConfigError
from mmshop.registry import LOSSES
from mmshop.training import MultiTaskCrossEntropy, balanced_class_weights, warmup_cosine


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = {"a": torch.randn(8, 4, generator=g), "b": torch.randn(8, 3, generator=g)}
    labels = {
        "a": torch.tensor([0, 1, -100, 3, 2, -100, 1, 0]),
        "b": torch.tensor([2, -100, 1, 0, 0, 1, -100, 2]),
    }
    return {"logits": logits}, {"labels": labels}


def test_ignores_minus_100_and_sums():
    outputs, batch = _data()
    out = MultiTaskCrossEntropy()(outputs, batch)
    for name in ("a", "b"):
        target = batch["labels"][name]
        keep = target != -100
        expected = F.cross_entropy(outputs["logits"][name][keep], target[keep])
        assert torch.allclose(out[f"{name}_loss"], expected, atol=1e-6)
    assert torch.allclose(out["loss"], out["a_loss"] + out["b_loss"])


def test_class_weights_smoothing_and_task_weights_match_torch():
    outputs, batch = _data(1)
    weights = {"a": torch.tensor([1.0, 2.0, 0.5, 3.0])}
    loss = MultiTaskCrossEntropy(
        class_weights=weights, label_smoothing=0.1, task_weights={"a": 2.0, "b": 0.5}
    )
    out = loss(outputs, batch)
    exp_a = F.cross_entropy(
        outputs["logits"]["a"], batch["labels"]["a"], weight=weights["a"], label_smoothing=0.1
    )
    exp_b = F.cross_entropy(outputs["logits"]["b"], batch["labels"]["b"], label_smoothing=0.1)
    assert torch.allclose(out["a_loss"], exp_a, atol=1e-6)
    assert torch.allclose(out["b_loss"], exp_b, atol=1e-6)
    assert torch.allclose(out["loss"], 2.0 * exp_a + 0.5 * exp_b, atol=1e-6)


def test_label_without_targets_contributes_zero_not_nan():
    logits = torch.randn(4, 3, requires_grad=True)
    outputs = {"logits": {"a": logits}}
    batch = {"labels": {"a": torch.full((4,), -100)}}
    out = MultiTaskCrossEntropy(class_weights={"a": torch.ones(3)})(outputs, batch)
    assert out["loss"].item() == 0.0
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all()


def test_registered_and_validates():
    assert isinstance(LOSSES.build("cross_entropy"), MultiTaskCrossEntropy)
    with pytest.raises(ConfigError, match="label_smoothing"):
        MultiTaskCrossEntropy(label_smoothing=1.5)
    outputs, batch = _data()
    with pytest.raises(ConfigError, match="class_weights\\['a'\\]"):
        MultiTaskCrossEntropy(class_weights={"a": torch.ones(7)})(outputs, batch)


def test_balanced_class_weights():
    counts = np.array([10, 40, 0, 50])
    w = balanced_class_weights(counts, power=1.0)
    raw = np.array([100 / 30, 100 / 120, 0.0, 100 / 150])
    expected = raw / ((counts * raw).sum() / counts.sum())
    assert np.allclose(w.numpy(), expected, atol=1e-6)
    assert w[2] == 0
    # the average weight per training example is 1
    assert math.isclose(float((counts * w.numpy()).sum() / counts.sum()), 1.0, rel_tol=1e-6)
    half = balanced_class_weights(counts)
    assert math.isclose(float(half[0] / half[1]), 2.0, rel_tol=1e-5)  # (40/10) ** 0.5
    assert torch.all(balanced_class_weights([5, 5, 5]) == 1)


def test_balanced_class_weights_cap_rare_classes():
    w = balanced_class_weights([25000, 3000, 45, 1], power=0.5, max_weight=10.0)
    assert float(w.max()) == 10.0
    assert 0.5 < float(w[0]) < 1.0  # the majority class keeps a sensible weight
    with pytest.raises(ConfigError, match="max_weight"):
        balanced_class_weights([1, 2], max_weight=0.5)


def test_warmup_cosine_shape():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = warmup_cosine(opt, total_steps=100, warmup_steps=10, min_ratio=0.1)
    lrs = []
    for _ in range(120):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    warm = lrs[:10]
    assert all(b > a for a, b in itertools.pairwise(warm))
    assert math.isclose(lrs[9], 1.0) and math.isclose(lrs[10], 1.0)
    decay = lrs[10:100]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(decay))
    assert math.isclose(lrs[55], 0.1 + 0.9 * 0.5, rel_tol=1e-6)  # half-way down the cosine
    assert math.isclose(lrs[100], 0.1) and math.isclose(lrs[-1], 0.1)
    assert min(lrs) >= 0.1 - 1e-12
    with pytest.raises(ConfigError, match="total_steps"):
        warmup_cosine(opt, total_steps=0, warmup_steps=0)

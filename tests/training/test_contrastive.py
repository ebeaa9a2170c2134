"""Contrastive losses checked against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmshop.errors import ConfigError
from mmshop.registry import LOSSES
from mmshop.training.contrastive import init_logit_scale


def _outputs(image, text, scale: float = 1.0, bias: float = 0.0) -> dict:
    return {
        "image_embeds": torch.tensor(image, dtype=torch.float32),
        "text_embeds": torch.tensor(text, dtype=torch.float32),
        "logit_scale": torch.tensor(math.log(scale)),
        "logit_bias": torch.tensor(bias),
    }


def test_losses_are_registered_by_name() -> None:
    assert {"clip", "siglip"} <= set(LOSSES.names())


def test_clip_loss_hand_computed() -> None:
    out = LOSSES.build("clip")(_outputs([[1, 0], [0, 1]], [[1, 0], [0, 1]]), {})
    expected = math.log(1 + math.exp(-1))  # softmax([1, 0]) of the matching pair
    assert out["loss"].item() == pytest.approx(expected, abs=1e-6)
    assert out["i2t_loss"].item() == pytest.approx(expected, abs=1e-6)
    assert out["t2i_loss"].item() == pytest.approx(expected, abs=1e-6)


def test_clip_loss_is_the_symmetric_cross_entropy_and_normalises() -> None:
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    out = LOSSES.build("clip")(
        {"image_embeds": 3 * image, "text_embeds": text, "logit_scale": torch.tensor(2.0)}, {}
    )
    logits = math.exp(2.0) * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    target = torch.arange(6)
    i2t, t2i = F.cross_entropy(logits, target), F.cross_entropy(logits.t(), target)
    assert out["i2t_loss"].item() == pytest.approx(i2t.item(), rel=1e-5)
    assert out["t2i_loss"].item() == pytest.approx(t2i.item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx((i2t + t2i).item() / 2, rel=1e-5)


def test_clip_groups_make_duplicate_texts_positives() -> None:
    # rows 0 and 1 share a title: their images/texts must not be pushed apart
    image = [[1, 0], [1, 0], [0, 1]]
    out_grouped = LOSSES.build("clip")(_outputs(image, image), {"group": torch.tensor([5, 5, 7])})
    out_plain = LOSSES.build("clip")(_outputs(image, image), {})
    # with groups, row 0's target is split between columns 0 and 1 (identical logits)
    e = math.e
    row01 = -math.log(e / (2 * e + 1))
    row2 = -math.log(e / (2 + e))
    assert out_grouped["i2t_loss"].item() == pytest.approx((2 * row01 + row2) / 3, abs=1e-6)
    assert out_grouped["loss"] < out_plain["loss"] or math.isclose(
        out_grouped["loss"].item(), out_plain["loss"].item()
    )


def test_siglip_loss_hand_computed() -> None:
    out = LOSSES.build("siglip")(_outputs([[1, 0], [0, 1]], [[1, 0], [0, 1]]), {})
    # positives: -log sigmoid(1); negatives: -log sigmoid(-0) = log 2; summed, divided by B=2
    expected = (2 * math.log(1 + math.exp(-1)) + 2 * math.log(2)) / 2
    assert out["loss"].item() == pytest.approx(expected, abs=1e-6)
    biased = LOSSES.build("siglip")(_outputs([[1, 0], [0, 1]], [[1, 0], [0, 1]], 2.0, -1.0), {})
    # logits = 2 * I - 1: positives 1, negatives -1
    expected = (2 * math.log(1 + math.exp(-1)) + 2 * math.log(1 + math.exp(-1))) / 2
    assert biased["loss"].item() == pytest.approx(expected, abs=1e-6)


def test_losses_backpropagate_into_the_scale() -> None:
    for name in ("clip", "siglip"):
        scale = torch.tensor(1.0, requires_grad=True)
        out = _outputs([[1, 0.2], [0.1, 1]], [[1, 0], [0, 1]])
        out["logit_scale"] = scale
        LOSSES.build(name)(out, {})["loss"].backward()
        assert scale.grad is not None and torch.isfinite(scale.grad)


def test_errors_name_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="text_embeds"):
        LOSSES.build("clip")(
            {"image_embeds": torch.zeros(2, 2), "logit_scale": torch.tensor(0.0)}, {}
        )
    out = _outputs([[1, 0], [0, 1]], [[1, 0], [0, 1]])
    del out["logit_bias"]
    with pytest.raises(ConfigError, match="logit_bias"):
        LOSSES.build("siglip")(out, {})
    with pytest.raises(ConfigError, match="group"):
        LOSSES.build("clip")(_outputs([[1, 0], [0, 1]], [[1, 0], [0, 1]]), {"group": [1, 2, 3]})
    with pytest.raises(ConfigError, match="temperature"):
        init_logit_scale(0.0)
    assert init_logit_scale(0.07) == pytest.approx(math.log(1 / 0.07))


def test_bank_clip_loss_scores_every_bank_text() -> None:
    g = torch.Generator().manual_seed(1)
    image, text = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    bank = torch.randn(9, 3, generator=g)
    group = torch.tensor([2, 7, 0, 5])
    bank[group] = text  # each row's text is its bank entry
    outputs = {"image_embeds": image, "text_embeds": text, "logit_scale": torch.tensor(1.5)}
    out = LOSSES.build("clip")({**outputs, "text_bank": bank}, {"group": group})
    logits = math.exp(1.5) * F.normalize(image, dim=-1) @ F.normalize(bank, dim=-1).t()
    assert out["i2t_loss"].item() == pytest.approx(F.cross_entropy(logits, group).item(), rel=1e-5)
    # the text-to-image side is the in-batch one, as without a bank
    plain = LOSSES.build("clip")(outputs, {"group": group})
    assert out["t2i_loss"].item() == pytest.approx(plain["t2i_loss"].item(), rel=1e-6)
    # a bank of exactly the batch's texts is the plain CLIP loss
    same = LOSSES.build("clip")({**outputs, "text_bank": text}, {"group": torch.arange(4)})
    assert same["loss"].item() == pytest.approx(LOSSES.build("clip")(outputs, {})["loss"].item())
    with pytest.raises(ConfigError, match="group"):
        LOSSES.build("clip")({**outputs, "text_bank": bank}, {})
    with pytest.raises(ConfigError, match="index the text bank"):
        LOSSES.build("clip")({**outputs, "text_bank": bank}, {"group": torch.tensor([0, 1, 2, 9])})

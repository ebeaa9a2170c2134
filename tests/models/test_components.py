"""One contract per component kind, checked over every registered component."""

from __future__ import annotations

import pytest
import torch

from mmshop.errors import ConfigError
from mmshop.models import ComponentConfig, InputSpec, ModelConfig, build_model
from mmshop.models.multimodal import MultimodalModel  # noqa: F401  (registers components)
from mmshop.registry import ENCODERS, FUSIONS, HEADS, Registry

SPEC = InputSpec(
    image_size=(32, 24),
    vocab_size=50,
    max_length=12,
    cardinalities=[5, 3],
    num_numeric=4,
    num_classes={"a": 4, "b": 2},
)


def make_batch(b: int = 5) -> dict:
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, 50, (b, 12), generator=g)
    text[0] = 0  # an empty text row
    text[1, 6:] = 0
    return {
        "image": torch.randn(b, 3, 32, 24, generator=g),
        "text": text,
        "tabular_cat": torch.randint(0, 3, (b, 2), generator=g),
        "tabular_num": torch.randn(b, 4, generator=g),
        "mask:text": torch.tensor([False] + [True] * (b - 1)),
        "mask:image": torch.tensor([True, False] + [True] * (b - 2)),
        "labels": {"a": torch.tensor([0, 1, 2, 3, -100][:b]), "b": torch.zeros(b).long()},
    }


def encoder_cases() -> list[tuple[str, str | None, str | None]]:
    """(encoder, checkpoint family, mode) for every registered encoder. Encoders that need a
    pretrained checkpoint run once per supported family and training mode on tiny checkpoints;
    a new one whose modality has no family here fails collection instead of being skipped."""
    from hf_checkpoints import TEXT_FAMILIES, VISION_FAMILIES

    families = {"text": TEXT_FAMILIES, "image": VISION_FAMILIES}
    cases: list[tuple[str, str | None, str | None]] = []
    for name in ENCODERS.names():
        cls = ENCODERS.get(name)
        if not getattr(cls, "needs_checkpoint", False):
            cases.append((name, None, None))
            continue
        for family in families[cls.modality]:
            cases += [(name, family, mode) for mode in ("frozen", "lora", "full")]
    return cases


@pytest.mark.parametrize(
    ("name", "family", "mode"),
    encoder_cases(),
    ids=lambda v: v if isinstance(v, str) else "-",
)
def test_every_encoder_contract(
    name: str, family: str | None, mode: str | None, request: pytest.FixtureRequest
) -> None:
    options = {}
    if family is not None:
        checkpoints = request.getfixturevalue("hf_checkpoints")
        options = {"checkpoint": str(checkpoints[family]), "mode": mode}
    encoder = ENCODERS.build(name, SPEC, **options)
    batch = make_batch()
    encoder.train()
    out = encoder(batch)
    assert out.shape == (5, encoder.output_dim)
    assert torch.isfinite(out).all()
    trainable = [p for p in encoder.parameters() if p.requires_grad]
    if not trainable:
        # a frozen pretrained encoder: nothing trains, and precomputed outputs are used as-is
        assert encoder.cascade
        given = torch.randn(5, encoder.output_dim)
        assert torch.equal(encoder({**batch, f"{encoder.modality}_embedding": given}), given)
        return
    # a random projection, not a plain sum: a sum through a final LayerNorm has zero gradient
    (out * torch.randn_like(out)).sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable)


@pytest.mark.parametrize("name", FUSIONS.names())
def test_every_fusion_contract(name: str) -> None:
    dims = {"image": 16, "text": 8, "tabular": 4}
    fusion = FUSIONS.build(name, dims)
    feats = {k: torch.randn(3, d, requires_grad=True) for k, d in dims.items()}
    out = fusion(feats)
    assert out.shape == (3, fusion.output_dim)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    for k, f in feats.items():
        assert f.grad is not None and f.grad.abs().sum() > 0, f"no gradient reaches {k}"


@pytest.mark.parametrize("name", FUSIONS.names())
def test_every_fusion_works_with_one_modality(name: str) -> None:
    fusion = FUSIONS.build(name, {"text": 8})
    assert fusion({"text": torch.randn(2, 8)}).shape == (2, fusion.output_dim)


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_contract(name: str) -> None:
    head = HEADS.build(name, 16, SPEC)
    out = head(torch.randn(3, 16))
    assert set(out["logits"]) == {"a", "b"}
    assert out["logits"]["a"].shape == (3, 4)


def test_weighted_fusion_weights_are_readable_and_sum_to_one() -> None:
    fusion = FUSIONS.build("weighted", {"image": 4, "text": 4})
    w = fusion.weights()
    assert set(w) == {"image", "text"}
    assert sum(w.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("fusion", FUSIONS.names())
@pytest.mark.parametrize(
    "modalities",
    [("image",), ("text",), ("tabular",), ("image", "text"), ("image", "text", "tabular")],
)
def test_model_with_any_subset_of_modalities(fusion: str, modalities: tuple[str, ...]) -> None:
    spec = InputSpec(
        image_size=SPEC.image_size if "image" in modalities else None,
        vocab_size=50 if "text" in modalities else None,
        max_length=12 if "text" in modalities else None,
        cardinalities=[5, 3] if "tabular" in modalities else [],
        num_numeric=4 if "tabular" in modalities else 0,
        num_classes={"a": 4},
    )
    cfg = ModelConfig(
        encoders={
            "image": ComponentConfig("cnn", {"width": 4}),
            "text": ComponentConfig("transformer", {"dim": 16, "layers": 1, "heads": 2}),
            "tabular": ComponentConfig("mlp", {"dim": 8}),
        },
        fusion=ComponentConfig(fusion, {}),
        modality_dropout=0.3,
    )
    model = build_model(cfg, spec)
    assert model.modalities == list(modalities)
    model.train()
    out = model(make_batch())
    assert out["logits"]["a"].shape == (5, 4)
    assert set(out["features"]) == set(modalities)
    assert torch.isfinite(out["embedding"]).all()
    out["logits"]["a"].sum().backward()


def test_missing_modality_rows_use_the_learned_missing_vector() -> None:
    model = build_model(ModelConfig(modality_dropout=0.0), SPEC).eval()
    batch = make_batch()
    out = model(batch)
    # row 1 has no image: its image feature is the learned "missing" vector
    assert torch.equal(out["features"]["image"][1], model.missing["image"].detach())
    assert not torch.equal(out["features"]["image"][2], model.missing["image"].detach())


def test_unknown_component_names_list_valid_ones() -> None:
    cfg = ModelConfig(fusion=ComponentConfig("nope"))
    with pytest.raises(ConfigError, match="valid: attention, concat, gated, weighted"):
        build_model(cfg, SPEC)


def test_bad_component_options_are_config_errors() -> None:
    cfg = ModelConfig(fusion=ComponentConfig("gated", {"colour": 3}))
    with pytest.raises(ConfigError, match="bad options"):
        build_model(cfg, SPEC)


def test_registry_rejects_duplicates() -> None:
    reg: Registry = Registry("thing")
    reg.register("a")(object)
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("a")(object)


def test_model_config_round_trips_and_rejects_unknown_keys() -> None:
    cfg = ModelConfig().replace({"fusion.name": "weighted", "modality_dropout": 0.2})
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config key"):
        ModelConfig().replace({"fusoin.name": "x"})
    with pytest.raises(ConfigError, match="unknown ModelConfig key"):
        ModelConfig.from_dict({**cfg.to_dict(), "extra": 1})
    with pytest.raises(ConfigError, match="modality_dropout"):
        ModelConfig(modality_dropout=1.5)


def test_cnn_avgmax_pooling_adds_the_feature_map_max() -> None:
    torch.manual_seed(0)
    avg = ENCODERS.build("cnn", SPEC, width=4)
    both = ENCODERS.build("cnn", SPEC, width=4, pool="avgmax")
    both.load_state_dict(avg.state_dict())  # no new weights: same layers, another readout
    avg.eval()
    both.eval()
    batch = make_batch()
    fmap = avg.feature_map(batch)
    expected = fmap.mean(dim=(2, 3)) + fmap.amax(dim=(2, 3))
    assert torch.allclose(both(batch), expected, atol=1e-5)
    assert not torch.allclose(avg(batch), expected, atol=1e-3)
    with pytest.raises(ConfigError, match="pool"):
        ENCODERS.build("cnn", SPEC, width=4, pool="median")


def test_cnn_early_stride_keeps_weights_and_output_size() -> None:
    torch.manual_seed(0)
    plain = ENCODERS.build("cnn", SPEC, width=4)
    strided = ENCODERS.build("cnn", SPEC, width=4, early_stride=True)
    # the same convolutions (one pooling layer fewer): same parameter shapes, same output size
    assert [p.shape for p in plain.parameters()] == [p.shape for p in strided.parameters()]
    batch = make_batch()
    assert plain.feature_map(batch).shape == strided.feature_map(batch).shape
    assert strided.stages[0][0].stride == (2, 2) and plain.stages[0][0].stride == (1, 1)
    assert not torch.allclose(plain.eval()(batch), strided.eval()(batch), atol=1e-4)

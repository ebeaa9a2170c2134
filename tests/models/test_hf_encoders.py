"""Pretrained encoders on tiny random checkpoints: pooling, towers, LoRA, processors, cascade."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmshop.data.cache import CachedArrays
from mmshop.data.processors.hf_image import checkpoint_image_config
from mmshop.data.processors.hf_text import HFTextProcessor
from mmshop.data.processors.image import ImageProcessor, ImageProcessorConfig
from mmshop.errors import ConfigError, MissingExtraError
from mmshop.models import InputSpec
from mmshop.models.cascade import EmbeddingCache, attach_embeddings, compute_embeddings
from mmshop.models.encoders.hf import HFTextEncoder, HFVisionEncoder
from mmshop.utils import checkpoints as ckpts

SPEC = InputSpec(image_size=(32, 32), vocab_size=100, max_length=16, num_classes={"a": 2})
TEXTS = ["red casual shirt model 7", "blue shoe", "", "green formal watch product 12"]


def text_encoder(path: Path, **options) -> HFTextEncoder:
    return HFTextEncoder(SPEC, checkpoint=str(path), **options)


def text_batch(path: Path, texts=TEXTS, max_length: int = 16) -> dict[str, torch.Tensor]:
    proc = HFTextEncoder.make_processor({"checkpoint": str(path)}, _Len(max_length))
    arrays = proc.encode_arrays(texts)
    return {k: torch.from_numpy(v.astype(np.int64)) for k, v in arrays.items()}


class _Len:
    def __init__(self, max_length: int) -> None:
        self.max_length = max_length


# ---------------------------------------------------------------------- text pooling, towers
def test_plain_bert_uses_masked_mean_pooling(hf_checkpoints) -> None:
    from transformers import BertModel

    enc = text_encoder(hf_checkpoints["bert"]).eval()
    assert enc.pooling == ["mean"] and not enc.normalize
    batch = text_batch(hf_checkpoints["bert"])
    ref = BertModel.from_pretrained(str(hf_checkpoints["bert"])).eval()
    with torch.no_grad():
        hidden = ref(input_ids=batch["text"], attention_mask=batch["text_attention_mask"])
        mask = batch["text_attention_mask"].unsqueeze(-1).float()
        expected = (hidden.last_hidden_state * mask).sum(1) / mask.sum(1)
        torch.testing.assert_close(enc(batch), expected, atol=1e-5, rtol=1e-4)
    cls = text_encoder(hf_checkpoints["bert"], pooling="cls").eval()
    with torch.no_grad():
        torch.testing.assert_close(cls(batch), hidden.last_hidden_state[:, 0], atol=1e-5, rtol=1e-4)


def test_sentence_transformers_folder_pooling_and_normalize_are_honoured(hf_checkpoints) -> None:
    from transformers import BertModel

    path = hf_checkpoints["sentence_transformers"]
    enc = text_encoder(path).eval()
    assert enc.pooling == ["cls"] and enc.normalize
    batch = text_batch(path)
    assert batch["text"].shape[1] == 16  # capped by sentence_bert_config max_seq_length=24
    ref = BertModel.from_pretrained(str(path)).eval()
    with torch.no_grad():
        out = enc(batch)
        hidden = ref(input_ids=batch["text"], attention_mask=batch["text_attention_mask"])
    torch.testing.assert_close(
        out, F.normalize(hidden.last_hidden_state[:, 0], dim=-1), atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(len(TEXTS)))


def test_max_seq_length_of_sentence_transformers_caps_the_tokenizer(hf_checkpoints) -> None:
    proc = HFTextEncoder.make_processor(
        {"checkpoint": str(hf_checkpoints["sentence_transformers"])}, _Len(64)
    )
    assert proc.max_length == 24


def test_clip_pads_with_nonzero_id_and_the_attention_mask_is_used(hf_checkpoints) -> None:
    path = hf_checkpoints["clip"]
    short, long = text_batch(path, max_length=10), text_batch(path, max_length=20)
    pad = HFTextProcessor.from_checkpoint(path, 10).pad_id
    assert pad != 0 and (short["text"] == pad).any()
    enc = text_encoder(path).eval()
    with torch.no_grad():
        torch.testing.assert_close(enc(short), enc(long), atol=1e-5, rtol=1e-4)


def test_dual_tower_towers_match_the_full_model(hf_checkpoints) -> None:
    from transformers import CLIPModel

    path = hf_checkpoints["clip"]
    full = CLIPModel.from_pretrained(str(path)).eval()
    batch = text_batch(path)
    image = torch.randn(2, 3, 32, 32)
    text_enc, image_enc = text_encoder(path).eval(), HFVisionEncoder(SPEC, str(path)).eval()
    assert text_enc.dual and text_enc.pooling == ["projection"] and text_enc.output_dim == 24
    assert image_enc.backbone.text_model is None and text_enc.backbone.vision_model is None
    with torch.no_grad():
        text_ref = full.get_text_features(
            input_ids=batch["text"], attention_mask=batch["text_attention_mask"]
        ).pooler_output
        image_ref = full.get_image_features(pixel_values=image).pooler_output
        torch.testing.assert_close(text_enc(batch), text_ref, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(image_enc({"image": image}), image_ref, atol=1e-5, rtol=1e-4)


def test_siglip_keeps_fixed_length_padding(hf_checkpoints) -> None:
    enc = text_encoder(hf_checkpoints["siglip"]).eval()
    assert enc.fixed_length
    batch = text_batch(hf_checkpoints["siglip"])
    with torch.no_grad():
        out = enc(batch)
        first = enc({k: v[:1] for k, v in batch.items()})
    torch.testing.assert_close(out[:1], first, atol=1e-5, rtol=1e-4)


def test_vit_uses_cls_token_and_a_text_checkpoint_has_no_vision_tower(hf_checkpoints) -> None:
    enc = HFVisionEncoder(SPEC, str(hf_checkpoints["vit"])).eval()
    assert enc.pooling == ["cls"] and enc.output_dim == 32
    with pytest.raises(ConfigError, match=r"without a image tower|without a .* tower"):
        HFVisionEncoder(SPEC, str(hf_checkpoints["bert"]))
    with pytest.raises(ConfigError, match="tower"):
        HFTextEncoder(SPEC, str(hf_checkpoints["vit"]))


# ---------------------------------------------------------------------- modes and LoRA
@pytest.mark.parametrize(
    ("family", "cls", "targets"),
    [
        ("bert", HFTextEncoder, {"query", "value"}),
        ("clip", HFTextEncoder, {"q_proj", "v_proj"}),
        ("siglip", HFVisionEncoder, {"q_proj", "v_proj"}),
        ("vit", HFVisionEncoder, {"q_proj", "v_proj"}),  # "query", "value" before transformers 5
        ("chinese_clip", HFTextEncoder, {"query", "value"}),  # its BERT text tower
        ("chinese_clip", HFVisionEncoder, {"q_proj", "v_proj"}),  # its CLIP vision tower
    ],
)
def test_lora_targets_follow_the_architecture_family(hf_checkpoints, family, cls, targets) -> None:
    enc = cls(SPEC, str(hf_checkpoints[family]), mode="lora", lora={"r": 2, "alpha": 4})
    chosen = set(enc.backbone.peft_config["default"].target_modules)
    assert chosen == targets or (family == "vit" and chosen == {"query", "value"})
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    counts = enc.parameter_counts()
    assert 0 < counts["backbone_trainable"] < 0.1 * counts["backbone_params"]


def test_modes_decide_what_is_external_to_a_saved_model(hf_checkpoints) -> None:
    path = hf_checkpoints["bert"]
    frozen, lora, full = (text_encoder(path, mode=m) for m in ("frozen", "lora", "full"))
    assert frozen.external_state_keys() == {f"backbone.{k}" for k in frozen.backbone.state_dict()}
    saved = set(lora.state_dict()) - lora.external_state_keys()
    assert saved and all(".lora_" in k for k in saved)
    assert full.external_state_keys() == set()
    assert frozen.lr_multipliers() == {} and full.lr_multipliers() == {"backbone": 0.025}
    assert lora.lr_multipliers() == {"backbone": 0.5}
    assert text_encoder(path, mode="full", backbone_lr_scale=0.1).lr_multipliers() == {
        "backbone": 0.1
    }


def test_frozen_backbone_stays_in_eval_mode(hf_checkpoints) -> None:
    enc = text_encoder(hf_checkpoints["bert"]).train()
    assert enc.training and not enc.backbone.training
    batch = text_batch(hf_checkpoints["bert"])
    torch.testing.assert_close(enc(batch), enc(batch))  # no dropout


def test_merged_adapters_give_the_same_outputs(hf_checkpoints) -> None:
    enc = text_encoder(hf_checkpoints["bert"], mode="lora").eval()
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.5)  # as if trained: B starts at zero
    batch = text_batch(hf_checkpoints["bert"])
    with torch.no_grad():
        before = enc(batch)
        enc.merge_adapters()
        after = enc(batch)
    assert enc.mode == "full" and not any("lora" in k for k in enc.state_dict())
    torch.testing.assert_close(before, after, atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError, match="not 'lora'"):
        enc.merge_adapters()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mode": "half"}, "mode must be one of"),
        ({"pooling": "median"}, "pooling must be one of"),
        ({"lora": {"r": 0}}, "lora.r"),
        ({"lora": {"dropout": 1.5}}, "lora.dropout"),
        ({"lora": {"rank": 4}}, "unknown LoraSettings key"),
        ({"lora": {"target_modules": ["nope"]}, "mode": "lora"}, "match no Linear"),
        ({"backbone_lr_scale": -1}, "backbone_lr_scale"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(hf_checkpoints, options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        text_encoder(hf_checkpoints["bert"], **options)


def test_options_are_checked_before_anything_is_loaded() -> None:
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['colour'\]"):
        HFTextEncoder.check_options({"checkpoint": "x", "colour": 1})
    with pytest.raises(ConfigError, match=r"'checkpoint'.* is required"):
        HFVisionEncoder.check_options({"mode": "lora"})
    with pytest.raises(ConfigError, match=r"lora.alpha"):
        HFVisionEncoder.check_options({"checkpoint": "x", "lora": {"alpha": 0}})
    HFTextEncoder.check_options(HFTextEncoder.default_options("hf:minilm", "lora"))


# ---------------------------------------------------------------------- checkpoints
def test_checkpoint_references_resolve_or_fail_clearly(hf_checkpoints, tmp_path: Path) -> None:
    path = hf_checkpoints["bert"]
    assert ckpts.resolve_checkpoint(f"hf:{path}").root == path.resolve()
    with pytest.raises(ConfigError, match="not found"):
        ckpts.resolve_checkpoint(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config.json"):
        ckpts.resolve_checkpoint(str(tmp_path / "empty"))
    odd = tmp_path / "odd"
    shutil.copytree(hf_checkpoints["sentence_transformers"], odd)
    modules = json.loads((odd / "modules.json").read_text())
    modules.append(
        {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    )
    (odd / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="Dense' is not supported"):
        ckpts.resolve_checkpoint(str(odd))


def test_weights_hash_follows_the_weights(hf_checkpoints, tmp_path: Path) -> None:
    copy = tmp_path / "bert"
    shutil.copytree(hf_checkpoints["bert"], copy)
    first = ckpts.weights_hash(copy)
    assert first == ckpts.weights_hash(hf_checkpoints["bert"])
    (copy / "tokenizer_config.json").write_text("{}")  # not a weight file
    assert ckpts.weights_hash(copy) == first
    from hf_checkpoints import make_bert

    make_bert(copy, seed=99)
    assert ckpts.weights_hash(copy) != first


def test_alias_resolves_to_the_package_folder_or_names_the_extra(
    hf_checkpoints, tmp_path: Path, monkeypatch
) -> None:
    package = tmp_path / "site" / "fake_minilm_pkg"
    (package / "model").parent.mkdir(parents=True)
    (package / "__init__.py").parent.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    shutil.copytree(hf_checkpoints["sentence_transformers"], package / "model")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(ckpts.ALIASES, "minilm", ("fake_minilm_pkg", "minilm"))
    found = ckpts.resolve_checkpoint("hf:minilm")
    assert found.root == (package / "model").resolve() and found.sentence_transformers
    monkeypatch.setitem(ckpts.ALIASES, "minilm", ("no_such_minilm_pkg", "minilm"))
    with pytest.raises(MissingExtraError, match=r"mmshop\[minilm\]"):
        ckpts.resolve_checkpoint("hf:minilm")
    sys.modules.pop("fake_minilm_pkg", None)


# ---------------------------------------------------------------------- processors
def test_image_settings_come_from_the_checkpoint(hf_checkpoints) -> None:
    base = ImageProcessorConfig(size=(64, 48), augment=False)
    clip = checkpoint_image_config(hf_checkpoints["clip"], {}, base)
    assert clip.size == (32, 32) and clip.resize == "center_crop" and clip.resample == "bicubic"
    assert clip.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    assert clip.augment is False  # the user's own settings are kept
    vit = checkpoint_image_config(hf_checkpoints["vit"], {}, base)
    assert vit.size == (32, 32) and vit.resize == "stretch" and vit.mean == (0.5, 0.5, 0.5)
    siglip = checkpoint_image_config(hf_checkpoints["siglip"], {}, base)
    assert siglip.resize == "stretch"


def test_resize_modes(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :10] = (255, 0, 0)  # red left quarter
    pixels[:, 10:30] = (0, 0, 255)  # blue centre
    path = tmp_path / "wide.png"
    Image.fromarray(pixels).save(path)
    crop = ImageProcessor(ImageProcessorConfig(size=(10, 10), resize="center_crop")).load(path)
    assert crop.shape == (10, 10, 3) and (crop[:, :, 2] > 200).all()  # only the blue centre
    stretch = ImageProcessor(ImageProcessorConfig(size=(10, 10), resize="stretch")).load(path)
    assert stretch[:, 0, 0].min() > 200  # red still at the left, no padding
    letterbox = ImageProcessor(ImageProcessorConfig(size=(10, 10))).load(path)
    assert (letterbox[0] == 255).all()  # padded rows on top
    with pytest.raises(ConfigError, match=r"image.resize"):
        ImageProcessorConfig(resize="squash")
    assert "resize" not in ImageProcessor(ImageProcessorConfig()).cache_state()


def test_text_processor_round_trip_and_stable_cache_state(hf_checkpoints, tmp_path: Path) -> None:
    proc = HFTextProcessor.from_checkpoint(hf_checkpoints["clip"], 12)
    state = proc.cache_state()
    arrays = proc.encode_arrays(TEXTS)
    assert arrays["text"].shape == (4, 12) and arrays["text"].dtype == np.int32
    assert proc.cache_state() == state  # encoding does not change the identity
    assert not arrays["text_attention_mask"][2, 2:].any()  # the empty text: specials only
    proc.save(tmp_path / "tok")
    again = HFTextProcessor.load(tmp_path / "tok")
    assert again.cache_state() == state
    np.testing.assert_array_equal(again.encode_arrays(TEXTS)["text"], arrays["text"])
    assert again.decode(arrays["text"][0]).startswith("red casual shirt")


# ---------------------------------------------------------------------- cascade
def _text_arrays(path: Path, key: str = "k1") -> CachedArrays:
    proc = HFTextProcessor.from_checkpoint(path, 16)
    enc = proc.encode_arrays(TEXTS)
    mask = np.array([True, True, False, True])
    return CachedArrays(ids=["a", "b", "c", "d"], key=key, text_mask=mask, **enc)


def test_cascade_embeddings_match_the_encoder_and_are_cached(hf_checkpoints, tmp_path) -> None:
    path = hf_checkpoints["sentence_transformers"]
    enc = text_encoder(path).eval()
    arrays = _text_arrays(path)
    emb = compute_embeddings(arrays, "text", enc, None, batch_size=2)
    batch = text_batch(path)
    with torch.no_grad():
        direct = enc(batch).numpy()
    np.testing.assert_allclose(emb[[0, 1, 3]], direct[[0, 1, 3]], atol=1e-5)
    assert not emb[2].any()  # the row without text is left for the model's missing vector

    cache = EmbeddingCache(tmp_path / "emb")
    model = torch.nn.Module()
    model.encoders = torch.nn.ModuleDict({"text": enc})
    first = attach_embeddings(model, arrays, None, cache)
    second = attach_embeddings(model, arrays, None, cache)
    assert (cache.misses, cache.hits) == (1, 1)
    np.testing.assert_array_equal(first.embeddings["text"], second.embeddings["text"])
    other = text_encoder(hf_checkpoints["bert"]).eval()
    assert cache.key(arrays, "text", other) != cache.key(arrays, "text", enc)
    assert cache.key(_text_arrays(path, "k2"), "text", enc) != cache.key(arrays, "text", enc)


def test_batches_carry_precomputed_embeddings_instead_of_raw_inputs(hf_checkpoints) -> None:
    from mmshop.data.dataset import BatchIterator

    arrays = _text_arrays(hf_checkpoints["bert"])
    batch = BatchIterator(arrays, None, 4, shuffle=False).batch(np.arange(4))
    assert {"text", "text_attention_mask", "mask:text"} <= set(batch)
    emb = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    import dataclasses

    with_emb = dataclasses.replace(arrays, embeddings={"text": emb})
    batch = BatchIterator(with_emb, None, 4, shuffle=False).batch(np.arange(4))
    assert "text" not in batch and batch["text_embedding"].shape == (4, 8)
    dropped = BatchIterator(with_emb, None, 4, shuffle=False, drop_modalities=["text"])
    out = dropped.batch(np.arange(4))
    assert not out["text_embedding"].any() and not out["mask:text"].any()

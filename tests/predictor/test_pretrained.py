"""MultimodalPredictor with pretrained backbones on tiny random checkpoints, end to end:
train, save, load, predict; what a save stores per mode; base checkpoint checks; cascade."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open
from typer.testing import CliRunner

from helpers import make_tiny_catalog
from mmshop import Catalog, MultimodalPredictor
from mmshop.errors import ConfigError, ModelLoadError

LABELS = ["category", "style"]


def small(tmp: Path, **extra) -> dict:
    return {
        "trainer.epochs": 2,
        "trainer.progress": False,
        "trainer.lr": 3e-3,
        "batch_size": 16,
        "cache_dir": str(tmp / "cache"),
        "model.encoders.image.options": {"width": 4},
        "model.encoders.text.options": {"dim": 16, "layers": 1, "heads": 2},
        "model.fusion.options": {"dim": 32},
        "model.head.options": {"hidden": 32},
        **extra,
    }


def pretrained(tmp: Path, text: str | None = None, image: str | None = None, **extra) -> dict:
    """Overrides for a small run; built-in encoder options are dropped where hf: replaces them."""
    out = small(tmp, **extra)
    if text:
        out.pop("model.encoders.text.options")
    if image:
        out.pop("model.encoders.image.options")
    return out


def saved_keys(folder: Path) -> list[str]:
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return list(f.keys())


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog.open(make_tiny_catalog(tmp_path_factory.mktemp("cat"), n=48, seed=3))


CASES = {
    # name: (text family, image family, mode)
    "bert-frozen": ("bert", None, "frozen"),
    "st-lora": ("sentence_transformers", None, "lora"),
    "clip-both-towers-frozen": ("clip", "clip", "frozen"),
    "siglip-both-towers-lora": ("siglip", "siglip", "lora"),
    "vit-full": (None, "vit", "full"),
    "chinese-clip-text-frozen": ("chinese_clip", None, "frozen"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_train_save_load_predict(case: str, catalog: Catalog, hf_checkpoints, tmp_path) -> None:
    text, image, mode = CASES[case]
    text_ref = f"hf:{hf_checkpoints[text]}" if text else None
    image_ref = f"hf:{hf_checkpoints[image]}" if image else None
    p = MultimodalPredictor(
        LABELS,
        overrides=pretrained(tmp_path, text_ref, image_ref),
        text_encoder=text_ref,
        image_encoder=image_ref,
        mode=mode,
    )
    p.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    test = catalog.split("test")
    before = p.predict_proba(test)
    folder = p.save(tmp_path / "model")

    keys = saved_keys(folder)
    meta = json.loads((folder / "config.json").read_text())
    for modality, family in (("text", text), ("image", image)):
        if family is None:
            continue
        ref = meta["backbones"][modality]
        assert ref["mode"] == mode and ref["sha256"] and ref["path"] == str(hf_checkpoints[family])
        backbone = [k for k in keys if k.startswith(f"encoders.{modality}.backbone.")]
        if mode == "frozen":
            assert backbone == []
        elif mode == "lora":
            assert backbone and all(".lora_" in k for k in backbone)
        else:
            assert len(backbone) > 10
            assert (folder / "backbones" / modality / "config.json").is_file()
    assert not any(f.suffix in (".pt", ".pkl", ".bin") for f in folder.rglob("*"))

    loaded = MultimodalPredictor.load(folder)
    after = loaded.predict_proba(test)
    for label in LABELS:
        np.testing.assert_allclose(before[label].to_numpy(), after[label].to_numpy(), atol=1e-5)
    table = loaded.predict(test)
    assert list(table["id"]) == test.ids() and "category_confidence" in table


def test_frozen_cascade_trains_only_fusion_and_heads_and_reuses_embeddings(
    catalog: Catalog, hf_checkpoints, tmp_path
) -> None:
    ref = f"hf:{hf_checkpoints['sentence_transformers']}"
    overrides = pretrained(tmp_path, ref, modalities=["text"])
    first = MultimodalPredictor(LABELS, overrides=overrides, text_encoder=ref)
    first.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    events = first.training_info["cascade"]
    assert [e["cache"] for e in events] == ["miss", "miss"]  # train and val, computed once
    counts = first.training_info["parameters"]
    assert counts["backbones"]["text"]["backbone_trainable"] == 0
    assert (
        counts["trainable"] < counts["total"] - counts["backbones"]["text"]["backbone_params"] + 1
    )

    again = MultimodalPredictor(LABELS, overrides=overrides, text_encoder=ref)
    again.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    assert [e["cache"] for e in again.training_info["cascade"]] == ["hit", "hit"]
    # a fused model on the same catalogue reuses the text embeddings (keyed by text inputs only)
    fused = MultimodalPredictor(
        LABELS, overrides={**overrides, "modalities": ["image", "text"]}, text_encoder=ref
    )
    fused.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    assert [e["cache"] for e in fused.training_info["cascade"]] == ["hit", "hit"]
    test = catalog.split("test")
    np.testing.assert_allclose(
        first.predict_proba(test)["category"].to_numpy(),
        again.predict_proba(test)["category"].to_numpy(),
        atol=1e-6,
    )


def test_lora_trains_a_small_share_of_the_backbone_at_its_own_lr(
    catalog: Catalog, hf_checkpoints, tmp_path, monkeypatch
) -> None:
    from mmshop.training import trainer as trainer_module

    seen = {}
    original = trainer_module.build_param_groups

    def spy(model, lr, weight_decay, multipliers):
        seen.update(multipliers)
        return original(model, lr, weight_decay, multipliers)

    monkeypatch.setattr(trainer_module, "build_param_groups", spy)
    ref = f"hf:{hf_checkpoints['bert']}"
    overrides = pretrained(tmp_path, ref, modalities=["text"])
    overrides["model.encoders.text.options.lora"] = {"r": 2, "alpha": 4, "dropout": 0.0}
    p = MultimodalPredictor(LABELS, overrides=overrides, text_encoder=ref, mode="lora")
    p.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    backbone = p.training_info["parameters"]["backbones"]["text"]
    assert 0 < backbone["backbone_trainable"] <= 0.05 * backbone["backbone_params"]
    assert seen == {"encoders.text.backbone": 0.5}
    # a prefix the user sets wins over the encoder's default
    overrides["trainer.param_groups"] = {"encoders.text.backbone": 0.1}
    q = MultimodalPredictor(LABELS, overrides=overrides, text_encoder=ref, mode="lora")
    q.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    assert seen == {"encoders.text.backbone": 0.1}


def _trained_on_copy(catalog, hf_checkpoints, tmp_path, mode="frozen"):
    base = tmp_path / "base-bert"
    shutil.copytree(hf_checkpoints["bert"], base)
    ref = f"hf:{base}"
    p = MultimodalPredictor(
        LABELS,
        overrides=pretrained(tmp_path, ref, modalities=["text"]),
        text_encoder=ref,
        mode=mode,
    )
    p.fit(catalog.split("train"), val=catalog.split("val"), progress=False)
    return p, base, p.save(tmp_path / "model")


def test_a_changed_or_missing_base_checkpoint_is_a_clear_error(
    catalog: Catalog, hf_checkpoints, tmp_path
) -> None:
    from hf_checkpoints import make_bert

    p, base, folder = _trained_on_copy(catalog, hf_checkpoints, tmp_path, mode="lora")
    moved = tmp_path / "moved-bert"
    shutil.move(base, moved)
    with pytest.raises(ModelLoadError, match=r"needs its base checkpoint hf:.*base-bert") as err:
        MultimodalPredictor.load(folder)
    assert "base_checkpoints" in str(err.value)
    relocated = MultimodalPredictor.load(folder, base_checkpoints={"text": str(moved)})
    test = catalog.split("test")
    pd.testing.assert_frame_equal(p.predict(test), relocated.predict(test))
    make_bert(moved, seed=42)  # same architecture, different weights
    with pytest.raises(
        ModelLoadError, match="base checkpoint of the saved text encoder has changed"
    ):
        MultimodalPredictor.load(folder, base_checkpoints={"text": str(moved)})
    with pytest.raises(ModelLoadError, match="has pretrained encoders for"):
        MultimodalPredictor.load(folder, base_checkpoints={"image": str(moved)})


def test_merged_lora_exports_a_model_that_needs_no_base(
    catalog: Catalog, hf_checkpoints, tmp_path
) -> None:
    p, base, _ = _trained_on_copy(catalog, hf_checkpoints, tmp_path, mode="lora")
    test = catalog.split("test")
    before = p.predict_proba(test)["category"].to_numpy()
    p.merge_adapters()
    assert p.config.model.encoders["text"].options["mode"] == "full"
    np.testing.assert_allclose(p.predict_proba(test)["category"].to_numpy(), before, atol=1e-5)
    folder = p.save(tmp_path / "merged")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["backbones"]["text"]["mode"] == "full"
    assert any(".attention.self.query.weight" in k for k in saved_keys(folder))
    shutil.rmtree(base)
    loaded = MultimodalPredictor.load(folder)
    np.testing.assert_allclose(loaded.predict_proba(test)["category"].to_numpy(), before, atol=1e-5)
    with pytest.raises(ConfigError, match="no encoder of this predictor uses LoRA"):
        loaded.merge_adapters()
    resaved = json.loads((loaded.save(tmp_path / "again") / "config.json").read_text())
    assert resaved["backbones"]["text"]["checkpoint"] == f"hf:{base}"  # provenance kept


def test_config_errors_come_before_any_work(hf_checkpoints, tmp_path) -> None:
    with pytest.raises(ConfigError, match="mode applies to pretrained encoders"):
        MultimodalPredictor(LABELS, mode="lora")
    with pytest.raises(ConfigError, match="mode must be one of"):
        MultimodalPredictor(LABELS, text_encoder=f"hf:{hf_checkpoints['bert']}", mode="half")
    with pytest.raises(ConfigError, match="is a image encoder"):
        MultimodalPredictor(LABELS, text_encoder="cnn")
    with pytest.raises(ConfigError, match="unknown encoder 'nope'"):
        MultimodalPredictor(LABELS, image_encoder="nope")
    p = MultimodalPredictor(
        LABELS,
        text_encoder=f"hf:{hf_checkpoints['bert']}",
        overrides={"tokenizer_file": str(tmp_path / "tokenizer.json")},
    )
    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=20))
    with pytest.raises(ConfigError, match="tokenizer_file cannot be combined"):
        p.fit(cat.split("train"), val=cat.split("val"), progress=False)


def test_the_same_choice_through_config_keys(hf_checkpoints, tmp_path) -> None:
    options = {"checkpoint": str(hf_checkpoints["bert"]), "mode": "full", "pooling": "cls"}
    p = MultimodalPredictor(
        LABELS, overrides={"model.encoders.text": {"name": "hf_text", "options": options}}
    )
    assert p.config.model.encoders["text"].options["pooling"] == "cls"
    q = MultimodalPredictor(config=p.config, mode="lora")  # mode applies to configured ones
    assert q.config.model.encoders["text"].options["mode"] == "lora"


def test_cli_train_with_a_pretrained_text_encoder(hf_checkpoints, tmp_path) -> None:
    from mmshop.cli import app

    csv = make_tiny_catalog(tmp_path / "cat", n=40, seed=4)
    out = tmp_path / "tagger"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["train", str(csv), "--label", "category", "--out", str(out), "--epochs", "2", "--quiet",
         "--text-encoder", f"hf:{hf_checkpoints['bert']}", "--mode", "frozen",
         "--set", "model.encoders.image.options={\"width\": 4}",
         "--set", f"cache_dir=\"{tmp_path / 'cache'}\"", "--set", "batch_size=16"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "config.json").read_text())
    assert meta["backbones"]["text"]["mode"] == "frozen"
    result = runner.invoke(app, ["evaluate", str(out), str(csv), "--split", "test", "--json"])
    assert result.exit_code == 0, result.output
    assert "category" in json.loads(result.output)
    bad = runner.invoke(
        app, ["train", str(csv), "--label", "category", "--out", str(out), "--mode", "lora"]
    )
    assert bad.exit_code == 2 and "mode applies to pretrained encoders" in bad.output

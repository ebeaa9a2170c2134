"""Alignment training: it learns, losses and locked text work, saving round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from mmshop.data.dataset import BatchIterator
from mmshop.errors import ConfigError, ModelLoadError
from mmshop.evaluation.retrieval import top_k
from mmshop.search import AlignConfig, SearchEncoder
from mmshop.search.align import AlignBatches, CaptionBank, text_groups

from .conftest import TINY


def _category_top1(encoder: SearchEncoder, cat) -> float:
    emb = encoder.encode_catalog(cat, progress=False)
    queries = encoder.encode_texts(cat.df["category"].tolist())
    _, ranked = top_k(queries, emb["image"], 1)
    cats = cat.df["category"].to_numpy()
    return float(np.mean(cats[ranked[:, 0]] == cats))


def test_alignment_learns_above_chance(search_setup: dict) -> None:
    encoder, cat = search_setup["encoder"], search_setup["catalog"]
    history = encoder.training_info["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert {"recall@1", "recall@10", "mrr@10"} <= set(history[0])
    # query = a product's category word; top image should show that category (chance: 1/4)
    assert _category_top1(encoder, cat) > 0.5
    assert 0 < encoder.training_info["temperature"] < 1


def test_save_load_round_trip_and_tamper(search_setup: dict, tmp_path: Path) -> None:
    encoder = search_setup["encoder"]
    loaded = SearchEncoder.load(search_setup["model"])
    texts = ["red shirt", "a photo of a bag"]
    np.testing.assert_allclose(encoder.encode_texts(texts), loaded.encode_texts(texts), atol=1e-6)
    assert loaded.version == encoder.version and len(loaded.version) == 16
    copy = encoder.save(tmp_path / "copy")
    (copy / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelLoadError, match=r"checksum|changed"):
        SearchEncoder.load(copy)
    with pytest.raises(ModelLoadError):
        SearchEncoder.load(tmp_path / "missing")


@pytest.mark.parametrize("loss", ["siglip", "clip"])
def test_locked_text_tower_stays_frozen(search_setup: dict, tmp_path: Path, loss: str) -> None:
    cat = search_setup["catalog"]
    overrides = {
        **TINY,
        "loss": loss,
        "lock_text": True,
        "text_init": str(search_setup["model"]),
        "trainer.epochs": 2,
        "cache_dir": str(search_setup["cache"]),
    }
    enc = SearchEncoder.fit(
        cat.split("train"), cat.split("val"), overrides=overrides, work_dir=tmp_path, progress=False
    )
    saved = load_file(str(search_setup["model"] / "model.safetensors"))
    for name, value in enc.model.text_encoder.state_dict().items():
        torch.testing.assert_close(value, saved[f"text_encoder.{name}"])
    assert enc.model.embed_dim == 32 and enc.model.text_encoder.training is False
    # the image side did train
    before = saved["image_encoder.stem.0.weight"]
    assert not torch.equal(enc.model.image_encoder.stem[0].weight.detach(), before)
    assert _category_top1(enc, cat) > 0.25


def test_text_groups_and_caption_swaps() -> None:
    groups, extra = text_groups(["Red Shirt", "red  shirt", "Blue bag"], ["Blue bag", "Shoes"])
    assert groups.tolist() == [0, 0, 1] and extra.tolist() == [1, 2]
    df = pd.DataFrame({"kind": ["shirt", None, "bag"]})
    bank = CaptionBank(df, ["kind"], ["{}", "a photo of {}"])
    assert bank.strings == ["shirt", "a photo of shirt", "bag", "a photo of bag"]
    assert bank.choices.tolist() == [[0, 1], [-1, -1], [2, 3]]
    with pytest.raises(Exception, match="not in the catalogue"):
        CaptionBank(df, ["nope"], ["{}"])


def test_align_batches_carry_groups_and_captions(search_setup: dict) -> None:
    encoder, cat = search_setup["encoder"], search_setup["catalog"]
    arrays = encoder.arrays(cat, search_setup["cache"], progress=False)
    groups, _ = text_groups(cat.texts())
    bank = CaptionBank(cat.df, ["category"], ["{}"])
    bank.tokenize(encoder.text)
    _, cap_groups = text_groups(cat.texts(), bank.strings)
    base = BatchIterator(arrays, None, 8, shuffle=True, image_processor=encoder.image)
    batches = AlignBatches(base, groups, bank, cap_groups, caption_prob=0.9)
    batch = next(iter(batches))
    assert batch["group"].shape == (8,) and "labels" not in batch
    caption_rows = [i for i, g in enumerate(batch["group"].tolist()) if g >= len(set(groups))]
    assert caption_rows, "most rows were swapped for a caption"
    ids = batch["text"][caption_rows[0]].numpy()
    assert encoder.text.decode(ids) in {"shirt", "shoe", "bag", "watch"}


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="loss"):
        AlignConfig(loss="triplet")
    with pytest.raises(ConfigError, match="caption_columns"):
        AlignConfig(caption_prob=0.2)
    with pytest.raises(ConfigError, match="lock_text"):
        AlignConfig(negatives="bank")
    with pytest.raises(ConfigError, match="negatives"):
        AlignConfig(negatives="hard")
    with pytest.raises(ConfigError, match="unknown"):
        AlignConfig().replace({"trainer.epochz": 3})
    with pytest.raises(ConfigError, match=r"unknown encoder 'nope'"):
        from mmshop.models.spec import InputSpec
        from mmshop.search.model import build_two_tower

        build_two_tower(
            AlignConfig().replace({"image_encoder.name": "nope"}),
            InputSpec(image_size=(32, 24), vocab_size=50, max_length=8),
        )


def _locked_bert(tmp_path: Path, **extra: object) -> tuple[Path, dict]:
    """A tiny random BERT checkpoint and overrides that lock it as the text tower."""
    pytest.importorskip("transformers")
    from hf_checkpoints import make_bert

    checkpoint = make_bert(tmp_path / "bert")
    overrides = {
        **TINY,
        "text_encoder.name": "hf_text",
        "text_encoder.options": {"checkpoint": str(checkpoint)},
        "lock_text": True,
        **extra,
    }
    return checkpoint, overrides


def test_locked_pretrained_hf_text_encoder(search_setup: dict, tmp_path: Path) -> None:
    checkpoint, overrides = _locked_bert(
        tmp_path, **{"trainer.epochs": 2, "cache_dir": str(search_setup["cache"])}
    )
    cat = search_setup["catalog"]
    enc = SearchEncoder.fit(
        cat.split("train"), cat.split("val"), overrides=overrides, work_dir=tmp_path / "w",
        progress=False,
    )  # fmt: skip
    assert type(enc.text).__name__ == "HFTextProcessor"
    base = load_file(str(checkpoint / "model.safetensors"))
    for name, value in enc.model.text_encoder.backbone.state_dict().items():
        key = name if name in base else f"bert.{name}"
        if key in base:
            torch.testing.assert_close(value, base[key])
    assert enc.model.embed_dim == enc.model.text_encoder.output_dim
    saved = enc.save(tmp_path / "model")
    loaded = SearchEncoder.load(saved)
    texts = ["red casual shirt", "a photo of a watch"]
    np.testing.assert_allclose(enc.encode_texts(texts), loaded.encode_texts(texts), atol=1e-5)


def test_locked_frozen_text_runs_once_per_row_and_trains_on_the_bank(
    search_setup: dict, tmp_path: Path
) -> None:
    _, overrides = _locked_bert(
        tmp_path,
        **{
            "negatives": "bank",
            "caption_columns": ["category"],
            "caption_prob": 0.3,
            "trainer.epochs": 3,
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    cat = search_setup["catalog"]

    def fit(name: str) -> SearchEncoder:
        return SearchEncoder.fit(
            cat.split("train"), cat.split("val"), overrides=overrides, work_dir=tmp_path / name,
            progress=False,
        )  # fmt: skip

    first = fit("a")
    # titles went through the frozen encoder once (train and val), then came from the cache
    assert [e["cache"] for e in first.training_info["cascade"]] == ["miss", "miss"]
    second = fit("b")
    assert [e["cache"] for e in second.training_info["cascade"]] == ["hit", "hit"]
    texts = ["red casual shirt", "a photo of a watch"]
    np.testing.assert_allclose(first.encode_texts(texts), second.encode_texts(texts), atol=1e-5)
    history = first.training_info["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert first.model.text_bank is None  # the bank is a training-time buffer only
    assert "text_bank" not in first.model.state_dict()


def test_text_bank_holds_one_embedding_per_group(search_setup: dict) -> None:
    from mmshop.search.align import text_bank

    encoder, cat = search_setup["encoder"], search_setup["catalog"]
    arrays = encoder.arrays(cat, search_setup["cache"], progress=False)
    groups, _ = text_groups(cat.texts())
    bank = CaptionBank(cat.df, ["category"], ["{}"])
    bank.tokenize(encoder.text)
    _, cap_groups = text_groups(cat.texts(), bank.strings)
    with pytest.raises(ConfigError, match="locked text tower"):
        encoder.model.set_text_bank(torch.zeros(3, encoder.dim))  # its text tower trains
    table = text_bank(encoder.model, arrays, groups, bank, cap_groups)
    assert table.shape == (int(max(groups.max(), cap_groups.max())) + 1, encoder.dim)
    row = int(np.flatnonzero(groups == groups[5])[0])
    np.testing.assert_allclose(
        table[groups[5]].numpy(), encoder.encode_texts([cat.texts()[row]])[0], atol=1e-5
    )
    np.testing.assert_allclose(
        table[cap_groups[0]].numpy(), encoder.encode_texts([bank.strings[0]])[0], atol=1e-5
    )

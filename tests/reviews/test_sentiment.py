"""Review sentiment: labels, Chinese tokenization, training, prediction, bad input, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmshop.data.processors.text import TextProcessor, TextProcessorConfig
from mmshop.errors import ConfigError, DataError, ModelLoadError
from mmshop.reviews import SentimentConfig, SentimentModel
from mmshop.reviews.inputs import clean_text, detect_language, sentiment_labels
from mmshop.reviews.model import minilm_available

from .helpers_reviews import TINY, chinese_reviews, english_reviews


def _tiny(tmp: Path) -> dict:
    return {**TINY, "cache_dir": str(tmp / "cache")}


@pytest.fixture(scope="module")
def en_model(tmp_path_factory) -> SentimentModel:
    tmp = tmp_path_factory.mktemp("en")
    cfg = SentimentConfig(
        rating_column="rating",
        label_column=None,
        categorical=["dept"],
        numeric=["age"],
        extra_labels=["recommended"],
        text_encoder="builtin",
        overrides=_tiny(tmp),
    )
    return SentimentModel(cfg).fit(english_reviews(), work_dir=tmp / "work", progress=False)


@pytest.fixture(scope="module")
def zh_model(tmp_path_factory) -> SentimentModel:
    tmp = tmp_path_factory.mktemp("zh")
    cfg = SentimentConfig(
        label_column="label",
        label_map={"0": "negative", "1": "positive"},
        categorical=["cat"],
        overrides=_tiny(tmp),
    )
    return SentimentModel(cfg).fit(chinese_reviews(), work_dir=tmp / "work", progress=False)


def test_rating_and_mapped_labels() -> None:
    frame = pd.DataFrame({"rating": ["1", "2", "3", "4", "5", "x", None]})
    cfg = SentimentConfig(rating_column="rating", label_column=None)
    assert sentiment_labels(frame, cfg) == [
        "negative", "negative", "neutral", "positive", "positive", None, None,
    ]  # fmt: skip
    mapped = SentimentConfig(label_map={"0": "negative", "1": "positive"})
    frame = pd.DataFrame({"label": [0, 1.0, "1", 7, None]})
    assert sentiment_labels(frame, mapped) == ["negative", "positive", "positive", None, None]


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        SentimentConfig(label_column="a", rating_column="b")
    with pytest.raises(ConfigError, match="both an input and a label"):
        SentimentConfig(label_column="dept", categorical=["dept"])
    with pytest.raises(ConfigError, match="text_encoder"):
        SentimentConfig(text_encoder="bert")


def test_chinese_text_is_split_into_characters_by_the_builtin_tokenizer() -> None:
    texts = chinese_reviews()["review"].tolist()
    proc = TextProcessor(TextProcessorConfig(min_frequency=1, max_length=16)).fit(texts)
    tokens = proc.tokenizer.encode("质量很好 good").tokens
    assert tokens[:4] == ["质", "量", "很", "好"]
    ids = proc.encode(["质量太差了", "从未见过的字"])
    assert (ids[0, :5] > 1).all()  # known characters, not [UNK]
    assert (ids[1, :6] == 1).all()  # unseen characters are [UNK], one per character


def test_detect_language() -> None:
    assert detect_language(["质量很好，非常满意", "很差"]) == "zh"
    assert detect_language(["great dress", "love it 好"]) == "en"
    assert detect_language([]) == "en"


def test_auto_encoder_choice() -> None:
    model = SentimentModel(SentimentConfig(label_column="label"))
    assert model._choose_encoder(["质量很好，非常满意"]) == ("zh", None)
    expected = "hf:minilm" if minilm_available() else None
    assert model._choose_encoder(["great dress"]) == ("en", expected)
    builtin = SentimentModel(SentimentConfig(label_column="label", text_encoder="builtin"))
    assert builtin._choose_encoder(["great dress"]) == ("en", None)


def test_clean_text_errors_name_the_problem() -> None:
    assert clean_text(b"caf\xc3\xa9 ok", "r1", 100) == "café ok"
    with pytest.raises(DataError, match=r"r1: review is not valid UTF-8 \(bad byte 0xff"):
        clean_text(b"\xffbad", "r1", 100)
    with pytest.raises(DataError, match="1,000,000 characters long; the limit is 20,000"):
        clean_text("a" * 1_000_000, "r2", 20_000)
    assert clean_text(None, "r3", 10) == ""


def test_english_model_learns_with_context(en_model: SentimentModel) -> None:
    assert en_model.info["language"] == "en"
    assert en_model.classes == ["negative", "neutral", "positive"]
    metrics = en_model.evaluate(english_reviews())
    assert metrics["sentiment"]["accuracy"] >= 0.8
    assert metrics["recommended"]["auc"] >= 0.9
    pred = en_model.predict(
        ["terrible quality returned it", "love this dress"],
        context=[{"dept": "Tops", "age": "30"}, {"dept": "Dresses"}],
    )
    assert pred["sentiment"].tolist() == ["negative", "positive"]
    assert {"confidence", "p_negative", "p_neutral", "p_positive", "recommended"} <= set(pred)
    probs = pred[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    assert np.allclose(probs.sum(1), 1.0, atol=1e-3)


def test_chinese_model_learns(zh_model: SentimentModel) -> None:
    assert zh_model.info["language"] == "zh"
    assert zh_model.info["text_encoder"] == "builtin"
    pred = zh_model.predict(["质量太差了，不推荐", "非常喜欢，好评"], context=[{"cat": "手机"}, {}])
    assert pred["sentiment"].tolist() == ["negative", "positive"]
    assert zh_model.evaluate(chinese_reviews())["sentiment"]["accuracy"] >= 0.9


def test_bad_reviews_raise_or_are_reported(zh_model: SentimentModel) -> None:
    with pytest.raises(DataError, match="review is empty"):
        zh_model.predict(["   "])
    with pytest.raises(DataError, match="not valid UTF-8"):
        zh_model.predict([b"\xff\xfe\x00bad"])
    with pytest.raises(DataError, match="characters long"):
        zh_model.predict(["好" * 1_000_000])
    with pytest.raises(DataError, match="no reviews given"):
        zh_model.predict([])
    with pytest.raises(DataError, match="context has 1 row"):
        zh_model.predict(["好", "差"], context=[{"cat": "手机"}])
    pred = zh_model.predict(["很好用，推荐购买", "", b"\xff"], on_error="skip")
    assert pred["sentiment"].iloc[0] == "positive"
    assert pred["sentiment"].iloc[1:].isna().all()
    assert "empty" in pred["error"].iloc[1] and "UTF-8" in pred["error"].iloc[2]


def test_training_skips_bad_rows(tmp_path: Path) -> None:
    frame = chinese_reviews()
    frame.loc[0, "review"] = ""
    frame.loc[1, "review"] = "x" * 50
    cfg = SentimentConfig(
        label_column="label",
        label_map={"0": "negative", "1": "positive"},
        max_chars=40,
        overrides={**_tiny(tmp_path), "trainer.epochs": 1},
    )
    model = SentimentModel(cfg).fit(frame, work_dir=tmp_path / "w", progress=False)
    assert model.info["skipped_count"] == 2
    assert model.info["train_rows"] == len(frame) - 2
    assert "row 1" in model.info["skipped"][0]["reason"]


def test_save_load_round_trip(zh_model: SentimentModel, tmp_path: Path) -> None:
    zh_model.save(tmp_path / "m")
    loaded = SentimentModel.load(tmp_path / "m")
    texts = ["质量很好，非常满意", "太失望了，垃圾"]
    a = zh_model.predict(texts)
    b = loaded.predict(texts)
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ModelLoadError, match="not a sentiment model"):
        SentimentModel.load(tmp_path)
    (tmp_path / "m" / "predictor" / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelLoadError, match="checksum"):
        SentimentModel.load(tmp_path / "m")

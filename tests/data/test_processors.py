"""Processors: decoding, augmentation, tokenization, tabular and label state round trips."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mmshop.data.processors import (
    IGNORE_INDEX,
    ImageProcessor,
    ImageProcessorConfig,
    LabelEncoder,
    TabularProcessor,
    TextProcessor,
    TextProcessorConfig,
)
from mmshop.errors import ConfigError, DataError


def _png(img: Image.Image, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kwargs)
    return buf.getvalue()


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _json_round_trip(d: dict) -> dict:
    return json.loads(json.dumps(d))


# ---------------------------------------------------------------------- image
@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("L", lambda: Image.new("L", (40, 30), 90)),
        ("P", lambda: Image.new("RGB", (40, 30), (200, 10, 10)).convert("P")),
        ("RGBA", lambda: Image.new("RGBA", (40, 30), (10, 200, 10, 128))),
        ("LA", lambda: Image.new("LA", (40, 30), (50, 255))),
        ("1", lambda: Image.new("1", (40, 30), 1)),
        ("I;16", lambda: Image.new("I;16", (40, 30), 30000)),
        ("one-pixel-wide", lambda: Image.new("RGB", (1, 300), (0, 0, 255))),
        ("one-pixel-high", lambda: Image.new("RGB", (300, 1), (0, 0, 255))),
        ("very-tall", lambda: Image.new("RGB", (20, 3000), (0, 0, 255))),
    ],
)
def test_image_modes_give_fixed_uint8_rgb(name, make):
    proc = ImageProcessor()
    out = proc.load_bytes(_png(make()), name)
    assert out.shape == (64, 48, 3) and out.dtype == np.uint8


def test_cmyk_jpeg_and_file_path(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (50, 80), (0, 255, 255, 0)).save(path, "JPEG")  # red
    out = ImageProcessor().load(path)
    assert out.shape == (64, 48, 3)
    r, g, b = out[32, 24].astype(int)
    assert r > 200 and g < 60 and b < 60


def test_rgba_transparency_composited_over_white_and_letterbox_padding():
    proc = ImageProcessor(ImageProcessorConfig(size=(64, 48)))
    out = proc.load_bytes(_png(Image.new("RGBA", (48, 64), (255, 0, 0, 0))))
    assert (out == 255).all()
    wide = proc.load_bytes(_png(Image.new("RGB", (96, 32), (0, 0, 0))))  # fits as 48x16
    assert (wide[32, :] == 0).all()
    assert (wide[0] == 255).all() and (wide[-1] == 255).all()  # centred, padded white


def test_exif_orientation_is_applied():
    base = Image.new("RGB", (40, 20), (255, 0, 0))
    base.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displaying
    proc = ImageProcessor()
    rotated = proc.load_bytes(_png(base, exif=exif))
    expected = proc.load_bytes(_png(base.transpose(Image.Transpose.ROTATE_270)))
    np.testing.assert_array_equal(rotated, expected)


def test_bad_images_raise_data_error_naming_the_file(tmp_path):
    proc = ImageProcessor()
    good = _jpeg(Image.new("RGB", (300, 400), (10, 200, 30)))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good[: len(good) // 2])
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"definitely not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    for path in (truncated, corrupt, empty, tmp_path / "missing.jpg"):
        with pytest.raises(DataError, match=path.name):
            proc.load(path)
    big = tmp_path / "big.jpg"
    big.write_bytes(good)
    with pytest.raises(DataError, match=r"big\.jpg.*max_bytes"):
        ImageProcessor(ImageProcessorConfig(max_bytes=100)).load(big)
    with pytest.raises(DataError, match=r"big\.jpg.*max_pixels"):
        ImageProcessor(ImageProcessorConfig(max_pixels=1000)).load(big)
    with pytest.raises(DataError, match="upload-7"):
        proc.load_bytes(b"garbage", "upload-7")


def test_image_config_validation_and_round_trip():
    with pytest.raises(ConfigError, match="std"):
        ImageProcessorConfig(std=(0.5, 0.0, 0.5))
    with pytest.raises(ConfigError, match="size"):
        ImageProcessorConfig(size=(0, 10))
    with pytest.raises(ConfigError, match="mean"):
        ImageProcessorConfig(mean=(0.5, 0.5))
    proc = ImageProcessor(ImageProcessorConfig(size=(32, 24), mean=(0.4, 0.5, 0.6), pad_value=0))
    again = ImageProcessor.from_dict(_json_round_trip(proc.to_dict()))
    data = _jpeg(Image.new("RGB", (100, 50), (30, 60, 90)))
    np.testing.assert_array_equal(proc.load_bytes(data), again.load_bytes(data))
    x = proc.to_tensor(proc.load_bytes(data)[None])
    assert torch.equal(x, again.to_tensor(again.load_bytes(data)[None]))


def test_to_tensor_normalises_channels_last():
    proc = ImageProcessor(ImageProcessorConfig(mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 0.5)))
    images = np.zeros((2, 64, 48, 3), dtype=np.uint8)
    images[..., 0] = 255
    x = proc.to_tensor(images)
    assert x.shape == (2, 3, 64, 48) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(x[:, 0], torch.tensor(2.0)) and torch.allclose(
        x[:, 1], torch.tensor(-1.0)
    )


def _flat_batch(proc: ImageProcessor, colour: tuple[int, int, int], n: int = 8) -> torch.Tensor:
    h, w = proc.config.size
    return proc.to_tensor(np.broadcast_to(np.array(colour, np.uint8), (n, h, w, 3)).copy())


def test_augment_keeps_colours_and_is_deterministic():
    proc = ImageProcessor()
    pad = proc.normalised_pad()
    white = _flat_batch(proc, (255, 255, 255))
    out = proc.augment(white, torch.Generator().manual_seed(0))
    assert torch.allclose(out, white, atol=1e-5)  # a flat pad-coloured image never changes

    red = _flat_batch(proc, (200, 30, 30))
    out = proc.augment(red, torch.Generator().manual_seed(0))
    assert out.shape == red.shape and out.is_contiguous(memory_format=torch.channels_last)
    # every pixel is a blend of the image colour and the pad colour: no new colours appear
    t = (out - pad) / (red - pad)
    assert torch.allclose(t[:, 0], t[:, 1], atol=1e-4) and torch.allclose(
        t[:, 0], t[:, 2], atol=1e-4
    )
    assert t.min() >= -1e-4 and t.max() <= 1 + 1e-4
    # the dominant colour stays exactly the same
    assert torch.allclose(out.flatten(2).median(dim=2).values, red[:, :, 0, 0], atol=1e-5)

    x = torch.randn(6, 3, 64, 48)
    a = proc.augment(x, torch.Generator().manual_seed(3))
    b = proc.augment(x, torch.Generator().manual_seed(3))
    c = proc.augment(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augment_flip_only_is_exact():
    proc = ImageProcessor(ImageProcessorConfig(max_translate=0.0, max_zoom=0.0))
    x = torch.randn(16, 3, 8, 6)
    out = proc.augment(x, torch.Generator().manual_seed(0))
    flipped = [torch.allclose(o, xi.flip(2), atol=1e-5) for o, xi in zip(out, x, strict=True)]
    same = [torch.allclose(o, xi, atol=1e-5) for o, xi in zip(out, x, strict=True)]
    assert all(f or s for f, s in zip(flipped, same, strict=True))
    assert any(flipped) and any(same)


# ---------------------------------------------------------------------- text
TEXTS = [
    "Red cotton T-shirt for men | Apparel",
    "红色 纯棉 T恤 男款 | 服装",
    "Blue denim jeans for women | Apparel",
    "蓝色 牛仔裤 女款 | 服装",
    "Black leather shoes | Footwear",
    "黑色 皮鞋 | 鞋",
    "Café crème handbag",
] * 3


def test_tokenizer_handles_english_and_chinese():
    proc = TextProcessor(TextProcessorConfig(vocab_size=300, max_length=10)).fit(TEXTS)
    assert proc.fitted and proc.vocab_size >= 10
    ids = proc.encode(["红色 牛仔裤", "", "Red SHOES", "x " * 50, "CAFE creme"])
    assert ids.shape == (5, 10) and ids.dtype == np.int32
    zh = ids[0][ids[0] != 0]
    assert len(zh) == 5 and TextProcessor.unk_id not in zh  # one known token per CJK character
    assert (ids[1] == 0).all()
    assert (ids[3] != 0).all()  # truncated to max_length
    assert TextProcessor.unk_id not in ids[2][ids[2] != 0]
    np.testing.assert_array_equal(
        ids[4], proc.encode(["café crème"])[0]
    )  # lowercase strips accents
    assert proc.decode(ids[0]).replace(" ", "") == "红色牛仔裤"


def test_text_save_load_and_tokenizer_file(tmp_path):
    proc = TextProcessor(TextProcessorConfig(vocab_size=300, max_length=16)).fit(TEXTS)
    proc.save(tmp_path / "tp")
    again = TextProcessor.load(tmp_path / "tp")
    np.testing.assert_array_equal(proc.encode(TEXTS), again.encode(TEXTS))
    assert again.config == proc.config and again.cache_state() == proc.cache_state()
    user = TextProcessor.from_tokenizer_file(tmp_path / "tp" / "tokenizer.json", proc.config)
    np.testing.assert_array_equal(proc.encode(TEXTS), user.encode(TEXTS))
    with pytest.raises(ConfigError, match="not fitted"):
        TextProcessor().encode(["x"])


def test_text_case_sensitive_option():
    proc = TextProcessor(TextProcessorConfig(vocab_size=300, lowercase=False, min_frequency=1))
    proc.fit(TEXTS)
    a, b = proc.encode(["Red", "red"])
    assert not np.array_equal(a, b)


# ---------------------------------------------------------------------- tabular
def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "colour": ["red", "blue", "red", None, "green", "red"],
            "year": [2012, 2013.0, np.nan, 2012, 2012, 2013],
            "price": [10.0, 20.0, None, 30.0, "n/a", 40.0],
            "const": [5, 5, 5, 5, 5, 5],
        }
    )


def test_tabular_fit_transform_unseen_and_missing():
    df = _table()
    proc = TabularProcessor(["colour", "year"], ["price", "const"]).fit(df)
    assert proc.vocab["colour"] == ["red", "blue", "green"]  # by frequency, ties by value
    assert proc.vocab["year"] == ["2012", "2013"]
    assert proc.cardinalities == [4, 3] and proc.num_features == 4
    cat, num = proc.transform(df)
    assert cat.dtype == np.int64 and cat.shape == (6, 2)
    assert num.dtype == np.float32 and num.shape == (6, 4)
    assert cat[:, 0].tolist() == [1, 2, 1, 0, 3, 1]
    assert cat[:, 1].tolist() == [1, 2, 0, 1, 1, 2]
    assert num[:, 1].tolist() == [0, 0, 1, 0, 1, 0]  # price missing flags ("n/a" is missing)
    assert num[2, 0] == 0 and num[4, 0] == 0
    present = num[[0, 1, 3, 5], 0]
    assert abs(present.mean()) < 1e-6 and abs(present.std() - 1) < 1e-5
    assert (num[:, 2] == 0).all() and (num[:, 3] == 0).all()  # std 0 -> 1, nothing missing

    new = pd.DataFrame({"colour": ["pink", "red", None], "year": [1999, "2012", None]})
    new["price"] = [1e12, None, 20.0]
    new["const"] = [5, 5, 5]
    cat, num = proc.transform(new)
    assert cat.tolist() == [[0, 0], [1, 1], [0, 0]]
    assert proc.unseen(new) == [(0, "colour", "pink"), (0, "year", "1999")]
    assert num[0, 0] == proc.clip  # extreme values are clipped
    with pytest.raises(DataError, match="price"):
        proc.transform(df.drop(columns=["price"]))


def test_tabular_round_trip():
    df = _table()
    proc = TabularProcessor(["colour", "year"], ["price", "const"]).fit(df)
    again = TabularProcessor.from_dict(_json_round_trip(proc.to_dict()))
    for a, b in zip(proc.transform(df), again.transform(df), strict=True):
        np.testing.assert_array_equal(a, b)
    assert again.cardinalities == proc.cardinalities
    with pytest.raises(ConfigError):
        TabularProcessor(["a"], ["a"])


# ---------------------------------------------------------------------- labels
def test_label_encoder():
    train = pd.DataFrame(
        {"type": ["shirt", "jeans", None, "shirt"], "year": [2012, 2011, 2012, 2012]}
    )
    enc = LabelEncoder().fit(train, ["type", "year"])
    assert enc.labels == ["type", "year"]
    assert enc.classes == {"type": ["jeans", "shirt"], "year": ["2011", "2012"]}
    assert enc.num_classes("type") == 2
    out = enc.transform(train)
    assert out["type"].dtype == np.int64
    assert out["type"].tolist() == [1, 0, IGNORE_INDEX, 1]
    assert out["year"].tolist() == [1, 0, 1, 1]

    test = pd.DataFrame({"type": ["shirt", "hat", np.nan], "year": [2011.0, 2012.0, 2030.0]})
    out = enc.transform(test)
    assert out["type"].tolist() == [1, -100, -100] and out["year"].tolist() == [0, 1, -100]
    with pytest.raises(DataError, match=r"row 1.*hat"):
        enc.transform(test, strict=True)
    with pytest.raises(DataError, match=r"row id 'B'.*hat"):
        enc.transform(test, strict=True, row_ids=["A", "B", "C"])
    assert enc.inverse("type", np.array([0, 1, -100])) == ["jeans", "shirt", ""]
    assert enc.class_counts(train)["type"].tolist() == [1, 2]

    again = LabelEncoder.from_dict(_json_round_trip(enc.to_dict()))
    for key, value in enc.transform(test).items():
        np.testing.assert_array_equal(value, again.transform(test)[key])
    with pytest.raises(ConfigError, match="unknown label"):
        enc.num_classes("nope")


def test_text_vocabulary_is_deterministic_across_fits() -> None:
    texts = [f"brand{i % 7} men {c} tshirt {i % 3}" for i, c in enumerate("abcdefgh" * 5)]
    texts += ["这个手机很好用", "质量很差，不推荐", "Nike Women Blue Tshirt"]
    first = TextProcessor().fit(texts)
    for _ in range(3):
        again = TextProcessor().fit(list(texts))
        assert again.tokenizer.get_vocab() == first.tokenizer.get_vocab()
    ids = first.encode(["质量很好 nike tshirt"])[0]
    assert (ids[ids > 0] != first.unk_id).all()

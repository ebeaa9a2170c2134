"""TitleGenerator trained for real on the tiny catalogue: learning, save/load, inputs, errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from helpers import make_tiny_catalog
from mmshop.caption import TitleGenerator
from mmshop.caption.model import CaptionModel
from mmshop.caption.vocab import Vocabulary
from mmshop.data import Catalog
from mmshop.errors import DataError, ModelLoadError, QueryError

TINY = {
    "title_column": "title",
    "type_column": "category",
    "colour_column": "colour",
    "min_count": 1,
    "dim": 32,
    "layers": 1,
    "heads": 2,
    "cnn_width": 8,
    "batch_size": 8,
    "max_len": 8,
    "trainer.epochs": 15,
    "trainer.lr": 5e-3,
    "trainer.patience": None,
    "trainer.progress": False,
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    return Catalog.open(make_tiny_catalog(tmp_path_factory.mktemp("cap") / "tiny", n=60))


@pytest.fixture(scope="module")
def generator(catalog: Catalog, tmp_path_factory) -> TitleGenerator:
    tmp = tmp_path_factory.mktemp("gen")
    overrides = {**TINY, "cache_dir": str(tmp / "cache")}
    return TitleGenerator.fit(
        catalog.split("train"), catalog.split("val"), overrides=overrides,
        work_dir=tmp / "work", progress=False,
    )  # fmt: skip


def test_training_learns_titles_from_photos(generator: TitleGenerator, catalog: Catalog) -> None:
    info = generator.info
    assert info["train_rows"] == len(catalog.split("train")) and info["epochs_run"] == 15
    untrained = TitleGenerator(generator.config, generator.vocab, CaptionModel(
        generator.config, len(generator.vocab)))  # fmt: skip
    train = catalog.split("train")
    assert generator.loss(train) < 0.5 * untrained.loss(train)
    scores = generator.evaluate(catalog.split("test"))
    # the category is visible in the photo's colour: the generated titles name it
    assert scores["type_acc"] >= 0.75, scores
    assert scores["rows"] == len(catalog.split("test"))
    assert 0.0 <= scores["bleu4"] <= 1.0 and scores["cider"] >= 0.0


def test_save_load_round_trip_gives_identical_titles(
    generator: TitleGenerator, catalog: Catalog, tmp_path: Path
) -> None:
    photos = [catalog.image_path(i) for i in range(6)]
    generator.save(tmp_path / "gen")
    loaded = TitleGenerator.load(tmp_path / "gen")
    for beams in (1, 3):
        assert loaded.generate(photos, beams=beams) == generator.generate(photos, beams=beams)
    assert loaded.vocab.tokens == generator.vocab.tokens
    (tmp_path / "gen" / "caption.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="checksum"):
        TitleGenerator.load(tmp_path / "gen")
    with pytest.raises(ModelLoadError, match="not found"):
        TitleGenerator.load(tmp_path / "nothing")


def test_every_input_kind_gives_the_same_title(generator: TitleGenerator, catalog: Catalog) -> None:
    path = catalog.image_path(0)
    assert path is not None
    data = path.read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        pil = img.copy()
    titles = generator.generate([data, str(path), path, pil, bytearray(data)], beams=2)
    assert len(set(titles)) == 1 and titles[0]
    assert generator.generate(data, beams=2) == titles[:1]  # one image given bare
    assert len(generator.generate([data], beams=1, max_len=2)[0].split()) <= 2


def test_bad_input_gets_clear_errors(generator: TitleGenerator, tmp_path: Path) -> None:
    good = (tmp_path / "x.jpg").as_posix()
    Image.new("RGB", (10, 10), "red").save(good)
    with pytest.raises(DataError, match="cannot decode image #2"):
        generator.generate([good, b"not an image"])
    with pytest.raises(DataError, match="empty"):
        generator.generate([b""])
    with pytest.raises(DataError, match="not found"):
        generator.generate([tmp_path / "missing.jpg"])
    with pytest.raises(QueryError, match=r"beams must be an integer in 1\.\.10"):
        generator.generate([good], beams=0)
    with pytest.raises(QueryError, match="beams"):
        generator.generate([good], beams=11)
    with pytest.raises(QueryError, match=r"max_len must be an integer in 1\.\.8"):
        generator.generate([good], max_len=50)
    with pytest.raises(QueryError, match="no images"):
        generator.generate([])
    with pytest.raises(QueryError, match="image #1: expected bytes"):
        generator.generate([123])  # type: ignore[list-item]
    strict = generator.config.replace({"image.max_pixels": 1000})
    with pytest.raises(DataError, match="image #1 has too many pixels: 100x100"):
        TitleGenerator(strict, generator.vocab, generator.model).generate(
            [Image.new("RGB", (100, 100))]
        )


def test_time_budget_and_bad_catalogues(catalog: Catalog, tmp_path: Path) -> None:
    overrides = {**TINY, "cache_dir": str(tmp_path / "c"), "max_minutes": 1e-5}
    gen = TitleGenerator.fit(catalog.split("train"), None, overrides=overrides,
                             work_dir=tmp_path / "w", progress=False)  # fmt: skip
    plan = gen.info["budget_plan"]
    assert plan["epochs"] == 1 and plan["steps_per_epoch"] == 1 < plan["full_steps_per_epoch"]
    assert gen.info["epochs_run"] == 1
    assert gen.info["val_rows"] >= 1  # held out of train when no val catalogue is given
    with pytest.raises(DataError, match="no title column 'name'"):
        TitleGenerator.fit(catalog, overrides={**overrides, "title_column": "name"})
    with pytest.raises(DataError, match="at least 2"):
        TitleGenerator.fit(catalog.subset([0]), overrides=overrides)
    assert isinstance(gen.vocab, Vocabulary)

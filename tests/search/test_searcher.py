"""Searcher end to end on the tiny catalogue: queries, filters, bad input, versions, updates."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmshop.data import Catalog
from mmshop.errors import ModelLoadError, QueryError
from mmshop.index import IndexConfig, ModelVersionMismatch, ProductIndex
from mmshop.search import (
    EmbeddingConfig,
    SearchEncoder,
    Searcher,
    build_index,
    evaluate_zero_shot,
)
from mmshop.search import indexing as indexing_module
from mmshop.search.indexing import mix_embeddings

from .conftest import TINY


@pytest.fixture
def searcher(search_setup: dict) -> Searcher:
    return Searcher.open(search_setup["index"])


def test_text_image_and_similar_queries(searcher: Searcher, search_setup: dict) -> None:
    cat = search_setup["catalog"]
    hits = searcher.search_text("red shirt", k=5)
    assert len(hits) == 5 and [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert hits[0].score >= hits[-1].score and set(hits[0].fields) >= {"category", "price"}
    photo = cat.image_path(0)
    by_path = searcher.search_image(photo, k=3)
    by_bytes = searcher.search_image(photo.read_bytes(), k=3)
    assert [h.id for h in by_path] == [h.id for h in by_bytes]
    assert by_path[0].id == cat.ids()[0] and by_path[0].score == pytest.approx(1.0, abs=1e-4)
    like = searcher.similar(cat.ids()[0], k=4)
    assert len(like) == 4 and cat.ids()[0] not in [h.id for h in like]
    for mode in ("hybrid", "lexical"):
        assert searcher.search_text("Red casual shirt", k=3, mode=mode)


def test_filters_keep_k_and_unknowns_fail(searcher: Searcher) -> None:
    hits = searcher.search_text("shirt", k=6, filters={"category": "bag"})
    assert len(hits) == 6 and all(h.fields["category"] == "bag" for h in hits)
    hits = searcher.search_text("shirt", k=3, filters={"price": {"min": 30, "max": 40}})
    assert len(hits) == 3 and all(30 <= h.fields["price"] <= 40 for h in hits)
    with pytest.raises(QueryError, match="unknown filter field 'colr'"):
        searcher.search_text("shirt", filters={"colr": "red"})
    with pytest.raises(QueryError, match="unknown value 'purple'"):
        searcher.search_text("shirt", filters={"colour": "purple"})


def test_bad_queries_are_clear_errors(searcher: Searcher, tmp_path: Path) -> None:
    for empty in ("", "   ", None):
        with pytest.raises(QueryError, match="empty"):
            searcher.search_text(empty)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="too long"):
        searcher.search_text("x" * 5000)
    for k in (0, 1001, -3):
        with pytest.raises(QueryError, match="k must be"):
            searcher.search_text("shirt", k=k)
    with pytest.raises(QueryError, match="mode"):
        searcher.search_text("shirt", mode="magic")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(QueryError, match="cannot use the query image"):
        searcher.search_image(bad)
    with pytest.raises(QueryError, match="not found"):
        searcher.search_image(tmp_path / "missing.jpg")
    with pytest.raises(QueryError, match="too large"):
        searcher.search_image(b"\xff" * 10_000_001)
    big = io.BytesIO()
    Image.new("RGB", (9000, 9000)).save(big, format="PNG")  # 81 MP: decompression-bomb guard
    with pytest.raises(QueryError, match="too many pixels"):
        searcher.search_image(big.getvalue())
    with pytest.raises(QueryError, match="not in the index"):
        searcher.similar("no-such-id")


def test_model_version_mismatch_is_refused(search_setup: dict, tmp_path: Path) -> None:
    cat = search_setup["catalog"]
    other = SearchEncoder.load(search_setup["model"])
    other.training_info["note"] = "retrained"  # any change gives a new version
    retrained = other.save(tmp_path / "retrained")
    with pytest.raises(ModelVersionMismatch, match="rebuild"):
        Searcher.open(search_setup["index"], model_dir=retrained)
    # moving index and model together keeps working (relative model path)
    shutil.copytree(search_setup["model"], tmp_path / "pkg" / "models" / "search")
    shutil.copytree(search_setup["index"], tmp_path / "pkg" / "index")
    assert Searcher.open(tmp_path / "pkg" / "index").search_text("bag", k=2)
    assert len(cat) == 64


def test_missing_or_corrupt_index_folder(search_setup: dict, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        Searcher.open(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(search_setup["index"], broken)
    (broken / "ids.json").write_text("[]")
    with pytest.raises(ModelLoadError, match="corrupt"):
        Searcher.open(broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not an mmshop index"):
        Searcher.open(tmp_path / "empty")


def test_interrupted_build_leaves_no_index(search_setup: dict, tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}
    real = ProductIndex.add

    def crash_midway(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise KeyboardInterrupt  # e.g. Ctrl-C after the vectors were added, before saving

    monkeypatch.setattr(ProductIndex, "add", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        build_index(search_setup["model"], search_setup["catalog"], tmp_path / "idx",
                    cache_dir=search_setup["cache"], progress=False)  # fmt: skip
    monkeypatch.undo()
    from mmshop.index.metadata import MetadataStore

    def crash_in_save(self, directory):
        calls["n"] += 1
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(MetadataStore, "save", crash_in_save)
    with pytest.raises(OSError, match="simulated"):
        build_index(search_setup["model"], search_setup["catalog"], tmp_path / "idx",
                    cache_dir=search_setup["cache"], progress=False)  # fmt: skip
    assert calls["n"] == 1
    assert not (tmp_path / "idx").exists() and not list(tmp_path.iterdir())


def test_add_update_delete_through_the_searcher(search_setup: dict, tmp_path: Path) -> None:
    shutil.copytree(search_setup["index"], tmp_path / "index")
    shutil.copytree(search_setup["model"], tmp_path / "models" / "search")
    s = Searcher.open(tmp_path / "index")
    cat: Catalog = search_setup["catalog"]
    first = cat.ids()[0]
    assert s.delete([first]) == 1
    assert first not in [h.id for h in s.search_image(cat.image_path(0), k=5)]
    s.add(cat.subset([0]), cache_dir=search_setup["cache"])
    assert s.search_image(cat.image_path(0), k=1)[0].id == first
    s.save()
    again = Searcher.open(tmp_path / "index")
    assert len(again.index) == len(cat)
    assert again.search_image(cat.image_path(0), k=1)[0].id == first


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_other_index_kinds_and_embeddings(search_setup: dict, tmp_path: Path, kind: str) -> None:
    cfg = IndexConfig(kind=kind, ivf_nlist=2, pq_bits=4, pq_m=8)
    emb = EmbeddingConfig(source="mix", image_weight=0.5)
    built = build_index(
        search_setup["model"],
        search_setup["catalog"],
        tmp_path / "idx",
        emb,
        cfg,
        ["category", "price"],
        cache_dir=search_setup["cache"],
        progress=False,
    )
    assert built.fields == {"category": "categorical", "price": "numeric"}
    s = Searcher.open(tmp_path / "idx")
    assert s.index.config.kind == kind and s.index.info["embedding"]["source"] == "mix"
    hits = s.search_text("watch", k=5, filters={"category": "watch"})
    assert len(hits) == 5 and {h.fields["category"] for h in hits} == {"watch"}


def test_mix_embeddings_fall_back_to_text_without_photo() -> None:
    image = np.array([[1.0, 0.0], [1.0, 0.0]], np.float32)
    text = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    mask = np.array([True, False])
    mixed = mix_embeddings(image, text, mask, EmbeddingConfig(source="mix", image_weight=0.5))
    np.testing.assert_allclose(mixed[0], [2**-0.5, 2**-0.5], atol=1e-6)
    np.testing.assert_allclose(mixed[1], [0, 1])
    only = mix_embeddings(image, text, mask, EmbeddingConfig(source="image"))
    np.testing.assert_allclose(only, [[1, 0], [0, 1]])
    assert indexing_module.default_filter_fields is not None


def test_zero_shot(searcher: Searcher, search_setup: dict) -> None:
    labels = ["shirt", "shoe", "bag", "watch"]
    cat = search_setup["catalog"]
    probs = searcher.zero_shot(labels, product_ids=cat.ids()[:3])
    assert len(probs) == 3 and all(abs(sum(p.values()) - 1) < 1e-5 for p in probs)
    one = searcher.zero_shot(labels, image=cat.image_path(0))
    assert set(one[0]) == set(labels)
    result = evaluate_zero_shot(search_setup["encoder"], cat, "category",
                                cache_dir=search_setup["cache"])  # fmt: skip
    assert result["n"] == 64 and result["labels"] == 4 and 0 <= result["accuracy"] <= 1
    with pytest.raises(QueryError, match="either"):
        searcher.zero_shot(labels)
    assert TINY["embed_dim"] == 32


def test_batched_queries_equal_single_ones(searcher: Searcher, search_setup: dict) -> None:
    queries = ["red shirt", "blue shoes", "a green bag", "red shirt"]
    batched = searcher.search_texts(queries, k=6)
    for q, hits in zip(queries, batched, strict=True):
        assert [h.id for h in hits] == [h.id for h in searcher.search_text(q, 6)]
        assert [h.score for h in hits] == pytest.approx(
            [h.score for h in searcher.search_text(q, 6)], abs=1e-5
        )
    ids = [str(i) for i in searcher.index.ids[:3]]
    for pid, hits in zip(ids, searcher.similar_many(ids, k=5), strict=True):
        assert [h.id for h in hits] == [h.id for h in searcher.similar(pid, 5)]
        assert pid not in {h.id for h in hits}
    assert searcher.search_texts([], k=3) == []
    with pytest.raises(QueryError, match="empty"):
        searcher.search_texts(["ok", "  "], k=3)

"""ProductIndex on synthetic vectors: persistence, updates, filters, index kinds, hybrid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmshop.errors import ConfigError, ModelLoadError, QueryError
from mmshop.index import (
    IndexConfig,
    ModelVersionMismatch,
    ProductIndex,
    parse_filters,
    reciprocal_rank_fusion,
)
from mmshop.index.metadata import MetadataStore

COLOURS = ["Black", "White", "Navy Blue"]
CATS = ["Footwear", "Apparel", "Accessories"]


def _data(n: int = 300, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"sku{i}" for i in range(n)]
    attrs = pd.DataFrame(
        {
            "masterCategory": [CATS[i % 3] for i in range(n)],
            "baseColour": [COLOURS[(i // 3) % 3] for i in range(n)],
            "price": [float(i) for i in range(n)],
        }
    )
    titles = [f"{attrs.baseColour[i]} {attrs.masterCategory[i]} item {i}" for i in range(n)]
    return ids, vectors, titles, attrs


def _index(kind: str = "flat", n: int = 300, **cfg) -> tuple[ProductIndex, np.ndarray]:
    ids, vectors, titles, attrs = _data(n)
    fields = MetadataStore.infer_kinds(attrs, list(attrs.columns))
    index = ProductIndex.build(
        ids, vectors, titles, attrs, fields, IndexConfig(kind=kind, **cfg), {"model_version": "v1"}
    )
    return index, vectors


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_exact_search_finds_itself_and_matches_numpy() -> None:
    index, vectors = _index()
    hits = index.search(vectors[7], k=5)
    assert hits[0].id == "sku7" and hits[0].rank == 1
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    expected = np.argsort(
        -(vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ _unit(vectors[7])
    )
    assert [h.id for h in hits] == [f"sku{i}" for i in expected[:5]]
    assert hits[0].fields == {"masterCategory": "Apparel", "baseColour": "Navy Blue", "price": 7.0}
    assert index.fields == {
        "masterCategory": "categorical",
        "baseColour": "categorical",
        "price": "numeric",
    }


def test_save_load_round_trip(tmp_path: Path) -> None:
    index, vectors = _index()
    index.save(tmp_path / "idx")
    loaded = ProductIndex.load(tmp_path / "idx", model_version="v1")
    assert len(loaded) == 300 and loaded.model_version == "v1"
    a = [(h.id, round(h.score, 5)) for h in index.search(vectors[3], 10, {"baseColour": "Black"})]
    b = [(h.id, round(h.score, 5)) for h in loaded.search(vectors[3], 10, {"baseColour": "Black"})]
    assert a == b
    assert not list(tmp_path.glob(".idx*")), "no temp folders left behind"


def test_model_version_mismatch_is_refused(tmp_path: Path) -> None:
    index, _ = _index()
    index.save(tmp_path / "idx")
    with pytest.raises(ModelVersionMismatch, match=r"v1.*v2|rebuild"):
        ProductIndex.load(tmp_path / "idx", model_version="v2")


def test_missing_and_corrupt_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found"):
        ProductIndex.load(tmp_path / "nope")
    index, _ = _index()
    index.save(tmp_path / "idx")
    with open(tmp_path / "idx" / "vectors.faiss", "r+b") as fh:
        fh.seek(100)
        fh.write(b"garbage!")
    with pytest.raises(ModelLoadError, match="corrupt"):
        ProductIndex.load(tmp_path / "idx")
    (tmp_path / "idx2").mkdir()
    with pytest.raises(ModelLoadError):
        ProductIndex.load(tmp_path / "idx2")


def test_interrupted_save_leaves_nothing_half_written(tmp_path: Path, monkeypatch) -> None:
    index, _ = _index()
    target = tmp_path / "idx"
    boom = RuntimeError("disk full (simulated)")

    def fail(*args, **kwargs):
        raise boom

    monkeypatch.setattr(MetadataStore, "save", fail)  # fails after vectors were written
    with pytest.raises(RuntimeError, match="simulated"):
        index.save(target)
    assert not target.exists()
    assert not list(tmp_path.iterdir()), "temp folder removed"
    monkeypatch.undo()
    index.save(target)
    index.delete(["sku1"])
    monkeypatch.setattr(MetadataStore, "save", fail)
    with pytest.raises(RuntimeError):
        index.save(target)
    assert len(ProductIndex.load(target)) == 300, "the previous index is intact"


def test_add_update_delete_without_rebuild(tmp_path: Path) -> None:
    index, vectors = _index()
    faiss_before = index.vector.index
    new = _unit(np.ones(16, dtype=np.float32))
    index.add(
        ["new1"],
        new[None],
        ["Brand new shoe"],
        pd.DataFrame({"masterCategory": ["Footwear"], "price": [5.0]}),
    )
    assert index.search(new, 1)[0].id == "new1"
    with pytest.raises(ConfigError, match="already"):
        index.add(["new1"], new[None])
    index.upsert(["sku5"], -new[None], ["moved"], pd.DataFrame({"masterCategory": ["Apparel"]}))
    hit = index.search(-new, 1)[0]
    assert hit.id == "sku5" and hit.title == "moved"
    assert [h.id for h in index.search(vectors[5], 300)].count("sku5") == 1
    assert index.delete(["sku7"]) == 1
    assert "sku7" not in [h.id for h in index.search(vectors[7], 10)]
    assert len(index.search(vectors[7], 10)) == 10
    with pytest.raises(QueryError, match="not in the index"):
        index.delete(["sku7"])
    assert index.vector.index is faiss_before, "same FAISS index object: no rebuild"
    assert len(index) == 300
    index.save(tmp_path / "idx")
    loaded = ProductIndex.load(tmp_path / "idx")
    assert len(loaded) == 300 and "sku7" not in [h.id for h in loaded.search(vectors[7], 10)]
    assert loaded.search(new, 1)[0].id == "new1"
    loaded.compact()
    assert len(loaded.ids) == 300 and loaded.alive.all()
    assert loaded.search(-new, 1)[0].id == "sku5"
    assert loaded.search(vectors[9], 1, {"price": {"min": 9, "max": 9}})[0].id == "sku9"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_filters_keep_top_k_filled(kind: str) -> None:
    extra = {"ivf_nlist": 4, "pq_bits": 4, "brute_force_limit": 0} if kind == "ivfpq" else {}
    if kind == "hnsw":
        extra = {"hnsw_m": 8, "ef_search": 8, "brute_force_limit": 0}
    index, vectors = _index(kind, **extra)
    q = vectors[0]
    # a selective filter: 1/9 of the items match both conditions
    hits = index.search(q, 20, {"masterCategory": "Footwear", "baseColour": "Navy Blue"})
    assert len(hits) == 20
    assert all(
        h.fields["masterCategory"] == "Footwear" and h.fields["baseColour"] == "Navy Blue"
        for h in hits
    )
    hits = index.search(q, 10, {"price": {"min": 100, "max": 104.5}})
    assert sorted(h.fields["price"] for h in hits) == [100.0, 101.0, 102.0, 103.0, 104.0]
    hits = index.search(q, 10, {"baseColour": ["black", "White"]})
    assert len(hits) == 10 and {h.fields["baseColour"] for h in hits} <= {"Black", "White"}
    if kind == "hnsw":  # the graph index still finds the exact nearest neighbour
        assert index.search(vectors[42], 1)[0].id == "sku42"


def test_hnsw_and_ivfpq_recall_against_flat() -> None:
    flat, vectors = _index("flat", n=2000)
    for kind, cfg in (("hnsw", {}), ("ivfpq", {"ivf_nlist": 16, "pq_m": 8, "nprobe": 8})):
        other, _ = _index(kind, n=2000, **cfg)
        recall = np.mean(
            [
                len(
                    {h.id for h in flat.search(vectors[i], 10)}
                    & {h.id for h in other.search(vectors[i], 10)}
                )
                / 10
                for i in range(0, 2000, 100)
            ]
        )
        assert recall >= 0.7, (kind, recall)


def test_ivfpq_needs_enough_vectors() -> None:
    with pytest.raises(ConfigError, match="at least"):
        _index("ivfpq", n=50)


def test_unknown_filters_and_bad_k_are_clear_errors() -> None:
    index, vectors = _index()
    with pytest.raises(QueryError, match=r"unknown filter field 'colour'.*baseColour"):
        index.search(vectors[0], 5, {"colour": "Black"})
    with pytest.raises(QueryError, match=r"unknown value 'Blak'.*Black"):
        index.search(vectors[0], 5, {"baseColour": "Blak"})
    with pytest.raises(QueryError, match="numbers"):
        index.search(vectors[0], 5, {"price": {"min": "cheap"}})
    for k in (0, -1, 100_000, 2.5, True):
        with pytest.raises(QueryError, match="k must be"):
            index.search(vectors[0], k)
    with pytest.raises(ConfigError, match="dimension"):
        index.search(np.zeros(3, np.float32), 5)
    assert len(index.search(vectors[0], 1000)) == 300, "k above the catalogue size returns all"


def test_parse_filters() -> None:
    assert parse_filters(
        ["masterCategory=Footwear", "baseColour=Black", "baseColour=Navy Blue"]
    ) == {
        "masterCategory": "Footwear",
        "baseColour": ["Black", "Navy Blue"],
    }
    assert parse_filters(["price=10..50"]) == {"price": {"min": "10", "max": "50"}}
    assert parse_filters(["price>=10", "price<=20"]) == {"price": {"min": "10", "max": "20"}}
    assert parse_filters(["price=..20"]) == {"price": {"min": None, "max": "20"}}
    for bad in ("novalue", "=x", "field="):
        with pytest.raises(QueryError):
            parse_filters([bad])


def test_hybrid_rrf_ordering() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=4, rrf_k=60)
    order = [slot for slot, _ in fused]
    # 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62; 4: 1/63
    assert order == [1, 3, 2, 4]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    index, vectors = _index()
    # only item 250's title has the term "250"; the query vector is item 3's
    hits = index.search_hybrid(vectors[3], "250", k=5)
    assert [h.id for h in hits[:2]] == ["sku3", "sku250"]  # tied at 1/61: vector list first
    assert (hits[0].vector_rank, hits[0].lexical_rank) == (1, None)
    assert hits[1].lexical_rank == 1
    lex = index.search_lexical("item 250", k=3)
    assert lex[0].id == "sku250"
    index.delete(["sku250"])
    assert "sku250" not in [h.id for h in index.search_lexical("item 250", k=3)]
    assert all(
        h.fields["masterCategory"] == "Footwear"
        for h in index.search_hybrid(vectors[3], "Apparel", 5, {"masterCategory": "Footwear"})
    )


def test_index_json_records_config_and_model(tmp_path: Path) -> None:
    index, _ = _index("hnsw")
    index.save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta["config"]["kind"] == "hnsw" and meta["info"]["model_version"] == "v1"
    assert meta["products"] == 300
    for name in ("vectors.faiss", "vectors.npy", "ids.json", "alive.npy", "manifest.json"):
        assert (tmp_path / "idx" / name).exists()


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_search_many_equals_one_by_one(kind: str) -> None:
    index, vectors = _index(kind)
    queries = vectors[[3, 40, 41, 299]] + 0.01
    exclude = [None, "sku40", None, "sku299"]
    batched = index.search_many(queries, k=7, exclude=exclude)
    for q, skip, hits in zip(queries, exclude, batched, strict=True):
        single = index.search(q, 7, exclude=[skip] if skip else ())
        assert [h.id for h in hits] == [h.id for h in single]
        assert [h.rank for h in hits] == list(range(1, 8))
        assert skip not in {h.id for h in hits}
    index.delete(["sku3"])  # tombstones: answered one by one, still equal
    after = index.search_many(queries[:1], k=5)[0]
    assert "sku3" not in {h.id for h in after}
    assert [h.id for h in after] == [h.id for h in index.search(queries[0], 5)]
    assert index.search_many(queries[:0], k=5) == []
    with pytest.raises(QueryError, match="exclude"):
        index.search_many(queries, k=5, exclude=[None])


def test_flat_product_search_matches_faiss_scan() -> None:
    from mmshop.index.config import IndexConfig
    from mmshop.index.vector import BLAS_MIN_QUERIES, VectorIndex

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 8)).astype(np.float32)
    index = VectorIndex(8, IndexConfig(kind="flat"))
    index.add(vectors)
    queries = rng.normal(size=(BLAS_MIN_QUERIES + 3, 8)).astype(np.float32)
    scores, slots = index.search(queries, 5)  # many queries: the BLAS product path
    ref_scores, ref_slots = index.index.search(queries, 5)  # faiss's own scan
    assert np.array_equal(slots, ref_slots)
    assert np.allclose(scores, ref_scores, atol=1e-5)
    wide_scores, wide_slots = index.search(queries, 60)  # k beyond the corpus: padded like faiss
    ref_scores, ref_slots = index.index.search(queries, 60)
    assert np.array_equal(wide_slots, ref_slots)
    assert np.array_equal(wide_scores[:, 50:], ref_scores[:, 50:])

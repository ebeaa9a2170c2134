"""Feature cache (build, hit, rebuild, key) and batch iteration against the naive baseline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from mmshop.data.cache import CachedArrays, FeatureCache, encode_catalog
from mmshop.data.dataset import BatchIterator, NaiveDataset, naive_collate
from mmshop.data.processors import (
    ImageProcessor,
    ImageProcessorConfig,
    LabelEncoder,
    TabularProcessor,
    TextProcessor,
    TextProcessorConfig,
)
from mmshop.errors import ConfigError

N = 23
SIZE = (16, 12)


@dataclass
class StubCatalog:
    """Just the part of ``mmshop.data.catalog.Catalog`` the cache and datasets use."""

    df: pd.DataFrame
    root: Path
    roles: SimpleNamespace = field(
        default_factory=lambda: SimpleNamespace(
            id="id",
            image="image",
            text=["title", "brand"],
            categorical=["colour"],
            numeric=["price"],
        )
    )

    def __len__(self) -> int:
        return len(self.df)

    def image_path(self, i: int) -> Path | None:
        value = self.df["image"].iloc[i]
        return None if pd.isna(value) else self.root / value

    def texts(self) -> list[str]:
        cols = self.df[self.roles.text].fillna("").astype(str)
        return [" | ".join(v for v in row if v) for row in cols.itertuples(index=False)]

    @property
    def fingerprint(self) -> str:
        blob = pd.util.hash_pandas_object(self.df, index=True).to_numpy().tobytes()
        return hashlib.sha256(blob).hexdigest()


@pytest.fixture
def catalog(tmp_path: Path) -> StubCatalog:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        name = f"images/{i}.jpg"
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        Image.new("RGB", (30 + i, 40), colour).save(path, "JPEG")
        rows.append(
            {
                "id": f"p{i}",
                "image": name,
                "title": f"product {i} {'红色' if i % 2 else 'blue'}",
                "brand": "acme" if i % 3 else None,
                "colour": ["red", "blue", None][i % 3],
                "price": float(i) if i % 4 else None,
                "kind": ["a", "b", "c"][i % 3] if i != 5 else None,
            }
        )
    (tmp_path / "images" / "2.jpg").write_bytes(b"broken")  # undecodable
    rows[3]["image"] = None  # no image
    rows[4]["title"] = ""  # no text at all
    rows[4]["brand"] = None
    return StubCatalog(pd.DataFrame(rows), tmp_path)


@dataclass
class Procs:
    image: ImageProcessor
    text: TextProcessor
    tabular: TabularProcessor


class CountingImageProcessor(ImageProcessor):
    calls = 0

    def load(self, path):
        CountingImageProcessor.calls += 1
        return super().load(path)


@pytest.fixture
def procs(catalog: StubCatalog) -> Procs:
    image = CountingImageProcessor(ImageProcessorConfig(size=SIZE))
    text = TextProcessor(TextProcessorConfig(vocab_size=100, max_length=8)).fit(catalog.texts())
    tabular = TabularProcessor(["colour"], ["price"]).fit(catalog.df)
    return Procs(image, text, tabular)


def _build(cache: FeatureCache, catalog, p: Procs) -> CachedArrays:
    return cache.build(catalog, p.image, p.text, p.tabular, progress=False, num_threads=2)


def _assert_same(a: CachedArrays, b: CachedArrays) -> None:
    assert a.ids == b.ids and a.key == b.key and a.problems == b.problems
    for name in ("image", "image_mask", "text", "text_mask", "tabular_cat", "tabular_num"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))


# ---------------------------------------------------------------------- cache
def test_build_contents(tmp_path, catalog, procs):
    arrays = _build(FeatureCache(tmp_path / "cache"), catalog, procs)
    assert len(arrays) == N and arrays.ids[:3] == ["p0", "p1", "p2"]
    assert arrays.image.shape == (N, *SIZE, 3) and arrays.image.dtype == np.uint8
    assert isinstance(arrays.image, np.memmap)
    assert arrays.image_mask.dtype == bool and not arrays.image_mask[[2, 3]].any()
    assert arrays.image_mask.sum() == N - 2
    assert (arrays.image[3] == 255).all()  # missing image stored blank
    assert [(p[0], p[1]) for p in arrays.problems] == [("p2", "image")]
    assert "2.jpg" in arrays.problems[0][2]
    assert arrays.text.shape == (N, 8) and arrays.text.dtype == np.int32
    assert arrays.text_mask.tolist() == [i != 4 for i in range(N)]
    assert arrays.tabular_cat.shape == (N, 1) and arrays.tabular_num.shape == (N, 2)
    assert arrays.modalities == ["image", "text", "tabular"]
    assert sorted(p.name for p in (tmp_path / "cache" / arrays.key).iterdir()) == [
        "image.u8",
        "image_mask.npy",
        "meta.json",
        "tabular_cat.npy",
        "tabular_mask.npy",
        "tabular_num.npy",
        "text.npy",
        "text_mask.npy",
    ]
    _assert_same(arrays, encode_catalog(catalog, procs.image, procs.text, procs.tabular))


def test_second_build_hits_cache_without_decoding(tmp_path, catalog, procs):
    first = _build(FeatureCache(tmp_path / "cache"), catalog, procs)
    CountingImageProcessor.calls = 0
    cache = FeatureCache(tmp_path / "cache")
    second = _build(cache, catalog, procs)
    assert CountingImageProcessor.calls == 0 and cache.hits == 1 and cache.misses == 0
    _assert_same(first, second)


@pytest.mark.parametrize("damage", ["truncate_image", "delete_npy", "bad_meta", "wrong_shape"])
def test_corrupt_cache_is_rebuilt(tmp_path, catalog, procs, damage):
    first = _build(FeatureCache(tmp_path / "cache"), catalog, procs)
    first.image = np.array(first.image)  # detach from the file we are about to damage
    key_dir = tmp_path / "cache" / first.key
    if damage == "truncate_image":
        (key_dir / "image.u8").write_bytes(b"\0" * 10)
    elif damage == "delete_npy":
        (key_dir / "text.npy").unlink()
    elif damage == "bad_meta":
        (key_dir / "meta.json").write_text("{not json")
    else:
        np.save(key_dir / "tabular_num.npy", np.zeros((N, 5), np.float32))
    CountingImageProcessor.calls = 0
    cache = FeatureCache(tmp_path / "cache")
    rebuilt = _build(cache, catalog, procs)
    assert cache.misses == 1 and CountingImageProcessor.calls == N - 1  # all but the None path
    _assert_same(first, rebuilt)


def test_cache_key_tracks_processor_state(catalog, procs):
    cache = FeatureCache("unused")
    base = cache.key(catalog, procs.image, procs.text, procs.tabular)
    other_size = ImageProcessor(ImageProcessorConfig(size=(20, 12)))
    assert cache.key(catalog, other_size, procs.text, procs.tabular) != base
    longer = TextProcessor(TextProcessorConfig(vocab_size=100, max_length=9)).fit(catalog.texts())
    assert cache.key(catalog, procs.image, longer, procs.tabular) != base
    tab = TabularProcessor(["colour"], ["price"]).fit(catalog.df.iloc[:10])
    assert cache.key(catalog, procs.image, procs.text, tab) != base
    assert cache.key(catalog, procs.image, procs.text, None) != base
    # normalisation and augmentation settings do not change the cached uint8 arrays
    same = ImageProcessor(ImageProcessorConfig(size=SIZE, augment=False, mean=(0.1, 0.2, 0.3)))
    assert cache.key(catalog, same, procs.text, procs.tabular) == base
    changed = StubCatalog(catalog.df.assign(price=catalog.df["price"] + 1), catalog.root)
    assert cache.key(changed, procs.image, procs.text, procs.tabular) != base


def test_cached_arrays_defaults():
    arrays = CachedArrays(text=np.array([[3, 0], [0, 0]], dtype=np.int32))
    assert arrays.ids == ["0", "1"] and arrays.text_mask.tolist() == [True, False]
    assert arrays.image_mask.tolist() == [False, False] and arrays.modalities == ["text"]


# ---------------------------------------------------------------------- batches
@pytest.fixture
def arrays(tmp_path, catalog, procs) -> CachedArrays:
    return _build(FeatureCache(tmp_path / "cache"), catalog, procs)


@pytest.fixture
def labels(catalog) -> dict[str, np.ndarray]:
    return LabelEncoder().fit(catalog.df, ["kind"]).transform(catalog.df)


def test_batches_follow_the_contract(arrays, procs, labels):
    it = BatchIterator(arrays, labels, batch_size=5, shuffle=False, image_processor=procs.image)
    batches = list(it)
    assert len(it) == len(batches) == 5
    b = batches[0]
    assert set(b) == {
        "image",
        "text",
        "tabular_cat",
        "tabular_num",
        "mask:image",
        "mask:text",
        "mask:tabular",
        "labels",
    }
    assert b["image"].shape == (5, 3, *SIZE) and b["image"].dtype == torch.float32
    assert b["image"].is_contiguous(memory_format=torch.channels_last)
    assert b["text"].shape == (5, 8) and b["text"].dtype == torch.int64
    assert b["tabular_cat"].dtype == torch.int64 and b["tabular_num"].dtype == torch.float32
    for key in ("mask:image", "mask:text", "mask:tabular"):
        assert b[key].dtype == torch.bool and b[key].shape == (5,)
    assert b["mask:image"].tolist() == [True, True, False, False, True]
    assert b["mask:text"].tolist() == [True, True, True, True, False]
    assert b["labels"]["kind"].dtype == torch.int64
    assert batches[1]["labels"]["kind"][0].item() == -100  # row 5 has no label
    assert batches[-1]["image"].shape[0] == N - 20


def test_only_present_modalities_and_required_processor(arrays, procs):
    text_only = CachedArrays(text=arrays.text, ids=arrays.ids)
    b = next(iter(BatchIterator(text_only, None, batch_size=4, shuffle=True)))
    assert set(b) == {"text", "mask:text", "labels"} and b["labels"] == {}
    with pytest.raises(ConfigError, match="image_processor"):
        BatchIterator(arrays, None, batch_size=4, shuffle=False)


def test_shuffle_is_deterministic_and_covers_every_row(arrays, procs, labels):
    def make(seed: int) -> BatchIterator:
        return BatchIterator(
            arrays, labels, 4, shuffle=True, seed=seed, image_processor=procs.image
        )

    def rows(it: BatchIterator) -> list[int]:
        return np.concatenate(list(it.iter_indices())).tolist()

    a, b = make(1), make(1)
    assert rows(a) == rows(b)
    assert sorted(rows(a)) == list(range(N))
    epoch0 = rows(a)
    a.set_epoch(1)
    assert rows(a) != epoch0 and sorted(rows(a)) == list(range(N))
    assert rows(make(2)) != epoch0
    # the batches carry exactly the rows iter_indices reports
    labels_seen = torch.cat([batch["labels"]["kind"] for batch in a]).numpy()
    np.testing.assert_array_equal(labels_seen, labels["kind"][rows(a)])

    subset = BatchIterator(
        arrays, labels, 4, shuffle=True, indices=np.arange(3, 13), image_processor=procs.image
    )
    assert sorted(rows(subset)) == list(range(3, 13)) and len(subset) == 3


def test_augmentation_is_seeded_per_epoch(arrays, procs):
    def first_images(seed: int, epoch: int) -> torch.Tensor:
        it = BatchIterator(
            arrays, None, 8, shuffle=False, seed=seed, image_processor=procs.image, augment=True
        )
        it.set_epoch(epoch)
        return next(iter(it))["image"]

    plain = next(iter(BatchIterator(arrays, None, 8, shuffle=False, image_processor=procs.image)))
    assert torch.equal(first_images(0, 0), first_images(0, 0))
    assert not torch.equal(first_images(0, 0), first_images(0, 1))
    assert not torch.equal(first_images(0, 0), plain["image"])


def test_drop_modalities(arrays, procs):
    it = BatchIterator(
        arrays,
        None,
        N,
        shuffle=False,
        image_processor=procs.image,
        drop_modalities=("image", "tabular"),
    )
    b = next(iter(it))
    assert not b["mask:image"].any() and not b["mask:tabular"].any()
    assert b["mask:text"].sum() == N - 1
    assert torch.allclose(b["image"], procs.image.normalised_pad().expand(N, 3, *SIZE))
    assert (b["tabular_cat"] == 0).all() and (b["tabular_num"][:, 1::2] == 1).all()
    with pytest.raises(ConfigError, match="audio"):
        BatchIterator(arrays, None, 4, shuffle=False, drop_modalities=("audio",))


def test_naive_dataset_matches_cached_batches(arrays, catalog, procs, labels):
    ds = NaiveDataset(catalog, procs.image, procs.text, procs.tabular, labels=labels)
    assert len(ds) == N
    rows = [0, 2, 3, 4, 7, 11]
    naive = naive_collate([ds[i] for i in rows])
    it = BatchIterator(arrays, labels, 4, shuffle=False, image_processor=procs.image)
    cached = it.batch(np.array(rows))
    assert set(naive) == set(cached)
    for key, value in cached.items():
        if key == "labels":
            assert torch.equal(naive["labels"]["kind"], value["kind"])
        else:
            assert naive[key].dtype == value.dtype and torch.equal(naive[key], value), key


def test_meta_json_is_plain_json(arrays, tmp_path):
    meta = json.loads((tmp_path / "cache" / arrays.key / "meta.json").read_text())
    assert meta["rows"] == N and meta["image_shape"] == [N, *SIZE, 3]

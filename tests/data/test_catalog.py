"""Catalog loading, role inference, validation/quarantine, splits, labels and fingerprint."""

from __future__ import annotations

import csv
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import CATEGORY_RGB, TINY_COLUMNS, tiny_rows, write_catalog_csv, write_jpeg
from mmshop.data import Catalog, ColumnRoles, Issue, ValidationReport, infer_roles, seeded_split
from mmshop.errors import ConfigError, DataError


def _build(tmp_path: Path, n: int = 12, edit=None, columns=TINY_COLUMNS) -> Path:
    """Tiny catalogue whose rows can be edited before writing: ``edit(rows, folder)``."""
    folder = tmp_path / "cat"
    rows = tiny_rows(n)
    for k, row in enumerate(rows):
        write_jpeg(folder / row["image"], CATEGORY_RGB[row["category"]], seed=k)
    if edit is not None:
        edit(rows, folder)
    return write_catalog_csv(folder / "products.csv", rows, columns)


def _codes(cat: Catalog) -> dict[str, str]:
    return {i.row_id: i.code for i in cat.report.issues}


# ---------------------------------------------------------------- roles
def test_tiny_catalog_roles_and_types(tiny_catalog: Catalog, tiny_catalog_csv: Path) -> None:
    cat = tiny_catalog
    assert len(cat) == 40
    assert cat.roles.id == "id" and cat.roles.image == "image"
    assert cat.roles.text == ["title"]
    assert cat.roles.categorical == ["colour", "category", "style"]
    assert cat.roles.numeric == ["price"]
    assert cat.roles.split == "split"
    assert cat.ids()[:2] == ["p000", "p001"]
    assert cat.df["price"].dtype == float
    assert list(cat.df.index) == list(range(40))
    assert cat.root == tiny_catalog_csv.parent.resolve()
    assert cat.source == str(tiny_catalog_csv)
    path = cat.image_path(3)
    assert path is not None and path.is_absolute() and path.is_file()
    assert cat.report.n_kept == 40 and not cat.report.issues


def test_infer_roles_rules() -> None:
    df = pd.DataFrame(
        {
            "code": ["a1", "a2", "a3", "a4"],
            "pic": ["x/1.PNG", "x/2.webp", "x/3.jpeg", "x/4.jpg"],
            "desc": ["a long red shirt", "blue shoes for men", "green bag", "old watch here"],
            "名前": ["赤いシャツです", "青い靴と靴下", "緑色のかばん", "赤いシャツです"],
            "size": [1, 2, 2, 1],
            "weight": [1.5, 2.25, 3.0, 9.75],
            "flag": [True, False, True, True],
            "brand": ["acme", "acme", "zeta", "acme"],
            "label": ["x", "y", "x", "y"],
            "Split": ["train", "val", "test", "train"],
        }
    )
    roles = infer_roles(df, exclude=["label"])
    assert roles.id == "code"  # unique single-token first column
    assert roles.image == "pic"
    assert roles.split == "Split"
    assert roles.text == ["desc", "名前"]
    assert roles.categorical == ["size", "flag", "brand"]
    assert roles.numeric == ["weight"]
    assert "label" not in roles.columns()


def test_infer_roles_given_wins() -> None:
    df = pd.DataFrame({"sku": ["1", "2"], "image_url": ["a.jpg", "b.jpg"], "t": ["x y z", "u v w"]})
    roles = infer_roles(df, {"image": None, "categorical": ["t"]})
    assert roles.id == "sku" and roles.image is None
    assert roles.categorical == ["t"] and roles.text == ["image_url"]  # inferred from values
    roles = infer_roles(df, ColumnRoles(text=["image_url"]))
    assert roles.text == ["image_url"] and roles.image is None


def test_column_roles_one_role_per_column() -> None:
    with pytest.raises(ConfigError, match="'title'"):
        ColumnRoles(text=["title"], categorical=["title"])
    with pytest.raises(ConfigError, match=r"roles\.text"):
        ColumnRoles(text="title")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown"):
        infer_roles(pd.DataFrame({"a": [1]}), {"images": "a"})


def test_unknown_role_columns_named(tiny_catalog_csv: Path) -> None:
    with pytest.raises(DataError, match="nope"):
        Catalog.open(tiny_catalog_csv, roles={"text": ["title", "nope"]})


# ---------------------------------------------------------------- split
def test_seeded_split_is_stable(tiny_catalog_csv: Path) -> None:
    a = Catalog.open(tiny_catalog_csv)
    b = Catalog.open(tiny_catalog_csv)
    assert a.df["split"].tolist() == b.df["split"].tolist()
    sub = a.subset(range(10, 20))
    assert sub.df["split"].tolist() == a.df["split"].tolist()[10:20]
    c = Catalog.open(tiny_catalog_csv, split_seed=1)
    assert c.df["split"].tolist() != a.df["split"].tolist()
    ids = [f"item-{i}" for i in range(3000)]
    splits = pd.Series([seeded_split(i, 0) for i in ids]).value_counts(normalize=True)
    assert abs(splits["train"] - 0.8) < 0.03 and abs(splits["val"] - 0.1) < 0.03
    assert [seeded_split(i, 0) for i in ids[:50]] == [seeded_split(i, 0) for i in ids[:50]]


def test_split_views_and_aliases(tiny_catalog: Catalog) -> None:
    total = sum(len(tiny_catalog.split(s)) for s in ("train", "val", "test"))
    assert total == len(tiny_catalog)
    for alias in ("validation", "valid", "dev", "VAL"):
        assert tiny_catalog.split(alias).ids() == tiny_catalog.split("val").ids()
    with pytest.raises(DataError, match="unknown split 'holdout'"):
        tiny_catalog.split("holdout")


def test_given_split_column_normalised(tmp_path: Path) -> None:
    def edit(rows, folder):
        for k, row in enumerate(rows):
            row["split"] = ["train", "Validation", "dev", "TEST"][k % 4]
        rows[5]["split"] = "holdout"

    path = _build(tmp_path, edit=edit, columns=[*TINY_COLUMNS, "split"])
    cat = Catalog.open(path)
    assert set(cat.df["split"]) == {"train", "val", "test"}
    assert "p005" in cat.report.quarantined_ids()
    loose = Catalog.open(path, strict=False)
    assert len(loose) == 12 and loose.df["split"][5] in ("train", "val", "test")


# ---------------------------------------------------------------- images
def _bad_image_cases(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    outside = write_jpeg(tmp_path / "outside.jpg", (1, 2, 3))
    expected = {}

    def edit(rows, folder):
        rows[0]["image"] = "images/missing.jpg"
        expected["p000"] = "image not found"
        rows[1]["image"] = "../outside.jpg"
        expected["p001"] = "image outside root"
        rows[2]["image"] = str(outside)
        expected["p002"] = "image outside root"
        os.symlink(outside, folder / "images" / "link.jpg")
        rows[3]["image"] = "images/link.jpg"
        expected["p003"] = "image outside root"
        (folder / "images" / "p004.jpg").write_bytes(np.random.default_rng(0).bytes(900))
        expected["p004"] = "not an image"
        noisy = write_jpeg(tmp_path / "noisy.jpg", (9, 9, 9), size=64, noise=120)
        data = noisy.read_bytes()
        (folder / "images" / "p005.jpg").write_bytes(data[: len(data) // 2])
        write_jpeg(folder / "images" / "big.jpg", (9, 9, 9), size=128)
        expected["p005"] = "truncated image"
        rows[6]["image"] = "images/big.jpg"  # 128*128 > max_image_pixels=5000 below
        expected["p006"] = "image too large"
        rows[7]["image"] = "https://example.com/x.jpg"
        expected["p007"] = "image is a URL"

    return _build(tmp_path, edit=edit), expected


def test_bad_images_strict_quarantines(tmp_path: Path) -> None:
    path, expected = _bad_image_cases(tmp_path)
    cat = Catalog.open(path, max_image_pixels=5000)
    assert _codes(cat) == expected
    assert sorted(cat.report.quarantined_ids()) == sorted(expected)
    assert all(i.severity == "error" and i.column == "image" for i in cat.report.issues)
    assert len(cat) == 12 - len(expected) and cat.report.n_kept == len(cat)
    assert all(cat.image_path(i) is not None for i in range(len(cat)))
    assert "outside" in next(i.reason for i in cat.report.issues if i.row_id == "p001")


def test_bad_images_non_strict_blanks(tmp_path: Path) -> None:
    path, expected = _bad_image_cases(tmp_path)
    cat = Catalog.open(path, max_image_pixels=5000, strict=False)
    assert len(cat) == 12 and cat.report.quarantined_ids() == []
    assert _codes(cat) == expected
    assert all(i.severity == "warning" for i in cat.report.issues)
    for k in range(8):
        assert cat.image_path(k) is None
    assert cat.image_path(8) is not None


def test_check_images_false_still_refuses_escapes(tmp_path: Path) -> None:
    path, _ = _bad_image_cases(tmp_path)
    cat = Catalog.open(path, check_images=False, strict=False)
    assert set(_codes(cat).values()) == {"image outside root", "image is a URL"}


def _png_with_claimed_size(path: Path, width: int, height: int) -> Path:
    Image.new("RGB", (8, 8), (10, 20, 30)).save(path, format="PNG")
    data = bytearray(path.read_bytes())
    # IHDR data sits at bytes 16..29 (width, height, ...); its CRC at 29..33 covers type+data.
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("side", [7000, 100_000])  # our limit only / PIL's own bomb error too
def test_png_header_bomb_refused(tmp_path: Path, side: int) -> None:
    def edit(rows, folder):
        _png_with_claimed_size(folder / "images" / "bomb.png", side, side)
        rows[0]["image"] = "images/bomb.png"

    cat = Catalog.open(_build(tmp_path, edit=edit))
    assert _codes(cat) == {"p000": "image too large"}
    assert "p000" not in cat.ids()


def test_image_root_override(tmp_path: Path) -> None:
    def edit(rows, folder):
        os.rename(folder / "images", tmp_path / "pics")

    path = _build(tmp_path, edit=edit)
    cat = Catalog.open(path, image_root=tmp_path / "pics" / "..", strict=False)
    assert cat.root == tmp_path.resolve()
    assert len(cat.report.issues) == 12  # "images/..." not under tmp_path
    rows_csv = path.read_text().replace("images/", "pics/")
    path.write_text(rows_csv)
    cat = Catalog.open(path, image_root=tmp_path)
    assert len(cat) == 12 and cat.image_path(0) == (tmp_path / "pics" / "p000.jpg").resolve()


# ---------------------------------------------------------------- other row checks
def test_empty_text_duplicate_wrong_type_missing_id(tmp_path: Path) -> None:
    def edit(rows, folder):
        rows[0]["title"] = "   "
        rows[2]["id"] = "p001"
        rows[3]["price"] = "abc"
        rows[4]["id"] = ""

    path = _build(tmp_path, edit=edit)
    strict = Catalog.open(path)
    codes = _codes(strict)
    assert codes == {
        "p000": "empty text",
        "p001": "duplicate id",
        "p003": "wrong type",
        "row 5": "missing id",
    }
    assert strict.ids().count("p001") == 1
    assert strict.df.loc[strict.ids().index("p001"), "title"] == tiny_rows(12)[1]["title"]
    assert len(strict) == 8

    loose = Catalog.open(path, strict=False)
    assert sorted(loose.report.quarantined_ids()) == ["p001", "row 5"]
    assert len(loose) == 10
    assert loose.texts(0) == [""] and np.isnan(loose.df["price"][2])
    severities = {i.code: i.severity for i in loose.report.issues}
    assert severities["empty text"] == severities["wrong type"] == "warning"
    assert severities["duplicate id"] == "error"


def test_no_id_column_uses_row_numbers(tmp_path: Path) -> None:
    def edit(rows, folder):
        rows[1]["image"] = "images/nothing.jpg"

    path = _build(tmp_path, edit=edit, columns=[c for c in TINY_COLUMNS if c != "id"])
    cat = Catalog.open(path)
    assert cat.report.quarantined_ids() == ["row 2"]
    assert cat.ids()[:2] == ["row 1", "row 3"]


def test_no_usable_rows(tmp_path: Path) -> None:
    def edit(rows, folder):
        for row in rows:
            row["image"] = "images/gone.jpg"

    with pytest.raises(DataError, match=r"no usable rows.*image not found"):
        Catalog.open(_build(tmp_path, n=4, edit=edit))


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere\.csv"):
        Catalog.open(tmp_path / "nowhere.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage\x00\xff" * 10)
    with pytest.raises(DataError, match=r"bad\.csv"):
        Catalog.open(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.csv"):
        Catalog.open(empty)
    with pytest.raises(DataError, match="unsupported"):
        Catalog.open(tmp_path / "x.xlsx")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"broken\.jsonl line 2"):
        Catalog.open(broken)


def test_parquet_jsonl_json_match_csv(tiny_catalog_csv: Path) -> None:
    ref = Catalog.open(tiny_catalog_csv)
    df = pd.read_csv(tiny_catalog_csv, dtype=str)
    df["price"] = df["price"].astype(float)
    folder = tiny_catalog_csv.parent
    df.to_parquet(folder / "p.parquet")
    df.to_json(folder / "p.jsonl", orient="records", lines=True)
    df.to_json(folder / "p.json", orient="records")
    tsv = folder / "p.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    for name in ("p.parquet", "p.jsonl", "p.json", "p.tsv"):
        cat = Catalog.open(folder / name)
        assert cat.ids() == ref.ids(), name
        assert cat.roles == ref.roles, name
        assert cat.df["split"].tolist() == ref.df["split"].tolist(), name


# ---------------------------------------------------------------- labels
def test_with_labels_quarantines_and_removes_leaks(tmp_path: Path) -> None:
    def edit(rows, folder):
        rows[2]["category"] = ""
        rows[7]["style"] = ""

    path = _build(tmp_path, edit=edit)
    cat = Catalog.open(path)
    assert "category" in cat.roles.categorical
    labelled = cat.with_labels(["category", "style"])
    assert labelled.labels == ["category", "style"]
    assert "category" not in labelled.roles.input_columns()
    assert "style" not in labelled.roles.columns()
    assert len(labelled) == 10 and labelled.report.n_kept == 10
    reasons = {i.row_id: i.reason for i in labelled.report.issues}
    assert reasons == {"p002": "label 'category' is missing", "p007": "label 'style' is missing"}
    assert all(i.severity == "error" for i in labelled.report.issues)
    assert cat.report.issues == []  # the original is untouched

    opened = Catalog.open(path, labels=["category", "style"])
    assert opened.ids() == labelled.ids() and opened.roles == labelled.roles
    with pytest.raises(DataError, match=r"unknown label column\(s\) \['kind'\].*'category'"):
        cat.with_labels(["kind"])
    with pytest.raises(DataError, match="id column"):
        cat.with_labels("id")


def test_label_given_as_input_role_is_removed(tiny_catalog_csv: Path) -> None:
    cat = Catalog.open(tiny_catalog_csv, roles={"text": ["title", "category"]}, labels=["category"])
    assert cat.roles.text == ["title"]
    assert cat.texts() == cat.df["title"].tolist()


# ---------------------------------------------------------------- texts, report, fingerprint
def test_texts_join_and_skip_empty(tmp_path: Path) -> None:
    def edit(rows, folder):
        for row in rows:
            row["note"] = "soft"
        rows[0]["title"] = ""

    path = _build(tmp_path, edit=edit, columns=[*TINY_COLUMNS, "note"])
    cat = Catalog.open(path, roles={"text": ["title", "note"]})
    assert cat.texts(0) == ["soft"]
    assert cat.texts(1) == [f"{tiny_rows(12)[1]['title']} | soft"]
    assert cat.text(1) == cat.texts()[1] and len(cat.texts()) == 12
    assert cat.texts([1, 2]) == cat.texts()[1:3]


def test_report_summary_and_write(tmp_path: Path) -> None:
    path, expected = _bad_image_cases(tmp_path)
    cat = Catalog.open(path, max_image_pixels=5000)
    report = cat.report
    assert report.counts_by_reason()["image outside root"] == 3
    summary = report.summary()
    assert "kept 4" in summary and "quarantined 8" in summary and "\n" not in summary
    out = tmp_path / "reports" / "validation.json"
    report.write(out)
    data = json.loads(out.read_text())
    assert data["n_rows"] == 12 and data["n_kept"] == 4 and len(data["issues"]) == 8
    with open(out.with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["row_id", "column", "reason", "severity"]
    assert {r["row_id"] for r in rows} == set(expected)
    again = ValidationReport.from_dict(data)
    assert again.quarantined_ids() == report.quarantined_ids()


def test_report_add_extend() -> None:
    a = ValidationReport(n_rows=3)
    a.add("x", "image", "image file not found: a.jpg", "error", "image not found")
    b = ValidationReport([Issue("y", None, "odd", "warning")], n_rows=3)
    a.extend(b)
    assert a.counts_by_reason() == {"image not found": 1, "odd": 1}
    assert a.quarantined_ids() == ["x"]
    with pytest.raises(ValueError):
        Issue("z", None, "bad", "fatal")


def test_fingerprint_tracks_image_bytes(tiny_catalog_csv: Path) -> None:
    first = Catalog.open(tiny_catalog_csv, check_images=False).fingerprint
    same = Catalog.open(tiny_catalog_csv, check_images=False)
    assert same.fingerprint == first and same.fingerprint == same.fingerprint
    image = tiny_catalog_csv.parent / "images" / "p007.jpg"
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    image.write_bytes(bytes(data))
    assert Catalog.open(tiny_catalog_csv, check_images=False).fingerprint != first
    assert same.subset(range(5)).fingerprint != first

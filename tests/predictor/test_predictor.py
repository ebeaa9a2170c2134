"""MultimodalPredictor end to end on a tiny real catalogue: fit, evaluate, predict, save, load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import TINY_LABELS, make_tiny_catalog
from mmshop import Catalog, MultimodalPredictor
from mmshop.errors import ConfigError, ModelLoadError


def tiny_overrides(tmp_path: Path, **extra) -> dict:
    return {
        "trainer.epochs": 4,
        "trainer.progress": False,
        "trainer.lr": 3e-3,
        "batch_size": 16,
        "cache_dir": str(tmp_path / "cache"),
        "model.encoders.image.options": {"width": 4},
        "model.encoders.text.options": {"dim": 32, "layers": 1, "heads": 2},
        "model.fusion.options": {"dim": 32},
        "model.head.options": {"hidden": 32},
        **extra,
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[MultimodalPredictor, Catalog, Path]:
    tmp = tmp_path_factory.mktemp("trained")
    csv = make_tiny_catalog(tmp / "cat", n=80, seed=1)
    cat = Catalog.open(csv)
    p = MultimodalPredictor(
        labels=list(TINY_LABELS),
        overrides=tiny_overrides(tmp, **{"trainer.epochs": 12}),
        work_dir=tmp / "work",
    )
    p.fit(cat.split("train"), val=cat.split("val"), progress=False)
    return p, cat, tmp


def test_fit_learns_and_evaluate_reports_every_label(trained) -> None:
    p, cat, _ = trained
    metrics = p.evaluate(cat.split("train"))
    assert set(metrics) == set(TINY_LABELS)
    # the tiny catalogue's category is visible in the image colour and the title
    assert metrics["category"]["accuracy"] >= 0.8
    for m in metrics.values():
        assert 0.0 <= m["macro_f1"] <= 1.0 and m["n"] > 0


def test_predict_outputs_and_probabilities(trained) -> None:
    p, cat, _ = trained
    test = cat.split("test")
    table = p.predict(test)
    assert list(table["id"]) == test.ids()
    assert {"category", "category_confidence", "style", "notes"} <= set(table.columns)
    proba = p.predict_proba(test)
    assert np.allclose(proba["category"].sum(axis=1), 1.0, atol=1e-5)
    assert list(proba["category"].idxmax(axis=1)) == list(table["category"])
    emb = p.embed(test)
    assert emb.shape[0] == len(test) and np.isfinite(emb).all()


def test_save_load_round_trip_gives_identical_predictions(trained, tmp_path: Path) -> None:
    p, cat, _ = trained
    p.save(tmp_path / "model")
    files = {f.name for f in (tmp_path / "model").rglob("*") if f.is_file()}
    assert {"config.json", "model.safetensors", "manifest.json", "training.json"} <= files
    assert not any(f.endswith((".pt", ".pkl", ".bin")) for f in files)
    q = MultimodalPredictor.load(tmp_path / "model")
    test = cat.split("test")
    pd.testing.assert_frame_equal(p.predict(test), q.predict(test))


def test_predicting_rows_with_missing_image_and_unseen_category(
    trained, tmp_path: Path, monkeypatch
) -> None:
    p, cat, _ = trained
    monkeypatch.chdir(cat.root)  # a DataFrame's image paths resolve against the working folder
    rows = cat.split("test").df.head(3).copy()
    rows.loc[0, "image"] = "images/does-not-exist.jpg"
    rows.loc[1, "colour"] = "ultraviolet"
    rows = rows.drop(columns=list(TINY_LABELS))
    table = p.predict(rows)
    assert len(table) == 3
    assert "no usable image" in table.loc[0, "notes"]
    assert "not found" in table.loc[0, "notes"]
    assert "unseen colour='ultraviolet'" in table.loc[1, "notes"]
    assert table.loc[2, "notes"] == ""


def test_tampered_or_partial_model_dirs_are_clear_errors(trained, tmp_path: Path) -> None:
    p, _, _ = trained
    saved = p.save(tmp_path / "m")
    bad = tmp_path / "tampered"
    shutil.copytree(saved, bad)
    with open(bad / "model.safetensors", "r+b") as fh:
        fh.seek(-4, 2)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelLoadError, match="changed after saving"):
        MultimodalPredictor.load(bad)
    missing = tmp_path / "missing"
    shutil.copytree(saved, missing)
    (missing / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        MultimodalPredictor.load(missing)
    with pytest.raises(ModelLoadError, match="not found"):
        MultimodalPredictor.load(tmp_path / "nowhere")
    # config edited to a different architecture, manifest updated to match: shapes mismatch
    mismatch = tmp_path / "mismatch"
    shutil.copytree(saved, mismatch)
    meta = json.loads((mismatch / "config.json").read_text())
    meta["config"]["model"]["fusion"]["options"]["dim"] = 48
    (mismatch / "config.json").write_text(json.dumps(meta))
    from mmshop.utils.io import sha256_file

    manifest = json.loads((mismatch / "manifest.json").read_text())
    manifest["config.json"] = sha256_file(mismatch / "config.json")
    (mismatch / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="do not match"):
        MultimodalPredictor.load(mismatch)


def test_failed_save_leaves_previous_model_intact(trained, tmp_path: Path, monkeypatch) -> None:
    p, _, _ = trained
    target = p.save(tmp_path / "m")
    before = (target / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("mmshop.predictor.core.save_weights", boom)
    with pytest.raises(OSError, match="disk full"):
        p.save(target)
    assert (target / "model.safetensors").read_bytes() == before
    MultimodalPredictor.load(target)
    assert [x.name for x in tmp_path.iterdir()] == ["m"]


def test_untrained_predictor_and_bad_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not trained"):
        MultimodalPredictor(labels=["category"]).predict([{"title": "x"}])
    with pytest.raises(ConfigError, match="labels"):
        MultimodalPredictor(labels=[])
    with pytest.raises(ConfigError, match="unknown config key"):
        MultimodalPredictor(labels=["a"], overrides={"trainer.lrr": 1})
    with pytest.raises(ConfigError, match="modalities"):
        MultimodalPredictor(labels=["a"], overrides={"modalities": ["smell"]})


def test_unknown_label_column_is_named(tmp_path: Path) -> None:
    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=20))
    p = MultimodalPredictor(labels=["nope"], overrides=tiny_overrides(tmp_path))
    with pytest.raises(Exception, match="nope"):
        p.fit(cat.split("train"), val=cat.split("val"))


@pytest.mark.parametrize("modalities", [["text"], ["image"], ["tabular"]])
def test_single_modality_models_train(tmp_path: Path, modalities: list[str]) -> None:
    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=40))
    p = MultimodalPredictor(
        labels=["category"],
        overrides=tiny_overrides(tmp_path, modalities=modalities, **{"trainer.epochs": 2}),
    )
    p.fit(cat.split("train"), val=cat.split("val"), progress=False)
    assert p.model is not None and p.model.modalities == modalities
    assert len(p.predict(cat.split("test"))) == len(cat.split("test"))


def test_seeded_runs_are_repeatable(tmp_path: Path) -> None:
    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=40))
    outs = []
    for run in range(2):
        p = MultimodalPredictor(
            labels=["category"],
            overrides=tiny_overrides(
                tmp_path, **{"trainer.epochs": 2, "cache_dir": str(tmp_path / f"c{run}")}
            ),
        )
        p.fit(cat.split("train"), val=cat.split("val"), progress=False)
        outs.append(p.predict_proba(cat.split("test"))["category"].to_numpy())
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)


def test_resume_after_interruption_continues_from_checkpoint(tmp_path: Path, monkeypatch) -> None:
    from mmshop.data.dataset import BatchIterator

    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=40))
    overrides = tiny_overrides(tmp_path, **{"trainer.epochs": 3, "trainer.patience": None})

    def run(work: Path, resume: bool = False) -> MultimodalPredictor:
        p = MultimodalPredictor(labels=["category"], overrides=overrides, work_dir=work)
        return p.fit(cat.split("train"), val=cat.split("val"), progress=False, resume=resume)

    straight = run(tmp_path / "straight")
    original = BatchIterator.set_epoch

    def killed_in_epoch_3(self, epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")
        original(self, epoch)

    monkeypatch.setattr(BatchIterator, "set_epoch", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "work")
    monkeypatch.setattr(BatchIterator, "set_epoch", original)
    resumed = run(tmp_path / "work", resume=True)
    assert [e["epoch"] for e in resumed.history.epochs] == [1, 2, 3]
    np.testing.assert_allclose(
        straight.predict_proba(cat.split("test"))["category"].to_numpy(),
        resumed.predict_proba(cat.split("test"))["category"].to_numpy(),
        atol=1e-5,
    )


def test_report_has_metrics_figures_and_ablation(trained, tmp_path: Path) -> None:
    p, cat, _ = trained
    path = p.report(cat.split("test"), tmp_path / "report")
    text = path.read_text()
    assert "category" in text and "style" in text
    assert "ablation" in text.lower()
    for modality in p.model.modalities:
        assert modality in text
    figures = list((tmp_path / "report" / "figures").glob("*.png"))
    assert any("training_curves" in f.name for f in figures)
    assert (tmp_path / "report" / "report.html").exists()


def test_a_given_tokenizer_file_is_used(tmp_path: Path) -> None:
    from mmshop.data.processors.text import TextProcessor

    cat = Catalog.open(make_tiny_catalog(tmp_path / "c", n=30))
    own = TextProcessor().fit(["red shirt", "blue shoe", "green bag", "gold watch"] * 3)
    own.save(tmp_path / "tok")
    p = MultimodalPredictor(
        labels=["category"],
        overrides=tiny_overrides(
            tmp_path,
            tokenizer_file=str(tmp_path / "tok" / "tokenizer.json"),
            **{"trainer.epochs": 1},
        ),
    )
    p.fit(cat.split("train"), val=cat.split("val"), progress=False)
    assert p.processors.text.vocab_size == own.vocab_size


def test_rows_without_a_trained_column_get_an_error_naming_it(trained, monkeypatch) -> None:
    from mmshop.errors import DataError

    p, cat, _ = trained
    monkeypatch.chdir(cat.root)
    rows = cat.split("test").df.drop(columns=["colour", *TINY_LABELS]).head(4)
    before = rows.copy()
    with pytest.raises(DataError, match="colour"):
        p.predict(rows)
    pd.testing.assert_frame_equal(rows, before)

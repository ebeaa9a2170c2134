import json

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import f1_score

from mmshop.evaluation import (
    classification_metrics,
    confusion_subset,
    most_confused,
    roc_auc_ovr,
    write_report,
)

NAMES = ["a", "b", "c", "d"]
Y_TRUE = np.array([0, 0, 1, 1, 2, -100])
Y_PRED = np.array([0, 1, 1, 1, 0, 2])


def test_classification_metrics_hand_computed():
    m = classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    # a: P=1/2 R=1/2 F1=1/2; b: P=2/3 R=1 F1=0.8; c: 0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert m["weighted_f1"] == pytest.approx((0.5 * 2 + 0.8 * 2) / 5)
    assert m["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert "d" not in m["per_class"]
    t, p = Y_TRUE[:5], Y_PRED[:5]
    assert m["macro_f1"] == pytest.approx(f1_score(t, p, labels=[0, 1, 2], average="macro"))


def test_macro_over_present_classes_only():
    # class d is predicted but never true: it shows up with support 0, macro ignores it
    m = classification_metrics([0, 0, 1], [0, 3, 1], NAMES)
    assert m["per_class"]["d"]["support"] == 0
    assert m["macro_f1"] == pytest.approx(
        f1_score([0, 0, 1], [0, 3, 1], labels=[0, 1], average="macro")
    )
    empty = classification_metrics([-100, -100], [0, 1], NAMES)
    assert empty["n"] == 0 and np.isnan(empty["accuracy"])


def test_most_confused_and_subset():
    t = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])
    p = np.array([1, 1, 0, 0, 1, 1, 2, 2, 3])
    assert most_confused(t, p, NAMES, k=2) == [("a", "b", 2), ("b", "a", 1)]
    assert len(most_confused(t, p, NAMES)) == 3
    matrix, names = confusion_subset(t, p, NAMES, max_classes=2)
    assert names == ["b", "a"]  # b is involved in 4 errors, a in 3
    assert matrix.tolist() == [[1, 1], [2, 1]]
    full, all_names = confusion_subset(t, p, NAMES, max_classes=10)
    assert full.sum() == len(t) and sorted(all_names) == NAMES


def test_roc_auc_ovr():
    y = np.array([0, 0, 1, 1, -100])
    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    proba = np.stack([1 - p1, p1], axis=1)
    assert roc_auc_ovr(y, proba) == pytest.approx(0.75)
    assert roc_auc_ovr(np.array([1, 1]), proba[:2]) is None


def test_write_report(tmp_path):
    evil = "<script>alert(1)</script>"
    rng = np.random.default_rng(0)
    names = [f"class {i}" for i in range(40)] + [evil, "price $5 | *bold*"]
    y_true = rng.integers(0, len(names), 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, len(names), 300))
    y_true[:5] = -100
    history = tmp_path / "metrics.jsonl"
    history.write_text(
        "\n".join(
            json.dumps(
                {"epoch": e, "train_loss": 1.0 / e, "y_loss": 1.0 / e, "score": 0.5 + e / 10}
            )
            for e in range(1, 4)
        )
    )
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    results = {
        "articleType": {"y_true": y_true, "y_pred": y_pred, "class_names": names},
        "perfect": {
            "y_true": np.array([0, 1]),
            "y_pred": np.array([0, 1]),
            "class_names": ["x", "y"],
        },
    }
    ablation = {
        "none": {"articleType/accuracy": 0.8},
        "image": {"articleType/accuracy": 0.7},
        "text": {"articleType/accuracy": 0.75},
    }
    extra = {"data_hash": "abc123", "config": {"lr": 0.002}, "version": "0.1.0"}
    for _ in range(2):  # rewriting an existing report works
        path = write_report(out, "Eval <run>", results, history, ablation, extra)
    assert path == out / "report.md"
    assert (out / "keep.txt").read_text() == "mine"
    for name in ("report.md", "report.html", "metrics.json"):
        assert (out / name).is_file()
    pngs = sorted((out / "figures").glob("*.png"))
    assert {p.name for p in pngs} == {"confusion_articleType.png", "training_curves.png"}
    for png in pngs:
        with Image.open(png) as img:
            img.verify()
            assert img.format == "PNG"

    html = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in md
    assert 'src="figures/confusion_articleType.png"' in html
    assert "figures/training_curves.png" in md
    assert "-0.1000" in md and "-0.0500" in md  # ablation drops vs none
    assert "abc123" in html and "Showing the 30 largest" in md
    assert "Eval &lt;run&gt;" in html

    data = json.loads((out / "metrics.json").read_text())
    assert data["labels"]["perfect"]["accuracy"] == 1.0
    assert data["labels"]["articleType"]["n"] == 295
    assert len(data["history"]) == 3 and data["extra"]["data_hash"] == "abc123"

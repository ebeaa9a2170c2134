import json
import math

import pytest
import torch
from torch import nn

from mmshop.errors import ConfigError, ModelLoadError
from mmshop.training import MultiTaskCrossEntropy, Trainer, TrainerConfig, to_device


class Toy(nn.Module):
    def __init__(self, hidden: int = 16, dim: int = 6, classes: int = 3, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.missing = nn.Parameter(torch.zeros(1, dim))
        self.body = nn.Sequential(
            nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Dropout(0.1)
        )
        self.head = nn.Linear(hidden, classes)

    def forward(self, batch):
        x = batch["x"] + 0 * self.missing
        return {"logits": {"y": self.head(self.body(x))}}


def make_data(n: int = 96, dim: int = 6, classes: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 3
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + 0.5 * torch.randn(n, dim, generator=g)
    return x, y


class Batches:
    """Shuffled batches whose order depends only on the epoch."""

    def __init__(self, x, y, batch_size: int = 16, fail_at: int | None = None):
        self.x, self.y, self.batch_size, self.fail_at = x, y, batch_size, fail_at
        self.epoch = 0
        self.epochs_seen: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        if epoch == self.fail_at:
            raise RuntimeError("simulated crash")
        self.epoch = epoch
        self.epochs_seen.append(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        perm = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(self.epoch))
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i : i + self.batch_size]
            yield {"x": self.x[idx], "labels": {"y": self.y[idx]}}


def accuracy_fn(x, y):
    def evaluate(model):
        assert not model.training and torch.is_inference_mode_enabled()
        acc = (model({"x": x})["logits"]["y"].argmax(-1) == y).float().mean().item()
        return {"score": acc, "y/accuracy": acc}

    return evaluate


def cfg(**kw) -> TrainerConfig:
    base = {"epochs": 3, "lr": 1e-2, "progress": False, "patience": None}
    base.update(kw)
    return TrainerConfig(**base)


def test_learns_separable_problem_and_writes_files(tmp_path):
    x, y = make_data()
    vx, vy = make_data(seed=0)
    model = Toy()
    batches = Batches(x, y)
    trainer = Trainer(model, cfg(epochs=6), MultiTaskCrossEntropy(), accuracy_fn(vx, vy), tmp_path)
    with torch.inference_mode():
        before = accuracy_fn(vx, vy)(model.eval())["score"]
    hist = trainer.fit(batches)
    assert batches.epochs_seen == list(range(6))
    assert len(hist.epochs) == 6 and not hist.stopped_early
    assert hist.best_score >= 0.9 > before
    assert hist.epochs[-1]["train_loss"] < hist.epochs[0]["train_loss"]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 6
    rec = json.loads(lines[0])
    assert {"epoch", "train_loss", "y_loss", "lr", "seconds", "score", "y/accuracy"} <= set(rec)
    assert rec["epoch"] == 1
    assert (tmp_path / "best.safetensors").is_file()
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "state.json"):
        assert (tmp_path / "checkpoint" / name).is_file()
    state = json.loads((tmp_path / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 6 and state["global_step"] == 6 * len(batches)


def test_early_stopping_restores_best_weights(tmp_path):
    x, y = make_data()
    model = Toy()
    snapshots = []
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.1, 0.9, 0.9])

    def evaluate(m):
        snapshots.append({k: v.clone() for k, v in m.state_dict().items()})
        return {"acc": next(scores)}

    config = cfg(epochs=7, patience=2, monitor="acc")
    hist = Trainer(model, config, MultiTaskCrossEntropy(), evaluate, tmp_path).fit(Batches(x, y))
    assert hist.stopped_early and len(hist.epochs) == 4
    assert hist.best_epoch == 2 and hist.best_score == 0.7
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


def test_min_mode_and_no_evaluate_fn(tmp_path):
    x, y = make_data()
    model = Toy()
    hist = Trainer(model, cfg(epochs=2), MultiTaskCrossEntropy(), None, tmp_path).fit(Batches(x, y))
    assert hist.best_epoch == 2
    assert hist.best_score == pytest.approx(hist.epochs[-1]["train_loss"])


def test_resume_equals_uninterrupted_run(tmp_path):
    x, y = make_data()
    loss = MultiTaskCrossEntropy()
    straight = Toy(seed=1)
    config = cfg(epochs=3, warmup_ratio=0.2)
    Trainer(straight, config, loss, None, tmp_path / "a").fit(Batches(x, y))

    crashed = Toy(seed=1)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Trainer(crashed, config, loss, None, tmp_path / "b").fit(Batches(x, y, fail_at=2))
    resumed = Toy(seed=99)  # different init: everything must come from the checkpoint
    hist = Trainer(resumed, config, loss, None, tmp_path / "b").fit(Batches(x, y), resume=True)

    assert [r["epoch"] for r in hist.epochs] == [1, 2, 3]
    for k, v in straight.state_dict().items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k

    def strip(path):
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "seconds"} for r in recs]

    assert strip(tmp_path / "a" / "metrics.jsonl") == strip(tmp_path / "b" / "metrics.jsonl")


def test_resume_errors(tmp_path):
    x, y = make_data()
    loss = MultiTaskCrossEntropy()
    with pytest.raises(ModelLoadError, match=r"state\.json"):
        Trainer(Toy(), cfg(), loss, None, tmp_path).fit(Batches(x, y), resume=True)
    Trainer(Toy(), cfg(epochs=1), loss, None, tmp_path).fit(Batches(x, y))
    other = Toy(hidden=8)
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        Trainer(other, cfg(epochs=2), loss, None, tmp_path).fit(Batches(x, y), resume=True)


def test_bf16_and_param_groups(tmp_path):
    x, y = make_data(n=32)
    model = Toy()
    config = cfg(epochs=1, bf16=True, param_groups={"body": 0.1}, weight_decay=0.05)
    trainer = Trainer(model, config, MultiTaskCrossEntropy(), None, tmp_path)
    hist = trainer.fit(Batches(x, y))
    assert math.isfinite(hist.epochs[0]["train_loss"])
    by_param = {
        id(p): (g["initial_lr"], g["weight_decay"])
        for g in trainer.optimizer.param_groups
        for p in g["params"]
    }
    assert by_param[id(model.body[0].weight)] == (pytest.approx(1e-3), 0.05)
    assert by_param[id(model.body[0].bias)] == (pytest.approx(1e-3), 0.0)
    assert by_param[id(model.body[1].weight)][1] == 0.0  # LayerNorm
    assert by_param[id(model.missing)] == (pytest.approx(1e-2), 0.0)
    assert by_param[id(model.head.weight)] == (pytest.approx(1e-2), 0.05)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("lr", 0.0),
        ("weight_decay", -1.0),
        ("warmup_ratio", 1.0),
        ("grad_clip", 0.0),
        ("patience", 0),
        ("mode", "avg"),
        ("monitor", ""),
        ("num_threads", 0),
        ("bf16", "yes"),
        ("epochs", True),
    ],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainerConfig(**{field: value})


def test_config_unknown_keys_and_bad_prefix(tmp_path):
    with pytest.raises(ConfigError, match="epochz"):
        TrainerConfig.from_dict({"epochz": 3})
    cfg_ok = TrainerConfig.from_dict(TrainerConfig(param_groups={"body": 0.5}).to_dict())
    assert cfg_ok.param_groups == {"body": 0.5}
    with pytest.raises(ConfigError, match=r"encoders\.text"):
        Trainer(
            Toy(), cfg(param_groups={"encoders.text": 0.1}), MultiTaskCrossEntropy(), None, tmp_path
        )


def test_missing_monitor_is_clear(tmp_path):
    x, y = make_data(n=32)
    trainer = Trainer(
        Toy(), cfg(epochs=1), MultiTaskCrossEntropy(), lambda m: {"acc": 1.0}, tmp_path
    )
    with pytest.raises(ConfigError, match="monitor 'score'"):
        trainer.fit(Batches(x, y))


def test_to_device_recurses():
    batch = {"a": torch.ones(2), "labels": {"y": torch.zeros(2)}, "ids": ["r1", "r2"]}
    moved = to_device(batch, torch.device("cpu"))
    assert moved["labels"]["y"].device.type == "cpu" and moved["ids"] == ["r1", "r2"]

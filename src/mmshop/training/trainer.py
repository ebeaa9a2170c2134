"""A generic, resumable training loop: AdamW, warmup-cosine, early stopping, checkpoints.

The trainer knows nothing about shops or modalities. It needs a model mapping a batch dict to
an output dict, a loss reading those outputs by name, an iterable of batches (with ``__len__``
and optionally ``set_epoch(epoch)``) and an optional evaluation callback.

Files written under ``out_dir``: ``metrics.jsonl`` (one record per epoch), ``best.safetensors``
(best weights so far) and ``checkpoint/`` (``model.safetensors``, ``optimizer.pt``,
``scheduler.pt``, ``state.json``), each replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import Tensor, nn
from tqdm.auto import tqdm

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError, ModelLoadError
from mmshop.training.schedules import warmup_cosine
from mmshop.training.seed import seed_everything, set_threads
from mmshop.utils.io import atomic_directory, atomic_write_text

LossFn = Callable[[dict, dict], dict[str, Tensor]]
EvalFn = Callable[[nn.Module], dict[str, float]]

CHECKPOINT_DIR = "checkpoint"
BEST_WEIGHTS = "best.safetensors"
METRICS_FILE = "metrics.jsonl"
_POSTFIX_EVERY = 10


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TrainerConfig(ConfigBase):
    """Optimisation settings.

    ``param_groups`` maps a parameter-name prefix (dotted, e.g. ``"encoders.text.backbone"``)
    to an lr multiplier; the longest matching prefix wins. Biases, 1-D parameters (norms,
    learned "missing" vectors) and any parameter whose name contains ``missing`` get no weight
    decay. ``monitor``/``mode`` pick the evaluation metric used for best weights and early
    stopping (``patience`` epochs without improvement; ``None`` disables it).
    """

    epochs: int = 10
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float | None = 1.0
    patience: int | None = 3
    monitor: str = "score"
    mode: str = "max"
    seed: int = 0
    bf16: bool = False
    num_threads: int | None = None
    progress: bool = True
    param_groups: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not _is_number(self.lr) or self.lr <= 0:
            raise ConfigError(f"lr must be a number > 0, got {self.lr!r}")
        if not _is_number(self.weight_decay) or self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        if not _is_number(self.warmup_ratio) or not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.grad_clip is not None and (not _is_number(self.grad_clip) or self.grad_clip <= 0):
            raise ConfigError(f"grad_clip must be a number > 0 or null, got {self.grad_clip!r}")
        if self.patience is not None and (not _is_int(self.patience) or self.patience < 1):
            raise ConfigError(f"patience must be an integer >= 1 or null, got {self.patience!r}")
        if not isinstance(self.monitor, str) or not self.monitor:
            raise ConfigError(f"monitor must be a non-empty metric name, got {self.monitor!r}")
        if self.mode not in ("max", "min"):
            raise ConfigError(f"mode must be 'max' or 'min', got {self.mode!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise ConfigError(f"seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.bf16, bool):
            raise ConfigError(f"bf16 must be true or false, got {self.bf16!r}")
        if self.num_threads is not None and (not _is_int(self.num_threads) or self.num_threads < 1):
            raise ConfigError(
                f"num_threads must be an integer >= 1 or null, got {self.num_threads!r}"
            )
        if not isinstance(self.progress, bool):
            raise ConfigError(f"progress must be true or false, got {self.progress!r}")
        if not isinstance(self.param_groups, dict):
            raise ConfigError(f"param_groups must be a mapping, got {self.param_groups!r}")
        for prefix, mult in self.param_groups.items():
            if not isinstance(prefix, str) or not prefix:
                raise ConfigError(f"param_groups keys must be non-empty strings, got {prefix!r}")
            if not _is_number(mult) or mult < 0:
                raise ConfigError(
                    f"param_groups['{prefix}'] must be an lr multiplier >= 0, got {mult!r}"
                )


@dataclass
class TrainHistory:
    """What happened during :meth:`Trainer.fit`. Epoch numbers are 1-based."""

    epochs: list[dict]
    best_epoch: int
    best_score: float
    stopped_early: bool
    seconds: float


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor in ``obj`` (recursively through dicts, lists, tuples) to ``device``."""
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_device(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(to_device(v, device) for v in obj)
    return obj


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix.rstrip(".") + ".")


def _no_decay(name: str, param: Tensor) -> bool:
    return param.ndim < 2 or name.endswith("bias") or "missing" in name.lower()


def build_param_groups(
    model: nn.Module, lr: float, weight_decay: float, multipliers: dict[str, float]
) -> list[dict[str, Any]]:
    """Split trainable parameters into AdamW groups by lr multiplier and weight-decay status."""
    used: set[str] = set()
    groups: dict[tuple[float, bool], list[Tensor]] = {}
    prefixes = sorted(multipliers, key=len, reverse=True)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        mult = 1.0
        for prefix in prefixes:
            if _matches(name, prefix):
                mult = float(multipliers[prefix])
                used.add(prefix)
                break
        groups.setdefault((mult, _no_decay(name, param)), []).append(param)
    unused = sorted(set(multipliers) - used)
    if unused:
        raise ConfigError(
            f"param_groups prefix(es) {unused} match no trainable parameter of the model"
        )
    if not groups:
        raise ConfigError("the model has no trainable parameters")
    ordered = sorted(groups, key=lambda key: (key[0] != 1.0, key[1], -key[0]))
    return [
        {
            "params": groups[key],
            "lr": lr * key[0],
            "weight_decay": 0.0 if key[1] else weight_decay,
        }
        for key in ordered
    ]


def _save_weights(model: nn.Module, path: Path) -> None:
    """Write the model's weights as safetensors via a temp file and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_model(model, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _load_weights(model: nn.Module, path: Path, device: torch.device) -> None:
    if not path.is_file():
        raise ModelLoadError(f"weights file not found: {path}")
    try:
        load_model(model, path, strict=True, device=str(device))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"weights in {path} do not match this model: {exc}") from exc


def _rng_state() -> dict[str, Any]:
    version, mt, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in cuda])


def _json_value(value: Any) -> Any:
    """Plain JSON value for a metric: numbers as float (non-finite -> None)."""
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


class Trainer:
    """Train ``model`` with ``loss_fn`` on batches; evaluate, checkpoint and stop early.

    ``evaluate_fn(model)`` is called after every epoch with the model in eval mode under
    ``torch.inference_mode()``; it must return a dict containing ``config.monitor``. Without
    it, the last epoch counts as best and the monitored value is the train loss (mode min).
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainerConfig,
        loss_fn: LossFn,
        evaluate_fn: EvalFn | None,
        out_dir: Path,
    ) -> None:
        self.model = model
        self.config = config
        self.loss_fn = loss_fn
        self.evaluate_fn = evaluate_fn
        self.out_dir = Path(out_dir)
        # Fail early on bad param_groups prefixes or a frozen model.
        build_param_groups(model, config.lr, config.weight_decay, config.param_groups)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self._best_state: dict[str, Tensor] | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def device(self) -> torch.device:
        for tensor in self.model.parameters():
            return tensor.device
        return torch.device("cpu")

    @property
    def monitor(self) -> str:
        return self.config.monitor if self.evaluate_fn is not None else "train_loss"

    @property
    def mode(self) -> str:
        return self.config.mode if self.evaluate_fn is not None else "min"

    def _improved(self, score: float, best: float | None) -> bool:
        if not math.isfinite(score):
            return False
        if best is None:
            return True
        return score > best if self.mode == "max" else score < best

    def _autocast(self) -> contextlib.AbstractContextManager:
        if not self.config.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _write_metrics(self, records: list[dict]) -> None:
        lines = "".join(json.dumps(r, sort_keys=False) + "\n" for r in records)
        atomic_write_text(self.out_dir / METRICS_FILE, lines)

    def _snapshot_best(self) -> None:
        self._best_state = {
            k: v.detach().clone() for k, v in self.model.state_dict(keep_vars=False).items()
        }
        _save_weights(self.model, self.out_dir / BEST_WEIGHTS)

    def _restore_best(self) -> None:
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        elif (self.out_dir / BEST_WEIGHTS).is_file():
            _load_weights(self.model, self.out_dir / BEST_WEIGHTS, self.device)

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        assert self.optimizer is not None and self.scheduler is not None
        with atomic_directory(self.out_dir / CHECKPOINT_DIR) as tmp:
            save_model(self.model, str(tmp / "model.safetensors"))
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")

    def _load_checkpoint(self) -> dict[str, Any]:
        assert self.optimizer is not None and self.scheduler is not None
        ckpt = self.out_dir / CHECKPOINT_DIR
        state_path = ckpt / "state.json"
        if not state_path.is_file():
            raise ModelLoadError(f"no checkpoint to resume from: {state_path} does not exist")
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"checkpoint state {state_path} is not valid JSON") from exc
        _load_weights(self.model, ckpt / "model.safetensors", self.device)
        for name, target in (("optimizer.pt", self.optimizer), ("scheduler.pt", self.scheduler)):
            path = ckpt / name
            try:
                target.load_state_dict(
                    torch.load(path, map_location=self.device, weights_only=True)
                )
            except FileNotFoundError:
                raise ModelLoadError(f"checkpoint file missing: {path}") from None
            except (RuntimeError, ValueError, KeyError, TypeError) as exc:
                raise ModelLoadError(f"checkpoint {path} does not match this model: {exc}") from exc
        return state

    # --------------------------------------------------------------------- fit
    def fit(self, train_batches: Iterable[dict], resume: bool = False) -> TrainHistory:
        """Train for ``config.epochs`` epochs (or until early stopping) and load best weights.

        ``train_batches`` must have ``__len__``; ``set_epoch(epoch)`` (0-based) is called
        before each epoch if present. With ``resume=True`` training continues from
        ``out_dir/checkpoint`` and gives the same result as an uninterrupted run (provided
        the batch order depends only on the epoch).
        """
        cfg = self.config
        set_threads(cfg.num_threads)
        steps_per_epoch = len(train_batches)  # type: ignore[arg-type]
        if steps_per_epoch < 1:
            raise ConfigError("train_batches is empty: nothing to train on")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.optimizer = torch.optim.AdamW(
            build_param_groups(self.model, cfg.lr, cfg.weight_decay, cfg.param_groups)
        )
        total_steps = cfg.epochs * steps_per_epoch
        self.scheduler = warmup_cosine(
            self.optimizer, total_steps, round(cfg.warmup_ratio * total_steps)
        )
        self._best_state = None

        records: list[dict] = []
        start_epoch, global_step, bad_epochs = 0, 0, 0
        best_score: float | None = None
        best_epoch, seconds, stopped_early = 0, 0.0, False
        if resume:
            state = self._load_checkpoint()
            records = list(state["history"])
            start_epoch = int(state["epoch"])
            global_step = int(state["global_step"])
            best_score = state["best_score"]
            best_epoch = int(state["best_epoch"])
            bad_epochs = int(state["bad_epochs"])
            seconds = float(state["seconds"])
            stopped_early = bool(state["stopped_early"])
            self._write_metrics(records)  # drop lines of an epoch that never checkpointed
            _set_rng_state(state["rng"])
            if stopped_early:
                start_epoch = cfg.epochs  # the run already finished
        else:
            seed_everything(cfg.seed)
            shutil.rmtree(self.out_dir / CHECKPOINT_DIR, ignore_errors=True)
            (self.out_dir / BEST_WEIGHTS).unlink(missing_ok=True)
            self._write_metrics([])

        last_score = records[-1].get(self.monitor) if records else None
        for epoch in range(start_epoch, cfg.epochs):
            record, last_score = self._run_epoch(train_batches, epoch, global_step, last_score)
            global_step += steps_per_epoch
            records.append(record)
            seconds += record["seconds"]
            self._write_metrics(records)

            score = record[self.monitor]
            score = float("nan") if score is None else float(score)
            if self.evaluate_fn is None or self._improved(score, best_score):
                best_score, best_epoch, bad_epochs = score, epoch + 1, 0
                self._snapshot_best()
            else:
                bad_epochs += 1
            has_patience = self.evaluate_fn is not None and cfg.patience is not None
            stopped_early = has_patience and bad_epochs >= cfg.patience and epoch + 1 < cfg.epochs
            self._save_checkpoint(
                {
                    "epoch": epoch + 1,
                    "global_step": global_step,
                    "best_score": _json_value(best_score),
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "stopped_early": stopped_early,
                    "seconds": seconds,
                    "steps_per_epoch": steps_per_epoch,
                    "monitor": self.monitor,
                    "mode": self.mode,
                    "history": records,
                    "rng": _rng_state(),
                }
            )
            if stopped_early:
                break

        self._restore_best()
        self.model.train()
        return TrainHistory(
            epochs=records,
            best_epoch=best_epoch,
            best_score=float("nan") if best_score is None else float(best_score),
            stopped_early=stopped_early,
            seconds=seconds,
        )

    def _run_epoch(
        self, train_batches: Iterable[dict], epoch: int, step: int, last_score: Any
    ) -> tuple[dict, Any]:
        """One pass over the batches plus evaluation; returns the epoch record."""
        cfg = self.config
        assert self.optimizer is not None and self.scheduler is not None
        optimizer, scheduler = self.optimizer, self.scheduler
        device = self.device
        params = [p for g in optimizer.param_groups for p in g["params"]]
        start = time.perf_counter()
        set_epoch = getattr(train_batches, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        self.model.train()
        sums: dict[str, Tensor] = {}
        n_batches = 0
        lr = cfg.lr * scheduler.lr_lambdas[0](step)
        bar = tqdm(
            total=len(train_batches),  # type: ignore[arg-type]
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not cfg.progress,
            dynamic_ncols=True,
        )
        try:
            for batch in train_batches:
                batch = to_device(batch, device)
                with self._autocast():
                    outputs = self.model(batch)
                    losses = self.loss_fn(outputs, batch)
                if "loss" not in losses:
                    raise ConfigError(
                        f"loss_fn must return a dict with a 'loss' entry, got {sorted(losses)}"
                    )
                optimizer.zero_grad(set_to_none=True)
                losses["loss"].backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                lr = cfg.lr * scheduler.lr_lambdas[0](scheduler.last_epoch)
                optimizer.step()
                scheduler.step()
                for key, value in losses.items():
                    value = value.detach().float()
                    sums[key] = sums[key] + value if key in sums else value
                n_batches += 1
                if not bar.disable:
                    if n_batches % _POSTFIX_EVERY == 1 or _POSTFIX_EVERY == 1:
                        bar.set_postfix(self._postfix(sums, n_batches, last_score), refresh=False)
                    bar.update(1)
            if n_batches == 0:
                raise ConfigError(f"train_batches yielded no batch in epoch {epoch + 1}")
            means = {k: float(v) / n_batches for k, v in sums.items()}
            if not math.isfinite(means["loss"]):
                raise FloatingPointError(
                    f"training loss is {means['loss']} in epoch {epoch + 1}; "
                    "try a lower lr, grad_clip, or bf16=false"
                )
            record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": means.pop("loss")}
            record.update(means)
            record["lr"] = lr
            if self.evaluate_fn is not None:
                record.update(self._evaluate())
                if self.monitor not in record:
                    raise ConfigError(
                        f"monitor '{self.monitor}' is not among the evaluation metrics "
                        f"{sorted(record)}; set TrainerConfig.monitor"
                    )
            record["seconds"] = time.perf_counter() - start
            last_score = record.get(self.monitor)
            if not bar.disable:
                bar.set_postfix(self._postfix(sums, n_batches, last_score), refresh=True)
        finally:
            bar.close()
        return record, last_score

    def _evaluate(self) -> dict[str, Any]:
        assert self.evaluate_fn is not None
        self.model.eval()
        try:
            with torch.inference_mode():
                metrics = self.evaluate_fn(self.model)
        finally:
            self.model.train()
        return {str(k): _json_value(v) for k, v in metrics.items()}

    def _postfix(self, sums: dict[str, Tensor], n: int, last_score: Any) -> dict[str, str]:
        out = {"loss": f"{float(sums['loss']) / max(n, 1):.4f}"}
        if isinstance(last_score, int | float):
            out[self.monitor if self.evaluate_fn else "val"] = f"{last_score:.4f}"
        return out

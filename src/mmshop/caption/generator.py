"""TitleGenerator: train, save/load, generate product titles from photos, evaluate."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_model, save_model
from tqdm.auto import tqdm

from mmshop import __version__
from mmshop.caption.config import MAX_BEAMS, CaptionConfig
from mmshop.caption.decoding import beam_search, greedy
from mmshop.caption.metrics import caption_scores
from mmshop.caption.model import CaptionModel
from mmshop.caption.training import (
    CaptionBatches,
    CaptionData,
    caption_data,
    caption_loss,
    mean_loss,
    plan_budget,
    titles_of,
    values_of,
)
from mmshop.caption.vocab import Vocabulary
from mmshop.data.catalog import Catalog
from mmshop.data.processors.image import ImageProcessor
from mmshop.errors import ConfigError, DataError, ModelLoadError, QueryError
from mmshop.models.io import check_format, read_json, verify_model_dir, write_model_dir
from mmshop.training.seed import seed_everything, set_threads
from mmshop.training.trainer import Trainer
from mmshop.utils.io import atomic_write_text

FORMAT = "mmshop.title_generator"
FORMAT_VERSION = 1
ImageInput = bytes | bytearray | str | Path | Image.Image


class TitleGenerator:
    """Writes a product title for a photo: a CNN image encoder and a small Transformer decoder.

    >>> gen = TitleGenerator.fit(catalog.split("train"), catalog.split("val"))
    >>> gen.generate(["photo.jpg"], beams=3)
    ['nike men black running shoes']
    """

    def __init__(
        self,
        config: CaptionConfig,
        vocab: Vocabulary,
        model: CaptionModel,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.vocab = vocab
        self.model = model.eval()
        self.image = ImageProcessor(config.image)
        self.info: dict[str, Any] = info or {}

    # ------------------------------------------------------------------ training
    @classmethod
    def fit(
        cls,
        train: Catalog,
        val: Catalog | None = None,
        overrides: dict[str, Any] | None = None,
        work_dir: str | Path | None = None,
        progress: bool = True,
        config: CaptionConfig | None = None,
    ) -> TitleGenerator:
        """Build the vocabulary from ``train`` titles and train with teacher forcing; early
        stopping on the validation loss (``val``, else ``val_fraction`` of ``train``)."""
        cfg = (config or CaptionConfig()).replace(overrides or {})
        started = time.perf_counter()
        seed_everything(cfg.trainer.seed)
        set_threads(cfg.trainer.num_threads)
        image = ImageProcessor(cfg.image)
        vocab = Vocabulary.build(
            (t for t in titles_of(train, cfg.title_column) if t), cfg.min_count, cfg.max_vocab
        )
        data = caption_data(train, image, cfg, vocab, progress)
        if len(data.rows) < 2:
            raise DataError(
                f"catalogue {train.source} has {len(data.rows)} rows with both a readable image "
                f"and a title '{cfg.title_column}'; need at least 2 to train"
            )
        val_data = caption_data(val, image, cfg, vocab, progress) if val is not None else None
        if val_data is None or len(val_data.rows) == 0:
            data, val_data = _holdout(data, cfg.val_fraction, cfg.trainer.seed)
        model = CaptionModel(cfg, len(vocab))
        batches = CaptionBatches(data, image, cfg.batch_size, cfg.trainer.seed, cfg.image.augment)
        loss_fn = caption_loss(cfg.label_smoothing)
        val_eval = CaptionBatches(val_data, image, cfg.eval_batch_size, 0, augment=False)

        def evaluate(m: torch.nn.Module) -> dict[str, float]:
            chunks = np.array_split(np.arange(len(val_data.rows)), len(val_eval))
            return {"val_loss": mean_loss(m, [val_eval.batch(c, None) for c in chunks])}

        trainer_cfg = cfg.trainer.replace({"progress": cfg.trainer.progress and progress})
        plan = None
        if cfg.max_minutes is not None:
            plan = plan_budget(
                model, batches, loss_fn, trainer_cfg.epochs, cfg.max_minutes, len(val_data.rows)
            )
            trainer_cfg = trainer_cfg.replace({"epochs": plan["epochs"]})
            if plan["steps_per_epoch"] < batches.full_steps:
                batches.steps = plan["steps_per_epoch"]
            batches.deadline = time.perf_counter() + cfg.max_minutes * 60.0
        work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="mmshop-caption-"))
        history = Trainer(model, trainer_cfg, loss_fn, evaluate, work).fit(batches)
        info = {
            "train_rows": len(data.rows),
            "val_rows": len(val_data.rows),
            "skipped_train_rows": data.skipped,
            "vocab_size": len(vocab),
            "epochs_run": len(history.epochs),
            "best_epoch": history.best_epoch,
            "val_loss": round(history.best_score, 4),
            "stopped_early": history.stopped_early,
            "budget_plan": plan,
            "train_minutes": round((time.perf_counter() - started) / 60.0, 2),
            "catalog": train.fingerprint,
            "mmshop_version": __version__,
        }
        return cls(cfg, vocab, model, info)

    # ---------------------------------------------------------------- generation
    def _pixels(self, images: Sequence[ImageInput]) -> np.ndarray:
        if isinstance(images, ImageInput):  # one image given bare
            images = [images]
        if not isinstance(images, Sequence) or len(images) == 0:
            raise QueryError("no images given: pass a list of image bytes, paths or PIL images")
        out = []
        for k, item in enumerate(images):
            name = f"#{k + 1}"
            if isinstance(item, bytes | bytearray):
                out.append(self.image.load_bytes(bytes(item), name=name))
            elif isinstance(item, str | Path):
                out.append(self.image.load(Path(item)))
            elif isinstance(item, Image.Image):
                out.append(self.image.load_pil(item, name=name))
            else:
                raise QueryError(
                    f"image {name}: expected bytes, a file path or a PIL image, "
                    f"got {type(item).__name__}"
                )
        return np.stack(out)

    def _check(self, beams: Any, max_len: Any) -> int:
        if not isinstance(beams, int) or isinstance(beams, bool) or not 1 <= beams <= MAX_BEAMS:
            raise QueryError(f"beams must be an integer in 1..{MAX_BEAMS}, got {beams!r}")
        limit = self.config.max_len
        max_len = limit if max_len is None else max_len
        if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= limit:
            raise QueryError(f"max_len must be an integer in 1..{limit}, got {max_len!r}")
        return max_len

    def generate(
        self, images: Sequence[ImageInput], beams: int = 3, max_len: int | None = None
    ) -> list[str]:
        """One title per image (encoded bytes, a file path or a PIL image).

        ``beams=1`` is greedy decoding; ``max_len`` (default and limit: ``config.max_len``)
        caps the words generated. Unreadable images raise DataError naming the image.
        """
        max_len = self._check(beams, max_len)
        return self.generate_arrays(self._pixels(images), beams, max_len)

    @torch.inference_mode()
    def generate_arrays(
        self,
        pixels: np.ndarray,
        beams: int | None = None,
        max_len: int | None = None,
        progress: bool = False,
    ) -> list[str]:
        """Titles for decoded uint8 images ``[N, H, W, 3]`` (e.g. a feature-cache memmap)."""
        beams = self.config.beams if beams is None else beams
        max_len = self._check(beams, max_len)
        self.model.eval()
        step = max(1, self.config.eval_batch_size // beams)
        out: list[str] = []
        for s in tqdm(range(0, len(pixels), step), disable=not progress, desc="generating"):
            x = self.image.to_tensor(np.asarray(pixels[s : s + step]))
            memory = self.model.encode(x)
            if beams == 1:
                ids = greedy(self.model, memory, max_len)
            else:
                ids = beam_search(self.model, memory, beams, max_len, self.config.length_penalty)
            out.extend(self.vocab.decode(row) for row in ids)
        return out

    @torch.inference_mode()
    def image_features(self, pixels: np.ndarray) -> np.ndarray:
        """L2-normalised pooled CNN features ``[N, 8 * cnn_width]`` of decoded uint8 images."""
        self.model.eval()
        feats = []
        for s in range(0, len(pixels), self.config.eval_batch_size):
            x = self.image.to_tensor(np.asarray(pixels[s : s + self.config.eval_batch_size]))
            feats.append(torch.nn.functional.normalize(self.model.pooled(x), dim=-1))
        if not feats:
            return np.zeros((0, self.model.encoder.output_dim), dtype=np.float32)
        return torch.cat(feats).numpy().astype(np.float32)

    def catalog_images(self, catalog: Catalog, progress: bool = False) -> CaptionData:
        """Decoded images of ``catalog`` rows that have one (``rows``: their positions)."""
        return caption_data(catalog, self.image, self.config, None, progress)

    # ---------------------------------------------------------------- evaluation
    def evaluate(
        self, catalog: Catalog, beams: int | None = None, progress: bool = False
    ) -> dict[str, Any]:
        """BLEU-4, CIDEr-D and (where the type/colour columns exist) attribute accuracy of
        titles generated for every row with an image and a reference title."""
        data = self.catalog_images(catalog, progress)
        refs = titles_of(catalog, self.config.title_column)
        rows = np.array([r for r in data.rows if refs[r]], dtype=np.int64)
        if len(rows) == 0:
            raise DataError(f"catalogue {catalog.source} has no row with an image and a title")
        hyps = self.generate_arrays(data.images[rows], beams, progress=progress)
        types = values_of(catalog, self.config.type_column)
        colours = values_of(catalog, self.config.colour_column)
        scores = caption_scores(
            hyps,
            [refs[r] for r in rows],
            [types[r] for r in rows] if types and colours else None,
            [colours[r] for r in rows] if types and colours else None,
        )
        return {**scores, "rows": len(rows), "skipped_rows": len(catalog) - len(rows)}

    @torch.inference_mode()
    def loss(self, catalog: Catalog) -> float:
        """Mean token cross-entropy of the catalogue's titles given their photos."""
        data = caption_data(catalog, self.image, self.config, self.vocab, False)
        if len(data.rows) == 0:
            raise DataError(f"catalogue {catalog.source} has no row with an image and a title")
        batches = CaptionBatches(data, self.image, self.config.eval_batch_size, 0, False)
        chunks = np.array_split(np.arange(len(data.rows)), len(batches))
        return mean_loss(self.model.eval(), [batches.batch(c, None) for c in chunks])

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """``caption.json`` (config, vocabulary, info) + ``model.safetensors``, atomically."""

        def write(tmp: Path) -> None:
            meta = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "mmshop_version": __version__,
                "config": self.config.to_dict(),
                "vocab": self.vocab.to_dict(),
                "info": self.info,
            }
            atomic_write_text(tmp / "caption.json", json.dumps(meta, indent=2, default=str))
            save_model(self.model, str(tmp / "model.safetensors"))

        return write_model_dir(Path(path), write)

    @classmethod
    def load(cls, path: str | Path) -> TitleGenerator:
        """Load a saved generator; a tampered, partial or foreign folder is a ModelLoadError."""
        path = Path(path)
        verify_model_dir(path, required=("caption.json", "model.safetensors"))
        meta = read_json(path / "caption.json")
        check_format(meta, path, FORMAT, FORMAT_VERSION)
        try:
            config = CaptionConfig.from_dict(meta["config"])
        except (KeyError, ConfigError) as exc:
            raise ModelLoadError(f"{path}/caption.json has an invalid config: {exc}") from exc
        vocab = Vocabulary.from_dict(meta.get("vocab"))
        model = CaptionModel(config, len(vocab))
        try:
            load_model(model, str(path / "model.safetensors"), strict=True)
        except (RuntimeError, ValueError) as exc:
            raise ModelLoadError(f"{path}: weights do not match the model: {exc}") from exc
        return cls(config, vocab, model, meta.get("info") or {})


def _holdout(data: CaptionData, fraction: float, seed: int) -> tuple[CaptionData, CaptionData]:
    """Split training examples into train and a validation part (at least one each)."""
    assert data.targets is not None
    order = np.random.default_rng(seed).permutation(len(data.rows))
    n_val = min(max(1, round(len(order) * fraction)), len(order) - 1)
    val_pos, train_pos = np.sort(order[:n_val]), np.sort(order[n_val:])

    def part(pos: np.ndarray) -> CaptionData:
        assert data.targets is not None
        return CaptionData(data.images, data.rows[pos], data.targets[pos], data.skipped)

    return part(train_pos), part(val_pos)

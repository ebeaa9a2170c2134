"""Image decoding to fixed-size uint8 arrays, normalisation and train-time augmentation."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError, DataError

# Errors PIL raises for corrupt, truncated or unsupported files.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
_HIGH_BIT_MODES = {"I;16": 257.0, "I;16L": 257.0, "I;16B": 257.0, "I;16N": 257.0}
RESIZE_MODES = ("letterbox", "stretch", "center_crop")
RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass
class ImageProcessorConfig(ConfigBase):
    """How images are decoded, normalised and (in training) augmented."""

    size: tuple[int, int] = (64, 48)  # (height, width)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    pad_value: int = 255  # product photos have white backgrounds
    max_pixels: int = 40_000_000  # decompression-bomb guard, checked from the header
    max_bytes: int = 20_000_000
    augment: bool = True  # used by training batches only
    flip: bool = True  # random horizontal flip when augmenting
    max_translate: float = 0.08  # fraction of height/width
    max_zoom: float = 0.1  # scale drawn from [1 - max_zoom, 1 + max_zoom]
    # letterbox: fit inside ``size`` keeping the aspect ratio, pad; stretch: resize to ``size``;
    # center_crop: scale so the shortest edge is ``shortest_edge`` (default: cover ``size``),
    # then crop the centre. Pretrained checkpoints set these from their preprocessor config.
    resize: str = "letterbox"
    shortest_edge: int | None = None
    resample: str = "bilinear"

    def validate(self) -> None:
        if len(self.size) != 2 or any(int(s) != s or s <= 0 for s in self.size):
            raise ConfigError(f"image.size must be two positive integers (h, w), got {self.size}")
        self.size = (int(self.size[0]), int(self.size[1]))
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3:
                raise ConfigError(f"image.{name} needs 3 values (one per RGB channel), got {value}")
            setattr(self, name, tuple(float(v) for v in value))
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"image.std values must be > 0, got {self.std}")
        if not 0 <= self.pad_value <= 255:
            raise ConfigError(f"image.pad_value must be in 0..255, got {self.pad_value}")
        if self.max_pixels <= 0:
            raise ConfigError(f"image.max_pixels must be > 0, got {self.max_pixels}")
        if self.max_bytes <= 0:
            raise ConfigError(f"image.max_bytes must be > 0, got {self.max_bytes}")
        if not 0 <= self.max_translate < 0.5:
            raise ConfigError(f"image.max_translate must be in [0, 0.5), got {self.max_translate}")
        if not 0 <= self.max_zoom < 0.5:
            raise ConfigError(f"image.max_zoom must be in [0, 0.5), got {self.max_zoom}")
        if self.resize not in RESIZE_MODES:
            raise ConfigError(
                f"image.resize must be one of {list(RESIZE_MODES)}, got {self.resize!r}"
            )
        if self.shortest_edge is not None and (
            int(self.shortest_edge) != self.shortest_edge or self.shortest_edge <= 0
        ):
            raise ConfigError(
                f"image.shortest_edge must be a positive integer, got {self.shortest_edge}"
            )
        if self.resample not in RESAMPLE:
            raise ConfigError(
                f"image.resample must be one of {list(RESAMPLE)}, got {self.resample!r}"
            )


class ImageProcessor:
    """Decode any image to ``uint8 [H, W, 3]`` (letterboxed), then normalise batches in torch.

    State: :meth:`to_dict` / :meth:`from_dict` (the config as JSON).
    """

    def __init__(self, config: ImageProcessorConfig | None = None) -> None:
        self.config = config or ImageProcessorConfig()

    # ------------------------------------------------------------------ decoding
    def load(self, path: str | Path) -> np.ndarray:
        """Decode the image file at ``path``; raise DataError naming the file if unusable."""
        path = Path(path)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise DataError(f"image file not found: {path}") from None
        except OSError as exc:
            raise DataError(f"cannot read image file {path}: {exc}") from exc
        self._check_bytes(size, str(path))
        try:
            with open(path, "rb") as fh:
                return self._decode(fh, str(path))
        except OSError as exc:  # open() failures; decode errors are wrapped in _decode
            raise DataError(f"cannot read image file {path}: {exc}") from exc

    def load_bytes(self, data: bytes, name: str = "upload") -> np.ndarray:
        """Decode an in-memory image (e.g. an upload); errors name ``name``."""
        self._check_bytes(len(data), name)
        return self._decode(io.BytesIO(data), name)

    def load_pil(self, img: Image.Image, name: str = "image") -> np.ndarray:
        """Bring an already opened PIL image to ``uint8 [H, W, 3]`` (same pixel limit)."""
        w, h = img.size
        if w * h > self.config.max_pixels:
            raise DataError(
                f"image {name} has too many pixels: {w}x{h} > max_pixels={self.config.max_pixels}"
            )
        try:
            img.load()
            return self._fit(self._to_rgb(ImageOps.exif_transpose(img)))
        except _DECODE_ERRORS as exc:
            raise DataError(f"cannot decode image {name}: {exc}") from exc

    def _check_bytes(self, size: int, name: str) -> None:
        if size > self.config.max_bytes:
            raise DataError(
                f"image {name} is too large: {size} bytes > max_bytes={self.config.max_bytes}"
            )
        if size == 0:
            raise DataError(f"image {name} is empty (0 bytes)")

    def _decode(self, fh: BinaryIO, name: str) -> np.ndarray:
        cfg = self.config
        try:
            with Image.open(fh) as img:
                w, h = img.size
                if w * h > cfg.max_pixels:
                    raise DataError(
                        f"image {name} has too many pixels: {w}x{h} > max_pixels={cfg.max_pixels}"
                    )
                side = max(max(cfg.size), cfg.shortest_edge or 0)
                img.draft(None, (side, side))  # JPEG: decode at reduced scale (fast, still >= side)
                img.load()
                img = ImageOps.exif_transpose(img)
                rgb = self._to_rgb(img)
                return self._fit(rgb)
        except DataError:
            raise
        except _DECODE_ERRORS as exc:
            raise DataError(f"cannot decode image {name}: {exc}") from exc

    def _to_rgb(self, img: Image.Image) -> Image.Image:
        mode = img.mode
        if mode == "RGB":
            return img
        if mode in _HIGH_BIT_MODES or mode in ("I", "F"):
            arr = np.asarray(img, dtype=np.float32)
            if mode in _HIGH_BIT_MODES:
                arr = arr / _HIGH_BIT_MODES[mode]
            elif arr.size and float(arr.max()) > 255.0:
                arr = arr * (255.0 / float(arr.max()))
            img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")
            return img.convert("RGB")
        has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
            mode == "P" and "transparency" in img.info
        )
        if has_alpha:
            rgba = img.convert("RGBA")
            fill = self.config.pad_value
            background = Image.new("RGBA", rgba.size, (fill, fill, fill, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return img.convert("RGB")

    def _fit(self, img: Image.Image) -> np.ndarray:
        """Bring a decoded RGB image to ``size`` with the configured resize mode."""
        cfg = self.config
        th, tw = cfg.size
        resample = RESAMPLE[cfg.resample]
        if cfg.resize == "stretch":
            if img.size != (tw, th):
                img = img.resize((tw, th), resample, reducing_gap=3.0)
            return np.asarray(img, dtype=np.uint8).copy()
        if cfg.resize == "center_crop":
            w, h = img.size
            scale = cfg.shortest_edge / min(w, h) if cfg.shortest_edge else max(th / h, tw / w)
            nw, nh = max(tw, round(w * scale)), max(th, round(h * scale))
            if (nw, nh) != (w, h):
                img = img.resize((nw, nh), resample, reducing_gap=3.0)
            left, top = (nw - tw) // 2, (nh - th) // 2
            return np.asarray(img.crop((left, top, left + tw, top + th)), dtype=np.uint8).copy()
        return self._letterbox(img, resample)

    def _letterbox(
        self, img: Image.Image, resample: Image.Resampling = Image.Resampling.BILINEAR
    ) -> np.ndarray:
        th, tw = self.config.size
        w, h = img.size
        scale = min(th / h, tw / w)
        nw, nh = max(1, min(tw, round(w * scale))), max(1, min(th, round(h * scale)))
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), resample, reducing_gap=3.0)
        out = np.full((th, tw, 3), self.config.pad_value, dtype=np.uint8)
        top, left = (th - nh) // 2, (tw - nw) // 2
        out[top : top + nh, left : left + nw] = np.asarray(img, dtype=np.uint8)
        return out

    def blank(self) -> np.ndarray:
        """A padding-only image, used where a row has no usable image."""
        h, w = self.config.size
        return np.full((h, w, 3), self.config.pad_value, dtype=np.uint8)

    # ------------------------------------------------------------------ tensors
    def _stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.tensor(self.config.mean, dtype=torch.float32, device=device)
        std = torch.tensor(self.config.std, dtype=torch.float32, device=device)
        return mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)

    def to_tensor(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 ``[B,H,W,3]`` (or one ``[H,W,3]``) -> normalised float32 ``[B,3,H,W]``.

        The result is in channels_last memory format.
        """
        if isinstance(images, np.ndarray) and not images.flags.writeable:
            images = np.array(images)  # torch refuses to wrap read-only memory (e.g. a memmap)
        t = torch.as_tensor(images)
        if t.ndim == 3:
            t = t.unsqueeze(0)
        if t.ndim != 4 or t.shape[-1] != 3:
            raise DataError(f"expected uint8 images [B,H,W,3], got shape {tuple(t.shape)}")
        mean, std = self._stats(t.device)
        x = t.permute(0, 3, 1, 2).to(torch.float32)  # a channels_last view of NHWC memory
        x = x.mul_(1.0 / 255.0).sub_(mean).div_(std)
        return x.contiguous(memory_format=torch.channels_last)

    def normalised_pad(self) -> torch.Tensor:
        """The pad value after normalisation, shape ``[1,3,1,1]``."""
        mean, std = self._stats(torch.device("cpu"))
        return (self.config.pad_value / 255.0 - mean) / std

    def augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Random horizontal flip plus small translation/zoom; area shifted in is the pad value.

        Geometry only: colours are never altered (pixels are resampled from the input or are
        the pad colour). Deterministic for a given ``generator`` state.
        """
        if x.ndim != 4 or x.shape[0] == 0:
            return x
        cfg = self.config
        b, _, h, w = x.shape
        dev, dtype = x.device, x.dtype
        u = torch.rand(b, 4, generator=generator, device=generator.device).to(dev, dtype)
        flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0) if cfg.flip else torch.ones_like(u[:, 0])
        scale = 1.0 + (2.0 * u[:, 1] - 1.0) * cfg.max_zoom
        tx = (2.0 * u[:, 2] - 1.0) * cfg.max_translate * 2.0  # grid coordinates span 2 units
        ty = (2.0 * u[:, 3] - 1.0) * cfg.max_translate * 2.0
        # The affine grid without rotation is separable: build it directly (cheaper than bmm).
        xs = (torch.arange(w, device=dev, dtype=dtype) * 2 + 1) / w - 1
        ys = (torch.arange(h, device=dev, dtype=dtype) * 2 + 1) / h - 1
        grid = torch.empty(b, h, w, 2, device=dev, dtype=dtype)
        grid[..., 0] = ((scale * flip)[:, None] * xs[None, :] + tx[:, None])[:, None, :]
        grid[..., 1] = (scale[:, None] * ys[None, :] + ty[:, None])[:, :, None]
        sample = dict(mode="bilinear", padding_mode="zeros", align_corners=False)
        moved = F.grid_sample(x, grid, **sample)
        inside = F.grid_sample(torch.ones(b, 1, h, w, device=dev, dtype=dtype), grid, **sample)
        # out = sampled pixels + pad colour weighted by the part of each sample outside the image
        fill = self.normalised_pad().to(device=dev, dtype=dtype)
        out = torch.empty_like(x, memory_format=torch.channels_last)
        return torch.addcmul(moved, 1.0 - inside, fill, out=out)

    # ------------------------------------------------------------------ state
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (the config)."""
        return self.config.to_dict()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageProcessor:
        return cls(ImageProcessorConfig.from_dict(d))

    def cache_state(self) -> dict[str, Any]:
        """The part of the state that changes decoded uint8 arrays (keys the feature cache)."""
        c = self.config
        state: dict[str, Any] = {
            "size": list(c.size),
            "pad_value": c.pad_value,
            "max_pixels": c.max_pixels,
            "max_bytes": c.max_bytes,
            "decoder": 1,
        }
        # only non-default resizing enters the key, so existing caches stay valid
        if (c.resize, c.shortest_edge, c.resample) != ("letterbox", None, "bilinear"):
            state.update(resize=c.resize, shortest_edge=c.shortest_edge, resample=c.resample)
        return state

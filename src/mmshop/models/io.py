"""Saved model directories: plain files (JSON + safetensors), written atomically, hash-checked."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from mmshop.errors import ModelLoadError
from mmshop.utils.io import atomic_directory, atomic_write_text, sha256_file

MANIFEST = "manifest.json"


def write_model_dir(target: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_dir)`` then record a sha256 manifest and move the folder into place.

    If anything fails the previous contents of ``target`` are untouched.
    """
    target = Path(target)
    with atomic_directory(target) as tmp:
        write(tmp)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest = {p.relative_to(tmp).as_posix(): sha256_file(p) for p in files}
        atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
    return target


def verify_model_dir(path: Path, required: tuple[str, ...] = ("config.json",)) -> dict[str, str]:
    """Check the folder exists, holds the required files, and matches its manifest."""
    path = Path(path)
    if not path.is_dir():
        raise ModelLoadError(f"model directory not found: {path}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ModelLoadError(f"{path} is not an mmshop model directory (no {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{manifest_path} is not valid JSON: {exc}") from exc
    for name in required:
        if name not in manifest:
            raise ModelLoadError(f"{path} is missing {name}")
    for name, digest in manifest.items():
        file = path / name
        if not file.is_file():
            raise ModelLoadError(f"{path}: file {name} listed in the manifest is missing")
        if sha256_file(file) != digest:
            raise ModelLoadError(
                f"{path}: {name} was changed after saving (checksum mismatch); re-save or re-train"
            )
    return manifest


def check_format(meta: Any, path: Path, fmt: str, version: int | None = None) -> dict[str, Any]:
    """``meta`` (a saved folder's JSON) must name format ``fmt``, and at most ``version``."""
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        held = meta.get("format") if isinstance(meta, dict) else None
        raise ModelLoadError(f"{path} holds '{held}', not a {fmt}")
    saved = meta.get("format_version", 0)
    if not isinstance(saved, int) or isinstance(saved, bool):
        raise ModelLoadError(f"{path}: format_version must be an integer, got {saved!r}")
    if version is not None and saved > version:
        raise ModelLoadError(
            f"{path} was saved by a newer mmshop (format {saved} > {version}); upgrade to load it"
        )
    return meta


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"missing file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc


def save_weights(model: nn.Module, path: Path, exclude: Collection[str] = ()) -> None:
    """Write the model's state as safetensors, leaving out the keys in ``exclude``."""
    skip = set(exclude)
    state = {
        k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k not in skip
    }
    save_file(state, str(path))


def load_weights(model: nn.Module, path: Path, external: Collection[str] = ()) -> None:
    """Load safetensors weights; keys or shapes that do not match the model are a clear error.

    ``external`` keys are already in the model (they come from a base checkpoint) and must not
    be in the file.
    """
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"cannot read weights {path}: {exc}") from exc
    skip = set(external)
    expected = {k: v for k, v in model.state_dict().items() if k not in skip}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape)
    )
    if missing or unexpected or wrong:
        raise ModelLoadError(
            f"weights in {path} do not match the model config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}"
        )
    with torch.no_grad():
        result = model.load_state_dict(state, strict=False)
    left = sorted(set(result.missing_keys) - skip)
    if left or result.unexpected_keys:  # pragma: no cover - guarded by the checks above
        raise ModelLoadError(f"weights in {path} do not match the model: missing {left[:5]}")

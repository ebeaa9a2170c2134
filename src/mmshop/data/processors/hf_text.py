"""Text -> token ids + attention mask with a pretrained checkpoint's own tokenizer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmshop.errors import ConfigError, ModelLoadError, require
from mmshop.utils.io import atomic_write_text

STATE_FILE = "hf_text_processor.json"
_CHUNK = 4096


class HFTextProcessor:
    """Wraps a ``transformers`` tokenizer loaded from a checkpoint folder.

    :meth:`encode_arrays` gives ``text`` (int32 ``[N, max_length]``, the tokenizer's own ids,
    special tokens included, padded with its pad id, which need not be 0) and
    ``text_attention_mask`` (bool, True on real tokens). Saved state: the tokenizer files plus
    ``hf_text_processor.json``, so a saved model carries its tokenizer.
    """

    kind = "hf"

    def __init__(self, tokenizer: Any, max_length: int, source: str = "") -> None:
        if max_length < 2:
            raise ConfigError(
                f"text.max_length must be >= 2 for a pretrained tokenizer, got {max_length}"
            )
        if tokenizer.pad_token_id is None:
            # e.g. GPT-style tokenizers: pad with EOS, masked out by the attention mask anyway
            fallback = tokenizer.eos_token or tokenizer.unk_token
            if fallback is None:
                raise ConfigError(f"tokenizer of {source or 'the checkpoint'} has no pad token")
            tokenizer.pad_token = fallback
        self.tokenizer = tokenizer
        self._max_length = int(max_length)
        self.source = source

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, max_length: int, cap: int | None = None
    ) -> HFTextProcessor:
        """Load the tokenizer in ``path``; ``max_length`` is capped by the model's own limit."""
        transformers = require("transformers", "hf")
        try:
            tok = transformers.AutoTokenizer.from_pretrained(str(path))
        except Exception as exc:  # transformers raises many kinds here
            raise ConfigError(f"cannot load the tokenizer of checkpoint {path}: {exc}") from exc
        limits = [max_length, cap, getattr(tok, "model_max_length", None)]
        length = min(int(v) for v in limits if isinstance(v, int | float) and v > 0)
        return cls(tok, length, str(path))

    # ------------------------------------------------------------------ encoding
    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def encode_arrays(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``{"text": int32 [N, L], "text_attention_mask": bool [N, L]}``, truncated and padded."""
        clean = [t if isinstance(t, str) else "" for t in texts]
        length = self._max_length
        ids = np.full((len(clean), length), self.pad_id, dtype=np.int32)
        mask = np.zeros((len(clean), length), dtype=bool)
        for start in range(0, len(clean), _CHUNK):
            enc = self.tokenizer(
                clean[start : start + _CHUNK],
                max_length=length,
                truncation=True,
                padding="max_length",
                return_attention_mask=True,
                return_token_type_ids=False,
                return_tensors="np",
            )
            stop = start + len(enc["input_ids"])
            ids[start:stop] = enc["input_ids"]
            mask[start:stop] = enc["attention_mask"].astype(bool)
        return {"text": ids, "text_attention_mask": mask}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids only (see :meth:`encode_arrays`)."""
        return self.encode_arrays(texts)["text"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    # ------------------------------------------------------------------ state
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(directory))
        state = {
            "format": 1,
            "kind": self.kind,
            "max_length": self._max_length,
            "source": self.source,
        }
        atomic_write_text(directory / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path) -> HFTextProcessor:
        directory = Path(directory)
        try:
            state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelLoadError(f"text processor file missing: {directory / STATE_FILE}") from None
        transformers = require("transformers", "hf")
        try:
            tok = transformers.AutoTokenizer.from_pretrained(str(directory))
        except Exception as exc:
            raise ModelLoadError(f"cannot load the tokenizer saved in {directory}: {exc}") from exc
        return cls(tok, int(state["max_length"]), str(state.get("source", "")))

    def cache_state(self) -> dict[str, Any]:
        """Tokenizer identity and length (keys the feature cache)."""
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is not None:  # minus the padding/truncation settings encoding switches on
            state = json.loads(backend.to_str())
            state.pop("padding", None)
            state.pop("truncation", None)
            blob = json.dumps(state, sort_keys=True)
        else:  # a slow tokenizer: hash its vocabulary
            blob = json.dumps(sorted(self.tokenizer.get_vocab().items()))
        return {
            "kind": self.kind,
            "class": type(self.tokenizer).__name__,
            "max_length": self._max_length,
            "tokenizer": hashlib.sha256(blob.encode("utf-8")).hexdigest(),
        }

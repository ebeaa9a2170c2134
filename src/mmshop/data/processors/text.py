"""A Hugging Face ``tokenizers`` WordPiece tokenizer trained on the catalogue (English and CJK)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tokenizers
from tokenizers import decoders, models, normalizers, pre_tokenizers

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError, ModelLoadError
from mmshop.utils.io import atomic_write_text

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
_PAD_NAMES = {"[PAD]", "<pad>", "<PAD>", "[pad]", "<|pad|>"}
TOKENIZER_FILE = "tokenizer.json"
STATE_FILE = "text_processor.json"


@dataclass
class TextProcessorConfig(ConfigBase):
    """Tokenizer training and encoding settings."""

    vocab_size: int = 8000
    max_length: int = 32
    lowercase: bool = True
    min_frequency: int = 2

    def validate(self) -> None:
        if self.vocab_size < len(SPECIAL_TOKENS) + 1:
            raise ConfigError(f"text.vocab_size must be >= 5, got {self.vocab_size}")
        if self.max_length <= 0:
            raise ConfigError(f"text.max_length must be > 0, got {self.max_length}")
        if self.min_frequency < 0:
            raise ConfigError(f"text.min_frequency must be >= 0, got {self.min_frequency}")


def nonempty(texts: Sequence[str]) -> np.ndarray:
    """bool [N]: True where a text has content beyond whitespace and ``" | "`` separators."""
    return np.array(
        [isinstance(t, str) and bool(t.replace("|", " ").strip()) for t in texts], dtype=bool
    )


class TextProcessor:
    """Text -> ``int32 [N, max_length]`` token ids, right-padded with 0.

    Saved state (``save`` / ``load``): ``tokenizer.json`` and ``text_processor.json`` (config and
    id offset). Ids are shifted by +1 when a user tokenizer's id 0 is not a padding token, so 0
    always means padding.
    """

    pad_id = 0
    unk_id = 1

    def __init__(
        self,
        config: TextProcessorConfig | None = None,
        tokenizer: tokenizers.Tokenizer | None = None,
        offset: int | None = None,
    ) -> None:
        self.config = config or TextProcessorConfig()
        self._tok: tokenizers.Tokenizer | None = None
        self._offset = 0
        if tokenizer is not None:
            self._set_tokenizer(tokenizer, offset)

    def _set_tokenizer(self, tok: tokenizers.Tokenizer, offset: int | None) -> None:
        tok.no_padding()
        tok.enable_truncation(self.config.max_length)
        if offset is None:
            offset = 0 if tok.id_to_token(0) in _PAD_NAMES else 1
        self._tok = tok
        self._offset = int(offset)

    # ------------------------------------------------------------------ fitting
    def _new_tokenizer(self) -> tokenizers.Tokenizer:
        lower = self.config.lowercase
        tok = tokenizers.Tokenizer(
            models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100)
        )
        tok.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=lower, lowercase=lower
        )
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok

    def fit(self, texts: Iterable[str]) -> TextProcessor:
        """Build a WordPiece vocabulary from ``texts``; CJK characters each become a token.

        The vocabulary is chosen deterministically (same texts -> same ids on every run, which
        the trainers in ``tokenizers`` do not guarantee): every character seen, then whole words
        seen at least ``min_frequency`` times, then frequent word prefixes and ``##`` suffixes,
        each ordered by count then alphabetically, up to ``vocab_size``.
        """
        tok = self._new_tokenizer()
        counts: Counter[str] = Counter()
        for text in texts:
            if isinstance(text, str) and text:
                normalized = tok.normalizer.normalize_str(text)
                counts.update(w for w, _ in tok.pre_tokenizer.pre_tokenize_str(normalized))
        vocab = _wordpiece_vocab(counts, self.config.vocab_size, self.config.min_frequency)
        tok.model = models.WordPiece(
            {t: i for i, t in enumerate(vocab)}, unk_token="[UNK]", max_input_chars_per_word=100
        )
        self._set_tokenizer(tok, 0)
        return self

    @classmethod
    def from_tokenizer_file(
        cls, path: str | Path, config: TextProcessorConfig | None = None
    ) -> TextProcessor:
        """Use a user-supplied ``tokenizer.json`` instead of training one."""
        try:
            tok = tokenizers.Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a plain Exception
            raise ConfigError(f"cannot load tokenizer file {path}: {exc}") from exc
        return cls(config, tok)

    # ------------------------------------------------------------------ encoding
    @property
    def fitted(self) -> bool:
        return self._tok is not None

    @property
    def tokenizer(self) -> tokenizers.Tokenizer:
        if self._tok is None:
            raise ConfigError("TextProcessor is not fitted; call fit() or load() first")
        return self._tok

    @property
    def vocab_size(self) -> int:
        """Embedding table size needed for the ids :meth:`encode` returns."""
        return self.tokenizer.get_vocab_size(with_added_tokens=True) + self._offset

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``int32 [N, max_length]`` ids, truncated and right-padded with 0; empty text -> all 0."""
        tok = self.tokenizer
        length = self.config.max_length
        clean = [t if isinstance(t, str) else "" for t in texts]
        out = np.zeros((len(clean), length), dtype=np.int32)
        if not clean:
            return out
        offset = self._offset
        for i, enc in enumerate(tok.encode_batch(clean, add_special_tokens=False)):
            ids = enc.ids[:length]
            if ids:
                out[i, : len(ids)] = np.asarray(ids, dtype=np.int32) + offset
        return out

    def encode_arrays(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The batch-contract arrays for ``texts``: ``{"text": ids}`` (0 = padding)."""
        return {"text": self.encode(texts)}

    @property
    def max_length(self) -> int:
        return self.config.max_length

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids (as from :meth:`encode`) back to text, skipping padding."""
        raw = [int(i) - self._offset for i in ids if int(i) != 0]
        return self.tokenizer.decode([i for i in raw if i >= 0])

    # ------------------------------------------------------------------ state
    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json`` and ``text_processor.json`` into ``directory``."""
        directory = Path(directory)
        atomic_write_text(directory / TOKENIZER_FILE, self.tokenizer.to_str())
        state = {"config": self.config.to_dict(), "offset": self._offset, "format": 1}
        atomic_write_text(directory / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: str | Path) -> TextProcessor:
        """Rebuild a processor written by :meth:`save`."""
        directory = Path(directory)
        try:
            state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
            tok = tokenizers.Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        except FileNotFoundError as exc:
            raise ModelLoadError(f"text processor file missing: {exc.filename}") from exc
        except Exception as exc:
            raise ModelLoadError(f"cannot load text processor from {directory}: {exc}") from exc
        return cls(TextProcessorConfig.from_dict(state["config"]), tok, int(state["offset"]))

    def cache_state(self) -> dict[str, Any]:
        """Config plus a hash of the tokenizer (keys the feature cache)."""
        digest = hashlib.sha256(self.tokenizer.to_str().encode("utf-8")).hexdigest()
        return {"config": self.config.to_dict(), "offset": self._offset, "tokenizer": digest}


def _ranked(counts: Counter[str]) -> list[str]:
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _wordpiece_vocab(words: Counter[str], size: int, min_frequency: int) -> list[str]:
    """Specials, characters (word-initial and ``##`` continuation), frequent words, then pieces."""
    chars: Counter[str] = Counter()
    pieces: Counter[str] = Counter()
    whole: Counter[str] = Counter()
    for word, count in words.items():
        for i, ch in enumerate(word):
            chars[ch if i == 0 else "##" + ch] += count
        if len(word) > 1 and count >= min_frequency:
            whole[word] += count
        for k in range(2, len(word)):
            pieces[word[:k]] += count
            pieces["##" + word[len(word) - k + 1 :]] += count
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for token in [
        *_ranked(chars),
        *_ranked(whole),
        *_ranked(Counter({t: c for t, c in pieces.items() if c >= min_frequency})),
    ]:
        if len(vocab) >= size:
            break
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    return vocab

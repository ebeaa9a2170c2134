"""Checking review texts and turning ratings / raw labels into sentiment classes."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from mmshop.errors import DataError
from mmshop.reviews.config import NEGATIVE, NEUTRAL, POSITIVE, SentimentConfig

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if not isinstance(value, str | bytes) else False
    except (TypeError, ValueError):
        return False


def clean_text(
    value: Any,
    where: str,
    max_chars: int,
    noun: str = "review",
    limit_name: str = "SentimentConfig.max_chars",
) -> str:
    """A review field as clean text ("" when missing); bytes must be UTF-8.

    Raises :class:`DataError` naming ``where`` for non-UTF-8 bytes, a non-text value or a text
    longer than ``max_chars`` characters.
    """
    if _missing(value):
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{where}: {noun} is not valid UTF-8 (bad byte 0x{value[exc.start]:02x} at "
                f"offset {exc.start}); send text encoded as UTF-8"
            ) from None
    if not isinstance(value, str):
        raise DataError(f"{where}: {noun} must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise DataError(
            f"{where}: {noun} is {len(value):,} characters long; the limit is {max_chars:,} "
            f"({limit_name})"
        )
    return _CONTROL.sub(" ", value).strip()


def review_texts(
    frame: pd.DataFrame, columns: Sequence[str], max_chars: int, row_ids: Sequence[str]
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Cleaned copies of the text ``columns`` and, per bad row position, the reason.

    A row is bad when a field cannot be read as text or every text column is empty.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"review text column(s) {missing} missing; columns: {list(frame.columns)}")
    out = pd.DataFrame(index=frame.index)
    problems: dict[int, str] = {}
    cleaned: dict[str, list[str]] = {c: [] for c in columns}
    for k in range(len(frame)):
        for c in columns:
            try:
                text = clean_text(frame[c].iat[k], f"{row_ids[k]}, column '{c}'", max_chars)
            except DataError as exc:
                problems.setdefault(k, str(exc))
                text = ""
            cleaned[c].append(text)
        if k not in problems and not any(cleaned[c][k] for c in columns):
            problems[k] = f"{row_ids[k]}: review is empty (columns {list(columns)} are blank)"
    for c in columns:
        out[c] = cleaned[c]
    return out, problems


def detect_language(texts: Sequence[str]) -> str:
    """``"zh"`` when at least 30% of the non-space characters are CJK ideographs, else ``"en"``."""
    sample = "".join(texts[:2000])
    chars = [ch for ch in sample if not ch.isspace()]
    if not chars:
        return "en"
    cjk = sum(1 for ch in chars if _CJK.match(ch))
    return "zh" if cjk / len(chars) >= 0.3 else "en"


def sentiment_labels(frame: pd.DataFrame, config: SentimentConfig) -> list[str | None]:
    """The sentiment class of each row (None where the row has no usable label)."""
    if config.rating_column is not None:
        column = config.rating_column
        if column not in frame.columns:
            raise DataError(f"rating column '{column}' missing; columns: {list(frame.columns)}")
        out: list[str | None] = []
        for value in frame[column].tolist():
            try:
                rating = float(value)
            except (TypeError, ValueError):
                out.append(None)
                continue
            if math.isnan(rating):
                out.append(None)
            elif rating <= config.negative_max:
                out.append(NEGATIVE)
            elif rating >= config.positive_min:
                out.append(POSITIVE)
            else:
                out.append(NEUTRAL)
        return out
    column = str(config.label_column)
    if column not in frame.columns:
        raise DataError(f"label column '{column}' missing; columns: {list(frame.columns)}")
    labels: list[str | None] = []
    for value in frame[column].tolist():
        if _missing(value) or not str(value).strip():
            labels.append(None)
            continue
        key = _label_key(value)
        if config.label_map:
            labels.append(config.label_map.get(key))
        else:
            labels.append(key)
    return labels


def _label_key(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_reviews(path: str | Any) -> pd.DataFrame:
    """Read a .csv/.tsv/.jsonl/.json/.parquet review file; every cell of a text file as text."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise DataError(f"review file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            return pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig")
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False, encoding="utf-8")
        if suffix == ".json":
            return pd.read_json(path, dtype=False, encoding="utf-8")
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte offset {exc.start}); re-save it as UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    raise DataError(
        f"cannot read {path}: unsupported file type '{suffix}' (csv, tsv, jsonl, json, parquet)"
    )

"""Weak BIO labels for product titles from the catalogue's attribute columns, span scoring and
the dictionary-matching baseline.

The labelling rule (applied per title; matching ignores case and hyphens, ``T-shirt`` = ``tshirt``):

1. ``COLOUR``: the row's colour value (e.g. ``Navy Blue``) where its words occur in the title
   (first occurrence).
2. ``TYPE``: the row's article-type value, the value with its last word made singular
   (``Tshirts`` -> ``tshirt``, ``Watches`` -> ``watch``), or for a several-word value its last
   word alone, plural or singular (``Casual Shoes`` -> ``Shoes`` / ``Shoe``), the first of these
   forms that occurs in the title (last occurrence: the type noun ends most titles).
3. ``GENDER``: the row's gender value when the catalogue has that column; otherwise the first
   word from a fixed lexicon (men, women, boys, girls, unisex, kids, and their variants).
4. ``BRAND``: the row's brand value when the catalogue has that column; otherwise the title
   prefix before the first gender word (at most 4 words; the first word when no gender word
   comes soon enough), kept only when that exact prefix starts at least ``min_brand_titles``
   titles of the catalogue (a mined brand list).

Earlier rules win on overlap (a brand prefix stops before any other span). Words no rule covers
are ``O``; a value the title does not contain gives no span (the labels are weak: incomplete
where titles paraphrase, e.g. ``Jersey`` for ``Tshirts``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mmshop.config import ConfigBase
from mmshop.errors import ConfigError

TYPES = ("BRAND", "GENDER", "COLOUR", "TYPE")
GENDER_WORDS = frozenset(
    ("men", "women", "boys", "girls", "unisex", "kids", "man", "woman", "boy", "girl", "mens",
     "womens", "men's", "women's", "infant", "infants", "baby")
)  # fmt: skip
_WORD = re.compile(r"\w+(?:[-'&.]\w+)*|[^\w\s]")
MAX_BRAND_WORDS = 4

Span = tuple[int, int, str]  # [start, end) word indices, type


def tokenize(title: str) -> list[str]:
    """Words and punctuation of a title (hyphenated and apostrophe words stay whole)."""
    return _WORD.findall(title)


def _norm(word: str) -> str:
    return word.lower().replace("-", "")


def _singular(word: str) -> str:
    w = word.lower()
    for suffix, repl in (("ies", "y"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("s", "")):
        if w.endswith(suffix) and len(w) > len(suffix) + 1:
            return w[: -len(suffix)] + repl
    return w


def _find(words: list[str], phrase: list[str], last: bool = False) -> int | None:
    n = len(phrase)
    if n == 0 or n > len(words):
        return None
    normed = [_norm(w) for w in words]
    target = [_norm(p) for p in phrase]
    hits = [i for i in range(len(words) - n + 1) if normed[i : i + n] == target]
    if not hits:
        return None
    return hits[-1] if last else hits[0]


@dataclass
class LabelColumns(ConfigBase):
    """Catalogue columns holding each attribute (None: use the rule's fallback)."""

    title: str = "productDisplayName"
    colour: str | None = "baseColour"
    type: str | None = "articleType"
    gender: str | None = None
    brand: str | None = None
    min_brand_titles: int = 3

    def validate(self) -> None:
        if not self.title:
            raise ConfigError("label_columns.title must name the title column")
        if self.min_brand_titles < 1:
            raise ConfigError(f"min_brand_titles must be >= 1, got {self.min_brand_titles}")


def _overlaps(spans: list[Span], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e, _ in spans)


@dataclass
class WeakLabeller:
    """Applies the module's labelling rule; :meth:`fit` mines the brand list from titles."""

    columns: LabelColumns = field(default_factory=LabelColumns)
    brands: set[tuple[str, ...]] = field(default_factory=set)

    def fit(self, titles: Iterable[str]) -> WeakLabeller:
        counts: Counter[tuple[str, ...]] = Counter()
        for title in titles:
            prefix = self._brand_prefix(tokenize(title))
            if prefix:
                counts[prefix] += 1
        self.brands = {p for p, c in counts.items() if c >= self.columns.min_brand_titles}
        return self

    @staticmethod
    def _brand_prefix(words: list[str]) -> tuple[str, ...]:
        for i, w in enumerate(words[: MAX_BRAND_WORDS + 1]):
            if w.lower() in GENDER_WORDS:
                return tuple(_norm(x) for x in words[:i]) if i else ()
        return (_norm(words[0]),) if words and words[0][0].isalnum() else ()

    def spans(self, words: list[str], values: dict[str, str | None]) -> list[Span]:
        """Entity spans for one title given its attribute ``values`` (keys colour/type/...)."""
        spans: list[Span] = []
        colour = values.get("colour")
        if colour:
            phrase = tokenize(colour)
            i = _find(words, phrase)
            if i is not None:
                spans.append((i, i + len(phrase), "COLOUR"))
        article = values.get("type")
        if article:
            phrase = tokenize(article)
            forms = [phrase, [*phrase[:-1], _singular(phrase[-1])]] if phrase else []
            if len(phrase) > 1:  # "Casual Shoes" -> "Shoes" / "Shoe"
                forms += [phrase[-1:], [_singular(phrase[-1])]]
            for form in forms:
                i = _find(words, form, last=True)
                if i is not None and not _overlaps(spans, i, i + len(form)):
                    spans.append((i, i + len(form), "TYPE"))
                    break
        gender = values.get("gender")
        if self.columns.gender is not None:
            targets = [tokenize(gender)] if gender else []
        else:
            targets = [[w] for w in words if w.lower() in GENDER_WORDS][:1]
        for phrase in targets:
            i = _find(words, phrase)
            if i is not None and not _overlaps(spans, i, i + len(phrase)):
                spans.append((i, i + len(phrase), "GENDER"))
        brand = values.get("brand")
        if self.columns.brand is not None:
            phrase = tokenize(brand) if brand else []
            i = _find(words, phrase) if phrase else None
            candidate = (i, i + len(phrase)) if i is not None else None
        else:
            prefix = self._brand_prefix(words)
            candidate = (0, len(prefix)) if prefix and prefix in self.brands else None
        if candidate is not None:
            start, end = candidate
            for s, _, _ in sorted(spans):
                if start <= s < end:
                    end = s
            if end > start and not _overlaps(spans, start, end):
                spans.append((start, end, "BRAND"))
        return sorted(spans)


def to_bio(n_words: int, spans: Sequence[Span]) -> list[str]:
    tags = ["O"] * n_words
    for start, end, kind in spans:
        tags[start] = f"B-{kind}"
        for k in range(start + 1, end):
            tags[k] = f"I-{kind}"
    return tags


def from_bio(tags: Sequence[str]) -> list[Span]:
    """Spans of a BIO sequence; an ``I-`` without its ``B-`` starts a span (lenient)."""
    spans: list[Span] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        if kind is not None and (prefix != "I" or t != kind):
            spans.append((start, i, kind))  # type: ignore[arg-type]
            start, kind = None, None
        if prefix == "B" or (prefix == "I" and kind is None):
            start, kind = i, t
    return spans


def span_f1(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, float]:
    """Entity-level F1 per type (exact span and type match) plus ``micro``."""
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for g, p in zip(gold, pred, strict=True):
        gs, ps = set(g), set(p)
        for s in gs:
            n_gold[s[2]] += 1
        for s in ps:
            n_pred[s[2]] += 1
        for s in gs & ps:
            tp[s[2]] += 1

    def f1(t: int, g: int, p: int) -> float:
        return 0.0 if t == 0 else 2 * t / (g + p)

    out = {k: round(f1(tp[k], n_gold[k], n_pred[k]), 4) for k in TYPES}
    out["micro"] = round(f1(sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())), 4)
    return out


class DictionaryExtractor:
    """The peer baseline: phrases seen as entities in training titles, matched longest-first."""

    def __init__(self) -> None:
        self.phrases: dict[tuple[str, ...], str] = {}
        self.max_len = 1

    def fit(self, words: Sequence[list[str]], spans: Sequence[Sequence[Span]]):
        votes: dict[tuple[str, ...], Counter[str]] = {}
        for ws, ss in zip(words, spans, strict=True):
            for start, end, kind in ss:
                votes.setdefault(tuple(_norm(w) for w in ws[start:end]), Counter())[kind] += 1
        self.phrases = {p: c.most_common(1)[0][0] for p, c in votes.items()}
        self.max_len = max((len(p) for p in self.phrases), default=1)
        return self

    def predict(self, words: list[str]) -> list[Span]:
        normed = [_norm(w) for w in words]
        spans: list[Span] = []
        seen: set[str] = set()
        i = 0
        while i < len(words):
            for n in range(min(self.max_len, len(words) - i), 0, -1):
                kind = self.phrases.get(tuple(normed[i : i + n]))
                if kind is not None and kind not in seen:
                    spans.append((i, i + n, kind))
                    seen.add(kind)
                    i += n
                    break
            else:
                i += 1
        return spans

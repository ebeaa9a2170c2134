"""Caption metrics: corpus BLEU-4, CIDEr-D and attribute accuracy of generated titles.

Texts are compared as lowercase words (:func:`mmshop.caption.vocab.words`).

- BLEU-4 (Papineni et al. 2002): clipped 1-4-gram precisions over the whole corpus, their
  geometric mean, times the brevity penalty ``exp(1 - r / c)`` when the candidates are shorter
  (``r``: for each candidate the reference length closest to it, summed). No smoothing.
- CIDEr-D (Vedantam et al. 2015): per n = 1..4, each text is a vector of n-gram counts times
  ``log(N / df)`` (``N`` images, ``df`` images whose references contain the n-gram); a
  candidate's score against one reference is ``sum(min(c, r) * r) / (|c| |r|)`` times
  ``exp(-(len_c - len_r)^2 / (2 * 6^2))``, averaged over references and over n, times 10.
  Raw counts are used as in the reference implementation of the COCO caption toolkit.
- attribute accuracy: a generated title names the row's article type and colour, matched
  with the attribute-extraction weak-labelling rule (:mod:`mmshop.extract.labelling`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from mmshop.caption.vocab import words
from mmshop.errors import DataError

NGRAMS = 4
CIDER_SIGMA = 6.0


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _refs_list(candidates: Sequence[str], references: Sequence[Sequence[str] | str]):
    if len(candidates) != len(references):
        raise DataError(
            f"{len(candidates)} candidates but {len(references)} reference sets; give one each"
        )
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    for i, rs in enumerate(refs):
        if not rs:
            raise DataError(f"candidate {i + 1} has no reference text")
    return refs


def bleu4(candidates: Sequence[str], references: Sequence[Sequence[str] | str]) -> float:
    """Corpus BLEU-4 in [0, 1]; ``references[i]`` is one text or a list of texts."""
    refs = _refs_list(candidates, references)
    matched = [0] * NGRAMS
    total = [0] * NGRAMS
    cand_len = ref_len = 0
    for cand, rs in zip(candidates, refs, strict=True):
        c = words(cand)
        r_words = [words(r) for r in rs]
        cand_len += len(c)
        ref_len += min((abs(len(r) - len(c)), len(r)) for r in r_words)[1]
        for n in range(1, NGRAMS + 1):
            counts = _ngrams(c, n)
            best: Counter[tuple[str, ...]] = Counter()
            for r in r_words:
                best |= _ngrams(r, n)
            matched[n - 1] += sum(min(k, best[g]) for g, k in counts.items())
            total[n - 1] += max(len(c) - n + 1, 0)
    if cand_len == 0 or min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total, strict=True)) / NGRAMS
    brevity = 1.0 if cand_len > ref_len else math.exp(1.0 - ref_len / cand_len)
    return brevity * math.exp(log_p)


def _tfidf(tokens: list[str], n: int, df: Counter, log_n: float):
    vec = {g: k * (log_n - math.log(max(1.0, df[g]))) for g, k in _ngrams(tokens, n).items()}
    return vec, math.sqrt(sum(v * v for v in vec.values()))


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str] | str]) -> float:
    """Corpus CIDEr-D (mean of per-image scores; 10 = a perfect match of a rare title)."""
    refs = _refs_list(candidates, references)
    if not refs:
        return 0.0
    ref_words = [[words(r) for r in rs] for rs in refs]
    df: list[Counter] = [Counter() for _ in range(NGRAMS)]
    for rs in ref_words:
        for n in range(1, NGRAMS + 1):
            df[n - 1].update({g for r in rs for g in _ngrams(r, n)})
    log_n = math.log(len(refs))
    total = 0.0
    for cand, rs in zip(candidates, ref_words, strict=True):
        c = words(cand)
        score = 0.0
        for n in range(1, NGRAMS + 1):
            vc, norm_c = _tfidf(c, n, df[n - 1], log_n)
            for r in rs:
                vr, norm_r = _tfidf(r, n, df[n - 1], log_n)
                if norm_c == 0 or norm_r == 0:
                    continue
                dot = sum(min(v, vr.get(g, 0.0)) * vr.get(g, 0.0) for g, v in vc.items())
                penalty = math.exp(-((len(c) - len(r)) ** 2) / (2 * CIDER_SIGMA**2))
                score += penalty * dot / (norm_c * norm_r) / len(rs)
        total += 10.0 * score / NGRAMS
    return total / len(refs)


def names_attributes(
    title: str, article_type: str | None, colour: str | None
) -> tuple[bool | None, bool | None]:
    """Whether ``title`` names the article type / the colour (None where the value is missing)."""
    from mmshop.extract.labelling import WeakLabeller, tokenize

    found = {kind for _, _, kind in WeakLabeller().spans(
        tokenize(title), {"type": article_type or None, "colour": colour or None}
    )}  # fmt: skip
    return (
        ("TYPE" in found) if article_type else None,
        ("COLOUR" in found) if colour else None,
    )


def attribute_accuracy(
    titles: Sequence[str], types: Sequence[str | None], colours: Sequence[str | None]
) -> dict[str, float | None]:
    """``attr_acc`` (type and colour both named), ``type_acc``, ``colour_acc`` and ``n``.

    Rows missing a value are left out of the accuracies that need it.
    """
    if not len(titles) == len(types) == len(colours):
        raise DataError("titles, types and colours must have the same length")
    both, t_hits, c_hits = [], [], []
    for title, t, c in zip(titles, types, colours, strict=True):
        has_t, has_c = names_attributes(title, t, c)
        if has_t is not None:
            t_hits.append(has_t)
        if has_c is not None:
            c_hits.append(has_c)
        if has_t is not None and has_c is not None:
            both.append(has_t and has_c)

    def mean(xs: list[bool]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {
        "attr_acc": mean(both),
        "type_acc": mean(t_hits),
        "colour_acc": mean(c_hits),
        "n": len(both),
    }


def caption_scores(
    candidates: Sequence[str],
    references: Sequence[str],
    types: Sequence[str | None] | None = None,
    colours: Sequence[str | None] | None = None,
) -> dict[str, float | None]:
    """``bleu4``, ``cider`` and (with types and colours) the attribute accuracies."""
    out: dict[str, float | None] = {
        "bleu4": bleu4(candidates, references),
        "cider": cider_d(candidates, references),
    }
    if types is not None and colours is not None:
        out.update(attribute_accuracy(candidates, types, colours))
    return out

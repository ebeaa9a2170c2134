"""Optional feature models of the service: size/fit advice, review sentiment, attribute
extraction from titles and title generation from photos.

Each model is opened once at start-up when its folder exists; a missing one is not fatal: its
route answers 503 ``model_missing`` with the command that makes it. Calls into a model hold
that model's lock (the models are not made for concurrent calls).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmshop.errors import DataError, ModelLoadError
from mmshop.fit.measurements import BodyProfile
from mmshop.serve.settings import ServeSettings

log = logging.getLogger("mmshop.serve")
BODY_FIELDS = ("height_cm", "weight_kg", "age")


class FeatureMissing(ModelLoadError):
    """A feature's model is not there (503 ``model_missing``); the message names the command."""


def _hints(settings: ServeSettings) -> dict[str, str]:
    return {
        "fit_model": (
            "train one on fit feedback with `mmshop fit train renttherunway.parquet "
            f"--out {settings.fit_model}`"
        ),
        "body_size_model": (
            "run `mmshop demo` (it trains one on the shipped body-size sample in seconds) or "
            f"`mmshop fit train-body-size clothes_size.csv --out {settings.body_size_model}`"
        ),
        "sentiment_model": (
            "train one with `mmshop reviews train reviews.csv --text 'Review Text' "
            f"--rating Rating --out {settings.sentiment_model}`"
        ),
        "extract_model": (
            "run `mmshop demo` (it trains one on the sample titles) or in Python "
            "`AttributeExtractor().fit(products_frame).save("
            f"'{settings.extract_model}')` (mmshop.extract)"
        ),
        "caption_model": (
            "train one with `mmshop caption train products.csv --out "
            f"{settings.caption_model}` (the shipped sample works: "
            "src/mmshop/samples/fashion/products.csv)"
        ),
    }


def _load(name: str, path: str | None, loader: Callable[[str], Any], hint: str) -> tuple[Any, str]:
    what = name.replace("_", " ")
    if not path:
        return None, f"the {what} is switched off (settings.{name} is null)"
    if not Path(path).exists():
        return None, f"no {what} at {path}: {hint}"
    try:
        return loader(path), ""
    except (ModelLoadError, ImportError) as exc:
        return None, f"the {what} at {path} cannot be loaded ({exc}): {hint}"


def _caption_loader(path: str) -> Any:
    try:
        from mmshop.caption import TitleGenerator  # the title-generation package (optional)
    except ImportError as exc:
        raise ImportError(f"title generation (mmshop.caption) is not available: {exc}") from exc
    return TitleGenerator.load(path)


def _loaders() -> dict[str, Callable[[str], Any]]:
    def fit(path: str) -> Any:
        from mmshop.fit import FitModel

        return FitModel.load(path)

    def body(path: str) -> Any:
        from mmshop.fit import BodySizeModel

        return BodySizeModel.load(path)

    def sentiment(path: str) -> Any:
        from mmshop.reviews import SentimentModel

        return SentimentModel.load(path)

    def extract(path: str) -> Any:
        from mmshop.extract import AttributeExtractor

        return AttributeExtractor.load(path)

    return {
        "fit_model": fit,
        "body_size_model": body,
        "sentiment_model": sentiment,
        "extract_model": extract,
        "caption_model": _caption_loader,
    }


class FeatureModels:
    """The optional models named by the settings, with per-model locks."""

    def __init__(self, settings: ServeSettings) -> None:
        self.models: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        hints = _hints(settings)
        for name, loader in _loaders().items():
            model, error = _load(name, getattr(settings, name), loader, hints[name])
            self.models[name], self.errors[name] = model, error
            self._locks[name] = threading.Lock()
            if model is None:
                log.info("%s", error)

    def loaded(self, name: str) -> bool:
        return self.models.get(name) is not None

    def require(self, name: str) -> Any:
        """The named model, or FeatureMissing naming the command that makes it."""
        model = self.models.get(name)
        if model is None:
            raise FeatureMissing(self.errors[name])
        return model

    # ------------------------------------------------------------------ size advice
    def size_advice(
        self,
        measurements: Mapping[str, Any],
        item_id: str | None = None,
        category: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """The fit model's advice for a known item (or category), else the body-size model's.

        Impossible or unreadable measurements raise DataError naming the field.
        """
        body = BodyProfile.from_raw(dict(measurements))
        fit = self.models.get("fit_model")
        usable = fit is not None and (
            (item_id is not None and fit.known_item(item_id))
            or (category is not None and str(category) in fit.catalogue.category_sizes)
        )
        if usable or (fit is not None and not self.loaded("body_size_model") and item_id):
            with self._locks["fit_model"]:
                advice = fit.recommend_size(body, item_id or f"new:{category}", user_id, category)
            out = advice.to_dict()
            for option in out["options"]:
                option["probability"] = option["fit"]
            return {**out, "item_id": item_id, "source": "fit_model"}
        if fit is None and not self.loaded("body_size_model"):
            raise FeatureMissing(
                f"{self.errors['body_size_model']} (and {self.errors['fit_model']})"
            )
        model = self.require("body_size_model")
        with self._locks["body_size_model"]:
            estimate = model.recommend(body)
        used = list(estimate.measurements_used)
        missing = [f for f in BODY_FIELDS if f not in used]
        return {
            "item_id": item_id,
            "size": estimate.size,
            "fit_probability": estimate.probability,
            "within_one_probability": estimate.within_one_probability,
            "options": [{"size": s, "probability": p} for s, p in estimate.probabilities.items()],
            "measurements_used": used,
            "measurements_missing": missing,
            "source": "body_size_model",
            "note": _body_note(estimate, used, missing, item_id, fit is not None),
        }

    # ------------------------------------------------------------------ reviews, titles
    def sentiment(self, texts: Sequence[str], context: Sequence[Mapping[str, Any]]) -> list[dict]:
        """Per review: its sentiment class, confidence and class probabilities."""
        model = self.require("sentiment_model")
        with self._locks["sentiment_model"]:
            table = model.predict(list(texts), context=[dict(c) for c in context])
        classes = [c[2:] for c in table.columns if c.startswith("p_")]
        return [
            {
                "sentiment": str(row[model.config.target]),
                "confidence": float(row["confidence"]),
                "probabilities": {c: float(row[f"p_{c}"]) for c in classes},
            }
            for _, row in table.iterrows()
        ]

    def extract(self, titles: Sequence[str]) -> list[dict[str, Any]]:
        """Per title: ``{type: text}`` and the word spans found."""
        model = self.require("extract_model")
        with self._locks["extract_model"]:
            found = model.predict_spans(list(titles))
        out = []
        for words, spans in found:
            attributes: dict[str, str] = {}
            listed = []
            for start, end, kind in spans:
                text = " ".join(words[start:end])
                attributes.setdefault(kind, text)
                listed.append({"type": kind, "text": text, "start": start, "end": end})
            out.append({"attributes": attributes, "spans": listed})
        return out

    def caption(self, image: bytes, beams: int) -> str:
        """A product title for a photo (bad images raise mmshop errors)."""
        model = self.require("caption_model")
        with self._locks["caption_model"]:
            titles = model.generate([image], beams=beams)
        if not titles:
            raise DataError("the title generator returned no title for this image")
        return str(titles[0])


def _body_note(
    estimate: Any, used: list[str], missing: list[str], item_id: str | None, has_fit: bool
) -> str:
    p = estimate.probability
    level = "high" if p >= 0.8 else "medium" if p >= 0.5 else "low"
    parts = [
        f"{level} confidence: {p:.0%} chance of {estimate.size}, "
        f"{estimate.within_one_probability:.0%} within one size"
    ]
    parts.append(f"based on {', '.join(used)}" if used else "no measurements given")
    if missing and used:
        parts.append(f"add {', '.join(missing)} for a surer answer")
    if item_id and has_fit:
        parts.append(f"the fit model does not know item {item_id}: body measurements only")
    return "; ".join(parts)


def field_of(exc: Exception) -> str | None:
    """The field a DataError / QueryError message starts with (``height_cm: ...``)."""
    head, sep, _ = str(exc).partition(":")
    return head.strip() if sep and head.strip().replace("_", "").isalnum() else None

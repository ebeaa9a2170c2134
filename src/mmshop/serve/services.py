"""What the routes call: the searcher, the tagger, the recommender, the optional feature
models, the catalogue and the store, opened once.

Routes stay thin: each one validates its input, calls one method here in a worker thread and
shapes the answer. Missing models are clear errors that name the command which makes them.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmshop.data.catalog import Catalog
from mmshop.data.validation import resolve_image
from mmshop.errors import ConfigError, ModelLoadError, QueryError
from mmshop.serve.features import FeatureModels
from mmshop.serve.recommendations import build_recommender
from mmshop.serve.settings import ServeSettings
from mmshop.serve.store import Product, SQLiteStore, Store

log = logging.getLogger("mmshop.serve")

DEMO_COMMAND = "make demo` (or `mmshop demo`"
TOP_CLASSES = 3


class ModelMissing(ModelLoadError):
    """A model the request needs is not there; the message names the command that makes it."""


def _search_hint(settings: ServeSettings) -> str:
    catalog = settings.catalog or "<sample products.csv>"
    return (
        f"run `{DEMO_COMMAND}` to train the demo models, or build them yourself: "
        f"`mmshop align {catalog} --out {settings.search_model or 'models/search'}` then "
        f"`mmshop index {settings.search_model or 'models/search'} {catalog} "
        f"--out {settings.index}`"
    )


def _plain(value: Any) -> Any:
    """JSON-friendly cell: NaN -> None, numpy scalars -> Python."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class Services:
    """Opened models + catalogue + store for one app."""

    def __init__(self, settings: ServeSettings, store: Store | None = None) -> None:
        self.settings = settings
        self.searcher = self._open_searcher()
        self.catalog = self._open_catalog()
        self.title_column = self.catalog.roles.text[0] if self.catalog.roles.text else None
        self.image_column = self.catalog.roles.image
        self.store: Store = store or SQLiteStore(settings.db, synchronous=settings.db_synchronous)
        catalogue = self._products()
        self.store.upsert_products(catalogue)
        # search answers read products from memory (no database round trip per hit)
        self._by_id = {p.id: p for p in catalogue}
        self.tagger, self.tagger_error = self._open_tagger()
        self._tagger_lock = threading.Lock()
        self._tagger_cache_dir = Path(tempfile.mkdtemp(prefix="mmshop-serve-"))
        self._attributes: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._rows = {pid: i for i, pid in enumerate(self.catalog.df[self.catalog.roles.id])}
        self.facets = self._facet_fields()
        self.recommender = build_recommender(
            self.catalog,
            self.searcher.index,
            self.title_column,
            self.store,
            settings.popularity_column,
        )
        self.features = FeatureModels(settings)

    # ------------------------------------------------------------------ opening
    def _open_searcher(self) -> Any:
        from mmshop.search import Searcher

        index = Path(self.settings.index)
        if not (index / "index.json").is_file():
            raise ModelMissing(f"no search index at {index}: {_search_hint(self.settings)}")
        model = self.settings.search_model
        if model and not Path(model).is_dir():
            raise ModelMissing(f"no search model at {model}: {_search_hint(self.settings)}")
        # one intra-op thread per query: concurrency comes from the worker threads
        return Searcher.open(index, model, query_threads=None)

    def _open_catalog(self) -> Catalog:
        path = self.settings.catalog_path()
        cat = Catalog.open(path, strict=False, check_images=False)
        indexed = set(self.searcher.index.ids)
        missing = len(set(cat.ids()) - indexed)
        if missing:
            log.warning(
                "%d catalogue products are not in the index %s", missing, self.settings.index
            )
        return cat

    def _products(self) -> list[Product]:
        df = self.catalog.df
        roles = self.catalog.roles
        shown = [c for c in df.columns if c not in (roles.id, roles.image, self.title_column)]
        shown = [c for c in shown if c != "split"]
        records = df[shown].to_dict("records")
        ids = df[roles.id].tolist()
        titles = df[self.title_column].tolist() if self.title_column else [""] * len(df)
        images = df[roles.image].tolist() if roles.image else [None] * len(df)
        return [
            Product(
                id=str(pid),
                title=str(title or ""),
                image=None if not isinstance(img, str) or not img else img,
                fields={k: _plain(v) for k, v in rec.items() if _plain(v) is not None},
            )
            for pid, title, img, rec in zip(ids, titles, images, records, strict=True)
        ]

    def _open_tagger(self) -> tuple[Any, str | None]:
        path = self.settings.tagger
        if not path:
            return None, "attribute prediction is switched off (no tagger configured)"
        if not Path(path).is_dir():
            return None, f"no tagger model at {path}: run `{DEMO_COMMAND}` to train one"
        from mmshop.predictor import MultimodalPredictor

        try:
            return MultimodalPredictor.load(path), None
        except ModelLoadError as exc:
            return None, f"the tagger at {path} cannot be loaded: {exc}"

    def _facet_fields(self) -> list[str]:
        """Configured facets, else the index's category-like and colour-like fields."""
        kinds = self.searcher.index.fields
        if self.settings.facets:
            unknown = [f for f in self.settings.facets if kinds.get(f) != "categorical"]
            if unknown:
                raise ConfigError(
                    f"facet field(s) {unknown} are not categorical fields of the index; "
                    f"choose from {sorted(f for f, k in kinds.items() if k == 'categorical')}"
                )
            return list(self.settings.facets)
        categorical = [f for f, k in kinds.items() if k == "categorical"]
        out = []
        for words in (("articletype", "category", "type"), ("colour", "color")):
            found = (f for w in words for f in categorical if w in f.lower())
            match = next(found, None)
            if match and match not in out:
                out.append(match)
        return out

    def is_indexed(self, product_id: str) -> bool:
        try:
            self.searcher.index.slot(product_id)
        except QueryError:
            return False
        return True

    # ------------------------------------------------------------------ products
    def product(self, product_id: str) -> Product:
        found = self.store.get_product(product_id)
        if found is None:
            raise KeyError(product_id)
        return found

    def products(self, ids: list[str]) -> dict[str, Product]:
        """Catalogue products by id (from memory; unknown ids are left out)."""
        return {i: self._by_id[i] for i in ids if i in self._by_id}

    def image_path(self, product_id: str) -> Path:
        """The product photo's file, refused if it lies outside the catalogue folder."""
        product = self.product(product_id)
        if not product.image:
            raise KeyError(product_id)
        root = self.catalog.root.resolve()
        check = resolve_image(product.image, root)
        if not check.ok or check.path is None or not check.path.is_file():
            raise KeyError(product_id)
        return check.path

    # ------------------------------------------------------------------ tagging
    def _require_tagger(self) -> Any:
        if self.tagger is None:
            raise ModelMissing(self.tagger_error or "no tagger")
        return self.tagger

    def _classes(self, proba: Mapping[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for label, table in proba.items():
            row = table.iloc[0].sort_values(ascending=False).head(TOP_CLASSES)
            out[label] = [
                {"value": str(k), "probability": round(float(v), 4)} for k, v in row.items()
            ]
        return out

    def _predict_frame(self, df: pd.DataFrame, root: Path) -> dict[str, list[dict[str, Any]]]:
        tagger = self._require_tagger()
        roles = tagger.processors.prediction_roles()
        absent = [c for c in [*roles.categorical, *roles.numeric] if c not in df.columns]
        df = df.assign(**{c: np.nan for c in absent})  # unknown attributes read as missing
        with self._tagger_lock:
            tagger.config.cache_dir = str(self._tagger_cache_dir)
            cat = Catalog.from_frame(df, root=root, roles=roles.to_dict(), strict=False)
            return self._classes(tagger.predict_proba(cat))

    def product_attributes(self, product_id: str) -> dict[str, list[dict[str, Any]]]:
        """The tagger's top classes per label for a catalogue product (memoised)."""
        known = self._attributes.get(product_id)
        if known is not None:
            return known
        if product_id not in self._rows:
            raise KeyError(product_id)
        self._require_tagger()
        row = self.catalog.df.iloc[[self._rows[product_id]]].reset_index(drop=True)
        out = self._predict_frame(row, self.catalog.root)
        self._attributes[product_id] = out
        while len(self._attributes) > 10_000:
            self._attributes.popitem(last=False)
        return out

    def predict_new(
        self, image: bytes, suffix: str, title: str, attributes: Mapping[str, Any]
    ) -> dict[str, list[dict[str, Any]]]:
        """Top classes per label for a new product (uploaded photo + title + attributes)."""
        tagger = self._require_tagger()
        roles = tagger.processors.prediction_roles()
        unknown = sorted(set(attributes) - set(roles.categorical) - set(roles.numeric))
        if unknown:
            raise QueryError(
                f"unknown attribute(s) {unknown}; the tagger reads "
                f"{sorted([*roles.categorical, *roles.numeric])}"
            )
        row: dict[str, Any] = {roles.id: "new", **attributes}
        for column in roles.text:
            row[column] = title
        with tempfile.TemporaryDirectory(dir=self._tagger_cache_dir) as tmp:
            name = f"upload{suffix}"
            (Path(tmp) / name).write_bytes(image)
            if roles.image:
                row[roles.image] = name
            return self._predict_frame(pd.DataFrame([row]), Path(tmp))

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self._tagger_cache_dir, ignore_errors=True)

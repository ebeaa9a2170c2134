"""``mmshop recommend USER`` and ``mmshop recommend-items``: recommendations (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import DataError, MmshopError

Multi = list[str] | None


@app.command("recommend-items")
def recommend_items(
    catalog: Annotated[Path, typer.Argument(help="products table (CSV / Parquet / JSONL)")],
    out: Annotated[Path, typer.Option(help="folder to write the item catalogue")],
    predictor: Annotated[
        Path | None, typer.Option(help="saved MultimodalPredictor: use its fused embeddings")
    ] = None,
    search_model: Annotated[
        Path | None, typer.Option(help="saved search model (mmshop align): product vectors")
    ] = None,
    id_column: Annotated[str, typer.Option(help="item id column")] = "id",
    column: Annotated[
        Multi, typer.Option("--column", help="attribute column for the fallback (repeat)")
    ] = None,
    text_column: Annotated[str, typer.Option(help="title column for the fallback")] = (
        "productDisplayName"
    ),
) -> None:
    """Embed every product once for recommendations (engine model, or a cheap fallback)."""
    import pandas as pd

    from mmshop.recommend import attribute_embeddings, from_predictor, from_search_encoder

    try:
        if predictor is not None and search_model is not None:
            raise DataError("give --predictor or --search-model, not both")
        if predictor is not None:
            from mmshop.data.catalog import Catalog
            from mmshop.predictor import MultimodalPredictor

            cat = Catalog.open(catalog, strict=False)
            items = from_predictor(MultimodalPredictor.load(predictor), cat, id_column)
        elif search_model is not None:
            from mmshop.data.catalog import Catalog
            from mmshop.search import SearchEncoder

            cat = Catalog.open(catalog, strict=False)
            items = from_search_encoder(SearchEncoder.load(search_model), cat, id_column)
        else:
            if not catalog.is_file():
                raise DataError(f"catalogue file not found: {catalog}")
            suffix = catalog.suffix.lower()
            df = (
                pd.read_parquet(catalog)
                if suffix == ".parquet"
                else pd.read_json(catalog, lines=True)
                if suffix == ".jsonl"
                else pd.read_csv(catalog)
            )
            items = attribute_embeddings(df, id_column, column or None, text_column)
        items.save(out)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(
        f"{len(items)} items embedded ({items.source}, dim {items.embeddings.shape[1]}) in {out}"
    )


def _read_events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(f"events file not found: {path}")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {n}: not valid JSON ({exc.msg})") from None
        missing = [k for k in ("user_id", "product_id", "event_type") if k not in record]
        if missing:
            raise DataError(f"{path} line {n}: event lacks {missing}")
        out.append(record)
    return out


@app.command("recommend")
def recommend(
    user: Annotated[str, typer.Argument(help="customer id")],
    items: Annotated[Path, typer.Option(help="item catalogue folder (mmshop recommend-items)")],
    events: Annotated[
        Path | None,
        typer.Option(help="feedback events as JSON lines (user_id, product_id, event_type)"),
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="the service's SQLite store (reads its feedback events)")
    ] = None,
    k: Annotated[int, typer.Option(help="how many items")] = 10,
    colour: Annotated[Multi, typer.Option("--colour", help="preferred colour (repeat)")] = None,
    usage: Annotated[Multi, typer.Option("--usage", help="preferred usage/style (repeat)")] = None,
    kind: Annotated[Multi, typer.Option("--type", help="preferred article type (repeat)")] = None,
    size: Annotated[Multi, typer.Option("--size", help="your size (repeat)")] = None,
    price_min: Annotated[float | None, typer.Option(help="lowest price")] = None,
    price_max: Annotated[float | None, typer.Option(help="highest price")] = None,
    filter_: Annotated[
        Multi, typer.Option("--filter", help="attribute filter: usage=Casual (repeat)")
    ] = None,
    diversity: Annotated[float | None, typer.Option(help="0..1, less repetitive lists")] = None,
    set_: Annotated[
        Multi, typer.Option("--set", help="override a RecommendConfig key: popularity=0.5")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Recommend items for USER from their feedback events and stated preferences."""
    from mmshop.recommend import ItemCatalogue, Preferences, Recommender

    try:
        rec = Recommender(ItemCatalogue.load(items), overrides=_parse_sets(set_))
        if events is not None:
            for e in _read_events(events):
                try:
                    rec.record_event(
                        str(e["user_id"]), str(e["product_id"]), e["event_type"], e.get("reason")
                    )
                except MmshopError:
                    rec.skipped_events += 1
        if store is not None:
            from mmshop.serve.store import SQLiteStore

            if not store.is_file():
                raise DataError(f"store file not found: {store}")
            source = SQLiteStore(store)
            try:
                rec.sync(source)
            finally:
                source.close()
        rec.set_preferences(
            user,
            Preferences(
                sizes=size or [],
                colours=colour or [],
                usages=usage or [],
                types=kind or [],
                price_min=price_min,
                price_max=price_max,
            ),
        )
        filters = {key: value for key, value in _parse_sets(filter_).items()}
        found = rec.recommend(user, k=k, filters=filters, diversity=diversity)
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        payload = {
            "user_id": user,
            "items": [r.to_dict() for r in found],
            "skipped_events": rec.skipped_events,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    if not found:
        typer.echo("no items match")
    for n, r in enumerate(found, start=1):
        typer.echo(f"{n:>3}  {r.score:7.3f}  {r.item_id:<12}  {r.reason}")

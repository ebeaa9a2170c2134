"""``mmshop align | index | search``: cross-modal product search commands (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mmshop.cli import _fail, _open, _parse_sets, app
from mmshop.errors import MmshopError


def _hits_table(hits: list[Any]) -> None:
    if not hits:
        typer.echo("no results")
        return
    for h in hits:
        typer.echo(f"{h.rank:>3}  {h.score:8.4f}  {h.id:<12}  {h.title}")


@app.command()
def align(
    catalog: Annotated[Path, typer.Argument(help="catalogue with an image and a title column")],
    out: Annotated[Path, typer.Option(help="folder to save the search model")],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="text column(s) (default: all text)")
    ] = None,
    loss: Annotated[str | None, typer.Option(help="clip | siglip")] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    lock_text: Annotated[
        bool, typer.Option("--lock-text", help="freeze the text encoder (train images into it)")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="AlignConfig JSON file")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: trainer.lr=1e-3")
    ] = None,
    train_split: Annotated[str, typer.Option(help="split used for training")] = "train",
    val_split: Annotated[str, typer.Option(help="split for early stopping")] = "val",
    work_dir: Annotated[Path | None, typer.Option(help="checkpoints (default OUT.work)")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Train image and text towers into one space (CLIP / SigLIP) for product search."""
    from mmshop.search import AlignConfig, SearchEncoder

    try:
        overrides = _parse_sets(set_)
        if text:
            overrides["text_columns"] = list(text)
        if loss:
            overrides["loss"] = loss
        if epochs:
            overrides["trainer.epochs"] = epochs
        if lock_text:
            overrides["lock_text"] = True
        base = AlignConfig.from_json(config) if config else AlignConfig()
        cat = _open(catalog, None)
        if not as_json:
            typer.echo(cat.report.summary())
        encoder = SearchEncoder.fit(
            cat.split(train_split),
            cat.split(val_split),
            config=base,
            overrides=overrides,
            work_dir=work_dir or out.with_name(out.name + ".work"),
            progress=not (quiet or as_json),
        )
        encoder.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = encoder.training_info
    best = info["history"][info["best_epoch"] - 1] if info.get("best_epoch") else {}
    summary = {
        "model": str(out),
        "version": encoder.version,
        "best_epoch": info.get("best_epoch"),
        "val": {k: best.get(k) for k in ("recall@1", "recall@10", "mrr@10")},
        "train_minutes": round(info.get("train_seconds", 0.0) / 60, 2),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"saved {out} (version {encoder.version}, best epoch {summary['best_epoch']}, "
            f"val MRR@10 {best.get('mrr@10', float('nan')):.4f}, {summary['train_minutes']} min)"
        )


@app.command()
def index(
    model: Annotated[Path, typer.Argument(help="saved search model folder (mmshop align)")],
    catalog: Annotated[Path, typer.Argument(help="products to index")],
    out: Annotated[Path, typer.Option(help="index folder to write")],
    embedding: Annotated[str, typer.Option(help="image | text | mix")] = "image",
    image_weight: Annotated[float, typer.Option(help="image share of a 'mix' embedding")] = 0.9,
    kind: Annotated[str, typer.Option(help="flat | hnsw | ivfpq")] = "flat",
    field: Annotated[
        list[str] | None, typer.Option("--field", help="filterable column (repeat)")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="index option, e.g. hnsw_m=16")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary")] = False,
) -> None:
    """Embed every product with the model and write a FAISS index with filters and titles."""
    from mmshop.index import IndexConfig
    from mmshop.search import EmbeddingConfig, build_index

    try:
        emb = EmbeddingConfig(source=embedding, image_weight=image_weight)
        cfg = IndexConfig(kind=kind).replace(_parse_sets(set_))
        cat = _open(catalog, None, strict=False)
        built = build_index(model, cat, out, emb, cfg, field, progress=not (quiet or as_json))
    except MmshopError as exc:
        _fail(exc)
    summary = {
        "index": str(out),
        "products": len(built),
        "kind": cfg.kind,
        "embedding": emb.to_dict(),
        "model_version": built.model_version,
        "filter_fields": built.fields,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"indexed {len(built)} products into {out} ({cfg.kind}, {emb.source} embeddings, "
            f"model {built.model_version}); filters: {', '.join(built.fields) or 'none'}"
        )


@app.command()
def search(
    index_dir: Annotated[Path, typer.Argument(help="index folder (mmshop index)")],
    query: Annotated[str | None, typer.Argument(help="text query")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="number of results")] = 10,
    filter_: Annotated[
        list[str] | None,
        typer.Option("--filter", help="field=value, field=lo..hi, field>=x (repeat)"),
    ] = None,
    image: Annotated[Path | None, typer.Option(help="search by a photo")] = None,
    like: Annotated[str | None, typer.Option(help="products similar to this product id")] = None,
    mode: Annotated[str, typer.Option(help="vector | hybrid | lexical (text queries)")] = "vector",
    model: Annotated[Path | None, typer.Option(help="model folder (default: recorded)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Search products by text, by photo (--image) or by a product id (--like)."""
    from mmshop.errors import QueryError
    from mmshop.index import parse_filters
    from mmshop.search import Searcher

    try:
        given = [x for x in (query, image, like) if x is not None]
        if len(given) != 1:
            raise QueryError("give exactly one of: a text query, --image PATH or --like ID")
        filters = parse_filters(filter_ or [])
        searcher = Searcher.open(index_dir, model)
        if image is not None:
            hits = searcher.search_image(image, k, filters)
        elif like is not None:
            hits = searcher.similar(like, k, filters)
        else:
            hits = searcher.search_text(query or "", k, filters, mode=mode)
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
    else:
        _hits_table(hits)

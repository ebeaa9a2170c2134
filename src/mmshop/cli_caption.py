"""``mmshop caption train | generate``: product titles from photos (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import MmshopError

caption_app = typer.Typer(no_args_is_help=True, help="Product title generation from photos.")
app.add_typer(caption_app, name="caption")


@caption_app.command("train")
def caption_train(
    catalog: Annotated[Path, typer.Argument(help="catalogue with photos and titles")],
    out: Annotated[Path, typer.Option(help="folder to save the title generator")],
    title: Annotated[str | None, typer.Option(help="title column")] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="training time budget in minutes")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="config override: dim=256, trainer.lr=1e-3")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train on the catalogue's train split (val split for early stopping); report test scores."""
    from mmshop.caption import TitleGenerator
    from mmshop.data.catalog import Catalog

    overrides = _parse_sets(set_)
    if title:
        overrides["title_column"] = title
    if max_minutes is not None:
        overrides["max_minutes"] = max_minutes
    if epochs is not None:
        overrides["trainer.epochs"] = epochs
    try:
        cat = Catalog.open(catalog)
        train, val, test = (cat.split(s) for s in ("train", "val", "test"))
        gen = TitleGenerator.fit(
            train,
            val if len(val) else None,
            overrides=overrides,
            work_dir=out.with_name(out.name + ".work"),
            progress=not quiet,
        )
        gen.save(out)
        scores = gen.evaluate(test, progress=not quiet) if len(test) else None
    except MmshopError as exc:
        _fail(exc)
    info = {k: v for k, v in gen.info.items() if k != "catalog"}
    typer.echo(json.dumps({"info": info, "test": scores}, indent=2, default=str))
    typer.echo(f"title generator saved to {out}")


@caption_app.command("generate")
def caption_generate(
    model_dir: Annotated[Path, typer.Argument(help="saved title generator folder")],
    photos: Annotated[list[Path], typer.Argument(help="photo file(s)")],
    beams: Annotated[int, typer.Option(help="beam width, 1 (greedy) .. 10")] = 3,
    max_len: Annotated[int | None, typer.Option(help="maximum words")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON records")] = False,
) -> None:
    """Write a title for each photo."""
    from mmshop.caption import TitleGenerator

    try:
        gen = TitleGenerator.load(model_dir)
        titles = gen.generate(list(photos), beams=beams, max_len=max_len)
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        records = [{"photo": str(p), "title": t} for p, t in zip(photos, titles, strict=True)]
        typer.echo(json.dumps(records, ensure_ascii=False))
    else:
        for p, t in zip(photos, titles, strict=True):
            typer.echo(f"{p}\t{t}")

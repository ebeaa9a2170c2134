"""``mmshop extract train | predict``: attributes from product titles (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import DataError, MmshopError

extract_app = typer.Typer(
    no_args_is_help=True, help="Attribute extraction (brand, gender, colour, type) from titles."
)
app.add_typer(extract_app, name="extract")


@extract_app.command("train")
def extract_train(
    catalog: Annotated[Path, typer.Argument(help="catalogue with titles and attribute columns")],
    out: Annotated[Path, typer.Option(help="folder to save the extractor")],
    title: Annotated[str | None, typer.Option(help="title column")] = None,
    colour: Annotated[str | None, typer.Option(help="colour column")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="article-type column")] = None,
    gender: Annotated[str | None, typer.Option(help="gender column (else a word list)")] = None,
    brand: Annotated[str | None, typer.Option(help="brand column (else mined prefixes)")] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="config override: dim=64, trainer.lr=1e-3")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train on weak labels of the train split (val split for early stopping); report test F1."""
    from mmshop.data.catalog import Catalog
    from mmshop.extract import AttributeExtractor, ExtractorConfig

    changes: dict[str, Any] = {}
    for key, value in (
        ("title", title), ("colour", colour), ("type", type_), ("gender", gender), ("brand", brand)
    ):  # fmt: skip
        if value:
            changes[f"columns.{key}"] = value
    changes.update(_parse_sets(set_))
    if epochs is not None:
        changes["trainer.epochs"] = epochs
    try:
        extractor = AttributeExtractor(ExtractorConfig().replace(changes))
        cat = Catalog.open(catalog, check_images=False)
        train, val, test = (cat.split(s).df for s in ("train", "val", "test"))
        extractor.fit(
            train,
            val if len(val) else None,
            work_dir=out.with_name(out.name + ".work"),
            progress=not quiet,
        )
        extractor.save(out)
        scores = extractor.evaluate(test) if len(test) else None
    except MmshopError as exc:
        _fail(exc)
    typer.echo(json.dumps({"info": extractor.info, "test_f1": scores}, indent=2))
    typer.echo(f"extractor saved to {out}")


def _read_titles(path: Path, column: str) -> list[Any]:
    import pandas as pd

    if not path.is_file():
        raise DataError(f"titles file not found: {path}")
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte offset {exc.start})") from None
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc
    if column not in frame.columns:
        raise DataError(f"{path} has no column '{column}'; columns: {list(frame.columns)}")
    return frame[column].tolist()


@extract_app.command("predict")
def extract_predict(
    model_dir: Annotated[Path, typer.Argument(help="saved extractor folder")],
    titles: Annotated[list[str] | None, typer.Argument(help="title(s) to read")] = None,
    file: Annotated[Path | None, typer.Option(help="CSV of titles")] = None,
    column: Annotated[str, typer.Option(help="title column of --file")] = "productDisplayName",
    out: Annotated[Path | None, typer.Option(help="write predictions as CSV")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON records")] = False,
) -> None:
    """Brand, gender, colour and type found in each title (bad rows of --file get an error)."""
    import pandas as pd

    from mmshop.extract import AttributeExtractor

    if bool(titles) == (file is not None):
        _fail(ValueError("give either titles or --file (not both)"))
    try:
        extractor = AttributeExtractor.load(model_dir)
        if file is None:
            items: list[Any] = list(titles or [])
            records = [{"title": t, **found} for t, found in zip(
                items, extractor.predict(items), strict=True
            )]  # fmt: skip
        else:
            records = _predict_rows(extractor, _read_titles(file, column))
    except MmshopError as exc:
        _fail(exc)
    table = pd.DataFrame.from_records(records)
    if out is not None:
        table.to_csv(out, index=False)
        typer.echo(f"wrote {len(table)} predictions to {out}")
    elif as_json:
        typer.echo(json.dumps(records, ensure_ascii=False))
    else:
        typer.echo(table.fillna("").to_string(index=False))


def _predict_rows(extractor: Any, values: list[Any]) -> list[dict[str, Any]]:
    """Predict every readable title; a bad row gets ``error`` naming the row, the rest go on."""
    from mmshop.reviews.inputs import clean_text

    good, errors = [], {}
    for k, value in enumerate(values):
        try:  # the checks predict() makes, per row, so one bad row does not stop the file
            limit = extractor.config.max_chars
            if not clean_text(value, f"row {k + 1}", limit, "title", "ExtractorConfig.max_chars"):
                raise DataError(f"row {k + 1}: title is empty")
        except DataError as exc:
            errors[k] = str(exc)
            continue
        good.append(k)
    found = extractor.predict([values[k] for k in good]) if good else []
    by_row = dict(zip(good, found, strict=True))
    return [
        {"title": v, **by_row.get(k, {}), **({"error": errors[k]} if k in errors else {})}
        for k, v in enumerate(values)
    ]

"""``mmshop reviews train | predict | monitor``: review sentiment commands (thin over the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import MmshopError

reviews_app = typer.Typer(no_args_is_help=True, help="Review sentiment and opinion monitoring.")
app.add_typer(reviews_app, name="reviews")


def _label_map(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not value.strip():
            raise typer.BadParameter(f"--label-map expects RAW=CLASS, got {item!r}")
        out[key.strip()] = value.strip()
    return out


@reviews_app.command("train")
def reviews_train(
    data: Annotated[Path, typer.Argument(help="reviews file (.csv/.jsonl/.parquet)")],
    out: Annotated[Path, typer.Option(help="folder to save the sentiment model")],
    text: Annotated[list[str] | None, typer.Option("--text", help="review text column(s)")] = None,
    label: Annotated[str | None, typer.Option(help="label column")] = None,
    rating: Annotated[
        str | None, typer.Option(help="star-rating column: <=2 negative, 3 neutral, >=4 positive")
    ] = None,
    label_map: Annotated[
        list[str] | None, typer.Option("--label-map", help="RAW=CLASS, e.g. 0=negative")
    ] = None,
    extra_label: Annotated[
        list[str] | None, typer.Option("--extra-label", help="another label learnt jointly")
    ] = None,
    categorical: Annotated[
        list[str] | None, typer.Option("--categorical", help="categorical context column")
    ] = None,
    numeric: Annotated[
        list[str] | None, typer.Option("--numeric", help="numeric context column")
    ] = None,
    image: Annotated[str | None, typer.Option(help="photo column (paths)")] = None,
    image_root: Annotated[
        Path | None, typer.Option(help="folder photo paths are relative to")
    ] = None,
    text_encoder: Annotated[
        str, typer.Option(help="auto | builtin | hf:PATH (auto: MiniLM for English if installed)")
    ] = "auto",
    mode: Annotated[str, typer.Option(help="frozen | lora | full (pretrained encoder)")] = "frozen",
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    val: Annotated[Path | None, typer.Option(help="validation reviews for early stopping")] = None,
    config: Annotated[Path | None, typer.Option(help="SentimentConfig JSON file")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="predictor override: trainer.lr=1e-3")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train a review sentiment model (English or Chinese) with optional context columns."""
    from mmshop.reviews import SentimentConfig, SentimentModel
    from mmshop.reviews.inputs import read_reviews

    try:
        base = SentimentConfig.from_json(config) if config else SentimentConfig()
        changes: dict = {"text_encoder": text_encoder, "mode": mode}
        if text:
            changes["text_columns"] = list(text)
        if rating:
            changes.update(rating_column=rating, label_column=None)
        elif label:
            changes.update(label_column=label, rating_column=None)
        for key, value in (
            ("label_map", _label_map(label_map)),
            ("extra_labels", extra_label),
            ("categorical", categorical),
            ("numeric", numeric),
        ):
            if value:
                changes[key] = value if isinstance(value, dict) else list(value)
        if image:
            changes["image"] = image
        overrides = {**base.overrides, **_parse_sets(set_)}
        if epochs:
            overrides["trainer.epochs"] = epochs
        changes["overrides"] = overrides
        model = SentimentModel(base.replace(changes))
        train_frame = read_reviews(data)
        val_frame = read_reviews(val) if val else None
        model.fit(
            train_frame,
            val_frame,
            image_root=image_root or data.parent,
            work_dir=out.with_name(out.name + ".work"),
            progress=not quiet,
        )
        model.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = {k: v for k, v in model.info.items() if k != "skipped"}
    typer.echo(json.dumps(info, indent=2, ensure_ascii=False))
    typer.echo(f"sentiment model saved to {out}")


@reviews_app.command("predict")
def reviews_predict(
    model_dir: Annotated[Path, typer.Argument(help="saved sentiment model folder")],
    data: Annotated[Path | None, typer.Argument(help="reviews file to score")] = None,
    text: Annotated[list[str] | None, typer.Option("--text", help="score this review")] = None,
    out: Annotated[Path | None, typer.Option(help="CSV to write (default: print)")] = None,
    image_root: Annotated[
        Path | None, typer.Option(help="folder photo paths are relative to")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON records")] = False,
) -> None:
    """Predict sentiment for a reviews file (bad rows get an ``error``) or for --text reviews."""
    import pandas as pd

    from mmshop.reviews import SentimentModel
    from mmshop.reviews.inputs import read_reviews

    if (data is None) == (not text):
        _fail(ValueError("give either a reviews file or --text (not both)"))
    try:
        model = SentimentModel.load(model_dir)
        if data is not None:
            frame = read_reviews(data)
            pred = model.predict(frame, image_root=image_root or data.parent, on_error="skip")
            pred = pd.concat([frame.reset_index(drop=True), pred], axis=1)
        else:
            pred = model.predict(list(text or []))
            pred.insert(0, "text", list(text or []))
    except MmshopError as exc:
        _fail(exc)
    if out is not None:
        pred.to_csv(out, index=False)
        typer.echo(f"wrote {len(pred)} predictions to {out}")
    elif as_json:
        typer.echo(pred.to_json(orient="records", force_ascii=False))
    else:
        typer.echo(pred.to_string(index=False))


@reviews_app.command("monitor")
def reviews_monitor(
    model_dir: Annotated[Path, typer.Argument(help="saved sentiment model folder")],
    data: Annotated[Path, typer.Argument(help="reviews file with group / time columns")],
    by: Annotated[list[str] | None, typer.Option("--by", help="group column (repeat)")] = None,
    time_column: Annotated[str | None, typer.Option(help="date column (else blocks)")] = None,
    freq: Annotated[str, typer.Option(help="period of the date column: D, W, M, Q")] = "W",
    window: Annotated[int, typer.Option(help="reviews per block without a date column")] = 100,
    min_reviews: Annotated[int, typer.Option(help="reviews needed in both periods")] = 20,
    min_jump: Annotated[float, typer.Option(help="rise in negative share to alert on")] = 0.10,
    z: Annotated[float, typer.Option(help="two-proportion z-score needed")] = 2.0,
    out: Annotated[Path | None, typer.Option(help="write aggregates + alerts as JSON")] = None,
) -> None:
    """Sentiment shares per group and period, and alerts where the negative share jumped."""
    from mmshop.reviews import SentimentModel, monitor_reviews
    from mmshop.reviews.inputs import read_reviews
    from mmshop.utils.io import atomic_write_text

    try:
        model = SentimentModel.load(model_dir)
        report = monitor_reviews(
            model,
            read_reviews(data),
            list(by or []),
            time_column,
            freq=freq,
            window=window,
            min_reviews=min_reviews,
            min_jump=min_jump,
            z_threshold=z,
            image_root=data.parent,
        )
    except MmshopError as exc:
        _fail(exc)
    if out is not None:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str)
        atomic_write_text(out, text)
    typer.echo(report.aggregates.to_string(index=False))
    if report.alerts.empty:
        typer.echo("no negative-share jump alerts")
    else:
        typer.echo(f"\n{len(report.alerts)} alert(s):")
        typer.echo(report.alerts.to_string(index=False))

"""``mmshop fit ...``: size and fit advice commands (thin over :mod:`mmshop.fit`).

Also registers ``mmshop recommend USER`` (:mod:`mmshop.cli_recommend`) on the main app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import MmshopError

fit_app = typer.Typer(
    no_args_is_help=True,
    help="Size and fit advice: train on fit feedback, recommend a size for a body and an item.",
)
app.add_typer(fit_app, name="fit")


def _body(
    height: str | None,
    weight: str | None,
    bust: str | None,
    waist: str | None,
    hips: str | None,
    age: str | None,
    body_type: str | None,
) -> dict[str, Any]:
    raw = {
        "height": height,
        "weight": weight,
        "bust size": bust,
        "waist": waist,
        "hips": hips,
        "age": age,
        "body type": body_type,
    }
    return {k: v for k, v in raw.items() if v is not None}


Height = Annotated[str | None, typer.Option(help="e.g. 5' 8\" or 172cm (bare number: cm)")]
Weight = Annotated[str | None, typer.Option(help="e.g. 137lbs or 62kg (bare number: kg)")]
Bust = Annotated[str | None, typer.Option(help="bust size, e.g. 34d")]
Waist = Annotated[str | None, typer.Option(help="e.g. 29 (inches) or 74cm")]
Hips = Annotated[str | None, typer.Option(help="e.g. 38 (inches) or 97cm")]
Age = Annotated[str | None, typer.Option(help="years")]
BodyType = Annotated[str | None, typer.Option(help="e.g. hourglass, pear, athletic")]
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]


@fit_app.command("parse")
def parse(
    data: Annotated[Path, typer.Argument(help="raw JSON lines, Parquet or CSV fit feedback")],
    out: Annotated[Path | None, typer.Option(help="write the canonical table (CSV)")] = None,
    report: Annotated[Path | None, typer.Option(help="write the bad-input report (JSON)")] = None,
) -> None:
    """Parse raw fit feedback (5' 8\", 137lbs, 34d ...) into canonical units; report bad rows."""
    from mmshop.fit import load_fit_table
    from mmshop.utils.io import atomic_write_text

    try:
        frame, rep = load_fit_table(data)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(rep.summary())
    for issue in (rep.quarantined + rep.blanked)[:10]:
        typer.echo(f"  row {issue['row']}: {issue['reason']}")
    if out:
        atomic_write_text(out, frame.to_csv(index=False))
        typer.echo(f"canonical table written to {out}")
    if report:
        atomic_write_text(report, json.dumps(rep.to_dict(), indent=2))


@fit_app.command("train")
def train(
    data: Annotated[Path, typer.Argument(help="fit feedback: raw JSON lines, Parquet or CSV")],
    out: Annotated[Path, typer.Option(help="folder to save the fit model")],
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    config: Annotated[Path | None, typer.Option(help="FitConfig JSON file")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: trainer.lr=1e-3")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Train the fit model (small / fit / large) on fit feedback and save it."""
    from mmshop.fit import FitConfig, FitModel, load_fit_table

    try:
        overrides = _parse_sets(set_)
        if epochs:
            overrides["trainer.epochs"] = epochs
        base = FitConfig.from_json(config) if config else FitConfig()
        frame, rep = load_fit_table(data)
        if not as_json:
            typer.echo(rep.summary())
        model = FitModel(base, overrides=overrides).fit(frame)
        model.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = {k: v for k, v in model.training_info.items() if k != "history"}
    if as_json:
        typer.echo(json.dumps({"model": str(out), **info}, indent=2))
    else:
        typer.echo(
            f"saved {out} (best epoch {info['best_epoch']}, "
            f"val macro AUC {info['val_macro_auc']:.4f}, {info['seconds']} s)"
        )


@fit_app.command("recommend-size")
def recommend_size(
    model: Annotated[Path, typer.Argument(help="saved fit model folder (mmshop fit train)")],
    item: Annotated[str, typer.Option(help="item id")],
    user: Annotated[str | None, typer.Option(help="customer id (optional)")] = None,
    category: Annotated[str | None, typer.Option(help="category, needed for a new item")] = None,
    size: Annotated[
        list[str] | None, typer.Option("--size", help="only consider these sizes (repeat)")
    ] = None,
    height: Height = None,
    weight: Weight = None,
    bust: Bust = None,
    waist: Waist = None,
    hips: Hips = None,
    age: Age = None,
    body_type: BodyType = None,
    as_json: AsJson = False,
) -> None:
    """The size of an item most likely to fit a body, with its probability of fitting."""
    from mmshop.fit import FitModel

    try:
        fit_model = FitModel.load(model)
        advice = fit_model.recommend_size(
            _body(height, weight, bust, waist, hips, age, body_type),
            item_id=item,
            user_id=user,
            category=category,
            sizes=size or None,
        )
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(advice.to_dict(), indent=2))
        return
    typer.echo(f"size {advice.size}: {advice.fit_probability:.0%} chance it fits ({advice.note})")
    for o in advice.options:
        typer.echo(f"  {o.size:>6}  small {o.small:.2f}  fit {o.fit:.2f}  large {o.large:.2f}")


@fit_app.command("train-body-size")
def train_body_size(
    data: Annotated[Path, typer.Argument(help="CSV with weight (kg), age, height (cm), size")],
    out: Annotated[Path, typer.Option(help="folder to save the size model")],
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: hidden=32")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Train the body-measurement size model (height, weight, age -> XXS..XXXL)."""
    import pandas as pd

    from mmshop.errors import DataError
    from mmshop.fit import BodySizeModel

    try:
        overrides = _parse_sets(set_)
        if epochs:
            overrides["trainer.epochs"] = epochs
        if not data.is_file():
            raise DataError(f"size data file not found: {data}")
        df = pd.read_parquet(data) if data.suffix == ".parquet" else pd.read_csv(data)
        model = BodySizeModel(overrides=overrides).fit(df)
        model.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = model.training_info
    if as_json:
        typer.echo(json.dumps({"model": str(out), "sizes": model.classes, **info}, indent=2))
    else:
        typer.echo(f"saved {out} (sizes {model.classes}, val score {info['val_score']:.4f})")


@fit_app.command("body-size")
def body_size(
    model: Annotated[Path, typer.Argument(help="saved size model (mmshop fit train-body-size)")],
    height: Height = None,
    weight: Weight = None,
    age: Age = None,
    as_json: AsJson = False,
) -> None:
    """A size label (XXS..XXXL) from body measurements alone."""
    from mmshop.fit import BodySizeModel

    try:
        estimate = BodySizeModel.load(model).recommend(
            _body(height, weight, None, None, None, age, None)
        )
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(estimate.__dict__, indent=2))
        return
    typer.echo(
        f"size {estimate.size}: {estimate.probability:.0%} "
        f"({estimate.within_one_probability:.0%} within one size); "
        f"based on {', '.join(estimate.measurements_used) or 'no measurements'}"
    )


# `mmshop recommend USER` and `mmshop recommend-items` live in their own module, on the main app.
from mmshop import cli_recommend as _cli_recommend  # noqa: E402, F401  isort: skip

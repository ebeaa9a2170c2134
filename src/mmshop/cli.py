"""The ``mmshop`` command line: a thin layer over the Python API."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mmshop.errors import MmshopError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Multimodal machine learning for commerce: train, evaluate and predict on a catalogue.",
)


def _parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs; values parsed as JSON when they can be (numbers, lists, true)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _open(path: Path, split: str | None, **kwargs: Any):
    from mmshop.data.catalog import Catalog

    cat = Catalog.open(path, **kwargs)
    return cat.split(split) if split else cat


@app.command()
def validate(
    catalog: Annotated[Path, typer.Argument(help="CSV / Parquet / JSONL catalogue")],
    out: Annotated[
        Path | None, typer.Option(help="write the validation report (JSON + CSV)")
    ] = None,
) -> None:
    """Check a catalogue: column roles, bad images, empty text, duplicates; report bad rows."""
    try:
        cat = _open(catalog, None)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(f"roles: {json.dumps(cat.roles.to_dict())}")
    typer.echo(cat.report.summary())
    if out:
        cat.report.write(out)
        typer.echo(f"report written to {out}")


@app.command()
def train(
    catalog: Annotated[Path, typer.Argument(help="CSV / Parquet / JSONL catalogue")],
    label: Annotated[list[str], typer.Option("--label", "-l", help="label column (repeat)")],
    out: Annotated[Path, typer.Option(help="folder to save the trained model")],
    fusion: Annotated[
        str | None, typer.Option(help="concat | weighted | gated | attention")
    ] = None,
    modalities: Annotated[str | None, typer.Option(help="comma list: image,text,tabular")] = None,
    epochs: Annotated[int | None, typer.Option(help="maximum epochs")] = None,
    text_encoder: Annotated[
        str | None,
        typer.Option(help="hf:FOLDER (a transformers checkpoint), hf:minilm, or an encoder name"),
    ] = None,
    image_encoder: Annotated[
        str | None, typer.Option(help="hf:FOLDER (ViT, CLIP, SigLIP, ...) or an encoder name")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(help="pretrained encoders: frozen (cascade, fastest) | lora | full"),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="PredictorConfig JSON file")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="override a config key: trainer.lr=1e-3")
    ] = None,
    train_split: Annotated[str, typer.Option(help="split used for training")] = "train",
    val_split: Annotated[str, typer.Option(help="split used for early stopping")] = "val",
    work_dir: Annotated[Path | None, typer.Option(help="checkpoints (default OUT.work)")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint")] = False,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train a multimodal tagger on the catalogue's train split, early-stopping on val."""
    from mmshop.predictor import MultimodalPredictor, PredictorConfig

    try:
        overrides = _parse_sets(set_)
        if fusion:
            overrides["model.fusion.name"] = fusion
        if modalities:
            overrides["modalities"] = [m.strip() for m in modalities.split(",") if m.strip()]
        if epochs:
            overrides["trainer.epochs"] = epochs
        base = PredictorConfig.from_json(config) if config else PredictorConfig(labels=label)
        if config:
            overrides["labels"] = label
        cat = _open(catalog, None)
        typer.echo(cat.report.summary())
        predictor = MultimodalPredictor(
            config=base,
            overrides=overrides,
            work_dir=work_dir or out.with_name(out.name + ".work"),
            text_encoder=text_encoder,
            image_encoder=image_encoder,
            mode=mode,
        )
        predictor.fit(
            cat.split(train_split), val=cat.split(val_split), resume=resume, progress=not quiet
        )
        predictor.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = predictor.training_info
    typer.echo(
        f"saved {out} (best epoch {info['best_epoch']}, val score {info['best_score']:.4f}, "
        f"{info['train_seconds'] / 60:.1f} min)"
    )


@app.command()
def evaluate(
    model: Annotated[Path, typer.Argument(help="saved model folder")],
    catalog: Annotated[Path, typer.Argument(help="labelled catalogue")],
    split: Annotated[str | None, typer.Option(help="evaluate only this split")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Accuracy and macro-F1 per label on a labelled catalogue."""
    from mmshop.predictor import MultimodalPredictor

    try:
        p = MultimodalPredictor.load(model)
        metrics = p.evaluate(_open(catalog, split, strict=False))
    except MmshopError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    for label, m in metrics.items():
        typer.echo(
            f"{label:>20}  accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  n={m['n']}"
        )


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="saved model folder")],
    catalog: Annotated[Path, typer.Argument(help="products to tag")],
    out: Annotated[Path | None, typer.Option(help="CSV to write (default: print)")] = None,
) -> None:
    """Predict labels for new products; rows with a missing image or unseen values are noted."""
    from mmshop.predictor import MultimodalPredictor
    from mmshop.utils.io import atomic_write_text

    try:
        p = MultimodalPredictor.load(model)
        cat = _open(catalog, None, roles=p.processors.prediction_roles(), strict=False)
        table = p.predict(cat)
    except MmshopError as exc:
        _fail(exc)
    if cat.report.issues:
        typer.echo(cat.report.summary(), err=True)
    if out:
        atomic_write_text(out, table.to_csv(index=False))
        typer.echo(f"{len(table)} predictions written to {out}")
    else:
        table.to_csv(sys.stdout, index=False)


@app.command()
def report(
    model: Annotated[Path, typer.Argument(help="saved model folder")],
    catalog: Annotated[Path, typer.Argument(help="labelled catalogue")],
    out: Annotated[Path, typer.Option(help="report folder")],
    split: Annotated[str | None, typer.Option(help="evaluate only this split")] = "test",
    ablation: Annotated[bool, typer.Option(help="include the modality ablation")] = True,
) -> None:
    """Write an evaluation report (Markdown + HTML + figures)."""
    from mmshop.predictor import MultimodalPredictor

    try:
        p = MultimodalPredictor.load(model)
        path = p.report(_open(catalog, split, strict=False), out, ablation=ablation)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(f"report written to {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="where to save the model")] = Path("models/tagger"),
    report_dir: Annotated[Path, typer.Option(help="where to write the report")] = Path(
        "reports/demo"
    ),
    epochs: Annotated[int, typer.Option(help="maximum epochs")] = 12,
    search_out: Annotated[
        Path, typer.Option(help="where to save the search model (used by mmshop serve)")
    ] = Path("models/search"),
    index_out: Annotated[
        Path, typer.Option(help="where to write the search index (used by mmshop serve)")
    ] = Path("models/index"),
    search_epochs: Annotated[
        int, typer.Option(help="search model epochs (0: skip the search model and index)")
    ] = 4,
    body_size_out: Annotated[
        Path, typer.Option(help="where to save the body-size model (the shop's fit advisor)")
    ] = Path("models/body-size"),
    fit: Annotated[
        bool, typer.Option(help="train the body-size model on the shipped body-size sample")
    ] = True,
    extract_out: Annotated[
        Path, typer.Option(help="where to save the title attribute extractor")
    ] = Path("models/extract"),
    extract: Annotated[
        bool, typer.Option(help="train the attribute extractor on the sample titles (~30 s)")
    ] = True,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train a tagger on the shipped sample, evaluate on its test split, write a report; then
    train a small search model and index the sample, a body-size model (fit advisor) and an
    attribute extractor for titles (what `mmshop serve` opens by default)."""
    from mmshop.predictor import MultimodalPredictor
    from mmshop.samples import load_sample

    try:
        cat = load_sample("fashion")
        typer.echo(f"sample: {len(cat)} products; {cat.report.summary()}")
        p = MultimodalPredictor(
            labels=["articleType", "baseColour"],
            overrides={"trainer.epochs": epochs},
            work_dir=out.with_name(out.name + ".work"),
        )
        p.fit(cat.split("train"), val=cat.split("val"), progress=not quiet)
        p.save(out)
        metrics = p.evaluate(cat.split("test"))
        path = p.report(cat.split("test"), report_dir)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(json.dumps(metrics, indent=2))
    typer.echo(f"model saved to {out}; report at {path}")
    if search_epochs > 0:
        _demo_search(search_out, index_out, search_epochs, quiet)
    if fit:
        _demo_fit(body_size_out)
    if extract:
        _demo_extract(extract_out, quiet)


def _demo_fit(out: Path) -> None:
    """The fit advisor's body-size model (height, weight, age -> XXS..XXXL), in seconds."""
    import pandas as pd

    from mmshop.fit import BodySizeModel
    from mmshop.samples import sample_path

    try:
        df = pd.read_csv(sample_path("body-size"))
        typer.echo(f"training the body-size model on {len(df)} shipped bodies ...")
        model = BodySizeModel().fit(df)
        model.save(out)
    except MmshopError as exc:
        _fail(exc)
    info = model.training_info
    typer.echo(
        f"body-size model saved to {out} (sizes {model.classes}, validation accuracy "
        f"{info['val_score']:.2f}, {info['seconds']} s)"
    )


def _demo_extract(out: Path, quiet: bool) -> None:
    """An attribute extractor (brand, gender, colour, type from titles) on the sample titles."""
    import time

    from mmshop.extract import AttributeExtractor
    from mmshop.samples import load_sample

    started = time.perf_counter()
    try:
        products = load_sample("fashion").df
        typer.echo(f"training the title attribute extractor on {len(products)} titles ...")
        extractor = AttributeExtractor().fit(
            products, work_dir=out.with_name(out.name + ".work"), progress=not quiet
        )
        extractor.save(out)
    except MmshopError as exc:
        _fail(exc)
    typer.echo(
        f"attribute extractor saved to {out} (validation span F1 "
        f"{extractor.info['val_micro_f1']:.2f}, {time.perf_counter() - started:.0f} s)"
    )


def _demo_search(model_out: Path, index_out: Path, epochs: int, quiet: bool) -> None:
    """The demo's search model (image + title towers) and its index over the whole sample."""
    from mmshop.errors import MissingExtraError
    from mmshop.samples import load_sample

    try:
        from mmshop.search import SearchEncoder, build_index

        cat = load_sample("fashion")
        typer.echo(f"training a search model on the sample ({epochs} epochs) ...")
        encoder = SearchEncoder.fit(
            cat.split("train"),
            cat.split("val"),
            overrides={"trainer.epochs": epochs, "trainer.progress": not quiet},
            work_dir=model_out.with_name(model_out.name + ".work"),
            progress=not quiet,
        )
        encoder.save(model_out)
        built = build_index(model_out, cat, index_out, progress=not quiet)
    except MissingExtraError as exc:
        typer.echo(f"skipped the search model and index: {exc}")
        return
    except MmshopError as exc:
        _fail(exc)
    typer.echo(
        f"search model saved to {model_out}; {len(built)} products indexed in {index_out}; "
        "start the shop with: mmshop serve"
    )


# the search commands (align, index, search) live in their own module, on the same app
from mmshop import cli_search as _cli_search  # noqa: E402, F401  isort: skip
from mmshop import cli_serve as _cli_serve  # noqa: E402, F401  isort: skip
from mmshop import cli_reviews as _cli_reviews  # noqa: E402, F401  isort: skip
from mmshop import cli_fit as _cli_fit  # noqa: E402, F401  isort: skip
from mmshop import cli_caption as _cli_caption  # noqa: E402, F401  isort: skip
from mmshop import cli_extract as _cli_extract  # noqa: E402, F401  isort: skip


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

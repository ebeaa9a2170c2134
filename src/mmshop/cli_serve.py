"""``mmshop serve``: the HTTP API and the shop page under uvicorn (thin over mmshop.serve)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmshop.cli import _fail, _parse_sets, app
from mmshop.errors import MmshopError


@app.command()
def serve(
    model: Annotated[
        Path | None, typer.Option(help="search model folder (default: models/search)")
    ] = None,
    index: Annotated[Path | None, typer.Option(help="index folder (default: models/index)")] = None,
    catalog: Annotated[
        Path | None, typer.Option(help="catalogue CSV (default: the shipped fashion sample)")
    ] = None,
    tagger: Annotated[
        Path | None, typer.Option(help="attribute tagger folder (default: models/tagger)")
    ] = None,
    db: Annotated[Path | None, typer.Option(help="SQLite store (default: models/serve.db)")] = None,
    host: Annotated[
        str | None, typer.Option(help="interface to listen on (default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000)")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="key for write endpoints (default: $MMSHOP_API_KEY, else a random one)"),
    ] = None,
    cors: Annotated[
        list[str] | None, typer.Option("--cors", help="allowed browser origin (repeat)")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="ServeSettings JSON file")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="any ServeSettings key: max_k=50")
    ] = None,
) -> None:
    """Start the HTTP API (/v1, docs at /docs) and the shop page (/) with uvicorn."""
    from mmshop.errors import require
    from mmshop.serve.settings import ServeSettings

    try:
        require("uvicorn", "serve")
        base = ServeSettings.from_json(config) if config else ServeSettings()
        overrides = _parse_sets(set_)
        given = {
            "search_model": model, "index": index, "catalog": catalog, "tagger": tagger,
            "db": db, "api_key": api_key,
        }  # fmt: skip
        overrides.update({k: str(v) for k, v in given.items() if v is not None})
        if host is not None:
            overrides["host"] = host
        if port is not None:
            overrides["port"] = port
        if cors:
            overrides["cors_origins"] = list(cors)
        settings = base.replace(overrides)
        from mmshop.serve.app import create_app

        typer.echo("loading models and catalogue ...")
        web = create_app(settings)
    except MmshopError as exc:
        _fail(exc)
    import uvicorn

    key = web.state.api_key
    if web.state.api_key_generated:
        typer.echo(f"write API key (made for this run; set MMSHOP_API_KEY to fix one): {key}")
    if web.state.services.tagger is None:
        typer.echo(f"note: {web.state.services.tagger_error}")
    features = web.state.services.features
    for name, error in features.errors.items():
        if error and not features.loaded(name):
            typer.echo(f"note: {error}")
    host, port = settings.host, settings.port
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    typer.echo(f"shop page: http://{shown}:{port}/   API docs: http://{shown}:{port}/docs")
    uvicorn.run(
        web,
        host=host,
        port=port,
        log_level="warning",
        timeout_keep_alive=10,
        timeout_graceful_shutdown=5,
        limit_concurrency=256,
    )

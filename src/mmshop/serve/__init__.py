"""`mmshop serve`: the HTTP API and the shop web page (needs the ``serve`` extra).

>>> from mmshop.serve import ServeSettings, create_app
>>> app = create_app(ServeSettings(index="models/index"))   # then: uvicorn.run(app)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmshop.serve.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


def create_app(settings: ServeSettings | None = None, store: Any = None) -> FastAPI:
    """Build the app (imports FastAPI lazily; see :func:`mmshop.serve.app.create_app`)."""
    from mmshop.serve.app import create_app as build

    return build(settings, store)


__all__ = ["ServeSettings", "create_app"]

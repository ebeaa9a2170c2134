"""Shared route helpers: the app's services, worker-thread calls with a timeout, the API key."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from mmshop.index.store import SearchHit
from mmshop.serve.errors import ApiError
from mmshop.serve.services import Services
from mmshop.serve.settings import ServeSettings

T = TypeVar("T")


def services(request: Request) -> Services:
    return request.app.state.services


def settings(request: Request) -> ServeSettings:
    return request.app.state.settings


async def in_worker(request: Request, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (model, index, database) in the app's worker pool, with a timeout."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(state.executor, functools.partial(fn, *args, **kwargs))
    try:
        return await asyncio.wait_for(future, state.settings.request_timeout_s)
    except TimeoutError:
        raise ApiError(
            504, "timeout", f"the request took longer than {state.settings.request_timeout_s} s"
        ) from None


async def in_batch(request: Request, kind: str, key: str, k: int) -> list[SearchHit]:
    """An unfiltered text ("text") or similar-item ("similar") search through the app's
    :class:`~mmshop.serve.batching.QueryBatcher`, with the request timeout."""
    state = request.app.state
    future = state.batcher.submit(kind, key, k)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), state.settings.request_timeout_s)
    except TimeoutError:
        future.cancel()
        raise ApiError(
            504, "timeout", f"the request took longer than {state.settings.request_timeout_s} s"
        ) from None


def require_api_key(request: Request) -> None:
    """Write endpoints: the key in ``X-API-Key`` (or ``Authorization: Bearer``) must match."""
    expected: str = request.app.state.api_key
    given = request.headers.get("x-api-key")
    if given is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
    if not given:
        raise ApiError(401, "unauthorized", "this endpoint needs an API key in X-API-Key")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "the API key is not valid")


def parse_filters(raw: list[str] | None) -> dict[str, Any]:
    """``field=value`` strings as in ``mmshop search --filter`` (repeat a field for any-of;
    ``field=lo..hi``, ``field>=x``, ``field<=x`` for numbers)."""
    from mmshop.index.metadata import parse_filters as parse

    return parse(raw or [])

"""Every error the service returns is JSON ``{"code", "message"}``: never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mmshop.errors import ConfigError, DataError, MmshopError, ModelLoadError, QueryError

log = logging.getLogger("mmshop.serve")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
    504: "timeout",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable machine-readable code and a human message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **extra}


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    return JSONResponse(error_body(code, message, **extra), status_code=status, headers=headers)


def _mmshop_status(exc: MmshopError) -> tuple[int, str]:
    from mmshop.serve.features import FeatureMissing
    from mmshop.serve.services import ModelMissing

    if isinstance(exc, FeatureMissing):
        return 503, "model_missing"
    if isinstance(exc, ModelMissing):
        return 503, "model_unavailable"
    if isinstance(exc, QueryError):
        return 400, "bad_query"
    if isinstance(exc, DataError):
        return 422, "bad_input"
    if isinstance(exc, ConfigError):
        return 400, "bad_request"
    if isinstance(exc, ModelLoadError):
        return 503, "model_unavailable"
    return 500, "internal_error"


def install_error_handlers(app: FastAPI) -> None:
    """JSON bodies for our errors, FastAPI's validation errors, HTTP errors and crashes."""

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.exception_handler(MmshopError)
    async def _mmshop(_: Request, exc: MmshopError) -> JSONResponse:
        status, code = _mmshop_status(exc)
        return error_response(status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append({"field": where, "problem": str(err.get("msg", "invalid"))})
        first = problems[0] if problems else {"field": "", "problem": "invalid request"}
        message = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        return error_response(422, "invalid_request", message, errors=problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(exc.status_code, code, detail)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error; see the server log")

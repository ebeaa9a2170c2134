"""Exception types shared by every layer; each message names the row, field or file at fault."""

from __future__ import annotations


class MmshopError(Exception):
    """Base class for all errors mmshop raises on purpose."""


class ConfigError(MmshopError, ValueError):
    """A configuration value or key is invalid."""


class DataError(MmshopError, ValueError):
    """A user's data file, row or field is unusable."""


class ModelLoadError(MmshopError):
    """A saved model directory is missing, tampered with, or does not match."""


class QueryError(MmshopError, ValueError):
    """A search query is unusable: empty text, k out of range, unknown filter, bad image."""


class MissingExtraError(MmshopError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


def require(module: str, extra: str):
    """Import an optional module lazily, or raise an error naming the pip extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise MissingExtraError(
            f"'{module}' is not installed; install it with: pip install 'mmshop[{extra}]'"
        ) from exc

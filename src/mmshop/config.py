"""Typed dataclass configs that validate themselves and round-trip through JSON."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from mmshop.errors import ConfigError

C = TypeVar("C", bound="ConfigBase")


class ConfigBase:
    """Mixin for ``@dataclass`` configs.

    Subclasses override :meth:`validate` and raise :class:`ConfigError` naming the field.
    ``from_dict`` rejects unknown keys; nested configs are rebuilt from their dicts.
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check field values; raise ConfigError naming the bad field."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        if not isinstance(data, dict):
            raise ConfigError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(
                f"unknown {cls.__name__} key(s) {unknown}; valid keys: {sorted(fields)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {name: _coerce(hints.get(name), value) for name, value in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ConfigError(f"{cls.__name__}: {exc}") from exc

    def replace(self: C, overrides: dict[str, Any] | None = None) -> C:
        """Copy with ``overrides`` applied (nested keys as 'a.b'); unknown keys are errors."""
        data = self.to_dict()
        for key, value in (overrides or {}).items():
            target = data
            parts = key.split(".")
            for part in parts[:-1]:
                if part not in target or not isinstance(target[part], dict):
                    raise ConfigError(f"unknown config key '{key}' for {type(self).__name__}")
                target = target[part]
            if parts[-1] not in target:
                raise ConfigError(
                    f"unknown config key '{key}' for {type(self).__name__}; valid: {sorted(target)}"
                )
            target[parts[-1]] = value
        return type(self).from_dict(data)

    def to_json(self, path: str | Path) -> None:
        from mmshop.utils.io import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def from_json(cls: type[C], path: str | Path) -> C:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _plain(value: Any) -> Any:
    if isinstance(value, ConfigBase):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _coerce(hint: Any, value: Any) -> Any:
    """Rebuild nested configs and tuples from their JSON forms."""
    if hint is None:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            coerced = _coerce(arg, value)
            if coerced is not value:
                return coerced
        return value
    if isinstance(hint, type) and issubclass(hint, ConfigBase) and isinstance(value, dict):
        return hint.from_dict(value)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin is dict and isinstance(value, dict):
        args = typing.get_args(hint)
        if len(args) == 2:
            return {k: _coerce(args[1], v) for k, v in value.items()}
    return value

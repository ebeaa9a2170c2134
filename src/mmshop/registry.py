"""One small registry per component kind, filled by decorators where each class is defined."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from mmshop.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a public name to a class or factory; unknown and duplicate names are errors."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ConfigError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            with contextlib.suppress(AttributeError, TypeError):
                obj.registry_name = name  # type: ignore[attr-defined]
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} '{name}'; valid: {valid}") from None

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


ENCODERS: Registry[Any] = Registry("encoder")
FUSIONS: Registry[Any] = Registry("fusion")
HEADS: Registry[Any] = Registry("head")
LOSSES: Registry[Any] = Registry("loss")

"""The names ``mmshop`` promises in ``__all__`` exist and are what the docs say they are."""

from __future__ import annotations

import mmshop


def test_every_public_name_resolves() -> None:
    for name in mmshop.__all__:
        value = getattr(mmshop, name)
        if name != "__version__":
            assert callable(value), name
            assert value.__name__ == name


def test_unknown_name_is_a_clear_attribute_error() -> None:
    try:
        mmshop.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")

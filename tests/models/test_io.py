"""The format / version check every saved folder goes through on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmshop.errors import ModelLoadError
from mmshop.models.io import check_format

WHERE = Path("models/x")


def test_check_format_accepts_its_format_and_older_versions() -> None:
    meta = {"format": "mmshop.thing", "format_version": 1}
    assert check_format(meta, WHERE, "mmshop.thing", 2) is meta
    assert check_format({"format": "mmshop.thing"}, WHERE, "mmshop.thing", 1)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"format": "mmshop.other"}, "holds 'mmshop.other', not a mmshop.thing"),
        (["not", "a", "dict"], "holds 'None'"),
        ({"format": "mmshop.thing", "format_version": 3}, "newer mmshop .format 3 > 2"),
        ({"format": "mmshop.thing", "format_version": "2"}, "format_version must be an integer"),
    ],
)
def test_check_format_names_what_is_wrong(meta: object, match: str) -> None:
    with pytest.raises(ModelLoadError, match=match):
        check_format(meta, WHERE, "mmshop.thing", 2)

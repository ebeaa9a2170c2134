"""Body measurements: parse raw public formats into canonical units and reject impossible values.

Canonical fields (all optional; ``None`` = not given):

==============  =====================================  =========================================
field           unit                                   raw forms understood
==============  =====================================  =========================================
``height_cm``   centimetres, 50..250                   ``5' 8"``, ``5ft 6in``, ``170cm``, ``1.7m``,
                                                       ``68in``; bare numbers use the caller's unit
``weight_kg``   kilograms, 20..350                     ``137lbs``, ``62kg``, ``137 lb``
``bust_band``   US band size (inches), 26..56          ``34d`` (band 34, cup d), ``34``
``cup``         ordinal index (aa=0, a=1, ... j=11)    ``d``, ``d+``, ``dd/e``, ``dddd/g``
``bust_cm``     centimetres, 50..200                   ``36`` (inches by default), ``91cm``
``waist_cm``    centimetres, 40..200                   ``29`` (inches by default), ``74cm``
``hips_cm``     centimetres, 50..220                   ``38.0`` (inches by default), ``97cm``
``age``         years, 10..120                         ``28``
``body_type``   free text, lower-cased                 ``hourglass``, ``straight & narrow``
==============  =====================================  =========================================

Impossible values (height 20 m, a negative weight, age 300) raise :class:`DataError` naming the
field; :func:`check_range` is the single place the limits live (``LIMITS``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any

from mmshop.errors import DataError

CM_PER_IN = 2.54
KG_PER_LB = 0.45359237

#: Possible range of each canonical numeric field (inclusive), in its canonical unit.
LIMITS: dict[str, tuple[float, float]] = {
    "height_cm": (50.0, 250.0),
    "weight_kg": (20.0, 350.0),
    "bust_band": (26.0, 56.0),
    "cup": (0.0, 11.0),
    "bust_cm": (50.0, 200.0),
    "waist_cm": (40.0, 200.0),
    "hips_cm": (50.0, 220.0),
    "age": (10.0, 120.0),
}
UNITS = {
    "height_cm": "cm",
    "weight_kg": "kg",
    "bust_band": "",
    "cup": "",
    "bust_cm": "cm",
    "waist_cm": "cm",
    "hips_cm": "cm",
    "age": "years",
}
#: US/UK cup letters in order; ``dd/e`` and ``ddd/f`` are the ModCloth spellings.
CUPS = ["aa", "a", "b", "c", "d", "dd", "ddd", "f", "g", "h", "i", "j"]
_CUP_ALIASES = {
    "dd/e": "dd",
    "e": "dd",
    "d+": "dd",
    "ddd/e": "ddd",
    "ddd/f": "ddd",
    "dddd/g": "g",
}

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_FEET_INCHES = re.compile(
    rf"^{_NUMBER}\s*(?:'|’|ft|feet|foot)\s*(?:{_NUMBER}\s*(?:\"|”|''|in|inch|inches)?)?$"
)
_WITH_UNIT = re.compile(rf"^{_NUMBER}\s*([a-z\"']*)$")
_BUST = re.compile(r"^(\d{2})\s*([a-z/+]*)$")

_LENGTH_UNITS = {
    "cm": 1.0,
    "m": 100.0,
    "mm": 0.1,
    "in": CM_PER_IN,
    "inch": CM_PER_IN,
    "inches": CM_PER_IN,
    '"': CM_PER_IN,
    "''": CM_PER_IN,
}
_WEIGHT_UNITS = {
    "kg": 1.0,
    "kgs": 1.0,
    "lb": KG_PER_LB,
    "lbs": KG_PER_LB,
    "pound": KG_PER_LB,
    "pounds": KG_PER_LB,
}


def is_missing(value: Any) -> bool:
    """True for None, NaN, empty or whitespace-only strings."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def check_range(field: str, value: float | None, shown: str | None = None) -> float | None:
    """Return ``value`` if it is possible for ``field``; raise DataError naming the field if not."""
    if value is None:
        return None
    low, high = LIMITS[field]
    unit = UNITS[field]
    if not math.isfinite(value) or not low <= value <= high:
        given = f"'{shown}'" if shown is not None else f"{value:g}"
        raise DataError(
            f"{field}: {given} is not a possible value"
            f" (allowed {low:g}..{high:g}{' ' + unit if unit else ''})"
        )
    return float(value)


def _text(value: Any) -> str:
    return str(value).strip().lower()


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise DataError(f"{field}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(_text(value))
    except ValueError:
        raise DataError(f"{field}: cannot read a number from {value!r}") from None


def parse_length(field: str, value: Any, default_unit: str = "cm") -> float | None:
    """A length in cm from ``5' 8"``, ``5ft 6in``, ``170cm``, ``1.7m``, ``29`` (default unit)."""
    if is_missing(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_range(field, float(value) * _LENGTH_UNITS[default_unit], str(value))
    text = _text(value)
    m = _FEET_INCHES.match(text)
    if m:
        feet = float(m.group(1))
        inches = float(m.group(2)) if m.group(2) else 0.0
        if inches < 0 or inches >= 12:
            raise DataError(f"{field}: inches must be 0..11 in {value!r}")
        return check_range(field, (feet * 12 + inches) * CM_PER_IN, str(value))
    m = _WITH_UNIT.match(text)
    if not m:
        raise DataError(f"{field}: cannot read a length from {value!r} (try 170cm or 5' 8\")")
    unit = m.group(2) or default_unit
    if unit not in _LENGTH_UNITS:
        raise DataError(f"{field}: unknown unit '{unit}' in {value!r} (cm, m, in, ft)")
    return check_range(field, float(m.group(1)) * _LENGTH_UNITS[unit], str(value))


def parse_weight(value: Any, default_unit: str = "kg", field: str = "weight_kg") -> float | None:
    """A weight in kg from ``137lbs``, ``62kg``, ``62`` (default unit)."""
    if is_missing(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_range(field, float(value) * _WEIGHT_UNITS[default_unit], str(value))
    m = _WITH_UNIT.match(_text(value))
    if not m:
        raise DataError(f"{field}: cannot read a weight from {value!r} (try 137lbs or 62kg)")
    unit = m.group(2) or default_unit
    if unit not in _WEIGHT_UNITS:
        raise DataError(f"{field}: unknown unit '{unit}' in {value!r} (kg, lbs)")
    return check_range(field, float(m.group(1)) * _WEIGHT_UNITS[unit], str(value))


def parse_cup(value: Any, field: str = "cup") -> float | None:
    """Cup letter(s) -> ordinal index (aa=0, a=1, ..., j=11)."""
    if is_missing(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_range(field, float(value))
    text = _CUP_ALIASES.get(_text(value), _text(value))
    if text not in CUPS:
        raise DataError(f"{field}: unknown cup size {value!r} (known: {', '.join(CUPS)})")
    return float(CUPS.index(text))


def parse_bust_size(value: Any) -> tuple[float | None, float | None]:
    """``34d`` -> (band 34, cup index of d); ``34`` -> (34, None)."""
    if is_missing(value):
        return None, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return check_range("bust_band", float(value)), None
    m = _BUST.match(_text(value))
    if not m:
        raise DataError(f"bust_band: cannot read a bust size from {value!r} (try 34d)")
    band = check_range("bust_band", float(m.group(1)), str(value))
    cup = parse_cup(m.group(2), field="cup") if m.group(2) else None
    return band, cup


def parse_age(value: Any) -> float | None:
    if is_missing(value):
        return None
    return check_range("age", _number("age", value), str(value))


def parse_body_type(value: Any) -> str | None:
    return None if is_missing(value) else _text(value)


@dataclass(frozen=True)
class BodyProfile:
    """A customer's body, in canonical units; every field optional. Validates on creation."""

    height_cm: float | None = None
    weight_kg: float | None = None
    bust_band: float | None = None
    cup: float | None = None
    bust_cm: float | None = None
    waist_cm: float | None = None
    hips_cm: float | None = None
    age: float | None = None
    body_type: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "body_type":
                if value is not None and not isinstance(value, str):
                    raise DataError(f"body_type: expected text, got {value!r}")
                continue
            if value is None:
                continue
            number = _number(f.name, value)
            object.__setattr__(self, f.name, check_range(f.name, number))

    @classmethod
    def numeric_fields(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "body_type"]

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def given(self) -> list[str]:
        """Names of the fields that have a value."""
        return [k for k, v in self.to_dict().items() if v is not None]

    @classmethod
    def from_raw(cls, record: dict[str, Any]) -> BodyProfile:
        """Parse one raw record (RentTheRunway / ModCloth JSON keys or canonical names).

        Raises DataError naming the field for an unreadable or impossible value.
        """
        values: dict[str, Any] = {}
        unknown = set(record) - RAW_BODY_KEYS - {f.name for f in fields(cls)}
        if unknown:
            raise DataError(
                f"unknown measurement field(s) {sorted(unknown)}; known: {sorted(RAW_BODY_KEYS)}"
            )
        for key, value in record.items():
            if is_missing(value):
                continue
            if key in ("height", "height_cm"):
                values["height_cm"] = parse_length("height_cm", value, "cm")
            elif key == "height_in":
                values["height_cm"] = parse_length("height_cm", value, "in")
            elif key in ("weight", "weight_kg"):
                values["weight_kg"] = parse_weight(value, "kg")
            elif key in ("weight_lbs",):
                values["weight_kg"] = parse_weight(value, "lbs")
            elif key in ("bust size", "bust_size"):
                band, cup = parse_bust_size(value)
                values["bust_band"] = band
                if cup is not None:
                    values["cup"] = cup
            elif key in ("bra size", "bust_band"):
                values["bust_band"] = check_range("bust_band", _number("bust_band", value))
            elif key in ("cup size", "cup"):
                values["cup"] = parse_cup(value)
            elif key in ("bust", "bust_in"):
                values["bust_cm"] = parse_length("bust_cm", value, "in")
            elif key in ("waist", "waist_in"):
                values["waist_cm"] = parse_length("waist_cm", value, "in")
            elif key in ("hips", "hips_in"):
                values["hips_cm"] = parse_length("hips_cm", value, "in")
            elif key in ("bust_cm", "waist_cm", "hips_cm"):
                values[key] = parse_length(key, value, "cm")
            elif key == "age":
                values["age"] = parse_age(value)
            elif key in ("body type", "body_type"):
                values["body_type"] = parse_body_type(value)
        return cls(**values)


#: Raw keys understood by :meth:`BodyProfile.from_raw` besides the canonical names.
RAW_BODY_KEYS = {
    "height",
    "height_in",
    "weight",
    "weight_lbs",
    "bust size",
    "bust_size",
    "bra size",
    "cup size",
    "bust",
    "bust_in",
    "waist",
    "waist_in",
    "hips",
    "hips_in",
    "age",
    "body type",
}

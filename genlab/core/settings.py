"""Settings that own their bounds: one frozen dataclass per technique, each field declaring its range and label.

Validation, the UI's sliders and dropdowns, API checks and recipe round trips all read the field metadata
written here, so a bound is stated once. Values from API callers (who skip the sliders) go through
`Settings.parse`, which names the field and its allowed range in every message.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_BATCH = 64  # pictures one request may ask for
SEED_MAX = 2**63 - 1 - MAX_BATCH  # image i of a batch uses seed + i, which must stay a valid 63-bit seed


@dataclass(frozen=True)
class Spec:
    """What a field accepts. kind: "int", "float", "choice", "text" or "bool"."""

    kind: str
    label: str
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()
    max_chars: int = 0
    required: bool = False
    info: str = ""

    def describe(self) -> str:
        if self.kind == "int":
            return f"a whole number from {self.lo:g} to {self.hi:g}"
        if self.kind == "float":
            return f"a number from {self.lo:g} to {self.hi:g}"
        if self.kind == "choice":
            return "one of " + ", ".join(self.options)
        if self.kind == "text":
            return f"text of at most {self.max_chars} characters"
        return "true or false"


def _field(default: Any, spec: Spec) -> Any:
    return dataclasses.field(default=default, metadata={"spec": spec})


def integer(default: int, lo: int, hi: int, *, label: str, step: int = 1, info: str = "") -> Any:
    return _field(default, Spec("int", label, lo, hi, step, info=info))


def number(default: float, lo: float, hi: float, *, label: str, step: float | None = None, info: str = "") -> Any:
    return _field(default, Spec("float", label, lo, hi, step, info=info))


def choice(default: str, options: tuple[str, ...], *, label: str, info: str = "") -> Any:
    return _field(default, Spec("choice", label, options=tuple(options), info=info))


def text(default: str = "", *, max_chars: int, label: str, required: bool = False, info: str = "") -> Any:
    return _field(default, Spec("text", label, max_chars=max_chars, required=required, info=info))


def toggle(default: bool, *, label: str, info: str = "") -> Any:
    return _field(default, Spec("bool", label, info=info))


def seed(label: str = "Seed") -> Any:
    return integer(0, 0, SEED_MAX, label=label)


def _number(value: Any) -> float:
    """float(value) for numbers and numeric text; NaN for anything else (bools, None, lists)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def _whole(name: str, spec: Spec, value: Any) -> int:
    f = _number(value)
    if not math.isfinite(f) or f != int(f):
        raise ValueError(f"{name} must be a whole number (got {value!r}); allowed: {spec.lo:g}-{spec.hi:g}.")
    if not spec.lo <= int(f) <= spec.hi:
        raise ValueError(f"{name} must be {spec.lo:g}-{spec.hi:g} (got {int(f)}).")
    return int(f)


def _real(name: str, spec: Spec, value: Any) -> float:
    f = _number(value)
    if not math.isfinite(f) or not spec.lo <= f <= spec.hi:
        raise ValueError(f"{name} must be a number from {spec.lo:g} to {spec.hi:g} (got {value!r}).")
    return f


def coerce(name: str, spec: Spec, value: Any) -> Any:
    """A value as sent by a caller -> the field's type, or ValueError naming the field and what it accepts."""
    if spec.kind == "int":
        return _whole(name, spec, value)
    if spec.kind == "float":
        return _real(name, spec, value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false (got {value!r}).")
        return value
    if spec.kind == "choice":
        if value not in spec.options:
            raise ValueError(f"{name} must be one of {', '.join(spec.options)} (got {str(value)[:80]!r}).")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text (got {type(value).__name__}).")
    if spec.required and not value.strip():
        raise ValueError(f"Type a {name.replace('_', ' ')}: it cannot be empty.")
    if len(value) > spec.max_chars:
        raise ValueError(f"The {name.replace('_', ' ')} is {len(value):,} characters; the limit is {spec.max_chars}.")
    return value


@dataclass(frozen=True)
class Settings:
    """Base of every technique's settings. Subclasses are frozen dataclasses whose fields use the helpers above.

    Constructing one validates every field (a wrong value never exists); `check` adds rules that involve
    several fields. `parse` builds one from loosely typed values (API calls, recipes).
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, coerce(f.name, f.metadata["spec"], getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Rules between fields; raise ValueError with a teaching message."""

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls)}

    @classmethod
    def spec(cls, name: str) -> Spec:
        return cls.specs()[name]

    @classmethod
    def default(cls, name: str) -> Any:
        return {f.name: f.default for f in dataclasses.fields(cls)}[name]

    @classmethod
    def parse(cls, values: Mapping[str, Any]):
        """Settings from a mapping of field names (missing ones take their defaults); unknown names refused."""
        specs = cls.specs()
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise ValueError(f"Unknown setting {unknown[0]!r} for {cls.__qualname__}; known: {', '.join(specs)}.")
        return cls(**{k: coerce(k, specs[k], v) for k, v in values.items()})

    def params(self) -> dict[str, Any]:
        """JSON-able field values (the recipe's params)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)

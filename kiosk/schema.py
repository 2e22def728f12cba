"""Validated configuration sections on plain dataclasses: the machinery under :mod:`kiosk.config`.

A section is a dataclass whose every field is declared with :func:`setting`: a type (the annotation), a
default, a description and its limits. Building one (``BrokerConfig(port="1884")``, or :func:`build` from a
mapping read off TOML and the environment) coerces each value to its type the way pydantic's lax mode does
(:mod:`protocol.checks`: ``"1884"`` is a port, ``"true"`` a boolean, a table a sub-section), checks its limits,
and raises :class:`ConfigInvalid` listing every problem with its dotted path (``broker.port: should be less
than or equal to 65535``). :func:`dump` gives the JSON-ready form, secrets masked.

pydantic would do the same at the cost of about 11 MB of a kiosk's resident memory (bench/kiosk_touch.py).
"""

from __future__ import annotations

import dataclasses
import logging
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from protocol.checks import Invalid, as_bool, as_float, as_int, as_str, in_range, one_of

_LOG = logging.getLogger(__name__)

MASK = "**********"


class ConfigInvalid(ValueError):
    """The kiosk's configuration file or environment is not valid; the message says where."""

    def __init__(self, message: str, problems: list[Invalid] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [Invalid(message)]


class SecretStr:
    """A secret (a password): shown as ``**********`` everywhere but :meth:`get_secret_value`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"SecretStr('{MASK}')"


def setting(
    default: Any = dataclasses.MISSING,
    description: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """A section's field: its default (or ``factory``), what it is for, and its limits. ``check`` gets the
    coerced value and returns it (or a normalised one), raising ``ValueError`` with the reason if it is wrong."""
    limits = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    metadata = {"description": description, "limits": limits, "min_items": min_items, "max_items": max_items,
                "check": check}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Section:
    """Base of a configuration section (a dataclass): validates and coerces its fields when built."""

    def __post_init__(self) -> None:
        problems: list[Invalid] = []
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            try:
                value = _coerce(getattr(self, f.name), hints[f.name])
                value = _limit(value, f.metadata)
            except Invalid as exc:
                problems.append(exc.at(f.name))
            except ConfigInvalid as exc:
                problems.extend(p.at(f.name) for p in exc.problems)
            else:
                object.__setattr__(self, f.name, value)
        if not problems:
            try:
                self.check()
            except ValueError as exc:
                problems.append(Invalid(str(exc)))
        if problems:
            raise ConfigInvalid(describe(problems), problems)

    def check(self) -> None:
        """Checks across fields, once each field is valid; raise ``ValueError``."""

    @classmethod
    def of(cls: type[S], **values: Any) -> S:
        """Built from plain values, sub-sections as tables: ``KioskConfig.of(kiosk_id="k-1", broker={...})``;
        unknown keys are refused like the file's."""
        return build(cls, values)


S = TypeVar("S", bound=Section)


def describe(problems: list[Invalid]) -> str:
    return "; ".join(f"{p.where or 'config'}: {p.message}" for p in problems)


def build(cls: type[S], data: Mapping[str, Any]) -> S:
    """``cls`` from a mapping (a TOML table): unknown and missing keys are problems too."""
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    problems = [Invalid("unknown key (extra keys are not permitted)", str(k)) for k in data if k not in names]
    problems += [Invalid("required, with no default", name) for name, f in names.items()
                 if name not in data and f.default is dataclasses.MISSING
                 and f.default_factory is dataclasses.MISSING]
    if problems:
        if len(problems) == sum(1 for k in data if k not in names):  # only unknown keys: check the rest too
            try:
                cls(**{k: v for k, v in data.items() if k in names})
            except ConfigInvalid as exc:
                problems += exc.problems
        raise ConfigInvalid(describe(problems), problems)
    return cls(**data)


def dump(section: Section, *, redact: bool = True) -> dict[str, Any]:
    """The section as JSON-ready values; secrets masked unless ``redact=False``."""
    return {f.name: _plain(getattr(section, f.name), redact) for f in dataclasses.fields(section)}  # type: ignore[arg-type]


def descriptions(cls: type[Section], prefix: str = "") -> dict[str, str]:
    """Every key's dotted name and description, sub-sections flattened: for the docs and their test."""
    out: dict[str, str] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[f.name]
        if isinstance(kind, type) and issubclass(kind, Section):
            out.update(descriptions(kind, f"{prefix}{f.name}."))
        else:
            out[prefix + f.name] = f.metadata.get("description", "")
    return out


def _plain(value: Any, redact: bool) -> Any:
    if isinstance(value, Section):
        return dump(value, redact=redact)
    if isinstance(value, SecretStr):
        return MASK if redact else value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, redact) for k, v in value.items()}
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _coerce(value: Any, kind: Any) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _coerce(value, inner)
    if value is None:
        raise Invalid("should not be empty")
    if origin is Literal:
        return one_of(value, args)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise Invalid("should be a list")
        return [_item(v, args[0], i) for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, list | tuple) or len(value) != len(args):
            raise Invalid(f"should be a list of {len(args)} items")
        return tuple(_item(v, a, i) for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise Invalid("should be a table")
        return {str(k): _item(v, args[1], k) for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, Section):
        if isinstance(value, kind):
            return value
        if not isinstance(value, Mapping):
            raise Invalid("should be a table (a section)")
        return build(kind, value)
    return _SCALARS[kind](value)


def _item(value: Any, kind: Any, where: object) -> Any:
    try:
        return _coerce(value, kind)
    except Invalid as exc:
        raise exc.at(str(where)) from None


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    return Path(as_str(value))


def _secret(value: Any) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    return SecretStr(as_str(value))


_SCALARS: dict[Any, Callable[[Any], Any]] = {
    str: as_str, int: as_int, float: as_float, bool: as_bool, Path: _path, SecretStr: _secret,
}


def _limit(value: Any, metadata: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    if metadata.get("limits") and isinstance(value, int | float):
        in_range(value, **metadata["limits"])
    if isinstance(value, list | tuple | dict):
        low, high = metadata.get("min_items"), metadata.get("max_items")
        if low is not None and len(value) < low:
            raise Invalid(f"should have at least {low} items, not {len(value)}")
        if high is not None and len(value) > high:
            raise Invalid(f"should have at most {high} items, not {len(value)}")
    check = metadata.get("check")
    if check is not None:
        try:
            value = check(value)
        except Invalid:
            raise
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    return value

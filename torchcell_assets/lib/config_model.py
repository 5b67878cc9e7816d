"""Dagster run configs derived from the core's settings dataclasses, so a setting is defined once: its name,
type, default and help text come from the dataclass (`TrainSettings`, `DCellFilterConfig`), and the launchpad
shows them as typed fields with those defaults. Tuples become lists and dates ISO strings (what Dagster config
carries); `to_dataclass` converts a config back into the core object, which validates it."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, TypeVar

import dagster as dg
import pydantic

T = TypeVar("T")


def _config_type(annotation: Any) -> Any:
    """The Dagster-config type of a dataclass annotation: tuple[X, ...] → list[X], date → str, recursively."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is date:
        return str
    if origin is tuple:
        return list[_config_type(args[0])]
    if origin in (types.UnionType, typing.Union):
        converted = tuple(_config_type(arg) for arg in args)
        return typing.Union[converted]  # noqa: UP007 (a tuple of types, built at runtime)
    if origin is list:
        return list[_config_type(args[0])]
    if origin is dict:
        return dict[_config_type(args[0]), _config_type(args[1])]
    return annotation


def _config_value(value: Any) -> Any:
    """A dataclass default as Dagster config holds it (lists for tuples, ISO strings for dates)."""
    if isinstance(value, tuple):
        return [_config_value(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _core_value(value: Any, annotation: Any) -> Any:
    """A config value back in the dataclass's type (tuples, dates)."""
    if value is None:
        return None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is date or (origin in (types.UnionType, typing.Union) and date in args):
        return date.fromisoformat(value) if isinstance(value, str) else value
    if origin is tuple:
        return tuple(value)
    return value


def setting_fields(source: type, include: Iterable[str] | None = None) -> list[dataclasses.Field]:
    """The init fields of dataclass `source` (only those named in `include`, in the dataclass's order)."""
    wanted = None if include is None else set(include)
    chosen = [f for f in dataclasses.fields(source) if f.init and (wanted is None or f.name in wanted)]
    missing = (wanted or set()) - {f.name for f in chosen}
    if missing:
        raise ValueError(f"{source.__name__} has no field(s) {sorted(missing)}")
    return chosen


def config_class(source: type, name: str | None = None, include: Iterable[str] | None = None) -> type[dg.Config]:
    """A `dg.Config` subclass with the fields of dataclass `source` (or those in `include`): same names, types
    (converted as above), defaults and help texts. Subclass it to add orchestration-only fields."""
    hints = typing.get_type_hints(source)
    definitions: dict[str, Any] = {}
    for f in setting_fields(source, include):
        if f.default is not dataclasses.MISSING:
            default = _config_value(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _config_value(f.default_factory())
        else:
            raise ValueError(f"{source.__name__}.{f.name} has no default; a run config field needs one")
        described = pydantic.Field(default=default, description=f.metadata.get("help"))
        definitions[f.name] = (_config_type(hints[f.name]), described)
    doc = f"The settings of `{source.__module__}.{source.__name__}`, with its defaults."
    return pydantic.create_model(
        name or f"{source.__name__}Config", __base__=dg.Config, __doc__=doc, __module__=__name__, **definitions
    )


def config_values(config: dg.Config | Mapping[str, Any], source: type, include: Iterable[str] | None = None) -> dict:
    """The values of `source`'s fields (or those in `include`) that `config` holds, in the dataclass's types."""
    hints = typing.get_type_hints(source)
    read = config.get if isinstance(config, Mapping) else lambda key, default: getattr(config, key, default)
    values = {}
    for f in setting_fields(source, include):
        value = read(f.name, dataclasses.MISSING)
        if value is not dataclasses.MISSING:
            values[f.name] = _core_value(value, hints[f.name])
    return values


def to_dataclass(config: dg.Config | Mapping[str, Any], source: type[T], **overrides: Any) -> T:
    """The `source` dataclass of `config`'s values for its fields (a missing one keeps its default), plus
    `overrides`; the dataclass's own checks validate the result."""
    return source(**(config_values(config, source) | overrides))

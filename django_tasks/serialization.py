"""The JSON boundary: what task arguments and return values may be."""

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Collection, Iterable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any, TypeAlias, Union, cast

from typing_extensions import is_typeddict

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None


# How deeply lists and dicts may nest in an argument or a return value: far from
# Python's recursion limit, and within MariaDB's JSON columns, which refuse documents
# nested 32 deep (a stored argument sits one level down, in the args list).
MAX_JSON_DEPTH = 30


def normalize_json(value: object, path: str) -> JSONValue:
    """
    Return `value` as it will look after a JSON round trip (tuples become
    lists), or raise TypeError naming `path` if it would not survive one, or if
    its lists and dicts nest deeper than MAX_JSON_DEPTH.
    """
    return _normalize(value, path, path, 0)


def _normalize(value: object, path: str, root: str, depth: int) -> JSONValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # A str subclass (such as a StrEnum member) comes back as a plain str.
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path} is {value!r}, which JSON cannot represent.")
        return float(value)
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_JSON_DEPTH:
        raise TypeError(
            f"{root} nests lists and dicts more than {MAX_JSON_DEPTH} levels deep, which "
            "task arguments and return values may not (see MAX_JSON_DEPTH)."
        )
    if isinstance(value, (list, tuple)):
        items = cast(Sequence[object], value)
        return [
            _normalize(item, f"{path}[{index}]", root, depth + 1)
            for index, item in enumerate(items)
        ]
    if isinstance(value, dict):
        result: dict[str, JSONValue] = {}
        for key, item in cast(Mapping[object, object], value).items():
            if not isinstance(key, str):
                raise TypeError(f"{path} has the key {key!r}; JSON object keys must be strings.")
            result[key] = _normalize(item, f"{path}[{key!r}]", root, depth + 1)
        return result
    raise TypeError(
        f"{path} is a {type(value).__module__}.{type(value).__qualname__}, which is not "
        "JSON-serializable. Pass plain JSON values (str, int, float, bool, None, "
        "list, dict) such as a primary key or an ISO 8601 string."
    )


def normalize_arguments(
    args: Sequence[object], kwargs: Mapping[str, object]
) -> tuple[list[JSONValue], dict[str, JSONValue]]:
    return (
        [normalize_json(arg, f"Task argument args[{index}]") for index, arg in enumerate(args)],
        {name: normalize_json(arg, f"Task argument {name!r}") for name, arg in kwargs.items()},
    )


_JSON_SCALARS: tuple[type[object], ...] = (type(None), bool, int, float, str)
# Annotations whose values always come back as the same type (or that promise nothing).
_SAFE_ANNOTATIONS: tuple[object, ...] = (None, *_JSON_SCALARS, Any, object)
# Containers that accept what JSON gives back: a list, or a dict.
_LIST_TYPES: tuple[object, ...] = (list, Sequence, MutableSequence, Collection, Iterable)
_DICT_TYPES: tuple[object, ...] = (dict, Mapping, MutableMapping)


def json_round_trip_problem(annotation: object) -> str | None:
    """
    Why a value of type `annotation` would not come back from JSON as the
    same type, or None if it would (or the annotation is too vague to tell).
    """
    if annotation in _SAFE_ANNOTATIONS:
        return None
    if isinstance(annotation, typing.TypeVar):
        return None
    if isinstance(annotation, typing.NewType):
        return json_round_trip_problem(annotation.__supertype__)
    origin = typing.get_origin(annotation)
    type_args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return json_round_trip_problem(type_args[0])
    if origin in (Union, types.UnionType):
        return _first_problem(type_args)
    if origin is typing.Literal:
        if all(
            isinstance(arg, _JSON_SCALARS) and not isinstance(arg, enum.Enum) for arg in type_args
        ):
            return None
        return f"{annotation} holds values that are not JSON scalars"
    if annotation is tuple or origin is tuple:
        return "a tuple comes back as a list"
    if (isinstance(annotation, type) and issubclass(annotation, (set, frozenset))) or origin in (
        set,
        frozenset,
    ):
        return "a set cannot be represented in JSON"
    if origin in _DICT_TYPES:
        if type_args and type_args[0] not in (str, Any):
            return f"JSON object keys are strings, not {type_args[0]}"
        return _first_problem(type_args[1:])
    if origin in _LIST_TYPES:
        return _first_problem(type_args)
    if isinstance(origin, type):  # Such as deque[int], Iterator[int] or type[int].
        return _class_problem(origin)
    if isinstance(annotation, type):
        if is_typeddict(annotation):
            return _first_problem(typing.get_type_hints(annotation).values())
        if annotation in _LIST_TYPES or annotation in _DICT_TYPES:
            return None
        return _class_problem(annotation)
    return None


def _first_problem(annotations: typing.Iterable[object]) -> str | None:
    for annotation in annotations:
        problem = json_round_trip_problem(annotation)
        if problem is not None:
            return problem
    return None


def _class_problem(cls: type[object]) -> str:
    name = f"{cls.__module__}.{cls.__qualname__}"
    if dataclasses.is_dataclass(cls):
        return f"{name} is a dataclass; it comes back as a dict at best"
    if issubclass(cls, enum.Enum):
        return f"{name} is an enum; it comes back as its plain value"
    if _is_model(cls):
        return f"{name} is a model; pass its primary key instead"
    return f"{name} is not a JSON type"


def _is_model(cls: type[object]) -> bool:
    from django.db.models import Model

    return issubclass(cls, Model)

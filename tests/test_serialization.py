"""The JSON boundary: what arguments and return values may be, and what they come back as."""

import dataclasses
import enum
import json
import math
from collections import defaultdict, deque
from collections.abc import (
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
)
from collections.abc import Set as AbstractSet
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NewType, Optional, TypedDict, TypeVar, Union
from uuid import UUID, uuid4

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from django_tasks import TaskResultStatus
from django_tasks.serialization import (
    MAX_JSON_DEPTH,
    JSONValue,
    json_round_trip_problem,
    normalize_json,
)

from . import tasks


class Color(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    LARGE = 3


class Plain(enum.Enum):
    ONE = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class Screening(TypedDict):
    movie: Movie
    starts_at: datetime


UserId = NewType("UserId", int)
T = TypeVar("T")


# --- arguments ----------------------------------------------------------------------


def test_tuple_argument_arrives_as_a_list() -> None:
    result = tasks.echo.enqueue((1, (2, 3)))

    assert result.args == [[1, [2, 3]]]
    assert result.return_value == [1, [2, 3]]


def test_str_enum_argument_arrives_as_a_plain_str() -> None:
    result = tasks.echo.enqueue(Color.RED)

    assert result.return_value == "red"
    assert type(result.args[0]) is str
    assert type(result.return_value) is str


def test_int_enum_argument_arrives_as_a_plain_int() -> None:
    result = tasks.echo.enqueue(Size.LARGE)

    assert result.return_value == 3
    assert type(result.args[0]) is int


def test_bool_argument_stays_a_bool() -> None:
    result = tasks.echo.enqueue(True)

    assert result.return_value is True


def test_keyword_arguments_go_through_json_too() -> None:
    result = tasks.echo_kwargs.enqueue(point=(1, 2), color=Color.RED)

    assert result.kwargs == {"point": [1, 2], "color": "red"}
    assert result.return_value == {"point": [1, 2], "color": "red"}


def test_argument_that_json_cannot_carry_is_refused_naming_its_position() -> None:
    with pytest.raises(TypeError, match=r"Task argument args\[0\] is a datetime\.datetime"):
        tasks.echo.enqueue(datetime(2030, 1, 1))


def test_keyword_argument_that_json_cannot_carry_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"Task argument 'value' is a uuid\.UUID"):
        tasks.echo.enqueue(value=uuid4())


def test_refusal_says_what_to_pass_instead() -> None:
    with pytest.raises(TypeError, match=r"such as a primary key or an ISO 8601 string"):
        tasks.echo.enqueue(Decimal("1.5"))


def test_nested_value_is_refused_naming_its_path() -> None:
    with pytest.raises(TypeError, match=r"Task argument args\[0\]\['a'\]\[1\] is a builtins\.set"):
        tasks.echo.enqueue({"a": [1, {2}]})


def test_model_instance_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"Task argument 'value' is a django\.contrib\.auth\.models\.User"
    ):
        tasks.echo.enqueue(value=User(username="ada"))


def test_bytes_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Task argument args\[0\] is a builtins\.bytes"):
        tasks.echo.enqueue(b"data")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_float_json_cannot_represent_is_refused(value: float) -> None:
    with pytest.raises(
        TypeError, match=r"Task argument args\[0\] is .*, which JSON cannot represent"
    ):
        tasks.echo.enqueue(value)


def test_dict_with_a_key_that_is_not_a_str_is_refused() -> None:
    with pytest.raises(
        TypeError, match=r"args\[0\] has the key 1; JSON object keys must be strings"
    ):
        tasks.echo.enqueue({1: "one"})


def test_enum_that_is_not_a_str_or_int_is_refused() -> None:
    with pytest.raises(TypeError, match=r"args\[0\] is a tests\.test_serialization\.Plain"):
        tasks.echo.enqueue(Plain.ONE)


def nested(kind: Callable[[object], object], levels: int) -> object:
    """`levels` lists (or dicts, or tuples), each in the next."""
    value: object = None
    for _ in range(levels):
        value = kind(value)
    return value


NESTINGS: dict[str, Callable[[object], object]] = {
    "list": lambda inner: [inner],
    "dict": lambda inner: {"a": inner},
    "tuple": lambda inner: (inner,),
}


@pytest.mark.parametrize("kind", NESTINGS.values(), ids=NESTINGS.keys())
def test_an_argument_nested_thousands_deep_is_refused_with_a_type_error(
    kind: Callable[[object], object],
) -> None:
    with pytest.raises(
        TypeError, match=r"Task argument args\[0\] nests lists and dicts more than 30 levels"
    ):
        tasks.echo.enqueue(nested(kind, 5000))


def test_an_argument_nested_just_past_the_limit_is_refused() -> None:
    with pytest.raises(TypeError, match=f"more than {MAX_JSON_DEPTH} levels"):
        tasks.echo.enqueue(nested(NESTINGS["list"], MAX_JSON_DEPTH + 1))


def test_an_argument_nested_as_deep_as_the_limit_is_accepted() -> None:
    value = nested(NESTINGS["list"], MAX_JSON_DEPTH)

    assert tasks.echo.enqueue(value).return_value == value


# --- return values ------------------------------------------------------------------


def test_returned_tuple_comes_back_as_a_list() -> None:
    assert tasks.returns_tuple.enqueue().return_value == [1, 2]


def test_return_value_that_json_cannot_carry_fails_the_task() -> None:
    result = tasks.returns_set.enqueue()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TypeError
    assert (
        "The return value of tests.tasks.returns_set is a builtins.set"
        in result.errors[0].traceback
    )


def test_a_return_value_nested_past_the_limit_fails_the_task_with_a_type_error() -> None:
    deep = tasks.returns_nested.enqueue(MAX_JSON_DEPTH + 1)

    assert deep.status == TaskResultStatus.FAILED
    assert deep.errors[0].exception_class is TypeError
    assert "The return value of tests.tasks.returns_nested nests lists" in deep.errors[0].traceback


# --- normalize_json -----------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_LIKE = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children) | st.tuples(children, children) | st.dictionaries(st.text(), children)
    ),
    max_leaves=20,
)


# The autouse settings fixture does not matter to a pure function.
@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON_LIKE)
def test_normalize_json_gives_what_a_json_round_trip_gives(value: object) -> None:
    assert normalize_json(value, "value") == json.loads(json.dumps(value))


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(JSON_LIKE)
def test_normalize_json_is_stable(value: object) -> None:
    normalized: JSONValue = normalize_json(value, "value")

    assert normalize_json(normalized, "value") == normalized


# --- annotations that cannot survive the round trip ---------------------------------


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        (User, "django.contrib.auth.models.User is a model; pass its primary key instead"),
        (datetime, "datetime.datetime is not a JSON type"),
        (UUID, "uuid.UUID is not a JSON type"),
        (Decimal, "decimal.Decimal is not a JSON type"),
        (bytes, "builtins.bytes is not a JSON type"),
        (set[int], "a set cannot be represented in JSON"),
        (set, "a set cannot be represented in JSON"),
        (frozenset[str], "a set cannot be represented in JSON"),
        (tuple[int, int], "a tuple comes back as a list"),
        (tuple[int, ...], "a tuple comes back as a list"),
        (tuple, "a tuple comes back as a list"),
        (Point, "tests.test_serialization.Point is a dataclass; it comes back as a dict at best"),
        (Color, "tests.test_serialization.Color is an enum; it comes back as its plain value"),
        (Size, "tests.test_serialization.Size is an enum; it comes back as its plain value"),
        (Optional[datetime], "datetime.datetime is not a JSON type"),  # noqa: UP045
        (Union[int, UUID], "uuid.UUID is not a JSON type"),  # noqa: UP007
        (datetime | None, "datetime.datetime is not a JSON type"),
        (list[datetime], "datetime.datetime is not a JSON type"),
        (Sequence[UUID], "uuid.UUID is not a JSON type"),
        (dict[str, list[set[int]]], "a set cannot be represented in JSON"),
        (dict[int, str], "JSON object keys are strings, not <class 'int'>"),
        (Mapping[UUID, str], "JSON object keys are strings, not <class 'uuid.UUID'>"),
        (Screening, "datetime.datetime is not a JSON type"),
        (Literal[Color.RED], "holds values that are not JSON scalars"),
        (Literal[b"raw"], "holds values that are not JSON scalars"),
        (Annotated[datetime, "when"], "datetime.datetime is not a JSON type"),
        (deque[int], "collections.deque is not a JSON type"),
        (defaultdict[str, int], "collections.defaultdict is not a JSON type"),
        (AbstractSet[int], "collections.abc.Set is not a JSON type"),
        (Iterator[int], "collections.abc.Iterator is not a JSON type"),
        (Callable[[], int], "collections.abc.Callable is not a JSON type"),
        (type[int], "builtins.type is not a JSON type"),
        (Iterable[datetime], "datetime.datetime is not a JSON type"),
        (NewType("When", datetime), "datetime.datetime is not a JSON type"),
    ],
)
def test_annotation_that_does_not_survive_json_has_a_problem(
    annotation: object, problem: str
) -> None:
    assert problem in (json_round_trip_problem(annotation) or "")


@pytest.mark.parametrize(
    "annotation",
    [
        None,
        type(None),
        bool,
        int,
        float,
        str,
        Any,
        object,
        T,
        list,
        dict,
        list[int],
        dict[str, int],
        dict[Any, int],
        Sequence[str],
        Mapping[str, list[int]],
        MutableMapping[str, int],
        MutableSequence[int],
        Collection[str],
        Iterable[int],
        Iterable,
        Optional[int],  # noqa: UP045
        int | str | None,
        list[dict[str, list[float]]],
        Movie,
        Literal["a", "b", 1, True, None],
        Annotated[int, "count"],
        UserId,
        "ForwardReference",  # Too vague to tell.
    ],
)
def test_annotation_that_survives_json_has_no_problem(annotation: object) -> None:
    assert json_round_trip_problem(annotation) is None

"""
Bad input, generated (Hypothesis): every value JSON cannot carry, every bad option and
every unknown id gets a clear exception of the documented type, on every backend that
stores tasks, and the store (the Dummy's list, the task table, Redis) is left as it was.
"""

# RQ 3 and redis-py leave some parameters unannotated (see django_tasks/backends/rq.py).
# pyright: reportUnknownMemberType=false

import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis import Redis

from django_tasks import TaskResult, task, task_backends
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.dummy import DummyBackend
from django_tasks.base import TASK_MAX_PRIORITY, TASK_MIN_PRIORITY, Task
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
from django_tasks.serialization import MAX_JSON_DEPTH

from . import tasks
from .services import require

pytestmark = pytest.mark.django_db

# The fixtures (a database transaction, flushed Redis) hold for every example: each
# example is refused before it writes anything, which is what the tests check.
HOSTILE = hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- values JSON cannot carry -------------------------------------------------------

NOT_JSON_LEAVES: st.SearchStrategy[object] = st.one_of(
    st.sets(st.integers(), max_size=3),
    st.frozensets(st.integers(), max_size=3),
    st.binary(max_size=8),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(),
    st.uuids(),
    st.complex_numbers(),
    st.builds(object),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    # Keys JSON would turn into strings, or refuse.
    st.dictionaries(
        st.one_of(st.integers(), st.none(), st.booleans(), st.tuples(st.integers())),
        st.integers(),
        min_size=1,
        max_size=2,
    ),
)


def nested(levels: int, kind: str) -> object:
    value: object = 0
    for _ in range(levels):
        value = {"k": value} if kind == "dict" else (value,) if kind == "tuple" else [value]
    return value


TOO_DEEP: st.SearchStrategy[object] = st.builds(
    nested, st.integers(MAX_JSON_DEPTH + 1, 5_000), st.sampled_from(["list", "dict", "tuple"])
)


def in_list(good: list[int], item: object) -> object:
    return [*good, item]


def in_tuple(item: object) -> object:
    return ("x", item)


def in_dict(key: str, item: object) -> object:
    return {key: item}


def wrapped(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.builds(in_list, st.lists(st.integers(), max_size=2), inner),
        st.builds(in_tuple, inner),
        st.builds(in_dict, st.text(max_size=4), inner),
    )


def inside_json(bad: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """`bad`, alone or wrapped in lists, tuples and dicts of good values."""
    return st.recursive(bad, wrapped, max_leaves=4)


NOT_JSON = inside_json(NOT_JSON_LEAVES) | TOO_DEEP


# --- the stores -----------------------------------------------------------------------


Snapshot = Callable[[], object]


@pytest.fixture
def dummy_store() -> Snapshot:
    backend = cast(DummyBackend, task_backends["dummy"])
    backend.clear()
    return lambda: list(backend.results)


@pytest.fixture
def database_store() -> Snapshot:
    return lambda: sorted(DBTaskResult.objects.values_list("id", flat=True))


@pytest.fixture
def rq_store() -> Iterator[Snapshot]:
    require("Redis")
    databases = [Redis.from_url(settings.REDIS_URL), Redis.from_url(settings.REDIS_OTHER_URL)]
    for database in databases:
        database.flushdb()
    yield lambda: [sorted(cast(list[bytes], database.keys("*"))) for database in databases]
    for database in databases:
        database.flushdb()
        database.close()


STORES = ["dummy", "database", "rq"]


@pytest.fixture(params=STORES)
def backend_alias(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


@pytest.fixture
def store(backend_alias: str, request: pytest.FixtureRequest) -> Snapshot:
    return cast(Snapshot, request.getfixturevalue(f"{backend_alias}_store"))


def refused(
    store: Snapshot, expected: type[Exception], call: Callable[[], object], match: str | None = None
) -> str:
    """`call()` raises `expected` (matching `match`), and the store is as it was."""
    before = store()
    with pytest.raises(expected, match=match) as raised:
        call()
    assert store() == before
    return str(raised.value)


# --- arguments and options ------------------------------------------------------------


@HOSTILE
@given(value=NOT_JSON)
def test_an_argument_json_cannot_carry_is_refused_and_nothing_is_stored(
    backend_alias: str, store: Snapshot, value: object
) -> None:
    echo = tasks.echo.using(backend=backend_alias)

    message = refused(store, TypeError, lambda: echo.enqueue(value), match=r"args\[0\]")

    assert "JSON" in message


@HOSTILE
@given(value=NOT_JSON, name=st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True))
def test_a_keyword_argument_json_cannot_carry_is_refused_naming_it(
    backend_alias: str, store: Snapshot, value: object, name: str
) -> None:
    echo_kwargs = tasks.echo_kwargs.using(backend=backend_alias)

    message = refused(store, TypeError, lambda: echo_kwargs.enqueue(**{name: value}))

    assert repr(name) in message


def _bad_priorities() -> st.SearchStrategy[object]:
    out_of_range = st.integers().filter(lambda p: not TASK_MIN_PRIORITY <= p <= TASK_MAX_PRIORITY)
    # (None is using()'s "keep the task's priority".)
    not_ints = st.one_of(st.floats(), st.text(max_size=3), st.booleans())
    return out_of_range | not_ints


@HOSTILE
@given(priority=_bad_priorities())
def test_a_bad_priority_is_refused(backend_alias: str, store: Snapshot, priority: object) -> None:
    echo = tasks.echo.using(backend=backend_alias)

    refused(store, InvalidTask, lambda: echo.using(priority=cast(int, priority)).enqueue(1))


@HOSTILE
@given(queue_name=st.text(max_size=70).filter(lambda q: q not in ("default", "emails")))
def test_a_queue_the_backend_does_not_have_is_refused(rq_store: Snapshot, queue_name: str) -> None:
    refused(rq_store, InvalidTask, lambda: tasks.echo.using(backend="rq", queue_name=queue_name))


@HOSTILE
@given(alias=st.text(max_size=20).filter(lambda alias: alias not in settings.TASKS))
def test_an_unknown_backend_is_refused(store: Snapshot, alias: str) -> None:
    refused(store, InvalidTaskBackend, lambda: tasks.echo.using(backend=alias).enqueue(1))


@HOSTILE
@given(when=st.datetimes(timezones=st.none()))
def test_a_naive_run_after_is_refused(backend_alias: str, store: Snapshot, when: Any) -> None:
    echo = tasks.echo.using(backend=backend_alias)

    refused(store, InvalidTask, lambda: echo.using(run_after=when).enqueue(1), match="naive")


def _bad_timeouts() -> st.SearchStrategy[object]:
    return st.one_of(
        st.floats(max_value=0),
        st.sampled_from([math.nan, math.inf, -math.inf, True, False]),
        st.integers(max_value=0),
        st.timedeltas(max_value=timedelta(0)),
        st.text(max_size=3),
    )


def _bad_max_attempts() -> st.SearchStrategy[object]:
    return st.one_of(st.integers(max_value=0), st.floats(), st.text(max_size=3), st.booleans())


def define(**options: Any) -> Task[..., object]:
    """@task(**options) on a module-level function, as a user's tasks.py would."""
    # Options of any type on purpose: the checkers reject them, the tests want the runtime's.
    declare = cast(
        Callable[[Callable[[object], object]], Task[..., object]], task(backend="dummy", **options)
    )
    return declare(tasks.echo.func)


@HOSTILE
@given(timeout=_bad_timeouts())
def test_a_bad_timeout_is_refused_where_the_task_is_defined(timeout: object) -> None:
    with pytest.raises(InvalidTask, match="timeout"):
        define(timeout=timeout)


@HOSTILE
@given(max_attempts=_bad_max_attempts())
def test_bad_max_attempts_are_refused_where_the_task_is_defined(max_attempts: object) -> None:
    with pytest.raises(InvalidTask, match="max_attempts"):
        define(max_attempts=max_attempts)


@HOSTILE
@given(backoff=st.one_of(st.integers(), st.text(max_size=3), st.none().map(lambda _: object())))
def test_a_backoff_that_is_not_callable_is_refused_where_the_task_is_defined(
    backoff: object,
) -> None:
    with pytest.raises(InvalidTask, match="backoff"):
        define(backoff=backoff)


# --- ids ------------------------------------------------------------------------------


@HOSTILE
@given(result_id=st.text(max_size=80))
def test_an_unknown_result_id_is_refused(
    backend_alias: str, store: Snapshot, result_id: str
) -> None:
    backend = task_backends[backend_alias]

    refused(store, TaskResultDoesNotExist, lambda: backend.get_result(result_id))


def test_a_result_that_was_stored_is_found_among_the_unknown_ones(
    backend_alias: str, store: Snapshot, django_capture_on_commit_callbacks: Any
) -> None:
    # The refusals above are not a backend that finds nothing at all.
    with django_capture_on_commit_callbacks(execute=True):
        result: TaskResult[object] = tasks.echo.using(backend=backend_alias).enqueue(1)

    assert task_backends[backend_alias].get_result(result.id).id == result.id

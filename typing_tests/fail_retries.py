"""Retries and timeouts: misspelt or mistyped options are rejected."""

from django_tasks import task
from django_tasks.backoff import constant, exponential
from typing_tests.tasks_fixture import add


@task(max_attemps=3)  # expect-error: misspelt keyword
def a() -> None: ...


@task(max_attempts="3")  # expect-error: max_attempts is an int
def b() -> None: ...


@task(timeout="30s")  # expect-error: timeout is seconds or a timedelta
def c() -> None: ...


def wrong_shape(attempt: int) -> float:
    return 1.0


@task(backoff=wrong_shape)  # expect-error: a Backoff takes the error and the result
def d() -> None: ...


exponential(initial="1")  # expect-error: seconds are numbers
constant(5, retry_on=ValueError)  # expect-error: retry_on is a tuple of classes
add.using(max_attempts=5)  # expect-error: using() cannot change attempts

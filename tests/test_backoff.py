"""django_tasks.backoff: the delays before retries."""

from datetime import timedelta
from typing import Any, cast

import pytest

from django_tasks import TaskResult
from django_tasks.backoff import constant, delay_seconds, exponential

from . import tasks


def after_attempts(attempts: int) -> TaskResult[Any]:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)
    result.worker_ids.extend(f"worker-{n}" for n in range(attempts))
    return result


def test_exponential_doubles_from_initial_up_to_the_cap() -> None:
    backoff = exponential(initial=1, factor=2, cap=10, jitter=False)

    delays = [backoff(ValueError(), after_attempts(n)) for n in range(1, 7)]

    assert delays == [1, 2, 4, 8, 10, 10]


def test_exponential_with_jitter_waits_between_half_and_all_of_the_delay() -> None:
    backoff = exponential(initial=8, cap=100)

    delays = [backoff(ValueError(), after_attempts(2)) for _ in range(200)]

    assert all(isinstance(delay, float) and 8 <= delay <= 16 for delay in delays)
    assert len(set(delays)) > 1


def test_exponential_survives_a_very_long_run_of_failures() -> None:
    assert exponential(cap=600, jitter=False)(ValueError(), after_attempts(100_000)) == 600


def test_only_retry_on_errors_are_retried() -> None:
    backoff = exponential(retry_on=(ConnectionError,), jitter=False)

    assert backoff(ConnectionResetError(), after_attempts(1)) == 1
    assert backoff(ValueError(), after_attempts(1)) is None


def test_constant_waits_the_same_every_time() -> None:
    backoff = constant(5, retry_on=(ConnectionError,))

    assert [backoff(ConnectionError(), after_attempts(n)) for n in (1, 5)] == [5, 5]
    assert backoff(KeyError(), after_attempts(1)) is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: exponential(initial=0), "initial must be a number of seconds > 0"),
        (lambda: exponential(cap=float("inf")), "cap must be"),
        (lambda: exponential(factor=0.5), "factor must be a number of at least 1"),
        (lambda: exponential(retry_on=cast(Any, (ValueError, "x"))), "retry_on must hold"),
        (lambda: constant(-1), "seconds must be a number of seconds >= 0"),
        (lambda: constant(True), "seconds must be"),
    ],
)
def test_bad_arguments_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("delay", "seconds"), [(None, None), (0, 0.0), (2.5, 2.5), (timedelta(minutes=1), 60.0)]
)
def test_delay_seconds_reads_what_a_backoff_returns(delay: object, seconds: float | None) -> None:
    assert delay_seconds(delay) == seconds


@pytest.mark.parametrize("delay", [-1, float("nan"), "5", True, timedelta(seconds=-1)])
def test_delay_seconds_refuses_nonsense(delay: object) -> None:
    with pytest.raises(ValueError, match="A backoff must return"):
        delay_seconds(delay)

"""Retries and timeouts: the core's rules, run by the Immediate backend."""

import time
from datetime import timedelta
from typing import Any

import pytest
from pytest_django import Settings

from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.backoff import constant
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskTimeout

from . import retry_tasks, tasks
from .conftest import SentSignal

IMMEDIATE = "django_tasks.backends.immediate.ImmediateBackend"


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    retry_tasks.calls.clear()


def test_a_failed_attempt_is_retried_until_one_succeeds() -> None:
    result = retry_tasks.flaky.enqueue("a", failures=2)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == "a: done on call 3"
    assert result.attempts == 3
    assert [error.traceback.splitlines()[-1] for error in result.errors] == [
        "ConnectionError: a: failure 1",
        "ConnectionError: a: failure 2",
    ]


def test_the_last_failure_is_final() -> None:
    result = retry_tasks.flaky.enqueue("b", failures=5)

    assert result.status == TaskResultStatus.FAILED
    assert (result.attempts, len(result.errors)) == (3, 3)
    assert result.errors[-1].traceback.endswith("ConnectionError: b: failure 3\n")
    assert retry_tasks.calls["b"] == 3


def test_an_error_the_backoff_does_not_retry_is_final() -> None:
    result = retry_tasks.fails_with.enqueue("not a connection problem")

    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1


def test_a_backoff_that_raises_fails_the_task_with_its_error() -> None:
    result = retry_tasks.with_broken_backoff.enqueue()

    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class is LookupError
    assert "ConnectionError: first" in error.traceback  # The attempt's own error, chained.


def test_a_backoff_that_returns_nonsense_fails_the_task() -> None:
    result = retry_tasks.with_nonsense_backoff.enqueue()

    assert result.status == TaskResultStatus.FAILED
    assert "A backoff must return" in result.errors[0].traceback


def test_an_interruption_is_not_retried() -> None:
    exiting = task(max_attempts=3, backoff=constant(0))(tasks.exit_process.func)

    result = exiting.enqueue()

    assert result.status == TaskResultStatus.FAILED
    assert result.attempts == 1


def test_context_attempt_counts_the_attempts() -> None:
    assert retry_tasks.attempt_number.enqueue().return_value == 3


def test_signals_are_sent_for_each_attempt(signals_sent: list[SentSignal]) -> None:
    retry_tasks.flaky.enqueue("c", failures=1)

    assert [(sent.name, sent.status) for sent in signals_sent] == retry_tasks.SIGNALS_OF_ONE_RETRY


def test_a_sync_task_that_ran_past_its_timeout_fails_with_task_timeout() -> None:
    # Immediate does not interrupt the caller's thread: the attempt is judged on return.
    result = retry_tasks.spins.enqueue(0.5)

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskTimeout
    assert "ran past its timeout of 0.3 s" in result.errors[0].traceback


def test_an_async_task_is_cancelled_at_its_timeout() -> None:
    started = time.monotonic()
    result = retry_tasks.sleeps.enqueue(30)
    assert time.monotonic() - started < 30  # Cancelled, not awaited to the end.

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is TaskTimeout


def test_a_timed_out_attempt_is_retried() -> None:
    result = retry_tasks.always_too_slow.enqueue()

    assert result.status == TaskResultStatus.FAILED
    assert [error.exception_class for error in result.errors] == [TaskTimeout, TaskTimeout]


def test_a_task_within_its_timeout_succeeds() -> None:
    assert retry_tasks.spins.enqueue(0.05).return_value == "finished"


def test_a_timeout_can_be_a_timedelta() -> None:
    assert task(timeout=timedelta(seconds=2))(tasks.add.func).timeout == 2.0


def test_using_keeps_the_attempt_options() -> None:
    moved = retry_tasks.flaky.using(queue_name="emails")

    assert (moved.max_attempts, moved.backoff, moved.timeout) == (
        3,
        retry_tasks.flaky.backoff,
        None,
    )


def tasks_setting(**entry: Any) -> dict[str, Any]:
    return {"default": {"BACKEND": IMMEDIATE, "QUEUES": [], **entry}}


def test_the_backend_defaults_apply_to_tasks_that_set_none(settings: Settings) -> None:
    settings.TASKS = tasks_setting(
        MAX_ATTEMPTS=2, BACKOFF="tests.test_retries.no_wait", TIMEOUT=timedelta(seconds=0.3)
    )
    plain = task(retry_tasks.flaky.func)

    result = plain.enqueue("d", failures=1)

    assert (result.status, result.attempts) == (TaskResultStatus.SUCCESSFUL, 2)
    policy = task_backends["default"].attempt_policy(plain)
    assert (policy.max_attempts, policy.backoff, policy.timeout) == (2, no_wait, 0.3)


no_wait = constant(0)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"MAX_ATTEMPTS": 0}, "MAX_ATTEMPTS'] must be a whole number of at least 1"),
        ({"MAX_ATTEMPTS": "3"}, "MAX_ATTEMPTS'] must be"),
        (
            {"BACKOFF": "tests.no_such_module.backoff"},
            "BACKOFF'] 'tests.no_such_module.backoff' cannot be imported",
        ),
        ({"BACKOFF": 5}, "BACKOFF'] must be a Backoff"),
        ({"TIMEOUT": -1}, "TIMEOUT'] must be a positive number of seconds"),
        ({"TIMEOUT": "1m"}, "TIMEOUT'] must be"),
    ],
)
def test_bad_backend_defaults_are_refused(
    settings: Settings, entry: dict[str, object], message: str
) -> None:
    settings.TASKS = tasks_setting(**entry)

    with pytest.raises(InvalidTaskBackend, match=message.replace("[", r"\[").replace("]", r"\]")):
        task_backends["default"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_attempts": 0}, "max_attempts must be a whole number of at least 1"),
        ({"max_attempts": True}, "max_attempts must be"),
        ({"timeout": 0}, "timeout must be a positive number of seconds"),
        ({"timeout": float("nan")}, "timeout must be"),
        ({"backoff": 3}, "backoff must be a Backoff"),
    ],
)
def test_bad_attempt_options_are_refused_at_definition(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTask, match=message):
        task(**options)(tasks.add.func)


def test_the_database_backend_retries_tasks_and_times_them_out() -> None:
    retried = task(backend="database", max_attempts=2, timeout=5)(tasks.add.func)

    policy = task_backends["database"].attempt_policy(retried)
    assert (policy.max_attempts, policy.timeout) == (2, 5)

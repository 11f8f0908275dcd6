"""Retries on the database backend: db_worker runs a failed task again as its backoff says."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResultStatus, task, task_backends
from django_tasks.backends.database import DatabaseBackend
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backoff import constant
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend, WorkerLost

from .. import db_tasks, retry_tasks
from ..conftest import SentSignal
from .support import make_running, reclaim_stale, row_of, run_worker, store_raw_json

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = "django_tasks.backends.database.DatabaseBackend"

flaky = retry_tasks.flaky.using(backend="database")


@pytest.fixture(autouse=True)
def fresh_calls() -> None:
    retry_tasks.calls.clear()


def last_lines(errors: list[dict[str, str]]) -> list[str]:
    return [error["traceback"].splitlines()[-1] for error in errors]


# --- failed attempts -------------------------------------------------------------


def test_a_failed_attempt_is_retried_until_one_succeeds() -> None:
    result = flaky.enqueue("a", failures=2)

    run_worker()

    done = flaky.get_result(result.id)
    assert done.status == TaskResultStatus.SUCCESSFUL
    assert done.return_value == "a: done on call 3"
    assert done.attempts == 3
    assert [error.traceback.splitlines()[-1] for error in done.errors] == [
        "ConnectionError: a: failure 1",
        "ConnectionError: a: failure 2",
    ]
    assert last_lines(row_of(result).errors) == last_lines(
        [{"traceback": error.traceback} for error in done.errors]
    )


def test_the_last_failure_is_final_with_every_attempts_error() -> None:
    result = flaky.enqueue("b", failures=5)

    run_worker()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    assert row.finished_at is not None
    assert len(row.worker_ids) == 3
    assert last_lines(row.errors) == [f"ConnectionError: b: failure {n}" for n in (1, 2, 3)]
    assert retry_tasks.calls["b"] == 3


def test_an_error_the_backoff_does_not_retry_is_final() -> None:
    result = retry_tasks.fails_with.using(backend="database").enqueue("not a connection problem")

    run_worker()

    row = row_of(result)
    assert (row.status, len(row.worker_ids)) == (TaskResultStatus.FAILED, 1)
    assert last_lines(row.errors) == ["ValueError: not a connection problem"]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (retry_tasks.with_broken_backoff, "LookupError: no delay for you"),
        (retry_tasks.with_nonsense_backoff, "ValueError: A backoff must return"),
    ],
)
def test_a_backoff_that_fails_fails_the_task_with_its_error_and_the_worker_goes_on(
    broken: Any, message: str
) -> None:
    result = broken.using(backend="database").enqueue()
    after = db_tasks.add.using(priority=-1).enqueue(1, 2)

    run_worker()

    row = row_of(result)
    assert (row.status, len(row.worker_ids)) == (TaskResultStatus.FAILED, 1)
    [error] = row.errors
    assert error["traceback"].splitlines()[-1].startswith(message)
    assert "ConnectionError: first" in error["traceback"]  # The attempt's own error.
    assert row_of(after).status == TaskResultStatus.SUCCESSFUL


def test_a_retried_task_is_ready_again_and_due_after_the_delay() -> None:
    result = retry_tasks.fails_then_waits.using(backend="database").enqueue("later")

    first = run_worker()
    second = run_worker()  # Finds nothing due.

    row = row_of(result)
    assert (first.tasks_run, second.tasks_run) == (1, 0)
    assert row.status == TaskResultStatus.READY
    assert (row.claimed_by, row.lease_expires_at, row.finished_at) == ("", None, None)
    assert row.last_attempted_at is not None
    assert row.available_at - row.last_attempted_at >= timedelta(seconds=60)
    assert row.available_at - row.last_attempted_at < timedelta(seconds=70)
    assert row.run_after == row.available_at
    assert last_lines(row.errors) == ["ConnectionError: later"]
    assert not DBTaskResult.objects.ready().filter(pk=result.id).exists()
    assert DBTaskResult.objects.ready(now=row.available_at).filter(pk=result.id).exists()
    due = task_backends["database"].get_result(result.id)
    assert (due.status, due.task.run_after, due.attempts) == (
        TaskResultStatus.READY,
        row.available_at,
        1,
    )


def test_a_retried_task_runs_again_when_it_is_due() -> None:
    result = retry_tasks.fails_then_waits.using(backend="database").enqueue("later")
    run_worker()
    DBTaskResult.objects.filter(pk=result.id).update(available_at=timezone.now())

    run_worker()

    row = row_of(result)
    assert (row.status, len(row.worker_ids)) == (TaskResultStatus.FAILED, 2)
    assert last_lines(row.errors) == ["ConnectionError: later"] * 2


def test_signals_are_sent_for_each_attempt(signals_sent: list[SentSignal]) -> None:
    flaky.enqueue("c", failures=1)

    run_worker()

    assert [(sent.name, sent.status) for sent in signals_sent] == retry_tasks.SIGNALS_OF_ONE_RETRY
    assert {sent.sender for sent in signals_sent} == {DatabaseBackend}


def test_context_attempt_counts_the_attempts() -> None:
    result = retry_tasks.attempt_number.using(backend="database").enqueue()

    run_worker()

    assert row_of(result).return_value == 3


def test_a_row_whose_errors_are_corrupt_fails_with_a_readable_error() -> None:
    result = db_tasks.add.enqueue(1, 2)
    store_raw_json(result, "errors", '{"not": "a list"}')

    run_worker()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    [error] = row.errors  # What it held was no error: only the new one is kept.
    assert (
        "its errors column holds {'not': 'a list'}, not a JSON list of errors"
        in (error["traceback"])
    )


# --- lost attempts ---------------------------------------------------------------


def lose(result: Any) -> None:
    make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))


def test_a_lost_attempt_with_attempts_left_is_retried_and_counted() -> None:
    result = db_tasks.attempt_info.enqueue()  # max_attempts=2
    lose(result)

    [stale] = reclaim_stale()

    row = row_of(result)
    assert stale.outcome.status == TaskResultStatus.READY
    assert (row.status, row.claimed_by, row.finished_at) == (TaskResultStatus.READY, "", None)
    [error] = row.errors
    assert error["exception_class_path"] == "django_tasks.exceptions.WorkerLost"
    assert "Worker lost-worker stopped renewing its lease" in error["traceback"]
    assert "made READY to run again" in error["traceback"]


def test_a_lost_task_retried_without_delay_keeps_its_place_in_line() -> None:
    first = db_tasks.attempt_info.enqueue()  # backoff=constant(0)
    db_tasks.add.enqueue(1, 2)
    due = row_of(first).available_at
    lose(first)

    reclaim_stale()

    assert row_of(first).available_at == due
    assert DBTaskResult.objects.ready().first() == row_of(first)  # Claimed next.


def test_a_lost_last_attempt_fails_the_task() -> None:
    result = db_tasks.add.enqueue(1, 2)  # max_attempts=1
    lose(result)

    reclaim_stale()
    worker = run_worker()

    row = row_of(result)
    assert worker.tasks_run == 0
    assert row.status == TaskResultStatus.FAILED
    assert row.finished_at is not None
    [error] = db_tasks.add.get_result(result.id).errors
    assert error.exception_class is WorkerLost
    assert "That was attempt 1 of 1 (max_attempts): the task was marked FAILED" in (error.traceback)


def test_a_lost_attempt_is_retried_after_the_backoffs_delay() -> None:
    result = retry_tasks.fails_then_waits.using(backend="database").enqueue("lost")  # 60 s
    lose(result)
    before = timezone.now()

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.READY
    assert row.available_at - before >= timedelta(seconds=60)
    assert row.run_after == row.available_at


def test_a_lost_attempt_adds_to_the_errors_of_earlier_attempts() -> None:
    result = flaky.enqueue("d", failures=5)
    DBTaskResult.objects.filter(pk=result.id).update(
        errors=[{"exception_class_path": "builtins.ConnectionError", "traceback": "earlier\n"}]
    )
    make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))
    DBTaskResult.objects.filter(pk=result.id).update(worker_ids=["w-1", "lost-worker"])

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.READY  # Attempt 2 of 3.
    assert [error["exception_class_path"] for error in row.errors] == [
        "builtins.ConnectionError",
        "django_tasks.exceptions.WorkerLost",
    ]


def test_with_on_worker_lost_fail_a_lost_attempt_fails_even_with_attempts_left(
    settings: Settings,
) -> None:
    settings.TASKS = {
        "database": {
            "BACKEND": DATABASE_BACKEND,
            "QUEUES": [],
            "ENQUEUE_ON_COMMIT": False,
            "OPTIONS": {"ON_WORKER_LOST": "fail"},
        }
    }
    result = db_tasks.attempt_info.enqueue()
    lose(result)

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    assert "ON_WORKER_LOST is 'fail'" in row.errors[-1]["traceback"]


def test_a_lost_task_whose_path_does_not_resolve_fails_with_a_readable_error() -> None:
    result = db_tasks.attempt_info.enqueue()
    lose(result)
    DBTaskResult.objects.filter(pk=result.id).update(task_path="tests.db_tasks.gone")

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    [error] = row.errors
    assert error["exception_class_path"] == "django_tasks.exceptions.WorkerLost"
    assert "marked FAILED: django_tasks.exceptions.InvalidTask: Task result" in error["traceback"]
    assert "'tests.db_tasks.gone' is not a declared task" in error["traceback"]


def test_a_lost_task_whose_arguments_no_longer_fit_fails_instead_of_being_retried() -> None:
    result = db_tasks.attempt_info.enqueue()  # max_attempts=2: a lost attempt is retried.
    lose(result)
    DBTaskResult.objects.filter(pk=result.id).update(args=["not a parameter of it"])

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    [error] = row.errors
    assert error["exception_class_path"] == "django_tasks.exceptions.WorkerLost"
    assert (
        "marked FAILED: django_tasks.exceptions.InvalidTask: The stored arguments"
        in (error["traceback"])
    )


def test_a_lost_task_whose_backoff_raises_fails_with_that_error_told() -> None:
    result = retry_tasks.with_broken_backoff.using(backend="database").enqueue()
    lose(result)

    reclaim_stale()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    assert "marked FAILED: builtins.LookupError: no delay for you" in row.errors[-1]["traceback"]


# --- settings --------------------------------------------------------------------


def database_tasks(settings: Settings, **entry: object) -> None:
    settings.TASKS = {
        "database": {
            "BACKEND": DATABASE_BACKEND,
            "QUEUES": [],
            "ENQUEUE_ON_COMMIT": False,
            **entry,
        }
    }


def test_the_backend_defaults_apply_to_tasks_that_set_none(settings: Settings) -> None:
    database_tasks(settings, MAX_ATTEMPTS=3, BACKOFF="tests.database.test_retries.no_wait")
    plain = task(backend="database")(retry_tasks.flaky.func)

    result = plain.enqueue("e", failures=2)
    run_worker()

    row = row_of(result)
    assert (row.status, len(row.worker_ids)) == (TaskResultStatus.SUCCESSFUL, 3)


no_wait = constant(0)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"MAX_ATTEMPTS": 0}, "MAX_ATTEMPTS'] must be a whole number of at least 1"),
        ({"MAX_ATTEMPTS": 2.5}, "MAX_ATTEMPTS'] must be"),
        ({"BACKOFF": "tests.no_such_module.backoff"}, "cannot be imported"),
        ({"TIMEOUT": 0}, "TIMEOUT'] must be a positive number of seconds"),
    ],
)
def test_bad_or_unsupported_defaults_are_refused_at_start_up(
    settings: Settings, entry: dict[str, object], message: str
) -> None:
    database_tasks(settings, **entry)

    with pytest.raises(InvalidTaskBackend, match=message.replace("[", r"\[").replace("]", r"\]")):
        task_backends["database"]


@pytest.mark.parametrize("max_attempts", [0, "2", 1.5])
def test_bad_max_attempts_are_refused_at_definition(max_attempts: Any) -> None:
    with pytest.raises(InvalidTask, match="max_attempts must be"):
        task(backend="database", max_attempts=max_attempts)(retry_tasks.flaky.func)

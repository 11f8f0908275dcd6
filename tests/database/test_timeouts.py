"""Timeouts on the database worker: in this process (SIGALRM) and in db_worker processes."""

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django import Settings

from django_tasks import TaskResultStatus, task_backends
from django_tasks.backends.database.attempt_timeouts import TIMED_OUT_EXIT_STATUS, TIMEOUT_GRACE
from django_tasks.base import TaskError

from .. import db_tasks
from .support import PATIENCE, WorkerProcess, row_of, run_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

TASK_TIMEOUT = "django_tasks.exceptions.TaskTimeout"


def last_error(result: Any) -> TaskError:
    """The error of the latest failed attempt of a result (or of its row)."""
    return task_backends["database"].get_result(str(result.id)).errors[-1]


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start(workers: list[WorkerProcess], *args: str, **options: Any) -> WorkerProcess:
    worker = WorkerProcess(*args, options=options)
    workers.append(worker)
    return worker


# --- in this process: the alarm ---------------------------------------------------


def test_a_sync_task_past_its_timeout_is_interrupted_and_fails_with_task_timeout(
    tmp_path: Path,
) -> None:
    result = db_tasks.sleep_with_timeout.enqueue(str(tmp_path / "started"), 600)

    run_worker()

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    assert last_error(row).exception_class_path == TASK_TIMEOUT
    assert "ran past its timeout of 0.5 s" in last_error(row).traceback
    assert "time.sleep(seconds)" in last_error(row).traceback  # Interrupted where it slept.


def test_an_async_task_past_its_timeout_is_cancelled_and_fails_with_task_timeout(
    tmp_path: Path,
) -> None:
    result = db_tasks.async_sleep_with_timeout.enqueue(str(tmp_path / "started"), 600)

    run_worker()

    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )


def test_a_task_within_its_timeout_succeeds_and_its_alarm_is_disarmed(tmp_path: Path) -> None:
    quick = db_tasks.within_timeout.using(priority=1).enqueue(7)
    # Runs after it, past the 30 s the first task had; no alarm may fire in it.
    later = db_tasks.touch_then_sleep.enqueue(str(tmp_path / "started"), 0.2)

    run_worker()

    assert db_tasks.within_timeout.get_result(quick.id).return_value == 7
    assert row_of(later).status == TaskResultStatus.SUCCESSFUL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL  # The worker's is removed.


def test_the_backends_timeout_setting_applies_to_its_tasks(
    settings: Settings, tmp_path: Path
) -> None:
    settings.TASKS = {
        "database": {
            "BACKEND": "django_tasks.backends.database.DatabaseBackend",
            "QUEUES": [],
            "TIMEOUT": 0.3,
        }
    }
    result = db_tasks.touch_then_sleep.enqueue(str(tmp_path / "started"), 600)

    run_worker()

    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )
    assert "ran past its timeout of 0.3 s" in last_error(row).traceback


def test_under_concurrency_a_sync_task_that_returns_late_fails_with_task_timeout(
    tmp_path: Path,
) -> None:
    # A slot thread cannot be interrupted: the attempt is judged when it returns,
    # within the grace.
    result = db_tasks.sleep_with_timeout.enqueue(str(tmp_path / "started"), 1.0)

    run_worker(concurrency=2)

    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )


def test_under_concurrency_an_async_task_past_its_timeout_is_cancelled(tmp_path: Path) -> None:
    result = db_tasks.async_sleep_with_timeout.enqueue(str(tmp_path / "started"), 600)

    run_worker(concurrency=2)

    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )


# --- db_worker processes ------------------------------------------------------------


def test_a_worker_process_fails_a_sync_task_past_its_timeout_and_goes_on(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    slow = db_tasks.sleep_with_timeout.using(priority=1).enqueue(str(tmp_path / "a"), 600)
    next_one = db_tasks.add.enqueue(1, 2)

    worker = start(workers, "--batch")

    assert worker.wait() == 0, worker.output
    row = row_of(slow)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )
    assert row_of(next_one).status == TaskResultStatus.SUCCESSFUL


def test_a_worker_process_fails_an_async_task_past_its_timeout(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    result = db_tasks.async_sleep_with_timeout.enqueue(str(tmp_path / "a"), 600)

    worker = start(workers, "--batch")

    assert worker.wait() == 0, worker.output
    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )


def test_a_task_deaf_to_the_alarm_is_recorded_timed_out_and_the_worker_exits_after_the_grace(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    result = db_tasks.sleep_deaf_to_the_alarm.enqueue(str(marker), 600)

    worker = start(workers)
    wait_for(marker.exists, "the task to start")

    # Not held: gone after the timeout and the grace (the bound only catches a hang).
    assert worker.wait(timeout=PATIENCE) == TIMED_OUT_EXIT_STATUS, worker.output
    row = row_of(result)
    assert (row.status, last_error(row).exception_class_path) == (
        TaskResultStatus.FAILED,
        TASK_TIMEOUT,
    )
    assert "time.sleep(seconds)" in last_error(row).traceback  # Where it was when given up on.
    assert (row.claimed_by, row.lease_expires_at) == ("", None)
    assert f"did not stop within {TIMEOUT_GRACE:g}s" in worker.output


def test_under_concurrency_a_stuck_sync_task_ends_the_worker_and_the_others_come_back(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    stuck_marker, other_marker = tmp_path / "stuck", tmp_path / "other"
    stuck = db_tasks.sleep_with_timeout.using(priority=1).enqueue(str(stuck_marker), 600)
    other = db_tasks.hang_on_first_attempt.enqueue(str(other_marker))

    worker = start(workers, "--concurrency", "2", "--worker-id", "doomed")
    wait_for(lambda: stuck_marker.exists() and other_marker.exists(), "both tasks to start")

    assert worker.wait(timeout=PATIENCE) == TIMED_OUT_EXIT_STATUS, worker.output
    assert last_error(stuck).exception_class_path == TASK_TIMEOUT
    # The other task's lease was ended as the worker left: the next worker takes it back
    # at once, and runs it again.
    survivor = start(workers, "--batch", "--worker-id", "survivor")
    assert survivor.wait() == 0, survivor.output
    rerun = db_tasks.hang_on_first_attempt.get_result(other.id)
    assert rerun.return_value == 2
    assert rerun.worker_ids == ["doomed", "survivor"]
    assert row_of(stuck).status == TaskResultStatus.FAILED  # Not run again.


# --- with retries -------------------------------------------------------------------


def test_a_timed_out_attempt_is_retried_like_any_failure() -> None:
    result = db_tasks.slow_on_first_attempt.enqueue(600)

    run_worker()

    retried = db_tasks.slow_on_first_attempt.get_result(result.id)
    assert (retried.status, retried.return_value, retried.attempts) == ("SUCCESSFUL", 2, 2)
    assert [error.exception_class_path for error in retried.errors] == [TASK_TIMEOUT]


def test_an_attempt_given_up_on_is_retried_by_the_next_worker_until_its_attempts_run_out(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    result = db_tasks.deaf_to_the_alarm_twice.enqueue(str(marker), 600)

    first = start(workers, "--worker-id", "first")
    assert first.wait(timeout=PATIENCE) == TIMED_OUT_EXIT_STATUS, first.output
    after_one = db_tasks.deaf_to_the_alarm_twice.get_result(result.id)
    assert after_one.status == TaskResultStatus.READY  # Through the retry path.
    assert [error.exception_class_path for error in after_one.errors] == [TASK_TIMEOUT]

    second = start(workers, "--worker-id", "second")
    assert second.wait(timeout=PATIENCE) == TIMED_OUT_EXIT_STATUS, second.output
    final = db_tasks.deaf_to_the_alarm_twice.get_result(result.id)
    assert final.status == TaskResultStatus.FAILED
    assert [error.exception_class_path for error in final.errors] == [TASK_TIMEOUT] * 2
    assert final.worker_ids == ["first", "second"]

"""`manage.py db_worker` as real processes: signals, crashes, wake-ups, concurrency."""

import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from django_tasks import TaskResultStatus
from django_tasks.exceptions import WorkerLost

from .. import db_tasks
from .support import WorkerProcess, row_of, store_raw_json, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker() -> Iterator[StartWorker]:
    """Start `db_worker --backend database` processes; kill any still running afterwards."""
    started: list[WorkerProcess] = []

    def start(*args: str, options: dict[str, Any] | None = None) -> WorkerProcess:
        worker = WorkerProcess(*args, options=options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def status_of(result: Any) -> TaskResultStatus:
    return TaskResultStatus(row_of(result).status)


def lease_expired(result: Any) -> bool:
    expiry = row_of(result).lease_expires_at
    return expiry is not None and expiry < timezone.now()


# --- stopping --------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_lets_the_current_task_finish_then_the_worker_exits_0(
    start_worker: StartWorker, tmp_path: Path, signum: int
) -> None:
    marker = tmp_path / "started"
    running = db_tasks.touch_then_sleep.using(priority=1).enqueue(str(marker), 1.0)
    waiting = db_tasks.add.enqueue(1, 2)
    worker = start_worker()
    wait_for(marker.exists, "the task to start")

    worker.signal(signum)

    assert worker.wait() == 0, worker.output
    assert status_of(running) == TaskResultStatus.SUCCESSFUL
    assert row_of(waiting).worker_ids == []  # Never claimed.


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_fails_the_current_task_and_the_worker_exits_1(
    start_worker: StartWorker, tmp_path: Path, signum: int
) -> None:
    marker = tmp_path / "started"
    running = db_tasks.touch_then_sleep.enqueue(str(marker), 600)
    worker = start_worker()
    wait_for(marker.exists, "the task to start")

    worker.signal(signum)
    # Signals of one kind coalesce until handled: the second must come after.
    wait_for(lambda: "stopping after the current task" in worker.output, "the first signal")
    worker.signal(signum)

    assert worker.wait() == 1, worker.output
    row = row_of(running)
    assert row.status == TaskResultStatus.FAILED
    [error] = row.errors
    assert error["exception_class_path"] == (
        "django_tasks.backends.database.exceptions.WorkerInterrupted"
    )
    assert "time.sleep(seconds)" in error["traceback"]  # Where the task was when it stopped.


def test_an_idle_worker_exits_0_at_once_on_a_signal(start_worker: StartWorker) -> None:
    worker = start_worker("--interval", "3600")
    wait_for(lambda: "Starting worker" in worker.output, "the worker to start")

    worker.signal(signal.SIGTERM)

    assert worker.wait() == 0, worker.output


# --- crashes ---------------------------------------------------------------------


def test_the_task_of_a_killed_worker_runs_again_on_another(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt"
    result = db_tasks.hang_on_first_attempt.enqueue(str(marker))
    options = {"WORKER_TIMEOUT": 1}
    doomed = start_worker("--worker-id", "doomed", options=options)
    wait_for(marker.exists, "the first attempt to start")

    doomed.kill()
    wait_for(lambda: lease_expired(result), "the lease to expire")
    survivor = start_worker("--worker-id", "survivor", "--batch", options=options)

    assert survivor.wait() == 0, survivor.output
    rerun = db_tasks.hang_on_first_attempt.get_result(result.id)
    assert rerun.return_value == 2
    assert rerun.worker_ids == ["doomed", "survivor"]
    assert [error.exception_class.__name__ for error in rerun.errors] == ["WorkerLost"]


def test_the_task_of_a_killed_worker_fails_if_that_was_its_last_attempt(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    result = db_tasks.touch_then_sleep.enqueue(str(marker), 600)  # max_attempts=1
    options = {"WORKER_TIMEOUT": 1}
    doomed = start_worker("--worker-id", "doomed", options=options)
    wait_for(marker.exists, "the attempt to start")

    doomed.kill()
    start_worker("--worker-id", "survivor", options=options)
    wait_for(lambda: status_of(result) == TaskResultStatus.FAILED, "the lost task to fail")

    lost = db_tasks.touch_then_sleep.get_result(result.id)
    assert lost.worker_ids == ["doomed"]
    [error] = lost.errors
    assert error.exception_class is WorkerLost
    assert "That was attempt 1 of 1 (max_attempts)" in error.traceback


def test_with_on_worker_lost_fail_the_task_of_a_killed_worker_fails(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt"
    result = db_tasks.hang_on_first_attempt.enqueue(str(marker))
    options = {"WORKER_TIMEOUT": 1, "ON_WORKER_LOST": "fail"}
    doomed = start_worker("--worker-id", "doomed", options=options)
    wait_for(marker.exists, "the first attempt to start")

    doomed.kill()
    start_worker("--worker-id", "survivor", options=options)
    wait_for(lambda: status_of(result) == TaskResultStatus.FAILED, "the lost task to fail")

    lost = db_tasks.hang_on_first_attempt.get_result(result.id)
    assert lost.worker_ids == ["doomed"]
    [error] = lost.errors
    assert "Worker doomed stopped renewing its lease" in error.traceback


# --- waking up -------------------------------------------------------------------


def test_on_postgresql_and_sqlite_an_idle_worker_wakes_when_a_task_is_enqueued(
    start_worker: StartWorker,
) -> None:
    if connection.vendor not in ("postgresql", "sqlite"):
        pytest.skip("PostgreSQL notifies (LISTEN/NOTIFY); SQLite's data_version shows commits.")
    # It would otherwise not look at the table again for an hour.
    worker = start_worker("--interval", "3600")
    db_tasks.add.enqueue(0, 0)  # Proves the worker is up and idle once it has run.
    wait_for(lambda: "status=SUCCESSFUL" in worker.output, "the first task")

    result = db_tasks.add.enqueue(1, 2)

    wait_for(lambda: status_of(result) == TaskResultStatus.SUCCESSFUL, "the woken worker")


def test_on_postgresql_a_worker_listens_again_when_its_listening_connection_dies(
    start_worker: StartWorker,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's.")
    worker = start_worker("--interval", "3600")
    wait_for(lambda: listening_connections() == 1, "the worker to listen")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %%'"
        )
    wait_for(lambda: listening_connections() == 1, "the worker to listen again")
    result = db_tasks.add.enqueue(1, 2)

    wait_for(lambda: status_of(result) == TaskResultStatus.SUCCESSFUL, "the woken worker")
    assert "lost the connection that waits for new tasks" in worker.output


def listening_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %%' "
            "AND state = 'idle' AND datname = current_database()"
        )
        [(count,)] = cursor.fetchall()
    return int(count)


def test_an_idle_worker_polls_for_new_tasks(start_worker: StartWorker) -> None:
    start_worker("--interval", "0.1")

    result = db_tasks.add.enqueue(1, 2)

    wait_for(lambda: status_of(result) == TaskResultStatus.SUCCESSFUL, "the polling worker")


def test_a_worker_process_fails_a_row_nested_10000_deep_and_runs_the_next_task(
    start_worker: StartWorker,
) -> None:
    broken = db_tasks.echo.using(priority=1).enqueue(1)
    store_raw_json(broken, "args", "[" * 10_000 + "]" * 10_000)
    fine = db_tasks.add.enqueue(1, 2)

    worker = start_worker("--batch")

    assert worker.wait() == 0
    assert status_of(broken) == TaskResultStatus.FAILED
    assert status_of(fine) == TaskResultStatus.SUCCESSFUL


# --- several workers and database trouble -----------------------------------------


def test_several_workers_run_each_task_exactly_once(
    start_worker: StartWorker, tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    results = [db_tasks.append_line.enqueue(str(log), str(i)) for i in range(60)]

    workers = [start_worker("--batch", "--worker-id", f"w{i}") for i in range(3)]

    for worker in workers:
        assert worker.wait() == 0, worker.output
    runs = Counter(log.read_text().split())
    assert runs == Counter(str(i) for i in range(60))
    assert {len(row_of(result).worker_ids) for result in results} == {1}


def test_a_worker_whose_connection_is_killed_reconnects_and_goes_on(
    start_worker: StartWorker,
) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection to kill.")
    first = db_tasks.database_connection_id.enqueue()
    worker = start_worker("--interval", "0.1")
    wait_for(lambda: status_of(first) == TaskResultStatus.SUCCESSFUL, "the first task")

    db_tasks.kill_connection(db_tasks.database_connection_id.get_result(first.id).return_value)
    second = db_tasks.add.enqueue(1, 2)

    wait_for(lambda: status_of(second) == TaskResultStatus.SUCCESSFUL, "the reconnected worker")
    assert "could not" in worker.output  # It noticed, at its next claim or look for lost tasks.


def test_with_reload_the_worker_runs_tasks(start_worker: StartWorker) -> None:
    worker = start_worker("--reload", "--interval", "0.1")

    result = db_tasks.add.enqueue(1, 2)

    wait_for(lambda: status_of(result) == TaskResultStatus.SUCCESSFUL, "the reloading worker")
    worker.signal(signal.SIGINT)
    assert worker.wait() == 0, worker.output

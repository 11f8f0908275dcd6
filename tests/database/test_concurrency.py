"""A database worker running several tasks at once: in this process, and as db_worker processes."""

import signal
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus
from django_tasks.backends.database.exceptions import WorkerInterrupted
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.records import Claimant
from django_tasks.backends.database.worker import Worker
from django_tasks.execution import record_failure

from .. import db_tasks
from ..conftest import SentSignal
from .support import (
    WorkerProcess,
    claimed_as_stored,
    row_of,
    run_worker,
    store_raw_json,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start(workers: list[WorkerProcess], *args: str) -> WorkerProcess:
    worker = WorkerProcess(*args)
    workers.append(worker)
    return worker


# --- the option ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 1.5, "4", True])
def test_worker_refuses_a_concurrency_that_is_not_a_whole_number_of_at_least_1(
    value: Any,
) -> None:
    with pytest.raises(ValueError, match="concurrency must be a whole number of at least 1, not"):
        Worker(backend_name="database", concurrency=value)


@pytest.mark.parametrize("value", ["0", "two", "1.5"])
def test_db_worker_refuses_a_bad_concurrency_with_the_workers_message(value: str) -> None:
    with pytest.raises(CommandError, match="concurrency must be a whole number of at least 1"):
        call_command("db_worker", "--backend", "database", "--concurrency", value)
    assert not DBTaskResult.objects.exists()


# --- in this process ----------------------------------------------------------------


def test_tasks_run_at_the_same_time_up_to_the_concurrency(tmp_path: Path) -> None:
    results = [db_tasks.meet_peers.enqueue(str(tmp_path), str(i), 4) for i in range(4)]

    worker = run_worker(concurrency=4)

    assert worker.tasks_run == 4
    assert [db_tasks.meet_peers.get_result(r.id).return_value for r in results] == [True] * 4


def test_async_tasks_overlap_on_the_workers_event_loop(tmp_path: Path) -> None:
    results = [db_tasks.async_meet_peers.enqueue(str(tmp_path), str(i), 3) for i in range(3)]

    run_worker(concurrency=3)

    assert [db_tasks.async_meet_peers.get_result(r.id).return_value for r in results] == [True] * 3


def test_an_async_tasks_sync_calls_run_on_its_slots_own_connection() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no connection ids.")
    results = [db_tasks.async_database_connection_id.enqueue() for _ in range(6)]

    run_worker(concurrency=2)

    ids = {db_tasks.async_database_connection_id.get_result(r.id).return_value for r in results}
    assert 1 <= len(ids) <= 2  # One connection per slot, kept from task to task.


def test_each_task_runs_once_and_every_task_runs(tmp_path: Path) -> None:
    log = tmp_path / "runs"
    results = [db_tasks.append_line.enqueue(str(log), str(i)) for i in range(40)]

    worker = run_worker(concurrency=4)

    assert worker.tasks_run == 40
    assert Counter(log.read_text().split()) == Counter(str(i) for i in range(40))
    assert {row_of(result).status for result in results} == {TaskResultStatus.SUCCESSFUL}


def test_max_tasks_counts_the_tasks_claimed_by_every_slot(tmp_path: Path) -> None:
    log = tmp_path / "runs"
    for i in range(10):
        db_tasks.append_line.enqueue(str(log), str(i))

    worker = run_worker(concurrency=4, max_tasks=5)

    assert worker.tasks_run == 5
    assert len(log.read_text().split()) == 5
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 5


def test_the_heartbeat_renews_every_running_tasks_lease(settings: Settings) -> None:
    settings.TASKS = {
        "database": {
            "BACKEND": "django_tasks.backends.database.DatabaseBackend",
            "QUEUES": [],
            "OPTIONS": {"WORKER_TIMEOUT": 0.4},  # A heartbeat every 0.1s.
        }
    }
    results = [db_tasks.watch_lease.enqueue(1.0) for _ in range(3)]

    run_worker(concurrency=3)

    for result in results:
        first, last = db_tasks.watch_lease.get_result(result.id).return_value
        assert last > first


def test_corrupt_rows_fail_and_the_slots_go_on() -> None:
    broken = db_tasks.echo.using(priority=1).enqueue(1)
    DBTaskResult.objects.filter(pk=broken.id).update(task_path="tests.db_tasks.not_a_task")
    fine = [db_tasks.add.enqueue(i, 1) for i in range(5)]

    run_worker(concurrency=2)

    assert row_of(broken).status == TaskResultStatus.FAILED
    assert {row_of(result).status for result in fine} == {TaskResultStatus.SUCCESSFUL}


def test_claim_up_to_claims_that_many_in_claim_order() -> None:
    low = [db_tasks.add.enqueue(i, 0) for i in range(3)]
    high = db_tasks.add.using(priority=5).enqueue(9, 9)
    claimant = Claimant(
        worker_id="w", backend_name="database", queue_names=None, lease=timedelta(minutes=1)
    )

    claimed = DBTaskResult.objects.claim_up_to(claimant, 3)

    assert [result.id for result in claimed] == [high.id, low[0].id, low[1].id]
    for result in claimed:
        assert claimed_as_stored(result, claimant).worker_ids == ["w"]
    [last] = DBTaskResult.objects.claim_up_to(claimant, 5)
    assert claimed_as_stored(last, claimant).id == low[2].id


def test_failing_the_running_tasks_stores_each_and_sends_task_finished(
    signals_sent: list[SentSignal],
) -> None:
    # What a second signal does under concurrency, before the process exits (tested
    # end to end below): here in this process, so that the signals can be seen.
    running = db_tasks.add.enqueue(1, 2)
    done = db_tasks.add.enqueue(3, 4)
    broken = db_tasks.add.enqueue(5, 6)
    store_raw_json(broken, "args", '"not a list"')
    worker = Worker(backend_name="database", concurrency=2, worker_id="w-2")
    claimed = DBTaskResult.objects.claim_up_to(worker.claimant, 3)
    worker.running.update((c.id, c) for c in claimed)
    [ended] = [c for c in claimed if c.id == done.id]
    assert isinstance(ended, TaskResult)
    record_failure(ended, ValueError("its own error"))  # Its attempt ended as the signal came.
    signals_sent.clear()

    count = worker.fail_running_tasks(WorkerInterrupted("stopped at once"))

    assert count == 3
    interrupted = "django_tasks.backends.database.exceptions.WorkerInterrupted"
    for result, error in [
        (running, interrupted),
        (done, "builtins.ValueError"),
        (broken, interrupted),
    ]:
        row = row_of(result)
        assert (row.status, row.claimed_by) == (TaskResultStatus.FAILED, "")
        assert [e["exception_class_path"] for e in row.errors] == [error]
    assert [(s.name, s.task_result.id, s.status) for s in signals_sent] == [
        ("finished", running.id, TaskResultStatus.FAILED)
    ]


# --- db_worker processes ------------------------------------------------------------


def test_workers_with_concurrency_never_run_a_task_twice(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    log = tmp_path / "runs"
    results = [db_tasks.append_line.enqueue(str(log), str(i)) for i in range(120)]

    started = [
        start(workers, "--batch", "--concurrency", "8", "--worker-id", f"w{i}") for i in range(3)
    ]

    for worker in started:
        assert worker.wait() == 0, worker.output
    assert Counter(log.read_text().split()) == Counter(str(i) for i in range(120))
    assert {len(row_of(result).worker_ids) for result in results} == {1}


def test_sigterm_under_concurrency_8_lets_the_running_tasks_finish(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    markers = [tmp_path / f"started-{i}" for i in range(8)]
    running = [db_tasks.touch_then_sleep.using(priority=1).enqueue(str(m), 1.0) for m in markers]
    waiting = db_tasks.add.enqueue(1, 2)
    worker = start(workers, "--concurrency", "8")
    wait_for(lambda: all(marker.exists() for marker in markers), "all 8 tasks to start")

    worker.signal(signal.SIGTERM)

    assert worker.wait() == 0, worker.output
    assert {row_of(result).status for result in running} == {TaskResultStatus.SUCCESSFUL}
    assert row_of(waiting).worker_ids == []  # Never claimed.


def test_a_second_signal_under_concurrency_fails_the_running_tasks_and_exits_1(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    markers = [tmp_path / f"started-{i}" for i in range(3)]
    running = [db_tasks.touch_then_sleep.enqueue(str(m), 600) for m in markers]
    worker = start(workers, "--concurrency", "3")
    wait_for(lambda: all(marker.exists() for marker in markers), "the tasks to start")

    worker.signal(signal.SIGTERM)
    wait_for(lambda: "stopping after the current task" in worker.output, "the first signal")
    worker.signal(signal.SIGTERM)

    assert worker.wait() == 1, worker.output
    for result in running:
        stopped = db_tasks.touch_then_sleep.get_result(result.id)
        assert stopped.status == TaskResultStatus.FAILED
        [error] = stopped.errors
        assert error.exception_class_path.endswith("WorkerInterrupted")


def test_an_idle_worker_with_concurrency_wakes_for_new_tasks(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    start(workers, "--concurrency", "4", "--interval", "0.1")

    results = [db_tasks.meet_peers.enqueue(str(tmp_path), str(i), 4) for i in range(4)]

    wait_for(
        lambda: {row_of(r).status for r in results} == {TaskResultStatus.SUCCESSFUL},
        "the tasks to run",
    )
    assert [db_tasks.meet_peers.get_result(r.id).return_value for r in results] == [True] * 4

"""The database worker, driven in this process: what it claims, runs and records."""

import logging
import signal
import sqlite3
import sys
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.backends.database import DatabaseBackend
from django_tasks.backends.database.backend import lost_outcome
from django_tasks.backends.database.exceptions import WorkerInterrupted
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.records import Claimant, Outcome
from django_tasks.backends.database.sql import CLAIM_SET_COLUMNS, ROW_CLAIM_SETS
from django_tasks.backends.database.worker import Worker
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend
from django_tasks.serialization import MAX_JSON_DEPTH
from django_tasks.signals import task_finished, task_started

from .. import db_tasks
from .support import (
    claimed_as_stored,
    make_running,
    reclaim_stale,
    row_of,
    run_worker,
    store_raw_json,
)

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = "django_tasks.backends.database.DatabaseBackend"


def only_the_database_backend(
    settings: Settings, options: dict[str, object], **params: object
) -> None:
    """TASKS with the "database" backend alone, with these OPTIONS (and other settings)."""
    settings.TASKS = {
        "database": {"BACKEND": DATABASE_BACKEND, "QUEUES": [], **params, "OPTIONS": options}
    }


def order_of_runs(results: list[TaskResult[Any]]) -> list[int]:
    """The indexes of `results` in the order their tasks started."""
    started = [row_of(result).started_at for result in results]
    return sorted(range(len(results)), key=lambda index: started[index] or timezone.now())


# --- running tasks ---------------------------------------------------------------


def test_runs_ready_tasks_and_stores_what_they_return() -> None:
    first = db_tasks.add.enqueue(1, 2)
    second = db_tasks.echo.enqueue({"nested": [1, "two"]})

    worker = run_worker()

    assert worker.tasks_run == 2
    assert db_tasks.add.get_result(first.id).return_value == 3
    assert db_tasks.echo.get_result(second.id).return_value == {"nested": [1, "two"]}


def test_runs_async_tasks() -> None:
    result = db_tasks.async_add.enqueue(2, 3)

    run_worker()

    assert db_tasks.async_add.get_result(result.id).return_value == 5


def test_records_a_failure_with_its_exception_and_traceback() -> None:
    result = db_tasks.fail.enqueue("boom")

    run_worker()

    failed = db_tasks.fail.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    [error] = failed.errors
    assert error.exception_class is ValueError
    assert "ValueError: boom" in error.traceback
    assert failed.finished_at is not None


def test_a_return_value_that_json_cannot_hold_fails_the_task() -> None:
    result = db_tasks.returns_a_set.enqueue()

    run_worker()

    [error] = db_tasks.returns_a_set.get_result(result.id).errors
    assert error.exception_class is TypeError


def test_records_each_attempt_with_the_worker_id_and_time() -> None:
    result = db_tasks.add.enqueue(1, 2)

    run_worker(worker_id="worker-1")

    row = row_of(result)
    assert row.worker_ids == ["worker-1"]
    assert row.started_at is not None
    assert row.last_attempted_at == row.started_at
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert (row.claimed_by, row.lease_expires_at) == ("", None)


def test_a_context_task_sees_its_attempt_running() -> None:
    result = db_tasks.attempt_info.enqueue()

    run_worker(worker_id="worker-1")

    assert db_tasks.attempt_info.get_result(result.id).return_value == {
        "attempt": 1,
        "worker_ids": ["worker-1"],
        "status": "RUNNING",
    }


def test_sends_task_started_and_task_finished_from_the_database_backend() -> None:
    seen: list[tuple[str, type[object], TaskResultStatus]] = []

    def started(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        seen.append(("started", sender, task_result.status))

    def finished(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        seen.append(("finished", sender, task_result.status))

    task_started.connect(started)
    task_finished.connect(finished)
    try:
        db_tasks.add.enqueue(1, 2)
        run_worker()
    finally:
        task_started.disconnect(started)
        task_finished.disconnect(finished)

    assert seen == [
        ("started", DatabaseBackend, TaskResultStatus.RUNNING),
        ("finished", DatabaseBackend, TaskResultStatus.SUCCESSFUL),
    ]


def test_task_finished_is_sent_once_the_outcome_is_stored() -> None:
    stored: list[str] = []

    def finished(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        stored.append(row_of(task_result).status)

    task_finished.connect(finished)
    try:
        db_tasks.add.enqueue(1, 2)
        run_worker()
    finally:
        task_finished.disconnect(finished)

    assert stored == [TaskResultStatus.SUCCESSFUL]


def test_a_raising_task_started_receiver_fails_that_task_and_the_worker_goes_on() -> None:
    def started(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        if task_result.task.func is db_tasks.fail.func:
            raise RuntimeError("receiver broke")

    task_started.connect(started)
    try:
        broken = db_tasks.fail.using(priority=1).enqueue("never runs")
        fine = db_tasks.add.enqueue(1, 2)
        run_worker()
    finally:
        task_started.disconnect(started)

    assert row_of(broken).status == TaskResultStatus.FAILED
    assert row_of(fine).status == TaskResultStatus.SUCCESSFUL


def test_logs_one_line_per_task_with_its_id_path_status_and_duration(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = db_tasks.add.enqueue(1, 2)

    with caplog.at_level(logging.INFO, logger="django_tasks.backends.database"):
        run_worker()

    [line] = [
        record.getMessage()
        for record in caplog.records
        if record.name == "django_tasks.backends.database" and result.id in record.getMessage()
    ]
    assert f"id={result.id} path=tests.db_tasks.add status=SUCCESSFUL duration=" in line


# --- which tasks, in which order -------------------------------------------------


def test_runs_higher_priorities_first() -> None:
    results = [db_tasks.add.using(priority=priority).enqueue(1, 2) for priority in (-5, 10, 0)]

    run_worker()

    assert order_of_runs(results) == [1, 2, 0]


def test_runs_tasks_of_equal_priority_in_enqueue_order() -> None:
    results = [db_tasks.add.enqueue(i, i) for i in range(5)]

    run_worker()

    assert order_of_runs(results) == [0, 1, 2, 3, 4]


def test_a_due_deferred_task_runs_in_the_order_of_its_run_after() -> None:
    later = db_tasks.add.enqueue(1, 2)
    due_earlier = db_tasks.add.using(run_after=timezone.now() - timedelta(hours=1)).enqueue(3, 4)

    run_worker()

    assert order_of_runs([later, due_earlier]) == [1, 0]


def test_does_not_run_a_task_before_its_run_after() -> None:
    deferred = db_tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)

    worker = run_worker()

    assert worker.tasks_run == 0
    assert row_of(deferred).status == TaskResultStatus.READY


def test_runs_only_the_queues_it_is_given() -> None:
    default = db_tasks.add.enqueue(1, 2)
    emails = db_tasks.add.using(queue_name="emails").enqueue(1, 2)
    reports = db_tasks.add.using(queue_name="reports").enqueue(1, 2)

    run_worker(queue_names=["emails", "reports"])

    assert row_of(default).status == TaskResultStatus.READY
    assert row_of(emails).status == TaskResultStatus.SUCCESSFUL
    assert row_of(reports).status == TaskResultStatus.SUCCESSFUL


@pytest.mark.parametrize("others", [[], ["plain"]])
def test_queue_names_with_quotes_commas_and_braces_are_matched_exactly(others: list[str]) -> None:
    odd = 'we"ird, {queue}\\'
    wanted = db_tasks.add.using(queue_name=odd).enqueue(1, 2)
    lookalike = db_tasks.add.using(queue_name="we").enqueue(1, 2)

    run_worker(queue_names=[odd, *others])

    assert row_of(wanted).status == TaskResultStatus.SUCCESSFUL
    assert row_of(lookalike).status == TaskResultStatus.READY


def test_with_no_queue_names_runs_every_queue() -> None:
    results = [db_tasks.add.using(queue_name=name).enqueue(1, 2) for name in ("a", "b")]

    run_worker(queue_names=None)

    assert {row_of(result).status for result in results} == {TaskResultStatus.SUCCESSFUL}


def test_runs_only_the_tasks_of_its_backend(settings: Settings) -> None:
    settings.TASKS = {
        **settings.TASKS,
        "database2": {"BACKEND": DATABASE_BACKEND, "QUEUES": [], "ENQUEUE_ON_COMMIT": False},
    }
    other = db_tasks.add.using(backend="database2").enqueue(1, 2)

    worker = run_worker()

    assert worker.tasks_run == 0
    assert row_of(other).status == TaskResultStatus.READY


def test_stops_after_max_tasks_without_claiming_more() -> None:
    results = [db_tasks.add.enqueue(i, i) for i in range(3)]

    worker = run_worker(max_tasks=2)

    assert worker.tasks_run == 2
    assert [row_of(result).worker_ids != [] for result in results] == [True, True, False]


def test_stop_lets_the_current_task_finish_and_claims_no_more() -> None:
    first = db_tasks.add.enqueue(1, 2)
    second = db_tasks.add.enqueue(3, 4)
    worker = Worker(backend_name="database", startup_delay=False, interval=3600)

    def stop(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        worker.stop()

    task_started.connect(stop)
    try:
        worker.run()  # Not a batch worker: only stop() ends it.
    finally:
        task_started.disconnect(stop)

    assert row_of(first).status == TaskResultStatus.SUCCESSFUL
    assert row_of(second).status == TaskResultStatus.READY
    assert row_of(second).worker_ids == []


def test_a_worker_with_a_startup_delay_runs_tasks_too() -> None:
    result = db_tasks.add.enqueue(1, 2)

    run_worker(startup_delay=True, interval=0.01)

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL


def test_a_second_signal_before_the_task_runs_fails_it_without_running_it() -> None:
    result = db_tasks.add.enqueue(1, 2)
    worker = Worker(backend_name="database", batch=True, startup_delay=False)

    def signal_twice(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        worker.handle_signal(signal.SIGTERM, None)
        worker.handle_signal(signal.SIGTERM, None)

    task_started.connect(signal_twice)
    try:
        with pytest.raises(WorkerInterrupted):
            worker.run()
    finally:
        task_started.disconnect(signal_twice)

    row = row_of(result)
    assert row.status == TaskResultStatus.FAILED
    assert row.errors[-1]["exception_class_path"].endswith("WorkerInterrupted")
    assert row.return_value is None


def test_a_worker_for_another_kind_of_backend_is_refused() -> None:
    with pytest.raises(
        InvalidTaskBackend,
        match=r"Backend 'dummy' is not a database backend\. It is a DummyBackend",
    ):
        Worker(backend_name="dummy")


@pytest.mark.parametrize(
    "options",
    [
        {"interval": -1},
        {"interval": float("nan")},
        {"max_tasks": 0},
        {"worker_id": ""},
        {"worker_id": "w" * 65},
        {"queue_names": ["default", ""]},
    ],
)
def test_invalid_worker_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Worker(backend_name="database", **options)


# --- rows that cannot run --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_path": "tests.no_such_module.add"}, "is not a declared task"),
        ({"task_path": "tests.db_tasks.no_such_task"}, "is not a declared task"),
        ({"task_path": "tests.db_tasks.not_a_task"}, "not a task"),
        ({"args": [1, 2, 3]}, "no longer fit"),
        ({"args": [], "kwargs": {"a": 1, "c": 2}}, "no longer fit"),
        ({"args": {"a": 1}}, "not a JSON list"),
        ({"kwargs": [1]}, "not a JSON object"),
    ],
    ids=[
        "module-gone",
        "function-gone",
        "not-a-task",
        "too-many-args",
        "wrong-keyword",
        "args-not-a-list",
        "kwargs-not-an-object",
    ],
)
def test_a_row_that_cannot_run_fails_with_a_clear_error_and_the_worker_goes_on(
    change: dict[str, Any], message: str
) -> None:
    broken = db_tasks.add.using(priority=1).enqueue(1, 2)
    DBTaskResult.objects.filter(pk=broken.id).update(**change)
    fine = db_tasks.add.enqueue(3, 4)

    worker = run_worker()

    row = row_of(broken)
    assert row.status == TaskResultStatus.FAILED
    assert row.errors[-1]["exception_class_path"] == "django_tasks.exceptions.InvalidTask"
    assert message in row.errors[-1]["traceback"]
    assert row.finished_at is not None
    assert worker.tasks_run == 2
    assert row_of(fine).status == TaskResultStatus.SUCCESSFUL


def test_a_row_whose_arguments_are_not_json_fails_and_the_worker_goes_on() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL and MariaDB refuse invalid JSON; SQLite can be made to store it.")
    broken = db_tasks.add.using(priority=1).enqueue(1, 2)
    fine = db_tasks.add.enqueue(3, 4)
    table = DBTaskResult._meta.db_table
    with connection.cursor() as cursor:
        # Past the JSON check constraint, as a broken tool or a manual edit might go.
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            cursor.execute(
                f"UPDATE {table} SET args = '[1, 2' WHERE id = %s", [row_of(broken).pk.hex]
            )
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")

    run_worker()

    row = row_of(broken)
    assert row.status == TaskResultStatus.FAILED
    assert "not a JSON list" in row.errors[-1]["traceback"]
    assert row_of(fine).status == TaskResultStatus.SUCCESSFUL


DEEP_JSON = "[" * 10_000 + "]" * 10_000


def test_a_row_whose_args_nest_10000_deep_fails_readably_and_the_worker_goes_on() -> None:
    broken = db_tasks.echo.using(priority=1).enqueue(1)
    store_raw_json(broken, "args", DEEP_JSON)
    fine = db_tasks.add.enqueue(3, 4)

    worker = run_worker()

    row = row_of(broken)
    assert row.status == TaskResultStatus.FAILED
    assert row.errors[-1]["exception_class_path"] == "django_tasks.exceptions.InvalidTask"
    assert "20000 characters of text that do not decode as JSON" in row.errors[-1]["traceback"]
    assert worker.tasks_run == 2
    assert row_of(fine).status == TaskResultStatus.SUCCESSFUL


def test_a_row_whose_kwargs_nest_past_the_limit_fails_readably() -> None:
    broken = db_tasks.echo.enqueue(1)
    store_raw_json(broken, "kwargs", '{"value": ' + "[" * 40 + "]" * 40 + "}")

    run_worker()

    row = row_of(broken)
    assert row.status == TaskResultStatus.FAILED
    assert "nests lists and dicts more than 30 levels" in row.errors[-1]["traceback"]


def test_the_result_of_a_row_whose_args_nest_10000_deep_reads_as_an_invalid_task() -> None:
    broken = db_tasks.echo.enqueue(1)
    store_raw_json(broken, "args", DEEP_JSON)

    with pytest.raises(InvalidTask, match="do not decode as JSON"):
        db_tasks.echo.get_result(broken.id)


def test_an_argument_as_deep_as_the_limit_is_stored_and_run() -> None:
    value: list[object] = []
    for _ in range(MAX_JSON_DEPTH - 1):
        value = [value]
    result = db_tasks.echo.enqueue(value)

    run_worker()

    assert db_tasks.echo.get_result(result.id).return_value == value


def test_an_argument_nested_thousands_deep_is_refused_at_enqueue_and_nothing_is_stored() -> None:
    value: list[object] = []
    for _ in range(5000):
        value = [value]

    with pytest.raises(TypeError, match="more than 30 levels"):
        db_tasks.echo.enqueue(value)

    assert not DBTaskResult.objects.exists()


def test_a_row_naming_a_module_that_is_not_loaded_fails_without_importing_it() -> None:
    assert "tests.late_tasks" not in sys.modules
    broken = db_tasks.add.enqueue(1, 2)
    DBTaskResult.objects.filter(pk=broken.id).update(task_path="tests.late_tasks.late")

    run_worker()

    row = row_of(broken)
    assert row.status == TaskResultStatus.FAILED
    assert "is not a declared task" in row.errors[-1]["traceback"]
    assert "tests.late_tasks" not in sys.modules


# --- lost workers and leases -----------------------------------------------------


def test_a_lease_renewed_while_its_task_is_looked_at_is_not_taken_back() -> None:
    # Reclaiming takes no lock (a task's backoff runs meanwhile): the lease is checked
    # again as the outcome is stored.
    result = db_tasks.add.enqueue(1, 2)
    make_running(result, worker_id="slow-worker", lease_expires_in=timedelta(seconds=-1))
    slow = Claimant(
        worker_id="slow-worker", backend_name="database", queue_names=None, lease=timedelta(1)
    )
    backend = task_backends["database"]
    assert isinstance(backend, DatabaseBackend)
    looked_at: list[str] = []

    def renewed_just_in_time(row: DBTaskResult, now: datetime) -> Outcome:
        looked_at.append(str(row.id))
        DBTaskResult.objects.renew_leases([str(row.id)], slow)  # Its heartbeat, late.
        return lost_outcome(row, backend, now)

    assert DBTaskResult.objects.reclaim_stale("database", renewed_just_in_time) == []

    assert looked_at == [result.id]
    row = row_of(result)
    assert (row.status, row.claimed_by, row.errors) == (TaskResultStatus.RUNNING, "slow-worker", [])


def test_a_running_task_without_a_lease_is_taken_back() -> None:
    # As a row written by another program, or by a worker that died mid-claim, may be.
    result = db_tasks.attempt_info.enqueue()
    make_running(result, worker_id="gone", lease_expires_in=timedelta(minutes=1))
    DBTaskResult.objects.filter(pk=result.id).update(lease_expires_at=None)

    [lost] = reclaim_stale()

    assert (lost.id, lost.worker_id) == (uuid.UUID(result.id), "gone")
    row = row_of(result)
    assert (row.status, row.claimed_by) == (TaskResultStatus.READY, "")
    assert row.errors[-1]["exception_class_path"].endswith("WorkerLost")


def test_a_task_whose_lease_expired_runs_again_with_the_lost_attempt_recorded() -> None:
    result = db_tasks.attempt_info.enqueue()
    make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))

    run_worker(worker_id="worker-2")

    rerun = db_tasks.attempt_info.get_result(result.id)
    assert rerun.status == TaskResultStatus.SUCCESSFUL
    assert rerun.worker_ids == ["lost-worker", "worker-2"]
    assert rerun.return_value["attempt"] == 2
    [lost] = rerun.errors
    assert lost.exception_class_path == "django_tasks.exceptions.WorkerLost"
    assert "Worker lost-worker stopped renewing its lease" in lost.traceback


def test_with_on_worker_lost_fail_a_task_whose_lease_expired_fails(settings: Settings) -> None:
    only_the_database_backend(settings, {"ON_WORKER_LOST": "fail"}, ENQUEUE_ON_COMMIT=False)
    result = db_tasks.attempt_info.enqueue()
    make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))

    worker = run_worker()

    lost = db_tasks.attempt_info.get_result(result.id)
    assert worker.tasks_run == 0
    assert lost.status == TaskResultStatus.FAILED
    assert lost.worker_ids == ["lost-worker"]
    assert lost.finished_at is not None
    [error] = lost.errors
    assert error.exception_class.__name__ == "WorkerLost"
    assert "ON_WORKER_LOST is 'fail'" in error.traceback


def test_a_running_task_whose_lease_holds_is_left_to_its_worker() -> None:
    result = db_tasks.add.enqueue(1, 2)
    make_running(result, worker_id="busy-worker", lease_expires_in=timedelta(minutes=1))

    worker = run_worker()

    assert worker.tasks_run == 0
    row = row_of(result)
    assert (row.status, row.claimed_by) == (TaskResultStatus.RUNNING, "busy-worker")


def test_lost_tasks_of_another_backend_are_left_to_its_workers(settings: Settings) -> None:
    settings.TASKS = {
        **settings.TASKS,
        "database2": {"BACKEND": DATABASE_BACKEND, "QUEUES": [], "ENQUEUE_ON_COMMIT": False},
    }
    result = db_tasks.add.using(backend="database2").enqueue(1, 2)
    make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))

    run_worker()

    assert row_of(result).status == TaskResultStatus.RUNNING


def test_an_outcome_is_not_stored_once_another_worker_took_the_task_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = db_tasks.lose_lease.enqueue()

    with caplog.at_level(logging.WARNING, logger="django_tasks.backends.database"):
        run_worker()

    row = row_of(result)
    assert (row.status, row.claimed_by, row.return_value) == (
        TaskResultStatus.RUNNING,
        "another-worker",
        None,
    )
    assert "its outcome here was not stored" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_the_lease_of_a_long_task(settings: Settings) -> None:
    only_the_database_backend(settings, {"WORKER_TIMEOUT": 0.4})  # A heartbeat every 0.1s.
    result = db_tasks.watch_lease.enqueue(1.0)

    run_worker()

    first, last = db_tasks.watch_lease.get_result(result.id).return_value
    assert last > first


# --- database trouble ------------------------------------------------------------


def requires_server_connections() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection to kill.")


@pytest.mark.django_db(transaction=True)
def test_the_outcome_is_stored_after_the_connection_drops_during_the_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    requires_server_connections()
    result = db_tasks.drop_connection.enqueue()
    after = db_tasks.add.enqueue(1, 2)

    with caplog.at_level(logging.WARNING, logger="django_tasks.backends.database"):
        run_worker()

    assert db_tasks.drop_connection.get_result(result.id).return_value == "survived"
    assert row_of(after).status == TaskResultStatus.SUCCESSFUL
    assert "could not store a task's outcome" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_stopping_at_once_gives_up_an_outcome_the_database_cannot_take_now(
    caplog: pytest.LogCaptureFixture,
) -> None:
    requires_server_connections()
    result = db_tasks.add.enqueue(1, 2)
    worker = Worker(backend_name="database", batch=True, startup_delay=False, worker_id="w1")

    def lose_database_then_stop(
        sender: type[object], task_result: TaskResult[Any], **kwargs: Any
    ) -> None:
        db_tasks.kill_connection(db_tasks.database_connection_id.call())
        worker.stopped_at_once = True  # As a second signal would, while it stores.

    task_started.connect(lose_database_then_stop)
    try:
        worker.run()
    finally:
        task_started.disconnect(lose_database_then_stop)

    row = row_of(result)
    assert (row.status, row.claimed_by) == (TaskResultStatus.RUNNING, "w1")  # Until its lease ends.
    assert "its outcome could not be stored (stopping at once" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_worker_reconnects_when_its_connection_dropped_while_idle() -> None:
    requires_server_connections()
    result = db_tasks.add.enqueue(1, 2)
    db_tasks.kill_connection(db_tasks.database_connection_id.call())

    run_worker()

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL


@pytest.mark.django_db(transaction=True)
def test_an_outcome_the_database_refuses_is_stored_as_that_failure() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("Only PostgreSQL refuses a NUL character in JSON.")
    result = db_tasks.returns_nul.enqueue()

    run_worker()

    failed = db_tasks.returns_nul.get_result(result.id)
    assert failed.status == TaskResultStatus.FAILED
    assert failed.errors[-1].exception_class_path.startswith("django.db.")


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_locked_database_is_retried_at_once_not_after_the_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("Only SQLite locks the whole database.")
    result = db_tasks.add.enqueue(1, 2)
    writer = sqlite3.connect(
        str(connection.settings_dict["NAME"]), isolation_level=None, check_same_thread=False
    )
    writer.execute("BEGIN IMMEDIATE")  # Another process in the middle of a write.
    connection.ensure_connection()
    connection.connection.execute("PRAGMA busy_timeout = 1")
    release = threading.Timer(0.3, writer.rollback)
    release.start()

    try:
        with caplog.at_level(logging.DEBUG, logger="django_tasks.backends.database"):
            # A batch worker takes a locked database for a busy one, not an empty one.
            run_worker(interval=3600)
    finally:
        release.join()
        writer.close()
        connection.close()

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL
    assert "database is locked" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_lost_tasks_are_looked_for_between_tasks_too(settings: Settings) -> None:
    only_the_database_backend(settings, {"WORKER_TIMEOUT": 0.2})
    lost = db_tasks.attempt_info.enqueue()
    make_running(lost, worker_id="lost-worker", lease_expires_in=timedelta(minutes=1))
    slow = db_tasks.watch_lease.using(priority=1).enqueue(0.3)

    def expire(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        if task_result.id == slow.id:
            DBTaskResult.objects.filter(pk=lost.id).update(lease_expires_at=timezone.now())

    task_started.connect(expire)
    try:
        run_worker()
    finally:
        task_started.disconnect(expire)

    assert row_of(lost).worker_ids[0] == "lost-worker"
    assert row_of(lost).status == TaskResultStatus.SUCCESSFUL


def test_the_manager_lists_ready_running_and_finished_tasks() -> None:
    ready = db_tasks.add.enqueue(1, 2)
    later = db_tasks.add.using(run_after=timezone.now() + timedelta(hours=1)).enqueue(1, 2)
    running = db_tasks.add.enqueue(3, 4)
    make_running(running, worker_id="busy", lease_expires_in=timedelta(minutes=1))
    done = db_tasks.add.enqueue(5, 6)
    DBTaskResult.objects.filter(pk=done.id).update(status=TaskResultStatus.FAILED)

    def ids(rows: Any) -> set[str]:
        return {str(row.pk) for row in rows}

    assert ids(DBTaskResult.objects.ready()) == {ready.id}
    assert ids(DBTaskResult.objects.ready(now=timezone.now() + timedelta(hours=2))) == {
        ready.id,
        later.id,
    }
    assert ids(DBTaskResult.objects.running()) == {running.id}
    assert ids(DBTaskResult.objects.finished()) == {done.id}


def test_every_way_to_claim_sets_a_row_the_same_way() -> None:
    # On PostgreSQL the three are the function of migration 0006 (without an outcome,
    # then with one) and claim_ready; elsewhere select_ready + mark_claimed.
    tasks = [db_tasks.attempt_info.enqueue() for _ in range(4)]
    for result in tasks:
        make_running(result, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))
    DBTaskResult.objects.update(started_at=timezone.now() - timedelta(minutes=1))
    reclaim_stale()
    claimant = Claimant(
        worker_id="w-1", backend_name="database", queue_names=None, lease=timedelta(minutes=1)
    )
    now = timezone.now()
    columns = [*CLAIM_SET_COLUMNS, *ROW_CLAIM_SETS, "backend_name", "errors"]

    def set_by_claim(result: TaskResult[Any]) -> dict[str, object]:
        row = DBTaskResult.objects.get(pk=result.id)
        return {column: getattr(row, column) for column in columns}

    first = claimed_as_stored(DBTaskResult.objects.claim_next(claimant, now), claimant)
    claims = [set_by_claim(first)]
    done = Outcome(id=uuid.UUID(first.id), status=TaskResultStatus.SUCCESSFUL, finished_at=now)
    _, second = DBTaskResult.objects.finish(done, claimant, claim_next=True)
    [third, fourth] = DBTaskResult.objects.claim_up_to(claimant, 2, now)
    for other in (second, third, fourth):
        claims.append(set_by_claim(claimed_as_stored(other, claimant)))

    assert claims[0]["worker_ids"] == ["lost-worker", "w-1"]
    assert claims[0]["last_attempted_at"] == now
    assert claims[0]["errors"] == row_of(tasks[0]).errors  # Kept as they were.
    assert claims[1:] == [claims[0]] * 3


def test_a_claimed_task_is_returned_exactly_as_it_is_stored() -> None:
    # The claim returns some columns and fills in the ones it set itself: all of them
    # must agree with the row, for the first claim and for one made with an outcome.
    retried = db_tasks.attempt_info.enqueue()
    make_running(retried, worker_id="lost-worker", lease_expires_in=timedelta(seconds=-1))
    reclaim_stale()
    deferred = db_tasks.add.using(
        priority=-5, run_after=timezone.now() - timedelta(minutes=1)
    ).enqueue(3, 4)
    claimant = Claimant(
        worker_id="w-1", backend_name="database", queue_names=None, lease=timedelta(minutes=1)
    )

    first = claimed_as_stored(DBTaskResult.objects.claim_next(claimant), claimant)
    assert first.id == retried.id
    assert first.status == TaskResultStatus.RUNNING
    assert first.worker_ids == ["lost-worker", "w-1"]
    assert first.errors[-1].exception_class_path.endswith("WorkerLost")
    outcome = Outcome(
        id=uuid.UUID(first.id), status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
    )
    stored, second = DBTaskResult.objects.finish(outcome, claimant, claim_next=True)
    assert stored
    assert claimed_as_stored(second, claimant).id == deferred.id


@pytest.mark.django_db(transaction=True)
def test_a_claim_the_database_refuses_stops_the_worker_with_the_error() -> None:
    table = DBTaskResult._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        # ProgrammingError on PostgreSQL and MariaDB; OperationalError on SQLite.
        with pytest.raises(DatabaseError, match=r"(?i)exist|no such table"):
            run_worker()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")

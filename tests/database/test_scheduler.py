"""The worker's side of periodic tasks: each tick enqueued once, the schedules' admin."""

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from redis import Redis

from django_tasks import task_backends
from django_tasks.backends.database.models import DBSchedule, DBTaskResult
from django_tasks.backends.database.scheduler import Scheduler
from django_tasks.backends.database.worker import Worker
from django_tasks.backends.dummy import DummyBackend
from django_tasks.periodic import Schedule, schedule
from django_tasks.signals import task_enqueued

from .. import db_tasks, rq_tasks, tasks
from ..rq_support import redis, rq_backend, run_simple_worker
from .support import run_worker

__all__ = ["redis"]  # The fixture, imported for the tests of this module.

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("declared_schedules")]

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)

CHANGELIST = "admin:django_tasks_database_dbschedule_changelist"
ADD = "admin:django_tasks_database_dbschedule_add"


def every_second() -> Schedule:
    return schedule(SECOND, db_tasks.add, 1, 2)


def enqueued() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path="tests.db_tasks.add"))


def row(declared: Schedule) -> DBSchedule:
    return DBSchedule.objects.get(key=declared.key)


def test_a_due_tick_is_enqueued_once_however_many_workers_see_it() -> None:
    declared = every_second()
    workers = [Scheduler([declared], worker_id=f"w{n}", started=T0) for n in range(3)]

    for worker in workers:
        worker.run_due(now=T0 + SECOND)

    [task_row] = enqueued()
    assert (task_row.args, task_row.kwargs) == ([1, 2], {})
    state = row(declared)
    assert state.last_tick == T0 + SECOND
    assert state.last_result_id == str(task_row.id)


def test_the_next_tick_is_enqueued_at_its_time() -> None:
    declared = every_second()
    worker = Scheduler([declared], worker_id="w", started=T0)

    worker.run_due(now=T0 + SECOND)
    worker.run_due(now=T0 + SECOND * 1.5)  # Not due yet.
    worker.run_due(now=T0 + SECOND * 2)

    assert len(enqueued()) == 2
    assert row(declared).last_tick == T0 + SECOND * 2


def test_each_schedule_gets_its_row_when_the_worker_starts() -> None:
    declared = schedule("0 3 * * *", db_tasks.add, 1, 2)

    run_worker()

    state = row(declared)
    assert (state.task_path, state.when, state.last_tick) == (
        "tests.db_tasks.add",
        "0 3 * * *",
        None,
    )
    assert enqueued() == []


def test_ticks_from_before_the_worker_started_are_not_made_up_for() -> None:
    declared = every_second()
    restarted = Scheduler([declared], worker_id="w", started=T0 + SECOND * 10.5)

    restarted.run_due(now=T0 + SECOND * 10.5)
    assert enqueued() == []

    restarted.run_due(now=T0 + SECOND * 11)
    assert row(declared).last_tick == T0 + SECOND * 11


def test_ticks_that_pass_while_the_worker_is_busy_are_enqueued_as_one() -> None:
    declared = every_second()
    worker = Scheduler([declared], worker_id="w", started=T0)

    worker.run_due(now=T0 + SECOND * 5.5)

    assert len(enqueued()) == 1
    assert row(declared).last_tick == T0 + SECOND * 5


def test_the_same_schedule_declared_twice_is_enqueued_once_per_tick() -> None:
    every_second()
    declared = every_second()

    Scheduler([declared, declared], worker_id="w", started=T0).run_due(now=T0 + SECOND)

    assert len(enqueued()) == 1


def test_a_schedule_on_another_backend_is_enqueued_on_that_backend() -> None:
    declared = schedule(SECOND, tasks.send_email, "a@example.com")  # On "dummy".

    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0 + SECOND)

    backend = task_backends["dummy"]
    assert isinstance(backend, DummyBackend)
    [result] = backend.results
    assert result.task.module_path == "tests.tasks.send_email"
    assert row(declared).last_result_id == result.id


def test_a_schedule_on_the_rq_backend_is_enqueued_on_redis(redis: Redis) -> None:
    declared = schedule(SECOND, rq_tasks.add, 2, 3)

    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0 + SECOND)

    [job_id] = rq_backend().queue("default").job_ids
    assert row(declared).last_result_id == job_id
    run_simple_worker()
    assert rq_tasks.add.get_result(job_id).return_value == 5


def test_a_tick_whose_enqueue_fails_is_rolled_back_and_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    declared = every_second()
    worker = Scheduler([declared], worker_id="w", started=T0)

    def refuse(**kwargs: Any) -> None:
        raise RuntimeError("refused by a receiver")

    task_enqueued.connect(refuse)
    try:
        worker.run_due(now=T0 + SECOND)
    finally:
        task_enqueued.disconnect(refuse)

    assert enqueued() == []
    assert row(declared).last_tick is None  # Rolled back with the task.
    assert "could not enqueue the tick of 2026-06-01T12:00:01+00:00; it is skipped" in caplog.text
    worker.run_due(now=T0 + SECOND * 2)  # The next tick goes ahead.
    assert row(declared).last_tick == T0 + SECOND * 2


def test_a_worker_logs_each_tick_it_enqueues_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    declared = every_second()
    caplog.set_level("DEBUG", logger="django_tasks.backends.database")

    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0 + SECOND * 3.5)

    [task_row] = enqueued()
    assert (
        f"Schedule tests.db_tasks.add (every 1 second): enqueued the tick of "
        f"2026-06-01T12:00:03+00:00 as task result id={task_row.id}." in caplog.text
    )
    assert "the ticks from 2026-06-01T12:00:01+00:00 until 2026-06-01T12:00:03+00:00" in caplog.text


def test_a_worker_refuses_to_start_with_a_schedule_it_cannot_run() -> None:
    schedule("0 25 * * *", db_tasks.add, 1, 2)

    with pytest.raises(
        ImproperlyConfigured, match=r"tests.db_tasks.add \(0 25 \* \* \*\): the cron"
    ):
        Worker(backend_name="database")


def test_without_schedules_the_worker_waits_as_long_as_it_likes() -> None:
    assert Scheduler([], worker_id="w").seconds_until_due() == float("inf")


@pytest.mark.django_db(transaction=True)
def test_of_workers_taking_the_same_tick_at_once_exactly_one_gets_it() -> None:
    declared = every_second()
    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0)  # Adds the row.
    racers = 4
    barrier = threading.Barrier(racers)
    taken: list[bool] = []

    def take() -> None:
        try:
            barrier.wait()
            from django_tasks.backends.database.sql import write_transaction

            with write_transaction("default"):
                taken.append(DBSchedule.objects.take_tick(declared.key, T0 + SECOND, T0))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(taken) == [False] * (racers - 1) + [True]


# --- the admin ------------------------------------------------------------------------


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_the_admin_lists_schedules_with_their_last_and_next_tick(admin_client: Client) -> None:
    declared = schedule("0 3 * * *", db_tasks.add, 1, b=2)
    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0)
    DBSchedule.objects.filter(key=declared.key).update(last_tick=T0)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    assert "tests.db_tasks.add" in html
    assert "0 3 * * *" in html
    assert "1, b=2" in html
    assert "June 1, 2026, noon" in html  # The last tick.
    next_tick = declared.next_tick(datetime.now(UTC))
    assert next_tick is not None
    assert f"{next_tick:%Y-%m-%d} 03:00:00 UTC" in html


def test_the_admin_marks_a_row_whose_schedule_is_not_declared(admin_client: Client) -> None:
    DBSchedule.objects.create(key="0" * 64, task_path="gone.tasks.old", when="every 1 minute")

    html = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert "gone.tasks.old" in html
    assert "not declared in this process" in html


def test_the_admin_is_read_only(admin_client: Client) -> None:
    declared = every_second()
    Scheduler([declared], worker_id="w", started=T0).run_due(now=T0)

    assert admin_client.get(reverse(ADD)).status_code == 403
    html = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "action-checkbox" not in html  # No delete action.
    assert f'href="{reverse(CHANGELIST)}{declared.key}/' not in html


def started_where_a_connection_can_be_killed() -> tuple[Schedule, Scheduler]:
    """A scheduler of every_second() that has added its row, on a database server."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection to kill.")
    declared = every_second()
    worker = Scheduler([declared], worker_id="w", started=T0)
    worker.run_due(now=T0)  # Adds the row.
    return declared, worker


@pytest.mark.django_db(transaction=True)
def test_after_a_database_error_the_worker_tries_the_tick_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    declared, worker = started_where_a_connection_can_be_killed()
    db_tasks.kill_connection(db_tasks.database_connection_id.call())

    worker.run_due(now=T0 + SECOND)
    assert "Worker w: could not enqueue periodic tasks" in caplog.text
    worker.run_due(now=T0 + SECOND * 1.5)  # Not yet: it waits a second.
    assert enqueued() == []

    worker.run_due(now=T0 + SECOND * 2)
    assert len(enqueued()) == 1
    assert row(declared).last_tick == T0 + SECOND * 2


@pytest.mark.django_db(transaction=True)
def test_an_outage_warns_once_and_again_when_it_is_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, worker = started_where_a_connection_can_be_killed()
    caplog.set_level(logging.DEBUG, logger="django_tasks.backends.database.scheduler")

    for second in (1, 2, 3):
        db_tasks.kill_connection(db_tasks.database_connection_id.call())
        worker.run_due(now=T0 + SECOND * second)
    worker.run_due(now=T0 + SECOND * 4)

    ours = [r for r in caplog.records if r.name.endswith("scheduler") and "periodic" in r.message]
    assert [r.levelname for r in ours] == ["WARNING", "DEBUG", "DEBUG", "WARNING"]
    assert ours[-1].message == "Worker w: enqueues periodic tasks again, after 3 failed tries."
    assert len(enqueued()) == 1

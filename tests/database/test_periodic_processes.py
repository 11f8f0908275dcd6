"""Periodic tasks with real `manage.py db_worker` processes: each tick enqueued once."""

import re
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Protocol

import pytest

from django_tasks.backends.database.models import DBSchedule, DBTaskResult

from .support import WorkerProcess, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

SCHEDULED = "tests.periodic_app.tasks.every_second"
# What `db_worker -v 2` logs for each tick it enqueues.
TICK_LINE = re.compile(
    re.escape(f"Schedule {SCHEDULED} (every 1 second): enqueued the tick of ")
    + r"(\S+) as task result id=([0-9a-f-]+)\."
)


class StartWorker(Protocol):
    def __call__(self, *args: str, extra_apps: tuple[str, ...] = ...) -> WorkerProcess: ...


@pytest.fixture
def start_worker() -> Iterator[StartWorker]:
    """Start `db_worker` processes with the apps that declare schedules; kill leftovers."""
    started: list[WorkerProcess] = []

    def start(*args: str, extra_apps: tuple[str, ...] = ("tests.periodic_app",)) -> WorkerProcess:
        worker = WorkerProcess(*args, extra_apps=extra_apps)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def scheduled_rows() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=SCHEDULED))


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_enqueue_each_tick_of_a_one_second_schedule_once(
    start_worker: StartWorker, workers: int
) -> None:
    # An idle worker looks at the table only hourly: the ticks wake it.
    started = [start_worker("--interval", "3600") for _ in range(workers)]
    wait_for(lambda: len(scheduled_rows()) >= 4, "four ticks")
    for worker in started:
        worker.signal(signal.SIGTERM)
    for worker in started:
        assert worker.wait() == 0, worker.output

    logged: list[tuple[Any, ...]] = [
        match for worker in started for match in TICK_LINE.findall(worker.output)
    ]
    ticks = Counter(datetime.fromisoformat(tick) for tick, _id in logged)
    assert ticks and max(ticks.values()) == 1, ticks  # No tick enqueued twice.
    assert all(tick.microsecond == 0 for tick in ticks)  # Whole seconds.
    # Each task row is one logged tick, and each logged tick one row.
    assert sorted(str(row.id) for row in scheduled_rows()) == sorted(id for _tick, id in logged)
    assert DBSchedule.objects.get(task_path=SCHEDULED).last_tick == max(ticks)


def test_a_worker_with_a_bad_cron_string_does_not_start(start_worker: StartWorker) -> None:
    worker = start_worker(extra_apps=("tests.periodic_app_broken",))

    assert worker.wait() != 0
    assert "(django_tasks.E010) Periodic schedule tests.periodic_app_broken.tasks.nightly" in (
        worker.output
    )
    assert "the cron string '0 25 * * *' is not valid: Bad hour." in worker.output

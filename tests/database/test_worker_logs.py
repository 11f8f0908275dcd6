"""The database worker's log lines begin as upstream's db_worker words them, then add ours."""

import logging
import signal

import pytest

from django_tasks.backends.database.worker import Worker

from .. import db_tasks
from .support import run_worker

pytestmark = pytest.mark.django_db

LOGGER = "django_tasks.backends.database"


def worker_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == LOGGER]


def test_start_line_names_the_worker_and_its_queues(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        run_worker(worker_id="w1", queue_names=["default", "emails"])

    assert "Starting worker worker_id=w1 queues=default,emails backend=database" in (
        worker_lines(caplog)
    )


def test_batch_end_line_says_there_are_no_more_tasks(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER):
        run_worker(worker_id="w1")

    assert any(
        line.startswith("No more tasks to run for worker_id=w1 - exiting gracefully.")
        for line in worker_lines(caplog)
    )


def test_max_tasks_end_line_says_the_maximum_was_run(caplog: pytest.LogCaptureFixture) -> None:
    db_tasks.add.enqueue(1, 2)

    with caplog.at_level(logging.INFO, logger=LOGGER):
        run_worker(worker_id="w1", max_tasks=1)

    assert "Run maximum tasks (1) on worker=w1 - exiting gracefully." in worker_lines(caplog)


def test_first_signal_line_says_the_worker_shuts_down_gracefully(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Worker(backend_name="database", worker_id="w1")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        worker.handle_signal(signal.SIGTERM, None)

    [line] = worker_lines(caplog)
    assert line.startswith(
        "Received Terminated - shutting down gracefully... (press Ctrl+C again to force)"
    )
    assert "Worker w1 got SIGTERM" in line


def test_second_signal_line_says_the_worker_terminates_the_current_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker = Worker(backend_name="database", worker_id="w1")
    worker.handle_signal(signal.SIGINT, None)
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        worker.handle_signal(signal.SIGINT, None)

    [line] = worker_lines(caplog)
    assert line.startswith("Received Interrupt - terminating current task.")
    assert "Worker w1 got SIGINT again" in line

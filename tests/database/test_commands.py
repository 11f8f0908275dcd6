"""The management commands db_worker and prune_db_task_results, run in this process."""

import logging
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.worker import Worker
from django_tasks.exceptions import InvalidTaskBackend

from .. import db_tasks
from .support import row_of

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = "django_tasks.backends.database.DatabaseBackend"


def db_worker(*args: str, **options: Any) -> None:
    """Run `db_worker --batch` on the "database" backend."""
    call_command(
        "db_worker", "--backend", "database", "--batch", "--no-startup-delay", *args, **options
    )


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """What the command let through its verbosity (pytest captures every record)."""
    return "\n".join(record.getMessage() for record in caplog.records)


# --- db_worker -------------------------------------------------------------------


def test_db_worker_batch_runs_the_ready_tasks_and_exits() -> None:
    results = [db_tasks.add.enqueue(i, i) for i in range(3)]

    db_worker()

    assert {row_of(result).status for result in results} == {TaskResultStatus.SUCCESSFUL}


def test_db_worker_runs_the_queues_named_with_commas() -> None:
    emails = db_tasks.add.using(queue_name="emails").enqueue(1, 2)
    reports = db_tasks.add.using(queue_name="reports").enqueue(1, 2)
    other = db_tasks.add.using(queue_name="other").enqueue(1, 2)

    db_worker("--queue-name", "emails,reports")

    assert [row_of(result).status for result in (emails, reports, other)] == [
        TaskResultStatus.SUCCESSFUL,
        TaskResultStatus.SUCCESSFUL,
        TaskResultStatus.READY,
    ]


def test_db_worker_runs_every_queue_with_a_star() -> None:
    result = db_tasks.add.using(queue_name="anything").enqueue(1, 2)

    db_worker("--queue-name", "*")

    assert row_of(result).status == TaskResultStatus.SUCCESSFUL


def test_db_worker_stops_after_max_tasks() -> None:
    results = [db_tasks.add.enqueue(i, i) for i in range(3)]

    db_worker("--max-tasks", "1")

    assert [row_of(result).status for result in results].count(TaskResultStatus.READY) == 2


def test_db_worker_ignores_reload_in_batch_mode() -> None:
    result = db_tasks.add.enqueue(1, 2)
    err = StringIO()

    db_worker("--reload", stderr=err)

    assert "--reload has no effect with --batch" in err.getvalue()
    assert row_of(result).status == TaskResultStatus.SUCCESSFUL


def test_db_worker_records_its_worker_id() -> None:
    result = db_tasks.add.enqueue(1, 2)

    db_worker("--worker-id", "web-1")

    assert row_of(result).worker_ids == ["web-1"]


def test_db_worker_logs_one_line_per_task(caplog: pytest.LogCaptureFixture) -> None:
    result = db_tasks.add.enqueue(1, 2)

    db_worker()

    [line] = [line for line in logged(caplog).splitlines() if result.id in line]
    assert f"Task id={result.id} path=tests.db_tasks.add status=SUCCESSFUL duration=" in line


def test_db_worker_at_verbosity_0_logs_no_line_per_task(caplog: pytest.LogCaptureFixture) -> None:
    db_tasks.add.enqueue(1, 2)

    db_worker("-v", "0")

    assert logged(caplog) == ""


def test_db_worker_at_verbosity_2_also_logs_each_start(caplog: pytest.LogCaptureFixture) -> None:
    result = db_tasks.add.enqueue(1, 2)

    db_worker("-v", "2")

    assert f"Task id={result.id} path=tests.db_tasks.add state=RUNNING" in logged(caplog)


def test_db_worker_at_verbosity_0_still_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    db_tasks.fail.enqueue("boom")

    db_worker("-v", "0")

    assert "state=FAILED" in logged(caplog)


def test_db_worker_puts_the_log_levels_back_when_it_exits() -> None:
    package = logging.getLogger("django_tasks")
    before = package.level

    db_worker("-v", "2")

    assert package.level == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "-1"], "--interval"),
        (["--interval", "soon"], "--interval"),
        (["--max-tasks", "0"], "--max-tasks"),
        (["--max-tasks", "many"], "--max-tasks"),
        (["--worker-id", "x" * 65], "--worker-id"),
        (["--queue-name", "a,,b"], "--queue-name"),
        (["--backend", "nope"], "--backend"),
        (["--backend", "dummy"], "Backend 'dummy' is not a database backend. It is a DummyBackend"),
    ],
)
def test_db_worker_refuses_bad_options_and_runs_nothing(args: list[str], message: str) -> None:
    result = db_tasks.add.enqueue(1, 2)

    with pytest.raises(CommandError, match=message):
        call_command("db_worker", "--batch", "--no-startup-delay", *args)

    assert row_of(result).status == TaskResultStatus.READY


@pytest.mark.parametrize(
    ("options", "args"),
    [
        ({"interval": -1.0}, ["--interval", "-1"]),
        ({"interval": "soon"}, ["--interval", "soon"]),
        ({"max_tasks": 0}, ["--max-tasks", "0"]),
        ({"max_tasks": "many"}, ["--max-tasks", "many"]),
        ({"concurrency": "1.5"}, ["--concurrency", "1.5"]),
        ({"worker_id": "x" * 65}, ["--worker-id", "x" * 65]),
        ({"queue_names": ["a", "", "b"]}, ["--queue-name", "a,,b"]),
        ({"backend_name": "dummy"}, ["--backend", "dummy"]),
        ({"backend_name": "nope"}, ["--backend", "nope"]),
    ],
)
def test_db_worker_and_worker_refuse_a_bad_option_in_the_same_words(
    options: dict[str, Any], args: list[str]
) -> None:
    with pytest.raises((ValueError, InvalidTaskBackend)) as refused:
        options = {"backend_name": "database", **options}
        Worker(**options)
    with pytest.raises(CommandError) as command_refused:
        call_command("db_worker", "--batch", *args)

    assert str(refused.value) in str(command_refused.value)


# --- prune_db_task_results (see also test_prune.py) ---------------------


def finished_long_ago(result: TaskResult[Any]) -> None:
    DBTaskResult.objects.filter(pk=result.id).update(
        status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now() - timedelta(days=30)
    )


def test_prune_only_touches_the_given_backend(settings: Settings) -> None:
    settings.TASKS = {
        **settings.TASKS,
        "database2": {"BACKEND": DATABASE_BACKEND, "QUEUES": [], "ENQUEUE_ON_COMMIT": False},
    }
    other = db_tasks.add.using(backend="database2").enqueue(1, 2)
    finished_long_ago(other)
    out = StringIO()

    call_command("prune_db_task_results", "--backend", "database", stdout=out)

    assert out.getvalue().strip() == "Deleted 0 task results."
    assert DBTaskResult.objects.filter(pk=other.id).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--failed-min-age-days", "x"], "--failed-min-age-days"),
        (["--backend", "dummy"], "Backend 'dummy' is not a database backend. It is a DummyBackend"),
    ],
)
def test_prune_refuses_bad_options_and_deletes_nothing(args: list[str], message: str) -> None:
    result = db_tasks.add.enqueue(1, 2)
    finished_long_ago(result)

    with pytest.raises(CommandError, match=message):
        call_command("prune_db_task_results", *args)

    assert DBTaskResult.objects.filter(pk=result.id).exists()

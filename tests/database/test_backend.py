"""DatabaseBackend: enqueue writes a row, get_result reads it back."""

import uuid
from datetime import timedelta
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.backends.database import DatabaseBackend
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
from django_tasks.signals import task_enqueued

from .. import db_tasks
from .support import row_of, run_worker

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = "django_tasks.backends.database.DatabaseBackend"


def backend() -> DatabaseBackend:
    return cast(DatabaseBackend, task_backends["database"])


def test_supports_defer_async_get_result_and_priority() -> None:
    assert backend().supports_defer
    assert backend().supports_async_task
    assert backend().supports_get_result
    assert backend().supports_priority


def test_enqueue_is_one_insert() -> None:
    with CaptureQueriesContext(connection) as queries:
        db_tasks.add.enqueue(1, 2)

    assert len(queries) == 1
    assert queries[0]["sql"].startswith("INSERT INTO")


def test_enqueue_is_seen_by_query_capture_after_enqueues_outside_it() -> None:
    # The backend keeps its cursor between statements: it must still log them when
    # query logging starts later, and stop when it ends.
    db_tasks.add.enqueue(1, 2)
    with CaptureQueriesContext(connection) as queries:
        db_tasks.add.enqueue(3, 4)
    db_tasks.add.enqueue(5, 6)

    assert len(queries) == 1
    assert not connection.queries_logged


@pytest.mark.django_db(transaction=True)
def test_enqueue_after_the_connection_was_closed_uses_a_new_one() -> None:
    first = db_tasks.add.enqueue(1, 2)
    connection.close()
    second = db_tasks.add.enqueue(3, 4)

    assert row_of(first).status == row_of(second).status == TaskResultStatus.READY


def test_enqueue_stores_a_ready_row_with_the_task_and_its_arguments() -> None:
    result = db_tasks.echo.using(priority=7, queue_name="emails").enqueue({"to": ["a@b.c"]})

    row = row_of(result)
    assert row.status == TaskResultStatus.READY
    assert row.task_path == "tests.db_tasks.echo"
    assert row.args == [{"to": ["a@b.c"]}]
    assert row.kwargs == {}
    assert row.priority == 7
    assert row.queue_name == "emails"
    assert row.backend_name == "database"
    assert row.enqueued_at == result.enqueued_at
    assert row.worker_ids == []
    assert (row.started_at, row.finished_at, row.claimed_by) == (None, None, "")


def test_enqueue_returns_a_ready_result_whose_id_is_the_rows() -> None:
    result = db_tasks.add.enqueue(a=1, b=2)

    assert result.status == TaskResultStatus.READY
    assert result.kwargs == {"a": 1, "b": 2}
    assert result.enqueued_at is not None
    assert uuid.UUID(result.id) == row_of(result).id


def test_enqueue_stores_run_after_and_makes_the_task_available_then() -> None:
    later = timezone.now() + timedelta(hours=1)

    result = db_tasks.add.using(run_after=later).enqueue(1, 2)

    row = row_of(result)
    assert row.run_after == later
    assert row.available_at == later


def test_task_without_run_after_is_available_when_enqueued() -> None:
    row = row_of(db_tasks.add.enqueue(1, 2))

    assert row.run_after is None
    assert row.available_at == row.enqueued_at


def test_enqueue_sends_task_enqueued_once_the_row_exists() -> None:
    seen: list[bool] = []

    def receiver(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        seen.append(DBTaskResult.objects.filter(pk=task_result.id).exists())

    task_enqueued.connect(receiver)
    try:
        db_tasks.add.enqueue(1, 2)
    finally:
        task_enqueued.disconnect(receiver)

    assert seen == [True]


@pytest.mark.parametrize(
    ("enqueue", "error"),
    [
        (lambda: db_tasks.echo.enqueue({1, 2}), TypeError),
        (lambda: db_tasks.add.using(queue_name="q" * 65).enqueue(1, 2), InvalidTask),
        (lambda: db_tasks.add.using(priority=101).enqueue(1, 2), InvalidTask),
        (lambda: db_tasks.add.using(run_after=timezone.now().replace(tzinfo=None)), InvalidTask),
    ],
    ids=["unserializable-argument", "queue-name-too-long", "priority-out-of-range", "naive"],
)
def test_refused_enqueue_stores_nothing(enqueue: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        enqueue()

    assert not DBTaskResult.objects.exists()


def test_aenqueue_stores_the_task() -> None:
    result = async_to_sync(db_tasks.async_add.aenqueue)(2, 3)

    assert result.status == TaskResultStatus.READY
    assert row_of(result).args == [2, 3]


def test_get_result_reads_the_row() -> None:
    enqueued = db_tasks.add.using(priority=3).enqueue(1, b=2)

    result = backend().get_result(enqueued.id)

    assert result.id == enqueued.id
    assert result.task.func is db_tasks.add.func
    assert result.task.priority == 3
    assert (result.args, result.kwargs) == ([1], {"b": 2})
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at == enqueued.enqueued_at
    assert result.backend == "database"


def test_task_get_result_returns_the_typed_result() -> None:
    enqueued = db_tasks.add.enqueue(1, 2)
    run_worker()

    assert db_tasks.add.get_result(enqueued.id).return_value == 3


def test_aget_result_reads_the_row() -> None:
    enqueued = db_tasks.add.enqueue(1, 2)

    result = async_to_sync(backend().aget_result)(enqueued.id)

    assert (result.id, result.args) == (enqueued.id, [1, 2])


@pytest.mark.parametrize("result_id", [str(uuid.uuid4()), "not-a-uuid", "", "12"])
def test_get_result_of_an_unknown_or_malformed_id_raises_does_not_exist(result_id: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        backend().get_result(result_id)


@pytest.mark.parametrize("result_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_aget_result_of_an_unknown_or_malformed_id_raises_does_not_exist(result_id: str) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(backend().aget_result)(result_id)


def test_get_result_of_a_row_whose_task_is_gone_says_so() -> None:
    result = db_tasks.add.enqueue(1, 2)
    DBTaskResult.objects.filter(pk=result.id).update(task_path="tests.db_tasks.removed")

    with pytest.raises(InvalidTask, match=r"tests\.db_tasks\.removed"):
        backend().get_result(result.id)


def test_refresh_sees_what_the_worker_stored() -> None:
    result = db_tasks.add.enqueue(1, 2)
    run_worker()

    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3
    assert result.finished_at is not None
    assert result.attempts == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"WORKER_TIMEOUT": 0}, "WORKER_TIMEOUT"),
        ({"WORKER_TIMEOUT": "60"}, "WORKER_TIMEOUT"),
        ({"WORKER_TIMEOUT": float("inf")}, "WORKER_TIMEOUT"),
        ({"ON_WORKER_LOST": "ignore"}, "ON_WORKER_LOST"),
        ({"WORKER_TIMOUT": 5}, "unknown keys: WORKER_TIMOUT"),
    ],
)
def test_invalid_options_are_refused_with_their_name(
    settings: Settings, options: dict[str, object], message: str
) -> None:
    settings.TASKS = {"broken": {"BACKEND": DATABASE_BACKEND, "OPTIONS": options}}

    with pytest.raises(InvalidTaskBackend, match=message):
        task_backends["broken"]


def test_an_alias_longer_than_its_column_is_refused(settings: Settings) -> None:
    alias = "b" * 65
    settings.TASKS = {alias: {"BACKEND": DATABASE_BACKEND}}

    with pytest.raises(InvalidTaskBackend, match="longer than 64"):
        task_backends[alias]


def test_options_set_the_worker_timeout_and_what_happens_to_lost_tasks(
    settings: Settings,
) -> None:
    settings.TASKS = {
        "db": {
            "BACKEND": DATABASE_BACKEND,
            "OPTIONS": {"WORKER_TIMEOUT": 5, "ON_WORKER_LOST": "fail"},
        }
    }

    configured = cast(DatabaseBackend, task_backends["db"])

    assert configured.worker_timeout == timedelta(seconds=5)
    assert configured.fail_lost_tasks


def test_by_default_workers_have_a_minute_and_lost_tasks_are_retried() -> None:
    assert backend().worker_timeout == timedelta(seconds=60)
    assert not backend().fail_lost_tasks


def test_check_passes_with_the_app_installed() -> None:
    assert list(backend().check()) == []


def test_check_reports_the_missing_app(settings: Settings) -> None:
    settings.INSTALLED_APPS = [
        app for app in settings.INSTALLED_APPS if app != "django_tasks.backends.database"
    ]

    [error] = backend().check()

    assert error.id == "django_tasks_database.E001"
    assert "django_tasks.backends.database" in str(error.hint)


@pytest.fixture
def enqueue_on_commit(settings: Settings) -> None:
    settings.TASKS = {"database": {"BACKEND": DATABASE_BACKEND, "QUEUES": []}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("enqueue_on_commit")
def test_enqueue_on_commit_writes_the_row_when_the_transaction_commits() -> None:
    with transaction.atomic():
        result = db_tasks.add.enqueue(1, 2)
        in_transaction = DBTaskResult.objects.filter(pk=result.id).exists()

    assert not in_transaction
    assert row_of(result).status == TaskResultStatus.READY


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("enqueue_on_commit")
def test_enqueue_on_commit_writes_nothing_if_the_transaction_rolls_back() -> None:
    results: list[TaskResult[int]] = []
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        results.append(db_tasks.add.enqueue(1, 2))
        _ = 1 / 0

    assert not DBTaskResult.objects.exists()
    assert results[0].enqueued_at is None


@pytest.mark.django_db(transaction=True)
def test_without_enqueue_on_commit_the_row_is_written_at_once(settings: Settings) -> None:
    settings.TASKS = {
        "database": {"BACKEND": DATABASE_BACKEND, "QUEUES": [], "ENQUEUE_ON_COMMIT": False}
    }

    with transaction.atomic():
        result = db_tasks.add.enqueue(1, 2)
        in_transaction = DBTaskResult.objects.filter(pk=result.id).exists()

    assert in_transaction


class TasksOnOther:
    """Puts the task table on the database "other"."""

    def db_for_read(self, model: type[object], **hints: object) -> str | None:
        return "other" if model is DBTaskResult else None

    def db_for_write(self, model: type[object], **hints: object) -> str | None:
        return "other" if model is DBTaskResult else None


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
@pytest.mark.usefixtures("enqueue_on_commit")
def test_enqueue_on_commit_follows_the_transaction_of_the_tables_database(
    settings: Settings,
) -> None:
    settings.DATABASE_ROUTERS = [f"{__name__}.TasksOnOther"]

    with transaction.atomic(using="default"):
        outside = db_tasks.add.enqueue(1, 2)
    with transaction.atomic(using="other"):
        inside = db_tasks.add.enqueue(3, 4)
        written_in_transaction = DBTaskResult.objects.filter(pk=inside.id).exists()

    assert outside.enqueued_at is not None  # Not held back by a transaction on "default".
    assert not written_in_transaction
    assert DBTaskResult.objects.using("other").filter(pk=inside.id).exists()
    assert not DBTaskResult.objects.using("default").exists()

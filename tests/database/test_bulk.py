"""bulk_enqueue: many tasks, one INSERT."""

from datetime import timedelta
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.backends.database import bulk_enqueue
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backends.database.sql import statements_for
from django_tasks.backends.dummy import DummyBackend
from django_tasks.signals import task_enqueued

from .. import db_tasks, tasks
from .support import row_of

pytestmark = pytest.mark.django_db

DATABASE_BACKEND = "django_tasks.backends.database.DatabaseBackend"


def inserts(queries: CaptureQueriesContext) -> int:
    return sum(query["sql"].startswith("INSERT") for query in queries)


def test_writes_the_tasks_of_the_block_with_one_insert() -> None:
    with CaptureQueriesContext(connection) as queries, bulk_enqueue() as batch:
        results = [batch.enqueue(db_tasks.add, i, i) for i in range(50)]
        echoed = batch.enqueue(db_tasks.echo, "x")

    assert inserts(queries) == 1
    assert DBTaskResult.objects.count() == 51
    assert row_of(results[7]).args == [7, 7]
    assert row_of(echoed).args == ["x"]


def test_more_tasks_than_one_insert_holds_are_written_in_several(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(statements_for(connection.alias, DBTaskResult), "insert_chunk", 3)

    with CaptureQueriesContext(connection) as queries, bulk_enqueue() as batch:
        results = [batch.enqueue(db_tasks.add, i, i) for i in range(7)]

    assert inserts(queries) == 3
    assert [row_of(result).args for result in results] == [[i, i] for i in range(7)]


def test_writes_each_task_with_its_own_options() -> None:
    later = timezone.now() + timedelta(hours=1)

    with bulk_enqueue():
        plain = db_tasks.add.enqueue(1, 2)
        deferred = db_tasks.echo.using(run_after=later, priority=-3, queue_name="emails").enqueue(
            {"k": [1]}
        )

    plain_row, deferred_row = row_of(plain), row_of(deferred)
    assert (plain_row.run_after, plain_row.available_at) == (None, plain_row.enqueued_at)
    assert (deferred_row.run_after, deferred_row.available_at) == (later, later)
    assert (deferred_row.priority, deferred_row.queue_name) == (-3, "emails")
    assert deferred_row.args == [{"k": [1]}]
    assert (deferred_row.status, deferred_row.worker_ids) == (TaskResultStatus.READY, [])


def test_collects_task_enqueue_calls_made_in_the_block() -> None:
    with CaptureQueriesContext(connection) as queries, bulk_enqueue():
        first = db_tasks.add.enqueue(1, 2)
        second = db_tasks.echo.enqueue(value="x")

    assert inserts(queries) == 1
    assert row_of(first).task_path == "tests.db_tasks.add"
    assert row_of(second).kwargs == {"value": "x"}


def test_writes_nothing_until_the_block_ends() -> None:
    with bulk_enqueue():
        result = db_tasks.add.enqueue(1, 2)
        written = DBTaskResult.objects.exists()
        enqueued_at = result.enqueued_at

    assert not written
    assert enqueued_at is None
    assert result.status == TaskResultStatus.READY
    assert result.enqueued_at == row_of(result).enqueued_at


def test_writes_nothing_if_the_block_raises() -> None:
    with pytest.raises(ValueError), bulk_enqueue():
        db_tasks.add.enqueue(1, 2)
        raise ValueError("changed my mind")

    assert not DBTaskResult.objects.exists()


def test_an_invalid_call_raises_at_once() -> None:
    with bulk_enqueue():
        with pytest.raises(TypeError):
            db_tasks.echo.enqueue({1})
        kept = db_tasks.add.enqueue(1, 2)

    assert list(DBTaskResult.objects.values_list("args", flat=True)) == [[1, 2]]
    assert row_of(kept).status == TaskResultStatus.READY


def test_writes_more_tasks_than_one_insert_takes_in_one_transaction() -> None:
    with bulk_enqueue():
        results = [db_tasks.add.enqueue(i, i) for i in range(1200)]

    assert DBTaskResult.objects.count() == 1200
    assert row_of(results[-1]).args == [1199, 1199]


def test_sends_task_enqueued_for_each_task_once_written() -> None:
    seen: list[bool] = []

    def receiver(sender: type[object], task_result: TaskResult[Any], **kwargs: Any) -> None:
        seen.append(DBTaskResult.objects.filter(pk=task_result.id).exists())

    task_enqueued.connect(receiver)
    try:
        with bulk_enqueue():
            db_tasks.add.enqueue(1, 2)
            db_tasks.add.enqueue(3, 4)
    finally:
        task_enqueued.disconnect(receiver)

    assert seen == [True, True]


@pytest.mark.django_db(transaction=True)
def test_tasks_of_other_backends_are_stored_one_by_one_as_the_block_ends() -> None:
    dummy = cast(DummyBackend, task_backends["dummy"])
    with bulk_enqueue():
        first = tasks.add.using(backend="dummy").enqueue(1, 2)
        second = tasks.add.using(backend="dummy").enqueue(3, 4)
        stored_in_block = list(dummy.results)

    assert stored_in_block == []
    assert [result.id for result in dummy.results] == [first.id, second.id]
    assert not DBTaskResult.objects.exists()


def test_tasks_of_other_backends_are_not_stored_if_the_block_raises() -> None:
    with pytest.raises(ZeroDivisionError), bulk_enqueue():
        tasks.add.using(backend="dummy").enqueue(1, 2)
        raise ZeroDivisionError

    assert cast(DummyBackend, task_backends["dummy"]).results == []


@pytest.mark.django_db(transaction=True)
def test_immediate_tasks_of_the_block_run_as_it_ends() -> None:
    with bulk_enqueue():
        result = tasks.add.enqueue(1, 2)
        status_in_block = result.status

    assert status_in_block == TaskResultStatus.READY
    assert result.return_value == 3


def test_nested_blocks_write_their_own_tasks() -> None:
    with bulk_enqueue():
        outer = db_tasks.add.enqueue(1, 2)
        with bulk_enqueue():
            inner = db_tasks.add.enqueue(3, 4)
        inner_written = DBTaskResult.objects.filter(pk=inner.id).exists()
        outer_written = DBTaskResult.objects.filter(pk=outer.id).exists()

    assert (inner_written, outer_written) == (True, False)
    assert row_of(outer).status == TaskResultStatus.READY


def test_enqueue_outside_its_block_is_refused() -> None:
    batch = bulk_enqueue()

    with pytest.raises(RuntimeError, match="outside its"):
        batch.enqueue(db_tasks.add, 1, 2)


def test_a_block_cannot_be_exited_before_it_is_entered() -> None:
    with pytest.raises(RuntimeError, match="not open"):
        bulk_enqueue().__exit__(None, None, None)


def test_a_block_cannot_be_entered_twice() -> None:
    with bulk_enqueue() as batch, pytest.raises(RuntimeError, match="already open"):
        batch.__enter__()


def test_async_with_collects_aenqueue_calls() -> None:
    async def enqueue_some() -> list[TaskResult[int]]:
        async with bulk_enqueue() as batch:
            first = await batch.aenqueue(db_tasks.async_add, 1, 2)
            second = await db_tasks.add.aenqueue(3, 4)
            written = await DBTaskResult.objects.aexists()
        assert not written
        return [first, second]

    results = async_to_sync(enqueue_some)()

    assert [row_of(result).args for result in results] == [[1, 2], [3, 4]]


def test_async_with_writes_nothing_if_the_block_raises() -> None:
    async def enqueue_then_fail() -> None:
        async with bulk_enqueue():
            await db_tasks.add.aenqueue(1, 2)
            raise ValueError("changed my mind")

    with pytest.raises(ValueError):
        async_to_sync(enqueue_then_fail)()

    assert not DBTaskResult.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_enqueue_on_commit_the_tasks_are_written_when_the_transaction_commits(
    settings: Settings,
) -> None:
    settings.TASKS = {"database": {"BACKEND": DATABASE_BACKEND, "QUEUES": []}}

    with transaction.atomic():
        with bulk_enqueue():
            result = db_tasks.add.enqueue(1, 2)
        written_in_transaction = DBTaskResult.objects.exists()

    assert not written_in_transaction
    assert row_of(result).status == TaskResultStatus.READY


@pytest.mark.django_db(transaction=True)
def test_tasks_that_do_not_enqueue_on_commit_are_written_as_the_block_ends(
    settings: Settings,
) -> None:
    settings.TASKS = {"database": {"BACKEND": DATABASE_BACKEND, "QUEUES": []}}

    with transaction.atomic():
        with bulk_enqueue():
            waits = db_tasks.add.enqueue(1, 2)
            at_once = db_tasks.add_at_once.enqueue(3, 4)
        written_in_transaction = {
            str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)
        }

    assert written_in_transaction == {at_once.id}
    assert row_of(waits).status == TaskResultStatus.READY

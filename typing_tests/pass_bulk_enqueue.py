"""bulk_enqueue: each call keeps its task's checked signature and typed result."""

from typing import Any, assert_type

from django_tasks import BulkEnqueue, TaskResult, bulk_enqueue
from django_tasks.backends import database
from django_tasks.backends.database import DatabaseBackend
from typing_tests.tasks_fixture import add, count_attempts, fetch_title, send_welcome

assert_type(bulk_enqueue(), BulkEnqueue)
# The database backend's old import path gives the same block.
assert_type(database.bulk_enqueue(), BulkEnqueue)

with bulk_enqueue() as batch:
    assert_type(batch, BulkEnqueue)
    # Through the batch...
    assert_type(batch.enqueue(add, 1, 2), TaskResult[int])
    assert_type(batch.enqueue(send_welcome, 1, locale="fr"), TaskResult[bool])
    assert_type(batch.enqueue(count_attempts, "x"), TaskResult[int])
    assert_type(batch.enqueue(fetch_title, "https://example.com"), TaskResult[str])
    # ...or the tasks' own enqueue, which the block collects.
    assert_type(add.enqueue(1, 2), TaskResult[int])
    assert_type(batch.results, list[TaskResult[Any]])


async def collect() -> None:
    async with bulk_enqueue() as batch:
        assert_type(await batch.aenqueue(fetch_title, "https://example.com"), TaskResult[str])
        assert_type(await add.aenqueue(1, 2), TaskResult[int])


def backend_flags(backend: DatabaseBackend) -> None:
    assert_type(backend.supports_defer, bool)
    assert_type(backend.fail_lost_tasks, bool)
